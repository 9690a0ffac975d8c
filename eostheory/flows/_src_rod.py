"""numba source of the rod flow (Regis & Chewi 2026, reconstructed): centre and extent of the GD rod.

State ``y = (wbar, Sigma)`` with ``Sigma`` the ``DIM x DIM`` extent matrix stored row by row
(``NY = DIM + DIM**2``); parameters ``p = [eta, extent]`` (``extent``: 0 = ``full``, 1 =
``oscillation``).  The rod's half-extent is taken rank one,
:math:`\\delta = \\sqrt{\\lambda_1(\\Sigma)}\\, v_1(\\Sigma)` (its sign does not matter: the vector
field is even in :math:`\\delta`), and with :math:`\\nabla L_\\pm = \\nabla L(\\bar w \\pm \\delta)`:

    dwbar/dt  = -(eta/2)(gL+ + gL-) - (eta^2/8)(H+ + H-)(gL+ + gL-)
    dSigma/dt = (eta^2/4)(gL+ gL+^T + gL- gL-^T) - 2 Sigma                   (extent=full)
    dSigma/dt = (eta^2/2) D D^T - 2 Sigma,   D = (gL+ - gL-)/2               (extent=oscillation)

The source splits exactly, ``gL+ gL+^T + gL- gL-^T = 2 (Gbar Gbar^T + D D^T)`` with
``Gbar = (gL+ + gL-)/2``: ``extent=oscillation`` keeps the oscillating block ``D D^T`` and drops
the drift block, whose fixed point is the non-oscillating half-step ``(eta^2/4) Gbar Gbar^T``
(docs/flows-rod.md).
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.flows._layout import (
    EXTENT_OSCILLATION,
    P_ETA,
    P_EXTENT,
    WS_DELTA,
    WS_GM,
    WS_GP,
    WS_HM,
    WS_HP,
    WS_SIG,
    WS_SLAM,
    WS_SV,
    WS_WM,
    WS_WP,
)
from eostheory.flows._src_common import sym_eigh
from eostheory.integrate._names import DIM, grad, hess, loss, sharp


def rod_delta(y, ws, delta):
    """Rank-one half-extent from Sigma; returns its squared length (top eigenvalue, clipped at 0)."""
    n = DIM
    S = ws[WS_SIG : WS_SIG + n * n].reshape((n, n))
    V = ws[WS_SV : WS_SV + n * n].reshape((n, n))
    lam = ws[WS_SLAM : WS_SLAM + n]
    for i in range(n):
        for j in range(n):
            S[i, j] = 0.5 * (y[n + i * n + j] + y[n + j * n + i])
    sym_eigh(S, lam, V)
    top = max(lam[n - 1], 0.0)
    r = math.sqrt(top)
    for i in range(n):
        delta[i] = r * V[i, n - 1]
    return top


def rod_rhs(y, p, c, ws, out):
    n = DIM
    eta = p[P_ETA]
    delta = ws[WS_DELTA : WS_DELTA + n]
    wp = ws[WS_WP : WS_WP + n]
    wm = ws[WS_WM : WS_WM + n]
    gp = ws[WS_GP : WS_GP + n]
    gm = ws[WS_GM : WS_GM + n]
    hp = ws[WS_HP : WS_HP + n * n].reshape((n, n))
    hm = ws[WS_HM : WS_HM + n * n].reshape((n, n))
    rod_delta(y, ws, delta)
    for i in range(n):
        wp[i] = y[i] + delta[i]
        wm[i] = y[i] - delta[i]
    grad(wp, c, gp)
    grad(wm, c, gm)
    hess(wp, c, hp)
    hess(wm, c, hm)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += (hp[i, j] + hm[i, j]) * (gp[j] + gm[j])
        out[i] = -0.5 * eta * (gp[i] + gm[i]) - 0.125 * eta * eta * acc
    q = 0.25 * eta * eta
    if p[P_EXTENT] == EXTENT_OSCILLATION:
        # oscillation block: (eta^2/2) D D^T with D = (gL+ - gL-)/2, i.e. (q/2)(gL+ - gL-)(gL+ - gL-)^T
        for i in range(n):
            for j in range(n):
                out[n + i * n + j] = 0.5 * q * (gp[i] - gm[i]) * (gp[j] - gm[j]) - 2.0 * y[n + i * n + j]
    else:
        for i in range(n):
            for j in range(n):
                out[n + i * n + j] = q * (gp[i] * gp[j] + gm[i] * gm[j]) - 2.0 * y[n + i * n + j]


def rod_edge(y, p, c, ws):
    """S(wbar) - 2/eta: the rod grows at the centre's sharpness past 2/eta."""
    return sharp(y[:DIM], c) - 2.0 / p[P_ETA]


def flow_post(y, p, c, ws):
    return False


def rod_aux(y, p, c, ws, out):
    """[wbar, (L(wbar+delta) + L(wbar-delta))/2, sqrt(lambda_1(Sigma)), S(wbar), edge, tr Sigma]."""
    n = DIM
    delta = np.empty(n)
    top = rod_delta(y, ws, delta)
    wp = np.empty(n)
    wm = np.empty(n)
    tr = 0.0
    for i in range(n):
        wp[i] = y[i] + delta[i]
        wm[i] = y[i] - delta[i]
        out[i] = y[i]
        tr += y[n + i * n + i]
    S = sharp(y[:n], c)
    out[n] = 0.5 * (loss(wp, c) + loss(wm, c))
    out[n + 1] = math.sqrt(top)
    out[n + 2] = S
    out[n + 3] = S - 2.0 / p[P_ETA]
    out[n + 4] = tr
