"""numba source of the classical flows: gradient (and stable) flow, modified flow.

State ``y = w``; parameters ``p = [eta]``.  Observables (``flow_aux``):
``[w, predicted loss L(w), predicted oscillation 0, S(w), edge indicator S - 2/eta]``.
"""

from __future__ import annotations

from eostheory.flows._layout import P_ETA, WS_G, WS_H
from eostheory.integrate._names import DIM, grad, hess, loss, sharp


def gradient_rhs(y, p, c, ws, out):
    r""":math:`\dot w = -\eta \nabla L(w)`."""
    grad(y, c, out)
    eta = p[P_ETA]
    for i in range(DIM):
        out[i] = -eta * out[i]


def modified_rhs(y, p, c, ws, out):
    r"""Barrett–Dherin modified flow.

    :math:`\dot w = -\eta \nabla[L + \tfrac{\eta}{4}\|\nabla L\|^2] = -\eta(g + \tfrac{\eta}{2} H g)`.
    """
    n = DIM
    eta = p[P_ETA]
    g = ws[WS_G : WS_G + n]
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    grad(y, c, g)
    hess(y, c, h)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += h[i, j] * g[j]
        out[i] = -eta * (g[i] + 0.5 * eta * acc)


def plain_edge(y, p, c, ws):
    """S(w) - 2/eta: the flow is past the edge of stability when >= 0."""
    return sharp(y, c) - 2.0 / p[P_ETA]


def flow_post(y, p, c, ws):
    return False


def plain_aux(y, p, c, ws, out):
    n = DIM
    for i in range(n):
        out[i] = y[i]
    S = sharp(y, c)
    out[n] = loss(y, c)
    out[n + 1] = 0.0
    out[n + 2] = S
    out[n + 3] = S - 2.0 / p[P_ETA]
