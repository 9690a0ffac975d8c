r"""Symbolic networks: small nets whose loss, derivatives and theory are exact.

A :class:`SymbolicNet` is a model :math:`f(x;\theta)` with a per-example loss
:math:`\ell(f(x;\theta), y)`, written in sympy with the data point :math:`(x, y)` as
*symbols*, and a data set held as numeric arrays.  The training loss is the average

.. math:: L(\theta) = \frac1N \sum_{i=1}^N \ell\big(f(x_i;\theta), y_i\big).

Only the per-example expression is ever differentiated; the sum over the data happens
numerically inside the compiled kernels (:mod:`eostheory.compile._netkernels`), so the
size of the generated code does not grow with :math:`N`, and the data are runtime
arguments (changing them never recompiles).  Derivatives go through the output by the
chain rule, which is exact:

.. math::
    \nabla L = \frac1N\sum_i \sum_k \ell_k\, \nabla f_k, \qquad
    \nabla^2 L = \frac1N\sum_i \Big[\sum_{k,l} \ell_{kl}\, \nabla f_k \nabla f_l^\top
        + \sum_k \ell_k\, \nabla^2 f_k\Big],

with :math:`\ell_k = \partial\ell/\partial f_k` etc.; :math:`\nabla f`, the (sparse)
:math:`\nabla^2 f` and :math:`\nabla^3 f[u,u]` are derived symbolically per example.

Models (constructors): :func:`two_layer` :math:`f(x) = \sum_j a_j\,\sigma(w_j^\top x + b_j)`
(with or without biases, scalar or vector output), :func:`two_layer_linear`
:math:`f(x) = A W x` and :func:`linear_chain` :math:`f(x) = w_L \cdots w_1 x`.
Activations: ``tanh``, ``softplus`` (:math:`\log(1 + e^z)`, a smooth ReLU), ``sigmoid``,
``quadratic`` (:math:`z^2`), ``identity``, or any sympy function of one variable.
Losses: ``mse`` :math:`\tfrac12\|f - y\|^2` and ``logistic``
:math:`\log(1 + e^{-y f})` (scalar output, labels :math:`\pm 1`).

Derived theory: :func:`conserved_quantities` (balancedness
:math:`\|a_j\|^2 - (\|w_j\|^2 + b_j^2)/k` for :math:`k`-homogeneous activations, the
matrix :math:`A^\top A - W W^\top` for linear nets, :math:`w_i^2 - w_{i+1}^2` for chains;
each with its symbolic rate of change under gradient flow) and :func:`minimum_theory`
(sharpness at global minima of linear chains and two-layer linear nets, the balanced
minimum-sharpness solutions and the step size :math:`2/S` beyond which gradient descent
cannot converge to a given minimum).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, positive_int
from eostheory.symbolic._parse import as_sympy, parse_formula
from eostheory.symbolic.data import Dataset, as_dataset

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "NET_KINDS",
    "Activation",
    "ConservedQuantity",
    "MinimumTheory",
    "SymbolicNet",
    "UnitTemplate",
    "activation",
    "conserved_quantities",
    "elementary",
    "linear_chain",
    "make_net",
    "minimum_theory",
    "sigmoid",
    "softplus",
    "two_layer",
    "two_layer_linear",
]

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


# --------------------------------------------------------------------------------- losses
#: Per-example losses of the output ``f`` and target ``y`` (vectors of length K).
LOSSES: dict[str, str] = {
    "mse": "1/2 |f - y|^2",
    "logistic": "log(1 + exp(-y f)), scalar output, labels -1/+1",
}


def _loss_expr(loss: str, F: Sequence[sp.Symbol], Y: Sequence[sp.Symbol]) -> sp.Expr:
    if loss == "mse":
        return sp.Add(*[(f - y) ** 2 for f, y in zip(F, Y, strict=True)]) / 2
    if loss == "logistic":
        if len(F) != 1:
            raise EosInputError(f"the logistic loss needs a scalar output, got {len(F)} outputs")
        return softplus(-Y[0] * F[0])
    raise EosInputError(f"unknown loss {loss!r}; choose from {', '.join(LOSSES)}")


# ---------------------------------------------------------------- derivatives of outputs
def output_jacobian(params: Sequence[sp.Symbol], outputs: Sequence[sp.Expr]) -> sp.Matrix:
    r""":math:`J_{ki} = \partial f_k/\partial\theta_i` (structural zeros stay exact zeros)."""
    J = sp.zeros(len(outputs), len(params))
    for k, f in enumerate(outputs):
        fs = f.free_symbols
        for i, p in enumerate(params):
            if p in fs:
                J[k, i] = sp.diff(f, p)
    return J


def output_hessian_entries(params: Sequence[sp.Symbol], J: sp.Matrix) -> tuple[tuple[int, int, int, sp.Expr], ...]:
    r"""Non-zero :math:`(k, i, j, \partial^2 f_k/\partial\theta_i\partial\theta_j)` with :math:`i \le j`."""
    out = []
    for k in range(J.rows):
        for i in range(J.cols):
            g = J[k, i]
            if g == 0:
                continue
            fs = g.free_symbols
            for j in range(i, J.cols):
                if params[j] in fs:
                    h = sp.diff(g, params[j])
                    if h != 0:
                        out.append((k, i, j, h))
    return tuple(out)


def output_third_contraction(
    params: Sequence[sp.Symbol],
    entries: Sequence[tuple[int, int, int, sp.Expr]],
    u: Sequence[sp.Symbol],
    n_outputs: int,
) -> sp.Matrix:
    r""":math:`\nabla^3 f_k[u,u]_m = \sum_{ij} u_i u_j\, \partial_m \partial_i \partial_j f_k` from the
    Hessian entries (each differentiated only where it depends on :math:`\theta_m`)."""
    terms: dict[tuple[int, int], list[sp.Expr]] = {}
    pset = set(params)
    index = {p: m for m, p in enumerate(params)}
    for k, i, j, h in entries:
        coef = u[i] * u[j] * (1 if i == j else 2)
        for p in h.free_symbols & pset:
            terms.setdefault((k, index[p]), []).append(coef * sp.diff(h, p))
    T = sp.zeros(n_outputs, len(params))
    for (k, m), ts in terms.items():
        T[k, m] = sp.Add(*ts)
    return T


@dataclass(frozen=True)
class UnitTemplate:
    r"""A net that is a sum of identical units, :math:`f_k = \sum_j g_k(\theta_j; x)`, each unit
    with its own parameters :math:`\theta_j` (the hidden units of a two-layer net).

    The compiled code is generated for one unit and looped over the units, so its size
    does not grow with the width; the Hessian of :math:`f` is block diagonal by unit.

    Attributes:
        params: the local parameter symbols of one unit.
        outputs: :math:`g_k(\theta_u; x)`, ``K`` expressions.
        index: ``(units, len(params))`` integer array: the global index of each local
            parameter of each unit.
    """

    params: tuple[sp.Symbol, ...]
    outputs: tuple[sp.Expr, ...]
    index: np.ndarray = field(repr=False)
    direction: tuple[sp.Symbol, ...] = ()

    @cached_property
    def derivatives(self) -> tuple[sp.Matrix, tuple[tuple[int, int, int, sp.Expr], ...], sp.Matrix]:
        """Jacobian, non-zero Hessian entries and third contraction of one unit (local indices)."""
        J = output_jacobian(self.params, self.outputs)
        H = output_hessian_entries(self.params, J)
        T = output_third_contraction(self.params, H, self.direction, len(self.outputs))
        return J, H, T


# ------------------------------------------------------------------------------ the model
class SymbolicNet:
    r"""A network :math:`f(x;\theta)`, a per-example loss and a data set.

    Use the constructors :func:`two_layer`, :func:`two_layer_linear`,
    :func:`linear_chain` (or :func:`make_net`).  A net plugs in wherever a
    :class:`~eostheory.symbolic.Potential` is accepted (``eostheory.run``,
    ``compile_potential``): it generates its own kernel module (:meth:`kernel_source`).

    Attributes:
        kind: ``"two-layer"``, ``"two-layer-linear"`` or ``"chain"``.
        params: parameter symbols :math:`\theta` in order (first layer first).
        input_symbols: :math:`x_0, \dots, x_{d-1}`.
        target_symbols: :math:`y_0, \dots, y_{K-1}`.
        outputs: :math:`f_k(x;\theta)` as sympy expressions.
        loss: ``"mse"`` or ``"logistic"``.
        constants: named constants (symbol -> value or ``None``), runtime arguments.
        X, Y: the data, float64 arrays of shapes ``(N, d)`` and ``(N, K)``.
    """

    def __init__(
        self,
        kind: str,
        params: Sequence[sp.Symbol],
        input_symbols: Sequence[sp.Symbol],
        target_symbols: Sequence[sp.Symbol],
        outputs: Sequence[sp.Expr],
        loss: str,
        data: Dataset,
        *,
        arch: Mapping[str, Any],
        act: Activation | None = None,
        constants: Mapping[sp.Symbol, float | None] | None = None,
        unit: UnitTemplate | None = None,
    ) -> None:
        self.kind = kind
        self.unit = unit
        self.params: tuple[sp.Symbol, ...] = tuple(params)
        self.input_symbols: tuple[sp.Symbol, ...] = tuple(input_symbols)
        self.target_symbols: tuple[sp.Symbol, ...] = tuple(target_symbols)
        self.outputs: tuple[sp.Expr, ...] = tuple(outputs)
        self.loss = loss
        self.arch = dict(arch)
        self.activation = act
        self.constants: dict[sp.Symbol, float | None] = dict(constants or {})
        self.output_symbols: tuple[sp.Symbol, ...] = tuple(sp.Symbol(f"f_{k}") for k in range(len(outputs)))
        self.loss_of_output: sp.Expr = _loss_expr(loss, self.output_symbols, self.target_symbols)
        ds = as_dataset(data.X, data.Y, input_dim=len(self.input_symbols), output_dim=len(self.outputs))
        self._check_labels(ds.Y)
        self.X: np.ndarray = ds.X
        self.Y: np.ndarray = ds.Y
        self.data_name = data.name
        self.data_info = dict(data.info)

    def _check_labels(self, Y: np.ndarray) -> None:
        if self.loss == "logistic" and not np.all(np.isin(Y, (-1.0, 1.0))):
            raise EosInputError("the logistic loss needs labels -1 or +1")

    # --- the Potential-like interface --------------------------------------------------
    @property
    def dim(self) -> int:
        """Number of parameters :math:`n`."""
        return len(self.params)

    @property
    def input_dim(self) -> int:
        """Input dimension :math:`d`."""
        return len(self.input_symbols)

    @property
    def output_dim(self) -> int:
        """Number of outputs :math:`K`."""
        return len(self.outputs)

    @property
    def n_examples(self) -> int:
        """Number of data points :math:`N`."""
        return int(self.X.shape[0])

    @property
    def constant_symbols(self) -> tuple[sp.Symbol, ...]:
        """Named constants in order (the start of the runtime array ``c``)."""
        return tuple(self.constants)

    @property
    def name(self) -> str:
        """A short description, e.g. ``two-layer(width=16, tanh, d=2, bias, mse) on teacher[256]``."""
        a = self.arch
        if self.kind == "chain":
            core = f"chain(depth={a['depth']}, {self.loss})"
        else:
            act = self.activation.name if self.activation else "identity"
            bits = [f"width={a['width']}", act, f"d={self.input_dim}"]
            if self.output_dim > 1:
                bits.append(f"K={self.output_dim}")
            bits.append("bias" if a.get("bias") else "no bias")
            bits.append(self.loss)
            core = f"{self.kind}({', '.join(bits)})"
        return f"{core} on {self.data_name}[{self.n_examples}]"

    @cached_property
    def expr(self) -> sp.Expr:
        r"""The per-example loss :math:`\ell(f(x;\theta), y)` with the data point as symbols."""
        return self.loss_of_output.xreplace(dict(zip(self.output_symbols, self.outputs, strict=True)))

    @cached_property
    def key(self) -> str:
        """Hash of everything that changes the generated code (never of the data values)."""
        parts = [
            "symbolic-net",
            self.kind,
            "units" if self.unit is not None else "generic",
            repr(sorted(self.arch.items())),
            self.loss,
            *(sp.srepr(o) for o in self.outputs),
            sp.srepr(self.loss_of_output),
            "#",
            *(p.name for p in self.params),
            "#",
            *(c.name for c in self.constants),
            "#",
            *(s.name for s in self.input_symbols),
            *(s.name for s in self.target_symbols),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]

    @cached_property
    def direction_symbols(self) -> tuple[sp.Symbol, ...]:
        r"""Symbols :math:`u_0, \dots, u_{n-1}` of the direction in :math:`\nabla^3 L[u, u]`."""
        taken = {s.name for s in (*self.params, *self.input_symbols, *self.target_symbols, *self.constants)}
        prefix = "u" if not any(n.startswith("u_") for n in taken) else "dir"
        return tuple(sp.Symbol(f"{prefix}_{i}") for i in range(self.dim))

    def constant_values(self, overrides: Mapping[str, float] | None = None) -> list[float]:
        """The runtime array ``c``: named constants (in order), then the data, example by example.

        Each example contributes its input :math:`x_i` (``d`` numbers) then its target
        :math:`y_i` (``K`` numbers).

        Raises:
            EosInputError: an unknown constant name, or a constant without a value.
        """
        overrides = dict(overrides or {})
        unknown = set(overrides) - {s.name for s in self.constants}
        if unknown:
            have = [s.name for s in self.constants]
            raise EosInputError(f"unknown constant(s) {sorted(unknown)}; this net has {have or 'none'}")
        vals = []
        for s, v in self.constants.items():
            v = overrides.get(s.name, v)
            if v is None:
                raise EosInputError(f"constant {s} has no value; set it (e.g. --set {s}=1)")
            vals.append(finite_float(f"constant {s}", v))
        data = np.concatenate([self.X, self.Y], axis=1).ravel()
        return vals + data.tolist()

    def with_constants(self, **values: float | None) -> SymbolicNet:
        """A copy with the named constants set (same kernels)."""
        unknown = set(values) - {s.name for s in self.constants}
        if unknown:
            have = [s.name for s in self.constants]
            raise EosInputError(f"unknown constant(s) {sorted(unknown)}; this net has {have or 'none'}")
        new = copy.copy(self)
        new.constants = {
            s: (None if values.get(s.name, v) is None else finite_float(f"constant {s}", values.get(s.name, v)))
            for s, v in self.constants.items()
        }
        return new

    def with_data(self, X: Any, Y: Any = None, name: str | None = None) -> SymbolicNet:
        """A copy of the net on other data (same kernels: nothing is derived or compiled again).

        Args:
            X: a :class:`~eostheory.symbolic.data.Dataset`, or the inputs ``(N, d)``.
            Y: the targets ``(N, K)`` when ``X`` is an array.
            name: a name for the data.

        Raises:
            EosInputError: shapes that do not fit the net, or invalid labels.
        """
        if isinstance(X, Dataset):
            data = X
        else:
            if Y is None:
                raise EosInputError("with_data needs targets Y")
            data = as_dataset(X, Y, input_dim=self.input_dim, output_dim=self.output_dim)
        ds = as_dataset(data.X, data.Y, input_dim=self.input_dim, output_dim=self.output_dim)
        self._check_labels(ds.Y)
        new = copy.copy(self)
        new.X, new.Y = ds.X, ds.Y
        new.data_name = name or data.name
        new.data_info = dict(data.info)
        return new

    # --- per-example derivatives (sympy) -------------------------------------------
    @cached_property
    def _jacobian(self) -> sp.Matrix:
        return output_jacobian(self.params, self.outputs)

    def jacobian(self) -> sp.Matrix:
        r""":math:`\partial f_k / \partial \theta_i` per example (a :math:`K \times n` matrix)."""
        return self._jacobian

    @cached_property
    def _output_hessian(self) -> tuple[tuple[int, int, int, sp.Expr], ...]:
        return output_hessian_entries(self.params, self._jacobian)

    def output_hessian(self) -> tuple[tuple[int, int, int, sp.Expr], ...]:
        r"""The non-zero entries :math:`(k, i, j, \partial^2 f_k/\partial\theta_i\partial\theta_j)`, :math:`i \le j`."""
        return self._output_hessian

    @cached_property
    def _output_third(self) -> sp.Matrix:
        return output_third_contraction(self.params, self._output_hessian, self.direction_symbols, self.output_dim)

    def output_third(self) -> sp.Matrix:
        r""":math:`\nabla^3 f_k[u, u] = \nabla_\theta\,(u^\top \nabla^2 f_k\, u)` per example (:math:`K \times n`)."""
        return self._output_third

    @cached_property
    def _loss_derivatives(self) -> tuple[sp.Expr, list[sp.Expr], list[list[sp.Expr]], list[list[list[sp.Expr]]]]:
        F = self.output_symbols
        K = len(F)
        ell = self.loss_of_output
        d1 = [sp.diff(ell, F[k]) for k in range(K)]
        d2 = [[sp.diff(d1[k], F[m]) for m in range(K)] for k in range(K)]
        d3 = [[[sp.diff(d2[k][m], F[q]) for q in range(K)] for m in range(K)] for k in range(K)]
        return ell, d1, d2, d3

    def loss_derivatives(self) -> tuple[sp.Expr, list[sp.Expr], list[list[sp.Expr]], list[list[list[sp.Expr]]]]:
        r""":math:`\ell` and its first three derivatives in the outputs :attr:`output_symbols`."""
        return self._loss_derivatives

    # --- the naive reference -------------------------------------------------------
    def full_potential(self) -> Any:
        r"""The naive full-data :class:`~eostheory.symbolic.Potential`: :math:`L(\theta)` with the
        data substituted as numbers, :math:`\frac1N\sum_i \ell(\theta; x_i, y_i)`.

        Its expression grows with :math:`N` and its derivation does not scale; it is the
        reference and the baseline of the benchmark, not the way to compute.
        """
        from eostheory.symbolic.potential import Potential

        ell = elementary(self.expr)
        terms = []
        for x, y in zip(self.X, self.Y, strict=True):
            sub = {s: sp.Float(float(v), 17) for s, v in zip(self.input_symbols, x, strict=True)}
            sub.update({s: sp.Float(float(v), 17) for s, v in zip(self.target_symbols, y, strict=True)})
            terms.append(ell.xreplace(sub))
        total = sp.Add(*terms) / self.n_examples
        return Potential(total, params=self.params, constants=self.constants, name=f"full {self.name}")

    # --- numbers ---------------------------------------------------------------------
    def unpack(self, w: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
        """Split a parameter vector into named arrays.

        Two-layer nets: ``W`` (``m x d``), ``b`` (``m``, absent without biases), ``A``
        (``K x m``); chains: ``w`` (``L``, first layer first).
        """
        v = np.asarray(w, dtype=np.float64).reshape(-1)
        if v.shape[0] != self.dim:
            raise EosInputError(f"parameter vector has length {v.shape[0]}, the net has {self.dim} parameters")
        if self.kind == "chain":
            return {"w": v.copy()}
        m, d, K = self.arch["width"], self.input_dim, self.output_dim
        out = {"W": v[: m * d].reshape(m, d).copy()}
        pos = m * d
        if self.arch.get("bias"):
            out["b"] = v[pos : pos + m].copy()
            pos += m
        out["A"] = v[pos : pos + K * m].reshape(K, m).copy()
        return out

    def pack(self, **arrays: Any) -> np.ndarray:
        """Inverse of :meth:`unpack`."""
        if self.kind == "chain":
            return np.asarray(arrays["w"], dtype=np.float64).reshape(-1).copy()
        parts = [np.asarray(arrays["W"], dtype=np.float64).reshape(-1)]
        if self.arch.get("bias"):
            parts.append(np.asarray(arrays["b"], dtype=np.float64).reshape(-1))
        parts.append(np.asarray(arrays["A"], dtype=np.float64).reshape(-1))
        v = np.concatenate(parts)
        if v.shape[0] != self.dim:
            raise EosInputError(f"arrays give {v.shape[0]} parameters, the net has {self.dim}")
        return v

    def initial_point(self, seed: int | None = 0, scale: float = 1.0) -> np.ndarray:
        r"""A seeded random initialization.

        Two-layer nets: :math:`W_{jk} \sim \mathcal N(0, 1/d)`, :math:`b = 0`,
        :math:`A_{kj} \sim \mathcal N(0, 1/m)`; chains: :math:`w_i = 1 + 0.1\,\xi_i`; all times ``scale``.
        """
        scale = finite_float("init scale", scale)
        rng = np.random.default_rng(None if seed is None else int(seed))
        if self.kind == "chain":
            return scale * (1.0 + 0.1 * rng.standard_normal(self.dim))
        m, d, K = self.arch["width"], self.input_dim, self.output_dim
        arrays = {"W": rng.standard_normal((m, d)) / math.sqrt(d), "A": rng.standard_normal((K, m)) / math.sqrt(m)}
        if self.arch.get("bias"):
            arrays["b"] = np.zeros(m)
        return scale * self.pack(**arrays)

    # --- compiled kernels --------------------------------------------------------------
    def kernel_source(self, backend_name: str) -> str:
        """Source of the kernel module (cached on disk by :attr:`key`); see :mod:`eostheory.compile._netkernels`."""
        from eostheory.compile._netkernels import net_source

        return net_source(self, backend_name)

    # --- printing -------------------------------------------------------------------
    def equations(self) -> str:
        """The model, the loss and the conserved quantities, one per line."""
        lines = [f"model: {self.name}"]
        if self.dim <= 12:
            for k, f in enumerate(self.outputs):
                lines.append(f"f_{k}(x) = {f}")
        else:
            a = self.arch
            act = self.activation.name if self.activation else "identity"
            b = " + b_j" if a.get("bias") else ""
            if self.kind == "chain":
                lines.append(f"f(x) = w_{self.dim - 1} * ... * w_0 * x")
            elif self.output_dim == 1:
                lines.append(f"f(x) = sum_j a_j {act}(sum_k w_j_k x_k{b}), j < {a['width']}, k < {self.input_dim}")
            else:
                lines.append(f"f_k(x) = sum_j a_k_j {act}(sum_l w_j_l x_l{b}), j < {a['width']}")
        lines.append(f"loss per example: {self.loss_of_output}  ({self.loss})")
        lines.append(f"L(theta) = (1/N) sum_i loss(f(x_i), y_i), N = {self.n_examples}")
        lines.append(
            f"params ({self.dim}): {', '.join(p.name for p in self.params[:12])}{' ...' if self.dim > 12 else ''}"
        )
        if self.constants:
            vals = ", ".join(f"{s}={'symbolic' if v is None else f'{v:g}'}" for s, v in self.constants.items())
            lines.append(f"constants: {vals}")
        try:
            cq = conserved_quantities(self, cross=False)
        except EosInputError:
            cq = []
        for q in cq[:4]:
            state = "conserved under gradient flow" if q.conserved else f"d/dt = {q.rate} (not conserved)"
            lines.append(f"{q.name} = {q.expr}: {state}")
        if len(cq) > 4:
            lines.append(f"... {len(cq) - 4} more such quantities")
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX of the per-example loss."""
        return r"\ell(\theta; x, y) = " + sp.latex(self.expr)

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"SymbolicNet({self.name!r}, params={self.dim})"


# ----------------------------------------------------------------------- constructors
NET_KINDS: dict[str, str] = {
    "two-layer": "f(x) = sum_j a_j sigma(w_j.x + b_j)",
    "two-layer-linear": "f(x) = A W x",
    "chain": "f(x) = w_L ... w_1 x (deep scalar linear chain)",
}


def _data_for(data: Any, X: Any, Y: Any) -> Dataset:
    if data is not None and (X is not None or Y is not None):
        raise EosInputError("give either data= or X=/Y=, not both")
    if data is None:
        if X is None or Y is None:
            raise EosInputError("a net needs data: data=Dataset or X= and Y= arrays")
        return Dataset(_array(X), _array(Y), "data")
    if isinstance(data, Dataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return Dataset(_array(data[0]), _array(data[1]), "data")
    raise EosInputError(f"data must be a Dataset or a pair (X, Y), got {type(data).__name__}")


def _array(a: Any) -> np.ndarray:
    try:
        return np.array(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise EosInputError("data must be numeric arrays: X of shape (N, d) and Y of shape (N, K)") from None


def _data_dims(ds: Dataset) -> tuple[int, int]:
    X = np.asarray(ds.X)
    Y = np.asarray(ds.Y)
    d = 1 if X.ndim == 1 else X.shape[-1]
    K = 1 if Y.ndim == 1 else Y.shape[-1]
    return d, K


def _constants(constants: Mapping[str | sp.Symbol, float | None] | None) -> dict[sp.Symbol, float | None]:
    out: dict[sp.Symbol, float | None] = {}
    for k, v in (constants or {}).items():
        sym = k if isinstance(k, sp.Symbol) else sp.Symbol(str(k))
        if not sym.name.isidentifier():
            raise EosInputError(f"constant name {sym.name!r} is not a name")
        out[sym] = None if v is None else finite_float(f"constant {sym}", v)
    return out


def two_layer(
    width: int,
    data: Dataset | tuple[Any, Any] | None = None,
    *,
    X: Any = None,
    Y: Any = None,
    activation: Any = "tanh",
    bias: bool = True,
    loss: str = "mse",
    input_dim: int | None = None,
    output_dim: int | None = None,
    constants: Mapping[str | sp.Symbol, float | None] | None = None,
) -> SymbolicNet:
    r"""Two-layer net :math:`f_k(x) = \sum_{j<m} a_{kj}\, \sigma(w_j^\top x + b_j)`.

    Parameters (in order): :math:`W` row by row (``w_j_l``), the biases ``b_j`` (when
    ``bias``), then the output weights (``a_j``; ``a_k_j`` for vector outputs).

    Args:
        width: number of hidden units :math:`m \ge 1`.
        data: a :class:`~eostheory.symbolic.data.Dataset` or a pair ``(X, Y)``; or pass ``X=``, ``Y=``.
        activation: see :func:`activation`.
        bias: hidden biases :math:`b_j`.
        loss: ``"mse"`` or ``"logistic"``.
        input_dim, output_dim: expected :math:`d`, :math:`K` (checked against the data).
        constants: values of symbols a custom activation uses.

    Raises:
        EosInputError: width < 1, unsupported activation or loss, data of the wrong shape.

    Examples:
        >>> import numpy as np
        >>> net = two_layer(2, X=np.eye(2), Y=[1.0, -1.0], activation="tanh")
        >>> net.dim, [p.name for p in net.params]
        (8, ['w_0_0', 'w_0_1', 'w_1_0', 'w_1_1', 'b_0', 'b_1', 'a_0', 'a_1'])
    """
    m = positive_int("width", width)
    ds = _data_for(data, X, Y)
    d, K = _data_dims(ds)
    if input_dim is not None and positive_int("input_dim", input_dim) != d:
        raise EosInputError(f"input_dim={input_dim} but the inputs have dimension {d} (X shape {np.shape(ds.X)})")
    if output_dim is not None and positive_int("output_dim", output_dim) != K:
        raise EosInputError(f"output_dim={output_dim} but the targets have dimension {K} (Y shape {np.shape(ds.Y)})")
    consts = _constants(constants)
    act = _resolve_activation(activation, tuple(consts))
    unused = set(consts) - act.expr.free_symbols
    if unused:
        raise EosInputError(f"constant(s) {sorted(map(str, unused))} are not used by the activation {act.expr}")
    xs = [sp.Symbol(f"x_{k}") for k in range(d)]
    ys = [sp.Symbol(f"y_{k}") for k in range(K)]
    W = [[sp.Symbol(f"w_{j}_{k}") for k in range(d)] for j in range(m)]
    b = [sp.Symbol(f"b_{j}") for j in range(m)] if bias else [sp.Integer(0)] * m
    A = [[sp.Symbol(f"a_{j}") if K == 1 else sp.Symbol(f"a_{k}_{j}") for j in range(m)] for k in range(K)]
    hidden = [act(sp.Add(*[W[j][k] * xs[k] for k in range(d)]) + b[j]) for j in range(m)]
    outputs = [sp.Add(*[A[k][j] * hidden[j] for j in range(m)]) for k in range(K)]
    params = [s for row in W for s in row] + (list(b) if bias else []) + [s for row in A for s in row]
    kind = "two-layer-linear" if act.name == "identity" and not bias else "two-layer"
    arch = {"width": m, "input_dim": d, "output_dim": K, "bias": bool(bias), "activation": sp.srepr(act.expr)}
    # one hidden unit as a template: g_k = a_k sigma(w.x + b), summed over the units
    lw = [sp.Symbol(f"unit_w_{k}") for k in range(d)]
    lb = [sp.Symbol("unit_b")] if bias else []
    la = [sp.Symbol(f"unit_a_{k}") for k in range(K)]
    hidden_u = act(sp.Add(*[lw[k] * xs[k] for k in range(d)]) + (lb[0] if bias else 0))
    pos = {p: i for i, p in enumerate(params)}
    index = np.array(
        [
            [pos[W[j][k]] for k in range(d)] + ([pos[b[j]]] if bias else []) + [pos[A[k][j]] for k in range(K)]
            for j in range(m)
        ],
        dtype=np.int64,
    )
    local = (*lw, *lb, *la)
    unit = UnitTemplate(
        local,
        tuple(la[k] * hidden_u for k in range(K)),
        index,
        tuple(sp.Symbol(f"unit_u_{i}") for i in range(len(local))),
    )
    return SymbolicNet(kind, params, xs, ys, outputs, loss, ds, arch=arch, act=act, constants=consts, unit=unit)


def two_layer_linear(
    width: int,
    data: Dataset | tuple[Any, Any] | None = None,
    *,
    X: Any = None,
    Y: Any = None,
    input_dim: int | None = None,
    output_dim: int | None = None,
) -> SymbolicNet:
    r"""Two-layer linear net :math:`f(x) = A W x` (:math:`W \in \mathbb R^{m\times d}`,
    :math:`A \in \mathbb R^{K\times m}`), MSE loss; see :func:`minimum_theory`."""
    return two_layer(
        width, data, X=X, Y=Y, activation="identity", bias=False, input_dim=input_dim, output_dim=output_dim
    )


#: Deepest :func:`linear_chain` with compiled symbolic kernels (derivation time grows like depth^5).
MAX_CHAIN_DEPTH = 16


def linear_chain(
    depth: int,
    data: Dataset | tuple[Any, Any] | None = None,
    *,
    X: Any = None,
    Y: Any = None,
    loss: str = "mse",
) -> SymbolicNet:
    r"""Deep scalar linear chain :math:`f(x) = w_{L-1} \cdots w_1 w_0\, x` (scalar input and output).

    With the single data point :math:`(x, y) = (1, 1)` and depth 2 this is the scalar
    factorization :math:`\tfrac12 (w_0 w_1 - 1)^2`.

    The compiled kernels spell out every third derivative of the product, whose size
    grows like :math:`L^5`: depth 16 takes about half a minute to derive and as long to
    compile the first time (both cached afterwards), so depths above
    :data:`MAX_CHAIN_DEPTH` are refused rather than left running for hours.

    Raises:
        EosInputError: depth < 1 or above :data:`MAX_CHAIN_DEPTH`, data not scalar.

    Examples:
        >>> net = linear_chain(2, X=[1.0], Y=[1.0])
        >>> net.expr
        (w_0*w_1*x_0 - y_0)**2/2
    """
    L = positive_int("depth", depth)
    if L > MAX_CHAIN_DEPTH:
        raise EosInputError(
            f"linear_chain depth {L} is above the limit of {MAX_CHAIN_DEPTH} for symbolic kernels (their "
            f"third-derivative code grows like depth^5: depth {MAX_CHAIN_DEPTH} already takes about a minute "
            "to derive and compile); use a shallower chain, or a deep linear network on the torch path"
        )
    ds = _data_for(data, X, Y)
    d, K = _data_dims(ds)
    if d != 1 or K != 1:
        raise EosInputError(f"a linear chain has scalar inputs and outputs; the data have d={d}, K={K}")
    ws = [sp.Symbol(f"w_{i}") for i in range(L)]
    x, y = sp.Symbol("x_0"), sp.Symbol("y_0")
    f = sp.Mul(*reversed(ws)) * x
    arch = {"depth": L, "input_dim": 1, "output_dim": 1}
    return SymbolicNet("chain", ws, [x], [y], [f], loss, ds, arch=arch)


def make_net(
    kind: str,
    data: Dataset,
    *,
    width: int = 4,
    depth: int = 2,
    activation: Any = "tanh",
    bias: bool = True,
    loss: str = "mse",
    constants: Mapping[str | sp.Symbol, float | None] | None = None,
) -> SymbolicNet:
    """A net by kind name (see :data:`NET_KINDS`); used by the command line.

    Raises:
        EosInputError: unknown kind or invalid settings.
    """
    if constants and kind != "two-layer":
        raise EosInputError(f"a {kind} net has no named constants")
    if kind == "two-layer":
        return two_layer(width, data, activation=activation, bias=bias, loss=loss, constants=constants)
    if kind == "two-layer-linear":
        if loss != "mse":
            raise EosInputError("two-layer-linear nets use the mse loss")
        return two_layer_linear(width, data)
    if kind == "chain":
        return linear_chain(depth, data, loss=loss)
    raise EosInputError(f"unknown net {kind!r}; choose from {', '.join(NET_KINDS)}")


# ------------------------------------------------------------- conserved quantities
@dataclass(frozen=True)
class ConservedQuantity:
    r"""A candidate invariant :math:`q(\theta)` of gradient flow and its derived rate.

    Attributes:
        name: e.g. ``balance_3`` or ``balance_0_2``.
        expr: :math:`q(\theta)` in the net's parameters.
        rate: per example, :math:`\frac{d q}{dt}` under gradient flow on that example's
            loss, :math:`-\nabla q\cdot\nabla\ell = -\sum_k r_k\, \nabla q\cdot\nabla f_k` with
            :math:`r_k = \partial\ell/\partial f_k` kept as symbols ``r_k`` (so the result holds
            for any loss). Zero means conserved for every data set.
        params: the net's parameters (the order of :meth:`__call__`'s argument).
    """

    name: str
    expr: sp.Expr
    rate: sp.Expr
    params: tuple[sp.Symbol, ...] = field(repr=False)

    @property
    def conserved(self) -> bool:
        """True when the derived rate vanishes identically."""
        return bool(self.rate == 0)

    def __call__(self, w: Sequence[float] | np.ndarray) -> float:
        """:math:`q` at a parameter vector."""
        v = np.asarray(w, dtype=np.float64).reshape(-1)
        return float(self.expr.xreplace({p: sp.Float(float(x)) for p, x in zip(self.params, v, strict=True)}))


def _rate(
    net: SymbolicNet, q: sp.Expr, residuals: Sequence[sp.Symbol], subs: tuple[sp.Symbol, sp.Expr] | None = None
) -> sp.Expr:
    J = net.jacobian()
    total = sp.Integer(0)
    for i, p in enumerate(net.params):
        dq = sp.diff(q, p)
        if dq == 0:
            continue
        for k in range(net.output_dim):
            if J[k, i] != 0:
                total += -residuals[k] * dq * J[k, i]
    rate = sp.expand(total)
    if rate != 0 and subs is not None:  # write it with the unit's pre-activation z_j
        rate = sp.expand(rate.subs(*subs))
    if rate == 0:
        return rate
    # numerically non-zero at a random point: certainly not conserved, show it factored
    rng = np.random.default_rng(0)
    point = {s: sp.Float(float(rng.uniform(0.3, 1.3))) for s in rate.free_symbols}
    if abs(complex(rate.xreplace(point).evalf())) > 1e-9:
        return sp.factor(rate)
    simple = sp.simplify(rate)
    return simple if simple != 0 else sp.Integer(0)


def conserved_quantities(net: SymbolicNet, *, cross: bool = True) -> list[ConservedQuantity]:
    r"""Balancedness quantities of ``net`` and their symbolic rates under gradient flow.

    * chains: :math:`w_i^2 - w_{i+1}^2`;
    * two-layer nets: per unit :math:`q_j = \|a_j\|^2 - (\|w_j\|^2 + b_j^2)/k` where
      :math:`k` is the homogeneity degree of :math:`\sigma` (:math:`z\sigma' = k\sigma`;
      :math:`k = 1` is used when :math:`\sigma` is not homogeneous, and the rate then
      shows the drift); for linear activations (``cross``) also the off-diagonal entries
      :math:`a_j^\top a_l - (w_j^\top w_l + b_j b_l)` of the conserved matrix
      :math:`A^\top A - W W^\top - b b^\top`.

    Each rate is derived by sympy from the per-example Jacobian (see
    :class:`ConservedQuantity`); a zero rate proves conservation under gradient flow on
    any data, since the gradient of the loss is an average of per-example gradients.

    Examples:
        >>> import numpy as np
        >>> net = linear_chain(3, X=[1.0], Y=[2.0])
        >>> [(q.name, q.conserved) for q in conserved_quantities(net)]
        [('balance_0_1', True), ('balance_1_2', True)]
        >>> q = conserved_quantities(two_layer(1, X=[[1.0]], Y=[1.0], bias=False))[0]
        >>> q.expr, q.conserved
        (a_0**2 - w_0_0**2, False)
    """
    r = [sp.Symbol(f"r_{k}") for k in range(net.output_dim)]
    out: list[ConservedQuantity] = []
    if net.kind == "chain":
        w = net.params
        for i in range(len(w) - 1):
            q = w[i] ** 2 - w[i + 1] ** 2
            out.append(ConservedQuantity(f"balance_{i}_{i + 1}", q, _rate(net, q, r), net.params))
        return out
    parts = net.unpack(np.arange(net.dim, dtype=float))  # parameter indices by block
    P = net.params
    m = net.arch["width"]
    Widx, Aidx = parts["W"].astype(int), parts["A"].astype(int)
    bidx = parts["b"].astype(int) if "b" in parts else None
    act = net.activation
    k = act.homogeneity if act is not None and act.homogeneity is not None else sp.Integer(1)

    def first(j: int) -> list[sp.Symbol]:
        sy = [P[i] for i in Widx[j]]
        if bidx is not None:
            sy.append(P[bidx[j]])
        return sy

    xs = net.input_symbols
    for j in range(m):
        a2 = sp.Add(*[P[i] ** 2 for i in Aidx[:, j]])
        w2 = sp.Add(*[s**2 for s in first(j)])
        q = a2 - w2 / k
        # eliminate one first-layer weight in favour of z_j = w_j.x + b_j, so the rate reads in z_j
        zj = sp.Symbol(f"z_{j}")
        wj = [P[i] for i in Widx[j]]
        rest = sp.Add(*[wj[l] * xs[l] for l in range(1, len(wj))])
        if bidx is not None:
            subs = (P[bidx[j]], zj - rest - wj[0] * xs[0])
        else:
            subs = (wj[0], (zj - rest) / xs[0])
        out.append(ConservedQuantity(f"balance_{j}", q, _rate(net, q, r, subs), net.params))
    linear = act is None or act.name == "identity"
    if cross and linear:
        for j in range(m):
            for l in range(j + 1, m):
                aa = sp.Add(*[P[i1] * P[i2] for i1, i2 in zip(Aidx[:, j], Aidx[:, l], strict=True)])
                ww = sp.Add(*[s1 * s2 for s1, s2 in zip(first(j), first(l), strict=True)])
                q = aa - ww
                out.append(ConservedQuantity(f"balance_{j}_{l}", q, _rate(net, q, r), net.params))
    return out


# --------------------------------------------------------------- minima of linear nets
@dataclass(frozen=True)
class MinimumTheory:
    r"""Sharpness at global minima of a linear chain or a two-layer linear net (MSE loss).

    With input second moment :math:`\Sigma = \frac1N\sum_i x_i x_i^\top` and the
    end-to-end least-squares solution :math:`M^* = (\frac1N\sum_i y_i x_i^\top)\Sigma^{-1}`,
    every global minimum has zero gradient-weighted residual, so its Hessian is the
    Gauss--Newton matrix and

    * chain (:math:`f = w_{L-1}\cdots w_0 x`, :math:`s = \overline{x^2}`,
      :math:`p^* = \overline{xy}/s`): :math:`S = s \sum_i \prod_{j\ne i} w_j^2`, minimal at the
      balanced :math:`|w_i| = |p^*|^{1/L}` with :math:`S_{\min} = s L |p^*|^{2 - 2/L}`;
    * two-layer linear (:math:`f = A W x`): :math:`S = \lambda_{\max}\big(\Sigma^{1/2} W^\top W
      \Sigma^{1/2} \otimes I_K + \Sigma \otimes A A^\top\big)`, which for isotropic inputs
      :math:`\Sigma = sI` is :math:`s(\|A\|_2^2 + \|W\|_2^2)`; minimal at the balanced
      :math:`A = U S^{1/2}`, :math:`W = S^{1/2} V^\top` (:math:`M^* = U S V^\top`) with
      :math:`S_{\min} = 2 s\, \sigma_{\max}(M^*)`.

    Gradient descent with step :math:`\eta` cannot converge to a minimum with
    :math:`S > 2/\eta` (linear instability), hence not to any global minimum once
    :math:`\eta > \eta^* = 2/S_{\min}`.

    Attributes:
        kind: ``"chain"`` or ``"two-layer-linear"``.
        formula: the closed form of :math:`S` at a global minimum, in words.
        sharpness_expr: the same as a sympy expression in the parameters (chains, and
            two-layer linear nets with scalar input and output), else ``None``.
        second_moment: :math:`\Sigma` (``d x d``).
        end_to_end: :math:`M^*` (``K x d``).
        isotropic: whether :math:`\Sigma = sI` (to 1e-9), needed for :attr:`min_sharpness`
            of two-layer linear nets.
        min_sharpness: :math:`S_{\min}` (``None`` when not available in closed form).
        balanced_minimum: a parameter vector of a balanced minimum (``None`` likewise).
        eta_critical: :math:`2/S_{\min}`.
    """

    kind: str
    formula: str
    sharpness_expr: sp.Expr | None
    second_moment: np.ndarray
    end_to_end: np.ndarray
    isotropic: bool
    min_sharpness: float | None
    balanced_minimum: np.ndarray | None
    eta_critical: float | None
    net: SymbolicNet = field(repr=False)

    def sharpness_at(self, w: Sequence[float] | np.ndarray) -> float:
        """The closed-form sharpness at ``w``, assumed to be a global minimum."""
        parts = self.net.unpack(w)
        Sig = self.second_moment
        if self.kind == "chain":
            ws = parts["w"]
            prods = [np.prod(np.delete(ws, i)) ** 2 for i in range(ws.shape[0])]
            return float(Sig[0, 0] * np.sum(prods))
        A, W = parts["A"], parts["W"]
        vals, vecs = np.linalg.eigh(Sig)
        half = vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T
        K = A.shape[0]
        M = np.kron(half @ W.T @ W @ half, np.eye(K)) + np.kron(Sig, A @ A.T)
        return float(np.linalg.eigvalsh(M)[-1])

    def eta_max(self, w: Sequence[float] | np.ndarray) -> float:
        r"""The step size :math:`2/S(w)` above which GD cannot converge to the minimum ``w``."""
        s = self.sharpness_at(w)
        return math.inf if s <= 0 else 2.0 / s


def minimum_theory(net: SymbolicNet) -> MinimumTheory:
    r"""Closed forms at the global minima of a linear chain or two-layer linear net (see :class:`MinimumTheory`).

    Raises:
        EosInputError: another kind of net, a loss other than MSE, singular input second
            moment, or a two-layer linear net narrower than the rank of :math:`M^*`.

    Examples:
        >>> th = minimum_theory(linear_chain(2, X=[1.0], Y=[1.0]))
        >>> th.min_sharpness, th.eta_critical, th.sharpness_at([2.0, 0.5])
        (2.0, 1.0, 4.25)
    """
    if net.kind not in ("chain", "two-layer-linear"):
        raise EosInputError(
            "closed-form minima are known for linear chains and two-layer linear nets (no bias, identity activation)"
        )
    if net.loss != "mse":
        raise EosInputError("closed-form minima need the mse loss")
    X, Y = net.X, net.Y
    N = X.shape[0]
    Sig = X.T @ X / N
    try:
        Sinv = np.linalg.inv(Sig)
    except np.linalg.LinAlgError:
        raise EosInputError("the inputs have a singular second moment; the minima are not isolated") from None
    if np.linalg.cond(Sig) > 1e12:
        raise EosInputError("the inputs have a singular second moment; the minima are not isolated")
    Mstar = (Y.T @ X / N) @ Sinv
    d = Sig.shape[0]
    s = float(np.trace(Sig) / d)
    isotropic = bool(np.max(np.abs(Sig - s * np.eye(d))) <= 1e-9 * max(1.0, s))
    if net.kind == "chain":
        L = net.dim
        w = net.params
        s_sym = sp.Float(float(Sig[0, 0]))
        expr = s_sym * sp.Add(*[sp.Mul(*[w[j] ** 2 for j in range(L) if j != i]) for i in range(L)])
        p = float(Mstar[0, 0])
        smin = float(Sig[0, 0] * L * abs(p) ** (2 - 2 / L))
        bal = np.full(L, abs(p) ** (1 / L))
        bal[0] *= 1.0 if p >= 0 else -1.0
        formula = "S = s * sum_i prod_{j != i} w_j^2, s = mean(x^2)"
        eta = math.inf if smin == 0 else 2.0 / smin
        return MinimumTheory("chain", formula, expr, Sig, Mstar, True, smin, bal, eta, net)
    m = net.arch["width"]
    U, sv, Vt = np.linalg.svd(Mstar)
    rank = int(np.sum(sv > 1e-12 * max(1.0, sv[0] if sv.size else 0.0)))
    if rank > m:
        raise EosInputError(
            f"width {m} is below the rank {rank} of the least-squares solution: the minima are not the "
            "unconstrained ones covered by the closed form"
        )
    expr = None
    K = net.output_dim
    if K == 1 and d == 1:
        parts = net.unpack(np.arange(net.dim, dtype=float))
        P = net.params
        expr = sp.Float(s) * (
            sp.Add(*[P[int(i)] ** 2 for i in parts["A"].ravel()])
            + sp.Add(*[P[int(i)] ** 2 for i in parts["W"].ravel()])
        )
    formula = (
        "S = lambda_max(Sigma^1/2 W^T W Sigma^1/2 (x) I + Sigma (x) A A^T); isotropic Sigma = sI: s(|A|_2^2 + |W|_2^2)"
    )
    if not isotropic:
        return MinimumTheory("two-layer-linear", formula, expr, Sig, Mstar, False, None, None, None, net)
    A = np.zeros((K, m))
    W = np.zeros((m, d))
    root = np.sqrt(sv[:rank])
    A[:, :rank] = U[:, :rank] * root
    W[:rank, :] = root[:, None] * Vt[:rank, :]
    smin = float(2 * s * sv[0]) if sv.size else 0.0
    bal = net.pack(W=W, A=A)
    eta = math.inf if smin == 0 else 2.0 / smin
    return MinimumTheory("two-layer-linear", formula, expr, Sig, Mstar, True, smin, bal, eta, net)
