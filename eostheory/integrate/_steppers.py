"""The steppers: one contract, three methods (explicit Euler, classical RK4, Dormand–Prince 5(4))."""

from __future__ import annotations

from dataclasses import dataclass

from eostheory._errors import EosInputError

__all__ = ["STEPPERS", "Stepper", "get_stepper"]


@dataclass(frozen=True)
class Stepper:
    r"""A one-step method :math:`y_{k+1} = \Phi_h(y_k)` for :math:`\dot y = f(y)`.

    Every stepper follows the same contract (the compiled ``_step`` of
    :mod:`eostheory.integrate._src`): given :math:`y` and :math:`f(y)` it returns
    :math:`y_{k+1}`, :math:`f(y_{k+1})` (reused by the next step) and a local error
    estimate, and counts its right-hand-side evaluations.

    Attributes:
        name: the name used by :func:`~eostheory.integrate.solve` (``method=``).
        code: the integer the compiled loop dispatches on.
        order: the global order :math:`p` (error :math:`O(h^p)` at fixed final time).
        adaptive: whether the step size is chosen by error control.
        rhs_per_step: right-hand-side evaluations per accepted step (first-same-as-last).
        description: one line for the docs.
    """

    name: str
    code: int
    order: int
    adaptive: bool
    rhs_per_step: int
    description: str


STEPPERS: dict[str, Stepper] = {
    s.name: s
    for s in (
        Stepper(
            "euler",
            0,
            1,
            False,
            1,
            "explicit Euler, y + h f(y); with h = 1 on gradient flow it is gradient descent",
        ),
        Stepper("rk4", 1, 4, False, 4, "classical fourth-order Runge-Kutta, fixed step"),
        Stepper(
            "dopri5",
            2,
            5,
            True,
            6,
            "Dormand-Prince 5(4): adaptive step (error per unit rtol/atol), 4th-order dense output",
        ),
    )
}


def get_stepper(name: str | Stepper) -> Stepper:
    """Look a stepper up by name (``euler``, ``rk4``, ``dopri5``; ``rk45`` is an alias of dopri5)."""
    if isinstance(name, Stepper):
        return name
    key = {"rk45": "dopri5", "dp54": "dopri5", "dopri": "dopri5"}.get(name, name)
    try:
        return STEPPERS[key]
    except KeyError:
        raise EosInputError(f"unknown integration method {name!r}; known: {', '.join(STEPPERS)}") from None
