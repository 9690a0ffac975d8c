"""``eostheory run --net …``: a symbolic net in place of a potential, and its input errors."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from eostheory.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_two_layer_net_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "run", "--net", "two-layer", "--width", "3", "--activation", "tanh", "--data", "teacher",
        "--n", "16", "--input-dim", "2", "--seed", "0", "--optimizer", "gd", "--eta", "0.05",
        "--steps", "300", "--json",
    )  # fmt: skip
    assert code == 0
    res = json.loads(out)
    assert res["config"]["potential"].startswith("two-layer(width=3, tanh, d=2, bias, mse) on teacher[16]")
    assert len(res["final"]["params"]) == 3 * 2 + 3 + 3 == len(res["config"]["params"])
    assert res["config"]["constants"] == {}
    # the default start is the seeded initialization (seed + 1)
    from eostheory.symbolic.data import teacher
    from eostheory.symbolic.nets import two_layer

    net = two_layer(3, teacher(16, 2, seed=0), activation="tanh")
    assert res["config"]["x0"] == pytest.approx(net.initial_point(1).tolist())
    from eostheory.compile import compile_potential

    cp = compile_potential(net, "python")
    assert res["final"]["loss"] < cp.loss(net.initial_point(1), cp.constants())  # training made progress


def test_run_net_with_a_custom_activation_and_constant(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "run", "--net", "two-layer", "--width", "2", "--activation", "softplus(beta*z)/beta", "--set", "beta=4",
        "--n", "8", "--eta", "0.1", "--steps", "50", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["config"]["constants"] == {"beta": 4.0}
    code, _, err = _run(capsys, "run", "--net", "two-layer", "--set", "gamma=1", "--eta", "0.1", "--steps", "5")
    assert code == 2 and "not used by the activation" in err


def test_run_chain_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "run", "--net", "chain", "--depth", "2", "--eta", "0.3", "--x0", "3,0.1", "--steps", "3000"
    )
    assert code == 0
    assert "chain(depth=2, mse) on point[1]" in out and "status     converged" in out


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--potential", "selfstab", "--net", "two-layer"], "either --potential or --net"),
        ([], "give --potential"),
        (["--net", "two-layer", "--width", "0"], "width must be > 0"),
        (["--net", "two-layer", "--activation", "relu"], "not smooth"),
        (["--net", "two-layer", "--activation", "bogus"], "unsupported activation"),
        (["--potential", "selfstab"], "--x0 is required"),
        (["--potential", "selfstab", "--x0", "0,1", "--width", "3"], "apply only with --net"),
        (["--net", "two-layer", "--width", "2", "--x0", "1,2"], "length 2, expected 8"),
        (["--net", "chain", "--width", "3"], "does not apply"),
        (["--net", "two-layer-linear", "--activation", "tanh"], "apply to --net two-layer"),
        (["--net", "two-layer", "--loss", "logistic"], "labels -1 or"),
        (["--net", "two-layer", "--params", "a,b"], "--params applies"),
        (["--net", "two-layer", "--n", "abc"], "must be an integer"),
    ],
)
def test_run_net_bad_input(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    code, _, err = _run(capsys, "run", *argv, "--eta", "0.1", "--steps", "10")
    assert code == 2
    assert words in err and err.count("\n") == 1


def test_worked_example_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = ROOT / "worked_examples" / "two_layer_edge.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--quick", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(script), run_name="__main__")
    assert exc.value.code == 0
    res = json.loads((tmp_path / "results.json").read_text())
    s_gf = res["gradient_flow_sharpness"]
    edge = [r for r in res["rows"] if r["method"] == "GD" and r["2/eta"] < s_gf]
    assert edge and all(r["status"] == "converged" and r["sharpness"] <= r["2/eta"] < s_gf for r in edge)
    small = next(r for r in res["rows"] if r["method"] == "GD" and r["eta"] == 0.01)
    assert small["sharpness"] == pytest.approx(s_gf, rel=1e-3)  # small-step GD tracks gradient flow
    assert (tmp_path / "sharpness.png").stat().st_size > 0 and "| GD |" in (tmp_path / "table.md").read_text()
