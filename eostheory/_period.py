r"""Period detection on the tail of an iterate sequence (shared by the optimizer and geometry runners)."""

from __future__ import annotations

import numpy as np

__all__ = ["detect_period"]


def detect_period(tail: np.ndarray, *, max_period: int = 32, rtol: float = 1e-9) -> int:
    r"""Smallest period ``p`` with :math:`w_t = w_{t-p}` (to ``rtol``) over the tail, or 0.

    ``tail`` holds the last iterates in time order (shape ``(m, n)``); at least two full
    periods and one step must fit in it.  Period 1 means a fixed point.

    The test is step-size aware: a small difference :math:`D_t = \|w_t - w_{t-p}\|_\infty`
    is not enough, since a run with a tiny step size moves by tiny amounts without being
    anywhere near a fixed point.  The differences must also shrink: with the contraction
    :math:`\rho = D_t / D_{t-p}` over one period, the distance still to travel is about
    :math:`D_t\,\rho/(1-\rho)` (a geometric series), and that must be below
    ``rtol`` times the scale.  Differences at rounding level (:math:`64\,\epsilon` of the
    scale) are an exact cycle.

    Examples:
        >>> t = np.arange(64.0)[:, None]
        >>> detect_period(np.cos(np.pi * t)), detect_period(1 - 1e-12 * t)
        (2, 0)
    """
    tail = np.asarray(tail, dtype=float)
    m = tail.shape[0]
    if m == 0:
        return 0
    scale = 1.0 + float(np.max(np.abs(tail)))
    exact = 64 * np.finfo(float).eps * scale
    for p in range(1, max_period + 1):
        if m < 2 * p + 1:
            break
        d = np.max(np.abs(tail[p:] - tail[:-p]), axis=1)  # D_t for t = p .. m-1
        last, before = float(d[-1]), float(d[-1 - p])
        if float(np.max(d)) <= exact:
            return p
        if float(np.max(d[-p - 1 :])) > rtol * scale:
            continue
        rho = last / before if before > 0 else 0.0
        if rho < 1.0 and last * rho / (1.0 - rho) <= rtol * scale:
            return p
        if last <= exact:  # reached rounding level at the end
            return p
    return 0
