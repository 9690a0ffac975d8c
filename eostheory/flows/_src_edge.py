"""numba source of the edge flow (Marion 2026, reconstructed): centre, direction and magnitude.

State ``y = (c, u, r)`` (``NY = 2 DIM + 1``); parameters ``p = [eta, curvature, growth]`` with
curvature 0 = Rayleigh quotient :math:`u^\\top H(c) u`, 1 = secant
:math:`u^\\top[\\nabla L(c+ru) - \\nabla L(c-ru)]/(2r)`; growth 0 = :math:`(\\eta\\kappa - 2) r`,
1 = :math:`r \\log|1 - \\eta\\kappa|` (the exact per-step factor).  The direction is used
normalized, :math:`\\hat u = u/\\|u\\|`, so drift of :math:`\\|u\\|` never enters the field.

    dc/dt = -(eta/2)[grad L(c + r u) + grad L(c - r u)]
    du/dt = eta [H(c) u - (u^T H(c) u) u]
    dr/dt = (eta kappa - 2) r     or     r log|1 - eta kappa|
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.flows._layout import (
    CURVATURE_SECANT,
    GROWTH_LOG,
    P_CURVATURE,
    P_ETA,
    P_GROWTH,
    WS_CM,
    WS_CP,
    WS_GM,
    WS_GP,
    WS_H,
    WS_HU,
    WS_UH,
)
from eostheory.flows._src_common import F_DEGENERATE, _dot
from eostheory.integrate._names import DIM, grad, hess, loss, sharp


def edge_core(y, p, c, ws, uh, gp, gm, Hu):
    """Fills the unit direction, the two gradients and H(c) u; returns (kappa, rayleigh)."""
    n = DIM
    r = y[2 * n]
    nu = 0.0
    for i in range(n):
        nu += y[n + i] * y[n + i]
    nu = math.sqrt(nu)
    if not nu > 1e-150:
        ws[0] = F_DEGENERATE
        ws[1] = nu
        nu = 1.0
    for i in range(n):
        uh[i] = y[n + i] / nu
    cp = ws[WS_CP : WS_CP + n]
    cm = ws[WS_CM : WS_CM + n]
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    for i in range(n):
        cp[i] = y[i] + r * uh[i]
        cm[i] = y[i] - r * uh[i]
    grad(cp, c, gp)
    grad(cm, c, gm)
    hess(y[:n], c, h)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += h[i, j] * uh[j]
        Hu[i] = acc
    ray = _dot(uh, Hu)
    kappa = ray
    if p[P_CURVATURE] == CURVATURE_SECANT and abs(r) > 1e-150:
        acc = 0.0
        for i in range(n):
            acc += uh[i] * (gp[i] - gm[i])
        kappa = acc / (2.0 * r)
    return kappa, ray


def edge_rate(p, kappa):
    eta = p[P_ETA]
    if p[P_GROWTH] == GROWTH_LOG:
        return math.log(max(abs(1.0 - eta * kappa), 1e-300))
    return eta * kappa - 2.0


def edge_eval(y, p, c, ws):
    n = DIM
    return edge_core(
        y,
        p,
        c,
        ws,
        ws[WS_UH : WS_UH + n],
        ws[WS_GP : WS_GP + n],
        ws[WS_GM : WS_GM + n],
        ws[WS_HU : WS_HU + n],
    )


def edge_rhs(y, p, c, ws, out):
    n = DIM
    eta = p[P_ETA]
    kappa, ray = edge_eval(y, p, c, ws)
    uh = ws[WS_UH : WS_UH + n]
    gp = ws[WS_GP : WS_GP + n]
    gm = ws[WS_GM : WS_GM + n]
    Hu = ws[WS_HU : WS_HU + n]
    nu2 = 0.0
    for i in range(n):
        nu2 += y[n + i] * y[n + i]
    for i in range(n):
        out[i] = -0.5 * eta * (gp[i] + gm[i])
        # Oja's flow on the unit direction, plus a pull of |u| back to 1 (only u/|u| enters
        # the field, so this changes no prediction; it makes the norm mode contracting)
        out[n + i] = eta * (Hu[i] - ray * uh[i]) + 0.5 * (1.0 - nu2) * y[n + i]
    out[2 * n] = edge_rate(p, kappa) * y[2 * n]


def edge_edge(y, p, c, ws):
    """eta kappa - 2: the magnitude r grows when >= 0."""
    f0 = ws[0]
    f1 = ws[1]
    kappa, _ray = edge_eval(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    return p[P_ETA] * kappa - 2.0


def flow_post(y, p, c, ws):
    return False


def edge_aux(y, p, c, ws, out):
    """[c, L_sym, |r|, S(c), eta kappa - 2, kappa, Rayleigh quotient]."""
    n = DIM
    f0 = ws[0]
    f1 = ws[1]
    kappa, ray = edge_eval(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    uh = ws[WS_UH : WS_UH + n]
    r = y[2 * n]
    cp = np.empty(n)
    cm = np.empty(n)
    for i in range(n):
        cp[i] = y[i] + r * uh[i]
        cm[i] = y[i] - r * uh[i]
        out[i] = y[i]
    out[n] = 0.5 * (loss(cp, c) + loss(cm, c))
    out[n + 1] = abs(r)
    out[n + 2] = sharp(y[:n], c)
    out[n + 3] = p[P_ETA] * kappa - 2.0
    out[n + 4] = kappa
    out[n + 5] = ray
