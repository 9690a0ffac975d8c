"""The RMSProp central flow (``central-rmsprop``) against RMSProp's exact 2-cycle on a toy.

Toy ``selfstab``, :math:`L = \\tfrac12(1+y^2)x^2 + \\tfrac12(y-2)^2`, RMSProp with
``eta = 1``, ``alpha = 0.9``, ``eps = 1``: the iterates alternate :math:`(\\pm a, y)` with a
constant buffer :math:`s = ((1+y^2)^2a^2, 0)` (:math:`g_x^2` is even in :math:`x` and
:math:`g_y = ya^2 + y - 2 = 0` on the cycle), so the 2-cycle is exact for every alpha, not
only in the limit alpha -> 1: :math:`ya^2 = 2 - y`, :math:`\\eta(1+y^2) = 2((1+y^2)a + \\epsilon)`.
(``eps = 1`` keeps the y direction, where :math:`s_y = 0`, below the edge:
:math:`(1+a^2)/\\epsilon < 2/\\eta`.)  The cycle is attracting (RMSProp from (0.3, 1.5) settles
on it) and is found here by Newton on the two-step map to 1e-12; the flow's fixed point by
Newton on its vector field.  Tolerance 1e-8 on the centre, the buffer, the variance and the
predicted loss: both Newton solves converge to ~1e-13, the finite-difference Jacobians
only slow the last step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import eostheory as eos
import eostheory.flows._central_rmsprop as rms  # noqa: F401  (registers central-rmsprop)
from eostheory._errors import EosInputError
from eostheory.compile._kernels import compile_potential
from eostheory.flows import get_flow, solve_flow
from eostheory.flows._reference import reference_flow
from eostheory.symbolic.library import toy

ETA, ALPHA, EPS = 1.0, 0.9, 1.0
PARAMS = {"alpha": ALPHA, "eps": EPS}


def _rmsprop_map(cp, c, z):
    """One RMSProp step on (w, s): s' = alpha s + (1 - alpha) g^2, w' = w - eta g/(sqrt(s') + eps)."""
    w, s = z[:2], z[2:]
    g = np.asarray(cp.grad(w, c))
    s2 = ALPHA * s + (1 - ALPHA) * g * g
    return np.concatenate([w - ETA * g / (np.sqrt(s2) + EPS), s2])


def _newton(f, z, tol=1e-14, iters=50):
    for _ in range(iters):
        r = f(z)
        J = np.empty((len(z), len(z)))
        for j in range(len(z)):
            h = 1e-7 * max(1.0, abs(z[j]))
            e = np.zeros(len(z))
            e[j] = h
            J[:, j] = (f(z + e) - f(z - e)) / (2 * h)
        dz = np.linalg.solve(J, -r)
        z = z + dz
        if np.max(np.abs(dz)) < tol:
            break
    return z


@pytest.fixture(scope="module")
def cycle():
    """RMSProp's 2-cycle (x_a, y, s_x) with s_y = 0, by Newton on the two-step map."""
    pot = toy("selfstab")
    cp = compile_potential(pot)
    c = np.array(pot.constant_values(None), dtype=np.float64)

    def two_step(z3):
        z = np.array([z3[0], z3[1], z3[2], 0.0])
        return (_rmsprop_map(cp, c, _rmsprop_map(cp, c, z)) - z)[:3]

    z = _newton(two_step, np.array([0.25, 1.8, 1.4]))
    full = np.array([z[0], z[1], z[2], 0.0])
    assert np.max(np.abs(_rmsprop_map(cp, c, _rmsprop_map(cp, c, full)) - full)) < 1e-12
    # the closed form
    a, y = abs(z[0]), z[1]
    z = np.array([a, y, z[2]])
    assert y * a * a == pytest.approx(2 - y, abs=1e-12)
    assert ETA * (1 + y * y) == pytest.approx(2 * ((1 + y * y) * a + EPS), abs=1e-12)
    assert z[2] == pytest.approx(((1 + y * y) * a) ** 2, abs=1e-12)
    return z


def test_rmsprop_settles_on_the_cycle(cycle):
    r = eos.run("selfstab", "rmsprop", x0=[0.3, 1.5], steps=4000, eta=ETA, hyper=PARAMS)
    a, y, _s = cycle
    assert r.status == "oscillating"
    np.testing.assert_allclose(np.abs(r.params[-1]), [a, y], rtol=0, atol=1e-10)


def _flow_fixed_point(square: str, start: np.ndarray) -> tuple[np.ndarray, object]:
    rf = reference_flow("selfstab", "central-rmsprop", eta=ETA, params={**PARAMS, "square": square})

    def f(z):
        out, flag = rf.rhs(z)
        assert flag == 0
        return out

    return _newton(f, start), rf


@pytest.mark.slow  # compiles the RMSProp flow for the toy (the reference test runs its source uncompiled)
def test_flow_fixed_point_is_the_cycle(cycle):
    a, y, s = cycle
    # long integration (fast path, dopri5) from RMSProp's start reaches the fixed point ...
    r = solve_flow("selfstab", "central-rmsprop", x0=[0.3, 1.5], eta=ETA, steps=600, params=PARAMS)
    assert r.status == "completed"
    y_end = r.state[-1]
    assert np.max(np.abs(y_end[:3] - [0.0, y, s])) < 1e-6
    # ... which Newton polishes: rhs(w, nu) = 0 in all four components (nu_y = 0 is on the boundary
    # sqrt(nu_y) = 0; the Newton unknowns are the other three)
    rf = reference_flow("selfstab", "central-rmsprop", eta=ETA, params=PARAMS)

    def f3(z3):
        out, flag = rf.rhs(np.array([*z3, 0.0]))
        assert flag == 0
        return out[:3]

    z = _newton(f3, y_end[:3])
    full = np.array([*z, 0.0])
    res, _flag = rf.rhs(full)
    assert np.max(np.abs(res)) < 1e-13
    np.testing.assert_allclose(full, [0.0, y, s, 0.0], rtol=0, atol=1e-8)
    ob = rf.observe(full)  # centre (2), loss, oscillation, lambda, edge, sigma2, margin, nu_sum
    cycle_loss = 0.5 * (1 + y * y) * a * a + 0.5 * (y - 2) ** 2  # the same at both iterates
    assert ob[2] == pytest.approx(cycle_loss, abs=1e-8)
    assert ob[3] == pytest.approx(a, abs=1e-8)
    assert ob[4] == pytest.approx(2 / ETA, abs=1e-10)
    assert ob[6] == pytest.approx(a * a, abs=1e-8)
    assert ob[8] == pytest.approx(s, abs=1e-8)
    # the flow's buffer input is diag(H Sigma H) = x (Hu)^2, equal to RMSProp's g^2 on the cycle
    assert s == pytest.approx(((1 + y * y) * a) ** 2, abs=1e-12)


def test_centre_squared_gradient_misses_the_cycle(cycle):
    """With grad L(w)^2 in the buffer's input (the published form) the fixed point moves off the cycle.

    At the centre grad_y L = y - 2 is balanced by (x/2) d_y, so grad L(w)^2 feeds
    nu_y = (2 - y)^2 > 0 while RMSProp's s_y = 0 (off a fixed point it also slows the y-step).
    """
    _a, y, s = cycle
    rf = reference_flow("selfstab", "central-rmsprop", eta=ETA, params={**PARAMS, "square": "centre"})

    def f(z):
        out, flag = rf.rhs(z)
        assert flag == 0
        return out

    z = _newton(f, np.array([0.0, y, s, (2 - y) ** 2]))
    assert np.max(np.abs(f(z))) < 1e-12
    assert z[3] == pytest.approx((2 - z[1]) ** 2 + 0.0, rel=1e-6)
    # the centre and the x-buffer still match (nu_y only scales the y-step, which vanishes there) ...
    np.testing.assert_allclose(z[:3], [0.0, y, s], rtol=0, atol=1e-8)
    # ... but the buffer is wrong: nu_y = (2 - y)^2 = 0.0199 against RMSProp's s_y = 0
    assert z[3] == pytest.approx((2 - y) ** 2, rel=1e-6) and z[3] > 1e-2


@pytest.mark.parametrize("beta1", [0.0, 0.5])
def test_fast_path_equals_reference_at_random_states(beta1):
    rf = reference_flow("selfstab", "central-rmsprop", eta=ETA, params={**PARAMS, "beta1": beta1})
    rng = np.random.default_rng(3)
    for _ in range(5):
        yv = np.array([0.3, 1.7, 1.0, 0.1]) + 0.1 * rng.standard_normal(4)
        a, fa = rf.rhs(yv)
        b, fb = rf.fast_rhs(yv)
        assert fa == fb
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(b))))
        np.testing.assert_allclose(rf.observe(yv), rf.fast_observe(yv), rtol=0, atol=1e-11)


def test_parameters_and_equations():
    fl = get_flow("central-rmsprop")
    assert fl.threshold(fl.param_array(0.5)) == pytest.approx(4.0)
    with pytest.raises(EosInputError, match="0 < alpha < 1"):
        solve_flow("selfstab", "central-rmsprop", x0=[0.3, 1.5], eta=1.0, steps=10, params={"alpha": 1.5})
    with pytest.raises(EosInputError, match="square"):
        fl.param_array(1.0, square="nope")
    text = fl.equations(toy("selfstab"))
    assert "dnu/dt" in text and "(H u)^2" in text
    assert math.isfinite(fl.param_array(1.0)[1])


def test_start_grad_initialises_the_buffer_at_the_squared_gradient():
    rf0 = reference_flow("selfstab", "central-rmsprop", eta=ETA, params=PARAMS)
    rf1 = reference_flow("selfstab", "central-rmsprop", eta=ETA, params={**PARAMS, "start": "grad"})
    w0 = np.array([0.3, 1.5])
    # selfstab: grad L = ((1 + y^2) x, x^2 y + (y - 2)) at (0.3, 1.5)
    g2 = np.array([(1 + 1.5**2) * 0.3, 0.3**2 * 1.5 + (1.5 - 2)]) ** 2
    y0, y1 = rf0.initial(w0), rf1.initial(w0)
    np.testing.assert_allclose(y1[2:], g2, rtol=1e-14)
    np.testing.assert_allclose(y0[2:], (1 - PARAMS["alpha"]) * g2, rtol=1e-14)


@pytest.mark.slow  # about a minute: 400 steps of the flow with a 310-parameter Lanczos eigenpair
def test_tracks_rmsprop_on_an_mlp():
    """The quick network comparison: within 2% of RMSProp's smoothed loss and of its sum(s).

    The control (the stable preconditioned flow, no oscillation) is within 2% on the loss
    too in this short run, but misses the buffer by more than 2%: the diag(H Sigma H) input
    is what keeps sum(nu) on RMSProp's.
    """
    import importlib.util
    from pathlib import Path

    pytest.importorskip("torch")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rmsprop_central_flow.py"
    spec = importlib.util.spec_from_file_location("rmsprop_central_flow", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.compare(4, 50, 0.004, 0.99, 1e-8, 400, 0.5, "euler", "grad")
    assert out["flow_status"] == "completed"
    assert out["initial_precond_sharpness_over_threshold"] < 1.0 < out["final_precond_sharpness_over_threshold"] + 0.005
    assert out["fraction_on_edge_2nd_half"] > 0.9
    assert out["median_rel_loss_2nd_half"] < 0.02
    assert out["median_rel_nu_sum_2nd_half"] < 0.02
    assert out["control_median_rel_nu_sum_2nd_half"] > 0.02


@pytest.mark.parametrize("beta1", [0.3, 0.5, 0.9])
def test_adam_flow_fixed_point_is_adams_cycle(beta1):
    """beta1 > 0 (Adam without bias correction): the fixed point is Adam's 2-cycle to 1e-8.

    With eta = (1 + beta1)/(1 - beta1) the cycle has RMSProp's (a, y) at eta = 1, and the first
    moment alternates as m_x = +-(1 - beta1)(1 + y^2)a/(1 + beta1).
    """
    eta = (1 + beta1) / (1 - beta1)
    pot = toy("selfstab")
    cp = compile_potential(pot)
    c = np.array(pot.constant_values(None), dtype=np.float64)

    def adam(z):  # z = (x, y, m_x, m_y, s_x, s_y)
        w, m, s = z[:2], z[2:4], z[4:]
        g = np.asarray(cp.grad(w, c))
        m2 = beta1 * m + (1 - beta1) * g
        s2 = ALPHA * s + (1 - ALPHA) * g * g
        return np.concatenate([w - eta * m2 / (np.sqrt(s2) + EPS), m2, s2])

    def full(z4):
        return np.array([z4[0], z4[1], z4[2], 0.0, z4[3], 0.0])

    def two_step(z4):
        d = adam(adam(full(z4))) - full(z4)
        return d[[0, 1, 2, 4]]

    y0 = 1.85886
    a0 = math.sqrt((2 - y0) / y0)
    # at x = +a the stored first moment is the previous step's, -m_x
    m0 = -(1 - beta1) * (1 + y0 * y0) * a0 / (1 + beta1)
    z = _newton(two_step, np.array([a0, y0, m0, ((1 + y0 * y0) * a0) ** 2]))
    assert np.max(np.abs(adam(adam(full(z))) - full(z))) < 1e-12
    assert np.max(np.abs(adam(full(z)) + full(z) * [1, -1, 1, 1, -1, -1])) < 1e-12  # x, m_x flip; y, s hold
    a, y, mx, s = abs(z[0]), z[1], abs(z[2]), z[3]
    assert mx == pytest.approx((1 - beta1) * (1 + y * y) * a / (1 + beta1), abs=1e-12)

    rf = reference_flow("selfstab", "central-rmsprop", eta=eta, params={**PARAMS, "beta1": beta1})

    def f3(z3):
        out, flag = rf.rhs(np.array([*z3, 0.0]))
        assert flag == 0
        return out[:3]

    zf = _newton(f3, np.array([0.01, y + 0.01, 1.02 * s]))
    np.testing.assert_allclose([*zf, 0.0], [0.0, y, s, 0.0], rtol=0, atol=1e-8)
    ob = rf.observe(np.array([*zf, 0.0]))
    assert ob[4] == pytest.approx(2 * (1 + beta1) / (eta * (1 - beta1)), abs=1e-10)  # lambda at the threshold
    assert ob[6] == pytest.approx(a * a, abs=1e-8)  # tr Sigma = a^2
    fl = get_flow("central-rmsprop")
    assert fl.threshold(fl.param_array(eta, beta1=beta1)) == pytest.approx(2 * (1 + beta1) / (eta * (1 - beta1)))
