"""``eostheory train``: a network (PyTorch) trained by an explicit optimizer, with curvature tracking."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import add_output_args, emit_json, int_option, validate_out_dir

NAME = "train"
HELP = "train a network in PyTorch with GD, momentum or SGD and track its sharpness (needs the torch extra)"
DESCRIPTION = (
    "Train a network (MLP, CNN or linear model) on a built-in data set or a .npz file with an explicit "
    "optimizer from 'eostheory optimizers' (full batch, or SGD with --batch-size), recording every "
    "--track-every steps the full-batch loss and the tracked quantities: sharpness (top Hessian eigenvalue, "
    "warm-started Lanczos), eigenvalues (top --top-k), batch-sharpness, gni, accuracy, grad-norm. "
    "With --out DIR the run directory holds config.json, metrics.jsonl, a checkpoint with its integrity "
    "record and training.png; an interrupted run continues with --out DIR --resume, which continues the "
    "saved configuration (only --steps, to raise the total, and --device may change; any other option "
    "given must match it). A loss, gradient or Hessian product that turns NaN or infinite ends the run "
    "as diverged, keeping the last finite state."
)

_MISSING = "the train command needs the torch extra: pip install 'eostheory[torch]'"

#: Defaults of the options a resumed run compares with its saved configuration.  The parser's
#: own defaults are ``None``, so that an option typed on the command line can be told apart
#: from one left at its default.
_DEFAULTS: dict[str, str] = {
    "model": "mlp",
    "widths": "64,64,64",
    "activation": "tanh",
    "data": "digits",
    "loss": "mse",
    "optimizer": "gd",
    "seed": "0",
    "track": "sharpness",
    "track_every": "10",
    "top_k": "1",
    "eig_method": "lanczos",
    "eig_tol": "1e-3",
    "bs_rse": "0.05",
    "device": "auto",
    "dtype": "float32",
    "threads": "1",
}

#: The model size above which ``--eig-method dense`` is refused; the same number as
#: :data:`eostheory.torch.DENSE_MAX_PARAMS` (a test holds them equal), repeated here so that
#: building the parser does not import torch.
DENSE_LIMIT = 2000


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eostheory.optimizers import OPTIMIZERS

    g = p.add_argument_group("model and data")
    g.add_argument("--model", choices=["mlp", "cnn", "linear"], help="model (default mlp)")
    g.add_argument("--widths", help="hidden widths (MLP) or conv channels (CNN); default 64,64,64")
    g.add_argument("--activation", choices=["tanh", "relu", "elu", "softplus", "gelu"], help="default tanh")
    g.add_argument(
        "--data",
        metavar="NAME|PATH.npz",
        help="digits (default), gaussian-mixture, teacher-student, chebyshev, or a .npz file with x and y/labels",
    )
    g.add_argument("--n", default=None, help="number of examples (a random subset for digits)")
    g.add_argument("--label-noise", default=None, help="fraction of random labels (classification sets)")
    g.add_argument(
        "--data-opt",
        default=None,
        metavar="K=V,…",
        help="more data-set options, e.g. dim=8,classes=3 (an unknown option is an error that lists the known ones)",
    )
    g.add_argument("--loss", choices=["mse", "ce"], help="mse (½‖f−y‖², default) or ce")
    o = p.add_argument_group("optimizer")
    o.add_argument("--optimizer", choices=list(OPTIMIZERS), help="update rule (default gd)")
    o.add_argument("--eta", default=None, help="learning rate > 0 (required for a new run)")
    o.add_argument("--beta", default=None, help="momentum in [0, 1) for momentum optimizers (default 0.9)")
    o.add_argument(
        "--steps", default=None, help="number of steps > 0 (required for a new run; on --resume, the new total)"
    )
    o.add_argument("--batch-size", default=None, help="SGD batch size (default: full batch)")
    o.add_argument("--seed", help="seed of the model, batches and estimators (default 0)")
    t = p.add_argument_group("tracking")
    t.add_argument(
        "--track",
        help="comma-separated: sharpness (default), eigenvalues, batch-sharpness, gni, accuracy, grad-norm "
        "(loss always)",
    )
    t.add_argument("--track-every", help="record every K steps (default 10)")
    t.add_argument("--top-k", help="eigenvalues to track with 'eigenvalues' (default 1)")
    t.add_argument(
        "--eig-method",
        choices=["lanczos", "eigsh", "power", "dense"],
        help=f"eigensolver (default lanczos); dense only for models of at most {DENSE_LIMIT:,} parameters",
    )
    t.add_argument("--eig-tol", help="relative tolerance of the eigensolver (default 1e-3)")
    t.add_argument("--bs-batch-size", default=None, help="batch size for batch-sharpness/gni (default --batch-size)")
    t.add_argument("--bs-rse", help="target relative standard error of batch-sharpness/gni (default 0.05)")
    r = p.add_argument_group("execution")
    r.add_argument("--device", help="auto (CUDA when present, the default), cpu, cuda, cuda:N")
    r.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    r.add_argument(
        "--threads",
        help="CPU threads for torch (default 1: small networks run fastest on one thread and do not fight "
        "other processes for cores; raise it for large models on the CPU)",
    )
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out DIR from its checkpoint, with its saved configuration",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_args(p)


def _opt(args: argparse.Namespace, name: str) -> Any:
    """An option's value: as given, else its default."""
    v = getattr(args, name)
    return _DEFAULTS.get(name) if v is None else v


def _option_value(text: str) -> int | float | str:
    """A ``--data-opt`` value: an int, a float, or else the text itself (e.g. ``preprocess=scale``)."""
    from eostheory._validate import finite_float

    try:
        return int(text)
    except ValueError:
        pass
    try:
        float(text)
    except ValueError:
        return text
    return finite_float("--data-opt value", text)


def _parse_data_opts(text: str | None) -> dict[str, Any]:
    """Parse ``--data-opt "dim=8,classes=3"``."""
    out: dict[str, Any] = {}
    if not text:
        return out
    for part in text.split(","):
        if "=" not in part:
            raise EosInputError(f"--data-opt expects K=V pairs separated by commas, got {part.strip()!r}")
        k, v = (s.strip() for s in part.split("=", 1))
        if not k.isidentifier():
            raise EosInputError(f"--data-opt: {k!r} is not an option name")
        if k in out:
            raise EosInputError(f"--data-opt gives {k} twice")
        out[k] = _option_value(v)
    return out


def _data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The data set's options from ``--n``, ``--label-noise`` and ``--data-opt``, with their types.

    Names are checked by :func:`eostheory.torch.get_dataset`, which lists the accepted ones.
    """
    from eostheory._validate import finite_float, positive_int

    kw = _parse_data_opts(args.data_opt)
    for opt, key in (("--n", "n"), ("--label-noise", "label_noise")):
        value = getattr(args, key)
        if value is not None:
            if key in kw:
                raise EosInputError(f"--data-opt {key}=… repeats {opt}: give it once")
            kw[key] = value
    for k in ("n", "dim", "classes", "width", "out", "degree"):
        if k in kw:
            kw[k] = positive_int(k, kw[k], allow_zero=k == "degree")
    for k in ("label_noise", "separation", "noise"):
        if k in kw:
            kw[k] = finite_float(k, kw[k])
    return kw


def _train_kwargs(args: argparse.Namespace, *, given_only: bool) -> dict[str, Any]:
    """Arguments of :func:`eostheory.torch.train` from the options (``given_only``: only those typed)."""
    from eostheory._validate import finite_float, positive_float

    def want(name: str) -> bool:
        return not given_only or getattr(args, name) is not None

    kw: dict[str, Any] = {}
    simple = {
        "model": str,
        "data": str,
        "loss": str,
        "optimizer": str,
        "track": str,
        "eig_method": str,
        "dtype": str,
        "eta": lambda v: finite_float("--eta", v),
        "beta": lambda v: finite_float("--beta", v),
        "batch_size": lambda v: int_option("--batch-size", v),
        "seed": lambda v: int_option("--seed", v, minimum=0),
        "track_every": lambda v: int_option("--track-every", v),
        "top_k": lambda v: int_option("--top-k", v),
        "eig_tol": lambda v: positive_float("--eig-tol", v),
        "bs_batch_size": lambda v: int_option("--bs-batch-size", v),
        "bs_rse": lambda v: positive_float("--bs-rse", v),
    }
    for name, conv in simple.items():
        if want(name) and _opt(args, name) is not None:
            kw[name] = conv(_opt(args, name))
    model = _opt(args, "model")
    mkw = {k: _opt(args, k) for k in ("widths", "activation") if want(k)}
    if model == "linear" and not given_only:
        typed = [f"--{k}" for k in ("widths", "activation") if getattr(args, k) is not None]
        if typed:
            raise EosInputError(f"{' and '.join(typed)} do not apply to --model linear (it has no hidden layers)")
        mkw = {}
    if mkw:
        kw["model_kwargs"] = mkw
    dkw = _data_kwargs(args)
    if dkw or not given_only:
        kw["data_kwargs"] = dkw
    return kw


def execute(args: argparse.Namespace) -> int:
    out = validate_out_dir(args.out) if args.out else None
    if args.resume and out is None:
        raise EosInputError("--resume needs --out DIR, the run directory to continue")
    steps = None if args.steps is None else int_option("--steps", args.steps)
    threads = int_option("--threads", _opt(args, "threads"))
    try:
        import torch
    except ImportError:
        raise EosInputError(_MISSING) from None
    torch.set_num_threads(threads)
    import eostheory.torch as et

    progress = not args.no_progress and sys.stderr.isatty()
    if args.resume and (out / "config.json").exists():
        # the saved configuration is continued; what was typed again must agree with it
        options = _train_kwargs(args, given_only=True)
        result = et.resume(out, steps=steps, progress=progress, device=_opt(args, "device"), **options)
    else:
        if args.eta is None or steps is None:
            extra = f" (--resume: {out} holds no run to continue)" if args.resume else ""
            raise EosInputError(f"a new run needs --eta and --steps{extra}")
        if args.resume:  # resume-or-start, as a restartable job script does: say which one happens
            print(f"eostheory train: {out} holds no run yet: starting a new one", file=sys.stderr)
        result = et.train(
            steps=steps,
            device=_opt(args, "device"),
            out=out,
            resume=args.resume,
            progress=progress,
            **_train_kwargs(args, given_only=False),
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
        if np.isfinite(tail).any():
            print(
                f"sharpness  max {np.nanmax(sh):.6g}; last third: mean {np.nanmean(tail):.6g}, range "
                f"[{np.nanmin(tail):.6g}, {np.nanmax(tail):.6g}]"
            )
    w = result.work
    print(f"work       {w['gradients']} gradients, {w['hvps']} HVPs in {result.seconds:.1f} s")
    if result.out is not None:
        print(f"wrote      {result.out}")
    return 0
