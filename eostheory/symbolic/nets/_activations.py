r"""Activation functions of symbolic nets: ``softplus`` :math:`\log(1 + e^z)`, ``sigmoid``, ``tanh``, ``quadratic``,
``identity`` or any sympy function of one variable, with their homogeneity degree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._parse import as_sympy, parse_formula

#: The variable of activation functions.
Z = sp.Symbol("z")


class softplus(sp.Function):  # noqa: N801  (printed name of the function)
    r"""Softplus :math:`\log(1 + e^t)`, a smooth ReLU; its derivative is :func:`sigmoid`.

    Kept as a function of its own so that derivatives stay compact and the compiled code
    can use an overflow-free form.
    """

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, t: sp.Expr) -> sp.Expr | None:
        if t.is_zero:
            return sp.log(2)
        return None

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return sp.log(1 + sp.exp(self.args[0]))._eval_evalf(prec)


class sigmoid(sp.Function):  # noqa: N801
    r"""Logistic sigmoid :math:`1/(1 + e^{-t})`, with :math:`\sigma' = \sigma(1 - \sigma)`."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, t: sp.Expr) -> sp.Expr | None:
        if t.is_zero:
            return sp.Rational(1, 2)
        return None

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_evalf(self, prec: int) -> sp.Expr:
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)


def elementary(expr: sp.Expr) -> sp.Expr:
    r"""Rewrite :func:`softplus` and :func:`sigmoid` with ``exp`` and ``log``."""
    return expr.replace(softplus, lambda t: sp.log(1 + sp.exp(t))).replace(sigmoid, lambda t: 1 / (1 + sp.exp(-t)))


# --------------------------------------------------------------------------- activations
@dataclass(frozen=True)
class Activation:
    r"""An activation :math:`\sigma(z)` as a sympy expression in :data:`Z`.

    Attributes:
        name: display name.
        expr: :math:`\sigma(z)`.
        homogeneity: (property) the degree :math:`k` with :math:`z\,\sigma'(z) = k\,\sigma(z)` when
            :math:`\sigma` is positively homogeneous (identity 1, quadratic 2), else ``None``.
    """

    name: str
    expr: sp.Expr

    @cached_property
    def homogeneity(self) -> sp.Expr | None:
        """The degree :math:`k` of positive homogeneity, or ``None`` (derived by sympy)."""
        if self.name in ACTIVATIONS and self.expr == ACTIVATIONS[self.name]:
            return _KNOWN_DEGREE.get(self.name)
        return _homogeneity(self.expr)

    def __call__(self, z: sp.Expr) -> sp.Expr:
        return self.expr.xreplace({Z: z})


def _homogeneity(expr: sp.Expr) -> sp.Expr | None:
    if expr == 0:
        return None
    ratio = sp.simplify(sp.expand(Z * sp.diff(expr, Z)) / expr)
    if Z in ratio.free_symbols or not ratio.is_number or not ratio.is_positive:
        return None
    return sp.nsimplify(ratio)


#: Built-in activations (name -> expression in ``z``).
ACTIVATIONS: dict[str, sp.Expr] = {
    "tanh": sp.tanh(Z),
    "softplus": softplus(Z),
    "sigmoid": sigmoid(Z),
    "quadratic": Z**2,
    "identity": Z,
}

_KNOWN_DEGREE: dict[str, sp.Expr | None] = {"identity": sp.Integer(1), "quadratic": sp.Integer(2)}

_NOT_SMOOTH = {"relu", "abs", "leaky_relu", "leaky-relu", "hardtanh", "step", "sign"}


def activation(
    spec: str | sp.Expr | sp.Lambda | Callable[..., Any] | Activation, constants: Sequence[sp.Symbol] = ()
) -> Activation:
    r"""Resolve an activation from a name, a formula in ``z``, a ``sympy.Lambda`` or a callable.

    Args:
        spec: ``"tanh"``, ``"softplus"``, ``"sigmoid"``, ``"quadratic"``, ``"identity"``;
            a formula string in ``z`` (e.g. ``"z + z**3/3"``); a one-variable
            ``sympy.Lambda``; or a callable mapping a sympy symbol to an expression
            (``sympy.sin``, ``lambda z: z/(1 + z**2)``).
        constants: symbols the expression may use besides ``z`` (named constants).

    Returns:
        The :class:`Activation`.

    Raises:
        EosInputError: unknown name, an expression that does not depend on ``z``, uses
            undeclared symbols, or is not three times differentiable in closed form
            (ReLU, ``Abs``, ``Max``, an undefined function).

    Examples:
        >>> activation("quadratic").homogeneity
        2
        >>> activation(lambda z: z / (1 + z**2)).expr
        z/(z**2 + 1)
    """
    if isinstance(spec, Activation):
        return spec
    name = "custom"
    if isinstance(spec, str):
        text = spec.strip()
        if text in ACTIVATIONS:
            name, expr = text, ACTIVATIONS[text]
        elif text.isidentifier():
            hint = " (not smooth: use softplus, a smooth ReLU)" if text.lower() in _NOT_SMOOTH else ""
            raise EosInputError(
                f"unsupported activation {text!r}{hint}; choose from {', '.join(ACTIVATIONS)} "
                "or give a formula in z such as 'z + z**3/3'"
            )
        else:
            known = {s.name: s for s in constants}
            known["z"] = Z
            expr = parse_formula(text, extra={"softplus": softplus, "sigmoid": sigmoid}, symbols=known)
            name = text
    elif isinstance(spec, sp.Lambda):
        if len(spec.variables) != 1:
            raise EosInputError(f"activation Lambda must take one variable, got {spec}")
        expr = spec.expr.xreplace({spec.variables[0]: Z})
        name = str(expr)
    elif isinstance(spec, sp.Expr):
        expr = spec
        name = str(expr)
    elif callable(spec):
        try:
            out = spec(Z)
            if isinstance(out, str):
                raise TypeError("it returned a string; return a sympy expression")
            expr = as_sympy(out, "the activation's value")
        except Exception as exc:
            raise EosInputError(f"activation {spec!r} cannot be applied to a sympy symbol: {exc}") from None
        name = getattr(spec, "__name__", "custom")
        if name == "<lambda>":
            name = str(expr)
    else:
        raise EosInputError(f"unsupported activation {spec!r}")
    if not isinstance(expr, sp.Expr):
        raise EosInputError(f"activation {spec!r} is not a sympy expression")
    if Z not in expr.free_symbols:
        raise EosInputError(f"activation {expr} does not depend on z")
    extra = expr.free_symbols - {Z} - set(constants)
    if extra:
        raise EosInputError(
            f"activation {expr} uses undeclared symbol(s) {sorted(map(str, extra))}; declare them as constants"
        )
    if expr.has(sp.I, sp.zoo, sp.nan, sp.oo):
        raise EosInputError(f"activation {expr} is not a finite real expression")
    d = expr
    for order in (1, 2, 3):
        d = sp.diff(d, Z)
        if d.has(sp.Derivative, sp.Subs, sp.DiracDelta, sp.Heaviside, sp.sign, sp.Abs, sp.Max, sp.Min):
            raise EosInputError(
                f"activation {expr} has no closed-form derivative of order {order} "
                "(eostheory needs three smooth derivatives; use softplus for a smooth ReLU)"
            )
    return Activation(name, expr)


_resolve_activation = activation
