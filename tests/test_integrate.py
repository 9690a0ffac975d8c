"""Integrators: one stepper contract, orders, dense output, events, divergence, GD = Euler(dt=1)."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from eostheory import EosInputError
from eostheory.checks._flows import integrator_orders
from eostheory.flows import flow_system, solve_flow
from eostheory.integrate import STEPPERS, Trajectory, get_stepper, integrator_source, solve
from eostheory.optimizers import run

QUARTIC = {"S": 1.0, "Q": 1.0}


def gradient_flow_quartic(eta: float, w0: float, t: np.ndarray | float) -> np.ndarray:
    r"""Closed form of :math:`\dot w = -\eta(Sw - Qw^3)` (S = Q = 1): :math:`w^{-2} = 1 + (w_0^{-2} - 1)e^{2\eta t}`."""
    z = 1.0 + (1.0 / w0**2 - 1.0) * np.exp(2 * eta * np.asarray(t, dtype=float))
    return np.sign(w0) / np.sqrt(z)


@pytest.fixture(scope="module")
def quartic_gradient():
    _, system, _ = flow_system("quartic", "gradient", eta=0.5, constants=QUARTIC)
    return system


def test_stepper_registry() -> None:
    assert [s.order for s in STEPPERS.values()] == [1, 4, 5]
    assert get_stepper("rk45").name == "dopri5"
    assert STEPPERS["dopri5"].adaptive and not STEPPERS["rk4"].adaptive
    with pytest.raises(EosInputError, match="unknown integration method"):
        get_stepper("leapfrog")
    src = integrator_source()
    assert "def integrate(" in src and "def _step(" in src and src.count("@jit") >= 5


def test_declared_orders_fitted() -> None:
    """Error against a fine reference on a nonlinear 2-D flow: slopes 1, 4, 5 (the declared orders)."""
    orders = integrator_orders()
    for name, stepper in STEPPERS.items():
        assert abs(orders[name] - stepper.order) < 0.25, (name, orders[name])


@pytest.mark.parametrize("method,hs,order", [("euler", [0.1, 0.05, 0.025], 1), ("rk4", [0.4, 0.2, 0.1], 4)])
def test_orders_against_closed_form(quartic_gradient, method: str, hs: list[float], order: int) -> None:
    exact = gradient_flow_quartic(0.5, 0.8, 4.0)
    errs = [abs(solve(quartic_gradient, [0.8], (0.0, 4.0), method=method, dt=h).y_final[0] - exact) for h in hs]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.15


def test_dopri5_tolerance_and_dense_output(quartic_gradient) -> None:
    """Adaptive error control meets rtol on the closed form, at steps and on the dense output between them."""
    te = np.linspace(0.0, 6.0, 241)
    for rtol in (1e-6, 1e-9):
        tr = solve(
            quartic_gradient,
            [0.8],
            (0.0, 6.0),
            method="dopri5",
            rtol=rtol,
            atol=rtol * 1e-3,
            t_eval=te,
            steady_state=False,
        )
        assert tr.status == "completed" and len(tr.t) == len(te)
        err = np.max(np.abs(tr.y[:, 0] - gradient_flow_quartic(0.5, 0.8, te)))
        assert err < 50 * rtol  # global error of a few tolerances (it accumulates over ~10 steps)
        assert tr.work["steps"] < 400
    assert tr.work["rhs"] == 6 * (tr.work["steps"] + tr.work["rejected"]) + 1


def test_dense_output_hermite_exact_at_nodes(quartic_gradient) -> None:
    """Fixed-step output times that fall on step ends return the step values exactly."""
    tr = solve(quartic_gradient, [0.8], (0.0, 2.0), method="rk4", dt=0.25, t_eval=[0.0, 0.25, 1.0, 2.0])
    tr2 = solve(quartic_gradient, [0.8], (0.0, 1.0), method="rk4", dt=0.25)
    assert tr.y[2, 0] == tr2.y_final[0]


def test_gd_is_euler_with_unit_step() -> None:
    """Explicit GD's iterates are, bit for bit, the Euler integration of dw/dt = -eta grad L with dt = 1."""
    for pot, x0, eta, consts in (
        ("selfstab", [0.01, 1.5], 0.45, None),
        ("quartic", [0.05], 2.5, QUARTIC),
    ):
        g = run(pot, "gd", x0=x0, eta=eta, steps=400, constants=consts, record_every=1)
        f = solve_flow(
            pot,
            "gradient",
            x0=x0,
            eta=eta,
            steps=400,
            constants=consts,
            method="euler",
            dt=1.0,
            t_eval=np.arange(0, 401),
        )
        assert g.status == "oscillating"
        assert np.array_equal(f.state, g.params)


def test_events_stable_flow_stops_on_the_edge() -> None:
    """The stable flow ends where S = 2/eta, located on the dense output to ~1e-12."""
    from eostheory.compile import compile_potential
    from eostheory.symbolic import toy

    pot = toy("selfstab")
    r = solve_flow(pot, "stable", x0=[0.01, 1.5], eta=0.45, steps=100)
    assert r.status == "stopped" and r.events[0][1] == "enter"
    cp = compile_potential(pot)
    assert abs(cp.sharpness(r.trajectory.y_final, cp.constants()) - 2 / 0.45) < 1e-9
    assert abs(r.trajectory.t_final - r.events[0][0]) < 1e-12 and 2 < r.events[0][0] < 4


def test_events_enter_and_leave_alternate() -> None:
    r = solve_flow("canonical", "rod", x0=[0.1414, 3.0], eta=0.5, steps=300, constants={"c": 0.01})
    kinds = [k for _, k in r.events]
    assert len(kinds) >= 3
    assert all(a != b for a, b in itertools.pairwise(kinds))
    assert np.all(np.diff([t for t, _ in r.events]) > 0)


def test_blow_up_is_reported_not_nan() -> None:
    r"""Gradient flow of :math:`-w^4/4` blows up at :math:`t^* = 1/(2\eta w_0^2) = 0.5`."""
    consts = {"S": 0.0, "Q": 1.0}
    for method, dt in (("dopri5", None), ("euler", 0.01), ("rk4", 0.01)):
        r = solve_flow("quartic", "gradient", x0=[1.0], eta=1.0, steps=2.0, constants=consts, method=method, dt=dt)
        assert r.status in ("diverged", "step_too_small"), (method, r.status)
        assert np.all(np.isfinite(r.trajectory.y_final))
        # adaptive steps stop at the singularity; explicit fixed steps lag it (Euler undershoots growth)
        assert r.trajectory.t_final <= (0.5 + 1e-3 if method == "dopri5" else 0.7)
        assert np.all(np.isfinite(r.center)) and np.all(np.isfinite(r.predicted_loss))


def test_solve_rejects_bad_input(quartic_gradient) -> None:
    with pytest.raises(EosInputError, match="increasing"):
        solve(quartic_gradient, [0.5], (1.0, 0.0))
    with pytest.raises(EosInputError, match="needs a fixed step"):
        solve(quartic_gradient, [0.5], (0.0, 1.0), method="rk4")
    with pytest.raises(EosInputError, match="dt must be > 0"):
        solve(quartic_gradient, [0.5], (0.0, 1.0), method="euler", dt=-1)
    with pytest.raises(EosInputError, match="t_eval"):
        solve(quartic_gradient, [0.5], (0.0, 1.0), t_eval=[0.0, 2.0])
    with pytest.raises(EosInputError, match="length"):
        solve(quartic_gradient, [0.5, 0.1], (0.0, 1.0))
    with pytest.raises(EosInputError, match="finite"):
        solve(quartic_gradient, [math.nan], (0.0, 1.0))


def test_discrete_map_only_takes_unit_euler_steps() -> None:
    _, system, _ = flow_system("selfstab", "selfstab", eta=0.45)
    with pytest.raises(EosInputError, match="discrete map"):
        solve(system, [0.0, 1.5], (0.0, 10.0), method="rk4", dt=0.5)
    tr = solve(system, [0.01, 1.5], (0.0, 10.0), method="euler", t_eval=np.arange(11.0))
    assert tr.work["steps"] == 10 and tr.y[0, 0] == 0.0  # the projection acts on the initial state too


def test_steady_state_exit() -> None:
    """An attracting equilibrium ends the adaptive run early; a neutral drift or a repeller does not."""
    r = solve_flow("selfstab", "central", x0=[0.2, 1.5], eta=0.45, steps=10_000)
    tr = r.trajectory
    assert tr.steady_from is not None and tr.steady_from < 500 and "equilibrium" in r.message
    assert tr.work["rhs"] < 5000 and r.t[-1] == 10_000
    full = solve_flow("selfstab", "central", x0=[0.2, 1.5], eta=0.45, steps=10_000, steady_state=False)
    assert full.trajectory.steady_from is None
    assert np.max(np.abs(full.center - r.center)) < 1e-8
    # the canonical toy below the edge drifts at constant speed eta*c along y: no equilibrium
    d = solve_flow("canonical", "central", x0=[1e-3, 0.0], eta=0.5, steps=400, constants={"c": 0.01})
    assert d.trajectory.steady_from is None
    assert abs(d.final["center"][1] - 0.5 * 0.01 * 400) < 1e-6
    # gradient flow away from the maximum of -w^2/2 (a repeller, |f| tiny at the start)
    u = solve_flow("quartic", "gradient", x0=[1e-12], eta=1.0, steps=20, constants={"S": -1.0, "Q": 0.0}, atol=1e-24)
    assert u.trajectory.steady_from is None
    assert abs(u.final["center"][0] / (1e-12 * math.exp(20)) - 1) < 1e-6


def test_max_steps_status(quartic_gradient) -> None:
    tr = solve(quartic_gradient, [0.8], (0.0, 100.0), method="rk4", dt=0.01, max_steps=50)
    assert tr.status == "max_steps" and tr.work["steps"] == 50


def test_trajectory_roundtrip(tmp_path, quartic_gradient) -> None:
    tr = solve(quartic_gradient, [0.8], (0.0, 1.0), t_eval=[0.0, 0.5, 1.0])
    tr.save(tmp_path)
    back = Trajectory.load(tmp_path)
    assert np.array_equal(back.y, tr.y) and back.status == tr.status and back.work == tr.work


def test_python_backend_matches_numba(tmp_path) -> None:
    """The same source runs as plain Python with EOSTHEORY_DISABLE_NUMBA=1."""
    code = (
        "from eostheory.flows import solve_flow\n"
        "r = solve_flow('quartic', 'rod', x0=[0.05], eta=2.5, steps=40, constants={'S': 1, 'Q': 1})\n"
        "print(repr(float(r.state[-1][0])), repr(float(r.state[-1][1])))\n"
    )
    env = {**os.environ, "EOSTHEORY_DISABLE_NUMBA": "1", "EOSTHEORY_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    py = [float(v) for v in out.stdout.split()]
    r = solve_flow("quartic", "rod", x0=[0.05], eta=2.5, steps=40, constants=QUARTIC)
    assert np.allclose(py, r.state[-1][:2], rtol=1e-12, atol=1e-15)
