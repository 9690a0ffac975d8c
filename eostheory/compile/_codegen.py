"""sympy → Python source: common-subexpression elimination and a strict printer.

The generated functions use only scalar arithmetic, :mod:`math` and small numpy arrays,
so the same source runs under numba (``@njit(cache=True)``) and as plain Python (the
pure-numpy fallback).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from eostheory._errors import CompilationError

__all__ = [
    "GENERATOR_VERSION",
    "backend",
    "emit_function",
    "expr_text",
    "module_header",
    "numba_reason",
    "real_form",
    "rename",
]

#: Bump whenever generated code changes meaning; it is part of every module's hash.
#: 2: sealed numba cache (``eostheory.compile._jit.njit``), ``TITLE``, negative integer
#: powers as divisions, ``sign``/``Heaviside``/``DiracDelta``/``re``/``im`` printed.
GENERATOR_VERSION = "2"


def backend() -> str:
    """``"numba"`` unless ``EOSTHEORY_DISABLE_NUMBA`` is set to a true value, then ``"python"``."""
    import os

    flag = os.environ.get("EOSTHEORY_DISABLE_NUMBA", "").strip().lower()
    return "python" if flag in {"1", "true", "yes", "on"} else "numba"


def module_header(title: str, backend_name: str, body_comment: Sequence[str] = ()) -> str:
    """Imports and the ``jit`` decorator of a generated module for the given backend."""
    one_line = " ".join(title.split())
    lines = [
        f"# eostheory generated module: {one_line}",
        f"# generator version {GENERATOR_VERSION}, backend {backend_name}. Do not edit.",
        *(f"# {' '.join(str(c).split())}" for c in body_comment),
        "import math",
        "import numpy as np",
        f"TITLE = {one_line!r}",
    ]
    if backend_name == "numba":
        # numba's njit with a sealed, self-repairing disk cache (see eostheory.compile._jit)
        lines += ["from eostheory.compile._jit import njit", "jit = njit(cache=True, error_model='numpy')"]
    else:
        lines += ["def jit(f):", "    return f"]
    return "\n".join(lines) + "\n"


def rename(symbols: Sequence[sp.Symbol], prefix: str) -> dict[sp.Symbol, sp.Symbol]:
    """Map user symbols to safe code names ``{prefix}{i}``."""
    return {s: sp.Symbol(f"{prefix}{i}") for i, s in enumerate(symbols)}


#: functions whose presence asks for :func:`real_form` before printing
_COMPLEX_PARTS = (sp.re, sp.im, sp.arg, sp.conjugate, sp.Derivative)


def real_form(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with every symbol taken as real, unevaluated derivatives evaluated.

    Every code variable is a real float, but sympy differentiates ``Abs(w)`` of a symbol
    without assumptions into ``re(w) Derivative(re(w), w) + ...``; with real symbols the
    same derivative is ``sign(w)``, and ``Derivative(sign(w), w)`` is ``2 DiracDelta(w)``.

    Args:
        expr: an expression in code variables.

    Returns:
        The same function of real arguments, without ``re``, ``im`` or ``Derivative``
        where sympy can evaluate them (unchanged when none occurs).
    """
    if not isinstance(expr, sp.Basic) or not expr.has(*_COMPLEX_PARTS):
        return expr
    reps = {s: sp.Dummy(s.name, real=True) for s in expr.free_symbols if isinstance(s, sp.Symbol) and not s.is_real}
    out = expr.xreplace(reps).doit()
    return out.xreplace({v: k for k, v in reps.items()})


class _Printer(PythonCodePrinter):
    def _print_Rational(self, expr: sp.Rational) -> str:  # force float division
        return f"({float(expr.p)!r}/{float(expr.q)!r})"

    def _print_Integer(self, expr: sp.Integer) -> str:
        v = int(expr)
        if abs(v) < 2**63:
            return f"{v}"
        try:  # beyond int64 numba cannot type the literal; the arithmetic is float64 anyway
            return repr(float(v))
        except OverflowError:
            raise CompilationError(f"cannot compile {expr_text(expr)}: the integer does not fit a float64") from None

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        # x**(-k) raises ZeroDivisionError at x = 0 under numba whatever the error model;
        # 1.0/x**k gives the pole's inf (error_model='numpy'), like the other divisions
        b, e = expr.as_base_exp()
        if e.is_Integer and e.is_negative:
            return f"(1.0/({self._print(sp.Pow(b, -e))}))"
        return super()._print_Pow(expr, rational=rational)

    def _print_re(self, expr: sp.Expr) -> str:  # code variables are real
        return self._print(expr.args[0])

    def _print_im(self, expr: sp.Expr) -> str:
        return f"(0.0*abs({self._print(expr.args[0])}))"

    def _print_sign(self, expr: sp.Expr) -> str:
        a = self._print(expr.args[0])
        return f"(1.0 if ({a}) > 0 else (-1.0 if ({a}) < 0 else 0.0*abs({a})))"

    def _print_Heaviside(self, expr: sp.Expr) -> str:
        a = self._print(expr.args[0])
        h0 = self._print(expr.args[1]) if len(expr.args) > 1 else "0.5"
        return f"(1.0 if ({a}) > 0 else (0.0 if ({a}) < 0 else ({h0}) + 0.0*abs({a})))"

    def _print_DiracDelta(self, expr: sp.Expr) -> str:
        # the kernels are the derivatives away from the kink, where every delta term is 0
        return f"(0.0*abs({self._print(expr.args[0])}))"

    def _print_Derivative(self, expr: sp.Expr) -> str:
        raise CompilationError(
            f"cannot compile {expr_text(expr)}: sympy left this derivative unevaluated "
            f"({type(expr.expr).__name__} has no known derivative)"
        )


def expr_text(expr: object, limit: int = 120) -> str:
    """``str(expr)`` on one line, shortened to ``limit`` characters for messages.

    Args:
        expr: an expression.
        limit: the longest text returned.

    Returns:
        The text, ending in ``...`` when cut.
    """
    text = " ".join(str(expr).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_UNSUPPORTED = re.compile(r"Unsupported by .*?: (\S+)")


def _print(expr: sp.Expr) -> str:
    printer = _Printer({"strict": True, "fully_qualified_modules": True})
    try:
        return printer.doprint(real_form(expr))
    except CompilationError:
        raise
    except Exception as exc:  # sympy raises PrintMethodNotImplementedError and others
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        m = _UNSUPPORTED.search(first)
        why = f"the function {m.group(1)} has no compiled form" if m else first
        raise CompilationError(f"cannot compile {expr_text(expr)}: {why}") from None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^(Failed in .*pipeline.*|During: .*|File .*|\s*\^+\s*|<source .*|\d+ \|.*|)$")


def numba_reason(exc: BaseException) -> str:
    """The informative line of a numba error (not "Failed in nopython mode pipeline").

    Args:
        exc: an exception raised by numba while typing or lowering a kernel.

    Returns:
        One line of at most 200 characters.
    """
    lines = [_ANSI.sub("", ln).strip() for ln in str(exc).splitlines()]
    useful = [ln for ln in lines if not _NOISE.match(ln)]
    text = useful[0] if useful else (lines[0] if lines else type(exc).__name__)
    return text if len(text) <= 200 else text[:197] + "..."


def emit_function(
    name: str,
    args: Sequence[str],
    prologue: Sequence[str],
    outputs: Sequence[tuple[str, sp.Expr]],
    returns: sp.Expr | None = None,
    epilogue: Sequence[str] = (),
) -> str:
    """Source of ``def name(args)`` computing ``outputs`` (``target = expr`` lines) with CSE.

    Args:
        name: function name.
        args: argument names.
        prologue: lines run first (e.g. unpacking ``w[0]`` into ``_w0``).
        outputs: pairs (target code, expression), e.g. ``("out[0]", expr)``.
        returns: an expression to return, or ``None``.
        epilogue: lines run after the outputs.
    """
    exprs = [real_form(e) for _, e in outputs] + ([real_form(returns)] if returns is not None else [])
    for e in exprs:
        if not isinstance(e, sp.Expr) or e.has(sp.I, sp.zoo, sp.nan):
            raise CompilationError(f"cannot compile {expr_text(e)}: not a real expression")
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_t"), optimizations="basic")
    body = ["@jit", f"def {name}({', '.join(args)}):", *(f"    {p}" for p in prologue)]
    body += [f"    {s} = {_print(e)}" for s, e in repl]
    for (target, _), e in zip(outputs, reduced[: len(outputs)], strict=True):
        body.append(f"    {target} = {_print(e)}")
    body += [f"    {p}" for p in epilogue]
    if returns is not None:
        body.append(f"    return {_print(reduced[-1])}")
    return "\n".join(body) + "\n"
