"""Stability analysis: classical thresholds and the flip bifurcation, derived symbolically and checked numerically."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest
import sympy as sp

import eostheory.experiments as verify
from eostheory import EosInputError
from eostheory.cli import main as cli_main
from eostheory.optimizers import get_optimizer
from eostheory.symbolic import stability
from eostheory.symbolic.stability import (
    LAMBDA,
    as_text,
    flip_bifurcation,
    linear_map,
    matrix_stability,
    mean_square,
    thresholds,
    two_cycles,
)

beta, eta, z = sp.symbols("beta eta z")
S, Q = sp.symbols("S Q")

# the classical linear-stability table, as data: name, the update lines as the table writes them, p(z), lambda*
TABLE = [
    ("gd", ["w = w - eta*g"], z - 1 + eta * LAMBDA, 2 / eta),
    (
        "heavy-ball",
        ["v = beta*v + g", "w = w - eta*v"],
        z**2 - (1 + beta - eta * LAMBDA) * z + beta,
        2 * (1 + beta) / eta,
    ),
    (
        "nesterov",
        ["v = beta*v + g", "w = w - eta*(g + beta*v)"],
        z**2 - (1 + beta) * (1 - eta * LAMBDA) * z + beta * (1 - eta * LAMBDA),
        2 * (1 + beta) / (eta * (1 + 2 * beta)),
    ),
    (
        "ema-momentum",
        ["m = beta*m + (1 - beta)*g", "w = w - eta*m"],
        z**2 - (1 + beta - eta * (1 - beta) * LAMBDA) * z + beta,
        2 * (1 + beta) / (eta * (1 - beta)),
    ),
]


def _eq(a: sp.Expr, b: sp.Expr) -> bool:
    return sp.simplify(sp.expand(a - b)) == 0


# --------------------------------------------------------------------------------------
# deterministic thresholds
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, lines, poly, thr", TABLE, ids=[t[0] for t in TABLE])
@pytest.mark.parametrize("source", ["name", "lines", "optimizer"])
def test_theory_table_exact(name: str, lines: list[str], poly: sp.Expr, thr: sp.Expr, source: str) -> None:
    target = {"name": name, "lines": lines, "optimizer": get_optimizer(name)}[source]
    r = thresholds(target)
    assert _eq(r.threshold, thr)
    assert _eq(r.polynomial, poly)
    assert r.crossing == "z=-1"
    assert r.lower == 0
    # the printed form parses back to the same expression
    assert _eq(sp.sympify(r.threshold_str(), locals={"beta": beta, "eta": eta}), thr)


def test_builtin_reuses_the_single_definition() -> None:
    opt = get_optimizer("heavy-ball")
    assert thresholds("heavy-ball").rule is opt.rule
    assert thresholds(opt).rule is opt.rule


def test_heavy_ball_complex_roots_have_modulus_sqrt_beta() -> None:
    """For heavy ball the complex roots have |z|^2 = beta, so z = -1 binds."""
    r = thresholds("heavy-ball")
    assert _eq(r.boundaries["complex"], 1 - beta)
    for lam in (1.0, 2.0, 3.0):  # below 2(1+beta)/eta = 3.8 at eta = 1, beta = 0.9
        assert r.spectral_radius(lam, eta=1, beta=0.9) == pytest.approx(math.sqrt(0.9), abs=1e-12)


def test_fixed_values_and_preconditioned_ema() -> None:
    """Adam/RMSProp with beta1 = 0.9: EMA threshold on the preconditioned sharpness is 38/eta."""
    r = thresholds("ema-momentum", values={"beta": 0.9}, preconditioned=True)
    assert _eq(r.threshold, 38 / eta)
    assert r.curvature == "lambda_max(P^-1 H)"


def test_user_rules_in_other_forms() -> None:
    # Sutskever's form of Nesterov with a temporary (y) and a memory (yp)
    r = thresholds(["y = w - eta*g", "w = y + beta*(y - yp)", "yp = y"])
    assert _eq(r.threshold, 2 * (1 + beta) / (eta * (1 + 2 * beta)))
    assert [str(s) for s in r.state] == ["w", "yp"]
    # quasi-hyperbolic momentum interpolates GD (nu = 0) and EMA momentum (nu = 1)
    nu = sp.Symbol("nu")
    q = thresholds(["v = beta*v + (1 - beta)*g", "w = w - eta*((1 - nu)*g + nu*v)"])
    assert _eq(q.threshold.subs(nu, 0), 2 / eta)
    assert _eq(q.threshold.subs(nu, 1), 2 * (1 + beta) / (eta * (1 - beta)))
    # weight decay shifts the stable interval: -wd < lambda < 2/eta - wd
    wd = sp.Symbol("wd")
    d = thresholds("w = w - eta*(g + wd*w)")
    assert _eq(d.threshold, 2 / eta - wd) and _eq(d.lower, -wd)


def test_complex_crossing_and_mixed_regimes() -> None:
    """Two EMAs in series: a complex pair leaves first for large momenta, z = -1 for small."""
    rule = ["m = b1*m + (1 - b1)*g", "u = b2*u + (1 - b2)*m", "w = w - eta*u"]
    r = thresholds(rule)
    assert r.crossing == "mixed"
    assert [x["crossing"] for x in r.regimes] == ["z=-1", "complex", "complex"]
    hi = thresholds(rule, samples={"b1": 0.9, "b2": 0.9, "eta": 0.1})
    b1, b2 = sp.symbols("b1 b2")
    assert hi.crossing == "complex"
    assert _eq(hi.threshold, (1 - b1 * b2) / (b1 * b2 * eta))
    g = verify.spectral_radius_grid(hi, {"eta": 0.1, "b1": 0.9, "b2": 0.9})
    assert g.violations == 0 and g.relative_error < 1e-9


def test_schur_cohn_conditions_match_stability() -> None:
    r = thresholds("nesterov")
    sub = {eta: sp.Rational(1, 10), beta: sp.Rational(9, 10)}
    lam_star = r.threshold.subs(sub)
    for lam, stable in ((lam_star * sp.Rational(99, 100), True), (lam_star * sp.Rational(101, 100), False)):
        signs = [c.subs(sub).subs(LAMBDA, lam) > 0 for c in r.conditions]
        assert all(signs) is stable


def test_printing() -> None:
    r = thresholds("ema-momentum")
    assert r.threshold_str() == "2*(1 + beta)/(eta*(1 - beta))"
    assert "\\frac{2 \\left(1 + \\beta\\right)}{\\eta \\left(1 - \\beta\\right)}" in r.latex()
    assert r._repr_latex_().startswith("$p(z) =")
    assert "β" in r.pretty()
    assert "crossing            z=-1" in str(r)
    d = r.as_dict()
    json.dumps(d)
    assert d["characteristic_polynomial"] == "z**2 - (1 + beta*eta*lam + beta - eta*lam)*z + beta"
    assert d["curvature_symbol"] == "lam" and "\\lambda" in d["characteristic_polynomial_latex"]
    assert as_text(sp.Integer(0)) == "0"


# --------------------------------------------------------------------------------------
# bad input: one clear error each
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rule, words",
    [
        ("normalized-gd", ["norm(g)", "not linear"]),
        ("sign-gd", ["sign(g)", "not linear"]),
        ("w = w - eta*g*w", ["g*w", "not linear"]),
        ("w = w - eta*g + 1", ["term 1", "0 to 0"]),
        (["v = beta*v + g", "w = w - eta*vv"], ["'vv' is read but never assigned", "did you mean 'v'"]),
        (["v = beta*v + g", "u = beta*v", "w = w - eta*v"], ["u is assigned but never read"]),
        (["u = 2*u + g", "w = w - eta*g"], ["u is assigned but never influences w"]),
        (["v = beta*v + g"], ["never assigns w"]),
        (["v = beta*v + g", "w = w - eta*(v"], ["cannot parse"]),
        ("w = w", ["never reads the gradient"]),
        ("w = w + eta*g", ["unstable already for small curvature"]),
        (["u = u", "w = w - eta*g + c*u"], ["for every curvature"]),
        ("no-such-optimizer", ["unknown optimizer"]),
        ("w = w - eta*lam*g", ["lam is reserved"]),
        (3, ["expected an optimizer name"]),
    ],
)
def test_bad_rules(rule: object, words: list[str]) -> None:
    with pytest.raises(EosInputError) as exc:
        thresholds(rule)
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_bad_values() -> None:
    with pytest.raises(EosInputError, match="no hyperparameter"):
        thresholds("gd", values={"beta": 0.5})
    with pytest.raises(EosInputError, match="exactly the hyperparameters"):
        thresholds("heavy-ball", samples={"eta": 0.1})
    with pytest.raises(EosInputError, match="give values"):
        thresholds("heavy-ball").value(eta=0.1)


# --------------------------------------------------------------------------------------
# matrix curvature and preconditioning
# --------------------------------------------------------------------------------------
def test_matrix_stability_symbolic_and_numeric() -> None:
    a, b, c = sp.symbols("a b c", positive=True)
    m = matrix_stability("gd", [[a, b], [b, c]])
    assert len(m.eigenvalues) == 2
    big = sp.Rational(1, 2) * (a + c) + sp.sqrt((a - c) ** 2 + 4 * b**2) / 2
    assert any(_eq(mu, big) for mu in m.eigenvalues)
    m2 = matrix_stability("heavy-ball", [[3, 1], [1, 3]], [[2, 0], [0, 2]], values={"eta": 0.5, "beta": 0.5})
    assert m2.eigenvalues == [1.0, 2.0] and m2.threshold == 6 and m2.stable is True
    with pytest.raises(EosInputError, match="symmetric"):
        matrix_stability("gd", [[1, 2], [0, 1]])
    with pytest.raises(EosInputError, match="positive definite"):
        matrix_stability("gd", [[1, 0], [0, 1]], [[1, 0], [0, -1]])
    with pytest.raises(EosInputError, match="singular"):
        matrix_stability("gd", [[1, 0], [0, 1]], [[1, 1], [1, 1]])


@pytest.mark.parametrize("name, vals", [("gd", {}), ("heavy-ball", {"beta": 0.9}), ("ema-momentum", {"beta": 0.5})])
def test_preconditioned_full_map_against_diagonalization(name: str, vals: dict) -> None:
    rng = np.random.default_rng(11)
    B, C = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    H, P = B @ B.T + 0.1 * np.eye(5), C @ C.T + np.eye(5)
    res = thresholds(name, values=vals or None, preconditioned=True)
    mu_max = max(np.linalg.eigvals(np.linalg.solve(P, H)).real)
    eta_c = float(res.threshold.subs(eta, 1)) / mu_max
    assert verify.preconditioned_radius(res, H, P, {"eta": 0.999 * eta_c}) < 1
    assert verify.preconditioned_radius(res, H, P, {"eta": 1.001 * eta_c}) > 1


# --------------------------------------------------------------------------------------
# mean-square stability
# --------------------------------------------------------------------------------------
def test_mean_square_heavy_ball_theory() -> None:
    ms = mean_square("heavy-ball")
    a, m2 = ms.a, ms.m2
    assert _eq(ms.critical_m2(), a * (2 * (1 - beta) / eta + 2 * beta * a / (1 + beta)))
    assert _eq(ms.deterministic_limit, 2 * (1 + beta) / eta)
    assert _eq(ms.noise_limit, 2 * (1 - beta) / eta)
    assert isinstance(ms.boundary, sp.Eq) and ms.boundary.lhs == m2
    assert ms.ratio_str() == "2*(1 - beta)/eta + 2*a*beta/(1 + beta)"
    json.dumps(ms.as_dict())


@pytest.mark.parametrize("name", [t[0] for t in TABLE])
def test_mean_square_limits_all_builtins(name: str) -> None:
    ms = mean_square(name)
    assert _eq(ms.deterministic_limit, thresholds(name).threshold)
    want = {
        "gd": 2 / eta,
        "heavy-ball": 2 * (1 - beta) / eta,
        "nesterov": 2 * (1 - beta) / eta,
        "ema-momentum": 2 / eta,
    }
    assert _eq(ms.noise_limit, want[name])


def test_moment_map_against_kronecker_reference() -> None:
    """The symmetric-basis moment map equals E[A(h) kron A(h)] for a two-point h (numpy)."""
    for name, vals in (("heavy-ball", {"eta": 0.1, "beta": 0.7}), ("nesterov", {"eta": 0.2, "beta": 0.5})):
        res, ms = thresholds(name), mean_square(name)
        A = res.matrix.subs({sp.Symbol(k): sp.nsimplify(v) for k, v in vals.items()})
        for h1, h2, p in ((1.0, 9.0, 0.3), (0.5, 4.0, 0.5)):
            mats = [np.array(A.subs(LAMBDA, h), dtype=float) for h in (h1, h2)]
            K = p * np.kron(mats[0], mats[0]) + (1 - p) * np.kron(mats[1], mats[1])
            ref = max(abs(np.linalg.eigvals(K)))
            a, m2 = p * h1 + (1 - p) * h2, p * h1**2 + (1 - p) * h2**2
            assert ms.spectral_radius(a, m2, **vals) == pytest.approx(ref, rel=1e-10)


def test_mean_square_simulation_small() -> None:
    """SGD + heavy ball on 64 x 128 regression: eta_c*BS ~ 2(1-beta) at batch 1; full batch exact."""
    for m in verify.verify_mean_square((0.0, 0.9), n=64, d=128, steps=12000):
        assert abs(m.ratio_batch1 - 1) < 0.2
        assert abs(m.ratio_full - 1) < 0.01


def test_mean_square_exact_map_near_simulation() -> None:
    """The exact second-moment map is critical within 10% of the simulated (almost-sure) eta_c."""
    X = verify.overparameterized_regression(24, 48, seed=3)
    bs = float(np.mean(np.sum(X * X, axis=1)))
    for b in (0.0, 0.5):
        eta_sim, _, _ = verify.critical_eta_batch(
            X, b, scale=2 * (1 - b) / bs, steps=30000, grid=np.linspace(0.7, 1.3, 13)
        )
        assert verify.mean_square_radius(X, 0.9 * eta_sim, b) < 1 < verify.mean_square_radius(X, 1.1 * eta_sim, b)


def test_batch_sharpness_definition() -> None:
    X = verify.overparameterized_regression(16, 32, seed=4)
    e = np.random.default_rng(0).standard_normal(32)
    assert verify.batch_sharpness(X, e, 1) == pytest.approx(float(np.mean(np.sum(X * X, axis=1))), rel=1e-12)
    H = X.T @ X / 16
    g = H @ e
    assert verify.batch_sharpness(X, e, 16) == pytest.approx(float(g @ H @ g / (g @ g)), rel=1e-12)
    with pytest.raises(EosInputError, match="d > n"):
        verify.overparameterized_regression(10, 5)


# --------------------------------------------------------------------------------------
# numerical verification on the quadratic
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [t[0] for t in TABLE])
def test_runs_at_one_percent(name: str) -> None:
    vals = {"eta": 0.1} if name == "gd" else {"eta": 0.1, "beta": 0.9}
    runs = verify.verify_threshold(name, vals)
    assert [r.status for r in runs] == ["converged", "diverged"]
    g = verify.spectral_radius_grid(name, vals)
    assert g.violations == 0 and g.relative_error < 1e-9


def test_runs_for_user_rule() -> None:
    runs = verify.verify_threshold(["y = w - eta*g", "w = y + beta*(y - yp)", "yp = y"], {"eta": 0.05, "beta": 0.5})
    assert all(r.passed for r in runs)
    with pytest.raises(EosInputError, match="called eta"):
        verify.verify_threshold("w = w - lr*g", {"lr": 0.1})


# --------------------------------------------------------------------------------------
# flip bifurcation of GD on the quartic
# --------------------------------------------------------------------------------------
def test_quartic_flip_exact() -> None:
    r = flip_bifurcation("quartic")
    e = r.eta
    assert r.kind == "supercritical" and _eq(r.criterion, 6 * S * Q)
    assert _eq(r.amplitude_squared, (S - 2 / e) / Q)
    assert _eq(r.exact_amplitude_squared, (S - 2 / e) / Q) and r.center == 0
    assert _eq(r.stable_range[0], 2 / S) and _eq(r.stable_range[1], 3 / S)
    assert _eq(r.multiplier, (2 * e * S - 5) ** 2) and r.exit == "+1"
    assert flip_bifurcation("quartic-plus").kind == "subcritical"
    json.dumps(r.as_dict())


def test_quartic_amplitude_matches_gd() -> None:
    from eostheory.optimizers import run

    r = flip_bifurcation("quartic")
    for es in (2.2, 2.9):
        res = run("quartic", "gd", x0=[0.05], eta=es / 2, steps=20000, constants={"S": 2.0, "Q": 0.5})
        amp2 = float(r.amplitude_squared.subs({S: 2, Q: sp.Rational(1, 2), r.eta: sp.Rational(str(es)) / 2}))
        assert res.period == 2
        assert abs(res.final["params"][0]) == pytest.approx(math.sqrt(amp2), abs=1e-9)


def test_quartic_past_three_is_a_symmetry_breaking_pitchfork() -> None:
    """(2 eta S - 5)^2 crosses +1 at eta S = 3; asymmetric cycles (multiplier 9 - 2(eta S - 1)^2) take over."""
    for es in (3.05, 3.2):
        cyc = two_cycles("quartic", es)
        sym = [c for c in cyc if abs(c.mean) < 1e-12]
        asym = [c for c in cyc if abs(c.mean) >= 1e-12]
        assert len(sym) == 1 and not sym[0].stable
        assert sym[0].multiplier == pytest.approx((2 * es - 5) ** 2, rel=1e-12)
        assert len(asym) == 2 and all(c.stable for c in asym)
        for c in asym:
            assert c.multiplier == pytest.approx(9 - 2 * (es - 1) ** 2, rel=1e-10)
    below = two_cycles("quartic", 2.95)
    assert len(below) == 1 and below[0].stable


def test_cubic_flip_leading_order() -> None:
    r = flip_bifurcation("x**2/2 + x**3")
    assert r.kind == "supercritical" and r.exit == "-1"
    assert _eq(r.stable_range[1], sp.sqrt(6))
    for d in (1e-2, 1e-4):
        e0 = 2 + d
        lead = float(r.amplitude_squared.subs(r.eta, e0))
        exact = float(r.exact_amplitude_squared.subs(r.eta, e0))
        assert lead / exact == pytest.approx(1, abs=5 * d)


def test_flip_errors() -> None:
    with pytest.raises(EosInputError, match="one-dimensional"):
        flip_bifurcation("selfstab")
    with pytest.raises(EosInputError, match="not a critical point"):
        flip_bifurcation("quartic", point=0.5)
    with pytest.raises(EosInputError, match="not a minimum"):
        flip_bifurcation("-w**2/2 + w**4")
    with pytest.raises(EosInputError, match="polynomial"):
        two_cycles("logistic-1d", 1.0)


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, lines, poly, thr", TABLE, ids=[t[0] for t in TABLE])
def test_cli_json(name: str, lines: list[str], poly: sp.Expr, thr: sp.Expr, capsys: pytest.CaptureFixture) -> None:
    for argv in (
        ["thresholds", name, "--json"],
        ["thresholds", *[x for s in lines for x in ("--update", s)], "--json"],
    ):
        assert cli_main(argv) == 0
        d = json.loads(capsys.readouterr().out)
        assert _eq(sp.sympify(d["threshold"], locals={"beta": beta, "eta": eta}), thr)
        assert d["crossing"] == "z=-1"
        p = sp.sympify(d["characteristic_polynomial"], locals={"lam": LAMBDA, "beta": beta, "eta": eta, "z": z})
        assert _eq(p, poly)
        assert "mean_square" in d


def test_cli_text_verify_out_flip(capsys: pytest.CaptureFixture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert cli_main(["thresholds", "heavy-ball", "--verify", "eta=0.1,beta=0.9", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "threshold lam*      2*(1 + beta)/eta" in out and "converged" in out
    d = json.loads((tmp_path / "thresholds.json").read_text())
    assert all(r["passed"] for r in d["verification"]["runs"])
    assert (tmp_path / "spectral_radius.csv").read_text().startswith("lambda,spectral_radius")
    assert cli_main(["thresholds", "--flip", "quartic", "--json"]) == 0
    f = json.loads(capsys.readouterr().out)["flip"]
    assert f["kind"] == "supercritical" and f["stable_range"] == ["2/S", "3/S"]


@pytest.mark.parametrize(
    "argv",
    [
        ["thresholds", "--update", "w = w - eta*g**3"],  # not linear (sign-gd now states its generalized threshold)
        ["thresholds", "--update", "v = beta*v + g"],
        ["thresholds", "--update", "w = w - eta*(g"],
        ["thresholds"],
        ["thresholds", "gd", "--update", "w = w - eta*g"],
        ["thresholds", "w = w - eta*g"],
        ["thresholds", "--flip", "selfstab"],
    ],
)
def test_cli_errors(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("eostheory thresholds: error:") and err.count("\n") == 1


def test_cli_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        cli_main(["thresholds", "--help"])
    assert exc.value.code == 0
    assert "--update LINE" in capsys.readouterr().out


def test_doctests() -> None:
    for mod in (stability, verify):
        failed, _ = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert failed == 0


def test_linear_map_example() -> None:
    A, _ = linear_map(["v = beta*v + g", "w = w - eta*v"])
    assert A == sp.Matrix([[1 - eta * LAMBDA, -beta * eta], [LAMBDA, beta]])


def test_real_values_of_branches_sympy_cannot_compare() -> None:
    # the three real roots of z^3 - 3z + 1 in Cardano form carry i terms that cancel only
    # numerically: sympy's Min of them raises ValueError ("not comparable"), which is what a
    # threshold with several such branches met when checked against its samples
    from eostheory.symbolic.stability._thresholds import _real_at

    z = sp.Symbol("z")
    roots = sp.solve(z**3 - 3 * z + 1, z)
    with pytest.raises(ValueError, match="not comparable"):
        sp.Min(*roots)
    exact = [2 * math.cos(2 * math.pi * k / 9) for k in (1, 5, 7)]  # the roots are 2cos(2πk/9)
    got = sorted(float(_real_at(r, {})) for r in roots)
    np.testing.assert_allclose(got, sorted(exact), rtol=0, atol=1e-14)
    assert float(_real_at(sp.Min(*roots, evaluate=False), {})) == pytest.approx(min(exact), abs=1e-14)
    assert _real_at(sp.sqrt(-2), {}) is None and _real_at(sp.zoo, {}) is None and _real_at(sp.oo, {}) == sp.oo


def test_value_of_a_mixed_threshold_and_of_one_that_is_not_real() -> None:
    # two momentum buffers in series: the binding branch changes with beta, the threshold is
    # Min(2(1+b)^2/eta, (1-b)^3(1+b)/(b^2 eta)) and value() takes the smaller branch
    import dataclasses

    r = stability.thresholds(["v1 = beta*v1 + g", "v2 = beta*v2 + v1", "w = w - eta*v2"])
    assert r.crossing == "mixed"
    for beta, eta in [(0.2, 0.1), (0.5, 0.1), (0.9, 1.0)]:
        want = min(2 * (1 + beta) ** 2 / eta, (1 - beta) ** 3 * (1 + beta) / (beta**2 * eta))
        assert r.value(beta=beta, eta=eta) == pytest.approx(want, rel=1e-12)
    hb = stability.thresholds("heavy-ball")
    bad = dataclasses.replace(hb, threshold=sp.sqrt(-hb.threshold))
    with pytest.raises(EosInputError, match="not a real number"):
        bad.value(beta=0.5, eta=0.1)
