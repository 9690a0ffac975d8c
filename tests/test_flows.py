"""Flows: the theorem checks, equations, parameters, the SDCP solver and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eostheory import EosInputError, Potential, toy
from eostheory.checks import registry
from eostheory.flows import FLOWS, ReducedMap, get_flow, reduced_map, resolve_flow, solve_flow

FLOW_CHECKS = [c for c in registry() if c.group == "flows" and not c.full_only]


@pytest.mark.slow  # the same checks run in `eostheory check`, the README's first command
@pytest.mark.parametrize("chk", FLOW_CHECKS, ids=[c.name for c in FLOW_CHECKS])
def test_flow_theorem_checks(chk) -> None:
    """Every default check of the 'flows' battery (closed forms and GD, with their tolerances) passes."""
    res = chk.func()
    results = [res] if not isinstance(res, list | tuple) and hasattr(res, "passed") else list(res)
    failed = [(r.name, r.value, r.expected, r.detail) for r in results if not r.passed]
    assert not failed


@pytest.mark.slow
def test_central_two_eigenvalues_check() -> None:
    chk = next(c for c in registry() if c.name == "flows_central_two_eigenvalues")
    assert all(r.passed for r in chk.func())


def test_registry_and_specs() -> None:
    assert {
        "gradient",
        "stable",
        "modified",
        "central",
        "central-hb",
        "rod",
        "edge",
        "edge-rayleigh",
        "selfstab",
    } <= set(FLOWS)
    fl, kw = resolve_flow("central:k=2:tau=0.5")
    assert fl.name == "central" and kw == {"k": "2", "tau": "0.5"}
    p = fl.param_array(0.5, **kw)
    assert p.tolist() == [0.5, 2.0, 0.5, 0.5]  # eta, k, tau, track (the k=0 level)
    assert get_flow("edge").param_array(1.0, curvature="rayleigh").tolist() == [1.0, 0.0, 0.0]
    for name, flow in FLOWS.items():
        assert flow.cost, name
        assert flow.cost_line()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: resolve_flow("centrall"), "unknown flow"),
        (lambda: resolve_flow("central:k"), "name:key=value"),
        (lambda: get_flow("central").param_array(0.5, k=65), r"\[0, 64\]"),
        (lambda: get_flow("central").param_array(0.5, kk=1), "no parameter"),
        (lambda: get_flow("edge").param_array(0.5, curvature="hessian"), "one of"),
        (lambda: get_flow("central").param_array(0.5, beta=0.5), "plain GD"),
        (lambda: get_flow("central-hb").param_array(0.5), "give beta"),
        (lambda: get_flow("central-hb").param_array(0.5, beta=1.0), r"\[0, 1\)"),
        (lambda: get_flow("central").param_array(-1.0), "eta"),
        (lambda: solve_flow("selfstab", "central:k=3", x0=[0, 1], eta=0.45, steps=10), "needs at least 3"),
        (lambda: solve_flow("quartic", "selfstab", x0=[0.1], eta=2.5, steps=10), "at least 2 parameters"),
        (lambda: solve_flow("selfstab", "central", x0=[0.0], eta=0.45, steps=10), "length"),
        (lambda: solve_flow("selfstab", "central", x0=[0.0, 1.0], eta=0.45, steps=0), "steps"),
    ],
)
def test_bad_input_raises(call, match: str) -> None:
    with pytest.raises(EosInputError, match=match):
        call()


def test_equations_print_the_derived_field() -> None:
    pot = toy("canonical")
    eq = get_flow("central").equations(pot)
    assert "sigma^2" in eq and "dS/dy = u_0**2" in eq and "dS/dx = 2*u_0*u_1" in eq
    assert "dx/dt" in eq and "dy/dt" in eq
    assert "-eta*" in get_flow("gradient").equations(pot)
    assert "ybar" in get_flow("rod").equations(pot) and "Sigma_01" in get_flow("rod").equations(pot)
    eq_edge = get_flow("edge").equations(toy("quartic"))
    assert "kappa (secant)" in eq_edge and "Q" in eq_edge
    assert "proj_M" in get_flow("selfstab").equations(toy("selfstab"))
    assert "dv_x/dt" in get_flow("central-hb").equations(pot)
    assert "(eta/2) H g" in get_flow("modified").equations(pot)


@pytest.mark.parametrize("extent", ["full", "oscillation"])
def test_rod_extent_on_a_quadratic(extent: str) -> None:
    r"""On :math:`\tfrac12 S w^2` (the quartic with Q = 0) the rod flow is linear and solvable in closed form.

    :math:`\dot{\bar w} = -(\eta + \eta^2/2)\bar w` for both extents.  ``full``:
    :math:`\dot\Sigma = (\eta^2/2)(\bar w^2 + \Sigma) - 2\Sigma` (the drift :math:`\bar w^2`
    feeds the extent); ``oscillation``: :math:`\dot\Sigma = (\eta^2/2 - 2)\Sigma`, the
    drift block removed.  Either way the extent grows at :math:`\eta^2 S^2/2 - 2`, i.e.
    exactly when :math:`S > 2/\eta`.
    """
    for eta in (1.5, 2.5):  # stable (eta S < 2) and unstable (eta S > 2)
        r = solve_flow(
            "quartic",
            f"rod:extent={extent}",
            x0=[1.0],
            eta=eta,
            steps=6.5,
            constants={"S": 1.0, "Q": 0.0},
            t_eval=[0.5, 2.5, 4.5, 6.5],
        )
        wbar, Sigma = r.state[:, 0], r.state[:, 1]
        t = r.t - 0.5
        k = eta + eta**2 / 2
        rate = eta**2 / 2 - 2
        a = eta**2 / 2 if extent == "full" else 0.0
        w0 = wbar[0]
        assert np.allclose(wbar, w0 * np.exp(-k * t), rtol=1e-8)
        assert Sigma[0] == pytest.approx((eta / 2) ** 2)  # GD's first half-step, (eta/2) S w0, squared
        coef = a * w0**2 / (rate + 2 * k)
        assert np.allclose(Sigma, (Sigma[0] + coef) * np.exp(rate * t) - coef * np.exp(-2 * k * t), rtol=1e-7)


def test_edge_flow_log_growth_same_fixed_point() -> None:
    r = solve_flow("quartic", "edge:growth=log", x0=[0.05], eta=2.5, steps=2000, constants={"S": 1, "Q": 1})
    assert r.status == "completed"
    assert abs(r.final["oscillation"] ** 2 - 0.2) < 1e-7


def test_central_relaxation_time_does_not_move_the_stationary_point() -> None:
    for tau in (0.25, 4.0):
        r = solve_flow("selfstab", f"central:tau={tau}", x0=[0.01, 1.5], eta=0.45, steps=800)
        y = r.final["center"][1]
        assert abs(1 + y * y - 2 / 0.45) < 1e-8
        assert r.final["sharpness"] <= 2 / 0.45 + 1e-9


def test_central_flow_holds_sharpness_below_threshold() -> None:
    """With the relaxation, the sharpness reaches 2/eta from below and never exceeds it."""
    r = solve_flow("selfstab", "central", x0=[0.01, 1.5], eta=0.45, steps=600, t_eval=np.arange(0, 1201) / 2)
    assert np.max(r.sharpness) <= 2 / 0.45 * (1 + 1e-9)  # exact flow: never above; numerically within rtol
    assert r.events and r.events[0][1] == "enter"


TWIN = "(1 + z)*(x**2 + y**2)/2 - c*z"


def test_no_eigen_gap_is_reported() -> None:
    """Degenerate top pair at the edge: the one-eigenvalue central flow is undefined, with the reason."""
    pot = Potential(TWIN, params=["x", "y", "z"], constants={"c": 0.01}, name="twin")
    r1 = solve_flow(pot, "central", x0=[0.1, 0.05, 0.0], eta=0.5, steps=1000)
    assert r1.status == "undefined" and "eigen-gap" in r1.message
    assert np.all(np.isfinite(r1.center)) and r1.t[-1] < 1000


@pytest.mark.slow
def test_two_eigenvalues_resolve_the_degeneracy() -> None:
    """The same potential with k = 2 (the SDCP): tr X = 2c, the centre at 1 + z = 2/eta."""
    pot = Potential(TWIN, params=["x", "y", "z"], constants={"c": 0.01}, name="twin")
    r2 = solve_flow(pot, "central:k=2", x0=[0.1, 0.05, 0.0], eta=0.5, steps=1000)
    assert r2.status == "completed"
    assert abs(r2.extras["sigma2"][-1] - 0.02) < 1e-9
    assert abs(r2.final["center"][2] - 3.0) < 1e-9


def _sdcp_reference(a: np.ndarray, B: np.ndarray, k: int) -> float:
    """min over X = L L^T of 1/2 x.B x + a.x (svec form), by scipy from several starts."""
    from scipy.optimize import minimize

    from eostheory.flows._linalg import svec, svec_pairs

    I, J, wt = svec_pairs(k)
    tri = np.tril_indices(k)

    def obj(theta: np.ndarray) -> float:
        L = np.zeros((k, k))
        L[tri] = theta
        x = np.empty(len(a))
        svec(L @ L.T, I, J, wt, x)
        return 0.5 * x @ B @ x + a @ x

    rng = np.random.default_rng(0)
    return min(
        minimize(obj, rng.normal(size=len(tri[0])), method="BFGS", options={"gtol": 1e-12}).fun for _ in range(8)
    )


@pytest.mark.parametrize("k", [2, 3, 5])
def test_sdcp_solver_against_reference(k: int) -> None:
    from eostheory.flows._linalg import min_eig_svec, sdcp_solve, svec_pairs

    rng = np.random.default_rng(k)
    m = k * (k + 1) // 2
    I, J, wt = svec_pairs(k)
    for trial in range(6):
        G = rng.normal(size=(m, m + 2 if trial % 2 else m - 1))
        B = G @ G.T + (1e-3 * np.eye(m) if trial % 2 else 0.0)  # full rank or rank-deficient
        a = rng.normal(size=m)
        if trial % 2 == 0:  # keep the rank-deficient problems bounded: a in range(B)
            a = G @ rng.normal(size=G.shape[1])
        x = np.zeros(m)
        flag = sdcp_solve(a, B, k, x)
        assert flag == 0
        z = a + B @ x
        assert min_eig_svec(x, k, I, J, wt) >= -1e-10
        assert min_eig_svec(z, k, I, J, wt) >= -1e-8 * (1 + np.abs(a).max())
        assert abs(x @ z) <= 1e-8 * (1 + np.abs(a).max() * (1 + np.abs(x).max()))
        # the matrix complementarity ZX = 0, which tr(XZ) ~ 0 does not imply to the same order
        X, Z = np.zeros((k, k)), np.zeros((k, k))
        X[I, J] = X[J, I] = x / wt
        Z[I, J] = Z[J, I] = z / wt
        assert np.abs(Z @ X).max() <= 1e-12 * (1 + np.abs(a).max()) * (1 + np.abs(x).max())
        ref = _sdcp_reference(a, B, k)
        assert 0.5 * x @ B @ x + a @ x <= ref + 1e-8 * (1 + abs(ref))


def test_sdcp_detects_unbounded() -> None:
    from eostheory.flows._linalg import sdcp_solve

    x = np.zeros(3)
    assert sdcp_solve(np.array([-1.0, 0.0, 0.5]), np.zeros((3, 3)), 2, x) == 1


def test_jacobi_eigh_matches_numpy() -> None:
    from eostheory.flows._linalg import small_eigh

    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 5, 8):
        A = rng.normal(size=(n, n))
        A = A + A.T
        lam = np.empty(n)
        V = np.empty((n, n))
        small_eigh(A, lam, V)
        assert np.allclose(lam, np.linalg.eigvalsh(A), atol=1e-12)
        assert np.allclose(A @ V, V * lam, atol=1e-11)


def test_reduced_map_errors_and_point() -> None:
    with pytest.raises(EosInputError, match="overflowed"):
        reduced_map(0.1, 1.0, 0.5, 1.0, 5.0, 10_000)
    with pytest.raises(EosInputError, match="beta"):
        reduced_map(0.1, -1.0, 0.5, 0.1, 0.0, 10)
    with pytest.raises(EosInputError, match="eigen-gap"):
        ReducedMap.at("quadratic", [0.0, 0.0], 0.5, constants={"l1": 1.0, "l2": 1.0})
    rm = ReducedMap.at("selfstab", [0.0, math.sqrt(2 / 0.45 - 1)], 0.45)
    y = rm.point[1]
    assert abs(rm.mean_x2 - (2 - y) / y) < 1e-12  # the reduced map's <x^2> is the central flow's sigma^2
    assert abs(rm.sharpness - 2 / 0.45) < 1e-12


def test_flow_result_summary_and_save(tmp_path) -> None:
    r = solve_flow("selfstab", "edge", x0=[0.01, 1.5], eta=0.45, steps=200)
    s = r.summary()
    assert s["flow"] == "edge" and s["params"] == {"eta": 0.45, "curvature": "secant", "growth": "linear"}
    assert set(r.extras) == {"kappa", "rayleigh"}
    r.save(tmp_path)
    assert (tmp_path / "edge.json").exists() and (tmp_path / "edge.npz").exists()
    rod = solve_flow("selfstab", "rod", x0=[0.01, 1.5], eta=0.45, steps=20, record_every=1)
    assert rod.t[0] == 1.0 and rod.t[-1] == 20.0  # the rod's time 0 is GD time 1/2


def test_rod_extent_must_be_a_known_choice() -> None:
    with pytest.raises(EosInputError, match="extent must be one of full, oscillation"):
        solve_flow("quartic", "rod:extent=half", x0=[0.05], eta=2.5, steps=5)
    assert get_flow("rod").params[0].default == "oscillation"


@pytest.mark.parametrize("name", list(FLOWS))
def test_every_flow_declares_its_layout_once(name: str) -> None:
    """Parameters by name and generated positions; state blocks, extras and flags on the field."""
    from eostheory.flows._layout import layout_constants

    fl = FLOWS[name]
    vf = fl.vector_field
    assert vf is not None and tuple(fl.extras) == tuple(vf.extras) and fl.discrete == vf.discrete
    beta = 0.5 if fl.optimizer == "heavy-ball" else None
    p = fl.param_array(0.4, beta)
    P = fl.named(p)
    assert list(P) == list(fl.param_names()) and P.eta == 0.4
    consts = layout_constants(fl)
    for i, pname in enumerate(fl.param_names()):
        assert consts[f"P_{pname.upper()}"] == str(i) and fl.param_index(pname) == i
    for fp in fl.params:
        assert P[fp.name] == (fp.choices[int(p[fl.param_index(fp.name)])] if fp.choices else P[fp.name])
        for j, choice in enumerate(fp.choices):
            key = "".join(ch if ch.isalnum() else "_" for ch in f"{fp.name}_{choice}").upper()  # KIND_HEAVY_BALL
            assert float(consts[key]) == j
    assert fl.threshold(p) == pytest.approx(vf.threshold(P))
    assert fl.threshold(p) == pytest.approx(2 * (1 + (beta or 0)) / 0.4)
    sizes = {b.name: b.length(3) for b in vf.blocks}
    assert sum(sizes.values()) == vf.size(3) and vf.layout(3)[vf.blocks[-1].name].stop == vf.size(3)
