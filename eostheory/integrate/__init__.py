"""Compiled ODE integration: fixed-step Euler and RK4, adaptive Dormand–Prince 5(4).

One stepper contract for every method (see :mod:`eostheory.integrate._src`); the loop,
the steppers, dense output and event location are numba source spliced into a generated
module together with a flow's vector field, so each (potential, flow) pair compiles to one
cached module whose name is a hash of its source.

Explicit gradient descent is the Euler step of gradient flow
:math:`\\dot w = -\\eta \\nabla L` with ``dt = 1`` (time is counted in GD steps).
"""

from eostheory.integrate._solve import (
    STATUS_NAMES,
    CompiledSystem,
    Trajectory,
    function_source,
    integrator_source,
    load_system,
    solve,
    system_source,
)
from eostheory.integrate._steppers import STEP_FUNCTIONS, STEPPERS, Stepper, get_stepper, register_stepper
from eostheory.integrate._tableau import TABLEAUX, ButcherTableau, StepResult, explicit_step, register_tableau

__all__ = [
    "STATUS_NAMES",
    "STEPPERS",
    "STEP_FUNCTIONS",
    "TABLEAUX",
    "ButcherTableau",
    "CompiledSystem",
    "StepResult",
    "Stepper",
    "Trajectory",
    "explicit_step",
    "function_source",
    "get_stepper",
    "integrator_source",
    "load_system",
    "register_stepper",
    "register_tableau",
    "solve",
    "system_source",
]
