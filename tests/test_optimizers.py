"""Explicit optimizers: compiled steps against independent numpy references, run statuses,
and the foundation's acceptance numbers (flip bifurcation of the quartic, self-stabilization toys)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import eostheory as eos
from eostheory import EosInputError
from eostheory.optimizers import detect_period

A = np.array([[3.0, 1.0], [1.0, 2.0]])  # Hessian of the "quadratic-general" toy (a=3, b=1, c=2)


def _reference(name: str, w0: np.ndarray, steps: int, eta: float, beta: float = 0.0) -> np.ndarray:
    """The update rules written out by hand in numpy, PyTorch conventions."""
    w = w0.copy()
    v = np.zeros_like(w)
    for _ in range(steps):
        g = A @ w
        if name == "gd":
            w = w - eta * g
        elif name == "heavy-ball":
            v = beta * v + g
            w = w - eta * v
        elif name == "nesterov":
            v = beta * v + g
            w = w - eta * (g + beta * v)
        elif name == "ema-momentum":
            v = beta * v + (1 - beta) * g
            w = w - eta * v
        elif name == "normalized-gd":
            w = w - eta * g / np.linalg.norm(g)
        elif name == "sign-gd":
            w = w - eta * np.sign(g)
        elif name == "linf-descent":
            w = w - eta * np.abs(g).sum() * np.sign(g)
    return w


@pytest.mark.parametrize(
    "name", ["gd", "heavy-ball", "nesterov", "ema-momentum", "normalized-gd", "sign-gd", "linf-descent"]
)
def test_compiled_step_matches_reference(name: str) -> None:
    opt = eos.get_optimizer(name)
    beta = 0.7 if any(h.name == "beta" for h in opt.hyperparameters) else None
    w0 = np.array([1.0, -0.5])
    steps = 7
    r = eos.run("quadratic-general", name, x0=w0, steps=steps, eta=0.05, beta=beta, gtol=0.0, record_every=1)
    ref = _reference(name, w0, steps, 0.05, beta or 0.0)
    np.testing.assert_allclose(r.final["params"], ref, rtol=1e-14, atol=1e-15)
    # the records hold every step and start at x0
    np.testing.assert_allclose(r.params[0], w0)
    assert r.t.tolist() == list(range(steps + 1))


def test_selfstab_acceptance() -> None:
    """GD converges for η < 0.4; 2-cycle with 1 + y² = 2/η for η in (0.4, 0.52]; diverges at 0.9."""
    r = eos.run("selfstab", "gd", x0=[0.01, 1.5], eta=0.39, steps=20000)
    assert r.status == "converged"
    assert r.final["sharpness"] == pytest.approx(5.0, abs=1e-9)
    for eta in (0.41, 0.45, 0.52):
        r = eos.run("selfstab", "gd", x0=[0.01, 1.5], eta=eta, steps=20000)
        assert (r.status, r.period) == ("oscillating", 2)
        y = r.average["params"][1]
        assert abs(1 + y * y - 2 / eta) < 1e-6
        assert r.final["params"][0] ** 2 == pytest.approx((2 - y) / y, abs=1e-6)
        # the average over the window sees both phases: the mean of x vanishes
        assert abs(r.average["params"][0]) < 1e-6
    r = eos.run("selfstab", "gd", x0=[0.01, 1.5], eta=0.9, steps=20000)
    assert r.status == "diverged"
    assert "diverged" in r.message
    assert all(math.isfinite(v) for v in r.final["params"])
    assert math.isfinite(r.final["loss"])
    assert np.all(np.isfinite(r.loss)) and np.all(np.isfinite(r.params))


@pytest.mark.parametrize("eta_s", [2.1, 2.5, 2.95])
def test_quartic_cycle_amplitude(eta_s: float) -> None:
    S, Q = 1.5, 2.0
    eta = eta_s / S
    r = eos.run("quartic", "gd", x0=[0.01], eta=eta, steps=30000, constants={"S": S, "Q": Q})
    assert (r.status, r.period) == ("oscillating", 2)
    assert abs(abs(r.final["params"][0]) - math.sqrt((S - 2 / eta) / Q)) < 1e-8


def test_quartic_cycle_lost_past_three() -> None:
    """(2ηS − 5)² > 1 for ηS > 3: the symmetric 2-cycle is unstable and GD leaves it."""
    r = eos.run("quartic", "gd", x0=[0.01], eta=3.1, steps=20000)
    assert abs(abs(r.final["params"][0]) - math.sqrt(1 - 2 / 3.1)) > 1e-3
    assert abs(r.average["params"][0]) > 1e-3  # asymmetric: the orbit's mean is no longer 0


def test_heavy_ball_two_cycle_on_selfstab() -> None:
    """Heavy ball β = 0.5, η = 0.62 settles on 1 + y² = 2(1+β)/η, x² = (2−y)/y."""
    r = eos.run("selfstab", "heavy-ball", x0=[0.01, 1.5], eta=0.62, beta=0.5, steps=40000)
    assert (r.status, r.period) == ("oscillating", 2)
    y = r.average["params"][1]
    assert 1 + y * y == pytest.approx(2 * 1.5 / 0.62, abs=1e-6)
    assert r.final["params"][0] ** 2 == pytest.approx((2 - y) / y, abs=1e-6)


def test_detect_period() -> None:
    t = np.arange(40)[:, None].astype(float)
    assert detect_period(np.ones((10, 2))) == 1
    assert detect_period(np.cos(np.pi * t)) == 2
    assert detect_period(np.cos(np.pi * t / 2)) == 4
    assert detect_period(np.sin(0.1 * t)) == 0


def test_average_window_is_even() -> None:
    r = eos.run("quartic", "gd", x0=[0.01], eta=2.5, steps=1001)
    assert r.average["window"] % 2 == 0


def test_run_directory_round_trip(tmp_path) -> None:
    r = eos.run("selfstab", "gd", x0=[0.01, 1.5], eta=0.45, steps=3000)
    r.save(tmp_path / "run")
    back = eos.RunResult.load(tmp_path / "run")
    assert back.status == r.status and back.final == r.final
    np.testing.assert_array_equal(back.params, r.params)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta": 0.0}, "eta must be > 0"),
        ({"eta": -1.0}, "eta must be > 0"),
        ({"eta": float("nan")}, "finite"),
        ({"optimizer": "heavy-ball", "beta": 1.0}, r"beta must lie in \[0, 1\)"),
        ({"optimizer": "heavy-ball", "beta": -0.1}, r"beta must lie in \[0, 1\)"),
        ({"beta": 0.5}, "has no hyperparameter"),
        ({"x0": [1.0]}, "x0 has length 1, expected 2"),
        ({"x0": [1.0, float("inf")]}, "x0 must be finite"),
        ({"steps": 0}, "steps must be > 0"),
        ({"optimizer": "adamw"}, "unknown optimizer"),
        ({"constants": {"zz": 1.0}}, "unknown constant"),
    ],
)
def test_bad_input(kwargs: dict, message: str) -> None:
    args = {"optimizer": "gd", "x0": [0.1, 1.0], "steps": 10, "eta": 0.1} | kwargs
    opt = args.pop("optimizer")
    with pytest.raises(EosInputError, match=message):
        eos.run("selfstab", opt, **args)
