r"""Explicit GD against the continuous-time models, from the same starting point.

GD's iterates oscillate; a flow predicts their *centre*.  Both are compared at every GD step
:math:`t` through the GD midpoint

.. math::
    \bar w_t = \tfrac14 (w_{t-1} + 2 w_t + w_{t+1}),

which averages a period-2 oscillation exactly (Cohen et al. 2025).  With it come the
measured time-averaged loss :math:`\tfrac14(L_{t-1} + 2L_t + L_{t+1})` and the measured
oscillation amplitude :math:`\|w_t - \bar w_t\| = \tfrac14\|2w_t - w_{t-1} - w_{t+1}\|`
(:math:`|x|` for a 2-cycle :math:`\pm x`), against each flow's predicted centre, loss and
amplitude (:math:`\sigma` central, :math:`\sqrt{\lambda_1(\Sigma)}` rod, :math:`r` edge,
:math:`\sqrt{2\alpha/\beta}` self-stabilization, 0 for gradient and modified flow).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._json import jsonable
from eostheory._validate import finite_vector, positive_float, positive_int
from eostheory.compile import compile_potential
from eostheory.flows import FlowResult, resolve_flow, solve_flow
from eostheory.optimizers import RunResult, run
from eostheory.symbolic.potential import Potential, as_potential

__all__ = ["Comparison", "FlowComparison", "GDRecord", "align_with_gd", "compare", "gd_record"]


@dataclass
class GDRecord:
    r"""Every GD iterate and the midpoint quantities derived from them.

    Attributes:
        t: steps ``0..T``.
        w: iterates :math:`w_t`.
        loss, sharpness: :math:`L(w_t)`, :math:`S(w_t)`.
        tm: steps ``1..T-1`` where the midpoint exists.
        midpoint: :math:`\bar w_t`.
        loss_avg: :math:`\tfrac14(L_{t-1} + 2L_t + L_{t+1})`.
        oscillation: :math:`\|w_t - \bar w_t\|`.
        sharpness_mid: :math:`S(\bar w_t)`.
        run: the :class:`~eostheory.optimizers.RunResult`.
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
    run: RunResult


def gd_record(
    potential: Potential | str,
    *,
    x0: Sequence[float] | np.ndarray,
    eta: float,
    steps: int,
    beta: float | None = None,
    constants: Mapping[str, float] | None = None,
) -> GDRecord:
    """Run GD (heavy ball when ``beta`` is given) recording every iterate, and form the midpoints.

    A run that converges early is extended with its fixed point; one that diverges keeps
    its finite iterates only.
    """
    pot = as_potential(potential)
    opt = "gd" if beta is None else "heavy-ball"
    r = run(pot, opt, x0=x0, steps=steps, eta=eta, beta=beta, constants=constants, record_every=1)
    t = np.asarray(r.t, dtype=np.int64)
    w = np.asarray(r.params, dtype=np.float64)
    loss = np.asarray(r.loss, dtype=np.float64)
    sharp = np.asarray(r.sharpness, dtype=np.float64)
    if len(t) >= 2 and t[-1] == t[-2]:  # the run loop records the stopping step and then the final point
        t, w, loss, sharp = t[:-1], w[:-1], loss[:-1], sharp[:-1]
    if r.status == "converged" and len(t) and t[-1] < steps:
        extra = np.arange(t[-1] + 1, steps + 1)
        t = np.concatenate([t, extra])
        w = np.vstack([w, np.repeat(w[-1:], len(extra), axis=0)])
        loss = np.concatenate([loss, np.full(len(extra), loss[-1])])
        sharp = np.concatenate([sharp, np.full(len(extra), sharp[-1])])
    if len(t) >= 3:
        mid = (w[:-2] + 2 * w[1:-1] + w[2:]) / 4
        lav = (loss[:-2] + 2 * loss[1:-1] + loss[2:]) / 4
        osc = np.linalg.norm(w[1:-1] - mid, axis=1)
        tm = t[1:-1]
    else:
        mid = np.zeros((0, w.shape[1]))
        lav = osc = np.zeros(0)
        tm = np.zeros(0, dtype=np.int64)
    cp = compile_potential(pot)
    c = np.array(pot.constant_values(constants), dtype=np.float64)
    smid = np.array([cp.module.sharp(m, c) for m in mid]) if len(mid) else np.zeros(0)
    return GDRecord(t, w, loss, sharp, tm, mid, lav, osc, smid, r)


@dataclass
class FlowComparison:
    """One flow against GD: the flow's result and the aligned errors.

    Attributes:
        result: the :class:`~eostheory.flows.FlowResult`.
        t: the aligned GD steps.
        center_error: :math:`\\|c(t) - \\bar w_t\\|` at those steps.
        metrics: the summary numbers (see :meth:`Comparison.summary`).
    """

    result: FlowResult
    t: np.ndarray
    center_error: np.ndarray
    metrics: dict[str, Any]


@dataclass
class Comparison:
    """GD and a set of flows from one starting point (see :func:`compare`)."""

    potential: str
    eta: float
    beta: float | None
    x0: list[float]
    steps: int
    threshold: float
    window: int
    gd: GDRecord
    flows: dict[str, FlowComparison] = field(default_factory=dict)

    def gd_summary(self) -> dict[str, Any]:
        """GD's measured quantities over the final window."""
        g = self.gd
        k = min(self.window, len(g.tm))
        if k == 0:
            return {"status": g.run.status, "message": g.run.message, "oscillation": None, "final_midpoint": None}
        return {
            "status": g.run.status,
            "period": g.run.period,
            "message": g.run.message,
            "oscillation": float(np.sqrt(np.mean(g.oscillation[-k:] ** 2))),
            "average_loss": float(np.mean(g.loss_avg[-k:])),
            "sharpness": float(np.mean(g.sharpness[1:-1][-k:])),
            "sharpness_midpoint": float(np.mean(g.sharpness_mid[-k:])),
            "final_midpoint": [float(v) for v in g.midpoint[-1]],
            "final_step": int(g.tm[-1]),
        }

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: GD's measurements and, per flow, its predictions and errors."""
        return {
            "potential": self.potential,
            "eta": self.eta,
            "beta": self.beta,
            "x0": self.x0,
            "steps": self.steps,
            "threshold": self.threshold,
            "window": self.window,
            "gd": self.gd_summary(),
            "flows": {name: fc.metrics for name, fc in self.flows.items()},
        }

    def table(self) -> str:
        """A fixed-width table of the per-flow errors."""
        g = self.gd_summary()
        head = (
            f"GD ({self.gd.run.config.optimizer}) on {self.potential}, eta = {self.eta:g}"
            + (f", beta = {self.beta:g}" if self.beta is not None else "")
            + f", threshold {self.threshold:.6g}: {g['status']}"
        )
        lines = [head]
        if g.get("oscillation") is not None:
            lines.append(
                f"  measured (last {min(self.window, len(self.gd.tm))} steps): oscillation {g['oscillation']:.6g}, "
                f"time-averaged loss {g['average_loss']:.6g}, sharpness at the midpoint {g['sharpness_midpoint']:.6g}, "
                f"midpoint {[round(v, 6) for v in g['final_midpoint']]}"
            )
        cols = ("flow", "status", "centre err max", "centre err end", "pred osc", "osc err", "pred loss", "loss err")
        rows = [cols]
        for name, fc in self.flows.items():
            m = fc.metrics

            def f(x: Any) -> str:
                return "-" if x is None else f"{x:.3g}"

            rows.append(
                (
                    name,
                    m["status"],
                    f(m["center_error_max"]),
                    f(m["center_error_final"]),
                    f(m["predicted_oscillation"]),
                    f(m["oscillation_error"]),
                    f(m["predicted_loss"]),
                    f(m["loss_error"]),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
        lines += ["  " + "  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True)) for r in rows]
        for name, fc in self.flows.items():
            if fc.result.status not in ("completed",):
                lines.append(f"  {name}: {fc.result.message}")
        return "\n".join(lines)

    def save(self, directory: str | Path, plot: bool = True) -> Path:
        """Write ``comparison.json``, ``gd.npz``, one ``.npz`` per flow and ``compare.png``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "comparison.json").write_text(json.dumps(jsonable(self.summary()), indent=2, allow_nan=False))
        g = self.gd
        np.savez(
            d / "gd.npz",
            t=g.t,
            w=g.w,
            loss=g.loss,
            sharpness=g.sharpness,
            sharpness_mid=g.sharpness_mid,
            tm=g.tm,
            midpoint=g.midpoint,
            loss_avg=g.loss_avg,
            oscillation=g.oscillation,
        )
        for name, fc in self.flows.items():
            fc.result.save(d / "flows", stem=_safe(name))
            np.savez(d / "flows" / f"{_safe(name)}_aligned.npz", t=fc.t, center_error=fc.center_error)
        if plot:
            from eostheory.analysis.compare_plots import plot_comparison

            plot_comparison(self, d / "compare.png")
        return d


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def _window_mean(a: np.ndarray, k: int) -> float | None:
    if len(a) == 0:
        return None
    v = float(np.mean(a[-k:]))
    return v if math.isfinite(v) else None


def align_with_gd(fr: Any, gd: Any, window: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    r"""Align a flow result with GD's midpoints on the integer GD steps both have.

    Shared by the toy path (:func:`compare`, a :class:`FlowResult` and a GD record) and the
    network path (``eostheory.torch.flow_vs_gd``, a torch flow result and GD midpoints):
    both carry ``t``, ``center``, ``predicted_oscillation``, ``predicted_loss`` and GD's
    ``tm``, ``midpoint``, ``oscillation``, ``loss_avg``.

    Returns ``(t, err, metrics)``: the aligned steps, :math:`\|c(t) - \bar w_t\|` and the
    metrics (``aligned_steps``, ``center_error_max``, ``center_error_final``, predicted and
    measured oscillation and loss over the last ``window`` aligned steps, …).
    """
    # align on integer GD steps where both exist
    idx = {int(t): i for i, t in enumerate(gd.tm)}
    pairs = [(i, idx[round(t)]) for i, t in enumerate(fr.t) if abs(t - round(t)) < 1e-9 and round(t) in idx]
    fi = np.array([p[0] for p in pairs], dtype=np.int64)
    gi = np.array([p[1] for p in pairs], dtype=np.int64)
    t = gd.tm[gi] if len(gi) else np.zeros(0)
    err = np.linalg.norm(fr.center[fi] - gd.midpoint[gi], axis=1) if len(fi) else np.zeros(0)
    k = max(1, min(window, len(fi)))
    fin = bool(len(err)) and bool(np.all(np.isfinite(err)))
    pred_osc = _window_mean(fr.predicted_oscillation[fi], k) if len(fi) else None
    pred_loss = _window_mean(fr.predicted_loss[fi], k) if len(fi) else None
    meas_osc = float(np.sqrt(np.mean(gd.oscillation[gi][-k:] ** 2))) if len(gi) else None
    meas_loss = _window_mean(gd.loss_avg[gi], k) if len(gi) else None
    metrics: dict[str, Any] = {
        "status": fr.status,
        "message": fr.message,
        "params": fr.params,
        "aligned_steps": len(t),
        "aligned_until": int(t[-1]) if len(t) else None,
        "center_error_max": float(np.max(err)) if fin else None,
        "center_error_final": _window_mean(err, k) if fin else None,
        "predicted_oscillation": pred_osc,
        "measured_oscillation": meas_osc,
        "oscillation_error": abs(pred_osc - meas_osc) if pred_osc is not None and meas_osc is not None else None,
        "predicted_loss": pred_loss,
        "measured_loss": meas_loss,
        "loss_error": abs(pred_loss - meas_loss) if pred_loss is not None and meas_loss is not None else None,
        "final_center": fr.final["center"],
        "final_sharpness": fr.final["sharpness"],
        "threshold": fr.threshold,
        "events": [[float(a), b] for a, b in fr.events],
        "work": fr.work,
        "seconds": fr.seconds,
    }
    return t, err, metrics


def compare(
    potential: Potential | str,
    flows: Sequence[str] = ("gradient", "central"),
    *,
    x0: Sequence[float] | np.ndarray,
    eta: float,
    steps: int,
    beta: float | None = None,
    constants: Mapping[str, float] | None = None,
    method: str = "dopri5",
    rtol: float = 1e-9,
    atol: float = 1e-12,
    window: int | None = None,
) -> Comparison:
    r"""Run GD and each flow from ``x0`` for ``steps`` steps and compare them step by step.

    Args:
        potential: a :class:`~eostheory.Potential`, a toy name or a formula.
        flows: flow names, optionally with parameters (``"central:k=2"``, ``"edge-rayleigh"``).
            With ``beta`` the reference is heavy-ball GD and only momentum flows
            (``central-hb``) apply.
        x0: the common starting point.
        eta: the step size; ``beta`` the momentum.
        steps: number of GD steps (and the flows' time span).
        constants: values of the potential's constants.
        method, rtol, atol: the flows' integrator.
        window: steps at the end over which final quantities are averaged (default 10% of
            ``steps``, at least 2).

    Returns:
        A :class:`Comparison`; ``.summary()`` gives, per flow, ``center_error_max``,
        ``center_error_final``, ``predicted_oscillation`` (and the measured one),
        ``oscillation_error``, ``predicted_loss``, ``loss_error``, ``final_center``, status
        and events; for GD its measured ``oscillation`` and ``final_midpoint``.

    Raises:
        EosInputError: unknown flow, a plain-GD flow with ``beta`` (or the reverse), bad input.

    Examples:
        >>> c = compare("selfstab", ["central", "gradient"], x0=[0.01, 1.5], eta=0.45, steps=600)
        >>> s = c.summary()
        >>> s["flows"]["central"]["center_error_final"] < 1e-8, s["flows"]["gradient"]["center_error_final"] > 0.1
        (True, True)
    """
    pot = as_potential(potential)
    eta = positive_float("eta", eta)
    steps = positive_int("steps", steps)
    if steps < 3:
        raise EosInputError("compare needs at least 3 steps (the GD midpoint uses three iterates)")
    w0 = finite_vector("x0", x0, pot.dim)
    specs = [s for s in flows if str(s).strip()]
    if not specs:
        raise EosInputError("give at least one flow to compare")
    parsed = [resolve_flow(s) for s in specs]
    for (fl, _), spec in zip(parsed, specs, strict=True):
        if (fl.optimizer == "heavy-ball") != (beta is not None):
            what = "heavy-ball momentum: give --beta" if beta is None else "plain GD: drop --beta"
            raise EosInputError(f"flow {spec!r} models {what}")
    compile_potential(pot).warm()
    gd = gd_record(pot, x0=w0, eta=eta, steps=steps, beta=beta, constants=constants)
    win = window if window is not None else max(2, (steps // 10) // 2 * 2)
    win = positive_int("window", win)
    thr = 2.0 * (1.0 + (beta or 0.0)) / eta
    cmp = Comparison(pot.name or str(pot.expr), eta, beta, [float(v) for v in w0], steps, thr, win, gd)
    t_eval = np.arange(1, steps, dtype=np.float64)
    for (fl, kw), spec in zip(parsed, specs, strict=True):
        te = t_eval[t_eval >= fl.time_offset]
        fr = solve_flow(
            pot,
            fl,
            x0=w0,
            eta=eta,
            steps=steps,
            beta=beta,
            constants=constants,
            params=kw,
            method=method,
            rtol=rtol,
            atol=atol,
            t_eval=te,
        )
        t, err, metrics = align_with_gd(fr, gd, win)
        name = str(spec).strip()
        cmp.flows[name] = FlowComparison(fr, t, err, metrics)
    return cmp
