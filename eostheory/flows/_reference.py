r"""The reference path on toys: a flow's :class:`~eostheory.flows._fields.VectorField` through the toy oracle.

:func:`reference_flow` binds a flow on a potential both ways, the reference field over
:class:`~eostheory.flows._oracle.ToyOracle` and the compiled fast path (the numba module
of :func:`eostheory.flows.compile_flow`), so the two can be evaluated at the same states
(:meth:`ReferenceFlow.rhs`, :meth:`ReferenceFlow.fast_rhs`, …) and integrated with the
same fixed-step formulas (:meth:`ReferenceFlow.integrate`, the time grid of
:func:`eostheory.integrate.solve` with ``method="rk4"``/``"euler"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.compile._kernels import compile_potential
from eostheory.flows._base import Flow
from eostheory.flows._fields import Observation, Params, VectorField
from eostheory.flows._oracle import ToyOracle
from eostheory.integrate import TABLEAUX, explicit_step
from eostheory.integrate._solve import CompiledSystem
from eostheory.symbolic.potential import Potential

__all__ = ["ReferenceFlow", "reference_flow"]


@dataclass
class ReferenceFlow:
    """A flow on a toy potential, as the reference field and as the compiled fast path."""

    flow: Flow
    field: VectorField
    P: Params
    oracle: ToyOracle
    system: CompiledSystem
    potential: Potential

    # --- the reference ---
    def initial(self, w0: Any) -> np.ndarray:
        return np.asarray(self.field.initial(self.oracle, np.asarray(w0, dtype=np.float64), self.P))

    def rhs(self, y: Any) -> tuple[np.ndarray, int]:
        """The reference field at ``y`` and the flag it raised (0: defined)."""
        self.oracle.clear_flag()
        out = np.asarray(self.field.rhs(self.oracle, np.asarray(y, dtype=np.float64), self.P), dtype=np.float64)
        return out, self.oracle.flag

    def edge(self, y: Any) -> float:
        return float(self.field.edge(self.oracle, np.asarray(y, dtype=np.float64), self.P))

    def post(self, y: Any) -> np.ndarray | None:
        out = self.field.post(self.oracle, np.asarray(y, dtype=np.float64), self.P)
        return None if out is None else np.asarray(out, dtype=np.float64)

    def observe(self, y: Any) -> np.ndarray:
        """The observables in the fast path's ``flow_aux`` layout: centre, loss, oscillation, S, edge, extras."""
        ob: Observation = self.field.observe(self.oracle, np.asarray(y, dtype=np.float64), self.P)
        return np.concatenate(
            [np.asarray(ob.center, dtype=np.float64), [ob.loss, ob.oscillation, ob.sharpness, ob.edge], ob.extras]
        )

    # --- the fast path ---
    def _ws(self) -> np.ndarray:
        return np.zeros(int(self.system.module.NWS))

    def fast_rhs(self, y: Any) -> tuple[np.ndarray, int]:
        out = np.empty(self.system.ny)
        ws = self._ws()
        self.system.module.flow_rhs(np.asarray(y, dtype=np.float64), self.system.p, self.system.c, ws, out)
        return out, int(ws[0])

    def fast_edge(self, y: Any) -> float:
        return float(
            self.system.module.flow_edge(np.asarray(y, dtype=np.float64), self.system.p, self.system.c, self._ws())
        )

    def fast_post(self, y: Any) -> np.ndarray | None:
        z = np.array(y, dtype=np.float64)
        changed = self.system.module.flow_post(z, self.system.p, self.system.c, self._ws())
        return z if changed else None

    def fast_observe(self, y: Any) -> np.ndarray:
        out = np.empty(int(self.system.module.NAUX))
        self.system.module.flow_aux(np.asarray(y, dtype=np.float64), self.system.p, self.system.c, self._ws(), out)
        return out

    # --- integration with the fast path's fixed-step formulas ---
    def integrate(self, y0: Any, t_end: float, dt: float, method: str = "rk4") -> tuple[np.ndarray, np.ndarray, int]:
        """Integrate the reference field on the grid ``0, dt, 2 dt, …, t_end``.

        Classical RK4 or explicit Euler, the integrator's own tableaux
        (:func:`eostheory.integrate._tableau.explicit_step`, the arithmetic of the compiled
        loop), with the projection of a discrete map after every step and at the start.
        Returns the times, the states and the first flag raised (0: none; the integration
        stops there, as the fast path, and at the last finite state when it diverges).
        """
        if method not in ("rk4", "euler"):
            raise EosInputError(f"the reference integrates with rk4 or euler, got {method!r}")
        y = np.array(y0, dtype=np.float64)
        z = self.post(y)
        if z is not None:
            y = z
        f0, flag = self.rhs(y)
        ts, ys = [0.0], [y.copy()]
        t, i = 0.0, 0
        tol = 1e-12 * max(1.0, abs(t_end))
        while t < t_end - tol and not flag:
            t_new = min((i + 1) * dt, t_end)
            if t_end - t_new < tol:
                t_new = t_end
            h = t_new - t
            try:
                y_new = explicit_step(TABLEAUX[method], lambda z: self.rhs(z)[0], y, h, f0).y_new
                z = self.post(y_new)
                if z is not None:
                    y_new = z
                f0, flag = self.rhs(y_new)
            except np.linalg.LinAlgError:  # an eigen-decomposition of a non-finite state: diverged
                break
            if not (np.all(np.isfinite(y_new)) and np.all(np.isfinite(f0))):
                break  # diverged: the fast path keeps the last finite state too
            y, t, i = y_new, t_new, i + 1
            ts.append(t)
            ys.append(y.copy())
        return np.array(ts), np.array(ys), flag


def reference_flow(
    potential: Potential | str,
    flow: Flow | str,
    *,
    eta: float,
    beta: float | None = None,
    constants: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
) -> ReferenceFlow:
    """Bind ``flow`` on ``potential`` as its reference field and its compiled fast path.

    Raises:
        EosInputError: as :func:`eostheory.flows.solve_flow` (unknown flow or parameter,
            a flow not defined on this potential), or a flow without a reference field.
    """
    from eostheory.flows._run import flow_system

    fl, system, pot = flow_system(potential, flow, eta=eta, beta=beta, constants=constants, params=params)
    if fl.vector_field is None:
        raise EosInputError(f"flow {fl.name!r} has no reference vector field")
    oracle = ToyOracle(compile_potential(pot), system.c)
    return ReferenceFlow(fl, fl.vector_field, fl.named(system.p), oracle, system, pot)
