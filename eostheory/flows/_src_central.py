"""numba source of the central flow (one or several eigenvalues) and its heavy-ball version.

State ``y = w``.  Parameters ``p = [eta, k, tau, track]``: step size, number of tracked top
eigenvalues (1 <= k <= DIM; 0 = every eigenvalue at or above ``track * 2/eta``), relaxation
time of the stability constraint (in steps).

With :math:`M = U^\\top H U` the block of the Hessian on the top-k eigenvectors, the flow is
:math:`\\dot w = -\\eta[\\nabla L + \\tfrac12 \\sum_{ij} X_{ij} \\nabla M_{ij}]`,
:math:`\\nabla M_{ij} = \\nabla^3 L[u_i, u_j]`, where :math:`X \\succeq 0` solves the
complementarity problem that keeps :math:`M \\preceq (2/\\eta) I`:
:math:`Z = \\alpha + B[X] \\succeq 0`, :math:`\\langle X, Z\\rangle = 0`, with
:math:`\\alpha_{ij} = (2/\\eta - \\lambda_i)\\delta_{ij}/\\tau + \\eta \\nabla M_{ij}\\cdot\\nabla L`
and :math:`B[X]_{ij} = (\\eta/2) \\sum_{kl} \\langle \\nabla M_{ij}, \\nabla M_{kl}\\rangle X_{kl}`.
:math:`Z` is :math:`dm/dt + m/\\tau` for the margin :math:`m = 2/\\eta - M`, so the margin can
only decay as fast as :math:`e^{-t/\\tau}`: the sharpness reaches :math:`2/\\eta` from below
and stays there (a Baumgarte-stabilized projection; :math:`\\tau \\to 0` is the exact
projection).  For k = 1 the solution is the closed form
:math:`\\sigma^2 = \\max(0, 2(\\langle -\\nabla L, \\nabla S\\rangle - m/(\\eta\\tau))/\\|\\nabla S\\|^2)`.
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.flows._layout import (
    P_BETA,
    P_ETA,
    P_K,
    P_TAU,
    P_TRACK,
    WS_BUF,
    WS_D,
    WS_DS,
    WS_G,
    WS_H,
    WS_LAM,
    WS_ROW,
    WS_TMP,
    WS_U,
    WS_UI,
    WS_UJ,
    WS_V,
    WS_X,
)
from eostheory.flows._linalg import min_eig_svec, sdcp_solve, svec_pairs
from eostheory.flows._src_common import F_NO_GAP, F_NO_GRADS, F_SDCP, _dot, sym_eigh, third_pair
from eostheory.integrate._names import DIM, grad, hess, loss, third

GAP_TOL = 1e-8
#: X's weight on the lowest tracked eigenvector, relative to its largest entry, below which a
#: degenerate boundary of the tracked block is harmless
LOW_TOL = 1e-9


def central_core(y, p, c, ws, g, lam, D, x):
    """Gradient, eigenvalues, sharpness-gradient rows ``D`` (svec-weighted) and svec(X).

    Returns the edge indicator :math:`-\\lambda_{\\min}(\\alpha)` (>= 0 when the constraint
    binds) and the number of tracked eigenvalues (``k``, or with ``k = 0`` the count at or
    above ``track * 2/eta``).
    """
    n = DIM
    eta = p[P_ETA]
    k = int(p[P_K])
    tau = p[P_TAU]
    thr = 2.0 / eta
    grad(y, c, g)
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    hess(y, c, h)
    V = ws[WS_V : WS_V + n * n].reshape((n, n))
    sym_eigh(h, lam, V)
    if k == 0:  # every eigenvalue at or above track * 2/eta (at least the top one)
        level = p[P_TRACK] * thr
        k = 1
        while k < n and lam[n - k - 1] >= level:
            k += 1
    I, J, wt = svec_pairs(k)
    m = k * (k + 1) // 2
    ui = ws[WS_UI : WS_UI + n]
    uj = ws[WS_UJ : WS_UJ + n]
    tmp = ws[WS_TMP : WS_TMP + n]
    buf = ws[WS_BUF : WS_BUF + n]
    row = ws[WS_ROW : WS_ROW + n]
    a = np.empty(m)
    for q in range(m):
        ci = n - k + I[q]
        cj = n - k + J[q]
        for r in range(n):
            ui[r] = V[r, ci]
            uj[r] = V[r, cj]
        if I[q] == J[q]:
            third(y, ui, c, row)
        else:
            third_pair(y, ui, uj, c, row, tmp, buf)
        for r in range(n):
            D[q, r] = wt[q] * row[r]
        a[q] = eta * _dot(D[q], g)
        if I[q] == J[q]:
            a[q] += (thr - lam[ci]) / tau
    Bs = np.empty((m, m))
    for q in range(m):
        for r in range(m):
            Bs[q, r] = 0.5 * eta * _dot(D[q], D[r])
    e = -min_eig_svec(a, k, I, J, wt)
    flag = sdcp_solve(a, Bs, k, x)
    if flag == 1:
        ws[0] = F_NO_GRADS
        ws[1] = e
    elif flag == 2:
        ws[0] = F_SDCP
        ws[1] = e
    if e >= 0.0 and k < n:
        # a tracked eigenvalue degenerate with the first untracked one leaves the flow undefined
        # only if X uses its eigenvector (row 0 of X in the ascending block): a cluster far
        # below the edge may be split by k without changing the flow
        xmax = 0.0
        xlow = 0.0
        for q in range(m):
            xmax = max(xmax, abs(x[q]))
            if I[q] == 0:
                xlow = max(xlow, abs(x[q]))
        top = lam[n - 1]
        gap = lam[n - k] - lam[n - k - 1]
        if gap < GAP_TOL * max(1.0, abs(top)) and xlow > LOW_TOL * xmax:
            ws[0] = F_NO_GAP
            ws[1] = gap
    return e, k


def central1_core(y, p, c, ws, g, lam, D, x):
    """:func:`central_core` for one eigenvalue: the closed form, no SDCP."""
    n = DIM
    eta = p[P_ETA]
    tau = p[P_TAU]
    grad(y, c, g)
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    hess(y, c, h)
    V = ws[WS_V : WS_V + n * n].reshape((n, n))
    sym_eigh(h, lam, V)
    u = ws[WS_UI : WS_UI + n]
    for r in range(n):
        u[r] = V[r, n - 1]
    ds = D[0]
    third(y, u, c, ds)
    a = eta * _dot(ds, g) + (2.0 / eta - lam[n - 1]) / tau
    b = _dot(ds, ds)
    e = -a
    x[0] = 0.0
    if e >= 0.0:
        if not b > 1e-300:
            ws[0] = F_NO_GRADS
            ws[1] = b
            return e, 1
        x[0] = -2.0 * a / (eta * b)
        if n > 1 and lam[n - 1] - lam[n - 2] < GAP_TOL * max(1.0, abs(lam[n - 1])):
            ws[0] = F_NO_GAP
            ws[1] = lam[n - 1] - lam[n - 2]
    return e, 1


def central_eval(y, p, c, ws):
    """Evaluate the core on the workspace; returns (edge indicator, k, m)."""
    n = DIM
    mmax = n * (n + 1) // 2  # room for every k (the workspace holds n*n*n and n*n)
    g = ws[WS_G : WS_G + n]
    lam = ws[WS_LAM : WS_LAM + n]
    D = ws[WS_D : WS_D + mmax * n].reshape((mmax, n))
    x = ws[WS_X : WS_X + mmax]
    e, k = central_core(y, p, c, ws, g, lam, D, x)
    return e, k, k * (k + 1) // 2


def flow_rhs(y, p, c, ws, out):
    n = DIM
    _e, _k, m = central_eval(y, p, c, ws)
    g = ws[WS_G : WS_G + n]
    D = ws[WS_D : WS_D + m * n].reshape((m, n))
    x = ws[WS_X : WS_X + m]
    eta = p[P_ETA]
    for i in range(n):
        acc = g[i]
        for q in range(m):
            acc += 0.5 * x[q] * D[q, i]
        out[i] = -eta * acc


def flow_edge(y, p, c, ws):
    f0 = ws[0]
    f1 = ws[1]
    e, _k, _m = central_eval(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    return e


def flow_post(y, p, c, ws):
    return False


def flow_aux(y, p, c, ws, out):
    """[w, predicted loss L + <M, X>/2, sqrt(tr X), S, edge indicator, tr X, 2/eta - S]."""
    n = DIM
    f0 = ws[0]
    f1 = ws[1]
    e, k, m = central_eval(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    lam = ws[WS_LAM : WS_LAM + n]
    x = ws[WS_X : WS_X + m]
    I, J, _wt = svec_pairs(k)
    tr = 0.0
    lx = 0.0
    for q in range(m):
        if I[q] == J[q]:
            tr += x[q]
            lx += lam[n - k + I[q]] * x[q]
    for i in range(n):
        out[i] = y[i]
    out[n] = loss(y, c) + 0.5 * lx
    out[n + 1] = math.sqrt(max(tr, 0.0))
    out[n + 2] = lam[n - 1]
    out[n + 3] = e
    out[n + 4] = tr
    out[n + 5] = 2.0 / p[P_ETA] - lam[n - 1]


FUNCTIONS = ("central_core", "central_eval", "flow_rhs", "flow_edge", "flow_post", "flow_aux")


# --- heavy-ball central flow: state (w, v), p = [eta, beta, tau] ------------------------------


def hb_core(y, p, c, ws, g, ds):
    """Returns (sigma2, edge indicator, S) at the state (w, v) of the heavy-ball central flow."""
    n = DIM
    eta = p[P_ETA]
    beta = p[P_BETA]
    tau = p[P_TAU]
    thr = 2.0 * (1.0 + beta) / eta
    w = y[:n]
    v = y[n:]
    grad(w, c, g)
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    hess(w, c, h)
    V = ws[WS_V : WS_V + n * n].reshape((n, n))
    lam = ws[WS_LAM : WS_LAM + n]
    sym_eigh(h, lam, V)
    u = ws[WS_U : WS_U + n]
    for r in range(n):
        u[r] = V[r, n - 1]
    third(w, u, c, ds)
    b = _dot(ds, ds)
    # Z = m/tau + eta*dS.(beta v + g) + (eta/2) b sigma2  >= 0
    a = (thr - lam[n - 1]) / tau + eta * (beta * _dot(ds, v) + _dot(ds, g))
    e = -a
    s2 = 0.0
    if e >= 0.0:
        if not b > 1e-300:
            ws[0] = F_NO_GRADS
            ws[1] = b
        else:
            s2 = -2.0 * a / (eta * b)
        if n > 1 and lam[n - 1] - lam[n - 2] < GAP_TOL * max(1.0, abs(lam[n - 1])):
            ws[0] = F_NO_GAP
            ws[1] = lam[n - 1] - lam[n - 2]
    return s2, e, lam[n - 1]


def hb_rhs(y, p, c, ws, out):
    n = DIM
    eta = p[P_ETA]
    beta = p[P_BETA]
    g = ws[WS_G : WS_G + n]
    ds = ws[WS_DS : WS_DS + n]
    s2, _e, _S = hb_core(y, p, c, ws, g, ds)
    for i in range(n):
        gb = g[i] + 0.5 * s2 * ds[i]
        v = y[n + i]
        out[i] = -eta * (beta * v + gb)
        out[n + i] = -(1.0 - beta) * v + gb


def hb_edge(y, p, c, ws):
    n = DIM
    f0 = ws[0]
    f1 = ws[1]
    _s2, e, _S = hb_core(y, p, c, ws, ws[WS_G : WS_G + n], ws[WS_DS : WS_DS + n])
    ws[0] = f0
    ws[1] = f1
    return e


def hb_aux(y, p, c, ws, out):
    """[w, predicted loss L + S sigma2/2, sigma, S, edge indicator, sigma2, 2(1+beta)/eta - S]."""
    n = DIM
    f0 = ws[0]
    f1 = ws[1]
    s2, e, S = hb_core(y, p, c, ws, ws[WS_G : WS_G + n], ws[WS_DS : WS_DS + n])
    ws[0] = f0
    ws[1] = f1
    for i in range(n):
        out[i] = y[i]
    out[n] = loss(y[:n], c) + 0.5 * S * s2
    out[n + 1] = math.sqrt(s2)
    out[n + 2] = S
    out[n + 3] = e
    out[n + 4] = s2
    out[n + 5] = 2.0 * (1.0 + p[P_BETA]) / p[P_ETA] - S


HB_FUNCTIONS = ("hb_core", "hb_rhs", "hb_edge", "flow_post", "hb_aux")
HB_RENAME = {"hb_rhs": "flow_rhs", "hb_edge": "flow_edge", "hb_aux": "flow_aux"}
