"""Sweeps: grids, the Parquet store, resumption, fault tolerance on Dask, plots, one-line errors."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

import eostheory as eos  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import main  # noqa: E402
from eostheory.sweep import plan  # noqa: E402
from eostheory.sweep._args import command_spec  # noqa: E402
from eostheory.sweep._grid import parse_axis, parse_sample  # noqa: E402

SELFSTAB = ["--potential", "selfstab", "--optimizer", "gd", "--x0", "0.01,1.5"]


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- grid specifications: (spec, values) --------------------------------------------------------------
AXES = [
    ("0.1:0.5:5", ["0.1", "0.2", "0.3", "0.4", "0.5"]),
    ("0.3:0.52:12", [f"{0.3 + 0.02 * i:.2f}".rstrip("0") for i in range(12)]),
    ("1e-3:1e-1:3:log", ["0.001", "0.01", "0.1"]),
    ("2:2:1", ["2"]),
    ("0,0.5,0.9", ["0", "0.5", "0.9"]),
    ("gd,heavy-ball", ["gd", "heavy-ball"]),
    ("0.01,1.5;0.02,1.5", ["0.01,1.5", "0.02,1.5"]),
    ("0.01,1.5;", ["0.01,1.5"]),
    ("central:k=2;rod", ["central:k=2", "rod"]),
    ("1,1,2", ["1", "2"]),  # duplicates dropped
    ("1000:5000:5", ["1000", "2000", "3000", "4000", "5000"]),
]


@pytest.mark.parametrize(("spec", "values"), AXES, ids=[a[0] for a in AXES])
def test_parse_axis(spec: str, values: list[str]) -> None:
    assert parse_axis("x", spec) == values


BAD_AXES = [
    ("", "no values (an empty grid)"),
    ("0.1:0.5:0", "0 values is an empty grid"),
    ("0.1:0.5:-3", "-3 values is an empty grid"),
    ("0.1:0.5:2.5", "must be an integer"),
    ("0:1:3:log", "a log range needs both ends > 0"),
    ("1,,2", "an empty value in the list"),
    ("0.1:0.5:2000000", "more than the 100,000 points"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_AXES, ids=[a[0] or "empty" for a in BAD_AXES])
def test_parse_axis_refuses(spec: str, message: str) -> None:
    with pytest.raises(EosInputError, match=None) as exc:
        parse_axis("eta", spec)
    assert message in str(exc.value)


SAMPLES = [
    ("0.1:0.5", ("uniform", (0.1, 0.5))),
    ("1e-3:1:log", ("log", (1e-3, 1.0))),
    ("0:9:int", ("int", (0, 9))),
    ("gd,nesterov", ("choice", ["gd", "nesterov"])),
]


@pytest.mark.parametrize(("spec", "dist"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_parse_sample(spec: str, dist: tuple[str, Any]) -> None:
    assert parse_sample("x", spec) == dist


# --- argument names: (command, name as typed, canonical) or (command, name, message) ------------------
NAMES = [
    ("run", "eta", "eta"),
    ("run", "--eta", "eta"),
    ("run", "record-every", "record_every"),
    ("run", "set.S", "set.S"),
    ("compare", "flows", "flows"),
    ("thresholds", "optimizer", "optimizer"),
    ("thresholds", "verify.beta", "verify.beta"),
    ("train", "batch_size", "batch_size"),
    ("train", "--batch-size", "batch_size"),
    ("train", "data-opt.dim", "data_opt.dim"),
    ("run", "no-bias", "no_bias"),
]


@pytest.mark.parametrize(("command", "name", "canonical"), NAMES, ids=[f"{n[0]}-{n[1]}" for n in NAMES])
def test_argument_names(command: str, name: str, canonical: str) -> None:
    assert command_spec(command).resolve(name)[0] == canonical


BAD_NAMES = [
    ("run", "etaa", "unknown argument 'etaa' for eostheory run; did you mean 'eta'"),
    ("run", "batch_size", "unknown argument 'batch_size' for eostheory run"),
    ("run", "out", "--out is set by the sweep itself"),
    ("train", "resume", "--resume is set by the sweep itself"),
    ("run", "set", "sweep one entry of --set at a time, e.g. set.NAME=1,2,3"),
    ("run", "eta.x", "only options that take NAME=VALUE lists"),
    ("run", "set.1x", "'1x' is not a name"),
]


@pytest.mark.parametrize(("command", "name", "message"), BAD_NAMES, ids=[f"{n[0]}-{n[1]}" for n in BAD_NAMES])
def test_argument_names_refused(command: str, name: str, message: str) -> None:
    with pytest.raises(EosInputError) as exc:
        command_spec(command).resolve(name)
    assert message in str(exc.value)


def test_every_option_of_the_commands_is_sweepable() -> None:
    """The names come from the commands' own parsers: a new option is an axis without any list here."""
    for command in ("run", "compare", "thresholds", "train"):
        spec = command_spec(command)
        names = spec.names
        assert "json" not in names and "out" not in names
        for action in spec.parser._actions:
            if action.option_strings and action.dest not in ("help", "json", "out", "resume", "no_progress"):
                assert any(n.split(".")[0] == spec.canonical_name(action) for n in names), action.dest


# --- points: keys, command lines, merging into --set ---------------------------------------------------
def test_point_key_is_the_configuration_not_how_it_was_typed() -> None:
    a = plan("run", [*SELFSTAB, "--steps", "100"], grid={"eta": [0.45]})
    b = plan("run", ["--x0=0.01,1.5", "--steps=100", "--potential", "selfstab"], grid=["eta=0.45"])
    c = plan("run", {"potential": "selfstab", "x0": [0.01, 1.5], "steps": 100}, grid={"eta": "0.45:0.45:1"})
    assert a.points[0].key == b.points[0].key == c.points[0].key
    assert a.points[0].argv == ("--potential=selfstab", "--eta=0.45", "--x0=0.01,1.5", "--steps=100")
    d = plan("run", [*SELFSTAB, "--steps", "101"], grid={"eta": [0.45]})
    assert d.points[0].key != a.points[0].key


def test_assignment_axes_merge_into_the_base_option() -> None:
    p = plan("run", ["--potential", "quartic", "--set", "S=1,Q=1", "--eta", "0.5", "--x0", "0.5"], grid=["set.Q=2,3"])
    assert [pt.argv[-1] if pt.argv[-1].startswith("--set") else "" for pt in p.points] == ["", ""]
    sets = [next(a for a in pt.argv if a.startswith("--set=")) for pt in p.points]
    assert sets == ["--set=S=1,Q=2", "--set=S=1,Q=3"]


def test_grid_product_and_duplicates() -> None:
    p = plan("run", SELFSTAB, grid=["eta=0.4,0.45,0.5", "steps=100,200"])
    assert len(p.points) == 6 and p.axes == ["eta", "steps"]
    assert {(pt.values["eta"], pt.values["steps"]) for pt in p.points} == {
        (e, s) for e in ("0.4", "0.45", "0.5") for s in ("100", "200")
    }
    # the base's --eta and an axis value equal to it give one configuration
    q = plan("run", [*SELFSTAB, "--eta", "0.4"], points=[{"eta": "0.4"}, {"steps": "10000"}])
    assert len(q.points) == 1 and q.duplicates == 1


def test_random_sample_is_reproducible() -> None:
    a = plan("run", SELFSTAB, sample=["eta=0.3:0.5", "steps=100:1000:int"], samples=7, sample_seed=3)
    b = plan("run", SELFSTAB, sample={"eta": "0.3:0.5", "steps": "100:1000:int"}, samples=7, sample_seed=3)
    assert [pt.key for pt in a.points] == [pt.key for pt in b.points] and len(a.points) == 7
    etas = [float(pt.values["eta"]) for pt in a.points]
    assert all(0.3 <= e <= 0.5 for e in etas) and len(set(etas)) == 7
    assert all(100 <= int(pt.values["steps"]) <= 1000 for pt in a.points)


def test_points_file(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("eta,steps\n0.41,100\n0.43,200\n")
    g = tmp_path / "p.json"
    g.write_text(json.dumps([{"eta": 0.41, "steps": 100}, {"eta": 0.43, "steps": 200}]))
    a, b = plan("run", SELFSTAB, points=str(f)), plan("run", SELFSTAB, points=str(g))
    assert [pt.key for pt in a.points] == [pt.key for pt in b.points] and len(a.points) == 2


# --- bad input: each a one-line error, exit 2, nothing written ----------------------------------------
BAD_CLI = [
    pytest.param(
        ["--grid", "etaa=0.1,0.2"], "unknown argument 'etaa' for eostheory run; did you mean 'eta'", id="name"
    ),
    pytest.param(["--grid", "eta="], "no values (an empty grid)", id="empty-grid"),
    pytest.param(["--grid", "eta=0.1:0.5:0"], "0 values is an empty grid", id="empty-range"),
    pytest.param([], "nothing to sweep: give at least one --grid", id="no-axis"),
    pytest.param(["--grid", "eta=0.1", "--grid", "eta=0.2"], "the axis eta is given twice", id="axis-twice"),
    pytest.param(
        ["--grid", "eta=0.4", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1"],
        "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler within 1 s",
        id="unreachable-scheduler",
    ),
    pytest.param(["--eta", "0.4", "--grid", "optimizer=gd,nesterv"], "did you mean 'nesterov'?", id="bad-choice"),
    pytest.param(["--grid", "steps=100"], "eostheory run needs --eta", id="required-missing"),
    pytest.param(
        ["--grid", "eta=0.4", "--grid", "steps=1,2", "--grid", "record_every=1", "--plot"], "3 axes", id="plot"
    ),
    pytest.param(["--grid", "eta=0.4", "--nosuch", "1"], "unrecognized arguments: --nosuch 1", id="unknown-option"),
    pytest.param(["--grid", "eta=0.4", "--samples", "3"], "--samples is the number of random points", id="samples"),
    pytest.param(["--sample", "eta=0.5:0.1", "--samples", "3"], "is above the high end", id="sample-bounds"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_CLI)
def test_bad_input_is_one_line_exit_2_nothing_written(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "S"
    code, stdout, err = _cli(
        capsys, "sweep", "run", "--potential", "selfstab", "--x0", "0.01,1.5", *extra, "--out", str(out)
    )
    assert code == 2, err
    assert stdout == ""
    assert err.count("\n") == 1 and err.startswith("eostheory sweep: error: "), err
    assert message in err, err
    assert not out.exists()


def test_existing_directory_of_another_command_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "S"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = _cli(capsys, "sweep", "run", *SELFSTAB, "--grid", "eta=0.4", "--out", str(out), "--workers", "0")
    assert code == 2 and "an existing directory that is not a sweep" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# --- the acceptance sweep on a 2-worker local cluster (the command line, run directories and all) --
@pytest.mark.slow
def test_acceptance_selfstab_sweep_on_local_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "S"
    argv = [
        "sweep",
        "run",
        "--potential",
        "selfstab",
        "--optimizer",
        "gd",
        "--grid",
        "eta=0.3:0.52:12",
        "--x0",
        "0.01,1.5",
        "--steps",
        "20000",
        "--out",
        str(out),
        "--workers",
        "2",
        "--json",
    ]
    code, stdout, _ = _cli(capsys, *argv)
    assert code == 0
    first = json.loads(stdout)
    assert first["points"] == 12 and first["executed"] == 12 and first["done"] == 12 and first["failed"] == 0
    assert first["engine"] == "local cluster (2 workers)"

    df = eos.load_sweep(out)
    assert len(df) == 12 and df["point_key"].is_unique
    assert list(df.columns[:1]) == ["eta"] and df.sweep_axes == ["eta"]
    np.testing.assert_allclose(df["eta"], np.linspace(0.3, 0.52, 12), atol=1e-12)
    osc = df[df["eta"] > 0.4]
    assert len(osc) == 6 and set(osc["status"]) == {"oscillating"}
    y = osc["average.params.1"].to_numpy()
    np.testing.assert_allclose(1 + y**2, 2 / osc["eta"].to_numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(df["threshold"], 2 / df["eta"], rtol=1e-12)
    for d in df["point_dir"]:  # each point's arrays in its run directory
        assert (Path(d) / "result.json").exists() or any(Path(d).iterdir())
    assert len(list((out / "points").glob("*.parquet"))) == 12
    assert not [p for p in (out / "points").iterdir() if p.name.startswith(".")]  # no temporary left

    # re-running does no work: no task executed, no cluster started
    code, stdout, _ = _cli(capsys, *argv)
    again = json.loads(stdout)
    assert code == 0 and again["executed"] == 0 and again["skipped"] == 12 and again["done"] == 12
    assert again["engine"].startswith("none")

    # pandas reads the consolidated file directly; the query of the documentation
    flat = pd.read_parquet(out / "results.parquet")
    q = flat[flat["eta"] > 0.4].assign(lhs=lambda d: 1 + d["average.params.1"] ** 2, rhs=lambda d: 2 / d["eta"])
    assert len(q) == 6 and float((q.lhs - q.rhs).abs().max()) < 1e-6


def test_acceptance_numbers_in_process(tmp_path: Path) -> None:
    """The acceptance sweep's numbers and its no-work re-run, without a cluster (fast, by default)."""
    out = tmp_path / "S"
    kw: dict[str, Any] = {"grid": {"eta": "0.3:0.52:12"}, "out": out, "workers": 0, "point_dirs": False}
    first = eos.sweep("run", [*SELFSTAB, "--steps", "20000"], **kw)
    assert first.points == first.executed == first.done == 12
    df = pd.read_parquet(out / "results.parquet")
    osc = df[df["eta"] > 0.4]
    assert len(osc) == 6
    np.testing.assert_allclose(1 + osc["average.params.1"] ** 2, 2 / osc["eta"], rtol=0, atol=1e-6)
    again = eos.sweep("run", [*SELFSTAB, "--steps", "20000"], **kw)
    assert again.executed == 0 and again.skipped == 12 and again.engine.startswith("none")


@pytest.mark.skipif(importlib.util.find_spec("duckdb") is None, reason="duckdb not installed")
def test_duckdb_reads_the_store_as_documented(tmp_path: Path) -> None:
    import duckdb

    out = tmp_path / "S"
    eos.sweep("run", [*SELFSTAB, "--steps", "20000"], grid={"eta": "0.3:0.52:12"}, out=out, workers=0, point_dirs=False)
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT eta, 1 + "average.params.1"^2 AS lhs, 2 / eta AS rhs
            FROM read_parquet('{out}/points/*.parquet', union_by_name = true)
            WHERE eta > 0.4 AND point_status = 'done' ORDER BY eta"""
    ).fetchall()
    assert len(rows) == 6 and max(abs(lhs - rhs) for _, lhs, rhs in rows) < 1e-6
    n = con.execute(f"SELECT count(*) FROM '{out}/results.parquet'").fetchone()
    assert n == (12,)


# --- store: failures recorded, partial stores resumed, failed points retried ---------------------------
def test_failed_point_is_recorded_and_the_sweep_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "S"
    code, stdout, _ = _cli(
        capsys,
        "sweep",
        "run",
        "--eta",
        "0.45",
        "--x0",
        "0.01,1.5",
        "--steps",
        "1000",
        "--grid",
        "potential=selfstab,nosuchtoy",
        "--out",
        str(out),
        "--workers",
        "0",
        "--json",
    )
    res = json.loads(stdout)
    assert code == 1 and res["done"] == 1 and res["failed"] == 1
    assert "unknown potential 'nosuchtoy'" in res["failures"][0]["error"]
    df = eos.load_sweep(out).set_index("potential")
    assert df.loc["selfstab", "point_status"] == "done" and df.loc["selfstab", "status"] == "oscillating"
    assert df.loc["nosuchtoy", "point_status"] == "failed" and df.loc["nosuchtoy", "point_exit_code"] == 2
    # a re-run tries the failed point again (and only it), unless told to keep it
    again = eos.sweep(
        "run",
        ["--eta", "0.45", "--x0", "0.01,1.5", "--steps", "1000"],
        grid=["potential=selfstab,nosuchtoy"],
        out=out,
        workers=0,
    )
    assert again.executed == 1 and again.failed == 1 and again.skipped == 1
    kept = eos.sweep(
        "run",
        ["--eta", "0.45", "--x0", "0.01,1.5", "--steps", "1000"],
        grid=["potential=selfstab,nosuchtoy"],
        out=out,
        workers=0,
        retry_failed=False,
    )
    assert kept.executed == 0 and len(eos.load_sweep(out)) == 2


def test_lost_fragment_runs_again_and_only_it(tmp_path: Path) -> None:
    out = tmp_path / "S"
    kw: dict[str, Any] = {"grid": {"eta": "0.42:0.48:4"}, "out": out, "workers": 0, "point_dirs": False}
    first = eos.sweep("run", [*SELFSTAB, "--steps", "2000"], **kw)
    assert first.executed == 4
    victim = next((out / "points").glob("*.parquet"))
    victim.unlink()
    second = eos.sweep("run", [*SELFSTAB, "--steps", "2000"], **kw)
    assert second.executed == 1 and second.skipped == 3 and second.done == 4
    assert victim.exists()
    # a larger grid over the same directory runs only the new points
    third = eos.sweep("run", [*SELFSTAB, "--steps", "2000"], **{**kw, "grid": {"eta": "0.42:0.48:7"}})
    assert third.executed == 3 and third.skipped == 4 and len(eos.load_sweep(out)) == 7


def test_to_xarray_for_a_regular_grid(tmp_path: Path) -> None:
    out = tmp_path / "S"
    eos.sweep(
        "run",
        [*SELFSTAB, "--steps", "2000"],
        grid={"eta": [0.42, 0.46], "steps": [1000, 2000, 3000]},
        out=out,
        workers=0,
        point_dirs=False,
    )
    df = eos.load_sweep(out)
    assert df.sweep_axes == ["eta", "steps"] and len(df) == 6
    if importlib.util.find_spec("xarray") is None:
        with pytest.raises(ImportError, match="to_xarray needs xarray"):
            df.to_xarray()
    else:
        ds = df.to_xarray()
        assert dict(ds.sizes) == {"eta": 2, "steps": 3}
        assert float(ds["threshold"].sel(eta=0.42, steps=1000)) == pytest.approx(2 / 0.42)
    irregular = df.iloc[:5]
    if importlib.util.find_spec("xarray") is not None:
        with pytest.raises(EosInputError, match="not a regular grid: 5 points for 6 combinations"):
            irregular.to_xarray()


def test_thresholds_verify_sweep(tmp_path: Path) -> None:
    base = ["heavy-ball", "--no-mean-square", "--verify", "eta=0.1,beta=0.5"]
    res = eos.sweep(
        "thresholds", base, grid=["verify.eta=0.05,0.1", "verify.beta=0,0.9"], out=tmp_path / "T", workers=0
    )
    assert res.done == 4 and res.failed == 0
    df = res.frame()
    expected = 2 * (1 + df["verify.beta"]) / df["verify.eta"]
    np.testing.assert_allclose(df["verification.threshold_value"], expected, rtol=1e-9)
    assert (df["point_exit_code"] == 0).all()


def test_compare_sweep_over_flows(tmp_path: Path) -> None:
    res = eos.sweep(
        "compare",
        {"potential": "selfstab", "x0": [0.01, 1.5], "eta": 0.45, "steps": 200},
        grid={"flows": ["gradient", "central"]},
        out=tmp_path / "C",
        workers=0,
        point_dirs=False,
    )
    df = res.frame().set_index("flows")
    assert res.done == 2
    # the central flow predicts GD's time-averaged loss on selfstab; the gradient flow does not
    assert df.loc["central", "flows.central.loss_error"] < 1e-8 < df.loc["gradient", "flows.gradient.loss_error"]
    assert df.loc["central", "sharpness_ratio"] == pytest.approx(
        df.loc["central", "gd.sharpness"] / df.loc["central", "threshold"]
    )


# --- plots -----------------------------------------------------------------------------------------------
def test_plots_one_and_two_axes(tmp_path: Path) -> None:
    one = eos.sweep(
        "run",
        [*SELFSTAB, "--steps", "2000"],
        grid={"eta": "0.3:0.5:5"},
        out=tmp_path / "A",
        workers=0,
        point_dirs=False,
        plot=True,
    )
    two = eos.sweep(
        "run",
        ["--potential", "quartic", "--set", "S=1,Q=1", "--x0", "0.5", "--steps", "2000"],
        grid={"eta": "1.5:2.5:3", "set.S": "0.8,1.0"},
        out=tmp_path / "B",
        workers=0,
        point_dirs=False,
        plot=True,
    )
    for res in (one, two):
        assert res.plot is not None and res.plot.stat().st_size > 10_000
    with pytest.raises(EosInputError, match="--plot-y nosuch: no such column"):
        eos.sweep(
            "run",
            [*SELFSTAB, "--steps", "2000"],
            grid={"eta": "0.3:0.5:5"},
            out=tmp_path / "A",
            workers=0,
            plot=True,
            plot_y="nosuch",
        )


# --- fault tolerance: a worker killed mid-sweep -----------------------------------------------------------
def _killed_worker_sweep(tmp_path: Path, n_points: int, kills: int) -> None:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    killed: list[int] = []
    rows = [0]

    def kill_one(_row: dict[str, Any]) -> None:
        rows[0] += 1
        if len(killed) >= kills or rows[0] < 2 + 3 * len(killed):
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # a worker that is running a point, not an idle one
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    try:
        etas = np.linspace(0.41, 0.49, n_points)
        res = eos.sweep(
            "run",
            [*SELFSTAB, "--steps", "3000000", "--record-every", "30000"],
            grid={"eta": [float(f"{e:.6g}") for e in etas]},
            out=tmp_path / "K",
            scheduler=client,
            point_dirs=False,
            callback=kill_one,
        )
    finally:
        client.close()
        cluster.close()
    assert len(killed) == kills
    assert res.executed == n_points and res.done == n_points and res.failed == 0
    df = eos.load_sweep(tmp_path / "K")
    assert len(df) == n_points and df["point_key"].is_unique
    np.testing.assert_allclose(np.sort(df["eta"]), [float(f"{e:.6g}") for e in etas])
    y = df["average.params.1"].to_numpy()
    np.testing.assert_allclose(1 + y**2, 2 / df["eta"].to_numpy(), atol=1e-6)


def test_killed_worker_every_point_once(tmp_path: Path) -> None:
    _killed_worker_sweep(tmp_path, n_points=6, kills=1)


@pytest.mark.slow
def test_killed_workers_twice_larger_sweep(tmp_path: Path) -> None:
    _killed_worker_sweep(tmp_path, n_points=16, kills=2)


# --- in-process capture is per thread -------------------------------------------------------------------
def test_points_in_threads_capture_their_own_output(tmp_path: Path) -> None:
    from eostheory.sweep._task import run_point

    p = plan("run", [*SELFSTAB, "--steps", "2000"], grid={"eta": "0.41:0.49:8"})
    rows: list[dict[str, Any]] = []

    def work(pt: Any) -> None:
        task = {"command": "run", "argv": list(pt.argv), "key": pt.key, "values": pt.values, "point_dir": None}
        rows.append(run_point(task))

    threads = [threading.Thread(target=work, args=(pt,)) for pt in p.points]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rows) == 8 and all(r["point_status"] == "done" for r in rows)
    for r in rows:  # each row holds its own point's result, not a neighbour's
        assert r["config.hyperparameters.eta"] == pytest.approx(r["eta"])


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_train_sweep_resumes_point_directories(tmp_path: Path) -> None:
    base = ["--model", "linear", "--data", "teacher-student", "--n", "32", "--steps", "20", "--track-every", "10"]
    res = eos.sweep("train", base, grid={"eta": [0.01, 0.02]}, out=tmp_path / "N", workers=0)
    assert res.done == 2, res.failures
    df = res.frame()
    assert (df["steps_done"] == 20).all() and df["threshold"].notna().all()
    assert all((Path(d) / "config.json").exists() for d in df["point_dir"])


# --- the engine chosen: $EOSTHEORY_SCHEDULER, --workers, --list ----------------------------------------
def test_scheduler_from_the_environment_and_workers_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EOSTHEORY_SCHEDULER", "tcp://127.0.0.1:9")
    out = tmp_path / "S"
    argv = ["sweep", "run", *SELFSTAB, "--steps", "1000", "--grid", "eta=0.45", "--out", str(out)]
    code, _, err = _cli(capsys, *argv, "--connect-timeout", "0.5")
    assert code == 2 and "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler" in err and not out.exists()
    # an explicit --workers asks for the local engine; the progress bar is not drawn off a terminal
    code, stdout, err = _cli(capsys, *argv, "--workers", "0", "--json")
    assert code == 0 and json.loads(stdout)["engine"] == "in-process (no cluster)"
    assert "point/s" not in err and "sweep:" not in err


def test_list_prints_the_points_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "S"
    code, stdout, _ = _cli(capsys, "sweep", "run", *SELFSTAB, "--grid", "eta=0.4,0.5", "--out", str(out), "--list")
    lines = stdout.splitlines()
    assert code == 0 and lines[-1] == "2 points over eta" and not out.exists()
    assert "eostheory run --potential=selfstab --eta=0.4 --x0=0.01,1.5" in lines[0]  # defaults left out


# --- map_tasks: any function over independent tasks, on the same engine --------------------------------
def test_map_tasks_in_process_keeps_order_and_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    import math

    from eostheory.sweep import map_tasks

    seen: list[int] = []
    res = map_tasks(math.factorial, [5, -1, 3], workers=0, callback=lambda o: seen.append(o.index))
    assert res.engine == "in-process (no cluster)" and seen == [0, 1, 2]
    assert [o.ok for o in res.outcomes] == [True, False, True]
    assert [o.value for o in res.outcomes] == [120, None, 6]  # 5!, the failure, 3!
    bad = res.failed[0]
    assert bad.index == 1 and bad.error is not None and bad.error.startswith("ValueError: factorial()")
    assert isinstance(bad.exception, ValueError) and "factorial" in (bad.traceback or "")
    with pytest.raises(ValueError, match="factorial"):  # raised once every task is back
        res.values()
    # one task and no engine asked for: in this process, even with a (dead) scheduler in the environment
    monkeypatch.setenv("EOSTHEORY_SCHEDULER", "tcp://127.0.0.1:9")
    one = map_tasks(math.factorial, [4])
    assert one.values() == [24] and one.engine == "in-process (no cluster)"
    assert map_tasks(math.factorial, []).outcomes == []
    with pytest.raises(EosInputError, match=">= 0"):
        map_tasks(math.factorial, [1, 2], workers=-1)
    with pytest.raises(EosInputError, match="has its own workers"):
        map_tasks(math.factorial, [1, 2], workers=2, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(EosInputError, match="cannot reach a Dask scheduler"):
        map_tasks(math.factorial, [1, 2], connect_timeout=0.5)  # the environment's scheduler, unreachable


def test_map_tasks_on_a_shared_local_cluster() -> None:
    import math

    from eostheory.sweep import engine, map_tasks

    here = f":{os.getpid()}"
    with engine(workers=2) as eng:  # one cluster for several maps
        res = map_tasks(math.factorial, [9, 8, -2, 7, 6], scheduler=eng)
        b = map_tasks(math.factorial, [5, 6, 7], scheduler=eng)
        assert eng.client is not None and eng.client.status == "running"  # a map does not close a shared engine
        with pytest.raises(EosInputError, match="its own workers"):
            map_tasks(math.factorial, [1], scheduler=eng, workers=1)
    assert res.engine == b.engine == "local cluster (2 workers)"
    # results in task order, whatever order the workers finished in; the failure kept, the rest done
    assert [o.value for o in res.outcomes] == [362880, 40320, None, 5040, 720]
    assert [o.index for o in res.outcomes] == [0, 1, 2, 3, 4]
    assert isinstance(res.outcomes[2].exception, ValueError)  # brought back from the worker
    assert b.values() == [120, 720, 5040]
    workers = {o.worker for o in res.outcomes + b.outcomes}
    assert len(workers) <= 2 and all(w and not w.endswith(here) for w in workers)  # the two worker processes
    with engine(workers=0) as none:  # workers=0: every map given this engine runs in this process
        assert map_tasks(math.factorial, [3, 4], scheduler=none).engine == "in-process (no cluster)"


@pytest.mark.slow
def test_map_tasks_starts_and_closes_its_own_cluster() -> None:
    import math

    from distributed import Client

    from eostheory.sweep import map_tasks

    res = map_tasks(math.factorial, [4, 3, 2], workers=2)
    assert res.engine == "local cluster (2 workers)" and res.values() == [24, 6, 2]
    with pytest.raises(ValueError):
        Client.current()  # no client left behind
