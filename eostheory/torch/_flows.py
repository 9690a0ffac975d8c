r"""The flows of :mod:`eostheory.flows` on a torch objective, matrix-free.

The vector fields are those of the toy path (central, rod and edge flow; the numba sources
``eostheory/flows/_src_*.py``), written against a matrix-free oracle: gradients,
Hessian-vector products through one gradient graph (:class:`HessianOperator`), the
third-derivative contraction :math:`\nabla^3 L[u, u] = \nabla(u^\top H u)` and top
eigenpairs by warm-started Lanczos (:class:`EigenTracker`).  Parameters are parsed and
validated by the same :class:`~eostheory.flows.Flow` definitions, the central flow with
several eigenvalues calls the same semidefinite complementarity solver
(:func:`eostheory.flows._linalg.sdcp_solve`), and the states, predicted centre, loss and
oscillation are defined as in the toy path.  Time is counted in GD steps.

States:

- ``gradient`` / ``stable``: :math:`w`; :math:`\dot w = -\eta\nabla L` (stable flow stops
  when :math:`S(w) \ge 2/\eta`).
- ``central`` (``k`` = 1 to 3, ``tau``): :math:`w`;
  :math:`\dot w = -\eta[\nabla L + \tfrac12\sum_{ij} X_{ij}\nabla^3 L[u_i, u_j]]` with
  :math:`X` from the complementarity problem (closed form for ``k = 1``).
- ``rod`` (``extent``): :math:`(\bar w, \delta)`, the rank-one rod :math:`\Sigma = \delta\delta^\top`
  (see :func:`rod_delta_rhs` for the vector equation); with ``extent=oscillation`` (default)
  :math:`\Sigma` is the oscillating block of the extent, with ``extent=full`` the reconstructed
  :math:`\delta\delta^\top` including the drift half-step; ``rod:rank=r`` (``r > 1``):
  :math:`(\bar w, U, s)` with :math:`\Sigma = U\,\mathrm{diag}(s)\,U^\top` of rank ``r``,
  stepped and truncated (:class:`_RodLowRank`); ``rod:rank=r:points=signs`` evaluates the
  gradient at the ``2^r`` points :math:`\bar w + \sum_i \pm\sqrt{\lambda_i}v_i` instead of
  :math:`\bar w \pm \delta` (every eigen-direction of :math:`\Sigma` then grows on its own).
- ``edge`` / ``edge-rayleigh`` (``curvature``, ``growth``): :math:`(c, u, r)`.

Integration is fixed-step (classical RK4 or explicit Euler, the same formulas and time
grid as :func:`eostheory.integrate.solve` with ``method="rk4"``/``"euler"``; for the edge
flow also the exponential integrator ``method="exponential"``, one evaluation per step and
stable at ``dt = 1``), in the objective's dtype (float32 or float64) and on its device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import positive_float
from eostheory.flows import FlowParam, resolve_flow
from eostheory.flows._linalg import min_eig_svec, sdcp_solve, svec_pairs
from eostheory.flows._run import Predictions
from eostheory.torch._backend import require_torch
from eostheory.torch._curvature import EigenTracker
from eostheory.torch._objective import HessianOperator, Objective

torch = require_torch()

__all__ = [
    "TORCH_FLOWS",
    "CostModel",
    "GDMidpoints",
    "TorchFlowResult",
    "flow_vs_gd",
    "gd_midpoints",
    "measure_costs",
    "rod_delta_rhs",
    "solve_torch_flow",
]

#: the flows available on torch objectives
TORCH_FLOWS = ("gradient", "stable", "central", "rod", "edge", "edge-rayleigh")

_GAP_TOL = 1e-8

#: the torch path's own rod parameter (the toy path keeps the full matrix ``Sigma``)
_ROD_RANK = FlowParam(
    "rank",
    1,
    "rank of the rod extent Sigma: 1 = the vector rod delta (rod_delta_rhs); r > 1 = "
    "Sigma = U diag(s) U^T by step-and-truncate",
    integer_range=(1, 2**31 - 1),
)
_ROD_POINTS = FlowParam(
    "points",
    "top",
    "where the rod evaluates the gradient: top = w +- delta with delta the top eigenpair of Sigma "
    "(the matrix rod); signs = the 2^rank points w + sum_i (+-) sqrt(lambda_i) v_i",
    choices=("top", "signs"),
)
_MAX_SIGNS_RANK = 6


@dataclass(frozen=True)
class CostModel:
    r"""Cost of each primitive in gradient-equivalents (a plain gradient is 1).

    Attributes:
        graph: a gradient with ``create_graph=True`` (the start of a :class:`HessianOperator`).
        hvp: one Hessian-vector product through an existing graph.
        third: one contraction :math:`\nabla(u^\top H u)` through an existing graph.
        measured: whether the numbers were timed (:func:`measure_costs`) or are nominal.
        seconds_gradient: the timed plain gradient (``None`` when nominal).
    """

    graph: float = 1.5
    hvp: float = 2.0
    third: float = 4.0
    measured: bool = False
    seconds_gradient: float | None = None

    def cost(self, work: Mapping[str, float]) -> float:
        """Gradient-equivalents of a work record (``gradients``, ``graphs``, ``hvps``, ``thirds``)."""
        return (
            float(work.get("gradients", 0))
            + self.graph * float(work.get("graphs", 0))
            + self.hvp * float(work.get("hvps", 0))
            + self.third * float(work.get("thirds", 0))
        )


def measure_costs(objective: Objective, theta: Any = None, *, repeats: int = 20) -> CostModel:
    r"""Time a gradient, a graph build, an HVP and a third-derivative contraction at ``theta``.

    Args:
        objective: the objective.
        theta: the point (``objective.theta0`` by default).
        repeats: timings per primitive (the median is used).

    Returns:
        A :class:`CostModel` with ``measured=True``.
    """
    th = objective.as_theta(objective.theta0 if theta is None else theta)
    saved = objective.work.as_dict()
    gen = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(objective.n_params, generator=gen, dtype=torch.float64).to(th.device, th.dtype)
    u = u / torch.linalg.vector_norm(u)

    def timed(f: Any) -> float:
        ts = []
        for _ in range(max(3, int(repeats))):
            _sync(th)
            t0 = time.perf_counter()
            f()
            _sync(th)
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    t_grad = timed(lambda: objective.value_and_grad(th))
    t_graph = timed(lambda: objective.hessian(th))
    op = objective.hessian(th)
    t_hvp = timed(lambda: op.matvec(u))
    t_third = timed(lambda: op.third(u, check=False))
    objective.work.load(saved)
    return CostModel(t_graph / t_grad, t_hvp / t_grad, t_third / t_grad, True, t_grad)


def _sync(t: Any) -> None:
    if t.device.type == "cuda":  # pragma: no cover - needs a GPU
        torch.cuda.synchronize(t.device)


@dataclass
class TorchFlowResult(Predictions):
    r"""A flow solved on a torch objective (the fields of :class:`~eostheory.flows.FlowResult`).

    Arrays are NumPy float64, indexed by the recorded GD times ``t`` (flow time plus the
    flow's ``time_offset``).

    Attributes:
        flow, params, status, message, t, center, predicted_loss, predicted_oscillation,
            sharpness, edge, extras, events, threshold: as in ``FlowResult``.
        state: the recorded states (``None`` unless ``keep_state=True``).
        work: counters: ``rhs`` (vector-field evaluations), ``steps``, and the primitives
            spent by the vector field (``gradients``, ``graphs``, ``hvps``, ``thirds``),
            plus ``observation`` (the same, spent on the recorded observables).
        cost: the :class:`CostModel` used for :attr:`cost_per_rhs` and :attr:`cost_per_step`.
        seconds: wall time of the integration; ``seconds_rhs`` of the vector field alone.
    """

    flow: str
    params: dict[str, Any]
    status: str
    message: str
    t: np.ndarray
    center: np.ndarray
    predicted_loss: np.ndarray
    predicted_oscillation: np.ndarray
    sharpness: np.ndarray
    edge: np.ndarray
    extras: dict[str, np.ndarray]
    events: list[tuple[float, str]]
    threshold: float
    work: dict[str, Any]
    cost: CostModel
    seconds: float
    seconds_rhs: float
    dt: float
    method: str
    state: np.ndarray | None = field(default=None, repr=False)
    final_state: Any = field(default=None, repr=False)

    @property
    def cost_per_rhs(self) -> float:
        """Gradient-equivalents per vector-field evaluation."""
        return self.cost.cost(self.work) / max(1, self.work["rhs"])

    @property
    def cost_per_step(self) -> float:
        """Gradient-equivalents per GD step of simulated time (``rhs per step x cost per rhs``)."""
        span = max(self.work.get("span", 0.0), 1e-300)
        return self.cost.cost(self.work) / span

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "flow": self.flow,
            "params": self.params,
            "status": self.status,
            "message": self.message,
            "threshold": self.threshold,
            "final": self.final,
            "method": self.method,
            "dt": self.dt,
            "work": self.work,
            "cost_model": {"graph": self.cost.graph, "hvp": self.cost.hvp, "third": self.cost.third},
            "cost_per_rhs": self.cost_per_rhs,
            "cost_per_step": self.cost_per_step,
            "seconds": self.seconds,
        }


# --------------------------------------------------------------------------------------
# the vector fields
# --------------------------------------------------------------------------------------


class _Counter:
    """Work of the vector field: deltas of the objective's counters plus graph builds."""

    def __init__(self, obj: Objective) -> None:
        self.obj = obj
        self.graphs = 0

    def snapshot(self) -> tuple[dict[str, int], int]:
        return self.obj.work.as_dict(), self.graphs

    def since(self, snap: tuple[dict[str, int], int]) -> dict[str, int]:
        w0, g0 = snap
        w1 = self.obj.work.as_dict()
        graphs = self.graphs - g0
        return {
            "gradients": w1["gradients"] - w0["gradients"] - graphs,
            "graphs": graphs,
            "hvps": w1["hvps"] - w0["hvps"],
            "thirds": w1["thirds"] - w0["thirds"],
            "losses": w1["losses"] - w0["losses"],
        }

    def hessian(self, theta: Any) -> HessianOperator:
        self.graphs += 1
        return self.obj.hessian(theta)


def _add(acc: dict[str, int], d: Mapping[str, int]) -> None:
    for k, v in d.items():
        acc[k] = acc.get(k, 0) + int(v)


class _Field:
    """A flow's vector field, initial state and observables on a torch objective."""

    def __init__(self, name: str, obj: Objective, p: np.ndarray, eig: _Eig, counter: _Counter) -> None:
        self.name = name
        self.obj = obj
        self.p = p
        self.eta = float(p[0])
        self.eig = eig
        self.cnt = counter
        self.n = obj.n_params
        self.flag = ""

    # default: gradient flow
    def initial(self, w0: Any) -> Any:
        return w0.clone()

    def rhs(self, y: Any) -> Any:
        _L, g = self.obj.value_and_grad(y)
        return -self.eta * g

    def center(self, y: Any) -> Any:
        return y[: self.n]

    def observe(self, y: Any) -> tuple[float, float, float, float, list[float]]:
        """(predicted loss, predicted oscillation, S, edge indicator, extras)."""
        w = y[: self.n]
        S = self.eig.top(w)
        return self.obj.value(w), 0.0, S, S - 2.0 / self.eta, []


class _Eig:
    """Top eigenpairs along the trajectory: dense for small objectives, warm Lanczos otherwise."""

    def __init__(self, obj: Objective, counter: _Counter, k: int, method: str, tol: float) -> None:
        self.obj = obj
        self.cnt = counter
        self.k = k
        self.method = method
        self.tol = tol
        self.tracker = EigenTracker(k, method=method, tol=tol) if method != "dense" else None
        self.obs_tracker = EigenTracker(1, method=method, tol=tol) if method != "dense" else None

    def pairs(self, op: HessianOperator, k: int | None = None) -> tuple[np.ndarray, Any, float | None]:
        """Top-k values (descending), vectors (columns) and the next value (dense only)."""
        k = self.k if k is None else k
        if self.tracker is None:
            H = op.dense()
            lam, V = torch.linalg.eigh(H)
            idx = torch.arange(op.n - 1, op.n - 1 - k, -1, device=V.device)
            nxt = float(lam[op.n - 1 - k]) if op.n > k else None
            return lam[idx].double().cpu().numpy(), V[:, idx], nxt
        res = self.tracker(op)
        return np.asarray(res.values, dtype=np.float64), res.vectors, None

    def top(self, w: Any) -> float:
        op = self.cnt.hessian(w)
        if self.obs_tracker is None:
            return float(torch.linalg.eigvalsh(op.dense())[-1])
        return self.obs_tracker(op).top


class _Central(_Field):
    """Central flow (``_src_central.central_core`` / ``central1_core``)."""

    def core(self, y: Any) -> tuple[Any, np.ndarray, Any, np.ndarray, float]:
        eta = self.eta
        k = int(self.p[1])
        tau = float(self.p[2])
        thr = 2.0 / eta
        op = self.cnt.hessian(y)
        g = op.gradient
        lam, U, nxt = self.eig.pairs(op, k)
        I, J, wt = svec_pairs(k)
        m = k * (k + 1) // 2
        D = torch.empty((m, self.n), dtype=y.dtype, device=y.device)
        a = np.empty(m)
        for q in range(m):
            ui = U[:, I[q]]
            uj = U[:, J[q]]
            if I[q] == J[q]:
                row = op.third(ui)
            else:  # polarization, as third_pair
                row = 0.25 * (op.third(ui + uj) - op.third(ui - uj))
            D[q] = float(wt[q]) * row
            a[q] = eta * float(D[q] @ g)
            if I[q] == J[q]:
                a[q] += (thr - lam[I[q]]) / tau
        x = np.zeros(m)
        if k == 1:
            b = float(D[0] @ D[0])
            e = -a[0]
            if e >= 0.0:
                if not b > 1e-300:
                    self.flag = "the sharpness gradient vanishes where the stability constraint binds"
                    return g, lam, D, x, e
                x[0] = -2.0 * a[0] / (eta * b)
                if nxt is not None and lam[0] - nxt < _GAP_TOL * max(1.0, abs(lam[0])):
                    self.flag = "no eigen-gap below the tracked eigenvalue"
            return g, lam, D, x, e
        Dd = D.double().cpu().numpy()
        Bs = 0.5 * eta * (Dd @ Dd.T)
        e = -float(min_eig_svec(a, k, I, J, wt))
        flag = int(sdcp_solve(a, Bs, k, x))
        if flag == 1:
            self.flag = "the sharpness gradients vanish where the stability constraint binds"
        elif flag == 2:
            self.flag = "the semidefinite complementarity problem was not solved to tolerance"
        if e >= 0.0 and nxt is not None and lam[k - 1] - nxt < _GAP_TOL * max(1.0, abs(lam[0])):
            self.flag = "no eigen-gap below the tracked eigenvalues"
        return g, lam, D, x, e

    def rhs(self, y: Any) -> Any:
        g, _lam, D, x, _e = self.core(y)
        xt = torch.as_tensor(x, dtype=y.dtype, device=y.device)
        return -self.eta * (g + 0.5 * (xt @ D))

    def observe(self, y: Any) -> tuple[float, float, float, float, list[float]]:
        flag = self.flag
        _g, lam, _D, x, e = self.core(y)
        self.flag = flag
        k = int(self.p[1])
        I, J, _wt = svec_pairs(k)
        tr = sum(x[q] for q in range(len(x)) if I[q] == J[q])
        lx = sum(lam[I[q]] * x[q] for q in range(len(x)) if I[q] == J[q])
        S = float(lam[0])
        return self.obj.value(y) + 0.5 * lx, math.sqrt(max(tr, 0.0)), S, e, [tr, 2.0 / self.eta - S]


def _rod_initial_extent(field: _Field, w0: Any, rank: int = 1) -> tuple[Any, Any]:
    r"""``(w̄₀, δ)`` at GD time ½: :math:`\bar w_0 = w_0 + \delta_0`, :math:`\delta_0 = -\tfrac\eta2\nabla L(w_0)`.

    With ``extent=full`` the extent starts as :math:`\delta_0`, GD's first half-step.  With
    ``extent=oscillation`` it starts as the projection of :math:`\delta_0` onto the top
    ``rank`` eigenvectors of :math:`H(w_0)` — the part of GD's first half-step that can
    oscillate (the edge flow starts its amplitude the same way); with ``rank = n`` that is
    :math:`\delta_0` itself, the toy path's matrix rod.
    """
    op = field.cnt.hessian(w0)
    delta = -0.5 * field.eta * op.gradient
    wbar = w0 + delta
    if field.p[1] > 0.5 and rank < field.n:
        if rank == 1 or field.eig.tracker is None:
            _lam, U, _nxt = field.eig.pairs(op, rank)
        else:
            method = "lanczos" if field.eig.method == "power" else field.eig.method  # power: top pair only
            U = EigenTracker(rank, method=method, tol=field.eig.tol)(op).vectors
        delta = U @ (U.T @ delta)
    return wbar, delta


def rod_delta_rhs(delta: Any, gp: Any, gm: Any, eta: float) -> Any:
    r"""The rank-one rod: :math:`\dot\delta` for :math:`\Sigma = \delta\delta^\top`.

    The matrix equation :math:`\dot\Sigma = A - 2\Sigma`,
    :math:`A = \tfrac{\eta^2}{4}(\nabla L_+\nabla L_+^\top + \nabla L_-\nabla L_-^\top)`,
    is projected onto the tangent space of rank-one matrices at :math:`\delta\delta^\top`
    (:math:`P(A) = (A\delta\delta^\top + \delta\delta^\top A)/\|\delta\|^2 -
    (\delta^\top A\delta)\,\delta\delta^\top/\|\delta\|^4`); solving
    :math:`\dot\delta\delta^\top + \delta\dot\delta^\top = P(A) - 2\delta\delta^\top` gives

    .. math::
        \dot\delta = \frac{A\delta}{\|\delta\|^2}
        - \frac{\delta^\top A\delta}{2\|\delta\|^4}\,\delta - \delta,
        \qquad A\delta = \tfrac{\eta^2}{4}\big[(\nabla L_+\!\cdot\delta)\nabla L_+
        + (\nabla L_-\!\cdot\delta)\nabla L_-\big].

    In one dimension it is the matrix equation exactly (:math:`\dot\delta = A/(2\delta) -
    \delta`); in general it agrees with it whenever :math:`A\delta \parallel \delta`, and
    costs no more than the centre equation (two inner products).  ``extent=oscillation``
    calls it with ``gp = gm = D = (∇L₊ − ∇L₋)/2``, i.e. :math:`A = \tfrac{\eta^2}{2}DD^\top`.
    """
    q = 0.25 * eta * eta
    ap = float(gp @ delta)
    am = float(gm @ delta)
    d2 = float(delta @ delta)
    Ad = q * (ap * gp + am * gm)
    dAd = q * (ap * ap + am * am)
    return Ad / d2 - (0.5 * dAd / (d2 * d2)) * delta - delta


class _Rod(_Field):
    """Rod flow (``_src_rod``) with the rank-one rod as the vector ``delta``."""

    def initial(self, w0: Any) -> Any:
        wbar, delta = _rod_initial_extent(self, w0)
        return torch.cat([wbar, delta])

    def rhs(self, y: Any) -> Any:
        n = self.n
        eta = self.eta
        wb, delta = y[:n], y[n:]
        oscillation = self.p[1] > 0.5
        nonzero = float(delta @ delta) > 1e-300
        if not nonzero and not oscillation:
            self.flag = "degenerate rod (zero extent): the rank-one vector equation is singular"
            return torch.zeros_like(y)
        opp = self.cnt.hessian(wb + delta)
        opm = self.cnt.hessian(wb - delta)
        gp, gm = opp.gradient, opm.gradient
        s = gp + gm
        dw = -0.5 * eta * s - 0.125 * eta * eta * (opp.matvec(s) + opm.matvec(s))
        if not nonzero:  # no oscillation: its source (eta^2/2) D D^T vanishes with it
            return torch.cat([dw, torch.zeros_like(delta)])
        if oscillation:
            d = 0.5 * (gp - gm)
            return torch.cat([dw, rod_delta_rhs(delta, d, d, eta)])
        return torch.cat([dw, rod_delta_rhs(delta, gp, gm, eta)])

    def observe(self, y: Any) -> tuple[float, float, float, float, list[float]]:
        n = self.n
        wb, delta = y[:n], y[n:]
        S = self.eig.top(wb)
        ls = 0.5 * (self.obj.value(wb + delta) + self.obj.value(wb - delta))
        d2 = float(delta @ delta)
        return ls, math.sqrt(d2), S, S - 2.0 / self.eta, [d2]


def _top_eigen(B: Any, M: Any, r: int) -> tuple[Any, Any]:
    r"""Top-``r`` eigenpairs of :math:`B M B^\top` (``B``: ``n x m``, ``M``: symmetric ``m x m``).

    With the reduced QR factorization :math:`B = QR`, :math:`BMB^\top = Q(RMR^\top)Q^\top`,
    so the eigenpairs are those of the small matrix :math:`RMR^\top` mapped by :math:`Q`
    (exact for any ``B``, also rank-deficient or with more columns than rows).

    Returns:
        ``(U, s)``: orthonormal columns ``U`` (``n x r``) and eigenvalues ``s``, descending.
    """
    Q, R = torch.linalg.qr(B)
    C = R @ M @ R.T
    lam, V = torch.linalg.eigh(0.5 * (C + C.T))
    idx = torch.arange(lam.shape[0] - 1, lam.shape[0] - 1 - r, -1, device=lam.device)
    return Q @ V[:, idx], lam[idx]


class _RodLowRank(_Field):
    r"""Rod flow with a rank-``r`` extent :math:`\Sigma = U\,\mathrm{diag}(s)\,U^\top`.

    State ``(wbar, U, s)`` (``U`` stored column after column).  The half-extent is the top
    eigenpair, :math:`\delta = \sqrt{\lambda_1(\Sigma)}\,v_1(\Sigma)`, as in the matrix rod;
    the centre follows the same equation.  The extent follows
    :math:`\dot\Sigma = \tfrac{\eta^2}{4}(\nabla L_+\nabla L_+^\top + \nabla L_-\nabla L_-^\top)
    - 2\Sigma` by a step-and-truncate scheme: one RK4 (or Euler) step of the matrix equation
    is exact in the basis ``[U, grad L+-`` of each stage``]`` (``r + 8`` vectors, ``r + 4P`` with
    ``points="signs"``), and
    the result is truncated to its top ``r`` eigenpairs (:func:`_top_eigen`).  Each stage
    evaluates :math:`\delta` from its own (untruncated) :math:`\Sigma`, so with ``r = n`` this
    is the matrix rod's RK4 step exactly.

    ``points="signs"`` evaluates the gradient instead at the :math:`P = 2^r` points
    :math:`w_\epsilon = \bar w + \sum_i \epsilon_i\sqrt{\lambda_i}\,v_i`,
    :math:`\epsilon \in \{\pm1\}^r` (all eigenpairs of :math:`\Sigma`, every sign pattern), and
    averages: with :math:`\bar g = \frac1P\sum_\epsilon \nabla L(w_\epsilon)`,

    .. math::
        \dot{\bar w} = -\eta\,\bar g - \tfrac{\eta^2}{2}\Big(\tfrac1P\sum_\epsilon
        \nabla^2 L(w_\epsilon)\Big)\bar g, \qquad
        \dot\Sigma = \tfrac{\eta^2}{2}\,\tfrac1P\sum_\epsilon
        \nabla L(w_\epsilon)\nabla L(w_\epsilon)^\top - 2\Sigma .

    For ``r = 1`` (``P = 2``) these are the rod's equations; on a quadratic
    :math:`\dot\Sigma = \tfrac{\eta^2}{2}(H\bar w\bar w^\top H + H\Sigma H) - 2\Sigma`, so every
    eigen-direction of :math:`\Sigma` grows at its own rate :math:`\eta^2 h^2/2 - 2`, where
    the top-eigenpair rod amplifies only :math:`\lambda_1 v_1 v_1^\top`.

    With ``extent=oscillation`` (the default) the extent's source is the spread of those
    gradients about their mean, :math:`\tfrac{\eta^2}{2}\tfrac1P\sum_\epsilon
    (\nabla L(w_\epsilon) - \bar g)(\nabla L(w_\epsilon) - \bar g)^\top` (with ``P = 2``:
    :math:`\tfrac{\eta^2}{2}DD^\top`, :math:`D = (\nabla L_+ - \nabla L_-)/2`), and the
    extent starts from the top-eigenvector part of GD's first half-step.

    ``rhs`` returns ``[dwbar/dt, g_1, ..., g_P]`` (``(P + 1) n``; one column
    :math:`(\nabla L_+ - \nabla L_-)/\sqrt2` for the oscillating top-eigenpair rod): what
    :meth:`step` needs.
    """

    def __init__(
        self, name: str, obj: Objective, p: np.ndarray, eig: _Eig, counter: _Counter, rank: int, points: str = "top"
    ) -> None:
        super().__init__(name, obj, p, eig, counter)
        self.rank = int(rank)
        self.points = points
        npts = 2 if points == "top" else 2**self.rank
        self.colw = 0.5 * self.eta * self.eta / npts

    def split(self, y: Any) -> tuple[Any, Any, Any]:
        n, r = self.n, self.rank
        return y[:n], y[n : n + n * r].reshape(r, n).T, y[n + n * r :]

    def pack(self, wb: Any, U: Any, s: Any) -> Any:
        return torch.cat([wb, U.T.reshape(-1), s])

    def delta(self, y: Any) -> tuple[Any, Any, float]:
        wb, U, s = self.split(y)
        V, lam = _top_eigen(U, torch.diag(s), 1)
        top = max(float(lam[0]), 0.0)
        return wb, math.sqrt(top) * V[:, 0], top

    def initial(self, w0: Any) -> Any:
        wbar, delta = _rod_initial_extent(self, w0, self.rank)
        d2 = float(delta @ delta)
        U = torch.zeros((self.n, self.rank), dtype=w0.dtype, device=w0.device)
        s = torch.zeros(self.rank, dtype=w0.dtype, device=w0.device)
        if d2 > 0.0:
            U[:, 0] = delta / math.sqrt(d2)
            s[0] = d2
        return self.pack(wbar, U, s)

    def rhs(self, y: Any) -> Any:
        eta = self.eta
        if self.points == "signs":
            ops = [self.cnt.hessian(w) for w in self.sign_points(y)]
            gs = [op.gradient for op in ops]
            sbar = sum(gs) / len(gs)
            hs = sum(op.matvec(sbar) for op in ops) / len(ops)
            if self.p[1] > 0.5:  # oscillation: the spread of the gradients about their mean
                gs = [g - sbar for g in gs]
            return torch.cat([-eta * sbar - 0.5 * eta * eta * hs, *gs])
        wb, delta, _top = self.delta(y)
        opp = self.cnt.hessian(wb + delta)
        opm = self.cnt.hessian(wb - delta)
        gp, gm = opp.gradient, opm.gradient
        sg = gp + gm
        dw = -0.5 * eta * sg - 0.125 * eta * eta * (opp.matvec(sg) + opm.matvec(sg))
        if self.p[1] > 0.5:  # oscillation: (eta^2/2) D D^T is one column (gp - gm)/sqrt(2) at weight eta^2/4
            return torch.cat([dw, (gp - gm) * math.sqrt(0.5)])
        return torch.cat([dw, gp, gm])

    def step(self, y: Any, h: float, method: str, f: Any, f0: Any) -> Any:
        """One RK4 (or Euler) step of ``(wbar, Sigma)`` in the stages' basis, truncated to rank ``r``."""
        n, r = self.n, self.rank
        q = self.colw
        nc = f0.numel() // n - 1
        wb0, U0, s0 = self.split(y)
        nst = 1 if method == "euler" else 4
        m = r + nc * nst
        M0 = torch.zeros((m, m), dtype=y.dtype, device=y.device)
        M0[:r, :r] = torch.diag(s0)
        cols = [U0]
        dws, Ks = [], []
        k = f0
        Mi = M0
        for i in range(nst):
            dws.append(k[:n])
            cols.append(k[n:].reshape(nc, n).T)
            K = -2.0 * Mi
            j = r + nc * i
            for c in range(nc):
                K[j + c, j + c] += q
            Ks.append(K)
            if i == nst - 1:
                break
            a = h if i == 2 else 0.5 * h
            Mi = M0 + a * K
            mi = r + nc * (i + 1)
            Us, ss = _top_eigen(torch.cat(cols, 1), Mi[:mi, :mi], r)
            k = f(self.pack(wb0 + a * dws[-1], Us, ss))
        B = torch.cat(cols, 1)
        if method == "euler":
            wb = wb0 + h * dws[0]
            M = M0 + h * Ks[0]
        else:
            wb = wb0 + h * (dws[0] + 2.0 * dws[1] + 2.0 * dws[2] + dws[3]) / 6.0
            M = M0 + h * (Ks[0] + 2.0 * Ks[1] + 2.0 * Ks[2] + Ks[3]) / 6.0
        U, s = _top_eigen(B, M, r)
        return self.pack(wb, U, s)

    def sign_points(self, y: Any) -> list[Any]:
        r"""The ``2^r`` points :math:`\bar w + \sum_i \epsilon_i\sqrt{\lambda_i}v_i`."""
        wb, U, s = self.split(y)
        V, lam = _top_eigen(U, torch.diag(s), self.rank)
        cols = V * torch.sqrt(torch.clamp(lam, min=0.0))
        pts = []
        for code in range(2**self.rank):
            eps = [1.0 if (code >> i) & 1 else -1.0 for i in range(self.rank)]
            pts.append(wb + cols @ torch.tensor(eps, dtype=y.dtype, device=y.device))
        return pts

    def observe(self, y: Any) -> tuple[float, float, float, float, list[float]]:
        wb, delta, top = self.delta(y)
        _wb, _U, s = self.split(y)
        S = self.eig.top(wb)
        if self.points == "signs":
            pts = self.sign_points(y)
            ls = sum(self.obj.value(w) for w in pts) / len(pts)
        else:
            ls = 0.5 * (self.obj.value(wb + delta) + self.obj.value(wb - delta))
        return ls, math.sqrt(top), S, S - 2.0 / self.eta, [float(s.sum())]


class _Edge(_Field):
    """Edge flow (``_src_edge``): state ``(c, u, r)``."""

    _cache: tuple[Any, tuple[Any, Any, Any, Any, float, float]] | None = None

    def initial(self, w0: Any) -> Any:
        op = self.cnt.hessian(w0)
        g = op.gradient
        _lam, U, _nxt = self.eig.pairs(op, 1)
        u = U[:, 0].clone()
        gu = float(g @ u)
        if gu < 0:
            u = -u
            gu = -gu
        r = 0.5 * self.eta * gu
        return torch.cat([w0 - r * u, u, torch.tensor([r], dtype=w0.dtype, device=w0.device)])

    def core(self, y: Any) -> tuple[Any, Any, Any, Any, float, float]:
        n = self.n
        c, u, r = y[:n], y[n : 2 * n], float(y[2 * n])
        nu = float(torch.linalg.vector_norm(u))
        if not nu > 1e-150:
            self.flag = "degenerate state (zero direction vector)"
            nu = 1.0
        uh = u / nu
        _L, gp = self.obj.value_and_grad(c + r * uh)
        _L, gm = self.obj.value_and_grad(c - r * uh)
        Hu = self.cnt.hessian(c).matvec(uh)
        ray = float(uh @ Hu)
        kappa = ray
        if self.p[1] > 0.5 and abs(r) > 1e-150:
            kappa = float(uh @ (gp - gm)) / (2.0 * r)
        return uh, gp, gm, Hu, kappa, ray

    def exponential_step(self, y: Any, h: float, method: str, f: Any, f0: Any) -> Any:
        r"""One step of length ``h`` of the exponential integrator (``method="exponential"``).

        With :math:`\bar g = (\nabla L_+ + \nabla L_-)/2`, :math:`q = u^\top H(c)u` and the
        vector field's own evaluation at ``y`` (no extra work):

        .. math::
            c' = c - h\eta\,(I - uu^\top)\bar g - \varphi\,(u\cdot\bar g)\,u, \quad
            \varphi = \frac{1 - e^{-h\eta q}}{q}; \qquad
            u' = \frac{u + h\eta H(c)u}{\|u + h\eta H(c)u\|}; \qquad
            r' = r\,e^{h\,\rho(\kappa)},

        :math:`\rho` the growth rate (``eta kappa - 2`` or ``log|1 - eta kappa|``).  The centre
        equation is stiff along ``u`` (its curvature there is about :math:`2/\eta`, so explicit
        Euler at ``h = 1`` is GD on :math:`L_{sym}` and oscillates itself); that component is
        integrated exactly for frozen curvature (exponential Euler), the rest by Euler.  ``u``
        takes the normalised Euler step of the linear equation :math:`\dot v = \eta H(c)v`,
        whose projection on the unit sphere is Oja's equation (no sign flips at ``h = 1``,
        unlike Euler on Oja's equation itself), and ``r`` the exact step for frozen
        :math:`\kappa` (``r`` stays positive).  First order in ``h``; at ``h = 1`` one
        evaluation (two gradients, one HVP) per GD step.
        """
        n = self.n
        eta = self.eta
        cached = self._cache
        uh, gp, gm, Hu, kappa, ray = cached[1] if cached is not None and cached[0] is y else self.core(y)
        c, r = y[:n], y[2 * n : 2 * n + 1]
        gb = 0.5 * (gp + gm)
        gu = float(gb @ uh)
        x = h * eta * ray
        phi = h * eta * (-math.expm1(-x) / x if abs(x) > 1e-12 else 1.0)
        c_new = c - h * eta * (gb - gu * uh) - phi * gu * uh
        v = uh + h * eta * Hu
        nv = float(torch.linalg.vector_norm(v))
        if not nv > 0.0:
            self.flag = "degenerate direction (u + h eta H u = 0)"
            nv = 1.0
        rate = self.rate(kappa)
        return torch.cat([c_new, v / nv, r * math.exp(min(h * rate, 700.0))])

    def rate(self, kappa: float) -> float:
        if self.p[2] > 0.5:
            return math.log(max(abs(1.0 - self.eta * kappa), 1e-300))
        return self.eta * kappa - 2.0

    def rhs(self, y: Any) -> Any:
        n = self.n
        eta = self.eta
        uh, gp, gm, Hu, kappa, ray = self.core(y)
        self._cache = (y, (uh, gp, gm, Hu, kappa, ray))
        u = y[n : 2 * n]
        nu2 = float(u @ u)
        dc = -0.5 * eta * (gp + gm)
        du = eta * (Hu - ray * uh) + 0.5 * (1.0 - nu2) * u
        dr = (self.rate(kappa) * y[2 * n]).reshape(1)
        return torch.cat([dc, du, dr])

    def observe(self, y: Any) -> tuple[float, float, float, float, list[float]]:
        n = self.n
        flag = self.flag
        uh, _gp, _gm, _Hu, kappa, ray = self.core(y)
        self.flag = flag
        c, r = y[:n], float(y[2 * n])
        ls = 0.5 * (self.obj.value(c + r * uh) + self.obj.value(c - r * uh))
        S = self.eig.top(c)
        return ls, abs(r), S, self.eta * kappa - 2.0, [kappa, ray]


_FIELDS = {
    "gradient": _Field,
    "stable": _Field,
    "central": _Central,
    "rod": _Rod,
    "edge": _Edge,
    "edge-rayleigh": _Edge,
}


# --------------------------------------------------------------------------------------
# integration
# --------------------------------------------------------------------------------------


def _bar(progress: bool, total: float, desc: str, initial: float = 0.0) -> Any:
    """A tqdm bar over ``total`` GD steps of time from ``initial``, or ``None`` (off, or tqdm missing)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with the torch extra
        return None
    return tqdm(total=float(total), initial=float(initial), desc=desc, unit="step", leave=True, bar_format=_BAR_FORMAT)


#: like tqdm's default, with the float time shown to one decimal
_BAR_FORMAT = "{l_bar}{bar}| {n:.1f}/{total:.1f} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def solve_torch_flow(
    objective: Objective,
    flow: str,
    *,
    eta: float,
    steps: float,
    x0: Any = None,
    params: Mapping[str, Any] | None = None,
    method: str = "rk4",
    dt: float | None = None,
    record_every: float = 1.0,
    eig_method: str | None = None,
    eig_tol: float = 1e-6,
    cost: CostModel | None = None,
    keep_state: bool = False,
    maxabs: float = 1e150,
    progress: bool = False,
) -> TorchFlowResult:
    r"""Solve a flow on a torch objective from GD's starting point, matrix-free.

    The state starts from ``x0`` as in :func:`eostheory.flows.solve_flow` (the rod from
    GD's first half-step, the edge flow from the first step's component along the top
    eigenvector); the same fixed-step formulas and time grid are used, so on a toy written
    in torch both paths give the same trajectory.

    Args:
        objective: an :class:`~eostheory.torch.Objective` (e.g. a ``NetworkObjective``).
        flow: ``gradient``, ``stable``, ``central``, ``rod``, ``edge``, ``edge-rayleigh``,
            optionally with parameters (``"central:k=2:tau=0.5"``, ``"edge:curvature=rayleigh"``).
            The rod takes ``rank`` here (``"rod:rank=2"``; default 1, the vector rod): a
            rank-``r`` extent integrated by step-and-truncate (:class:`_RodLowRank`);
            ``rank`` equal to the number of parameters is the toy path's matrix rod.  And
            ``points`` (``top`` default, or ``signs``: the ``2^rank`` sign patterns of all
            eigenpairs of :math:`\Sigma`, at most ``rank = 6``).
        eta: the GD step size :math:`\eta`.
        steps: the time span in GD steps.
        x0: GD's starting point (``objective.theta0`` by default).
        params: flow parameters (override those in the name); see ``eostheory flows``.
        method: ``rk4`` (default), ``euler``, or ``exponential`` (edge flows only: the
            exponential integrator of :meth:`_Edge.exponential_step`, one vector-field
            evaluation per step, stable at ``dt = 1``).
        dt: the fixed step in GD steps (default 0.25 for RK4, 1 for Euler and exponential as
            in the toy path).
        record_every: record the observables every this many GD steps (on the step grid).
        eig_method: ``"dense"`` (exact, for small objectives; default when the objective has
            at most 64 parameters) or a :func:`top_eigenpairs` method (``"lanczos"``
            default otherwise), warm-started along the trajectory.
        eig_tol: accuracy target of the iterative eigensolver.
        cost: the :class:`CostModel` for the cost per step (nominal by default; see
            :func:`measure_costs`).
        keep_state: also return every recorded state (``n x records`` floats).
        maxabs: a state entry beyond this counts as divergence.
        progress: show a tqdm bar of the time integrated (in GD steps) with the current
            sharpness, as :func:`~eostheory.torch.train` does (off by default; the command
            line turns it on at a terminal).

    Returns:
        A :class:`TorchFlowResult`; ``status`` is ``completed``, ``stopped`` (stable flow
        reached the edge), ``diverged`` or ``undefined`` (with the reason in ``message``).

    Raises:
        EosInputError: unknown flow or parameter, ``eta``/``steps``/``dt`` not positive,
            a starting point of the wrong size, a flow that cannot be defined here
            (``central:k=3`` or ``rod:rank=3`` on two parameters), or a model whose third derivatives fail
            the finite-difference check (central flow).
    """
    if not isinstance(objective, Objective):
        raise EosInputError(f"objective must be an eostheory.torch Objective, got {type(objective).__name__}")
    fl, kw = resolve_flow(flow)
    if fl.name not in _FIELDS:
        raise EosInputError(f"flow {fl.name!r} is not available on torch objectives; known: {', '.join(TORCH_FLOWS)}")
    kw = {**kw, **dict(params or {})}
    rank, points = 1, "top"
    if fl.name == "rod":
        rank = int(_ROD_RANK.value(kw.pop("rank", 1)))
        points = _ROD_POINTS.choices[int(_ROD_POINTS.value(kw.pop("points", "top")))]
        if points == "signs" and rank > _MAX_SIGNS_RANK:
            raise EosInputError(
                f"rod flow with points=signs evaluates 2^rank gradients; rank must be <= {_MAX_SIGNS_RANK}, got {rank}"
            )
    p = fl.param_array(eta, None, **kw)
    eta = float(p[0])
    steps_f = positive_float("steps", steps)
    if method not in ("rk4", "euler", "exponential"):
        raise EosInputError(f"method must be rk4, euler or exponential (fixed step), got {method!r}")
    if method == "exponential" and not fl.name.startswith("edge"):
        raise EosInputError(f"method exponential integrates the edge flow only, not {fl.name!r}; use rk4 or euler")
    dt = positive_float("dt", dt if dt is not None else (0.25 if method == "rk4" else 1.0))
    record_every = positive_float("record_every", record_every)
    n = objective.n_params
    k = int(p[1]) if fl.name == "central" else 1
    if k > n:
        raise EosInputError(f"central flow with k={k} eigenvalues needs at least {k} parameters; the objective has {n}")
    if rank > n:
        raise EosInputError(f"rod flow with rank={rank} needs at least {rank} parameters; the objective has {n}")
    eig_method = eig_method or ("dense" if n <= 64 else "lanczos")
    if eig_method not in ("dense", "lanczos", "eigsh", "power"):
        raise EosInputError(f"unknown eigensolver {eig_method!r}")
    w0 = objective.as_theta(objective.theta0 if x0 is None else x0)
    if not bool(torch.all(torch.isfinite(w0))):
        raise EosInputError("the starting point must be finite")
    if fl.name == "central" and objective._third_check is None:
        chk = objective.check_third_derivatives(w0)
        if not chk.passed:
            objective.hessian(w0).third(torch.ones_like(w0))  # raises with the explanation
    cost = cost or CostModel()
    cnt = _Counter(objective)
    eig = _Eig(objective, cnt, k, eig_method, positive_float("eig_tol", eig_tol))
    if fl.name == "rod" and (rank > 1 or points == "signs"):
        fld: _Field = _RodLowRank(fl.name, objective, p, eig, cnt, rank, points)
    else:
        fld = _FIELDS[fl.name](fl.name, objective, p, eig, cnt)
    custom_step = getattr(fld, "exponential_step" if method == "exponential" else "step", None)
    off = fl.time_offset
    t_end = steps_f - off

    rhs_work: dict[str, int] = {}
    obs_work: dict[str, int] = {}
    nrhs = 0
    t_rhs = 0.0

    def f(y: Any) -> Any:
        nonlocal nrhs, t_rhs
        snap = cnt.snapshot()
        t0 = time.perf_counter()
        out = fld.rhs(y)
        _sync(y)
        t_rhs += time.perf_counter() - t0
        _add(rhs_work, cnt.since(snap))
        nrhs += 1
        return out

    records: list[tuple[float, list[float], Any]] = []
    states: list[np.ndarray] = []

    def record(t: float, y: Any) -> None:
        snap = cnt.snapshot()
        obs = fld.observe(y)
        _add(obs_work, cnt.since(snap))
        records.append((t + off, [obs[0], obs[1], obs[2], obs[3], *obs[4]], fld.center(y).detach().double().cpu()))
        if keep_state:
            states.append(y.detach().double().cpu().numpy())

    def on_grid(t: float) -> bool:
        q = (t + off) / record_every
        return abs(q - round(q)) < 1e-9

    t_start = time.perf_counter()
    snap0 = cnt.snapshot()
    y = fld.initial(w0)
    init_work = cnt.since(snap0)
    status, message = "completed", "reached the final time"
    events: list[tuple[float, str]] = []
    t = 0.0
    f0 = f(y)
    if on_grid(0.0):
        record(0.0, y)
    i_step = 0
    nsteps = 0
    bar = _bar(progress, steps_f, f"{fl.name} flow eta={eta:g}", initial=off)
    if bar is not None and records:
        bar.set_postfix(S=f"{records[-1][1][2]:.4g}", refresh=False)
    try:
        while t < t_end - 1e-12 * max(1.0, t_end):
            if fld.flag:
                status, message = "undefined", f"the {fl.name} flow is undefined at t = {t + off:g}: {fld.flag}"
                break
            t_new = (i_step + 1) * dt
            if t_new > t_end - 1e-12 * max(1.0, t_end):
                t_new = t_end
            h = t_new - t
            if custom_step is not None:
                y_new = custom_step(y, h, method, f, f0)
            elif method == "euler":
                y_new = y + h * f0
            else:
                k2 = f(y + 0.5 * h * f0)
                k3 = f(y + 0.5 * h * k2)
                k4 = f(y + h * k3)
                y_new = y + h * (f0 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
            if not bool(torch.all(torch.isfinite(y_new))) or float(y_new.abs().max()) > maxabs:
                status, message = "diverged", f"the state left the finite range after t = {t + off:g}"
                break
            y, t = y_new, t_new
            i_step += 1
            nsteps += 1
            if bar is not None:
                bar.update(h)
            f0 = f(y)
            if not bool(torch.all(torch.isfinite(f0))):
                status, message = "diverged", f"the vector field is not finite at t = {t + off:g}"
                break
            if fl.stop_on_enter:
                S = eig.top(fld.center(y))
                if S - 2.0 / eta >= 0.0:
                    events.append((t + off, "enter"))
                    record(t, y)
                    status, message = "stopped", f"the sharpness reached 2/eta at t = {t + off:g} (within one step dt)"
                    break
            if on_grid(t) or t >= t_end - 1e-12 * max(1.0, t_end):
                record(t, y)
                if bar is not None:
                    bar.set_postfix(S=f"{records[-1][1][2]:.4g}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    if status == "completed" and fld.flag:
        status, message = "undefined", f"the {fl.name} flow is undefined at t = {t + off:g}: {fld.flag}"
    seconds = time.perf_counter() - t_start
    arr = np.array([r[1] for r in records], dtype=np.float64)
    centers = torch.stack([r[2] for r in records]).numpy() if records else np.zeros((0, n))
    work: dict[str, Any] = {"rhs": nrhs, "steps": nsteps, "span": t + 0.0, **rhs_work}
    work["initial"] = init_work
    work["observation"] = obs_work
    params_out: dict[str, Any] = {"eta": eta}
    for fp, v in zip(fl.params, p[1:].tolist(), strict=True):
        params_out[fp.name] = fp.choices[int(v)] if fp.choices else (int(v) if fp.integer_range else v)
    if fl.name == "rod":
        params_out["rank"] = rank
        params_out["points"] = points
    extras_names = {"central": ("sigma2", "margin"), "rod": ("trace_sigma",), "edge": ("kappa", "rayleigh")}
    names = extras_names.get("edge" if fl.name.startswith("edge") else fl.name, ())
    return TorchFlowResult(
        flow=fl.name,
        params=params_out,
        status=status,
        message=message,
        t=np.array([r[0] for r in records], dtype=np.float64),
        center=centers,
        predicted_loss=arr[:, 0],
        predicted_oscillation=arr[:, 1],
        sharpness=arr[:, 2],
        edge=arr[:, 3],
        extras={nm: arr[:, 4 + i] for i, nm in enumerate(names)},
        events=events,
        threshold=fl.threshold(p),
        work=work,
        cost=cost,
        seconds=seconds,
        seconds_rhs=t_rhs,
        dt=dt,
        method=method,
        state=np.array(states) if keep_state else None,
        final_state=y.detach(),
    )


# --------------------------------------------------------------------------------------
# GD and the comparison
# --------------------------------------------------------------------------------------


@dataclass
class GDMidpoints:
    r"""GD on a torch objective with the midpoints :math:`\bar w_t = \tfrac14(w_{t-1}+2w_t+w_{t+1})`.

    The fields of :class:`eostheory.analysis.compare.GDRecord` (``run`` is ``None``), so
    the comparison code of the toy path aligns and measures flows against it.
    """

    t: np.ndarray
    w: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    tm: np.ndarray
    midpoint: np.ndarray
    loss_avg: np.ndarray
    oscillation: np.ndarray
    sharpness_mid: np.ndarray
    run: Any = None
    seconds: float = 0.0


def gd_midpoints(
    objective: Objective,
    *,
    eta: float,
    steps: int,
    x0: Any = None,
    sharpness_every: int = 0,
    eig_method: str = "lanczos",
    progress: bool = False,
) -> GDMidpoints:
    """Full-batch GD ``w <- w - eta grad L(w)`` for ``steps`` steps, every iterate kept.

    Args:
        objective: the objective.
        eta: the step size.
        steps: number of steps.
        x0: starting point (``objective.theta0`` by default).
        sharpness_every: also track the sharpness every this many steps (0: never; NaN
            where not tracked).
        eig_method: the eigensolver for the sharpness.
        progress: show a tqdm bar (off by default).

    Raises:
        EosInputError: ``eta`` or ``steps`` not positive, or a non-finite loss (the record
            then ends at the last finite iterate; the error says where).
    """
    eta = positive_float("eta", eta)
    steps = int(steps)
    if steps < 1:
        raise EosInputError(f"steps must be >= 1, got {steps}")
    w = objective.as_theta(objective.theta0 if x0 is None else x0)
    tracker = EigenTracker(1, method=eig_method) if sharpness_every else None
    ws, ls, ss = [], [], []
    t0 = time.perf_counter()
    bar = _bar(progress, steps, f"gd eta={eta:g}")
    try:
        for t in range(steps + 1):
            L, g = objective.value_and_grad(w)
            if not bool(torch.isfinite(L)):
                raise EosInputError(f"GD's loss is not finite at step {t} (eta = {eta:g} too large?)")
            ws.append(w.detach().double().cpu().numpy())
            ls.append(float(L))
            s = math.nan
            if tracker is not None and t % sharpness_every == 0:
                s = tracker(objective.hessian(w)).top
            ss.append(s)
            w = w - eta * g
            if bar is not None and t < steps:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    W = np.array(ws)
    loss = np.array(ls)
    mid = (W[:-2] + 2 * W[1:-1] + W[2:]) / 4
    return GDMidpoints(
        t=np.arange(steps + 1),
        w=W,
        loss=loss,
        sharpness=np.array(ss),
        tm=np.arange(1, steps),
        midpoint=mid,
        loss_avg=(loss[:-2] + 2 * loss[1:-1] + loss[2:]) / 4,
        oscillation=np.linalg.norm(W[1:-1] - mid, axis=1),
        sharpness_mid=np.full(steps - 1, math.nan),
        seconds=time.perf_counter() - t0,
    )


def flow_vs_gd(result: TorchFlowResult, gd: GDMidpoints, window: int = 20) -> dict[str, Any]:
    r"""Align a flow with GD's midpoints (the toy path's comparison code) and add relative errors.

    Returns:
        The metrics of :mod:`eostheory.analysis.compare` plus ``t`` (aligned steps),
        ``center_error`` (:math:`\|c(t)-\bar w_t\|`), ``relative_error``
        (:math:`\|c(t)-\bar w_t\| / \|\bar w_t - w_0\|`, relative to the distance GD has
        travelled) and ``relative_error_norm`` (:math:`/\|\bar w_t\|`).
    """
    from eostheory.analysis.compare import _metrics

    t, err, metrics = _metrics(result, gd, window)  # type: ignore[arg-type]
    gi = np.asarray(t, dtype=np.int64) - 1
    disp = np.linalg.norm(gd.midpoint[gi] - gd.w[0], axis=1) if len(gi) else np.zeros(0)
    nrm = np.linalg.norm(gd.midpoint[gi], axis=1) if len(gi) else np.zeros(0)
    metrics.pop("final_center", None)
    metrics["t"] = np.asarray(t)
    metrics["center_error"] = err
    metrics["relative_error"] = err / np.maximum(disp, 1e-300)
    metrics["relative_error_norm"] = err / np.maximum(nrm, 1e-300)
    return metrics
