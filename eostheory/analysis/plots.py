"""Plots of runs: loss and sharpness against the stability threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_run"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(result: Any, path: str | Path, threshold: float | None = None, label: str | None = None) -> Path:
    """Save a two-panel figure of a :class:`~eostheory.optimizers.RunResult`.

    Top: loss (log scale when positive).  Bottom: sharpness :math:`S(w_t)` with the
    stability threshold (``threshold``, default :math:`2/\\eta`) as a dashed line.
    """
    plt = _pyplot()
    thr = 2.0 / result.eta if threshold is None else threshold
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    t = np.asarray(result.t)
    loss = np.asarray(result.loss)
    ax1.plot(t, loss, lw=1)
    if loss.size and np.all(loss > 0):
        ax1.set_yscale("log")
    ax1.set_ylabel("loss")
    ax1.set_title(label or f"{result.config.optimizer} on {result.config.potential}: {result.status}")
    ax2.plot(t, result.sharpness, lw=1, label="sharpness $S(w_t)$")
    ax2.axhline(thr, ls="--", color="k", label=f"threshold {thr:.4g}")
    ax2.set_xlabel("step")
    if t.size and t[-1] > 1000:  # show the transient and the long run on one axis
        ax2.set_xscale("symlog", linthresh=100)
    ax2.set_ylabel("sharpness")
    ax2.legend(loc="best")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
