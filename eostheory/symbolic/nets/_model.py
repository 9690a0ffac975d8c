r"""The model :class:`SymbolicNet` and its constructors (architectures: two-layer, two-layer linear, linear chain).

The per-example loss :math:`\ell(f(x;\theta), y)` with the data point as symbols, its output
derivatives :math:`\nabla f`, :math:`\nabla^2 f`, :math:`\nabla^3 f[u,u]` (per example; the sum over the
data is done numerically by the compiled kernels).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._validate import finite_float, positive_int
from eostheory.symbolic.data import Dataset, as_dataset
from eostheory.symbolic.nets._activations import Activation, _resolve_activation, elementary, softplus
from eostheory.symbolic.nets._theory import conserved_quantities

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
    ``compile_potential``): its :attr:`kernel_family` ``"net"`` tells the compiler to
    generate its kernel module from the per-example loss (the data summed inside the kernel).

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

    #: The kernel generator that compiles this model (``eostheory.compile`` owns the generators).
    kernel_family: ClassVar[str] = "net"

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
