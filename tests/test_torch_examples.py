"""The torch worked examples run (quick mode) and show what they claim."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.torch

EXAMPLES = Path(__file__).resolve().parents[1] / "worked_examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_digits_edge_quick(tmp_path):
    summary = load("torch_digits_edge").main(["--quick", "--device", "cpu", "--out", str(tmp_path)])
    s = summary[0.4]
    assert s["initial_sharpness"] < 0.8 * s["threshold"]  # starts below 2/eta
    assert s["first_step_at_95pct"] is not None  # progressive sharpening reaches the edge
    assert abs(s["last_third_mean"] - s["threshold"]) <= 0.1 * s["threshold"]  # and stays there
    assert (tmp_path / "sharpness.png").exists() and (tmp_path / "eta0.4" / "metrics.jsonl").exists()


def test_gpu_script_runs_on_cpu():
    out = load("torch_gpu_edge").main(["--quick", "--device", "cpu"])
    assert out["device"] == "cpu" and out["threshold"] == pytest.approx(10.0)
    assert out["eigenvalues_start"][0] >= out["eigenvalues_start"][1] >= out["eigenvalues_start"][2]
