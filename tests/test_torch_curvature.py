"""Curvature estimators of eostheory.torch against dense Hessians (float64, small nets)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402

pytestmark = pytest.mark.torch


# Test cases as data: (id, model builder, data builder).  Small enough for a dense Hessian.
CASES = [
    ("mlp-tanh", dict(model="mlp", widths=(5, 4), activation="tanh"), dict(name="gaussian-mixture", n=12, dim=3)),
    ("mlp-relu", dict(model="mlp", widths=(6,), activation="relu"), dict(name="gaussian-mixture", n=12, dim=3)),
    ("mlp-elu", dict(model="mlp", widths=(5, 4), activation="elu"), dict(name="teacher-student", n=10, dim=3)),
    ("mlp-softplus", dict(model="mlp", widths=(5, 4), activation="softplus"), dict(name="chebyshev", n=10)),
    ("mlp-gelu", dict(model="mlp", widths=(5, 4), activation="gelu"), dict(name="gaussian-mixture", n=12, dim=3)),
    ("cnn-tanh", dict(model="cnn", widths=(2, 3), activation="tanh"), dict(name="digits", n=10)),
]
SMOOTH = [c for c in CASES if c[1]["activation"] != "relu"]
REL = 1e-6  # the acceptance tolerance: every estimator within 1e-6 relative of the dense eigenvalues


def make(case, loss="mse"):
    _, m, d = case
    d = dict(d)
    data = et.get_dataset(d.pop("name"), **d)
    model = et.build_model(m["model"], data, widths=m["widths"], activation=m["activation"], seed=1)
    return et.NetworkObjective(model, data, loss, device="cpu", dtype="float64")


def point(obj, scale=0.3, seed=5):
    g = torch.Generator().manual_seed(seed)
    return obj.theta0 + scale * torch.randn(obj.n_params, generator=g, dtype=torch.float64)


def dense(obj, th, idx=None):
    """Reference Hessian by torch.autograd.functional.hessian (independent of HessianOperator)."""
    return torch.autograd.functional.hessian(lambda t: obj.loss(t, idx), th.detach())


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request):
    obj = make(request.param)
    th = point(obj)
    H = dense(obj, th)
    return request.param, obj, th, H


def test_hvp_matches_dense(case):
    _, obj, th, H = case
    op = obj.hessian(th)
    v = torch.randn(obj.n_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)
    V = torch.randn(obj.n_params, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(op.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    assert torch.allclose(op.dense(), 0.5 * (H + H.T), rtol=1e-10, atol=1e-12)


def test_per_example_quantities_match_dense(case):
    # the vectorised per-example gradients and curvatures v_k' H_i v_k (torch.func: vmap of
    # grad, vmap of jvp-of-jvp) against dense per-example Hessians from
    # torch.autograd.functional; float64 rounding only, so 1e-9 relative
    _, obj, th, _ = case
    n = obj.n_examples
    G = obj.per_example_gradients(th)
    for i in (0, n - 1):
        _, gi = obj.value_and_grad(th, torch.tensor([i]))
        assert torch.allclose(G[i], gi, rtol=1e-10, atol=1e-13)
    V = torch.randn(5, obj.n_params, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    C = obj.per_example_quadratics(th, V)
    assert C.shape == (5, n)
    ref = torch.stack([torch.einsum("kp,pq,kq->k", V, dense(obj, th, torch.tensor([i])), V) for i in range(n)], 1)
    assert torch.allclose(C, ref, rtol=1e-9, atol=1e-11)
    # the per-example curvatures average to the full-batch quadratic form
    assert torch.allclose(C.mean(dim=1), torch.einsum("kp,pq,kq->k", V, dense(obj, th), V), rtol=1e-9, atol=1e-11)
    # blocks of directions (chunk below N forces one direction per block) change nothing
    assert torch.allclose(obj.per_example_quadratics(th, V, chunk=1), C, rtol=1e-12, atol=1e-14)


def test_per_example_quantities_cross_entropy_and_loop_reference():
    obj = make(CASES[0], loss="ce")
    th = point(obj)
    V = torch.randn(3, obj.n_params, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    loop = et.Objective.per_example_quadratics(obj, th, V)  # one graph per example, K products each
    assert torch.allclose(obj.per_example_quadratics(th, V), loop, rtol=1e-9, atol=1e-12)
    assert torch.allclose(obj.per_example_gradients(th), et.Objective.per_example_gradients(obj, th), rtol=1e-10)


class _NoForwardTanh(torch.autograd.Function):
    # a custom op with a backward but no jvp or vmap rule: forward-mode AD and vmap refuse it
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class _Net(torch.nn.Module):
    def __init__(self, d, k):
        super().__init__()
        self.a = torch.nn.Linear(d, 4)
        self.b = torch.nn.Linear(4, k)

    def forward(self, x):
        return self.b(_NoForwardTanh.apply(self.a(x)))


def test_per_example_quantities_fall_back_to_the_loop():
    # a module forward-mode AD cannot run falls back to one graph per example, same numbers
    data = et.get_dataset("gaussian-mixture", n=5, dim=3)
    torch.manual_seed(0)
    net = _Net(3, data.out_features)
    obj = et.NetworkObjective(net, data, "mse", device="cpu", dtype="float64")
    th = point(obj)
    V = torch.randn(2, obj.n_params, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    C = obj.per_example_quadratics(th, V)
    ref = torch.stack([torch.einsum("kp,pq,kq->k", V, dense(obj, th, torch.tensor([i])), V) for i in range(5)], 1)
    assert torch.allclose(C, ref, rtol=1e-9, atol=1e-11)
    G = obj.per_example_gradients(th)
    assert torch.allclose(G[3], obj.value_and_grad(th, torch.tensor([3]))[1], rtol=1e-12)


def test_per_example_quantities_need_data():
    quad = et.FunctionObjective(lambda w: (w**2).sum(), [0.0, 0.0])
    with pytest.raises(EosInputError, match="per-example quantities need"):
        quad.per_example_quadratics(quad.theta0, torch.ones(1, 2, dtype=torch.float64))
    with pytest.raises(EosInputError, match="per-example quantities need"):
        quad.per_example_gradients(quad.theta0)


@pytest.mark.parametrize("method", ["lanczos", "eigsh", "dense"])
def test_top_k_eigenvalues_match_dense(case, method):
    _, obj, th, H = case
    ref = torch.linalg.eigvalsh(H).flip(0).numpy()
    res = et.top_eigenpairs(obj.hessian(th), 3, method=method, tol=1e-12)
    assert res.converged
    np.testing.assert_allclose(res.values, ref[:3], rtol=REL, atol=REL * abs(ref[0]))
    # the vectors are unit eigenvectors: ||Hv - lambda v|| small
    R = H @ res.vectors - res.vectors * torch.as_tensor(res.values)
    assert float(R.norm(dim=0).max()) <= 1e-5 * abs(ref[0])


def test_power_iteration_matches_dense(case):
    _, obj, th, H = case
    ev = torch.linalg.eigvalsh(H)
    lmax, lmin = float(ev[-1]), float(ev[0])
    if abs(lmin) >= 0.9 * lmax:
        pytest.skip("power iteration finds the largest |eigenvalue|; here it is not the top one")
    res = et.top_eigenpairs(obj.hessian(th), 1, method="power", tol=1e-14, max_iter=100000)
    assert res.top == pytest.approx(lmax, rel=REL)


@pytest.mark.parametrize("case", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_third_derivative_contraction_matches_finite_differences(case):
    obj = make(case)
    th = point(obj)
    pairs = et.top_eigenpairs(obj.hessian(th), 1, method="dense")
    u = pairs.vectors[:, 0]
    t = obj.hessian(th).third(u)  # runs the guard, which must pass for these layers
    assert obj._third_check is not None and obj._third_check.passed
    eps = 1e-3

    def f(s, d):
        return float(u @ dense(obj, th + s * d) @ u)

    d = torch.randn(obj.n_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d /= d.norm()
    # fourth-order central differences: truncation O(eps^4) ~ 1e-12, rounding ~ 1e-16/eps ~ 1e-13
    fd = (8 * (f(eps, d) - f(-eps, d)) - (f(2 * eps, d) - f(-2 * eps, d))) / (12 * eps)
    assert float(d @ t) == pytest.approx(fd, rel=1e-6, abs=1e-9)


class _ExplicitLayerNorm(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n))
        self.bias = torch.nn.Parameter(torch.zeros(n))

    def forward(self, x):
        m = x.mean(-1, keepdim=True)
        v = ((x - m) ** 2).mean(-1, keepdim=True)
        return (x - m) / torch.sqrt(v + 1e-5) * self.weight + self.bias


def _norm_net(layer):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), layer, torch.nn.Tanh(), torch.nn.Linear(4, 2))


@pytest.mark.parametrize(
    "layer,ok",
    [
        (lambda: torch.nn.LayerNorm(4), False),
        (lambda: torch.nn.BatchNorm1d(4), False),
        (lambda: _ExplicitLayerNorm(4), True),
    ],
    ids=["fused-layernorm", "batchnorm-train", "explicit-layernorm"],
)
def test_third_derivative_guard(layer, ok):
    data = et.gaussian_mixture(8, dim=3, classes=2, seed=0)
    obj = et.NetworkObjective(_norm_net(layer()), data, "mse", device="cpu", dtype="float64")
    op = obj.hessian(obj.theta0)
    u = torch.ones(obj.n_params, dtype=torch.float64) / math.sqrt(obj.n_params)
    if ok:
        op.third(u)
        assert obj._third_check.passed
    else:
        with pytest.raises(EosInputError, match="finite-difference check"):
            op.third(u)
        assert obj._third_check.suspects  # the message names the layer
        op.third(u, check=False)  # the user may insist


def test_toy_potential_in_torch_matches_sympy():
    sp = pytest.importorskip("sympy")
    from eostheory.symbolic import toy

    pot = toy("selfstab")
    x0 = [0.3, 1.2]
    obj = et.FunctionObjective(lambda w: 0.5 * (1 + w[1] ** 2) * w[0] ** 2 + 0.5 * (w[1] - 2) ** 2, x0)
    subs = dict(zip(pot.params, x0, strict=True))
    H = np.array(pot.hessian().subs(subs).evalf(), dtype=float)
    pairs = et.top_eigenpairs(obj.hessian(obj.theta0), 2, method="lanczos", tol=1e-14)
    np.testing.assert_allclose(pairs.values, np.sort(np.linalg.eigvalsh(H))[::-1], rtol=1e-12)
    u = pairs.vectors[:, 0]
    usub = {**subs, **dict(zip(pot.direction_symbols, u.tolist(), strict=True))}
    ts = np.array([float(sp.N(e.subs(usub))) for e in pot.third_contraction()])
    np.testing.assert_allclose(obj.hessian(obj.theta0).third(u).numpy(), ts, rtol=1e-10, atol=1e-12)


def test_warm_start_needs_fewer_products():
    obj = make(CASES[0])
    th = point(obj)
    tr = et.EigenTracker(1, tol=1e-8)
    cold = tr(obj.hessian(th))
    d = 1e-3 * torch.randn(obj.n_params, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    warm = tr(obj.hessian(th + d))
    ref = torch.linalg.eigvalsh(dense(obj, th + d))[-1]
    assert warm.top == pytest.approx(float(ref), rel=1e-6)
    assert warm.n_hvp < cold.n_hvp


def _batch_refs(obj, th, b):
    _, g = obj.value_and_grad(th)
    Hf = dense(obj, th)
    bs, gn = [], []
    for c in itertools.combinations(range(obj.n_examples), b):
        idx = torch.tensor(c)
        _, gB = obj.value_and_grad(th, idx)
        HB = dense(obj, th, idx)
        bs.append(float(gB @ HB @ gB / (gB @ gB)))
        gn.append(float(gB @ Hf @ gB))
    return float(np.mean(bs)), float(np.mean(gn)) / float(g @ g)


@pytest.mark.parametrize("b", [1, 3])
def test_batch_sharpness_and_gni_exact_enumeration(b):
    obj = make(CASES[3])  # softplus on Chebyshev data (10 examples)
    th = point(obj)
    ref_bs, ref_gni = _batch_refs(obj, th, b)
    bs = et.batch_sharpness(obj, th, b, batches="all")
    gn = et.gni(obj, th, b, batches="all")
    assert bs.exact and bs.n_batches == math.comb(10, b)
    assert bs.value == pytest.approx(ref_bs, rel=REL)
    assert gn.value == pytest.approx(ref_gni, rel=REL)


def test_batch_sharpness_full_batch_is_rayleigh_quotient_of_gradient(case):
    _, obj, th, H = case
    _, g = obj.value_and_grad(th)
    bs = et.batch_sharpness(obj, th, obj.n_examples, batches="all")
    assert bs.value == pytest.approx(float(g @ H @ g / (g @ g)), rel=REL)
    gn = et.gni(obj, th, obj.n_examples, batches="all")
    assert gn.value == pytest.approx(float(g @ H @ g / (g @ g)), rel=REL)


def test_batch_sharpness_monte_carlo_reaches_its_target():
    obj = make(CASES[3])
    th = point(obj)
    ref_bs, ref_gni = _batch_refs(obj, th, 2)
    gen = torch.Generator().manual_seed(0)
    est = et.batch_sharpness(obj, th, 2, rse=0.03, generator=gen)
    assert est.rse <= 0.03 or est.n_batches == 1000
    assert abs(est.value - ref_bs) <= 4 * est.stderr  # a 4-sigma test: fails with probability < 1e-4
    g = et.gni(obj, th, 2, rse=0.03, generator=gen)
    assert abs(g.value - ref_gni) <= 4 * g.stderr


def test_bad_input_to_estimators():
    obj = make(CASES[0])
    op = obj.hessian(obj.theta0)
    with pytest.raises(EosInputError, match="unknown eigensolver"):
        et.top_eigenpairs(op, 1, method="qr")
    with pytest.raises(EosInputError, match="exceeds"):
        et.top_eigenpairs(op, obj.n_params + 1)
    with pytest.raises(EosInputError, match="power"):
        et.top_eigenpairs(op, 2, method="power")
    with pytest.raises(EosInputError, match="tol"):
        et.top_eigenpairs(op, 1, tol=0)
    with pytest.raises(EosInputError, match="exceeds"):
        et.batch_sharpness(obj, obj.theta0, obj.n_examples + 1)
    with pytest.raises(EosInputError, match="entries"):
        obj.hessian(torch.zeros(3))
    quad = et.FunctionObjective(lambda w: (w**2).sum(), [0.0, 0.0])
    with pytest.raises(EosInputError, match="NetworkObjective"):
        et.batch_sharpness(quad, quad.theta0, 1)


def test_linear_and_quadratic_objectives():
    lin = et.FunctionObjective(lambda w: 3 * w[0] - w[1], [1.0, 2.0])
    op = lin.hessian(lin.theta0)
    assert float(op.matvec(torch.ones(2, dtype=torch.float64)).abs().max()) == 0.0
    assert et.top_eigenpairs(op, 1, method="dense").top == 0.0
    quad = et.FunctionObjective(lambda w: 0.5 * (4 * w[0] ** 2 + w[1] ** 2), [1.0, 2.0])
    assert float(quad.hessian(quad.theta0).third(torch.tensor([1.0, 0.0])).abs().max()) == 0.0
    assert et.sharpness(quad) == pytest.approx(4.0, rel=1e-12)
