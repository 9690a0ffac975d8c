r"""Generalized sharpness, its exact references, and directional smoothness along a step.

**Generalized sharpness** of a norm (Islamov, Crawshaw, Cohen & Gower 2026, "Non-Euclidean
edge of stability"):

.. math:: S_{\|\cdot\|}(w) = \max_{\|d\|\le 1} d^\top \nabla^2 L(w)\, d .

For the Euclidean norm it is :math:`\lambda_{\max}`; for the :math:`\ell_{1,2}` block norm
and a positive semidefinite Hessian it is :math:`\max_b \lambda_{\max}(H_{bb})` (a convex
function is maximised at an extreme point of the ball, and the extreme points lie in one
block); for :math:`\ell_\infty` it is a maximum over the :math:`2^n` sign vectors whenever
:math:`H_{ii}\ge 0` (the form is convex in each coordinate separately), a max-cut-like
problem that is hard in general.

:func:`frank_wolfe` estimates it with one Hessian-vector product per iteration: from
:math:`d`, the oracle gives :math:`s = d(Hd)`, the steepest direction of the linearised
objective; an exact line search on :math:`d + \gamma(s - d)` reuses :math:`Hs` (the
objective is quadratic in :math:`\gamma`), so :math:`H d^+ = (1-\gamma)Hd + \gamma Hs`
needs no further product.  For a positive semidefinite :math:`H` the search always takes
:math:`\gamma = 1` (the iteration :math:`d \leftarrow d(Hd)`, a power method in the
norm).  The **Frank–Wolfe gap** :math:`\|Hd\|_* - d^\top Hd \ge 0` vanishes exactly at a
stationary point of the problem: it certifies stationarity, not global optimality, so
several restarts (random extreme points, a warm start, the gradient's direction) are run
and the best value kept.

**Thresholds.**  On the quadratic model :math:`L(w+\Delta) = L + \langle g,\Delta\rangle +
\tfrac12\Delta^\top H\Delta`, the unnormalized step :math:`\Delta = -\eta\|g\|_* d`,
:math:`\|d\|=1`, :math:`\langle g, d\rangle = \|g\|_*` changes the loss by

.. math:: \Delta L = -\eta\Big(1 - \frac{\eta}{2}\, d^\top H d\Big)\|g\|_*^2 ,

so the loss falls iff the curvature along the step :math:`d^\top Hd < 2/\eta`.  If
:math:`S < 2/\eta` every step decreases the loss.  If :math:`S > 2/\eta`, take a maximiser
:math:`d^\star`: stationarity gives :math:`Hd^\star = S\, s` with :math:`s` a subgradient of
the norm at :math:`d^\star`, so (generically) :math:`d(Hd^\star) = d^\star` and
:math:`\|Hd^\star\|_* = S`; from :math:`w = a d^\star` the iterates stay on that ray,
:math:`a \mapsto (1-\eta S)a`, and diverge.  Hence the minimum of a quadratic is stable
under unnormalized steepest descent iff :math:`S < 2/\eta` — Euclidean GD's
:math:`\lambda_{\max} < 2/\eta` in any norm.  The normalized step
:math:`\Delta = -\eta d` gives :math:`\Delta L = -\eta\|g\|_* + \tfrac{\eta^2}2 d^\top Hd`:
the loss falls iff :math:`d^\top Hd/\|g\|_* < 2/\eta`; on the ray above it settles on the
2-cycle :math:`a = \pm\eta/2`, where :math:`S/\|g\|_* = 2/\eta` exactly.

**Directional smoothness** (Mishkin, Khaled, Wang, Defazio & Gower 2024, "Directional
smoothness and gradient methods: convergence and adaptivity"): a function :math:`M(x, y)`
with :math:`L(y) \le L(x) + \langle\nabla L(x), y-x\rangle + \tfrac{M(x,y)}2\|y-x\|^2`; see
:func:`step_smoothness` for the point-wise :math:`D`, path-wise :math:`A` and optimal
:math:`H` along an actual step.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.geometry import _xp as xp
from eostheory.geometry._norms import Combined, Geometry, L1Block, L2Block, LinfBlock, SpectralBlock

__all__ = [
    "SharpnessEstimate",
    "check_norm",
    "exact_sharpness",
    "frank_wolfe",
    "spectral_2x2_sharpness",
    "step_smoothness",
]


@dataclass
class SharpnessEstimate:
    """The result of :func:`frank_wolfe`.

    Attributes:
        value: the best :math:`d^\\top H d` found (a lower bound on :math:`S`).
        direction: its :math:`d` (flat, on the input's backend).
        gap: its Frank–Wolfe gap :math:`\\|Hd\\|_* - d^\\top Hd` (0 at a stationary point).
        n_hvp: Hessian-vector products used.
        converged: whether the best restart reached ``gap <= tol * |value|``.
        values: the value of each restart.
    """

    value: float
    direction: Any
    gap: float
    n_hvp: int
    converged: bool
    values: list[float] = field(default_factory=list)

    @property
    def relative_gap(self) -> float:
        return self.gap / abs(self.value) if self.value else math.inf


def _fw_one(hvp: Callable[[Any], Any], geo: Geometry, d: Any, iters: int, tol: float) -> tuple[float, Any, float, int]:
    hd = hvp(d)
    f = float(xp.dot(d, hd))
    n = 1
    gap = math.inf
    for _ in range(iters):
        s = geo.lmo(hd)
        dual = float(xp.dot(s, hd))  # = ||Hd||_* for an exact oracle
        gap = dual - f
        if gap <= tol * max(abs(f), 1e-300):
            break
        hs = hvp(s)
        n += 1
        shs = float(xp.dot(s, hs))
        c = shs - 2 * dual + f  # (s-d)^T H (s-d)
        gamma = 1.0 if c >= 0 else min(1.0, gap / -c)
        if gamma == 1.0:
            d, hd, f = s, hs, shs
        else:
            d = d + gamma * (s - d)
            hd = hd + gamma * (hs - hd)
            f = f + 2 * gamma * gap + gamma * gamma * c
    else:
        s = geo.lmo(hd)
        gap = float(xp.dot(s, hd)) - f
    return f, d, max(gap, 0.0), n


def frank_wolfe(
    hvp: Callable[[Any], Any],
    geo: Geometry,
    *,
    like: Any,
    restarts: int = 4,
    iters: int = 50,
    tol: float = 1e-10,
    starts: Sequence[Any] = (),
    rng: Any = None,
) -> SharpnessEstimate:
    r"""Generalized sharpness :math:`\max_{\|d\|\le1} d^\top Hd` by multi-restart Frank–Wolfe.

    Args:
        hvp: :math:`v \mapsto Hv` on flat vectors (numpy or torch).
        geo: the norm (:class:`~eostheory.geometry.Geometry`).
        like: a flat vector of the right size, device and dtype (for random starts).
        restarts: random starts, each the steepest direction of a Gaussian vector (an
            extreme point of the ball), on top of ``starts``.
        iters: iterations per start (one Hessian-vector product each).
        tol: stop a start when the gap is at most ``tol * |value|``.
        starts: further starting directions (a warm start, the gradient), each passed
            through the oracle first so it is an extreme point of the ball.
        rng: a numpy ``Generator`` (numpy) or a CPU ``torch.Generator`` (torch); default seeded 0.

    Returns:
        :class:`SharpnessEstimate` (the best start).

    Examples:
        >>> from eostheory.geometry import get_norm, Layout
        >>> H = np.array([[2.0, 1.0], [1.0, 1.0]])
        >>> est = frank_wolfe(lambda v: H @ v, get_norm("linf").bind(Layout.flat(2)), like=np.zeros(2))
        >>> est.value, est.gap  # (1, 1) H (1, 1) = 5, the largest over the four sign vectors
        (5.0, 0.0)
    """
    if rng is None:
        if xp.is_torch(like):
            rng = xp._torch().Generator(device="cpu").manual_seed(0)
        else:
            rng = np.random.default_rng(0)
    d0s = [geo.lmo(s) for s in starts] + [geo.lmo(xp.randn_like(like, rng)) for _ in range(int(restarts))]
    if not d0s:
        raise EosInputError("frank_wolfe needs at least one start (restarts >= 1 or starts)")
    best: tuple[float, Any, float] | None = None
    total, values, conv = 0, [], False
    for d0 in d0s:
        if float(geo.norm(d0)) == 0:
            continue
        f, d, gap, n = _fw_one(hvp, geo, d0, int(iters), float(tol))
        total += n
        values.append(f)
        if best is None or f > best[0]:
            best = (f, d, gap)
            conv = gap <= tol * max(abs(f), 1e-300)
    if best is None:
        raise EosInputError("every start of frank_wolfe was the zero vector")
    return SharpnessEstimate(best[0], best[1], best[2], total, conv, values)


# ----------------------------------------------------------------------------- exact references


def _blocks_and_scales(geo: Geometry) -> tuple[Combined, list[Any], list[float]]:
    nm = geo.norm_
    if not isinstance(nm, Combined):
        raise EosInputError(f"no exact reference for the norm {nm.name!r}; use frank_wolfe")
    k = len(geo.layout.shapes)
    parts = [nm.parts] * k if not isinstance(nm.parts, tuple) else list(nm.parts)
    scales = [nm.scales] * k if isinstance(nm.scales, float) else list(nm.scales)
    return nm, parts, scales


def _block_index(geo: Geometry) -> list[np.ndarray]:
    n = geo.layout.n
    return [np.asarray(b, dtype=np.intp).reshape(-1) for b in geo.layout.split(np.arange(n))]


def _psd(h: np.ndarray) -> bool:
    ev = np.linalg.eigvalsh(h)
    return bool(ev[0] >= -1e-12 * max(1.0, abs(ev[-1])))


#: Largest n for which :func:`exact_sharpness` enumerates the 2^n vertices of an l-inf ball.
ENUMERATE_MAX = 20


def exact_sharpness(h: Any, geo: Geometry) -> float:
    r"""The exact generalized sharpness :math:`\max_{\|d\|\le1} d^\top Hd` of a dense symmetric ``h``.

    - Euclidean (``l2`` reduction of :math:`\ell_2` blocks, scales :math:`s_b`):
      :math:`\lambda_{\max}(SHS)^+`, :math:`S = \operatorname{diag}(s)`;
    - ``block`` (``sum`` of :math:`\ell_2` blocks), :math:`H \succeq 0`: :math:`\max_b s_b^2\lambda_{\max}(H_{bb})`;
    - ``l1`` (``sum`` of :math:`\ell_1` blocks), :math:`H \succeq 0`: :math:`\max_i s_i^2 H_{ii}`;
    - ``linf`` (``max`` of :math:`\ell_\infty` blocks), :math:`H_{ii}\ge0`, :math:`n \le` :data:`ENUMERATE_MAX`:
      the largest :math:`v^\top Hv` over the :math:`2^n` vertices :math:`v_i = \pm s_i`; with a
      negative :math:`H_{ii}` and :math:`n \le` :data:`KKT_MAX`: the largest value over the
      :math:`3^n` KKT patterns (each coordinate at :math:`\pm s_i` or free and stationary);
    - ``spectral`` with one 2x2 matrix block: :func:`spectral_2x2_sharpness`.

    Raises:
        EosInputError: no exact reference for this norm, size or Hessian (the message says why).
    """
    h = np.asarray(h.detach().cpu() if xp.is_torch(h) else h, dtype=np.float64)
    n = geo.layout.n
    if h.shape != (n, n):
        raise EosInputError(f"the Hessian is {h.shape}, the geometry has {n} parameters")
    h = 0.5 * (h + h.T)
    nm, parts, scales = _blocks_and_scales(geo)
    idx = _block_index(geo)
    svec = np.zeros(n)
    for ix, s in zip(idx, scales, strict=True):
        svec[ix] = s
    kinds = {type(p) for p in parts}
    if kinds == {L2Block} and nm.reduce == "l2":
        return max(float(np.linalg.eigvalsh(svec[:, None] * h * svec[None, :])[-1]), 0.0)
    if kinds == {L2Block} and nm.reduce == "sum":
        if not _psd(h):
            raise EosInputError("the block-norm reference max_b lambda_max(H_bb) is exact only for a PSD Hessian")
        return max(
            s * s * max(float(np.linalg.eigvalsh(h[np.ix_(ix, ix)])[-1]), 0.0)
            for ix, s in zip(idx, scales, strict=True)
        )
    if kinds == {L1Block} and nm.reduce == "sum":
        if not _psd(h):
            raise EosInputError("the l1 reference max_i H_ii is exact only for a PSD Hessian")
        return max(float(np.max(svec**2 * np.diag(h))), 0.0)
    if kinds == {LinfBlock} and nm.reduce == "max":
        if n > ENUMERATE_MAX:
            raise EosInputError(f"enumerating the 2^{n} vertices of the l-inf ball is limited to n <= {ENUMERATE_MAX}")
        hs = svec[:, None] * h * svec[None, :]
        if np.any(np.diag(h) < 0):
            if n > KKT_MAX:
                raise EosInputError(
                    "with a negative H_ii the l-inf reference enumerates the 3^n KKT patterns, "
                    f"limited to n <= {KKT_MAX}"
                )
            return max(_box_kkt_max(hs), 0.0)
        best = -math.inf
        # the form is even in v: fix v_0 = +1 and enumerate the rest in chunks
        m = n - 1
        for start in range(0, 2**m, 4096):
            k = np.arange(start, min(2**m, start + 4096))
            bits = ((k[:, None] >> np.arange(m)[None, :]) & 1) * 2.0 - 1.0
            v = np.hstack([np.ones((len(k), 1)), bits])
            best = max(best, float(np.max(np.einsum("ki,ij,kj->k", v, hs, v))))
        return max(best, 0.0)
    if kinds == {SpectralBlock} and nm.reduce == "max" and len(parts) == 1 and geo.layout.shapes[0] == (2, 2):
        return scales[0] ** 2 * spectral_2x2_sharpness(h)
    raise EosInputError(f"no exact reference for the norm {nm.name!r} on this layout; use frank_wolfe")


#: Largest n for the KKT enumeration of :func:`exact_sharpness` (l-inf with a negative diagonal entry).
KKT_MAX = 12


def _box_kkt_max(h: np.ndarray) -> float:
    r""":math:`\max_{\|v\|_\infty\le1} v^\top Hv` for any symmetric ``h`` by enumerating KKT points.

    At a maximiser every coordinate is at a bound (:math:`\pm1`) or free with
    :math:`(Hv)_i = 0`; for each free set :math:`F` and signs on the rest, the free part
    solves :math:`H_{FF}v_F = -H_{FB}v_B`.  The largest value over the feasible candidates
    (which include the maximiser, for a non-singular :math:`H_{FF}`) is the maximum.
    """
    n = h.shape[0]
    best = -math.inf
    for mask in range(2**n):
        free = np.array([i for i in range(n) if mask >> i & 1], dtype=np.intp)
        bound = np.array([i for i in range(n) if not mask >> i & 1], dtype=np.intp)
        nb = len(bound)
        signs = ((np.arange(2**nb)[:, None] >> np.arange(nb)[None, :]) & 1) * 2.0 - 1.0 if nb else np.zeros((1, 0))
        v = np.zeros((signs.shape[0], n))
        v[:, bound] = signs
        if len(free):
            hff = h[np.ix_(free, free)]
            if abs(np.linalg.det(hff)) < 1e-14:
                continue
            v[:, free] = -np.linalg.solve(hff, h[np.ix_(free, bound)] @ signs.T).T
            ok = np.all(np.abs(v[:, free]) <= 1 + 1e-12, axis=1)
            v = v[ok]
            if not len(v):
                continue
        best = max(best, float(np.max(np.einsum("ki,ij,kj->k", v, h, v))))
    return best


def spectral_2x2_sharpness(h: np.ndarray, grid: int = 2048) -> float:
    r""":math:`\max_{\|D\|_{op}\le1} \operatorname{vec}(D)^\top H \operatorname{vec}(D)` for a 2x2 matrix.

    Needs :math:`H \succeq 0`.

    A convex function on the spectral-norm ball is maximised at an extreme point, an
    orthogonal matrix: a rotation :math:`R_\theta` or a reflection.  Both families are
    scanned on a grid of ``grid`` angles and each best angle refined by golden-section
    search (the objective is a trigonometric polynomial of degree 2 in :math:`\theta`).

    Raises:
        EosInputError: ``h`` not 4x4 or not PSD.
    """
    h = np.asarray(h, dtype=np.float64)
    if h.shape != (4, 4):
        raise EosInputError(f"a 2x2 spectral reference needs a 4x4 Hessian, got {h.shape}")
    if not _psd(h):
        raise EosInputError("the spectral reference (extreme points are orthogonal matrices) needs a PSD Hessian")

    def fam(theta: np.ndarray, refl: bool) -> np.ndarray:
        c, s = np.cos(theta), np.sin(theta)
        return np.stack([c, -s, s, c], -1) if not refl else np.stack([c, s, s, -c], -1)

    def val(theta: np.ndarray, refl: bool) -> np.ndarray:
        v = fam(np.atleast_1d(theta), refl)
        return np.einsum("ki,ij,kj->k", v, h, v)

    best = -math.inf
    th = np.linspace(0, 2 * np.pi, grid, endpoint=False)
    step = 2 * np.pi / grid
    for refl in (False, True):
        vals = val(th, refl)
        i = int(np.argmax(vals))
        a, b = th[i] - step, th[i] + step
        phi = (math.sqrt(5) - 1) / 2
        for _ in range(80):
            c1, c2 = b - phi * (b - a), a + phi * (b - a)
            if val(c1, refl)[0] > val(c2, refl)[0]:
                b = c2
            else:
                a = c1
        best = max(best, float(val(0.5 * (a + b), refl)[0]), float(vals[i]))
    return best


def check_norm(geo: Geometry, g: Any, *, samples: int = 2000, seed: int = 0) -> dict[str, float]:
    r"""Check a norm's three pieces against each other on ``g`` (for user-defined norms).

    Returns:
        ``{"duality": <g, d(g)> - ||g||_*, "unit": ||d(g)|| - 1, "sampled": max over random
        unit-norm points x of <g, x> - ||g||_*}``: the first two are 0 for an exact oracle,
        the third is <= 0 (the dual norm bounds every point of the ball).
    """
    d = geo.lmo(g)
    dual = float(geo.dual(g))
    rng = np.random.default_rng(seed)
    worst = -math.inf
    g64 = np.asarray(g, dtype=np.float64)
    for _ in range(int(samples)):
        x = rng.standard_normal(g64.shape)
        nx = float(geo.norm(x))
        if nx > 0:
            worst = max(worst, float(g64 @ (x / nx)) - dual)
    return {"duality": float(xp.dot(g, d)) - dual, "unit": float(geo.norm(d)) - 1.0, "sampled": worst}


def enumerate_vertices_linf(n: int) -> np.ndarray:
    """All :math:`2^n` sign vectors (for tests and small references)."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n)))


# ----------------------------------------------------------------------------- directional smoothness


def step_smoothness(
    loss: Callable[[Any], Any],
    grad: Callable[[Any], Any],
    x: Any,
    y: Any,
    geo: Geometry,
    *,
    gx: Any = None,
    lx: float | None = None,
    path_points: int = 4,
    hvp: Callable[[Any], Any] | None = None,
) -> dict[str, float | None]:
    r"""Directional smoothness of Mishkin et al. (2024) along the step from ``x`` to ``y``, in a norm.

    With :math:`\Delta = y - x`, :math:`\|\cdot\|` the geometry's norm and
    :math:`\|\cdot\|_*` its dual:

    - point-wise :math:`D(x,y) = 2\|\nabla L(y) - \nabla L(x)\|_* / \|\Delta\|`;
    - path-wise :math:`A(x,y) = \sup_{t\in(0,1]}
      \langle\nabla L(x + t\Delta) - \nabla L(x), \Delta\rangle / (t\|\Delta\|^2)`,
      evaluated at :math:`t = k/K`, :math:`k = 1..K` (``path_points``), and at
      :math:`t \to 0`, :math:`\Delta^\top H(x)\Delta/\|\Delta\|^2`, when ``hvp`` is given
      (a maximum over those points, so a lower estimate of the supremum);
    - optimal :math:`H(x,y) = |L(y) - L(x) - \langle\nabla L(x), \Delta\rangle| / (\tfrac12\|\Delta\|^2)`,
      and its signed form :math:`H_s` (without the absolute value), which makes the
      bound an identity: :math:`L(y) = L(x) + \langle\nabla L(x),\Delta\rangle + \tfrac{H_s}2\|\Delta\|^2`.

    Each is a directional smoothness function: :math:`L(y) \le L(x) + \langle\nabla L(x),\Delta\rangle
    + \tfrac M2\|\Delta\|^2` for :math:`M \in \{D, A, H\}` (:math:`A` at the true supremum).
    On a quadratic :math:`A = H_s = \Delta^\top B\Delta/\|\Delta\|^2` and :math:`D \ge 2A`.
    For an unnormalized steepest step :math:`\|\Delta\| = \eta\|g\|_*`,
    :math:`\langle g,\Delta\rangle = -\eta\|g\|_*^2`, so the loss changes by exactly
    :math:`-\eta(1 - \tfrac\eta2 H_s)\|g\|_*^2`: it falls iff :math:`H_s < 2/\eta`.

    Returns:
        ``{"D", "A", "H", "H_signed"}`` (``None`` each when ``y == x``).
    """
    gx = grad(x) if gx is None else gx
    lx = float(loss(x)) if lx is None else float(lx)
    delta = y - x
    nd = float(geo.norm(delta))
    if nd == 0:
        return {"D": None, "A": None, "H": None, "H_signed": None}
    gd = float(xp.dot(gx, delta))
    ly = float(loss(y))
    gy = grad(y)
    hs = (ly - lx - gd) / (0.5 * nd * nd)
    D = 2 * float(geo.dual(gy - gx)) / nd
    vals = [float(xp.dot(gy - gx, delta)) / (nd * nd)]
    K = int(path_points)
    for k in range(1, K):
        t = k / K
        gt = grad(x + t * delta)
        vals.append(float(xp.dot(gt - gx, delta)) / (t * nd * nd))
    if hvp is not None:
        vals.append(float(xp.dot(delta, hvp(delta))) / (nd * nd))
    return {"D": D, "A": max(vals), "H": abs(hs), "H_signed": hs}
