"""Numerical checks of derived equilibria against the compiled (numba) runs.

* An optimizer's periodic orbit: the compiled step loop is started on the orbit (buffers
  included) and run for one period, and — when the orbit is stable there — from a point
  perturbed by 1e-6 for long enough to contract back; the errors are reported.
* A flow's stationary point: the compiled vector field's residual there, the eigenvalues
  of its finite-difference Jacobian against the derived ones, and — when stable — an
  integration from a perturbed state.

The derivations themselves (:mod:`eostheory.symbolic.equilibria`) are sympy only; these
checks sit above the compiled layers and are handed to them by :func:`equilibria`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eostheory.compile import compile_potential
from eostheory.flows import flow_system
from eostheory.integrate import solve
from eostheory.optimizers import DIVERGENCE_BOUND, OPTIMIZERS, Optimizer, run_module

__all__ = ["verify_flow_point", "verify_orbit"]


def _optimizer(rule: Any, name: str | None) -> Any:
    if name and name in OPTIMIZERS and OPTIMIZERS[name].rule is rule:
        return OPTIMIZERS[name]
    return Optimizer(name or "rule", tuple(a.text for a in rule.assignments))


def _loop(
    pot: Any, opt: Any, z0: Sequence[float], hyper: Mapping[str, float], consts: Mapping[str, float], steps: int
) -> np.ndarray:
    """The compiled run loop from the full state ``z0``; returns every iterate's parameters."""
    n = pot.dim
    k = len(opt.state)
    cp = compile_potential(pot)
    cp.warm()
    mod = run_module(cp, opt)
    w = np.array(z0[:n], dtype=np.float64)
    state = np.array(z0[n:], dtype=np.float64).reshape((k, n)) if k else np.zeros((0, n))
    c = np.array(pot.constant_values(dict(consts)), dtype=np.float64)
    h = np.array(opt.hyperparameter_values(**dict(hyper)), dtype=np.float64)
    nrec = steps + 1
    rec_t = np.zeros(nrec, dtype=np.int64)
    rec_w = np.zeros((nrec, n))
    rec_l = np.zeros(nrec)
    rec_s = np.zeros(nrec)
    tail = np.zeros((min(8, steps), n))
    sums = np.zeros(n + 2)
    _taken, code, nr, _ = mod.run_loop(
        w, state, c, h, steps, 1, steps, 0.0, DIVERGENCE_BOUND, rec_t, rec_w, rec_l, rec_s, tail, sums
    )
    out = np.vstack([rec_w[:nr], w[None, :]])
    if code == 2:
        out[-1] = np.nan
    return out


def verify_orbit(
    pot: Any,
    rule: Any,
    name: str | None,
    points: Sequence[Sequence[float]],
    hyper: Mapping[str, float],
    consts: Mapping[str, float],
    *,
    radius: float | None,
) -> dict[str, Any]:
    """Run the compiled optimizer on a numeric orbit.

    Args:
        pot: the potential (with numeric constants ``consts``).
        rule, name: the update rule and its optimizer name.
        points: the orbit's full states ``z_t = (w_t, v_t)`` in order.
        hyper: hyperparameter values (``eta`` included).
        radius: the spectral radius of the period's Jacobian (``< 1``: stable).

    Returns:
        ``{"eta", "hyper", "period_error", "attraction_error", "attraction_steps", "passed"}``:
        the largest distance of the run's iterates from the orbit over one period, and (for
        a stable orbit) the distance after contracting from a 1e-6 perturbation.
    """
    opt = _optimizer(rule, name)
    p = len(points)
    n = pot.dim
    W = np.array([z[:n] for z in points])
    scale = 1.0 + float(np.max(np.abs(W)))
    run = _loop(pot, opt, points[0], hyper, consts, p)
    err = float(np.max(np.abs(run[: p + 1] - np.vstack([W, W[:1]])))) / scale
    out: dict[str, Any] = {"eta": hyper["eta"], "hyper": dict(hyper), "period_error": err}
    att = None
    if radius is not None and radius < 1 - 1e-6:
        steps = int(min(200_000, max(200, math.log(1e-14) / math.log(max(radius, 1e-300)) * p * 1.5)))
        steps += (-steps) % p
        z0 = list(points[0])
        z0 = [x + 1e-6 * (1 + abs(x)) * (1 if i % 2 == 0 else -1) for i, x in enumerate(z0)]
        tailrun = _loop(pot, opt, z0, hyper, consts, steps)
        last = tailrun[-1]
        att = float(np.min(np.linalg.norm(W - last[None, :], axis=1))) / scale
        out["attraction_steps"] = steps
    out["attraction_error"] = att
    out["passed"] = bool(err <= 1e-10 and (att is None or att <= 1e-8))
    return out


def verify_flow_point(
    pot: Any,
    flow: str,
    settings: Mapping[str, str],
    state: Sequence[float],
    jac: np.ndarray | None,
    eta: float,
    beta: float | None,
    consts: Mapping[str, float],
) -> dict[str, Any]:
    """Check a numeric stationary point against the compiled flow.

    Returns:
        ``{"eta", "residual", "eigenvalue_error", "return_error", "passed"}``: the compiled
        field's largest component there (for a discrete map, the distance moved by one
        step), the largest difference between the derived Jacobian's eigenvalues and those
        of the compiled field's central-difference Jacobian, and for a stable point the
        distance from it after an integration from a 1e-6 perturbation.
    """
    params = {k: v for k, v in settings.items() if k in ("extent", "curvature", "growth", "tau", "k")}
    fl, system, _ = flow_system(pot, flow, eta=eta, beta=beta, constants=dict(consts), params=params)
    y = np.array(state, dtype=np.float64)
    scale = 1.0 + float(np.max(np.abs(y)))
    out: dict[str, Any] = {"eta": eta, "beta": beta}
    if fl.discrete:
        tr = solve(system, y, (0.0, 1.0), method="euler", dt=1.0)
        out["residual"] = float(np.max(np.abs(tr.y_final - y))) / scale
        out["eigenvalue_error"] = None
        out["return_error"] = None
        out["passed"] = bool(out["residual"] <= 1e-9)
        return out
    f0 = system.rhs(y)
    out["residual"] = float(np.max(np.abs(f0))) / scale
    ev_err = None
    if jac is not None:
        m = len(y)
        h = 1e-6 * scale
        J = np.zeros((m, m))
        for j in range(m):
            dy = np.zeros(m)
            dy[j] = h
            J[:, j] = (system.rhs(y + dy) - system.rhs(y - dy)) / (2 * h)
        a = np.linalg.eigvals(np.asarray(jac, dtype=float))
        b = np.linalg.eigvals(J)
        gap = max(
            float(np.max(np.min(np.abs(a[:, None] - b[None, :]), axis=1))),
            float(np.max(np.min(np.abs(b[:, None] - a[None, :]), axis=1))),
        )
        ev_err = gap / (1.0 + float(np.max(np.abs(a))))
    out["eigenvalue_error"] = ev_err
    ret = None
    if jac is not None:
        lam = np.linalg.eigvals(np.asarray(jac, dtype=float))
        top = float(np.max(lam.real))
        if top < -1e-6:
            T = min(1e5, 40.0 / -top)
            y0 = y + 1e-6 * (1 + np.abs(y)) * np.where(np.arange(len(y)) % 2 == 0, 1.0, -1.0)
            tr = solve(system, y0, (0.0, T), rtol=1e-11, atol=1e-13, steady_state=False)
            ret = float(np.max(np.abs(tr.y_final - y))) / scale
    out["return_error"] = ret
    out["passed"] = bool(
        out["residual"] <= 1e-9 and (ev_err is None or ev_err <= 1e-4) and (ret is None or ret <= 1e-6)
    )
    return out
