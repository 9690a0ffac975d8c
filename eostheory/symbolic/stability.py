r"""Linear and mean-square stability of optimizers, and the flip bifurcation of GD.

Everything here is derived with sympy from the optimizer's single definition, its
:class:`~eostheory.symbolic.rules.UpdateRule` (derivations and sources in ``docs/stability.md``).

**Deterministic thresholds.**  On a quadratic :math:`L = \tfrac12 \lambda w^2` the gradient
is :math:`g = \lambda w`, and an optimizer whose step is linear in its state
:math:`x = (w, v_1, \dots, v_k)` becomes :math:`x_{t+1} = A(\lambda)\, x_t`.  Its
characteristic polynomial :math:`p(z) = \det(zI - A(\lambda))` has a root on the unit
circle exactly when one of three factors vanishes:

* :math:`p(1) = 0` — a root leaves through :math:`z = +1`;
* :math:`p(-1) = 0` — through :math:`z = -1` (period doubling, the edge-of-stability
  oscillation);
* :math:`\det(I - A^{(2)}) = \prod_{i<j}(1 - z_i z_j) = 0` — a complex pair
  :math:`e^{\pm i\theta}` (Neimark–Sacker), where :math:`A^{(2)}` is the second compound
  matrix of :math:`A` (its :math:`2\times 2` minors, eigenvalues :math:`z_i z_j`).

These are the boundaries of the Schur–Cohn (Jury) conditions.  :func:`thresholds` finds
the candidate curvatures on all three, decides with exact sample values of the
hyperparameters which one is crossed first as :math:`\lambda` grows from 0, and returns
that branch as a simplified sympy expression together with the crossing type.

**Mean-square stability.**  With i.i.d. random curvature :math:`h_t` (mean :math:`a`,
second moment :math:`m_2`) the second moments :math:`E[x_t x_t^\top]` follow a linear map
(:func:`mean_square`); its boundary :math:`\det(I - M) = 0` is affine in :math:`m_2`.

**Flip bifurcation.**  :func:`flip_bifurcation` classifies the period doubling of GD on a
one-dimensional potential at :math:`L'' = 2/\eta` and, for polynomial potentials, follows
the 2-cycle exactly.

Curvature symbol: ``lam`` (printed :math:`\lambda`; ``lambda`` is a Python keyword, so
``lam`` keeps text output parseable); polynomial variable ``z``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._limits import time_limit as _time_limit
from eostheory.symbolic._parse import as_sympy as _as_sympy
from eostheory.symbolic.rules import REDUCTIONS, G, UpdateRule, W

__all__ = [
    "CROSSINGS",
    "LAMBDA",
    "FlipResult",
    "MatrixStability",
    "MeanSquareResult",
    "StabilityResult",
    "TwoCycle",
    "as_rule",
    "as_text",
    "flip_bifurcation",
    "linear_map",
    "matrix_stability",
    "mean_square",
    "thresholds",
    "two_cycles",
]

#: The curvature symbol :math:`\lambda`, written ``lam`` (``g = lam*w`` on the quadratic;
#: ``lambda`` itself is a Python keyword, so text output could not be parsed back).
LAMBDA = sp.Symbol("lam")
_TEX_NAMES = {LAMBDA: r"\lambda"}

#: Crossing types and what they mean.
CROSSINGS: dict[str, str] = {
    "z=-1": "a real root leaves the unit disc through z = -1 (period doubling: the edge-of-stability oscillation)",
    "z=+1": "a real root leaves the unit disc through z = +1 (monotone divergence)",
    "complex": "a complex pair leaves the unit disc through |z| = 1 (Neimark-Sacker: oscillation with a rotation)",
    "none": "no root leaves the unit disc for any curvature lam > 0",
    "mixed": "the way out depends on the hyperparameters (the threshold is the min of the branches; see regimes)",
}

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
        from eostheory.optimizers._defs import get_optimizer

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


# --------------------------------------------------------------------------------------
# display helpers
# --------------------------------------------------------------------------------------
def _positive_form(f: sp.Expr) -> tuple[sp.Expr, int]:
    """Flip the sign of a sum so its constant (or leading) term is positive."""
    if isinstance(f, sp.Add):
        const = [t for t in f.args if t.is_Number]
        lead = const[0] if const else f.as_ordered_terms()[0].as_coeff_Mul()[0]
        if lead.is_negative:
            return sp.expand(-f), -1
    return f, 1


def _parts(expr: sp.Expr) -> tuple[int, list[tuple[sp.Expr, int]], list[tuple[sp.Expr, int]]] | None:
    """``(sign, numerator factors, denominator factors)`` of a rational expression.

    Each factor is ``(base, exponent)``; a rational coefficient comes first; sums are
    written with a positive constant term.  ``None`` when ``expr`` is not rational.
    """
    expr = _as_sympy(expr)
    if not expr.is_rational_function():
        return None
    num, den = sp.fraction(sp.cancel(sp.together(expr)))
    sign = 1
    out: list[list[tuple[sp.Expr, int]]] = []
    coeffs = []
    for part in (num, den):
        c, facs = sp.factor_list(part)
        fl = []
        for f, m in facs:
            f2, s = _positive_form(f)
            if s < 0 and m % 2:
                sign = -sign
            fl.append((f2, int(m)))
        fl.sort(key=lambda fm: (isinstance(fm[0], sp.Add), sp.default_sort_key(fm[0])))
        coeffs.append(c)
        out.append(fl)
    c = coeffs[0] / coeffs[1]
    if c.is_negative:
        sign, c = -sign, -c
    p, q = (c.p, c.q) if c.is_Rational else (c, 1)
    if p == 0:
        return 1, [(sp.Integer(0), 1)], []
    nf = ([(sp.Integer(p), 1)] if p != 1 or not out[0] else []) + out[0]
    df = ([(sp.Integer(q), 1)] if q != 1 else []) + out[1]
    return sign, nf, df


def _add_str(f: sp.Expr, latex: bool = False) -> str:
    """A sum with its constant term first, as in ``1 + beta`` or ``1 - eta*lam``."""
    const = [t for t in f.args if t.is_Number]
    rest = [t for t in f.as_ordered_terms() if not t.is_Number]
    e = sp.Add(*const, *rest, evaluate=False)
    return sp.latex(e, order="none", symbol_names=_TEX_NAMES) if latex else sp.sstr(e, order="none")


def _fstr(f: sp.Expr, m: int, latex: bool = False, bare: bool = False) -> str:
    if isinstance(f, sp.Add):
        s = _add_str(f, latex)
    else:
        s = sp.latex(f, symbol_names=_TEX_NAMES) if latex else sp.sstr(f)
    if (isinstance(f, sp.Add) and not bare) or (m > 1 and not f.is_Atom):
        s = rf"\left({s}\right)" if latex else f"({s})"
    if m > 1:
        s = f"{s}^{{{m}}}" if latex else f"{s}**{m}"
    return s


def _show(expr: sp.Expr) -> str:
    """Readable text of a rational expression: ``2*(beta + 1)/(eta*(1 - beta))``."""
    if expr is sp.oo or expr is -sp.oo:
        return str(expr)
    if isinstance(expr, sp.Min | sp.Max):
        return f"{type(expr).__name__}({', '.join(_show(x) for x in expr.args)})"
    parts = _parts(expr)
    if parts is None:
        return sp.sstr(sp.simplify(expr))
    sign, nf, df = parts
    if not df and len(nf) == 1:
        return ("-" if sign < 0 else "") + _fstr(*nf[0], bare=sign > 0)
    ns = "*".join(_fstr(f, m) for f, m in nf)
    if not df:
        return ("-" if sign < 0 else "") + ns
    ds = "*".join(_fstr(f, m) for f, m in df)
    if len(df) > 1:
        ds = f"({ds})"
    return ("-" if sign < 0 else "") + f"{ns}/{ds}"


def as_text(expr: sp.Expr) -> str:
    """Readable text of a derived expression, in the notation of the documentation (``lam``, ``beta``, ``eta``).

    Factors are written with their constant term first and positive, so
    ``-2*(beta + 1)/(eta*(beta - 1))`` reads ``2*(1 + beta)/(eta*(1 - beta))``; the text
    parses back (``sympy.sympify``) to an equal expression.

    Examples:
        >>> import sympy as sp
        >>> beta, eta = sp.symbols("beta eta")
        >>> as_text(sp.factor(2 * (1 + beta) / (eta * (1 - beta))))
        '2*(1 + beta)/(eta*(1 - beta))'
    """
    return _show(expr)


def _latex(expr: sp.Expr) -> str:
    """LaTeX of a rational expression in the form of :func:`_show`."""
    if isinstance(expr, sp.Min | sp.Max):
        return rf"\{type(expr).__name__.lower()}\left({', '.join(_latex(x) for x in expr.args)}\right)"
    parts = _parts(expr)
    if parts is None:
        return sp.latex(expr, symbol_names=_TEX_NAMES)
    sign, nf, df = parts
    if not df and len(nf) == 1:
        return ("-" if sign < 0 else "") + _fstr(*nf[0], latex=True, bare=sign > 0)
    ns = " ".join(_fstr(f, m, True, bare=len(nf) == 1 and bool(df)) for f, m in nf)
    ds = " ".join(_fstr(f, m, True, bare=len(df) == 1) for f, m in df)
    s = ns if not df else rf"\frac{{{ns}}}{{{ds}}}"
    return ("-" if sign < 0 else "") + s


def display(expr: sp.Expr) -> sp.Expr:
    r"""An equal, unevaluated form of a rational expression for 2-D printing (``sympy.pretty``).

    ``-2*(beta + 1)/(eta*(beta - 1))`` becomes :math:`\frac{2(\beta + 1)}{\eta(1 - \beta)}`.
    """
    parts = _parts(expr)
    if parts is None:
        return sp.simplify(expr)

    def mul(fs: list[tuple[sp.Expr, int]]) -> sp.Expr:
        items = [f if m == 1 else sp.Pow(f, m, evaluate=False) for f, m in fs]
        return items[0] if len(items) == 1 else sp.Mul(*items, evaluate=False)

    sign, nf, df = parts
    N = mul(nf)
    if sign < 0:
        N = sp.Mul(-1, N, evaluate=False)
    return N if not df else sp.Mul(N, sp.Pow(mul(df), -1, evaluate=False), evaluate=False)


def _poly_terms(p: sp.Expr, z: sp.Symbol) -> list[tuple[int, int, sp.Expr]]:
    """``(power, sign, |coefficient|)`` in descending powers of ``z``."""
    out = []
    for (k,), c in sorted(sp.Poly(p, z).terms(), key=lambda t: -t[0][0]):
        parts = _parts(c)
        sign = parts[0] if parts else 1
        out.append((k, sign, sp.factor(c * sign)))
    return out


def _poly_str(p: sp.Expr, z: sp.Symbol, latex: bool = False) -> str:
    """``z**2 - (1 + beta - eta*lam)*z + beta``: descending powers, factored coefficients."""
    s = ""
    for i, (k, sign, c) in enumerate(_poly_terms(p, z)):
        cs = (_latex(c) if latex else _show(c)) if c != 1 or k == 0 else ""
        if cs and (k > 0 or sign < 0) and (isinstance(c, sp.Add) or "/" in cs or "frac" in cs):
            cs = rf"\left({cs}\right)" if latex else f"({cs})"
        zs = (
            ""
            if k == 0
            else (sp.latex(z) if latex else str(z)) + ("" if k == 1 else (f"^{{{k}}}" if latex else f"**{k}"))
        )
        term = cs + ("" if not cs or not zs else (" " if latex else "*")) + zs
        if i == 0:
            s = ("-" if sign < 0 else "") + term
        else:
            s += (" - " if sign < 0 else " + ") + term
    return s


def _poly_display(p: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """The polynomial as an unevaluated sum in descending powers of ``z`` (for 2-D printing)."""
    terms = []
    for k, sign, c in _poly_terms(p, z):
        zk = sp.Integer(1) if k == 0 else (z if k == 1 else sp.Pow(z, k))
        t = c if k == 0 else (zk if c == 1 else sp.Mul(display(c), zk, evaluate=False))
        terms.append(sp.Mul(-1, t, evaluate=False) if sign < 0 else t)
    return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]


# --------------------------------------------------------------------------------------
# numeric helpers (sympy/mpmath, exact inputs)
# --------------------------------------------------------------------------------------
def _nroots(expr: sp.Expr, var: sp.Symbol) -> list[sp.Expr]:
    """Numeric roots (with multiplicity) of a polynomial with exact coefficients.

    mpmath's Durand–Kerner iteration converges slowly on repeated roots, so on failure
    the square-free factors are solved one by one; a polynomial that still does not
    converge (coefficients of wildly different sizes, e.g. ``beta = 1e308``) is a
    one-line :class:`EosInputError`, never mpmath's ``NoConvergence``.
    """
    poly = sp.Poly(sp.expand(expr), var)
    if poly.degree() <= 0:
        return []
    try:
        return poly.nroots(n=_DIGITS, maxsteps=200)
    except mpmath.libmp.libhyper.NoConvergence:
        pass
    try:
        roots: list[sp.Expr] = []
        for factor, mult in sp.sqf_list(poly)[1]:
            if factor.degree() > 0:
                roots += factor.nroots(n=_DIGITS, maxsteps=2000) * mult
        return roots
    except mpmath.libmp.libhyper.NoConvergence:
        coeffs = ", ".join(str(sp.N(c, 3)) for c in poly.all_coeffs()[:4])
        raise EosInputError(
            f"the roots of a degree-{poly.degree()} polynomial in {var} (coefficients {coeffs}, ...) could not be "
            "computed: the numerical root finder did not converge; hyperparameter values this extreme "
            "are out of its reach"
        ) from None


def _rho(p: sp.Expr, z: sp.Symbol) -> sp.Float:
    roots = _nroots(p, z)
    return max(abs(r) for r in roots) if roots else sp.Float(0)


def _real_roots(expr: sp.Expr, var: sp.Symbol) -> list[sp.Float]:
    out = []
    for r in _nroots(expr, var):
        re, im = r.as_real_imag()
        if abs(im) <= _TOL * (1 + abs(re)):
            out.append(sp.Float(re, _DIGITS))
    return sorted(out)


def _classify_roots(p_at: sp.Expr, z: sp.Symbol) -> tuple[str, list[sp.Expr]]:
    """Which roots of ``p_at`` lie on the unit circle, and what kind of crossing that is."""
    on = [r for r in _nroots(p_at, z) if abs(abs(r) - 1) < sp.Float("1e-8")]
    kinds = []
    for r in on:
        re, im = r.as_real_imag()
        if abs(im) < sp.Float("1e-8"):
            kinds.append("z=-1" if re < 0 else "z=+1")
        else:
            kinds.append("complex")
    for k in ("z=-1", "complex", "z=+1"):
        if k in kinds:
            return k, on
    return "none", on


# --------------------------------------------------------------------------------------
# deterministic thresholds
# --------------------------------------------------------------------------------------
@dataclass
class StabilityResult:
    r"""Linear stability of an optimizer on :math:`L = \tfrac12\lambda w^2`.

    Attributes:
        rule: the update rule analysed.
        name: the optimizer's name (``None`` for a user rule).
        state: the state vector ``(w, v, ...)``.
        matrix: :math:`A(\lambda)`, one step on the state.
        polynomial: :math:`p(z) = \det(zI - A(\lambda))` (expanded).
        threshold: :math:`\lambda^*`, the smallest curvature at which a root leaves the
            unit disc (``oo`` when none does), simplified.
        crossing: ``"z=-1"``, ``"z=+1"``, ``"complex"`` or ``"none"`` (see :data:`CROSSINGS`).
        lower: the lower end of the stable interval of :math:`\lambda` (0 for the usual
            optimizers, whose step leaves ``w`` unchanged when :math:`g = 0`).
        boundaries: for each way out, the factor whose zeros are candidate curvatures.
        conditions: the Schur–Cohn conditions (all positive iff every root is inside).
        curvature: what :math:`\lambda` stands for: the Hessian eigenvalue, or the
            eigenvalue of :math:`P^{-1}H` for a preconditioned rule.
        samples: the exact hyperparameter values used to pick the binding branch.
        fixed: hyperparameters fixed before the derivation (``values=``).
        notes: caveats (a binding branch that changes with the hyperparameters, …).
        z: the polynomial variable.
    """

    rule: UpdateRule
    name: str | None
    state: tuple[sp.Symbol, ...]
    matrix: sp.Matrix
    polynomial: sp.Expr
    threshold: sp.Expr
    crossing: str
    lower: sp.Expr
    boundaries: dict[str, sp.Expr]
    conditions: list[sp.Expr]
    z: sp.Symbol
    curvature: str = "lambda_max(H)"
    fixed: dict[str, sp.Expr] = field(default_factory=dict)
    samples: list[dict[sp.Symbol, sp.Expr]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    regimes: list[dict[str, Any]] = field(default_factory=list)

    # --- evaluation -------------------------------------------------------------------
    @property
    def hyperparameters(self) -> tuple[sp.Symbol, ...]:
        """The free hyperparameters of the threshold."""
        return tuple(sorted(self.polynomial.free_symbols - {LAMBDA, self.z}, key=lambda s: s.name))

    def _subs(self, values: Mapping[str, float]) -> dict[sp.Symbol, sp.Expr]:
        by = {h.name: h for h in self.hyperparameters}
        unknown = sorted(set(values) - set(by))
        if unknown:
            raise EosInputError(f"no hyperparameter(s) {unknown}; this threshold depends on {sorted(by)}")
        missing = sorted(set(by) - set(values))
        if missing:
            raise EosInputError(f"give values for {missing}")
        return {by[k]: sp.nsimplify(v, rational=True) for k, v in values.items()}

    def value(self, **values: float) -> float:
        """:math:`\\lambda^*` as a float for the given hyperparameters (e.g. ``eta=0.1, beta=0.9``)."""
        return float(self.threshold.subs(self._subs(values)))

    def spectral_radius(self, lam: float, **values: float) -> float:
        r"""Spectral radius :math:`\max|z|` of :math:`A(\lambda)` at a curvature and hyperparameters."""
        sub = self._subs(values)
        sub[LAMBDA] = sp.nsimplify(lam, rational=True)
        return float(_rho(self.polynomial.subs(sub), self.z))

    # --- printing ---------------------------------------------------------------------
    def threshold_str(self) -> str:
        """The threshold as readable text (``2*(beta + 1)/eta``)."""
        return _show(self.threshold)

    def polynomial_display(self) -> sp.Expr:
        """:attr:`polynomial` as a sum in descending powers of ``z`` (for printing)."""
        return _poly_display(self.polynomial, self.z)

    def latex(self) -> str:
        r"""LaTeX: :math:`p(z) = \dots`, :math:`\lambda^* = \dots` and the crossing."""
        p = _poly_str(self.polynomial, self.z, latex=True)
        t = _latex(self.threshold)
        cross = {
            "z=-1": "z = -1",
            "z=+1": "z = +1",
            "complex": r"|z| = 1,\ z \notin \mathbb{R}",
            "none": r"\text{none}",
            "mixed": r"\text{depends on the hyperparameters}",
        }
        return rf"p(z) = {p}, \qquad \lambda^* = {t} \quad ({cross[self.crossing]})"

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def pretty(self) -> str:
        """A multi-line, 2-D (unicode) rendering of the result."""
        head = f"{self.name or 'update rule'}: {_text(self.rule)}"
        return "\n".join(
            [
                head,
                f"state {tuple(map(str, self.state))}, curvature lam = {self.curvature} (g = lam*w)",
                "p(z) =",
                sp.pretty(self.polynomial_display(), order="none", use_unicode=True),
                "lam* =",
                sp.pretty(display(self.threshold), use_unicode=True),
                f"crossing: {self.crossing} — {CROSSINGS[self.crossing]}",
            ]
        )

    def __str__(self) -> str:
        lines = [
            f"{self.name or 'update rule'}: {_text(self.rule)}",
            f"  state               {', '.join(map(str, self.state))}   (g = lam*w; lam = {self.curvature})",
            f"  p(z)                {_poly_str(self.polynomial, self.z)}",
            f"  threshold lam*      {self.threshold_str()}",
            f"  crossing            {self.crossing}: {CROSSINGS[self.crossing]}",
        ]
        if self.lower != 0:
            lines.append(f"  stable interval     {_show(self.lower)} < lam < lam*")
        lines += [f"  note                {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary; expressions as sympy strings (``sympy.sympify`` reads them back;
        the curvature is ``lam``)."""
        return {
            "optimizer": self.name,
            "update": [a.text for a in self.rule.assignments],
            "state": [str(s) for s in self.state],
            "hyperparameters": [str(h) for h in self.hyperparameters],
            "curvature": self.curvature,
            "curvature_symbol": str(LAMBDA),
            "matrix": [[str(x) for x in self.matrix.row(i)] for i in range(self.matrix.rows)],
            "characteristic_polynomial": _poly_str(self.polynomial, self.z),
            "characteristic_polynomial_latex": _poly_str(self.polynomial, self.z, latex=True),
            "threshold": self.threshold_str(),
            "threshold_sympy": str(self.threshold),
            "threshold_latex": _latex(self.threshold),
            "crossing": self.crossing,
            "crossing_description": CROSSINGS[self.crossing],
            "stable_interval": [_show(self.lower), self.threshold_str()],
            "boundaries": {k: _show(v) for k, v in self.boundaries.items()},
            "schur_cohn_conditions": [f"{_show(c)} > 0" for c in self.conditions],
            "fixed": {k: str(v) for k, v in self.fixed.items()},
            "samples": [{str(k): str(v) for k, v in s.items()} for s in self.samples],
            "regimes": self.regimes,
            "notes": list(self.notes),
        }


def _schur_cohn(p: sp.Expr, z: sp.Symbol) -> list[sp.Expr]:
    r"""Schur–Cohn chain: :math:`c_k = \mathrm{lc}(p_k)^2 - p_k(0)^2 > 0` for all :math:`k`.

    :math:`p_{k+1}(z) = [\mathrm{lc}(p_k)\, p_k(z) - p_k(0)\, z^{n_k} p_k(1/z)]/z`.  All roots
    of :math:`p` lie strictly inside the unit disc iff every :math:`c_k > 0`.
    """
    out = []
    pk = sp.Poly(sp.expand(p), z)
    while pk.degree() >= 1:
        lc, c0 = pk.LC(), pk.nth(0)
        out.append(sp.factor(lc**2 - c0**2))
        rev = sp.Poly(list(reversed(pk.all_coeffs())), z)
        nxt = sp.Poly(sp.expand((lc * pk - c0 * rev).as_expr() / z), z)
        if nxt.degree() != pk.degree() - 1 or nxt.is_zero:
            break
        pk = nxt
    return out


def _second_compound(A: sp.Matrix) -> sp.Matrix:
    n = A.rows
    idx = list(itertools.combinations(range(n), 2))
    return sp.Matrix(len(idx), len(idx), lambda i, j: A.extract(list(idx[i]), list(idx[j])).det())


def _boundaries(A: sp.Matrix, p: sp.Expr, z: sp.Symbol) -> dict[str, sp.Expr]:
    n = A.rows
    out = {"z=+1": sp.factor(p.subs(z, 1)), "z=-1": sp.factor((-1) ** n * p.subs(z, -1))}
    if n >= 2:
        C2 = _second_compound(A)
        out["complex"] = sp.factor((sp.eye(C2.rows) - C2).det())
    return out


def _stable_component(
    p: sp.Expr, z: sp.Symbol, boundaries: Mapping[str, sp.Expr]
) -> tuple[sp.Float | None, sp.Float | None, str, str]:
    """At exact hyperparameter values: the stable interval of lambda around 0+.

    Returns ``(lower, upper, crossing_up, crossing_down)``; ``None`` for an unbounded end.
    Stability can change only at a root of one of the boundary factors, so it suffices
    to test one point in each interval between consecutive real candidates.
    """
    cands: list[sp.Float] = []
    for k, f in boundaries.items():
        fe = sp.expand(f)
        if fe == 0:
            raise EosInputError(
                f"the step has a root on the unit circle ({k}) for every curvature: a state that never decays "
                "or a marginal mode; there is no stability threshold"
            )
        cands += _real_roots(fe, LAMBDA) if fe.has(LAMBDA) else []
    pts = sorted({*cands, sp.Float(0, _DIGITS)})
    merged: list[sp.Float] = []
    for c in pts:
        if not merged or abs(c - merged[-1]) > _TOL * (1 + abs(c)):
            merged.append(c)
    pts = merged
    i0 = next(i for i, c in enumerate(pts) if abs(c) <= _TOL)  # 0 is in the list

    def stable(lo: sp.Float | None, hi: sp.Float | None) -> bool:
        if lo is None:
            x = hi - 1 - abs(hi)
        elif hi is None:
            x = lo + 1 + abs(lo)
        else:
            x = (lo + hi) / 2
        return _rho(p.subs(LAMBDA, x), z) < 1 - sp.Float("1e-12")

    def interval(i: int) -> tuple[sp.Float | None, sp.Float | None]:  # interval right of pts[i]
        return pts[i], pts[i + 1] if i + 1 < len(pts) else None

    if not stable(*interval(i0)):
        raise EosInputError(
            "the step is unstable already for small curvature lam > 0 (spectral radius > 1 as lam -> 0+): "
            "there is no stable range to bound"
        )
    upper_i = i0
    while upper_i + 1 < len(pts) and stable(*interval(upper_i + 1)):
        upper_i += 1
    upper = pts[upper_i + 1] if upper_i + 1 < len(pts) else None
    lower_i = i0
    while lower_i - 1 >= 0 and stable(pts[lower_i - 1], pts[lower_i]):
        lower_i -= 1
    lower: sp.Float | None
    if lower_i == 0 and stable(None, pts[0]):
        lower = None
    else:
        lower = pts[lower_i]
    cu = _crossing_at(p, z, boundaries, upper) if upper is not None else "none"
    cd = _crossing_at(p, z, boundaries, lower) if lower is not None else "none"
    return lower, upper, cu, cd


def _crossing_at(p: sp.Expr, z: sp.Symbol, boundaries: Mapping[str, sp.Expr], lam: sp.Float) -> str:
    """The way out at a boundary point: from the roots on the unit circle, else the factor that vanishes."""
    kind = _classify_roots(p.subs(LAMBDA, lam), z)[0]
    if kind in boundaries:
        return kind
    vals = {k: abs(sp.N(f.subs(LAMBDA, lam), _DIGITS)) for k, f in boundaries.items()}
    return min(vals, key=lambda k: vals[k])


def _branch(factor: sp.Expr, at: Mapping[sp.Symbol, sp.Expr], target: sp.Float) -> tuple[int, sp.Expr]:
    """The symbolic root of ``factor`` (in lambda) that equals ``target`` at the sample ``at``."""
    sols = sp.solve(factor, LAMBDA)
    for k, s in enumerate(sols):
        v = sp.N(s.subs(at), _DIGITS)
        re, im = v.as_real_imag()
        if abs(im) <= sp.Float("1e-10") * (1 + abs(target)) and abs(re - target) <= sp.Float("1e-10") * (
            1 + abs(target)
        ):
            return k, s
    raise EosInputError(
        f"no closed form found for the root lam = {sp.N(target, 12)} of {sp.factor(factor)} = 0; "
        "give numeric hyperparameter values with values=..."
    )


def _simplify(e: sp.Expr) -> sp.Expr:
    e = sp.factor(sp.simplify(e))
    return e


def thresholds(
    optimizer_or_rule: Any,
    *,
    values: Mapping[str, Any] | None = None,
    samples: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    preconditioned: bool = False,
    time_limit: float | None = None,
) -> StabilityResult:
    r"""Derive the linear-stability threshold :math:`\lambda^*` of an optimizer.

    The optimizer runs on :math:`L = \tfrac12\lambda w^2` (so :math:`g = \lambda w`); its
    step is the linear map :math:`A(\lambda)` of :func:`linear_map`.  A root of
    :math:`p(z) = \det(zI - A)` reaches the unit circle only where :math:`p(1)`,
    :math:`p(-1)` or :math:`\det(I - A^{(2)})` vanishes; the candidate curvatures on each
    are computed, the stable interval containing small :math:`\lambda > 0` is located at
    exact sample values of the hyperparameters, and the branch that bounds it is returned
    in closed form.

    Args:
        optimizer_or_rule: a built-in optimizer name (``"heavy-ball"``), an
            :class:`~eostheory.optimizers.Optimizer`, an :class:`UpdateRule`, or update
            lines such as ``["v = beta*v + g", "w = w - eta*v"]``.
        values: hyperparameters to fix before the derivation (``{"beta": 0.9}``).
        samples: exact sample point(s) of all free hyperparameters used to pick the binding
            branch (default: three points with :math:`\eta \in \{0.1, 1/3, 1\}`, every
            other hyperparameter in :math:`\{0.2, 0.5, 0.9\}`).  The branch is reported for
            the first; a different branch at another point is recorded in ``regimes``.
        preconditioned: read :math:`\lambda` as an eigenvalue of :math:`P^{-1}H` (the rule
            acting on the preconditioned gradient :math:`P^{-1}g` with a fixed
            :math:`P \succ 0`); the algebra is the same, see :func:`matrix_stability`.
        time_limit: seconds allowed to the derivation (default ``EOSTHEORY_TIME_LIMIT``
            or 60; ``0`` for none): a rule with many chained buffers has a characteristic
            polynomial too large for exact algebra, and stops with a message instead of
            running for minutes.

    Returns:
        A :class:`StabilityResult`.

    Raises:
        EosInputError: bad rule text, no ``w`` update, a non-linear or affine term
            (named), a state that never influences ``w``, a step that is unstable already
            for small :math:`\lambda`, or a marginal mode at every :math:`\lambda`.

    Examples:
        >>> r = thresholds("heavy-ball")
        >>> r.threshold_str(), r.crossing
        ('2*(1 + beta)/eta', 'z=-1')
        >>> import sympy as sp
        >>> beta, eta = sp.symbols("beta eta")
        >>> sp.simplify(thresholds("nesterov").threshold - 2*(1 + beta)/(eta*(1 + 2*beta)))
        0
    """
    rule, name = as_rule(optimizer_or_rule)
    with _time_limit(time_limit, f"the stability analysis of {name or _text(rule)}"):
        return _thresholds(rule, name, values=values, samples=samples, preconditioned=preconditioned)


def _thresholds(
    rule: UpdateRule,
    name: str | None,
    *,
    values: Mapping[str, Any] | None,
    samples: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    preconditioned: bool,
) -> StabilityResult:
    A, xs = linear_map(rule)
    fixed = _values(rule, values)
    if fixed:
        A = A.subs(fixed)
    z = _fresh("z", rule.hyperparameters)
    p = sp.expand(A.charpoly(z).as_expr())
    hypers = tuple(sorted(p.free_symbols - {LAMBDA, z}, key=lambda s: s.name))
    pts = _samples(hypers, samples)
    bounds = _boundaries(A, p, z)
    regimes: list[dict[str, Any]] = []
    branches: dict[tuple[str, int], sp.Expr] = {}
    hits: list[tuple[dict, sp.Float | None]] = []
    lower_expr: sp.Expr = sp.Integer(0)
    notes: list[str] = []
    for k, at in enumerate(pts):
        p_at = p.subs(at)
        b_at = {key: f.subs(at) for key, f in bounds.items()}
        lo, hi, cu, cd = _stable_component(p_at, z, b_at)
        if hi is None:
            key: tuple[str, int] = ("none", -1)
            branches.setdefault(key, sp.oo)
        else:
            idx, expr = _branch(bounds[cu], at, hi)
            key = (cu, idx)
            branches.setdefault(key, _simplify(expr))
        hits.append((at, hi))
        regimes.append(
            {
                "sample": {str(h): str(v) for h, v in at.items()},
                "threshold": None if hi is None else float(hi),
                "crossing": key[0],
                "threshold_expr": _show(branches[key]),
                "lower": None if lo is None else float(lo),
            }
        )
        if k == 0:
            if lo is None:
                lower_expr = -sp.oo
            elif abs(lo) > _TOL:
                lower_expr = _simplify(_branch(bounds[cd], at, lo)[1])
    if len(branches) == 1:
        (crossing, _), thr = next(iter(branches.items()))
    else:
        # several branches bind in different regions: min of them, if that reproduces every sample
        finite = [e for e in branches.values() if e is not sp.oo]
        thr = sp.Min(*finite)
        ok = all(hi is not None and abs(sp.N(thr.subs(at), _DIGITS) - hi) <= _TOL * (1 + abs(hi)) for at, hi in hits)
        crossing = "mixed"
        if not ok:
            thr = branches[next(iter(branches))]
            crossing = regimes[0]["crossing"]
            notes.append(
                "the binding branch changes with the hyperparameters; the threshold shown holds at the "
                "first sample, see regimes"
            )
        else:
            notes.append(
                "which way out binds depends on the hyperparameters: "
                + "; ".join(f"{r['crossing']} at {r['sample']}" for r in regimes)
            )
    if preconditioned:
        notes.append("lam is an eigenvalue of P^-1 H: the threshold bounds lambda_max(P^-1 H)")
    return StabilityResult(
        rule=rule,
        name=name,
        state=xs,
        matrix=A,
        polynomial=p,
        threshold=thr,
        crossing=crossing,
        lower=lower_expr,
        boundaries=bounds,
        conditions=_schur_cohn(p, z),
        curvature="lambda_max(P^-1 H)" if preconditioned else "lambda_max(H)",
        samples=pts,
        notes=notes,
        regimes=regimes,
        z=z,
        fixed={h.name: v for h, v in fixed.items()},
    )


# --------------------------------------------------------------------------------------
# matrix curvature and preconditioning
# --------------------------------------------------------------------------------------
@dataclass
class MatrixStability:
    r"""Stability of a linear rule on :math:`L = \tfrac12 w^\top H w` with preconditioner :math:`P`.

    With :math:`g \mapsto P^{-1} g` the step acts on every eigenvector of :math:`P^{-1}H`
    separately (it is diagonalizable with real eigenvalues :math:`\mu_i` when :math:`H`
    is symmetric and :math:`P \succ 0`: it is similar to :math:`P^{-1/2} H P^{-1/2}`), so
    the whole map is stable iff every :math:`\mu_i` lies in the scalar stable interval.

    Attributes:
        eigenvalues: the :math:`\mu_i` (with multiplicity), symbolic when ``H`` is.
        threshold: the scalar :math:`\lambda^*` of the rule.
        lower: the lower end of the scalar stable interval.
        condition: the sympy condition ``lower <= mu_min`` and ``mu_max < threshold``
            (reduced to ``True``/``False`` when everything is numeric).
    """

    eigenvalues: list[sp.Expr]
    threshold: sp.Expr
    lower: sp.Expr
    condition: sp.Basic

    @property
    def mu_max(self) -> sp.Expr:
        r""":math:`\lambda_{\max}(P^{-1}H)` (a ``Max`` when symbolic)."""
        return sp.Max(*self.eigenvalues)

    @property
    def stable(self) -> bool | None:
        """``True``/``False`` when decidable, else ``None``."""
        c = self.condition
        return bool(c) if c in (sp.true, sp.false) else None


def matrix_stability(
    result: StabilityResult | Any,
    H: Any,
    P: Any = None,
    *,
    values: Mapping[str, Any] | None = None,
) -> MatrixStability:
    r"""Stability of a linear rule with matrix curvature :math:`H` (and preconditioner :math:`P`).

    Args:
        result: a :class:`StabilityResult` or anything :func:`thresholds` accepts.
        H: a symmetric matrix (nested lists or sympy ``Matrix``; entries may be symbols).
        P: an optional symmetric positive-definite preconditioner.
        values: hyperparameter values substituted into the threshold.

    Returns:
        A :class:`MatrixStability` with the eigenvalues of :math:`P^{-1}H` and the condition.

    Raises:
        EosInputError: non-square or non-symmetric ``H`` or ``P``, a singular ``P``.

    Examples:
        >>> m = matrix_stability("gd", [[3, 1], [1, 3]], values={"eta": 0.5})
        >>> [float(mu) for mu in m.eigenvalues], m.threshold, m.stable
        ([2.0, 4.0], 4, False)
    """
    res = result if isinstance(result, StabilityResult) else thresholds(result)
    try:
        Hm = sp.Matrix(H).applyfunc(lambda x: sp.nsimplify(x, rational=True) if isinstance(x, float) else x)
        Pm = (
            None
            if P is None
            else sp.Matrix(P).applyfunc(lambda x: sp.nsimplify(x, rational=True) if isinstance(x, float) else x)
        )
    except (TypeError, ValueError, sp.SympifyError):
        raise EosInputError("H and P must be square matrices of numbers or formulas") from None
    for nm, M in (("H", Hm), ("P", Pm)):
        if M is None:
            continue
        if M.rows != M.cols or M.rows == 0:
            raise EosInputError(f"{nm} must be a non-empty square matrix, got shape {M.shape}")
        if sp.simplify(M - M.T) != sp.zeros(M.rows, M.cols):
            raise EosInputError(f"{nm} must be symmetric")
    if Pm is not None:
        if Pm.shape != Hm.shape:
            raise EosInputError(f"P has shape {Pm.shape} but H has shape {Hm.shape}")
        if sp.simplify(Pm.det()) == 0:
            raise EosInputError("the preconditioner P is singular")
        K = Pm.inv() * Hm
    else:
        K = Hm
    ev: list[sp.Expr] = []
    if not K.free_symbols:
        # numeric matrices: eigenvalues from the characteristic polynomial (real: P^-1 H is
        # similar to the symmetric P^-1/2 H P^-1/2)
        x = sp.Symbol("_mu")
        if Pm is not None and any(r <= 0 for r in _real_roots(Pm.charpoly(x).as_expr(), x)):
            raise EosInputError("the preconditioner P must be positive definite")
        for r in _nroots(K.charpoly(x).as_expr(), x):
            re, im = r.as_real_imag()
            if abs(im) > sp.Float("1e-9") * (1 + abs(re)):
                raise EosInputError("P^-1 H has complex eigenvalues: H must be symmetric and P positive definite")
            ev.append(sp.Float(re, 15))
        ev.sort()
    else:
        for mu, mult in K.eigenvals().items():
            ev += [sp.simplify(mu)] * mult
    by = {h.name: h for h in res.hyperparameters}
    sub = {by[k]: sp.nsimplify(v, rational=True) for k, v in (values or {}).items() if k in by}
    unknown = sorted(set(values or {}) - set(by))
    if unknown:
        raise EosInputError(f"no hyperparameter(s) {unknown}; the threshold depends on {sorted(by)}")
    thr = sp.simplify(res.threshold.subs(sub))
    low = sp.simplify(res.lower.subs(sub))
    conds = [sp.Lt(mu, thr) for mu in ev] + ([sp.Ge(mu, low) for mu in ev] if low is not -sp.oo else [])
    cond = sp.And(*conds)
    return MatrixStability(ev, thr, low, cond)


# --------------------------------------------------------------------------------------
# mean-square stability
# --------------------------------------------------------------------------------------
@dataclass
class MeanSquareResult:
    r"""Mean-square stability of a linear rule with i.i.d. random curvature :math:`h_t`.

    The state obeys :math:`x_{t+1} = (A_0 + h_t A_1) x_t` with :math:`E h = a`,
    :math:`E h^2 = m_2`; the second moments :math:`X_t = E[x_t x_t^\top]` obey
    :math:`X_{t+1} = A_0 X A_0^\top + a(A_0 X A_1^\top + A_1 X A_0^\top) + m_2 A_1 X A_1^\top`.

    Attributes:
        rule: the update rule.
        name: optimizer name or ``None``.
        a, m2: the symbols :math:`E[h]` and :math:`E[h^2]`.
        basis: the second moments :math:`E[x_i x_j]` (``i <= j``) the map acts on.
        moment_map: the matrix :math:`M(a, m_2)` of that map.
        determinant: :math:`\det(I - M)` (factored): zero on the boundary.
        boundary: the relation ``Eq(m2, m2_critical(a))`` (mean-square stable iff
            :math:`a^2 \le m_2 <` the right-hand side, for :math:`0 < a < \lambda^*`).
        critical_ratio: :math:`m_2/a` on the boundary, as a function of :math:`a`.
        deterministic_limit: :math:`a^*` where the boundary meets :math:`m_2 = a^2`.
        noise_limit: :math:`\lim_{a\to 0} m_2/a` on the boundary (noise-dominated limit).
    """

    rule: UpdateRule
    name: str | None
    a: sp.Symbol
    m2: sp.Symbol
    basis: list[tuple[sp.Symbol, sp.Symbol]]
    moment_map: sp.Matrix
    determinant: sp.Expr
    boundary: sp.Basic
    critical_ratio: sp.Expr
    deterministic_limit: sp.Expr
    noise_limit: sp.Expr

    def ratio_str(self) -> str:
        """:attr:`critical_ratio` as a readable sum (the noise-dominated term first)."""
        terms = sorted(sp.Add.make_args(self.critical_ratio), key=lambda t: (t.has(self.a), sp.default_sort_key(t)))
        s = ""
        for i, t in enumerate(terms):
            ts = _show(t)
            if i and ts.startswith("-"):
                s += " - " + ts[1:]
            else:
                s += (" + " if i else "") + ts
        return s

    def critical_m2(self) -> sp.Expr:
        """The critical second moment as a function of ``a``."""
        return self.boundary.rhs  # type: ignore[attr-defined]

    def spectral_radius(self, a: float, m2: float, **values: float) -> float:
        """Spectral radius of the moment map at numeric ``a``, ``m2`` and hyperparameters."""
        sub: dict[sp.Symbol, sp.Expr] = {
            self.a: sp.nsimplify(a, rational=True),
            self.m2: sp.nsimplify(m2, rational=True),
        }
        by = {h.name: h for h in self.moment_map.free_symbols - {self.a, self.m2}}
        for k, v in values.items():
            if k not in by:
                raise EosInputError(f"no hyperparameter {k!r}; the moment map depends on {sorted(by)}")
            sub[by[k]] = sp.nsimplify(v, rational=True)
        M = self.moment_map.subs(sub)
        lam = sp.Symbol("_x")
        return float(_rho(M.charpoly(lam).as_expr(), lam))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (sympy strings)."""
        return {
            "model": "x_{t+1} = A(h_t) x_t, h_t i.i.d., E[h] = a, E[h^2] = m2",
            "second_moments": [f"E[{i}*{j}]" for i, j in self.basis],
            "moment_map": [[str(x) for x in self.moment_map.row(i)] for i in range(self.moment_map.rows)],
            "boundary": f"{self.m2} = {_show(self.critical_m2())}",
            "critical_ratio": self.ratio_str(),
            "deterministic_limit": _show(self.deterministic_limit) if self.deterministic_limit is not sp.oo else "oo",
            "noise_dominated_limit": _show(self.noise_limit),
        }

    def __str__(self) -> str:
        return "\n".join(
            [
                f"{self.name or 'update rule'}: mean-square stability with i.i.d. curvature (E h = a, E h^2 = m2)",
                f"  boundary              m2 / a = {self.ratio_str()}",
                f"  deterministic limit   a* = {_show(self.deterministic_limit)}   (m2 = a^2)",
                f"  noise-dominated limit m2/a -> {_show(self.noise_limit)}   (eta*a -> 0)",
            ]
        )


def mean_square(optimizer_or_rule: Any, *, values: Mapping[str, Any] | None = None) -> MeanSquareResult:
    r"""Mean-square stability of any linear rule under i.i.d. random curvature.

    The curvature :math:`h_t` is drawn afresh each step (mean :math:`a`, second moment
    :math:`m_2 \ge a^2`), independent of the state.  Because :math:`A(h)` is affine in
    :math:`h` with a rank-one slope, :math:`\det(I - M)` is affine in :math:`m_2`, so the
    boundary is an explicit :math:`m_2 = m_2^*(a)`.  The moment map preserves the cone of
    positive semidefinite matrices, so its spectral radius is an eigenvalue and the
    boundary is where it crosses :math:`+1`.

    Args:
        optimizer_or_rule: see :func:`as_rule`.
        values: hyperparameters to fix first.

    Returns:
        A :class:`MeanSquareResult`.

    Raises:
        EosInputError: as :func:`linear_map`; or a boundary that is not affine in :math:`m_2`.

    Examples:
        >>> ms = mean_square("heavy-ball")
        >>> as_text(ms.noise_limit), as_text(ms.deterministic_limit)
        ('2*(1 - beta)/eta', '2*(1 + beta)/eta')
    """
    rule, name = as_rule(optimizer_or_rule)
    A, xs = linear_map(rule)
    fixed = _values(rule, values)
    if fixed:
        A = A.subs(fixed)
    taken = set(A.free_symbols) | set(rule.hyperparameters)
    a = _fresh("a", taken)
    m2 = _fresh("m2", taken)
    A0 = A.subs(LAMBDA, 0)
    A1 = A.diff(LAMBDA)
    n = A.rows
    basis_idx = [(i, j) for i in range(n) for j in range(i, n)]
    xsym = {(i, j): sp.Symbol(f"_X{i}{j}") for i, j in basis_idx}
    X = sp.Matrix(n, n, lambda i, j: xsym[(min(i, j), max(i, j))])
    Y = A0 * X * A0.T + a * (A0 * X * A1.T + A1 * X * A0.T) + m2 * (A1 * X * A1.T)
    M = sp.Matrix([[sp.expand(sp.diff(sp.expand(Y[i, j]), xsym[kl])) for kl in basis_idx] for (i, j) in basis_idx])
    det = sp.factor((sp.eye(M.rows) - M).det())
    poly_m2 = sp.Poly(sp.numer(sp.together(det)), m2)
    if poly_m2.degree() != 1:
        raise EosInputError(f"the mean-square boundary of {_text(rule)!r} is not affine in m2: {det} = 0")
    c1, c0 = poly_m2.all_coeffs()
    crit = sp.factor(-c0 / c1)
    ratio = sp.apart(sp.cancel(crit / a), a)
    noise = sp.factor(sp.limit(sp.cancel(crit / a), a, 0))
    # deterministic limit: smallest positive root of m2*(a) = a^2 (a != 0), picked at a sample
    eq = sp.factor(sp.numer(sp.together(crit - a**2)))
    eq = sp.factor(sp.cancel(eq / a ** sp.Poly(eq, a).monoms()[-1][0])) if eq.has(a) else eq
    sols = [s for s in sp.solve(eq, a) if s != 0]
    hypers = sorted(M.free_symbols - {a, m2}, key=lambda s: s.name)
    at = _samples(hypers, None)[0]
    det_lim: sp.Expr = sp.oo
    best = None
    for s in sols:
        v = sp.N(s.subs(at), _DIGITS)
        if v.is_real and v > 0 and (best is None or v < best):
            best, det_lim = v, sp.factor(sp.simplify(s))
    return MeanSquareResult(
        rule=rule,
        name=name,
        a=a,
        m2=m2,
        basis=[(xs[i], xs[j]) for i, j in basis_idx],
        moment_map=M,
        determinant=det,
        boundary=sp.Eq(m2, crit),
        critical_ratio=ratio,
        deterministic_limit=det_lim,
        noise_limit=noise,
    )


# --------------------------------------------------------------------------------------
# flip bifurcation of GD on a 1-D potential
# --------------------------------------------------------------------------------------
@dataclass
class FlipResult:
    r"""The period-doubling (flip) bifurcation of GD at a minimum of a 1-D potential.

    With :math:`n = w - w_0`, the GD map :math:`f(w) = w - \eta L'(w)` at
    :math:`\eta_0 = 2/L''(w_0)` is :math:`f(n) = -n + a n^2 + b n^3 + \dots`,
    :math:`a = -\eta L'''/2`, :math:`b = -\eta L''''/6`, and
    :math:`f\circ f(n) = n - 2(a^2 + b)n^3 + \dots`.

    Attributes:
        potential: the potential.
        point: :math:`w_0` (a critical point, :math:`L'(w_0) = 0`).
        eta: the learning-rate symbol.
        eta0: :math:`2/L''(w_0)`.
        derivatives: :math:`(L'', L''', L'''')` at :math:`w_0`.
        criterion: :math:`3L'''^2 - L''L''''` (positive: supercritical).
        kind: ``"supercritical"``, ``"subcritical"``, ``"degenerate"`` (criterion 0) or
            ``"undetermined"`` (symbolic constants of unknown sign).
        amplitude_squared: :math:`(\eta L'' - 2)/(\eta^2 L'''^2/4 - \eta L''''/6)`, the
            squared half-width of the 2-cycle to leading order in :math:`\eta - \eta_0`.
        exact_cycle: for polynomial potentials, the factor of :math:`(f\circ f(w) - w)/(f(w) - w)`
            whose roots are the 2-cycle born at :math:`\eta_0` (``None`` otherwise).
        multiplier: :math:`f'(p)f'(q)` on that 2-cycle as a function of :math:`\eta`
            (when the factor is quadratic; else ``None``).
        stable_range: :math:`(\eta_0, \eta_1)` where that 2-cycle is stable (exact), or
            ``None``.
        exit: how the 2-cycle loses stability at :math:`\eta_1`: ``"+1"`` (a pitchfork of
            the 2-cycle; symmetry-breaking for an even potential) or ``"-1"`` (period
            doubling to a 4-cycle).
        center: the exact mean :math:`(p + q)/2` of the 2-cycle (quadratic factor only).
        exact_amplitude_squared: the exact :math:`((p - q)/2)^2` (quadratic factor only).
        notes: explanations.
    """

    potential: Any
    point: sp.Expr
    eta: sp.Symbol
    eta0: sp.Expr
    derivatives: tuple[sp.Expr, sp.Expr, sp.Expr]
    criterion: sp.Expr
    kind: str
    amplitude_squared: sp.Expr
    exact_cycle: sp.Expr | None
    multiplier: sp.Expr | None
    stable_range: tuple[sp.Expr, sp.Expr] | None
    exit: str | None
    center: sp.Expr | None = None
    exact_amplitude_squared: sp.Expr | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def amplitude(self) -> sp.Expr:
        """Half-width of the 2-cycle to leading order (exact for the quartic)."""
        return sp.sqrt(self.amplitude_squared)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "potential": str(self.potential),
            "point": str(self.point),
            "eta0": str(self.eta0),
            "derivatives": {
                "L2": str(self.derivatives[0]),
                "L3": str(self.derivatives[1]),
                "L4": str(self.derivatives[2]),
            },
            "criterion_3L3^2-L2L4": str(self.criterion),
            "kind": self.kind,
            "amplitude_squared": str(self.amplitude_squared),
            "exact_amplitude_squared": None
            if self.exact_amplitude_squared is None
            else str(self.exact_amplitude_squared),
            "center": None if self.center is None else str(self.center),
            "exact_cycle_factor": None if self.exact_cycle is None else str(self.exact_cycle),
            "multiplier": None if self.multiplier is None else str(self.multiplier),
            "stable_range": None if self.stable_range is None else [str(x) for x in self.stable_range],
            "exit": self.exit,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [
            f"flip bifurcation of GD on {self.potential} at w0 = {self.point}",
            f"  eta0 = 2/L''          {self.eta0}",
            f"  3L'''^2 - L''L''''    {self.criterion}   -> {self.kind}",
            f"  amplitude^2 (leading) {self.amplitude_squared}",
        ]
        if self.exact_amplitude_squared is not None:
            lines.append(f"  amplitude^2 (exact)   {self.exact_amplitude_squared}   (cycle centre {self.center})")
        if self.multiplier is not None:
            lines.append(f"  2-cycle multiplier    {self.multiplier}")
        if self.stable_range is not None:
            lines.append(
                f"  stable 2-cycle for   {self.stable_range[0]} < eta < {self.stable_range[1]} (exit {self.exit})"
            )
        lines += [f"  note                  {n}" for n in self.notes]
        return "\n".join(lines)


def _one_d(potential: Any, constants: Mapping[str, float] | None) -> tuple[Any, sp.Symbol, sp.Expr, dict]:
    from eostheory.symbolic.potential import as_potential

    pot = as_potential(potential, constants=constants)
    if pot.dim != 1:
        raise EosInputError(f"the flip bifurcation is one-dimensional; {pot} has {pot.dim} parameters")
    values = {s: (None if v is None else sp.nsimplify(v, rational=True)) for s, v in pot.constants.items()}
    return pot, pot.params[0], pot.expr, values


def flip_bifurcation(
    potential: Any,
    point: float | str | sp.Expr = 0,
    *,
    constants: Mapping[str, float] | None = None,
) -> FlipResult:
    r"""Classify the flip bifurcation of GD at a critical point of a 1-D potential.

    Supercritical (a stable 2-cycle is born for :math:`\eta` just above
    :math:`\eta_0 = 2/L''`) iff :math:`3L'''^2 > L''L''''`, subcritical (GD leaves the
    neighbourhood) iff :math:`<`.  The sign is decided with the potential's constant
    values; when a constant is symbolic, with all constants assumed positive.

    For a polynomial potential the 2-cycle is followed exactly: its points are the roots
    of a factor of :math:`(f\circ f(w) - w)/(f(w) - w)`, its multiplier
    :math:`f'(p)f'(q) = \mathrm{Res}_w(\text{factor}, f')/\mathrm{lc}^{\deg f'}` and the
    stable range ends where the multiplier reaches :math:`\pm 1`.

    Args:
        potential: a 1-D :class:`~eostheory.symbolic.Potential`, toy name or formula.
        point: the critical point :math:`w_0` (default 0).
        constants: constant values overriding the potential's.

    Returns:
        A :class:`FlipResult`.

    Raises:
        EosInputError: more than one parameter, :math:`L'(w_0) \ne 0`, :math:`L''(w_0) \le 0`, or
            :math:`L'''(w_0) = L''''(w_0) = 0` (no 2-cycle is selected: its amplitude is undefined).

    Examples:
        >>> r = flip_bifurcation("quartic")
        >>> r.kind, r.amplitude_squared, r.stable_range, r.exit
        ('supercritical', (S*eta - 2)/(Q*eta), (2/S, 3/S), '+1')
    """
    pot, w, L, cvals = _one_d(potential, constants)
    w0 = _as_sympy(point, "the critical point w0")
    eta = _fresh("eta", L.free_symbols)
    d = [sp.diff(L, w, k) for k in range(1, 5)]
    at = [sp.simplify(x.subs(w, w0)) for x in d]
    known = {s: v for s, v in cvals.items() if v is not None}
    if sp.simplify(at[0].subs(known)) != 0:
        raise EosInputError(f"w0 = {w0} is not a critical point of {pot}: L'(w0) = {at[0]}")
    L2, L3, L4 = at[1], at[2], at[3]
    L2v = sp.simplify(L2.subs(known))
    pos = {s: sp.Symbol(s.name, positive=True) for s in cvals}
    if L2v.is_number and L2v <= 0:
        raise EosInputError(f"L''(w0) = {L2v} <= 0: w0 is not a minimum, GD has no flip there")
    eta0 = sp.simplify(2 / L2)
    crit = sp.factor(sp.expand(3 * L3**2 - L2 * L4))
    notes: list[str] = []
    cv = crit.subs(known)
    if cv.free_symbols:
        cv = sp.simplify(cv.subs(pos))
        notes.append("the sign of the criterion assumes every symbolic constant is positive")
    if cv.is_positive:
        kind = "supercritical"
    elif cv.is_negative:
        kind = "subcritical"
    elif cv.is_zero:
        kind = "degenerate"
        notes.append("3L'''^2 = L''L'''': the cubic term vanishes, higher orders decide")
    else:
        kind = "undetermined"
    denom = sp.simplify(eta**2 * L3**2 / 4 - eta * L4 / 6)
    if denom == 0:
        raise EosInputError(
            f"the 2-cycle amplitude of GD on {pot} at w0 = {w0} is undefined (infinite): L'''(w0) = L''''(w0) = 0, "
            "so no cubic or quartic term selects a 2-cycle (on a quadratic GD is linear and every point is a "
            "2-cycle at eta0); add a higher-order term, e.g. 'w**2/2 - w**4/4'"
        )
    amp2 = sp.factor(sp.simplify((eta * L2 - 2) / denom))
    exact, mult, rng, exit_ = None, None, None, None
    center, half2 = None, None
    f = w - eta * d[0]
    if L.is_polynomial(w):
        ff = sp.expand(f.subs(w, f))
        quo, rem = sp.div(sp.expand(ff - w), sp.expand(f - w), w)
        if rem == 0 and quo != 0:
            facs = [fa for fa, _ in sp.factor_list(quo, w)[1] if fa.has(w)]
            # the branch born at (w0, eta0)
            born = [fa for fa in facs if sp.simplify(fa.subs({w: w0, eta: eta0})) == 0]
            if born:
                exact = born[0]
                if sp.degree(exact, w) == 2:
                    fp = sp.diff(f, w)
                    lc = sp.Poly(exact, w).LC()
                    mult = sp.factor(sp.resultant(exact, fp, w) / lc ** sp.degree(fp, w))
                    c2, c1, c0 = sp.Poly(exact, w).all_coeffs()
                    center = sp.factor(-c1 / (2 * c2))
                    half2 = sp.factor((c1**2 - 4 * c2 * c0) / (4 * c2**2))
                    rng, exit_ = _cycle_range(mult, eta, eta0, known, pos, kind)
                    if exit_ == "+1":
                        notes.append(
                            "at the end of the range the 2-cycle's multiplier reaches +1: a pitchfork of the "
                            "2-cycle (symmetry-breaking when L is even: two asymmetric 2-cycles with a non-zero "
                            "mean take over, and they later period-double)"
                        )
                    elif exit_ == "-1":
                        notes.append("at the end of the range the 2-cycle period-doubles (multiplier -1): a 4-cycle")
    if kind == "subcritical":
        notes.append("subcritical: the 2-cycle born at eta0 exists below eta0 and is unstable; GD blows up above it")
    return FlipResult(pot, w0, eta, eta0, (L2, L3, L4), crit, kind, amp2, exact, mult, rng, exit_, center, half2, notes)


def _cycle_range(
    mult: sp.Expr, eta: sp.Symbol, eta0: sp.Expr, known: Mapping, pos: Mapping, kind: str
) -> tuple[tuple[sp.Expr, sp.Expr] | None, str | None]:
    """Stable range (eta0, eta1) of the 2-cycle with multiplier ``mult(eta)``."""
    if kind != "supercritical":
        return None, None

    def num(e: sp.Expr) -> sp.Expr:
        e = e.subs(known)
        return sp.N(e.subs(pos).subs({v: 1 for v in pos.values()}) if e.free_symbols - {eta} else e, _DIGITS)

    e0 = num(eta0)
    best: tuple[sp.Float, sp.Expr, str] | None = None
    for target, label in ((1, "+1"), (-1, "-1")):
        for s in sp.solve(sp.numer(sp.together(mult - target)), eta):
            v = num(s)
            re, im = v.as_real_imag()
            if abs(im) < sp.Float("1e-12") and re > e0 * (1 + sp.Float("1e-12")) and (best is None or re < best[0]):
                best = (re, sp.simplify(s), label)
    if best is None:
        return (eta0, sp.oo), None
    return (eta0, best[1]), best[2]


@dataclass(frozen=True)
class TwoCycle:
    """A 2-cycle ``p -> q -> p`` of GD with its multiplier ``f'(p) f'(q)``."""

    p: float
    q: float
    multiplier: float

    @property
    def stable(self) -> bool:
        """``|multiplier| < 1``."""
        return abs(self.multiplier) < 1

    @property
    def mean(self) -> float:
        """The time-average of the cycle, ``(p + q)/2``."""
        return (self.p + self.q) / 2


def two_cycles(potential: Any, eta: float, *, constants: Mapping[str, float] | None = None) -> list[TwoCycle]:
    r"""All real 2-cycles of GD on a 1-D polynomial potential at a numeric :math:`\eta`.

    The roots of :math:`(f\circ f(w) - w)/(f(w) - w)` are the points of 2-cycles; each
    real one is paired with its image.  Used to follow what happens past the end of the
    symmetric cycle's stable range (the quartic's asymmetric 2-cycles).

    Raises:
        EosInputError: a potential that is not a polynomial in its parameter, or a
            symbolic constant.

    Examples:
        >>> [(round(c.p, 6), round(c.q, 6), round(c.multiplier, 6)) for c in two_cycles("quartic", 2.5)]
        [(-0.447214, 0.447214, 0.0)]
    """
    _, w, L, cvals = _one_d(potential, constants)
    missing = [str(s) for s, v in cvals.items() if v is None]
    if missing:
        raise EosInputError(f"give values for the constants {missing}")
    L = L.subs(cvals)
    if not L.is_polynomial(w):
        raise EosInputError(f"two_cycles needs a polynomial potential, got {L}")
    e = sp.nsimplify(eta, rational=True)
    f = sp.expand(w - e * sp.diff(L, w))
    fp = sp.diff(f, w)
    quo, _ = sp.div(sp.expand(f.subs(w, f) - w), sp.expand(f - w), w)
    out: list[TwoCycle] = []
    seen: list[float] = []
    for r in _real_roots(quo, w) if quo.has(w) else []:
        pv = float(r)
        if any(abs(pv - s) < 1e-9 * (1 + abs(pv)) for s in seen):
            continue
        qv = float(f.subs(w, r))
        seen += [pv, qv]
        out.append(TwoCycle(min(pv, qv), max(pv, qv), float(fp.subs(w, r) * fp.subs(w, sp.Float(qv, _DIGITS)))))
    return sorted(out, key=lambda c: (c.mean, c.p))
