"""The sweep engine: plan the points, skip the stored ones, fan the rest out on Dask distributed.

Each point is one Dask task (:func:`eostheory.sweep._task.run_point`); the client writes
each completed point's fragment as its result arrives, so a sweep that dies loses only the
points in flight.  The cluster is an embedded :class:`distributed.LocalCluster` (one worker
process per core, one thread each) unless a scheduler address is given, or
``EOSTHEORY_SCHEDULER`` names one; a lost worker's tasks are run again elsewhere by the
scheduler.

Compiled kernels: points that share a potential and an optimizer share their kernels, so
one point of each such group runs first and the rest of the group is submitted once it is
back; by then its kernels are in the on-disk cache (written atomically), and the other
workers load them instead of all compiling the same code at once.

:func:`map_tasks` runs any picklable function over independent tasks on the same engine
(one Dask task per task, failures kept per task, results in task order), and
:func:`engine` keeps one cluster open across several calls.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from eostheory._errors import EosInputError
from eostheory._io import validate_out_dir
from eostheory.sweep._args import CommandSpec, Point, command_spec, value_text
from eostheory.sweep._grid import (
    MAX_POINTS,
    combine,
    parse_axis,
    parse_sample,
    product_size,
    read_points,
    sample_values,
    split_assignment,
)
from eostheory.sweep._store import RESULTS, Store
from eostheory.sweep._task import failed_row, preload_async, run_point

__all__ = [
    "RUNTIME_AXES",
    "Engine",
    "MapResult",
    "Plan",
    "SweepResult",
    "TaskOutcome",
    "default_workers",
    "engine",
    "map_tasks",
    "plan",
    "sweep",
]

#: axes that change a point's numbers but not its compiled code: points differing only in
#: these share kernels, so one of them warms the cache for the rest
RUNTIME_AXES = frozenset(
    {
        "eta",
        "beta",
        "steps",
        "x0",
        "record_every",
        "window",
        "rtol",
        "atol",
        "point",
        "track_every",
        "batch_size",
        "bs_batch_size",
        "top_k",
        "eig_tol",
        "bs_rse",
        "threads",
        "device",
        "init_scale",
    }
)

#: the environment variable naming a Dask scheduler to use by default
SCHEDULER_ENV = "EOSTHEORY_SCHEDULER"

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def default_workers() -> int:
    """The cores this process may use (the size of the embedded cluster)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass
class Plan:
    """The points of a sweep, before anything runs.

    Attributes:
        command: the swept command.
        axes: the axis names, canonical, in order.
        points: the distinct points.
        base: the base configuration's canonical command line.
        duplicates: points dropped because another point has the same configuration.
    """

    command: str
    axes: list[str]
    points: list[Point]
    base: tuple[str, ...]
    duplicates: int = 0


@dataclass
class SweepResult:
    """What a sweep did.

    Attributes:
        out: the sweep directory.
        command: the swept command.
        axes: this sweep's axes.
        points: its distinct points.
        executed: points run now (0 when every point was already stored).
        skipped: points found in the store and not run again.
        done: points of this sweep stored as done.
        failed: points of this sweep stored as failed.
        seconds: wall time of the sweep.
        engine: where the points ran (``local cluster (2 workers)``, an address, ``in-process``).
        failures: ``(key, error)`` of the failed points (the first 20).
        keys: the points' keys.
        results: ``results.parquet`` (every stored row).
        plot: the figure, when one was drawn.
    """

    out: Path
    command: str
    axes: list[str]
    points: int
    executed: int
    skipped: int
    done: int
    failed: int
    seconds: float
    engine: str
    failures: list[tuple[str, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    results: Path | None = None
    plot: Path | None = None

    def frame(self) -> Any:
        """This sweep's rows (see :func:`eostheory.load_sweep`)."""
        from eostheory.sweep._store import load_sweep

        df = load_sweep(self.out)
        sub = df[df["point_key"].isin(self.keys)].reset_index(drop=True)
        sub.sweep_axes = [a for a in self.axes if a in sub.columns]
        return sub

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "out": str(self.out),
            "command": self.command,
            "axes": self.axes,
            "points": self.points,
            "executed": self.executed,
            "skipped": self.skipped,
            "done": self.done,
            "failed": self.failed,
            "seconds": self.seconds,
            "engine": self.engine,
            "failures": [{"key": k, "error": e} for k, e in self.failures],
            "results": None if self.results is None else str(self.results),
            "plot": None if self.plot is None else str(self.plot),
        }


def _axis_specs(spec: Any, option: str) -> list[tuple[str, Any]]:
    """``["eta=0.1:0.5:9", …]`` or ``{"eta": "0.1:0.5:9", "beta": [0, 0.9]}`` as (name, spec) pairs."""
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        return list(spec.items())
    if isinstance(spec, str):
        spec = [spec]
    return [split_assignment(s, option) for s in spec]


def plan(
    command: str,
    base: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    grid: Any = None,
    sample: Any = None,
    samples: int | None = None,
    sample_seed: int = 0,
    points: str | os.PathLike[str] | Sequence[Mapping[str, Any]] | None = None,
) -> Plan:
    """The points of a sweep (see :func:`sweep` for the arguments); runs and writes nothing.

    Raises:
        EosInputError: an unknown argument name, an empty grid, an axis given twice, a
            sample without ``samples``, too many points, or a point the command refuses.
    """
    import numpy as np

    spec: CommandSpec = command_spec(command)
    base_ns: argparse.Namespace = spec.parse_base(base)
    factors: list[list[dict[str, str]]] = []
    axes: list[str] = []

    def add_axis(name: str) -> str:
        canon = spec.resolve(name)[0]
        if canon in axes:
            raise EosInputError(f"the axis {canon} is given twice")
        axes.append(canon)
        return canon

    for name, s in _axis_specs(grid, "--grid"):
        canon = add_axis(name)
        values = parse_axis(canon, s) if isinstance(s, str) else [value_text(v) for v in s]
        if not values:
            raise EosInputError(f"--grid {canon}: no values (an empty grid)")
        factors.append([{canon: v} for v in values])
    if points is not None:
        rows = (
            read_points(points)
            if isinstance(points, str | os.PathLike)
            else [{str(k): value_text(v) for k, v in p.items()} for p in points]
        )
        if not rows:
            raise EosInputError("--points: no points (an empty list)")
        names: dict[str, str] = {}
        for row in rows:
            for k in row:
                if k not in names:
                    names[k] = add_axis(k)
        factors.append([{names[k]: v for k, v in row.items()} for row in rows])
    sampled = _axis_specs(sample, "--sample")
    if sampled:
        if samples is None or int(samples) < 1:
            raise EosInputError("--sample needs --samples N, the number of random points (N >= 1)")
        rng = np.random.default_rng(int(sample_seed))
        cols = []
        for name, s in sampled:
            canon = add_axis(name)
            dist = parse_sample(canon, s) if isinstance(s, str) else ("choice", [value_text(v) for v in s])
            cols.append((canon, sample_values(dist, int(samples), rng)))
        factors.append([{c: vals[i] for c, vals in cols} for i in range(int(samples))])
    elif samples is not None:
        raise EosInputError("--samples is the number of random points of the --sample axes: give --sample NAME=LO:HI")
    if not factors:
        raise EosInputError("nothing to sweep: give at least one --grid NAME=VALUES (or --sample, --points)")
    size = product_size(factors)
    if size > MAX_POINTS:
        raise EosInputError(f"the sweep has {size:,} points, more than {MAX_POINTS:,}; split it into smaller sweeps")
    seen: dict[str, Point] = {}
    duplicates = 0
    for values in combine(factors):
        try:
            p = spec.point(base_ns, values)
        except EosInputError as exc:
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            raise EosInputError(f"point {shown}: {exc}") from None
        if p.key in seen:
            duplicates += 1
        else:
            seen[p.key] = p
    return Plan(spec.name, axes, list(seen.values()), spec.argv(base_ns), duplicates)


class _Progress:
    """A progress bar on standard error, only on a terminal: done, failed, remaining."""

    def __init__(self, total: int, enabled: bool, desc: str = "sweep", unit: str = "point") -> None:
        self.done = self.failed = 0
        self.total = total
        self._bar = None
        if enabled and total:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
            except ImportError:
                self._bar = None

    def update(self, status: str) -> None:
        if status == "done":
            self.done += 1
        else:
            self.failed += 1
        if self._bar is not None:
            remaining = self.total - self.done - self.failed
            self._bar.set_postfix(done=self.done, failed=self.failed, remaining=remaining, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class _Engine:
    """Where the points run: a Dask client (its cluster, when embedded), or this process."""

    def __init__(self, scheduler: Any, workers: int | None, connect_timeout: float, n_tasks: int) -> None:
        self.client: Any = None
        self.cluster: Any = None
        self._own_client = True
        if workers is not None and int(workers) < 0:
            raise EosInputError(f"--workers must be >= 0 (0 runs the points in this process), got {workers}")
        if scheduler is None:
            scheduler = os.environ.get(SCHEDULER_ENV) or None
            if scheduler is not None and workers is not None:
                scheduler = None  # an explicit --workers asks for the embedded cluster
        if isinstance(scheduler, str) and scheduler.strip().lower() in ("", "local"):
            scheduler = None
        if isinstance(scheduler, _Engine):  # an engine opened by engine(), shared: not closed here
            if workers is not None:
                raise EosInputError("workers sizes a new local cluster; an open engine has its own workers")
            self.client, self._own_client, self.description = scheduler.client, False, scheduler.description
            return
        if workers == 0 and scheduler is None:
            self.description = "in-process (no cluster)"
            return
        try:
            import distributed
        except ImportError:
            raise EosInputError("sweeps run on Dask distributed: pip install 'eostheory[sweep]'") from None
        if scheduler is None:
            self._local(distributed, workers, n_tasks)
        elif isinstance(scheduler, str):
            if workers is not None:
                raise EosInputError(
                    "--workers sizes the embedded local cluster; a --scheduler cluster has its own workers"
                )
            self._connect(distributed, scheduler.strip(), connect_timeout)
        elif isinstance(scheduler, distributed.Client):
            self.client, self._own_client = scheduler, False
            self.description = f"scheduler {scheduler.scheduler.address}"
        elif hasattr(scheduler, "scheduler_address"):  # a cluster object (LocalCluster, dask-jobqueue …)
            self.client = distributed.Client(scheduler, timeout=connect_timeout)
            self.description = f"cluster {scheduler.scheduler_address}"
        else:
            raise EosInputError(
                f"scheduler must be an address, a distributed.Client or a cluster, got {type(scheduler).__name__}"
            )

    def _local(self, distributed: Any, workers: int | None, n_tasks: int) -> None:
        import dask

        n = max(1, min(int(workers) if workers else default_workers(), n_tasks))
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **dict.fromkeys(_THREAD_VARS, 1)}
        # no statistical profiler sampling the points' stacks every 10 ms (a few percent of every point)
        settings = {"distributed.nanny.pre-spawn-environ": environ, "distributed.worker.profile.enabled": False}
        with dask.config.set(settings):
            self.cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        self.client = distributed.Client(self.cluster)
        self.description = f"local cluster ({n} worker{'s' if n != 1 else ''})"

    def _connect(self, distributed: Any, address: str, timeout: float) -> None:
        try:
            self.client = distributed.Client(address, timeout=timeout)
        except Exception as exc:  # OSError, TimeoutError, ValueError (a malformed address) …
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EosInputError(
                f"--scheduler {address}: cannot reach a Dask scheduler within {timeout:g} s ({why[:200]}); "
                f"start one (dask scheduler) or leave --scheduler and {SCHEDULER_ENV} unset for a local cluster"
            ) from None
        self.description = f"scheduler {address}"

    def close(self) -> None:
        if self.client is not None and self._own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None


def _group_key(point: Point) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in point.values.items() if k.split(".")[0] not in RUNTIME_AXES)


def sweep(
    command: str,
    base: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    out: str | os.PathLike[str],
    grid: Any = None,
    sample: Any = None,
    samples: int | None = None,
    sample_seed: int = 0,
    points: str | os.PathLike[str] | Sequence[Mapping[str, Any]] | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    connect_timeout: float = 10.0,
    point_dirs: bool = True,
    retry_failed: bool = True,
    plot: bool = False,
    plot_y: str | None = None,
    progress: bool | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run a command over a grid of its arguments and store one row per point.

    Args:
        command: ``run``, ``compare``, ``thresholds`` or ``train``.
        base: the configuration every point shares: command-line tokens
            (``["--potential", "selfstab", "--x0", "0.01,1.5"]``) or a mapping
            (``{"potential": "selfstab", "x0": [0.01, 1.5]}``).
        out: the sweep directory (created; an existing sweep of the same command is
            continued: its stored points are not run again).
        grid: axes whose Cartesian product is swept: ``{"eta": "0.3:0.52:12", "beta":
            [0, 0.9]}`` or ``["eta=0.3:0.52:12", "beta=0,0.9"]`` (see
            :mod:`eostheory.sweep._grid` for the forms).  Any argument of the command is an
            axis, by its option name (``eta``, ``batch_size``) or as ``set.NAME``,
            ``verify.NAME``, ``data_opt.NAME`` for one entry of those options.
        sample: axes drawn at random, ``{"eta": "0.1:0.5", "seed": "0:99:int"}``.
        samples: how many random points (with ``sample``).
        sample_seed: the seed of the draws.
        points: an explicit list of points (dicts of axis values), or a JSON/CSV file of them.
        workers: the size of the embedded local cluster (default: the cores available);
            ``0`` runs the points one after another in this process, without Dask.
        scheduler: a Dask scheduler address (``tcp://host:8786``), a
            :class:`distributed.Client` or a cluster object (dask-jobqueue); default
            ``$EOSTHEORY_SCHEDULER``, else the embedded cluster.
        connect_timeout: seconds to wait for the scheduler.
        point_dirs: give each point a run directory ``runs/<key>/`` (its arrays and plots).
        retry_failed: run points stored as failed again (default); ``False`` keeps them.
        plot: draw ``sweep.png`` (1-D: the swept scalars against the axis with the
            threshold; 2-D: a heat map).
        plot_y: the column to plot instead of the command's natural one.
        progress: a progress bar on standard error (default: only on a terminal).
        callback: called with each completed point's row, in the client, after it is stored.

    Returns:
        A :class:`SweepResult`.

    Raises:
        EosInputError: bad input (see :func:`plan`), an unusable ``out``, a directory
            holding a sweep of another command, or a scheduler that cannot be reached;
            nothing is written in those cases.
    """
    t0 = time.perf_counter()
    p = plan(command, base, grid=grid, sample=sample, samples=samples, sample_seed=sample_seed, points=points)
    if plot and len(p.axes) not in (1, 2):
        raise EosInputError(f"--plot draws 1-D and 2-D sweeps; this one has {len(p.axes)} axes ({', '.join(p.axes)})")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise EosInputError("the sweep store is Parquet: pip install 'eostheory[sweep]'") from None
    store = Store(validate_out_dir(out))
    store.check_command(p.command)
    keys = [pt.key for pt in p.points]
    stored = store.statuses(keys) if store.root.is_dir() else {}
    todo = [pt for pt in p.points if pt.key not in stored or (retry_failed and stored[pt.key] != "done")]
    executed = 0
    engine_name = "none (every point already stored)"
    if todo:
        engine = _Engine(scheduler, workers, connect_timeout, len(todo))
        engine_name = engine.description
        try:
            store.create()
            store.record_sweep(p.command, p.axes, p.base, len(p.points))
            show = sys.stderr.isatty() if progress is None else bool(progress)
            executed = _execute(engine, store, p.command, todo, point_dirs, _Progress(len(todo), show), callback)
        finally:
            engine.close()
    results = store.root / RESULTS
    if executed or not results.exists():
        results = store.consolidate()
    final = store.statuses(keys)
    failed = [k for k in keys if final.get(k) == "failed"]
    res = SweepResult(
        out=store.root,
        command=p.command,
        axes=p.axes,
        points=len(p.points),
        executed=executed,
        skipped=len(p.points) - len(todo),
        done=sum(1 for k in keys if final.get(k) == "done"),
        failed=len(failed),
        seconds=0.0,
        engine=engine_name,
        keys=keys,
        results=results,
    )
    if failed:
        frame = res.frame()
        bad = frame[frame["point_status"] == "failed"]
        res.failures = list(zip(bad["point_key"], bad["point_error"].astype(str), strict=True))[:20]
    if plot:
        from eostheory.analysis.sweep_plots import plot_sweep

        res.plot = plot_sweep(res.frame(), store.root / "sweep.png", axes=p.axes, command=p.command, y=plot_y)
    res.seconds = time.perf_counter() - t0
    return res


def _execute(
    engine: _Engine,
    store: Store,
    command: str,
    todo: Sequence[Point],
    point_dirs: bool,
    bar: _Progress,
    callback: Callable[[dict[str, Any]], None] | None,
) -> int:
    """Run ``todo``, one group's first point before the rest of the group; returns the points run."""
    groups: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for pt in todo:
        task = {
            "command": command,
            "argv": list(pt.argv),
            "key": pt.key,
            "values": pt.values,
            "point_dir": str(store.run_dir(pt.key)) if point_dirs else None,
        }
        groups.setdefault(_group_key(pt), []).append(task)
    count = 0

    def finish(row: dict[str, Any]) -> None:
        nonlocal count
        count += 1
        store.write(row)
        bar.update(str(row.get("point_status")))
        if callback is not None:
            callback(row)

    try:
        if engine.client is None:  # in-process, one point after another
            for tasks in groups.values():
                for task in tasks:
                    finish(run_point(task))
            return count
        from distributed import as_completed

        client = engine.client
        tasks_of: dict[str, dict[str, Any]] = {}
        rest_of: dict[str, list[dict[str, Any]]] = {}

        def submit(task: dict[str, Any]) -> Any:
            fut = client.submit(run_point, task, key=f"eostheory-point-{task['key']}", pure=False)
            tasks_of[fut.key] = task
            return fut

        firsts = []
        first_task = next(iter(groups.values()))[0]
        firsts.append(submit(first_task))  # the first kernels compile while the workers import
        client.run(preload_async, command, point_dirs, wait=False)
        for i, tasks in enumerate(groups.values()):
            if i == 0:
                rest_of[firsts[0].key] = tasks[1:]
                continue
            fut = submit(tasks[0])
            rest_of[fut.key] = tasks[1:]
            firsts.append(fut)
        pending = as_completed(firsts)
        for fut in pending:
            task = tasks_of.pop(fut.key)
            try:
                row = fut.result()
            except Exception as exc:  # KilledWorker after repeated worker deaths, a cancelled task …
                row = failed_row(task, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500])
            finally:
                fut.release()
            finish(row)
            for later in rest_of.pop(fut.key, []):
                pending.add(submit(later))
        return count
    finally:
        bar.close()


# ----------------------------------------------------------------------------- mapping a function over tasks

#: the engine: a local cluster, a scheduler's client, or this process (see :func:`engine`)
Engine = _Engine

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class TaskOutcome(Generic[R]):
    """What one task of :func:`map_tasks` gave.

    Attributes:
        index: the task's position in the input.
        ok: it returned (``value`` holds its result); else it raised or never returned.
        value: the function's return value (``None`` when it failed).
        error: ``"TypeName: first line of the message"`` of the failure (``None`` when ok).
        traceback: the formatted traceback of the failure, when it ran (cut to 4000 characters).
        exception: the exception raised, when it could be brought back (``None`` otherwise).
        seconds: the task's own run time (``None`` when it never returned).
        worker: ``host:pid`` of the process that ran it.
    """

    index: int
    ok: bool
    value: R | None = None
    error: str | None = None
    traceback: str | None = None
    exception: BaseException | None = None
    seconds: float | None = None
    worker: str | None = None


@dataclass
class MapResult(Generic[R]):
    """The outcomes of :func:`map_tasks`, one per task, in the order of the tasks.

    Attributes:
        outcomes: the :class:`TaskOutcome` of each task, ``outcomes[i]`` for ``tasks[i]``.
        engine: where the tasks ran (``local cluster (2 workers)``, ``scheduler ADDR``, ``in-process``).
        seconds: wall time of the whole map, the cluster's start included.
    """

    outcomes: list[TaskOutcome[R]]
    engine: str
    seconds: float

    @property
    def failed(self) -> list[TaskOutcome[R]]:
        """The outcomes of the tasks that failed, in task order."""
        return [o for o in self.outcomes if not o.ok]

    def values(self) -> list[R]:
        """The results in task order; raises the first failed task's exception (or a RuntimeError)."""
        for o in self.outcomes:
            if not o.ok:
                if o.exception is not None:
                    raise o.exception
                raise RuntimeError(f"task {o.index} failed: {o.error}")
        return [o.value for o in self.outcomes]  # type: ignore[misc]


def _worker_name() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _failure(index: int, exc: BaseException, t0: float, *, keep: bool) -> TaskOutcome[Any]:
    import traceback

    text = str(exc).splitlines()[0] if str(exc) else ""
    exception: BaseException | None = exc
    if not keep:  # it travels back to the client: keep it only if it pickles
        import pickle

        try:
            pickle.dumps(exc)
        except Exception:
            exception = None
    return TaskOutcome(
        index,
        False,
        error=f"{type(exc).__name__}: {text}"[:500],
        traceback="".join(traceback.format_exception(exc))[-4000:],
        exception=exception,
        seconds=time.perf_counter() - t0,
        worker=_worker_name(),
    )


def _run_task(fn: Callable[[Any], Any], task: Any, index: int, on_worker: bool) -> TaskOutcome[Any]:
    """Run ``fn(task)`` and wrap its value or its exception; on a worker, at one compute thread."""
    if on_worker:
        from eostheory.sweep._task import limit_threads

        limit_threads()
    t0 = time.perf_counter()
    try:
        value = fn(task)
    except Exception as exc:
        return _failure(index, exc, t0, keep=not on_worker)
    return TaskOutcome(index, True, value=value, seconds=time.perf_counter() - t0, worker=_worker_name())


@contextlib.contextmanager
def engine(
    workers: int | None = None, scheduler: Any = None, *, connect_timeout: float = 10.0, n_tasks: int | None = None
) -> Iterator[_Engine]:
    """Open the engine once for several :func:`map_tasks` (or :func:`sweep`) calls: pass it as ``scheduler``.

    ``with engine(workers=2) as eng: map_tasks(f, a, scheduler=eng); map_tasks(g, b, scheduler=eng)``
    starts one local cluster instead of two (its start and the workers' imports are paid once).

    Args:
        workers: the size of the local cluster (default: the cores available); ``0``: no cluster,
            every call given this engine runs its tasks in this process.
        scheduler: a Dask scheduler address, a :class:`distributed.Client` or a cluster object
            (default ``$EOSTHEORY_SCHEDULER``, else the local cluster).
        connect_timeout: seconds to wait for the scheduler.
        n_tasks: the most tasks that will run at once (the local cluster has no more workers than this).

    Raises:
        EosInputError: ``workers < 0``, ``workers`` with a scheduler, an unreachable scheduler,
            or Dask not installed.
    """
    eng = _Engine(scheduler, workers, connect_timeout, n_tasks or default_workers())
    try:
        yield eng
    finally:
        eng.close()


def map_tasks(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int | None = None,
    scheduler: Any = None,
    connect_timeout: float = 10.0,
    progress: bool | None = None,
    desc: str = "tasks",
    callback: Callable[[TaskOutcome[R]], None] | None = None,
) -> MapResult[R]:
    """``[fn(t) for t in tasks]`` on the sweep engine, each task a Dask task, failures kept per task.

    The tasks are independent: each runs once, on any worker, as ``fn(task)``; nothing is
    shared between them but what they carry.  ``fn`` must be importable by the workers (a
    module-level function, not one defined in ``__main__`` of a script fed on standard
    input) and ``fn``, the tasks and the results must pickle.  On the workers BLAS, OpenMP
    and torch are held to one thread.  A task that raises does not stop the others: its
    outcome holds the error, and :meth:`MapResult.values` raises it once every task is back.
    The outcomes are in the order of ``tasks``, whatever the order in which they finished.

    Args:
        fn: the function of one task.
        tasks: the tasks (each becomes the single argument of one call).
        workers: the size of the embedded local cluster (default: the cores available, at most
            one worker per task); ``0`` runs the tasks one after another in this process,
            without Dask, as does the default (``workers`` and ``scheduler`` both ``None``) for
            a single task.
        scheduler: a Dask scheduler address (``tcp://host:8786``), a :class:`distributed.Client`,
            a cluster object, or an engine opened by :func:`engine`; default
            ``$EOSTHEORY_SCHEDULER``, else the embedded cluster.
        connect_timeout: seconds to wait for the scheduler.
        progress: a progress bar on standard error (default: only on a terminal).
        desc: the bar's label.
        callback: called in this process with each :class:`TaskOutcome` as it arrives
            (completion order).

    Returns:
        A :class:`MapResult`.

    Raises:
        EosInputError: ``workers < 0``, ``workers`` with a scheduler, an unreachable scheduler,
            or Dask not installed (and a cluster asked for); nothing has run then.
    """
    t0 = time.perf_counter()
    todo = list(tasks)
    if not todo:
        return MapResult([], "none (no tasks)", 0.0)
    if workers is None and scheduler is None and len(todo) == 1:
        workers = 0
    eng = _Engine(scheduler, workers, connect_timeout, len(todo))
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _Progress(len(todo), show, desc=desc, unit="task")
    outcomes: list[TaskOutcome[R] | None] = [None] * len(todo)

    def finish(o: TaskOutcome[R]) -> None:
        outcomes[o.index] = o
        bar.update("done" if o.ok else "failed")
        if callback is not None:
            callback(o)

    try:
        if eng.client is None:
            for i, task in enumerate(todo):
                finish(_run_task(fn, task, i, False))
        else:
            import uuid

            from distributed import as_completed

            token = uuid.uuid4().hex[:12]
            index_of: dict[str, int] = {}
            futures = []
            for i, task in enumerate(todo):
                fut = eng.client.submit(_run_task, fn, task, i, True, key=f"eostheory-task-{token}-{i}", pure=False)
                index_of[fut.key] = i
                futures.append(fut)
            for fut in as_completed(futures):
                i = index_of[fut.key]
                try:
                    o = fut.result()
                except Exception as exc:  # KilledWorker, a result that does not unpickle, a cancelled task
                    o = _failure(i, exc, time.perf_counter(), keep=True)
                    o.seconds, o.worker, o.traceback = None, None, None
                finally:
                    fut.release()
                finish(o)
    finally:
        bar.close()
        eng.close()
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(todo)
    return MapResult(done, eng.description, time.perf_counter() - t0)
