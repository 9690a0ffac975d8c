"""The steppers: one contract for every method, most of them a Butcher tableau.

Tableau steppers (explicit Euler, classical RK4, Dormand–Prince 5(4) and any tableau
registered with :func:`~eostheory.integrate._tableau.register_tableau`) run both in the
compiled loop of :func:`~eostheory.integrate.solve` and in Python loops over arrays
(:meth:`Stepper.step`).  Other one-step methods (an exponential integrator, a splitting)
register a Python step function with :func:`register_stepper`; Python loops (the torch
path) run them, the compiled loop does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eostheory._errors import EosInputError
from eostheory.integrate._tableau import TABLEAUX, ButcherTableau, StepResult, explicit_step

__all__ = ["STEPPERS", "STEP_FUNCTIONS", "Stepper", "get_stepper", "register_stepper"]

#: ``step_fn(f, y, h, f0) -> StepResult``: one step of a Python-only stepper.
StepFn = Callable[[Callable[[Any], Any], Any, float, Any], StepResult]


@dataclass(frozen=True)
class Stepper:
    r"""A one-step method :math:`y_{k+1} = \Phi_h(y_k)` for :math:`\dot y = f(y)`.

    Every stepper follows the same contract (as scipy's ``OdeSolver._step_impl``): given
    :math:`y` and optionally :math:`f(y)` it returns :math:`y_{k+1}`, :math:`f(y_{k+1})`
    when it evaluated it (first same as last), and a local error estimate when it has one
    (:class:`~eostheory.integrate._tableau.StepResult`).

    Attributes:
        name: the name used by :func:`~eostheory.integrate.solve` (``method=``).
        code: the integer the compiled loop dispatches on (``-1``: Python loops only).
        order: the global order :math:`p` (error :math:`O(h^p)` at fixed final time).
        adaptive: whether the step size is chosen by error control.
        rhs_per_step: right-hand-side evaluations per accepted step (first-same-as-last).
        description: one line for the docs.
        tableau: the Butcher tableau (``None`` for a step function).
        step_fn: ``step_fn(f, y, h, f0) -> StepResult`` for a stepper without a tableau.
    """

    name: str
    code: int
    order: int
    adaptive: bool
    rhs_per_step: int
    description: str
    tableau: ButcherTableau | None = field(default=None, repr=False)
    step_fn: StepFn | None = field(default=None, repr=False, compare=False)

    @property
    def compiled(self) -> bool:
        """Whether the compiled loop of :func:`~eostheory.integrate.solve` runs this stepper."""
        return self.tableau is not None and self.code >= 0

    def step(self, f: Callable[[Any], Any], y: Any, h: float, f0: Any = None) -> StepResult:
        """One step from ``y`` of size ``h`` (see :func:`~eostheory.integrate._tableau.explicit_step`)."""
        if self.tableau is not None:
            return explicit_step(self.tableau, f, y, h, f0)
        assert self.step_fn is not None
        return self.step_fn(f, y, h, f0)


def _tableau_stepper(tab: ButcherTableau, code: int) -> Stepper:
    return Stepper(
        tab.name, code, tab.order, tab.adaptive, tab.rhs_per_step, tab.description or f"{tab.name}", tableau=tab
    )


#: The tableau steppers, in dispatch order (``code`` = position): run by the compiled loop
#: and by Python loops.
STEPPERS: dict[str, Stepper] = {name: _tableau_stepper(tab, k) for k, (name, tab) in enumerate(TABLEAUX.items())}

#: Steppers given as a Python step function (no tableau): Python loops only.
STEP_FUNCTIONS: dict[str, Stepper] = {}

_ALIASES = {"rk45": "dopri5", "dp54": "dopri5", "dopri": "dopri5"}


def all_stepper_names() -> list[str]:
    """Every registered stepper name (tableaux first)."""
    return [*STEPPERS, *STEP_FUNCTIONS]


def _add_tableau_stepper(tab: ButcherTableau) -> Stepper:
    old = STEPPERS.get(tab.name)
    st = _tableau_stepper(tab, old.code if old is not None else len(STEPPERS))
    STEPPERS[tab.name] = st
    STEP_FUNCTIONS.pop(tab.name, None)
    return st


def register_stepper(name: str, step_fn: StepFn, order: int, description: str, *, adaptive: bool = False) -> Stepper:
    r"""Register a one-step method that is not a Butcher tableau, for Python (array) loops.

    ``step_fn(f, y, h, f0) -> StepResult`` advances :math:`\dot y = f(y)` from ``y`` by
    ``h``: ``f`` is the vector field, ``f0`` is :math:`f(y)` or ``None`` (then the step
    evaluates it if it needs it); it returns ``StepResult(y_new, f_new, err)`` with
    ``f_new = f(y_new)`` if it computed it (else ``None``) and ``err`` a local error
    estimate (else ``None``).  The arrays only need what the caller's loop uses (torch
    tensors, numpy arrays).

    Args:
        name: the name for :func:`get_stepper` (a lower-case identifier, not taken).
        step_fn: the step, as above.
        order: its global order :math:`p`.
        description: one line for the docs.
        adaptive: whether ``err`` is an estimate fit for step-size control.

    Returns:
        The :class:`Stepper` (``code = -1``: the compiled loop does not run it).

    Raises:
        EosInputError: a bad name, a name taken, a non-callable ``step_fn`` or a bad order.
    """
    if not isinstance(name, str) or not name.isidentifier() or not name.islower():
        raise EosInputError(f"a stepper name must be a lower-case identifier, got {name!r}")
    if name in STEPPERS or name in _ALIASES:
        raise EosInputError(f"{name!r} is a tableau stepper; give the new stepper another name")
    if not callable(step_fn):
        raise EosInputError(f"step_fn must be callable step_fn(f, y, h, f0) -> StepResult, got {step_fn!r}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise EosInputError(f"order must be a positive integer, got {order!r}")
    st = Stepper(name, -1, order, bool(adaptive), 0, str(description), step_fn=step_fn)
    STEP_FUNCTIONS[name] = st
    return st


def get_stepper(name: str | Stepper) -> Stepper:
    """Look a stepper up by name (``euler``, ``rk4``, ``dopri5``; ``rk45`` is an alias of dopri5)."""
    if isinstance(name, Stepper):
        return name
    key = _ALIASES.get(name, name)
    st = STEPPERS.get(key) or STEP_FUNCTIONS.get(key)
    if st is None:
        raise EosInputError(f"unknown integration method {name!r}; known: {', '.join(all_stepper_names())}")
    return st
