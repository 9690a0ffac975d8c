"""Damian, Nichani & Lee's reduced map of self-stabilization (ICLR 2023, arXiv:2209.15594)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, finite_vector, positive_float, positive_int
from eostheory.compile._kernels import compile_potential
from eostheory.symbolic.potential import Potential, as_potential

__all__ = ["ReducedMap", "reduced_map"]


def reduced_map(
    alpha: float, beta: float, eta: float, x0: float, y0: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    r"""Iterate the reduced map of self-stabilization.

    .. math::
        x_{t+1} = -(1 + \eta y_t)\, x_t, \qquad y_{t+1} = y_t + \eta(\alpha - \beta x_t^2 / 2),

    with :math:`x = u\cdot(\theta - \theta^*)` the displacement along the top eigenvector and
    :math:`y = \nabla S\cdot(\theta - \theta^*)` the sharpness above :math:`2/\eta`.
    Summing the second equation over a bounded orbit gives :math:`\langle x^2\rangle = 2\alpha/\beta`.

    Args:
        alpha: progressive sharpening :math:`-\nabla L\cdot\nabla S` (> 0 at the edge).
        beta: :math:`\|\nabla S\|^2` (> 0).
        eta: step size.
        x0, y0: the start.
        steps: number of iterations.

    Returns:
        Arrays ``x`` and ``y`` of length ``steps + 1``.

    Raises:
        EosInputError: non-finite or non-positive inputs, or an orbit that overflows.

    Examples:
        >>> x, y = reduced_map(0.01, 1.0, 0.5, 0.1414, 0.0, 2000)
        >>> bool(abs(np.mean(x**2) - 2 * 0.01) < 1e-3)
        True
    """
    alpha = finite_float("alpha", alpha)
    beta = positive_float("beta", beta)
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    x = np.empty(steps + 1)
    y = np.empty(steps + 1)
    x[0] = finite_float("x0", x0)
    y[0] = finite_float("y0", y0)
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            x[t + 1] = -(1.0 + eta * y[t]) * x[t]
            y[t + 1] = y[t] + eta * (alpha - 0.5 * beta * x[t] * x[t])
            if not (abs(x[t + 1]) < 1e150 and abs(y[t + 1]) < 1e150):
                raise EosInputError(f"the reduced map overflowed at step {t + 1} (orbit too large for its validity)")
    return x, y


@dataclass(frozen=True)
class ReducedMap:
    r"""The reduced map's constants at a point :math:`\theta^*` of a potential.

    Attributes:
        point: :math:`\theta^*`.
        eta: the step size.
        alpha: :math:`-\nabla L\cdot\nabla S` at :math:`\theta^*`.
        beta: :math:`\|\nabla S\|^2`.
        u: the top eigenvector (sign: first non-zero component positive).
        grad_s: :math:`\nabla S = \nabla^3 L[u, u]`.
        sharpness: :math:`S(\theta^*)`.
    """

    point: np.ndarray
    eta: float
    alpha: float
    beta: float
    u: np.ndarray
    grad_s: np.ndarray
    sharpness: float

    @classmethod
    def at(
        cls,
        potential: Potential | str,
        point: Sequence[float] | np.ndarray,
        eta: float,
        constants: Mapping[str, float] | None = None,
    ) -> ReducedMap:
        """Evaluate :math:`\\alpha`, :math:`\\beta`, :math:`u`, :math:`\\nabla S` at ``point``."""
        pot = as_potential(potential)
        cp = compile_potential(pot)
        c = np.array(pot.constant_values(constants), dtype=np.float64)
        w = finite_vector("point", point, pot.dim)
        lam, V = np.linalg.eigh(cp.hess(w, c))
        u = V[:, -1].copy()
        nz = np.flatnonzero(np.abs(u) > 1e-14)
        if nz.size and u[nz[0]] < 0:
            u = -u
        if pot.dim > 1 and lam[-1] - lam[-2] < 1e-10 * max(1.0, abs(lam[-1])):
            raise EosInputError("no eigen-gap at this point: the reduced map needs a simple top eigenvalue")
        ds = cp.third(w, u, c)
        g = cp.grad(w, c)
        return cls(w, positive_float("eta", eta), float(-g @ ds), float(ds @ ds), u, ds, float(lam[-1]))

    def coordinates(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """GD iterates ``w`` (rows) in the map's coordinates: :math:`x = u\\cdot(w-\\theta^*)`,
        :math:`y = S(\\theta^*) - 2/\\eta + \\nabla S\\cdot(w - \\theta^*)`."""
        d = np.atleast_2d(w) - self.point
        return d @ self.u, self.sharpness - 2.0 / self.eta + d @ self.grad_s

    def iterate(self, x0: float, y0: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`reduced_map` with these constants."""
        return reduced_map(self.alpha, self.beta, self.eta, x0, y0, steps)

    @property
    def mean_x2(self) -> float:
        """The time average the map predicts, :math:`\\langle x^2\\rangle = 2\\alpha/\\beta`."""
        return 2.0 * self.alpha / self.beta
