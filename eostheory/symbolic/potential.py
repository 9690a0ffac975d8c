"""Symbolic potentials: a loss ``L(w)`` written in sympy, and what derives from it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import cached_property

import sympy as sp

from eostheory._errors import EosInputError
from eostheory._validate import finite_float
from eostheory.symbolic._parse import as_sympy, parse_formula

__all__ = ["Potential", "as_potential"]

ConstantValue = float | int | None

#: Symbol names used internally for the direction of the third-derivative contraction.
_RESERVED = re.compile(r"u_\d+")


class FrozenDict(dict):  # type: ignore[type-arg]
    """A ``dict`` that refuses changes (the constants of an immutable :class:`Potential`)."""

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("the constants of a Potential cannot be changed; use .with_constants(...)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]
    __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))


def _as_symbol(x: str | sp.Symbol, where: str) -> sp.Symbol:
    if isinstance(x, sp.Symbol):
        return x
    if isinstance(x, str) and x.strip().isidentifier():
        return sp.Symbol(x.strip())
    raise EosInputError(f"{where}: {x!r} is not a symbol name")


class Potential:
    r"""A loss :math:`L(w)` over parameters :math:`w \in \mathbb{R}^n`, written in sympy.

    Every free symbol of the expression is either a *parameter* (a coordinate of
    :math:`w`, in the declared order) or a named *constant*, whose value is a number or
    left symbolic (``None``) and supplied at run time.  A symbol that is neither is an
    error, so a typo can never become a silent extra parameter.

    Derived objects, all sympy and printable (``str``, ``sympy.pretty``, LaTeX):
    :meth:`gradient` :math:`\nabla L`, :meth:`hessian` :math:`H = \nabla^2 L` and
    :meth:`third_contraction` :math:`\nabla^3 L[u, u] = \nabla_w (u^\top H(w) u)`,
    which is :math:`\nabla S` when :math:`u` is the top eigenvector of :math:`H`.

    Args:
        expr: a sympy expression or a formula string (see
            :func:`eostheory.symbolic.parse_formula`).
        params: the parameter symbols in order.  When omitted, every free symbol that
            is not a constant is a parameter, sorted by name.
        constants: mapping from constant name (or symbol) to value; ``None`` keeps it
            symbolic.
        name: an optional display name.

    Raises:
        EosInputError: undeclared symbols, a parameter declared twice or also as a
            constant, a non-finite constant, or an expression that is not real-valued.

    Examples:
        >>> L = Potential("(S/2)*w**2 - (Q/4)*w**4", params=["w"], constants={"S": 3, "Q": None})
        >>> L.gradient()
        Matrix([[-Q*w**3 + S*w]])
        >>> L.hessian()[0, 0].subs({"w": 0, "S": 3})
        3
    """

    def __init__(
        self,
        expr: sp.Expr | str,
        params: Iterable[str | sp.Symbol] | None = None,
        constants: Mapping[str | sp.Symbol, ConstantValue] | None = None,
        name: str | None = None,
    ) -> None:
        const_syms: dict[sp.Symbol, float | None] = {}
        for k, v in (constants or {}).items():
            sym = _as_symbol(k, "constants")
            const_syms[sym] = None if v is None else finite_float(f"constant {sym}", v)
        param_syms = None if params is None else [_as_symbol(p, "params") for p in params]
        if isinstance(expr, str):
            known = {s.name: s for s in [*(param_syms or []), *const_syms]}
            expr = parse_formula(expr, symbols=known)
        elif not isinstance(expr, sp.Expr):
            expr = as_sympy(expr, "a potential")
        if expr.has(sp.I, sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise EosInputError(f"potential {expr} is not a finite real expression")
        free = expr.free_symbols
        if param_syms is None:
            param_syms = sorted((s for s in free if s not in const_syms), key=lambda s: s.name)
        if not param_syms:
            raise EosInputError(f"potential {expr} has no parameters")
        if len(set(param_syms)) != len(param_syms):
            raise EosInputError(f"parameters declared twice: {[str(p) for p in param_syms]}")
        both = set(param_syms) & set(const_syms)
        if both:
            raise EosInputError(f"{sorted(map(str, both))} declared both as parameter and constant")
        reserved = sorted(s.name for s in (*free, *param_syms, *const_syms) if _RESERVED.fullmatch(s.name))
        if reserved:
            raise EosInputError(
                f"the name(s) {', '.join(dict.fromkeys(reserved))} are reserved for the direction u of "
                "grad^3 L[u, u] (u_0, u_1, ...); rename them"
            )
        undeclared = free - set(param_syms) - set(const_syms)
        if undeclared:
            names = ", ".join(sorted(map(str, undeclared)))
            raise EosInputError(
                f"undeclared symbol(s) {names} in {expr}: declare them as parameters or set them as constants"
            )
        object.__setattr__(self, "expr", expr)
        object.__setattr__(self, "params", tuple(param_syms))
        object.__setattr__(self, "constants", FrozenDict(const_syms))
        object.__setattr__(self, "name", name)

    # A Potential is immutable: its kernels, caches and derived expressions are keyed by
    # the expression, so changing it in place would silently keep stale kernels.
    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    constants: FrozenDict
    name: str | None

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(
            f"a Potential is immutable (cannot set {key!r}); build a new one, e.g. "
            "Potential(new_expr, params, constants) or .with_constants(...)"
        )

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"a Potential is immutable (cannot delete {key!r})")

    # --- basic properties -------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of parameters :math:`n`."""
        return len(self.params)

    @property
    def constant_symbols(self) -> tuple[sp.Symbol, ...]:
        """The constants in declaration order (the order of the runtime array)."""
        return tuple(self.constants)

    def with_constants(self, **values: ConstantValue) -> Potential:
        """Return a copy with the named constants set (``None`` makes one symbolic)."""
        unknown = set(values) - {s.name for s in self.constants}
        if unknown:
            raise EosInputError(
                f"unknown constant(s) {sorted(unknown)}; this potential has {[s.name for s in self.constants]}"
            )
        new = {s: values.get(s.name, v) for s, v in self.constants.items()}
        return Potential(self.expr, self.params, new, self.name)

    def constant_values(self, overrides: Mapping[str, float] | None = None) -> list[float]:
        """Numeric values of the constants, in order; raises if one is still symbolic."""
        overrides = dict(overrides or {})
        unknown = set(overrides) - {s.name for s in self.constants}
        if unknown:
            raise EosInputError(
                f"unknown constant(s) {sorted(unknown)}; this potential has {[s.name for s in self.constants]}"
            )
        out = []
        for s, v in self.constants.items():
            v = overrides.get(s.name, v)
            if v is None:
                raise EosInputError(f"constant {s} has no value; set it (e.g. --set {s}=1)")
            out.append(finite_float(f"constant {s}", v))
        return out

    @cached_property
    def key(self) -> str:
        """A hash of the expression, the parameter order and the constant names.

        Constant *values* are not part of the key: they are runtime arguments of the
        compiled kernels, so changing them never recompiles.
        """
        text = "|".join([sp.srepr(self.expr), *(p.name for p in self.params), "#", *(c.name for c in self.constants)])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    # --- derivatives ------------------------------------------------------------------
    @cached_property
    def _gradient(self) -> sp.Matrix:
        return sp.Matrix([sp.diff(self.expr, p) for p in self.params])

    @cached_property
    def _hessian(self) -> sp.Matrix:
        g = self._gradient
        n = self.dim
        # differentiate the upper triangle only and mirror it: H is symmetric exactly
        h = sp.zeros(n, n)
        for i in range(n):
            for j in range(i, n):
                h[i, j] = h[j, i] = sp.diff(g[i], self.params[j])
        return h

    @cached_property
    def direction_symbols(self) -> tuple[sp.Symbol, ...]:
        """Symbols :math:`u_0, \\dots, u_{n-1}` of the direction in :meth:`third_contraction`."""
        return tuple(sp.Symbol(f"u_{i}") for i in range(self.dim))

    def gradient(self) -> sp.Matrix:
        r""":math:`\nabla L` as an :math:`n \times 1` sympy matrix."""
        return self._gradient

    def hessian(self) -> sp.Matrix:
        r""":math:`H = \nabla^2 L` as a symmetric :math:`n \times n` sympy matrix."""
        return self._hessian

    def third_contraction(self) -> sp.Matrix:
        r""":math:`\nabla^3 L[u, u] = \nabla_w\, (u^\top H(w)\, u)` with :attr:`direction_symbols` as :math:`u`.

        With :math:`u` the unit top eigenvector of :math:`H` this is the gradient of the
        sharpness, :math:`\nabla S(w)` (first-order perturbation of a simple eigenvalue,
        :math:`d\lambda = u^\top dH\, u`), the quantity every edge-of-stability model is driven by.
        """
        return self._third

    @cached_property
    def _third(self) -> sp.Matrix:
        u = sp.Matrix(self.direction_symbols)
        quad = sp.expand((u.T * self._hessian * u)[0, 0])
        return sp.Matrix([sp.diff(quad, p) for p in self.params])

    # --- printing ---------------------------------------------------------------------
    def equations(self) -> str:
        """The potential and its derivatives, printed one per line."""
        lines = [
            f"L({', '.join(map(str, self.params))}) = {self.expr}",
            f"grad L = {list(self._gradient)}",
            f"H = {self._hessian.tolist()}",
        ]
        if self.constants:
            vals = ", ".join(f"{s}={'symbolic' if v is None else f'{v:g}'}" for s, v in self.constants.items())
            lines.append(f"constants: {vals}")
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX of :math:`L(w) = \\dots`."""
        args = ", ".join(sp.latex(p) for p in self.params)
        return f"L({args}) = {sp.latex(self.expr)}"

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def __str__(self) -> str:
        return f"L({', '.join(map(str, self.params))}) = {self.expr}"

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        consts = {s.name: v for s, v in self.constants.items()}
        return f"Potential({name}{str(self.expr)!r}, params={[p.name for p in self.params]}, constants={consts})"


def as_potential(
    spec: Potential | str | sp.Expr,
    params: Iterable[str] | None = None,
    constants: Mapping[str, ConstantValue] | None = None,
) -> Potential:
    """Resolve a potential from a :class:`Potential`, a library name or a formula.

    A string that names a toy of :mod:`eostheory.symbolic.library` gives that toy (with
    ``constants`` overriding its defaults); any other string is parsed as a formula, and
    its free symbols not listed in ``constants`` are the parameters (or ``params``).  A
    bare name that is not a toy (``"selfsta"``) is an error naming the nearest toys,
    never the linear potential ``L = selfsta``.

    Raises:
        EosInputError: an unknown toy name, or a bad formula.

    Examples:
        >>> as_potential("quartic").name
        'quartic'
        >>> try:
        ...     as_potential("selfsta")
        ... except EosInputError as exc:
        ...     print(str(exc).split(" (")[0])
        unknown potential 'selfsta'; did you mean 'selfstab'?
    """
    from eostheory.symbolic.library import TOYS, toy

    if isinstance(spec, Potential) or hasattr(spec, "kernel_source") or hasattr(spec, "kernel_family"):
        pot = spec
        if constants:
            pot = pot.with_constants(**constants)
        return pot
    if isinstance(spec, str) and spec.strip() in TOYS:
        pot = toy(spec.strip(), **dict(constants or {}))
        if params is not None and [p.name for p in pot.params] != [str(p) for p in params]:
            raise EosInputError(
                f"toy {spec!r} has parameters {[p.name for p in pot.params]}; --params cannot rename them"
            )
        return pot
    if isinstance(spec, str) and spec.strip().replace("-", "_").isidentifier():
        from eostheory.symbolic.library import unknown_toy_message

        raise EosInputError(
            unknown_toy_message(spec.strip())
            + f" (a formula that is a bare name is refused as a likely typo: write e.g. '1*{spec.strip()}')"
        )
    return Potential(spec, params=params, constants=constants)
