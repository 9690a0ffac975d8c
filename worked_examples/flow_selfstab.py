"""Self-stabilization: the constrained trajectory (projected GD) and Damian's reduced map.

* The constrained trajectory theta_(t+1) = proj_M(theta_t - eta grad L), M = {S <= 2/eta,
  grad L . u = 0}, against GD's midpoint on the self-stabilization toy; its predicted
  amplitude sqrt(2 alpha/beta) is GD's.
* On the canonical toy the reduced map x_(t+1) = -(1 + eta y_t) x_t, y_(t+1) = y_t +
  eta (alpha - beta x_t^2/2) is GD itself in the coordinates x = u.(w - w*),
  y = grad S.(w - w*): they agree to rounding, and <x^2> = 2 alpha/beta.

    python worked_examples/flow_selfstab.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from eostheory.analysis.compare import compare, gd_record
from eostheory.analysis.plots import _pyplot
from eostheory.flows import ReducedMap


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (used by the tests)")
    ap.add_argument("--out", default="out/flow_selfstab", help="output directory for the figures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    steps = 400 if args.quick else 3000

    cmp = compare("selfstab", ["selfstab", "central"], x0=[0.01, 1.5], eta=0.45, steps=steps)
    cmp.save(out / "selfstab")
    print("self-stabilization toy, eta = 0.45")
    for name, fc in cmp.flows.items():
        m = fc.metrics
        print(
            f"  {name:9} centre err (end) {m['center_error_final']:.2e}  predicted amplitude "
            f"{m['predicted_oscillation']:.6f}  GD {m['measured_oscillation']:.6f}"
        )

    consts = {"s0": 1.0, "c": 0.01}
    eta = 0.5
    rm = ReducedMap.at("canonical", [0.0, 3.0], eta, constants=consts)
    g = gd_record("canonical", x0=[0.12, 3.05], eta=eta, steps=steps, constants=consts)
    gx, gy = rm.coordinates(g.w)
    mx, my = rm.iterate(float(gx[0]), float(gy[0]), steps)
    print(f"canonical toy: alpha = {rm.alpha:.4g}, beta = {rm.beta:.4g}, 2 alpha/beta = {rm.mean_x2:.6f}")
    print(f"  max |reduced map - GD| over {steps} steps: {max(np.abs(mx - gx).max(), np.abs(my - gy).max()):.2e}")
    print(f"  <x^2> over the run: GD {np.mean(gx[:-1] ** 2):.6f}, reduced map {np.mean(mx[:-1] ** 2):.6f}")

    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(g.t, gx, ".", ms=2, label="GD x_t")
    a1.plot(np.arange(steps + 1), mx, "-", lw=0.6, label="reduced map x_t")
    a1.set_xlabel("step")
    a1.legend()
    a2.plot(gx[::2], gy[::2], ".", ms=2, label="GD (every other step)")
    a2.plot(mx[::2], my[::2], "-", lw=0.6, label="reduced map")
    a2.set_xlabel("x = u.(w - w*)")
    a2.set_ylabel("y = S - 2/eta")
    a2.legend()
    fig.suptitle("canonical toy: GD and the reduced map")
    fig.tight_layout()
    (out / "canonical").mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "canonical" / "reduced_map.png", dpi=110)
    plt.close(fig)
    print(f"figures in {out}/selfstab/compare.png and {out}/canonical/reduced_map.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
