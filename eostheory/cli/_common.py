"""Argument helpers shared by the CLI commands.

Every helper turns bad input into :class:`~eostheory.EosInputError` (one line, exit 2)
*before* any work is done: the output directory (:func:`validate_out_dir`), integer
ranges (:func:`int_option`), potential names (:func:`check_potential_name`), constants
and parameters that the formula does not use (:func:`resolve_potential`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eostheory._errors import EosInputError
from eostheory._io import validate_out_dir
from eostheory._json import dumps_strict, jsonable, write_json
from eostheory._names import check_name, suggest
from eostheory._validate import INT64_MAX, finite_float, positive_int

__all__ = [
    "add_net_args",
    "add_output_args",
    "add_potential_args",
    "check_name",
    "check_potential_name",
    "check_used",
    "emit_json",
    "int_option",
    "jsonable",
    "numeric_errors",
    "parse_assignments",
    "parse_floats",
    "parse_hp",
    "parse_names",
    "resolve_net",
    "resolve_potential",
    "resolve_x0",
    "suggest",
    "validate_out_dir",
    "write_json",
]


def int_option(option: str, value: object, *, minimum: int = 1, maximum: int = INT64_MAX) -> int:
    """An integer option in ``[minimum, maximum]``, or a one-line error naming the option.

    Accepts ``"10000"`` and ``"1e4"``.

    Args:
        option: the option as typed (``"--steps"``).
        value: the text given.
        minimum: 0 or 1.
        maximum: the upper bound (default: the range of the compiled loops).

    Returns:
        The integer.

    Raises:
        EosInputError: not an integer or out of range.

    Examples:
        >>> int_option("--steps", "1e4", maximum=10**6)
        10000
    """
    return positive_int(option, value, allow_zero=minimum <= 0, maximum=maximum)


_ROOT_FINDING = "the numerical root finding did not converge"


@contextmanager
def numeric_errors(what: str) -> Iterator[None]:
    """Turn a numeric failure deep in sympy/mpmath into one :class:`EosInputError` line.

    ``mpmath``'s ``NoConvergence`` (polynomial roots for extreme hyperparameters), an
    overflow and a division by zero are reported with ``what`` (e.g. ``"heavy-ball at
    beta=1e308"``) instead of a traceback.

    Args:
        what: the computation, for the message.

    Raises:
        EosInputError: on any of those failures.
    """
    try:
        yield
    except EosInputError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if name == "NoConvergence":
            raise EosInputError(
                f"{what}: {_ROOT_FINDING} (mpmath NoConvergence); values this extreme are out of its reach, "
                "try moderate ones"
            ) from None
        if isinstance(exc, OverflowError | ZeroDivisionError):
            raise EosInputError(f"{what}: the numbers overflow or divide by zero ({name}: {exc})") from None
        raise


def add_output_args(p: argparse.ArgumentParser, out_help: str | None = None) -> None:
    """``--json`` and ``--out DIR``, which every command takes (``out_help`` overrides the help of ``--out``)."""
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON result on stdout")
    p.add_argument("--out", metavar="DIR", help=out_help or "write a run directory (config, arrays, plots) to DIR")


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


def parse_hp(text: str | None, option: str = "--hp") -> dict[str, float]:
    """Parse ``--hp "beta1=0.9,eps=1e-8"`` into finite floats (hyperparameters of an optimizer or rule).

    Args:
        text: the option's text (``None`` or empty: no values).
        option: the option's name, for the messages.

    Returns:
        The values by name, in the order given.

    Raises:
        EosInputError: a part that is not ``NAME=VALUE``, a name that is not an identifier,
            a name given twice, or a value that is not a finite number.

    Examples:
        >>> parse_hp("beta1=0.9, eps=1e-8")
        {'beta1': 0.9, 'eps': 1e-08}
    """
    out: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise EosInputError(f"{option} expects NAME=VALUE pairs separated by commas, got {part.strip()!r}")
        k, v = (x.strip() for x in part.split("=", 1))
        if not k.isidentifier():
            raise EosInputError(f"{option}: {k!r} is not a hyperparameter name")
        if k in out:
            raise EosInputError(f"{option} gives {k} twice")
        out[k] = finite_float(f"{option} {k}", v)
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

    check_potential_name(args.potential)
    consts = parse_assignments(args.set_)
    params = parse_names(args.params)
    pot = as_potential(args.potential, params=params, constants=consts)
    check_used(pot, consts, params)
    return pot


#: a bare name: letters, digits, ``_`` and inner ``-`` (toy names are hyphenated), no operator
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")


def check_potential_name(text: str, option: str = "--potential") -> None:
    """Refuse a bare name that is not a toy: a typo must not become the linear potential ``L = name``.

    Args:
        text: what was given for the potential.
        option: the option's name, for the message.

    Raises:
        EosInputError: ``text`` is a single name (no operator, number or call) and not a
            toy of :data:`~eostheory.symbolic.library.TOYS`; the nearest toy names are
            suggested, and how to write the linear potential on purpose.

    Examples:
        >>> check_potential_name("quartic")
        >>> check_potential_name("selfsta")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        eostheory._errors.EosInputError: unknown potential 'selfsta'; did you mean 'selfstab'? ...
    """
    from eostheory.symbolic.library import TOYS

    name = str(text).strip()
    if name in TOYS or not _BARE_NAME.fullmatch(name):
        return
    hint = suggest(name, TOYS) or f"known toys: {', '.join(TOYS)}"
    if "-" in name:
        formula = f"to subtract write spaces around '-', e.g. {name.replace('-', ' - ')!r}"
    else:
        formula = f"to optimize the linear potential write it as a formula, e.g. '1*{name}'"
    raise EosInputError(f"unknown potential {name!r}; {hint} ({formula})")


def check_used(pot: Any, consts: dict[str, float], params: list[str] | None, where: str = "--set") -> None:
    """Refuse ``--set`` constants and ``--params`` names the potential does not contain.

    Args:
        pot: the resolved potential (its ``expr`` is a sympy expression).
        consts: the ``--set`` values.
        params: the ``--params`` names (or ``None``).
        where: the option that set the constants, for the message.

    Raises:
        EosInputError: a constant or a parameter that does not appear in the formula.
    """
    expr = getattr(pot, "expr", None)
    if expr is None:
        return
    free = {s.name for s in expr.free_symbols}
    unused = [k for k in consts if k not in free]
    if unused:
        shown = ",".join(f"{k}={consts[k]:g}" for k in unused)
        have = ", ".join(sorted(free)) or "none"
        raise EosInputError(
            f"{where} {shown}: {', '.join(unused)} does not appear in {pot} (its symbols: {have}); remove it"
        )
    extra = [k for k in params or [] if k not in free]
    if extra:
        raise EosInputError(
            f"--params {','.join(params or [])}: {', '.join(extra)} does not appear in {pot}; "
            "a parameter the loss does not depend on is almost always a typo"
        )


def emit_json(obj: Any) -> None:
    """Print strict JSON on stdout (non-finite values are ``null``, listed under ``non_finite``)."""
    sys.stdout.write(dumps_strict(obj, annotate=True))
