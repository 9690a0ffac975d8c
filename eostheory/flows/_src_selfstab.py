"""numba source of the self-stabilization constrained trajectory (Damian, Nichani & Lee 2022).

A discrete map on ``y = theta`` (``NY = DIM``), ``p = [eta]``: one GD step followed by the
projection onto :math:`\\mathcal M = \\{S \\le 2/\\eta,\\ \\nabla L \\cdot u = 0\\}`,

    theta_{t+1} = proj_M(theta_t - eta grad L(theta_t)).

It runs as the Euler step (dt = 1) of the increment :math:`-\\eta\\nabla L` with
``flow_post`` = the projection.  The projection is a Gauss-Newton iteration on the active
constraints (:math:`c_2 = \\nabla L\\cdot u` always; :math:`c_1 = S - 2/\\eta` when the first
stage leaves :math:`S > 2/\\eta`), whose fixed points satisfy the first-order conditions of
the Euclidean projection.  Constraint gradients: :math:`\\nabla c_1 = \\nabla S = \\nabla^3 L[u,u]`;
:math:`\\nabla c_2 = H u + \\nabla^3 L[u, A \\nabla L]` with
:math:`A = \\sum_{q \\ge 2} v_q v_q^\\top / (\\lambda_1 - \\lambda_q)` (the derivative of the
eigenvector :math:`u`).
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.flows._layout import P_ETA
from eostheory.flows._src_common import F_NO_GAP, F_PROJECTION, _dot, sym_eigh, third_pair
from eostheory.integrate._names import DIM, grad, hess, loss, third

GAP_TOL_SS = 1e-10


def ss_constraints(th, c, thr, ws, g, J1, J2):
    """Returns (c1, c2, S) at ``th`` and fills the constraint gradients J1 = grad S, J2 = grad(g.u)."""
    n = DIM
    grad(th, c, g)
    h = np.empty((n, n))
    hess(th, c, h)
    lam = np.empty(n)
    V = np.empty((n, n))
    sym_eigh(h, lam, V)
    u = np.empty(n)
    for i in range(n):
        u[i] = V[i, n - 1]
    S = lam[n - 1]
    c2 = _dot(g, u)
    third(th, u, c, J1)
    Ag = np.zeros(n)
    for q in range(n - 1):
        gap = S - lam[q]
        if gap < GAP_TOL_SS * max(1.0, abs(S)):
            ws[0] = F_NO_GAP
            ws[1] = gap
            return S - thr, c2, S
        coef = 0.0
        for i in range(n):
            coef += V[i, q] * g[i]
        coef /= gap
        for i in range(n):
            Ag[i] += coef * V[i, q]
    tmp = np.empty(n)
    buf = np.empty(n)
    third_pair(th, u, Ag, c, J2, tmp, buf)
    for i in range(n):
        J2[i] += S * u[i]
    return S - thr, c2, S


def ss_project(z, c, thr, ws, th):
    """Gauss-Newton projection of ``z`` onto M, written to ``th``; returns True on success."""
    n = DIM
    g = np.empty(n)
    J1 = np.empty(n)
    J2 = np.empty(n)
    d = np.empty(n)
    for i in range(n):
        th[i] = z[i]
    for phase in range(2):
        done = False
        for _ in range(200):
            c1, c2, S = ss_constraints(th, c, thr, ws, g, J1, J2)
            if ws[0] != 0.0:
                return False
            gscale = 1.0 + math.sqrt(_dot(g, g))
            small = abs(c2) <= 1e-13 * gscale and (phase == 0 or abs(c1) <= 1e-13 * max(1.0, thr))
            # d = (z - th) - R^T (R R^T)^{-1} (vals + R (z - th))
            for i in range(n):
                d[i] = z[i] - th[i]
            r2 = c2 + _dot(J2, d)
            if phase == 0:
                nn = _dot(J2, J2)
                if not nn > 1e-300:
                    ws[0] = F_PROJECTION
                    ws[1] = nn
                    return False
                for i in range(n):
                    d[i] -= J2[i] * r2 / nn
            else:
                r1 = c1 + _dot(J1, d)
                a11 = _dot(J2, J2)
                a12 = _dot(J2, J1)
                a22 = _dot(J1, J1)
                det = a11 * a22 - a12 * a12
                if not det > 1e-12 * a11 * a22:
                    ws[0] = F_PROJECTION
                    ws[1] = det
                    return False
                m2 = (a22 * r2 - a12 * r1) / det
                m1 = (a11 * r1 - a12 * r2) / det
                for i in range(n):
                    d[i] -= J2[i] * m2 + J1[i] * m1
            step = math.sqrt(_dot(d, d))
            for i in range(n):
                th[i] += d[i]
            if small and step <= 1e-12 * (1.0 + math.sqrt(_dot(th, th))):
                done = True
                break
        if not done:
            ws[0] = F_PROJECTION
            ws[1] = phase
            return False
        if phase == 0:
            c1, c2, S = ss_constraints(th, c, thr, ws, g, J1, J2)
            if S <= thr:
                return True
    return True


def ss_rhs(y, p, c, ws, out):
    grad(y, c, out)
    eta = p[P_ETA]
    for i in range(DIM):
        out[i] = -eta * out[i]


def ss_post(y, p, c, ws):
    n = DIM
    z = np.empty(n)
    th = np.empty(n)
    for i in range(n):
        z[i] = y[i]
    ss_project(z, c, 2.0 / p[P_ETA], ws, th)
    for i in range(n):
        y[i] = th[i]
    return True


def ss_state(y, p, c, ws):
    """Returns (S, alpha, beta): alpha = -grad L . grad S, beta = |grad S|^2 at theta."""
    n = DIM
    g = np.empty(n)
    J1 = np.empty(n)
    J2 = np.empty(n)
    thr = 2.0 / p[P_ETA]
    _c1, _c2, S = ss_constraints(y, c, thr, ws, g, J1, J2)
    return S, -_dot(g, J1), _dot(J1, J1)


def ss_edge(y, p, c, ws):
    """S - 2/eta, counted as on the edge within a relative 1e-8 of 2/eta."""
    wsl = np.zeros(ws.shape[0])
    S, _alpha, _beta = ss_state(y, p, c, wsl)
    thr = 2.0 / p[P_ETA]
    return S - thr + 1e-8 * thr


def ss_aux(y, p, c, ws, out):
    """[theta, L + x^2/eta, x = sqrt(2 alpha/beta) on the edge, S, edge, alpha, beta]."""
    n = DIM
    wsl = np.zeros(ws.shape[0])
    S, alpha, beta = ss_state(y, p, c, wsl)
    thr = 2.0 / p[P_ETA]
    e = S - thr + 1e-8 * thr
    x2 = 0.0
    if e >= 0.0 and beta > 0.0:
        x2 = max(0.0, 2.0 * alpha / beta)
    for i in range(n):
        out[i] = y[i]
    out[n] = loss(y, c) + x2 / p[P_ETA]
    out[n + 1] = math.sqrt(x2)
    out[n + 2] = S
    out[n + 3] = e
    out[n + 4] = alpha
    out[n + 5] = beta
