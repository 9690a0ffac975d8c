"""numba source of the integration loop (spliced into generated modules).

Everything here is plain Python over numpy arrays and floats, so the same text runs under
``numba.njit`` and as plain Python (``EOSTHEORY_DISABLE_NUMBA=1``).  The loop calls a
system through four hooks bound in the generated module (see :mod:`eostheory.integrate._names`):

* ``rhs(y, p, c, ws, out)``: the vector field :math:`f(y)` (autonomous), written to ``out``;
* ``event(y, p, c, ws)``: the event indicator, for a flow a scalar that is :math:`\\ge 0` on
  the edge of stability and :math:`< 0` off it (its sign changes are the *enter*/*leave* events);
* ``post(y, p, c, ws)``: a map applied after every accepted step (a projection for the
  constrained trajectory, nothing for a flow); returns ``True`` when it changed ``y``;
* ``observe(y, p, c, ws, out)``: the observables stored with each recorded state;
* ``NY``, ``NWS``, ``NAUX``: sizes of the state, of the workspace and of the observables;
  ``ws[0] != 0`` is a flag raised by the system when it is undefined at the current state
  (then the loop stops).

The method-specific pieces are generated from the steppers' Butcher tableaux
(:mod:`eostheory.integrate._generate`): ``_step(method, y, h, f0, p, c, ws, K, ynew, fnew,
err, tmp) -> nfev`` advances ``y`` by ``h`` given ``f0 = f(y)``, writes ``ynew``,
``fnew = f(ynew)`` (reused as the next ``f0``) and the local error estimate ``err`` (zero
for fixed-step methods); ``_interp(method, ...)`` evaluates the dense output of the last
step; the per-method arrays ``M_ADAPTIVE``, ``M_LOCATE``, ``M_EXPONENT`` and the stage
count ``NK`` describe them to the loop.  Step-size control (:mod:`eostheory.integrate._control`),
event location and output recording (:mod:`eostheory.integrate._events`) are separate pieces.
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.integrate._control import _err_norm, _first_step, _h_after_accept, _h_after_reject
from eostheory.integrate._events import _locate, _record
from eostheory.integrate._names import M_ADAPTIVE, M_EXPONENT, M_LOCATE, NK, NWS, NY, event, observe, post, rhs

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


def _hermite(y, ynew, f0, fnew, h, theta, out):
    """The cubic Hermite interpolant of (y, f0) and (ynew, fnew) at ``t + theta*h``, exact at both ends."""
    n = y.shape[0]
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
        rhs(yp, p, c, ws, fp)
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
    """Integrate ``y' = rhs(y)`` from ``t0`` to ``t1``, recording ``Y[j] = y(t_eval[j])``
    and the system's observables ``A[j] = observe(Y[j])``.

    ``method``: a stepper's ``code`` (fixed step ``h``, or adaptive when ``M_ADAPTIVE[method]``:
    then ``h <= 0`` picks the first step).  Events: a sign change of ``event`` is located on the dense
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
    K = np.zeros((NK, n))
    nt = t_eval.shape[0]
    ncap = ev_t.shape[0]
    adaptive = M_ADAPTIVE[method] != 0
    expo = M_EXPONENT[method]
    nfev = 0
    nacc = 0
    nrej = 0
    nev = 0
    j = 0
    status = S_DONE
    t = t0
    post(y, p, c, ws)
    rhs(y, p, c, ws, f0)
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
    e_old = event(y, p, c, ws)
    if adaptive and status == S_DONE and not h > 0.0:
        h = _first_step(y, f0, rtol, atol)
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
        nfev += _step(method, y, hh, f0, p, c, ws, K, ynew, fnew, err, tmp)  # noqa: F821 (generated)
        if ws[0] != 0.0:
            status = S_UNDEFINED
            break
        if adaptive:
            en = _err_norm(err, y, ynew, rtol, atol)
            if not (en < 1.0 and _all_finite(fnew, 1e300)):
                nrej += 1
                rejected = True
                h = _h_after_reject(hh, en, expo)
                if h < 1e-13 * max(1.0, abs(t)):
                    status = S_STEP_TOO_SMALL
                    break
                continue
            # (a step cut to land on t1 keeps the old size for the next one)
            h_next = _h_after_accept(hh, en, expo, rejected, hmax, t_new < t1 and hh < h, h)
            rejected = False
        else:
            h_next = h
        if post(ynew, p, c, ws):
            rhs(ynew, p, c, ws, fnew)
            nfev += 1
        if ws[0] != 0.0:
            status = S_UNDEFINED
            break
        if not (_all_finite(ynew, maxabs) and _all_finite(fnew, 1e300)):
            status = S_DIVERGED
            break
        e_new = event(ynew, p, c, ws)
        stop = False
        if (e_old < 0.0) != (e_new < 0.0):
            entering = e_old < 0.0
            if M_LOCATE[method] != 0:
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
                j = _record(method, t_eval, j, t, t_ev, hh, y, ynew, f0, fnew, K, Y, tmp2, tol_t, False)
                _interp(method, y, ynew, f0, fnew, K, hh, theta, ynew)  # noqa: F821 (generated)
                t_new = t_ev
        if not stop:
            j = _record(method, t_eval, j, t, t_new, hh, y, ynew, f0, fnew, K, Y, tmp2, tol_t, True)
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
        observe(Y[jj], p, c, wsa, A[jj])
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
FUNCTIONS = ("_all_finite", "_hermite", "_steady", "integrate")
