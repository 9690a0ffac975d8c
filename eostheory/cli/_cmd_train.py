"""``eostheory train``: a network (PyTorch) trained by an explicit optimizer, with curvature tracking."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import add_output_args, emit_json, int_option, parse_hp, validate_out_dir

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
    "given must match it); --from RUN_DIR --branch NAME --set eta=… --steps K forks a saved run's full state into "
    "a new run directory with changed hyperparameters (--step N: at an earlier step, from a checkpoint kept by "
    "--checkpoint-every or by a deterministic replay). --schedule sets a learning-rate schedule (cosine, warmup, "
    "step) and --weight-decay a coupled (or --decoupled) weight decay (with a schedule the records hold eta "
    "and the thresholds at each record's rate); for SGD with momentum the small-batch plateau 2(1-beta)/eta "
    "beside 2(1+beta)/eta. "
    "--optimizer takes any built-in rule (gd, heavy-ball, "
    "nesterov, rmsprop, adam, …) and --update any rule written out, with --hp for its hyperparameters. "
    "--plugin FILE.py runs a Python file of your own first (e.g. one that registers "
    "measures for --track). A loss, gradient or Hessian product that turns NaN or infinite ends the run "
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
    from eostheory.geometry import STEEPEST_NAMES
    from eostheory.optimizers import OPTIMIZERS

    g = p.add_argument_group("model and data")
    g.add_argument("--model", choices=["mlp", "cnn", "linear"], help="model (default mlp)")
    g.add_argument("--widths", help="hidden widths (MLP) or conv channels (CNN); default 64,64,64")
    g.add_argument(
        "--activation",
        metavar="NAME",
        help="tanh (default), sigmoid, silu (swish), gelu, softplus, mish, identity, elu, relu, leaky-relu, … "
        "(eostheory.torch.ACTIVATIONS, case-insensitive); elu is only C¹ and relu-like ones C⁰: no flows",
    )
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
    g.add_argument(
        "--loss",
        choices=["mse", "mse-mean", "ce"],
        help="mse: ½‖f−y‖² summed over outputs, mean over examples (default); mse-mean: (f−y)² averaged over "
        "examples and outputs (its Hessian is 2/k times mse's for k outputs); ce: cross-entropy",
    )
    o = p.add_argument_group("optimizer")
    o.add_argument(
        "--optimizer",
        choices=[*OPTIMIZERS, *STEEPEST_NAMES],
        metavar="NAME",
        help="update rule (" + ", ".join(OPTIMIZERS) + "), or steepest descent under a norm: steepest:NORM, "
        "normalized:NORM, steepest-momentum:NORM, normalized-momentum:NORM, muon (NORM: l2, linf, l1, block, "
        "spectral); default gd",
    )
    o.add_argument("--eta", default=None, help="learning rate > 0 (required for a new run)")
    o.add_argument(
        "--update",
        action="append",
        metavar="LINE",
        help="instead of --optimizer, the step as update-rule lines (repeatable, or separated by ';'), e.g. "
        "--update 'v = beta*v + g; w = w - eta*(g + beta*v)' --hp beta=0.9",
    )
    o.add_argument("--beta", default=None, help="momentum in [0, 1) for momentum optimizers (default 0.9)")
    o.add_argument(
        "--hp",
        default=None,
        metavar="NAME=V,…",
        help="other hyperparameters of the optimizer or rule, e.g. --hp beta1=0.9,beta2=0.999,eps=1e-8 "
        "(adam) or --hp alpha=0.99 (rmsprop)",
    )
    o.add_argument(
        "--steps", default=None, help="number of steps > 0 (required for a new run; on --resume, the new total)"
    )
    o.add_argument(
        "--schedule",
        default=None,
        metavar="SPEC",
        help="learning-rate schedule eta_t = eta*f(t): constant (default), warmup:steps=W, "
        "cosine[:warmup=W,final=F,steps=T] (T default --steps), step:every=K,factor=G",
    )
    o.add_argument(
        "--weight-decay",
        default=None,
        metavar="LAMBDA",
        help="weight decay >= 0, coupled (added to the gradient, as torch.optim.SGD/Adam weight_decay); default 0",
    )
    o.add_argument(
        "--decoupled",
        action="store_true",
        default=None,
        help="apply --weight-decay decoupled, w <- w - eta_t*lambda*w after the step (AdamW style)",
    )
    o.add_argument("--batch-size", default=None, help="SGD batch size (default: full batch)")
    o.add_argument("--seed", help="seed of the model, batches and estimators (default 0)")
    t = p.add_argument_group("tracking")
    t.add_argument(
        "--track",
        help="comma-separated measures: sharpness (default), eigenvalues, batch-sharpness, gni, accuracy, grad-norm, "
        "directional-smoothness, alignment, param-distance, or any measure registered by a --plugin file "
        "(loss always)",
    )
    t.add_argument(
        "--plugin",
        action="append",
        metavar="FILE.py",
        help="run this Python file of your own before training (it executes your code, with your permissions), "
        "e.g. to register measures with @eostheory.torch.measure; may be repeated",
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
    r.add_argument(
        "--checkpoint-every",
        default=None,
        metavar="K",
        help="keep the checkpoint of every K steps in --out DIR/checkpoints (a multiple of --track-every), so "
        "that --from DIR --step N forks there without replaying",
    )
    b = p.add_argument_group("branches")
    b.add_argument(
        "--from",
        dest="from_",
        metavar="RUN_DIR",
        help="fork the run in RUN_DIR at its checkpoint (parameters, optimizer buffers, random states, data order, "
        "step count) into a new branch; with --branch NAME, --steps K (steps after the fork) and --set",
    )
    b.add_argument(
        "--branch", metavar="NAME", help="the branch's name (its run directory: --out, default RUN_DIR/branches/NAME)"
    )
    b.add_argument(
        "--set",
        dest="set_",
        metavar="K=V,…",
        help="what the branch changes: hyperparameters (eta=0.05,beta=0.5,…) and weight_decay; --track, "
        "--track-every, --schedule, --decoupled and --checkpoint-every may change too",
    )
    b.add_argument(
        "--step",
        default=None,
        metavar="N",
        help="fork at step N instead of the last checkpoint: from the checkpoint kept there (--checkpoint-every), "
        "or by replaying the saved run from the nearest kept one (bit for bit on the CPU)",
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
        "schedule": str,
        "weight_decay": lambda v: finite_float("--weight-decay", v),
        "checkpoint_every": lambda v: int_option("--checkpoint-every", v),
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
    if args.update:
        if args.optimizer is not None:
            raise EosInputError("give either --optimizer or --update lines, not both")
        kw["update"] = "; ".join(args.update)
        kw["optimizer"] = "custom" if given_only else "gd"
    if args.decoupled:
        kw["decoupled"] = True
    hp = parse_hp(args.hp)
    if "eta" in hp:
        raise EosInputError("--hp: give the learning rate with --eta")
    if "beta" in hp:
        if args.beta is not None:
            raise EosInputError("--hp beta=… repeats --beta: give it once")
        kw["beta"] = hp.pop("beta")
    if hp:
        kw["hyperparameters"] = hp
    return kw


def _run_plugin(path: str) -> None:
    """Execute the user's own Python file ``path`` (``--plugin``), e.g. to register measures.

    Raises:
        EosInputError: not a readable ``.py`` file, or the file raised an exception (named
            in one line).
    """
    import runpy
    from pathlib import Path

    p = Path(path).expanduser()
    if p.suffix != ".py" or not p.is_file():
        raise EosInputError(f"--plugin {path}: not a Python file (FILE.py)")
    try:
        runpy.run_path(str(p), run_name="eostheory_plugin")
    except EosInputError as exc:
        raise EosInputError(f"--plugin {path}: {exc}") from None
    except Exception as exc:
        raise EosInputError(f"--plugin {path} raised {type(exc).__name__}: {exc}") from None


def _branch(args: argparse.Namespace, progress: bool) -> Any:
    """``--from RUN_DIR --branch NAME --set …``: one branch of a saved run, as :func:`eostheory.torch.branch`."""
    import eostheory.torch as et
    from eostheory._validate import finite_float

    if not args.branch:
        raise EosInputError("--from RUN_DIR needs --branch NAME (the new branch's name)")
    if args.resume:
        raise EosInputError("--from starts a new branch: give --resume --out BRANCH_DIR to continue one")
    if args.steps is None:
        raise EosInputError("--from needs --steps K, the steps the branch runs after the fork")
    refused = ("model", "widths", "activation", "data", "n", "label_noise", "data_opt", "loss", "optimizer")
    refused += ("update", "eta", "beta", "hp", "batch_size", "seed", "top_k", "eig_method", "eig_tol")
    refused += ("bs_batch_size", "bs_rse", "dtype")
    typed = [f"--{k.replace('_', '-')}" for k in refused if getattr(args, k) is not None]
    if typed:
        raise EosInputError(
            f"a branch keeps the saved configuration: {', '.join(typed)} cannot be given with --from "
            "(change hyperparameters with --set, e.g. --set eta=0.05)"
        )
    overrides: dict[str, Any] = {}
    for part in (args.set_ or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise EosInputError(f"--set expects NAME=VALUE pairs separated by commas, got {part.strip()!r}")
        k, v = (x.strip() for x in part.split("=", 1))
        if not k.isidentifier():
            raise EosInputError(f"--set: {k!r} is not a hyperparameter name")
        if k in ("schedule", "decoupled", "checkpoint_every"):
            raise EosInputError(f"--set {k}: give the branch's {k} with --{k.replace('_', '-')}")
        if k in overrides:
            raise EosInputError(f"--set gives {k} twice")
        overrides[k] = finite_float(f"--set {k}", v)
    if args.weight_decay is not None:
        if "weight_decay" in overrides:
            raise EosInputError("--set weight_decay=… repeats --weight-decay: give it once")
        overrides["weight_decay"] = finite_float("--weight-decay", args.weight_decay)
    if args.track is not None:
        overrides["track"] = args.track
    if args.track_every is not None:
        overrides["track_every"] = int_option("--track-every", args.track_every)
    if args.schedule is not None:
        overrides["schedule"] = args.schedule
    if args.decoupled:
        overrides["decoupled"] = True
    if args.checkpoint_every is not None:
        overrides["checkpoint_every"] = int_option("--checkpoint-every", args.checkpoint_every)
    steps = int_option("--steps", args.steps)
    at = None if args.step is None else int_option("--step", args.step, minimum=0)
    paths = {args.branch: validate_out_dir(args.out)} if args.out else None
    res = et.branch(
        args.from_,
        {args.branch: overrides},
        steps=steps,
        step=at,
        progress=progress,
        device=_opt(args, "device"),
        paths=paths,
    )
    return res[args.branch]


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
    import eostheory.torch as et

    torch.set_num_threads(threads)  # after the import, whose own default (one thread) it overrides

    for plugin in args.plugin or ():
        _run_plugin(plugin)

    progress = not args.no_progress and sys.stderr.isatty()
    if args.from_ is None and (args.branch is not None or args.set_ is not None or args.step is not None):
        raise EosInputError("--branch, --set and --step fork a saved run: give --from RUN_DIR")
    if args.from_ is not None:
        result = _branch(args, progress)
    elif args.resume and (out / "config.json").exists():
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
    if cfg.schedule != "constant" or cfg.weight_decay:
        wd = f"weight decay {cfg.weight_decay:g}" + (" (decoupled)" if cfg.decoupled else " (coupled)")
        print(f"           schedule {cfg.schedule}" + (f", {wd}" if cfg.weight_decay else ""))
    ths = result.thresholds
    if ths:
        at = " at the base eta" if cfg.schedule != "constant" else ""
        text = f"{ths['full-batch']:.6g} (linear stability of {cfg.optimizer})" if "full-batch" in ths else ""
        if "small-batch" in ths:
            text += ("; " if text else "") + f"small-batch plateau {ths['small-batch']:.6g} (SGD)"
        print(f"threshold  {text}{at}")
    elif result.threshold is not None:
        print(f"threshold  {result.threshold:.6g} (linear stability of {cfg.optimizer})")
    elif result.extra.get("threshold_note"):
        note = result.extra["threshold_note"]
        generalized = "generalized sharpness" in note  # steepest descent under a norm: a threshold, not a refusal
        print(f"threshold  {note}" if generalized else f"threshold  none: {note}")
    print(f"status     {result.status}: {result.message}")
    fin = result.final()
    keys = dict.fromkeys(["loss", "accuracy", "sharpness", *(m.key for m in result.measures.values())])
    scalar = [k for k in keys if isinstance(fin.get(k), int | float) and not isinstance(fin.get(k), bool)]
    print("final      " + ", ".join(f"{k}={fin[k]:.6g}" for k in scalar))
    if "sharpness" in s and len(s["sharpness"]) >= 3:
        import numpy as np

        sh = np.asarray([np.nan if v is None else v for v in s["sharpness"]], dtype=float)
        tail = sh[-max(1, len(sh) // 3) :]
        if np.isfinite(tail).any():
            print(
                f"sharpness  max {np.nanmax(sh):.6g}; last third: mean {np.nanmean(tail):.6g}, range "
                f"[{np.nanmin(tail):.6g}, {np.nanmax(tail):.6g}]"
            )
    reg = result.extra.get("regime")
    if reg:  # SGD and/or momentum: the tails against 2(1-beta)/eta and 2(1+beta)/eta
        parts = []
        for key, m in reg["measures"].items():
            if m.get("plateaued"):
                parts.append(
                    f"{key} plateau {m['value']:.4g} ({m['regime']}; x{m['ratio_low']:.3g} of low, "
                    f"x{m['ratio_high']:.3g} of high)"
                )
            else:
                parts.append(f"{key} not plateaued")
        head = f"regime     low 2(1-beta)/eta={reg['low']:.6g}, high 2(1+beta)/eta={reg['high']:.6g}: "
        print(head + "; ".join(parts))
    w = result.work
    print(f"work       {w['gradients']} gradients, {w['hvps']} HVPs in {result.seconds:.1f} s")
    if result.out is not None:
        print(f"wrote      {result.out}")
    return 0
