"""``eostheory compare``: explicit GD against continuous-time models from one start."""

from __future__ import annotations

import argparse

from eostheory._errors import EosInputError
from eostheory.cli._common import (
    add_output_args,
    add_potential_args,
    check_name,
    emit_json,
    int_option,
    resolve_potential,
    resolve_x0,
    validate_out_dir,
)

NAME = "compare"
HELP = "run GD and continuous-time models (gradient, central, rod, edge, …) from one start and compare"
DESCRIPTION = (
    "Run explicit GD (heavy ball with --beta) and a set of flows from the same starting point, "
    "align each flow's centre with the GD midpoint (w[t-1] + 2 w[t] + w[t+1])/4 at every step, "
    "and report the centre error, predicted against measured time-averaged loss and oscillation "
    "amplitude, and the sharpness against the threshold. Flows: gradient, stable, modified, "
    "central (central:k=2 for two eigenvalues, central:tau=0.5 …), central-hb, rod, edge, "
    "edge-rayleigh, selfstab."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_potential_args(p)
    p.add_argument("--eta", type=str, required=True, help="step size > 0")
    p.add_argument("--beta", type=str, default=None, help="momentum in [0, 1): heavy-ball GD and momentum flows")
    p.add_argument(
        "--x0",
        default=None,
        metavar="a,b",
        help="starting point, comma-separated (optional with --net: its seeded init)",
    )
    p.add_argument("--steps", type=str, default="2000", help="number of GD steps (default 2000)")
    p.add_argument(
        "--flows",
        default="gradient,central,rod,edge",
        help="comma-separated flows, each NAME or NAME:key=value (default gradient,central,rod,edge)",
    )
    p.add_argument("--method", default="dopri5", choices=["dopri5", "rk4", "euler"], help="flow integrator")
    p.add_argument("--rtol", type=str, default="1e-9", help="relative tolerance of dopri5 (default 1e-9)")
    p.add_argument("--atol", type=str, default="1e-12", help="absolute tolerance of dopri5 (default 1e-12)")
    p.add_argument(
        "--window",
        type=str,
        default=None,
        help="steps averaged at the end, at most steps - 1 (default 10%% of steps)",
    )
    add_output_args(p)


#: the most numbers compare keeps (GD and every flow at every step): 800 MB of float64
MAX_RECORDED = 100_000_000


def execute(args: argparse.Namespace) -> int:
    from eostheory._validate import finite_float, positive_float
    from eostheory.analysis.compare import compare
    from eostheory.flows import FLOWS

    out = validate_out_dir(args.out) if args.out is not None else None
    steps = int_option("--steps", args.steps)
    if steps < 3:
        raise EosInputError(f"--steps must be >= 3 for compare (the GD midpoint takes three iterates), got {steps}")
    window = None
    if args.window is not None:
        window = int_option("--window", args.window)
        if window > steps - 1:
            raise EosInputError(
                f"--window {window} is longer than the run: a {steps}-step run has {steps - 1} GD midpoints "
                f"(use --window {steps - 1} or less, or raise --steps)"
            )
    eta = finite_float("eta", args.eta)
    beta = None if args.beta is None else finite_float("beta", args.beta)
    rtol = positive_float("rtol", args.rtol)
    atol = positive_float("atol", args.atol)
    flows = [s.strip() for s in str(args.flows).split(",") if s.strip()]
    if not flows:
        raise EosInputError("--flows is empty: give at least one flow (e.g. gradient,central)")
    for spec in flows:
        check_name("flow", spec.split(":", 1)[0], FLOWS)
    pot = resolve_potential(args)
    numbers = steps * (pot.dim + 4) * (len(flows) + 1)
    if numbers > MAX_RECORDED:
        raise EosInputError(
            f"--steps {steps:,}: compare keeps every step of GD and of {len(flows)} flow(s) of {pot.dim} "
            f"parameter(s), {numbers:,} numbers (at most {MAX_RECORDED:,}); lower --steps or give fewer flows"
        )
    x0 = resolve_x0(args, pot)
    cmp = compare(
        pot,
        flows,
        x0=x0,
        eta=eta,
        steps=steps,
        beta=beta,
        method=args.method,
        rtol=rtol,
        atol=atol,
        window=window,
    )
    summary = cmp.summary()
    if out is not None:
        d = cmp.save(out)
        summary["out"] = str(d)
    if args.json:
        emit_json(summary)
    else:
        print(f"potential  {pot}")
        print(cmp.table())
        if out is not None:
            print(f"wrote      {summary['out']} (comparison.json, gd.npz, flows/, compare.png)")
    return 0
