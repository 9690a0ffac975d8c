"""A flow's vector field as sympy expressions: what a flow's definition builds, in one record.

Each flow of :mod:`eostheory.flows` builds its :class:`FlowField` from the potential's
derivatives (``Flow.field(pot)``); the same expressions are printed by
``Flow.equations(pot)`` and solved by :func:`eostheory.symbolic.equilibria.derive_equilibria`
for the flow's stationary points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

__all__ = ["FlowField"]


@dataclass(frozen=True)
class FlowField:
    r"""The vector field of a flow on a potential, in sympy.

    Attributes:
        flow: the flow's name.
        blocks: the state in named blocks of symbols (``{"w": (x, y)}``; the rod's
            ``{"wbar": …, "delta": …}`` with extent :math:`\Sigma = \delta\delta^\top`; the
            edge flow's ``{"c": …, "u": …, "r": (r,)}``).
        rhs: the time derivative of each block (``"Sigma"``: the :math:`n \times n` entries,
            row by row); for a discrete map, the increment before its projection.
        implicit: symbols defined implicitly rather than by a state: ``"u"`` the unit top
            eigenvector of the Hessian (at the centre), ``"sigma2"`` the central flow's
            oscillation variance.
        extra: named expressions of the definition (``grad_S`` :math:`= \nabla^3L[u,u]`,
            the edge flow's curvatures ``kappa_secant`` and ``kappa_rayleigh``, the
            self-stabilization constraint ``c2`` :math:`= \nabla L\cdot u`, …).
        threshold: the sharpness the flow holds (:math:`2/\eta`, or :math:`2(1+\beta)/\eta`).
        settings: the flow parameters this field was built with (``extent``, ``curvature``…).
    """

    flow: str
    blocks: dict[str, tuple[sp.Symbol, ...]]
    rhs: dict[str, list[sp.Expr]]
    implicit: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    threshold: sp.Expr = field(default_factory=lambda: sp.Integer(0))
    settings: dict[str, str] = field(default_factory=dict)
