"""Parsing user-written formulas into sympy expressions, without ever evaluating text.

A formula typed by a user (a potential, an update rule, an activation, a value of a
hyperparameter, a sweep grid, a config file) is *data*.  It is read by Python's own
tokenizer and ``ast`` parser and then walked by an allow-list: numbers, names,
``+ - * / **`` (``^`` accepted for powers), unary ``±``, parentheses and calls of the
functions in an explicit table.  Everything else — attributes, subscripts, strings,
lambdas, comprehensions, comparisons, keyword arguments, ``%`` and ``//`` — is refused
with a one-line :class:`~eostheory.EosInputError`.  The sympy expression is built from
the tree by calling sympy constructors directly, so no user text ever reaches Python's
``eval``/``exec`` (sympy's ``parse_expr`` and ``sympify`` on strings both call ``eval``).

Size limits are checked *before* anything is built or expanded: the length of the
text, the nesting depth, the number of nodes, the size of numeric exponents and the
number of digits a numeric power would produce (``9**9**9**9`` is refused at once
instead of running forever).

Every name is a plain ``Symbol`` unless it is one of the functions or constants listed
in :data:`FUNCTIONS` (sympy's own ``sympify`` would turn ``S``, ``Q``, ``E``, ``I``,
``N``, ``beta``, ``gamma`` into built-in objects, which is never what a researcher
writing ``(S/2)*w**2 - (Q/4)*w**4`` means).  Decimal literals become exact rationals
(``0.5`` is ``1/2``).
"""

from __future__ import annotations

import ast
import contextlib
import io
import keyword
import math
import numbers
import sys
import tokenize
import warnings
from collections.abc import Iterator, Mapping
from fractions import Fraction
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError

__all__ = ["FUNCTIONS", "LIMITS", "as_sympy", "parse_formula"]

#: Names that denote functions or constants in a formula; every other name is a symbol.
FUNCTIONS: dict[str, Any] = {
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

#: Number of arguments each built-in function takes (``None``: one or more).
_ARITY: dict[str, int | None] = {name: 1 for name in FUNCTIONS if name not in ("pi", "Max", "Min")}
_ARITY.update({"Max": None, "Min": None})

#: Limits checked before an expression is built.  ``max_exponent`` bounds a numeric
#: exponent (``w**1e9`` is refused); ``max_digits`` bounds the size of a number
#: produced by a numeric power.
LIMITS: dict[str, int] = {
    "max_length": 20_000,
    "max_depth": 100,
    "max_nodes": 20_000,
    "max_exponent": 1_000,
    "max_digits": 10_000,
}

_BINOPS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_OPS: dict[type, str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
}
_REFUSED_NODES: dict[type, str] = {
    ast.Attribute: "attribute access ('.')",
    ast.Subscript: "indexing ('[...]')",
    ast.Lambda: "lambda",
    ast.Compare: "a comparison",
    ast.BoolOp: "'and'/'or'",
    ast.IfExp: "'if ... else'",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Starred: "'*' unpacking",
    ast.JoinedStr: "a string",
    ast.NamedExpr: "':='",
    ast.Await: "'await'",
    ast.Yield: "'yield'",
    ast.YieldFrom: "'yield'",
    ast.Slice: "a slice",
}


def _fail(text: str, why: str) -> EosInputError:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return EosInputError(f"cannot parse formula {shown!r}: {why}")


def _normalize(text: str) -> str:
    """Replace the token ``^`` by ``**`` (powers written the mathematician's way)."""
    if "^" not in text:
        return text
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise _fail(text, str(exc.args[0] if exc.args else exc)) from None
    out = [(t.type, "**") if (t.type == tokenize.OP and t.string == "^") else (t.type, t.string) for t in toks]
    return tokenize.untokenize(out)


def _chain_group(node: ast.AST) -> tuple[type, ...] | None:
    if isinstance(node, ast.BinOp):
        for group in ((ast.Add, ast.Sub), (ast.Mult, ast.Div)):
            if isinstance(node.op, group):
                return group
    return None


def _check_shape(text: str, tree: ast.AST) -> None:
    """Depth and node count of the tree, computed without recursion.

    The depth counted is the builder's recursion depth: a left-associated chain
    ``a + b - c + …`` (or ``a * b / c …``) and a run of unary signs are built in a
    loop, so they do not nest.
    """
    nodes = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += isinstance(node, ast.expr)
        if nodes > LIMITS["max_nodes"]:
            raise _fail(text, f"more than {LIMITS['max_nodes']} terms")
        group = _chain_group(node)
        for child in ast.iter_child_nodes(node):
            flat = (group is not None and child is node.left and _chain_group(child) == group) or (  # type: ignore[attr-defined]
                isinstance(node, ast.UnaryOp) and isinstance(child, ast.UnaryOp)
            )
            d = depth if flat else depth + 1
            if d > LIMITS["max_depth"]:
                raise _fail(text, f"nested more than {LIMITS['max_depth']} levels deep")
            stack.append((child, d))


def _number(value: object, text: str) -> sp.Expr:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a string" if isinstance(value, str | bytes) else f"the literal {value!r}"
        raise _fail(text, f"{kind} is not allowed in a formula")
    if isinstance(value, int):
        return sp.Integer(value)
    if not math.isfinite(value):
        raise _fail(text, f"the number {value!r} is not finite")
    return sp.Rational(repr(value))


def _digits(x: sp.Expr) -> float:
    """Approximate number of decimal digits of a rational number (numerator + denominator)."""
    p, q = sp.fraction(x)
    return sum(math.log10(abs(int(v))) + 1 for v in (p, q) if int(v) != 0)


def _power(base: sp.Expr, exp: sp.Expr, text: str) -> sp.Expr:
    if exp.is_Number:
        if abs(exp) > LIMITS["max_exponent"]:
            raise _fail(text, f"exponent {exp} is larger than {LIMITS['max_exponent']} in absolute value")
        if base.is_Rational and base != 0:
            size = _digits(base) * float(abs(exp))
            if size > LIMITS["max_digits"]:
                raise _fail(text, f"the number {base}**{exp} has more than {LIMITS['max_digits']} digits")
    if base == 0 and exp.is_extended_negative:
        raise _fail(text, "division by zero")
    return _finite(sp.Pow(base, exp), text)


_INFINITE = (sp.zoo, sp.oo, -sp.oo, sp.nan)


def _finite(value: sp.Expr, text: str) -> sp.Expr:
    """Refuse a sub-expression that is infinite or undefined (``log(0)``, ``0**-1``)."""
    if any(value is v or value == v for v in _INFINITE):
        raise _fail(text, f"a part of it evaluates to {value}, which is not finite")
    return value


class _Builder:
    """Builds a sympy expression from an allow-listed ``ast`` tree."""

    def __init__(self, text: str, names: Mapping[str, Any], symbols: Mapping[str, sp.Symbol]) -> None:
        self.text = text
        self.names = names
        self.symbols = dict(symbols)

    def build(self, node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.UnaryOp):
            sign = 1
            while isinstance(node, ast.UnaryOp):
                if isinstance(node.op, ast.USub):
                    sign = -sign
                elif not isinstance(node.op, ast.UAdd):
                    op = "not" if isinstance(node.op, ast.Not) else "~"
                    raise _fail(self.text, f"the operator {op!r} is not allowed")
                node = node.operand
            inner = self.build(node)
            return -inner if sign < 0 else inner
        if isinstance(node, ast.Constant):
            return _number(node.value, self.text)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Call):
            return self._call(node)
        what = _REFUSED_NODES.get(type(node), type(node).__name__)
        raise _fail(self.text, f"{what} is not allowed in a formula")

    def _binop(self, node: ast.BinOp) -> sp.Expr:
        op = type(node.op)
        if op in _REFUSED_OPS:
            raise _fail(self.text, f"the operator {_REFUSED_OPS[op]!r} is not allowed")
        if op is ast.Pow:
            return _power(self.build(node.left), self.build(node.right), self.text)
        if op not in _BINOPS:
            raise _fail(self.text, f"the operator {type(node.op).__name__} is not allowed")
        # flatten a left-associated chain a + b - c + ... (or a * b / c ...) iteratively
        additive = op in (ast.Add, ast.Sub)
        group = (ast.Add, ast.Sub) if additive else (ast.Mult, ast.Div)
        parts: list[tuple[type, ast.AST]] = []
        cur: ast.AST = node
        while isinstance(cur, ast.BinOp) and type(cur.op) in group:
            parts.append((type(cur.op), cur.right))
            cur = cur.left
        terms = [self.build(cur)]
        for kind, right in reversed(parts):
            value = self.build(right)
            if kind is ast.Sub:
                value = -value
            elif kind is ast.Div:
                if value == 0:
                    raise _fail(self.text, "division by zero")
                value = sp.Pow(value, -1)
            terms.append(value)
        return sp.Add(*terms) if additive else sp.Mul(*terms)

    def _name(self, name: str) -> sp.Expr:
        if name.startswith("_"):
            raise _fail(self.text, f"names starting with '_' are reserved ({name!r})")
        if name in self.names:
            obj = self.names[name]
            if isinstance(obj, sp.Basic) and not isinstance(obj, type):
                return obj  # a constant such as pi, or a user symbol
            raise _fail(self.text, f"{name!r} is a function: call it, e.g. {name}(x)")
        sym = self.symbols.get(name)
        if sym is None:
            sym = self.symbols[name] = sp.Symbol(name)
        return sym

    def _call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            what = _REFUSED_NODES.get(type(node.func), "a call of anything but a function name")
            raise _fail(self.text, f"{what} is not allowed in a formula")
        name = node.func.id
        func = self.names.get(name)
        if func is None or (isinstance(func, sp.Basic) and not isinstance(func, type)):
            known = ", ".join(
                sorted(k for k, v in self.names.items() if not isinstance(v, sp.Basic) or isinstance(v, type))
            )
            raise _fail(self.text, f"unknown function {name!r}; known: {known}")
        if node.keywords:
            raise _fail(self.text, f"{name}() takes no keyword arguments")
        arity = _ARITY.get(name, 1)
        n = len(node.args)
        if (arity is None and n < 1) or (arity is not None and n != arity):
            want = "at least one argument" if arity is None else f"{arity} argument{'s' * (arity != 1)}"
            raise _fail(self.text, f"{name}() takes {want}, got {n}")
        args = [self.build(a) for a in node.args]
        try:
            return _finite(func(*args), self.text)
        except EosInputError:
            raise
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise _fail(self.text, f"{name}() of {', '.join(map(str, args))}: {exc}") from None


def parse_formula(
    text: str,
    *,
    extra: Mapping[str, object] | None = None,
    symbols: Mapping[str, sp.Symbol] | None = None,
) -> sp.Expr:
    """Parse ``text`` into a sympy expression, every unknown name a plain ``Symbol``.

    The text is parsed by Python's ``ast`` and built by an allow-list walker; it is
    never evaluated.  Allowed: integer and decimal literals, names, ``+ - * / **``
    (and ``^`` for powers), unary signs, parentheses and calls of the functions in
    :data:`FUNCTIONS` (plus ``extra``).  Limits (:data:`LIMITS`) on length, nesting
    depth, node count, numeric exponents and the digits of numeric powers are checked
    before the expression is built.

    Args:
        text: the formula, Python syntax; ``^`` is accepted for powers and decimal
            literals become exact rationals (``0.5`` is ``1/2``).
        extra: additional names mapped to sympy functions (e.g. special functions) or
            constants.
        symbols: symbols to reuse for given names (so that parsed and user-built
            expressions share the same ``Symbol`` objects).

    Returns:
        The sympy expression.

    Raises:
        EosInputError: the text is empty, too long or too deep, not a formula, uses a
            construct outside the allow-list, calls an unknown function, or evaluates
            to something that is not finite (``1/0``).

    Examples:
        >>> parse_formula("(S/2)*w^2 - (Q/4)*w**4")
        -Q*w**4/4 + S*w**2/2
        >>> try:
        ...     parse_formula("().__class__")
        ... except EosInputError as exc:
        ...     print(exc)
        cannot parse formula '().__class__': attribute access ('.') is not allowed in a formula
    """
    if not isinstance(text, str):
        raise EosInputError(f"a formula must be a string, got {type(text).__name__}")
    if not text.strip():
        raise EosInputError("empty formula")
    if len(text) > LIMITS["max_length"]:
        raise EosInputError(f"formula is {len(text)} characters long; the limit is {LIMITS['max_length']}")
    if "\x00" in text:
        raise _fail(text, "it contains a NUL character")
    source = _normalize(text.strip())
    try:
        with _recursion_limit(4 * LIMITS["max_length"]), warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)  # e.g. "invalid decimal literal"
            warnings.simplefilter("ignore", DeprecationWarning)  # e.g. "invalid escape sequence"
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        word = next((w for w in _words(source) if keyword.iskeyword(w)), None)
        why = f"{word!r} is a Python keyword" if word else (exc.msg or "invalid syntax")
        raise _fail(text, why) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise _fail(text, f"nested more than {LIMITS['max_depth']} levels deep") from None
    _check_shape(text, tree)
    names: dict[str, Any] = dict(FUNCTIONS)
    if extra:
        names.update(extra)
    try:
        expr = _Builder(text, names, symbols or {}).build(tree.body)
    except RecursionError:
        raise _fail(text, f"nested more than {LIMITS['max_depth']} levels deep") from None
    if not isinstance(expr, sp.Expr):
        raise _fail(text, "it is not an algebraic expression")
    if expr.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise _fail(text, f"it evaluates to {expr}, which is not finite")
    return expr


@contextlib.contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    """Python's parser recurses once per operator of a chain ``a + b + …``; allow it."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _words(source: str) -> list[str]:
    try:
        return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []


def as_sympy(value: object, what: str = "value") -> sp.Expr:
    """A sympy expression from a number, a sympy object or a formula string — never by ``eval``.

    Strings go through :func:`parse_formula`; Python and numpy numbers become exact
    sympy numbers (floats through their shortest decimal representation); sympy
    expressions are returned unchanged.  Anything else is refused (``sympify`` would
    fall back to parsing ``str(value)``).

    Raises:
        EosInputError: an unsupported type, a non-finite number or a bad formula.

    Examples:
        >>> as_sympy(0.25), as_sympy("2*beta"), as_sympy(3)
        (1/4, 2*beta, 3)
    """
    if isinstance(value, sp.Basic):
        if not isinstance(value, sp.Expr):
            raise EosInputError(f"{what} must be an expression, got {value!r}")
        return value
    if isinstance(value, str):
        return parse_formula(value)
    if isinstance(value, bool):
        raise EosInputError(f"{what} must be a number or a formula, got {value!r}")
    if isinstance(value, numbers.Integral):
        return sp.Integer(int(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, numbers.Real):
        v = float(value)
        if not math.isfinite(v):
            raise EosInputError(f"{what} must be finite, got {value!r}")
        return sp.Rational(repr(v))
    raise EosInputError(f"{what} must be a number, a sympy expression or a formula, got {type(value).__name__}")
