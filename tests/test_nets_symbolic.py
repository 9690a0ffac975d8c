"""Symbolic networks: construction, validation, keys, data, conserved quantities, closed forms."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import sympy as sp

from eostheory import EosInputError
from eostheory.symbolic.data import as_dataset, digits, gaussian_inputs, linear_teacher, make_dataset, teacher
from eostheory.symbolic.nets import (
    ACTIVATIONS,
    activation,
    conserved_quantities,
    linear_chain,
    make_net,
    minimum_theory,
    softplus,
    two_layer,
    two_layer_linear,
)

X4 = np.array([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.1], [0.2, 0.2]])
Y4 = np.array([0.5, -1.0, 0.3, 0.9])


# --- construction -------------------------------------------------------------------
def test_two_layer_structure_and_expression() -> None:
    net = two_layer(3, X=X4, Y=Y4, activation="tanh")
    assert net.dim == 3 * 2 + 3 + 3
    assert [p.name for p in net.params][:2] == ["w_0_0", "w_0_1"]
    assert net.params[-1].name == "a_2"
    x0, x1 = net.input_symbols
    expected = sum(
        sp.Symbol(f"a_{j}") * sp.tanh(sp.Symbol(f"w_{j}_0") * x0 + sp.Symbol(f"w_{j}_1") * x1 + sp.Symbol(f"b_{j}"))
        for j in range(3)
    )
    assert sp.simplify(net.outputs[0] - expected) == 0
    assert net.expr == (net.outputs[0] - net.target_symbols[0]) ** 2 / 2
    assert "two-layer(width=3, tanh, d=2, bias, mse)" in net.name
    assert "loss per example" in net.equations()


def test_vector_output_and_no_bias() -> None:
    Y = np.stack([Y4, -Y4], axis=1)
    net = two_layer(2, X=X4, Y=Y, activation="sigmoid", bias=False)
    assert net.output_dim == 2 and net.dim == 2 * 2 + 2 * 2
    assert {p.name for p in net.params} >= {"a_0_0", "a_1_1"}
    parts = net.unpack(np.arange(net.dim, dtype=float))
    assert parts["W"].shape == (2, 2) and parts["A"].shape == (2, 2) and "b" not in parts
    assert np.array_equal(net.pack(**parts), np.arange(net.dim, dtype=float))


def test_two_layer_linear_and_chain() -> None:
    net = two_layer_linear(2, X=X4, Y=Y4)
    assert net.kind == "two-layer-linear" and net.activation.name == "identity"
    chain = linear_chain(3, X=[1.0, 2.0], Y=[1.0, 0.0])
    assert chain.outputs[0] == sp.Symbol("w_2") * sp.Symbol("w_1") * sp.Symbol("w_0") * sp.Symbol("x_0")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_builtin_activations(name: str) -> None:
    act = activation(name)
    assert act.name == name and sp.Symbol("z") in act.expr.free_symbols


def test_user_activations() -> None:
    z = sp.Symbol("z")
    assert activation("z + z**3/3").expr == z + z**3 / 3
    assert activation(sp.Lambda(sp.Symbol("t"), sp.sin(sp.Symbol("t")))).expr == sp.sin(z)
    assert activation(sp.atan).expr == sp.atan(z)
    assert activation(lambda t: t / (1 + t**2)).expr == z / (1 + z**2)
    beta = sp.Symbol("beta")
    act = activation(sp.Lambda(z, softplus(beta * z) / beta), constants=(beta,))
    assert act.expr.free_symbols == {z, beta}
    assert activation("quadratic").homogeneity == 2 and activation("tanh").homogeneity is None
    assert activation("z**3").homogeneity == 3


@pytest.mark.parametrize(
    "spec, words",
    [
        ("relu", "not smooth"),
        ("swish2", "unsupported activation"),
        ("Abs(z)", "closed-form derivative"),
        ("Max(0, z)", "closed-form derivative"),
        (sp.Function("g"), "closed-form derivative"),
        ("2*q + 1", "does not depend on z"),
        ("z*k", "undeclared"),
        (42, "unsupported activation"),
    ],
)
def test_bad_activations(spec: object, words: str) -> None:
    with pytest.raises(EosInputError, match=words):
        activation(spec)  # type: ignore[arg-type]


def test_bad_input_errors() -> None:
    with pytest.raises(EosInputError, match="width must be > 0"):
        two_layer(0, X=X4, Y=Y4)
    with pytest.raises(EosInputError, match="X has 4 examples but Y has 3"):
        two_layer(2, X=X4, Y=Y4[:3])
    with pytest.raises(EosInputError, match="input_dim=3"):
        two_layer(2, X=X4, Y=Y4, input_dim=3)
    with pytest.raises(EosInputError, match="output_dim=2"):
        two_layer(2, X=X4, Y=Y4, output_dim=2)
    with pytest.raises(EosInputError, match="NaN or infinite"):
        two_layer(2, X=np.where(X4 > 1.5, np.nan, X4), Y=Y4)
    with pytest.raises(EosInputError, match="no examples"):
        two_layer(2, X=np.zeros((0, 2)), Y=np.zeros(0))
    with pytest.raises(EosInputError, match="numeric"):
        two_layer(2, X=[["a", "b"]], Y=[1.0])
    with pytest.raises(EosInputError, match="labels -1 or \\+1"):
        two_layer(2, X=X4, Y=Y4, loss="logistic")
    with pytest.raises(EosInputError, match="scalar output"):
        two_layer(2, X=X4, Y=np.ones((4, 2)), loss="logistic")
    with pytest.raises(EosInputError, match="unknown loss"):
        two_layer(2, X=X4, Y=Y4, loss="hinge")
    with pytest.raises(EosInputError, match="scalar inputs"):
        linear_chain(2, X=X4, Y=Y4)
    with pytest.raises(EosInputError, match="needs data"):
        two_layer(2)
    with pytest.raises(EosInputError, match="unknown net"):
        make_net("resnet", teacher(4, 2))
    net = two_layer(2, X=X4, Y=Y4)
    with pytest.raises(EosInputError, match="inputs have dimension 3"):
        net.with_data(np.zeros((4, 3)), Y4)
    with pytest.raises(EosInputError, match="length 3"):
        net.unpack([1.0, 2.0, 3.0])


# --- keys, constants, data as runtime arguments ------------------------------------------------
def test_key_ignores_data_values_but_not_structure() -> None:
    a = two_layer(3, X=X4, Y=Y4)
    b = two_layer(3, teacher(50, 2, seed=7))
    assert a.key == b.key
    assert a.with_data(X4[:2], Y4[:2]).key == a.key
    others = [
        two_layer(4, X=X4, Y=Y4),
        two_layer(3, X=X4, Y=Y4, activation="softplus"),
        two_layer(3, X=X4, Y=Y4, bias=False),
        two_layer(3, X=X4, Y=np.sign(Y4), loss="logistic"),
        two_layer(3, X=np.c_[X4, X4[:, :1]], Y=Y4),
    ]
    assert len({a.key, *(o.key for o in others)}) == 1 + len(others)


def test_constant_values_layout() -> None:
    beta = sp.Symbol("beta")
    z = sp.Symbol("z")
    net = two_layer(2, X=X4, Y=Y4, activation=sp.Lambda(z, softplus(beta * z) / beta), constants={"beta": 2.0})
    c = net.constant_values()
    assert c[0] == 2.0
    assert c[1:] == np.c_[X4, Y4].ravel().tolist()
    assert net.constant_values({"beta": 3.0})[0] == 3.0
    assert net.with_constants(beta=5.0).constant_values()[0] == 5.0
    with pytest.raises(EosInputError, match="unknown constant"):
        net.constant_values({"gamma": 1.0})
    with pytest.raises(EosInputError, match="no value"):
        net.with_constants(beta=None).constant_values()


# --- data -----------------------------------------------------------------------------------
def test_data_generators() -> None:
    X = gaussian_inputs(40, 3, seed=2, whiten=True)
    assert np.allclose(X.T @ X / 40, np.eye(3), atol=1e-12)
    ds = teacher(30, 2, output_dim=2, noise=0.1, seed=5)
    assert ds.X.shape == (30, 2) and ds.Y.shape == (30, 2)
    assert np.array_equal(ds.Y, teacher(30, 2, output_dim=2, noise=0.1, seed=5).Y)
    assert not np.array_equal(ds.Y, teacher(30, 2, output_dim=2, noise=0.1, seed=6).Y)
    lt = linear_teacher(25, 2, output_dim=3, seed=1)
    assert np.allclose(lt.second_moment(), np.eye(2), atol=1e-12)
    pt = make_dataset("point", 1, 1)
    assert pt.X.tolist() == [[1.0]] and pt.Y.tolist() == [[1.0]]
    with pytest.raises(EosInputError, match="unknown data set"):
        make_dataset("mnist", 10, 2)
    with pytest.raises(EosInputError, match="need n >= input dimension"):
        gaussian_inputs(2, 3, whiten=True)
    assert as_dataset([1.0, 2.0], [3.0, 4.0]).X.shape == (2, 1)


def test_digits_pca() -> None:
    pytest.importorskip("sklearn")
    ds = digits(200, 5, seed=0)
    assert ds.X.shape == (200, 5) and ds.Y.shape == (200, 10)
    assert abs(np.mean(ds.X**2) - 1.0) < 1e-12
    assert np.allclose(ds.Y.sum(axis=1), 1.0)
    b = digits(None, 3, classes=(0, 1), target="pm1")
    assert set(np.unique(b.Y)) == {-1.0, 1.0}
    with pytest.raises(EosInputError, match="exactly two classes"):
        digits(50, 3, target="pm1")


def test_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(EosInputError, match="needs scikit-learn"):
        digits(10, 2)


# --- conserved quantities -----------------------------------------------------------------
def test_conserved_quantities_derived() -> None:
    chain = conserved_quantities(linear_chain(3, X=[1.0], Y=[1.0]))
    assert [q.conserved for q in chain] == [True, True]
    lin = conserved_quantities(two_layer(3, X=X4, Y=Y4, activation="identity", bias=True))
    assert len(lin) == 3 + 3 and all(q.conserved for q in lin)  # diagonal and off-diagonal entries
    quad = conserved_quantities(two_layer(2, X=X4, Y=Y4, activation="quadratic", bias=False))
    a0, w00, w01 = sp.symbols("a_0 w_0_0 w_0_1")
    assert quad[0].expr == a0**2 - (w00**2 + w01**2) / 2 and quad[0].conserved
    tanh = conserved_quantities(two_layer(2, X=X4, Y=Y4, activation="tanh"))
    z, r = sp.Symbol("z_0"), sp.Symbol("r_0")
    assert len(tanh) == 2 and not tanh[0].conserved
    # d/dt (a^2 - |w|^2 - b^2) = -2 a r (tanh z - z tanh'(z)) per example
    expected = -2 * sp.Symbol("a_0") * r * (sp.tanh(z) - z * (1 - sp.tanh(z) ** 2))
    assert sp.simplify(tanh[0].rate - expected) == 0
    v = np.linspace(-1, 1, 12)  # W (6), b (3), a (3)
    assert lin[0](v) == pytest.approx(v[9] ** 2 - v[0] ** 2 - v[1] ** 2 - v[6] ** 2)
    w = np.linspace(-1, 1, 8)
    assert tanh[0](w) == pytest.approx(w[6] ** 2 - w[0] ** 2 - w[1] ** 2 - w[4] ** 2)


# --- closed forms at minima ------------------------------------------------------------------
def test_minimum_theory_chain() -> None:
    th = minimum_theory(linear_chain(2, X=[1.0], Y=[1.0]))
    assert th.min_sharpness == pytest.approx(2.0) and th.eta_critical == pytest.approx(1.0)
    assert th.sharpness_at([2.0, 0.5]) == pytest.approx(4.25)
    a, b = sp.symbols("w_0 w_1")
    assert sp.simplify(th.sharpness_expr - (a**2 + b**2)) == 0
    deep = minimum_theory(linear_chain(3, X=[1.0, 2.0], Y=[2.0, 4.0]))  # p* = 2, s = 2.5
    assert deep.min_sharpness == pytest.approx(2.5 * 3 * 2 ** (4 / 3))
    assert np.allclose(deep.balanced_minimum, 2 ** (1 / 3))


def test_minimum_theory_two_layer_linear() -> None:
    ds = linear_teacher(15, 3, output_dim=2, seed=4)
    th = minimum_theory(two_layer_linear(3, ds))
    sv = np.linalg.svd(th.end_to_end, compute_uv=False)
    assert th.isotropic and th.min_sharpness == pytest.approx(2 * sv[0], rel=1e-12)
    assert th.eta_max(th.balanced_minimum) == pytest.approx(th.eta_critical)
    with pytest.raises(EosInputError, match="linear chains and two-layer linear"):
        minimum_theory(two_layer(2, X=X4, Y=Y4))
    with pytest.raises(EosInputError, match="below the rank"):
        minimum_theory(two_layer_linear(1, ds))
    skew = minimum_theory(two_layer_linear(3, linear_teacher(15, 3, output_dim=2, seed=4, whiten=False)))
    assert not skew.isotropic and skew.min_sharpness is None
