"""Argument helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from eostheory._errors import EosInputError
from eostheory._json import jsonable
from eostheory._validate import finite_float

__all__ = [
    "add_net_args",
    "add_output_args",
    "add_potential_args",
    "emit_json",
    "jsonable",
    "parse_assignments",
    "parse_floats",
    "parse_names",
    "resolve_net",
    "resolve_potential",
    "resolve_x0",
]


def add_output_args(p: argparse.ArgumentParser) -> None:
    """``--json`` and ``--out DIR``, which every command takes."""
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON result on stdout")
    p.add_argument("--out", metavar="DIR", help="write a run directory (config, arrays, plots) to DIR")


def add_potential_args(p: argparse.ArgumentParser) -> None:
    """``--potential``, ``--params`` and ``--set``, or a symbolic net (``--net`` and its options)."""
    p.add_argument(
        "--potential",
        metavar="NAME|EXPR",
        help="a toy name (see 'eostheory potentials') or a formula such as '(S/2)*w**2 - (Q/4)*w**4' "
        "(or give --net instead)",
    )
    p.add_argument("--params", metavar="x,y", help="parameter order for a formula (default: its symbols, sorted)")
    p.add_argument("--set", dest="set_", metavar="S=3,Q=1", help="values of constants")
    add_net_args(p)


def add_net_args(p: argparse.ArgumentParser) -> None:
    """The ``--net`` option group: a symbolic network on a data set, in place of ``--potential``."""
    from eostheory.symbolic.data import DATASETS
    from eostheory.symbolic.nets import ACTIVATIONS, LOSSES, NET_KINDS

    g = p.add_argument_group("symbolic network (instead of --potential)")
    g.add_argument(
        "--net", choices=list(NET_KINDS), help="network kind: " + "; ".join(f"{k}: {v}" for k, v in NET_KINDS.items())
    )
    g.add_argument("--width", default=None, help="hidden units (default 8)")
    g.add_argument("--depth", default=None, help="chain depth (default 2)")
    g.add_argument(
        "--activation",
        default=None,
        metavar="NAME|EXPR",
        help=f"{', '.join(ACTIVATIONS)} or a formula in z (default tanh)",
    )
    g.add_argument("--no-bias", action="store_true", help="two-layer net without hidden biases")
    g.add_argument("--loss", default=None, choices=list(LOSSES), help="per-example loss (default mse)")
    g.add_argument("--data", default=None, choices=list(DATASETS), help="data set (default teacher; chain: point)")
    g.add_argument("--n", default=None, help="number of examples (default 64)")
    g.add_argument("--input-dim", default=None, help="input dimension d (default 2; chain: 1)")
    g.add_argument("--outputs", default=None, help="output dimension K (default 1)")
    g.add_argument("--noise", default=None, help="label noise of the teacher (default 0)")
    g.add_argument("--seed", default=None, help="seed S: data from S, initialization from S+1 (default 0)")
    g.add_argument("--init-scale", default=None, help="scale of the random initialization (default 1)")


_NET_ONLY = ("width", "depth", "activation", "loss", "data", "n", "input_dim", "outputs", "noise", "seed", "init_scale")


def resolve_net(args: argparse.Namespace) -> Any:
    """The :class:`~eostheory.symbolic.nets.SymbolicNet` described by ``--net`` and its options."""
    from eostheory._validate import positive_int
    from eostheory.symbolic.data import make_dataset
    from eostheory.symbolic.nets import make_net

    kind = args.net
    chain = kind == "chain"
    n = positive_int("--n", args.n) if args.n is not None else (1 if chain and args.data in (None, "point") else 64)
    d = positive_int("--input-dim", args.input_dim) if args.input_dim is not None else (1 if chain else 2)
    K = positive_int("--outputs", args.outputs) if args.outputs is not None else 1
    seed = positive_int("--seed", args.seed, allow_zero=True) if args.seed is not None else 0
    noise = finite_float("--noise", args.noise) if args.noise is not None else 0.0
    data_name = args.data or ("point" if chain else "teacher")
    if args.width is not None and chain:
        raise EosInputError("--width does not apply to --net chain (use --depth)")
    if args.depth is not None and not chain:
        raise EosInputError("--depth applies to --net chain only")
    if kind != "two-layer" and (args.activation is not None or args.no_bias):
        raise EosInputError(f"--activation and --no-bias apply to --net two-layer, not {kind}")
    data = make_dataset(data_name, n, d, output_dim=K, seed=seed, noise=noise)
    return make_net(
        kind,
        data,
        width=8 if args.width is None else args.width,
        depth=2 if args.depth is None else args.depth,
        activation=args.activation or "tanh",
        bias=not args.no_bias,
        loss=args.loss or "mse",
        constants=parse_assignments(args.set_),
    )


def resolve_x0(args: argparse.Namespace, pot: Any) -> list[float]:
    """``--x0``, or for a net (when ``--x0`` is omitted) its seeded random initialization."""
    if getattr(args, "x0", None) is not None:
        return parse_floats(args.x0, "--x0")
    if getattr(args, "net", None):
        seed = 0 if args.seed is None else int(args.seed)
        scale = 1.0 if args.init_scale is None else finite_float("--init-scale", args.init_scale)
        return [float(v) for v in pot.initial_point(seed + 1, scale)]
    raise EosInputError("--x0 is required for a potential (it is optional only with --net)")


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
    """The :class:`~eostheory.symbolic.Potential` described by ``--potential/--params/--set``,
    or the symbolic net described by ``--net`` (exactly one of the two)."""
    from eostheory.symbolic import as_potential

    net = getattr(args, "net", None)
    if net and args.potential is not None:
        raise EosInputError("give either --potential or --net, not both")
    if net:
        if args.params is not None:
            raise EosInputError("--params applies to a formula, not to --net")
        return resolve_net(args)
    if args.potential is None:
        raise EosInputError("give --potential NAME|EXPR or --net KIND")
    given = [f"--{k.replace('_', '-')}" for k in _NET_ONLY if getattr(args, k, None) is not None]
    given += ["--no-bias"] if getattr(args, "no_bias", False) else []
    if given:
        raise EosInputError(f"{', '.join(given)} apply only with --net")

    consts = parse_assignments(args.set_)
    params = parse_names(args.params)
    return as_potential(args.potential, params=params, constants=consts)


def emit_json(obj: Any) -> None:
    """Print strict JSON on stdout."""
    sys.stdout.write(json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n")
