r"""Numerical verification of the stability thresholds of :mod:`eostheory.symbolic.stability`.

Three independent checks, reused by the tests and by ``eostheory check``:

1. :func:`verify_threshold` runs the optimizer itself (the compiled loop of
   :func:`eostheory.optimizers.run`) on :math:`L = \tfrac12\lambda w^2` at
   :math:`\lambda = (1 \pm \epsilon)\lambda^*` and expects convergence below and divergence
   above.
2. :func:`spectral_radius_grid` evaluates the spectral radius of the step matrix
   :math:`A(\lambda)` with numpy over a grid of curvatures and locates where it crosses 1.
3. :func:`verify_mean_square` simulates SGD with heavy-ball momentum on over-parameterised
   linear regression and measures the critical learning rate at batch size 1 (against
   :math:`2(1-\beta)/\mathrm{BS}`, BS the Batch Sharpness) and at full batch (against
   :math:`2(1+\beta)/\lambda_{\max}`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._validate import positive_float, positive_int, unit_interval
from eostheory.optimizers import OPTIMIZERS, Optimizer, run
from eostheory.symbolic.stability import LAMBDA, StabilityResult, thresholds

__all__ = [
    "GridCheck",
    "MeanSquareCheck",
    "ThresholdRun",
    "batch_sharpness",
    "critical_eta_batch",
    "critical_eta_full_batch",
    "mean_square_radius",
    "overparameterized_regression",
    "preconditioned_radius",
    "sgd_momentum_growth",
    "spectral_radius_grid",
    "verify_mean_square",
    "verify_threshold",
]


def _result(optimizer_or_rule: Any) -> StabilityResult:
    return optimizer_or_rule if isinstance(optimizer_or_rule, StabilityResult) else thresholds(optimizer_or_rule)


def _hyper(res: StabilityResult, values: Mapping[str, float]) -> dict[str, float]:
    names = {h.name for h in res.hyperparameters}
    missing = sorted(names - set(values))
    extra = sorted(set(values) - names)
    if missing or extra:
        raise EosInputError(f"give exactly the hyperparameters {sorted(names)}; got {sorted(values)}")
    return {k: float(v) for k, v in values.items()}


# --------------------------------------------------------------------------------------
# 1. run the optimizer on the quadratic
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdRun:
    """One run of the optimizer on ``lam*w**2/2`` near its threshold."""

    lam: float
    factor: float
    expected: str
    status: str
    spectral_radius: float
    steps: int

    @property
    def passed(self) -> bool:
        """Whether the run ended as expected (converged below, diverged above)."""
        return self.status == self.expected


def _optimizer_for(res: StabilityResult) -> Any:
    if res.name in OPTIMIZERS and OPTIMIZERS[res.name].rule is res.rule:
        return OPTIMIZERS[res.name]
    return Optimizer(res.name or "user-rule", tuple(a.text for a in res.rule.assignments))


def verify_threshold(
    optimizer_or_rule: Any,
    values: Mapping[str, float],
    *,
    margin: float = 0.01,
    max_steps: int = 2_000_000,
) -> list[ThresholdRun]:
    r"""Run the optimizer on :math:`\tfrac12\lambda w^2` at :math:`\lambda = (1 \mp \text{margin})\lambda^*`.

    The step budget follows from the spectral radius :math:`\rho` at each curvature:
    enough steps for :math:`\rho^t` to fall below :math:`10^{-14}` (convergence,
    gradient norm :math:`\le 10^{-12}`) or to pass :math:`10^{112}` (divergence, iterates
    beyond :math:`10^{100}`), plus a margin for transients.

    Args:
        optimizer_or_rule: anything :func:`~eostheory.symbolic.stability.thresholds`
            accepts, or its result.  The rule must name its learning rate ``eta``.
        values: every hyperparameter of the threshold (``{"eta": 0.1, "beta": 0.9}``).
        margin: relative distance from :math:`\lambda^*` (default 1%).
        max_steps: cap on the step budget.

    Returns:
        Two :class:`ThresholdRun` records (below, above).

    Raises:
        EosInputError: missing hyperparameters, an infinite threshold, or a budget above
            ``max_steps`` (margin too small for this optimizer).
    """
    res = _result(optimizer_or_rule)
    vals = _hyper(res, values)
    margin = positive_float("margin", margin)
    if margin >= 1:
        raise EosInputError(f"margin must be < 1, got {margin:g}")
    if res.threshold is sp.oo:
        raise EosInputError("the threshold is infinite: nothing to verify")
    lam_star = res.value(**vals)
    opt = _optimizer_for(res)
    every = {**{k: float(v) for k, v in res.fixed.items()}, **vals}  # values fixed in the derivation too
    beta = every.get("beta")
    other = {k: v for k, v in every.items() if k not in ("eta", "beta")}
    if "eta" not in every:
        raise EosInputError("numerical verification needs the learning rate to be called eta")
    out = []
    for factor, expected in ((1 - margin, "converged"), (1 + margin, "diverged")):
        lam = factor * lam_star
        rho = res.spectral_radius(lam, **vals)
        if expected == "converged":
            need = math.log(1e-14) / math.log(max(rho, 1e-300)) if rho > 0 else 1.0
        else:
            need = math.log(1e112) / math.log(rho)
        steps = int(2 * need) + 2000
        if steps > max_steps:
            raise EosInputError(f"lambda = {lam:g} needs ~{steps} steps (spectral radius {rho:.8f}); raise the margin")
        r = run(
            "quadratic-1d",
            opt,
            x0=[1.0],
            steps=steps,
            eta=every["eta"],
            beta=beta,
            hyper=other,
            constants={"lam": lam},
            record_every=steps,
        )
        out.append(ThresholdRun(lam, factor, expected, r.status, rho, r.steps))
    return out


# --------------------------------------------------------------------------------------
# 2. spectral radius over a grid
# --------------------------------------------------------------------------------------
@dataclass
class GridCheck:
    """Spectral radius of the step matrix over a grid of curvatures.

    Attributes:
        lam: the grid of curvatures.
        rho: the spectral radius at each.
        threshold: the symbolic :math:`\\lambda^*` at these hyperparameters.
        crossing: the numerical first crossing of :math:`\\rho = 1` above the stable
            interval (bracketed on the grid, refined by bisection).
        violations: grid points inside the symbolic stable interval with
            :math:`\\rho \\ge 1`, plus points within 0.1% above :math:`\\lambda^*` with
            :math:`\\rho \\le 1`.
    """

    lam: np.ndarray
    rho: np.ndarray
    threshold: float
    crossing: float
    violations: int

    @property
    def relative_error(self) -> float:
        """``|crossing - threshold| / threshold``."""
        return abs(self.crossing - self.threshold) / abs(self.threshold)


def spectral_radius_grid(
    optimizer_or_rule: Any,
    values: Mapping[str, float],
    *,
    points: int = 4001,
    span: float = 2.0,
    lam: Sequence[float] | np.ndarray | None = None,
) -> GridCheck:
    r"""Spectral radius of :math:`A(\lambda)` (numpy eigenvalues) over a grid of curvatures.

    The first grid point above the stable interval where :math:`\rho > 1` brackets the
    numerical crossing, which is then refined by bisection on :math:`\rho(\lambda) - 1`
    (numpy eigenvalues at each probe), independently of the symbolic derivation.

    Args:
        optimizer_or_rule: as :func:`verify_threshold`.
        values: every hyperparameter.
        points: grid size (default grid: ``points`` values on :math:`[0, \text{span}\cdot\lambda^*]`).
        span: the default grid ends at ``span`` times the threshold.
        lam: an explicit increasing grid instead.

    Returns:
        A :class:`GridCheck`.
    """
    res = _result(optimizer_or_rule)
    vals = _hyper(res, values)
    points = positive_int("points", points)
    lam_star = res.value(**vals)
    if not math.isfinite(lam_star):
        raise EosInputError("the threshold is infinite: no crossing to compare")
    sub = {h: sp.nsimplify(vals[h.name], rational=True) for h in res.hyperparameters}
    f = sp.lambdify(LAMBDA, res.matrix.subs(sub), modules="numpy")

    def radius(xs: np.ndarray) -> np.ndarray:
        mats = np.stack([np.asarray(f(x), dtype=float) for x in xs])
        return np.max(np.abs(np.linalg.eigvals(mats)), axis=1)

    grid = np.linspace(0.0, span * lam_star, points) if lam is None else np.asarray(lam, dtype=float)
    if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
        raise EosInputError("lam must be an increasing grid of at least two curvatures")
    rho = radius(grid)
    lower = float(res.lower.subs(sub)) if res.lower.is_finite else -math.inf
    lo_end = max(lower, 0.0)
    tol = 1e-9 * max(1.0, abs(lam_star))
    inside = (grid > lo_end + tol) & (grid < lam_star - tol)
    just_above = (grid > lam_star + tol) & (grid < lam_star * (1 + 1e-3) + tol)
    violations = int(np.sum(inside & (rho >= 1)) + np.sum(just_above & (rho <= 1)))
    above = np.nonzero((rho > 1) & (grid > lo_end + tol))[0]
    if above.size == 0:
        crossing = math.inf
    else:
        i = int(above[0])
        a, b = (grid[i - 1], grid[i]) if i > 0 else (lo_end, grid[i])
        for _ in range(80):
            m = 0.5 * (a + b)
            if radius(np.array([m]))[0] > 1:
                b = m
            else:
                a = m
        crossing = 0.5 * (a + b)
    return GridCheck(grid, rho, lam_star, float(crossing), violations)


def preconditioned_radius(
    optimizer_or_rule: Any, H: np.ndarray, P: np.ndarray | None, values: Mapping[str, float]
) -> float:
    r"""Spectral radius of the whole step on :math:`L = \tfrac12 w^\top H w` with gradient :math:`P^{-1}\nabla L`.

    Builds the full linear map :math:`A_0 \otimes I + A_1 \otimes P^{-1}H` on the stacked
    state (parameter and every buffer, each a vector), where :math:`A(\lambda) = A_0 +
    \lambda A_1` is the scalar step matrix, and returns its spectral radius: a check of
    the diagonalization argument of :func:`~eostheory.symbolic.stability.matrix_stability`
    that does not diagonalize.
    """
    res = _result(optimizer_or_rule)
    vals = _hyper(res, values)
    sub = {h: sp.nsimplify(vals[h.name], rational=True) for h in res.hyperparameters}
    A = res.matrix.subs(sub)
    A0 = np.array(A.subs(LAMBDA, 0), dtype=float)
    A1 = np.array(A.diff(LAMBDA), dtype=float)
    H = np.asarray(H, dtype=float)
    K = H if P is None else np.linalg.solve(np.asarray(P, dtype=float), H)
    M = np.kron(A0, np.eye(H.shape[0])) + np.kron(A1, K)
    return float(np.max(np.abs(np.linalg.eigvals(M))))


# --------------------------------------------------------------------------------------
# 3. mean-square stability: SGD with momentum on over-parameterised regression
# --------------------------------------------------------------------------------------
def overparameterized_regression(n: int = 128, d: int = 256, seed: int = 0) -> np.ndarray:
    r"""Data :math:`X \in \mathbb{R}^{n\times d}` with i.i.d. :math:`N(0, 1/d)` entries (:math:`\|x_i\| \approx 1`).

    With :math:`d > n` the loss :math:`L(w) = \frac{1}{2n}\|Xw - y\|^2` has interpolating
    minima for any :math:`y`; the error :math:`e = w - w^*` then follows SGD on
    :math:`\frac{1}{2n}\|Xe\|^2` exactly, with per-sample Hessians :math:`x_i x_i^\top`.
    """
    n, d = positive_int("n", n), positive_int("d", d)
    if d <= n:
        raise EosInputError(f"over-parameterised regression needs d > n, got n={n}, d={d}")
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) / math.sqrt(d)


def batch_sharpness(X: np.ndarray, e: np.ndarray, batch_size: int, *, samples: int = 2000, seed: int = 0) -> float:
    r"""Batch Sharpness :math:`E_B[g_B^\top H_B g_B / \|g_B\|^2]` at the error ``e`` (Andreyev & Beneventano 2024).

    :math:`H_B = \frac1b\sum_{i\in B} x_i x_i^\top` and :math:`g_B = H_B e`.  Batch size 1
    is averaged exactly over all samples (there it equals :math:`E\|x_i\|^2`); full batch
    is deterministic; other sizes are a Monte-Carlo mean over ``samples`` batches drawn
    with replacement.
    """
    n = X.shape[0]
    b = positive_int("batch_size", batch_size)
    rng = np.random.default_rng(seed)
    if b == 1:
        batches = np.arange(n)[:, None]
    elif b >= n:
        batches = np.arange(n)[None, :]
    else:
        batches = rng.integers(0, n, size=(samples, b))
    vals = []
    for B in batches:
        XB = X[B]
        g = XB.T @ (XB @ e) / len(B)
        Hg = XB.T @ (XB @ g) / len(B)
        gg = float(g @ g)
        if gg > 0:
            vals.append(float(g @ Hg) / gg)
    return float(np.mean(vals))


def _row_space(X: np.ndarray) -> np.ndarray:
    r"""Coordinates of the rows of :math:`X` in an orthonormal basis of its row space.

    SGD on :math:`\frac{1}{2n}\|Xe\|^2` never moves the component of :math:`e` orthogonal
    to the row space (it is marginal, multiplier 1), so the dynamics that decide stability
    live in these :math:`n` coordinates; per-sample norms and all Hessian eigenvalues are
    unchanged.  Removing the null space also keeps round-off there from masking decay.
    """
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    return X @ Vt.T


def sgd_momentum_growth(
    X: np.ndarray,
    etas: Sequence[float] | np.ndarray,
    beta: float,
    *,
    batch_size: int = 1,
    steps: int = 20000,
    seed: int = 1,
    renorm: int = 50,
) -> np.ndarray:
    r"""Growth rate per step of SGD with heavy-ball momentum, one run per learning rate.

    Simulates :math:`v \leftarrow \beta v + g_B(e)`, :math:`e \leftarrow e - \eta v` with
    :math:`g_B(e) = \frac1b\sum_{i\in B} x_i x_i^\top e` (PyTorch's SGD with momentum on the
    error of an interpolating regression, in the coordinates of :func:`_row_space`), all
    learning rates at once (numpy, vectorised
    over the runs; each run draws its own batches, with replacement).  The state is
    renormalised every ``renorm`` steps (the dynamics are linear) and the growth rate is
    the mean of :math:`\log\|(e, v)\|` increments over the second half of the run:
    negative means the run converges, positive that it diverges.

    Returns:
        The growth rates, one per learning rate.
    """
    etas = np.asarray(etas, dtype=float).reshape(-1)
    beta = unit_interval("beta", beta)
    steps, renorm = positive_int("steps", steps), positive_int("renorm", renorm)
    X = _row_space(X)
    n, d = X.shape
    b = positive_int("batch_size", batch_size)
    rng = np.random.default_rng(seed)
    K = etas.size
    e = rng.standard_normal((K, d))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    v = np.zeros((K, d))
    eta_col = etas[:, None]
    logs = []
    total = np.zeros(K)
    full = b >= n
    H = X.T @ X / n if full else None
    for t in range(steps):
        if full:
            g = e @ H
        elif b == 1:
            xi = X[rng.integers(0, n, size=K)]
            g = np.einsum("kd,kd->k", xi, e)[:, None] * xi
        else:
            idx = rng.integers(0, n, size=(K, b))
            XB = X[idx]  # K x b x d
            g = np.einsum("kbd,kb->kd", XB, np.einsum("kbd,kd->kb", XB, e)) / b
        v *= beta
        v += g
        e -= eta_col * v
        if (t + 1) % renorm == 0:
            nr = np.sqrt(np.sum(e * e, axis=1) + np.sum(v * v, axis=1))
            nr = np.where(np.isfinite(nr) & (nr > 0), nr, 1e300)
            total += np.log(nr)
            e /= nr[:, None]
            v /= nr[:, None]
            logs.append(total.copy())
    L = np.asarray(logs)
    h = len(L) // 2
    return (L[-1] - L[h]) / ((len(L) - 1 - h) * renorm)


def critical_eta_batch(
    X: np.ndarray,
    beta: float,
    *,
    batch_size: int = 1,
    scale: float,
    grid: Sequence[float] = tuple(np.linspace(0.7, 1.3, 13)),
    steps: int = 20000,
    seed: int = 1,
) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Critical :math:`\eta` of SGD with momentum: where the growth rate crosses 0.

    Runs :func:`sgd_momentum_growth` at :math:`\eta = \text{scale}\cdot\text{grid}` and
    interpolates linearly between the last converging and the first diverging rate.

    Returns:
        ``(eta_c, etas, growth)``; ``eta_c`` is ``nan`` when the grid does not bracket it.
    """
    etas = scale * np.asarray(grid, dtype=float)
    g = sgd_momentum_growth(X, etas, beta, batch_size=batch_size, steps=steps, seed=seed)
    pos = np.nonzero(g > 0)[0]
    if pos.size == 0 or pos[0] == 0:
        return math.nan, etas, g
    i = int(pos[0])
    x0, x1, y0, y1 = etas[i - 1], etas[i], g[i - 1], g[i]
    return float(x0 + (x1 - x0) * (-y0) / (y1 - y0)), etas, g


def critical_eta_full_batch(X: np.ndarray, beta: float, *, rtol: float = 1e-4, steps: int = 3000) -> float:
    r"""Critical :math:`\eta` of full-batch GD with heavy-ball momentum, by bisection on simulated runs.

    Each probe simulates ``steps`` steps of :math:`v \leftarrow \beta v + He`,
    :math:`e \leftarrow e - \eta v` from a random start in the row space and calls it
    divergent when :math:`\|(e, v)\|` grows over the second half.
    """
    X = _row_space(X)
    n = X.shape[0]
    beta = unit_interval("beta", beta)
    H = X.T @ X / n
    lam_max = float(np.linalg.eigvalsh(H)[-1])
    e0 = np.random.default_rng(7).standard_normal(n)

    def diverges(eta: float) -> bool:
        e, v = e0 / np.linalg.norm(e0), np.zeros_like(e0)
        log_norm, mid = 0.0, 0.0
        for t in range(steps):
            v = beta * v + H @ e
            e = e - eta * v
            if (t + 1) % 50 == 0:
                nr = float(np.sqrt(e @ e + v @ v))
                log_norm += math.log(nr)
                e, v = e / nr, v / nr
            if t == steps // 2:
                mid = log_norm
        return log_norm > mid

    lo, hi = 0.5 * 2 * (1 + beta) / lam_max, 1.5 * 2 * (1 + beta) / lam_max
    if diverges(lo) or not diverges(hi):
        return math.nan
    while hi - lo > rtol * lo:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if diverges(mid) else (mid, hi)
    return 0.5 * (lo + hi)


def mean_square_radius(X: np.ndarray, eta: float, beta: float, *, iterations: int = 2000) -> float:
    r"""Spectral radius of the exact second-moment map of batch-size-1 SGD with momentum.

    Works in the row space of :math:`X` (coordinates :math:`\tilde X = XV`, :math:`V` its
    right singular vectors), on :math:`(P, C, V) = (E ee^\top, E ev^\top, E vv^\top)`:

    .. math::
        D = \beta C + P\bar H,\quad
        V' = \beta^2 V + \beta(C^\top \bar H + \bar H C)
             + \tfrac1n\textstyle\sum_i (x_i^\top P x_i)\, x_i x_i^\top,\quad
        C' = D - \eta V',\quad P' = P - \eta(D + D^\top) + \eta^2 V'.

    The radius is the geometric-mean growth of power iteration over the last third
    (the map preserves the cone of positive semidefinite triples, so its spectral
    radius is its Perron root).
    """
    n = X.shape[0]
    Xr = _row_space(X)
    Hb = Xr.T @ Xr / n
    P, C, Vm = np.eye(n), np.zeros((n, n)), np.eye(n)
    logs = []
    for _ in range(iterations):
        q = np.einsum("ij,jk,ik->i", Xr, P, Xr)
        E = (Xr.T * q) @ Xr / n
        D = beta * C + P @ Hb
        Vm = beta**2 * Vm + beta * (C.T @ Hb + Hb @ C) + E
        C = D - eta * Vm
        P = P - eta * (D + D.T) + eta**2 * Vm
        nr = float(np.trace(P) + np.trace(Vm))
        P, C, Vm = P / nr, C / nr, Vm / nr
        logs.append(math.log(nr))
    return math.exp(float(np.mean(logs[-iterations // 3 :])))


@dataclass
class MeanSquareCheck:
    """Critical learning rates of SGD with momentum against the mean-square theory."""

    beta: float
    n: int
    d: int
    batch_sharpness_1: float
    lam_max: float
    eta_c_batch1: float
    eta_c_full: float

    @property
    def ratio_batch1(self) -> float:
        r""":math:`\eta_c\,\mathrm{BS} / (2(1-\beta))` at batch size 1 (theory: about 1)."""
        return self.eta_c_batch1 * self.batch_sharpness_1 / (2 * (1 - self.beta))

    @property
    def ratio_full(self) -> float:
        r""":math:`\eta_c\,\lambda_{\max} / (2(1+\beta))` at full batch (theory: 1)."""
        return self.eta_c_full * self.lam_max / (2 * (1 + self.beta))

    def as_dict(self) -> dict[str, float]:
        """JSON-ready record with the two ratios."""
        return {**asdict(self), "ratio_batch1": self.ratio_batch1, "ratio_full": self.ratio_full}


def verify_mean_square(
    betas: Sequence[float] = (0.0, 0.5, 0.9),
    *,
    n: int = 128,
    d: int = 256,
    steps: int = 20000,
    seed: int = 0,
) -> list[MeanSquareCheck]:
    r"""Batch size 1 and full batch critical learning rates on over-parameterised regression.

    For each :math:`\beta`: at batch size 1 the noise-dominated mean-square limit predicts
    :math:`\eta_c \approx 2(1-\beta)/\mathrm{BS}` (per-sample Hessians are rank one, so
    :math:`E[h^2]/E[h]` is the Batch Sharpness :math:`E\|x_i\|^2`); at full batch the
    deterministic threshold gives :math:`\eta_c = 2(1+\beta)/\lambda_{\max}` exactly.
    """
    X = overparameterized_regression(n, d, seed)
    lam_max = float(np.linalg.eigvalsh(X @ X.T / n)[-1])
    e = np.random.default_rng(seed + 1).standard_normal(n) @ X
    bs1 = batch_sharpness(X, e, 1)
    out = []
    for beta in betas:
        beta = unit_interval("beta", beta)
        eta1, _, _ = critical_eta_batch(X, beta, scale=2 * (1 - beta) / bs1, steps=steps, seed=seed + 2)
        etaf = critical_eta_full_batch(X, beta)
        out.append(MeanSquareCheck(beta, n, d, bs1, lam_max, eta1, etaf))
    return out
