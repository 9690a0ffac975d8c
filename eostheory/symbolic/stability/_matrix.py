r"""Matrix curvature and preconditioning (:func:`matrix_stability`) and mean-square stability under
random curvature (:func:`mean_square`: the second moments :math:`E[x_t x_t^\top]` follow a linear map whose
boundary :math:`\det(I - M) = 0` is affine in the curvature's second moment :math:`m_2`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic.rules import UpdateRule
from eostheory.symbolic.stability._format import _show
from eostheory.symbolic.stability._linear import _DIGITS, LAMBDA, _fresh, _samples, _text, _values, as_rule, linear_map
from eostheory.symbolic.stability._thresholds import StabilityResult, _nroots, _real_roots, _rho, thresholds


# --------------------------------------------------------------------------------------
# matrix curvature and preconditioning
# --------------------------------------------------------------------------------------
@dataclass
class MatrixStability:
    r"""Stability of a linear rule on :math:`L = \tfrac12 w^\top H w` with preconditioner :math:`P`.

    With :math:`g \mapsto P^{-1} g` the step acts on every eigenvector of :math:`P^{-1}H`
    separately (it is diagonalizable with real eigenvalues :math:`\mu_i` when :math:`H`
    is symmetric and :math:`P \succ 0`: it is similar to :math:`P^{-1/2} H P^{-1/2}`), so
    the whole map is stable iff every :math:`\mu_i` lies in the scalar stable interval.

    Attributes:
        eigenvalues: the :math:`\mu_i` (with multiplicity), symbolic when ``H`` is.
        threshold: the scalar :math:`\lambda^*` of the rule.
        lower: the lower end of the scalar stable interval.
        condition: the sympy condition ``lower <= mu_min`` and ``mu_max < threshold``
            (reduced to ``True``/``False`` when everything is numeric).
    """

    eigenvalues: list[sp.Expr]
    threshold: sp.Expr
    lower: sp.Expr
    condition: sp.Basic

    @property
    def mu_max(self) -> sp.Expr:
        r""":math:`\lambda_{\max}(P^{-1}H)` (a ``Max`` when symbolic)."""
        return sp.Max(*self.eigenvalues)

    @property
    def stable(self) -> bool | None:
        """``True``/``False`` when decidable, else ``None``."""
        c = self.condition
        return bool(c) if c in (sp.true, sp.false) else None


def matrix_stability(
    result: StabilityResult | Any,
    H: Any,
    P: Any = None,
    *,
    values: Mapping[str, Any] | None = None,
) -> MatrixStability:
    r"""Stability of a linear rule with matrix curvature :math:`H` (and preconditioner :math:`P`).

    Args:
        result: a :class:`StabilityResult` or anything :func:`thresholds` accepts.
        H: a symmetric matrix (nested lists or sympy ``Matrix``; entries may be symbols).
        P: an optional symmetric positive-definite preconditioner.
        values: hyperparameter values substituted into the threshold.

    Returns:
        A :class:`MatrixStability` with the eigenvalues of :math:`P^{-1}H` and the condition.

    Raises:
        EosInputError: non-square or non-symmetric ``H`` or ``P``, a singular ``P``.

    Examples:
        >>> m = matrix_stability("gd", [[3, 1], [1, 3]], values={"eta": 0.5})
        >>> [float(mu) for mu in m.eigenvalues], m.threshold, m.stable
        ([2.0, 4.0], 4, False)
    """
    res = result if isinstance(result, StabilityResult) else thresholds(result)
    try:
        Hm = sp.Matrix(H).applyfunc(lambda x: sp.nsimplify(x, rational=True) if isinstance(x, float) else x)
        Pm = (
            None
            if P is None
            else sp.Matrix(P).applyfunc(lambda x: sp.nsimplify(x, rational=True) if isinstance(x, float) else x)
        )
    except (TypeError, ValueError, sp.SympifyError):
        raise EosInputError("H and P must be square matrices of numbers or formulas") from None
    for nm, M in (("H", Hm), ("P", Pm)):
        if M is None:
            continue
        if M.rows != M.cols or M.rows == 0:
            raise EosInputError(f"{nm} must be a non-empty square matrix, got shape {M.shape}")
        if sp.simplify(M - M.T) != sp.zeros(M.rows, M.cols):
            raise EosInputError(f"{nm} must be symmetric")
    if Pm is not None:
        if Pm.shape != Hm.shape:
            raise EosInputError(f"P has shape {Pm.shape} but H has shape {Hm.shape}")
        if sp.simplify(Pm.det()) == 0:
            raise EosInputError("the preconditioner P is singular")
        K = Pm.inv() * Hm
    else:
        K = Hm
    ev: list[sp.Expr] = []
    if not K.free_symbols:
        # numeric matrices: eigenvalues from the characteristic polynomial (real: P^-1 H is
        # similar to the symmetric P^-1/2 H P^-1/2)
        x = sp.Symbol("_mu")
        if Pm is not None and any(r <= 0 for r in _real_roots(Pm.charpoly(x).as_expr(), x)):
            raise EosInputError("the preconditioner P must be positive definite")
        for r in _nroots(K.charpoly(x).as_expr(), x):
            re, im = r.as_real_imag()
            if abs(im) > sp.Float("1e-9") * (1 + abs(re)):
                raise EosInputError("P^-1 H has complex eigenvalues: H must be symmetric and P positive definite")
            ev.append(sp.Float(re, 15))
        ev.sort()
    else:
        for mu, mult in K.eigenvals().items():
            ev += [sp.simplify(mu)] * mult
    by = {h.name: h for h in res.hyperparameters}
    sub = {by[k]: sp.nsimplify(v, rational=True) for k, v in (values or {}).items() if k in by}
    unknown = sorted(set(values or {}) - set(by))
    if unknown:
        raise EosInputError(f"no hyperparameter(s) {unknown}; the threshold depends on {sorted(by)}")
    thr = sp.simplify(res.threshold.subs(sub))
    low = sp.simplify(res.lower.subs(sub))
    conds = [sp.Lt(mu, thr) for mu in ev] + ([sp.Ge(mu, low) for mu in ev] if low is not -sp.oo else [])
    cond = sp.And(*conds)
    return MatrixStability(ev, thr, low, cond)


# --------------------------------------------------------------------------------------
# mean-square stability
# --------------------------------------------------------------------------------------
@dataclass
class MeanSquareResult:
    r"""Mean-square stability of a linear rule with i.i.d. random curvature :math:`h_t`.

    The state obeys :math:`x_{t+1} = (A_0 + h_t A_1) x_t` with :math:`E h = a`,
    :math:`E h^2 = m_2`; the second moments :math:`X_t = E[x_t x_t^\top]` obey
    :math:`X_{t+1} = A_0 X A_0^\top + a(A_0 X A_1^\top + A_1 X A_0^\top) + m_2 A_1 X A_1^\top`.

    Attributes:
        rule: the update rule.
        name: optimizer name or ``None``.
        a, m2: the symbols :math:`E[h]` and :math:`E[h^2]`.
        basis: the second moments :math:`E[x_i x_j]` (``i <= j``) the map acts on.
        moment_map: the matrix :math:`M(a, m_2)` of that map.
        determinant: :math:`\det(I - M)` (factored): zero on the boundary.
        boundary: the relation ``Eq(m2, m2_critical(a))`` (mean-square stable iff
            :math:`a^2 \le m_2 <` the right-hand side, for :math:`0 < a < \lambda^*`).
        critical_ratio: :math:`m_2/a` on the boundary, as a function of :math:`a`.
        deterministic_limit: :math:`a^*` where the boundary meets :math:`m_2 = a^2`.
        noise_limit: :math:`\lim_{a\to 0} m_2/a` on the boundary (noise-dominated limit).
    """

    rule: UpdateRule
    name: str | None
    a: sp.Symbol
    m2: sp.Symbol
    basis: list[tuple[sp.Symbol, sp.Symbol]]
    moment_map: sp.Matrix
    determinant: sp.Expr
    boundary: sp.Basic
    critical_ratio: sp.Expr
    deterministic_limit: sp.Expr
    noise_limit: sp.Expr

    def ratio_str(self) -> str:
        """:attr:`critical_ratio` as a readable sum (the noise-dominated term first)."""
        terms = sorted(sp.Add.make_args(self.critical_ratio), key=lambda t: (t.has(self.a), sp.default_sort_key(t)))
        s = ""
        for i, t in enumerate(terms):
            ts = _show(t)
            if i and ts.startswith("-"):
                s += " - " + ts[1:]
            else:
                s += (" + " if i else "") + ts
        return s

    def critical_m2(self) -> sp.Expr:
        """The critical second moment as a function of ``a``."""
        return self.boundary.rhs  # type: ignore[attr-defined]

    def spectral_radius(self, a: float, m2: float, **values: float) -> float:
        """Spectral radius of the moment map at numeric ``a``, ``m2`` and hyperparameters."""
        sub: dict[sp.Symbol, sp.Expr] = {
            self.a: sp.nsimplify(a, rational=True),
            self.m2: sp.nsimplify(m2, rational=True),
        }
        by = {h.name: h for h in self.moment_map.free_symbols - {self.a, self.m2}}
        for k, v in values.items():
            if k not in by:
                raise EosInputError(f"no hyperparameter {k!r}; the moment map depends on {sorted(by)}")
            sub[by[k]] = sp.nsimplify(v, rational=True)
        M = self.moment_map.subs(sub)
        lam = sp.Symbol("_x")
        return float(_rho(M.charpoly(lam).as_expr(), lam))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (sympy strings)."""
        return {
            "model": "x_{t+1} = A(h_t) x_t, h_t i.i.d., E[h] = a, E[h^2] = m2",
            "second_moments": [f"E[{i}*{j}]" for i, j in self.basis],
            "moment_map": [[str(x) for x in self.moment_map.row(i)] for i in range(self.moment_map.rows)],
            "boundary": f"{self.m2} = {_show(self.critical_m2())}",
            "critical_ratio": self.ratio_str(),
            "deterministic_limit": _show(self.deterministic_limit) if self.deterministic_limit is not sp.oo else "oo",
            "noise_dominated_limit": _show(self.noise_limit),
        }

    def __str__(self) -> str:
        return "\n".join(
            [
                f"{self.name or 'update rule'}: mean-square stability with i.i.d. curvature (E h = a, E h^2 = m2)",
                f"  boundary              m2 / a = {self.ratio_str()}",
                f"  deterministic limit   a* = {_show(self.deterministic_limit)}   (m2 = a^2)",
                f"  noise-dominated limit m2/a -> {_show(self.noise_limit)}   (eta*a -> 0)",
            ]
        )


def mean_square(optimizer_or_rule: Any, *, values: Mapping[str, Any] | None = None) -> MeanSquareResult:
    r"""Mean-square stability of any linear rule under i.i.d. random curvature.

    The curvature :math:`h_t` is drawn afresh each step (mean :math:`a`, second moment
    :math:`m_2 \ge a^2`), independent of the state.  Because :math:`A(h)` is affine in
    :math:`h` with a rank-one slope, :math:`\det(I - M)` is affine in :math:`m_2`, so the
    boundary is an explicit :math:`m_2 = m_2^*(a)`.  The moment map preserves the cone of
    positive semidefinite matrices, so its spectral radius is an eigenvalue and the
    boundary is where it crosses :math:`+1`.

    Args:
        optimizer_or_rule: see :func:`as_rule`.
        values: hyperparameters to fix first.

    Returns:
        A :class:`MeanSquareResult`.

    Raises:
        EosInputError: as :func:`linear_map`; or a boundary that is not affine in :math:`m_2`.

    Examples:
        >>> from eostheory.symbolic.stability import as_text
        >>> ms = mean_square("heavy-ball")
        >>> as_text(ms.noise_limit), as_text(ms.deterministic_limit)
        ('2*(1 - beta)/eta', '2*(1 + beta)/eta')
    """
    rule, name = as_rule(optimizer_or_rule)
    A, xs = linear_map(rule)
    fixed = _values(rule, values)
    if fixed:
        A = A.subs(fixed)
    taken = set(A.free_symbols) | set(rule.hyperparameters)
    a = _fresh("a", taken)
    m2 = _fresh("m2", taken)
    A0 = A.subs(LAMBDA, 0)
    A1 = A.diff(LAMBDA)
    n = A.rows
    basis_idx = [(i, j) for i in range(n) for j in range(i, n)]
    xsym = {(i, j): sp.Symbol(f"_X{i}{j}") for i, j in basis_idx}
    X = sp.Matrix(n, n, lambda i, j: xsym[(min(i, j), max(i, j))])
    Y = A0 * X * A0.T + a * (A0 * X * A1.T + A1 * X * A0.T) + m2 * (A1 * X * A1.T)
    M = sp.Matrix([[sp.expand(sp.diff(sp.expand(Y[i, j]), xsym[kl])) for kl in basis_idx] for (i, j) in basis_idx])
    det = sp.factor((sp.eye(M.rows) - M).det())
    poly_m2 = sp.Poly(sp.numer(sp.together(det)), m2)
    if poly_m2.degree() != 1:
        raise EosInputError(f"the mean-square boundary of {_text(rule)!r} is not affine in m2: {det} = 0")
    c1, c0 = poly_m2.all_coeffs()
    crit = sp.factor(-c0 / c1)
    ratio = sp.apart(sp.cancel(crit / a), a)
    noise = sp.factor(sp.limit(sp.cancel(crit / a), a, 0))
    # deterministic limit: smallest positive root of m2*(a) = a^2 (a != 0), picked at a sample
    eq = sp.factor(sp.numer(sp.together(crit - a**2)))
    eq = sp.factor(sp.cancel(eq / a ** sp.Poly(eq, a).monoms()[-1][0])) if eq.has(a) else eq
    sols = [s for s in sp.solve(eq, a) if s != 0]
    hypers = sorted(M.free_symbols - {a, m2}, key=lambda s: s.name)
    at = _samples(hypers, None)[0]
    det_lim: sp.Expr = sp.oo
    best = None
    for s in sols:
        v = sp.N(s.subs(at), _DIGITS)
        if v.is_real and v > 0 and (best is None or v < best):
            best, det_lim = v, sp.factor(sp.simplify(s))
    return MeanSquareResult(
        rule=rule,
        name=name,
        a=a,
        m2=m2,
        basis=[(xs[i], xs[j]) for i, j in basis_idx],
        moment_map=M,
        determinant=det,
        boundary=sp.Eq(m2, crit),
        critical_ratio=ratio,
        deterministic_limit=det_lim,
        noise_limit=noise,
    )
