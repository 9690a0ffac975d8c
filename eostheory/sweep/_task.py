"""One point of a sweep, run where a worker runs it: the command in-process, its ``--json`` captured.

:func:`run_point` parses the point's canonical command line with the command's own parser,
sets ``--json`` and ``--out`` (the point's run directory), runs the command's ``execute``
with this thread's standard output and error captured (other threads, e.g. a Dask worker's
own, are untouched), and returns one flat row: the point's bookkeeping (``point_*``), its
axis values and every scalar of the command's JSON result.  A point that fails (bad input,
a crash) returns a row with ``point_status = "failed"`` and the error instead of raising,
so a sweep goes on.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from eostheory._version import __version__

__all__ = ["failed_row", "flatten", "limit_threads", "preload", "preload_async", "run_point", "typed_value"]

#: numeric lists up to this length are stored one column per element (``average.params.1``)
MAX_EXPANDED = 16

#: the most characters of a point's captured standard error kept in its row
MAX_LOG = 4000

#: result fields (JSON paths) not stored as columns (the run directory is ``point_dir``)
_DROPPED = ("out",)


class _Router(io.TextIOBase):
    """A text stream that writes to this thread's capture buffer when one is set, else to ``base``."""

    def __init__(self, base: Any, local: threading.local, attr: str) -> None:
        self.base = base
        self._local = local
        self._attr = attr

    def _target(self) -> Any:
        return getattr(self._local, self._attr, None) or self.base

    def write(self, s: str) -> int:  # type: ignore[override]
        return self._target().write(s)

    def flush(self) -> None:
        target = self._target()
        if hasattr(target, "flush"):
            target.flush()

    def isatty(self) -> bool:
        if getattr(self._local, self._attr, None) is not None:
            return False
        try:
            return bool(self.base.isatty())
        except (AttributeError, ValueError):  # the stream underneath is closed (e.g. at exit)
            return False

    @property
    def closed(self) -> bool:  # type: ignore[override]
        return bool(getattr(self._target(), "closed", False))

    def fileno(self) -> int:
        return self.base.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.base, "encoding", "utf-8") or "utf-8"


_LOCAL = threading.local()
_LOCK = threading.Lock()
_ACTIVE = [0]


@contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Capture this thread's ``sys.stdout``/``sys.stderr`` (thread-safe; other threads write through)."""
    out, err = io.StringIO(), io.StringIO()
    with _LOCK:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router(sys.stdout, _LOCAL, "out")
        if not isinstance(sys.stderr, _Router):
            sys.stderr = _Router(sys.stderr, _LOCAL, "err")
        _ACTIVE[0] += 1
    _LOCAL.out, _LOCAL.err = out, err
    try:
        yield out, err
    finally:
        _LOCAL.out = _LOCAL.err = None
        with _LOCK:
            _ACTIVE[0] -= 1
            if _ACTIVE[0] == 0:
                for name in ("stdout", "stderr"):
                    stream = getattr(sys, name)
                    if isinstance(stream, _Router):
                        setattr(sys, name, stream.base)


def limit_threads() -> None:
    """One compute thread per task: BLAS/OpenMP variables (for libraries not loaded yet) and torch.

    A worker runs one point at a time on its core; libraries that start a thread per core
    would fight the other workers for the machine (on a small CPU that makes torch's
    Hessian products many times slower).
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.set_num_threads(1)
        except RuntimeError:  # already running parallel work: leave it
            pass


def preload(command: str, plots: bool) -> int:
    """Import what a point of ``command`` needs (run on every worker before the points fan out).

    A fresh worker otherwise pays for these imports inside its first point, one worker after
    another; here they are paid by all workers at once, while the first point runs.

    Args:
        command: the swept command.
        plots: also import matplotlib (the points write run directories with figures).

    Returns:
        This process's id.
    """
    import importlib

    limit_threads()
    importlib.import_module(f"eostheory.cli._cmd_{command}")
    importlib.import_module("eostheory.sweep._args")
    if plots:
        importlib.import_module("eostheory.analysis.plots")._pyplot()
    return os.getpid()


async def preload_async(command: str, plots: bool) -> int:
    """:func:`preload` as a coroutine, so that a Dask client can start it without waiting for it."""
    return preload(command, plots)


def typed_value(text: str) -> Any:
    """An axis value for its column: an int, a float, a bool for ``true``/``false``, else the text.

    Examples:
        >>> typed_value("20000"), typed_value("0.45"), typed_value("true"), typed_value("central:k=2")
        (20000, 0.45, True, 'central:k=2')
    """
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        x = float(text)
    except ValueError:
        return text
    return x if math.isfinite(x) else text


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, int | float) and not isinstance(v, bool))


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A JSON result as flat columns: nested keys joined by ``.``.

    Numeric lists of at most :data:`MAX_EXPANDED` items get a column per item
    (``average.params.0``); other lists and ``non_finite`` are kept as JSON text.

    Examples:
        >>> flatten({"final": {"loss": 0.1, "params": [1.0, 2.0]}, "events": [[1.5, "enter"]]})
        {'final.loss': 0.1, 'final.params.0': 1.0, 'final.params.1': 2.0, 'events': '[[1.5, "enter"]]'}
    """
    out: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            name = f"{prefix}.{k}" if prefix else str(k)
            if name in _DROPPED:
                continue
            if name == "non_finite":
                out[name] = json.dumps(v, sort_keys=True)
            else:
                out.update(flatten(v, name))
    elif isinstance(obj, list):
        if len(obj) <= MAX_EXPANDED and all(_number(v) for v in obj):
            for i, v in enumerate(obj):
                out[f"{prefix}.{i}"] = v
        else:
            out[prefix] = json.dumps(obj)
    else:
        out[prefix] = obj
    return out


def _ratio(command: str, flat: Mapping[str, Any]) -> float | None:
    """The sharpness over the optimizer's threshold (``sharpness_ratio``), where both are known."""
    column = {"run": "average.sharpness", "compare": "gd.sharpness", "train": "final.sharpness"}.get(command)
    s, t = flat.get(column or ""), flat.get("threshold")
    if _number(s) and _number(t) and s is not None and t:
        return float(s) / float(t)
    return None


def _base_row(task: Mapping[str, Any]) -> dict[str, Any]:
    import shlex

    row: dict[str, Any] = {
        "point_key": task["key"],
        "point_status": "failed",
        "point_error": None,
        "point_exit_code": None,
        "point_seconds": None,
        "point_worker": f"{socket.gethostname()}:{os.getpid()}",
        "point_dir": task.get("point_dir"),
        "point_command": task["command"],
        "point_argv": shlex.join(["eostheory", task["command"], *task["argv"]]),
        "point_version": __version__,
        "point_finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "point_log": None,
        "point_traceback": None,
    }
    for name, text in task.get("values", {}).items():
        row[name] = typed_value(text)
    return row


def failed_row(task: Mapping[str, Any], error: str, *, seconds: float | None = None) -> dict[str, Any]:
    """The row of a point that never returned (e.g. its worker died too often), with ``error``."""
    row = _base_row(task)
    row["point_error"] = error
    row["point_seconds"] = seconds
    row["point_worker"] = None
    return row


#: tasks run by this process (a sweep reads it on its workers to count the work done)
EXECUTED = [0]


def run_point(task: Mapping[str, Any]) -> dict[str, Any]:
    """Run one point and return its row.

    Args:
        task: ``command`` (``run``, ``compare``, ``thresholds``, ``train``), ``argv`` (the
            canonical command line), ``key``, ``values`` (axis name -> text) and
            ``point_dir`` (the run directory, or ``None``).

    Returns:
        The row: ``point_*`` bookkeeping, the axis values and the flattened result, plus
        ``sharpness_ratio`` where the command reports a sharpness and a threshold.
    """
    from eostheory._errors import EosInputError
    from eostheory.sweep._args import command_spec

    limit_threads()
    EXECUTED[0] += 1
    row = _base_row(task)
    t0 = time.perf_counter()
    log = ""
    try:
        spec = command_spec(task["command"])
        ns = spec.namespace(task["argv"])
        ns.json = True
        ns.out = task.get("point_dir")
        if hasattr(ns, "no_progress"):
            ns.no_progress = True
        if hasattr(ns, "resume") and ns.out:
            ns.resume = True  # a retried train point continues from its checkpoint
        with _captured() as (out, err):
            try:
                code = int(spec.module.execute(ns) or 0)
            finally:
                log = err.getvalue()
        text = out.getvalue()
        try:
            result = json.loads(text)
        except json.JSONDecodeError:
            raise RuntimeError(f"the command printed no JSON result (exit status {code}): {text[-200:]!r}") from None
        flat = flatten(result)
        row["point_status"] = "done"
        row["point_exit_code"] = code
        for name, value in flat.items():
            row[f"result.{name}" if name in row else name] = value
        row["sharpness_ratio"] = _ratio(task["command"], flat)
        row["point_result"] = json.dumps(result)
    except EosInputError as exc:
        row["point_error"] = str(exc)
        row["point_exit_code"] = 2
    except (Exception, SystemExit) as exc:
        row["point_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        row["point_exit_code"] = 1
        row["point_traceback"] = traceback.format_exc()[-MAX_LOG:]
    row["point_seconds"] = time.perf_counter() - t0
    row["point_log"] = log[-MAX_LOG:] or None
    return row


def executed_count() -> int:
    """How many points this process has run (see :data:`EXECUTED`)."""
    return EXECUTED[0]
