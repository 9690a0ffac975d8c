"""What every equilibrium derivation shares: the potential, the symbols kept symbolic and the sample values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic.potential import Potential

__all__ = ["BETA", "ETA", "Setup", "exact", "make_setup"]

#: The step size and momentum symbols of every derivation (the flows' own symbols).
ETA = sp.Symbol("eta", positive=True)
BETA = sp.Symbol("beta", nonnegative=True)
_CANON = {"eta": ETA, "beta": BETA}


def exact(v: Any, what: str) -> sp.Expr:
    """A number (or formula) as an exact sympy value."""
    if isinstance(v, sp.Basic):
        out = v
    elif isinstance(v, str):
        from eostheory.symbolic._parse import parse_formula

        out = parse_formula(v)
    else:
        try:
            out = sp.nsimplify(v, rational=True) if isinstance(v, float) else sp.sympify(v)
        except (sp.SympifyError, TypeError, ValueError):
            raise EosInputError(f"{what} must be a number, got {v!r}") from None
    if out.free_symbols or out.has(sp.nan, sp.zoo, sp.oo, -sp.oo) or not out.is_real:
        raise EosInputError(f"{what} must be a finite real number, got {v!r}")
    return out


@dataclass
class Setup:
    """A potential prepared for exact derivations.

    Attributes:
        potential: the potential (numeric constant values are used for the numerical checks).
        expr: :math:`L(w)` with the fixed constants substituted (exactly).
        params: the parameters :math:`w`.
        symbolic: constants kept as symbols in the derivation.
        fixed: constants fixed by the user, exact.
        sample: exact values of every symbolic constant for the numerical steps (their
            values in the potential).
        time_limit: seconds allowed per symbolic step.
    """

    potential: Potential
    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    symbolic: tuple[sp.Symbol, ...]
    fixed: dict[sp.Symbol, sp.Expr]
    sample: dict[sp.Symbol, sp.Expr]
    time_limit: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return len(self.params)

    def gradient(self) -> list[sp.Expr]:
        """:math:`\\nabla L` (constants fixed where the user fixed them)."""
        return [sp.diff(self.expr, p) for p in self.params]

    def hessian(self) -> sp.Matrix:
        """:math:`\\nabla^2 L`."""
        g = self.gradient()
        return sp.Matrix(self.dim, self.dim, lambda i, j: sp.diff(g[i], self.params[j]))

    def numeric_constants(self) -> dict[str, float]:
        """Values of all constants (for the compiled runs)."""
        out = {s.name: float(v) for s, v in self.fixed.items()}
        out.update({s.name: float(v) for s, v in self.sample.items()})
        return out


def canonical(expr: sp.Expr) -> sp.Expr:
    """Replace plain ``eta``/``beta`` symbols by the canonical (positive) ones."""
    sub = {s: _CANON[s.name] for s in expr.free_symbols if s.name in _CANON and s != _CANON[s.name]}
    return expr.xreplace(sub) if sub else expr


def make_setup(
    pot: Potential,
    constants: Mapping[str, Any] | None,
    *,
    symbolic_constants: bool,
    time_limit: float | None,
) -> Setup:
    """Prepare ``pot``: constants in ``constants`` are fixed exactly; the others stay
    symbolic when ``symbolic_constants`` (their potential values are the samples), else
    they are fixed at their potential values.

    Raises:
        EosInputError: an unknown constant, a constant without a value, a name clash with
            ``eta``/``beta``, or a potential that is not rational in its parameters (and in
            its symbolic constants).
    """
    given = dict(constants or {})
    names = {s.name: s for s in pot.constants}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise EosInputError(f"unknown constant(s) {unknown}; this potential has {sorted(names)}")
    clash = sorted({"eta", "beta"} & ({p.name for p in pot.params} | set(names)))
    if clash:
        raise EosInputError(f"{clash} name the step size and momentum here: rename that symbol of the potential")
    fixed: dict[sp.Symbol, sp.Expr] = {}
    sample: dict[sp.Symbol, sp.Expr] = {}
    symbolic: list[sp.Symbol] = []
    for s, v in pot.constants.items():
        if s.name in given:
            fixed[s] = exact(given[s.name], f"constant {s}")
        elif symbolic_constants:
            symbolic.append(s)
            if v is None:
                raise EosInputError(
                    f"constant {s} has no value for the numerical checks: give one with --sample {s}=1 "
                    f"(sample={{'{s}': 1}}), or fix it with --set {s}=1"
                )
            sample[s] = exact(v, f"constant {s}")
        else:
            if v is None:
                raise EosInputError(f"constant {s} has no value; set it (e.g. --set {s}=1)")
            fixed[s] = exact(v, f"constant {s}")
    expr = pot.expr.xreplace(fixed)
    if not expr.is_rational_function(*pot.params):
        raise EosInputError(
            f"{pot.expr} is not a polynomial or rational function of {', '.join(map(str, pot.params))}: "
            "equilibria are derived exactly only for polynomial and rational potentials"
        )
    if symbolic and not expr.is_rational_function(*pot.params, *symbolic):
        raise EosInputError(
            f"{pot.expr} is not rational in the constants {', '.join(map(str, symbolic))}: fix them with --set"
        )
    floats = expr.atoms(sp.Float)
    if floats:  # decimals in a formula are read as the exact decimal fractions they denote
        expr = expr.xreplace({f: sp.Rational(str(f)) for f in floats})
    return Setup(pot, expr, tuple(pot.params), tuple(symbolic), fixed, sample, time_limit)
