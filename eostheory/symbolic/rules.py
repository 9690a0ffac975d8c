r"""Optimizer update rules written as sequential assignments.

An update rule is written the way one writes an optimizer step in code::

    v = beta*v + g
    w = w - eta*(g + beta*v)

``w`` is the parameter, ``g`` the gradient :math:`\nabla L(w)` evaluated at the
parameter *before* the step, every other assigned name is a state variable (a buffer
initialised to zero) and every other free symbol is a hyperparameter.  Lines run in
order, so a line sees the values assigned by the lines above it.  The arithmetic is
per coordinate; the reductions ``norm(g)`` (:math:`\|g\|_2`), ``norm1(g)``
(:math:`\|g\|_1`) and ``norminf(g)`` (:math:`\|g\|_\infty`) are whole-vector scalars.

This one parsed form feeds the symbolic stability analysis, the compiled (numba) step
and the torch step, so an optimizer is defined exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._parse import parse_formula

__all__ = ["REDUCTIONS", "Assignment", "G", "UpdateRule", "W"]

#: The parameter symbol of an update rule.
W = sp.Symbol("w")
#: The gradient symbol of an update rule.
G = sp.Symbol("g")


class norm(sp.Function):  # noqa: N801 - the name users type
    r"""Euclidean norm :math:`\|g\|_2` of the whole gradient (a reduction)."""


class norm1(sp.Function):  # noqa: N801
    r""":math:`\ell_1` norm :math:`\|g\|_1` of the whole gradient (a reduction)."""


class norminf(sp.Function):  # noqa: N801
    r""":math:`\ell_\infty` norm :math:`\|g\|_\infty` of the whole gradient (a reduction)."""


#: Reductions allowed in update rules, by the name users write.
REDUCTIONS: dict[str, type[sp.Function]] = {"norm": norm, "norm1": norm1, "norminf": norminf}


@dataclass(frozen=True)
class Assignment:
    """One line ``target = expr`` of an update rule."""

    target: sp.Symbol
    expr: sp.Expr
    text: str

    def __str__(self) -> str:
        return f"{self.target} = {self.expr}"


class UpdateRule:
    r"""A parsed update rule: sequential assignments to ``w`` and state variables.

    Args:
        lines: assignments ``"name = expression"`` (or one string with one per line or
            separated by ``;``).
        name: an optional display name.

    Raises:
        EosInputError: unparsable text, an assignment to ``g`` or to a function name, a
            reduction of anything but ``g``, or no assignment to ``w``.

    Examples:
        >>> rule = UpdateRule(["v = beta*v + g", "w = w - eta*v"])
        >>> rule.state, rule.hyperparameters
        ((v,), (beta, eta))
        >>> rule.composed()[W]
        -eta*(beta*v + g) + w
    """

    def __init__(self, lines: Iterable[str] | str, name: str | None = None) -> None:
        if isinstance(lines, str):
            lines = [part for chunk in lines.splitlines() for part in chunk.split(";")]
        texts = [t.strip() for t in lines if t and t.strip()]
        if not texts:
            raise EosInputError("an update rule needs at least one assignment, e.g. 'w = w - eta*g'")
        assignments: list[Assignment] = []
        symbols: dict[str, sp.Symbol] = {"w": W, "g": G}
        for text in texts:
            if "=" not in text or any(op in text for op in ("==", "<=", ">=", "!=")) or text.count("=") != 1:
                raise EosInputError(f"{text!r} is not an assignment 'name = expression'")
            lhs, rhs = (s.strip() for s in text.split("=", 1))
            if not lhs.isidentifier():
                raise EosInputError(f"{text!r}: cannot assign to {lhs!r}; the target must be a name such as w or v")
            if lhs == "g":
                raise EosInputError(f"{text!r}: g is the gradient, an input of the step; it cannot be assigned")
            if lhs in REDUCTIONS or lhs in {"sign", "abs", "sqrt", "exp", "log"}:
                raise EosInputError(f"{text!r}: cannot assign to the function name {lhs!r}")
            expr = parse_formula(rhs, extra=REDUCTIONS, symbols=symbols)
            for f in expr.atoms(sp.Function):
                if isinstance(f, tuple(REDUCTIONS.values())) and f.args != (G,):
                    raise EosInputError(f"{text!r}: {f.func.__name__}() takes only the gradient g, got {f}")
            for s in expr.free_symbols:
                symbols.setdefault(s.name, s)  # type: ignore[attr-defined]
            target = symbols.setdefault(lhs, sp.Symbol(lhs))
            assignments.append(Assignment(target, expr, text))
        if W not in {a.target for a in assignments}:
            raise EosInputError(f"update rule {texts} never assigns w: add a line 'w = ...'")
        self.assignments: tuple[Assignment, ...] = tuple(assignments)
        self.name = name

    @cached_property
    def state(self) -> tuple[sp.Symbol, ...]:
        """State variables (assigned names other than ``w``), in order of first assignment."""
        out: list[sp.Symbol] = []
        for a in self.assignments:
            if a.target != W and a.target not in out:
                out.append(a.target)
        return tuple(out)

    @cached_property
    def hyperparameters(self) -> tuple[sp.Symbol, ...]:
        """Free symbols that are neither ``w``, ``g`` nor state, sorted by name."""
        free: set[sp.Symbol] = set()
        for a in self.assignments:
            free |= a.expr.free_symbols  # type: ignore[arg-type]
        free -= {W, G, *self.state}
        return tuple(sorted(free, key=lambda s: s.name))

    @cached_property
    def reductions(self) -> tuple[sp.Expr, ...]:
        """The reductions (``norm(g)``, …) the rule uses."""
        found: set[sp.Expr] = set()
        for a in self.assignments:
            found |= {f for f in a.expr.atoms(sp.Function) if isinstance(f, tuple(REDUCTIONS.values()))}
        return tuple(sorted(found, key=str))

    def composed(self) -> dict[sp.Symbol, sp.Expr]:
        r"""The step as one map: new values of ``w`` and each state in terms of the old ones and ``g``.

        Sequential assignments are composed by substitution, so for PyTorch's Nesterov
        rule :math:`w^+ = w - \eta(g + \beta(\beta v + g))`.
        """
        env: dict[sp.Symbol, sp.Expr] = {}
        for a in self.assignments:
            env[a.target] = a.expr.xreplace(env) if env else a.expr
        return {s: env[s] for s in (W, *self.state)}

    def lines(self) -> tuple[str, ...]:
        """The assignments as text, one per line."""
        return tuple(str(a) for a in self.assignments)

    def __str__(self) -> str:
        return "; ".join(self.lines())

    def __repr__(self) -> str:
        return f"UpdateRule({list(self.lines())!r})"
