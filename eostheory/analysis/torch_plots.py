"""Plots of network training runs: loss, accuracy and curvature against the stability threshold."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eostheory.analysis.plots import _pyplot

__all__ = ["plot_sharpness_runs", "plot_training"]


#: Record keys that are bookkeeping, never plotted as a measure of their own (``eta`` and the
#: thresholds at each record are drawn as threshold lines).
_BOOKKEEPING = (
    "step",
    "time",
    "eig_hvps",
    "eig_converged",
    "precond_hvps",
    "precond_converged",
    "eta",
    "threshold",
    "threshold_small_batch",
)

#: A threshold line: (kind, values at each record, value at the base rate); kind
#: ``"full-batch"`` (the optimizer's stability threshold), ``"small-batch"`` (SGD's small-batch
#: plateau) or ``"line"`` (another).
Line = tuple[str, np.ndarray, float]


def _threshold_lines(result: Any, m: Any, hyper: dict[str, Any]) -> list[Line]:
    """The threshold lines of measure ``m`` at every record, following the learning-rate schedule.

    With a constant rate each line is flat at ``m.threshold_values(hyperparameters, threshold)``;
    with a schedule each record's value uses that record's ``eta`` and ``threshold``.
    """
    s = result.series
    n = len(s.get("step", []))
    etas = s.get("eta")
    varying = etas is not None and len({e for e in etas if e is not None}) > 1
    per_th = s.get("threshold") or [result.threshold] * n
    out: list[Line] = []
    for th in m.thresholds:
        kind = "full-batch" if th == "stability" else "line"
        one = dataclasses.replace(m, thresholds=(th,))
        base = one.threshold_values(hyper, result.threshold)
        if not varying:
            if base:
                out.append((kind, np.full(n, base[0]), base[0]))
            continue
        arr = np.full(n, np.nan)
        for i, (e, t) in enumerate(zip(etas, per_th, strict=False)):
            vals = one.threshold_values({**hyper, "eta": e}, t) if e is not None else []
            if vals:
                arr[i] = vals[0]
        if np.isfinite(arr).any():
            out.append((kind, arr, base[0] if base else float("nan")))
    if any(th == "stability" for th in m.thresholds):  # SGD: the small-batch plateau beside the full-batch one
        small = s.get("threshold_small_batch")
        at_base = (getattr(result, "thresholds", None) or {}).get("small-batch")
        if small is not None and any(v is not None for v in small):
            arr = _floats(small)
            out.append(("small-batch", arr, at_base if at_base is not None else float(arr[np.isfinite(arr)][0])))
        elif at_base is not None:
            out.append(("small-batch", np.full(n, at_base), at_base))
    return out


def _add_lines(ths: list[Line], new: list[Line]) -> None:
    for kind, arr, base in new:
        if not any(k == kind and np.array_equal(a, arr, equal_nan=True) for k, a, _ in ths):
            ths.append((kind, arr, base))


def _panels(
    result: Any, registry: Mapping[str, Any] | None = None
) -> list[tuple[str, str, list[tuple[str, str, bool]], list[float]]]:
    """The panels below the loss: ``(panel, y label, [(series key, label, is_list)], threshold values)``.

    The threshold values are at the base rate ``eta`` (with a schedule the plot draws them
    following the rate: see :func:`_layout`).
    """
    return [
        (name, yl, lines, [b for _, _, b in ths if np.isfinite(b)])
        for name, yl, lines, ths in _layout(result, registry)
    ]


def _layout(
    result: Any, registry: Mapping[str, Any] | None = None
) -> list[tuple[str, str, list[tuple[str, str, bool]], list[Line]]]:
    """The panels below the loss: ``(panel, y label, [(series key, label, is_list)], threshold lines)``.

    Measures come from ``result.measures`` (or ``registry``, the network measures by name,
    by the names in ``config.track``); a series key that no measure claims gets a panel of
    its own.  The plots take the registry as an argument (``eostheory.torch.MEASURES``)
    rather than importing the torch package, which sits above them.
    """
    s = result.series
    reg = dict(registry or {})
    measures = dict(getattr(result, "measures", {}) or {})
    if not measures:
        measures = {n: reg[n] for n in getattr(result.config, "track", ()) if n in reg}
    hyper = getattr(result.config, "hyperparameters", {}) or {}
    panels: dict[str, tuple[str, list[tuple[str, str, bool]], list[Line]]] = {}
    claimed = set(_BOOKKEEPING) | {"loss"}
    for m in measures.values():
        if m.name == "loss":
            continue
        keys = [m.key] if m.key in s else []
        if m.name == "sharpness" and "sharpness" in s:
            keys = ["sharpness"]
        if m.name in ("batch-sharpness", "gni"):
            claimed.add(f"{m.key}_se")
        if not keys:
            continue
        pname = m.plot_panel
        ylabel = "curvature" if pname == "curvature" else m.plot_label
        _, lines, ths = panels.setdefault(pname, (ylabel, [], []))
        for k in keys:
            if k in claimed:
                continue
            claimed.add(k)
            is_list = any(isinstance(v, list) for v in s[k])
            lines.append((k, m.plot_label, is_list))
        _add_lines(ths, _threshold_lines(result, m, hyper))
    if "sharpness" in s and "sharpness" not in claimed:  # the shared eigen-solve records it for any eigen measure
        claimed.add("sharpness")
        _, lines, ths = panels.setdefault("curvature", ("curvature", [], []))
        lines.insert(0, ("sharpness", "sharpness $\\lambda_{max}$", False))
        sharp = reg.get("sharpness", measures.get("sharpness"))
        if sharp is not None:
            _add_lines(ths, _threshold_lines(result, sharp, hyper))
    for k, vals in s.items():  # series that no measure claims (e.g. from a run directory)
        if k in claimed or k.endswith("_se") or not any(isinstance(v, int | float | list) for v in vals):
            continue
        is_list = any(isinstance(v, list) for v in vals)
        panels.setdefault(k, (k, [], []))[1].append((k, k, is_list))
    order = {"accuracy": 0, "curvature": 1}
    items = sorted(panels.items(), key=lambda kv: order.get(kv[0], 2))
    return [(name, yl, lines, ths) for name, (yl, lines, ths) in items if lines]


def plot_training(
    result: Any, path: str | Path, title: str | None = None, *, registry: Mapping[str, Any] | None = None
) -> Path:
    """Save a figure of a :class:`~eostheory.torch.TrainResult`.

    Top: the loss of every step and the tracked full-batch loss (log scale).  Below, one
    panel per plot panel of the tracked measures (see :class:`~eostheory.torch.Measure`):
    accuracy, then curvature (sharpness, further top eigenvalues as thin lines, Batch
    Sharpness, GNI, directional smoothness) with each measure's threshold lines dashed
    (the optimizer's stability threshold, ``2/η`` for GD, in black; for SGD with momentum
    also the small-batch plateau ``2(1−β)/η``, in red; under a learning-rate schedule each
    line follows the rate eta_t, record by record), then every other measure
    (built-in or registered by the user) in a panel of its own, a list-valued one as one
    line per entry.  A run that diverged has a red dotted line at the step where a
    non-finite value appeared (missing values, ``None`` in the series, are gaps).

    Args:
        result: the run.
        path: the PNG file to write (its directory is created).
        title: the title (default: optimizer, η, data set and status).
        registry: the measures by name (``eostheory.torch.MEASURES``), for a result that
            does not carry its own (one loaded from a run directory).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    plt = _pyplot()
    s = result.series
    step = np.asarray(s.get("step", []), dtype=float)
    panels = _layout(result, registry)
    nrows = 1 + len(panels)
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
    for ax, (_name, ylabel, lines, ths) in zip(axes[1:], panels, strict=True):
        for i, (key, label, is_list) in enumerate(lines):
            color = f"C{i}"
            if is_list:
                arr = _rows(s[key])
                if key == "eigenvalues":  # the top one is the sharpness: the others as thin lines
                    for j in range(1, arr.shape[1]):
                        ax.plot(step, arr[:, j], lw=0.8, alpha=0.6, color="C0")
                    if "sharpness" not in s:
                        ax.plot(step, arr[:, 0], lw=1.2, color=color, label=label)
                    continue
                for j in range(arr.shape[1]):
                    ax.plot(
                        step,
                        arr[:, j],
                        lw=1.0,
                        color=color,
                        alpha=1.0 if j == 0 else 0.6,
                        label=f"{label} [{j + 1}]" if arr.shape[1] > 1 else label,
                    )
            else:
                ax.plot(step, _floats(s[key]), lw=1.2, color=color, label=label)
        for kind, arr, _base in ths:
            color = {"full-batch": "k", "small-batch": "C3"}.get(kind, "0.5")
            name = {"full-batch": "threshold", "small-batch": "small-batch plateau"}.get(kind, "threshold")
            fin = arr[np.isfinite(arr)]
            if fin.size and np.all(fin == fin[0]):
                ax.axhline(fin[0], ls="--", color=color, lw=1, label=f"{name} {fin[0]:.4g}")
            elif fin.size:  # a schedule: the threshold follows eta_t (a record's rate holds until the next record)
                ax.step(step, arr, where="post", ls="--", color=color, lw=1, label=f"{name} (at $\\eta_t$)")
        ax.set_ylabel(ylabel)
        if len(lines) > 1 or ths or any(il for _, _, il in lines):
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


def _rows(values: Any) -> np.ndarray:
    """A series of lists as a 2-d float array (``None`` rows or entries as NaN, short rows padded)."""
    width = max((len(v) for v in values if isinstance(v, list)), default=1)
    out = np.full((len(values), width), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, list):
            out[i, : len(v)] = [np.nan if x is None else x for x in v]
        elif v is not None:
            out[i, 0] = v
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
