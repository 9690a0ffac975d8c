"""Training at the edge in torch: the update-rule evaluator, runs, run directories, resume, bad input, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import main  # noqa: E402
from eostheory.optimizers import get_optimizer  # noqa: E402
from eostheory.symbolic import UpdateRule  # noqa: E402

pytestmark = pytest.mark.torch


def small_objective(dtype="float64"):
    data = et.gaussian_mixture(16, dim=4, classes=3, seed=0)
    model = et.build_model("mlp", data, widths=(6,), seed=0)
    return et.NetworkObjective(model, data, "mse", device="cpu", dtype=dtype)


# ---------------------------------------------------------------- update rules on tensors


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-13), ("float32", 2e-6)])
@pytest.mark.parametrize(
    "name,momentum,nesterov", [("gd", 0.0, False), ("heavy-ball", 0.8, False), ("nesterov", 0.8, True)]
)
def test_step_matches_torch_optim_sgd(name, momentum, nesterov, dtype, tol):
    obj = small_objective(dtype)
    p = torch.nn.Parameter(obj.theta0.clone())
    opt = torch.optim.SGD([p], lr=0.05, momentum=momentum, nesterov=nesterov)
    hyper = {"eta": 0.05} if name == "gd" else {"eta": 0.05, "beta": momentum}
    step = et.TorchStep(get_optimizer(name).rule, hyper)
    w, s = obj.theta0.clone(), step.init_state(obj.theta0)
    for _ in range(30):
        opt.zero_grad()
        obj.loss(p).backward()
        opt.step()
        _, g = obj.value_and_grad(w)
        w, s = step(w, g, s)
    scale = float(p.detach().abs().max())
    assert float((w - p.detach()).abs().max()) <= tol * scale


def test_step_reductions_and_functions():
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    g = torch.tensor([3.0, -4.0, 0.0], dtype=torch.float64)
    cases = {
        "normalized-gd": w - 0.1 * g / 5.0,
        "sign-gd": w - 0.1 * torch.sign(g),
        "linf-descent": w - 0.1 * 7.0 * torch.sign(g),
    }
    for name, expected in cases.items():
        step = et.TorchStep(get_optimizer(name).rule, {"eta": 0.1})
        w1, _ = step(w, g, step.init_state(w))
        assert torch.allclose(w1, expected, rtol=0, atol=1e-15), name
    rule = UpdateRule(
        ["m = b*m + (1-b)*g", "v = c*v + (1-c)*g**2", "w = w - eta*m/(sqrt(v) + 1e-8) - tanh(norminf(g))"]
    )
    step = et.TorchStep(rule, {"b": 0.9, "c": 0.99, "eta": 0.01})
    w1, s1 = step(w, g, step.init_state(w))
    m = 0.1 * g
    v = 0.01 * g**2
    exp = w - 0.01 * m / (torch.sqrt(v) + 1e-8) - math.tanh(4.0)
    assert torch.allclose(w1, exp, atol=1e-14) and torch.allclose(s1["v"], v)
    with pytest.raises(EosInputError, match="needs values"):
        et.TorchStep(rule, {"eta": 0.1})


@pytest.mark.parametrize(
    "name,expected",
    [
        ("gd", 2 / 0.1),
        ("heavy-ball", 2 * 1.5 / 0.1),
        ("nesterov", 2 * 1.5 / (0.1 * 2.0)),
        ("ema-momentum", 2 * 1.5 / (0.1 * 0.5)),
        ("sign-gd", None),
    ],
)
def test_threshold_of_the_run_matches_theory(name, expected):
    # classical thresholds: 2/eta, 2(1+b)/eta, 2(1+b)/(eta(1+2b)), 2(1+b)/(eta(1-b)); sign GD is not linear
    beta = None if name in ("gd", "sign-gd") else 0.5
    r = et.train("linear", et.chebyshev(4), optimizer=name, eta=0.1, beta=beta, steps=0, track="", device="cpu")
    if expected is None:
        assert r.threshold is None
    else:
        assert r.threshold == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- training runs

QUICK = dict(eta=0.4, steps=40, track="sharpness,accuracy,grad-norm", track_every=10, device="cpu")


def quick_data():
    return et.digits(n=150)


def test_train_records_and_is_deterministic():
    r1 = et.train("mlp", quick_data(), model_kwargs={"widths": (16,)}, **QUICK)
    r2 = et.train("mlp", quick_data(), model_kwargs={"widths": (16,)}, **QUICK)
    assert r1.status == "completed" and r1.steps_done == 40
    assert r1.series["step"] == [0, 10, 20, 30, 40]
    for k in ("loss", "sharpness", "accuracy", "grad_norm", "eig_hvps"):
        assert r1.series[k] == r2.series[k], k
    assert torch.equal(r1.theta, r2.theta)
    assert r1.threshold == pytest.approx(5.0)
    assert len(r1.step_loss) == 40 and r1.step_loss[0] == pytest.approx(r1.series["loss"][0])
    assert r1.work["gradients"] >= 40 and r1.work["hvps"] > 0
    # the sharpness recorded is the top eigenvalue at that point (float32: 1e-3 target)
    data = quick_data()
    model = et.build_model("mlp", data, widths=(16,), seed=0)
    obj = et.NetworkObjective(model, data, device="cpu", dtype="float64")
    ref = et.top_eigenpairs(obj.hessian(obj.theta0), 1, tol=1e-10).top
    assert r1.series["sharpness"][0] == pytest.approx(ref, rel=2e-3)


def test_progress_bar(capsys):
    r = et.train("linear", quick_data(), eta=0.1, steps=12, track="", track_every=4, device="cpu", progress=True)
    assert r.status == "completed"
    assert "12/12" in capsys.readouterr().err


def test_user_module_and_momentum_and_sgd():
    data = et.teacher_student(64, dim=4, seed=1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ELU(), torch.nn.Linear(8, 1))
    r = et.train(
        net,
        data,
        optimizer="nesterov",
        eta=0.05,
        beta=0.5,
        steps=30,
        batch_size=16,
        track=["sharpness", "batch-sharpness", "gni", "eigenvalues"],
        top_k=2,
        track_every=15,
        bs_rse=0.2,
        device="cpu",
        dtype="float64",
    )
    assert r.status == "completed"
    assert r.config.batch_size == 16 and r.config.bs_batch_size == 16
    assert all(len(e) == 2 and e[0] >= e[1] for e in r.series["eigenvalues"])
    assert all(v > 0 for v in r.series["batch_sharpness"])
    assert "accuracy" not in r.series  # regression data
    # the module holds the final parameters
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    assert torch.equal(flat, r.theta.to(flat.dtype))


@pytest.mark.parametrize("batch_size", [None, 50])
def test_nan_mid_run_stops_and_keeps_last_good_state(tmp_path, batch_size):
    calls = {"n": 0}

    def flaky_mse(out, y):
        calls["n"] += 1
        loss = et.mse_loss(out, y)
        return loss * float("nan") if calls["n"] > 12 else loss

    r = et.train(
        "mlp",
        quick_data(),
        loss=flaky_mse,
        eta=0.1,
        steps=50,
        batch_size=batch_size,
        track="",
        track_every=5,
        device="cpu",
        model_kwargs={"widths": (8,)},
        out=tmp_path / "run",
    )
    assert r.status == "diverged"
    assert "non-finite" in r.message and "last with a finite loss" in r.message
    assert r.steps_done < 50 and np.all(np.isfinite(r.step_loss))
    assert len(r.step_loss) == r.steps_done
    assert torch.all(torch.isfinite(r.theta))
    # the run directory agrees with the result: nothing recorded beyond the kept state
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) <= r.steps_done and all(math.isfinite(v) for v in r.series["loss"])
    assert np.fromfile(tmp_path / "run" / "step_loss.f64").size == r.steps_done
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["step"] == r.steps_done


def test_divergence_with_a_huge_step():
    r = et.train(
        "mlp", quick_data(), eta=500.0, steps=200, track="", track_every=50, device="cpu", model_kwargs={"widths": (8,)}
    )
    assert r.status == "diverged" and r.steps_done < 200
    assert math.isfinite(r.series["loss"][-1])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(eta=0.0), "eta must be > 0"),
        (dict(eta=-1.0), "eta must be > 0"),
        (dict(optimizer="adamw"), "unknown optimizer"),
        (dict(batch_size=10_000), "exceeds"),
        (dict(track="hessian-trace"), "cannot track"),
        (dict(eig_method="qr"), "unknown eigensolver"),
        (dict(device="tpu"), "device"),
        (dict(dtype="float16"), "dtype"),
        (dict(optimizer="gd", beta=0.9), "no hyperparameter"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(eta=0.1, steps=5, device="cpu")
    args.update(kwargs)
    with pytest.raises(EosInputError, match=match):
        et.train("mlp", quick_data(), **args)


def test_bad_models_and_data():
    data = quick_data()
    with pytest.raises(EosInputError, match="no trainable parameters"):
        et.train(torch.nn.Identity(), data, eta=0.1, steps=1, device="cpu")
    with pytest.raises(EosInputError, match="output shape"):
        et.train(torch.nn.Linear(64, 3), data, eta=0.1, steps=1, device="cpu")
    with pytest.raises(EosInputError, match="cannot take inputs"):
        et.train(torch.nn.Linear(5, 10), data, eta=0.1, steps=1, device="cpu")
    with pytest.raises(EosInputError, match="cross-entropy needs class labels"):
        et.train("mlp", et.chebyshev(8), loss="ce", eta=0.1, steps=1, device="cpu")
    with pytest.raises(EosInputError, match="shape"):
        et.from_arrays(np.zeros((5, 2)), np.zeros((4, 1)))
    with pytest.raises(EosInputError, match="shape"):
        et.from_arrays(np.zeros(5), np.zeros(5))
    with pytest.raises(EosInputError, match="NaN"):
        et.from_arrays(np.full((3, 2), np.nan), np.zeros(3))
    with pytest.raises(EosInputError, match="labels"):
        et.from_arrays(np.zeros((3, 2)), labels=[0, 1.5, 2])
    with pytest.raises(EosInputError, match="unknown data set"):
        et.get_dataset("mnist")
    with pytest.raises(EosInputError, match="image"):
        et.build_model("cnn", et.teacher_student(8, dim=3))


def test_data_sets():
    d = et.digits()
    assert (d.n, d.in_features, d.out_features, d.image_shape) == (1797, 64, 10, (1, 8, 8))
    assert torch.allclose(d.x.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    noisy = et.digits(label_noise=0.3, seed=1)
    frac = float((noisy.labels != d.labels).double().mean())
    assert 0.2 < frac < 0.32  # 30% replaced, 1/10 of those by the same label
    c = et.chebyshev(32, degree=4)
    x = c.x[:, 0]
    assert torch.allclose(c.y[:, 0], 8 * x**4 - 8 * x**2 + 1, atol=1e-12)  # T_4
    gm = et.gaussian_mixture(100, dim=5, classes=4, seed=2)
    assert gm.labels.max() < 4 and gm.y.sum(1).eq(1).all()
    ts = et.teacher_student(50, dim=3, out=2)
    assert ts.y.shape == (50, 2) and ts.labels is None
    assert et.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(EosInputError, match="CUDA is not available"):
            et.resolve_device("cuda")


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((20, 3)), rng.integers(0, 3, 20)
    np.savez(tmp_path / "d.npz", x=x, labels=labels)
    d = et.load_npz(tmp_path / "d.npz")
    assert d.out_features == 3 and torch.equal(d.labels, torch.from_numpy(labels))
    np.savez(tmp_path / "bad.npz", inputs=x)
    with pytest.raises(EosInputError, match="must hold"):
        et.load_npz(tmp_path / "bad.npz")
    r = et.train(
        "mlp",
        str(tmp_path / "d.npz"),
        loss="ce",
        eta=0.5,
        steps=5,
        track="accuracy",
        device="cpu",
        model_kwargs={"widths": (4,)},
    )
    assert r.status == "completed" and 0 <= r.series["accuracy"][-1] <= 1


# ---------------------------------------------------------------- run directories and resume

RUN = dict(
    eta=0.4,
    track="sharpness,accuracy",
    track_every=5,
    device="cpu",
    model_kwargs={"widths": (16,)},
    data_kwargs={"n": 150},
)


def test_run_directory_resume_continues_the_same_run(tmp_path):
    ref = et.train("mlp", "digits", steps=30, **RUN)
    out = tmp_path / "run"
    first = et.train("mlp", "digits", steps=15, out=out, **RUN)
    assert first.steps_done == 15
    for f in ("config.json", "metrics.jsonl", "checkpoint.pt", "step_loss.f64", "result.json", "training.png"):
        assert (out / f).exists(), f
    with pytest.raises(EosInputError, match="already holds a run"):
        et.train("mlp", "digits", steps=30, out=out, **RUN)
    with pytest.raises(EosInputError, match="differs in"):
        et.train("mlp", "digits", steps=30, out=out, resume=True, **{**RUN, "eta": 0.3})
    second = et.resume(out, steps=30)
    assert second.steps_done == 30
    for k in ("step", "loss", "sharpness", "accuracy", "eig_hvps"):
        assert second.series[k] == ref.series[k], k
    assert torch.equal(second.theta, ref.theta)
    np.testing.assert_array_equal(second.step_loss, ref.step_loss)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == ref.series["step"]


def test_interrupted_run_loses_nothing(tmp_path, monkeypatch):
    ref = et.train("mlp", "digits", steps=30, **RUN)
    out = tmp_path / "run"
    real_call = et.TorchStep.__call__
    count = {"n": 0}

    def interrupting(self, w, g, state):
        count["n"] += 1
        if count["n"] == 18:
            raise KeyboardInterrupt
        return real_call(self, w, g, state)

    monkeypatch.setattr(et.TorchStep, "__call__", interrupting)
    with pytest.raises(KeyboardInterrupt):
        et.train("mlp", "digits", steps=30, out=out, **RUN)
    monkeypatch.setattr(et.TorchStep, "__call__", real_call)
    assert json.loads((out / "result.json").read_text())["status"] == "interrupted"
    # simulate a crash that cut the last metrics line short
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 99, "loss": 0.')
    resumed = et.train("mlp", "digits", steps=30, out=out, resume=True, **RUN)
    for k in ("step", "loss", "sharpness", "accuracy"):
        assert resumed.series[k] == ref.series[k], k
    assert torch.equal(resumed.theta, ref.theta)


# ---------------------------------------------------------------- CLI


def run_cli(argv, capsys):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli_json(capsys, tmp_path):
    argv = [
        "train",
        "--n",
        "120",
        "--widths",
        "8",
        "--eta",
        "0.3",
        "--steps",
        "20",
        "--track",
        "sharpness,accuracy",
        "--track-every",
        "10",
        "--device",
        "cpu",
        "--json",
        "--no-progress",
        "--out",
        str(tmp_path / "r"),
    ]
    rc, out, _ = run_cli(argv, capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["status"] == "completed" and d["threshold"] == pytest.approx(2 / 0.3)
    assert d["series"]["step"] == [0, 10, 20] and len(d["series"]["sharpness"]) == 3
    assert d["config"]["update"] == ["w = w - eta*g"]
    rc, out, _ = run_cli(["train", "--out", str(tmp_path / "r"), "--resume", "--steps", "30", "--json"], capsys)
    d2 = json.loads(out)
    assert rc == 0 and d2["series"]["step"] == [0, 10, 20, 30] and d2["series"]["loss"][:3] == d["series"]["loss"]


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--eta", "0", "--steps", "5"], "eta must be > 0"),
        (["--eta", "-0.1", "--steps", "5"], "eta must be > 0"),
        (["--eta", "0.1"], "needs --eta and --steps"),
        (["--eta", "0.1", "--steps", "5", "--data", "nope"], "unknown data set"),
        (["--eta", "0.1", "--steps", "5", "--resume"], "--resume needs --out"),
        (["--eta", "0.1", "--steps", "5", "--batch-size", "0"], "batch-size must be > 0"),
    ],
)
def test_cli_bad_input(argv, match, capsys):
    rc, _, err = run_cli(["train", "--device", "cpu", "--no-progress", *argv], capsys)
    assert rc == 2 and match in err and err.count("\n") == 1


def test_cli_without_torch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    rc, _, err = run_cli(["train", "--eta", "0.1", "--steps", "5"], capsys)
    assert rc == 2
    assert "the train command needs the torch extra: pip install 'eostheory[torch]'" in err


def test_import_eostheory_does_not_import_torch():
    code = (
        "import sys, eostheory, eostheory.cli, eostheory.checks as c; c.registry(); "
        "from eostheory.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_checks_skip_cleanly_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None; import eostheory.checks as c; "
        "print(sorted({k.group for k in c.registry()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'torch'" not in out


# ---------------------------------------------------------------- acceptance (slow)


@pytest.mark.slow
def test_acceptance_digits_edge_of_stability_cli(capsys):
    """Digits, MLP 64-64-64-10 tanh, MSE, full-batch GD, eta = 0.2, 3000 steps (the issue's acceptance run)."""
    t0 = time.perf_counter()
    rc, out, _ = run_cli(
        [
            "train",
            "--model",
            "mlp",
            "--data",
            "digits",
            "--loss",
            "mse",
            "--optimizer",
            "gd",
            "--eta",
            "0.2",
            "--steps",
            "3000",
            "--track",
            "sharpness",
            "--device",
            "cpu",
            "--json",
            "--no-progress",
        ],
        capsys,
    )
    seconds = time.perf_counter() - t0
    assert rc == 0
    d = json.loads(out)
    step = np.array(d["series"]["step"])
    s = np.array(d["series"]["sharpness"])
    assert s[0] < 0.5 * 10  # starts well below 2/eta ...
    assert s.max() > 10  # ... rises to the edge ...
    tail = s[step >= 2000]
    assert np.all(np.abs(tail - 10) <= 1.0), (tail.min(), tail.max())  # ... and stays within 10% of 2/eta
    # wall time is reported, not asserted (speed targets are measured by benchmarks, not unit tests)
    print(f"acceptance run: {seconds:.1f} s")
