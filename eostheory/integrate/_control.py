r"""Step-size control of the adaptive steppers: the error norm, the first step and the update.

The error of a step is measured as scipy's ``solve_ivp`` does,

.. math::

    \|e\| = \Big(\frac1n \sum_i \Big(\frac{e_i}{\mathrm{atol} + \mathrm{rtol}\,
    \max(|y_i|, |y^{\mathrm{new}}_i|)}\Big)^2\Big)^{1/2},

and a step is accepted when :math:`\|e\| < 1`.  The next step is
:math:`h\,\min(10, 0.9\,\|e\|^{-1/(q+1)})` after an acceptance (at most :math:`h` right
after a rejection; :math:`10h` for a zero error) and :math:`h\,\max(0.2, 0.9\,\|e\|^{-1/(q+1)})`
after a rejection, :math:`q` the order of the embedded estimate (4 for Dormand–Prince:
exponent :math:`-0.2`); Hairer–Nørsett–Wanner I, §II.4.

The underscored functions are plain Python over floats and numpy arrays, spliced into the
compiled loop; :class:`StepSizeController` is the same control for a Python loop over any
arrays (numpy, torch), calling the same update functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["StepSizeController"]

SAFETY = 0.9  #: safety factor on the optimal step
MIN_FACTOR = 0.2  #: the largest shrink of one update
MAX_FACTOR = 10.0  #: the largest growth of one update


def _err_norm(err, y, ynew, rtol, atol):
    """Root-mean-square of the error scaled by ``atol + rtol*max(|y|, |ynew|)`` (as scipy)."""
    n = err.shape[0]
    s = 0.0
    for i in range(n):
        sc = atol + rtol * max(abs(y[i]), abs(ynew[i]))
        e = err[i] / sc
        s += e * e
    return math.sqrt(s / n)


def _first_step(y, f0, rtol, atol):
    """First step: 1% of the time over which f would change y by its own size (HNW II.4)."""
    n = y.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sc = atol + abs(y[i]) * rtol
        d0 += (y[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    if d0 < 1e-10 * n or d1 < 1e-10 * n:
        return 1e-6
    return 0.01 * math.sqrt(d0 / d1)


def _h_after_reject(hh, en, expo):
    """The retry step after rejecting a step ``hh`` with error norm ``en``."""
    if en < 1e300:
        return hh * max(0.2, 0.9 * en**expo)
    return hh * 0.2


def _h_after_accept(hh, en, expo, rejected, hmax, cut, h):
    """The next step after accepting ``hh`` (``rejected``: the previous try was rejected;
    ``cut``: the step was shortened to land on the final time, so keep the size ``h``)."""
    if en == 0.0:
        factor = 10.0
    else:
        factor = min(10.0, 0.9 * en**expo)
    if rejected:
        factor = min(1.0, factor)
    h_next = min(hh * factor, hmax)
    if cut:
        h_next = max(h_next, h)
    return h_next


#: spliced, in order, into the generated module (compiled inline into the loop)
FUNCTIONS = ("_err_norm", "_first_step", "_h_after_reject", "_h_after_accept")
INLINE = ("_h_after_reject", "_h_after_accept")


def _amax(a: Any, b: Any) -> Any:
    return np.maximum(a, b) if isinstance(a, np.ndarray) else a.maximum(b)


@dataclass
class StepSizeController:
    r"""The compiled loop's step-size control for a Python loop over arrays.

    Usage per attempted step of size ``hh`` (``err`` from the stepper):
    ``en = ctl.norm(err, y, y_new)``; if ``ctl.accept(en)``: ``h = ctl.after_accept(hh, en)``
    else ``h = ctl.after_reject(hh, en)``.

    Attributes:
        rtol, atol: the tolerances.
        exponent: :math:`-1/(q+1)` (``ButcherTableau.error_exponent``; -0.2 for Dormand–Prince).
        hmax: the largest step.
        rejected: whether the last attempt was rejected (set by the update methods).
    """

    rtol: float
    atol: float
    exponent: float = -0.2
    hmax: float = math.inf
    rejected: bool = False

    def norm(self, err: Any, y: Any, y_new: Any) -> float:
        r""":math:`\|e\|` above (numpy arrays or torch tensors)."""
        sc = self.atol + self.rtol * _amax(abs(y), abs(y_new))
        return float(((err / sc) ** 2).mean()) ** 0.5

    def first_step(self, y: Any, f0: Any) -> float:
        r"""The first step :math:`0.01 \sqrt{d_0/d_1}`, :math:`d_0, d_1` the scaled squared norms of :math:`y, f(y)`."""
        n = int(y.numel() if hasattr(y, "numel") else np.size(y))
        sc = self.atol + abs(y) * self.rtol
        d0 = float(((y / sc) ** 2).sum())
        d1 = float(((f0 / sc) ** 2).sum())
        h = 1e-6 if d0 < 1e-10 * n or d1 < 1e-10 * n else 0.01 * math.sqrt(d0 / d1)
        return min(h, self.hmax)

    @staticmethod
    def accept(en: float) -> bool:
        """A step is accepted when its error norm is below 1."""
        return en < 1.0

    def after_reject(self, hh: float, en: float) -> float:
        """The retry step after rejecting ``hh``."""
        self.rejected = True
        return _h_after_reject(hh, en, self.exponent)

    def after_accept(self, hh: float, en: float, cut: bool = False, h: float = 0.0) -> float:
        """The next step after accepting ``hh`` (``cut``/``h``: the step was shortened from ``h``)."""
        out = _h_after_accept(hh, en, self.exponent, self.rejected, min(self.hmax, 1e300), cut, h)
        self.rejected = False
        return out
