"""Every worked example runs in its quick mode (examples are tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

# the torch and flow examples have their own tests with stronger assertions
# (tests/test_torch_examples.py, tests/test_flows_examples.py)
EXAMPLES = sorted(
    p
    for p in (Path(__file__).resolve().parent.parent / "worked_examples").glob("*.py")
    if not p.stem.startswith(("torch_", "flow_"))
)


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# examples with a numbers test below run once, there (it checks the figure as well)
NUMBERED = ("gd_edge_of_stability", "equilibria")
QUICK = [p for p in EXAMPLES if p.stem not in NUMBERED]


@pytest.mark.parametrize("path", QUICK, ids=[p.stem for p in QUICK])
def test_example_quick(path: Path, tmp_path: Path) -> None:
    mod = _load(path)
    mod.main(["--quick", "--out", str(tmp_path)])
    assert any(tmp_path.rglob("*.png")), "the example saved no figure"


def test_gd_example_numbers(tmp_path: Path) -> None:
    """The quick self-stabilization example reproduces 1 + y² = 2/η and x² = (2 − y)/y."""
    rows = _load(EXAMPLES[[p.stem for p in EXAMPLES].index("gd_edge_of_stability")]).main(
        ["--quick", "--out", str(tmp_path)]
    )
    cyc = [r for r in rows if r["status"] == "oscillating"]
    assert len(cyc) == 2
    for r in cyc:
        assert abs(r["1+y^2"] - 2 / r["eta"]) < 1e-6
        assert abs(r["x^2"] - (2 - r["y"]) / r["y"]) < 1e-6
    assert rows[-1]["status"] == "diverged"
    assert any(tmp_path.rglob("*.png")), "the example saved no figure"


def test_equilibria_example_numbers(tmp_path: Path) -> None:
    """The quick equilibria example: compiled GD's w² equals the derived (S − 2/η)/Q to 1e-10."""
    rows = _load(EXAMPLES[[p.stem for p in EXAMPLES].index("equilibria")]).main(["--quick", "--out", str(tmp_path)])
    assert len(rows) == 4
    for r in rows:
        assert r["status"] == "oscillating"
        assert abs(r["measured"] - r["derived"]) < 1e-10
        assert abs(r["derived"] - (1 - 2 / r["eta"])) < 1e-12
    assert any(tmp_path.rglob("*.png")), "the example saved no figure"
