"""``eostheory optimizers``: list the built-in optimizers and their update rules."""

from __future__ import annotations

import argparse

from eostheory.cli._common import add_output_args, emit_json, validate_out_dir, write_json

NAME = "optimizers"
HELP = "list the built-in optimizers and their update rules"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_args(p, out_help="write the listing to DIR/optimizers.json (strict JSON, as with --json)")


def execute(args: argparse.Namespace) -> int:
    out = validate_out_dir(args.out) if args.out is not None else None

    from eostheory.optimizers import OPTIMIZERS

    rows = {
        n: {
            "update": list(o.update),
            "hyperparameters": [h.name for h in o.hyperparameters],
            "defaults": dict(o.defaults),
            "description": o.description,
        }
        for n, o in OPTIMIZERS.items()
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "optimizers.json", rows)
    if args.json:
        emit_json(rows)
    else:
        for n, r in rows.items():
            print(f"{n:15s} {'; '.join(r['update'])}")
            print(f"{'':15s} {r['description']}")
    if out is not None and not args.json:
        print(f"wrote {out / 'optimizers.json'}")
    return 0
