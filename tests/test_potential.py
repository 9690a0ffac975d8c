"""Symbolic potentials: parsing, declared symbols, derivatives, printing."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import eostheory as eos
from eostheory import EosInputError, Potential
from eostheory.symbolic.library import TOYS


def test_string_and_sympy_potentials_agree() -> None:
    w, S, Q = sp.symbols("w S Q")
    a = Potential("(S/2)*w^2 - (Q/4)*w**4", params=["w"], constants={"S": 3, "Q": None})
    b = Potential(S / 2 * w**2 - Q / 4 * w**4, params=[w], constants={S: 3, Q: None})
    assert sp.simplify(a.expr - b.expr) == 0
    assert a.key == b.key
    # single letters such as S, Q, E, I, N are plain symbols, not sympy built-ins
    assert Potential("E*x + I*y + N", constants={"E": 1, "I": 2, "N": 3}).dim == 2


def test_derivatives_closed_form() -> None:
    pot = eos.toy("selfstab")
    x, y = pot.params
    assert sp.simplify(pot.gradient()[0] - x * (1 + y**2)) == 0
    assert sp.simplify(pot.gradient()[1] - (x**2 * y + y - 2)) == 0
    assert pot.hessian() == pot.hessian().T
    assert sp.simplify(pot.hessian()[0, 1] - 2 * x * y) == 0


def test_third_contraction_is_gradient_of_sharpness() -> None:
    """∇³L[u,u] with u the top eigenvector equals ∇S (checked by central differences)."""
    pot = eos.toy("selfstab")
    h = sp.lambdify(pot.params, pot.hessian(), "numpy")
    t = sp.lambdify([*pot.params, *pot.direction_symbols], pot.third_contraction(), "numpy")
    w0 = np.array([0.4, 1.3])

    def sharp(w: np.ndarray) -> float:
        return float(np.linalg.eigvalsh(np.array(h(*w), dtype=float))[-1])

    _, vecs = np.linalg.eigh(np.array(h(*w0), dtype=float))
    u = vecs[:, -1]
    analytic = np.array(t(*w0, *u), dtype=float).ravel()
    eps = 1e-6
    fd = np.array([(sharp(w0 + eps * e) - sharp(w0 - eps * e)) / (2 * eps) for e in np.eye(2)])
    # central differences: truncation O(eps^2 S''') ~ 1e-12, rounding O(1e-16/eps) ~ 1e-10
    np.testing.assert_allclose(analytic, fd, atol=1e-8)


def test_printing() -> None:
    pot = eos.toy("quartic")
    assert "S*w**2/2" in str(pot)
    assert pot.latex().startswith("L(w) = ")
    assert "\\frac" in pot._repr_latex_()
    assert "grad L" in pot.equations()


@pytest.mark.parametrize("name", sorted(TOYS))
def test_every_toy_builds(name: str) -> None:
    pot = eos.toy(name)
    assert pot.dim == len(TOYS[name].params)
    assert len(pot.constant_values()) == len(TOYS[name].constants)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Potential("x*y + z", params=["x", "y"]), "undeclared symbol"),
        (lambda: Potential("foo(x)"), "unknown function"),
        (lambda: Potential("x +* 2"), "cannot parse"),
        (lambda: Potential("x**2", params=["x", "x"]), "declared twice"),
        (lambda: Potential("S*x**2", params=["x"], constants={"S": float("nan")}), "finite"),
        (lambda: Potential("x**2 + I", constants={"I": None}).constant_values(), "has no value"),
        (lambda: eos.toy("no-such-toy"), "unknown potential"),
        (lambda: eos.toy("quartic", Z=1), "no constant"),
        (lambda: eos.as_potential("no-such-toy"), "unknown potential"),
    ],
)
def test_bad_input_is_a_clear_error(make, message: str) -> None:
    with pytest.raises(EosInputError, match=message):
        make()
