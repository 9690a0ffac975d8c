"""``eostheory run``: an explicit optimizer on a potential, with sharpness tracking."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import (
    add_output_args,
    add_potential_args,
    emit_json,
    int_option,
    parse_hp,
    resolve_potential,
    resolve_x0,
    validate_out_dir,
)

NAME = "run"
HELP = "run an explicit optimizer (GD, momentum, …) on a potential and classify the outcome"
DESCRIPTION = (
    "Run an explicit optimizer on a symbolic potential with the compiled (numba) loop. "
    "Records parameters, loss and sharpness (top Hessian eigenvalue); reports the status "
    "(converged, oscillating with its period, diverged, max_steps), the final state and the "
    "average over the last 10% of steps. --optimizer takes any built-in rule and --update any "
    "rule written out (g the gradient, w the parameter, other assigned names buffers starting at 0), "
    "with --hp for its hyperparameters; the threshold shown is the one derived from the rule. "
    "--track records more measures at the recorded steps, from the exact dense Hessian. "
    "Steepest descent under a norm (--optimizer steepest:linf, normalized:block, muon, ...) records "
    "the generalized sharpness S in that norm, the dual gradient norm and S/||g||_*; its threshold is "
    "S < 2/eta (unnormalized), or S/||g||_* = 2/eta where normalized methods hover; --groups declares "
    "the parameter blocks of block and spectral norms."
)

EPILOG = """examples:
  eostheory run --potential selfstab --eta 0.45 --x0 0.01,1.5 --steps 20000
  eostheory run --potential quartic --set S=1,Q=1 --x0 0.1 --eta 2.5 --steps 2000 \\
      --update "v = beta*v + g; w = w - eta*(g + beta*v)" --hp beta=0.9
  eostheory run --potential quartic --x0 0.1 --eta 0.01 --steps 500 --optimizer adam --hp beta1=0.9,beta2=0.999
  eostheory run --potential selfstab --eta 0.45 --x0 0.01,1.5 --steps 5000 \\
      --track sharpness,grad-norm,directional-smoothness,eigenvalues --top-k 2 --out runs/selfstab
  eostheory run --potential "0.5*(3*x**2 + 2*x*y + 2*y**2)" --optimizer steepest:linf --eta 0.25 \
      --x0 1,1 --steps 200
  eostheory run --potential "0.5*(4*x**2 + y**2 + z**2) + 0.5*x*y" --optimizer normalized:block \
      --groups "x,y;z" --eta 0.05 --x0 1,1,1 --steps 500
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eostheory.geometry import STEEPEST_NAMES
    from eostheory.optimizers import OPTIMIZERS, TOY_MEASURES

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = textwrap.fill(DESCRIPTION, width=min(100, shutil.get_terminal_size((80, 24)).columns - 2))
    add_potential_args(p)
    p.add_argument(
        "--optimizer",
        default="gd",  # a real default: a sweep's point key leaves defaults out, typed or not
        choices=[*OPTIMIZERS, *STEEPEST_NAMES],
        metavar="NAME",
        help="update rule (" + ", ".join(OPTIMIZERS) + "), or steepest descent under a norm: steepest:NORM, "
        "normalized:NORM, steepest-momentum:NORM, normalized-momentum:NORM, muon (NORM: l2, linf, l1, block, "
        "spectral); default gd",
    )
    p.add_argument(
        "--groups",
        default=None,
        metavar="x,y;z",
        help="steepest descent only: the parameter blocks of the norm, symbols separated by ',' and blocks "
        "by ';' (default: every parameter its own block)",
    )
    p.add_argument(
        "--update",
        action="append",
        metavar="LINE",
        help="instead of --optimizer, the step as update-rule lines (repeatable, or separated by ';'), e.g. "
        "--update 'v = beta*v + g; w = w - eta*(g + beta*v)' --hp beta=0.9",
    )
    p.add_argument("--eta", type=str, required=True, help="learning rate > 0")
    p.add_argument("--beta", type=str, default=None, help="momentum in [0, 1) (shorthand for --hp beta=…; default 0.9)")
    p.add_argument(
        "--hp",
        default=None,
        metavar="NAME=V,…",
        help="hyperparameters of the optimizer or rule other than eta, e.g. --hp beta1=0.9,beta2=0.999 (adam) "
        "or --hp beta=0.9 (a rule's own names); unknown names are an error listing the rule's hyperparameters",
    )
    p.add_argument(
        "--track",
        default=None,
        metavar="M,…",
        help=f"measures recorded at the recorded steps (dense Hessian, exact eigh): {', '.join(TOY_MEASURES)} "
        "(loss always)",
    )
    p.add_argument("--top-k", default=None, help="eigenpairs for 'eigenvalues' and 'alignment' (default 1)")
    p.add_argument(
        "--x0",
        metavar="a,b",
        help="starting point, comma-separated (required for a potential; "
        "with --net the default is a seeded random initialization)",
    )
    p.add_argument("--steps", type=str, default="10000", help="number of steps (default 10000)")
    p.add_argument("--record-every", type=str, default=None, help="record stride (default steps/1000)")
    add_output_args(p)


def _optimizer(args: argparse.Namespace) -> Any:
    """The :class:`~eostheory.optimizers.Optimizer` of ``--optimizer`` or ``--update``."""
    from eostheory.optimizers import as_optimizer

    if args.update:
        if args.optimizer != "gd":
            raise EosInputError("give either --optimizer or --update lines, not both")
        return as_optimizer(update="; ".join(args.update))
    return as_optimizer(args.optimizer or "gd")


def _hyper(args: argparse.Namespace, opt: Any, eta: float) -> dict[str, float]:
    """``--hp`` (and ``--beta``) checked against the rule's hyperparameters, before any work."""
    from eostheory._validate import finite_float

    hp = parse_hp(args.hp)
    if "eta" in hp:
        raise EosInputError("--hp: give the learning rate with --eta")
    if args.beta is not None:
        if "beta" in hp:
            raise EosInputError("--hp beta=… repeats --beta: give it once")
        hp["beta"] = finite_float("--beta", args.beta)
    names = [h.name for h in opt.hyperparameters]
    what = f"the rule '{'; '.join(opt.update)}'" if opt.name == "custom" else f"optimizer {opt.name!r}"
    option = {k: "--beta" if k == "beta" and args.beta is not None else f"--hp {k}" for k in hp}
    unknown = [k for k in hp if k not in names]
    if unknown:
        raise EosInputError(
            f"{option[unknown[0]]}: {what} has no hyperparameter {', '.join(unknown)}; "
            f"its hyperparameters are {', '.join(names)} (eta via --eta)"
        )
    missing = [k for k in names if k != "eta" and k not in hp and k not in opt.defaults]
    if missing:
        shown = ",".join(f"{k}=…" for k in missing)
        raise EosInputError(f"{what} needs a value for {', '.join(missing)}: give --hp {shown}")
    try:  # the values' ranges (beta in [0, 1), eps > 0, ...), named by the option that gave them
        opt.hyperparameter_values(eta=eta, **hp)
    except EosInputError as exc:
        bad = next((k for k in hp if str(exc).startswith(f"{k} ")), None)
        if bad is None:
            raise
        raise EosInputError(
            f"{option[bad]}={hp[bad]:g}: {exc} ({what} has hyperparameters {', '.join(names)})"
        ) from None
    return hp


#: the most numbers (records x (parameters + 3)) a run keeps in memory: 200 MB of float64
MAX_RECORDED = 25_000_000


def _record_every(args: argparse.Namespace, steps: int, dim: int) -> int | None:
    """``--record-every`` checked against the memory the records would take."""
    if args.record_every is None:
        return None
    stride = int_option("--record-every", args.record_every)
    records = steps // stride + 1
    if records * (dim + 3) > MAX_RECORDED:
        raise EosInputError(
            f"--record-every {stride} keeps {records:,} records of {dim + 3} numbers, more than {MAX_RECORDED:,} "
            f"in all: raise --record-every to at least {max(1, steps * (dim + 3) // MAX_RECORDED + 1):,}"
        )
    return stride


def _track(args: argparse.Namespace, dim: int) -> tuple[list[Any], int]:
    """``--track`` and ``--top-k`` as measures, checked before any work."""
    from eostheory.optimizers import resolve_toy_measures

    top_k = 1 if args.top_k is None else int_option("--top-k", args.top_k)
    if args.track is None:
        if args.top_k is not None:
            raise EosInputError("--top-k applies to --track eigenvalues or alignment")
        return [], top_k
    if not args.track.strip():
        raise EosInputError("--track is empty: name measures, e.g. --track sharpness,grad-norm")
    measures = resolve_toy_measures(args.track)
    if top_k > dim and any(m.name in ("eigenvalues", "alignment") for m in measures):
        raise EosInputError(f"--top-k {top_k}: the Hessian is {dim}x{dim}, so at most {dim} eigenpairs")
    return measures, top_k


def _groups(args: argparse.Namespace, pot: Any, opt: Any) -> list[list[str]] | None:
    """``--groups "x,y;z"`` as blocks of symbol names, checked against the potential before any work."""
    from eostheory.geometry import SteepestOptimizer

    if args.groups is None:
        return None
    if not isinstance(opt, SteepestOptimizer):
        raise EosInputError(f"--groups declares the blocks of a norm; {opt.name} is not steepest descent under a norm")
    blocks = [[x.strip() for x in b.split(",") if x.strip()] for b in args.groups.split(";") if b.strip()]
    names = [p.name for p in pot.params]
    flat = [x for b in blocks for x in b]
    if sorted(flat) != sorted(names):
        raise EosInputError(
            f"--groups {args.groups!r} must list each parameter of the potential once: {', '.join(names)}"
        )
    return blocks


def _generalized_measures(result: Any) -> dict[str, Any]:
    """Plot-only measures for a steepest-descent run: its generalized quantity against 2/eta."""
    from eostheory.optimizers import ToyMeasure

    gen = result.generalized
    if gen is None or "generalized_sharpness" not in result.series:
        return {}
    norm = gen["norm"]
    s_line = ("stability",) if not gen["normalized"] else ()
    n_line = ("stability",) if gen["normalized"] else ()
    return {
        "generalized-sharpness": ToyMeasure(
            "generalized-sharpness",
            lambda _s: None,
            label=f"generalized sharpness ({norm})",
            thresholds=s_line,
            panel="generalized",
        ),
        "normalized-generalized-sharpness": ToyMeasure(
            "normalized-generalized-sharpness",
            lambda _s: None,
            label=f"S/||g||_* ({norm})",
            thresholds=n_line,
            panel="normalized-generalized",
        ),
    }


def _plot_measures(result: Any, path: Any, threshold: float | None) -> None:
    """The tracked measures in panels (the figure code of network runs, fed the toy run's series)."""
    from types import SimpleNamespace

    import numpy as np

    from eostheory.analysis.torch_plots import plot_training

    view = SimpleNamespace(
        series={"step": [int(x) for x in result.t], **result.series},
        measures={**_generalized_measures(result), **result.measures},
        step_loss=np.zeros(0),
        config=SimpleNamespace(hyperparameters=result.config.hyperparameters, batch_size=None, track=()),
        threshold=threshold,
        status=result.status,
        extra={},
    )
    eta = result.config.hyperparameters["eta"]
    plot_training(
        view, path, title=f"{result.config.optimizer} eta={eta:g} on {result.config.potential}: {result.status}"
    )


def execute(args: argparse.Namespace) -> int:
    from eostheory._json import non_finite
    from eostheory._validate import finite_float
    from eostheory.optimizers import run

    out = validate_out_dir(args.out) if args.out is not None else None
    steps = int_option("--steps", args.steps)
    eta = finite_float("eta", args.eta)
    opt = _optimizer(args)
    hyper = _hyper(args, opt, eta)
    pot = resolve_potential(args)
    measures, top_k = _track(args, pot.dim)
    groups = _groups(args, pot, opt)
    record_every = _record_every(args, steps, pot.dim)
    result = run(
        pot,
        opt,
        x0=resolve_x0(args, pot),
        steps=steps,
        eta=eta,
        hyper=hyper,
        record_every=record_every,
        track=measures or None,
        top_k=top_k,
        groups=groups,
    )
    threshold, note = result.threshold, result.threshold_note
    summary = result.summary()
    summary["threshold"] = threshold
    if note:
        summary["threshold_note"] = note
    bad = non_finite(summary)
    if out is not None:
        from eostheory.analysis.plots import plot_run

        d = result.save(out)
        gen = result.generalized
        on_lam = threshold is not None and (gen is None or (gen["norm"] == "l2" and not gen["normalized"]))
        # a generalized threshold is on S in its norm, not on lambda_max: drawn in measures.png instead
        plot_run(result, d / "run.png", threshold=threshold if on_lam else float("nan"))
        if result.series:
            try:
                _plot_measures(result, d / "measures.png", threshold)
            except Exception as exc:  # a plot must never lose a run: the arrays and JSON are written
                summary["plot_error"] = f"measures.png: {type(exc).__name__}: {exc}"
        summary["out"] = str(d)
    if args.json:
        emit_json(summary)
    else:
        f, a = result.final, result.average
        print(f"potential  {pot}")
        print(f"optimizer  {result.config.optimizer}: {'; '.join(result.config.update)}")
        gen = result.generalized
        thr = f", threshold none: not linear (no linear threshold: {note})"
        if gen is not None and threshold is not None:  # steepest descent under a norm
            where = "hovers at" if gen["normalized"] else "stable below"
            thr = f", threshold {gen['quantity']} {where} 2/eta = {threshold:.6g}"
            thr += f" (generalized sharpness, {gen['norm']} norm)"
        elif threshold is not None:
            thr = f", threshold lam* = {threshold:.6g}"
        print(f"           {result.config.hyperparameters}, 2/eta = {2 / eta:.6g}{thr}")
        if gen is not None and threshold is None:  # a built-in rule that is steepest descent under a norm
            print(f"           generalized threshold: {gen['statement']} (a steepest:/normalized: name tracks S)")
        print(f"status     {result.status} ({result.message})")

        def show(p: list[float]) -> str:
            return str(p) if len(p) <= 8 else f"({len(p)} parameters: see --json or --out)"

        print(f"final      params={show(f['params'])} loss={f['loss']} sharpness={f['sharpness']}")
        print(
            f"average    params={show(a['params'])} loss={a['loss']} sharpness={a['sharpness']} "
            f"(last {a['window']} steps)"
        )
        if result.series:
            last = {k: v[-1] for k, v in result.series.items() if v and k != "loss"}
            shown = " ".join(f"{k}={_short(v)}" for k, v in last.items())
            print(f"tracked    {shown} (at step {int(result.t[-1])}; {len(result.t)} records: see --json or --out)")
        if bad:
            shown = ", ".join(f"{k}={v}" for k, v in bad.items())
            print(f"not finite {shown} (null in JSON, listed under non_finite)")
        if out is not None:
            print(f"wrote      {summary['out']}")
        if "plot_error" in summary:
            print(f"plot error {summary['plot_error']}")
    return 0


def _short(v: Any) -> str:
    """A tracked value for the text output (lists in brackets, ``None`` as ``none``)."""
    if v is None:
        return "none"
    if isinstance(v, list):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return f"{v:.10g}" if isinstance(v, float) else str(v)
