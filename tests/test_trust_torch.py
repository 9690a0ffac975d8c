"""Trust in the torch training path: checkpoints with integrity, divergence before curvature, no input ignored.

Every case is a row of a table: the command line (or the fault injected into a run
directory) and what must follow — exit status 2 with a one-line message and nothing
written or changed, or a resumed run equal, record for record, to one never interrupted.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import _cmd_train, main  # noqa: E402
from eostheory.torch._objective import HessianOperator  # noqa: E402

pytestmark = pytest.mark.torch


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def snapshot(d: Path) -> dict[str, bytes]:
    """Every file of a directory and its bytes."""
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def strict_json(text: str) -> object:
    """Parse JSON, refusing NaN and Infinity (which strict JSON does not have)."""

    def bad(token: str) -> None:
        raise AssertionError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=bad)


def assert_strict_run_dir(d: Path) -> None:
    for name in ("config.json", "result.json", "checkpoint.json"):
        strict_json((d / name).read_text())
    for line in (d / "metrics.jsonl").read_text().splitlines():
        strict_json(line)


# A small run: an MLP with 4 tanh units (13 parameters) on 16 Chebyshev nodes, recorded every 5 steps.
BASE = ["--model", "mlp", "--widths", "4", "--data", "chebyshev", "--n", "16", "--eta", "0.1", "--track-every", "5"]
CLI = ["train", "--device", "cpu", "--no-progress"]
API = dict(
    eta=0.1,
    track="sharpness",
    track_every=5,
    device="cpu",
    model_kwargs={"widths": "4", "activation": "tanh"},
    data_kwargs={"n": 16},
)


@pytest.fixture(scope="module")
def reference() -> et.TrainResult:
    """The 30-step run, never interrupted."""
    return et.train("mlp", "chebyshev", steps=30, **API)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed 20-step run directory written by the command line."""
    d = tmp_path_factory.mktemp("base") / "run"
    assert main([*CLI, *BASE, "--steps", "20", "--out", str(d)]) == 0
    return d


def assert_same_run(result: dict, ref: et.TrainResult) -> None:
    assert result["status"] == "completed"
    for k in ("step", "loss", "sharpness", "eig_hvps"):
        assert result["series"][k] == ref.series[k], k


# ----------------------------------------------------------------------------- faults in a run directory


def garble_tensor_bytes(d: Path) -> None:
    """Flip bits inside the first tensor's storage of checkpoint.pt (the zip structure stays valid)."""
    p = d / "checkpoint.pt"
    raw = bytearray(p.read_bytes())
    info = next(i for i in zipfile.ZipFile(p).infolist() if "/data/" in i.filename and not i.filename.endswith("id"))
    h = info.header_offset
    name_len, extra_len = struct.unpack("<HH", raw[h + 26 : h + 30])
    start = h + 30 + name_len + extra_len
    raw[start] ^= 0x55
    raw[start + 3] ^= 0x10
    p.write_bytes(bytes(raw))


def truncate(name: str, keep: int) -> Callable[[Path], None]:
    def f(d: Path) -> None:
        data = (d / name).read_bytes()
        (d / name).write_bytes(data[:keep])

    return f


def drop_metrics_line(i: int) -> Callable[[Path], None]:
    def f(d: Path) -> None:
        lines = (d / "metrics.jsonl").read_text().splitlines(keepends=True)
        del lines[i]
        (d / "metrics.jsonl").write_text("".join(lines))

    return f


def edit_metrics_loss(d: Path) -> None:
    lines = (d / "metrics.jsonl").read_text().splitlines(keepends=True)
    rec = json.loads(lines[2])
    rec["loss"] *= 1.001
    lines[2] = json.dumps(rec) + "\n"
    (d / "metrics.jsonl").write_text("".join(lines))


def remove(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).unlink()


def append_metrics(text: str) -> Callable[[Path], None]:
    def f(d: Path) -> None:
        with open(d / "metrics.jsonl", "a") as fh:
            fh.write(text)

    return f


def append_step_losses(d: Path) -> None:
    with open(d / "step_loss.f64", "ab") as fh:
        fh.write(np.array([0.5, 0.25]).tobytes())


REFUSED = [
    # (case, fault, message fragments)
    ("garbled tensor bytes", garble_tensor_bytes, ["does not match its recorded SHA-256", "metrics record of step 20"]),
    ("checkpoint cut short", truncate("checkpoint.pt", 4000), ["does not match its recorded SHA-256"]),
    ("integrity record missing", remove("checkpoint.json"), ["has no integrity record"]),
    ("integrity record garbled", truncate("checkpoint.json", 40), ["checkpoint.json cannot be read"]),
    ("checkpoint missing", remove("checkpoint.pt"), ["checkpoint.pt is missing"]),
    (
        "metrics cut mid-line",
        truncate("metrics.jsonl", 250),
        ["holds 2 complete records", "written after 5: records were lost", "metrics record of step 5 (2 records)"],
    ),
    ("metrics line lost", drop_metrics_line(1), ["holds 4 complete records", "records were lost"]),
    ("metrics record edited", edit_metrics_loss, ["first 5 records of metrics.jsonl differ"]),
    ("metrics removed", remove("metrics.jsonl"), ["holds 0 complete records", "no metrics record can be read"]),
    ("step losses cut short", truncate("step_loss.f64", 80), ["holds 10 step losses", "losses were lost"]),
]


@pytest.mark.parametrize("case,fault,fragments", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_corrupted_run_directory_is_refused_and_left_as_it_is(base_run, tmp_path, capsys, case, fault, fragments):
    d = tmp_path / "run"
    shutil.copytree(base_run, d)
    fault(d)
    before = snapshot(d)
    rc, out, err = run_cli([*CLI, "--out", str(d), "--resume", "--steps", "30"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert f"cannot resume {d}" in err
    for frag in fragments:
        assert frag in err, (frag, err)
    assert snapshot(d) == before  # nothing was changed


RECOVERED = [
    # (case, fault): what an interruption leaves after the checkpoint is dropped and recomputed
    ("a record cut short after the checkpoint", append_metrics('{"step": 25, "loss": 0.3')),
    ("a whole record after the checkpoint", append_metrics('{"step": 25, "loss": 0.125, "time": 1.0}\n')),
    ("step losses after the checkpoint", append_step_losses),
    ("nothing wrong", lambda d: None),
]


@pytest.mark.parametrize("case,fault", RECOVERED, ids=[c[0] for c in RECOVERED])
def test_what_comes_after_the_checkpoint_is_recomputed_exactly(base_run, reference, tmp_path, capsys, case, fault):
    d = tmp_path / "run"
    shutil.copytree(base_run, d)
    fault(d)
    rc, out, _ = run_cli([*CLI, "--out", str(d), "--resume", "--steps", "30", "--json"], capsys)
    assert rc == 0
    assert_same_run(json.loads(out), reference)
    lines = (d / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == reference.series["step"]
    np.testing.assert_array_equal(np.fromfile(d / "step_loss.f64"), reference.step_loss)
    assert_strict_run_dir(d)


class _Killed(BaseException):
    """A process killed (not a Python exception any handler catches)."""


def test_killed_between_the_integrity_record_and_the_rename_still_resumes(reference, tmp_path, capsys, monkeypatch):
    d = tmp_path / "run"
    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        if Path(dst).name == "checkpoint.pt":
            calls["n"] += 1
            if calls["n"] == 3:  # the checkpoint of step 10: its record is written, the file not yet renamed
                raise _Killed
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(_Killed):
        et.train("mlp", "chebyshev", steps=30, out=d, **API)
    monkeypatch.setattr(os, "replace", real)
    rec = json.loads((d / "checkpoint.json").read_text())
    assert rec["current"]["step"] == 10 and rec["previous"]["step"] == 5
    assert torch.load(d / "checkpoint.pt", weights_only=True)["step"] == 5
    rc, out, _ = run_cli([*CLI, "--out", str(d), "--resume", "--json"], capsys)
    assert rc == 0
    assert_same_run(json.loads(out), reference)


# ----------------------------------------------------------------------------- resume continues the saved run


RESUME_OPTIONS = [
    # (options typed with --resume, exit status, message fragment or None)
    (["--eta", "0.3"], 2, "differs in eta 0.3 (saved: 0.1)"),
    (["--eta", "0.3", "--seed", "2"], 2, "differs in eta 0.3 (saved: 0.1); seed 2 (saved: 0)"),
    (["--widths", "8"], 2, "differs in model widths 8 (saved: 4)"),
    (["--data-opt", "degree=3"], 2, "differs in data degree 3 (saved: 5)"),
    (["--n", "32"], 2, "differs in data n 32 (saved: 16)"),
    (["--optimizer", "heavy-ball"], 2, "differs in optimizer heavy-ball (saved: gd)"),
    (["--track", "sharpness,grad-norm"], 2, "differs in track"),
    (["--dtype", "float64"], 2, "differs in dtype float64 (saved: float32)"),
    (["--steps", "10"], 2, "the run has done 20 steps already; resume keeps or raises the total"),
    (["--steps", "0"], 2, "--steps must be > 0, got 0"),
    (["--data-opt", "foo=1"], 2, "data set 'chebyshev' has no option 'foo'; its options: n, degree, seed"),
    # typed again with the saved values: accepted
    ([*BASE, "--data-opt", "degree=5", "--steps", "30"], 0, None),
    (["--steps", "30", "--device", "cpu"], 0, None),
]


@pytest.mark.parametrize("options,rc_expected,fragment", RESUME_OPTIONS, ids=[" ".join(c[0]) for c in RESUME_OPTIONS])
def test_resume_refuses_options_that_differ_from_the_saved_run(
    base_run, reference, tmp_path, capsys, options, rc_expected, fragment
):
    d = tmp_path / "run"
    shutil.copytree(base_run, d)
    before = snapshot(d)
    rc, out, err = run_cli([*CLI, "--out", str(d), "--resume", "--json", *options], capsys)
    assert rc == rc_expected, err
    if rc_expected == 2:
        assert fragment in err and err.count("\n") == 1, err
        assert snapshot(d) == before
    else:
        assert_same_run(json.loads(out), reference)


def test_resume_api_refuses_a_differing_option_and_an_unknown_one(base_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(base_run, d)
    with pytest.raises(EosInputError, match=r"differs in eta 0\.3 \(saved: 0\.1\)"):
        et.resume(d, steps=30, eta=0.3)
    with pytest.raises(EosInputError, match="takes no option out_dir"):
        et.resume(d, out_dir="x")
    with pytest.raises(EosInputError, match="do not apply to the linear model"):
        et.train("linear", "chebyshev", eta=0.1, steps=1, device="cpu", model_kwargs={"widths": (8,)})


# ----------------------------------------------------------------------------- input refused before any work


def _write_npz(path: Path, scale: float) -> str:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.standard_normal((20, 3)) * scale, y=rng.standard_normal(20))
    return str(path)


NEW_RUN_REFUSED = [
    # (case, argv after CLI (OUT = the run directory, FILE = an existing file, BIG = a .npz that overflows), message)
    ("steps 0", ["--eta", "0.1", "--steps", "0", "--out", "OUT"], "--steps must be > 0, got 0"),
    ("steps not an integer", ["--eta", "0.1", "--steps", "2.5", "--out", "OUT"], "--steps must be an integer"),
    (
        "unknown data option",
        ["--data-opt", "foo=1", "--eta", "0.1", "--steps", "2", "--out", "OUT"],
        "data set 'digits' has no option 'foo'; its options: n, label_noise, preprocess, seed",
    ),
    ("data option without a value", ["--data-opt", "foo", "--eta", "0.1", "--steps", "2"], "--data-opt expects K=V"),
    (
        "data option given twice",
        ["--n", "10", "--data-opt", "n=20", "--eta", "0.1", "--steps", "2"],
        "--data-opt n=… repeats --n",
    ),
    (
        "widths on the linear model",
        ["--model", "linear", "--widths", "8", "--eta", "0.1", "--steps", "2", "--out", "OUT"],
        "--widths do not apply to --model linear",
    ),
    (
        "dense eigensolver on 13,130 parameters",
        ["--eig-method", "dense", "--eta", "0.1", "--steps", "2", "--out", "OUT"],
        "limited to 2,000 parameters: use lanczos",
    ),
    ("out is a file", ["--eta", "0.1", "--steps", "2", "--out", "FILE"], "exists and is not a directory"),
    ("out under a file", ["--eta", "0.1", "--steps", "2", "--out", "FILE/run"], "is a file, not a directory"),
    (
        "a loss that is infinite at step 0",
        ["--model", "linear", "--data", "BIG", "--eta", "0.1", "--steps", "5", "--out", "OUT"],
        "the loss is not finite at the start (loss inf)",
    ),
    (
        "more eigenvalues than parameters",
        [*BASE, "--track", "eigenvalues", "--top-k", "14", "--steps", "2", "--out", "OUT"],
        "top_k = 14 eigenvalues of a model with 13 parameters",
    ),
    ("resume without out", ["--resume", "--eta", "0.1", "--steps", "2"], "--resume needs --out DIR"),
    ("resume of nothing, without eta", ["--resume", "--steps", "2", "--out", "OUT"], "OUT holds no run to continue"),
    ("new run without eta", ["--steps", "2", "--out", "OUT"], "a new run needs --eta and --steps"),
]


@pytest.mark.parametrize("case,argv,fragment", NEW_RUN_REFUSED, ids=[c[0] for c in NEW_RUN_REFUSED])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, case, argv, fragment):
    (tmp_path / "file").write_text("not a directory\n")
    big = _write_npz(tmp_path / "big.npz", 1e38)
    subst = {"OUT": str(tmp_path / "out"), "FILE": str(tmp_path / "file"), "BIG": big}
    argv = [subst.get(a, a.replace("FILE/", str(tmp_path / "file") + "/")) for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, out, err = run_cli([*CLI, *argv], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert fragment.replace("OUT", subst["OUT"]) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run directory was created
    assert (tmp_path / "file").read_text() == "not a directory\n"


def test_resume_of_a_directory_without_a_run_says_it_starts_one(reference, tmp_path, capsys):
    d = tmp_path / "run"
    rc, out, err = run_cli([*CLI, *BASE, "--steps", "30", "--out", str(d), "--resume", "--json"], capsys)
    assert rc == 0 and err == f"eostheory train: {d} holds no run yet: starting a new one\n"
    assert_same_run(json.loads(out), reference)


def test_a_fresh_run_that_fails_at_its_first_record_leaves_nothing(tmp_path, monkeypatch):
    def refuse(self, op):
        raise EosInputError("refused by the test")

    monkeypatch.setattr(et.EigenTracker, "__call__", refuse)
    with pytest.raises(EosInputError, match="refused by the test"):
        et.train("mlp", "chebyshev", steps=5, out=tmp_path / "new", **API)
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    with pytest.raises(EosInputError, match="refused by the test"):
        et.train("mlp", "chebyshev", steps=5, out=tmp_path / "kept", **API)
    assert snapshot(tmp_path / "kept") == {"notes.txt": b"mine"}


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a read-only /sys (Linux)")
def test_out_that_cannot_be_written(tmp_path, capsys):
    rc, _, err = run_cli([*CLI, "--eta", "0.1", "--steps", "2", "--out", "/sys/eostheory-run"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "cannot create files in /sys" in err
    if os.geteuid() != 0:  # permissions do not bind root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        rc, _, err = run_cli([*CLI, "--eta", "0.1", "--steps", "2", "--out", str(locked / "run")], capsys)
        assert rc == 2 and "not writable" in err


def test_out_is_checked_by_the_api_before_the_data_is_built(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")

    def no_data(*a, **k):
        raise AssertionError("the data set was built before --out was checked")

    monkeypatch.setattr("eostheory.torch._trainloop.get_dataset", no_data)
    for out, match in ((tmp_path / "file", "exists and is not a directory"), (tmp_path / "file" / "r", "is a file")):
        with pytest.raises(EosInputError, match=match):
            et.train("mlp", "digits", eta=0.1, steps=1, device="cpu", out=out)


def test_dense_limit_is_documented_and_the_same_everywhere():
    assert _cmd_train.DENSE_LIMIT == et.DENSE_MAX_PARAMS == 2000
    # at the limit's scale dense is allowed; above it refused unless nothing needs the Hessian
    small = et.train("mlp", "chebyshev", eta=0.1, steps=2, track="sharpness", eig_method="dense", device="cpu",
                     model_kwargs={"widths": (4,)}, data_kwargs={"n": 16})  # fmt: skip
    lanczos = et.train("mlp", "chebyshev", eta=0.1, steps=2, track="sharpness", device="cpu",
                       model_kwargs={"widths": (4,)}, data_kwargs={"n": 16})  # fmt: skip
    assert small.series["sharpness"] == pytest.approx(lanczos.series["sharpness"], rel=1e-3)
    big = dict(eta=0.1, steps=1, device="cpu", eig_method="dense")
    with pytest.raises(EosInputError, match="13,130 x 13,130 Hessian"):
        et.train("mlp", "digits", track="sharpness", **big)
    assert et.train("mlp", "digits", track="accuracy", **big).status == "completed"


# ----------------------------------------------------------------------------- divergence before curvature


DIVERGE = dict(steps=50, track="sharpness,grad-norm", track_every=1, device="cpu", model_kwargs={"widths": (4,)})


@pytest.mark.parametrize(
    "eta,t_bad", [(1e3, 6), (1e10, 2), (1e30, 1)], ids=["at step 6", "at step 2", "at the first record after 0"]
)
def test_divergence_first_seen_at_a_recording_step(tmp_path, capsys, eta, t_bad):
    """Every step is a record: the loss is checked before the eigen-solve, the last finite state is kept."""
    d = tmp_path / "run"
    r = et.train("mlp", "chebyshev", eta=eta, out=d, data_kwargs={"n": 16}, **DIVERGE)
    assert r.status == "diverged" and r.steps_done == t_bad - 1
    assert f"the loss became non-finite (inf) at step {t_bad}; stopped and kept the state of step {t_bad - 1}" in (
        r.message
    )
    assert r.series["step"] == list(range(t_bad)) and all(np.isfinite(r.series["sharpness"]))
    assert r.extra["diverged_at"] == t_bad and torch.all(torch.isfinite(r.theta))
    assert_strict_run_dir(d)
    assert strict_json((d / "result.json").read_text())["status"] == "diverged"
    before = snapshot(d)
    rc, out, err = run_cli([*CLI, "--out", str(d), "--resume", "--steps", "60"], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert f"the run diverged (the loss became non-finite (inf) at step {t_bad}" in err
    assert "start a new run (e.g. with a smaller eta) in another --out" in err
    assert snapshot(d) == before


def _nan_after(n_calls: int) -> Callable[..., object]:
    real = HessianOperator.matvec
    count = {"n": 0}

    def matvec(self, v):
        count["n"] += 1
        out = real(self, v)
        return out * float("nan") if count["n"] > n_calls else out

    return matvec


def test_non_finite_hessian_products_mid_run_end_it_as_diverged(tmp_path, capsys, monkeypatch):
    d = tmp_path / "run"
    monkeypatch.setattr(
        HessianOperator, "matvec", _nan_after(20)
    )  # a cold start at step 0 takes 13 products, warm ones 2-3
    r = et.train("mlp", "chebyshev", steps=40, out=d, **{**API, "track": "sharpness,grad-norm"})
    monkeypatch.undo()
    assert r.status == "diverged"
    t = r.steps_done
    assert 0 < t < 40 and t % 5 == 0
    assert f"the Hessian-vector products became non-finite at step {t}" in r.message
    assert "before any eigen-solve" in r.message
    last = r.final()
    assert last["step"] == t and last["sharpness"] is None and np.isfinite(last["loss"])
    assert all(v is not None for v in r.series["sharpness"][:-1])
    assert_strict_run_dir(d)
    res = strict_json((d / "result.json").read_text())
    assert res["final"]["sharpness"] is None and "non-finite" in res["message"]
    rc, _, err = run_cli([*CLI, "--out", str(d), "--resume"], capsys)
    assert rc == 2 and "the run diverged (the Hessian-vector products became non-finite" in err


class Kink(torch.nn.Module):
    """A linear model plus |p|^1.5 at p = 0: finite loss and gradient, an infinite second derivative in p."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(1, 1)
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.lin(x) + self.p.abs() ** 1.5


def test_non_finite_curvature_at_step_0_is_a_diverged_run():
    r = et.train(Kink(), et.chebyshev(16), eta=0.1, steps=20, track="sharpness", device="cpu")
    assert r.status == "diverged" and r.steps_done == 0
    assert r.series["step"] == [0] and r.series["sharpness"] == [None] and np.isfinite(r.series["loss"][0])
    assert "Hessian-vector products became non-finite at step 0" in r.message


@pytest.mark.parametrize("method", et.EIG_METHODS)
def test_every_eigensolver_refuses_non_finite_products(method):
    obj = et.NetworkObjective(Kink(), et.chebyshev(16), device="cpu", dtype="float64")
    with pytest.raises(et.NonFiniteCurvatureError, match="not finite"):
        et.top_eigenpairs(obj.hessian(obj.theta0), 1, method=method)
    with pytest.raises(et.NonFiniteCurvatureError):
        et.batch_sharpness(obj, obj.theta0, 8, batches=None)


def test_a_loss_that_is_nan_at_step_0_is_refused_before_anything_is_written(tmp_path):
    data = et.from_arrays(np.ones((8, 2)), np.ones(8))

    def nan_loss(out, y):
        return et.mse_loss(out, y) * float("nan")

    with pytest.raises(EosInputError, match=r"the loss is not finite at the start \(loss nan\)"):
        et.train("linear", data, loss=nan_loss, eta=0.1, steps=5, device="cpu", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_import_stays_free_of_torch():
    import subprocess

    code = "import sys; from eostheory.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
