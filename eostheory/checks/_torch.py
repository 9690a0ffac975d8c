"""Checks of the torch backend: curvature estimators against dense Hessians, the optimizer step
against ``torch.optim.SGD``, the third-derivative guard, and the edge of stability on digits.

Registered only when torch is importable; otherwise the group is absent (nothing fails).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

from eostheory.checks import CheckResult, check, close

_HAVE_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("sklearn") is not None


def _register(**kw: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check in group "torch" when torch is importable, run on one CPU thread."""

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        if not _HAVE_TORCH:
            return f

        @functools.wraps(f)
        def one_thread() -> list[CheckResult]:
            import torch

            n = torch.get_num_threads()
            torch.set_num_threads(1)  # tiny models: fastest on one thread, no fight for shared cores
            try:
                return list(f())
            finally:
                torch.set_num_threads(n)

        check("torch", **kw)(one_thread)
        return f

    return deco


def _small_net(activation: str = "tanh", seed: int = 0) -> Any:
    import eostheory.torch as et

    data = et.gaussian_mixture(12, dim=3, classes=3, seed=seed)
    model = et.build_model("mlp", data, widths=(5, 4), activation=activation, seed=seed)
    return et.NetworkObjective(model, data, "mse", device="cpu", dtype="float64")


def _dense_reference(obj: Any, theta: Any, idx: Any = None) -> Any:
    import torch

    return torch.autograd.functional.hessian(lambda th: obj.loss(th, idx), theta.detach())


@_register()
def torch_eigensolvers_match_dense() -> Iterator[CheckResult]:
    """Lanczos, eigsh, power iteration and the dense path against torch.autograd's dense Hessian (float64)."""
    import torch

    import eostheory.torch as et

    obj = _small_net()
    th = obj.theta0 + 0.3 * torch.randn(obj.n_params, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ref = torch.linalg.eigvalsh(_dense_reference(obj, th)).flip(0).numpy()
    op = obj.hessian(th)
    for method, k in (("lanczos", 3), ("eigsh", 3), ("dense", 3), ("power", 1)):
        res = et.top_eigenpairs(op, k, method=method, tol=1e-12, max_iter=20000)
        for i in range(k):
            yield close(f"{method} eigenvalue {i + 1} vs dense Hessian", res.values[i], ref[i], 1e-6, rel=True)


@_register()
def torch_third_derivative_and_guard() -> Iterator[CheckResult]:
    """∇(uᵀHu) against finite differences of the dense Hessian; the guard refuses fused LayerNorm."""
    import torch

    import eostheory.torch as et
    from eostheory._errors import EosInputError

    obj = _small_net()
    th = obj.theta0.clone()
    u = torch.randn(obj.n_params, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    u /= u.norm()
    t = obj.hessian(th).third(u)
    d = torch.randn(obj.n_params, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    eps = 1e-4

    def f(s: float) -> float:
        return float(u @ _dense_reference(obj, th + s * d) @ u)

    fd = (f(eps) - f(-eps)) / (2 * eps)
    yield close("d.grad(u'Hu) vs finite differences of the dense Hessian", float(d @ t), fd, 1e-6, rel=True)
    data = et.gaussian_mixture(8, dim=3, classes=2, seed=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    lobj = et.NetworkObjective(net, data, "mse", device="cpu", dtype="float64")
    try:
        lobj.hessian(lobj.theta0).third(u[: lobj.n_params] if lobj.n_params <= u.numel() else None)
        refused = False
    except EosInputError:
        refused = True
    yield CheckResult("third-derivative guard refuses nn.LayerNorm", refused, True, None, refused)


@_register()
def torch_toy_potential_matches_sympy() -> Iterator[CheckResult]:
    """A toy written in torch: Hessian eigenvalues and ∇(uᵀHu) equal the sympy potential's (float64)."""
    import numpy as np
    import sympy as sp
    import torch

    import eostheory.torch as et
    from eostheory.symbolic import toy

    pot = toy("selfstab")
    x0 = [0.3, 1.2]

    def fn(w: Any) -> Any:
        return 0.5 * (1 + w[1] ** 2) * w[0] ** 2 + 0.5 * (w[1] - 2) ** 2

    obj = et.FunctionObjective(fn, x0)
    subs = dict(zip(pot.params, x0, strict=True))
    Hs = np.array(pot.hessian().subs(subs).evalf(), dtype=float)
    ev = np.sort(np.linalg.eigvalsh(Hs))[::-1]
    pairs = et.top_eigenpairs(obj.hessian(obj.theta0), 2, method="dense")
    yield close("toy top eigenvalue: torch vs sympy", pairs.values[0], ev[0], 1e-12, rel=True)
    u = pairs.vectors[:, 0]
    third = pot.third_contraction()
    usub = {**subs, **dict(zip(pot.direction_symbols, u.tolist(), strict=True))}
    ts = np.array([float(sp.N(e.subs(usub))) for e in third], dtype=float)
    tt = obj.hessian(obj.theta0).third(u).numpy()
    yield close("toy grad S = third(u, u): torch vs sympy", float(np.max(np.abs(tt - ts))), 0.0, 1e-10)
    del torch


@_register()
def torch_batch_sharpness_and_gni_exact() -> Iterator[CheckResult]:
    """Batch Sharpness and GNI, enumerating every batch, against dense per-batch Hessians (float64)."""
    import itertools

    import torch

    import eostheory.torch as et

    obj = _small_net("softplus", seed=4)
    th = obj.theta0
    b = 3
    num, gn2 = 0.0, 0.0
    bs_terms, gni_terms = [], []
    _, gfull = obj.value_and_grad(th)
    Hfull = _dense_reference(obj, th)
    for c in itertools.combinations(range(obj.n_examples), b):
        idx = torch.tensor(c)
        _, gB = obj.value_and_grad(th, idx)
        HB = _dense_reference(obj, th, idx)
        bs_terms.append(float(gB @ HB @ gB / (gB @ gB)))
        gni_terms.append(float(gB @ Hfull @ gB))
    num = sum(gni_terms) / len(gni_terms)
    gn2 = float(gfull @ gfull)
    ref_bs = sum(bs_terms) / len(bs_terms)
    bs = et.batch_sharpness(obj, th, b, batches="all")
    g = et.gni(obj, th, b, batches="all")
    yield close("batch sharpness (all batches) vs dense", bs.value, ref_bs, 1e-6, rel=True)
    yield close("GNI (all batches) vs dense", g.value, num / gn2, 1e-6, rel=True)


@_register()
def torch_step_matches_torch_sgd() -> Iterator[CheckResult]:
    """The update rules of heavy-ball and Nesterov, evaluated on tensors, equal torch.optim.SGD (float64)."""
    import torch

    import eostheory.torch as et
    from eostheory.optimizers import get_optimizer

    obj = _small_net()
    for name, nesterov in (("heavy-ball", False), ("nesterov", True), ("gd", None)):
        torch.manual_seed(0)
        p = torch.nn.Parameter(obj.theta0.clone())
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.0 if nesterov is None else 0.7, nesterov=bool(nesterov))
        hyper = {"eta": 0.1} if nesterov is None else {"eta": 0.1, "beta": 0.7}
        step = et.TorchStep(get_optimizer(name).rule, hyper)
        w, s = obj.theta0.clone(), step.init_state(obj.theta0)
        for _ in range(20):
            opt.zero_grad()
            obj.loss(p).backward()
            opt.step()
            _, g = obj.value_and_grad(w)
            w, s = step(w, g, s)
        diff = float((w - p.detach()).abs().max() / p.detach().abs().max())
        yield close(f"{name} step vs torch.optim.SGD (20 steps, max rel. diff)", diff, 0.0, 1e-12)


@_register()
def torch_progressive_sharpening_quick() -> Iterator[CheckResult]:
    """Digits, MLP 32-32 tanh, MSE, GD η = 0.4: the sharpness rises from below to 2/η = 5 and stays near it."""
    import numpy as np

    import eostheory.torch as et

    r = et.train(
        "mlp",
        "digits",
        eta=0.4,
        steps=600,
        track="sharpness",
        track_every=20,
        device="cpu",
        model_kwargs={"widths": (32, 32)},
    )
    s = np.asarray(r.series["sharpness"])
    steps = np.asarray(r.series["step"])
    thr = 2 / 0.4
    yield CheckResult("digits quick: starts below 2/eta", float(s[0]), f"< {thr}", None, bool(s[0] < 0.8 * thr))
    tail = s[steps >= 300]
    yield close("digits quick: mean sharpness over steps 300-600 vs 2/eta", float(tail.mean()), thr, 0.1, rel=True)


@_register(full_only=True)
def torch_digits_edge_of_stability() -> Iterator[CheckResult]:
    """The acceptance run: digits, MLP 64-64-64-10 tanh, MSE, GD η = 0.2, 3000 steps; S within 10% of 2/η late."""
    import numpy as np

    import eostheory.torch as et

    r = et.train("mlp", "digits", eta=0.2, steps=3000, track="sharpness", track_every=20, device="cpu")
    s = np.asarray(r.series["sharpness"])
    steps = np.asarray(r.series["step"])
    tail = s[steps >= 2000]
    yield CheckResult("digits: sharpness starts below 2/eta", float(s[0]), "< 10", None, bool(s[0] < 8))
    yield close("digits: min sharpness over the last 1000 steps", float(tail.min()), 10.0, 0.1, rel=True)
    yield close("digits: max sharpness over the last 1000 steps", float(tail.max()), 10.0, 0.1, rel=True)


@_register()
def torch_flows_track_gd_on_mlp() -> Iterator[CheckResult]:
    """MLP 64-16-10 tanh on 100 digits at η = 2/S(θ₀), 60 steps: rod and edge flow track GD's midpoint.

    Relative centre error ``‖c(t) − w̄_t‖/‖w̄_t − w₀‖`` over t in [30, 59]: the rod (oscillating
    extent, RK4 dt = 0.25) and the edge flow (exponential integrator, dt = 1: one evaluation per
    GD step) stay below 0.10 and end below 0.7 of gradient flow's error (measured: 0.067 and
    0.048 median against gradient flow's 0.10); the edge flow's predicted oscillation is GD's to
    20% (0.132 against 0.136).  The central flow is checked by the tests (it costs 20× more).
    """
    import numpy as np
    import torch

    import eostheory.torch as et

    torch.manual_seed(0)
    obj = et.NetworkObjective(et.mlp(64, 10, (16,), "tanh"), et.digits(n=100), "mse", device="cpu", dtype="float64")
    eta = 2.0 / et.sharpness(obj, tol=1e-8)
    gd = et.gd_midpoints(obj, eta=eta, steps=60)

    def errors(flow: str, **kw: Any) -> tuple[Any, dict[str, Any]]:
        m = et.flow_vs_gd(et.solve_torch_flow(obj, flow, eta=eta, steps=60, **kw), gd)
        t, e = m["t"], m["relative_error"]
        return e[(t >= 30) & (t <= 59)], m

    g, _ = errors("gradient")
    g_end = float(np.mean(g[-10:]))
    runs = {"rod": errors("rod"), "edge (exponential, dt=1)": errors("edge", method="exponential", dt=1.0)}
    for label, (e, _m) in runs.items():
        worst, end = float(np.max(e)), float(np.mean(e[-10:]))
        yield CheckResult(f"MLP {label}: max relative centre error, t in [30, 59]", worst, "< 0.10", None, worst < 0.10)
        yield CheckResult(f"MLP {label}: final error / gradient flow's", end / g_end, "< 0.7", None, end < 0.7 * g_end)
    m = runs["edge (exponential, dt=1)"][1]
    yield close(
        "MLP edge (exponential): predicted oscillation vs GD's",
        m["predicted_oscillation"],
        m["measured_oscillation"],
        0.2,
        rel=True,
    )
