"""Compiled kernels of symbolic nets against torch autograd, sympy and finite differences.

Tolerances: against torch autograd and against sympy's derivatives of the whole per-example
loss the kernels agree to 1e-10 in float64 (the acceptance bound; observed ~1e-15).  The
third-derivative contraction is checked against central differences of
:math:`u^\\top H(w) u` with one Richardson step (error :math:`O(h^4)` with h = 1e-3, plus
rounding :math:`\\sim 10^{-16}/h`): 1e-7 leaves two orders of margin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy as sp

from eostheory.checks._nets import richardson_derivative, sympy_reference
from eostheory.compile import compile_potential
from eostheory.optimizers import run
from eostheory.symbolic.data import teacher
from eostheory.symbolic.nets import linear_chain, softplus, two_layer

RNG = np.random.default_rng(0)
X5 = RNG.standard_normal((5, 2))
Y5 = RNG.standard_normal(5)
LABELS = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
Z, BETA = sp.Symbol("z"), sp.Symbol("beta")

# test cases as data: (id, constructor, torch activation)
CASES: list[tuple[str, Any, Any]] = [
    ("tanh-bias", lambda: two_layer(3, X=X5, Y=Y5, activation="tanh"), "tanh"),
    ("tanh-nobias", lambda: two_layer(3, X=X5, Y=Y5, activation="tanh", bias=False), "tanh"),
    ("softplus", lambda: two_layer(2, X=X5, Y=Y5, activation="softplus"), "softplus"),
    ("sigmoid", lambda: two_layer(2, X=X5, Y=Y5, activation="sigmoid"), "sigmoid"),
    ("quadratic", lambda: two_layer(2, X=X5, Y=Y5, activation="quadratic", bias=False), "quadratic"),
    ("identity", lambda: two_layer(2, X=X5, Y=Y5, activation="identity"), "identity"),
    ("linear", lambda: two_layer(2, X=X5, Y=Y5, activation="identity", bias=False), "identity"),
    ("vector-out", lambda: two_layer(2, teacher(6, 3, output_dim=2, seed=3), activation="tanh"), "tanh"),
    ("logistic", lambda: two_layer(2, X=X5, Y=LABELS, activation="tanh", loss="logistic"), "tanh"),
    ("user-lambda", lambda: two_layer(2, X=X5, Y=Y5, activation=lambda z: z / (1 + z**2)), "rational"),
    (
        "user-constant",
        lambda: two_layer(2, X=X5, Y=Y5, activation=sp.Lambda(Z, softplus(BETA * Z) / BETA), constants={"beta": 2.5}),
        "softplus-beta",
    ),
    ("chain", lambda: linear_chain(3, X=[1.0, 2.0, -0.5], Y=[1.0, 0.5, 0.2]), None),
]


def _torch_reference(net: Any, act: str | None, w: np.ndarray, u: np.ndarray) -> tuple[float, Any, Any, Any]:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    acts = {
        "tanh": torch.tanh,
        "softplus": F.softplus,
        "sigmoid": torch.sigmoid,
        "quadratic": lambda z: z * z,
        "identity": lambda z: z,
        "rational": lambda z: z / (1 + z * z),
        "softplus-beta": lambda z: F.softplus(2.5 * z) / 2.5,
    }
    X = torch.tensor(net.X, dtype=torch.float64)
    Y = torch.tensor(net.Y, dtype=torch.float64)

    def loss(theta: Any) -> Any:
        if net.kind == "chain":
            f = torch.prod(theta) * X
        else:
            m, d, K = net.arch["width"], net.input_dim, net.output_dim
            W = theta[: m * d].reshape(m, d)
            pos, b = m * d, 0.0
            if net.arch["bias"]:
                b = theta[pos : pos + m]
                pos += m
            A = theta[pos : pos + K * m].reshape(K, m)
            f = acts[act](X @ W.T + b) @ A.T
        if net.loss == "mse":
            return 0.5 * ((f - Y) ** 2).sum(dim=1).mean()
        return F.softplus(-Y * f).mean()

    th = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    val = loss(th)
    (g,) = torch.autograd.grad(val, th, create_graph=True)
    ut = torch.tensor(u, dtype=torch.float64)
    (hu,) = torch.autograd.grad(g @ ut, th, create_graph=True)
    (t3,) = torch.autograd.grad(hu @ ut, th)
    H = torch.autograd.functional.hessian(loss, torch.tensor(w, dtype=torch.float64))
    return float(val.detach()), g.detach().numpy(), H.numpy(), t3.numpy()


def _point(net: Any) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(net.dim)
    w = 0.8 * rng.standard_normal(net.dim) + (0.6 if net.kind == "chain" else 0.0)
    return w, rng.standard_normal(net.dim)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kernels_match_torch_autograd(case: tuple[str, Any, Any]) -> None:
    _, build, act = case
    net = build()
    cp = compile_potential(net, "python")
    c = cp.constants()
    w, u = _point(net)
    val, g, H, t3 = _torch_reference(net, act, w, u)
    assert cp.loss(w, c) == pytest.approx(val, abs=1e-10)
    assert np.max(np.abs(cp.grad(w, c) - g)) <= 1e-10
    assert np.max(np.abs(cp.hess(w, c) - H)) <= 1e-10
    assert np.max(np.abs(cp.third(w, u, c) - t3)) <= 1e-10
    assert cp.sharpness(w, c) == pytest.approx(np.linalg.eigvalsh(H)[-1], abs=1e-10)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kernels_match_sympy_and_finite_differences(case: tuple[str, Any, Any]) -> None:
    net = case[1]()
    cp = compile_potential(net, "python")
    c = cp.constants()
    w, u = _point(net)
    val, grad, hess = sympy_reference(net, w)
    assert cp.loss(w, c) == pytest.approx(val, abs=1e-10)
    assert np.max(np.abs(cp.grad(w, c) - grad)) <= 1e-10
    assert np.max(np.abs(cp.hess(w, c) - hess)) <= 1e-10
    fd_grad = richardson_derivative(lambda v: cp.loss(v, c), w)
    assert np.max(np.abs(cp.grad(w, c) - fd_grad)) <= 1e-7
    fd_third = richardson_derivative(lambda v: u @ cp.hess(v, c) @ u, w)
    assert np.max(np.abs(cp.third(w, u, c) - fd_third)) <= 1e-7


def test_numba_matches_python_backend_and_extra_kernels() -> None:
    net = two_layer(3, teacher(9, 2, output_dim=2, seed=1), activation="tanh")
    nb, py = compile_potential(net), compile_potential(net, "python")
    c = nb.constants()
    w, u = _point(net)
    assert nb.backend in ("numba", "python")
    assert nb.loss(w, c) == pytest.approx(py.loss(w, c), abs=1e-13)
    assert np.max(np.abs(nb.grad(w, c) - py.grad(w, c))) <= 1e-13
    assert np.max(np.abs(nb.hess(w, c) - py.hess(w, c))) <= 1e-13
    assert np.max(np.abs(nb.third(w, u, c) - py.third(w, u, c))) <= 1e-13
    N, K = net.n_examples, net.output_dim
    assert nb.module.n_examples(c) == N
    out = np.empty((N, K))
    nb.module.outputs(w, c, out)
    parts = net.unpack(w)
    ref = np.tanh(net.X @ parts["W"].T + parts["b"]) @ parts["A"].T
    assert np.max(np.abs(out - ref)) <= 1e-14
    jac = np.empty((N * K, net.dim))
    nb.module.jacobian(w, c, jac)
    fd = richardson_derivative(lambda v: (nb.module.outputs(v, c, out), out.ravel().copy())[1], w)
    assert np.max(np.abs(jac - fd)) <= 1e-8


def test_data_are_runtime_arguments() -> None:
    """Other data, same compiled module; values follow the new data."""
    net = two_layer(3, X=X5, Y=Y5, activation="tanh")
    cp = compile_potential(net, "python")
    other = net.with_data(teacher(40, 2, seed=9))
    cp2 = compile_potential(other, "python")
    assert cp2.module is cp.module and cp2.potential is other
    w, _ = _point(net)
    direct = two_layer(3, teacher(40, 2, seed=9), activation="tanh")
    assert cp2.loss(w, cp2.constants()) == pytest.approx(
        compile_potential(direct, "python").loss(w, np.array(direct.constant_values())), abs=1e-14
    )
    assert cp2.loss(w, cp2.constants()) != pytest.approx(cp.loss(w, cp.constants()))


def test_no_overflow_at_large_arguments() -> None:
    """softplus / sigmoid / logistic use overflow-free forms: exact values far out."""
    net = two_layer(1, X=[[1.0]], Y=[-1.0], activation="softplus", loss="logistic", bias=False)
    cp = compile_potential(net, "python")
    c = cp.constants()
    # f = a softplus(w x) = 1 * softplus(800) = 800, label -1: loss = softplus(800) = 800
    w = np.array([800.0, 1.0])
    assert cp.loss(w, c) == pytest.approx(800.0, rel=1e-15)
    g = cp.grad(w, c)
    assert np.all(np.isfinite(g)) and g[1] == pytest.approx(800.0)
    assert np.all(np.isfinite(cp.hess(w, c)))
    w = np.array([-800.0, 1.0])  # softplus(-800) ~ 0: loss log 2
    assert cp.loss(w, c) == pytest.approx(np.log(2.0), rel=1e-14)


def test_run_on_a_net_reaches_the_edge() -> None:
    """GD on the scalar factorization from an unbalanced start: converges with S <= 2/eta."""
    net = linear_chain(2, X=[1.0], Y=[1.0])
    r = run(net, "gd", x0=[3.0, 0.1], eta=0.3, steps=5000)
    assert r.status == "converged"
    a, b = r.final["params"]
    assert a * b == pytest.approx(1.0, abs=1e-9)
    assert r.final["sharpness"] == pytest.approx(a * a + b * b, abs=1e-9)
    assert r.final["sharpness"] <= 2 / 0.3
