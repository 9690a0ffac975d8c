"""Steepest descent and generalized sharpness on networks: against plain torch and dense references."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory.geometry import Layout, exact_sharpness, get_norm  # noqa: E402
from eostheory.torch._geometry import _block_sharpness, generalized_sharpness, layout_of  # noqa: E402

pytestmark = pytest.mark.torch


def test_torch_norms_match_numpy():
    lay = Layout.from_shapes([(3, 2), (4,), (2, 2, 1)])
    g = np.random.default_rng(0).standard_normal(lay.n)
    gt = torch.tensor(g, dtype=torch.float64)
    for name in ("l2", "linf", "l1", "block", "spectral"):
        geo = get_norm(name).bind(lay)
        assert float(geo.dual(gt)) == pytest.approx(float(geo.dual(g)), rel=1e-13)
        assert float(geo.norm(gt)) == pytest.approx(float(geo.norm(g)), rel=1e-13)
        np.testing.assert_allclose(geo.lmo(gt).numpy(), geo.lmo(g), atol=1e-13)


# ----------------------------------------------------------------------------- optimizers against plain torch


def _plain_step(name: str, params: list, grads: list, buf: list, eta: float, beta: float) -> None:
    """Each method written directly on the parameter tensors (the reference)."""
    kind, norm = name.split(":")
    momentum = kind.endswith("-momentum")
    us = []
    for i, g in enumerate(grads):
        if momentum:
            buf[i] = beta * buf[i] + g
            us.append(buf[i])
        else:
            us.append(g)
    if norm == "linf":
        dual = sum(u.abs().sum() for u in us)
        ds = [torch.sign(u) for u in us]
    elif norm == "block":
        norms = torch.stack([u.norm() for u in us])
        b = int(norms.argmax())
        dual = norms[b]
        ds = [u / norms[b] if i == b else torch.zeros_like(u) for i, u in enumerate(us)]
    else:  # spectral: matrices U V^T, vectors u/|u|
        ds, dual = [], 0.0
        for u in us:
            if u.dim() == 2:
                uu, s, vh = torch.linalg.svd(u, full_matrices=False)
                ds.append(uu @ vh)
                dual = dual + s.sum()
            else:
                ds.append(u / u.norm())
                dual = dual + u.norm()
    scale = eta if kind.startswith("normalized") else eta * dual
    with torch.no_grad():
        for p, d in zip(params, ds, strict=True):
            p -= scale * d


@pytest.mark.parametrize(
    "name",
    [
        "steepest:linf",
        "normalized:linf",
        "steepest:block",
        "normalized:block",
        "steepest:spectral",
        "normalized:spectral",
        "normalized-momentum:spectral",
    ],
)
def test_optimizers_match_plain_torch(name):
    data = et.digits(n=40)
    eta = {"steepest:linf": 2e-4, "steepest:spectral": 5e-3}.get(name, 0.02)
    steps = 100
    r = et.train(
        "mlp",
        data,
        optimizer=name,
        eta=eta,
        steps=steps,
        track=(),
        track_every=steps,
        device="cpu",
        dtype="float64",
        model_kwargs={"widths": [4]},
        seed=1,
    )
    assert r.status == "completed"
    model = et.build_model("mlp", data, widths=[4], seed=1).double()
    params = list(model.parameters())
    buf = [torch.zeros_like(p) for p in params]
    x, y = data.x.double(), data.y.double()
    for _ in range(steps):
        loss = 0.5 * ((model(x) - y) ** 2).sum(dim=1).mean()
        grads = torch.autograd.grad(loss, params)
        _plain_step(name, params, list(grads), buf, eta, 0.95)
    mine = torch.cat([p.detach().reshape(-1) for p in params])
    assert float((r.theta - mine).abs().max()) < 1e-12


# ----------------------------------------------------------------------------- generalized sharpness on nets


def _tiny():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 2))
    y = np.tanh(x @ np.array([[1.0], [-0.5]]))
    data = et.from_arrays(x, y)
    model = et.build_model("mlp", data, widths=[2], seed=4).double()  # 9 parameters
    obj = et.NetworkObjective(model, data, "mse", device="cpu", dtype="float64")
    return obj


def test_frank_wolfe_on_a_network_matches_enumeration():
    obj = _tiny()
    op = obj.hessian(obj.theta0)
    h = op.dense().numpy()
    lay = layout_of(obj)
    assert lay.n == 9 and np.min(np.diag(h)) < 0  # indefinite: the reference enumerates the 3^9 KKT patterns
    geo = get_norm("linf").bind(lay)
    exact = exact_sharpness(h, geo)
    est = generalized_sharpness(op, geo, restarts=16, iters=50)
    assert est.value == pytest.approx(exact, rel=1e-6) and est.gap <= 1e-6 * exact
    # block norm: Lanczos on each block against dense block eigenvalues
    geo = get_norm("block").bind(lay)
    ref = max(float(np.linalg.eigvalsh(h[np.ix_(i, i)])[-1]) for i in _indices(lay))
    assert _block_sharpness(op, geo, 1e-10) == pytest.approx(ref, rel=1e-6)


def _indices(lay):
    out, k = [], 0
    for m in lay.sizes:
        out.append(np.arange(k, k + m))
        k += m
    return out


def test_measures_in_a_run():
    data = et.digits(n=40)
    kw = dict(device="cpu", dtype="float64", model_kwargs={"widths": [4]}, track_every=1, steps=6)
    track = ["sharpness", "generalized-sharpness", "normalized-generalized-sharpness", "step-smoothness"]
    r = et.train("mlp", data, optimizer="steepest:l2", eta=0.2, track=track, **kw)
    # Euclidean: the generalized sharpness is lambda_max, and the run's threshold is GD's
    assert r.series["generalized_sharpness"] == r.series["sharpness"]
    eta = 2e-4
    r = et.train("mlp", data, optimizer="steepest:linf", eta=eta, track=track, **kw)
    loss, dual = np.array(r.series["loss"]), np.array(r.series["dual_grad_norm"])
    hs = np.array(r.series["smoothness_H_signed"][:-1])
    # the descent identity along the actual steps, exact up to round-off
    pred = -eta * (1 - eta / 2 * hs) * dual[:-1] ** 2
    np.testing.assert_allclose(np.diff(loss), pred, rtol=1e-8)
    s = np.array(r.series["generalized_sharpness"])
    assert np.all(np.array(r.series["gs_gap"]) <= 1e-8 * s)
    np.testing.assert_allclose(r.series["normalized_generalized_sharpness"], s / dual, rtol=1e-12)
    m = r.measures["generalized-sharpness"]
    assert m.threshold_values(r.config.hyperparameters, None) == [2 / eta]


@pytest.mark.slow  # three run directories, each with its training plot
def test_resume_and_branch_a_geometry_run(tmp_path):
    data_kw = {"n": 40}
    kw = dict(device="cpu", dtype="float64", model_kwargs={"widths": [4]}, track=("generalized-sharpness",))
    full = et.train(
        "mlp", "digits", data_kwargs=data_kw, optimizer="normalized:spectral", eta=0.02, steps=8, track_every=4, **kw
    )
    et.train(
        "mlp",
        "digits",
        data_kwargs=data_kw,
        optimizer="normalized:spectral",
        eta=0.02,
        steps=4,
        track_every=4,
        out=tmp_path / "a",
        **kw,
    )
    res = et.resume(tmp_path / "a", steps=8)
    assert torch.equal(res.theta, full.theta)
    out = et.branch(tmp_path / "a", {"slow": {"eta": 0.01}}, steps=6)
    assert out["slow"].status == "completed"


def test_thresholds_of_steepest_runs_and_their_plot_panel(capsys):
    """train reports 2/eta on the generalized sharpness (not a linear threshold on lambda_max), and the
    generalized-sharpness panel draws it; normalized methods are said to hover at S/||g||_* = 2/eta."""
    from eostheory.analysis.torch_plots import _panels
    from eostheory.cli import main

    data = et.digits(n=40)
    kw = dict(device="cpu", dtype="float64", model_kwargs={"widths": [4]}, track_every=2, steps=2)
    r = et.train("mlp", data, optimizer="steepest:spectral", eta=0.05, track=["generalized-sharpness"], **kw)
    note = r.summary()["threshold_note"]
    assert r.threshold is None and "S_spec < 2/eta = 40" in note and "spectral norm" in note
    panels = {name: ths for name, _, _, ths in _panels(r)}
    assert panels["generalized"] == [pytest.approx(40.0, rel=1e-15)]
    r = et.train("mlp", data, optimizer="normalized:linf", eta=0.01, track=["normalized-generalized-sharpness"], **kw)
    assert "hovers at S_inf/||g||_1 = 2/eta = 200" in r.summary()["threshold_note"]
    assert {name: ths for name, _, _, ths in _panels(r)}["normalized-generalized"] == [pytest.approx(200.0)]
    # Euclidean steepest descent is GD: the linear threshold on lambda_max stays
    r = et.train("mlp", data, optimizer="steepest:l2", eta=0.2, **kw)
    assert r.threshold == pytest.approx(10.0) and "threshold_note" not in r.summary()
    code = main(
        [
            "train",
            "--model",
            "mlp",
            "--widths",
            "4",
            "--n",
            "40",
            "--optimizer",
            "steepest:linf",
            "--eta",
            "1e-3",
            "--steps",
            "2",
            "--dtype",
            "float64",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "S_inf < 2/eta = 2000" in out
