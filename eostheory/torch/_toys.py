r"""Toy potentials on the torch path, from their sympy definition (never typed out again).

:func:`torch_function` turns a :class:`~eostheory.symbolic.potential.Potential` into a torch
function of the flat parameter vector by walking its sympy expression tree once and
composing torch operations (no code generation, no ``exec``): sums, products, powers, the
functions of the formula parser's table (``sin`` … ``erf``, ``Abs``, ``sign``, ``Max``,
``Min``) and numbers.  :func:`potential_objective` wraps it as a
:class:`~eostheory.torch.FunctionObjective`, so every toy of the library runs through the
network oracle with autograd Hessians and third derivatives:

.. math::

    L_{\text{torch}}(\theta) = L(w)\big|_{w = \theta,\ \text{constants set}},

equal to the compiled sympy kernels' values, gradients and Hessians to rounding
(``tests/test_torch_toys.py`` checks every toy of the registry at random points).

The symbolic layer stays torch-free: the conversion lives here, in ``eostheory.torch``,
rather than as a ``Potential`` method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic.library import toy
from eostheory.symbolic.potential import Potential
from eostheory.torch._backend import require_torch
from eostheory.torch._objective import FunctionObjective

torch = require_torch()

__all__ = ["potential_objective", "torch_function"]

_UNARY: dict[type, Callable[[Any], Any]] = {
    sp.sin: torch.sin,
    sp.cos: torch.cos,
    sp.tan: torch.tan,
    sp.sinh: torch.sinh,
    sp.cosh: torch.cosh,
    sp.tanh: torch.tanh,
    sp.asin: torch.asin,
    sp.acos: torch.acos,
    sp.atan: torch.atan,
    sp.exp: torch.exp,
    sp.log: torch.log,
    sp.Abs: torch.abs,
    sp.sign: torch.sign,
    sp.erf: torch.erf,
}

Node = Callable[[Any], Any]


def _build(e: sp.Expr, index: Mapping[sp.Symbol, int], values: Mapping[sp.Symbol, float]) -> Node:
    """A closure evaluating ``e`` at the parameter vector ``theta`` (a 1-D tensor)."""
    if e.is_Number or e in (sp.pi, sp.E):
        c = float(e)
        if not math.isfinite(c):
            raise EosInputError(f"the potential contains the non-finite number {e}")
        return lambda th: c
    if e.is_Symbol:
        if e in index:
            i = index[e]
            return lambda th: th[i]
        if e in values:
            v = float(values[e])
            return lambda th: v
        raise EosInputError(f"symbol {e} is neither a parameter nor a constant with a value")
    if isinstance(e, sp.Add):
        parts = [_build(a, index, values) for a in e.args]

        def add(th: Any) -> Any:
            acc = parts[0](th)
            for p in parts[1:]:
                acc = acc + p(th)
            return acc

        return add
    if isinstance(e, sp.Mul):
        parts = [_build(a, index, values) for a in e.args]

        def mul(th: Any) -> Any:
            acc = parts[0](th)
            for p in parts[1:]:
                acc = acc * p(th)
            return acc

        return mul
    if isinstance(e, sp.Pow):
        base = _build(e.base, index, values)
        ex = e.exp
        if ex.is_Integer:
            k = int(ex)
            return lambda th: base(th) ** k
        if ex == sp.Rational(1, 2):
            return lambda th: torch.sqrt(base(th))
        expo = _build(ex, index, values)
        return lambda th: base(th) ** expo(th)
    if isinstance(e, (sp.Max, sp.Min)):
        parts = [_build(a, index, values) for a in e.args]
        op = torch.maximum if isinstance(e, sp.Max) else torch.minimum

        def ext(th: Any) -> Any:
            vals = [p(th) for p in parts]
            ref = next((v for v in vals if isinstance(v, torch.Tensor)), None)
            ts = [v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=ref.dtype) for v in vals]
            acc = ts[0]
            for t in ts[1:]:
                acc = op(acc, t)
            return acc

        return ext
    fn = _UNARY.get(type(e))
    if fn is not None and len(e.args) == 1:
        arg = _build(e.args[0], index, values)

        def un(th: Any) -> Any:
            a = arg(th)
            return fn(a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=th.dtype))

        return un
    raise EosInputError(f"no torch counterpart for {type(e).__name__} in {e}")


def torch_function(pot: Potential | str, constants: Mapping[str, float] | None = None) -> Callable[[Any], Any]:
    r"""The potential :math:`L(w)` as a torch function ``f(theta) -> 0-dim tensor``.

    Args:
        pot: a :class:`Potential` or the name of a library toy.
        constants: values overriding the potential's constants (every constant needs a
            value, as for the compiled kernels).

    Raises:
        EosInputError: a constant without a value, or an expression node with no torch
            counterpart.

    Examples:
        >>> import torch
        >>> f = torch_function("selfstab")
        >>> float(f(torch.tensor([1.0, 1.0], dtype=torch.float64)))   # (1 + 1)/2 + 1/2
        1.5
    """
    p = toy(pot) if isinstance(pot, str) else pot
    if not isinstance(p, Potential):
        raise EosInputError(f"expected a Potential or a toy name, got {type(pot).__name__}")
    vals = p.constant_values(constants)
    values = dict(zip(p.constant_symbols, vals, strict=True))
    index = {s: i for i, s in enumerate(p.params)}
    node = _build(sp.sympify(p.expr), index, values)
    n = p.dim

    def f(theta: Any) -> Any:
        if theta.shape[-1] != n:
            raise EosInputError(f"{p} has {n} parameters, got a vector of length {theta.shape[-1]}")
        out = node(theta)
        return out if isinstance(out, torch.Tensor) else torch.as_tensor(out, dtype=theta.dtype)

    f.__doc__ = f"L(w) = {p.expr} on the torch path"
    return f


def potential_objective(
    pot: Potential | str,
    x0: Any,
    *,
    constants: Mapping[str, float] | None = None,
    device: Any = "cpu",
    dtype: Any = "float64",
) -> FunctionObjective:
    """A toy potential as a :class:`FunctionObjective` started at ``x0`` (for the network oracle and flows).

    Examples:
        >>> obj = potential_objective("quadratic", [0.3, -0.2])
        >>> H = obj.hessian(obj.theta0).dense()
        >>> [float(v) for v in H.diagonal()]
        [1.0, 4.0]
    """
    return FunctionObjective(torch_function(pot, constants), x0, device=device, dtype=dtype)
