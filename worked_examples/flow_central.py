"""The central flow against GD: one eigenvalue in closed form, two through the SDCP.

* self-stabilization toy, eta = 0.45: the central flow's centre and sigma^2 land on GD's
  2-cycle (1 + y^2 = 2/eta, x^2 = (2 - y)/y) and its loss never increases;
* canonical toy 1/2 (s0 + y) x^2 - c y: the stationary sigma^2 = 2c is GD's exact 2-cycle,
  which GD cannot hold (it spirals out by 1 + eta^2 x^2 per two steps);
* (full mode) a 4-D toy with two sharp directions at the edge: central flow with k = 2.

    python worked_examples/flow_central.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from eostheory.analysis.compare import compare
from eostheory.compile import compile_potential
from eostheory.flows import solve_flow
from eostheory.symbolic import Potential, toy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps, no k = 2 example (used by the tests)")
    ap.add_argument("--out", default="out/flow_central", help="output directory for the figures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    steps = 400 if args.quick else 3000

    eta = 0.45
    cmp = compare("selfstab", ["central", "gradient"], x0=[0.01, 1.5], eta=eta, steps=steps)
    cmp.save(out / "selfstab")
    m, g = cmp.flows["central"].metrics, cmp.gd_summary()
    y = m["final_center"][1]
    print("self-stabilization toy, eta = 0.45")
    print(f"  {'':22} {'GD':>12} {'central':>12} {'closed form':>12}")
    print(f"  {'1 + y^2':22} {1 + g['final_midpoint'][1] ** 2:12.8f} {1 + y * y:12.8f} {2 / eta:12.8f}")
    print(
        f"  {'x^2 (sigma^2)':22} {g['oscillation'] ** 2:12.8f} {m['predicted_oscillation'] ** 2:12.8f} "
        f"{(2 - y) / y:12.8f}"
    )
    print(f"  {'time-averaged loss':22} {g['average_loss']:12.8f} {m['predicted_loss']:12.8f}")
    r = solve_flow("selfstab", "central", x0=[0.01, 1.5], eta=eta, steps=steps, t_eval=np.arange(0, 2 * steps + 1) / 2)
    cp = compile_potential(toy("selfstab"))
    L = np.array([cp.loss(w, cp.constants()) for w in r.center])
    print(f"  largest increase of L(w(t)) along the central flow: {np.max(np.diff(L)):.2e}")

    c, eta = 0.01, 0.5
    xs = math.sqrt(2 * c)
    flows = ["central", "rod"] if args.quick else ["central", "rod", "edge"]
    cmp = compare("canonical", flows, x0=[1.001 * xs, 3.0], eta=eta, steps=steps, constants={"c": c})
    cmp.save(out / "canonical")
    print(f"canonical toy, c = {c}, eta = {eta}: 2-cycle x^2 = 2c = {2 * c}")
    print(f"  {'flow':8} {'sigma^2':>10} {'centre err (end)':>17} {'osc err':>9}")
    for name, fc in cmp.flows.items():
        mm = fc.metrics
        print(
            f"  {name:8} {mm['predicted_oscillation'] ** 2:10.6f} {mm['center_error_final']:17.3e} "
            f"{mm['oscillation_error']:9.2e}"
        )
    print(
        f"  GD measured x^2 over the last steps: {cmp.gd_summary()['oscillation'] ** 2:.6f} "
        f"(weakly unstable: growth 1 + eta^2 x^2 = {1 + eta**2 * 2 * c} per two steps)"
    )

    if not args.quick:
        pot = Potential(
            "(s1 + z1 + z2)*x**2/2 + (s2 + z1 - z2)*y**2/2 - c1*z1 - c2*z2",
            params=["x", "y", "z1", "z2"],
            constants={"s1": 1.0, "s2": 0.5, "c1": 0.02, "c2": 0.005},
            name="two-edge",
        )
        cmp = compare(pot, ["central:k=2"], x0=[0.1, 0.1, 0.0, 0.0], eta=0.5, steps=2000)
        cmp.save(out / "two-edge")
        mm = cmp.flows["central:k=2"].metrics
        print(
            f"two sharp directions, central flow k = 2: tr X = {mm['predicted_oscillation'] ** 2:.6f} "
            f"(2 c1 = 0.04), centre {np.round(mm['final_center'], 6).tolist()}"
        )
    print(f"figures in {out}/*/compare.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
