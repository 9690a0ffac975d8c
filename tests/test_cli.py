"""The command line: --help everywhere, JSON contracts, run directories, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eostheory.cli import _commands, main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [m.NAME for m in _commands()])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--json" in out and "--out" in out


def test_run_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "run", "--potential", "selfstab", "--eta", "0.45", "--x0", "0.01,1.5", "--steps", "5000", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "oscillating" and data["steps"] == 5000
    for key in ("final", "average"):
        assert set(data[key]) >= {"params", "loss", "sharpness"}
    y = data["average"]["params"][1]
    assert abs(1 + y * y - 2 / 0.45) < 1e-6


def test_run_formula_with_constants(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "run",
        "--potential",
        "(S/2)*w**2 - (Q/4)*w**4",
        "--set",
        "S=2,Q=0.5",
        "--eta",
        "1.25",
        "--x0",
        "0.05",
        "--steps",
        "20000",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert abs(abs(data["final"]["params"][0]) - ((2 - 2 / 1.25) / 0.5) ** 0.5) < 1e-8


def test_run_diverges_with_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, "run", "--potential", "selfstab", "--eta", "0.9", "--x0", "0.01,1.5", "--steps", "1000", "--json"
    )
    assert code == 0
    data = json.loads(out)  # strict JSON: no NaN or Infinity
    assert data["status"] == "diverged"


def test_run_out_directory(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "run"
    code, _, _ = _run(
        capsys, "run", "--potential", "quartic", "--eta", "2.5", "--x0", "0.1", "--steps", "2000", "--out", str(out_dir)
    )
    assert code == 0
    for name in ("config.json", "result.json", "arrays.npz", "run.png"):
        assert (out_dir / name).is_file(), name
    assert json.loads((out_dir / "config.json").read_text())["optimizer"] == "gd"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--potential", "selfstab", "--eta", "0", "--x0", "0,1"], "eta must be > 0"),
        (["--potential", "selfstab", "--eta", "-0.1", "--x0", "0,1"], "eta must be > 0"),
        (
            ["--potential", "selfstab", "--eta", "0.1", "--beta", "1.2", "--optimizer", "heavy-ball", "--x0", "0,1"],
            "beta",
        ),
        (["--potential", "selfstab", "--eta", "0.1", "--x0", "0,1,2"], "x0 has length 3"),
        (["--potential", "selfstab", "--eta", "0.1", "--x0", "0,nan"], "finite"),
        (["--potential", "selfstab", "--eta", "inf", "--x0", "0,1"], "finite"),
        (["--potential", "x*y + z", "--params", "x,y", "--eta", "0.1", "--x0", "0,1"], "undeclared symbol"),
        (["--potential", "foo(x)", "--eta", "0.1", "--x0", "0"], "unknown function"),
        (["--potential", "no-such-toy", "--eta", "0.1", "--x0", "0"], "unknown potential"),
        (["--potential", "quartic", "--set", "Z=1", "--eta", "0.1", "--x0", "0"], "no constant"),
        (["--potential", "quartic", "--set", "S", "--eta", "0.1", "--x0", "0"], "NAME=VALUE"),
        (["--potential", "selfstab", "--eta", "abc", "--x0", "0,1"], "must be a number"),
    ],
)
def test_bad_input_one_line_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "run", *argv)
    assert code == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_optimizer_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--potential", "selfstab", "--optimizer", "adamw", "--eta", "0.1", "--x0", "0,1"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_check_json_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "check", "--group", "optimizers", "--json")
    data = json.loads(out)
    assert code == 0 and data["passed"] and data["n_failed"] == 0
    assert {"name", "value", "expected", "tolerance", "passed"} <= set(data["checks"][0])


def test_check_reports_failure(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A failing check makes the table say FAIL and the exit status 1."""
    import eostheory.checks as checks

    registry = [checks.Check(lambda: checks.close("deliberately wrong", 1.0, 2.0, 1e-9), "demo")]
    monkeypatch.setattr(checks, "registry", lambda: registry)
    code, out, _ = _run(capsys, "check")
    assert code == 1
    assert "FAIL" in out and "1 failed" in out


def test_module_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "eostheory", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "check" in proc.stdout and "run" in proc.stdout
