r"""The fixed-step loop that runs a flow's reference field on a torch objective.

The vector field, initial state and observables are the flow's own definition
(:class:`~eostheory.flows._fields.VectorField`) through the matrix-free
:class:`~eostheory.torch._flow_oracle.NetworkOracle`; this module only integrates,
records and counts.  Steps are taken by the integrator's steppers: the RK4 and Euler
tableaux (:func:`eostheory.integrate._tableau.explicit_step`), and two registered step
functions of their own (:func:`~eostheory.integrate._steppers.register_stepper`): the edge
flow's exponential integrator (``edge_exponential``) and the rank-``r`` rod's
step-and-truncate (``rod_lowrank_rk4``, ``rod_lowrank_euler``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import positive_float
from eostheory.flows import FLAG_MESSAGES, FLOWS, FlowParam, resolve_flow
from eostheory.flows._fields import EdgeField, Observation, Params, RodField, VectorField
from eostheory.flows._run import Predictions
from eostheory.integrate._steppers import get_stepper, register_stepper
from eostheory.integrate._tableau import TABLEAUX, StepResult
from eostheory.torch._backend import require_torch
from eostheory.torch._flow_cost import CostModel, sync
from eostheory.torch._flow_oracle import EigenSource, NetworkOracle, WorkCounter, add_work
from eostheory.torch._objective import Objective

torch = require_torch()

__all__ = [
    "TORCH_DEFAULTS",
    "TORCH_FLOWS",
    "TorchFlowResult",
    "progress_bar",
    "rod_delta_rhs",
    "solve_torch_flow",
    "torch_flows",
]


def torch_flows() -> tuple[str, ...]:
    """The registered flows that run on torch objectives: every continuous flow with a reference field."""
    return tuple(name for name, fl in FLOWS.items() if fl.vector_field is not None and not fl.discrete)


#: the flows available on torch objectives (at import; :func:`torch_flows` for later registrations)
TORCH_FLOWS = torch_flows()

#: the torch path's own rod parameters (the toy path keeps the full matrix ``Sigma``, rank n)
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


#: Each torch flow's default discretisation where it is not RK4 with dt = 0.25 and eigenvalues
#: to 1e-6: ``method``, ``dt``, ``eig_tol`` and flow ``params``, used when ``method`` is not
#: given.  The central flow's is the published code's scheme (Euler, substep 0.25, relaxation
#: time equal to the substep) with a warm Lanczos solve to 1e-4: on MLP 64-16-10 it is
#: within 1.4e-7 in sharpness and 1.3e-5 in predicted loss of the same scheme with
#: eigenvalues to 1e-6, at 24 HVPs and 4 third-derivative contractions per GD step against
#: RK4's 138 and 16 (benchmarks/bench_torch_flows.py).  The edge flows take the
#: exponential integrator at dt = 1 (one evaluation per GD step; on the same MLP at
#: eta = 2/S0 as close to GD's midpoint as RK4 at 16 evaluations, docs/torch.md).
TORCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "central": {"method": "euler", "dt": 0.25, "eig_tol": 1e-4, "params": {"tau": 0.25}},
    "edge": {"method": "exponential", "dt": 1.0},
    "edge-rayleigh": {"method": "exponential", "dt": 1.0},
}


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
    (The rod's vector representation, :meth:`RodField.vector_delta_rhs`.)
    """
    from eostheory.torch._flow_oracle import TORCH

    return RodField.vector_delta_rhs(TORCH, delta, gp, gm, eta)


class _Glue:
    """A flow's reference field on the network oracle, in the representation the loop runs."""

    def __init__(self, field: VectorField, P: Params, o: NetworkOracle, rank: int = 1, points: str = "top") -> None:
        self.field = field
        self.P = P
        self.o = o
        self.rank = rank
        self.points = points
        self.rep = "field"
        if isinstance(field, RodField):
            self.rep = "vector" if rank == 1 and points == "top" else "lowrank"

    @property
    def flag(self) -> str:
        return FLAG_MESSAGES.get(self.o.flag, f"flag {self.o.flag}") if self.o.flag else ""

    def initial(self, w0: Any) -> Any:
        f, o, P = self.field, self.o, self.P
        if self.rep == "vector":
            return f.vector_initial(o, w0, P)  # type: ignore[attr-defined]
        if self.rep == "lowrank":
            wb, delta = f.initial_extent(o, w0, P, self.rank)  # type: ignore[attr-defined]
            return f.lowrank_initial(o, wb, delta, self.rank)  # type: ignore[attr-defined]
        return f.initial(o, w0, P)

    def rhs(self, y: Any) -> Any:
        f, o, P = self.field, self.o, self.P
        if self.rep == "vector":
            return f.vector_rhs(o, y, P)  # type: ignore[attr-defined]
        if self.rep == "lowrank":
            return f.lowrank_rhs(o, y, P, self.rank, self.points)  # type: ignore[attr-defined]
        return f.rhs(o, y, P)

    def observe(self, y: Any) -> Observation:
        f, o, P = self.field, self.o, self.P
        if self.rep == "vector":
            return f.vector_observe(o, y, P)  # type: ignore[attr-defined]
        if self.rep == "lowrank":
            return f.lowrank_observe(o, y, P, self.rank, self.points)  # type: ignore[attr-defined]
        return f.observe(o, y, P)

    def center(self, y: Any) -> Any:
        return y[: self.o.n]


class _FlowRhs:
    """The vector field the steppers call: counts evaluations, work and time; carries its glue."""

    def __init__(self, glue: _Glue) -> None:
        self.glue = glue
        self.n = 0
        self.seconds = 0.0
        self.work: dict[str, int] = {}

    def __call__(self, y: Any) -> Any:
        cnt = self.glue.o.cnt
        snap = cnt.snapshot()
        t0 = time.perf_counter()
        out = self.glue.rhs(y)
        sync(y)
        self.seconds += time.perf_counter() - t0
        add_work(self.work, cnt.since(snap))
        self.n += 1
        return out


def _edge_exponential(f: Any, y: Any, h: float, f0: Any) -> StepResult:
    g = f.glue
    if f0 is None:
        f(y)  # the step reuses the field's evaluation at y
    return StepResult(g.field.exponential_step(g.o, y, g.P, h), None, None)


def _rod_lowrank(order: int) -> Any:
    def step(f: Any, y: Any, h: float, f0: Any) -> StepResult:
        g = f.glue
        f0 = f(y) if f0 is None else f0
        q = g.field.lowrank_weight(g.P, g.rank, g.points)
        return StepResult(g.field.lowrank_step(g.o, y, g.P, g.rank, h, order, f, f0, q), None, None)

    return step


register_stepper(
    "edge_exponential",
    _edge_exponential,
    1,
    "the edge flow's exponential integrator on torch objectives: one evaluation per step, stable at dt = 1",
)
register_stepper("rod_lowrank_rk4", _rod_lowrank(4), 4, "the rank-r rod's RK4 step-and-truncate (torch path)")
register_stepper("rod_lowrank_euler", _rod_lowrank(1), 1, "the rank-r rod's Euler step-and-truncate (torch path)")


def progress_bar(progress: bool, total: float, desc: str, initial: float = 0.0) -> Any:
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
    beta: float | None = None,
    method: str | None = None,
    dt: float | None = None,
    record_every: float = 1.0,
    eig_method: str | None = None,
    eig_tol: float | None = None,
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

    The vector field is the flow's reference definition (the same code the toy path's
    fast path is tested against), evaluated by the matrix-free network oracle.

    Args:
        objective: an :class:`~eostheory.torch.Objective` (e.g. a ``NetworkObjective``).
        flow: any continuous registered flow (:func:`torch_flows`: ``gradient``, ``stable``,
            ``modified``, ``central``, ``central-hb``, ``hb-modified``, ``rod``, ``edge``,
            ``edge-rayleigh``), optionally with parameters (``"central:k=2:tau=0.5"``,
            ``"edge:curvature=rayleigh"``).
            The rod takes ``rank`` here (``"rod:rank=2"``; default 1, the vector rod): a
            rank-``r`` extent integrated by step-and-truncate (:meth:`RodField.lowrank_step`);
            ``rank`` equal to the number of parameters is the toy path's matrix rod.  And
            ``points`` (``top`` default, or ``signs``: the ``2^rank`` sign patterns of all
            eigenpairs of :math:`\Sigma`, at most ``rank = 6``).
        eta: the GD step size :math:`\eta`.
        steps: the time span in GD steps.
        x0: GD's starting point (``objective.theta0`` by default).
        params: flow parameters (override those in the name); see ``eostheory flows``.
        beta: the momentum of a heavy-ball flow (``central-hb``, ``hb-modified``).
        method: ``rk4``, ``euler``, or ``exponential`` (edge flows only: the exponential
            integrator of :meth:`EdgeField.exponential_step`, one vector-field evaluation
            per step, stable at ``dt = 1``).  By default each flow's own discretisation
            (:data:`TORCH_DEFAULTS`: the central flow takes Euler steps of 0.25 with
            ``tau = 0.25`` and eigenvalues to 1e-4, the edge flows the exponential
            integrator at ``dt = 1``, the others RK4 with ``dt = 0.25``),
            the cheapest that tracks GD as well as the best one measured
            (``benchmarks/bench_torch_flows.py``, docs/torch.md).
        dt: the fixed step in GD steps (default: the flow's, else 0.25 for RK4 and 1 for
            Euler and exponential as in the toy path).
        record_every: record the observables every this many GD steps (on the step grid).
        eig_method: ``"dense"`` (exact, for small objectives; default when the objective has
            at most 64 parameters) or a :func:`top_eigenpairs` method (``"lanczos"``
            default otherwise), warm-started along the trajectory.
        eig_tol: accuracy target of the iterative eigensolver (default: the flow's, else 1e-6).
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
            (``central:k=3`` or ``rod:rank=3`` on two parameters), or a model whose third
            derivatives fail the finite-difference check (central flows).
    """
    if not isinstance(objective, Objective):
        raise EosInputError(f"objective must be an eostheory.torch Objective, got {type(objective).__name__}")
    fl, kw = resolve_flow(flow)
    available = torch_flows()
    if fl.name not in available:
        raise EosInputError(f"flow {fl.name!r} is not available on torch objectives; known: {', '.join(available)}")
    kw = {**kw, **dict(params or {})}
    if method is None:  # the flow's own discretisation, parameters the caller set kept
        d = TORCH_DEFAULTS.get(fl.name, {})
        method = str(d.get("method", "rk4"))
        dt = d.get("dt") if dt is None else dt
        eig_tol = d.get("eig_tol") if eig_tol is None else eig_tol
        for name, v in d.get("params", {}).items():
            kw.setdefault(name, v)
    eig_tol = 1e-6 if eig_tol is None else eig_tol
    rank, points = 1, "top"
    if fl.name == "rod":
        rank = int(_ROD_RANK.value(kw.pop("rank", 1)))
        points = _ROD_POINTS.choices[int(_ROD_POINTS.value(kw.pop("points", "top")))]
        if points == "signs" and rank > _MAX_SIGNS_RANK:
            raise EosInputError(
                f"rod flow with points=signs evaluates 2^rank gradients; rank must be <= {_MAX_SIGNS_RANK}, got {rank}"
            )
    p = fl.param_array(eta, beta, **kw)
    P = fl.named(p)
    vf: VectorField = fl.vector_field
    eta = float(P.eta)
    steps_f = positive_float("steps", steps)
    fixed = [name for name, tab in TABLEAUX.items() if tab.b_err is None]
    if method not in (*fixed, "exponential"):
        raise EosInputError(f"method must be {', '.join(fixed)} or exponential (fixed step), got {method!r}")
    if method == "exponential" and not isinstance(vf, EdgeField):
        raise EosInputError(f"method exponential integrates the edge flow only, not {fl.name!r}; use rk4 or euler")
    dt = positive_float("dt", dt if dt is not None else (0.25 if method == "rk4" else 1.0))
    record_every = positive_float("record_every", record_every)
    n = objective.n_params
    why = vf.applicable(n, P)
    if why is not None:
        raise EosInputError(why.replace("it has", "the objective has"))
    if rank > n:
        raise EosInputError(f"rod flow with rank={rank} needs at least {rank} parameters; the objective has {n}")
    eig_method = eig_method or ("dense" if n <= 64 else "lanczos")
    if eig_method not in ("dense", "lanczos", "eigsh", "power"):
        raise EosInputError(f"unknown eigensolver {eig_method!r}")
    w0 = objective.as_theta(objective.theta0 if x0 is None else x0)
    if not bool(torch.all(torch.isfinite(w0))):
        raise EosInputError("the starting point must be finite")
    if "third" in " ".join(fl.cost) and objective._third_check is None:
        chk = objective.check_third_derivatives(w0)
        if not chk.passed:
            objective.hessian(w0).third(torch.ones_like(w0))  # raises with the explanation
    cost = cost or CostModel()
    cnt = WorkCounter(objective)
    k = int(P["k"]) if "k" in P else 1
    eig = EigenSource(cnt, k, eig_method, positive_float("eig_tol", eig_tol))
    oracle = NetworkOracle(objective, cnt, eig)
    glue = _Glue(vf, P, oracle, rank, points)
    f = _FlowRhs(glue)
    if method == "exponential":
        stepper = get_stepper("edge_exponential")
    elif glue.rep == "lowrank":
        if method not in ("rk4", "euler"):
            raise EosInputError(f"the rank-r rod steps by rk4 or euler (step-and-truncate), not {method!r}")
        stepper = get_stepper("rod_lowrank_rk4" if method == "rk4" else "rod_lowrank_euler")
    else:
        stepper = get_stepper(method)
    thr = vf.threshold(P)
    off = fl.time_offset
    t_end = steps_f - off

    obs_work: dict[str, int] = {}
    records: list[tuple[float, list[float], Any]] = []
    states: list[np.ndarray] = []

    def record(t: float, y: Any) -> None:
        snap = cnt.snapshot()
        ob = glue.observe(y)
        add_work(obs_work, cnt.since(snap))
        vals = [ob.loss, ob.oscillation, ob.sharpness, ob.edge, *ob.extras]
        records.append((t + off, vals, glue.center(y).detach().double().cpu()))
        if keep_state:
            states.append(y.detach().double().cpu().numpy())

    def on_grid(t: float) -> bool:
        q = (t + off) / record_every
        return abs(q - round(q)) < 1e-9

    t_start = time.perf_counter()
    snap0 = cnt.snapshot()
    y = glue.initial(w0)
    init_work = cnt.since(snap0)
    status, message = "completed", "reached the final time"
    events: list[tuple[float, str]] = []
    t = 0.0
    f0 = f(y)
    if on_grid(0.0):
        record(0.0, y)
    i_step = 0
    nsteps = 0
    bar = progress_bar(progress, steps_f, f"{fl.name} flow eta={eta:g}", initial=off)
    if bar is not None and records:
        bar.set_postfix(S=f"{records[-1][1][2]:.4g}", refresh=False)
    try:
        while t < t_end - 1e-12 * max(1.0, t_end):
            if glue.flag:
                status, message = "undefined", f"the {fl.name} flow is undefined at t = {t + off:g}: {glue.flag}"
                break
            t_new = (i_step + 1) * dt
            if t_new > t_end - 1e-12 * max(1.0, t_end):
                t_new = t_end
            h = t_new - t
            y_new = stepper.step(f, y, h, f0).y_new
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
                S = eig.top(glue.center(y))
                if S - thr >= 0.0:
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
    if status == "completed" and glue.flag:
        status, message = "undefined", f"the {fl.name} flow is undefined at t = {t + off:g}: {glue.flag}"
    seconds = time.perf_counter() - t_start
    arr = np.array([r[1] for r in records], dtype=np.float64)
    centers = torch.stack([r[2] for r in records]).numpy() if records else np.zeros((0, n))
    work: dict[str, Any] = {"rhs": f.n, "steps": nsteps, "span": t + 0.0, **f.work}
    work["initial"] = init_work
    work["observation"] = obs_work
    params_out: dict[str, Any] = dict(P)
    if fl.name == "rod":
        params_out["rank"] = rank
        params_out["points"] = points
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
        extras={nm: arr[:, 4 + i] for i, nm in enumerate(vf.extras)},
        events=events,
        threshold=fl.threshold(p),
        work=work,
        cost=cost,
        seconds=seconds,
        seconds_rhs=f.seconds,
        dt=dt,
        method=method,
        state=np.array(states) if keep_state else None,
        final_state=y.detach(),
    )
