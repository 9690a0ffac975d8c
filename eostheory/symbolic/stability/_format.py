r"""Formatting of derived thresholds: text that parses back (``lam`` for :math:`\lambda`), LaTeX, display forms."""

from __future__ import annotations

import sympy as sp

from eostheory.symbolic._parse import as_sympy as _as_sympy
from eostheory.symbolic.stability._linear import LAMBDA

_TEX_NAMES = {LAMBDA: r"\lambda"}


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
