"""``eostheory equilibria``: an optimizer's periodic orbits and the flows' stationary points, derived exactly."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import add_output_args, emit_json, parse_assignments, parse_names, validate_out_dir

NAME = "equilibria"
HELP = "derive GD's (or any optimizer's) 2-cycles and every flow's stationary points exactly, and compare them"
DESCRIPTION = (
    "Derive with sympy, on a polynomial or rational potential: the period-2 (and with --period 4, "
    "period-4) orbits of an optimizer's step with the range of eta where they exist and the exact "
    "range where they are stable; the stationary points of the flows that model it (central, rod, "
    "edge, self-stabilization, heavy-ball central) with their linear stability; and whether each "
    "flow's stationary set is the optimizer's orbit, compared in centre and squared amplitude "
    "(proved by Groebner bases, or the difference in closed form). Constants not given with --set "
    "stay symbolic (their values order the ranges and run the checks). Each result is checked "
    "against a compiled run at an eta inside its range. Steps that do not finish within "
    "--time-limit are reported, not waited for."
)

EPILOG = """examples:
  eostheory equilibria --potential quartic
  eostheory equilibria --potential selfstab --flow central --flow rod --latex
  eostheory equilibria --potential selfstab --optimizer heavy-ball --set beta=1/2
  eostheory equilibria --potential "(S/2)*w**2 + (A/3)*w**3 - (Q/4)*w**4" --set A=1/2 --flow none
  eostheory equilibria --potential "w**2/2 + w**3/3" --period 2,4 --flow none --json
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eostheory.optimizers import OPTIMIZERS

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "--potential",
        metavar="NAME|EXPR",
        required=True,
        help="a toy name (see 'eostheory potentials') or a polynomial or rational formula",
    )
    p.add_argument("--params", metavar="x,y", help="parameter order for a formula (default: its symbols, sorted)")
    p.add_argument(
        "--set",
        dest="set_",
        metavar="S=3,beta=1/2",
        help="fix constants of the potential and hyperparameters exactly (the others stay symbolic)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--optimizer", metavar="NAME", help=f"a built-in optimizer ({', '.join(OPTIMIZERS)}); default gd")
    g.add_argument(
        "--update",
        action="append",
        metavar="LINE",
        help="your own step, one assignment per --update (e.g. --update 'v = beta*v + g' --update 'w = w - eta*v')",
    )
    p.add_argument(
        "--flow",
        action="append",
        metavar="NAME[:k=v]",
        help="a flow whose stationary points to derive (repeatable; 'all'; 'none'). Default: the flows that "
        "model the optimizer",
    )
    p.add_argument("--period", default="2", metavar="2|4|2,4", help="orbit periods to derive (default 2)")
    p.add_argument(
        "--sample",
        metavar="beta=0.5",
        help="values of the free hyperparameters for ordering ranges and the checks (default 1/2)",
    )
    p.add_argument("--numeric-constants", action="store_true", help="fix every constant at its value (faster algebra)")
    p.add_argument(
        "--time-limit", type=float, default=12.0, metavar="SECONDS", help="time allowed per derivation (default 12)"
    )
    p.add_argument("--no-verify", action="store_true", help="skip the checks against compiled runs")
    p.add_argument("--latex", action="store_true", help="print the results in LaTeX")
    add_output_args(p)


def _split_set(text: str | None, hyper_names: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``--set`` pairs: the optimizer's hyperparameters, and the potential's constants."""
    consts, hyper = {}, {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise EosInputError(f"--set expects NAME=VALUE pairs, got {part!r}")
        k, v = (s.strip() for s in part.split("=", 1))
        if not k.isidentifier():
            raise EosInputError(f"--set: {k!r} is not a name")
        if k == "eta":
            raise EosInputError("--set eta: the ranges are derived in eta, which stays symbolic")
        (hyper if k in hyper_names else consts)[k] = v
    return consts, hyper


def execute(args: argparse.Namespace) -> int:
    from eostheory.experiments import equilibria
    from eostheory.symbolic.stability import as_rule

    if args.out:
        validate_out_dir(args.out)
    optimizer: Any = args.update if args.update else args.optimizer
    rule, _ = as_rule(optimizer or "gd")
    consts, hyper = _split_set(args.set_, {h.name for h in rule.hyperparameters})
    try:
        periods = [int(x) for x in str(args.period).split(",") if x.strip()]
    except ValueError:
        raise EosInputError(f"--period must be 2, 4 or 2,4; got {args.period!r}") from None
    flows: Any = None
    if args.flow:
        if [f.strip() for f in args.flow] == ["none"]:
            flows = []
        elif [f.strip() for f in args.flow] == ["all"]:
            flows = "all"
        else:
            flows = [f.strip() for f in args.flow]
    if args.time_limit <= 0:
        raise EosInputError(f"--time-limit must be positive, got {args.time_limit:g}")
    res = equilibria(
        args.potential,
        optimizer,
        flows,
        params=parse_names(args.params),
        constants=consts or None,
        values=hyper or None,
        sample=parse_assignments(args.sample) or None,
        period=periods if len(periods) > 1 else periods[0],
        symbolic_constants=not args.numeric_constants,
        time_limit=args.time_limit,
        verify=not args.no_verify,
    )
    payload = res.as_dict()
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        (d / "equilibria.json").write_text(res.to_json() + "\n")
        (d / "equilibria.tex").write_text(res.latex() + "\n")
        payload["out"] = str(d)
    if args.json:
        emit_json(payload)
    elif args.latex:
        print(res.latex())
    else:
        print(res)
        if args.out:
            print(f"\nwrote {args.out}")
    return 0 if res.passed else 1
