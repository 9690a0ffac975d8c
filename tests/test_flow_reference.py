"""Every registered flow on every library toy: the numba fast path equals the reference field.

The reference is the flow's :class:`~eostheory.flows._fields.VectorField` through the toy
oracle (dense Hessian, exact ``numpy.linalg.eigh``); the fast path is the generated numba
module.  Cases follow the registries (``FLOWS`` with every choice of each categorical or
integer parameter, ``TOYS``); a combination the flow declares inapplicable (its own
``applicable`` check, e.g. ``central:k=2`` on a 1-D toy) is skipped.

Tolerance 1e-10, relative to the size of the compared quantity (at least 1): the two paths
evaluate the same formulas in float64 with different eigensolvers (closed form / Jacobi
sweeps against LAPACK), so they differ by rounding amplified by the conditioning of the
eigenvectors, measured at <= 1e-14 on the selfstab toy.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from eostheory.compile._kernels import compile_potential
from eostheory.flows import FLOWS, Flow
from eostheory.flows._reference import reference_flow
from eostheory.symbolic.library import TOYS, toy

TOL = 1e-10

#: toys on which the fast path also runs compiled by numba (1-, 2- and 3-D; marked slow);
#: by default the generated source runs as plain Python, which checks the same formulas
#: without compiling a module per (flow, toy) pair (several seconds each on a fresh
#: machine).  Set EOSTHEORY_REFERENCE_COMPILED=all to compile every case.
COMPILED_TOYS = {"quartic", "selfstab", "deep-scalar"}
ALL_COMPILED = os.environ.get("EOSTHEORY_REFERENCE_COMPILED", "").strip().lower() == "all"


def _variants(fl: Flow) -> list[dict[str, str]]:
    """The flow at its defaults, then each other choice of each parameter (one at a time)."""
    out: list[dict[str, str]] = [{}]
    for fp in fl.params:
        if fp.choices:
            out += [{fp.name: c} for c in fp.choices if c != fp.default]
        elif fp.integer_range is not None:
            lo, hi = fp.integer_range
            out += [{fp.name: str(k)} for k in range(lo, min(hi, 3) + 1) if k != int(fp.default)]
    return out


def _distinct() -> list[tuple[str, dict[str, str]]]:
    """Every (flow, variant), less those equal to an earlier one (``edge-rayleigh`` at
    ``curvature=secant`` is ``edge``): same field, same stopping rule, same parameters."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for name, fl in FLOWS.items():
        beta = 0.5 if fl.optimizer == "heavy-ball" else None
        for kw in _variants(fl):
            key = (type(fl.vector_field), fl.stop_on_enter, tuple(fl.param_array(1.0, beta, **kw).tolist()))
            if key not in seen:
                seen.add(key)
                out.append((name, kw))
    return out


def _id(name: str, kw: dict[str, str], toy_name: str) -> str:
    return f"{name}{''.join(f':{k}={v}' for k, v in kw.items())}-{toy_name}"


#: every (flow, variant) on every toy, the fast path's generated source run as plain Python
#: (no numba compilation: a fresh machine would compile a module per case)
CASES = [
    pytest.param(name, kw, toy_name, ALL_COMPILED, id=_id(name, kw, toy_name))
    for name, kw in _distinct()
    for toy_name in TOYS
]
#: the same cases compiled by numba on three toys (1-, 2- and 3-D): a long validation (slow)
COMPILED_CASES = [
    pytest.param(name, kw, toy_name, True, id="compiled-" + _id(name, kw, toy_name), marks=pytest.mark.slow)
    for name, kw in _distinct()
    for toy_name in TOYS
    if toy_name in COMPILED_TOYS and not ALL_COMPILED
]


def _start(toy_name: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A seeded starting point where the sharpness is positive, and S(x0) there."""
    pot = toy(toy_name)
    cp = compile_potential(pot)
    c = np.array(pot.constant_values(None), dtype=np.float64)
    for _ in range(50):
        x0 = rng.uniform(0.15, 0.6, pot.dim) * rng.choice([-1.0, 1.0], pot.dim)
        S = float(cp.sharpness(x0, c))
        if S > 1e-2 and math.isfinite(S):
            return x0, S
    raise AssertionError(f"no point of positive sharpness found on {toy_name}")


def _ill_conditioned(rf: object, y_prev: np.ndarray, y_next: np.ndarray, dt: float, method: str, tol: float) -> bool:
    """Whether the reference's own step from ``y_prev`` moves by more than ``tol`` under a 1e-13 relative nudge.

    Where it does (a projection onto a non-convex set from far away, a near-degenerate top
    eigenvalue), rounding alone picks the outcome, and the fast path and the reference, which
    round differently, may each land on a valid but different next state; the trajectory
    comparison stops there.  Measured: selfstab on deep-scalar, agreement to 4e-16 for four
    steps, then a GD step of length ~2 whose projection lands 0.9 apart.
    """
    rng = np.random.default_rng(0)
    scale = max(1.0, float(np.max(np.abs(y_next))))
    for _ in range(3):
        y = y_prev * (1 + 1e-13 * rng.standard_normal(y_prev.shape))
        _t, ys, _f = rf.integrate(y, dt, dt, method)  # type: ignore[attr-defined]
        if len(ys) < 2 or not np.all(np.abs(ys[1] - y_next) <= tol * scale):
            return True
    return False


def _close(a: np.ndarray, b: np.ndarray, what: str, tol: float = TOL) -> None:
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale, err_msg=what)


# a random state far from the edge may overflow in both paths alike (compared as equal infinities)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("flow", "kw", "toy_name", "compiled"), CASES + COMPILED_CASES)
def test_fast_path_equals_reference(
    flow: str, kw: dict[str, str], toy_name: str, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not compiled:
        monkeypatch.setenv("EOSTHEORY_DISABLE_NUMBA", "1")
    # along a trajectory the per-evaluation rounding differences (closed-form / Jacobi
    # eigen-solves against LAPACK) compound over the steps through the flow's sensitivity;
    # the source run as plain Python rounds differently from its compiled form (measured:
    # 1.2e-10 after 12 RK4 steps of central:k=2 on xy-quartic, 1e-14 compiled)
    traj_tol = TOL if compiled else 10 * TOL
    fl = FLOWS[flow]
    rng = np.random.default_rng([ord(ch) for ch in f"{flow}{kw}{toy_name}"])
    x0, S0 = _start(toy_name, rng)
    beta = 0.5 if fl.optimizer == "heavy-ball" else None
    P = fl.named(fl.param_array(1.0, beta, **kw))
    why = fl.vector_field.applicable(toy(toy_name).dim, P)
    if why is not None:
        pytest.skip(why)
    # eta puts x0 just past the edge of stability (the constraint of the central flows binds)
    eta = 1.05 * (2.0 * (1.0 + (beta or 0.0))) / S0
    rf = reference_flow(toy_name, fl, eta=eta, beta=beta, params=kw)
    y0 = rf.initial(x0)
    _close(y0, rf.flow.initial_state(rf.oracle.cp, x0, rf.system.c, rf.system.p), "initial state")
    assert y0.shape == (rf.system.ny,) == (rf.field.size(rf.oracle.n),)

    # random states near the edge, within the state's domain (positive blocks stay positive)
    lay = rf.field.layout(rf.oracle.n)
    positive = np.zeros(y0.shape, dtype=bool)
    for blk in rf.field.blocks:
        if blk.positive:
            positive[lay[blk.name]] = True
    for _ in range(4):
        z = rng.standard_normal(y0.shape)
        y = np.where(positive, y0 * np.exp(0.02 * z), y0 + 0.02 * z)
        a, fa = rf.rhs(y)
        b, fb = rf.fast_rhs(y)
        assert fa == fb, f"flags differ at {y}"
        if not fa:
            _close(a, b, "rhs")
        _close(rf.observe(y), rf.fast_observe(y), "observables")
        assert rf.edge(y) == pytest.approx(rf.fast_edge(y), abs=TOL * max(1.0, abs(rf.fast_edge(y))))
        if rf.field.discrete:
            pa, pb = rf.post(y), rf.fast_post(y)
            if pa is not None and pb is not None:
                _close(pa, pb, "projection")

    # along a short trajectory, same stepper and grid
    from eostheory.flows import solve_flow

    dt = 1.0 if fl.discrete else 0.25
    method = "euler" if fl.discrete else "rk4"
    n_steps = 6 if fl.discrete else 12
    off = fl.time_offset
    t_eval = off + dt * np.arange(n_steps + 1)
    r = solve_flow(
        toy_name,
        fl,
        x0=x0,
        eta=eta,
        beta=beta,
        params=kw,
        steps=off + dt * n_steps,
        method=method,
        dt=dt,
        t_eval=t_eval,
    )
    ts, ys, _flag = rf.integrate(y0, dt * n_steps, dt, method)
    m = min(len(r.t), len(ts))
    assert m >= 2 or r.status != "completed"
    for i in range(m):
        if abs(r.t[i] - off - ts[i]) > 1e-12:  # an event-located (interpolated) record: not on the grid
            break
        try:
            _close(ys[i], r.state[i], f"state at t={ts[i]}", traj_tol)
        except AssertionError:
            if i > 0 and _ill_conditioned(rf, ys[i - 1], ys[i], dt, method, traj_tol):
                break  # rounding decides the step here: the two paths may both be right
            raise
        if r.status == "completed" or i < m - 1:
            _close(rf.observe(ys[i])[: rf.oracle.n], r.center[i], f"centre at t={ts[i]}", traj_tol)


def test_cases_follow_the_registries() -> None:
    flows = {c.values[0] for c in CASES}
    assert flows == set(FLOWS) and all(fl.vector_field is not None for fl in FLOWS.values())
    assert {c.values[2] for c in CASES} == set(TOYS)
    # every flow's observables are declared once, on its field
    for fl in FLOWS.values():
        assert tuple(fl.extras) == tuple(fl.vector_field.extras), fl.name
        assert fl.discrete == fl.vector_field.discrete, fl.name
