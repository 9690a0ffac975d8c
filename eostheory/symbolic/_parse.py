"""Safe parsing of user-written formulas into sympy expressions.

sympy's ``sympify`` maps single letters such as ``S``, ``Q``, ``E``, ``I``, ``N`` and
names such as ``beta``, ``gamma``, ``lambda`` to built-in objects, which is never what a
researcher writing ``(S/2)*w**2 - (Q/4)*w**4`` means.  Here every name is a plain
symbol unless it is one of the elementary functions listed in :data:`FUNCTIONS`.
"""

from __future__ import annotations

import io
import keyword
import tokenize
from collections.abc import Mapping

import sympy as sp
from sympy.parsing.sympy_parser import (
    convert_xor,
    parse_expr,
    rationalize,
    standard_transformations,
)

from eostheory._errors import EosInputError

__all__ = ["FUNCTIONS", "parse_formula"]

#: Names that denote functions or constants in a formula; every other name is a symbol.
FUNCTIONS: dict[str, object] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "asin": sp.asin,
    "acos": sp.acos,
    "atan": sp.atan,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "Abs": sp.Abs,
    "sign": sp.sign,
    "erf": sp.erf,
    "pi": sp.pi,
    "Max": sp.Max,
    "Min": sp.Min,
}


def _names(text: str) -> set[str]:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise EosInputError(f"cannot parse {text!r}: {exc}") from None
    return {t.string for t in tokens if t.type == tokenize.NAME}


def parse_formula(
    text: str,
    *,
    extra: Mapping[str, object] | None = None,
    symbols: Mapping[str, sp.Symbol] | None = None,
) -> sp.Expr:
    """Parse ``text`` into a sympy expression, every unknown name a plain ``Symbol``.

    Args:
        text: the formula, Python syntax; ``^`` is accepted for powers and decimal
            literals become exact rationals (``0.5`` is ``1/2``).
        extra: additional names mapped to sympy objects (e.g. special functions).
        symbols: symbols to reuse for given names (so that parsed and user-built
            expressions share the same ``Symbol`` objects).

    Returns:
        The sympy expression.

    Raises:
        EosInputError: the text is empty, not a formula, or calls an unknown function.

    Examples:
        >>> parse_formula("(S/2)*w^2 - (Q/4)*w**4")
        -Q*w**4/4 + S*w**2/2
    """
    if not isinstance(text, str) or not text.strip():
        raise EosInputError("empty formula")
    local: dict[str, object] = dict(FUNCTIONS)
    if extra:
        local.update(extra)
    symbols = dict(symbols or {})
    for name in _names(text):
        if keyword.iskeyword(name):
            raise EosInputError(f"cannot parse {text!r}: {name!r} is a Python keyword")
        if name not in local:
            local[name] = symbols.get(name, sp.Symbol(name))
    try:
        expr = parse_expr(
            text,
            local_dict=local,
            global_dict={"Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational, "Symbol": sp.Symbol},
            transformations=(*standard_transformations, convert_xor, rationalize),
            evaluate=True,
        )
    except TypeError as exc:
        called = [n for n in _names(text) if isinstance(local.get(n), sp.Symbol) and f"{n}(" in text.replace(" ", "")]
        if called:
            raise EosInputError(
                f"unknown function {called[0]!r} in {text!r}; known: {', '.join(sorted(FUNCTIONS))}"
            ) from None
        raise EosInputError(f"cannot parse {text!r}: {exc}") from None
    except (SyntaxError, TokenError_, ValueError, AttributeError, NameError) as exc:
        raise EosInputError(f"cannot parse {text!r}: {exc.__class__.__name__}") from None
    if not isinstance(expr, sp.Expr):
        raise EosInputError(f"{text!r} is not an algebraic expression")
    return expr


TokenError_ = tokenize.TokenError
