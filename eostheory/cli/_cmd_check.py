"""``eostheory check``: the validation battery."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eostheory.cli._common import add_output_args, emit_json, jsonable

NAME = "check"
HELP = "run the validation battery (every theorem check, pass/fail); exit 1 if any fails"
DESCRIPTION = (
    "Run eostheory's validation battery: every model is checked against closed forms, "
    "theory or explicit GD. Prints a table (name, value, expected, tolerance, pass/fail); "
    "exit status 1 if any check fails. --full adds the long validations."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full", action="store_true", help="also run the long validations")
    p.add_argument("--group", action="append", help="only this group of checks (repeatable)")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    add_output_args(p)


def execute(args: argparse.Namespace) -> int:
    from eostheory.checks import format_table, registry, run_checks

    if args.list:
        for c in registry():
            print(f"{c.group:14s} {c.name}{'  (--full)' if c.full_only else ''}")
        return 0

    def progress(r) -> None:  # type: ignore[no-untyped-def]
        if not args.json:
            print(f"  {'ok  ' if r.passed else 'FAIL'} {r.group}: {r.name}", file=sys.stderr, flush=True)

    results = run_checks(full=args.full, groups=args.group, progress=progress)
    failed = sum(not r.passed for r in results)
    payload = {
        "passed": failed == 0,
        "n_checks": len(results),
        "n_failed": failed,
        "checks": [r.as_dict() for r in results],
    }
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        (d / "checks.json").write_text(json.dumps(jsonable(payload), indent=2))
        (d / "checks.txt").write_text(format_table(results) + "\n")
    if args.json:
        emit_json(payload)
    else:
        print(format_table(results))
    return 1 if failed else 0
