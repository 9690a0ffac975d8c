"""Figures of a GD-versus-flows comparison (matplotlib lives only in eostheory.analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eostheory.analysis.plots import _pyplot

__all__ = ["plot_comparison"]


def plot_comparison(cmp: Any, path: str | Path, title: str | None = None) -> Path:
    """Save a six-panel figure of a :class:`~eostheory.analysis.compare.Comparison`.

    Panels: the path in the first two coordinates (GD iterates, GD midpoints, flow centres);
    sharpness against the threshold; time-averaged loss (GD midpoint average against each
    flow's prediction); oscillation amplitude (GD against predicted); centre error (log
    scale); and the first coordinate over time.
    """
    plt = _pyplot()
    g = cmp.gd
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    (ax_path, ax_sharp, ax_loss), (ax_osc, ax_err, ax_coord) = axes
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = g.w.shape[1]
    if n >= 2:
        ax_path.plot(g.w[:, 0], g.w[:, 1], ".", ms=1.5, color="0.75", label="GD iterates")
        ax_path.plot(g.midpoint[:, 0], g.midpoint[:, 1], "-", lw=1.2, color="k", label="GD midpoint")
    else:
        ax_path.plot(g.t, g.w[:, 0], ".", ms=1.5, color="0.75", label="GD iterates")
        ax_path.plot(g.tm, g.midpoint[:, 0], "-", lw=1.2, color="k", label="GD midpoint")
    ax_sharp.plot(g.t, g.sharpness, lw=0.6, color="0.75", label="GD $S(w_t)$")
    ax_sharp.plot(g.tm, g.sharpness_mid, lw=1.2, color="k", label="GD $S(\\bar w_t)$")
    ax_sharp.axhline(cmp.threshold, ls="--", color="k", lw=1, label=f"threshold {cmp.threshold:.4g}")
    ax_loss.plot(g.tm, g.loss_avg, lw=1.2, color="k", label="GD (midpoint average)")
    ax_osc.plot(g.tm, g.oscillation, lw=1.0, color="k", label="GD $\\|w_t - \\bar w_t\\|$")
    ax_coord.plot(g.t, g.w[:, 0], ".", ms=1.5, color="0.75", label="GD iterates")
    ax_coord.plot(g.tm, g.midpoint[:, 0], "-", lw=1.2, color="k", label="GD midpoint")
    for i, (name, fc) in enumerate(cmp.flows.items()):
        col = colors[i % len(colors)]
        r = fc.result
        if len(r.t) == 0:
            continue
        if n >= 2:
            ax_path.plot(r.center[:, 0], r.center[:, 1], "--", lw=1.2, color=col, label=name)
        else:
            ax_path.plot(r.t, r.center[:, 0], "--", lw=1.2, color=col, label=name)
        ax_sharp.plot(r.t, r.sharpness, "--", lw=1.2, color=col, label=name)
        ax_loss.plot(r.t, r.predicted_loss, "--", lw=1.2, color=col, label=name)
        ax_osc.plot(r.t, r.predicted_oscillation, "--", lw=1.2, color=col, label=name)
        ax_coord.plot(r.t, r.center[:, 0], "--", lw=1.2, color=col, label=name)
        if len(fc.t):
            err = np.maximum(fc.center_error, 1e-16)
            ax_err.semilogy(fc.t, err, lw=1.0, color=col, label=name)
    ax_path.set_title("path" + (" (first two coordinates)" if n > 2 else ""))
    ax_sharp.set_title("sharpness against the threshold")
    ax_loss.set_title("time-averaged loss")
    ax_osc.set_title("oscillation amplitude")
    ax_err.set_title("centre error |c(t) - GD midpoint|")
    ax_coord.set_title("first coordinate")
    for ax in (ax_sharp, ax_loss, ax_osc, ax_err, ax_coord):
        ax.set_xlabel("step")
    for ax in axes.flat:
        ax.legend(loc="best", fontsize=7)
    fig.suptitle(title or f"GD against flows on {cmp.potential}, eta = {cmp.eta:g}")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
