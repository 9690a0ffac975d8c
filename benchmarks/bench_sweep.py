"""Sweep engine overhead and scaling, side by side in one run.

The same points (``eostheory run`` of GD on the self-stabilization toy over a grid of step
sizes in the oscillating regime, so that every point runs all its steps) are run:

* in a plain Python loop: the command called in-process once per point, its ``--json``
  output captured (what a hand-written loop does, without process start-up);
* by ``eos.sweep`` in this process (``workers=0``): the loop plus the Parquet store;
* by ``eos.sweep`` on an embedded Dask ``LocalCluster`` of 1 and of 2 workers.

Reported for each: the total wall time (cluster start and shutdown included), the time
per point in the steady state (between the first and the last completed point, from the
completion times the sweep's callback sees), the median time inside a task (the point's
own ``point_seconds``), and from those the per-task overhead of the engine against the
loop and the throughput ratio of 2 workers to 1.  Compilation is out of
every figure: one warm-up point fills the kernel cache first.

    python benchmarks/bench_sweep.py [--points 24] [--steps 1000000] [--point-dirs]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import eostheory as eos
from eostheory.cli import main as cli_main
from eostheory.sweep import default_workers

BASE = ["--potential", "selfstab", "--optimizer", "gd", "--x0", "0.01,1.5"]


def plain_loop(argvs: list[list[str]]) -> float:
    """Seconds to run every point with the command called in-process, one after another."""
    t0 = time.perf_counter()
    for argv in argvs:
        with contextlib.redirect_stdout(io.StringIO()) as buf:
            code = cli_main(["run", *argv, "--json"])
        assert code == 0 and buf.getvalue().startswith("{")
    return time.perf_counter() - t0


def timed_sweep(root: Path, name: str, grid: dict[str, list[float]], steps: int, workers: int, dirs: bool) -> dict:
    """Run one sweep; returns its total wall time and the completion times of its points."""
    done: list[float] = []
    inside: list[float] = []

    def seen(row: dict) -> None:
        done.append(time.perf_counter())
        inside.append(row["point_seconds"])

    t0 = time.perf_counter()
    res = eos.sweep(
        "run",
        [*BASE, "--steps", str(steps)],
        grid=grid,
        out=root / name,
        workers=workers,
        point_dirs=dirs,
        progress=False,
        callback=seen,
    )
    total = time.perf_counter() - t0
    assert res.done == res.points == res.executed, res.failures
    t = np.asarray(done)
    steady = (t[-1] - t[0]) / (len(t) - 1) if len(t) > 1 else float("nan")
    return {"total": total, "steady": steady, "inside": float(np.median(inside)), "engine": res.engine}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=24, help="points of the grid (default 24)")
    ap.add_argument("--steps", type=int, default=1_000_000, help="GD steps per point (default 10^6)")
    ap.add_argument("--point-dirs", action="store_true", help="give each point its run directory (arrays, plot)")
    args = ap.parse_args()

    etas = [float(f"{e:.10g}") for e in np.linspace(0.41, 0.5, args.points)]
    grid = {"eta": etas}
    argvs = [[*BASE, f"--eta={e!r}", f"--steps={args.steps}"] for e in etas]
    root = Path(tempfile.mkdtemp(prefix="eos-bench-sweep-"))
    try:
        plain_loop(argvs[:1])  # compile (or load) the kernels once, outside every figure
        loop = plain_loop(argvs)
        runs = {
            "sweep, in-process": timed_sweep(root, "w0", grid, args.steps, 0, args.point_dirs),
            "sweep, 1 worker": timed_sweep(root, "w1", grid, args.steps, 1, args.point_dirs),
            "sweep, 2 workers": timed_sweep(root, "w2", grid, args.steps, 2, args.point_dirs),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)

    n = args.points
    per_loop = loop / n
    print(
        f"{n} points of eostheory run (selfstab, GD, {args.steps:,} steps each)"
        f"{', with run directories' if args.point_dirs else ''}; {default_workers()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end\n"
    )
    head = ("total s", "s/point (steady)", "in-task s/point", "overhead ms/point", "points/s")
    print(f"{'':22s} {head[0]:>9s} {head[1]:>17s} {head[2]:>16s} {head[3]:>18s} {head[4]:>9s}")
    print(f"{'plain Python loop':22s} {loop:9.2f} {per_loop:17.4f} {per_loop:16.4f} {'-':>18s} {1 / per_loop:9.1f}")
    for name, r in runs.items():
        over = (r["steady"] - per_loop) * 1e3
        print(
            f"{name:22s} {r['total']:9.2f} {r['steady']:17.4f} {r['inside']:16.4f} {over:18.1f} {1 / r['steady']:9.1f}"
        )
    one, two = runs["sweep, 1 worker"], runs["sweep, 2 workers"]
    print(
        f"\nthroughput 2 workers / 1 worker: {one['steady'] / two['steady']:.2f}x in the steady state, "
        f"{one['total'] / two['total']:.2f}x in total wall time"
    )
    fixed = one["total"] - n * one["steady"]
    print(f"fixed cost of the 1-worker local cluster (start, first point, shutdown): {fixed:.1f} s")


if __name__ == "__main__":  # the local cluster's worker processes import this file: keep the guard
    main()
