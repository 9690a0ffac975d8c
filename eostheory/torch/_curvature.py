r"""Curvature of network losses: top eigenvalues, Batch Sharpness and GNI.

Top eigenpairs of the Hessian :math:`H(\theta)` (the sharpness :math:`S=\lambda_{\max}(H)`
and its unit eigenvector :math:`u`) by four methods, all driven by
Hessian-vector products from a :class:`~eostheory.torch.HessianOperator`:

``"lanczos"``
    Lanczos with full reorthogonalisation, run in torch on the operator's device (the
    on-device path for GPUs).  Stops when every wanted Ritz pair :math:`(\theta_i, x_i)` has
    relative residual :math:`r_i/|\theta_i| \le \mathrm{tol}`, where
    :math:`r_i=\|Hx_i-\theta_i x_i\|=\beta_m|s_{mi}|` costs nothing extra.  This is ARPACK's
    test: an eigenvalue lies within :math:`r_i` of :math:`\theta_i`, and in practice the error
    is near :math:`r_i^2/\mathrm{gap}`, far below ``tol``.  (A test on :math:`r_i^2/\mathrm{gap}`
    with the gap read off the Ritz values stops earlier but overestimates the gap early on;
    on the digits run it missed the 1e-3 target one time in ten, so it is not used.)
``"eigsh"``
    scipy's ARPACK (``eigsh`` on a :class:`~scipy.sparse.linalg.LinearOperator`,
    ``which="LA"``, the largest algebraic eigenvalues); ``tol`` is ARPACK's relative residual
    tolerance, which bounds the eigenvalue error too.  Vectors cross to the host each product.
``"power"``
    power iteration, stopping when the Rayleigh quotient changes by at most
    ``tol`` relative (top eigenvalue only; it finds the largest in magnitude, which at the
    edge of stability is the sharpness).
``"dense"``
    the full Hessian (``n`` products) and :func:`torch.linalg.eigh`: the reference, for
    small models (:func:`~eostheory.torch.train` refuses it above :data:`DENSE_MAX_PARAMS`
    parameters).

All accept a warm start ``v0`` (the previous eigenvectors), which is what makes tracking
the sharpness during training cheap.

Every Hessian-vector product is checked for finiteness before it enters a solver: a NaN or
infinite product (a diverged network, an overflow in float32) raises
:class:`NonFiniteCurvatureError` instead of reaching scipy's tridiagonal solver, ARPACK or
``eigh`` (which would fail with an unrelated message, or, for power iteration, spin to its
iteration limit on NaN).

Batch Sharpness and GNI (Andreyev & Beneventano 2024, arXiv:2412.20553) are Monte-Carlo
averages over random batches :math:`B` of size ``b`` drawn without replacement:

.. math::

    \mathrm{BS} = \mathbb E_B\Big[\frac{g_B^\top H_B g_B}{\|g_B\|^2}\Big], \qquad
    \mathrm{GNI} = \frac{\mathbb E_B[g_B^\top H g_B]}{\|\nabla L\|^2},

with :math:`g_B, H_B` the batch gradient and Hessian and :math:`H` the full-batch Hessian.
Batches are drawn until the relative standard error of the mean falls below ``rse``; with
``batches="all"`` every batch is enumerated and the expectation is exact.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import positive_float, positive_int
from eostheory.torch._backend import require_torch
from eostheory.torch._objective import HessianOperator, NetworkObjective, Objective

__all__ = [
    "DENSE_MAX_PARAMS",
    "EIG_METHODS",
    "EigenTracker",
    "Eigenpairs",
    "MonteCarloEstimate",
    "NonFiniteCurvatureError",
    "batch_sharpness",
    "gni",
    "sharpness",
    "top_eigenpairs",
]

torch = require_torch()

#: The eigensolvers of :func:`top_eigenpairs`.
EIG_METHODS = ("lanczos", "eigsh", "power", "dense")

#: The largest model (in parameters) whose sharpness :func:`~eostheory.torch.train` tracks with
#: ``eig_method="dense"``: every record costs ``n`` products and an :math:`O(n^3)` ``eigh`` of an
#: ``n × n`` matrix.  Measured on one CPU thread (digits MLPs, float32): 1210 parameters 0.4 s per
#: solve, 2410 parameters 4.7 s, 4810 parameters 34 s; warm-started Lanczos needs about 10
#: products (0.02 s) at every size.
DENSE_MAX_PARAMS = 2000


class NonFiniteCurvatureError(EosInputError):
    """A Hessian-vector product (or a quantity built from them) is NaN or infinite.

    Raised before the value reaches an eigensolver; :func:`~eostheory.torch.train` turns it
    into a run that ends with status ``"diverged"``.
    """


def _finite_product(w: Any, what: str = "a Hessian-vector product") -> Any:
    """``w`` unchanged if every entry is finite, else :class:`NonFiniteCurvatureError`."""
    if not bool(torch.isfinite(w).all()):
        raise NonFiniteCurvatureError(
            f"{what} is not finite (NaN or infinite entries): the loss is too large or has diverged at this point"
        )
    return w


def _finite_scalar(x: float, what: str) -> float:
    """``x`` unchanged if finite, else :class:`NonFiniteCurvatureError`."""
    if not math.isfinite(x):
        raise NonFiniteCurvatureError(f"{what} is {x}: the Hessian is not finite at this point")
    return x


@dataclass(frozen=True)
class Eigenpairs:
    """Top eigenvalues (descending) and eigenvectors of a Hessian, and what they cost.

    Attributes:
        values: eigenvalues, largest first (NumPy float64 array of length ``k``).
        vectors: unit eigenvectors as the columns of an ``(n, k)`` tensor on the device.
        n_hvp: Hessian-vector products used.
        method: the solver.
        converged: whether the stopping test was met within the iteration limit.
        guard: Lanczos only, with ``guard > 0``: the next Ritz vectors (not converged),
            columns of an ``(n, guard)`` tensor, kept to warm-start the next solve.
    """

    values: np.ndarray
    vectors: Any
    n_hvp: int
    method: str
    converged: bool = True
    guard: Any = None

    @property
    def top(self) -> float:
        """The largest eigenvalue (the sharpness)."""
        return float(self.values[0])


def _start_vector(op: HessianOperator, v0: Any, generator: Any) -> Any:
    """A unit start vector: ``v0`` (columns summed) when usable, else a random one."""
    n = op.n
    if v0 is not None:
        v = torch.as_tensor(v0).to(device=op.device, dtype=op.dtype)
        if v.ndim == 2:
            v = v.sum(dim=1)
        v = v.reshape(-1)
        if v.numel() != n:
            raise EosInputError(f"start vector has {v.numel()} entries, the Hessian is {n}x{n}")
        nv = torch.linalg.vector_norm(v)
        if torch.isfinite(nv) and nv > 0:
            return v / nv
    v = torch.randn(n, generator=generator, dtype=torch.float64).to(device=op.device, dtype=op.dtype)
    return v / torch.linalg.vector_norm(v)


def _generator(generator: Any, seed: int = 0) -> Any:
    if generator is not None:
        return generator
    return torch.Generator(device="cpu").manual_seed(seed)


def _lanczos(
    op: HessianOperator, k: int, v0: Any, tol: float, max_iter: int, generator: Any, guard: int = 0
) -> Eigenpairs:
    from scipy.linalg import eigh_tridiagonal

    n = op.n
    m_max = min(max_iter, n)
    # A residual test can be met by a Ritz pair of the second eigenvalue before the Krylov
    # space has seen the first; from a random start, build at least ARPACK's default basis
    # (20) first.  A warm start already points at the wanted eigenvectors.
    warm = v0 is not None and bool(torch.isfinite(torch.as_tensor(v0)).all()) and bool(torch.as_tensor(v0).any())
    m_min = min(n, k + 1 if warm else max(2 * k + 1, 20))
    # the basis grows by doubling: a warm start needs ~10 vectors, not max_iter of them
    Q = torch.empty((min(m_max, 32), n), device=op.device, dtype=op.dtype)
    alpha: list[float] = []
    beta: list[float] = []
    q = _start_vector(op, v0, generator)
    eps = torch.finfo(op.dtype).eps
    scale = 0.0
    converged = False
    theta = np.zeros(0)
    S = np.zeros((0, 0))
    hv_count = 0
    for j in range(m_max):
        if j == Q.shape[0]:
            Q = torch.cat([Q, torch.empty((min(m_max, 2 * j) - j, n), device=op.device, dtype=op.dtype)])
        Q[j] = q
        w = _finite_product(op.matvec(q))
        hv_count += 1
        a = _finite_scalar(float(q @ w), "a Lanczos coefficient")
        w = w - a * q
        if j > 0:
            w = w - beta[-1] * Q[j - 1]
        for _ in range(2):  # full reorthogonalisation, twice is enough
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = _finite_scalar(float(torch.linalg.vector_norm(w)), "a Lanczos coefficient")
        alpha.append(a)
        scale = max(scale, abs(a) + b)
        m = j + 1
        if m == 1:
            theta, S = np.array([a]), np.ones((1, 1))
        else:
            theta, S = eigh_tridiagonal(np.array(alpha), np.array(beta[: m - 1]))
        order = np.argsort(theta)[::-1]
        theta, S = theta[order], S[:, order]
        breakdown = b <= 100 * eps * max(scale, 1e-300) * math.sqrt(n)
        if m >= k:
            res = np.abs(b * S[m - 1, :k])
            ok = bool(np.all(res <= tol * np.maximum(np.abs(theta[:k]), 1e-300)))
            if ok and (m >= m_min or breakdown):
                converged = True
                break
        if m == m_max:
            break
        if breakdown:  # invariant subspace: continue with a fresh direction orthogonal to it
            r = torch.randn(n, generator=generator, dtype=torch.float64).to(device=op.device, dtype=op.dtype)
            for _ in range(2):
                r = r - Q[:m].T @ (Q[:m] @ r)
            nr = torch.linalg.vector_norm(r)
            if not nr > 0:
                converged = m >= k
                break
            beta.append(0.0)
            q = r / nr
        else:
            beta.append(b)
            q = w / b
    m = len(alpha)
    kk = min(k, m)
    kg = min(k + guard, m)
    Sk = torch.as_tensor(np.ascontiguousarray(S[:, :kg]), device=op.device, dtype=op.dtype)
    V = Q[:m].T @ Sk
    V = V / torch.linalg.vector_norm(V, dim=0, keepdim=True)
    G = V[:, kk:] if kg > kk else None
    return Eigenpairs(np.array(theta[:kk], dtype=np.float64), V[:, :kk], hv_count, "lanczos", converged, G)


def _eigsh(
    op: HessianOperator, k: int, v0: Any, tol: float, max_iter: int, ncv: int | None, generator: Any
) -> Eigenpairs:
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    n = op.n
    if k >= n:
        raise EosInputError(f"eigsh needs k < n; ask for at most {n - 1} eigenvalues or use method='dense'")
    count = [0]

    def mv(x: np.ndarray) -> np.ndarray:
        count[0] += 1
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return _finite_product(op.matvec(v)).to(device="cpu", dtype=torch.float64).numpy()

    A = LinearOperator((n, n), matvec=mv, dtype=np.float64)
    start = _start_vector(op, v0, generator).to(device="cpu", dtype=torch.float64).numpy()
    ncv = min(n, ncv if ncv is not None else max(2 * k + 1, 20))
    if ncv <= k:
        raise EosInputError(f"ncv must exceed k = {k}, got {ncv}")
    converged = True
    try:
        vals, vecs = eigsh(A, k=k, which="LA", v0=start, tol=tol, ncv=ncv, maxiter=max_iter)
    except ArpackNoConvergence as exc:
        vals, vecs, converged = exc.eigenvalues, exc.eigenvectors, False
        if len(vals) == 0:
            return Eigenpairs(np.full(k, np.nan), torch.zeros((n, k)), count[0], "eigsh", False)
    order = np.argsort(vals)[::-1]
    V = torch.as_tensor(np.ascontiguousarray(vecs[:, order]), device=op.device, dtype=op.dtype)
    return Eigenpairs(np.asarray(vals[order], dtype=np.float64), V, count[0], "eigsh", converged)


def _power(op: HessianOperator, v0: Any, tol: float, max_iter: int, generator: Any) -> Eigenpairs:
    v = _start_vector(op, v0, generator)
    prev = math.nan
    lam = math.nan
    converged = False
    used = 0
    for _ in range(max_iter):
        w = _finite_product(op.matvec(v))
        used += 1
        lam = _finite_scalar(float(v @ w), "the Rayleigh quotient")
        nw = torch.linalg.vector_norm(w)
        if not nw > 0:
            converged = True
            break
        v = w / nw
        if math.isfinite(prev) and abs(lam - prev) <= tol * abs(lam):
            converged = True
            break
        prev = lam
    return Eigenpairs(np.array([lam]), v.reshape(-1, 1), used, "power", converged)


def _dense(op: HessianOperator, k: int) -> Eigenpairs:
    Hm = _finite_product(op.dense(), "the dense Hessian")
    vals, vecs = torch.linalg.eigh(Hm)
    vals, vecs = vals.flip(0)[:k], vecs.flip(1)[:, :k]
    return Eigenpairs(vals.detach().cpu().double().numpy(), vecs, op.n, "dense", True)


def top_eigenpairs(
    op: HessianOperator,
    k: int = 1,
    *,
    method: str = "lanczos",
    tol: float = 1e-3,
    v0: Any = None,
    max_iter: int | None = None,
    ncv: int | None = None,
    generator: Any = None,
    guard: int = 0,
) -> Eigenpairs:
    r"""The ``k`` largest (algebraic) eigenvalues of the Hessian and their eigenvectors.

    Args:
        op: the Hessian (:meth:`Objective.hessian`).
        k: how many.
        method: ``"lanczos"`` (torch, on-device), ``"eigsh"`` (scipy ARPACK), ``"power"``
            (``k = 1`` only) or ``"dense"`` (reference, ``n`` products).
        tol: relative accuracy target (see the module docstring for each method's test).
        v0: warm start: a vector or the columns of previous eigenvectors (summed).
        max_iter: iteration limit (Lanczos steps, ARPACK restarts, power steps).
        ncv: Lanczos basis size for ``eigsh`` (default ``max(2k+1, 20)``, scipy's).
        generator: a CPU :class:`torch.Generator` for random start vectors (seeded 0 if
            omitted, so results are reproducible).
        guard: Lanczos only: also return this many further Ritz vectors (not converged) in
            :attr:`Eigenpairs.guard`, for warm starts.

    Returns:
        :class:`Eigenpairs`.

    Raises:
        EosInputError: unknown method, ``k`` out of range, ``tol`` not positive.
        NonFiniteCurvatureError: a Hessian-vector product is NaN or infinite (checked
            before it enters the solver).

    Examples:
        >>> import torch
        >>> from eostheory.torch import FunctionObjective
        >>> obj = FunctionObjective(lambda w: 0.5 * (3 * w[0] ** 2 + w[1] ** 2 + 2 * w[2] ** 2), [1.0, 1.0, 1.0])
        >>> top_eigenpairs(obj.hessian(obj.theta0), k=2).values.round(12).tolist()
        [3.0, 2.0]
    """
    k = positive_int("k", k)
    if k > op.n:
        raise EosInputError(f"k = {k} exceeds the number of parameters {op.n}")
    tol = positive_float("tol", tol)
    gen = _generator(generator)
    if method == "lanczos":
        return _lanczos(op, k, v0, tol, positive_int("max_iter", max_iter or 300), gen, guard)
    if method == "eigsh":
        return _eigsh(op, k, v0, tol, positive_int("max_iter", max_iter or 1000), ncv, gen)
    if method == "power":
        if k != 1:
            raise EosInputError("power iteration finds only the top eigenvalue (k = 1); use lanczos for top-k")
        return _power(op, v0, tol, positive_int("max_iter", max_iter or 10000), gen)
    if method == "dense":
        return _dense(op, k)
    raise EosInputError(f"unknown eigensolver {method!r}; known: {', '.join(EIG_METHODS)}")


def sharpness(objective: Objective, theta: Any = None, *, method: str = "lanczos", tol: float = 1e-3) -> float:
    r"""The sharpness :math:`S(\theta)=\lambda_{\max}(\nabla^2 L(\theta))` (at ``objective.theta0`` by default)."""
    th = objective.theta0 if theta is None else theta
    return top_eigenpairs(objective.hessian(th), 1, method=method, tol=tol).top


class EigenTracker:
    r"""Top eigenpairs along a trajectory, each solve warm-started from the previous eigenvectors.

    The start vector is :math:`\sum_{i\le k} u_i + \tfrac12 u_{k+1}`: the previous
    eigenvectors plus, for Lanczos, the next Ritz vector of the previous solve.  At the
    edge of stability the top eigenvalues cluster and cross; without that extra direction
    a warm start from :math:`u_1` alone can converge to the eigenvalue that *was* the top
    one (on the digits run, 3% of the estimates were off by up to 2.5%); with it, none
    were, at about one more product per estimate.

    Args:
        k: eigenpairs to track.
        method: eigensolver (see :func:`top_eigenpairs`).
        tol: relative accuracy target.
        seed: seed of the first (cold) start vector.
        ncv: basis size for ``eigsh`` (see :func:`top_eigenpairs`).

    Attributes:
        vectors: the last eigenvectors (``None`` before the first solve).
        n_hvp: products used so far; ``n_solves``: solves so far.
    """

    def __init__(
        self, k: int = 1, *, method: str = "lanczos", tol: float = 1e-3, seed: int = 0, ncv: int | None = None
    ) -> None:
        if method not in EIG_METHODS:
            raise EosInputError(f"unknown eigensolver {method!r}; known: {', '.join(EIG_METHODS)}")
        if method == "power" and k != 1:
            raise EosInputError("power iteration tracks only the top eigenvalue (k = 1)")
        self.k = positive_int("k", k)
        self.method = method
        self.tol = positive_float("tol", tol)
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        self.ncv = ncv
        self.vectors: Any = None
        self.guard_vectors: Any = None
        self.n_hvp = 0
        self.n_solves = 0

    def __call__(self, op: HessianOperator) -> Eigenpairs:
        """Solve at ``op``, warm-started, and remember the eigenvectors."""
        v0 = None
        if self.vectors is not None:
            v0 = self.vectors.sum(dim=1)
            if self.guard_vectors is not None:
                v0 = v0 + 0.5 * self.guard_vectors.sum(dim=1)
        res = top_eigenpairs(
            op,
            self.k,
            method=self.method,
            tol=self.tol,
            v0=v0,
            ncv=self.ncv,
            generator=self.generator,
            guard=1 if self.method == "lanczos" else 0,
        )
        if np.all(np.isfinite(res.values)):
            self.vectors = res.vectors.detach()
            self.guard_vectors = None if res.guard is None else res.guard.detach()
        self.n_hvp += res.n_hvp
        self.n_solves += 1
        return res

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to resume identically."""
        return {
            "vectors": None if self.vectors is None else self.vectors.detach().cpu(),
            "guard_vectors": None if self.guard_vectors is None else self.guard_vectors.detach().cpu(),
            "generator": self.generator.get_state(),
            "n_hvp": self.n_hvp,
            "n_solves": self.n_solves,
        }

    def load_state_dict(self, d: dict[str, Any], device: Any = None, dtype: Any = None) -> None:
        """Restore from :meth:`state_dict`."""
        v = d.get("vectors")
        self.vectors = None if v is None else v.to(device=device, dtype=dtype)
        gv = d.get("guard_vectors")
        self.guard_vectors = None if gv is None else gv.to(device=device, dtype=dtype)
        self.generator.set_state(d["generator"])
        self.n_hvp = int(d.get("n_hvp", 0))
        self.n_solves = int(d.get("n_solves", 0))


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte-Carlo mean with its standard error and cost.

    Attributes:
        value: the estimate.
        stderr: its standard error (0 for an exact enumeration).
        n_batches: batches used.
        n_hvp: Hessian-vector products used.
        exact: True when every batch was enumerated.
    """

    value: float
    stderr: float
    n_batches: int
    n_hvp: int
    exact: bool = False

    @property
    def rse(self) -> float:
        """Relative standard error ``stderr/|value|``."""
        return self.stderr / abs(self.value) if self.value else math.inf


def _batches(n: int, b: int, batches: Any, max_batches: int, generator: Any) -> Any:
    if batches == "all":
        count = math.comb(n, b)
        if count > 100_000:
            raise EosInputError(f"batches='all' would enumerate C({n},{b}) = {count} batches; use Monte Carlo")
        for c in itertools.combinations(range(n), b):
            yield torch.tensor(c)
        return
    if batches is not None:
        raise EosInputError(f"batches must be None (Monte Carlo) or 'all', got {batches!r}")
    for _ in range(max_batches):
        yield torch.randperm(n, generator=generator)[:b]


def _mc(
    objective: NetworkObjective,
    batch_size: int,
    sample: Any,
    *,
    rse: float,
    min_batches: int,
    max_batches: int,
    batches: Any,
    generator: Any,
) -> tuple[float, float, int, bool, list[float]]:
    if not isinstance(objective, NetworkObjective):
        raise EosInputError("batch statistics need a NetworkObjective (a model and data)")
    n = objective.n_examples
    b = positive_int("batch_size", batch_size)
    if b > n:
        raise EosInputError(f"batch_size = {b} exceeds the {n} examples")
    rse = positive_float("rse", rse)
    min_batches = positive_int("min_batches", min_batches)
    max_batches = positive_int("max_batches", max_batches)
    gen = _generator(generator)
    vals: list[float] = []
    exact = batches == "all"
    for idx in _batches(n, b, batches, max_batches, gen):
        vals.append(sample(idx.to(objective.device)))
        m = len(vals)
        if not exact and m >= max(min_batches, 2):
            mean = float(np.mean(vals))
            se = float(np.std(vals, ddof=1)) / math.sqrt(m)
            if mean != 0 and se <= rse * abs(mean):
                break
    mean = float(np.mean(vals))
    se = 0.0 if exact or len(vals) < 2 else float(np.std(vals, ddof=1)) / math.sqrt(len(vals))
    return mean, se, len(vals), exact, vals


def batch_sharpness(
    objective: NetworkObjective,
    theta: Any,
    batch_size: int,
    *,
    rse: float = 0.02,
    min_batches: int = 10,
    max_batches: int = 1000,
    batches: Any = None,
    generator: Any = None,
) -> MonteCarloEstimate:
    r"""Batch Sharpness :math:`\mathbb E_B[g_B^\top H_B g_B/\|g_B\|^2]` (Andreyev & Beneventano 2024).

    One gradient graph and one Hessian-vector product per batch.

    Args:
        objective: a :class:`NetworkObjective`.
        theta: the point.
        batch_size: the batch size ``b`` of the SGD run being analysed.
        rse: target relative standard error of the Monte-Carlo mean.
        min_batches, max_batches: bounds on the number of batches.
        batches: ``None`` (Monte Carlo) or ``"all"`` (exact: every batch of size ``b``).
        generator: a CPU :class:`torch.Generator` (seeded 0 when omitted).

    Returns:
        :class:`MonteCarloEstimate`.

    Raises:
        EosInputError: ``batch_size`` larger than the data set, bad tolerances.
        NonFiniteCurvatureError: a batch gradient or product is NaN or infinite.
    """
    th = objective.as_theta(theta)
    hv = [0]

    def sample(idx: Any) -> float:
        op = objective.hessian(th, idx)
        g = op.gradient
        gg = float(g @ g)
        hv[0] += 1
        _finite_scalar(gg, "the squared norm of a batch gradient")
        if gg == 0.0:
            return 0.0
        return _finite_scalar(op.quadratic(g) / gg, "a batch curvature g_B'H_B g_B/|g_B|^2")

    mean, se, m, exact, _ = _mc(
        objective,
        batch_size,
        sample,
        rse=rse,
        min_batches=min_batches,
        max_batches=max_batches,
        batches=batches,
        generator=generator,
    )
    return MonteCarloEstimate(mean, se, m, hv[0], exact)


def gni(
    objective: NetworkObjective,
    theta: Any,
    batch_size: int,
    *,
    rse: float = 0.02,
    min_batches: int = 10,
    max_batches: int = 1000,
    batches: Any = None,
    generator: Any = None,
) -> MonteCarloEstimate:
    r"""Gradient–noise interaction :math:`\mathbb E_B[g_B^\top H g_B]/\|\nabla L\|^2` (Andreyev & Beneventano 2024).

    :math:`H` is the full-batch Hessian (one graph, reused), :math:`g_B` the batch gradient;
    one gradient and one product per batch.  Arguments as :func:`batch_sharpness`; the
    reported standard error is that of the numerator divided by :math:`\|\nabla L\|^2`.
    """
    th = objective.as_theta(theta)
    op = objective.hessian(th)
    gn2 = _finite_scalar(float(op.gradient @ op.gradient), "the squared norm of the gradient")
    if gn2 == 0.0:
        raise EosInputError("GNI is undefined at a stationary point (the full gradient is zero)")

    def sample(idx: Any) -> float:
        _, gB = objective.value_and_grad(th, idx)
        return _finite_scalar(op.quadratic(_finite_product(gB, "a batch gradient")), "a product g_B'H g_B")

    mean, se, m, exact, _ = _mc(
        objective,
        batch_size,
        sample,
        rse=rse,
        min_batches=min_batches,
        max_batches=max_batches,
        batches=batches,
        generator=generator,
    )
    return MonteCarloEstimate(mean / gn2, se / gn2, m, m, exact)
