"""Trust in the compile layer: damaged caches repair themselves, unusable cache directories
fall back, compilations announce themselves, and formulas with poles, kinks or huge
numbers compile (or fail in one line) instead of crashing.

Every case is a row of a table; each asserts the recovered correct result or the exact
one-line message.  The cache is always a temporary ``EOSTHEORY_CACHE_DIR``.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import eostheory as eos
from eostheory import CompilationError, EosInputError, Potential
from eostheory.compile import _cache, _notice, compile_potential, potential_source, set_quiet
from eostheory.compile._cache import source_key
from eostheory.compile._codegen import numba_reason
from eostheory.symbolic.nets import linear_chain

# ----------------------------------------------------------------------------- helpers

_DRIVER = r"""
import json, numpy as np, eostheory as eos
from eostheory.compile import compile_potential
from eostheory.optimizers._run import _RUN_MEMO
from eostheory.symbolic.nets import linear_chain
r = eos.run("w**4/4 - w**2/2 + 0.3*w", "gd", x0=[1.3], steps=40, eta=0.1)
pot = compile_potential(eos.Potential("w**4/4 - w**2/2 + 0.3*w"))
x, c, u = np.array([0.4]), pot.constants(), np.array([0.7])
net = compile_potential(linear_chain(2, X=[1.0, 2.0], Y=[1.0, 0.5]))
wn, cn = np.array([0.9, 1.1]), net.constants()
print(json.dumps({
    "final": [repr(v) for v in r.final["params"]],
    "kernels": [repr(pot.loss(x, c)), repr(pot.grad(x, c)[0]), repr(pot.hess(x, c)[0, 0]),
                repr(pot.third(x, u, c)[0])],
    "net": [repr(net.loss(wn, cn)), repr(float(net.grad(wn, cn)[0]))],
    "modules": {"pot": pot.module.__name__, "net": net.module.__name__,
                "run": [m.__name__ for m in _RUN_MEMO.values()][0]},
}))
"""

_COMPILE_LINE = re.compile(r"^eostheory: (compiling|deriving) .+ \(first time only\) \.\.\. done in \d+\.\d s$")


def _env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EOSTHEORY_", "NUMBA_CACHE_DIR"))}
    env.update({"EOSTHEORY_CACHE_DIR": str(cache), "MPLBACKEND": "Agg", **extra})
    return env


def _drive(cache: Path, **extra: str) -> tuple[dict, list[str]]:
    """Run the driver in a new process on ``cache``: its JSON result and its stderr lines."""
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER], env=_env(cache, **extra), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout), [ln for ln in proc.stderr.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[str]]:
    """A cache filled by one process: (its folder, the reference result, the first run's stderr)."""
    cache = tmp_path_factory.mktemp("cache")
    ref, err = _drive(cache)
    return cache, ref, err


def _copy(populated: tuple[Path, dict, list[str]], tmp_path: Path) -> tuple[Path, dict]:
    cache, ref, _ = populated
    dst = tmp_path / "cache"
    shutil.copytree(cache, dst, symlinks=True)
    return dst, ref


# ---------------------------------------------------------------- 1. damaged cache files


def _truncate(b: bytes) -> bytes:
    return b[: len(b) // 2]


def _empty(b: bytes) -> bytes:
    return b""


def _garble(b: bytes) -> bytes:
    a = bytearray(b)
    for i in range(len(a) // 2, min(len(a), len(a) // 2 + 16)):
        a[i] ^= 0xFF
    return bytes(a)


def _one_bit(b: bytes) -> bytes:
    a = bytearray(b)
    a[len(a) - 100] ^= 0x01  # inside the machine code / the pickled payload
    return bytes(a)


def _not_utf8(b: bytes) -> bytes:
    return b[: len(b) // 2] + b"\xff\xfe\xfd" + b[len(b) // 2 :]


def _edit_loss_coefficient(b: bytes) -> bytes:  # 0.3 is printed as (3.0/10.0): make it 0.33...
    i = b.index(b"(3.0/10.0)", b.index(b"def loss"))
    return b[:i] + b"(3.0/9.0)" + b[i + len(b"(3.0/10.0)") :]


def _half_to_third(b: bytes) -> bytes:  # the mse loss's 1/2 in a symbolic-net source
    assert b"(1.0/2.0)" in b
    return b.replace(b"(1.0/2.0)", b"(1.0/3.0)")


def _garbage(b: bytes) -> bytes:
    return b"\x00not a pyc\xff" * 7


def _plain_numba(b: bytes) -> bytes:  # what numba.njit(cache=True) itself writes: no seal
    import numba

    return pickle.dumps(numba.__version__, protocol=-1) + pickle.dumps((b"stamp", {}), protocol=-1)


# (case, file pattern ({pot}, {net}, {run}: module names), mutation, warning lines expected, slow)
_DAMAGE: list[tuple[str, str, Callable[[bytes], bytes], int, bool]] = [
    ("numba data file truncated", "__pycache__/{pot}.loss-*.nbc", _truncate, 1, False),
    ("numba data file empty", "__pycache__/{pot}.grad-*.nbc", _empty, 1, True),
    ("numba index garbled", "__pycache__/{pot}.hess-*.nbi", _garble, 1, True),
    ("numba index truncated", "__pycache__/{run}.run_loop-*.nbi", _truncate, 1, True),
    ("one bit flipped in machine code", "__pycache__/{run}.run_loop-*.nbc", _one_bit, 1, False),
    ("net kernel data file garbled", "__pycache__/{net}.loss-*.nbc", _garble, 1, True),
    ("unsealed numba index (plain numba)", "__pycache__/{pot}.third-*.nbi", _plain_numba, 0, True),
    ("generated module not UTF-8", "{pot}.py", _not_utf8, 1, False),
    ("generated module truncated", "{run}.py", _truncate, 1, True),
    ("generated module edited", "{pot}.py", _edit_loss_coefficient, 1, True),
    (
        "garbage .pyc of a generated module",
        "__pycache__/{pot}." + f"{sys.implementation.cache_tag}.pyc",
        _garbage,
        0,
        True,
    ),
    ("net source edited (a coefficient)", "eos_netsrc_*.py.txt", _half_to_third, 1, False),
    ("net source truncated", "eos_netsrc_*.py.txt", _truncate, 1, True),
    ("net source not UTF-8", "eos_netsrc_*.py.txt", _not_utf8, 1, True),
]
# a few cases in the default suite, every case in the slow one (each starts two processes)
DAMAGE_CASES = [pytest.param(*row[:4], id=row[0], marks=[pytest.mark.slow] if row[4] else []) for row in _DAMAGE]


@pytest.mark.parametrize(("case", "pattern", "mutate", "warnings"), DAMAGE_CASES)
def test_damaged_cache_entry_recovers_with_one_warning(
    populated: tuple[Path, dict, list[str]],
    tmp_path: Path,
    case: str,
    pattern: str,
    mutate: Callable[[bytes], bytes],
    warnings: int,
) -> None:
    cache, ref = _copy(populated, tmp_path)
    glob = pattern.format(**ref["modules"])
    targets = sorted(cache.glob(glob))
    if not targets and glob.endswith(".pyc"):  # a stray .pyc left by an older version
        targets = [cache / glob]
        targets[0].parent.mkdir(exist_ok=True)
        targets[0].write_bytes(b"")
    assert len(targets) == 1, (glob, sorted(p.name for p in cache.rglob("*")))
    target = targets[0]
    before = target.read_bytes()
    target.write_bytes(mutate(before))

    result, err = _drive(cache, EOSTHEORY_QUIET="1")
    assert result == ref  # the correct numbers, never the damaged ones
    warned = [ln for ln in err if "warning" in ln]
    assert len(warned) == warnings, err
    assert err == warned  # quiet: nothing but the warning
    if warnings:
        assert re.fullmatch(
            r"eostheory: warning: .+ was damaged \(.+\); moved it to .+quarantine and rebuilt it", warned[0]
        )
        assert list((cache / "quarantine").iterdir()), "the damaged file was not kept aside"
    # the entry was rebuilt: a further process neither warns nor recompiles
    again, err2 = _drive(cache)
    assert again == ref
    assert err2 == [], err2


def test_first_compilation_prints_one_line_per_kernel_and_a_cache_hit_nothing(
    populated: tuple[Path, dict, list[str]], tmp_path: Path
) -> None:
    _, ref, first = populated
    assert first, "a first compilation must say so"
    assert all(_COMPILE_LINE.match(ln) for ln in first), first
    labels = [ln.split(" (first time only)")[0] for ln in first]
    assert len(labels) == len(set(labels)), "one line per kernel, not per function call"
    assert any(ln.startswith("eostheory: compiling kernels of L = w**4/4 - w**2/2 + ") for ln in labels)
    assert any("run loop" in ln for ln in labels)
    dst, _ = _copy(populated, tmp_path)
    result, err = _drive(dst)
    assert result == ref and err == []  # everything from the cache: silent


# ---------------------------------------------------------------- 2. unusable cache directories
def _fresh_potential(tag: float) -> Potential:
    """A potential no other test compiles (module names are hashes of the source)."""
    return Potential(f"w**2/2 + {tag}*w**4", params=["w"])


def _as_file(tmp: Path) -> Path:
    p = tmp / "cachefile"
    p.write_text("not a directory")
    return p


def _dangling(tmp: Path) -> Path:
    p = tmp / "link"
    p.symlink_to(tmp / "nowhere")
    return p


def _under_a_file(tmp: Path) -> Path:
    return _as_file(tmp) / "sub"


READ_ONLY = "read-only"
FOREIGN_MODULE = "foreign module"
FOREIGN_NUMBA = "foreign numba"

# (case, configured directory, simulated condition, reason in the warning)
UNUSABLE_CASES: list[tuple[str, Callable[[Path], Path], str | None, str]] = [
    ("the path is a file", _as_file, None, "it is not a directory"),
    ("a dangling symbolic link", _dangling, None, "it is a dangling symbolic link"),
    ("below a file", _under_a_file, None, "it cannot be created"),
    ("a read-only directory", lambda t: t / "ro", READ_ONLY, "it is not writable"),
    ("another user's 0600 module", lambda t: t / "shared", FOREIGN_MODULE, "cannot use its entry"),
    ("another user's 0600 numba files", lambda t: t / "shared", FOREIGN_NUMBA, "cannot use its entry"),
]


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path, condition: str, name: str) -> None:
    """Make ``folder`` behave as unwritable, or its entry ``name`` as another user's 0600 files."""
    folder.mkdir()
    denied = PermissionError(13, "Permission denied")
    if condition == READ_ONLY:
        folder.chmod(0o555)
        if os.geteuid() != 0:
            return  # the real thing
        real = tempfile.mkstemp

        def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
            if Path(str(kwargs.get("dir", ""))) == folder:
                raise denied
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(_cache.tempfile, "mkstemp", mkstemp)
        return
    if condition == FOREIGN_MODULE:
        victim = folder / f"{name}.py"
    else:
        (folder / "__pycache__").mkdir()
        victim = folder / "__pycache__" / f"{name}.loss-1.py311.nbi"
    victim.write_bytes(b"someone else's")
    victim.chmod(0o600)  # unreadable for us only if another user owns it: make reading fail as it then would
    real_read, real_open = Path.read_bytes, open

    def read_bytes(self: Path) -> bytes:
        if self == victim:
            raise denied
        return real_read(self)

    def fake_open(file: object, *args: object, **kwargs: object) -> object:
        if Path(str(file)) == victim:
            raise denied
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(_cache, "open", fake_open, raising=False)


@pytest.mark.parametrize(("case", "make", "condition", "reason"), UNUSABLE_CASES, ids=[c[0] for c in UNUSABLE_CASES])
def test_unusable_cache_dir_falls_back_to_a_private_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: str,
    make: Callable[[Path], Path],
    condition: str | None,
    reason: str,
) -> None:
    tag = 0.1234 + 0.01 * [c[0] for c in UNUSABLE_CASES].index(case)
    pot = _fresh_potential(tag)
    configured = make(tmp_path)
    if condition is not None:
        _deny(monkeypatch, configured, condition, f"eos_pot_{source_key(potential_source(pot, 'python'))}")
    monkeypatch.setenv("EOSTHEORY_CACHE_DIR", str(configured))
    try:
        cp = compile_potential(pot, "python")
        assert cp.loss(np.array([2.0]), cp.constants()) == pytest.approx(2.0 + tag * 16, rel=1e-15)
        private = Path(cp.module.__file__).parent
        assert private != configured and private.name.startswith("eostheory-cache-")
        assert private.stat().st_mode & 0o077 == 0  # private to this user
        assert _cache.cache_dir() == private  # the rest of the process uses it, without a new warning
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1, err
        assert err[0].startswith(f"eostheory: warning: the kernel cache directory {configured} cannot be used (")
        assert reason in err[0] and str(private) in err[0]
    finally:
        if condition == READ_ONLY:
            configured.chmod(0o755)


def test_cli_with_a_file_as_cache_dir_runs_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from eostheory.cli import main

    monkeypatch.setenv("EOSTHEORY_CACHE_DIR", str(_as_file(tmp_path)))
    code = main(["run", "--potential", "w**2/2 + 0.0421*w**4", "--eta", "0.1", "--x0", "0.5", "--steps", "10"])
    out, err = capsys.readouterr()
    assert code == 0 and "status" in out
    lines = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(lines) == 1 and "cannot be used (it is not a directory)" in lines[0]
    assert "Traceback" not in err


# ---------------------------------------------------------------- 3. compile notices
def test_compile_notice_once_and_silenced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EOSTHEORY_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("EOSTHEORY_QUIET", raising=False)
    tag = 0.5137
    try:
        set_quiet(None)
        pot = _fresh_potential(tag)
        loud = compile_potential(pot, "numba")
        loud.warm()
        loud.warm()  # already compiled: nothing more
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and _COMPILE_LINE.match(err[0]), err
        assert f"eostheory: compiling kernels of L = {pot.expr} (first time only) ... done in " in err[0]
        set_quiet(True)
        compile_potential(_fresh_potential(tag + 1), "numba").warm()
        assert capsys.readouterr().err == ""
        set_quiet(None)
        monkeypatch.setenv("EOSTHEORY_QUIET", "1")
        assert _notice.is_quiet()
        compile_potential(_fresh_potential(tag + 2), "numba").warm()
        assert capsys.readouterr().err == ""
    finally:
        set_quiet(None)


# ---------------------------------------------------------------- 4-5. formulas that used to crash
def _gd(grad: Callable[[float], float], x0: float, eta: float, steps: int) -> float:
    w = x0
    for _ in range(steps):
        w = w - eta * grad(w)
    return w


def _sign(x: float) -> float:
    return (x > 0) - (x < 0)


# (formula, gradient, second derivative away from kinks) — GD from x0 = 0.7, eta = 0.1, 10 steps
FORMULA_CASES: list[tuple[str, Callable[[float], float], Callable[[float], float]]] = [
    ("1/w + w**2", lambda w: 2 * w - 1 / w**2, lambda w: 2 + 2 / w**3),  # pole at the old warm-up point
    ("w**2 - log(w)", lambda w: 2 * w - 1 / w, lambda w: 2 + 1 / w**2),  # log(0) at the old warm-up point
    ("abs(w)", lambda w: float(_sign(w)), lambda w: 0.0),  # re/sign/DiracDelta
    ("Max(w, 0)**2", lambda w: 2 * max(w, 0.0), lambda w: 2.0 if w > 0 else 0.0),  # Heaviside/DiracDelta
    ("w**2 + abs(w - 1)", lambda w: 2 * w + _sign(w - 1), lambda w: 2.0),
    ("Min(w, 1)**3 + w**2", lambda w: 3 * min(w, 1.0) ** 2 * (w < 1) + 2 * w, lambda w: 6 * w * (w < 1) + 2),
]


@pytest.mark.parametrize(("formula", "grad", "curv"), FORMULA_CASES, ids=[c[0] for c in FORMULA_CASES])
def test_formula_with_pole_or_kink_runs(
    formula: str, grad: Callable[[float], float], curv: Callable[[float], float]
) -> None:
    r = eos.run(formula, "gd", x0=[0.7], steps=10, eta=0.1)
    w = r.final["params"][0]
    assert w == pytest.approx(_gd(grad, 0.7, 0.1, 10), rel=1e-12, abs=1e-15)
    assert r.final["sharpness"] == pytest.approx(curv(w), rel=1e-12, abs=1e-15)
    for be in ("numba", "python"):  # warm-up at the user's point, and at the default point
        cp = compile_potential(Potential(formula), be)
        cp.warm(np.array([0.7]))
        assert cp.grad(np.array([0.7]), cp.constants())[0] == pytest.approx(grad(0.7), rel=1e-12)


def test_kernel_at_a_pole_is_inf_not_an_exception() -> None:
    cp = compile_potential(Potential("1/w + w**2"), "numba")
    c = cp.constants()
    assert cp.grad(np.array([0.0]), c)[0] == -math.inf
    assert cp.sharpness(np.array([0.0]), c) == math.inf


w_ = sp.Symbol("w")

# (case, potential builder, pattern of the one-line message)
ERROR_CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "a function without compiled form",
        lambda: compile_potential(Potential(sp.gamma(w_), params=[w_])),
        r"cannot compile L = gamma\(w\): the function polygamma has no compiled form",
    ),
    (
        "an integer beyond float64",
        lambda: compile_potential(Potential(sp.Integer(10) ** 400 * w_**2, params=[w_])),
        r"cannot compile L = 1000.*: the integer does not fit a float64",
    ),
    (
        "a derivative sympy cannot evaluate",
        lambda: compile_potential(Potential(sp.Mod(w_, 1) + w_**2, params=[w_])),
        r"cannot compile L = .*Mod.*: sympy left this derivative unevaluated \(Mod has no known derivative\)",
    ),
    (
        "a numba typing error",
        lambda: compile_potential(Potential("w**2 + 7*w"), "numba")._call("loss", "not an array", np.zeros(0)),
        r"numba cannot compile potential L = w\*\*2 \+ 7\*w \(loss\): No implementation of function .+",
    ),
    (
        "a chain too deep for symbolic kernels",
        lambda: linear_chain(50, X=[1.0], Y=[1.0]),
        r"linear_chain depth 50 is above the limit of 16 for symbolic kernels .+",
    ),
]


@pytest.mark.parametrize(("case", "build", "pattern"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_uncompilable_input_is_one_line(case: str, build: Callable[[], object], pattern: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(EosInputError) as exc:
        build()
    assert time.perf_counter() - t0 < 30
    msg = str(exc.value)
    assert "\n" not in msg and len(msg) < 400, msg
    assert re.fullmatch(pattern, msg), msg
    assert "nopython" not in msg and "Traceback" not in msg


def test_compilation_error_is_an_input_error() -> None:
    assert issubclass(CompilationError, EosInputError)


def test_numba_reason_skips_the_pipeline_banner() -> None:
    text = (
        "Failed in nopython mode pipeline (step: nopython frontend)\n"
        "\x1b[1m\x1b[1mInt value is too large: 1000000000000000000000\x1b[0m\n"
        "\x1b[0m\x1b[1mDuring: typing of argument at <string> (3)\x1b[0m\n"
    )
    assert numba_reason(RuntimeError(text)) == "Int value is too large: 1000000000000000000000"


def test_chain_depth_limit_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from eostheory.cli import main

    t0 = time.perf_counter()
    code = main(["run", "--net", "chain", "--depth", "50", "--eta", "0.1", "--steps", "10"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and time.perf_counter() - t0 < 30
    assert "\n" not in err and "above the limit of 16" in err
