r"""Theory of symbolic nets: conserved quantities under gradient flow and the sharpness of global minima."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError

if TYPE_CHECKING:  # annotations only: the model module imports this one
    from eostheory.symbolic.nets._model import SymbolicNet


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
        >>> from eostheory.symbolic.nets import linear_chain, two_layer
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
        >>> from eostheory.symbolic.nets import linear_chain
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
