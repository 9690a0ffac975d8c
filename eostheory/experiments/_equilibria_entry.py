r"""``eos.equilibria``: the exact derivation of :mod:`eostheory.symbolic.equilibria` with the
flow registry and the numerical checks of :mod:`eostheory.experiments._equilibria` handed in.

Examples:
    >>> r = equilibria("quartic", flows=[], verify=False)
    >>> [c.stability_text() for c in r.cycles if c.contains("d2 - (S - 2/eta)/Q")]
    ['2/S < eta < 3/S']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp

from eostheory.experiments._equilibria import verify_flow_point, verify_orbit
from eostheory.flows import FLOWS, resolve_flow
from eostheory.symbolic.equilibria import Checks, EquilibriaResult, derive_equilibria
from eostheory.symbolic.potential import Potential

__all__ = ["equilibria"]

#: The numerical checks: the compiled run loop on an orbit, the compiled flow at a stationary point.
CHECKS = Checks(orbit=verify_orbit, flow=verify_flow_point)


def equilibria(
    potential: Potential | str | sp.Expr,
    optimizer: Any = None,
    flows: str | Sequence[str] | None = None,
    *,
    params: Sequence[str] | None = None,
    constants: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    sample: Mapping[str, Any] | None = None,
    period: int | Sequence[int] = 2,
    symbolic_constants: bool = True,
    time_limit: float | None = 12.0,
    verify: bool = True,
) -> EquilibriaResult:
    r"""Derive an optimizer's periodic orbits and the flows' stationary points, exactly.

    Orbits of the one-step map :math:`w \mapsto w - \eta\nabla L(w)` (or any update rule)
    of period 2 (:math:`F^2(z) = z \ne F(z)`) and 4, the stationary points of the flows
    (:math:`\dot y = f(y) = 0`), their linear stability, and whether a flow's stationary
    set is an orbit family (see :mod:`eostheory.symbolic.equilibria`).

    Args:
        potential: a :class:`~eostheory.symbolic.Potential`, a toy name or a formula
            (polynomial or rational in the parameters).
        optimizer: a built-in optimizer, an :class:`~eostheory.optimizers.Optimizer`, an
            :class:`~eostheory.symbolic.UpdateRule` or update lines (default: ``gd``, or
            the optimizer the chosen flows model).
        flows: flow names (``"rod:extent=full"`` for parameters), ``"all"``, or ``[]`` for
            none.  Default: the flows that model the optimizer (``central``, ``rod``,
            ``edge``, ``selfstab`` for GD; ``central-hb`` for heavy ball).
        params: the parameters of a formula; its other symbols are then constants
            (symbolic unless fixed by ``constants``; their values for the numerical steps
            come from ``sample``).
        constants: constants fixed exactly in the derivation (the others stay symbolic,
            their potential values being the samples).
        values: hyperparameters other than :math:`\eta` fixed exactly (``{"beta": 0.5}``).
        sample: sample values of the free hyperparameters for the numerical steps
            (default 1/2 each).
        period: 2, 4 or both (``(2, 4)``).
        symbolic_constants: keep the unset constants symbolic (else fix them at their values).
        time_limit: seconds per derivation (orbits of one period, or one flow; 12 by default); steps that
            do not finish are reported in ``notes``.  ``None``: no limit.
        verify: check each family numerically against the compiled run.

    Returns:
        An :class:`~eostheory.symbolic.equilibria.EquilibriaResult`.

    Raises:
        EosInputError: a potential that is not rational, a step that is not a rational
            map, an unknown flow or name, an unsupported flow.
    """
    return derive_equilibria(
        potential,
        optimizer,
        flows,
        flow_names=list(FLOWS),
        resolve=resolve_flow,
        checks=CHECKS if verify else None,
        params=params,
        constants=constants,
        values=values,
        sample=sample,
        period=period,
        symbolic_constants=symbolic_constants,
        time_limit=time_limit,
    )
