"""``eostheory potentials``: list the named toy potentials."""

from __future__ import annotations

import argparse

from eostheory.cli._common import add_output_args, emit_json, validate_out_dir, write_json

NAME = "potentials"
HELP = "list the named toy potentials with their constants"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_args(p, out_help="write the listing to DIR/potentials.json (strict JSON, as with --json)")


def execute(args: argparse.Namespace) -> int:
    out = validate_out_dir(args.out) if args.out is not None else None

    from eostheory.symbolic.library import TOYS

    rows = {
        name: {"formula": s.formula, "params": list(s.params), "constants": s.constants, "description": s.description}
        for name, s in TOYS.items()
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "potentials.json", rows)
    if args.json:
        emit_json(rows)
    else:
        for name, r in rows.items():
            consts = ", ".join(f"{k}={v:g}" for k, v in r["constants"].items())
            print(f"{name:22s} L({', '.join(r['params'])}) = {r['formula']}" + (f"   [{consts}]" if consts else ""))
            print(f"{'':22s} {r['description']}")
    if out is not None and not args.json:
        print(f"wrote {out / 'potentials.json'}")
    return 0
