"""The worked examples of the flows run in their quick mode and write their figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "worked_examples").glob("flow_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_quick(path: Path, tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "figures in" in out
    pngs = list(tmp_path.rglob("*.png"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)


def test_there_is_one_example_per_model() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"flow_gradient", "flow_central", "flow_rod", "flow_edge", "flow_selfstab", "flow_heavy_ball"} <= names
