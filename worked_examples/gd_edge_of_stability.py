"""GD at the edge of stability on the self-stabilization toy L = ½(1+y²)x² + ½(y−2)².

The minimum (0, 2) has sharpness 5, so GD converges for η < 0.4. Above, GD does not
diverge: it drifts to the 2-cycle (±x, y) with 1 + y² = 2/η and x² = (2 − y)/y, where the
curvature along the oscillation sits exactly at the threshold 2/η (self-stabilization).
This script scans η, prints the table of the measured cycle against these closed forms,
and saves a figure of one run (loss, and sharpness against 2/η).

    python worked_examples/gd_edge_of_stability.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import eostheory as eos
from eostheory.analysis.plots import plot_run


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer η values and steps (used by the tests)")
    ap.add_argument("--out", default=None, help="directory for the figure (default: a temporary one)")
    a = ap.parse_args(argv)
    out = Path(a.out or tempfile.mkdtemp(prefix="eos_example_"))
    etas = [0.3, 0.42, 0.5, 0.9] if a.quick else [0.3, 0.38, 0.41, 0.42, 0.45, 0.48, 0.5, 0.52, 0.6, 0.9]
    steps = 5000 if a.quick else 50000
    L = eos.toy("selfstab")
    rows = []
    print(f"{'eta':>5} {'status':>12} {'period':>6} {'1+y^2':>12} {'2/eta':>10} {'x^2':>12} {'(2-y)/y':>12}")
    for eta in etas:
        r = eos.run(L, "gd", x0=[0.01, 1.5], eta=eta, steps=steps)
        y = r.average["params"][1]
        x2 = r.final["params"][0] ** 2
        rows.append({"eta": eta, "status": r.status, "period": r.period, "1+y^2": 1 + y * y, "x^2": x2, "y": y})
        if r.status == "diverged":
            print(f"{eta:5.2f} {r.status:>12} {r.period:6d}   ({r.message})")
            continue
        print(
            f"{eta:5.2f} {r.status:>12} {r.period:6d} {1 + y * y:12.8f} {2 / eta:10.6f} {x2:12.8f} {(2 - y) / y:12.8f}"
        )
        if eta == 0.5:
            fig = plot_run(r, out / "selfstab_gd_eta0.5.png")
            print(f"figure: {fig}")
    return rows


if __name__ == "__main__":
    main()
