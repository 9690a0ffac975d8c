"""Stability thresholds of the built-in optimizers and of a rule written by hand.

For each optimizer the step is linearised on L = λw²/2, its characteristic polynomial
p(z) is formed and the curvature λ* where a root leaves the unit disc is derived with
sympy (eostheory.thresholds). The script prints the table, then checks each threshold
numerically: the spectral radius of the step over a grid of ηλ (saved as a figure) and,
outside --quick, compiled runs at (1 ∓ 1%)λ* and the mean-square boundary of SGD with
momentum on over-parameterised linear regression.

The hand-written rule is quasi-hyperbolic momentum (Ma & Yarats 2019), which no built-in
covers: v = βv + (1 − β)g, w = w − η((1 − ν)g + νv).

    python worked_examples/thresholds.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from eostheory.experiments import spectral_radius_grid, verify_mean_square, verify_threshold
from eostheory.symbolic.stability import as_text, mean_square, thresholds

QHM = ["v = beta*v + (1 - beta)*g", "w = w - eta*((1 - nu)*g + nu*v)"]


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="symbolic table and spectral radii only (used by the tests)")
    ap.add_argument("--out", default="runs/thresholds", help="directory for the figure (default runs/thresholds)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    cases = [
        ("gd", "gd", {"eta": 1.0}),
        ("heavy-ball", "heavy-ball", {"eta": 1.0, "beta": 0.9}),
        ("nesterov", "nesterov", {"eta": 1.0, "beta": 0.9}),
        ("ema-momentum", "ema-momentum", {"eta": 1.0, "beta": 0.9}),
        ("QHM (user rule)", QHM, {"eta": 1.0, "beta": 0.9, "nu": 0.7}),
    ]
    rows = []
    print(f"{'optimizer':16s} {'lambda*':42s} {'crossing':8s} {'eta*lambda*':>12s}  {'noise-dominated m2/a':18s}")
    for label, target, vals in cases:
        r = thresholds(target)
        ms = mean_square(target)
        value = r.value(**vals)
        grid = spectral_radius_grid(r, vals, lam=np.geomspace(0.01, 100.0, 1200))
        rows.append(
            {
                "optimizer": label,
                "threshold": r.threshold_str(),
                "crossing": r.crossing,
                "eta_lambda_star": value,
                "grid_crossing": grid.crossing,
                "noise_limit": as_text(ms.noise_limit),
                "grid": grid,
            }
        )
        print(f"{label:16s} {r.threshold_str():42s} {r.crossing:8s} {value:12.10g}  {as_text(ms.noise_limit):18s}")
    print(
        "\n(eta*lambda* at beta = 0.9, QHM nu = 0.7)\n"
        "spectral radius of the step crosses 1 (numpy eigenvalues, bisection):"
    )
    for row in rows:
        err = abs(row["grid_crossing"] - row["eta_lambda_star"]) / row["eta_lambda_star"]
        print(f"  {row['optimizer']:16s} at eta*lambda = {row['grid_crossing']:.10g}  (relative error {err:.1e})")

    if not a.quick:
        print("\ncompiled runs on lam*w**2/2 at (1 -+ 1%) lambda*, eta = 0.1:")
        for label, target, vals in cases:
            runs = verify_threshold(target, {**vals, "eta": 0.1})
            print(f"  {label:16s} " + ", ".join(f"{r.factor:.2f}: {r.status}" for r in runs))
        print("\nSGD + heavy ball on regression (128 samples, 256 dims):")
        for m in verify_mean_square((0.0, 0.5, 0.9)):
            print(
                f"  beta={m.beta}: batch 1 eta_c*BS/2(1-beta) = {m.ratio_batch1:.3f}; "
                f"full batch eta_c*lam_max/2(1+beta) = {m.ratio_full:.5f}"
            )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for row in rows:
        g = row["grid"]
        (line,) = ax.plot(g.lam, g.rho, lw=1.2, label=f"{row['optimizer']}: $\\eta\\lambda^*$ = {g.threshold:.4g}")
        ax.axvline(g.threshold, color=line.get_color(), ls=":", lw=0.8)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(0.01, 100)
    ax.set_ylim(0, 1.6)
    ax.set_xlabel(r"$\eta\lambda$  ($\beta = 0.9$, QHM $\nu = 0.7$)")
    ax.set_ylabel(r"spectral radius of the step $\max|z|$")
    ax.set_title("linear stability on $L = \\lambda w^2/2$")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = out / "spectral_radius.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nfigure: {path}")
    return rows


if __name__ == "__main__":
    main()
