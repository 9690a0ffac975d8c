"""Argument helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import finite_float

__all__ = [
    "add_output_args",
    "add_potential_args",
    "emit_json",
    "jsonable",
    "parse_assignments",
    "parse_floats",
    "parse_names",
    "resolve_potential",
]


def add_output_args(p: argparse.ArgumentParser) -> None:
    """``--json`` and ``--out DIR``, which every command takes."""
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON result on stdout")
    p.add_argument("--out", metavar="DIR", help="write a run directory (config, arrays, plots) to DIR")


def add_potential_args(p: argparse.ArgumentParser) -> None:
    """``--potential``, ``--params`` and ``--set``."""
    p.add_argument(
        "--potential",
        required=True,
        metavar="NAME|EXPR",
        help="a toy name (see 'eostheory potentials') or a formula such as '(S/2)*w**2 - (Q/4)*w**4'",
    )
    p.add_argument("--params", metavar="x,y", help="parameter order for a formula (default: its symbols, sorted)")
    p.add_argument("--set", dest="set_", metavar="S=3,Q=1", help="values of constants")


def parse_floats(text: str | None, what: str) -> list[float]:
    """Parse ``"a,b,c"`` into finite floats."""
    if text is None or not str(text).strip():
        raise EosInputError(f"{what} is empty")
    return [finite_float(what, s.strip()) for s in str(text).split(",")]


def parse_names(text: str | None) -> list[str] | None:
    """Parse ``"x,y"`` into names (``None`` stays ``None``)."""
    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if not n.isidentifier()]
    if bad or not names:
        raise EosInputError(f"--params must be comma-separated names, got {text!r}")
    return names


def parse_assignments(text: str | None) -> dict[str, float]:
    """Parse ``"S=3,Q=1"`` into a dict of finite floats."""
    out: dict[str, float] = {}
    if not text:
        return out
    for part in text.split(","):
        if "=" not in part:
            raise EosInputError(f"--set expects NAME=VALUE pairs, got {part!r}")
        k, v = (s.strip() for s in part.split("=", 1))
        if not k.isidentifier():
            raise EosInputError(f"--set: {k!r} is not a name")
        out[k] = finite_float(f"constant {k}", v)
    return out


def resolve_potential(args: argparse.Namespace) -> Any:
    """The :class:`~eostheory.symbolic.Potential` described by ``--potential/--params/--set``."""
    from eostheory.symbolic import as_potential

    consts = parse_assignments(args.set_)
    params = parse_names(args.params)
    return as_potential(args.potential, params=params, constants=consts)


def jsonable(x: Any) -> Any:
    """Convert numpy types and non-finite floats (to ``None``) for strict JSON."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x


def emit_json(obj: Any) -> None:
    """Print strict JSON on stdout."""
    sys.stdout.write(json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")
