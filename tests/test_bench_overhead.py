"""benchmarks/bench_train_overhead.py runs (``--quick``) and reports every built-in measure."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402

pytestmark = pytest.mark.torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_overhead.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_train_overhead", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_prints_the_table_with_every_builtin_measure(tmp_path, capsys):
    n_threads = torch.get_num_threads()
    try:
        rc = _load().main(["--quick", "--json", str(tmp_path / "o.json")])
    finally:
        torch.set_num_threads(n_threads)
    assert rc == 0
    out = capsys.readouterr().out
    assert "plain torch.optim.SGD" in out and "eostheory train, loss only" in out and "ratio" in out
    rows = {ln.split()[0] for ln in out.splitlines() if ln.strip()}
    for name in et.TRACKABLE:
        assert name in rows, name
    res = json.loads((tmp_path / "o.json").read_text())
    assert list(res["measures"]) == list(et.TRACKABLE)
    o = res["overhead"]
    assert o["plain_sgd_steps_per_s"] > 0 and o["train_steps_per_s"] > 0
    assert o["ratio"] == pytest.approx(o["plain_sgd_steps_per_s"] / o["train_steps_per_s"])
    for name, c in res["measures"].items():
        assert c["measured"] >= 0 and c["nominal"] == et.MEASURES[name].cost
    assert res["setting"]["threads"] == 1 and res["setting"]["dtype"] == "float32"
