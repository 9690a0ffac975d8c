"""``eostheory run``: an explicit optimizer on a potential, with sharpness tracking."""

from __future__ import annotations

import argparse

from eostheory._errors import EosInputError
from eostheory.cli._common import (
    add_output_args,
    add_potential_args,
    emit_json,
    int_option,
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
    "average over the last 10% of steps."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eostheory.optimizers import OPTIMIZERS

    add_potential_args(p)
    p.add_argument("--optimizer", default="gd", choices=list(OPTIMIZERS), help="update rule (default gd)")
    p.add_argument("--eta", type=str, required=True, help="learning rate > 0")
    p.add_argument("--beta", type=str, default=None, help="momentum in [0, 1) (momentum optimizers; default 0.9)")
    p.add_argument(
        "--x0",
        metavar="a,b",
        help="starting point, comma-separated (required for a potential; "
        "with --net the default is a seeded random initialization)",
    )
    p.add_argument("--steps", type=str, default="10000", help="number of steps (default 10000)")
    p.add_argument("--record-every", type=str, default=None, help="record stride (default steps/1000)")
    add_output_args(p)


def _threshold(optimizer: str, hyper: dict[str, float]) -> float | None:
    """The optimizer's linear-stability threshold at these hyperparameters (None if not linear)."""
    from eostheory.symbolic.stability import thresholds

    try:
        return float(thresholds(optimizer).value(**hyper))
    except EosInputError:  # e.g. sign or normalized steps: no linear threshold
        return None


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


def execute(args: argparse.Namespace) -> int:
    from eostheory._json import non_finite
    from eostheory._validate import finite_float
    from eostheory.optimizers import run

    out = validate_out_dir(args.out) if args.out is not None else None
    steps = int_option("--steps", args.steps)
    eta = finite_float("eta", args.eta)
    beta = None if args.beta is None else finite_float("beta", args.beta)
    pot = resolve_potential(args)
    record_every = _record_every(args, steps, pot.dim)
    result = run(
        pot,
        args.optimizer,
        x0=resolve_x0(args, pot),
        steps=steps,
        eta=eta,
        beta=beta,
        record_every=record_every,
    )
    summary = result.summary()
    threshold = _threshold(args.optimizer, result.config.hyperparameters)
    summary["threshold"] = threshold
    bad = non_finite(summary)
    if out is not None:
        from eostheory.analysis.plots import plot_run

        d = result.save(out)
        plot_run(result, d / "run.png", threshold=threshold)
        summary["out"] = str(d)
    if args.json:
        emit_json(summary)
    else:
        f, a = result.final, result.average
        print(f"potential  {pot}")
        print(f"optimizer  {result.config.optimizer}: {'; '.join(result.config.update)}")
        thr = ", no linear threshold (non-linear step)"
        if threshold is not None:
            thr = f", threshold lam* = {threshold:.6g}"
        print(f"           {result.config.hyperparameters}, 2/eta = {2 / eta:.6g}{thr}")
        print(f"status     {result.status} ({result.message})")

        def show(p: list[float]) -> str:
            return str(p) if len(p) <= 8 else f"({len(p)} parameters: see --json or --out)"

        print(f"final      params={show(f['params'])} loss={f['loss']} sharpness={f['sharpness']}")
        print(
            f"average    params={show(a['params'])} loss={a['loss']} sharpness={a['sharpness']} "
            f"(last {a['window']} steps)"
        )
        if bad:
            shown = ", ".join(f"{k}={v}" for k, v in bad.items())
            print(f"not finite {shown} (null in JSON, listed under non_finite)")
        if out is not None:
            print(f"wrote      {summary['out']}")
    return 0
