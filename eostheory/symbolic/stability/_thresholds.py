r"""Deterministic thresholds from the Schur–Cohn (Jury) conditions.

The characteristic polynomial :math:`p(z) = \det(zI - A(\lambda))` has a root on the unit
circle exactly when :math:`p(1) = 0`, :math:`p(-1) = 0` or
:math:`\det(I - A^{(2)}) = \prod_{i<j}(1 - z_i z_j) = 0` (:math:`A^{(2)}` the second compound
matrix); :func:`thresholds` finds the branch crossed first as :math:`\lambda` grows from 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._limits import time_limit as _time_limit
from eostheory.symbolic.rules import UpdateRule
from eostheory.symbolic.stability._format import _latex, _poly_display, _poly_str, _show, display
from eostheory.symbolic.stability._linear import (
    _DIGITS,
    _TOL,
    LAMBDA,
    _fresh,
    _samples,
    _text,
    _values,
    as_rule,
    linear_map,
)

#: Crossing types and what they mean.
CROSSINGS: dict[str, str] = {
    "z=-1": "a real root leaves the unit disc through z = -1 (period doubling: the edge-of-stability oscillation)",
    "z=+1": "a real root leaves the unit disc through z = +1 (monotone divergence)",
    "complex": "a complex pair leaves the unit disc through |z| = 1 (Neimark-Sacker: oscillation with a rotation)",
    "none": "no root leaves the unit disc for any curvature lam > 0",
    "mixed": "the way out depends on the hyperparameters (the threshold is the min of the branches; see regimes)",
}


# --------------------------------------------------------------------------------------
# numeric helpers (sympy/mpmath, exact inputs)
# --------------------------------------------------------------------------------------
def _nroots(expr: sp.Expr, var: sp.Symbol) -> list[sp.Expr]:
    """Numeric roots (with multiplicity) of a polynomial with exact coefficients.

    mpmath's Durand–Kerner iteration converges slowly on repeated roots, so on failure
    the square-free factors are solved one by one; a polynomial that still does not
    converge (coefficients of wildly different sizes, e.g. ``beta = 1e308``) is a
    one-line :class:`EosInputError`, never mpmath's ``NoConvergence``.
    """
    poly = sp.Poly(sp.expand(expr), var)
    if poly.degree() <= 0:
        return []
    try:
        return poly.nroots(n=_DIGITS, maxsteps=200)
    except mpmath.libmp.libhyper.NoConvergence:
        pass
    try:
        roots: list[sp.Expr] = []
        for factor, mult in sp.sqf_list(poly)[1]:
            if factor.degree() > 0:
                roots += factor.nroots(n=_DIGITS, maxsteps=2000) * mult
        return roots
    except mpmath.libmp.libhyper.NoConvergence:
        coeffs = ", ".join(str(sp.N(c, 3)) for c in poly.all_coeffs()[:4])
        raise EosInputError(
            f"the roots of a degree-{poly.degree()} polynomial in {var} (coefficients {coeffs}, ...) could not be "
            "computed: the numerical root finder did not converge; hyperparameter values this extreme "
            "are out of its reach"
        ) from None


def _rho(p: sp.Expr, z: sp.Symbol) -> sp.Float:
    roots = _nroots(p, z)
    return max(abs(r) for r in roots) if roots else sp.Float(0)


def _real_roots(expr: sp.Expr, var: sp.Symbol) -> list[sp.Float]:
    out = []
    for r in _nroots(expr, var):
        re, im = r.as_real_imag()
        if abs(im) <= _TOL * (1 + abs(re)):
            out.append(sp.Float(re, _DIGITS))
    return sorted(out)


def _classify_roots(p_at: sp.Expr, z: sp.Symbol) -> tuple[str, list[sp.Expr]]:
    """Which roots of ``p_at`` lie on the unit circle, and what kind of crossing that is."""
    on = [r for r in _nroots(p_at, z) if abs(abs(r) - 1) < sp.Float("1e-8")]
    kinds = []
    for r in on:
        re, im = r.as_real_imag()
        if abs(im) < sp.Float("1e-8"):
            kinds.append("z=-1" if re < 0 else "z=+1")
        else:
            kinds.append("complex")
    for k in ("z=-1", "complex", "z=+1"):
        if k in kinds:
            return k, on
    return "none", on


# --------------------------------------------------------------------------------------
# deterministic thresholds
# --------------------------------------------------------------------------------------
@dataclass
class StabilityResult:
    r"""Linear stability of an optimizer on :math:`L = \tfrac12\lambda w^2`.

    Attributes:
        rule: the update rule analysed.
        name: the optimizer's name (``None`` for a user rule).
        state: the state vector ``(w, v, ...)``.
        matrix: :math:`A(\lambda)`, one step on the state.
        polynomial: :math:`p(z) = \det(zI - A(\lambda))` (expanded).
        threshold: :math:`\lambda^*`, the smallest curvature at which a root leaves the
            unit disc (``oo`` when none does), simplified.
        crossing: ``"z=-1"``, ``"z=+1"``, ``"complex"`` or ``"none"`` (see :data:`CROSSINGS`).
        lower: the lower end of the stable interval of :math:`\lambda` (0 for the usual
            optimizers, whose step leaves ``w`` unchanged when :math:`g = 0`).
        boundaries: for each way out, the factor whose zeros are candidate curvatures.
        conditions: the Schur–Cohn conditions (all positive iff every root is inside).
        curvature: what :math:`\lambda` stands for: the Hessian eigenvalue, or the
            eigenvalue of :math:`P^{-1}H` for a preconditioned rule.
        samples: the exact hyperparameter values used to pick the binding branch.
        fixed: hyperparameters fixed before the derivation (``values=``).
        notes: caveats (a binding branch that changes with the hyperparameters, …).
        z: the polynomial variable.
    """

    rule: UpdateRule
    name: str | None
    state: tuple[sp.Symbol, ...]
    matrix: sp.Matrix
    polynomial: sp.Expr
    threshold: sp.Expr
    crossing: str
    lower: sp.Expr
    boundaries: dict[str, sp.Expr]
    conditions: list[sp.Expr]
    z: sp.Symbol
    curvature: str = "lambda_max(H)"
    fixed: dict[str, sp.Expr] = field(default_factory=dict)
    samples: list[dict[sp.Symbol, sp.Expr]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    regimes: list[dict[str, Any]] = field(default_factory=list)

    # --- evaluation -------------------------------------------------------------------
    @property
    def hyperparameters(self) -> tuple[sp.Symbol, ...]:
        """The free hyperparameters of the threshold."""
        return tuple(sorted(self.polynomial.free_symbols - {LAMBDA, self.z}, key=lambda s: s.name))

    def _subs(self, values: Mapping[str, float]) -> dict[sp.Symbol, sp.Expr]:
        by = {h.name: h for h in self.hyperparameters}
        unknown = sorted(set(values) - set(by))
        if unknown:
            raise EosInputError(f"no hyperparameter(s) {unknown}; this threshold depends on {sorted(by)}")
        missing = sorted(set(by) - set(values))
        if missing:
            raise EosInputError(f"give values for {missing}")
        return {by[k]: sp.nsimplify(v, rational=True) for k, v in values.items()}

    def value(self, **values: float) -> float:
        """:math:`\\lambda^*` as a float for the given hyperparameters (e.g. ``eta=0.1, beta=0.9``)."""
        sub = self._subs(values)
        v = _real_at(self.threshold, sub)
        if v is None:
            raise EosInputError(f"the threshold is not a real number at {dict(values)}")
        return float(v)

    def spectral_radius(self, lam: float, **values: float) -> float:
        r"""Spectral radius :math:`\max|z|` of :math:`A(\lambda)` at a curvature and hyperparameters."""
        sub = self._subs(values)
        sub[LAMBDA] = sp.nsimplify(lam, rational=True)
        return float(_rho(self.polynomial.subs(sub), self.z))

    # --- printing ---------------------------------------------------------------------
    def threshold_str(self) -> str:
        """The threshold as readable text (``2*(beta + 1)/eta``)."""
        return _show(self.threshold)

    def polynomial_display(self) -> sp.Expr:
        """:attr:`polynomial` as a sum in descending powers of ``z`` (for printing)."""
        return _poly_display(self.polynomial, self.z)

    def latex(self) -> str:
        r"""LaTeX: :math:`p(z) = \dots`, :math:`\lambda^* = \dots` and the crossing."""
        p = _poly_str(self.polynomial, self.z, latex=True)
        t = _latex(self.threshold)
        cross = {
            "z=-1": "z = -1",
            "z=+1": "z = +1",
            "complex": r"|z| = 1,\ z \notin \mathbb{R}",
            "none": r"\text{none}",
            "mixed": r"\text{depends on the hyperparameters}",
        }
        return rf"p(z) = {p}, \qquad \lambda^* = {t} \quad ({cross[self.crossing]})"

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def pretty(self) -> str:
        """A multi-line, 2-D (unicode) rendering of the result."""
        head = f"{self.name or 'update rule'}: {_text(self.rule)}"
        return "\n".join(
            [
                head,
                f"state {tuple(map(str, self.state))}, curvature lam = {self.curvature} (g = lam*w)",
                "p(z) =",
                sp.pretty(self.polynomial_display(), order="none", use_unicode=True),
                "lam* =",
                sp.pretty(display(self.threshold), use_unicode=True),
                f"crossing: {self.crossing} — {CROSSINGS[self.crossing]}",
            ]
        )

    def __str__(self) -> str:
        lines = [
            f"{self.name or 'update rule'}: {_text(self.rule)}",
            f"  state               {', '.join(map(str, self.state))}   (g = lam*w; lam = {self.curvature})",
            f"  p(z)                {_poly_str(self.polynomial, self.z)}",
            f"  threshold lam*      {self.threshold_str()}",
            f"  crossing            {self.crossing}: {CROSSINGS[self.crossing]}",
        ]
        if self.lower != 0:
            lines.append(f"  stable interval     {_show(self.lower)} < lam < lam*")
        lines += [f"  note                {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary; expressions as sympy strings (``sympy.sympify`` reads them back;
        the curvature is ``lam``)."""
        return {
            "optimizer": self.name,
            "update": [a.text for a in self.rule.assignments],
            "state": [str(s) for s in self.state],
            "hyperparameters": [str(h) for h in self.hyperparameters],
            "curvature": self.curvature,
            "curvature_symbol": str(LAMBDA),
            "matrix": [[str(x) for x in self.matrix.row(i)] for i in range(self.matrix.rows)],
            "characteristic_polynomial": _poly_str(self.polynomial, self.z),
            "characteristic_polynomial_latex": _poly_str(self.polynomial, self.z, latex=True),
            "threshold": self.threshold_str(),
            "threshold_sympy": str(self.threshold),
            "threshold_latex": _latex(self.threshold),
            "crossing": self.crossing,
            "crossing_description": CROSSINGS[self.crossing],
            "stable_interval": [_show(self.lower), self.threshold_str()],
            "boundaries": {k: _show(v) for k, v in self.boundaries.items()},
            "schur_cohn_conditions": [f"{_show(c)} > 0" for c in self.conditions],
            "fixed": {k: str(v) for k, v in self.fixed.items()},
            "samples": [{str(k): str(v) for k, v in s.items()} for s in self.samples],
            "regimes": self.regimes,
            "notes": list(self.notes),
        }


def _schur_cohn(p: sp.Expr, z: sp.Symbol) -> list[sp.Expr]:
    r"""Schur–Cohn chain: :math:`c_k = \mathrm{lc}(p_k)^2 - p_k(0)^2 > 0` for all :math:`k`.

    :math:`p_{k+1}(z) = [\mathrm{lc}(p_k)\, p_k(z) - p_k(0)\, z^{n_k} p_k(1/z)]/z`.  All roots
    of :math:`p` lie strictly inside the unit disc iff every :math:`c_k > 0`.
    """
    out = []
    pk = sp.Poly(sp.expand(p), z)
    while pk.degree() >= 1:
        lc, c0 = pk.LC(), pk.nth(0)
        out.append(sp.factor(lc**2 - c0**2))
        rev = sp.Poly(list(reversed(pk.all_coeffs())), z)
        nxt = sp.Poly(sp.expand((lc * pk - c0 * rev).as_expr() / z), z)
        if nxt.degree() != pk.degree() - 1 or nxt.is_zero:
            break
        pk = nxt
    return out


def _second_compound(A: sp.Matrix) -> sp.Matrix:
    n = A.rows
    idx = list(itertools.combinations(range(n), 2))
    return sp.Matrix(len(idx), len(idx), lambda i, j: A.extract(list(idx[i]), list(idx[j])).det())


def _boundaries(A: sp.Matrix, p: sp.Expr, z: sp.Symbol) -> dict[str, sp.Expr]:
    n = A.rows
    out = {"z=+1": sp.factor(p.subs(z, 1)), "z=-1": sp.factor((-1) ** n * p.subs(z, -1))}
    if n >= 2:
        C2 = _second_compound(A)
        out["complex"] = sp.factor((sp.eye(C2.rows) - C2).det())
    return out


def _stable_component(
    p: sp.Expr, z: sp.Symbol, boundaries: Mapping[str, sp.Expr]
) -> tuple[sp.Float | None, sp.Float | None, str, str]:
    """At exact hyperparameter values: the stable interval of lambda around 0+.

    Returns ``(lower, upper, crossing_up, crossing_down)``; ``None`` for an unbounded end.
    Stability can change only at a root of one of the boundary factors, so it suffices
    to test one point in each interval between consecutive real candidates.
    """
    cands: list[sp.Float] = []
    for k, f in boundaries.items():
        fe = sp.expand(f)
        if fe == 0:
            raise EosInputError(
                f"the step has a root on the unit circle ({k}) for every curvature: a state that never decays "
                "or a marginal mode; there is no stability threshold"
            )
        cands += _real_roots(fe, LAMBDA) if fe.has(LAMBDA) else []
    pts = sorted({*cands, sp.Float(0, _DIGITS)})
    merged: list[sp.Float] = []
    for c in pts:
        if not merged or abs(c - merged[-1]) > _TOL * (1 + abs(c)):
            merged.append(c)
    pts = merged
    i0 = next(i for i, c in enumerate(pts) if abs(c) <= _TOL)  # 0 is in the list

    def stable(lo: sp.Float | None, hi: sp.Float | None) -> bool:
        if lo is None:
            x = hi - 1 - abs(hi)
        elif hi is None:
            x = lo + 1 + abs(lo)
        else:
            x = (lo + hi) / 2
        return _rho(p.subs(LAMBDA, x), z) < 1 - sp.Float("1e-12")

    def interval(i: int) -> tuple[sp.Float | None, sp.Float | None]:  # interval right of pts[i]
        return pts[i], pts[i + 1] if i + 1 < len(pts) else None

    if not stable(*interval(i0)):
        raise EosInputError(
            "the step is unstable already for small curvature lam > 0 (spectral radius > 1 as lam -> 0+): "
            "there is no stable range to bound"
        )
    upper_i = i0
    while upper_i + 1 < len(pts) and stable(*interval(upper_i + 1)):
        upper_i += 1
    upper = pts[upper_i + 1] if upper_i + 1 < len(pts) else None
    lower_i = i0
    while lower_i - 1 >= 0 and stable(pts[lower_i - 1], pts[lower_i]):
        lower_i -= 1
    lower: sp.Float | None
    if lower_i == 0 and stable(None, pts[0]):
        lower = None
    else:
        lower = pts[lower_i]
    cu = _crossing_at(p, z, boundaries, upper) if upper is not None else "none"
    cd = _crossing_at(p, z, boundaries, lower) if lower is not None else "none"
    return lower, upper, cu, cd


def _crossing_at(p: sp.Expr, z: sp.Symbol, boundaries: Mapping[str, sp.Expr], lam: sp.Float) -> str:
    """The way out at a boundary point: from the roots on the unit circle, else the factor that vanishes."""
    kind = _classify_roots(p.subs(LAMBDA, lam), z)[0]
    if kind in boundaries:
        return kind
    vals = {k: abs(sp.N(f.subs(LAMBDA, lam), _DIGITS)) for k, f in boundaries.items()}
    return min(vals, key=lambda k: vals[k])


def _branch(factor: sp.Expr, at: Mapping[sp.Symbol, sp.Expr], target: sp.Float) -> tuple[int, sp.Expr]:
    """The symbolic root of ``factor`` (in lambda) that equals ``target`` at the sample ``at``."""
    sols = sp.solve(factor, LAMBDA)
    tol = sp.Float("1e-10")
    for k, s in enumerate(sols):
        v = _real_at(s, at, tol=tol)
        if v is not None and abs(v - target) <= tol * (1 + abs(target)):
            return k, s
    raise EosInputError(
        f"no closed form found for the root lam = {sp.N(target, 12)} of {sp.factor(factor)} = 0; "
        "give numeric hyperparameter values with values=..."
    )


def _real_at(expr: sp.Expr, sub: Mapping[sp.Symbol, Any], *, tol: sp.Float = _TOL) -> sp.Expr | None:
    r"""``expr`` at ``sub`` as a real number (a ``Float``, or :math:`\pm\infty`); ``None`` where it is not real.

    A threshold branch from the cubic or quartic formula carries :math:`i` terms that cancel
    only numerically, so sympy cannot tell that the number is real and refuses to compare it
    (``Min`` of such numbers raises ``ValueError``).  Here each argument of a ``Min``/``Max``
    is evaluated to :data:`_DIGITS` digits, and a value whose imaginary part is within
    ``tol`` (default :data:`_TOL`) of zero, relative to :math:`1 + |\mathrm{re}|`, counts as real.
    """
    if isinstance(expr, (sp.Min, sp.Max)):
        vals = [_real_at(a, sub, tol=tol) for a in expr.args]
        if any(v is None for v in vals):
            return None
        return min(vals) if isinstance(expr, sp.Min) else max(vals)  # type: ignore[type-var]
    v = sp.N(expr.subs(sub), _DIGITS)
    if v.is_infinite and v.is_extended_real:
        return v
    re, im = v.as_real_imag()
    if not (re.is_Number and im.is_Number) or not re.is_finite or abs(im) > tol * (1 + abs(re)):
        return None
    return re


def _simplify(e: sp.Expr) -> sp.Expr:
    e = sp.factor(sp.simplify(e))
    return e


def thresholds(
    optimizer_or_rule: Any,
    *,
    values: Mapping[str, Any] | None = None,
    samples: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    preconditioned: bool = False,
    time_limit: float | None = None,
) -> StabilityResult:
    r"""Derive the linear-stability threshold :math:`\lambda^*` of an optimizer.

    The optimizer runs on :math:`L = \tfrac12\lambda w^2` (so :math:`g = \lambda w`); its
    step is the linear map :math:`A(\lambda)` of :func:`linear_map`.  A root of
    :math:`p(z) = \det(zI - A)` reaches the unit circle only where :math:`p(1)`,
    :math:`p(-1)` or :math:`\det(I - A^{(2)})` vanishes; the candidate curvatures on each
    are computed, the stable interval containing small :math:`\lambda > 0` is located at
    exact sample values of the hyperparameters, and the branch that bounds it is returned
    in closed form.

    Args:
        optimizer_or_rule: a built-in optimizer name (``"heavy-ball"``), an
            :class:`~eostheory.optimizers.Optimizer`, an :class:`UpdateRule`, or update
            lines such as ``["v = beta*v + g", "w = w - eta*v"]``.
        values: hyperparameters to fix before the derivation (``{"beta": 0.9}``).
        samples: exact sample point(s) of all free hyperparameters used to pick the binding
            branch (default: three points with :math:`\eta \in \{0.1, 1/3, 1\}`, every
            other hyperparameter in :math:`\{0.2, 0.5, 0.9\}`).  The branch is reported for
            the first; a different branch at another point is recorded in ``regimes``.
        preconditioned: read :math:`\lambda` as an eigenvalue of :math:`P^{-1}H` (the rule
            acting on the preconditioned gradient :math:`P^{-1}g` with a fixed
            :math:`P \succ 0`); the algebra is the same, see :func:`matrix_stability`.
        time_limit: seconds allowed to the derivation (default ``EOSTHEORY_TIME_LIMIT``
            or 60; ``0`` for none): a rule with many chained buffers has a characteristic
            polynomial too large for exact algebra, and stops with a message instead of
            running for minutes.

    Returns:
        A :class:`StabilityResult`.

    Raises:
        EosInputError: bad rule text, no ``w`` update, a non-linear or affine term
            (named), a state that never influences ``w``, a step that is unstable already
            for small :math:`\lambda`, or a marginal mode at every :math:`\lambda`.

    Examples:
        >>> r = thresholds("heavy-ball")
        >>> r.threshold_str(), r.crossing
        ('2*(1 + beta)/eta', 'z=-1')
        >>> import sympy as sp
        >>> beta, eta = sp.symbols("beta eta")
        >>> sp.simplify(thresholds("nesterov").threshold - 2*(1 + beta)/(eta*(1 + 2*beta)))
        0
    """
    rule, name = as_rule(optimizer_or_rule)
    with _time_limit(time_limit, f"the stability analysis of {name or _text(rule)}"):
        return _thresholds(rule, name, values=values, samples=samples, preconditioned=preconditioned)


def _thresholds(
    rule: UpdateRule,
    name: str | None,
    *,
    values: Mapping[str, Any] | None,
    samples: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    preconditioned: bool,
) -> StabilityResult:
    A, xs = linear_map(rule)
    fixed = _values(rule, values)
    if fixed:
        A = A.subs(fixed)
    z = _fresh("z", rule.hyperparameters)
    p = sp.expand(A.charpoly(z).as_expr())
    hypers = tuple(sorted(p.free_symbols - {LAMBDA, z}, key=lambda s: s.name))
    pts = _samples(hypers, samples)
    bounds = _boundaries(A, p, z)
    regimes: list[dict[str, Any]] = []
    branches: dict[tuple[str, int], sp.Expr] = {}
    hits: list[tuple[dict, sp.Float | None]] = []
    lower_expr: sp.Expr = sp.Integer(0)
    notes: list[str] = []
    for k, at in enumerate(pts):
        p_at = p.subs(at)
        b_at = {key: f.subs(at) for key, f in bounds.items()}
        lo, hi, cu, cd = _stable_component(p_at, z, b_at)
        if hi is None:
            key: tuple[str, int] = ("none", -1)
            branches.setdefault(key, sp.oo)
        else:
            idx, expr = _branch(bounds[cu], at, hi)
            key = (cu, idx)
            branches.setdefault(key, _simplify(expr))
        hits.append((at, hi))
        regimes.append(
            {
                "sample": {str(h): str(v) for h, v in at.items()},
                "threshold": None if hi is None else float(hi),
                "crossing": key[0],
                "threshold_expr": _show(branches[key]),
                "lower": None if lo is None else float(lo),
            }
        )
        if k == 0:
            if lo is None:
                lower_expr = -sp.oo
            elif abs(lo) > _TOL:
                lower_expr = _simplify(_branch(bounds[cd], at, lo)[1])
    if len(branches) == 1:
        (crossing, _), thr = next(iter(branches.items()))
    else:
        # several branches bind in different regions: min of them, if that reproduces every sample
        finite = [e for e in branches.values() if e is not sp.oo]
        try:
            thr = sp.Min(*finite)
        except (TypeError, ValueError):  # numeric branches sympy cannot compare: keep them all
            thr = sp.Min(*finite, evaluate=False)

        def reproduces(at: dict, hi: sp.Float | None) -> bool:
            m = None if hi is None else _real_at(thr, at)
            return m is not None and abs(m - hi) <= _TOL * (1 + abs(hi))

        ok = all(reproduces(at, hi) for at, hi in hits)
        crossing = "mixed"
        if not ok:
            thr = branches[next(iter(branches))]
            crossing = regimes[0]["crossing"]
            notes.append(
                "the binding branch changes with the hyperparameters; the threshold shown holds at the "
                "first sample, see regimes"
            )
        else:
            notes.append(
                "which way out binds depends on the hyperparameters: "
                + "; ".join(f"{r['crossing']} at {r['sample']}" for r in regimes)
            )
    if preconditioned:
        notes.append("lam is an eigenvalue of P^-1 H: the threshold bounds lambda_max(P^-1 H)")
    return StabilityResult(
        rule=rule,
        name=name,
        state=xs,
        matrix=A,
        polynomial=p,
        threshold=thr,
        crossing=crossing,
        lower=lower_expr,
        boundaries=bounds,
        conditions=_schur_cohn(p, z),
        curvature="lambda_max(P^-1 H)" if preconditioned else "lambda_max(H)",
        samples=pts,
        notes=notes,
        regimes=regimes,
        z=z,
        fixed={h.name: v for h, v in fixed.items()},
    )
