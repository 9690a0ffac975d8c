"""GD on a torch objective with its midpoints, and a flow's alignment with it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import positive_float
from eostheory.analysis.compare import align_with_gd
from eostheory.torch._backend import require_torch
from eostheory.torch._curvature import EigenTracker
from eostheory.torch._objective import Objective

torch = require_torch()

__all__ = ["GDMidpoints", "align_with_gd", "flow_vs_gd", "gd_midpoints"]


@dataclass
class GDMidpoints:
    r"""GD on a torch objective with the midpoints :math:`\bar w_t = \tfrac14(w_{t-1}+2w_t+w_{t+1})`.

    The fields of the toy path's GD record (``run`` is ``None``), so the same alignment
    (:func:`align_with_gd`) measures flows against it.
    """

    t: np.ndarray
    w: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    tm: np.ndarray
    midpoint: np.ndarray
    loss_avg: np.ndarray
    oscillation: np.ndarray
    sharpness_mid: np.ndarray
    run: Any = None
    seconds: float = 0.0


def gd_midpoints(
    objective: Objective,
    *,
    eta: float,
    steps: int,
    x0: Any = None,
    sharpness_every: int = 0,
    eig_method: str = "lanczos",
    progress: bool = False,
    beta: float = 0.0,
    kind: str = "heavy-ball",
) -> GDMidpoints:
    """Full-batch GD ``w <- w - eta grad L(w)`` for ``steps`` steps, every iterate kept.

    With ``beta > 0``, momentum GD from a zero buffer: ``v <- beta v + g`` and
    ``w <- w - eta v`` (``kind="heavy-ball"``) or ``w <- w - eta (g + beta v)``
    (``kind="nesterov"``), the update rules of the momentum flows (``edge-hb``, ``rod-hb``,
    ``central-hb``, ``hb-modified``); the midpoints are formed the same way.

    Args:
        objective: the objective.
        eta: the step size.
        steps: number of steps.
        x0: starting point (``objective.theta0`` by default).
        sharpness_every: also track the sharpness every this many steps (0: never; NaN
            where not tracked).
        eig_method: the eigensolver for the sharpness.
        progress: show a tqdm bar (off by default).

    Raises:
        EosInputError: ``eta`` or ``steps`` not positive, or a non-finite loss (the record
            then ends at the last finite iterate; the error says where).
    """
    eta = positive_float("eta", eta)
    steps = int(steps)
    if steps < 1:
        raise EosInputError(f"steps must be >= 1, got {steps}")
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise EosInputError(f"beta must lie in [0, 1), got {beta:g}")
    if kind not in ("heavy-ball", "nesterov"):
        raise EosInputError(f"kind must be heavy-ball or nesterov, got {kind!r}")
    w = objective.as_theta(objective.theta0 if x0 is None else x0)
    tracker = EigenTracker(1, method=eig_method) if sharpness_every else None
    ws, ls, ss = [], [], []
    v = torch.zeros_like(w)  # the momentum buffer (unused when beta = 0)
    t0 = time.perf_counter()
    from eostheory.torch._flow_solve import progress_bar

    bar = progress_bar(progress, steps, f"gd eta={eta:g}")
    try:
        for t in range(steps + 1):
            L, g = objective.value_and_grad(w)
            if not bool(torch.isfinite(L)):
                raise EosInputError(f"GD's loss is not finite at step {t} (eta = {eta:g} too large?)")
            ws.append(w.detach().double().cpu().numpy())
            ls.append(float(L))
            s = math.nan
            if tracker is not None and t % sharpness_every == 0:
                s = tracker(objective.hessian(w)).top
            ss.append(s)
            if beta == 0.0:
                w = w - eta * g
            else:
                v = beta * v + g
                w = w - eta * (v if kind == "heavy-ball" else g + beta * v)
            if bar is not None and t < steps:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    W = np.array(ws)
    loss = np.array(ls)
    mid = (W[:-2] + 2 * W[1:-1] + W[2:]) / 4
    return GDMidpoints(
        t=np.arange(steps + 1),
        w=W,
        loss=loss,
        sharpness=np.array(ss),
        tm=np.arange(1, steps),
        midpoint=mid,
        loss_avg=(loss[:-2] + 2 * loss[1:-1] + loss[2:]) / 4,
        oscillation=np.linalg.norm(W[1:-1] - mid, axis=1),
        sharpness_mid=np.full(steps - 1, math.nan),
        seconds=time.perf_counter() - t0,
    )


def flow_vs_gd(result: Any, gd: GDMidpoints, window: int = 20) -> dict[str, Any]:
    r"""Align a flow with GD's midpoints (the toy path's comparison code) and add relative errors.

    Returns:
        The metrics of :func:`align_with_gd` (those of :func:`eostheory.compare`) plus ``t`` (aligned steps),
        ``center_error`` (:math:`\|c(t)-\bar w_t\|`), ``relative_error``
        (:math:`\|c(t)-\bar w_t\| / \|\bar w_t - w_0\|`, relative to the distance GD has
        travelled) and ``relative_error_norm`` (:math:`/\|\bar w_t\|`).
    """
    t, err, metrics = align_with_gd(result, gd, window)
    gi = np.asarray(t, dtype=np.int64) - 1
    disp = np.linalg.norm(gd.midpoint[gi] - gd.w[0], axis=1) if len(gi) else np.zeros(0)
    nrm = np.linalg.norm(gd.midpoint[gi], axis=1) if len(gi) else np.zeros(0)
    metrics.pop("final_center", None)
    metrics["t"] = np.asarray(t)
    metrics["center_error"] = err
    metrics["relative_error"] = err / np.maximum(disp, 1e-300)
    metrics["relative_error_norm"] = err / np.maximum(nrm, 1e-300)
    return metrics
