"""Small dense linear algebra in numba, independent of any potential.

Closed-form and Jacobi eigen-decompositions, Gaussian elimination, and the solver of the
semidefinite complementarity problem (SDCP) of the central flow with several eigenvalues.
These functions call nothing that depends on a potential, so they are compiled once per
machine (numba ``cache=True`` beside this file) and imported by every generated flow
module; a generated module carries the hash of this file's source in its own text, so a
change here gives it a new name and it can never link stale code.

``EOSTHEORY_DISABLE_NUMBA=1`` (set before import) leaves them as plain Python.
"""

from __future__ import annotations

import math

import numpy as np

from eostheory.compile._codegen import backend

__all__ = [
    "eigh12",
    "jacobi_eigh",
    "min_eig_svec",
    "psd_project",
    "sdcp_solve",
    "small_eigh",
    "small_solve",
    "smat",
    "svec",
    "svec_pairs",
]

BACKEND = backend()
if BACKEND == "numba":
    from eostheory.compile._jit import njit  # numba.njit with a sealed, self-repairing cache

    jit = njit(cache=True, error_model="numpy")
else:

    def jit(f):  # type: ignore[no-untyped-def]
        return f


@jit
def _dot(a, b):
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


@jit
def eigh12(h, lam, V):
    """Closed-form eigen-decomposition of a 1 x 1 or 2 x 2 symmetric matrix, ascending."""
    n = h.shape[0]
    if n == 1:
        lam[0] = h[0, 0]
        V[0, 0] = 1.0
        return
    a = h[0, 0]
    b = 0.5 * (h[0, 1] + h[1, 0])
    d = h[1, 1]
    mean = 0.5 * (a + d)
    r = math.sqrt((0.5 * (a - d)) ** 2 + b * b)
    lam[1] = mean + r
    lam[0] = mean - r
    if r == 0.0:
        v0 = 1.0
        v1 = 0.0
    elif a >= d:
        v0 = lam[1] - d
        v1 = b
    else:
        v0 = b
        v1 = lam[1] - a
    nv = math.sqrt(v0 * v0 + v1 * v1)
    v0 /= nv
    v1 /= nv
    V[0, 1] = v0
    V[1, 1] = v1
    V[0, 0] = -v1
    V[1, 0] = v0


@jit
def jacobi_eigh(h, lam, V):
    """Eigen-decomposition of a small symmetric matrix by cyclic Jacobi rotations, ascending.

    Pure loops: cheap to compile and accurate to rounding for the small matrices of toys and
    of the SDCP.
    """
    n = h.shape[0]
    A = np.empty((n, n))
    Q = np.zeros((n, n))
    for i in range(n):
        Q[i, i] = 1.0
        for j in range(n):
            A[i, j] = 0.5 * (h[i, j] + h[j, i])
    for _sweep in range(60):
        off = 0.0
        tot = 0.0
        for i in range(n):
            for j in range(n):
                tot += A[i, j] * A[i, j]
                if i != j:
                    off += A[i, j] * A[i, j]
        if off <= 1e-32 * tot or off == 0.0:
            break
        for pp in range(n - 1):
            for qq in range(pp + 1, n):
                apq = A[pp, qq]
                if apq == 0.0:
                    continue
                theta = (A[qq, qq] - A[pp, pp]) / (2.0 * apq)
                t = (1.0 if theta >= 0.0 else -1.0) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                cs = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * cs
                for k in range(n):
                    akp = A[k, pp]
                    akq = A[k, qq]
                    A[k, pp] = cs * akp - sn * akq
                    A[k, qq] = sn * akp + cs * akq
                for k in range(n):
                    apk = A[pp, k]
                    aqk = A[qq, k]
                    A[pp, k] = cs * apk - sn * aqk
                    A[qq, k] = sn * apk + cs * aqk
                for k in range(n):
                    qkp = Q[k, pp]
                    qkq = Q[k, qq]
                    Q[k, pp] = cs * qkp - sn * qkq
                    Q[k, qq] = sn * qkp + cs * qkq
    order = np.empty(n, dtype=np.int64)
    d = np.empty(n)
    for i in range(n):
        d[i] = A[i, i]
        order[i] = i
    for i in range(n):
        best = i
        for j in range(i + 1, n):
            if d[order[j]] < d[order[best]]:
                best = j
        tmp = order[i]
        order[i] = order[best]
        order[best] = tmp
    for i in range(n):
        lam[i] = d[order[i]]
        for k in range(n):
            V[k, i] = Q[k, order[i]]


@jit
def small_eigh(h, lam, V):
    """Eigen-decomposition of a small symmetric matrix, ascending (closed form up to 2 x 2)."""
    if h.shape[0] <= 2:
        eigh12(h, lam, V)
    else:
        jacobi_eigh(h, lam, V)


@jit
def small_solve(A, b, x):
    """Solve A x = b by Gaussian elimination with partial pivoting; False if A is singular."""
    n = b.shape[0]
    M = np.empty((n, n + 1))
    scale = 0.0
    for i in range(n):
        for j in range(n):
            M[i, j] = A[i, j]
            scale = max(scale, abs(A[i, j]))
        M[i, n] = b[i]
    if scale == 0.0:
        return False
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(M[r, col]) > abs(M[piv, col]):
                piv = r
        if abs(M[piv, col]) <= 1e-14 * scale:
            return False
        if piv != col:
            for j in range(n + 1):
                tmp = M[col, j]
                M[col, j] = M[piv, j]
                M[piv, j] = tmp
        for r in range(col + 1, n):
            f = M[r, col] / M[col, col]
            for j in range(col, n + 1):
                M[r, j] -= f * M[col, j]
    for i in range(n - 1, -1, -1):
        acc = M[i, n]
        for j in range(i + 1, n):
            acc -= M[i, j] * x[j]
        x[i] = acc / M[i, i]
    return True


@jit
def svec_pairs(k):
    """Index pairs (i <= j) of a k x k symmetric matrix, in svec order, and their weights."""
    m = k * (k + 1) // 2
    I = np.empty(m, dtype=np.int64)
    J = np.empty(m, dtype=np.int64)
    wt = np.empty(m)
    a = 0
    for i in range(k):
        for j in range(i, k):
            I[a] = i
            J[a] = j
            wt[a] = 1.0 if i == j else math.sqrt(2.0)
            a += 1
    return I, J, wt


@jit
def smat(x, k, I, J, wt, out):
    """Symmetric k x k matrix from its svec (off-diagonal entries carry a factor sqrt(2))."""
    for a in range(x.shape[0]):
        v = x[a] / wt[a]
        out[I[a], J[a]] = v
        out[J[a], I[a]] = v


@jit
def svec(X, I, J, wt, out):
    """svec of a symmetric matrix (so that <X, Y> = svec(X) . svec(Y))."""
    for a in range(out.shape[0]):
        out[a] = X[I[a], J[a]] * wt[a]


@jit
def psd_project(x, k, I, J, wt, out):
    """Euclidean projection of svec(X) onto the positive semidefinite cone."""
    X = np.zeros((k, k))
    smat(x, k, I, J, wt, X)
    lam = np.empty(k)
    V = np.empty((k, k))
    small_eigh(X, lam, V)
    R = np.zeros((k, k))
    for q in range(k):
        if lam[q] > 0.0:
            for i in range(k):
                for j in range(k):
                    R[i, j] += lam[q] * V[i, q] * V[j, q]
    svec(R, I, J, wt, out)


@jit
def min_eig_svec(x, k, I, J, wt):
    """Smallest eigenvalue of smat(x)."""
    X = np.zeros((k, k))
    smat(x, k, I, J, wt, X)
    lam = np.empty(k)
    V = np.empty((k, k))
    small_eigh(X, lam, V)
    return lam[0]


@jit
def _affine(a, Bs, x, out):
    """``out = a + Bs x`` (the dual :math:`Z = \\alpha + B[X]` in svec form)."""
    m = x.shape[0]
    for i in range(m):
        acc = a[i]
        for j in range(m):
            acc += Bs[i, j] * x[j]
        out[i] = acc


@jit
def _face_rank(x, k, I, J, wt, lam, V):
    """Eigen-decompose smat(x) into ``lam``, ``V``; the rank of its face (eigenvalues above 1e-7 of the top)."""
    X = np.zeros((k, k))
    smat(x, k, I, J, wt, X)
    small_eigh(X, lam, V)
    top = max(lam[k - 1], 0.0)
    if top <= 0.0:
        return 0
    r = 0
    for q in range(k):
        if lam[q] > 1e-7 * top:
            r += 1
    return r


@jit
def _gram_svec(R, k, r, I, J, wt, G, out):
    """``out = svec(R R^T)`` (``G`` is k x k scratch)."""
    for i in range(k):
        for j in range(k):
            acc = 0.0
            for s in range(r):
                acc += R[i, s] * R[j, s]
            G[i, j] = acc
    svec(G, I, J, wt, out)


@jit
def _kkt(x, a, Bs, k, I, J, wt):
    m = x.shape[0]
    z = np.empty(m)
    _affine(a, Bs, x, z)
    zmin = min_eig_svec(z, k, I, J, wt)
    xmin = min_eig_svec(x, k, I, J, wt) if m > 0 else 0.0
    comp = abs(_dot(x, z))
    return zmin, xmin, comp


@jit
def _polish(x, a, Bs, k, I, J, wt, out):
    """Exact solve on the face of the PSD cone that ``x`` lies on (its range); True if KKT holds."""
    m = x.shape[0]
    lam = np.empty(k)
    V = np.empty((k, k))
    r = _face_rank(x, k, I, J, wt, lam, V)
    if r == 0:
        return False
    P = np.empty((k, r))
    for q in range(r):
        for i in range(k):
            P[i, q] = V[i, k - r + q]
    Ir, Jr, wr = svec_pairs(r)
    qn = r * (r + 1) // 2
    T = np.zeros((m, qn))
    Yb = np.zeros((r, r))
    Xb = np.empty((k, k))
    col = np.empty(m)
    e = np.zeros(qn)
    for b in range(qn):
        for s in range(qn):
            e[s] = 0.0
        e[b] = 1.0
        smat(e, r, Ir, Jr, wr, Yb)
        for i in range(k):
            for j in range(k):
                acc = 0.0
                for s in range(r):
                    for t in range(r):
                        acc += P[i, s] * Yb[s, t] * P[j, t]
                Xb[i, j] = acc
        svec(Xb, I, J, wt, col)
        for i in range(m):
            T[i, b] = col[i]
    A = np.zeros((qn, qn))
    rhs = np.zeros(qn)
    for b1 in range(qn):
        for i in range(m):
            rhs[b1] -= T[i, b1] * a[i]
            for j in range(m):
                tb = Bs[i, j] * T[j, :]
                for b2 in range(qn):
                    A[b1, b2] += T[i, b1] * tb[b2]
    scale = 0.0
    for i in range(qn):
        scale = max(scale, abs(A[i, i]))
    if scale <= 0.0:
        return False
    for i in range(qn):
        A[i, i] += 1e-15 * scale
    yv = np.empty(qn)
    if not small_solve(A, rhs, yv):
        return False
    Ys = np.zeros((r, r))
    smat(yv, r, Ir, Jr, wr, Ys)
    lr = np.empty(r)
    Vr = np.empty((r, r))
    small_eigh(Ys, lr, Vr)
    if lr[0] < -1e-12 * max(1.0, abs(lr[r - 1])):
        return False
    xn = np.zeros(m)
    for i in range(m):
        for b1 in range(qn):
            xn[i] += T[i, b1] * yv[b1]
    zmin, _xmin, comp = _kkt(xn, a, Bs, k, I, J, wt)
    na = 0.0
    for i in range(m):
        na = max(na, abs(a[i]))
    tol = 1e-10 * (na + 1e-300)
    if zmin < -tol or comp > tol * (1.0 + math.sqrt(_dot(xn, xn))):
        return False
    for i in range(m):
        out[i] = xn[i]
    return True


@jit
def _comp_residual(x, a, Bs, k, I, J, wt):
    r"""Largest entry of :math:`ZX` (the matrix complementarity residual) and min eig of Z.

    :math:`\langle X, Z\rangle = \mathrm{tr}(XZ)` is a weak test: for PSD ``X`` and ``Z``,
    :math:`\|ZX\|` can be as large as :math:`\sqrt{\|Z\|\,\|X\|\,\mathrm{tr}(XZ)}`, so a
    trace of 1e-16 still allows an error of 1e-8 in ``X``.
    """
    m = x.shape[0]
    z = np.empty(m)
    _affine(a, Bs, x, z)
    X = np.zeros((k, k))
    Z = np.zeros((k, k))
    smat(x, k, I, J, wt, X)
    smat(z, k, I, J, wt, Z)
    res = 0.0
    for i in range(k):
        for j in range(k):
            acc = 0.0
            for q in range(k):
                acc += Z[i, q] * X[q, j]
            res = max(res, abs(acc))
    return res, min_eig_svec(z, k, I, J, wt)


@jit
def _refine_factor(x, a, Bs, k, I, J, wt, out):
    r"""Newton (Gauss-Newton) on the factored KKT system :math:`Z(RR^\top)R = 0`, :math:`X = RR^\top`.

    ``x`` is a near-solution (from the face solve); ``R`` spans its range.  The residual
    :math:`F(R) = ZR` vanishes exactly at a KKT point of the given rank, and its derivative
    is :math:`dF = B[dR\,R^\top + R\,dR^\top]R + Z\,dR`.  The orthogonal gauge
    :math:`R \to RQ` makes it singular, so each step solves the normal equations with a
    tiny ridge.  Converges quadratically from a face that is right to first order, where the
    face solve alone leaves an error of the order of the rank threshold.  Writes the refined
    svec(X) to ``out`` and returns its residual (max entry of ZX); ``out`` is ``x`` if no
    step improved it.
    """
    m = x.shape[0]
    lam = np.empty(k)
    V = np.empty((k, k))
    r = _face_rank(x, k, I, J, wt, lam, V)
    best, _zmin = _comp_residual(x, a, Bs, k, I, J, wt)
    for i in range(m):
        out[i] = x[i]
    if r == 0:
        return best
    R = np.empty((k, r))
    for s in range(r):
        for i in range(k):
            R[i, s] = V[i, k - r + s] * math.sqrt(lam[k - r + s])
    nv = k * r
    Jm = np.empty((nv, nv))
    F = np.empty(nv)
    xs = np.empty(m)
    z = np.empty(m)
    Z = np.zeros((k, k))
    dX = np.zeros((k, k))
    dxs = np.empty(m)
    dZ = np.zeros((k, k))
    for _it in range(8):
        _gram_svec(R, k, r, I, J, wt, dX, xs)
        _affine(a, Bs, xs, z)
        smat(z, k, I, J, wt, Z)
        for i in range(k):
            for s in range(r):
                acc = 0.0
                for q in range(k):
                    acc += Z[i, q] * R[q, s]
                F[i * r + s] = acc
        # the Jacobian, column by column: dR = e_i e_s^T
        for ci in range(k):
            for cs in range(r):
                for i in range(k):
                    for j in range(k):
                        dX[i, j] = 0.0
                for j in range(k):
                    dX[ci, j] += R[j, cs]
                    dX[j, ci] += R[j, cs]
                svec(dX, I, J, wt, dxs)
                for i in range(m):
                    acc = 0.0
                    for j in range(m):
                        acc += Bs[i, j] * dxs[j]
                    z[i] = acc
                smat(z, k, I, J, wt, dZ)
                col = ci * r + cs
                for i in range(k):
                    for s in range(r):
                        acc = 0.0
                        for q in range(k):
                            acc += dZ[i, q] * R[q, s]
                        if s == cs:
                            acc += Z[i, ci]
                        Jm[i * r + s, col] = acc
        N = np.empty((nv, nv))
        rhs = np.empty(nv)
        scale = 0.0
        for p in range(nv):
            acc = 0.0
            for q in range(nv):
                acc += Jm[q, p] * F[q]
            rhs[p] = -acc
            for c2 in range(nv):
                acc = 0.0
                for q in range(nv):
                    acc += Jm[q, p] * Jm[q, c2]
                N[p, c2] = acc
            scale = max(scale, N[p, p])
        if not scale > 0.0:
            break
        for p in range(nv):
            N[p, p] += 1e-13 * scale
        d = np.empty(nv)
        if not small_solve(N, rhs, d):
            break
        for i in range(k):
            for s in range(r):
                R[i, s] += d[i * r + s]
        _gram_svec(R, k, r, I, J, wt, dX, xs)
        res, _zmin = _comp_residual(xs, a, Bs, k, I, J, wt)
        if res < best:
            best = res
            for i in range(m):
                out[i] = xs[i]
        else:
            break
    return best


@jit
def sdcp_solve(a, Bs, k, x):
    r"""Solve :math:`\min_{X \succeq 0} \tfrac12 \langle X, B[X]\rangle + \langle \alpha, X\rangle` (any k).

    In svec form: ``a = svec(alpha)``, ``Bs`` the PSD matrix of :math:`B`.  Its optimality
    conditions are the semidefinite complementarity problem :math:`X \succeq 0`,
    :math:`Z = \alpha + B[X] \succeq 0`, :math:`\langle X, Z\rangle = 0`.  Accelerated projected
    gradient with restarts, then an exact solve on the face found (projected Newton), then
    Newton on the factored KKT system :math:`Z R = 0` (:func:`_refine_factor`): the face
    found by a rank threshold is right only to first order, and the face solve alone leaves
    errors of 1e-8 in ``X`` that the scalar test :math:`\langle X, Z\rangle \approx 0`
    cannot see.
    Returns 0 (solved), 1 (unbounded: B vanishes on a direction where alpha < 0) or
    2 (no convergence to tolerance).
    """
    m = a.shape[0]
    I, J, wt = svec_pairs(k)
    for i in range(m):
        x[i] = 0.0
    if min_eig_svec(a, k, I, J, wt) >= 0.0:
        return 0
    bl = np.empty(m)
    Vb = np.empty((m, m))
    small_eigh(Bs, bl, Vb)
    L = bl[m - 1]
    na = math.sqrt(_dot(a, a))
    if not L > 1e-14 * max(na, 1e-300) or not L > 0.0:
        return 1
    if m == 1:
        x[0] = max(0.0, -a[0] / Bs[0, 0]) if Bs[0, 0] > 1e-14 * L else 0.0
        return 0 if Bs[0, 0] > 1e-14 * L else 1
    z = np.zeros(m)
    xo = np.zeros(m)
    gr = np.empty(m)
    xn = np.empty(m)
    tk = 1.0
    big = 1e12 * (1.0 + na / L)
    for it in range(20000):
        for i in range(m):
            acc = a[i]
            for j in range(m):
                acc += Bs[i, j] * z[j]
            gr[i] = z[i] - acc / L
        psd_project(gr, k, I, J, wt, xn)
        # adaptive restart (O'Donoghue & Candes): gradient step disagrees with momentum
        d = 0.0
        for i in range(m):
            acc = a[i]
            for j in range(m):
                acc += Bs[i, j] * z[j]
            d += acc * (xn[i] - xo[i])
        tn = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
        mom = (tk - 1.0) / tn
        if d > 0.0:
            tn = 1.0
            mom = 0.0
        diff = 0.0
        nx = 0.0
        for i in range(m):
            diff += (xn[i] - xo[i]) ** 2
            nx += xn[i] ** 2
            z[i] = xn[i] + mom * (xn[i] - xo[i])
            xo[i] = xn[i]
        tk = tn
        if nx > big * big:
            return 1
        if it % 25 == 24 or diff <= 1e-30 * (1.0 + nx):
            if _polish(xo, a, Bs, k, I, J, wt, x):
                for i in range(m):
                    xn[i] = x[i]
                _refine_factor(xn, a, Bs, k, I, J, wt, x)
                return 0
            if diff <= 1e-30 * (1.0 + nx):
                break
    zmin, _xmin, comp = _kkt(xo, a, Bs, k, I, J, wt)
    for i in range(m):
        x[i] = xo[i]
    tol = 1e-8 * (na + L * math.sqrt(_dot(xo, xo)))
    if zmin < -tol or comp > tol * (1.0 + math.sqrt(_dot(xo, xo))):
        return 2
    return 0


FUNCTIONS = (
    "_dot",
    "eigh12",
    "jacobi_eigh",
    "small_eigh",
    "small_solve",
    "svec_pairs",
    "smat",
    "svec",
    "psd_project",
    "min_eig_svec",
    "_affine",
    "_face_rank",
    "_gram_svec",
    "_kkt",
    "_polish",
    "_comp_residual",
    "_refine_factor",
    "sdcp_solve",
)
