"""``eostheory sweep COMMAND``: a command over a grid of its arguments, on Dask, stored as Parquet."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from typing import Any

from eostheory._errors import EosInputError

NAME = "sweep"
HELP = "run run/compare/thresholds/train over a grid of arguments on a Dask cluster; results as Parquet"
DESCRIPTION = (
    "eostheory sweep COMMAND --grid NAME=VALUES ... --out DIR [--json] [options of COMMAND]: run COMMAND "
    "(run, compare, thresholds, train) once per point of a grid, a random sample or a list of points; any "
    "argument of the command can be an axis. Each point is a Dask task whose result is the command's --json "
    "output; the rows are stored in DIR as Parquet, one fragment per point, keyed by a hash of the point's "
    "configuration, so a re-run skips the stored points. See 'eostheory sweep COMMAND --help'."
)

_TARGET_HELP = {
    "run": "sweep 'eostheory run' (an explicit optimizer on a potential)",
    "compare": "sweep 'eostheory compare' (GD against continuous-time models)",
    "thresholds": "sweep 'eostheory thresholds' (e.g. with --verify eta=..,beta=..)",
    "train": "sweep 'eostheory train' (a network in PyTorch)",
}

EPILOG = """values (NAME=VALUES):
  a:b:n            n evenly spaced values from a to b, both included (eta=0.3:0.52:12)
  a:b:n:log        n geometrically spaced values (eta=1e-3:1e-1:5:log)
  v1,v2,v3         a list (beta=0,0.5,0.9; optimizer=gd,heavy-ball)
  v1;v2            a list whose values hold commas (x0=0.01,1.5;0.02,1.5)
  set.S=...        one constant of --set (also verify.NAME, data_opt.NAME)
samples (--sample NAME=SPEC with --samples N):
  lo:hi  lo:hi:log  lo:hi:int  v1,v2,v3 (drawn uniformly)

examples:
  eostheory sweep run --potential selfstab --optimizer gd --grid eta=0.3:0.52:12 --x0 0.01,1.5 \\
      --steps 20000 --out S --plot
  eostheory sweep compare --potential quartic --set S=1,Q=1 --x0 0.5 --grid eta=0.5:1.5:5 \\
      --grid flows=central,rod --out C
  eostheory sweep thresholds heavy-ball --grid verify.eta=0.05,0.1 --grid verify.beta=0,0.5,0.9 \\
      --verify eta=0.1,beta=0.9 --out T
  eostheory sweep train --n 256 --steps 200 --grid eta=0.05,0.1 --grid batch_size=32,64 --out N

Every other option is the command's own (see 'eostheory COMMAND --help'). Exit status: 0 when every
point is done, 1 when some failed (their errors are stored), 2 for bad input (nothing is written).
"""


class _PassThroughParser(argparse.ArgumentParser):
    """A sub-command parser that keeps the options it does not know (the swept command's) in ``base``."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        ns, extras = super().parse_known_args(args, namespace)
        ns.base = list(getattr(ns, "base", None) or []) + list(extras)
        return ns, []


def _sweep_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the sweep")
    g.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=VALUES",
        help="an axis (repeatable; the points are the product of the axes): a:b:n, a:b:n:log, v1,v2 or v1;v2",
    )
    g.add_argument(
        "--sample",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="an axis drawn at random (repeatable; with --samples): lo:hi, lo:hi:log, lo:hi:int or v1,v2",
    )
    g.add_argument("--samples", default=None, help="the number of random points of the --sample axes")
    g.add_argument("--sample-seed", default="0", help="seed of the random points (default 0)")
    g.add_argument(
        "--points",
        metavar="FILE",
        help="an explicit list of points: JSON (a list of objects), JSON lines, or CSV with a header",
    )
    g.add_argument("--out", metavar="DIR", help="the sweep directory (the Parquet store, run dirs); required")
    g.add_argument("--json", action="store_true", help="print the sweep's summary as JSON on stdout")
    g.add_argument("--list", action="store_true", help="print the points (and their keys) and exit, running nothing")
    e = p.add_argument_group("the engine (Dask distributed)")
    e.add_argument(
        "--workers",
        default=None,
        help="worker processes of the embedded local cluster (default: the cores available; 0: run in this "
        "process, without Dask)",
    )
    e.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="a Dask scheduler to use, e.g. tcp://host:8786 (default $EOSTHEORY_SCHEDULER, else a local cluster; "
        "'local' forces the local one)",
    )
    e.add_argument("--connect-timeout", default="10", help="seconds to wait for --scheduler (default 10)")
    s = p.add_argument_group("storage and output")
    s.add_argument(
        "--no-point-dirs",
        action="store_true",
        help="no run directory per point (faster: no arrays or plots per point; the rows hold the scalars)",
    )
    s.add_argument("--skip-failed", action="store_true", help="on a re-run, keep points stored as failed")
    s.add_argument(
        "--plot",
        action="store_true",
        help="draw DIR/sweep.png: 1-D the swept scalars against the axis with the threshold; 2-D a heat map",
    )
    s.add_argument("--plot-y", metavar="COLUMN", help="the column to plot (default: the command's natural one)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn only on a terminal)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="COMMAND", parser_class=_PassThroughParser)
    for name, text in _TARGET_HELP.items():
        sp = sub.add_parser(
            name,
            help=text,
            description=textwrap.fill(
                f"Sweep 'eostheory {name}': the options below are the sweep's; every other option is one of "
                f"'eostheory {name}' (see its --help), shared by all points unless an axis sets it.",
                width=min(100, shutil.get_terminal_size((80, 24)).columns - 2),
            ),
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            allow_abbrev=False,
        )
        _sweep_options(sp)


def _list(plan: Any) -> None:
    import shlex

    for pt in plan.points:
        shown = " ".join(f"{k}={v}" for k, v in pt.values.items())
        print(f"{pt.key}  {shown}  ->  {shlex.join(['eostheory', plan.command, *pt.argv])}")
    extra = f" ({plan.duplicates} duplicate(s) merged)" if plan.duplicates else ""
    print(f"{len(plan.points)} points over {', '.join(plan.axes)}{extra}")


def execute(args: argparse.Namespace) -> int:
    from eostheory._validate import finite_float, positive_int

    if not getattr(args, "target", None):
        raise EosInputError("give the command to sweep: eostheory sweep run|compare|thresholds|train ...")
    base = list(getattr(args, "base", []) or [])
    samples = None if args.samples is None else positive_int("--samples", args.samples)
    seed = positive_int("--sample-seed", args.sample_seed, allow_zero=True)
    workers = None if args.workers is None else positive_int("--workers", args.workers, allow_zero=True)
    timeout = finite_float("--connect-timeout", args.connect_timeout)
    if timeout <= 0:
        raise EosInputError(f"--connect-timeout must be > 0, got {timeout:g}")
    if args.list:
        from eostheory.sweep import plan

        _list(
            plan(
                args.target,
                base,
                grid=args.grid,
                sample=args.sample,
                samples=samples,
                sample_seed=seed,
                points=args.points,
            )
        )
        return 0
    if not args.out:
        raise EosInputError("--out DIR is required: the sweep directory (its Parquet store and run directories)")
    from eostheory.sweep import sweep

    res = sweep(
        args.target,
        base,
        out=args.out,
        grid=args.grid,
        sample=args.sample,
        samples=samples,
        sample_seed=seed,
        points=args.points,
        workers=workers,
        scheduler=args.scheduler,  # None: $EOSTHEORY_SCHEDULER, else the local cluster
        connect_timeout=timeout,
        point_dirs=not args.no_point_dirs,
        retry_failed=not args.skip_failed,
        plot=args.plot,
        plot_y=args.plot_y,
        progress=(not args.no_progress) and sys.stderr.isatty(),
    )
    if args.json:
        from eostheory.cli._common import emit_json

        emit_json(res.summary())
    else:
        print(f"sweep      eostheory {res.command} over {', '.join(res.axes)}: {res.points} points, on {res.engine}")
        print(
            f"points     {res.done} done, {res.failed} failed; ran {res.executed}, "
            f"skipped {res.skipped} already stored, in {res.seconds:.1f} s"
        )
        for key, err in res.failures[:5]:
            print(f"failed     {key}: {err if len(err) <= 160 else err[:157] + '...'}")
        if len(res.failures) > 5:
            print(f"           ... {res.failed - 5} more (column point_error)")
        print(f"wrote      {res.out} (points/, {res.results.name if res.results else 'results.parquet'})")
        if res.plot is not None:
            print(f"plot       {res.plot}")
    return 0 if res.failed == 0 else 1
