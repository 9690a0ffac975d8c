"""Solve a flow on a potential from a GD starting point: :func:`solve_flow` and :class:`FlowResult`."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import finite_vector, positive_float
from eostheory.compile._kernels import compile_potential
from eostheory.flows._base import FLAG_MESSAGES, Flow, compile_flow, resolve_flow
from eostheory.integrate._solve import CompiledSystem, Trajectory, solve
from eostheory.integrate._steppers import get_stepper
from eostheory.symbolic.potential import Potential, as_potential

__all__ = ["FlowResult", "flow_system", "solve_flow"]


class Predictions:
    """What every flow result predicts over time (shared by the numba and the torch paths).

    Subclasses provide arrays ``t``, ``center``, ``predicted_loss``,
    ``predicted_oscillation`` and ``sharpness``.
    """

    t: np.ndarray
    center: np.ndarray
    predicted_loss: np.ndarray
    predicted_oscillation: np.ndarray
    sharpness: np.ndarray

    @property
    def final(self) -> dict[str, Any]:
        """The last recorded prediction (centre, loss, oscillation, sharpness)."""
        if not len(self.t):
            return {"t": None, "center": None, "loss": None, "oscillation": None, "sharpness": None}
        return {
            "t": float(self.t[-1]),
            "center": [float(v) for v in self.center[-1]],
            "loss": float(self.predicted_loss[-1]),
            "oscillation": float(self.predicted_oscillation[-1]),
            "sharpness": float(self.sharpness[-1]),
        }


@dataclass
class FlowResult(Predictions):
    r"""A flow solved from a GD starting point, with what it predicts about GD.

    All arrays are indexed by the recorded times ``t``, in GD steps (the flow's own time plus
    its :attr:`Flow.time_offset`).

    Attributes:
        flow: the flow's name; ``params`` its parameters (``eta`` first).
        potential: the potential's name or formula.
        status: the integration status (see :data:`eostheory.integrate.STATUS_NAMES`).
        message: a sentence; for ``undefined`` it says why the flow is undefined.
        t: times (GD steps).
        state: the flow's states.
        center: the predicted centre of the GD oscillation (time-averaged iterate).
        predicted_loss: predicted time-averaged GD loss.
        predicted_oscillation: predicted oscillation amplitude (:math:`\sigma`,
            :math:`\sqrt{\lambda_1(\Sigma)}`, :math:`r`, …; 0 for gradient flow).
        sharpness: :math:`S` at the centre.
        edge: the edge indicator (:math:`\ge 0` on the edge).
        extras: flow-specific observables by name.
        events: ``[(t, "enter" | "leave")]`` in GD steps.
        threshold: the stability threshold (2/η, or 2(1+β)/η).
        work: counters (rhs evaluations, steps, rejected, and per-primitive totals).
        trajectory: the raw :class:`~eostheory.integrate.Trajectory`.
    """

    flow: str
    params: dict[str, float]
    potential: str
    status: str
    message: str
    t: np.ndarray
    state: np.ndarray
    center: np.ndarray
    predicted_loss: np.ndarray
    predicted_oscillation: np.ndarray
    sharpness: np.ndarray
    edge: np.ndarray
    extras: dict[str, np.ndarray]
    events: list[tuple[float, str]]
    threshold: float
    work: dict[str, Any]
    seconds: float
    trajectory: Trajectory = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "flow": self.flow,
            "params": self.params,
            "potential": self.potential,
            "status": self.status,
            "message": self.message,
            "threshold": self.threshold,
            "final": self.final,
            "events": [[float(t), k] for t, k in self.events],
            "work": self.work,
            "seconds": self.seconds,
        }

    def save(self, directory: str | Path, stem: str | None = None) -> Path:
        """Write ``<stem>.json`` and ``<stem>.npz`` into ``directory`` (``stem`` defaults to the flow's name)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        stem = stem or self.flow
        from eostheory._json import write_json  # strict JSON: a non-finite value is null, listed in non_finite

        write_json(d / f"{stem}.json", self.summary(), annotate=True)
        np.savez(
            d / f"{stem}.npz",
            t=self.t,
            state=self.state,
            center=self.center,
            predicted_loss=self.predicted_loss,
            predicted_oscillation=self.predicted_oscillation,
            sharpness=self.sharpness,
            edge=self.edge,
            **{f"extra_{k}": v for k, v in self.extras.items()},
        )
        return d


def flow_system(
    potential: Potential | str,
    flow: Flow | str,
    *,
    eta: float,
    beta: float | None = None,
    constants: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[Flow, CompiledSystem, Potential]:
    """Compile ``flow`` on ``potential`` and bind its runtime arrays (parameters, constants)."""
    pot = as_potential(potential)
    fl, spec_params = resolve_flow(flow)
    kw = {**spec_params, **dict(params or {})}
    p = fl.param_array(eta, beta, **kw)
    fl.check_applicable(pot, p)
    c = np.array(pot.constant_values(constants), dtype=np.float64)
    mod = compile_flow(pot, fl, p)
    system = CompiledSystem(mod, p, c, name=f"{fl.name} flow", discrete=fl.discrete, stop_on_enter=fl.stop_on_enter)
    return fl, system, pot


def _param_dict(fl: Flow, p: np.ndarray) -> dict[str, Any]:
    names = ["eta"] + (["beta"] if fl.optimizer == "heavy-ball" else []) + [fp.name for fp in fl.params]
    out: dict[str, Any] = {}
    for name, v in zip(names, p.tolist(), strict=True):
        fp = next((q for q in fl.params if q.name == name), None)
        if fp is not None and fp.choices:
            out[name] = fp.choices[int(v)]
        elif fp is not None and fp.integer_range is not None:
            out[name] = int(v)
        else:
            out[name] = v
    return out


def solve_flow(
    potential: Potential | str,
    flow: Flow | str,
    *,
    x0: Sequence[float] | np.ndarray,
    eta: float,
    steps: float,
    beta: float | None = None,
    constants: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    method: str = "dopri5",
    dt: float | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    t_eval: Sequence[float] | np.ndarray | None = None,
    record_every: float | None = None,
    max_step: float = math.inf,
    max_steps: int = 50_000_000,
    steady_state: bool = True,
) -> FlowResult:
    r"""Solve a flow from the GD starting point ``x0`` for ``steps`` GD steps of time.

    The flow is compiled once per (potential, flow) pair (cached on disk); its state starts
    from ``x0`` as GD would (the rod from its first half-step, the edge flow from the first
    step's component along the top eigenvector).

    Args:
        potential: a :class:`~eostheory.Potential`, a toy name or a formula.
        flow: a :class:`Flow`, a name, or ``"name:key=value"`` (e.g. ``"central:k=2"``,
            ``"edge:curvature=rayleigh"``).
        x0: GD's starting point.
        eta: the step size :math:`\eta`.
        steps: the time span in GD steps.
        beta: momentum for ``central-hb``.
        constants: values of the potential's constants.
        params: flow parameters (override those in the name).
        method: ``dopri5`` (adaptive, default), ``rk4`` or ``euler`` (fixed ``dt``); discrete
            maps (``selfstab``) always take Euler steps of ``dt = 1``.
        dt: fixed step for ``rk4``/``euler`` (default 0.25 and 1).
        rtol, atol: tolerances of ``dopri5``.
        t_eval: GD times at which to record (default: every ``record_every`` steps).
        record_every: record stride in steps (default: about 2000 records, at least 1).
        max_step: largest adaptive step.
        max_steps: budget of attempted steps.
        steady_state: let ``dopri5`` end early at a contracting equilibrium (see
            :func:`eostheory.integrate.solve`).

    Returns:
        A :class:`FlowResult`; its ``status`` says whether the flow reached the final time,
        diverged, stopped on the edge (stable flow) or became undefined (with the reason).

    Raises:
        EosInputError: unknown flow or parameter, bad η/β/``x0``, or a flow that cannot be
            defined on this potential (e.g. ``central:k=3`` on a 2-D potential).

    Examples:
        >>> r = solve_flow("selfstab", "central", x0=[0.01, 1.5], eta=0.45, steps=400)
        >>> x, y = r.final["center"]
        >>> abs(1 + y * y - 2 / 0.45) < 1e-6, abs(r.final["oscillation"] ** 2 - (2 - y) / y) < 1e-6
        (True, True)
    """
    fl, system, pot = flow_system(potential, flow, eta=eta, beta=beta, constants=constants, params=params)
    cp = compile_potential(pot)
    steps_f = positive_float("steps", steps)
    w0 = finite_vector("x0", x0, pot.dim)
    y0 = fl.initial_state(cp, w0, system.c, system.p)
    if not np.all(np.isfinite(y0)):
        raise EosInputError(f"the {fl.name} flow's initial state is not finite at x0 = {w0.tolist()}")
    stepper = get_stepper("euler" if fl.discrete else method)
    if fl.discrete:
        dt = 1.0
    elif not stepper.adaptive and dt is None:
        dt = 1.0 if stepper.name == "euler" else 0.25
    off = fl.time_offset
    t_end = steps_f - off
    if t_eval is None:
        stride = float(record_every) if record_every is not None else max(1.0, math.floor(steps_f / 2000))
        if fl.discrete:
            stride = max(1.0, round(stride))
        times = np.arange(math.ceil(off), steps_f + 1e-9, stride)
        if fl.discrete:
            times = times[(times - off) >= 0]
        te = times - off
        te = te[te >= 0]
    else:
        te = np.asarray(t_eval, dtype=np.float64) - off
        if np.any(te < -1e-12):
            raise EosInputError(f"t_eval must be >= {off} (the {fl.name} flow starts at GD time {off})")
        te = np.maximum(te, 0.0)
    if te.size == 0 or te[-1] < t_end - 1e-9:
        te = np.append(te, t_end)
    t0 = time.perf_counter()
    traj = solve(
        system,
        y0,
        (0.0, t_end),
        method=stepper,
        dt=dt,
        rtol=rtol,
        atol=atol,
        t_eval=te,
        max_step=max_step,
        max_steps=max_steps,
        steady_state=steady_state,
    )
    aux = traj.aux if traj.aux is not None else np.zeros((0, int(system.module.NAUX)))
    n = pot.dim
    message = traj.message
    if traj.status == "undefined":
        message += ": " + FLAG_MESSAGES.get(traj.flag, f"flag {traj.flag}")
    work: dict[str, Any] = dict(traj.work)
    work["per_rhs"] = dict(fl.cost)
    extras = {name: aux[:, n + 4 + i] for i, name in enumerate(fl.extras)}
    return FlowResult(
        flow=fl.name,
        params=_param_dict(fl, system.p),
        potential=pot.name or str(pot.expr),
        status=traj.status,
        message=message,
        t=traj.t + off,
        state=traj.y,
        center=aux[:, :n],
        predicted_loss=aux[:, n],
        predicted_oscillation=aux[:, n + 1],
        sharpness=aux[:, n + 2],
        edge=aux[:, n + 3],
        extras=extras,
        events=[(t + off, k) for t, k in traj.events],
        threshold=fl.threshold(system.p),
        work=work,
        seconds=time.perf_counter() - t0,
        trajectory=traj,
    )
