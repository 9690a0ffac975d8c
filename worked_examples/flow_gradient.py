"""Gradient flow, the modified flow and the stable flow against GD at and below the edge.

Below the edge of stability (eta = 0.35 on the self-stabilization toy, sharpness 5 < 2/eta)
all three follow GD; at eta = 0.45 GD settles on a 2-cycle at 1 + y^2 = 2/eta while
gradient flow and the modified flow go to the minimum (0, 2), whose sharpness 5 exceeds
2/eta, and the stable flow stops where the sharpness reaches 2/eta.

    python worked_examples/flow_gradient.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eostheory.analysis.compare import compare


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (used by the tests)")
    ap.add_argument("--out", default="out/flow_gradient", help="output directory for the figures")
    args = ap.parse_args(argv)
    steps = 300 if args.quick else 3000
    out = Path(args.out)
    print(f"{'eta':>5}  {'flow':9}  {'status':10}  {'centre error (end)':>18}  {'final S':>8}  {'2/eta':>7}")
    for eta in (0.35, 0.45):
        cmp = compare("selfstab", ["gradient", "modified", "stable"], x0=[0.01, 1.5], eta=eta, steps=steps)
        cmp.save(out / f"eta{eta}")
        for name, fc in cmp.flows.items():
            m = fc.metrics
            print(
                f"{eta:5.2f}  {name:9}  {m['status']:10}  {m['center_error_final']:18.3e}  "
                f"{m['final_sharpness']:8.4f}  {2 / eta:7.4f}"
            )
    print(f"figures in {out}/eta*/compare.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
