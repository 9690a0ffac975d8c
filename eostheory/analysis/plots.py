"""Plots of runs: loss and sharpness against the stability threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LOG_STEPS_FROM", "plot_run", "run_figure"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: runs longer than this many steps get a logarithmic step axis (starting at step 1)
LOG_STEPS_FROM = 1000


def run_figure(result: Any, threshold: float | None = None, label: str | None = None) -> Any:
    """The two-panel figure of a run (see :func:`plot_run`), not yet saved.

    Returns:
        The matplotlib figure (close it with ``matplotlib.pyplot.close``).
    """
    plt = _pyplot()
    thr = 2.0 / result.eta if threshold is None else threshold
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    t = np.asarray(result.t, dtype=float)
    loss = np.asarray(result.loss, dtype=float)
    sharp = np.asarray(result.sharpness, dtype=float)
    ax1.plot(t, loss, lw=1)
    finite = loss[np.isfinite(loss)]
    if finite.size and np.all(finite > 0):
        ax1.set_yscale("log")
    ax1.set_ylabel("loss")
    ax1.set_title(label or f"{result.config.optimizer} on {result.config.potential}: {result.status}")
    ax2.plot(t, sharp, lw=1, label="sharpness $S(w_t)$")
    if np.isfinite(thr):
        ax2.axhline(thr, ls="--", color="k", label=f"threshold {thr:.4g}")
    last = float(t[-1]) if t.size else 0.0
    if last > LOG_STEPS_FROM:
        # the transient and the long run on one axis: log steps from 1 (step 0 is left out)
        ax2.set_xscale("log")
        ax2.set_xlim(1.0, last)
        ax2.set_xlabel("step (log scale; step 0 not shown)")
    else:
        ax2.set_xlim(0.0, max(last, 1.0))
        ax2.set_xlabel("step")
    ax2.set_ylabel("sharpness")
    ax2.legend(loc="best")
    fig.tight_layout()
    return fig


def plot_run(result: Any, path: str | Path, threshold: float | None = None, label: str | None = None) -> Path:
    """Save a two-panel figure of a :class:`~eostheory.optimizers.RunResult`.

    Top: loss (log scale when positive).  Bottom: sharpness :math:`S(w_t)` with the
    stability threshold (``threshold``, default :math:`2/\\eta`) as a dashed line.  The
    step axis is linear from 0 up to :data:`LOG_STEPS_FROM` steps and logarithmic from
    step 1 beyond, so a long run shows its transient and its end without an empty half.

    Args:
        result: the run.
        path: the image file (its directory is created).
        threshold: the dashed line (default :math:`2/\\eta`).
        label: the title (default: optimizer, potential and status).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    plt = _pyplot()
    fig = run_figure(result, threshold, label)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
