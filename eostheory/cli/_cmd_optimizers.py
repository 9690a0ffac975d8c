"""``eostheory optimizers``: list the built-in optimizers and their update rules."""

from __future__ import annotations

import argparse

from eostheory.cli._common import add_output_args, emit_json

NAME = "optimizers"
HELP = "list the built-in optimizers and their update rules"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_args(p)


def execute(args: argparse.Namespace) -> int:
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
    if args.json:
        emit_json(rows)
    else:
        for n, r in rows.items():
            print(f"{n:15s} {'; '.join(r['update'])}")
            print(f"{'':15s} {r['description']}")
    return 0
