"""Plateau detection and the momentum regime on synthetic series with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eostheory._errors import EosInputError
from eostheory.analysis.plateau import autocorrelation_time, plateau, regime, regime_report


def ar1(n: int, phi: float, sd: float, mean: float, seed: int) -> np.ndarray:
    """AR(1) around ``mean`` with stationary standard deviation ``sd``."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0, sd * math.sqrt(1 - phi**2), n)
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return mean + x


def test_ar1_plateau_detected_and_interval_covers() -> None:
    # AR(1), phi = 0.8 (tau = 9), sd 0.3 around 10: the tail of 1000 records has ~110
    # effective samples, so the drift interval is about +-0.15 wide, well inside 5% of 10.
    hits = 0
    for seed in range(20):
        p = plateau(ar1(2000, 0.8, 0.3, 10.0, seed))
        assert p.plateaued, p.reason
        hits += p.ci[0] <= 10.0 <= p.ci[1]
    # a 95% interval covers in 20 trials at least 16 times except with probability ~1.6%
    # (binomial); seeds are fixed so this is deterministic, and a naive i.i.d. interval
    # (ignoring tau = 9, three times too narrow) covers only ~50%.
    assert hits >= 16


def test_autocorrelation_time_of_ar1() -> None:
    # tau = (1+phi)/(1-phi) = 9 for phi = 0.8; with 20000 records the initial-positive-
    # sequence estimator is within ~10% (its relative error is ~sqrt(2 M / N) for a window M ~ 5 tau)
    tau = autocorrelation_time(ar1(20000, 0.8, 1.0, 0.0, 1))
    assert tau == pytest.approx(9.0, rel=0.15)
    assert autocorrelation_time(np.ones(50)) == 1.0


def test_linear_drift_refused() -> None:
    # the series rises 10 -> 12; over the tail (half) it rises 1, i.e. 9% of its mean > 5%
    t = np.arange(2000)
    x = 10 + 2 * t / 2000 + np.random.default_rng(0).normal(0, 0.05, t.size)
    p = plateau(x)
    assert not p.plateaued
    assert p.drift == pytest.approx(1.0, rel=0.05)  # fitted drift across the tail is the true 1.0
    assert p.drift_ci[0] <= 1.0 <= p.drift_ci[1]


def test_small_drift_in_large_noise_is_not_a_plateau() -> None:
    # noise sd 3 on a mean of 10 with strong correlation: the drift interval is wider than
    # +-5% of the mean, so the equivalence test refuses although no drift is significant
    p = plateau(ar1(400, 0.95, 3.0, 10.0, 3))
    assert not p.plateaued
    assert p.drift_ci[0] < 0 < p.drift_ci[1] or abs(p.drift) > 0.5


def test_step_change_in_tail_refused() -> None:
    x = np.r_[np.full(1500, 10.0), np.full(500, 11.0)] + np.random.default_rng(2).normal(0, 0.01, 2000)
    assert not plateau(x).plateaued


def test_short_nonfinite_and_none() -> None:
    assert not plateau([1.0] * 10).plateaued
    x = list(ar1(200, 0.5, 0.1, 5.0, 0))
    x[-1] = math.inf
    assert "infinite" in plateau(x).reason
    y: list[float | None] = [None if i % 2 else 5.0 for i in range(200)]
    p = plateau(y)
    assert p.plateaued and p.value == 5.0 and p.n_tail == 50


@pytest.mark.parametrize("bad", [{"tail": 0}, {"tail": 1.5}, {"n_batches": 2}, {"level": 1.0}, {"rtol": 0}])
def test_bad_options(bad: dict) -> None:
    with pytest.raises(EosInputError):
        plateau(np.ones(100), **bad)


def test_regime_thresholds() -> None:
    eta, beta = 0.01, 0.9
    low, high = 2 * 0.1 / eta, 2 * 1.9 / eta  # 20 and 380
    r = regime(21.0, eta, beta)
    assert r["regime"] == "small-batch" and r["low"] == pytest.approx(low) and r["ratio_low"] == pytest.approx(1.05)
    assert regime(370.0, eta, beta)["regime"] == "full-batch"
    r = regime(200.0, eta, beta)
    assert r["regime"] == "between" and r["position"] == pytest.approx((200 - low) / (high - low))
    assert regime(10.0, eta, beta)["regime"] == "below"
    assert regime(500.0, eta, beta)["regime"] == "above"
    assert regime(2 / eta, eta, 0.0)["regime"] == "edge"
    with pytest.raises(EosInputError):
        regime(1.0, -1.0, 0.5)
    with pytest.raises(EosInputError):
        regime(1.0, 0.1, 1.0)


def test_regime_report_json() -> None:
    eta, beta = 0.02, 0.9
    bs = ar1(300, 0.5, 0.2, 2 * (1 - beta) / eta, 0)  # plateau at the low threshold 10
    lam = np.linspace(1, 100, 300)  # still rising
    rep = regime_report({"step": list(range(300)), "batch_sharpness": bs, "sharpness": lam}, eta, beta, 4, 128)
    json.dumps(rep, allow_nan=False)
    assert rep["measures"]["batch_sharpness"]["regime"] == "small-batch"
    assert rep["measures"]["batch_sharpness"]["ratio_low"] == pytest.approx(1.0, abs=0.02)
    assert rep["measures"]["sharpness"]["regime"] is None
    assert not rep["full_batch"] and set(rep["measures"]) == {"batch_sharpness", "sharpness"}
    json.dumps(regime_report([1.0, 2.0], eta, beta, None, 128), allow_nan=False)  # too short: None, not NaN
    with pytest.raises(EosInputError):
        regime_report(bs, eta, beta, 0, 128)


@pytest.mark.torch
def test_train_json_carries_the_momentum_regime(tmp_path, capsys) -> None:
    # a short SGD + momentum run: the JSON summary has the regime report with both
    # thresholds 2(1-beta)/eta and 2(1+beta)/eta at the run's eta, and one entry per
    # tracked curvature series
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from eostheory.cli import main

    n0 = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = main(
            [
                "train", "--model", "mlp", "--data", "digits", "--n", "40", "--widths", "4",
                "--optimizer", "heavy-ball", "--eta", "0.05", "--beta", "0.9", "--batch-size", "8",
                "--steps", "40", "--track", "loss,sharpness,batch_sharpness", "--track-every", "5",
                "--out", str(tmp_path / "run"), "--json", "--no-progress",
            ]
        )  # fmt: skip
    finally:
        torch.set_num_threads(n0)
    assert code == 0
    reg = json.loads(capsys.readouterr().out)["regime"]
    assert set(reg) == {"eta", "beta", "batch_size", "n", "full_batch", "low", "high", "measures"}
    assert reg["low"] == pytest.approx(2 * 0.1 / 0.05) and reg["high"] == pytest.approx(2 * 1.9 / 0.05)
    assert reg["batch_size"] == 8 and reg["n"] == 40 and reg["full_batch"] is False
    assert set(reg["measures"]) == {"sharpness", "batch_sharpness"}
    for m in reg["measures"].values():
        assert "plateaued" in m and "regime" in m
