"""Figures of a sweep: a swept scalar against one axis with its threshold, or a heat map over two.

The natural picture of each command (``y`` overrides it):

* ``run``: average and final sharpness against the axis, with the optimizer's threshold
  lambda* at each point (``2/eta`` for GD); a heat map of ``sharpness_ratio``
  (average sharpness over lambda*) for two axes;
* ``train``: final sharpness with the threshold; heat map of ``sharpness_ratio``;
* ``compare``: GD's sharpness and each flow's final sharpness with the threshold; heat map
  of ``sharpness_ratio``;
* ``thresholds``: the verified threshold value (``--verify``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.analysis.plots import _pyplot

__all__ = ["default_columns", "plot_sweep"]

#: (1-D columns, the threshold column drawn as a curve, the 2-D column) of each command
_NATURAL: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "run": (("average.sharpness", "final.sharpness"), "threshold", "sharpness_ratio"),
    "train": (("final.sharpness",), "threshold", "sharpness_ratio"),
    "compare": (("gd.sharpness", "flows.*.final_sharpness"), "threshold", "sharpness_ratio"),
    "thresholds": (("verification.threshold_value",), None, "verification.threshold_value"),
}


def _expand(patterns: Sequence[str], columns: Sequence[str]) -> list[str]:
    import fnmatch

    out: list[str] = []
    for pat in patterns:
        out.extend(c for c in columns if fnmatch.fnmatchcase(c, pat) and c not in out)
    return out


def default_columns(command: str, columns: Sequence[str], ndim: int) -> tuple[list[str], str | None]:
    """The columns plotted by default for ``command`` (and the threshold column, for 1-D)."""
    one, thr, two = _NATURAL.get(command, ((), None, ""))
    if ndim == 2:
        return ([two] if two in columns else []), None
    return _expand(one, columns), (thr if thr in columns else None)


def _numeric(frame: Any, column: str) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


def _is_numeric_axis(frame: Any, axis: str) -> bool:
    import pandas as pd

    values = frame[axis]
    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _check(frame: Any, column: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(c for c in frame.columns if not c.startswith("point_"))[:400]
        raise EosInputError(f"--plot-y {column}: no such column in the sweep; its columns: {shown}")
    if not np.isfinite(_numeric(frame, column)).any():
        raise EosInputError(f"--plot-y {column}: the column holds no finite number to plot")


def plot_sweep(frame: Any, path: str | Path, *, axes: Sequence[str], command: str, y: str | None = None) -> Path:
    """Save the figure of a 1-D or 2-D sweep.

    Args:
        frame: the sweep's rows (:func:`eostheory.load_sweep`).
        path: the PNG to write.
        axes: the sweep's axes (one or two).
        command: the swept command (it chooses the natural columns).
        y: the column to plot instead.

    Returns:
        ``path``.

    Raises:
        EosInputError: not one or two axes, an unknown column, or nothing numeric to plot.
    """
    axes = list(axes)
    if len(axes) not in (1, 2):
        raise EosInputError(f"a sweep plot shows 1 or 2 axes, this sweep has {len(axes)}")
    for a in axes:
        if a not in frame.columns:
            raise EosInputError(f"the axis {a} is not a column of the sweep")
    if y is not None:
        _check(frame, y)
        columns, thr = [y], None
        if len(axes) == 1 and y.endswith("sharpness"):
            thr = default_columns(command, list(frame.columns), 1)[1]
    else:
        columns, thr = default_columns(command, list(frame.columns), len(axes))
        columns = [c for c in columns if np.isfinite(_numeric(frame, c)).any()]
        if not columns:
            raise EosInputError(
                f"no default column to plot for a {len(axes)}-D sweep of {command} (no finite values): "
                "give --plot-y COLUMN"
            )
    plt = _pyplot()
    out = Path(path)
    if len(axes) == 1:
        fig = _line(plt, frame, axes[0], columns, thr, command)
    else:
        fig = _heat(plt, frame, axes[0], axes[1], columns[0], command)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def _positions(frame: Any, axis: str) -> tuple[np.ndarray, list[str] | None, Any]:
    """x positions of the rows (numbers, or category indices with their labels) and the row order."""
    if _is_numeric_axis(frame, axis):
        x = _numeric(frame, axis)
        order = np.argsort(x, kind="stable")
        return x[order], None, order
    labels = list(dict.fromkeys(str(v) for v in frame[axis]))
    idx = np.array([labels.index(str(v)) for v in frame[axis]], dtype=float)
    order = np.argsort(idx, kind="stable")
    return idx[order], labels, order


def _line(plt: Any, frame: Any, axis: str, columns: list[str], thr: str | None, command: str) -> Any:
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    x, labels, order = _positions(frame, axis)
    markers = "osD^v<>"
    for i, col in enumerate(columns):
        ax.plot(x, _numeric(frame, col)[order], marker=markers[i % len(markers)], ms=4, lw=1.2, label=col)
    if thr is not None:
        t = _numeric(frame, thr)[order]
        label = "threshold $\\lambda^*$" + (" $= 2/\\eta$" if _is_gd(frame) and axis == "eta" else "")
        ax.plot(x, t, "k--", lw=1.2, label=label)
    finite = np.concatenate([_numeric(frame, c) for c in columns + ([thr] if thr else [])])
    finite = finite[np.isfinite(finite)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 1e3:
        ax.set_yscale("log")
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=30 if max(map(len, labels)) > 6 else 0)
    failed = int((frame["point_status"] != "done").sum()) if "point_status" in frame.columns else 0
    ax.set_xlabel(axis)
    ax.set_ylabel(columns[0] if len(columns) == 1 else "value")
    ax.set_title(f"eostheory {command}: {len(frame)} points" + (f" ({failed} failed)" if failed else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _is_gd(frame: Any) -> bool:
    for col in ("config.optimizer", "optimizer"):
        if col in frame.columns:
            values = set(frame[col].dropna().astype(str))
            return values == {"gd"}
    return False


def _heat(plt: Any, frame: Any, ax0: str, ax1: str, column: str, command: str) -> Any:
    from matplotlib.colors import TwoSlopeNorm

    def levels(axis: str) -> list[Any]:
        vals = list(dict.fromkeys(frame[axis].tolist()))
        try:
            return sorted(vals)
        except TypeError:
            return vals

    xs, ys = levels(ax0), levels(ax1)
    z = np.full((len(ys), len(xs)), np.nan)
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    values = _numeric(frame, column)
    for a, b, v in zip(frame[ax0].tolist(), frame[ax1].tolist(), values, strict=True):
        if math.isfinite(v):
            z[yi[b], xi[a]] = v
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * max(len(xs), 6), 1.2 + 0.5 * max(len(ys), 5)))
    finite = z[np.isfinite(z)]
    norm, cmap = None, "viridis"
    if column.endswith("ratio") and finite.size and finite.min() < 1 < finite.max():
        norm, cmap = TwoSlopeNorm(vcenter=1.0, vmin=float(finite.min()), vmax=float(finite.max())), "RdBu_r"
    im = ax.imshow(z, origin="lower", aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
    fig.colorbar(im, ax=ax, label=column)
    if len(xs) * len(ys) <= 225:
        for (r, c), v in np.ndenumerate(z):
            if math.isfinite(v):
                shade = float(im.norm(v))  # dark cells (both ends of RdBu, the low end of viridis) get white text
                dark = abs(shade - 0.5) > 0.3 if norm is not None else shade < 0.45
                ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=7, color="w" if dark else "k")
    ax.set_xticks(range(len(xs)), [_fmt(v) for v in xs], rotation=45 if len(xs) > 8 else 0)
    ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys])
    ax.set_xlabel(ax0)
    ax.set_ylabel(ax1)
    ax.set_title(f"eostheory {command}: {column}")
    return fig


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
