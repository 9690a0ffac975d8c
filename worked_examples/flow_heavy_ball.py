"""Heavy-ball central flow against heavy-ball GD at 2(1+beta)/eta.

On the self-stabilization toy heavy-ball GD (beta = 0.5, eta = 0.62; beta = 0.3, eta = 0.55)
settles on a 2-cycle with 1 + y^2 = 2(1+beta)/eta and x^2 = (2 - y)/y: the heavy-ball
central flow, which keeps the buffer as state and holds the sharpness at 2(1+beta)/eta,
lands on the same point.

    python worked_examples/flow_heavy_ball.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eostheory.analysis.compare import compare


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (used by the tests)")
    ap.add_argument("--out", default="out/flow_heavy_ball", help="output directory for the figures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    steps = 600 if args.quick else 4000
    print(
        f"{'beta':>5} {'eta':>5}  {'2(1+b)/eta':>10}  {'GD 1+y^2':>10}  {'flow 1+y^2':>10}  {'GD x^2':>9}  "
        f"{'sigma^2':>9}  {'centre err':>10}"
    )
    for beta, eta in ((0.5, 0.62), (0.3, 0.55)):
        cmp = compare("selfstab", ["central-hb"], x0=[0.01, 1.5], eta=eta, beta=beta, steps=steps)
        cmp.save(out / f"beta{beta}")
        g, m = cmp.gd_summary(), cmp.flows["central-hb"].metrics
        yg, yf = g["final_midpoint"][1], m["final_center"][1]
        print(
            f"{beta:5.2f} {eta:5.2f}  {2 * (1 + beta) / eta:10.6f}  {1 + yg * yg:10.6f}  {1 + yf * yf:10.6f}  "
            f"{g['oscillation'] ** 2:9.6f}  {m['predicted_oscillation'] ** 2:9.6f}  {m['center_error_final']:10.2e}"
        )
    print(f"figures in {out}/beta*/compare.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
