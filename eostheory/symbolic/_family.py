r"""Existence and stability ranges in :math:`\eta` of one algebraic family of equilibria.

A *family* is one irreducible component of an equilibrium system, given by its triangular
lexicographic Gröbner basis over :math:`\mathbb{Q}(\eta, \dots)`.  Its points, for a value
of :math:`\eta`, are found numerically from that basis; whether a real point exists and
whether it is stable can change only where a *boundary polynomial* vanishes on the
family.  Eliminating the unknowns from (family, boundary) leaves a polynomial in
:math:`\eta` alone; its roots are the candidate end points, exact where they have a closed
form, and the predicate is tested between them (:func:`eostheory.symbolic._algebra.intervals`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from eostheory.symbolic._algebra import (
    Intractable,
    NumericFamily,
    eliminate,
    intervals,
    limited,
    sample_inside,
)
from eostheory.symbolic._setup import ETA

__all__ = ["Endpoint", "FamilyRanges", "Interval", "analyse", "real_points"]

Point = dict[sp.Symbol, float]

#: time limit of one elimination (a boundary that takes longer is located numerically)
_ELIM_SECONDS = 8.0


@dataclass(frozen=True)
class Endpoint:
    """An interval end: exact when matched to a closed-form root, else numeric."""

    value: float
    expr: sp.Expr | None = None

    @property
    def exact(self) -> bool:
        """Whether a closed form is known."""
        return self.expr is not None

    def as_expr(self) -> sp.Expr:
        """The closed form, or the value as a float."""
        if self.expr is not None:
            return self.expr
        return sp.oo if math.isinf(self.value) else sp.Float(self.value, 15)


@dataclass(frozen=True)
class Interval:
    r"""An open interval of :math:`\eta`."""

    lo: Endpoint
    hi: Endpoint

    def contains(self, eta: float) -> bool:
        """``lo < eta < hi``."""
        return self.lo.value < eta < self.hi.value

    def sample(self) -> float:
        """A short decimal well inside."""
        return sample_inside(self.lo.value, self.hi.value)


@dataclass
class FamilyRanges:
    """What :func:`analyse` finds: existence and stability intervals, sample, notes."""

    existence: list[Interval]
    stability: list[Interval] | None
    boundaries: dict[str, list[sp.Expr]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _real(pt: Mapping[sp.Symbol, mpmath.mpc], tol: float = 1e-9) -> Point | None:
    out: Point = {}
    for k, v in pt.items():
        c = complex(v)
        if abs(c.imag) > tol * (1 + abs(c.real)):
            return None
        out[k] = c.real
    return out


class _Points:
    """Memoized real points of a family at numeric eta (other parameters at their samples)."""

    def __init__(self, relations: Sequence[sp.Expr], gens: Sequence[sp.Symbol], sample: Mapping[sp.Symbol, Any]):
        self.gens = tuple(gens)
        pre = {k: v for k, v in sample.items() if k != ETA}
        self.family = NumericFamily([sp.expand(r.xreplace(pre)) for r in relations], self.gens, [ETA])
        self.memo: dict[float, list[Point]] = {}

    def __call__(self, eta: float) -> list[Point]:
        hit = self.memo.get(eta)
        if hit is None:
            pts = self.family.points([mpmath.mpf(eta)])
            hit = [p for p in (_real(dict(zip(self.gens, q, strict=True))) for q in pts) if p is not None]
            self.memo[eta] = hit
        return hit


def real_points(
    relations: Sequence[sp.Expr], gens: Sequence[sp.Symbol], sample: Mapping[sp.Symbol, Any], eta: float
) -> list[Point]:
    """The real points of a family at ``eta`` (and the sample values of the other parameters)."""
    return _Points(relations, gens, sample)(eta)


def _lc_disc(relations: Sequence[sp.Expr], gens: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """Leading coefficients and discriminants of each relation in its leading unknown:
    where they vanish, solutions escape to infinity or two of them meet."""
    out: list[sp.Expr] = []
    for r in relations:
        used = [g for g in gens if g in r.free_symbols]
        if not used:
            continue
        v = used[0]
        p = sp.Poly(r, v)
        lc = p.LC()
        if lc.free_symbols:
            out.append(sp.expand(lc))
        if p.degree() >= 2:
            out.append(sp.expand(sp.discriminant(p.as_expr(), v)))
    return out


def _candidates(
    relations: Sequence[sp.Expr],
    gens: Sequence[sp.Symbol],
    params: Sequence[sp.Symbol],
    sample: Mapping[sp.Symbol, Any],
    exprs: Sequence[sp.Expr],
    budget: list[float],
    notes: list[str],
    label: str,
) -> tuple[list[float], list[sp.Expr]]:
    """Numeric candidate values of eta and the boundary polynomials in eta.

    ``budget`` holds the seconds left for eliminations (shared by the whole family).
    """
    others = tuple(p for p in params if p != ETA)
    nums: list[float] = []
    polys: list[sp.Expr] = []
    at = {k: v for k, v in sample.items() if k != ETA}
    for ex in exprs:
        if ex == 0 or not sp.sympify(ex).free_symbols:
            continue
        left = budget[0]
        if left < 0.5:
            notes.append(f"time budget spent: some {label} end points are located numerically")
            break
        t0 = time.perf_counter()
        try:
            P = eliminate(relations, ex, gens, ETA, others, seconds=min(left, _ELIM_SECONDS), what=f"{label} boundary")
        except Intractable:
            notes.append(f"a {label} boundary was not eliminated in time: its end points are located numerically")
            P = None
        budget[0] -= time.perf_counter() - t0
        if P is None or P == 1 or ETA not in sp.sympify(P).free_symbols:
            continue
        polys.append(P)
        nums += _positive_real_roots(sp.expand(P.xreplace(at)))
    return nums, polys


def _positive_real_roots(p: sp.Expr) -> list[float]:
    """Positive real roots in eta of a polynomial with rational coefficients (isolated exactly)."""
    out: list[float] = []
    if ETA not in p.free_symbols or p.free_symbols - {ETA}:
        return out
    _, facs = sp.factor_list(p)
    for f, _ in facs:
        if ETA not in f.free_symbols:
            continue
        try:
            for (lo, hi), _m in sp.Poly(f, ETA).intervals(eps=sp.Rational(1, 10**14)):
                if hi > 0:
                    out.append(float((lo + hi) / 2))
        except (sp.PolynomialError, NotImplementedError):
            continue
    return out


def _closed_form_impl(value: float, polys: list[sp.Expr], at: dict[sp.Symbol, Any]) -> sp.Expr | None:
    """A closed form of the root ``value`` (at the sample ``at``) of one of ``polys``."""
    for P in polys:
        _, facs = sp.factor_list(P)
        for f, _ in facs:
            if ETA not in f.free_symbols:
                continue
            fn = sp.Poly(sp.expand(f.xreplace(at)), ETA)
            size = sum(abs(float(c)) * abs(value) ** k for (k,), c in fn.terms())
            if abs(float(fn.eval(sp.Float(value, 30)))) > 1e-8 * max(size, 1e-300):
                continue
            deg = sp.degree(f, ETA)
            if deg <= 2:
                for r in sp.roots(sp.Poly(f, ETA)):
                    v = complex(sp.N(r.xreplace(at), 30))
                    if abs(v.imag) < 1e-12 and abs(v.real - value) <= 1e-8 * (1 + abs(value)):
                        return sp.factor(r)
            elif not (f.free_symbols - {ETA}):
                for k, r in enumerate(sp.Poly(f, ETA).real_roots()):
                    if abs(float(r) - value) <= 1e-8 * (1 + abs(value)):
                        return sp.CRootOf(f, k)
    return None


def _match(value: float, polys: list[sp.Expr], at: Mapping[sp.Symbol, Any], seconds: float | None) -> Endpoint:
    if math.isinf(value):
        return Endpoint(value, sp.oo)
    if value <= 1e-12:
        return Endpoint(0.0, sp.Integer(0))
    try:
        expr = limited(_closed_form_impl, value, list(polys), dict(at), seconds=seconds, what="closed form")
    except Intractable:
        expr = None
    if expr is not None:
        return Endpoint(float(sp.N(expr.xreplace(dict(at)), 20)), expr)
    return Endpoint(value)


def analyse(
    relations: Sequence[sp.Expr],
    gens: Sequence[sp.Symbol],
    params: Sequence[sp.Symbol],
    sample: Mapping[sp.Symbol, Any],
    *,
    valid: Callable[[Point, float], bool],
    existence_exprs: Sequence[sp.Expr],
    stable: Callable[[Point, float], bool] | None,
    stability_exprs: Sequence[sp.Expr],
    seconds: float | None,
    scale: float = 1.0,
) -> FamilyRanges:
    r"""Existence and stability intervals in :math:`\eta` of a family.

    Args:
        relations: the family's triangular basis (polynomials in ``gens`` and ``params``).
        gens: its unknowns.
        params: the symbolic parameters (:math:`\eta` among them).
        sample: values of the parameters other than :math:`\eta` for the numerical tests.
        valid: whether a real point is an admissible equilibrium at :math:`\eta` (positive
            amplitude, top eigenvalue, …).
        existence_exprs: polynomials whose zeros can bound ``valid`` (e.g. the squared
            amplitude); leading coefficients and discriminants of the relations are added.
        stable: whether an admissible point is linearly stable at :math:`\eta` (``None``: not
            analysed).
        stability_exprs: polynomials whose zeros can bound ``stable``.
        seconds: the time allowed for the eliminations of this family (end points not
            eliminated in time are located numerically).
        scale: a typical value of :math:`\eta` (where to look when nothing bounds the range).

    Returns:
        A :class:`FamilyRanges`.
    """
    notes: list[str] = []
    budget = [math.inf if seconds is None else float(seconds)]
    at = {k: v for k, v in sample.items() if k != ETA}
    per = None if seconds is None else min(seconds, _ELIM_SECONDS)
    pts = _Points(relations, gens, sample)
    ex_exprs = [*existence_exprs, *_lc_disc(relations, gens)]
    n1, p1 = _candidates(relations, gens, params, sample, ex_exprs, budget, notes, "existence")

    def exists(eta: float) -> bool:
        return any(valid(p, eta) for p in pts(eta))

    ex_iv, _ = intervals(exists, n1, scale=scale)
    existence = [Interval(_match(a, p1, at, per), _match(b, p1, at, per)) for a, b in ex_iv]
    if any(not (iv.lo.exact and iv.hi.exact) for iv in existence):
        notes.append("some existence end points are numerical (no closed form found)")
    stability = None
    polys: dict[str, list[sp.Expr]] = {"existence": p1}
    if stable is not None:
        n2, p2 = _candidates(relations, gens, params, sample, stability_exprs, budget, notes, "stability")
        polys["stability"] = p2

        def stab(eta: float) -> bool:
            ok = [p for p in pts(eta) if valid(p, eta)]
            return bool(ok) and all(stable(p, eta) for p in ok)

        ends = [x for a, b in ex_iv for x in (a, b) if math.isfinite(x)]
        st_iv, _ = intervals(stab, [*n1, *n2, *ends], scale=scale)
        stability = [Interval(_match(a, [*p1, *p2], at, per), _match(b, [*p1, *p2], at, per)) for a, b in st_iv]
        if any(not (iv.lo.exact and iv.hi.exact) for iv in stability):
            notes.append("some stability end points are numerical (no closed form found)")
    return FamilyRanges(existence, stability, polys, notes)
