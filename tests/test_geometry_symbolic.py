"""The symbolic derivations of steepest descent on a quadratic: exact zeros, and the compiled runs they predict.

The descent identity along compiled runs and the ray/2-cycle on the 2-D toy are checked
numerically in tests/test_geometry.py against these same expressions; here: the algebra
itself, the diagonal sign-descent cycle, and the ``geometry`` check group."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from eostheory._errors import EosInputError
from eostheory.geometry import run_steepest
from eostheory.geometry._symbolic import (
    D_SYM,
    ETA,
    NU,
    descent_identity,
    descent_threshold,
    generic_descent_identity,
    normalized_two_cycle,
    ray_multiplier,
    sign_descent_diagonal_cycle,
)


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize(
    ("norm", "n", "blocks"), [("l2", 3, None), ("l1", 3, None), ("block", 3, [[0, 1], [2]]), ("linf", 2, None)]
)
def test_descent_identity_is_exact_on_every_piece(norm, n, blocks, normalized):
    r = descent_identity(norm, n, normalized=normalized, blocks=blocks)
    expected = {"l2": 1, "l1": 2 * n, "block": 2, "linf": 2**n}[norm]
    assert len(r.pieces) == expected
    assert [p.residual for p in r.pieces] == [0] * expected  # exact zero, not a float


def test_linf_three_parameters_and_the_curvature_along_the_step():
    r = descent_identity("linf", 3, normalized=True)
    assert r.holds and len(r.pieces) == 8
    p = next(p for p in r.pieces if p.piece == (1, -1, 1))
    a = r.A
    assert sp.expand(p.curvature - (a[0, 0] + a[1, 1] + a[2, 2] - 2 * a[0, 1] + 2 * a[0, 2] - 2 * a[1, 2])) == 0


def test_generic_identity_threshold_and_ray():
    assert generic_descent_identity(3).residual == 0
    assert generic_descent_identity(3, normalized=True).residual == 0
    assert descent_threshold() == (D_SYM < 2 / ETA)
    assert descent_threshold(normalized=True) == (D_SYM < 2 * NU / ETA)
    ray = ray_multiplier([1, -1, 1])
    a = sp.Symbol("a", positive=True)
    assert ray["on_ray"] and sp.expand(ray["map"] - a * (1 - ETA * ray["D"])) == 0
    # the stable interval is 0 < D < 2/eta: probe it at eta = 0.1 on both sides of each end
    assert [bool(ray["stable"].subs({ETA: 0.1, D_SYM: v})) for v in (-0.1, 0.1, 19.9, 20.1)] == [0, 1, 1, 0]
    assert ray_multiplier([1, 1], normalized=True)["map"] == a - ETA
    with pytest.raises(EosInputError):
        descent_identity("spectral", 2)
    with pytest.raises(EosInputError):
        ray_multiplier([1, 0])


def test_two_cycle_closed_forms():
    c = normalized_two_cycle()
    r, s = sp.Symbol("r", real=True), sp.Symbol("S", positive=True)
    assert c.residual == 0 and c.symmetric_amplitude == ETA / 2
    assert c.harmonic_mean == 2 / ETA  # for every r in (0, eta)
    assert c.normalized_sharpness == (1 / r, 1 / (ETA - r))
    assert sp.simplify(c.loss_on_symmetric_cycle - s * ETA**2 / 8) == 0
    assert sp.simplify(c.dual_on_symmetric_cycle - s * ETA / 2) == 0
    assert sp.simplify(c.loss_change.subs(r, ETA / 2)) == 0  # the loss is the same on both points


def test_sign_descent_on_a_diagonal_quadratic_matches_the_derived_cycle():
    d = sign_descent_diagonal_cycle(2)
    assert d["residual"].is_zero_matrix and d["normalized_sharpness"] == 2 / ETA
    eta = 0.04
    lam = {sp.Symbol("lambda0", positive=True): 4.0, sp.Symbol("lambda1", positive=True): 1.0}
    # from (2.5, 1.5) eta both coordinates reach the midpoint phase: the cycle is +-eta/2, in phase
    run = run_steepest(
        "0.5*(4*x**2 + y**2)", "normalized:linf", x0=[2.5 * eta, 1.5 * eta], steps=100, eta=eta, params=["x", "y"]
    )
    assert run.status == "oscillating" and run.period == 2
    # float64 iterates of size ~eta after ~100 exact-in-binary steps: 1e-8 is generous; the cycle is exact to ~1e-17
    assert np.abs(np.abs(run.params[-2:]) - eta / 2).max() < 1e-8
    assert run.loss[-1] == pytest.approx(float(d["loss_on_symmetric_cycle"].subs(lam).subs(ETA, eta)), rel=1e-8)
    assert run.generalized_sharpness[-1] == pytest.approx(float(d["S_inf"].subs(lam)), rel=1e-12)
    assert run.generalized_sharpness[-1] / run.dual_grad[-1] == pytest.approx(2 / eta, rel=1e-8)


def test_geometry_check_group_passes():
    from eostheory.checks import run_checks

    results = run_checks(groups=["geometry"])
    assert results and all(r.passed for r in results), [r.name for r in results if not r.passed]
