"""``eostheory compare``: explicit GD against continuous-time models from one start."""

from __future__ import annotations

import argparse

from eostheory.cli._common import add_output_args, add_potential_args, emit_json, resolve_potential, resolve_x0

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
    p.add_argument("--window", type=str, default=None, help="steps averaged at the end (default 10%% of steps)")
    add_output_args(p)


def execute(args: argparse.Namespace) -> int:
    from eostheory._validate import finite_float, positive_float, positive_int
    from eostheory.analysis.compare import compare

    pot = resolve_potential(args)
    x0 = resolve_x0(args, pot)
    flows = [s.strip() for s in str(args.flows).split(",") if s.strip()]
    cmp = compare(
        pot,
        flows,
        x0=x0,
        eta=finite_float("eta", args.eta),
        steps=positive_int("steps", args.steps),
        beta=None if args.beta is None else finite_float("beta", args.beta),
        method=args.method,
        rtol=positive_float("rtol", args.rtol),
        atol=positive_float("atol", args.atol),
        window=None if args.window is None else positive_int("window", args.window),
    )
    summary = cmp.summary()
    if args.out:
        d = cmp.save(args.out)
        summary["out"] = str(d)
    if args.json:
        emit_json(summary)
    else:
        print(f"potential  {pot}")
        print(cmp.table())
        if args.out:
            print(f"wrote      {summary['out']} (comparison.json, gd.npz, flows/, compare.png)")
    return 0
