"""Learning-rate schedules, weight decay and the SGD thresholds on the torch training path."""

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


# ---------------------------------------------------------------- the schedules themselves (closed forms)

SHAPES = [
    # spec, steps of the run, {t: f(t)} from the formulas in the module docstring
    ("constant", 10, {0: 1.0, 9: 1.0}),
    ("warmup:steps=4", 10, {0: 0.25, 1: 0.5, 3: 1.0, 9: 1.0}),
    ("cosine", 10, {0: 1.0, 5: 0.5, 10: 0.0, 15: 0.0}),
    ("cosine:final=0.2,steps=8", 100, {0: 1.0, 2: 0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi / 4)), 8: 0.2, 50: 0.2}),
    ("cosine:warmup=2,final=0.1", 10, {0: 0.5, 1: 1.0, 2: 1.0, 6: 0.55, 10: 0.1}),
    ("step:every=3,factor=0.5", 10, {0: 1.0, 2: 1.0, 3: 0.5, 8: 0.25, 9: 0.125}),
]


@pytest.mark.parametrize("spec,steps,values", SHAPES)
def test_schedule_shapes_are_their_closed_forms(spec, steps, values):
    s = et.parse_schedule(spec, steps=steps)
    for t, f in values.items():
        assert s(t) == pytest.approx(f, rel=1e-15, abs=1e-15), (spec, t)
    assert et.parse_schedule(s.spec()) == s  # the canonical text parses back to the same schedule
    assert s.eta(0, 0.3) == pytest.approx(0.3 * s(0), rel=1e-15)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("linear", "unknown schedule 'linear'; known: constant, warmup, cosine, step"),
        ("cosine:warmup=10,steps=10", "must be shorter than steps"),
        ("cosine:final=1.5", r"final must be in \[0, 1\]"),
        ("cosine:decay=2", "has no option 'decay'; its options: warmup, final, steps"),
        ("cosine:warmup=2,warmup=3", "gives warmup twice"),
        ("cosine:warmup=1.5", "whole number"),
        ("step:every=5", "needs factor"),
        ("step:every=0,factor=0.5", "every must be >= 1"),
        ("step:every=5,factor=0", "factor must be > 0"),
        ("step:every=5,factor=nan", "finite"),
        ("step:every=5,factor=__import__('os')", "must be a number"),
        ("warmup:steps", "key=value"),
    ],
)
def test_bad_schedules_are_one_clear_error(spec, match):
    with pytest.raises(EosInputError, match=match):
        et.parse_schedule(spec, steps=10)


# ---------------------------------------------------------------- runs against torch.optim


def problem():
    data = et.gaussian_mixture(24, dim=4, classes=3, seed=1)
    return data, et.build_model("mlp", data, widths=(7,), seed=3)


def torch_reference(make, steps, factor=None):
    """``steps`` steps of a torch.optim optimizer (``make(p)``) on the problem, with LambdaLR(factor) if given."""
    data, model = problem()
    obj = et.NetworkObjective(model, data, "mse", device="cpu", dtype="float64")
    p = torch.nn.Parameter(obj.theta0.clone())
    opt = make(p)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, factor) if factor is not None else None
    for _ in range(steps):
        opt.zero_grad()
        obj.loss(p).backward()
        opt.step()
        if sch is not None:
            sch.step()
    return p.detach(), obj.theta0


def ours(steps, **kw):
    data, model = problem()
    return et.train(model, data, steps=steps, track="", track_every=steps, device="cpu", dtype="float64", **kw)


COSINE = "cosine:warmup=10,final=0.1"
TORCH_CASES = {
    # name: (our arguments, torch optimizer, schedule spec or None)
    "sgd-momentum-cosine": (
        {"optimizer": "heavy-ball", "eta": 0.05, "beta": 0.9, "schedule": COSINE},
        lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9),
        COSINE,
    ),
    "sgd-momentum-weight-decay": (
        {"optimizer": "heavy-ball", "eta": 0.05, "beta": 0.9, "weight_decay": 0.01},
        lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9, weight_decay=0.01),
        None,
    ),
    "gd-weight-decay-step": (
        {"eta": 0.1, "weight_decay": 0.05, "schedule": "step:every=30,factor=0.5"},
        lambda p: torch.optim.SGD([p], lr=0.1, weight_decay=0.05),
        "step:every=30,factor=0.5",
    ),
    "adam-coupled": (
        {"optimizer": "adam", "eta": 1e-2, "weight_decay": 0.01},
        lambda p: torch.optim.Adam([p], lr=1e-2, weight_decay=0.01),
        None,
    ),
    "adamw-decoupled": (
        {"optimizer": "adam", "eta": 1e-2, "weight_decay": 0.1, "decoupled": True},
        lambda p: torch.optim.AdamW([p], lr=1e-2, weight_decay=0.1),
        None,
    ),
    "adamw-warmup": (
        {"optimizer": "adam", "eta": 1e-2, "weight_decay": 0.1, "decoupled": True, "schedule": "warmup:steps=20"},
        lambda p: torch.optim.AdamW([p], lr=1e-2, weight_decay=0.1),
        "warmup:steps=20",
    ),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_schedules_and_weight_decay_match_torch_optim_over_100_steps(case):
    kw, make, spec = TORCH_CASES[case]
    factor = None if spec is None else et.parse_schedule(spec, steps=100)
    ref, theta0 = torch_reference(make, 100, factor)
    r = ours(100, **kw)
    # float64, 100 steps: both evaluate the same operations up to their order (torch's
    # in-place updates, our expression tree), a few ulps per step -> 1e-12 relative is ample
    err = float((r.theta - ref).abs().max()) / float(ref.abs().max())
    assert err <= 1e-12, (case, err)
    assert float((ref - theta0).abs().max()) > 1e-3  # the runs moved
    # and the decay matters: without it the run ends elsewhere
    if kw.get("weight_decay"):
        plain = ours(100, **{k: v for k, v in kw.items() if k not in ("weight_decay", "decoupled")})
        assert float((plain.theta - ref).abs().max()) > 1e-6


# ---------------------------------------------------------------- thresholds


def thresholds_of(**kw):
    data = et.gaussian_mixture(24, dim=3, classes=3, seed=0)
    return et.train("mlp", data, steps=0, track="", device="cpu", model_kwargs={"widths": (4,)}, **kw).thresholds


ETA, BETA, WD = 0.1, 0.9, 0.5


@pytest.mark.parametrize(
    "kw,expected",
    [
        # full batch: one threshold, the linear stability of the step
        ({"optimizer": "heavy-ball", "beta": BETA}, {"full-batch": 2 * (1 + BETA) / ETA}),
        # plain SGD: 2/eta for both regimes, so only one
        ({"batch_size": 8}, {"full-batch": 2 / ETA}),
        # momentum SGD: 2(1+beta)/eta and the small-batch plateau 2(1-beta)/eta
        (
            {"optimizer": "heavy-ball", "beta": BETA, "batch_size": 8},
            {"full-batch": 2 * (1 + BETA) / ETA, "small-batch": 2 * (1 - BETA) / ETA},
        ),
        (
            {"optimizer": "nesterov", "beta": BETA, "batch_size": 8},
            {"full-batch": 2 * (1 + BETA) / (ETA * (1 + 2 * BETA)), "small-batch": 2 * (1 - BETA) / ETA},
        ),
        # EMA momentum's step on a constant gradient is eta: its small-batch line is 2/eta
        (
            {"optimizer": "ema-momentum", "beta": BETA, "batch_size": 8},
            {"full-batch": 2 * (1 + BETA) / (ETA * (1 - BETA)), "small-batch": 2 / ETA},
        ),
        # coupled weight decay: H + lambda I, both lines move down by lambda
        (
            {"optimizer": "heavy-ball", "beta": BETA, "batch_size": 8, "weight_decay": WD},
            {"full-batch": 2 * (1 + BETA) / ETA - WD, "small-batch": 2 * (1 - BETA) / ETA - WD},
        ),
        # decoupled: w <- w - eta*v - eta*lambda*w; root at z = -1 where h = (1+beta)(2/eta - lambda),
        # and on a constant gradient the step is -eta/(1-beta) (g + (1-beta) lambda w)
        (
            {"optimizer": "heavy-ball", "beta": BETA, "batch_size": 8, "weight_decay": WD, "decoupled": True},
            {"full-batch": (1 + BETA) * (2 / ETA - WD), "small-batch": (1 - BETA) * (2 / ETA - WD)},
        ),
    ],
)
def test_thresholds_full_and_small_batch(kw, expected):
    th = thresholds_of(eta=ETA, **kw)
    assert th.keys() == expected.keys()
    for k, v in expected.items():
        assert th[k] == pytest.approx(v, rel=1e-12), k


def test_the_records_follow_the_schedule(tmp_path, capsys):
    data = ["--data", "gaussian-mixture", "--n", "24", "--data-opt", "dim=3,classes=3", "--widths", "4"]
    argv = ["train", *data, "--optimizer", "heavy-ball", "--beta", "0.5", "--batch-size", "8", "--eta", "0.2"]
    argv += ["--steps", "12", "--track", "grad-norm", "--track-every", "3", "--schedule", "step:every=4,factor=0.5"]
    argv += ["--device", "cpu", "--dtype", "float64", "--out", str(tmp_path / "run"), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["schedule"] == "step:every=4,factor=0.5"
    s = doc["series"]
    eta_t = [0.2 * 0.5 ** (t // 4) for t in s["step"]]
    assert s["step"] == [0, 3, 6, 9, 12]
    assert s["eta"] == pytest.approx(eta_t, rel=1e-15)
    assert s["threshold"] == pytest.approx([3 / e for e in eta_t], rel=1e-12)  # 2(1+beta)/eta_t
    assert s["threshold_small_batch"] == pytest.approx([1 / e for e in eta_t], rel=1e-12)  # 2(1-beta)/eta_t
    assert doc["thresholds"] == pytest.approx({"full-batch": 15.0, "small-batch": 5.0}, rel=1e-12)
    assert (tmp_path / "run" / "training.png").stat().st_size > 1000
    # the plot's threshold line is the recorded one, record by record
    from eostheory.analysis.torch_plots import _threshold_lines

    r = et.resume(tmp_path / "run")  # the completed run, read back (nothing left to compute)
    assert r.series["eta"] == s["eta"]
    lines = {k: a for k, a, _ in _threshold_lines(r, et.MEASURES["sharpness"], r.config.hyperparameters)}
    assert np.array_equal(lines["full-batch"], np.asarray(r.series["threshold"]))
    assert np.array_equal(lines["small-batch"], np.asarray(r.series["threshold_small_batch"]))
    # resume refuses a changed schedule, with one line
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--schedule", "cosine", "--steps", "20"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differs in schedule" in err, err
    # a branch may change it (and the weight decay): its rates after the fork follow the new one
    argv = ["train", "--from", str(tmp_path / "run"), "--branch", "cos", "--steps", "6", "--schedule", "cosine"]
    assert main([*argv, "--set", "weight_decay=0.01", "--device", "cpu", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["config"]["schedule"] == "cosine:warmup=0,final=0.0,steps=18" and b["config"]["weight_decay"] == 0.01
    cos = et.parse_schedule("cosine", steps=18)
    assert b["series"]["eta"][-2:] == pytest.approx([0.2 * cos(15), 0.2 * cos(18)], rel=1e-15)
    assert b["series"]["eta"][:5] == s["eta"]  # the history up to the fork is the source's


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--schedule", "cosine:warmup=200"], "shorter than steps"),
        (["--schedule", "bogus"], "unknown schedule"),
        (["--weight-decay", "-1"], "weight_decay must be a finite number >= 0"),
        (["--decoupled"], "give weight_decay > 0"),
        (["--checkpoint-every", "7", "--out", "{tmp}/x"], "multiple of track_every"),
    ],
)
def test_cli_bad_schedule_and_weight_decay_are_one_line(tmp_path, capsys, extra, match):
    argv = ["train", "--eta", "0.1", "--steps", "20", "--device", "cpu", "--data", "gaussian-mixture", "--n", "24"]
    assert main([*argv, *[a.format(tmp=tmp_path) for a in extra]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
