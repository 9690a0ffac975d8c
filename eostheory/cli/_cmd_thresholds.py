"""``eostheory thresholds``: derive an optimizer's stability threshold symbolically."""

from __future__ import annotations

import argparse
import shutil
import textwrap
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import (
    add_output_args,
    check_name,
    check_potential_name,
    check_used,
    emit_json,
    numeric_errors,
    parse_assignments,
    validate_out_dir,
    write_json,
)

NAME = "thresholds"
HELP = "derive the linear and mean-square stability thresholds of an optimizer or update rule"
DESCRIPTION = (
    "Derive, with sympy, the curvature lambda* at which an optimizer stops being stable on "
    "L = lambda*w^2/2: the step's linear map on (w, buffers...), its characteristic polynomial "
    "p(z), and which way a root leaves the unit disc (z = -1, z = +1 or a complex pair; "
    "Schur-Cohn/Jury). Give a built-in optimizer (gd, heavy-ball, nesterov, ema-momentum) or "
    "your own step with --update lines: g is the gradient, w the parameter, any other assigned "
    "name a state buffer (zero at start), any other name a hyperparameter. Also reports the "
    "mean-square boundary under i.i.d. random curvature. --verify checks the threshold "
    "numerically; --flip analyses the period doubling of GD on a 1-D potential instead."
)

EPILOG = """examples:
  eostheory thresholds heavy-ball
  eostheory thresholds --update "v = beta*v + g" --update "w = w - eta*(g + beta*v)" --json
  eostheory thresholds ema-momentum --set beta=0.9
  eostheory thresholds nesterov --verify eta=0.1,beta=0.9 --out runs/nesterov
  eostheory thresholds --flip quartic --set S=1,Q=1
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from eostheory.optimizers import OPTIMIZERS

    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines; wrap the description here
    p.description = textwrap.fill(DESCRIPTION, width=min(100, shutil.get_terminal_size((80, 24)).columns - 2))
    p.add_argument(
        "optimizer",
        nargs="?",
        metavar="OPTIMIZER",
        help=f"a built-in optimizer ({', '.join(OPTIMIZERS)}); omit when giving --update",
    )
    p.add_argument(
        "--update",
        action="append",
        metavar="LINE",
        help="one assignment of the step, in order (repeatable), e.g. "
        "--update 'v = beta*v + g' --update 'w = w - eta*v'",
    )
    p.add_argument(
        "--set",
        dest="set_",
        metavar="beta=0.9",
        help="fix hyperparameters before deriving (with --flip: the potential's constants)",
    )
    p.add_argument(
        "--preconditioned",
        action="store_true",
        help="read lambda as an eigenvalue of P^-1 H (the rule applied to the preconditioned gradient)",
    )
    p.add_argument("--no-mean-square", action="store_true", help="skip the mean-square analysis")
    p.add_argument(
        "--verify",
        metavar="eta=0.1,beta=0.9",
        help="check numerically at these hyperparameters: run the optimizer at (1 -+ 1%%) lambda* and scan "
        "the spectral radius over a grid",
    )
    p.add_argument("--flip", metavar="NAME|EXPR", help="analyse the flip bifurcation of GD on this 1-D potential")
    p.add_argument("--point", default="0", help="with --flip: the critical point w0 (default 0)")
    add_output_args(p)


def _undefined_flip(res: Any) -> str | None:
    """Why the flip result holds an infinite or undefined quantity (``zoo``, ``nan``), or ``None``."""
    import sympy as sp

    bad = (sp.zoo, sp.nan, sp.oo, -sp.oo)
    for label, value in (
        ("the 2-cycle amplitude", res.amplitude_squared),
        ("the exact 2-cycle amplitude", res.exact_amplitude_squared),
        ("the 2-cycle multiplier", res.multiplier),
        ("eta0", res.eta0),
    ):
        if isinstance(value, sp.Basic) and value.has(*bad):
            third, fourth = res.derivatives[1], res.derivatives[2]
            if third == 0 and fourth == 0:
                why = (
                    "L'''(w0) = L''''(w0) = 0, so no cubic or quartic term selects a 2-cycle "
                    "(on a quadratic GD is linear and every point is a 2-cycle at eta0); "
                    "add a higher-order term, e.g. 'w**2/2 - w**4/4'"
                )
            else:
                why = "the leading-order formula divides by zero"
            return f"{label} is undefined (infinite) for the flip of GD on {res.potential} at w0 = {res.point}: {why}"
    return None


def _flip(args: argparse.Namespace) -> dict[str, Any]:
    from eostheory.symbolic import as_potential
    from eostheory.symbolic.stability import flip_bifurcation

    if args.optimizer or args.update:
        raise EosInputError("--flip analyses GD on a potential: do not also give an optimizer or --update")
    check_potential_name(args.flip, "--flip")
    consts = parse_assignments(args.set_)
    pot = as_potential(args.flip, constants=consts)
    check_used(pot, consts, None)
    with numeric_errors(f"the flip bifurcation of GD on {pot}"):
        res = flip_bifurcation(pot, args.point)
    why = _undefined_flip(res)
    if why:
        raise EosInputError(why)
    if not args.json:
        print(res)
    return {"flip": res.as_dict()}


def _check_verify_names(res: Any, vals: dict[str, float]) -> None:
    """``--verify`` must give exactly the threshold's hyperparameters (checked before printing anything)."""
    names = sorted(h.name for h in res.hyperparameters)
    if sorted(vals) != names:
        missing = sorted(set(names) - set(vals))
        extra = sorted(set(vals) - set(names))
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"{', '.join(extra)} not in the rule"] if extra else []
        )
        raise EosInputError(
            f"--verify needs exactly the hyperparameters {', '.join(names) or '(none)'}: {'; '.join(parts)}"
        )


def execute(args: argparse.Namespace) -> int:
    from eostheory.symbolic.stability import mean_square, thresholds

    if args.out is not None:
        validate_out_dir(args.out)
    if args.flip:
        payload = _flip(args)
        _write(args, payload)
        if args.json:
            emit_json(payload)
        return 0
    if args.optimizer and args.update:
        raise EosInputError("give either an optimizer name or --update lines, not both")
    if not args.optimizer and not args.update:
        raise EosInputError("give an optimizer name (e.g. heavy-ball) or the step as --update lines")
    target: Any = args.update if args.update else args.optimizer
    if args.optimizer and "=" in args.optimizer:
        raise EosInputError(f"{args.optimizer!r} looks like an assignment: pass it with --update")
    if args.optimizer:
        from eostheory.optimizers import OPTIMIZERS

        check_name("optimizer", args.optimizer, OPTIMIZERS)
    values = parse_assignments(args.set_) or None
    vals = parse_assignments(args.verify) if args.verify else None
    shown = ",".join(f"{k}={v:g}" for k, v in (values or {}).items())
    what = f"the threshold of {args.optimizer or 'the rule'}" + (f" at {shown}" if shown else "")
    try:
        with numeric_errors(what):
            res = thresholds(target, values=values, preconditioned=args.preconditioned)
    except EosInputError as refused:
        from eostheory.geometry import generalized_threshold

        gen = generalized_threshold(args.optimizer) if args.optimizer else None
        if gen is None:
            raise
        # a steepest-descent method: not linear on a quadratic, its threshold is on the generalized sharpness
        payload = {"optimizer": args.optimizer, "linear": False, "refusal": str(refused), "generalized": gen}
        if args.json:
            emit_json(payload)
        else:
            kind = "normalized steepest descent" if gen["normalized"] else "steepest descent"
            print(f"{args.optimizer}: no linear-stability threshold ({refused})")
            print(f"it is {kind} in the {gen['norm']} norm; its threshold is on the generalized sharpness:")
            print(f"  {gen['statement']}")
        _write(args, payload)
        return 0
    if vals is not None:
        _check_verify_names(res, vals)
    payload: dict[str, Any] = res.as_dict()
    if not args.json:
        print(res)
    if not args.no_mean_square:
        try:
            with numeric_errors(f"the mean-square boundary of {args.optimizer or 'the rule'}"):
                ms = mean_square(res.rule, values=values)
            payload["mean_square"] = ms.as_dict()
            if not args.json:
                print()
                print(ms)
        except EosInputError as exc:
            payload["mean_square"] = {"error": str(exc)}
    grid = None
    if vals is not None:
        from eostheory.experiments import spectral_radius_grid, verify_threshold

        with numeric_errors(f"the numerical check at {args.verify}"):
            runs = verify_threshold(res, vals)
            grid = spectral_radius_grid(res, vals)
        payload["verification"] = {
            "values": vals,
            "threshold_value": grid.threshold,
            "runs": [
                {
                    "lambda": r.lam,
                    "factor": r.factor,
                    "expected": r.expected,
                    "status": r.status,
                    "spectral_radius": r.spectral_radius,
                    "steps": r.steps,
                    "passed": r.passed,
                }
                for r in runs
            ],
            "grid_crossing": grid.crossing,
            "grid_relative_error": grid.relative_error,
            "grid_violations": grid.violations,
        }
        if not args.json:
            print()
            print(f"numerical check at {vals}: lam* = {grid.threshold:.10g}")
            for r in runs:
                print(
                    f"  lam = {r.factor:.2f} lam*: {r.status:9s} (expected {r.expected}; "
                    f"spectral radius {r.spectral_radius:.6f}, {r.steps} steps)"
                )
            print(
                f"  spectral radius on a grid crosses 1 at {grid.crossing:.10g} "
                f"(relative error {grid.relative_error:.2e}, {grid.violations} disagreeing grid points)"
            )
    _write(args, payload, grid)
    if args.json:
        emit_json(payload)
    ok = "verification" not in payload or (
        all(r["passed"] for r in payload["verification"]["runs"]) and payload["verification"]["grid_violations"] == 0
    )
    return 0 if ok else 1


def _write(args: argparse.Namespace, payload: dict[str, Any], grid: Any = None) -> None:
    if args.out is None:
        return
    d = validate_out_dir(args.out)
    d.mkdir(parents=True, exist_ok=True)
    write_json(d / "thresholds.json", payload, annotate=True)
    if grid is not None:
        lines = ["lambda,spectral_radius"] + [f"{x:.12g},{y:.12g}" for x, y in zip(grid.lam, grid.rho, strict=True)]
        (d / "spectral_radius.csv").write_text("\n".join(lines) + "\n")
    payload["out"] = str(d)
    if not args.json:
        print(f"\nwrote {d}")
