"""sympy → Python source: common-subexpression elimination and a strict printer.

The generated functions use only scalar arithmetic, :mod:`math` and small numpy arrays,
so the same source runs under numba (``@njit(cache=True)``) and as plain Python (the
pure-numpy fallback).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from eostheory._errors import CompilationError

__all__ = ["GENERATOR_VERSION", "backend", "emit_function", "module_header", "rename"]

#: Bump whenever generated code changes meaning; it is part of every module's hash.
GENERATOR_VERSION = "1"


def backend() -> str:
    """``"numba"`` unless ``EOSTHEORY_DISABLE_NUMBA`` is set to a true value, then ``"python"``."""
    import os

    flag = os.environ.get("EOSTHEORY_DISABLE_NUMBA", "").strip().lower()
    return "python" if flag in {"1", "true", "yes", "on"} else "numba"


def module_header(title: str, backend_name: str, body_comment: Sequence[str] = ()) -> str:
    """Imports and the ``jit`` decorator of a generated module for the given backend."""
    lines = [
        f"# eostheory generated module: {title}",
        f"# generator version {GENERATOR_VERSION}, backend {backend_name}. Do not edit.",
        *(f"# {c}" for c in body_comment),
        "import math",
        "import numpy as np",
    ]
    if backend_name == "numba":
        lines += ["from numba import njit", "jit = njit(cache=True, error_model='numpy')"]
    else:
        lines += ["def jit(f):", "    return f"]
    return "\n".join(lines) + "\n"


def rename(symbols: Sequence[sp.Symbol], prefix: str) -> dict[sp.Symbol, sp.Symbol]:
    """Map user symbols to safe code names ``{prefix}{i}``."""
    return {s: sp.Symbol(f"{prefix}{i}") for i, s in enumerate(symbols)}


class _Printer(PythonCodePrinter):
    def _print_Rational(self, expr: sp.Rational) -> str:  # force float division
        return f"({float(expr.p)!r}/{float(expr.q)!r})"

    def _print_Integer(self, expr: sp.Integer) -> str:
        return f"{int(expr)}"


def _print(expr: sp.Expr) -> str:
    printer = _Printer({"strict": True, "fully_qualified_modules": True})
    try:
        return printer.doprint(expr)
    except Exception as exc:  # sympy raises PrintMethodNotImplementedError and others
        first = str(exc).splitlines()[0]
        raise CompilationError(f"cannot compile {expr}: {first}") from None


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
    exprs = [e for _, e in outputs] + ([returns] if returns is not None else [])
    for e in exprs:
        if not isinstance(e, sp.Expr) or e.has(sp.I, sp.zoo, sp.nan):
            raise CompilationError(f"cannot compile {e}: not a real expression")
    repl, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_t"), optimizations="basic")
    body = ["@jit", f"def {name}({', '.join(args)}):", *(f"    {p}" for p in prologue)]
    body += [f"    {s} = {_print(e)}" for s, e in repl]
    for (target, _), e in zip(outputs, reduced[: len(outputs)], strict=True):
        body.append(f"    {target} = {_print(e)}")
    body += [f"    {p}" for p in epilogue]
    if returns is not None:
        body.append(f"    return {_print(reduced[-1])}")
    return "\n".join(body) + "\n"
