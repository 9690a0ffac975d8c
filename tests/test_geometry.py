"""Norms, steepest descent and generalized sharpness on numpy: against brute force and closed forms."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from eostheory._errors import EosInputError
from eostheory.geometry import (
    Combined,
    CustomNorm,
    L2Block,
    Layout,
    SpectralBlock,
    check_norm,
    exact_sharpness,
    frank_wolfe,
    generalized_threshold,
    get_norm,
    newton_schulz_error,
    run_steepest,
    spectral_2x2_sharpness,
    steepest_optimizer,
    steepest_step,
    step_smoothness,
)

# float64 round-off on sums of ~10 terms of size ~1: 1e-12 leaves three orders of margin
TOL = 1e-12

LAYOUT = Layout.from_shapes([(2, 2), (3,), (1,)])  # a matrix, a vector, a scalar: 8 parameters
NAMES = ["l2", "linf", "l1", "block", "spectral"]


def _psd(n: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n))
    return a @ a.T / n


def _orthogonal_2x2(k: int = 4096) -> np.ndarray:
    th = np.linspace(0, 2 * np.pi, k, endpoint=False)
    c, s = np.cos(th), np.sin(th)
    return np.concatenate([np.stack([c, -s, s, c], -1), np.stack([c, s, s, -c], -1)])


def _brute_dual(name: str, g: np.ndarray) -> float:
    """max <g, v> over the extreme points of the unit ball, enumerated (closed form only where it is the definition)."""
    blocks = LAYOUT.split(g)
    if name == "linf":  # vertices: the 2^8 sign vectors
        return max(float(g @ np.array(v)) for v in itertools.product((-1.0, 1.0), repeat=8))
    if name == "l1":  # vertices: +-e_i
        return max(abs(float(x)) for x in g)
    if name == "block":  # extreme points: unit vectors inside one block; the best in block b is ||g_b||_2
        return max(float(np.linalg.norm(b)) for b in blocks)
    if name == "spectral":  # product ball: orthogonal 2x2 matrices for the matrix, unit vectors for the rest
        q = _orthogonal_2x2()
        best_m = float(np.max(q @ blocks[0].reshape(-1)))
        return best_m + float(np.linalg.norm(blocks[1])) + abs(float(blocks[2][0]))
    # l2: the supremum over many random unit vectors approaches ||g||_2 from below
    x = np.random.default_rng(0).standard_normal((20000, 8))
    return float(np.max(x @ g / np.linalg.norm(x, axis=1)))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lmo_is_the_steepest_unit_direction(name, seed):
    geo = get_norm(name).bind(LAYOUT)
    g = np.random.default_rng(seed).standard_normal(8)
    d = geo.lmo(g)
    dual = float(geo.dual(g))
    assert abs(float(g @ d) - dual) <= TOL * dual  # <g, d(g)> = ||g||_*
    assert abs(float(geo.norm(d)) - 1) <= TOL  # ||d(g)|| = 1
    brute = _brute_dual(name, g)
    # enumeration is exact for linf, l1, block; the 2x2 angle grid (4096 angles) is within 1e-6;
    # random sampling of the l2 sphere in 8 dimensions comes within a few percent
    rtol = {"spectral": 1e-6, "l2": 0.1}.get(name, TOL)
    assert brute <= dual * (1 + TOL)
    assert brute >= dual * (1 - rtol)


def test_named_norms_closed_forms():
    g = np.array([3.0, 0.0, 4.0, 0.0, 1.0, -2.0, 2.0, -5.0])
    geo = {n: get_norm(n).bind(LAYOUT) for n in NAMES}
    assert float(geo["linf"].dual(g)) == 17.0
    assert geo["linf"].lmo(g).tolist() == [1.0, 0.0, 1.0, 0.0, 1.0, -1.0, 1.0, -1.0]
    assert float(geo["l1"].dual(g)) == 5.0
    assert geo["l1"].lmo(g).tolist() == [0, 0, 0, 0, 0, 0, 0, -1.0]  # the largest coordinate only
    assert float(geo["block"].dual(g)) == 5.0  # ||(3,0,4,0)|| = 5 = |-5|; argmax takes the first
    assert geo["block"].lmo(g).tolist() == [0.6, 0.0, 0.8, 0.0, 0, 0, 0, 0]
    # spectral: [[3,0],[4,0]] has singular values (5, 0): nuclear 5; plus ||(1,-2,2)|| = 3 and |-5|
    assert abs(float(geo["spectral"].dual(g)) - 13.0) < TOL
    assert np.allclose(geo["spectral"].lmo(g)[:4], [0.6, 0.0, 0.8, 0.0], atol=TOL)
    assert np.allclose(geo["spectral"].lmo(g)[4:7], [1 / 3, -2 / 3, 2 / 3], atol=TOL)
    zero = np.zeros(8)
    for n in NAMES:
        assert not np.any(geo[n].lmo(zero))  # d(0) = 0


def test_per_layer_scales_and_custom_norm():
    nm = Combined([SpectralBlock(), L2Block(), L2Block()], "max", scales=[2.0, 0.5, 1.0])
    geo = nm.bind(LAYOUT)
    g = np.random.default_rng(3).standard_normal(8)
    d = geo.lmo(g)
    blocks = LAYOUT.split(g)
    nuc = float(np.linalg.svd(blocks[0], compute_uv=False).sum())
    assert abs(float(geo.dual(g)) - (2 * nuc + 0.5 * np.linalg.norm(blocks[1]) + abs(blocks[2][0]))) < TOL
    assert abs(float(g @ d) - float(geo.dual(g))) < TOL and abs(float(geo.norm(d)) - 1) < TOL
    for red in ("sum", "l2"):
        geo2 = Combined(L2Block(), red, scales=[2.0, 0.5, 1.0]).bind(LAYOUT)
        d2 = geo2.lmo(g)
        assert abs(float(g @ d2) - float(geo2.dual(g))) < TOL and abs(float(geo2.norm(d2)) - 1) < TOL
    w = np.array([1.0, 2, 3, 4, 5, 6, 7, 8])  # a weighted l2 norm written by a user
    custom = CustomNorm(
        lambda x: np.sqrt(np.sum(w * x * x)),
        lambda g: np.sqrt(np.sum(g * g / w)),
        lambda g: (g / w) / np.sqrt(np.sum(g * g / w)),
        "weighted-l2",
    )
    res = check_norm(Combined(custom, "max").bind(Layout.flat(8)), g)
    assert abs(res["duality"]) < TOL and abs(res["unit"]) < TOL and res["sampled"] <= TOL


def test_newton_schulz_error_is_reported():
    g = np.random.default_rng(4).standard_normal((5, 3))
    exact = newton_schulz_error(g, steps=40, coefficients="cubic")
    assert max(abs(v) for v in exact.values()) < 1e-10  # the cubic iteration converges to U V^T
    few = newton_schulz_error(g, steps=2, coefficients="cubic")
    assert few["distance"] > 1e-3  # two steps are far from it, and the error says so
    muon = newton_schulz_error(g, steps=5, coefficients="muon")
    assert 0 < muon["dual_gap"] < 0.3 and abs(muon["norm_excess"]) < 0.3  # approximate by design
    nm = get_norm("spectral", method="newton-schulz", steps=40).bind(Layout.from_shapes([(5, 3)]))
    assert np.allclose(
        nm.lmo(g.reshape(-1)), get_norm("spectral").bind(Layout.from_shapes([(5, 3)])).lmo(g.reshape(-1))
    )


def test_bad_input_is_one_line():
    with pytest.raises(EosInputError, match="unknown norm"):
        get_norm("l3")
    with pytest.raises(EosInputError, match="partition"):
        Layout.from_groups([[0, 1], [1]], 2)
    with pytest.raises(EosInputError, match="KIND:NORM"):
        steepest_optimizer("steepest")
    with pytest.raises(EosInputError, match="not an elementwise update rule"):
        _ = steepest_optimizer("steepest:spectral").rule
    with pytest.raises(EosInputError, match="exact only for a PSD"):
        exact_sharpness(np.diag([1.0, -1.0]), get_norm("block").bind(Layout.flat(2)))


# ----------------------------------------------------------------------------- generalized sharpness


@pytest.mark.parametrize("seed", range(4))
def test_frank_wolfe_matches_vertex_enumeration_linf(seed):
    n = 14
    h = _psd(n, seed)
    geo = get_norm("linf").bind(Layout.flat(n))
    exact = exact_sharpness(h, geo)  # 2^13 sign vectors
    est = frank_wolfe(lambda v: h @ v, geo, like=np.zeros(n), restarts=32, rng=np.random.default_rng(seed))
    assert abs(est.value - exact) <= 1e-6 * exact
    assert est.gap <= 1e-6 * exact  # at a vertex fixed point d = sign(Hd) the gap is exactly 0
    assert est.n_hvp <= 32 * 51


def test_frank_wolfe_indefinite_linf_with_line_search():
    # an indefinite Hessian with a nonnegative diagonal: vertex enumeration is still exact
    h = np.array([[1.0, 2.0, 0.0], [2.0, 0.5, -1.5], [0.0, -1.5, 0.2]])
    assert np.linalg.eigvalsh(h)[0] < 0
    geo = get_norm("linf").bind(Layout.flat(3))
    brute = max(float(np.array(v) @ h @ np.array(v)) for v in itertools.product((-1.0, 1.0), repeat=3))
    assert exact_sharpness(h, geo) == pytest.approx(brute, abs=TOL)
    est = frank_wolfe(lambda v: h @ v, geo, like=np.zeros(3), restarts=8)
    assert est.value == pytest.approx(brute, rel=1e-12)


def test_kkt_enumeration_against_a_grid():
    # a negative diagonal entry: the maximiser has an interior coordinate, found by the KKT enumeration
    h = np.array([[-2.0, 1.0, 0.3], [1.0, 1.0, 0.5], [0.3, 0.5, 0.4]])
    geo = get_norm("linf").bind(Layout.flat(3))
    exact = exact_sharpness(h, geo)
    t = np.linspace(-1, 1, 401)  # the interior coordinate on a grid of step 5e-3, the others at +-1
    grid = max(float(np.array([a, b, c]) @ h @ np.array([a, b, c])) for a in t for b in (-1, 1) for c in (-1, 1))
    assert grid <= exact + TOL and exact - grid < 1e-4  # quadratic in a: grid error <= 2 * (2.5e-3)^2
    vertices = max(float(np.array(v) @ h @ np.array(v)) for v in itertools.product((-1.0, 1.0), repeat=3))
    assert exact > vertices + 1e-3  # a vertex enumeration would be wrong here
    est = frank_wolfe(lambda v: h @ v, geo, like=np.zeros(3), restarts=8)
    assert est.value == pytest.approx(exact, rel=1e-9)


def test_frank_wolfe_l2_block_l1_spectral_against_dense():
    h = _psd(8, 7)
    lay = LAYOUT
    ref_l2 = float(np.linalg.eigvalsh(h)[-1])
    geo = get_norm("l2").bind(lay)
    assert exact_sharpness(h, geo) == pytest.approx(ref_l2, rel=1e-12)
    est = frank_wolfe(lambda v: h @ v, geo, like=np.zeros(8), iters=3000, tol=1e-14)
    assert est.value == pytest.approx(ref_l2, rel=1e-6) and est.relative_gap <= 1e-6
    # block l(1,2): the largest eigenvalue of a diagonal block
    idx = [np.arange(4), np.arange(4, 7), np.arange(7, 8)]
    ref_b = max(float(np.linalg.eigvalsh(h[np.ix_(i, i)])[-1]) for i in idx)
    geo = get_norm("block").bind(lay)
    assert exact_sharpness(h, geo) == pytest.approx(ref_b, rel=1e-12)
    est = frank_wolfe(lambda v: h @ v, geo, like=np.zeros(8), restarts=16, iters=3000, tol=1e-14)
    assert est.value == pytest.approx(ref_b, rel=1e-6) and est.relative_gap <= 1e-6
    # l1: the largest diagonal entry
    geo = get_norm("l1").bind(lay)
    assert exact_sharpness(h, geo) == pytest.approx(float(np.max(np.diag(h))), rel=1e-12)
    # every vertex e_i with max_j |H_ji| = H_ii is a stationary point (gap 0): random restarts can all
    # end on a worse one, so the estimator needs every vertex as a start to be exact in l1
    est = frank_wolfe(lambda v: h @ v, geo, like=np.zeros(8), restarts=0, starts=list(np.eye(8)))
    assert est.value == pytest.approx(float(np.max(np.diag(h))), rel=1e-12) and est.gap <= 1e-12
    # spectral on one 2x2 matrix: the best orthogonal matrix (angle scan and refinement)
    h4 = _psd(4, 8)
    q = _orthogonal_2x2(200000)
    brute = float(np.max(np.einsum("ki,ij,kj->k", q, h4, q)))
    ref_s = spectral_2x2_sharpness(h4)
    assert ref_s == pytest.approx(brute, rel=1e-9)  # 2e5 angles: grid error ~ (2pi/2e5)^2
    geo = get_norm("spectral").bind(Layout.from_shapes([(2, 2)]))
    est = frank_wolfe(lambda v: h4 @ v, geo, like=np.zeros(4), restarts=8, iters=3000, tol=1e-14)
    assert est.value == pytest.approx(ref_s, rel=1e-6) and est.relative_gap <= 1e-6


# ----------------------------------------------------------------------------- steepest descent on toys

B = np.array([[3.0, 1.0], [1.0, 2.0]])  # S_inf = (1,1) B (1,1) = 7, the maximiser d* = (1, 1)
QUAD = "0.5*(3*x**2 + 2*x*y + 2*y**2)"


def test_descent_identity_along_runs():
    """Delta L = -eta (1 - eta/2 d^T B d) ||g||_*^2 at every step of every unnormalized method.

    Two predictions: the numeric oracle of the run's geometry, and the expression derived
    symbolically piece by piece (eostheory.geometry._symbolic), evaluated at the same point."""
    from eostheory.geometry._symbolic import descent_identity

    for name in ("steepest:linf", "steepest:l1", "steepest:l2"):
        r = run_steepest(QUAD, name, x0=[1.0, -0.3], steps=40, eta=0.1, params=["x", "y"])
        geo = steepest_optimizer(name).geometry_for(Layout.from_shapes([(1,), (1,)]))
        derived = descent_identity(name.split(":")[1], 2)
        for k in range(len(r.t) - 1):
            w = r.params[k]
            g = B @ w
            d = geo.lmo(g)
            pred = -0.1 * (1 - 0.05 * float(d @ B @ d)) * float(geo.dual(g)) ** 2
            assert r.loss[k + 1] - r.loss[k] == pytest.approx(pred, rel=1e-12, abs=1e-15)
            assert derived.predicted_delta_loss(B, w, 0.1) == pytest.approx(pred, rel=1e-12, abs=1e-15)


def test_threshold_two_over_eta_on_the_maximising_ray():
    s = 7.0
    geo = get_norm("linf").bind(Layout.flat(2))
    assert exact_sharpness(B, geo) == s
    stable = run_steepest(QUAD, "steepest:linf", x0=[1.0, 1.0], steps=400, eta=0.9 * 2 / s, params=["x", "y"])
    assert stable.status == "converged" and np.all(np.diff(stable.loss) < 0)
    unstable = run_steepest(QUAD, "steepest:linf", x0=[1e-3, 1e-3], steps=60, eta=1.1 * 2 / s, params=["x", "y"])
    # on the ray of d*, a -> (1 - eta S) a = -1.2 a
    assert unstable.params[-1][0] == pytest.approx(1e-3 * (-1.2) ** 60, rel=1e-9)


def test_normalized_two_cycle_amplitude():
    eta = 0.05
    r = run_steepest(QUAD, "normalized:linf", x0=[2.3 * eta, 2.3 * eta], steps=200, eta=eta, params=["x", "y"])
    assert r.status == "oscillating" and r.period == 2
    a = abs(r.params[-1][0])
    # a -> a - eta sign(a) from 2.3 eta ends on the 2-cycle +-0.3 eta... then -0.7 eta: |a| in {0.3, 0.7} eta
    assert {round(abs(p[0]) / eta, 9) for p in r.params[-4:]} == {0.3, 0.7}
    from eostheory.geometry._symbolic import normalized_two_cycle

    lo, hi = normalized_two_cycle().limit_point(2.3 * eta, eta)  # the derived cycle {r, r - eta}
    assert sorted(float(p[0]) for p in r.params[-2:]) == pytest.approx([hi, lo], abs=1e-12)
    # from the midpoint start a = 2.5 eta the cycle is +-eta/2, where S/||g||_1 = 2/eta exactly
    r = run_steepest(QUAD, "normalized:linf", x0=[2.5 * eta, 2.5 * eta], steps=200, eta=eta, params=["x", "y"])
    a = abs(r.params[-1][0])
    assert a == pytest.approx(eta / 2, rel=1e-12)
    assert r.generalized_sharpness[-1] / r.dual_grad[-1] == pytest.approx(2 / eta, rel=1e-12)


def test_steepest_linf_is_the_linf_descent_rule():
    import eostheory as eos

    ref = eos.run(QUAD, "linf-descent", x0=[1.0, -0.3], steps=100, eta=0.05, params=["x", "y"], record_every=1)
    mine = run_steepest(QUAD, "steepest:linf", x0=[1.0, -0.3], steps=100, eta=0.05, params=["x", "y"])
    k = min(len(ref.t), len(mine.t))
    assert np.max(np.abs(ref.params[:k] - mine.params[:k])) < 1e-12


def test_block_cd_on_declared_groups():
    pot = "0.5*(4*x**2 + y**2 + z**2) + 0.5*x*y"
    r = run_steepest(
        pot, "steepest:block", x0=[1.0, 1.0, 1.0], steps=3, eta=0.1, params=["x", "y", "z"], groups=[["x", "y"], ["z"]]
    )
    # step 1: g = (4.5, 1.5, 1); block (x, y) has the larger norm: only x, y move, by eta * g
    assert r.params[1].tolist() == pytest.approx([1 - 0.45, 1 - 0.15, 1.0], abs=TOL)
    hess = np.array([[4.0, 0.5, 0], [0.5, 1, 0], [0, 0, 1]])
    assert r.generalized_sharpness[0] == pytest.approx(float(np.linalg.eigvalsh(hess[:2, :2])[-1]), rel=1e-12)


def test_step_smoothness_closed_forms():
    geo = get_norm("linf").bind(Layout.flat(2))
    x = np.array([1.0, -0.3])
    y, _ = steepest_step(geo, x, B @ x, {}, 0.1)
    r = step_smoothness(lambda v: 0.5 * v @ B @ v, lambda v: B @ v, x, y, geo, hvp=lambda v: B @ v)
    delta = y - x
    curv = float(delta @ B @ delta) / float(geo.norm(delta)) ** 2
    assert r["A"] == pytest.approx(curv, rel=1e-12) and r["H_signed"] == pytest.approx(curv, rel=1e-12)
    assert r["D"] == pytest.approx(2 * float(geo.dual(B @ delta)) / float(geo.norm(delta)), rel=1e-12)
    # a quartic: D, A (on a fine path) and H all bound the loss at y, and H_s makes it exact
    f = lambda v: float(np.sum(v**4) / 4 + v[0] * v[1])  # noqa: E731
    gf = lambda v: v**3 + np.array([v[1], v[0]])  # noqa: E731
    x = np.array([0.9, -0.4])
    y = x - 0.2 * gf(x)
    r = step_smoothness(f, gf, x, y, geo, path_points=64)
    lin = f(x) + float(gf(x) @ (y - x))
    nd = float(geo.norm(y - x))
    for key in ("D", "A", "H"):
        assert f(y) <= lin + r[key] / 2 * nd**2 + 1e-12
    assert f(y) == pytest.approx(lin + r["H_signed"] / 2 * nd**2, rel=1e-12)


def test_generalized_threshold_statements():
    assert generalized_threshold("linf-descent")["statement"].startswith("S_inf < 2/eta")
    assert generalized_threshold("normalized:spectral")["quantity"] == "S_spec/sum ||G||_nuc"
    assert generalized_threshold("heavy-ball") is None


def test_thresholds_cli_explains_sign_gd(capsys):
    from eostheory.cli import main

    assert main(["thresholds", "sign-gd", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["linear"] is False and out["generalized"]["statement"].startswith("S_inf/||g||_1 < 2/eta")
    assert math.isfinite(len(out["refusal"]))


def test_run_cli_with_steepest_optimizers(capsys, tmp_path):
    """`eostheory run --optimizer steepest:NORM` runs on toys, reports S and the generalized threshold 2/eta."""
    from eostheory.cli import main
    from eostheory.optimizers import RunResult

    base = ["run", "--potential", QUAD, "--x0", "1,1", "--steps", "200"]
    assert main([*base, "--optimizer", "steepest:linf", "--eta", "0.25", "--json", "--out", str(tmp_path / "a")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "converged" and out["threshold"] == 8.0
    assert out["generalized_threshold"]["quantity"] == "S_inf" and out["generalized_threshold"]["value"] == 8.0
    assert out["series"]["generalized_sharpness"][0] == 7.0  # the exact reference, S_inf of B
    assert (tmp_path / "a" / "measures.png").exists() and "plot_error" not in out
    assert RunResult.load(tmp_path / "a").threshold == 8.0
    # sign descent from the midpoint start 2.5 eta d*: the 2-cycle +-eta/2, S/||g||_1 = 2/eta there
    x0 = ["--x0", "0.125,0.125"]
    assert main([*base, *x0, "--optimizer", "normalized:linf", "--eta", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "oscillating" and out["period"] == 2
    assert abs(out["final"]["params"][0]) == pytest.approx(0.025, rel=1e-12)
    assert out["series"]["normalized_generalized_sharpness"][-1] == pytest.approx(40.0, rel=1e-12)
    assert main([*base, "--optimizer", "steepest:linf", "--eta", "0.25"]) == 0
    assert "threshold S_inf stable below 2/eta = 8 (generalized sharpness, linf norm)" in capsys.readouterr().out
    # blocks by symbol name; the greedy block step moves only (x, y) first, as in test_block_cd_on_declared_groups
    pot = ["--potential", "0.5*(4*x**2 + y**2 + z**2) + 0.5*x*y", "--x0", "1,1,1", "--eta", "0.1", "--steps", "3"]
    assert (
        main(["run", *pot, "--optimizer", "steepest:block", "--groups", "x,y;z", "--record-every", "1", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    hess = np.array([[4.0, 0.5], [0.5, 1.0]])
    assert out["series"]["generalized_sharpness"][0] == pytest.approx(float(np.linalg.eigvalsh(hess)[-1]), rel=1e-12)
    assert main(["run", *pot, "--optimizer", "gd", "--groups", "x;y;z"]) == 2
    assert "not steepest descent" in capsys.readouterr().err
    assert main(["run", *pot, "--optimizer", "steepest:block", "--groups", "x;y"]) == 2
    assert "each parameter" in capsys.readouterr().err
