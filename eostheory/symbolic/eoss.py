r"""Mean-square stability of mini-batch SGD with heavy-ball momentum, for every batch size.

**One direction.**  Along one direction the error of SGD with heavy-ball momentum
(PyTorch's ``v = βv + g; w -= ηv``) on a quadratic with a fresh random curvature
:math:`h_t` each step obeys

.. math::  x_{t+1} = (1 + \beta - \eta h_t)\, x_t - \beta x_{t-1},

with :math:`h_t` i.i.d., :math:`E h = a`, :math:`E h^2 = m_2`.  The second moments
:math:`(u, c, r) = (E x_t^2, E x_t x_{t-1}, E x_{t-1}^2)` follow the 3×3 linear map of
:func:`moment_map`,

.. math::
    u' = (p^2 - 2p\eta a + \eta^2 m_2)\,u - 2\beta(p - \eta a)\,c + \beta^2 r,\quad
    c' = (p - \eta a)\,u - \beta c,\quad r' = u, \qquad p = 1 + \beta,

which loses stability (its Perron root crosses 1) where :math:`\det(I - M) = 0`:

.. math::  \frac{m_2}{a} = \frac{2(1-\beta)}{\eta} + \frac{2\beta a}{1+\beta}.

Writing :math:`m_2 = a^2(1+\kappa)` (:math:`\kappa` the relative variance of the
curvature) the boundary gives the critical mean curvature and the critical
:math:`m_2/a`,

.. math::
    \frac{\eta a^*}{2} = \frac{1-\beta}{1+\kappa - \frac{2\beta}{1+\beta}},\qquad
    \frac{\eta}{2}\frac{m_2}{a}\Big|^* = \frac{(1-\beta)(1+\kappa)}{1+\kappa-\frac{2\beta}{1+\beta}},

which runs from :math:`1+\beta` (no noise, :math:`\kappa = 0`) to :math:`1-\beta`
(:math:`\kappa\to\infty`), crossing the midpoint 1 at :math:`\kappa^* = (1-\beta)/(1+\beta)`.

**Batches drawn without replacement.**  If the per-example curvatures along the
direction are :math:`c_1, \dots, c_n` (mean :math:`a`, population variance
:math:`\sigma^2`) and a batch of :math:`B` distinct examples is drawn uniformly,
:math:`h = \frac1B\sum_{i\in\mathcal B} c_i` has mean :math:`a` and variance
:math:`\sigma^2 \frac{n-B}{B(n-1)}` (the finite-population correction; derived in
:func:`sampling_moments` from the inclusion probabilities :math:`B/n` and
:math:`B(B-1)/(n(n-1))`).  So :math:`\kappa(B) = \kappa_1 \frac{n-B}{B(n-1)}` with
:math:`\kappa_1 = \sigma^2/a^2`: one measurement of the per-example curvatures at the
current state predicts the plateau for every batch size (:func:`predicted_plateau`).

**All directions at once (linear regression).**  For over-parameterised least squares
the batch Hessian :math:`H_B = \frac1B\sum_{i\in\mathcal B} z_i z_i^\top` is a random
matrix, and the exact second moments of :math:`(e_t, e_{t-1})` follow a linear map on
matrices that uses :math:`E[H_B X H_B] = c_1(B,n)\,\frac1n\sum_i z_i z_i^\top X z_i z_i^\top
+ c_2(B,n)\, H X H` with :math:`c_1 = \frac{n-B}{B(n-1)}`, :math:`c_2 = \frac{n(B-1)}{B(n-1)}`
(derived in :func:`sampling_moments`).  :func:`critical_eta_exact` finds where its Perron
root crosses 1; :func:`critical_eta_simulated` finds the same boundary by simulating
mini-batch heavy-ball SGD and measuring the growth of :math:`E\|e\|^2` over many runs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError

__all__ = [
    "HeavyBallMoments",
    "SamplingMoments",
    "batch_variance_factor",
    "binding_direction",
    "critical_eta_exact",
    "critical_eta_one_direction",
    "critical_eta_simulated",
    "crossover_batch_size",
    "mean_square_growth",
    "moment_map",
    "moment_radius",
    "per_example_statistics",
    "predicted_plateau",
    "row_space",
    "sampling_moments",
    "state_crossover",
]

ETA, BETA = sp.symbols("eta beta", positive=True)
A, M2, KAPPA = sp.symbols("a m2 kappa", positive=True)
N, BSZ = sp.symbols("n B", positive=True, integer=True)


@dataclass(frozen=True)
class HeavyBallMoments:
    r"""The one-direction second-moment map of heavy-ball SGD and its boundary (sympy).

    Attributes:
        matrix: the 3×3 map on :math:`(E x_t^2, E x_t x_{t-1}, E x_{t-1}^2)` in ``a``, ``m2``.
        determinant: :math:`\det(I - M)` (factored).
        critical_ratio: :math:`m_2/a` on the boundary, a function of :math:`a`.
        critical_eta: :math:`\eta^*(a, m_2)`.
        critical_mean: :math:`\eta a^*/2` as a function of :math:`\kappa`.
        plateau_ratio: :math:`\tfrac{\eta}{2}\, m_2/a` on the boundary, a function of :math:`\kappa`.
        crossover_kappa: :math:`\kappa` where ``plateau_ratio`` is 1 (halfway between :math:`1\pm\beta`).
    """

    matrix: sp.Matrix
    determinant: sp.Expr
    critical_ratio: sp.Expr
    critical_eta: sp.Expr
    critical_mean: sp.Expr
    plateau_ratio: sp.Expr
    crossover_kappa: sp.Expr

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready strings."""
        return {
            "model": "x_{t+1} = (1+beta-eta*h_t) x_t - beta x_{t-1}, E h = a, E h^2 = m2",
            "second_moments": ["E[x_t^2]", "E[x_t x_{t-1}]", "E[x_{t-1}^2]"],
            "moment_map": [[str(x) for x in self.matrix.row(i)] for i in range(3)],
            "boundary": f"m2/a = {self.critical_ratio}",
            "critical_eta": str(self.critical_eta),
            "critical_mean_eta_a_over_2": str(self.critical_mean),
            "plateau_ratio_eta_over_2_m2_over_a": str(self.plateau_ratio),
            "crossover_kappa": str(self.crossover_kappa),
        }


@lru_cache(maxsize=1)
def moment_map() -> HeavyBallMoments:
    r"""Derive the 3×3 second-moment map of :math:`x_{t+1} = (1+\beta-\eta h_t)x_t - \beta x_{t-1}`.

    Expands :math:`E[x_{t+1}^2]` and :math:`E[x_{t+1}x_t]` with :math:`h_t` independent
    of :math:`(x_t, x_{t-1})`, solves :math:`\det(I - M) = 0` (affine in :math:`m_2`)
    for the boundary, and rewrites it with :math:`m_2 = a^2(1+\kappa)`.

    Examples:
        >>> r = moment_map()
        >>> sp.simplify(r.critical_ratio - (2 * (1 - BETA) / ETA + 2 * BETA * A / (1 + BETA)))
        0
        >>> [sp.factor(r.plateau_ratio.subs(KAPPA, 0)), sp.factor(sp.limit(r.plateau_ratio, KAPPA, sp.oo))]
        [beta + 1, 1 - beta]
    """
    x0, x1, h = sp.symbols("x0 x1 h")  # x_t, x_{t-1}, h_t
    p = 1 + BETA
    xn = (p - ETA * h) * x0 - BETA * x1
    mom = {sp.Integer(0): 1, h: A, h**2: M2}
    basis = [x0**2, x0 * x1, x1**2]

    def expect(expr: sp.Expr) -> list[sp.Expr]:
        poly = sp.Poly(sp.expand(expr), h, x0, x1)
        row = [sp.Integer(0)] * 3
        for (kh, k0, k1), coef in poly.terms():
            j = basis.index(x0**k0 * x1**k1)
            row[j] += coef * mom[h**kh if kh else sp.Integer(0)]
        return [sp.expand(r) for r in row]

    M = sp.Matrix([expect(xn**2), expect(xn * x0), [1, 0, 0]])
    det = sp.factor((sp.eye(3) - M).det())
    (m2_crit,) = sp.solve(det, M2)
    ratio = sp.apart(sp.cancel(m2_crit / A), A)
    eta_crit = sp.factor(sp.solve(sp.Eq(M2 / A, ratio), ETA)[0])
    a_crit = sp.solve(sp.Eq(A * (1 + KAPPA), ratio), A)[0]
    mean = sp.simplify(ETA * a_crit / 2)
    plateau = sp.simplify(mean * (1 + KAPPA))
    (k_cross,) = sp.solve(sp.Eq(plateau, 1), KAPPA)
    return HeavyBallMoments(M, det, ratio, eta_crit, mean, plateau, sp.factor(k_cross))


@dataclass(frozen=True)
class SamplingMoments:
    r"""Moments of a batch mean drawn without replacement (sympy, in ``n`` and ``B``).

    Attributes:
        variance_factor: :math:`\mathrm{Var}(h_B)/\sigma^2 = (n-B)/(B(n-1))`.
        c1, c2: coefficients of :math:`\frac1n\sum_i A_i X A_i` and :math:`H X H` in
            :math:`E[H_B X H_B]` (:math:`c_1 = ` ``variance_factor``).
    """

    variance_factor: sp.Expr
    c1: sp.Expr
    c2: sp.Expr


@lru_cache(maxsize=1)
def sampling_moments() -> SamplingMoments:
    r"""Derive the finite-population moments of a batch of :math:`B` of :math:`n` examples.

    With :math:`P(i\in\mathcal B) = B/n` and :math:`P(i,j\in\mathcal B) = B(B-1)/(n(n-1))`
    (:math:`i\ne j`), for any per-example matrices :math:`A_i` (or scalars),
    :math:`E[A_{\mathcal B} X A_{\mathcal B}] = \frac{1}{B^2}\big[\frac Bn S_1 +
    \frac{B(B-1)}{n(n-1)}(n^2 H X H - S_1)\big]`, :math:`S_1 = \sum_i A_i X A_i`,
    :math:`H = \frac1n\sum_i A_i`.  The scalar case gives the variance.

    Examples:
        >>> s = sampling_moments()
        >>> sp.simplify(s.variance_factor - (N - BSZ) / (BSZ * (N - 1)))
        0
    """
    p1 = BSZ / N
    p2 = BSZ * (BSZ - 1) / (N * (N - 1))
    s1, hxh = sp.symbols("S1 HXH")  # sum_i A_i X A_i and H X H (n^2 H X H = sum_{i,j} A_i X A_j)
    e = (p1 * s1 + p2 * (N**2 * hxh - s1)) / BSZ**2
    e = sp.expand(e)
    c1 = sp.factor(e.coeff(s1) * N)  # per (1/n) S1
    c2 = sp.factor(e.coeff(hxh))
    # scalar check of the same algebra: E[h^2] - a^2 = c1 * sigma^2 where sigma^2 = S2/n - a^2
    a, s2 = sp.symbols("abar S2")
    var = sp.expand(c1 * s2 / N + c2 * a**2 - a**2)
    vf = sp.factor(sp.cancel(var.coeff(s2) * N))
    assert sp.simplify(var - vf * (s2 / N - a**2)) == 0
    return SamplingMoments(vf, c1, c2)


def _hb(eta: float, beta: float) -> tuple[float, float]:
    if not (isinstance(eta, (int, float)) and math.isfinite(eta) and eta > 0):
        raise EosInputError(f"eta must be a positive number, got {eta}")
    if not (isinstance(beta, (int, float)) and 0 <= beta < 1):
        raise EosInputError(f"beta must be in [0, 1), got {beta}")
    return float(eta), float(beta)


def _batch(batch_size: int, n: int) -> tuple[int, int]:
    if int(n) != n or n < 1:
        raise EosInputError(f"n must be a positive integer, got {n}")
    if int(batch_size) != batch_size or not 1 <= batch_size <= n:
        raise EosInputError(f"batch size must be an integer in [1, n={n}], got {batch_size}")
    return int(batch_size), int(n)


def batch_variance_factor(batch_size: int, n: int) -> float:
    r""":math:`(n-B)/(B(n-1))`: the variance of a batch mean over the per-example variance (1 when n = 1)."""
    b, n = _batch(batch_size, n)
    return 1.0 if n == 1 else (n - b) / (b * (n - 1))


@lru_cache(maxsize=1)
def _plateau_fn() -> Callable[..., Any]:
    r = moment_map()
    return sp.lambdify((KAPPA, BETA), (r.critical_mean, r.plateau_ratio), modules="math")


def predicted_plateau(kappa1: float, eta: float, beta: float, batch_size: int, n: int) -> dict[str, float]:
    r"""The mean-square boundary for batch size ``B`` from the per-example relative variance ``kappa1``.

    :math:`\kappa = \kappa_1 (n-B)/(B(n-1))`; returns the critical mean curvature
    :math:`a^*` (the top-eigenvalue plateau when the direction is the top eigenvector),
    the critical :math:`m_2/a` (the Batch-Sharpness plateau under the one-direction
    model) and both times :math:`\eta/2`.

    Examples:
        >>> round(predicted_plateau(0.0, 0.1, 0.9, 8, 64)["ratio_m2_over_a"], 12)  # no noise: 1 + beta
        1.9
    """
    eta, beta = _hb(eta, beta)
    if not (math.isfinite(kappa1) and kappa1 >= 0):
        raise EosInputError(f"kappa1 must be a non-negative number, got {kappa1}")
    k = kappa1 * batch_variance_factor(batch_size, n)
    mean, plat = _plateau_fn()(k, beta)
    return {
        "kappa": k,
        "ratio_mean": float(mean),
        "ratio_m2_over_a": float(plat),
        "mean": 2 * float(mean) / eta,
        "m2_over_a": 2 * float(plat) / eta,
    }


def crossover_batch_size(kappa1: float, beta: float, n: int) -> float:
    r"""Batch size where the predicted :math:`\tfrac\eta2 m_2/a` is 1 (halfway between :math:`1\pm\beta`).

    Solves :math:`\kappa_1 (n-B)/(B(n-1)) = (1-\beta)/(1+\beta)`:
    :math:`B^* = n\kappa_1/(\kappa^*(n-1) + \kappa_1)` (a real number; ``nan`` for β = 0).
    """
    if not 0 <= beta < 1:
        raise EosInputError(f"beta must be in [0, 1), got {beta}")
    if beta == 0 or n < 2:
        return math.nan
    ks = (1 - beta) / (1 + beta)
    return n * kappa1 / (ks * (n - 1) + kappa1)


def per_example_statistics(c: Any) -> dict[str, float]:
    r"""Mean :math:`a`, population variance :math:`\sigma^2` and :math:`\kappa_1 = \sigma^2/a^2` of curvatures."""
    arr = np.asarray(c, dtype=float).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise EosInputError("per-example curvatures must be a non-empty array of finite numbers")
    a = float(arr.mean())
    if not a > 0:
        raise EosInputError(f"the mean per-example curvature must be positive, got {a}")
    var = float(arr.var())
    return {"a": a, "variance": var, "kappa1": var / a**2, "n": int(arr.size)}


def critical_eta_one_direction(c: Any, beta: float, batch_size: int) -> float:
    r"""Critical :math:`\eta` of the one-direction model with per-example curvatures ``c`` and batches of ``B``.

    :math:`\eta^* = 2(1-\beta)/(m_2/a - 2\beta a/(1+\beta))`, :math:`m_2 = a^2 + \sigma^2 (n-B)/(B(n-1))`.
    """
    s = per_example_statistics(c)
    _, beta = _hb(1.0, beta)
    m2 = s["a"] ** 2 + s["variance"] * batch_variance_factor(batch_size, s["n"])
    return 2 * (1 - beta) / (m2 / s["a"] - 2 * beta * s["a"] / (1 + beta))


def binding_direction(curvatures: Any, eta: float, beta: float, batch_size: int, lam_max: float) -> dict[str, Any]:
    r"""The one-direction model over several candidate directions: which binds, and the predicted plateaus.

    ``curvatures[k, i]`` is the curvature :math:`v_k^\top H_i v_k` of example :math:`i`
    along candidate direction :math:`v_k`.  If training scales all curvatures by a common
    factor :math:`s` (progressive sharpening at a fixed shape), direction :math:`k` reaches
    the mean-square boundary at

    .. math:: s_k^* = \frac{2(1-\beta)}{\eta\,\big(m_{2,k}/a_k - 2\beta a_k/(1+\beta)\big)},

    and the direction with the smallest :math:`s_k^*` binds.  At that scale the predicted
    plateaus are :math:`s^*\lambda_{\max}` for the top eigenvalue and
    :math:`s^* m_{2,k}/a_k` for the batch curvature along the binding direction (the
    quantity Batch Sharpness estimates when per-example Hessians are close to rank one).

    Args:
        curvatures: array ``(directions, n)`` of per-example curvatures.
        eta, beta: the run's learning rate and momentum.
        batch_size: B (<= n); ``lam_max``: the top Hessian eigenvalue at the same state.

    Returns:
        ``{"index", "scale", "lam_max", "m2_over_a", "ratio_lam", "ratio_m2_over_a", "kappa"}``
        (the ratios are the plateaus times :math:`\eta/2`).
    """
    eta, beta = _hb(eta, beta)
    C = np.atleast_2d(np.asarray(curvatures, dtype=float))
    if C.size == 0 or not np.all(np.isfinite(C)):
        raise EosInputError("curvatures must be a non-empty finite array (directions x examples)")
    b, n = _batch(batch_size, C.shape[1])
    a = C.mean(axis=1)
    if not np.all(a > 0):
        raise EosInputError("every candidate direction needs a positive mean curvature")
    m2 = a**2 + C.var(axis=1) * batch_variance_factor(b, n)
    denom = m2 / a - 2 * beta * a / (1 + beta)
    scale = 2 * (1 - beta) / (eta * denom)
    k = int(np.argmin(scale))
    s = float(scale[k])
    return {
        "index": k,
        "scale": s,
        "kappa": float(m2[k] / a[k] ** 2 - 1),
        "lam_max": s * float(lam_max),
        "m2_over_a": s * float(m2[k] / a[k]),
        "ratio_lam": s * float(lam_max) * eta / 2,
        "ratio_m2_over_a": s * float(m2[k] / a[k]) * eta / 2,
    }


def state_crossover(curvatures: Any, beta: float) -> dict[str, Any]:
    r"""The predicted plateau curve over every batch size from **one** state, and where it rises through 1.

    :func:`binding_direction` at :math:`B = 1, \dots, n` on the same per-example curvatures
    ``curvatures[k, i]`` (directions × examples).  The plateaus times :math:`\eta/2` do not
    depend on :math:`\eta` (the critical scale is :math:`\propto 1/\eta`), so one
    measurement gives the whole curve

    .. math:: r(B) = \frac{(1-\beta)(1+\kappa_{k(B)}(B))}{1+\kappa_{k(B)}(B)-\frac{2\beta}{1+\beta}},
              \qquad \kappa_k(B) = \kappa_{1,k}\,\frac{n-B}{B(n-1)},

    with :math:`k(B)` the binding direction at :math:`B`.  ``crossover`` is the first
    :math:`B^*` where :math:`r` reaches 1: the closed form :math:`n\kappa_1/(\kappa^*(n-1)+\kappa_1)`
    of :func:`crossover_batch_size` for the direction that binds there when it already
    binds one batch size below; else the binding direction switches across the crossing,
    where :math:`r` jumps, and ``crossover`` is the first integer :math:`B` with
    :math:`r \ge 1`.  ``nan`` for :math:`\beta = 0` (one edge) or a curve that never reaches 1.

    Returns:
        ``{"batch_size", "ratio_m2_over_a", "index", "crossover", "crossover_index"}``: the
        curve at every integer :math:`B`, its binding direction, :math:`B^*` and the
        direction binding there.
    """
    C = np.atleast_2d(np.asarray(curvatures, dtype=float))
    n = C.shape[1]
    curve = [binding_direction(C, 1.0, beta, b, 1.0) for b in range(1, n + 1)]  # validates C and beta
    ratio = [bd["ratio_m2_over_a"] for bd in curve]
    idx = [bd["index"] for bd in curve]
    out: dict[str, Any] = {
        "batch_size": list(range(1, n + 1)),
        "ratio_m2_over_a": ratio,
        "index": idx,
        "crossover": math.nan,
        "crossover_index": None,
    }
    j = next((i for i, r in enumerate(ratio) if r >= 1), None)
    if beta == 0 or j is None:
        return out
    k = idx[j]
    out["crossover_index"] = k
    if j > 0 and idx[j - 1] == k:
        out["crossover"] = crossover_batch_size(per_example_statistics(C[k])["kappa1"], beta, n)
    else:
        out["crossover"] = float(j + 1)
    return out


# --------------------------------------------------------------------------------------
# linear regression: the exact map on matrices, and simulation
# --------------------------------------------------------------------------------------
def row_space(X: Any) -> np.ndarray:
    r"""Coordinates :math:`Z = XV` of the rows of :math:`X` in an orthonormal basis :math:`V` of its row space.

    SGD on :math:`\frac1{2n}\|Xe\|^2` never moves the part of :math:`e` orthogonal to the
    rows, so stability is decided in these :math:`n` coordinates.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] < 1 or not np.all(np.isfinite(X)):
        raise EosInputError("X must be a finite 2-D array")
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    return X @ vt.T


def _operator(Z: np.ndarray, eta: float, beta: float, b: int) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    n, k = Z.shape
    s = sampling_moments()
    c1 = float(s.c1.subs({N: n, BSZ: b})) if n > 1 else 0.0
    c2 = float(s.c2.subs({N: n, BSZ: b})) if n > 1 else 1.0
    H = Z.T @ Z / n
    Mbar = (1 + beta) * np.eye(k) - eta * H
    kk = k * k

    def mv(x: np.ndarray) -> np.ndarray:
        P, Q, R = x[:kk].reshape(k, k), x[kk : 2 * kk].reshape(k, k), x[2 * kk :].reshape(k, k)
        P, R = (P + P.T) / 2, (R + R.T) / 2  # second moments are symmetric; drop spurious modes
        q = np.einsum("ki,ij,kj->k", Z, P, Z)
        ehph = c1 * (Z.T * q) @ Z / n + c2 * H @ P @ H
        Pn = (
            (1 + beta) ** 2 * P
            - eta * (1 + beta) * (H @ P + P @ H)
            + eta**2 * ehph
            - beta * (Mbar @ Q + Q.T @ Mbar)
            + beta**2 * R
        )
        Qn = Mbar @ P - beta * Q.T
        return np.concatenate([Pn.ravel(), Qn.ravel(), P.ravel()])

    return mv, 3 * kk


def moment_radius(Z: Any, eta: float, beta: float, batch_size: int) -> float:
    r"""Perron root of the exact second-moment map of mini-batch heavy-ball SGD on least squares.

    The state is :math:`(P, Q, R) = (E e_te_t^\top, E e_te_{t-1}^\top, E e_{t-1}e_{t-1}^\top)`
    in row-space coordinates ``Z`` (:func:`row_space`), :math:`\bar M = (1+\beta)I - \eta H`:

    .. math::
        P' = (1+\beta)^2P - \eta(1+\beta)(HP + PH) + \eta^2 E[H_BPH_B]
             - \beta(\bar MQ + Q^\top\bar M) + \beta^2R,\quad Q' = \bar MP - \beta Q^\top,\quad R' = P.

    The map preserves the cone of covariances, so its spectral radius is its largest
    real eigenvalue (found with ARPACK, or densely for small problems).
    """
    Z = np.asarray(Z, dtype=float)
    eta, beta = _hb(eta, beta)
    b, _ = _batch(batch_size, Z.shape[0])
    mv, dim = _operator(Z, eta, beta, b)
    if dim <= 1200:
        Mat = np.stack([mv(e) for e in np.eye(dim)], axis=1)
        return float(np.max(np.linalg.eigvals(Mat).real))
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

    op = LinearOperator((dim, dim), matvec=mv, dtype=float)
    # a seeded start (ARPACK's own is random: the same call must give the same answer), and a
    # wider Krylov space when eigenvalues crowd near the boundary and the first try stalls
    v0 = np.random.default_rng(0).standard_normal(dim)
    for ncv in (40, min(dim - 1, 160)):
        try:
            v = eigs(op, k=1, which="LR", return_eigenvectors=False, tol=1e-9, ncv=ncv, maxiter=20000, v0=v0)
            return float(v[0].real)
        except ArpackNoConvergence:
            continue
    raise RuntimeError(
        f"moment_radius: ARPACK did not converge on the {dim}-dimensional moment map "
        f"(eta={eta:g}, beta={beta:g}, B={b}); try a smaller problem (dense below 1200 dimensions)"
    )


def _one_thread() -> Any:
    """Single-threaded BLAS for the small dense products here (threads only add overhead on them)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _root(f: Callable[[float], float], guess: float, rtol: float) -> float:
    lo = hi = guess
    if f(guess) > 0:
        while f(lo) > 0:
            lo *= 0.7
        hi = lo / 0.7
    else:
        while f(hi) <= 0:
            hi *= 1.4
        lo = hi / 1.4
    while hi / lo - 1 > rtol:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if f(mid) > 0 else (mid, hi)
    return math.sqrt(lo * hi)


def critical_eta_exact(Z: Any, beta: float, batch_size: int, *, rtol: float = 1e-3) -> float:
    r"""Critical :math:`\eta` where :func:`moment_radius` crosses 1 (bracketing, then bisection to ``rtol``)."""
    Z = np.asarray(Z, dtype=float)
    _, beta = _hb(1.0, beta)
    b, n = _batch(batch_size, Z.shape[0])
    lam = float(np.linalg.eigvalsh(Z.T @ Z / n)[-1])
    guess = 2 * (1 + beta) / lam * min(1.0, 2 * b / n)
    with _one_thread():
        return _root(lambda e: moment_radius(Z, e, beta, b) - 1.0, guess, rtol)


def mean_square_growth(
    Z: Any,
    eta: float,
    beta: float,
    batch_size: int,
    *,
    runs: int = 1000,
    steps: int = 2000,
    resample_every: int = 10,
    seed: int = 0,
) -> float:
    r"""Growth rate per step of :math:`E\|(e_t, e_{t-1})\|^2` under simulated mini-batch heavy-ball SGD.

    ``runs`` independent runs of :math:`e_{t+1} = e_t - \eta(\beta v_{t-1} + H_{\mathcal B_t}e_t)`
    (batches of ``B`` distinct examples, drawn afresh each step).  The mean of
    :math:`\|\cdot\|^2` is dominated by rare runs, so a plain average over runs measures
    the typical (almost-sure) growth instead; the runs are therefore reweighted every
    ``resample_every`` steps in proportion to their squared norm and renormalised (the
    standard population / cloning estimator of :math:`\lim \frac1t\log E\|x_t\|^2`,
    unbiased for the mean at each resampling).  The rate is fitted over the second half.
    """
    Z = np.asarray(Z, dtype=float)
    eta, beta = _hb(eta, beta)
    b, n = _batch(batch_size, Z.shape[0])
    rng = np.random.default_rng(seed)
    S = int(runs)
    e = rng.standard_normal((S, Z.shape[1]))
    ep = e.copy()
    nr = np.sqrt((e**2).sum(1) + (ep**2).sum(1))
    e, ep = e / nr[:, None], ep / nr[:, None]
    H = Z.T @ Z / n
    total, logs = 0.0, []
    for t in range(int(steps)):
        if b >= n:
            g = e @ H
        else:
            idx = np.argpartition(rng.random((S, n)), b - 1, axis=1)[:, :b]
            Zb = Z[idx]
            g = np.einsum("sbi,sb->si", Zb, np.einsum("sbi,si->sb", Zb, e)) / b
        e, ep = (1 + beta) * e - eta * g - beta * ep, e
        if (t + 1) % resample_every == 0:
            w = (e**2).sum(1) + (ep**2).sum(1)
            if not np.all(np.isfinite(w)):
                return math.inf
            total += math.log(float(w.mean()))
            logs.append(total)
            pick = rng.choice(S, size=S, p=w / w.sum())
            e, ep = e[pick], ep[pick]
            nr = np.sqrt(w[pick])
            e, ep = e / nr[:, None], ep / nr[:, None]
    L = np.asarray(logs)
    h = len(L) // 2
    return float((L[-1] - L[h]) / ((len(L) - 1 - h) * resample_every))


def critical_eta_simulated(
    Z: Any,
    beta: float,
    batch_size: int,
    *,
    guess: float,
    rtol: float = 0.01,
    **kw: Any,
) -> float:
    r"""Critical :math:`\eta` from simulation: bracketing around ``guess``, then bisection.

    The sign of :func:`mean_square_growth` decides each probe.

    The same seed is used at every :math:`\eta` (common random numbers), which makes the
    growth rate a smooth function of :math:`\eta` and the bisection consistent.
    """
    with _one_thread():
        return _root(lambda e: mean_square_growth(Z, e, beta, batch_size, **kw), guess, rtol)
