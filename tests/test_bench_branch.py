"""Branches: fork a saved run's full state into new run directories with changed hyperparameters."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import main  # noqa: E402
from eostheory.optimizers import get_optimizer  # noqa: E402

pytestmark = pytest.mark.torch


BASE = dict(
    model="mlp",
    data="gaussian-mixture",
    eta=0.2,
    track="sharpness,batch-sharpness",
    track_every=5,
    bs_batch_size=6,
    device="cpu",
    dtype="float64",
    model_kwargs={"widths": (6,)},
    data_kwargs={"n": 24, "dim": 3, "classes": 3},
)


def run(steps, **kw):
    return et.train(**{**BASE, **kw, "steps": steps})


def same_run(a, b):
    """Bit for bit: parameters, every step loss, every record (but its wall-clock time)."""
    assert torch.equal(a.theta, b.theta)
    assert np.array_equal(a.step_loss, b.step_loss)
    keys = [k for k in a.series if k != "time"]
    assert keys == [k for k in b.series if k != "time"]
    for k in keys:
        assert a.series[k] == b.series[k], k


# optimizer settings: full-batch GD, heavy ball (a momentum buffer), SGD (batch order and estimator RNG)
CASES = {
    "gd": {},
    "heavy-ball": {"optimizer": "heavy-ball", "beta": 0.8, "eta": 0.05},
    "sgd-heavy-ball": {"optimizer": "heavy-ball", "beta": 0.5, "eta": 0.05, "batch_size": 8},
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unchanged_branch_is_the_uninterrupted_run(tmp_path, case):
    kw = CASES[case]
    whole = run(20, **kw)
    run(10, out=tmp_path / "run", **kw)
    res = et.branch(tmp_path / "run", {"same": {}}, steps=10)
    b = res["same"]
    assert b.out == tmp_path / "run" / "branches" / "same"
    assert b.steps_done == 20 and b.status == "completed"
    same_run(b, whole)
    cfg = json.loads((b.out / "config.json").read_text())
    assert cfg["branch"] == {"from": str(tmp_path / "run"), "step": 10, "name": "same"}
    # the branch directory is a run of its own: metrics from step 0, and it resumes
    steps = [json.loads(ln)["step"] for ln in (b.out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 5, 10, 15, 20]
    more = et.resume(b.out, steps=25)
    same_run(more, run(25, **kw))
    # the source directory is untouched
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 10


def test_a_heavy_ball_branch_carries_its_momentum_buffer(tmp_path):
    kw = CASES["heavy-ball"]
    run(10, out=tmp_path / "run", **kw)
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    v0 = ck["state"]["v"]
    assert float(v0.abs().max()) > 1e-3  # a real buffer to carry
    b = et.branch(tmp_path / "run", {"slow": {"eta": 0.02, "beta": 0.6}}, steps=7)["slow"]
    assert b.config.hyperparameters == {"beta": 0.6, "eta": 0.02}
    # reference: the same 7 steps by hand from the saved parameters and buffer
    data = et.get_dataset("gaussian-mixture", **BASE["data_kwargs"], seed=0)
    obj = et.NetworkObjective(et.build_model("mlp", data, widths=(6,), seed=0), data, "mse", dtype="float64")
    step = et.TorchStep(get_optimizer("heavy-ball").rule, {"eta": 0.02, "beta": 0.6})

    def continue_from(v):
        w, s = ck["w"].clone(), {"v": v.clone()}
        for _ in range(7):
            _, g = obj.value_and_grad(w)
            w, s = step(w, g, s)
        return w

    assert torch.equal(b.theta, continue_from(v0))
    assert not torch.allclose(b.theta, continue_from(torch.zeros_like(v0)), rtol=0, atol=1e-10)  # buffer matters
    assert b.threshold == pytest.approx(2 * 1.6 / 0.02)


def test_several_branches_and_the_command_line(tmp_path, capsys):
    run(10, out=tmp_path / "run")
    res = et.branch(tmp_path / "run", {"a": {"eta": 0.1}, "b": {"track": "grad-norm"}}, steps=5, out=tmp_path / "br")
    assert [r.out for r in res.values()] == [tmp_path / "br" / "a", tmp_path / "br" / "b"]
    assert res["a"].config.hyperparameters["eta"] == 0.1 and res["b"].config.track == ("loss", "grad-norm")
    argv = ["train", "--from", str(tmp_path / "run"), "--branch", "c", "--set", "eta=0.1", "--steps", "5"]
    assert main([*argv, "--device", "cpu", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["series"]["loss"] == res["a"].series["loss"]
    assert doc["config"]["branch"]["step"] == 10 and doc["out"] == str(tmp_path / "run" / "branches" / "c")
    # --out names the branch directory itself
    argv2 = ["train", "--from", str(tmp_path / "run"), "--branch", "d", "--steps", "5", "--out", str(tmp_path / "d")]
    assert main([*argv2, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(tmp_path / "d")


def test_resume_with_a_changed_eta_exits_2_with_one_line(tmp_path, capsys):
    run(10, out=tmp_path / "run")
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--eta", "0.3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differs in eta 0.3 (saved: 0.2)" in err and "--branch" in err


@pytest.mark.parametrize(
    "branches,kw,match",
    [
        ({"x": {"loss": "ce"}}, {}, "cannot change 'loss'"),
        ({"x": {"nu": 0.5}}, {}, "cannot change 'nu'"),
        ({"x": {"eta": -1}}, {}, "eta"),
        ({"bad/name": {}}, {}, "branch name"),
        ({}, {}, "non-empty"),
        ({"x": {}}, {"steps": 0}, "steps"),
    ],
)
def test_bad_branches(tmp_path, branches, kw, match):
    run(5, out=tmp_path / "run")
    with pytest.raises(EosInputError, match=match):
        et.branch(tmp_path / "run", branches, **{"steps": 3, **kw})


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--branch", "x", "--steps", "3"], "--from RUN_DIR"),
        (["--from", "{run}", "--steps", "3"], "--branch NAME"),
        (["--from", "{run}", "--branch", "x"], "--steps K"),
        (["--from", "{run}", "--branch", "x", "--steps", "3", "--eta", "0.1"], "--eta cannot be given"),
        (["--from", "{run}", "--branch", "x", "--steps", "3", "--set", "eta"], "NAME=VALUE"),
        (["--from", "{empty}", "--branch", "x", "--steps", "3"], "no run to branch from"),
    ],
)
def test_cli_bad_branches_are_one_line(tmp_path, capsys, argv, match):
    run(5, out=tmp_path / "run")
    (tmp_path / "empty").mkdir()
    argv = [a.format(run=tmp_path / "run", empty=tmp_path / "empty") for a in argv]
    assert main(["train", *argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_a_branch_directory_that_exists_is_refused(tmp_path):
    run(5, out=tmp_path / "run")
    et.branch(tmp_path / "run", {"x": {}}, steps=2)
    with pytest.raises(EosInputError, match="already holds a run"):
        et.branch(tmp_path / "run", {"x": {}}, steps=2)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the plot of a blown-up loss overflows its log scale
def test_a_diverged_run_branches_with_a_smaller_step(tmp_path):
    src = run(200, eta=500.0, track="", track_every=5, out=tmp_path / "run")
    assert src.status == "diverged"
    with pytest.raises(EosInputError, match="diverged"):  # resuming would diverge again
        et.resume(tmp_path / "run")
    b = et.branch(tmp_path / "run", {"calm": {"eta": 0.05}}, steps=10)["calm"]
    assert b.status == "completed" and b.steps_done == src.steps_done + 10
    assert np.array_equal(b.step_loss[: src.steps_done], src.step_loss)  # the history up to the last finite state
    assert np.isfinite(b.step_loss).all()


def test_a_resumed_branch_keeps_its_origin(tmp_path):
    run(5, out=tmp_path / "run")
    b = et.branch(tmp_path / "run", {"x": {"eta": 0.1}}, steps=5)["x"]
    et.resume(b.out, steps=15)
    cfg = json.loads((b.out / "config.json").read_text())
    assert cfg["branch"] == {"from": str(tmp_path / "run"), "step": 5, "name": "x"}
    assert cfg["steps"] == 15 and cfg["hyperparameters"]["eta"] == 0.1


# ---------------------------------------------------------------- branches at an earlier step


@pytest.fixture(scope="module")
def whole_sgd():
    """The uninterrupted 20-step momentum-SGD run (batch order, estimator RNG and a momentum buffer)."""
    return run(20, **CASES["sgd-heavy-ball"])


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The first 15 steps of that run, saved twice: with no checkpoint kept, and keeping every 5th."""
    root = tmp_path_factory.mktemp("sources")
    run(15, out=root / "plain", **CASES["sgd-heavy-ball"])
    run(15, out=root / "kept", checkpoint_every=5, **CASES["sgd-heavy-ball"])
    return root


@pytest.mark.parametrize(
    "source,at,replayed_from",
    [
        ("plain", 7, 0),  # nothing kept: replayed from the start (a fork between two records), on the command line
        pytest.param("kept", 7, 5, marks=pytest.mark.slow),  # replayed from the checkpoint kept at step 5
        ("kept", 10, None),  # the checkpoint kept at step 10 itself: no replay
    ],
)
def test_an_unchanged_branch_at_an_earlier_step_is_the_uninterrupted_run(
    tmp_path, capsys, whole_sgd, sources, source, at, replayed_from
):
    src = sources / source
    kept = sorted(p.name for p in (src / "checkpoints").glob("*.pt"))
    assert kept == ([f"step_{s:09d}.pt" for s in (0, 5, 10, 15)] if source == "kept" else [])
    if source == "plain":
        argv = ["train", "--from", str(src), "--step", str(at), "--branch", "same", "--steps", str(20 - at)]
        assert main([*argv, "--out", str(tmp_path / "same"), "--device", "cpu", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["series"]["loss"] == whole_sgd.series["loss"]
        b = et.resume(tmp_path / "same")  # the completed branch, read back (nothing left to compute)
    else:
        b = et.branch(src, {"same": {}}, steps=20 - at, step=at, out=tmp_path)["same"]
    assert b.steps_done == 20 and b.status == "completed"
    same_run(b, whole_sgd)  # bit for bit: parameters, every step loss, every record
    origin = json.loads((b.out / "config.json").read_text())["branch"]
    expected = {"from": str(src), "step": at, "name": "same"}
    if replayed_from is not None:
        expected.update(replayed_from=replayed_from, replay_exact=True)
    assert origin == expected


def test_a_changed_branch_at_an_earlier_step(tmp_path, whole_sgd, sources):
    src = sources / "plain"
    slow = et.branch(src, {"slow": {"eta": 0.01, "track": "grad-norm"}}, steps=5, step=7, out=tmp_path)["slow"]
    assert np.array_equal(slow.step_loss[:8], whole_sgd.step_loss[:8])  # the step from 7 is the first changed one
    assert not np.array_equal(slow.step_loss[8:], whole_sgd.step_loss[8:12])
    assert slow.series["step"] == [0, 5, 10, 12] and slow.config.hyperparameters["eta"] == 0.01
    assert slow.series["loss"][:2] == whole_sgd.series["loss"][:2]  # records 0 and 5 are the source's


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--from", "{run}", "--step", "16", "--branch", "x", "--steps", "3"], "its last checkpoint is at step 15"),
        (["--from", "{br}", "--step", "2", "--branch", "x", "--steps", "3"], "itself a branch forked at step 15"),
        (["--step", "2", "--branch", "x", "--steps", "3"], "give --from RUN_DIR"),
        (["--from", "{run}", "--step", "-1", "--branch", "x", "--steps", "3"], "--step"),
    ],
)
def test_cli_unreachable_fork_steps_are_one_line(tmp_path, capsys, sources, argv, match):
    src = sources / "plain"
    if not (src / "branches" / "b").exists():
        et.branch(src, {"b": {"track": ""}}, steps=1)
    argv = [a.format(run=src, br=src / "branches" / "b") for a in argv]
    assert main(["train", *argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_a_changed_kept_checkpoint_is_refused(tmp_path, sources):
    import shutil

    src = tmp_path / "kept"
    shutil.copytree(sources / "kept", src)
    f = src / "checkpoints" / f"step_{10:09d}.pt"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 1  # one flipped bit
    f.write_bytes(bytes(data))
    with pytest.raises(EosInputError, match="does not match its recorded SHA-256"):
        et.branch(src, {"x": {}}, steps=2, step=10)
    assert not (src / "branches" / "x").exists()  # nothing left behind


@pytest.mark.slow
def test_a_branch_of_a_branch_after_its_fork_replays_from_the_fork(tmp_path, sources, whole_sgd):
    b = et.branch(sources / "plain", {"b": {}}, steps=5, out=tmp_path)["b"]  # steps 15 -> 20
    assert sorted(p.name for p in (b.out / "checkpoints").glob("*.pt")) == [f"step_{15:09d}.pt"]  # the fork, kept
    c = et.branch(b.out, {"c": {}}, steps=3, step=17, out=tmp_path)["c"]
    same_run(c, whole_sgd)
    origin = json.loads((c.out / "config.json").read_text())["branch"]
    assert origin["replayed_from"] == 15 and origin["replay_exact"] is True
