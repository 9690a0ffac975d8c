"""Checks of symbolic networks: compiled kernels against the naive full expression, and
the closed forms at minima of linear nets and the balancedness invariants of gradient flow."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from eostheory.checks import CheckResult, check, close
from eostheory.compile import compile_potential
from eostheory.optimizers import run
from eostheory.symbolic.data import linear_teacher, teacher
from eostheory.symbolic.nets import conserved_quantities, linear_chain, minimum_theory, two_layer, two_layer_linear


def _gradient_flow(cp: Any, c: np.ndarray, w0: np.ndarray, time: float, dt: float = 0.002) -> np.ndarray:
    r"""RK4 integration of gradient flow :math:`\dot w = -\nabla L(w)` up to ``time`` (step ``dt``)."""
    w = np.array(w0, dtype=float)
    for _ in range(round(time / dt)):
        k1 = -cp.grad(w, c)
        k2 = -cp.grad(w + 0.5 * dt * k1, c)
        k3 = -cp.grad(w + 0.5 * dt * k2, c)
        k4 = -cp.grad(w + dt * k3, c)
        w = w + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return w


def richardson_derivative(fun: Any, w: np.ndarray, h: float = 1e-3) -> np.ndarray:
    r"""Jacobian of ``fun`` at ``w`` by central differences with one Richardson step.

    :math:`D(h) = (F(w + h e_i) - F(w - h e_i))/2h`, :math:`R = (4 D(h/2) - D(h))/3`: error
    :math:`O(h^4)` plus rounding :math:`O(\epsilon/h)`, about 1e-11 for smooth kernels of size 1.
    """
    w = np.asarray(w, dtype=float)
    cols = []
    for i in range(w.shape[0]):
        e = np.zeros_like(w)
        e[i] = 1.0

        def central(step: float, e: np.ndarray = e) -> np.ndarray:
            return (np.asarray(fun(w + step * e)) - np.asarray(fun(w - step * e))) / (2 * step)

        cols.append((4 * central(h / 2) - central(h)) / 3)
    return np.stack(cols, axis=-1)


def sympy_reference(net: Any, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Loss, gradient and Hessian from sympy's derivatives of the whole per-example loss,
    evaluated with numpy on every example and averaged: a reference independent of the
    chain-rule assembly in the kernels."""
    import sympy as sp

    from eostheory.symbolic.nets import elementary

    ell = elementary(net.expr)
    P = net.params
    n = len(P)
    g = [sp.diff(ell, p) for p in P]
    H = [[sp.diff(g[i], P[j]) for j in range(n)] for i in range(n)]
    args = [*P, *net.constant_symbols, *net.input_symbols, *net.target_symbols]
    fn = sp.lambdify(args, [ell, g, H], "numpy")
    consts = [float(v) for v in net.constant_values()[: len(net.constant_symbols)]]
    cols = [net.X[:, k] for k in range(net.input_dim)] + [net.Y[:, k] for k in range(net.output_dim)]
    N = net.n_examples
    val, grad, hess = fn(*w, *consts, *cols)
    mean = lambda v: float(np.mean(np.broadcast_to(v, (N,))))  # noqa: E731
    return mean(val), np.array([mean(v) for v in grad]), np.array([[mean(v) for v in row] for row in hess])


@check("nets")
def nets_kernels_match_references() -> Iterator[CheckResult]:
    """Per-example kernels (data summed in the loop) against sympy's derivatives of the whole
    per-example loss, and the third-derivative contraction against finite differences."""
    net = two_layer(2, teacher(5, 2, seed=1), activation="tanh")
    cp = compile_potential(net)
    c = cp.constants()
    w = net.initial_point(3, 1.5)
    u = np.random.default_rng(0).standard_normal(net.dim)
    val, grad, hess = sympy_reference(net, w)
    yield close("tanh net loss = sympy reference", cp.loss(w, c), val, 1e-12)
    yield close("tanh net gradient = sympy reference", float(np.max(np.abs(cp.grad(w, c) - grad))), 0, 1e-12)
    yield close("tanh net Hessian = sympy reference", float(np.max(np.abs(cp.hess(w, c) - hess))), 0, 1e-12)
    fd = richardson_derivative(lambda v: u @ cp.hess(v, c) @ u, w)
    yield close(
        "tanh net third derivative [u,u] = finite differences", float(np.max(np.abs(cp.third(w, u, c) - fd))), 0, 1e-8
    )


@check("nets")
def nets_scalar_factorization() -> Iterator[CheckResult]:
    r"""½(ab − 1)²: S = a² + b² at a minimum, S_min = 2 (balanced), gradient flow keeps a² − b²,
    GD at a large step ends at a flatter minimum, with S ≤ 2/η."""
    net = linear_chain(2, X=[1.0], Y=[1.0])
    th = minimum_theory(net)
    cp = compile_potential(net)
    c = cp.constants()
    yield close("scalar factorization: S at (2, 1/2) = a^2 + b^2", cp.sharpness(np.array([2.0, 0.5]), c), 4.25, 1e-12)
    yield close("scalar factorization: minimal sharpness (balanced)", th.min_sharpness, 2.0, 1e-12)
    yield close("scalar factorization: eta beyond which no minimum is stable", th.eta_critical, 1.0, 1e-12)
    w0 = np.array([3.0, 0.1])
    q0 = w0[0] ** 2 - w0[1] ** 2
    wf = _gradient_flow(cp, c, w0, 6.0)
    s_gf = cp.sharpness(wf, c)
    yield close("gradient flow conserves a^2 - b^2", wf[0] ** 2 - wf[1] ** 2, q0, 1e-8)
    yield close("gradient flow ends at S = sqrt((a0^2 - b0^2)^2 + 4)", s_gf, math.sqrt(q0**2 + 4), 1e-7)
    eta = 0.3
    r = run(net, "gd", x0=w0, eta=eta, steps=20000)
    s = r.final["sharpness"]
    ok = r.status == "converged" and s <= 2 / eta and s < s_gf
    yield CheckResult(
        f"GD eta={eta} converges to a flatter minimum (S <= 2/eta = {2 / eta:.4g} < S_GF = {s_gf:.4g})",
        s,
        f"<= {2 / eta:.6g}",
        None,
        ok,
        detail=r.message,
    )
    a, b = r.final["params"]
    yield CheckResult(
        "GD at a large step drifts a^2 - b^2 towards balance",
        abs(a * a - b * b),
        f"< {q0:.4g}",
        None,
        abs(a * a - b * b) < 0.5 * q0,
    )


@check("nets")
def nets_two_layer_linear_minima() -> Iterator[CheckResult]:
    r"""f = AWx, whitened inputs: S = ‖A‖² + ‖W‖² on the minimum manifold, S_min = 2σ_max(M*)."""
    net = two_layer_linear(3, linear_teacher(12, 2, output_dim=2, seed=3))
    th = minimum_theory(net)
    cp = compile_potential(net)
    c = cp.constants()
    wb = th.balanced_minimum
    yield close("balanced minimum is a critical point", float(np.max(np.abs(cp.grad(wb, c)))), 0.0, 1e-12)
    yield close(
        "S_min = 2 s sigma_max(M*) at the balanced minimum", cp.sharpness(wb, c), th.min_sharpness, 1e-10, rel=True
    )
    rng = np.random.default_rng(1)
    parts = net.unpack(wb)
    G = rng.standard_normal((3, 3)) + 2 * np.eye(3)
    w = net.pack(W=G @ parts["W"], A=parts["A"] @ np.linalg.inv(G))
    yield close(
        "S = |A|_2^2 + |W|_2^2 at an unbalanced minimum", cp.sharpness(w, c), th.sharpness_at(w), 1e-10, rel=True
    )
    yield CheckResult(
        "unbalanced minimum is sharper than the balanced one",
        th.sharpness_at(w),
        f"> {th.min_sharpness:.6g}",
        None,
        th.sharpness_at(w) > th.min_sharpness,
    )


@check("nets")
def nets_balancedness() -> Iterator[CheckResult]:
    r"""a_j² − ‖w_j‖² − b_j²: derived conserved for the identity activation (and kept by gradient flow),
    not for tanh; GD at the edge makes it drift."""
    ds = teacher(6, 2, seed=4)
    lin = two_layer(2, ds, activation="identity", bias=True)
    qs = conserved_quantities(lin)
    yield CheckResult(
        "identity activation: balancedness derived conserved", len(qs), 3, None, all(q.conserved for q in qs)
    )
    qt = conserved_quantities(two_layer(2, ds, activation="tanh"), cross=False)
    yield CheckResult(
        "tanh: balancedness not conserved (non-zero rate)", str(qt[0].rate), "!= 0", None, not qt[0].conserved
    )
    cp = compile_potential(lin)
    c = cp.constants()
    w0 = lin.initial_point(2, 1.0)
    q0 = np.array([q(w0) for q in qs])
    wf = _gradient_flow(cp, c, w0, 20.0)
    drift_gf = float(np.max(np.abs(np.array([q(wf) for q in qs]) - q0)))
    yield close("gradient flow keeps A^T A - W W^T - b b^T", drift_gf, 0.0, 1e-8)
    s0 = cp.sharpness(wf, c)
    eta = 1.9 / s0
    r = run(lin, "gd", x0=w0, eta=eta, steps=3000)
    wg = np.array(r.final["params"])
    drift_gd = float(np.max(np.abs(np.array([q(wg) for q in qs]) - q0)))
    yield CheckResult(
        f"GD near the edge (eta = 1.9/S) drifts balancedness (max |dq| = {drift_gd:.3g})",
        drift_gd,
        "> 1e-3",
        None,
        drift_gd > 1e-3 and r.status != "diverged",
    )
