"""The command line never takes bad input silently: one-line errors (exit 2) before any work,
names that must exist, strict JSON, and a first contact that fits on a screen."""

from __future__ import annotations

import io
import json
import math
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import eostheory.checks as checks
from eostheory._errors import EosInputError
from eostheory._json import dumps_strict, non_finite, write_json
from eostheory._validate import INT64_MAX, positive_int
from eostheory.cli import _commands, main
from eostheory.cli._common import validate_out_dir

RUN = ["run", "--eta", "0.1", "--x0", "0.1"]
COMPARE = ["compare", "--potential", "quartic", "--eta", "0.1", "--x0", "0.1"]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _strict_loads(text: str) -> object:
    """json.loads that refuses NaN and Infinity (Python's json accepts them by default)."""

    def refuse(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _assert_one_line_error(code: int, out: str, err: str, message: str) -> None:
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("eostheory "), err
    assert "Traceback" not in err
    assert message in err, err


# --- one-line errors, exit 2: each row is (argv, message) ------------------------------------------
BAD_INPUT = [
    # integer ranges, validated before the numba loop sees them
    pytest.param([*RUN, "--potential", "quartic", "--steps", "1e20"], "--steps must be at most", id="steps-1e20"),
    pytest.param(
        [*RUN, "--potential", "quartic", "--steps", "100000000000000000000"],
        "--steps must be at most 9,223,372,036,854,775,807",
        id="steps-int-overflow",
    ),
    pytest.param([*RUN, "--potential", "quartic", "--steps", "0"], "--steps must be > 0, got 0", id="run-steps-0"),
    pytest.param([*RUN, "--potential", "quartic", "--steps", "2.5"], "--steps must be an integer", id="steps-float"),
    pytest.param([*COMPARE, "--steps", "0"], "--steps must be > 0, got 0", id="compare-steps-0"),
    pytest.param([*COMPARE, "--steps", "2"], "--steps must be >= 3 for compare", id="compare-steps-2"),
    pytest.param(
        [*RUN, "--potential", "quartic", "--steps", "1e9", "--record-every", "1"],
        "--record-every 1 keeps 1,000,000,001 records",
        id="record-every-memory",
    ),
    pytest.param(
        [*COMPARE, "--steps", "1e9", "--flows", "gradient"], "compare keeps every step", id="compare-steps-memory"
    ),
    # names that must exist, with the nearest suggested
    pytest.param(
        [*RUN, "--potential", "nosuchtoy", "--steps", "10"],
        "unknown potential 'nosuchtoy'; known toys: quadratic-1d",
        id="unknown-toy",
    ),
    pytest.param(
        [*RUN, "--potential", "nosuchtoy", "--steps", "10"],
        "(to optimize the linear potential write it as a formula, e.g. '1*nosuchtoy')",
        id="unknown-toy-linear-hint",
    ),
    pytest.param(
        ["run", "--potential", "selfsta", "--eta", "0.1", "--x0", "0.1,1"],
        "unknown potential 'selfsta'; did you mean 'selfstab'?",
        id="typo-toy-before-x0-length",
    ),
    pytest.param([*RUN, "--potential", "quadratic_1d"], "did you mean 'quadratic-1d'", id="toy-underscore-for-hyphen"),
    pytest.param([*RUN, "--potential", "no-such-toy"], "unknown potential 'no-such-toy'", id="unknown-hyphenated"),
    pytest.param(["thresholds", "--flip", "nosuch"], "unknown potential 'nosuch'", id="flip-unknown-toy"),
    pytest.param(["thresholds", "--flip", "quartc"], "did you mean 'quartic'", id="flip-typo-toy"),
    pytest.param(["thresholds", "heavyball"], "unknown optimizer 'heavyball'; did you mean 'heavy-ball'?", id="opt"),
    pytest.param([*COMPARE, "--flows", "gradient,centrall"], "unknown flow 'centrall'; did you mean", id="flow"),
    pytest.param(["check", "--group", "nosuch"], "unknown check group(s) 'nosuch'", id="check-group-unknown"),
    pytest.param(["check", "--group", "optimizer"], "did you mean 'optimizers'?", id="check-group-typo"),
    pytest.param(["check", "--group", "nosuch"], "the groups are ", id="check-group-lists"),
    # input never silently ignored
    pytest.param(
        [*RUN, "--potential", "w**2", "--set", "Q=3"], "--set Q=3: Q does not appear in L(w) = w**2", id="unused-set"
    ),
    pytest.param(
        ["run", "--potential", "w**2", "--params", "w,v", "--eta", "0.1", "--x0", "0.1,1"],
        "--params w,v: v does not appear in",
        id="unused-param",
    ),
    pytest.param(["thresholds", "--flip", "w**2 + w**4", "--set", "Q=3"], "Q does not appear in", id="flip-unused-set"),
    pytest.param(
        [*COMPARE, "--steps", "100", "--window", "1000", "--flows", "gradient"],
        "--window 1000 is longer than the run: a 100-step run has 99 GD midpoints",
        id="window-longer-than-run",
    ),
    pytest.param(
        ["thresholds", "heavy-ball", "--verify", "eta=0.1,beta=0.9,Z=3"],
        "--verify needs exactly the hyperparameters beta, eta: Z not in the rule",
        id="verify-extra-name",
    ),
    # numerical dead ends of the symbolic analysis
    pytest.param(
        ["thresholds", "heavy-ball", "--set", "beta=1e308"],
        "did not converge",
        id="no-convergence",
    ),
    pytest.param(["thresholds", "--flip", "w**2/2"], "is undefined (infinite)", id="flip-degenerate-zoo"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT)
def test_bad_input_is_one_line_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, argv)
    _assert_one_line_error(code, out, err, message)
    assert "zoo" not in err and "NoConvergence:" not in err


# --- --out validated before any work, for every command but train ----------------------------------
OUT_COMMANDS = {
    "run": [*RUN, "--potential", "quartic", "--steps", "10"],
    "check": ["check", "--group", "optimizers"],
    "compare": [*COMPARE, "--steps", "10", "--flows", "gradient"],
    "thresholds": ["thresholds", "gd"],
    "potentials": ["potentials"],
    "optimizers": ["optimizers"],
}
OUT_CASES = [
    ("{file}/sub", "is a file, not a directory"),
    ("{file}", "exists and is not a directory"),
    ("{link}", "a dangling symbolic link"),
    ("", "--out is empty"),
]


@pytest.mark.parametrize("command", list(OUT_COMMANDS))
@pytest.mark.parametrize(("out", "message"), OUT_CASES)
def test_bad_out_dir_is_refused_before_work(
    command: str, out: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "afile"
    f.write_text("keep me")
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    target = out.format(file=f, link=link)
    code, out_text, err = _run(capsys, [*OUT_COMMANDS[command], "--out", target])
    _assert_one_line_error(code, out_text, err, message)
    assert f.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "dangling"]  # nothing written


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc (a directory no one can write)")
@pytest.mark.parametrize("command", list(OUT_COMMANDS))
def test_unwritable_out_dir_is_refused(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, [*OUT_COMMANDS[command], "--out", "/proc/eostheory-no-such-dir/run"])
    _assert_one_line_error(code, out, err, "cannot create files in /proc")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_out_dir_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(EosInputError, match="is not writable"):
            validate_out_dir(ro / "run")
    finally:
        ro.chmod(0o700)


def test_validate_out_dir_accepts_new_and_existing_directories(tmp_path: Path) -> None:
    assert validate_out_dir(tmp_path) == tmp_path
    assert validate_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # validated, not created


# --- listings written with --out --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "filename", "key"),
    [("potentials", "potentials.json", "quartic"), ("optimizers", "optimizers.json", "heavy-ball")],
)
def test_listing_out_writes_the_json_listing(
    command: str, filename: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, [command, "--json"])
    assert code == 0
    listing = _strict_loads(out)
    code, out, _ = _run(capsys, [command, "--out", str(tmp_path / "d")])
    assert code == 0 and "wrote" in out
    written = _strict_loads((tmp_path / "d" / filename).read_text())
    assert written == listing and key in written


# --- strict JSON ------------------------------------------------------------------------------------
def test_non_finite_run_writes_strict_json_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GD on log(w) from 0.3 with eta = 0.5 jumps to w < 0 at step 1, where the loss is not defined
    d = tmp_path / "run"
    argv = ["run", "--potential", "log(w)", "--x0", "0.3", "--eta", "0.5", "--steps", "10", "--out", str(d)]
    code, out, _ = _run(capsys, argv)
    assert code == 0
    assert "diverged" in out and "left the domain" in out
    result = _strict_loads((d / "result.json").read_text())
    config = _strict_loads((d / "config.json").read_text())
    assert isinstance(result, dict) and isinstance(config, dict)
    assert result["status"] == "diverged" and result["final"]["loss"] is None
    assert "first non-finite loss recorded at step 1" in result["message"]
    assert config["x0"] == [0.3]
    code, out, _ = _run(capsys, [*argv[:-2], "--json"])
    data = _strict_loads(out)
    assert isinstance(data, dict) and data["status"] == "diverged"


def test_a_start_outside_the_domain_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--potential", "log(w)", "--x0", "-1", "--eta", "0.1", "--steps", "10", "--out", str(tmp_path / "d")]
    code, _, err = _run(capsys, argv)
    assert code == 2 and "not finite at x0 = [-1.0]" in err and err.strip().count("\n") == 0
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("obj", "expected", "flagged"),
    [
        ({"a": float("nan")}, {"a": None, "non_finite": {"a": "nan"}}, {"a": "nan"}),
        ({"a": [1.0, float("inf")]}, {"a": [1.0, None], "non_finite": {"a[1]": "inf"}}, {"a[1]": "inf"}),
        ({"b": {"c": np.float64(-np.inf)}}, {"b": {"c": None}, "non_finite": {"b.c": "-inf"}}, {"b.c": "-inf"}),
        ({"d": np.array([np.nan, 2.0])}, {"d": [None, 2.0], "non_finite": {"d[0]": "nan"}}, {"d[0]": "nan"}),
        ({"e": 1.5, "f": "inf"}, {"e": 1.5, "f": "inf"}, {}),
    ],
)
def test_strict_json_nulls_and_names_non_finite_values(
    obj: dict, expected: dict, flagged: dict, tmp_path: Path
) -> None:
    assert _strict_loads(dumps_strict(obj, annotate=True)) == expected
    assert non_finite(obj) == flagged
    path = write_json(tmp_path / "x.json", obj)
    assert _strict_loads(path.read_text()) == {k: v for k, v in expected.items() if k != "non_finite"}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # the temporary file was renamed


# --- integers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10000", 10000),
        ("1e4", 10000),
        ("1E3", 1000),
        (" 7 ", 7),
        (3, 3),
        (3.0, 3),
        (np.int64(5), 5),
        (str(INT64_MAX), INT64_MAX),
    ],
)
def test_positive_int_accepts(value: object, expected: int) -> None:
    assert positive_int("steps", value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e20", "at most"),
        (str(INT64_MAX + 1), "at most"),
        ("2.5", "integer"),
        ("nan", "integer"),
        ("inf", "integer"),
        ("abc", "integer"),
        (True, "integer"),
        (0, "> 0"),
        ("-3", "> 0"),
        (2.5, "integer"),
    ],
)
def test_positive_int_refuses(value: object, message: str) -> None:
    with pytest.raises(EosInputError, match=message):
        positive_int("steps", value)


# --- first contact: check ---------------------------------------------------------------------------
LONG = "a check whose name is long enough to overflow a narrow table on its own, twice over"


def _fake_battery() -> list[checks.Check]:
    def good() -> list[checks.CheckResult]:
        return [checks.close(f"good {i}", 1.0, 1.0, 1e-9) for i in range(30)]

    def wide() -> checks.CheckResult:
        value = "x" * 150  # a 205-column table came from values like this
        return checks.CheckResult(LONG, value, value, None, True)

    def bad() -> checks.CheckResult:
        return checks.close("deliberately wrong", 1.0, 2.0, 1e-9, detail="the expected value is 2 " + "y" * 120)

    return [checks.Check(good, "alpha"), checks.Check(wide, "alpha"), checks.Check(bad, "beta")]


@pytest.fixture
def battery(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = _fake_battery()
    monkeypatch.setattr(checks, "registry", lambda: reg)


# (flags, lines that must appear, strings that must not, exit code)
CHECK_OUTPUT = [
    pytest.param(
        [],
        [
            "alpha      31       0     31",
            "beta        0       1      1",
            "FAIL beta: deliberately wrong: value 1, expected 2",
            "31 passed, 1 failed in",
        ],
        ["good 0", LONG],
        id="default-compact",
    ),
    pytest.param(
        ["--quiet"],
        ["FAIL beta: deliberately wrong", "31 passed, 1 failed in"],
        ["alpha", "good 0", "group"],
        id="quiet",
    ),
    pytest.param(["--verbose"], ["good 0", LONG, "y" * 120, "31 passed, 1 failed in"], [], id="verbose"),
]


@pytest.mark.parametrize(("flags", "present", "absent"), CHECK_OUTPUT)
def test_check_output_levels(
    flags: list[str], present: list[str], absent: list[str], battery: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, ["check", *flags])
    assert code == 1
    for s in present:
        assert s in out, (s, out)
    for s in absent:
        assert s not in out, (s, out)
    if "--verbose" not in flags:
        assert max(len(line) for line in out.splitlines()) <= 100
        assert len(out.splitlines()) <= 8
        assert err == ""  # stderr is not a terminal here: no progress bar, no per-check lines
    else:
        assert err.count("\n") == 32 and "FAIL beta: deliberately wrong" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("tty", "flags", "bar"),
    [(True, [], True), (False, [], False), (True, ["--quiet"], False), (True, ["--no-progress"], False)],
)
def test_progress_bar_only_on_a_terminal(
    tty: bool, flags: list[str], bar: bool, battery: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tqdm")
    stream = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main(["check", *flags]) == 1
    assert ("/3 [" in stream.getvalue()) == bar, stream.getvalue()  # tqdm's "k/3 [elapsed<left]"


def test_check_without_tqdm_has_no_bar(battery: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    assert main(["check"]) == 1
    assert stream.getvalue() == ""


def test_check_out_writes_strict_json_and_full_table(
    battery: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = _run(capsys, ["check", "--out", str(tmp_path)])
    assert code == 1
    data = _strict_loads((tmp_path / "checks.json").read_text())
    assert isinstance(data, dict) and data["n_checks"] == 32 and data["n_failed"] == 1
    table = (tmp_path / "checks.txt").read_text()
    assert LONG in table and "x" * 150 in table


def test_check_real_group_is_compact(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, ["check", "--group", "optimizers"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["group", "passed", "failed", "total", "time"]
    row = lines[2].split()
    assert row[0] == "optimizers" and row[2] == "0" and row[1] == row[3] and int(row[3]) >= 20
    assert max(map(len, lines)) <= 100 and len(lines) <= 6


# --- --help ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [None, *(m.NAME for m in _commands())])
def test_help_shows_no_double_percent(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"] if command is None else [command, "--help"])
    out = capsys.readouterr().out
    assert "%%" not in out
    if command in ("run", "compare"):
        assert "10% of" in out


# --- run.png -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("steps", "scale", "left"), [(5000, "log", 1.0), (100_000, "log", 1.0), (800, "linear", 0.0)])
def test_run_figure_step_axis_has_no_empty_half(steps: int, scale: str, left: float) -> None:
    from eostheory.analysis.plots import _pyplot, run_figure

    t = np.linspace(0, steps, 501)
    result = SimpleNamespace(
        t=t,
        loss=np.exp(-t / steps) + 0.1,
        sharpness=2.0 + np.tanh(t / 50),
        eta=0.5,
        status="oscillating",
        config=SimpleNamespace(optimizer="gd", potential="toy"),
    )
    fig = run_figure(result)
    try:
        ax = fig.axes[1]
        lo, hi = ax.get_xlim()
        assert ax.get_xscale() == scale
        assert lo == left and math.isclose(hi, steps)  # no negative steps, the whole run shown
    finally:
        _pyplot().close(fig)


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "d"
    (d / "potentials.json").mkdir(parents=True)  # the directory is fine, the file name is taken by a directory
    code, out, err = _run(capsys, ["potentials", "--out", str(d)])
    _assert_one_line_error(code, out, err, f"{d / 'potentials.json'}: Is a directory")
    assert [p.name for p in d.iterdir()] == ["potentials.json"]  # no temporary file left behind


def test_run_says_when_there_is_no_linear_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--potential", "quartic", "--optimizer", "adam", "--eta", "0.1", "--x0", "0.1", "--steps", "50"]
    code, out, _ = _run(capsys, argv)
    assert code == 0 and "no linear threshold" in out and "threshold lam*" not in out


def test_unknown_group_lists_every_group(capsys: pytest.CaptureFixture[str]) -> None:
    from eostheory.checks import groups

    code, _, err = _run(capsys, ["check", "--group", "nosuch"])
    listed = err.strip().split("the groups are ", 1)[1].split(", ")
    assert code == 2 and sorted(listed) == sorted(groups()) and {"optimizers", "flows"} <= set(listed)
