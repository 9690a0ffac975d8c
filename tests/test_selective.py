"""Groups, per-group measures and the selective edge-of-stability intervention."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import main  # noqa: E402

pytestmark = pytest.mark.torch


def _objective(n=30, loss="mse", widths=(5,), seed=0):
    data = et.gaussian_mixture(n, dim=3, classes=3, seed=seed)
    model = et.build_model("mlp", data, widths=widths, seed=seed)
    return et.NetworkObjective(model, data, loss, device="cpu", dtype="float64"), model, data


# ----------------------------------------------------------------------------- groups


def test_groups_from_indices_masks_labels_and_quantiles():
    g = et.from_indices({"a": [3, 0, 1], "b": np.array([2])}, n=4)
    assert g.names == ("a", "b") and g.sizes == (3, 1)
    assert g["a"].tolist() == [0, 1, 3]  # sorted
    m = et.from_masks({"even": np.arange(6) % 2 == 0})
    assert m["even"].tolist() == [0, 2, 4] and m.n == 6
    obj, _, data = _objective()
    lab = et.by_label(data)
    assert sum(lab.sizes) == data.n
    for name, idx in lab.items():
        assert set(data.labels[idx].tolist()) == {int(name.removeprefix("class"))}
    q = et.by_quantiles([5.0, 1.0, 4.0, 2.0, 3.0, 0.0], 3)
    assert [q[k].tolist() for k in q] == [[1, 5], [3, 4], [0, 2]]  # q1 holds the smallest values
    # loss quantiles: every example of q1 has a loss no larger than any of q5
    per = et.per_example(obj, obj.theta0, "loss")
    lq = et.resolve_groups("loss-quantiles:5", obj)
    assert per[lq["loss-q1"]].max() <= per[lq["loss-q5"]].min()
    both = et.resolve_groups("label+loss-quantiles:5", obj)
    assert len(both) == len(lab) + 5


def test_per_example_gradient_norms_against_one_backward_pass_each():
    obj, _, _ = _objective(n=12)
    norms = et.per_example(obj, obj.theta0, "grad-norm")
    direct = [float(torch.linalg.vector_norm(obj.value_and_grad(obj.theta0, torch.tensor([i]))[1])) for i in range(12)]
    np.testing.assert_allclose(norms, direct, rtol=1e-10)  # vmap of grad against a loop, float64


def test_output_outliers_are_the_largest_residuals_and_smallest_margins():
    obj, _, _ = _objective(n=40)
    g = et.output_outliers(obj, obj.theta0, 0.1)
    r = et.per_example(obj, obj.theta0, "residual")
    assert g.sizes == (4, 36)
    assert r[g["outliers"]].min() >= r[g["inliers"]].max()
    ce, _, _ = _objective(n=40, loss="ce")
    gc = et.output_outliers(ce, ce.theta0, 0.25)
    marg = et.per_example(ce, ce.theta0, "margin")
    assert marg[gc["outliers"]].max() <= marg[gc["inliers"]].min()


def test_injected_groups_name_the_corrupted_labels():
    noisy = et.noisy_digits(60, label_noise=0.3, seed=1)
    clean = et.digits(60, seed=1)
    g = et.injected(noisy)
    changed = np.flatnonzero((noisy.labels != clean.labels).numpy())
    assert g["noisy"].tolist() == changed.tolist() and sum(g.sizes) == 60
    mix = et.selective_mixture(40, aligned_fraction=0.25)
    assert et.injected(mix).sizes == (10, 30)
    with pytest.raises(EosInputError, match="declares no injected groups"):
        et.injected(et.digits(20))


@pytest.mark.parametrize(
    "sets, n, match",
    [
        ({}, 4, "non-empty"),
        ({"a": []}, 4, "empty"),
        ({"a": [0, 4]}, 4, "out of range"),
        ({"a": [-1]}, 4, "out of range"),
        ({"a": [1, 1]}, 4, "repeats"),
        ({"a": [0.5]}, 4, "integers"),
        ({"a b": [0]}, 4, "group name"),
        ({"a": [True, False]}, 2, "from_masks"),
        ({"a": [0]}, 0, "n >= 1"),
    ],
)
def test_groups_validation(sets, n, match):
    with pytest.raises(EosInputError, match=match):
        et.Groups(sets, n)


def test_groups_spec_errors():
    obj, _, _ = _objective()
    for spec, match in [
        ("nonsense", "unknown groups"),
        ("loss-quantiles:x", "not an integer"),
        ("loss-quantiles:99", "must lie in"),
        ("outliers:1.5", r"\(0, 1\)"),
        ("label+label", "share the names"),
        (3, "Groups object"),
    ]:
        with pytest.raises(EosInputError, match=match):
            et.resolve_groups(spec, obj)
    with pytest.raises(EosInputError, match="mask"):
        et.from_masks({"a": [1, 0]})


# ----------------------------------------------------------------------------- per-group quantities


def test_group_loss_gradient_and_alignment_against_a_direct_computation():
    obj, model, data = _objective(n=24, widths=(4,))
    theta = obj.theta0
    groups = et.by_label(data)
    H = obj.hessian(theta).dense()
    _evals, evecs = torch.linalg.eigh(H)
    V = evecs[:, -2:].flip(1)  # the top two eigenvectors, largest first
    stats = et.group_stats(obj, theta, groups, vectors=V)
    params = [p for p in model.parameters()]
    for name, idx in groups.items():
        out = model(data.x[idx].double())
        direct = 0.5 * ((out - data.y[idx].double()) ** 2).sum(dim=1).mean()
        grads = torch.autograd.grad(direct, params)
        g = torch.cat([x.reshape(-1) for x in grads])
        s = stats[name]
        # float64, the same arithmetic in another order: agreement to 1e-12 relative
        assert s["loss"] == pytest.approx(float(direct.detach()), rel=1e-12)
        assert s["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-10)
        cos = (g @ V).abs() / g.norm()
        assert s["alignment"] == pytest.approx(cos.tolist(), rel=1e-8, abs=1e-12)
        assert s["grad_u"][0] == pytest.approx(float(g @ V[:, 0]), rel=1e-8, abs=1e-12)
        acc = float((out.argmax(1) == data.labels[idx]).double().mean())
        assert s["accuracy"] == acc


def test_group_measures_in_a_training_run():
    data = et.gaussian_mixture(30, dim=3, classes=3)
    ms = et.group_measures("label", ("loss", "grad-norm", "alignment", "loss-change"))
    r = et.train(
        "mlp",
        data,
        eta=0.1,
        steps=4,
        track=ms,
        track_every=2,
        top_k=1,
        device="cpu",
        dtype="float64",
        model_kwargs={"widths": (4,)},
    )
    assert len(r.series["group_loss.class0"]) == 3
    obj = et.NetworkObjective(
        et.build_model("mlp", data, widths=(4,), seed=0), data, "mse", device="cpu", dtype="float64"
    )
    st = et.group_stats(obj, r.theta, et.by_label(data))
    for g in st:
        assert r.series[f"group_loss.{g}"][-1] == pytest.approx(st[g]["loss"], rel=1e-12)
        assert r.series[f"group_grad_norm.{g}"][-1] == pytest.approx(st[g]["grad_norm"], rel=1e-10)
        # loss change from the initial parameters: first record is exactly zero
        assert r.series[f"group_loss_change.{g}"][0] == 0.0
    # the registered group measures use the groups by label
    r2 = et.train(
        "mlp",
        data,
        eta=0.1,
        steps=2,
        track="group-loss",
        track_every=2,
        device="cpu",
        dtype="float64",
        model_kwargs={"widths": (4,)},
    )
    assert r2.series["group_loss.class1"][-1] == pytest.approx(r.series["group_loss.class1"][1], rel=1e-12)


def test_confidence_intervals():
    iv = et.confidence_interval([1.0, 2.0, 3.0])
    # two degrees of freedom: t_q = (2q - 1) / sqrt(2 q (1 - q)) exactly; half-width t_{0.975} s / sqrt(3), s = 1
    h = 0.95 / math.sqrt(2 * 0.975 * 0.025) / math.sqrt(3)
    assert (iv["mean"], iv["lo"], iv["hi"]) == pytest.approx((2.0, 2 - h, 2 + h), rel=1e-12)
    assert iv["excludes_zero"] is False  # 2 +- 2.48 contains zero
    assert et.confidence_interval([4.0, 5.0, 6.0])["excludes_zero"] is True
    bs = et.confidence_interval([1.0, 2.0, 3.0, 10.0], method="bootstrap")
    assert 1.0 <= bs["lo"] < bs["mean"] < bs["hi"] <= 10.0
    assert et.confidence_interval([1.0])["lo"] is None
    from eostheory.torch._selective import _spearman

    # one swapped pair of four: 1 - 6 * 2 / (4 * 15) = 0.8; ties take their average rank (Pearson of ranks)
    assert _spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, rel=1e-12)
    assert _spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138, rel=1e-12)
    assert _spearman([1, 2], [2, 1]) is None  # fewer than three groups
    with pytest.raises(EosInputError):
        et.confidence_interval([1.0, 2.0], method="jackknife")


# ----------------------------------------------------------------------------- the intervention


def _separable(a=2.0, b=0.2, n_a=6, n_b=12):
    """Rows (a, 0) for group A and (0, b) for group B, all targets 1: L = (n_A/n) L_A(w1) + (n_B/n) L_B(w2)."""
    x = np.zeros((n_a + n_b, 2))
    x[:n_a, 0] = a
    x[n_a:, 1] = b
    return et.from_arrays(x, np.ones((n_a + n_b, 1)), name="separable")


@pytest.mark.parametrize("eta_h", [1.0, 1.9])
def test_gain_sign_and_value_on_a_separable_quadratic(eta_h):
    """A linear model on two groups in orthogonal input directions: the loss is separable.

    Along direction 1 (group A's, the sharpest: h_1 = (n_A/n) a^2, u_1 = e_1), GD contracts
    w_1 - w_1* by rho = 1 - eta h_1 per step, and L_A - min L_A = (a^2/2)(w_1 - w_1*)^2.  With
    targets all 1 the minimum of L_A is 0, so for K edge steps at eta_e and K_s = 2K stable
    steps at eta_e/2 (matched time):
        gain_A = L_A(w_0) [(1 - eta_e h_1 / 2)^(4K) - (1 - eta_e h_1)^(2K)].
    At eta_e h_1 = 1 the edge branch solves direction 1 in one step: A gains.  At 1.9, near
    the edge (2), it oscillates and barely contracts: A, the group aligned with u_1, loses.
    """
    data = _separable()
    h1 = 6 / 18 * 4.0
    eta_e = eta_h / h1
    K = 3
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, -2.0]]))
    r = et.selective(
        model,
        data,
        groups={"A": range(6), "B": range(6, 18)},
        eta_edge=eta_e,
        eta_stable=eta_e / 2,
        eta_base=0.01,
        fork_step=1,
        steps=K,
        seeds=1,
        random_draws=3,
        top_k=1,
        device="cpu",
        track_every=1,
    )
    s = r.summary
    A = s["per_group"]["A"]
    assert s["config"]["steps_stable"] == 2 * K
    pred = A["loss_fork"] * ((1 - eta_h / 2) ** (4 * K) - (1 - eta_h) ** (2 * K))
    assert A["gain"]["mean"] == pytest.approx(pred, rel=1e-9)  # float64 GD on a quadratic: exact up to rounding
    assert (A["gain"]["mean"] > 0) == (eta_h == 1.0)
    # the cycle mean: edge steps K-1, K against the stable branch at the same times, steps 2K-2 and 2K
    rs, re = (1 - eta_h / 2) ** 2, (1 - eta_h) ** 2
    cyc = A["loss_fork"] * 0.5 * ((rs ** (2 * K - 2) + rs ** (2 * K)) - (re ** (K - 1) + re**K))
    assert A["gain_cycle"]["mean"] == pytest.approx(cyc, rel=1e-9)
    assert A["alignment"]["mean"] == pytest.approx(1.0, abs=1e-9)  # g_A lies along e_1 = u_1
    assert s["per_group"]["B"]["alignment"]["mean"] == pytest.approx(0.0, abs=1e-9)
    # the edge-induced displacement lies along u_1 (direction 2 moves the same in both branches to first order)
    assert s["seeds"][0]["cos_delta_u"] > 0.99


def test_random_control_has_the_edge_distance_and_the_schema(tmp_path, capsys):
    assert main(["selective", "--quick", "--json", "--device", "cpu", "--out", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "eostheory.selective/1"
    for key in ("config", "ci", "checks", "overall", "per_group", "rank_correlation", "time_series", "seeds", "groups"):
        assert key in doc, key
    assert doc["ci"] == {"method": "t", "level": 0.95, "over": "seeds"}
    assert set(doc["per_group"]) == {"aligned", "bulk"}
    # the preset enters the edge by 10% of 2/S at each fork, and the stable branch stays below its threshold
    assert doc["config"]["relative"] is True and doc["checks"]["edge_reached"] is True
    assert doc["checks"]["stable_below_threshold"] is True
    for g in doc["per_group"].values():
        for key in (
            "gain",
            "gain_cycle",
            "gain_first_order",
            "alignment",
            "control_random",
            "control_top",
            "delta_edge",
            "delta_stable",
        ):
            assert {"mean", "lo", "hi", "values", "excludes_zero"} <= set(g[key]), key
    for s in doc["seeds"]:
        # the random displacement has exactly the edge-induced length |w_e - w_s|
        assert s["random_lengths"] == pytest.approx([s["distance"]] * len(s["random_lengths"]), rel=1e-12)
        assert s["distance"] > 0
        # the per-seed gain is the difference of the branches' loss changes
        for g in s["groups"].values():
            assert g["gain"] == pytest.approx(g["delta_stable"] - g["delta_edge"], rel=1e-9, abs=1e-15)
    ts = doc["time_series"]["edge"]
    assert ts["time"][0] == 0.0 and set(ts["grad_norm"]) == {"aligned", "bulk"}
    assert (tmp_path / "selective.json").exists() and (tmp_path / "selective_gain.png").exists()
    assert (tmp_path / "selective_gradients.png").exists()


def test_selective_input_errors():
    data = et.gaussian_mixture(20, dim=3, classes=2)
    kw = dict(eta_edge=0.5, eta_stable=0.2, fork_step=2, steps=2, seeds=1, device="cpu")
    with pytest.raises(EosInputError, match="below eta_edge"):
        et.selective("mlp", data, **{**kw, "eta_stable": 0.6})
    with pytest.raises(EosInputError, match="match"):
        et.selective("mlp", data, **kw, match="loss")
    with pytest.raises(EosInputError, match="out of range"):
        et.selective("mlp", data, **kw, groups={"a": [0, 99]})
    assert main(["selective", "--data", "mixture", "--eta-stable", "0.1"]) == 2  # a one-line error, no traceback


# ----------------------------------------------------------------------------- the seeds on the sweep engine

_QUICK = dict(
    groups="injected",
    model_kwargs={"widths": (8,)},
    eta_base=0.3,
    relative=True,
    eta_edge=1.1,
    eta_stable=0.5,
    fork_step=30,
    steps=8,
    random_draws=2,
    top_k=1,
    device="cpu",
)


def test_each_seed_depends_only_on_its_own_task():
    """What makes the seeds distributable: a seed's numbers do not depend on what ran before it
    in the same process (a worker runs the seeds it is given, in any order)."""
    data = et.selective_mixture(48)
    a = et.selective("mlp", data, seeds=[0, 1], **_QUICK).summary
    b = et.selective("mlp", data, seeds=[1, 0], **_QUICK).summary
    assert a["engine"] == "in-process (no cluster)"
    by_seed = {s["seed"]: json.dumps(s) for s in b["seeds"]}
    for s in a["seeds"]:  # exact: the same float64 operations on the same inputs
        assert json.dumps(s) == by_seed[s["seed"]]
    assert a["seeds"][0]["groups"]["aligned"]["gain"] != a["seeds"][1]["groups"]["aligned"]["gain"]


def test_engine_options_refused_in_one_line(capsys):
    data = et.selective_mixture(48)
    with pytest.raises(EosInputError, match="workers"):
        et.selective("mlp", data, seeds=2, workers=-1, **_QUICK)
    with pytest.raises(EosInputError, match="its own workers"):
        et.selective("mlp", data, seeds=2, workers=2, scheduler="tcp://127.0.0.1:9", **_QUICK)
    assert main(["selective", "--quick", "--workers", "-1"]) == 2
    assert main(["selective", "--quick", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler" in err and "Traceback" not in err


@pytest.mark.slow
def test_seeds_on_a_local_cluster_give_the_in_process_numbers_bit_for_bit(tmp_path, capsys):
    pytest.importorskip("distributed")
    docs = {}
    for w in ("0", "2"):
        out = tmp_path / f"w{w}"
        argv = ["selective", "--quick", "--json", "--device", "cpu", "--workers", w, "--out", str(out), "--keep-runs"]
        assert main(argv) == 0
        docs[w] = json.loads(capsys.readouterr().out)
        # the run directories of every seed, written by whichever process ran it
        assert all((out / "runs" / f"seed{s}" / b / "config.json").exists() for s in (0, 1) for b in ("base", "edge"))
    assert docs["0"]["engine"] == "in-process (no cluster)" and docs["2"]["engine"] == "local cluster (2 workers)"
    for d in docs.values():
        for key in ("seconds", "engine", "figures"):
            d.pop(key)
    # strict JSON writes each float64 as its shortest round-trip text: equal texts are equal bits
    assert json.dumps(docs["0"], sort_keys=True) == json.dumps(docs["2"], sort_keys=True)
