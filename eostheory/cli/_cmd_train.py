"""``eostheory train``: a network (PyTorch) trained by an explicit optimizer, with curvature tracking."""

from __future__ import annotations

import argparse
import sys

from eostheory._errors import EosInputError
from eostheory.cli._common import add_output_args, emit_json, parse_assignments

NAME = "train"
HELP = "train a network in PyTorch with GD, momentum or SGD and track its sharpness (needs the torch extra)"
DESCRIPTION = (
    "Train a network (MLP, CNN or linear model) on a built-in data set or a .npz file with an explicit "
    "optimizer from 'eostheory optimizers' (full batch, or SGD with --batch-size), recording every "
    "--track-every steps the full-batch loss and the tracked quantities: sharpness (top Hessian eigenvalue, "
    "warm-started Lanczos), eigenvalues (top --top-k), batch-sharpness, gni, accuracy, grad-norm. "
    "With --out DIR the run directory holds config.json, metrics.jsonl, a checkpoint and training.png; "
    "an interrupted run continues with --out DIR --resume (options are then read from DIR/config.json; "
    "--steps may raise the total)."
)

_MISSING = "the train command needs the torch extra: pip install 'eostheory[torch]'"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eostheory.optimizers import OPTIMIZERS

    g = p.add_argument_group("model and data")
    g.add_argument("--model", default="mlp", choices=["mlp", "cnn", "linear"], help="model (default mlp)")
    g.add_argument("--widths", default="64,64,64", help="hidden widths (MLP) or conv channels (CNN); default 64,64,64")
    g.add_argument(
        "--activation", default="tanh", choices=["tanh", "relu", "elu", "softplus", "gelu"], help="default tanh"
    )
    g.add_argument(
        "--data",
        default="digits",
        metavar="NAME|PATH.npz",
        help="digits (default), gaussian-mixture, teacher-student, chebyshev, or a .npz file with x and y/labels",
    )
    g.add_argument("--n", default=None, help="number of examples (a random subset for digits)")
    g.add_argument("--label-noise", default=None, help="fraction of random labels (classification sets)")
    g.add_argument("--data-opt", default=None, metavar="K=V,…", help="more data-set options, e.g. dim=8,classes=3")
    g.add_argument("--loss", default="mse", choices=["mse", "ce"], help="mse (½‖f−y‖², default) or ce")
    o = p.add_argument_group("optimizer")
    o.add_argument("--optimizer", default="gd", choices=list(OPTIMIZERS), help="update rule (default gd)")
    o.add_argument("--eta", default=None, help="learning rate > 0 (required for a new run)")
    o.add_argument("--beta", default=None, help="momentum in [0, 1) for momentum optimizers (default 0.9)")
    o.add_argument("--steps", default=None, help="number of steps (required for a new run)")
    o.add_argument("--batch-size", default=None, help="SGD batch size (default: full batch)")
    o.add_argument("--seed", default="0", help="seed of the model, batches and estimators (default 0)")
    t = p.add_argument_group("tracking")
    t.add_argument(
        "--track",
        default="sharpness",
        help="comma-separated: sharpness, eigenvalues, batch-sharpness, gni, accuracy, grad-norm (loss always)",
    )
    t.add_argument("--track-every", default="10", help="record every K steps (default 10)")
    t.add_argument("--top-k", default="1", help="eigenvalues to track with 'eigenvalues' (default 1)")
    t.add_argument("--eig-method", default="lanczos", choices=["lanczos", "eigsh", "power", "dense"])
    t.add_argument("--eig-tol", default="1e-3", help="relative tolerance of the eigensolver (default 1e-3)")
    t.add_argument("--bs-batch-size", default=None, help="batch size for batch-sharpness/gni (default --batch-size)")
    t.add_argument("--bs-rse", default="0.05", help="target relative standard error of batch-sharpness/gni")
    r = p.add_argument_group("execution")
    r.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    r.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    r.add_argument(
        "--threads",
        default="1",
        help="CPU threads for torch (default 1: small networks run fastest on one thread and do not fight "
        "other processes for cores; raise it for large models on the CPU)",
    )
    r.add_argument("--resume", action="store_true", help="continue the run in --out DIR from its checkpoint")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_args(p)


def _data_kwargs(args: argparse.Namespace) -> dict:
    kw: dict = dict(parse_assignments(args.data_opt)) if args.data_opt else {}
    if args.n is not None:
        kw["n"] = args.n
    if args.label_noise is not None:
        kw["label_noise"] = args.label_noise
    for k in ("n", "dim", "classes", "width", "out", "degree"):
        if k in kw:
            from eostheory._validate import positive_int

            kw[k] = positive_int(k, float(kw[k]) if not isinstance(kw[k], int) else kw[k])
    return kw


def execute(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        raise EosInputError(_MISSING) from None
    from eostheory._validate import finite_float, positive_float, positive_int

    torch.set_num_threads(positive_int("threads", args.threads))
    import eostheory.torch as et

    progress = not args.no_progress and sys.stderr.isatty()
    resumed = False
    if args.resume:
        if not args.out:
            raise EosInputError("--resume needs --out DIR, the run directory to continue")
        from pathlib import Path

        if (Path(args.out) / "config.json").exists():
            resumed = True
            result = et.resume(
                args.out,
                steps=None if args.steps is None else positive_int("steps", args.steps, allow_zero=True),
                progress=progress,
                device=args.device,
            )
    if not resumed:
        if args.eta is None or args.steps is None:
            raise EosInputError("a new run needs --eta and --steps")
        result = et.train(
            args.model,
            args.data,
            loss=args.loss,
            optimizer=args.optimizer,
            eta=finite_float("eta", args.eta),
            beta=None if args.beta is None else finite_float("beta", args.beta),
            steps=positive_int("steps", args.steps, allow_zero=True),
            batch_size=None if args.batch_size is None else positive_int("batch-size", args.batch_size),
            track=args.track,
            track_every=positive_int("track-every", args.track_every),
            top_k=positive_int("top-k", args.top_k),
            eig_method=args.eig_method,
            eig_tol=positive_float("eig-tol", args.eig_tol),
            bs_batch_size=None if args.bs_batch_size is None else positive_int("bs-batch-size", args.bs_batch_size),
            bs_rse=positive_float("bs-rse", args.bs_rse),
            seed=positive_int("seed", args.seed, allow_zero=True),
            device=args.device,
            dtype=args.dtype,
            out=args.out,
            resume=args.resume,
            progress=progress,
            model_kwargs={"widths": args.widths, "activation": args.activation} if args.model != "linear" else {},
            data_kwargs=_data_kwargs(args),
        )
    summary = result.summary()
    if args.json:
        emit_json(summary)
        return 0
    cfg = result.config
    s = result.series
    print(
        f"model      {cfg.model.get('name')} ({cfg.n_params} parameters) on {cfg.data.get('name')} ({cfg.n_examples})"
    )
    print(f"optimizer  {cfg.optimizer}: {'; '.join(cfg.update)}  {cfg.hyperparameters}")
    batch = "full batch" if cfg.batch_size is None else f"batch size {cfg.batch_size}"
    print(f"           {batch}, loss {cfg.loss}, {cfg.device}, {cfg.dtype}")
    if result.threshold is not None:
        print(f"threshold  {result.threshold:.6g} (linear stability of {cfg.optimizer})")
    print(f"status     {result.status}: {result.message}")
    fin = result.final()
    print(
        "final      "
        + ", ".join(f"{k}={fin[k]:.6g}" for k in ("loss", "accuracy", "sharpness") if fin.get(k) is not None)
    )
    if "sharpness" in s and len(s["sharpness"]) >= 3:
        import numpy as np

        sh = np.asarray([np.nan if v is None else v for v in s["sharpness"]], dtype=float)
        tail = sh[-max(1, len(sh) // 3) :]
        print(
            f"sharpness  max {np.nanmax(sh):.6g}; last third: mean {np.nanmean(tail):.6g}, range "
            f"[{np.nanmin(tail):.6g}, {np.nanmax(tail):.6g}]"
        )
    w = result.work
    print(f"work       {w['gradients']} gradients, {w['hvps']} HVPs in {result.seconds:.1f} s")
    if result.out is not None:
        print(f"wrote      {result.out}")
    return 0
