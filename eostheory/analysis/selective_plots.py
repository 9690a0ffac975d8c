"""Figures of the selective edge-of-stability report (:func:`eostheory.torch.selective`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["plot_gain_vs_alignment", "plot_group_gradients", "plot_selective"]


def _err(iv: Mapping[str, Any]) -> tuple[float, list[float]]:
    m = iv["mean"]
    if m is None:
        return float("nan"), [0.0, 0.0]
    lo = iv["lo"] if iv["lo"] is not None else m
    hi = iv["hi"] if iv["hi"] is not None else m
    return m, [m - lo, hi - m]


def plot_gain_vs_alignment(summary: Mapping[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Per-group gain from the edge (95% interval over seeds) against the alignment :math:`|\\cos(g_G, u_1)|`.

    Left: the edge branch's gain (last iterate and 2-cycle mean) with the random-direction
    control of the same displacement length; right: the top-eigenvector control (the same
    length along :math:`\\pm u_1`), usually on another scale.
    """
    import matplotlib.pyplot as plt

    pg = summary["per_group"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.0, 4.0))
    styles = (
        (ax, "gain", "edge (last iterate)", "o", "C0"),
        (ax, "gain_cycle", "edge (2-cycle mean)", "D", "C2"),
        (ax, "control_random", "random direction", "s", "0.45"),
        (ax2, "control_top", "±u₁ (mean of both signs)", "^", "C3"),
    )
    first = next(iter(pg.values()))
    for j, (axis, key, label, marker, color) in enumerate(styles):
        if key not in first:
            continue
        xs, ys, xe, ye = [], [], [[], []], [[], []]
        for g in pg:
            x, ex = _err(pg[g]["alignment"])
            y, ey = _err(pg[g][key])
            xs.append(x + (j - 1) * 0.004)
            ys.append(y)
            for i in (0, 1):
                xe[i].append(ex[i])
                ye[i].append(ey[i])
        axis.errorbar(xs, ys, yerr=ye, fmt=marker, color=color, label=label, capsize=3, ms=5, alpha=0.9)
        if j in (0, 3):
            for g, x, y in zip(pg, xs, ys, strict=True):
                axis.annotate(g, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6)
    for axis in (ax, ax2):
        axis.axhline(0.0, color="k", lw=0.7)
        axis.set_xlabel(r"alignment $|\cos(\nabla L_G, u_1)|$ at the fork")
        axis.legend(fontsize=7)
    ax.set_ylabel(r"gain $L_G(w_s) - L_G(w_e)$ (95% interval)")
    ax2.set_ylabel(r"$L_G(w_s) - L_G(w_s \pm d\,u_1)$")
    rc = summary.get("rank_correlation", {})
    extra = ""
    if rc.get("mean") is not None:
        lo, hi = rc.get("lo"), rc.get("hi")
        ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None else ""
        extra = f"; Spearman(gain, alignment) {rc['mean']:.2f}{ci}"
    cfg = summary.get("config", {})
    name = str(cfg.get("data", "")).split("(")[0]
    fig.suptitle(title or f"{name}, {cfg.get('loss', '')}{extra}", fontsize=9)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.13, top=0.9, wspace=0.3)
    p = Path(path)
    fig.savefig(p, dpi=100)
    plt.close(fig)
    return p


def plot_group_gradients(summary: Mapping[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    r"""Per-group gradient norm :math:`\|\nabla L_G\|` after the fork against :math:`\eta t`, edge solid, stable dashed
    (means over seeds), with the per-group loss below."""
    import matplotlib.pyplot as plt

    ts = summary["time_series"]
    fig, axes = plt.subplots(2, 1, figsize=(6.2, 5.4), sharex=True)
    groups = list(summary["per_group"])
    for i, g in enumerate(groups):
        color = f"C{i % 10}"
        for b, ls in (("edge", "-"), ("stable", "--")):
            axes[0].plot(
                ts[b]["time"], ts[b]["grad_norm"][g], ls, color=color, lw=1.2, label=g if b == "edge" else None
            )
            axes[1].plot(ts[b]["time"], ts[b]["loss"][g], ls, color=color, lw=1.2)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].set_ylabel(r"$\|\nabla L_G\|$")
    axes[1].set_ylabel(r"$L_G$")
    axes[1].set_xlabel(r"time $\eta t$ after the fork (solid: edge, dashed: stable)")
    axes[0].legend(fontsize=6, ncol=4)
    cfg = summary.get("config", {})
    axes[0].set_title(title or f"{str(cfg.get('data', '')).split('(')[0]}, {cfg.get('loss', '')}", fontsize=8)
    fig.subplots_adjust(left=0.16, right=0.97, bottom=0.1, top=0.94, hspace=0.08)
    p = Path(path)
    fig.savefig(p, dpi=100)
    plt.close(fig)
    return p


def plot_selective(summary: Mapping[str, Any], out_dir: str | Path, *, prefix: str = "selective") -> list[Path]:
    """Both figures into ``out_dir``: ``PREFIX_gain.png`` and ``PREFIX_gradients.png``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    return [
        plot_gain_vs_alignment(summary, d / f"{prefix}_gain.png"),
        plot_group_gradients(summary, d / f"{prefix}_gradients.png"),
    ]
