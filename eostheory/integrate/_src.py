"""numba source of the steppers and of the integration loop (spliced into generated modules).

Everything here is plain Python over numpy arrays and floats, so the same text runs under
``numba.njit`` and as plain Python (``EOSTHEORY_DISABLE_NUMBA=1``).  The functions call a
flow through four names bound in the generated module (see :mod:`eostheory.integrate._names`):

* ``flow_rhs(y, p, c, ws, out)``: the vector field :math:`f(y)` (autonomous), written to ``out``;
* ``flow_edge(y, p, c, ws)``: a scalar that is :math:`\\ge 0` on the edge of stability and
  :math:`< 0` off it (its sign changes are the *enter*/*leave* events);
* ``flow_post(y, p, c, ws)``: a map applied after every accepted step (a projection for the
  constrained trajectory, nothing for a flow); returns ``True`` when it changed ``y``;
* ``NY``, ``NWS``: sizes of the state and of the workspace; ``ws[0] != 0`` is a flag raised by
  the flow when it is undefined at the current state (then the loop stops).

The stepper contract (one for every method, as scipy's ``OdeSolver._step_impl``):
``step(method, y, h, f0, p, c, ws, K, ynew, fnew, err, tmp) -> nfev`` advances ``y`` by ``h``
given ``f0 = f(y)``, writes ``ynew``, ``fnew = f(ynew)`` (first-same-as-last, reused as the next
``f0``) and the local error estimate ``err`` (zero for fixed-step methods).  Dense output
``interp(method, ...)`` evaluates the continuous extension of the last step.
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.integrate._names import NWS, NY, flow_aux, flow_edge, flow_post, flow_rhs

# --- Dormand-Prince 5(4) tableau (Dormand & Prince 1980; dense output of Shampine 1986) ---
DP_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    ]
)
DP_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
DP_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
DP_P = np.array(
    [
        [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
)

# method codes (see eostheory.integrate._steppers)
M_EULER = 0
M_RK4 = 1
M_DOPRI5 = 2

# loop statuses (see eostheory.integrate._solve.STATUS_NAMES)
S_DONE = 0
S_DIVERGED = 1
S_STEP_TOO_SMALL = 2
S_MAX_STEPS = 3
S_UNDEFINED = 4
S_STOPPED = 5


def _all_finite(v, maxabs):
    for i in range(v.shape[0]):
        if not abs(v[i]) <= maxabs:
            return False
    return True


def _step(method, y, h, f0, p, c, ws, K, ynew, fnew, err, tmp):
    """One step of ``method`` from ``y`` (with ``f0 = f(y)``): fills ynew, fnew, err; returns nfev."""
    n = y.shape[0]
    if method == M_EULER:
        for i in range(n):
            ynew[i] = y[i] + h * f0[i]
            err[i] = 0.0
        flow_rhs(ynew, p, c, ws, fnew)
        return 1
    if method == M_RK4:
        for i in range(n):
            K[0, i] = f0[i]
            tmp[i] = y[i] + 0.5 * h * f0[i]
        flow_rhs(tmp, p, c, ws, K[1])
        for i in range(n):
            tmp[i] = y[i] + 0.5 * h * K[1, i]
        flow_rhs(tmp, p, c, ws, K[2])
        for i in range(n):
            tmp[i] = y[i] + h * K[2, i]
        flow_rhs(tmp, p, c, ws, K[3])
        for i in range(n):
            ynew[i] = y[i] + h * (K[0, i] + 2.0 * K[1, i] + 2.0 * K[2, i] + K[3, i]) / 6.0
            err[i] = 0.0
        flow_rhs(ynew, p, c, ws, fnew)
        return 4
    # Dormand-Prince 5(4), first same as last
    for i in range(n):
        K[0, i] = f0[i]
    for s in range(1, 6):
        for i in range(n):
            acc = 0.0
            for j in range(s):
                acc += DP_A[s, j] * K[j, i]
            tmp[i] = y[i] + h * acc
        flow_rhs(tmp, p, c, ws, K[s])
    for i in range(n):
        acc = 0.0
        for j in range(6):
            acc += DP_B[j] * K[j, i]
        ynew[i] = y[i] + h * acc
    flow_rhs(ynew, p, c, ws, fnew)
    for i in range(n):
        K[6, i] = fnew[i]
        acc = 0.0
        for j in range(7):
            acc += DP_E[j] * K[j, i]
        err[i] = h * acc
    return 6


def _interp(method, y, ynew, f0, fnew, K, h, theta, out):
    """Dense output at ``t + theta*h`` of the last step (0 <= theta <= 1).

    Dormand-Prince: its fourth-order continuous extension; Euler and RK4: the cubic Hermite
    interpolant of (y, f0) and (ynew, fnew), exact at both ends.
    """
    n = y.shape[0]
    if method == M_DOPRI5:
        b = np.zeros(7)
        for s in range(7):
            acc = 0.0
            pw = theta
            for k in range(4):
                acc += DP_P[s, k] * pw
                pw *= theta
            b[s] = acc
        for i in range(n):
            acc = 0.0
            for s in range(7):
                acc += b[s] * K[s, i]
            out[i] = y[i] + h * acc
        return
    if theta >= 1.0:
        for i in range(n):
            out[i] = ynew[i]
        return
    t2 = theta * theta
    t3 = t2 * theta
    h00 = 2.0 * t3 - 3.0 * t2 + 1.0
    h10 = t3 - 2.0 * t2 + theta
    h01 = -2.0 * t3 + 3.0 * t2
    h11 = t3 - t2
    for i in range(n):
        out[i] = h00 * y[i] + h10 * h * f0[i] + h01 * ynew[i] + h11 * h * fnew[i]


def _err_norm(err, y, ynew, rtol, atol):
    """Root-mean-square of the error scaled by ``atol + rtol*max(|y|, |ynew|)`` (as scipy)."""
    n = err.shape[0]
    s = 0.0
    for i in range(n):
        sc = atol + rtol * max(abs(y[i]), abs(ynew[i]))
        e = err[i] / sc
        s += e * e
    return math.sqrt(s / n)


def _locate(method, y, ynew, f0, fnew, K, h, p, c, ws, e0, out):
    """Root of ``flow_edge`` on the dense output of the last step (bisection, 60 halvings)."""
    lo = 0.0
    hi = 1.0
    neg0 = e0 < 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        _interp(method, y, ynew, f0, fnew, K, h, mid, out)
        em = flow_edge(out, p, c, ws)
        if (em < 0.0) == neg0:
            lo = mid
        else:
            hi = mid
    _interp(method, y, ynew, f0, fnew, K, h, hi, out)
    return hi


def _steady(y, f, rtol, atol, p, c, ws, yp, fp):
    """Whether ``y`` is, to tolerance, an attracting equilibrium: the rest of the run stays there.

    With the finite-difference Jacobian ``J`` at ``y``: (1) every eigenvalue of ``J`` has a
    negative real part, tested without an eigen-solver by squaring ``M = I + dl J``
    (``dl ||J|| = 0.1``) until ``||M^(2^k)|| < 1/4``, i.e. ``exp(J t)`` contracts; (2) the
    Newton step to the equilibrium, ``J^{-1} f``, is below the tolerance (root-mean-square
    of its components over ``atol + rtol |y|``), so the solution's remaining motion is too.
    On success ``yp`` holds that Newton step.
    """
    n = y.shape[0]
    if n > 64:
        return False
    J = np.empty((n, n))
    for j in range(n):
        for i in range(n):
            yp[i] = y[i]
        d = 1.5e-8 * max(abs(y[j]), 1.0)
        yp[j] = y[j] + d
        flow_rhs(yp, p, c, ws, fp)
        for i in range(n):
            J[i, j] = (fp[i] - f[i]) / d
    nJ = 0.0
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += abs(J[i, j])
        nJ = max(nJ, acc)
    if not (nJ > 0.0 and nJ < 1e300):
        return False
    dl = 0.1 / nJ
    M = np.empty((n, n))
    M2 = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            M[i, j] = dl * J[i, j] + (1.0 if i == j else 0.0)
    stable = False
    for _ in range(60):
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for k in range(n):
                    acc += M[i, k] * M[k, j]
                M2[i, j] = acc
        nm = 0.0
        for i in range(n):
            acc = 0.0
            for j in range(n):
                M[i, j] = M2[i, j]
                acc += abs(M2[i, j])
            nm = max(nm, acc)
        if nm < 0.25:
            stable = True
            break
        if not nm < 1e8:
            break
    if not stable:
        return False
    # Newton step J d = f by Gaussian elimination with partial pivoting
    A = np.empty((n, n + 1))
    for i in range(n):
        for j in range(n):
            A[i, j] = J[i, j]
        A[i, n] = f[i]
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(A[r, col]) > abs(A[piv, col]):
                piv = r
        if abs(A[piv, col]) <= 1e-300:
            return False
        for j in range(n + 1):
            tmp = A[col, j]
            A[col, j] = A[piv, j]
            A[piv, j] = tmp
        for r in range(col + 1, n):
            fac = A[r, col] / A[col, col]
            for j in range(col, n + 1):
                A[r, j] -= fac * A[col, j]
    err = 0.0
    for i in range(n - 1, -1, -1):
        acc = A[i, n]
        for j in range(i + 1, n):
            acc -= A[i, j] * yp[j]
        yp[i] = acc / A[i, i]
    for i in range(n):
        sc = atol + rtol * abs(y[i])
        err += (yp[i] / sc) ** 2
    return math.sqrt(err / n) <= 1.0


def integrate(
    method,
    y0,
    t0,
    t1,
    h,
    rtol,
    atol,
    hmax,
    max_steps,
    stop_on_enter,
    steady,
    maxabs,
    p,
    c,
    t_eval,
    Y,
    A,
    ev_t,
    ev_kind,
    y_end,
    counts,
    info,
):
    """Integrate ``y' = flow_rhs(y)`` from ``t0`` to ``t1``, recording ``Y[j] = y(t_eval[j])``
    and the flow's observables ``A[j] = flow_aux(Y[j])``.

    ``method``: 0 Euler, 1 RK4 (fixed step ``h``), 2 Dormand-Prince 5(4) (adaptive; ``h <= 0``
    picks the first step).  Events: a sign change of ``flow_edge`` is located on the dense
    output and stored in ``ev_t``/``ev_kind`` (1 enter the edge, 2 leave it); with
    ``stop_on_enter`` the first entry ends the run there.  Divergence (a non-finite value or
    ``|y_i| > maxabs``) stops the loop at the last finite state.

    Fills ``y_end`` (last state), ``counts`` = [nfev, accepted, rejected, outputs, events] and
    ``info`` = [t reached, last step size, flow flag, flag value]; returns a status code
    (``S_*`` above).
    """
    n = NY
    ws = np.zeros(NWS)
    y = np.empty(n)
    for i in range(n):
        y[i] = y0[i]
    f0 = np.empty(n)
    ynew = np.empty(n)
    fnew = np.empty(n)
    err = np.empty(n)
    tmp = np.empty(n)
    tmp2 = np.empty(n)
    K = np.zeros((7, n))
    nt = t_eval.shape[0]
    ncap = ev_t.shape[0]
    adaptive = method == M_DOPRI5
    nfev = 0
    nacc = 0
    nrej = 0
    nev = 0
    j = 0
    status = S_DONE
    t = t0
    flow_post(y, p, c, ws)
    flow_rhs(y, p, c, ws, f0)
    nfev += 1
    tol_t = 1e-12 * max(1.0, abs(t1))
    while j < nt and t_eval[j] <= t0 + tol_t:
        for i in range(n):
            Y[j, i] = y[i]
        j += 1
    if ws[0] != 0.0:
        status = S_UNDEFINED
    elif not (_all_finite(y, maxabs) and _all_finite(f0, 1e300)):
        status = S_DIVERGED
    e_old = flow_edge(y, p, c, ws)
    if adaptive and status == S_DONE and not h > 0.0:
        # first step: 1% of the time over which f would change y by its own size (HNW)
        d0 = 0.0
        d1 = 0.0
        for i in range(n):
            sc = atol + abs(y[i]) * rtol
            d0 += (y[i] / sc) ** 2
            d1 += (f0[i] / sc) ** 2
        if d0 < 1e-10 * n or d1 < 1e-10 * n:
            h = 1e-6
        else:
            h = 0.01 * math.sqrt(d0 / d1)
    if adaptive:
        h = min(h, hmax)
    rejected = False
    i_step = 0
    hh = h
    is_steady = False
    t_steady = 0.0
    next_check = 0
    while status == S_DONE and t < t1 - tol_t:
        if nacc + nrej >= max_steps:
            status = S_MAX_STEPS
            break
        if adaptive:
            hh = min(h, t1 - t)
            t_new = t + hh
            if t1 - t_new < tol_t:
                t_new = t1
        else:
            t_new = t0 + (i_step + 1) * h
            if t_new > t1 - tol_t:
                t_new = t1
            hh = t_new - t
        nfev += _step(method, y, hh, f0, p, c, ws, K, ynew, fnew, err, tmp)
        if ws[0] != 0.0:
            status = S_UNDEFINED
            break
        if adaptive:
            en = _err_norm(err, y, ynew, rtol, atol)
            if not (en < 1.0 and _all_finite(fnew, 1e300)):
                nrej += 1
                rejected = True
                if en < 1e300:
                    h = hh * max(0.2, 0.9 * en ** (-0.2))
                else:
                    h = hh * 0.2
                if h < 1e-13 * max(1.0, abs(t)):
                    status = S_STEP_TOO_SMALL
                    break
                continue
            if en == 0.0:
                factor = 10.0
            else:
                factor = min(10.0, 0.9 * en ** (-0.2))
            if rejected:
                factor = min(1.0, factor)
            rejected = False
            h_next = min(hh * factor, hmax)
            if t_new < t1 and hh < h:  # the step was cut to land on t1: keep the old size
                h_next = max(h_next, h)
        else:
            h_next = h
        if flow_post(ynew, p, c, ws):
            flow_rhs(ynew, p, c, ws, fnew)
            nfev += 1
        if ws[0] != 0.0:
            status = S_UNDEFINED
            break
        if not (_all_finite(ynew, maxabs) and _all_finite(fnew, 1e300)):
            status = S_DIVERGED
            break
        e_new = flow_edge(ynew, p, c, ws)
        stop = False
        if (e_old < 0.0) != (e_new < 0.0):
            entering = e_old < 0.0
            if adaptive or method == M_RK4:
                theta = _locate(method, y, ynew, f0, fnew, K, hh, p, c, ws, e_old, tmp)
            else:
                theta = 1.0
            t_ev = t + theta * hh
            if nev < ncap:
                ev_t[nev] = t_ev
                ev_kind[nev] = 1 if entering else 2
            nev += 1
            if entering and stop_on_enter:
                stop = True
                while j < nt and t_eval[j] <= t_ev + tol_t:
                    th = (t_eval[j] - t) / hh
                    _interp(method, y, ynew, f0, fnew, K, hh, min(max(th, 0.0), 1.0), tmp2)
                    for i in range(n):
                        Y[j, i] = tmp2[i]
                    j += 1
                _interp(method, y, ynew, f0, fnew, K, hh, theta, ynew)
                t_new = t_ev
        if not stop:
            while j < nt and t_eval[j] <= t_new + tol_t:
                th = (t_eval[j] - t) / hh
                if th >= 1.0 - 1e-14:
                    for i in range(n):
                        Y[j, i] = ynew[i]
                else:
                    _interp(method, y, ynew, f0, fnew, K, hh, max(th, 0.0), tmp2)
                    for i in range(n):
                        Y[j, i] = tmp2[i]
                j += 1
        for i in range(n):
            y[i] = ynew[i]
            f0[i] = fnew[i]
        t = t_new
        e_old = e_new
        nacc += 1
        i_step += 1
        h = h_next
        if stop:
            status = S_STOPPED
            break
        if steady and adaptive and nacc >= next_check and t < t1 - tol_t:
            nfev += n
            found = _steady(y, f0, rtol, atol, p, c, ws, tmp, tmp2)
            ws[0] = 0.0  # a flag raised while probing the Jacobian is not the solution's
            ws[1] = 0.0
            if found:
                # the equilibrium itself (one Newton step: its error is the square of the step's)
                for i in range(n):
                    y[i] -= tmp[i]
                is_steady = True
                t_steady = t
                while j < nt:
                    for i in range(n):
                        Y[j, i] = y[i]
                    j += 1
                t = t1
                break
            next_check = nacc + 20
    wsa = np.zeros(NWS)
    for jj in range(j):
        flow_aux(Y[jj], p, c, wsa, A[jj])
    for i in range(n):
        y_end[i] = y[i]
    counts[0] = nfev
    counts[1] = nacc
    counts[2] = nrej
    counts[3] = j
    counts[4] = nev
    counts[5] = 1 if is_steady else 0
    info[0] = t
    info[1] = hh
    info[2] = ws[0]
    info[3] = ws[1]
    info[4] = t_steady
    return status


#: the functions spliced, in order, into a generated module
FUNCTIONS = ("_all_finite", "_step", "_interp", "_err_norm", "_locate", "_steady", "integrate")
