r"""Events and output recording: located and recorded on the dense output of each step.

An *event* is a sign change of the indicator :math:`g(y)` (for a flow: :math:`\ge 0` on the
edge of stability) across a step; its time :math:`t + \theta h` is found by bisection on
the step's dense output :math:`y(t + \theta h)` (60 halvings: :math:`\theta` to
:math:`2^{-60}`).  *Recording* fills the requested output times that fall in a step from
the same dense output (the step's end exactly when an output time is on it).

The underscored functions are plain Python spliced into the compiled loop (they call the
generated ``_interp`` and the bound ``event``); :func:`locate_event` and
:class:`OutputRecorder` are the same pieces for a Python loop over arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from eostheory.integrate._names import event

__all__ = ["OutputRecorder", "locate_event"]

HALVINGS = 60  #: bisection steps of the event location


def _locate(method, y, ynew, f0, fnew, K, h, p, c, ws, e0, out):
    """Root of ``event`` on the dense output of the last step (bisection, 60 halvings)."""
    lo = 0.0
    hi = 1.0
    neg0 = e0 < 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        _interp(method, y, ynew, f0, fnew, K, h, mid, out)  # noqa: F821 (generated)
        em = event(out, p, c, ws)
        if (em < 0.0) == neg0:
            lo = mid
        else:
            hi = mid
    _interp(method, y, ynew, f0, fnew, K, h, hi, out)  # noqa: F821 (generated)
    return hi


def _record(method, t_eval, j, t, t_end, hh, y, ynew, f0, fnew, K, Y, tmp, tol_t, snap):
    """Record ``Y[j] = y(t_eval[j])`` for the output times up to ``t_end`` within the step
    ``[t, t + hh]``; with ``snap`` a time on the step's end takes ``ynew`` itself.  Returns the next ``j``."""
    n = y.shape[0]
    nt = t_eval.shape[0]
    while j < nt and t_eval[j] <= t_end + tol_t:
        th = (t_eval[j] - t) / hh
        if snap and th >= 1.0 - 1e-14:
            for i in range(n):
                Y[j, i] = ynew[i]
        else:
            _interp(method, y, ynew, f0, fnew, K, hh, min(max(th, 0.0), 1.0), tmp)  # noqa: F821 (generated)
            for i in range(n):
                Y[j, i] = tmp[i]
        j += 1
    return j


#: spliced, in order, into the generated module after the steppers
FUNCTIONS = ("_locate", "_record")
INLINE = ("_record",)


def locate_event(
    g: Callable[[Any], float], dense: Callable[[float], Any], g0: float, halvings: int = HALVINGS
) -> tuple[float, Any]:
    r"""The crossing :math:`\theta \in (0, 1]` of the sign change of ``g`` within a step.

    Bisection on :math:`\theta \mapsto g(\mathrm{dense}(\theta))`, keeping the end whose sign
    differs from ``g0`` (the indicator at the step's start), as the compiled loop does.

    Args:
        g: the event indicator on a state.
        dense: the step's dense output, :math:`\theta \mapsto y(t + \theta h)`.
        g0: ``g`` at the start of the step (of the opposite sign to its end).
        halvings: bisection steps.

    Returns:
        ``(theta, y(t + theta h))``.
    """
    lo, hi = 0.0, 1.0
    neg0 = g0 < 0.0
    for _ in range(halvings):
        mid = 0.5 * (lo + hi)
        if (g(dense(mid)) < 0.0) == neg0:
            lo = mid
        else:
            hi = mid
    return hi, dense(hi)


def hermite(y: Any, y_new: Any, f0: Any, f_new: Any, h: float, theta: float) -> Any:
    r"""The cubic Hermite interpolant of :math:`(y, f_0)` and :math:`(y_1, f_1)` at :math:`\theta`:
    :math:`h_{00}y + h_{10}hf_0 + h_{01}y_1 + h_{11}hf_1` (exact at both ends)."""
    if theta >= 1.0:
        return y_new
    t2 = theta * theta
    t3 = t2 * theta
    h00 = 2.0 * t3 - 3.0 * t2 + 1.0
    h10 = t3 - 2.0 * t2 + theta
    h01 = -2.0 * t3 + 3.0 * t2
    h11 = t3 - t2
    return h00 * y + h10 * h * f0 + h01 * y_new + h11 * h * f_new


class OutputRecorder:
    """Records a trajectory at requested times from the steps of a Python loop.

    ``rec = OutputRecorder(t_eval)``; ``rec.start(t0, y0)``; after each accepted step
    ``[t, t + hh]`` call ``rec.step(t, hh, y_new, dense)`` (``dense(theta)`` the step's dense
    output); ``rec.t``, ``rec.y`` hold what was recorded.
    """

    def __init__(self, t_eval: Any, tol_t: float = 0.0) -> None:
        self.t_eval = np.asarray(t_eval, dtype=np.float64).reshape(-1)
        self.tol_t = float(tol_t)
        self.j = 0
        self.states: list[Any] = []

    def start(self, t0: float, y0: Any) -> None:
        """Record the output times at or before ``t0`` as ``y0``."""
        while self.j < self.t_eval.size and self.t_eval[self.j] <= t0 + self.tol_t:
            self.states.append(y0)
            self.j += 1

    def step(self, t: float, hh: float, y_new: Any, dense: Callable[[float], Any], t_end: float | None = None) -> None:
        """Record the output times in ``(t, t_end]`` (default ``t + hh``) of one step."""
        t_end = t + hh if t_end is None else t_end
        while self.j < self.t_eval.size and self.t_eval[self.j] <= t_end + self.tol_t:
            th = (self.t_eval[self.j] - t) / hh
            self.states.append(y_new if th >= 1.0 - 1e-14 else dense(min(max(th, 0.0), 1.0)))
            self.j += 1

    @property
    def t(self) -> np.ndarray:
        """The output times recorded so far."""
        return self.t_eval[: self.j]

    @property
    def y(self) -> list[Any]:
        """The recorded states (one per recorded time)."""
        return self.states
