"""Plots of network training runs: loss, accuracy and curvature against the stability threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eostheory.analysis.plots import _pyplot

__all__ = ["plot_sharpness_runs", "plot_training"]


def plot_training(result: Any, path: str | Path, title: str | None = None) -> Path:
    """Save a figure of a :class:`~eostheory.torch.TrainResult`.

    Top: the loss of every step and the tracked full-batch loss (log scale).  Middle (if
    tracked): accuracy.  Bottom: sharpness, further top eigenvalues, Batch Sharpness and
    GNI, with the optimizer's stability threshold (``2/η`` for GD) dashed.  A run that
    diverged has a red dotted line at the step where a non-finite value appeared (missing
    values, ``None`` in the series, are gaps).

    Args:
        result: the run.
        path: the PNG file to write (its directory is created).
        title: the title (default: optimizer, η, data set and status).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    plt = _pyplot()
    s = result.series
    step = np.asarray(s.get("step", []), dtype=float)
    has_acc = "accuracy" in s
    curv = [k for k in ("sharpness", "batch_sharpness", "gni") if k in s]
    nrows = 1 + has_acc + bool(curv)
    fig, axes = plt.subplots(nrows, 1, figsize=(7, 2.6 * nrows + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    ax = axes[0]
    sl = np.asarray(result.step_loss, dtype=float)
    ax.plot(step, _floats(s.get("loss", [])), "o", ms=2.5, color="C1", label="full-batch loss (tracked)")
    if sl.size:
        full = result.config.batch_size is None
        ax.plot(np.arange(sl.size), sl, lw=0.7, color="C0", label="loss at every step" + ("" if full else " (batch)"))
    vals = np.concatenate([sl, _floats(s.get("loss", []))])
    if vals.size and np.all(vals[np.isfinite(vals)] > 0):
        ax.set_yscale("log")
    ax.set_ylabel("loss")
    ax.legend(loc="best", fontsize=8)
    cfg = result.config
    ax.set_title(
        title or f"{cfg.optimizer} eta={cfg.hyperparameters.get('eta'):g} on {cfg.data.get('name')}: {result.status}"
    )
    row = 1
    if has_acc:
        axes[row].plot(step, _floats(s["accuracy"]), lw=1.2)
        axes[row].set_ylabel("accuracy")
        row += 1
    if curv:
        ax = axes[row]
        if "eigenvalues" in s:
            ev = np.asarray([e if e is not None else [np.nan] for e in s["eigenvalues"]], dtype=float)
            for i in range(1, ev.shape[1]):
                ax.plot(step, ev[:, i], lw=0.8, alpha=0.6, color="C0")
        labels = {"sharpness": "sharpness $\\lambda_{max}$", "batch_sharpness": "batch sharpness", "gni": "GNI"}
        for k in curv:
            ax.plot(step, _floats(s[k]), lw=1.2, label=labels[k])
        if result.threshold is not None:
            ax.axhline(result.threshold, ls="--", color="k", lw=1, label=f"threshold {result.threshold:.4g}")
        ax.set_ylabel("curvature")
        ax.legend(loc="best", fontsize=8)
    bad = getattr(result, "extra", {}).get("diverged_at") if result.status == "diverged" else None
    if bad is not None:
        for i, a in enumerate(axes):
            a.axvline(bad, color="C3", ls=":", lw=1.2, label=f"non-finite at step {bad}" if i == 0 else None)
        axes[0].legend(loc="best", fontsize=8)
    axes[-1].set_xlabel("step")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _floats(values: Any) -> np.ndarray:
    """A series as floats, ``None`` (a value that was not finite or not computed) as NaN (a gap)."""
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)


def plot_sharpness_runs(results: list[Any], path: str | Path, title: str | None = None) -> Path:
    """Sharpness against steps for several :class:`~eostheory.torch.TrainResult` runs, each with its threshold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, r in enumerate(results):
        c = f"C{i}"
        eta = r.config.hyperparameters.get("eta")
        step = np.asarray(r.series["step"], dtype=float)
        sharp = _floats(r.series["sharpness"])
        ax.plot(step, sharp, color=c, lw=1.2, label=f"eta = {eta:g}")
        if r.threshold is not None:
            ax.axhline(r.threshold, color=c, ls="--", lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness $\\lambda_{max}$")
    ax.set_title(title or "progressive sharpening and the edge of stability (dashed: 2/eta)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
