r"""Linearisation: an update rule's step on :math:`L = \tfrac12\lambda w^2` as :math:`x_{t+1} = A(\lambda)\,x_t`.

The rule's state :math:`x = (w, v_1, \dots, v_k)`, the step matrix :math:`A(\lambda)`
(:func:`linear_map`), and the exact sample values of hyperparameters that tell candidate
branches apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._optimizers import get_optimizer
from eostheory.symbolic._parse import as_sympy as _as_sympy
from eostheory.symbolic.rules import REDUCTIONS, G, UpdateRule, W

#: The curvature symbol :math:`\lambda`, written ``lam`` (``g = lam*w`` on the quadratic;
#: ``lambda`` itself is a Python keyword, so text output could not be parsed back).
LAMBDA = sp.Symbol("lam")

# exact sample values of hyperparameters used to tell the candidate branches apart
_ETA_SAMPLES = (sp.Rational(1, 10), sp.Rational(1, 3), sp.Integer(1))
_OTHER_SAMPLES = (sp.Rational(1, 5), sp.Rational(1, 2), sp.Rational(9, 10))
_DIGITS = 30
_TOL = sp.Float("1e-12", _DIGITS)


# --------------------------------------------------------------------------------------
# input: optimizers and rules
# --------------------------------------------------------------------------------------
def as_rule(optimizer_or_rule: Any) -> tuple[UpdateRule, str | None]:
    """Resolve an optimizer name, an :class:`~eostheory.optimizers.Optimizer`, an
    :class:`UpdateRule` or update lines into ``(rule, name)``.

    A built-in optimizer contributes its own :attr:`~eostheory.optimizers.Optimizer.rule`
    (the single definition), never a copy.  A string containing ``=`` is read as update
    lines (separated by newlines or ``;``); any other string is an optimizer name.

    Raises:
        EosInputError: unknown optimizer name, unparsable text, or no ``w`` update.
    """
    if isinstance(optimizer_or_rule, UpdateRule):
        return optimizer_or_rule, optimizer_or_rule.name
    rule = getattr(optimizer_or_rule, "rule", None)
    if isinstance(rule, UpdateRule):
        return rule, getattr(optimizer_or_rule, "name", None)
    if isinstance(optimizer_or_rule, str):
        if "=" in optimizer_or_rule:
            return UpdateRule(optimizer_or_rule), None
        opt = get_optimizer(optimizer_or_rule.strip())
        return opt.rule, opt.name
    if isinstance(optimizer_or_rule, Iterable):
        lines = list(optimizer_or_rule)
        if not all(isinstance(s, str) for s in lines):
            raise EosInputError(f"update lines must be strings, got {lines!r}")
        return UpdateRule(lines), None
    raise EosInputError(
        f"expected an optimizer name, an Optimizer, an UpdateRule or update lines, got {optimizer_or_rule!r}"
    )


def _variables(rule: UpdateRule) -> tuple[sp.Symbol, ...]:
    return (W, G, *rule.state)


def _check_linear(rule: UpdateRule) -> None:
    """Each line must be a homogeneous linear form in ``(w, g, states)``.

    Composition of linear lines is linear, so this is sufficient; checking line by line
    lets the error name the offending term in the user's own line.
    """
    variables = set(_variables(rule))
    names = ", ".join(str(v) for v in _variables(rule))
    for a in rule.assignments:
        for red in a.expr.atoms(sp.Function):
            if isinstance(red, tuple(REDUCTIONS.values())):
                raise EosInputError(
                    f"{a.text!r}: the reduction {red} is not linear in the state: on a quadratic the step "
                    "of a normalized method is not a linear map, so it has no linear-stability threshold"
                )
        for term in sp.Add.make_args(sp.expand(a.expr)):
            used = term.free_symbols & variables
            if not used:
                raise EosInputError(f"{a.text!r}: the term {term} involves none of {names}{_hint(rule, term)}")
            var = next(iter(used))
            coeff = sp.diff(term, var) if len(used) == 1 else None
            if coeff is None or (coeff.free_symbols & variables) or coeff.has(sp.DiracDelta, sp.Derivative):
                raise EosInputError(
                    f"{a.text!r}: the term {term} is not linear in ({names}); on a quadratic the step must be "
                    "a linear map of the state for a linear-stability threshold"
                )


def _hint(rule: UpdateRule, term: sp.Expr) -> str:
    """Explain a state-free term: which names in it are read but never assigned."""
    import difflib

    assigned = [str(s) for s in (W, *rule.state)]
    unknown = sorted(str(s) for s in term.free_symbols)
    if not unknown:
        return "; a step must map the state 0 to 0 on a quadratic (no constant terms)"
    guesses = [(u, difflib.get_close_matches(u, assigned, n=1, cutoff=0.5)) for u in unknown]
    said = "; ".join(f"{u!r} is read but never assigned (did you mean {m[0]!r}?)" for u, m in guesses if m)
    if not said:
        verb = "is" if len(unknown) == 1 else "are"
        said = f"{', '.join(unknown)} {verb} never assigned, so counted as hyperparameters"
    return f"; a step must map the state 0 to 0 on a quadratic: {said}"


def linear_map(optimizer_or_rule: Any) -> tuple[sp.Matrix, tuple[sp.Symbol, ...]]:
    r"""The matrix :math:`A(\lambda)` of one step on :math:`L = \tfrac12\lambda w^2`.

    Substitutes :math:`g = \lambda w` (the gradient at the parameter before the step)
    into the composed step and differentiates: :math:`x_{t+1} = A(\lambda) x_t` with
    state :math:`x = (w, v_1, \dots)`.

    Args:
        optimizer_or_rule: see :func:`as_rule`.

    Returns:
        ``(A, state)`` with ``state = (w, v1, ...)``.

    Raises:
        EosInputError: a line that is not linear in ``(w, g, states)`` (naming the term),
            a state that never influences ``w`` (a misspelt or dead assignment), or a
            step that does not read the gradient.

    Examples:
        >>> A, x = linear_map(["v = beta*v + g", "w = w - eta*v"])
        >>> A
        Matrix([
        [-eta*lam + 1, -beta*eta],
        [         lam,      beta]])
    """
    rule, _ = as_rule(optimizer_or_rule)
    if LAMBDA in rule.hyperparameters:
        raise EosInputError(f"{LAMBDA} is reserved for the curvature (g = {LAMBDA}*w): rename that hyperparameter")
    _check_linear(rule)
    memory = _memory_states(rule)
    comp = rule.composed()
    xs = (W, *memory)
    rows = []
    for s in xs:
        e = sp.expand(comp[s].xreplace({G: LAMBDA * W}))
        rows.append([sp.expand(sp.diff(e, x)) for x in xs])
    A = sp.Matrix(rows)
    if not A.has(LAMBDA):
        raise EosInputError(f"update rule {_text(rule)!r} never reads the gradient g: it has no curvature threshold")
    # every state must influence w, directly or through other states (structural reachability)
    n = len(xs)
    reach = {0}
    changed = True
    while changed:
        changed = False
        for j in range(n):
            if j not in reach and any(A[i, j] != 0 for i in reach):
                reach.add(j)
                changed = True
    dead = [xs[j] for j in range(n) if j not in reach]
    if dead:
        s = dead[0]
        line = next(a.text for a in rule.assignments if a.target == s)
        raise EosInputError(
            f"{line!r}: {s} is assigned but never influences w (no update of w reads it, directly or through "
            "other state): a misspelt name? use it or remove the line"
        )
    return A, xs


def _memory_states(rule: UpdateRule) -> tuple[sp.Symbol, ...]:
    """The state variables whose value from the previous step is read.

    A name assigned before every read in the step is a temporary (``y = w - eta*g`` then
    ``w = y + ...``): it carries no memory, so it is not part of the linear state.  A
    name that is assigned but never read at all is an error.
    """
    assigned: set[sp.Symbol] = set()
    old_read: set[sp.Symbol] = set()
    read: set[sp.Symbol] = set()
    for a in rule.assignments:
        syms = a.expr.free_symbols
        read |= syms
        old_read |= {s for s in syms if s in rule.state and s not in assigned}
        assigned.add(a.target)
    for s in rule.state:
        if s not in read:
            line = next(a.text for a in rule.assignments if a.target == s)
            raise EosInputError(
                f"{line!r}: {s} is assigned but never read by any line: a misspelt name? use it or remove the line"
            )
    return tuple(s for s in rule.state if s in old_read)


def _text(rule: UpdateRule) -> str:
    """The rule as the user wrote it: lines joined by ``; ``."""
    return "; ".join(a.text for a in rule.assignments)


def _fresh(name: str, taken: Iterable[sp.Symbol]) -> sp.Symbol:
    names = {str(s) for s in taken}
    while name in names:
        name += "_"
    return sp.Symbol(name)


def _values(rule: UpdateRule, values: Mapping[str, Any] | None) -> dict[sp.Symbol, sp.Expr]:
    """Map user values (numbers or expressions) onto the rule's hyperparameter symbols."""
    if not values:
        return {}
    known = {h.name: h for h in rule.hyperparameters}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise EosInputError(f"the rule has no hyperparameter(s) {unknown}; it has {sorted(known)}")
    out: dict[sp.Symbol, sp.Expr] = {}
    for k, v in values.items():
        expr = _as_sympy(v, f"value of {k}")
        if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
            raise EosInputError(f"value of {k} must be finite, got {v!r}")
        out[known[k]] = expr
    return out


def _samples(
    hypers: Sequence[sp.Symbol], samples: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None
) -> list[dict[sp.Symbol, sp.Expr]]:
    """Exact sample points of the hyperparameters (three by default)."""
    if samples is None:
        return [{h: (_ETA_SAMPLES if h.name == "eta" else _OTHER_SAMPLES)[k] for h in hypers} for k in range(3)]
    pts = [samples] if isinstance(samples, Mapping) else list(samples)
    by_name = {h.name: h for h in hypers}
    out = []
    for pt in pts:
        missing = sorted(set(by_name) - set(pt))
        extra = sorted(set(pt) - set(by_name))
        if missing or extra:
            raise EosInputError(f"each sample must give exactly the hyperparameters {sorted(by_name)}; got {dict(pt)}")
        out.append({by_name[k]: sp.nsimplify(v, rational=True) for k, v in pt.items()})
    if not out:
        raise EosInputError("samples is empty")
    return out
