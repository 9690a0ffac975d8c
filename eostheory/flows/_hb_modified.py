r"""Heavy ball's first-order modified equation, :math:`\dot w = -\eta\nabla L/(1-\beta)`.

Heavy-ball GD :math:`w_{t+1} = w_t - \eta\nabla L(w_t) + \beta(w_t - w_{t-1})` moves, once its
buffer has caught up with a slowly varying gradient (after about :math:`1/(1-\beta)` steps),
by :math:`-\eta\nabla L/(1-\beta)` per step: gradient flow at the effective step size
:math:`\eta/(1-\beta)`, valid while the sharpness stays below heavy ball's threshold
:math:`2(1+\beta)/\eta`.  It knows nothing of the edge; the heavy-ball central flow
(``central-hb``) does.

This one file is the whole flow: the reference vector field (both paths), the numba fast
path for toys (three small functions spliced into the generated module) and the
registry entry.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from eostheory.flows._base import BETA, ETA, Flow, register_flow, vector_str
from eostheory.flows._fields import Block, Observation, Params, VectorField
from eostheory.flows._layout import P_BETA, P_ETA, WS_G
from eostheory.integrate._names import DIM, grad, loss, sharp
from eostheory.symbolic.flowfield import FlowField
from eostheory.symbolic.potential import Potential

__all__ = ["HB_MODIFIED", "HeavyBallModifiedField"]


class HeavyBallModifiedField(VectorField):
    r""":math:`\dot w = -\eta\nabla L/(1-\beta)`; the edge indicator :math:`S - 2(1+\beta)/\eta`."""

    def threshold(self, P: Params) -> float:
        return 2.0 * (1.0 + P.beta) / P.eta

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        return (-P.eta / (1.0 - P.beta)) * o.at(y).grad()

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        S = o.sharpness(y)
        return Observation(y, o.loss(y), 0.0, S, S - self.threshold(P))


# --- the fast path on toys (numba source, spliced) -------------------------------------------


def hbm_rhs(y, p, c, ws, out):
    """-eta grad L / (1 - beta)."""
    g = ws[WS_G : WS_G + DIM]
    grad(y, c, g)
    s = -p[P_ETA] / (1.0 - p[P_BETA])
    for i in range(DIM):
        out[i] = s * g[i]


def hbm_edge(y, p, c, ws):
    """S(w) - 2(1 + beta)/eta."""
    return sharp(y, c) - 2.0 * (1.0 + p[P_BETA]) / p[P_ETA]


def hbm_post(y, p, c, ws):
    return False


def hbm_aux(y, p, c, ws, out):
    n = DIM
    for i in range(n):
        out[i] = y[i]
    S = sharp(y, c)
    out[n] = loss(y, c)
    out[n + 1] = 0.0
    out[n + 2] = S
    out[n + 3] = S - 2.0 * (1.0 + p[P_BETA]) / p[P_ETA]


@dataclass(frozen=True)
class HeavyBallModifiedFlow(Flow):
    """The flow's sympy field and printed equations."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The vector field :math:`-\\eta\\nabla L/(1-\\beta)` in sympy."""
        rhs = [-ETA * gi / (1 - BETA) for gi in pot.gradient()]
        return FlowField(self.name, {"w": pot.params}, {"w": rhs}, threshold=2 * (1 + BETA) / ETA)

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        lines = [f"{self.title}: dw/dt = -eta grad L / (1 - beta), valid while S < 2(1+beta)/eta"]
        lines += vector_str("w", f.rhs["w"], pot.params)
        return "\n".join(lines)


HB_MODIFIED = register_flow(
    HeavyBallModifiedFlow(
        "hb-modified",
        "heavy-ball modified equation",
        "dw/dt = -eta grad L/(1 - beta): heavy ball's first-order modified equation (gradient flow at the "
        "effective step eta/(1 - beta)); valid below the threshold 2(1+beta)/eta, blind to the edge.",
        "classical (e.g. Kovachki & Stuart, JMLR 2021)",
        sys.modules[__name__],
        ("hbm_rhs", "hbm_edge", "hbm_post", "hbm_aux"),
        {"hbm_rhs": "flow_rhs", "hbm_edge": "flow_edge", "hbm_post": "flow_post", "hbm_aux": "flow_aux"},
        {"NY": "DIM", "WS0": "8", "NAUX": "DIM + 4"},
        optimizer="heavy-ball",
        cost={"gradients": "1"},
        vector_field=HeavyBallModifiedField(),
        workspace=(Block("g", "n"),),
    )
)
