"""Mean-square boundary of mini-batch heavy-ball SGD on least squares: derived vs simulated.

For batch sizes B in {1, 2, 8, 32, n} and momenta 0 and 0.9, the exact critical learning rate
from the second-moment map (eostheory.symbolic.eoss.critical_eta_exact) against the one found
by simulating SGD over many runs and bisecting on the growth of E||w - w*||^2
(critical_eta_simulated), and the one-direction model over candidate directions.

    python worked_examples/eoss_critical_eta.py [--quick] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from eostheory.experiments import overparameterized_regression
from eostheory.symbolic.eoss import critical_eta_exact, critical_eta_one_direction, critical_eta_simulated, row_space


def plot(rows: list[dict], path: str) -> None:
    """Simulated / exact and one-direction / exact critical eta against batch size, one colour per beta."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for i, beta in enumerate(sorted({r["beta"] for r in rows})):
        rs = [r for r in rows if r["beta"] == beta]
        b = [r["batch_size"] for r in rs]
        ax.plot(b, [r["simulated_over_exact"] for r in rs], "o-", color=f"C{i}", label=f"beta={beta:g}: simulated")
        ax.plot(
            b, [r["one_direction_over_exact"] for r in rs], "x:", color=f"C{i}", label=f"beta={beta:g}: one-direction"
        )
    ax.axhspan(0.95, 1.05, color="0.9", zorder=0)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size B")
    ax.set_ylabel("critical eta / exact mean-square eta")
    ax.set_title(f"least squares n={rows[0]['n']}, d={rows[0]['d']} (band: +-5%)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10 x 100 data, B in {1, 10}, 300 runs x 600 steps")
    p.add_argument("--out", help="write the rows as JSON to this file (or DIR/eoss_critical_eta.json)")
    a = p.parse_args(argv)
    if a.quick:
        n, d, sizes, runs, steps, rtol = 10, 100, (1, 10), 300, 600, 0.02
    else:
        n, d, sizes, runs, steps, rtol = 48, 480, (1, 2, 8, 32, 48), 1000, 2000, 0.01
    Z = row_space(overparameterized_regression(n, d, seed=0))
    U = np.linalg.eigh(Z.T @ Z / n)[1].T
    cand = np.r_[U, Z / np.linalg.norm(Z, axis=1, keepdims=True)]
    rows = []
    for beta in (0.0, 0.9):
        for b in sizes:
            t = time.perf_counter()
            ec = critical_eta_exact(Z, beta, b)
            es = critical_eta_simulated(Z, beta, b, guess=1.1 * ec, rtol=rtol, runs=runs, steps=steps)
            one = min(critical_eta_one_direction((Z @ u) ** 2, beta, b) for u in cand)
            top = critical_eta_one_direction((Z @ U[-1]) ** 2, beta, b)
            row = {
                "n": n,
                "d": d,
                "beta": beta,
                "batch_size": b,
                "eta_exact": ec,
                "eta_simulated": es,
                "simulated_over_exact": es / ec,
                "one_direction_over_exact": one / ec,
                "top_eigenvector_only_over_exact": top / ec,
                "seconds": time.perf_counter() - t,
            }
            rows.append(row)
            print(
                f"beta={beta:<4g} B={b:<3d} exact {ec:.5g}  simulated {es:.5g}  ratio {es / ec:.4f}  "
                f"one-direction {one / ec:.3f}  top-eigvec {top / ec:.2f}  ({row['seconds']:.0f}s)",
                flush=True,
            )
    if a.out:
        path = os.path.join(a.out, "eoss_critical_eta.json") if os.path.isdir(a.out) else a.out
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)
        plot(rows, os.path.splitext(path)[0] + ".png")
    return rows


if __name__ == "__main__":
    main()
