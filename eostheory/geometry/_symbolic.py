r"""Steepest descent on a quadratic, derived symbolically: the descent identity, the threshold, the 2-cycle.

On :math:`L(w) = \tfrac12 w^\top A w` (``A`` a symmetric matrix of symbols) the gradient is
:math:`g = Aw` and every step is exact in its second-order expansion, so what the
stability analysis of steepest descent rests on can be derived, not assumed:

- **descent identity** (unnormalized, :math:`\Delta = -\eta\|g\|_* d`,
  :math:`d = d(g)`): :math:`L(w+\Delta) - L(w) = -\eta(1 - \tfrac\eta2 D)\|g\|_*^2` with
  :math:`D = d^\top A d` the curvature along the step; for the normalized step
  :math:`\Delta = -\eta d`: :math:`-\eta\|g\|_* + \tfrac{\eta^2}2 D`.  The oracle
  :math:`d(g)` is piecewise (a sign pattern for :math:`\ell_\infty`, a coordinate for
  :math:`\ell_1`, a block for ``block``); :func:`descent_identity` derives the identity
  on every piece, with the piece's conditions, and :attr:`DescentIdentity.residual` is the
  exact difference (zero after ``expand``).  :func:`generic_descent_identity` needs only
  :math:`\langle g, d\rangle = \|g\|_*`, so it holds in any norm (``spectral`` included).
- **threshold**: :func:`descent_threshold` solves :math:`\Delta L < 0` for :math:`D`:
  :math:`D < 2/\eta` (unnormalized), :math:`D/\|g\|_* < 2/\eta` (normalized).
- **the maximising ray** (:func:`ray_multiplier`, :math:`\ell_\infty`): from :math:`w = a s`
  with :math:`\operatorname{sign}(As) = s`, unnormalized steps stay on the ray with
  :math:`a \mapsto (1 - \eta D)a`, :math:`D = s^\top A s`: stable iff :math:`0 < D < 2/\eta`.
- **the normalized 2-cycle** (:func:`normalized_two_cycle`): on the ray the normalized step
  is :math:`a \mapsto a - \eta\operatorname{sign}a`; every :math:`r \in (0, \eta)` gives the
  2-cycle :math:`\{r, r - \eta\}`, reached from :math:`a_0 > 0` with
  :math:`r = a_0 - \eta\lceil a_0/\eta - 1\rceil`; it is :math:`\pm\eta/2` iff
  :math:`a_0 \equiv \eta/2 \pmod\eta`, and there :math:`\|g\|_* = \tfrac\eta2 S`,
  :math:`S/\|g\|_* = 2/\eta`, :math:`L = \eta^2 D/8`.  Over any of these cycles the mean
  of :math:`\|g\|_*/S` is :math:`\eta/2` (the harmonic mean of :math:`S/\|g\|_*` is
  :math:`2/\eta`).  For sign descent on a diagonal quadratic each coordinate is such a
  ray, whatever its curvature :math:`\lambda_i > 0` (:func:`sign_descent_diagonal_cycle`).

Pure sympy: expressions, conditions and ``lambdify``-ed evaluators for numeric checks
along compiled runs (``tests/test_geometry_symbolic.py``, ``eostheory check --group geometry``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError

__all__ = [
    "DescentIdentities",
    "DescentIdentity",
    "TwoCycle",
    "descent_identity",
    "descent_threshold",
    "generic_descent_identity",
    "normalized_two_cycle",
    "ray_multiplier",
    "sign_descent_diagonal_cycle",
    "symmetric_matrix",
]

ETA = sp.Symbol("eta", positive=True)
#: the curvature along the step, d^T A d
D_SYM = sp.Symbol("D", real=True)
#: the dual norm of the gradient
NU = sp.Symbol("nu", positive=True)
#: a Euclidean (block) norm of the gradient, rho = sqrt(q), kept as a symbol with rho^2 = q
RHO = sp.Symbol("rho", positive=True)

#: norms whose oracle has a closed form piece by piece here
SYMBOLIC_NORMS = ("l2", "linf", "l1", "block")


def symmetric_matrix(n: int, name: str = "a") -> sp.Matrix:
    """The symmetric ``n x n`` matrix of real symbols ``a_ij`` (``a_ij = a_ji``)."""
    if not isinstance(n, int) or not 1 <= n <= 6:
        raise EosInputError(f"the symbolic quadratic takes 1 <= n <= 6 parameters, got {n!r}")
    return sp.Matrix(n, n, lambda i, j: sp.Symbol(f"{name}{min(i, j)}{max(i, j)}", real=True))


def _loss(A: sp.Matrix, w: sp.Matrix) -> sp.Expr:
    return (w.T * A * w)[0, 0] / 2


@dataclass(frozen=True)
class DescentIdentity:
    r"""The descent identity on one piece of the oracle.

    Attributes:
        norm: ``l2``, ``linf``, ``l1``, ``block`` or ``generic``; normalized: the step.
        piece: what fixes the oracle there (a sign pattern, ``(i, sign)``, a block index).
        conditions: relations on :math:`g = Aw` under which the piece is the oracle's value.
        direction: :math:`d(g)` on the piece; dual: :math:`\|g\|_*` there.
        delta_loss: :math:`L(w + \Delta) - L(w)` computed from the step, exactly.
        curvature: :math:`D = d^\top A d`.
        predicted: :math:`-\eta(1 - \tfrac\eta2 D)\|g\|_*^2` (or the normalized form).
        residual: ``expand(delta_loss - predicted)``: exactly ``0`` when the identity holds.
    """

    norm: str
    normalized: bool
    piece: Any
    conditions: tuple[Any, ...]
    direction: sp.Matrix
    dual: sp.Expr
    delta_loss: sp.Expr
    curvature: sp.Expr
    predicted: sp.Expr
    residual: sp.Expr

    @property
    def holds(self) -> bool:
        """Whether the residual is exactly zero."""
        return self.residual == 0


@dataclass(frozen=True)
class DescentIdentities:
    """Every piece of one norm's identity on a quadratic in ``n`` parameters, with numeric evaluators."""

    norm: str
    normalized: bool
    A: sp.Matrix
    w: sp.Matrix
    pieces: tuple[DescentIdentity, ...]
    _fns: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def holds(self) -> bool:
        """Whether every piece's residual is exactly zero."""
        return all(p.holds for p in self.pieces)

    def _piece_at(self, g: np.ndarray) -> int:
        """The piece whose conditions hold at the numeric gradient ``g`` (the first, at a tie)."""
        subs = {sp.Symbol(f"g{i}", real=True): float(v) for i, v in enumerate(g)}
        for k, p in enumerate(self.pieces):
            if all(bool(c.subs(subs)) for c in p.conditions):
                return k
        raise EosInputError(f"no piece of the {self.norm} oracle holds at g = {g.tolist()}")

    def predicted_delta_loss(self, A: np.ndarray, w: np.ndarray, eta: float) -> float:
        r"""The identity's right-hand side at numbers: :math:`-\eta(1-\tfrac\eta2 D)\|g\|_*^2` (or normalized).

        The piece is the first whose conditions hold at :math:`g = Aw`; at a tie (a zero
        :math:`g_i` for ``linf``, equal magnitudes for ``l1``/``block``) the numeric oracle may
        pick another maximiser, with the same :math:`\|g\|_*` but possibly another :math:`D`."""
        A = np.asarray(A, dtype=float)
        w = np.asarray(w, dtype=float)
        g = A @ w
        k = self._piece_at(g)
        n = self.A.shape[0]
        order = [*sorted(self.A.free_symbols | self.w.free_symbols, key=str), ETA]
        if k not in self._fns:  # compiled once per piece
            self._fns[k] = sp.lambdify(order, self.pieces[k].predicted, "math")
        vals: dict[sp.Symbol, float] = {ETA: float(eta)}
        for i in range(n):
            vals[self.w[i]] = float(w[i])
            for j in range(n):
                vals[self.A[i, j]] = float(A[i, j])
        return float(self._fns[k](*[vals[s] for s in order]))


def _g_symbols(n: int) -> list[sp.Symbol]:
    return [sp.Symbol(f"g{i}", real=True) for i in range(n)]


def _g_subs(A: sp.Matrix, w: sp.Matrix) -> dict[sp.Symbol, sp.Expr]:
    gv = A * w
    return {s: gv[i] for i, s in enumerate(_g_symbols(A.shape[0]))}


def _pieces(
    norm: str, n: int, blocks: Sequence[Sequence[int]] | None
) -> list[tuple[Any, list, sp.Matrix, sp.Expr, sp.Expr | None]]:
    """``(piece, conditions, d, dual, q)`` in terms of the gradient symbols ``g_i``; where the
    dual is a Euclidean norm it is the symbol :data:`RHO` with :math:`\rho^2 = q`."""
    g = _g_symbols(n)
    out: list[tuple[Any, list, sp.Matrix, sp.Expr, sp.Expr | None]] = []
    if norm == "l2":
        q = sum(x**2 for x in g)
        out.append(("g != 0", [q > 0], sp.Matrix(g) / RHO, RHO, q))
    elif norm == "linf":
        for s in itertools.product((1, -1), repeat=n):
            conds = [si * gi >= 0 for si, gi in zip(s, g, strict=True)]
            out.append((s, conds, sp.Matrix(s), sum(si * gi for si, gi in zip(s, g, strict=True)), None))
    elif norm == "l1":
        for i in range(n):
            for s in (1, -1):
                conds = [s * g[i] >= 0, *[(s * g[i]) ** 2 >= g[j] ** 2 for j in range(n) if j != i]]
                d = sp.zeros(n, 1)
                d[i] = s
                out.append(((i, s), conds, d, s * g[i], None))
    elif norm == "block":
        bl = [list(b) for b in (blocks or [[i] for i in range(n)])]
        if sorted(i for b in bl for i in b) != list(range(n)) or any(not b for b in bl):
            raise EosInputError(f"the blocks {bl} must partition the {n} parameters")
        for k, b in enumerate(bl):
            qb = sum(g[i] ** 2 for i in b)
            conds = [qb > 0, *[qb >= sum(g[i] ** 2 for i in c) for c in bl if c is not b]]
            d = sp.zeros(n, 1)
            for i in b:
                d[i] = g[i] / RHO
            out.append((k, conds, d, RHO, qb))
    else:
        raise EosInputError(f"symbolic descent identities cover the norms {', '.join(SYMBOLIC_NORMS)}, got {norm!r}")
    return out


def descent_identity(
    norm: str, n: int = 2, *, normalized: bool = False, blocks: Sequence[Sequence[int]] | None = None
) -> DescentIdentities:
    r"""Derive the descent identity of steepest descent in ``norm`` on :math:`\tfrac12 w^\top A w`.

    On each piece of the oracle (where :math:`d(g)` has one closed form), the step
    :math:`\Delta = -\eta\|g\|_*d` (or :math:`-\eta d`, ``normalized``) is applied to the
    symbolic quadratic and :math:`L(w+\Delta) - L(w)` is compared with
    :math:`-\eta(1 - \tfrac\eta2 d^\top A d)\|g\|_*^2` (normalized:
    :math:`-\eta\|g\|_* + \tfrac{\eta^2}2 d^\top A d`); the residual is ``expand``-ed to
    an exact expression, ``0`` when the identity holds.

    Args:
        norm: ``l2``, ``linf``, ``l1`` or ``block``.
        n: parameters (1 to 6; ``linf`` has :math:`2^n` pieces).
        normalized: the normalized step.
        blocks: for ``block``, index groups partitioning ``range(n)`` (default: singletons).

    Returns:
        :class:`DescentIdentities`.

    Examples:
        >>> r = descent_identity("linf", 2)
        >>> len(r.pieces), r.holds, r.pieces[0].curvature
        (4, True, a00 + 2*a01 + a11)
    """
    A = symmetric_matrix(n)
    w = sp.Matrix([sp.Symbol(f"w{i}", real=True) for i in range(n)])
    gs = _g_subs(A, w)
    pieces = []
    for piece, conds, d_g, nu_g, q_g in _pieces(norm, n, blocks):
        d, nu = d_g.subs(gs), nu_g.subs(gs)
        step = -ETA * d if normalized else -ETA * nu * d
        delta = _loss(A, w + step) - _loss(A, w)
        curv = (d.T * A * d)[0, 0]
        pred = -ETA * nu + ETA**2 / 2 * curv if normalized else -ETA * (1 - ETA / 2 * curv) * nu**2
        if q_g is None:  # a polynomial in (A, w, eta)
            res = sp.expand(delta - pred)
        else:  # a polynomial in rho over a power of rho: reduce the numerator modulo rho^2 = q (exact)
            num, den = sp.fraction(sp.together(sp.expand(delta - pred)))
            rem = sp.rem(sp.Poly(sp.expand(num), RHO), sp.Poly(RHO**2 - sp.expand(q_g.subs(gs)), RHO))
            num = sp.expand(rem.as_expr())
            res = num / den if num != 0 else sp.Integer(0)
        sq = {RHO: sp.sqrt(q_g.subs(gs))} if q_g is not None else {}
        pieces.append(
            DescentIdentity(
                norm,
                normalized,
                piece,
                tuple(c.subs(sq) if q_g is not None else c for c in conds),
                d_g.subs({RHO: sp.sqrt(q_g)}) if q_g is not None else d_g,
                nu_g.subs({RHO: sp.sqrt(q_g)}) if q_g is not None else nu_g,
                delta.subs(sq),
                sp.expand(curv).subs(sq),
                pred.subs(sq),
                res,
            )
        )
    return DescentIdentities(norm, normalized, A, w, tuple(pieces))


def generic_descent_identity(n: int = 3, *, normalized: bool = False) -> DescentIdentity:
    r"""The identity in any norm: only :math:`\langle g, d\rangle = \|g\|_* = \nu` is used.

    ``d`` is a vector of free symbols and :math:`\nu` a symbol; :math:`\langle Aw, d\rangle`
    is replaced by :math:`\nu` after expanding :math:`L(w+\Delta)-L(w)`.  This covers every
    norm of the package (``spectral`` and per-layer combinations included), since their
    oracles all satisfy :math:`\langle g, d(g)\rangle = \|g\|_*`.

    Examples:
        >>> generic_descent_identity(2).residual
        0
    """
    A = symmetric_matrix(n)
    w = sp.Matrix([sp.Symbol(f"w{i}", real=True) for i in range(n)])
    d = sp.Matrix([sp.Symbol(f"d{i}", real=True) for i in range(n)])
    step = -ETA * d if normalized else -ETA * NU * d
    delta = sp.expand(_loss(A, w + step) - _loss(A, w))
    gd = sp.expand((d.T * A * w)[0, 0])
    # every monomial of <Aw, d> carries one w_i: collect the terms linear in w and replace <g, d> by nu
    lin = sum(t for t in sp.Add.make_args(delta) if sp.Poly(t, *w).total_degree() == 1)
    ratio = sp.cancel(lin / gd)  # a function of eta (and nu) only
    delta_sub = sp.expand(delta - lin + ratio * NU)
    curv = sp.expand((d.T * A * d)[0, 0])
    pred = -ETA * NU + ETA**2 / 2 * curv if normalized else -ETA * (1 - ETA / 2 * curv) * NU**2
    res = sp.expand(delta_sub - pred)
    return DescentIdentity("generic", normalized, "<g, d> = ||g||_*", (), d, NU, delta_sub, curv, pred, res)


def descent_threshold(normalized: bool = False) -> sp.Basic:
    r"""Solve :math:`\Delta L < 0` for the curvature :math:`D` along the step (:math:`\|g\|_* = \nu > 0`).

    Returns the relation: :math:`D < 2/\eta` (unnormalized), :math:`D < 2\nu/\eta` (normalized,
    i.e. :math:`D/\|g\|_* < 2/\eta`).

    Examples:
        >>> descent_threshold()
        D < 2/eta
    """
    lhs = -ETA * NU + ETA**2 / 2 * D_SYM if normalized else -ETA * (1 - ETA / 2 * D_SYM) * NU**2
    sol = sp.solve_univariate_inequality(lhs < 0, D_SYM, relational=True)
    # drop the trivial bound -oo < D
    parts = [a for a in sp.And.make_args(sol) if not (isinstance(a, sp.StrictLessThan) and a.lhs == -sp.oo)]
    return sp.And(*parts)


def ray_multiplier(signs: Sequence[int], *, normalized: bool = False) -> dict[str, Any]:
    r"""Steepest descent in :math:`\ell_\infty` from :math:`w = a s` (a sign vector ``s``), derived.

    Under :math:`\operatorname{sign}(As) = s` and :math:`a > 0` the oracle is :math:`d = s`,
    :math:`\|g\|_1 = a\,s^\top A s`, and the step stays on the ray.

    Returns:
        ``{"map": a+ (in a), "multiplier": a+/a (unnormalized), "D": s^T A s,
        "stable": the interval of D with |multiplier| < 1, "conditions": ...}``.

    Examples:
        >>> r = ray_multiplier([1, 1])
        >>> r["multiplier"], r["stable"]
        (-a00*eta - 2*a01*eta - a11*eta + 1, (0 < D) & (D < 2/eta))
    """
    n = len(signs)
    s = sp.Matrix([int(x) for x in signs])
    if any(abs(int(x)) != 1 for x in signs):
        raise EosInputError(f"a sign vector has entries +-1, got {list(signs)}")
    A = symmetric_matrix(n)
    a = sp.Symbol("a", positive=True)
    As = A * s
    dual = a * (s.T * As)[0, 0]  # ||a A s||_1 = a s^T A s when sign(As) = s
    step = -ETA * s if normalized else -ETA * dual * s
    w_next = a * s + step
    a_next = sp.expand(w_next[0] / s[0])
    on_ray = all(sp.expand(w_next[i] - a_next * s[i]) == 0 for i in range(n))
    curv = sp.expand((s.T * A * s)[0, 0])
    out: dict[str, Any] = {
        "map": a_next,
        "D": curv,
        "on_ray": on_ray,
        "conditions": tuple(s[i] * As[i] > 0 for i in range(n)),
    }
    if not normalized:
        mult = sp.expand(a_next / a)
        m = mult.subs(curv, D_SYM) if curv != 0 else mult
        m = sp.expand(1 - ETA * D_SYM) if sp.expand(mult - (1 - ETA * curv)) == 0 else m
        stable = sp.solve_univariate_inequality(sp.Abs(m) < 1, D_SYM, relational=True)
        out["multiplier"] = mult
        out["stable"] = stable
    return out


@dataclass(frozen=True)
class TwoCycle:
    r"""The 2-cycle of a normalized method on the ray of a maximiser (see :func:`normalized_two_cycle`)."""

    points: tuple[sp.Expr, sp.Expr]
    conditions: tuple[Any, ...]
    residual: sp.Expr
    symmetric_amplitude: sp.Expr
    symmetric_when: Any
    normalized_sharpness: tuple[sp.Expr, sp.Expr]
    harmonic_mean: sp.Expr
    loss_on_symmetric_cycle: sp.Expr
    dual_on_symmetric_cycle: sp.Expr
    loss_change: sp.Expr

    def limit_point(self, a0: float, eta: float) -> tuple[float, float]:
        r"""The cycle reached from :math:`a_0 > 0`, :math:`(r, r-\eta)`, :math:`r = a_0 - \eta\lceil a_0/\eta-1\rceil`.

        Examples:
            >>> [round(x, 12) for x in normalized_two_cycle().limit_point(0.23, 0.1)]
            [0.03, -0.07]
        """
        k = int(np.ceil(a0 / eta - 1.0))
        r = a0 - k * eta
        return float(r), float(r - eta)


def normalized_two_cycle() -> TwoCycle:
    r"""The normalized step on the ray of a maximiser, :math:`a \mapsto a - \eta\operatorname{sign}a`, derived.

    On :math:`w = a d^\star` with :math:`d(Ad^\star) = d^\star` and
    :math:`\|Ad^\star\|_* = \langle Ad^\star, d^\star\rangle = S`: :math:`g = aAd^\star`,
    :math:`d(g) = \operatorname{sign}(a)\,d^\star`, :math:`\|g\|_* = |a|S`.  For
    :math:`r\in(0,\eta)` the two steps :math:`r \to r-\eta \to r` close (``residual``),
    :math:`S/\|g\|_*` is :math:`1/r` and :math:`1/(\eta - r)` on the two points, their
    harmonic mean is :math:`2/\eta` for every :math:`r`, and the cycle is symmetric,
    :math:`\pm\eta/2`, iff :math:`r = \eta/2`, where :math:`S/\|g\|_* = 2/\eta`,
    :math:`\|g\|_* = \eta S/2` and :math:`L = \tfrac12(\eta/2)^2 D` with
    :math:`D = d^{\star\top}Ad^\star = S`.

    Examples:
        >>> c = normalized_two_cycle()
        >>> c.residual, c.symmetric_amplitude, c.harmonic_mean
        (0, eta/2, 2/eta)
    """
    r = sp.Symbol("r", real=True)
    S = sp.Symbol("S", positive=True)

    def step(a: sp.Expr, sign: int) -> sp.Expr:
        return a - ETA * sign

    p1 = step(r, 1)  # r > 0
    p2 = step(p1, -1)  # r - eta < 0
    conds = (r > 0, r < ETA)
    residual = sp.simplify(p2 - r)
    ns = (S / (r * S), S / ((ETA - r) * S))
    hm = sp.simplify(2 / (1 / ns[0] + 1 / ns[1]))
    sym = sp.solve(sp.Eq(r, ETA - r), r)[0]
    loss = lambda a: S * a**2 / 2  # noqa: E731  (D = S on the ray)
    return TwoCycle(
        (r, p1),
        conds,
        residual,
        sym,
        sp.Eq(r, ETA / 2),
        (sp.simplify(ns[0]), sp.simplify(ns[1])),
        hm,
        sp.simplify(loss(sym)),
        sp.simplify(sym * S),
        sp.factor(loss(p1) - loss(r)),
    )


def sign_descent_diagonal_cycle(n: int = 2) -> dict[str, Any]:
    r"""Sign descent on :math:`\tfrac12\sum_i \lambda_i w_i^2` (:math:`\lambda_i > 0`), derived.

    :math:`\operatorname{sign}(\lambda_i w_i) = \operatorname{sign}(w_i)`, so each coordinate
    runs :math:`w_i \mapsto w_i - \eta\operatorname{sign} w_i` independently of
    :math:`\lambda_i`; from :math:`0 < w_i < \eta` two steps return to :math:`w`.  On the
    symmetric cycle (:math:`w_i = \pm\eta/2`) :math:`\|g\|_1 = \tfrac\eta2\sum\lambda_i` and
    :math:`S_\infty = \sum_i\lambda_i`, so :math:`S_\infty/\|g\|_1 = 2/\eta`, and the loss
    is :math:`\tfrac{\eta^2}8\sum_i\lambda_i`.

    Examples:
        >>> sign_descent_diagonal_cycle(2)["residual"].is_zero_matrix
        True
    """
    lam = [sp.Symbol(f"lambda{i}", positive=True) for i in range(n)]
    w = sp.Matrix([sp.Symbol(f"r{i}", positive=True) for i in range(n)])
    g = sp.Matrix([lam[i] * w[i] for i in range(n)])
    s1 = sp.Matrix([sp.sign(x) for x in g])  # all +1: r_i > 0 (the symbols are positive)
    w1 = w - ETA * s1
    # on 0 < r_i < eta every coordinate of w1 is negative: sign(lambda_i (r_i - eta)) = -1
    s2 = sp.Matrix([-1] * n)
    w2 = w1 - ETA * s2
    half = {w[i]: ETA / 2 for i in range(n)}
    dual = sum(sp.Abs(x) for x in g).subs(half)
    s_inf = sum(lam)
    return {
        "first_step": w1,
        "residual": sp.simplify(w2 - w),
        "conditions": tuple(c for i in range(n) for c in (w[i] > 0, w[i] < ETA)),
        "S_inf": s_inf,
        "dual_on_symmetric_cycle": sp.simplify(dual),
        "normalized_sharpness": sp.simplify(s_inf / dual),
        "loss_on_symmetric_cycle": sp.simplify(sum(lam[i] * (ETA / 2) ** 2 for i in range(n)) / 2),
    }
