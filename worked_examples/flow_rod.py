"""Rod flow on the quartic (S/2) w^2 - (Q/4) w^4 against GD, across eta S = 2.2 ... 3.5.

For eta S in (2, 3) GD settles on the 2-cycle +-w*, w*^2 = (S - 2/eta)/Q, and the rod's extent
Sigma* equals w*^2.  At eta S = 3 GD's symmetric cycle loses stability (it moves to an
asymmetric cycle, then period-doubles into chaos); the rod flow's symmetric point loses
stability in its centre direction at the same place and the rod settles on GD's asymmetric
2-cycle, which it keeps as a stable fixed point after GD has left it.

    python worked_examples/flow_rod.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from eostheory.analysis.compare import compare


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (used by the tests)")
    ap.add_argument("--out", default="out/flow_rod", help="output directory for the figures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    steps = 600 if args.quick else 4000
    consts = {"S": 1.0, "Q": 1.0}
    print(f"{'eta S':>6}  {'GD':22}  {'GD amp':>8}  {'rod sqrt(Sigma)':>15}  {'w*':>8}  {'rod centre':>10}")
    for es in (2.2, 2.5, 2.9, 3.2, 3.5):
        cmp = compare("quartic", ["rod"], x0=[0.05], eta=es, steps=steps, constants=consts)
        cmp.save(out / f"etaS{es}")
        g, m = cmp.gd_summary(), cmp.flows["rod"].metrics
        gd = f"{g['status']} (period {g['period']})"
        print(
            f"{es:6.2f}  {gd:22}  {g['oscillation']:8.5f}  {m['predicted_oscillation']:15.5f}  "
            f"{math.sqrt(1 - 2 / es):8.5f}  {m['final_center'][0]:10.5f}"
        )
    print(f"figures in {out}/etaS*/compare.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
