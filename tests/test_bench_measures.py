"""The measures registry of network training: built-ins, user measures, run directory, JSON, plot, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.analysis.torch_plots import _panels  # noqa: E402
from eostheory.cli import main  # noqa: E402

pytestmark = pytest.mark.torch

PLUGIN = """import eostheory.torch as et


@et.measure("param-norm", label="parameter norm", cost=0)
def param_norm(state):
    return float(state.w.norm())
"""


@pytest.fixture
def clean_registry():
    before = dict(et.MEASURES)
    yield
    et.MEASURES.clear()
    et.MEASURES.update(before)


def tiny(**kw):
    args = dict(
        eta=0.3,
        steps=12,
        track_every=4,
        device="cpu",
        dtype="float64",
        model_kwargs={"widths": (5,)},
        data_kwargs={"n": 16, "dim": 3, "classes": 3},
    )
    args.update(kw)
    return et.train("mlp", "gaussian-mixture", **args)


# ---------------------------------------------------------------- acceptance: a 5-line user measure


def test_user_measure_is_tracked_written_plotted_and_in_the_json(tmp_path, clean_registry):
    namespace: dict = {}
    exec(PLUGIN, namespace)  # the user's 5 lines, nothing else
    r = tiny(track="sharpness,param-norm", out=tmp_path / "run")
    # tracked: one value per record, equal to the norm of the parameters at that record
    assert r.series["step"] == [0, 4, 8, 12]
    assert r.series["param_norm"][-1] == pytest.approx(float(r.theta.norm()), rel=1e-14)
    assert r.series["param_norm"][0] != r.series["param_norm"][-1]
    # the run directory: metrics.jsonl, result.json (with the measure's description), config.json
    lines = [json.loads(ln) for ln in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [ln["param_norm"] for ln in lines] == r.series["param_norm"]
    res = json.loads((tmp_path / "run" / "result.json").read_text())
    assert res["series"]["param_norm"] == r.series["param_norm"]
    assert res["measures"]["param-norm"]["label"] == "parameter norm"
    assert res["measures"]["param-norm"]["cost"] == 0.0
    assert res["measures"]["sharpness"]["thresholds"] == [pytest.approx(2 / 0.3)]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["track"] == ["loss", "sharpness", "param-norm"]
    # plotted: a panel of its own, labelled, next to the curvature panel with the threshold
    assert (tmp_path / "run" / "training.png").stat().st_size > 10_000
    panels = {name: (ylabel, [k for k, _, _ in lines], ths) for name, ylabel, lines, ths in _panels(r)}
    assert panels["param-norm"] == ("parameter norm", ["param_norm"], [])
    assert panels["curvature"][1] == ["sharpness"] and panels["curvature"][2] == [pytest.approx(2 / 0.3)]
    # resumable by name while it is registered (the run directory names it in config.json)
    r2 = et.resume(tmp_path / "run", steps=16)
    assert r2.series["param_norm"][:4] == r.series["param_norm"] and len(r2.series["param_norm"]) == 5


def test_user_measure_from_the_command_line_with_a_plugin(tmp_path, capsys, clean_registry):
    plugin = tmp_path / "my_measures.py"
    plugin.write_text(PLUGIN)
    argv = ["train", "--data", "gaussian-mixture", "--n", "16", "--data-opt", "dim=3,classes=3", "--widths", "5"]
    argv += ["--eta", "0.3", "--steps", "8", "--track-every", "4", "--track", "param-norm,grad-norm"]
    argv += ["--plugin", str(plugin), "--device", "cpu", "--dtype", "float64", "--out", str(tmp_path / "run")]
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["series"]["param_norm"]) == 3 and all(v > 0 for v in doc["series"]["param_norm"])
    assert doc["config"]["track"] == ["loss", "grad-norm", "param-norm"]
    assert doc["measures"]["param-norm"]["label"] == "parameter norm"
    assert (tmp_path / "run" / "training.png").exists()


@pytest.mark.parametrize(
    "plugin_text,match",
    [
        ("raise RuntimeError('boom')", r"--plugin .* raised RuntimeError: boom"),
        (None, r"not a Python file"),
    ],
)
def test_bad_plugin_is_one_line(tmp_path, capsys, plugin_text, match):
    path = tmp_path / ("p.py" if plugin_text is not None else "missing.py")
    if plugin_text is not None:
        path.write_text(plugin_text)
    argv = ["train", "--eta", "0.1", "--steps", "2", "--device", "cpu", "--plugin", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re

    assert re.search(match, err)


def test_a_plain_callable_in_track(clean_registry):
    def distance_squared(state):
        return float(((state.w - state.w0) ** 2).sum())

    r = tiny(track=["param-distance", distance_squared])
    assert r.config.track == ("loss", "param-distance", "distance-squared")
    assert np.allclose(np.square(r.series["param_distance"]), r.series["distance_squared"], rtol=1e-12, atol=0)
    assert "distance-squared" not in et.MEASURES  # passed, not registered


# ---------------------------------------------------------------- the built-ins' numbers


def test_new_builtins_against_dense_references():
    data = et.gaussian_mixture(16, dim=3, classes=3, seed=0)
    model = et.build_model("mlp", data, widths=(5,), seed=0)
    r = et.train(
        model,
        data,
        eta=0.3,
        steps=6,
        track="directional-smoothness,alignment,param-distance,eigenvalues",
        top_k=2,
        eig_method="dense",
        track_every=6,
        device="cpu",
        dtype="float64",
    )
    obj = et.NetworkObjective(model, data, "mse", device="cpu", dtype="float64")
    theta0 = et.NetworkObjective(et.build_model("mlp", data, widths=(5,), seed=0), data, "mse", dtype="float64").theta0
    for i, w in enumerate([theta0, r.theta.to(torch.float64)]):
        op = obj.hessian(w)
        H = op.dense()
        g = op.gradient
        evals, evecs = torch.linalg.eigh(H)
        u = evecs[:, [-1, -2]]
        expected = {
            "directional_smoothness": float(g @ H @ g / (g @ g)),
            "alignment": [float(x) for x in (g @ u).abs() / g.norm()],
            "param_distance": float((w - theta0).norm()),
            "eigenvalues": [float(evals[-1]), float(evals[-2])],
        }
        for key, want in expected.items():
            got = r.series[key][i]
            assert np.allclose(got, want, rtol=1e-9, atol=1e-12), (key, i, got, want)
    assert r.series["param_distance"][0] == 0.0
    assert all(0 <= c <= 1 for row in r.series["alignment"] for c in row)


def test_builtin_registry_entries():
    table = {
        "loss": (0.0, "loss", frozenset()),
        "accuracy": (0.5, "accuracy", frozenset({"labels"})),
        "sharpness": (20.0, "curvature", frozenset({"hessian", "eigenpairs"})),
        "directional-smoothness": (2.0, "curvature", frozenset({"hessian"})),
        "alignment": (20.0, "alignment", frozenset({"hessian", "eigenpairs"})),
        "param-distance": (0.0, "param-distance", frozenset()),
        "grad-norm": (0.0, "grad-norm", frozenset()),
    }
    for name, (cost, panel, needs) in table.items():
        m = et.get_measure(name)
        assert (m.cost, m.plot_panel, m.needs) == (cost, panel, needs), name
    assert et.TRACKABLE[:7] == ("loss", "accuracy", "sharpness", "eigenvalues", "batch-sharpness", "gni", "grad-norm")
    assert et.get_measure("grad_norm") is et.get_measure("grad-norm")
    assert et.get_measure("sharpness").threshold_values({"eta": 0.5}, 4.0) == [4.0]


def test_thresholds_callables_and_numbers(clean_registry):
    @et.measure("half-norm", thresholds=("stability", 1.5, lambda hp: 1 / hp["eta"], lambda hp: math.nan))
    def half_norm(state):
        return 0.5 * float(state.w.norm())

    m = et.get_measure("half-norm")
    assert m.threshold_values({"eta": 0.25}, 8.0) == [8.0, 1.5, 4.0]
    assert m.threshold_values({"eta": 0.25}, None) == [1.5, 4.0]


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: et.Measure("bad name!", lambda s: 0.0), "letters, digits"),
        (lambda: et.Measure("x", 3.0), "must be callable"),
        (lambda: et.Measure("x", lambda s: 0.0, needs=frozenset({"gpu"})), "needs"),
        (lambda: et.Measure("x", lambda s: 0.0, cost=-1), "cost"),
        (lambda: et.register_measure(et.Measure("sharpness", lambda s: 0.0)), "already exists"),
        (lambda: et.get_measure("hessian-trace"), "cannot track 'hessian-trace'"),
        (lambda: tiny(track=[lambda s: 0.0]), "lambda"),
        (lambda: tiny(track=[et.Measure("loss2", lambda s: "text")]), "returned str"),
        (lambda: tiny(track=[3]), "track takes names"),
        (
            lambda: tiny(track=[et.Measure("boom", lambda s: 1 / 0)]),
            "measure 'boom' raised ZeroDivisionError at step 0",
        ),
    ],
)
def test_bad_measures(make, match, clean_registry):
    with pytest.raises(EosInputError, match=match):
        make()
