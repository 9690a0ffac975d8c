"""``eostheory check``: the validation battery."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from eostheory.cli._common import add_output_args, emit_json, validate_out_dir, write_json

NAME = "check"
HELP = "run the validation battery (every theorem check, pass/fail); exit 1 if any fails"
DESCRIPTION = (
    "Run eostheory's validation battery: every model is checked against closed forms, "
    "theory or explicit GD. Prints one row per group (passed, failed, total, time), then "
    "each failed check by name, then the tally; --verbose prints every check (name, value, "
    "expected, tolerance), --quiet only the failures and the tally. A progress bar is shown "
    "when stderr is a terminal. Exit status 1 if any check fails, 2 if the selection is "
    "wrong (an unknown group, or no check selected). --full adds the long validations."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full", action="store_true", help="also run the long validations")
    p.add_argument(
        "--group", action="append", metavar="GROUP", help="only this group of checks (repeatable; see --list)"
    )
    p.add_argument("--list", action="store_true", help="list the checks (of --group) and exit")
    level = p.add_mutually_exclusive_group()
    level.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one row per check, names and values in full, and a line per new kernel compilation",
    )
    level.add_argument("-q", "--quiet", action="store_true", help="print only the failures and the final tally")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none unless on a terminal)")
    add_output_args(p, out_help="write checks.json (every result) and checks.txt (the full table) to DIR")


def _progress_bar(total: int) -> Any:
    """A tqdm bar on stderr, or ``None`` when tqdm is not installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    size = shutil.get_terminal_size((100, 24))  # a terminal reporting 0 x 0 gets the fallback
    return tqdm(
        total=total, unit="check", file=sys.stderr, leave=False, ncols=min(100, size.columns), nrows=max(2, size.lines)
    )


def execute(args: argparse.Namespace) -> int:
    from eostheory.checks import format_failures, format_summary, format_table, format_tally, run_checks, select_checks

    out = validate_out_dir(args.out) if args.out is not None else None
    if args.list:
        for c in select_checks(full=True, groups_=args.group):
            print(f"{c.group:14s} {c.name}{'  (--full)' if c.full_only else ''}")
        return 0

    selected = select_checks(full=args.full, groups_=args.group)  # an unknown group fails here, before any work
    if not args.verbose:
        from eostheory.compile import set_quiet

        set_quiet(True)  # a fresh cache compiles ~100 kernels: one line each only with --verbose
    show_bar = not (args.quiet or args.no_progress) and sys.stderr.isatty()
    bar = _progress_bar(len(selected)) if show_bar else None
    live = args.verbose and bar is None  # no bar: a line per check on stderr as it finishes

    def before(chk: Any) -> None:
        if bar is not None:
            bar.set_description_str(f"{chk.group}: {chk.name}"[:40])

    def after(chk: Any, results: list[Any]) -> None:
        if bar is not None:
            bar.update(1)
        if live:
            for r in results:
                print(f"  {'ok  ' if r.passed else 'FAIL'} {r.group}: {r.name}", file=sys.stderr, flush=True)

    try:
        results = run_checks(full=args.full, groups=args.group, before=before, after=after)
    finally:
        if bar is not None:
            bar.close()
    failed = sum(not r.passed for r in results)
    payload = {
        "passed": failed == 0,
        "n_checks": len(results),
        "n_failed": failed,
        "checks": [r.as_dict() for r in results],
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "checks.json", payload)
        (out / "checks.txt").write_text(format_table(results, value_width=None) + "\n")
    if args.json:
        emit_json(payload)
    elif args.quiet:
        if failed:
            print(format_failures(results))
        print(format_tally(results))
    elif args.verbose:
        print(format_table(results))
    else:
        print(format_summary(results))
    return 1 if failed else 0
