"""Edge flow (centre, direction, magnitude) with secant and Rayleigh curvature against GD.

On the quartic the Rayleigh quotient u^T H(c) u = S stays above 2/eta at the centre, so the
Rayleigh edge flow's magnitude grows until it blows up; the secant curvature sees the quartic
term and stops r at GD's amplitude w*.  On the self-stabilization toy both find GD's cycle.

    python worked_examples/flow_edge.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from eostheory.analysis.compare import compare


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (used by the tests)")
    ap.add_argument("--out", default="out/flow_edge", help="output directory for the figures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    steps = 500 if args.quick else 3000
    flows = ["edge", "edge-rayleigh", "edge:growth=log"]
    print(f"{'problem':24}  {'flow':16}  {'status':14}  {'predicted r':>11}  {'GD amplitude':>12}")
    for label, pot, x0, eta, consts in (
        ("quartic eta S = 2.5", "quartic", [0.05], 2.5, {"S": 1.0, "Q": 1.0}),
        ("selfstab eta = 0.45", "selfstab", [0.01, 1.5], 0.45, None),
    ):
        cmp = compare(pot, flows, x0=x0, eta=eta, steps=steps, constants=consts)
        cmp.save(out / pot)
        gosc = cmp.gd_summary()["oscillation"]
        for name, fc in cmp.flows.items():
            m = fc.metrics
            r = m["predicted_oscillation"] if m["status"] == "completed" else math.nan
            print(f"{label:24}  {name:16}  {m['status']:14}  {r:11.6f}  {gosc:12.6f}")
    print(f"figures in {out}/*/compare.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
