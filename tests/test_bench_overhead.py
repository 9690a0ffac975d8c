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


def test_sequential_fast_path_equals_functional_call() -> None:
    """The F.linear plan of an MLP gives exactly the numbers of torch.func.functional_call."""
    from eostheory.torch._models import build_model
    from eostheory.torch._objective import NetworkObjective

    data = et.digits(n=40)
    obj = NetworkObjective(build_model("mlp", data, widths=(16, 8), seed=1), data, dtype="float64")
    assert obj._layers is not None
    th = obj.theta0 + 0.01
    L1, g1 = obj.value_and_grad(th)
    reference = torch.func.functional_call(obj.model, obj.params(th), (obj.x,))
    assert torch.equal(obj.forward(th), reference)
    obj._layers = None  # the general path
    L2, g2 = obj.value_and_grad(th)
    assert torch.equal(L1, L2) and torch.equal(g1, g2)
    cnn = NetworkObjective(build_model("cnn", et.digits(n=8), seed=0), et.digits(n=8), dtype="float64")
    assert cnn._layers is None  # convolutions: functional_call
