"""Any optimizer on networks: rules written on the command line, RMSProp and Adam against torch.optim."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import main  # noqa: E402
from eostheory.optimizers import get_optimizer  # noqa: E402

pytestmark = pytest.mark.torch

NESTEROV = "v = beta*v + g; w = w - eta*(g + beta*v)"


def problem():
    data = et.gaussian_mixture(24, dim=4, classes=3, seed=1)
    return data, et.build_model("mlp", data, widths=(7,), seed=3)


# ---------------------------------------------------------------- adaptive optimizers against torch.optim

TORCH_CASES = [
    # name, our hyperparameters, torch optimizer factory
    ("adam", {"eta": 1e-2}, lambda p: torch.optim.Adam([p], lr=1e-2)),
    (
        "adam",
        {"eta": 3e-3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
        lambda p: torch.optim.Adam([p], lr=3e-3, betas=(0.8, 0.99), eps=1e-6),
    ),
    ("rmsprop", {"eta": 1e-2}, lambda p: torch.optim.RMSprop([p], lr=1e-2)),
    (
        "rmsprop",
        {"eta": 2e-3, "alpha": 0.9, "eps": 1e-6},
        lambda p: torch.optim.RMSprop([p], lr=2e-3, alpha=0.9, eps=1e-6),
    ),
]


@pytest.mark.parametrize("name,hyper,make", TORCH_CASES)
def test_adaptive_optimizers_match_torch_optim_over_100_steps(name, hyper, make):
    data, model = problem()
    obj = et.NetworkObjective(model, data, "mse", device="cpu", dtype="float64")
    p = torch.nn.Parameter(obj.theta0.clone())
    opt = make(p)
    for _ in range(100):
        opt.zero_grad()
        obj.loss(p).backward()
        opt.step()
    hp = dict(hyper)
    eta = hp.pop("eta")
    r = et.train(
        model, data, optimizer=name, eta=eta, hyperparameters=hp, steps=100, track_every=100, device="cpu",
        dtype="float64",
    )  # fmt: skip
    ref = p.detach()
    err = float((r.theta - ref).abs().max()) / float(ref.abs().max())
    assert err <= 1e-12, (name, hyper, err)
    assert float((ref - obj.theta0).abs().max()) > 1e-3  # the runs moved
    assert r.threshold is None
    assert "not linear" in r.extra["threshold_note"] and "g**2" in r.extra["threshold_note"]


@pytest.mark.parametrize(
    "hyper,match",
    [
        ({"beta1": 1.0}, "beta1"),
        ({"beta2": -0.1}, "beta2"),
        ({"eps": 0.0}, "eps"),
        ({"nu": 0.5}, "no hyperparameter"),
    ],
)
def test_adam_hyperparameters_are_checked(hyper, match):
    with pytest.raises(EosInputError, match=match):
        get_optimizer("adam").hyperparameter_values(eta=0.1, **hyper)


def test_adam_refusal_by_the_stability_analysis_is_a_clear_message():
    from eostheory.symbolic.stability import thresholds

    with pytest.raises(EosInputError, match=r"g\*\*2 is not linear"):
        thresholds(get_optimizer("adam"))


# ---------------------------------------------------------------- rules written out


def test_written_nesterov_equals_the_built_in_run():
    runs = {}
    for key, kw in {
        "built-in": {"optimizer": "nesterov", "beta": 0.9},
        "update": {"update": NESTEROV, "hyperparameters": {"beta": 0.9}},
        "update-list": {"update": ["v = beta*v + g", "w = w - eta*(g + beta*v)"], "beta": 0.9},
    }.items():
        data, model = problem()
        runs[key] = et.train(
            model, data, eta=0.05, steps=40, track="sharpness", track_every=20, device="cpu", dtype="float64", **kw
        )
    ref = runs["built-in"]
    for key in ("update", "update-list"):
        r = runs[key]
        assert r.config.optimizer == "custom" and r.config.hyperparameters == {"beta": 0.9, "eta": 0.05}
        scale = float(ref.theta.abs().max())
        assert float((r.theta - ref.theta).abs().max()) <= 1e-12 * scale
        assert r.series["sharpness"] == pytest.approx(ref.series["sharpness"], rel=1e-10)
        assert r.threshold == pytest.approx(ref.threshold, rel=1e-12)  # derived from the written rule


def test_cli_update_and_hp_equal_the_built_in_nesterov(tmp_path, capsys):
    base = ["train", "--data", "gaussian-mixture", "--n", "24", "--data-opt", "dim=4,classes=3", "--widths", "7"]
    base += ["--eta", "0.05", "--steps", "30", "--track-every", "10", "--device", "cpu", "--dtype", "float64"]
    base += ["--track", "grad-norm", "--json"]
    docs = {}
    for key, extra in {
        "built-in": ["--optimizer", "nesterov", "--beta", "0.9"],
        "update": ["--update", NESTEROV, "--hp", "beta=0.9"],
        "update-lines": ["--update", "v = beta*v + g", "--update", "w = w - eta*(g + beta*v)", "--beta", "0.9"],
    }.items():
        assert main([*base, *extra, "--out", str(tmp_path / key)]) == 0
        docs[key] = json.loads(capsys.readouterr().out)
    for key in ("update", "update-lines"):
        assert docs[key]["config"]["optimizer"] == "custom"
        assert docs[key]["config"]["update"] == ["v = beta*v + g", "w = w - eta*(g + beta*v)"]
        a, b = docs[key]["series"]["loss"], docs["built-in"]["series"]["loss"]
        assert a == pytest.approx(b, rel=1e-12, abs=0)
        assert docs[key]["threshold"] == pytest.approx(docs["built-in"]["threshold"], rel=1e-12)
    # a written rule resumes from its saved lines; a changed line is refused
    assert main(["train", "--out", str(tmp_path / "update"), "--resume", "--steps", "40", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["series"]["loss"]) == 5
    bad = ["train", "--out", str(tmp_path / "update"), "--resume", "--update", "v = beta*v + g; w = w - eta*v"]
    assert main(bad) == 2
    assert "differs in update" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--optimizer", "adam", "--update", "w = w - eta*g"], "either --optimizer or --update"),
        (["--update", "w = w - eta*g", "--hp", "eta=0.1"], "with --eta"),
        (["--optimizer", "nesterov", "--beta", "0.5", "--hp", "beta=0.9"], "repeats --beta"),
        (["--update", "w = w - eta*g", "--hp", "nu"], "NAME=VALUE"),
        (["--update", "w = w - eta*nu*g"], "needs a value for nu"),
        (["--update", "v = g"], "never assigns w"),
        (["--optimizer", "adam", "--hp", "beta1=1.5"], "beta1"),
    ],
)
def test_cli_bad_rules_are_one_line(extra, match, capsys):
    argv = ["train", "--eta", "0.1", "--steps", "2", "--device", "cpu", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
