"""``train(on_step=..., on_step_every=k)``: the callback's state, stopping cleanly, and what it leaves."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402

pytestmark = pytest.mark.torch

KW = {
    "eta": 0.2,
    "steps": 12,
    "track": ["loss", "sharpness"],
    "track_every": 4,
    "device": "cpu",
    "dtype": "float64",
    "model_kwargs": {"widths": [8]},
}


@pytest.fixture(scope="module")
def data():
    return et.digits(n=60)


def test_callback_sees_the_measure_state_and_changes_nothing(data):
    seen = []

    def cb(state):
        assert isinstance(state, et.MeasureState)
        seen.append((state.step, state.loss, float(state.gradient.norm()), float(state.w.norm())))

    plain = et.train("mlp", data, **KW)
    r = et.train("mlp", data, on_step=cb, on_step_every=3, **KW)
    assert [s[0] for s in seen] == [0, 3, 6, 9]
    assert r.status == "completed" and torch.equal(r.theta, plain.theta)
    assert r.series == {k: v for k, v in plain.series.items() if k != "time"} | {"time": r.series["time"]}
    # at a step that is also a record, the callback's loss is the recorded full-batch loss
    rec = dict(zip(r.series["step"], r.series["loss"], strict=True))
    by_step = {s[0]: s for s in seen}
    assert by_step[0][1] == rec[0]
    # its gradient is the full-batch gradient of the state it is given
    obj = et.NetworkObjective(et.build_model("mlp", data, seed=0, widths=[8]), data, "mse", dtype="float64")
    _, g0 = obj.value_and_grad(obj.theta0)
    assert by_step[0][2] == pytest.approx(float(g0.norm()), rel=1e-12)


def test_callback_on_sgd_sees_the_full_batch_loss(data):
    losses = {}

    def cb(state):
        losses[state.step] = state.loss  # returns None: the run goes on

    r = et.train("mlp", data, batch_size=10, on_step=cb, on_step_every=4, **KW)
    rec = dict(zip(r.series["step"], r.series["loss"], strict=True))
    assert sorted(losses) == [0, 4, 8]
    for t in (0, 4, 8):  # the same as the recorded full-batch loss, not the batch loss of the step
        assert losses[t] == pytest.approx(rec[t], rel=1e-12)


def _return_true(state):
    return state.step >= 5


def _raise(state):
    if state.step >= 5:
        raise et.StopTraining("loss low enough")


@pytest.mark.parametrize(
    "cb, words",
    [(_return_true, "it returned True"), (_raise, "loss low enough")],
    ids=["returns-truthy", "raises-StopTraining"],
)
def test_stopping_is_clean_and_recorded(data, tmp_path, cb, words):
    out = tmp_path / "run"
    r = et.train("mlp", data, on_step=cb, on_step_every=5, out=out, **KW)
    assert r.status == "stopped" and r.steps_done == 5
    assert "stopped by on_step at step 5" in r.message and words in r.message
    assert r.series["step"] == [0, 4, 5] and len(r.step_loss) == 5
    assert json.loads((out / "checkpoint.json").read_text())["status"] == "stopped"
    assert json.loads((out / "result.json").read_text())["status"] == "stopped"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in lines] == [0, 4, 5]
    # the stopped run resumes to the end, and then equals the uninterrupted run (CPU, bit for bit)
    full = et.train("mlp", data, **KW)
    rr = et.train("mlp", data, out=out, resume=True, **KW)
    assert rr.status == "completed" and torch.equal(rr.theta, full.theta)
    np.testing.assert_array_equal(rr.step_loss, full.step_loss)


@pytest.mark.parametrize(
    "kw, match",
    [({"on_step": 3}, "on_step must be a callable"), ({"on_step": print, "on_step_every": 0}, "on_step_every")],
)
def test_bad_callback_arguments(data, kw, match):
    with pytest.raises(EosInputError, match=match):
        et.train("mlp", data, **{**KW, **kw})
