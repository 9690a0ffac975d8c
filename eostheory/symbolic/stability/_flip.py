r"""The flip bifurcation of GD on a one-dimensional potential at :math:`L'' = 2/\eta` and its exact 2-cycles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._parse import as_sympy as _as_sympy
from eostheory.symbolic.stability._linear import _DIGITS, _fresh
from eostheory.symbolic.stability._thresholds import _real_roots


# --------------------------------------------------------------------------------------
# flip bifurcation of GD on a 1-D potential
# --------------------------------------------------------------------------------------
@dataclass
class FlipResult:
    r"""The period-doubling (flip) bifurcation of GD at a minimum of a 1-D potential.

    With :math:`n = w - w_0`, the GD map :math:`f(w) = w - \eta L'(w)` at
    :math:`\eta_0 = 2/L''(w_0)` is :math:`f(n) = -n + a n^2 + b n^3 + \dots`,
    :math:`a = -\eta L'''/2`, :math:`b = -\eta L''''/6`, and
    :math:`f\circ f(n) = n - 2(a^2 + b)n^3 + \dots`.

    Attributes:
        potential: the potential.
        point: :math:`w_0` (a critical point, :math:`L'(w_0) = 0`).
        eta: the learning-rate symbol.
        eta0: :math:`2/L''(w_0)`.
        derivatives: :math:`(L'', L''', L'''')` at :math:`w_0`.
        criterion: :math:`3L'''^2 - L''L''''` (positive: supercritical).
        kind: ``"supercritical"``, ``"subcritical"``, ``"degenerate"`` (criterion 0) or
            ``"undetermined"`` (symbolic constants of unknown sign).
        amplitude_squared: :math:`(\eta L'' - 2)/(\eta^2 L'''^2/4 - \eta L''''/6)`, the
            squared half-width of the 2-cycle to leading order in :math:`\eta - \eta_0`.
        exact_cycle: for polynomial potentials, the factor of :math:`(f\circ f(w) - w)/(f(w) - w)`
            whose roots are the 2-cycle born at :math:`\eta_0` (``None`` otherwise).
        multiplier: :math:`f'(p)f'(q)` on that 2-cycle as a function of :math:`\eta`
            (when the factor is quadratic; else ``None``).
        stable_range: :math:`(\eta_0, \eta_1)` where that 2-cycle is stable (exact), or
            ``None``.
        exit: how the 2-cycle loses stability at :math:`\eta_1`: ``"+1"`` (a pitchfork of
            the 2-cycle; symmetry-breaking for an even potential) or ``"-1"`` (period
            doubling to a 4-cycle).
        center: the exact mean :math:`(p + q)/2` of the 2-cycle (quadratic factor only).
        exact_amplitude_squared: the exact :math:`((p - q)/2)^2` (quadratic factor only).
        notes: explanations.
    """

    potential: Any
    point: sp.Expr
    eta: sp.Symbol
    eta0: sp.Expr
    derivatives: tuple[sp.Expr, sp.Expr, sp.Expr]
    criterion: sp.Expr
    kind: str
    amplitude_squared: sp.Expr
    exact_cycle: sp.Expr | None
    multiplier: sp.Expr | None
    stable_range: tuple[sp.Expr, sp.Expr] | None
    exit: str | None
    center: sp.Expr | None = None
    exact_amplitude_squared: sp.Expr | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def amplitude(self) -> sp.Expr:
        """Half-width of the 2-cycle to leading order (exact for the quartic)."""
        return sp.sqrt(self.amplitude_squared)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "potential": str(self.potential),
            "point": str(self.point),
            "eta0": str(self.eta0),
            "derivatives": {
                "L2": str(self.derivatives[0]),
                "L3": str(self.derivatives[1]),
                "L4": str(self.derivatives[2]),
            },
            "criterion_3L3^2-L2L4": str(self.criterion),
            "kind": self.kind,
            "amplitude_squared": str(self.amplitude_squared),
            "exact_amplitude_squared": None
            if self.exact_amplitude_squared is None
            else str(self.exact_amplitude_squared),
            "center": None if self.center is None else str(self.center),
            "exact_cycle_factor": None if self.exact_cycle is None else str(self.exact_cycle),
            "multiplier": None if self.multiplier is None else str(self.multiplier),
            "stable_range": None if self.stable_range is None else [str(x) for x in self.stable_range],
            "exit": self.exit,
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [
            f"flip bifurcation of GD on {self.potential} at w0 = {self.point}",
            f"  eta0 = 2/L''          {self.eta0}",
            f"  3L'''^2 - L''L''''    {self.criterion}   -> {self.kind}",
            f"  amplitude^2 (leading) {self.amplitude_squared}",
        ]
        if self.exact_amplitude_squared is not None:
            lines.append(f"  amplitude^2 (exact)   {self.exact_amplitude_squared}   (cycle centre {self.center})")
        if self.multiplier is not None:
            lines.append(f"  2-cycle multiplier    {self.multiplier}")
        if self.stable_range is not None:
            lines.append(
                f"  stable 2-cycle for   {self.stable_range[0]} < eta < {self.stable_range[1]} (exit {self.exit})"
            )
        lines += [f"  note                  {n}" for n in self.notes]
        return "\n".join(lines)


def _one_d(potential: Any, constants: Mapping[str, float] | None) -> tuple[Any, sp.Symbol, sp.Expr, dict]:
    from eostheory.symbolic.potential import as_potential

    pot = as_potential(potential, constants=constants)
    if pot.dim != 1:
        raise EosInputError(f"the flip bifurcation is one-dimensional; {pot} has {pot.dim} parameters")
    values = {s: (None if v is None else sp.nsimplify(v, rational=True)) for s, v in pot.constants.items()}
    return pot, pot.params[0], pot.expr, values


def flip_bifurcation(
    potential: Any,
    point: float | str | sp.Expr = 0,
    *,
    constants: Mapping[str, float] | None = None,
) -> FlipResult:
    r"""Classify the flip bifurcation of GD at a critical point of a 1-D potential.

    Supercritical (a stable 2-cycle is born for :math:`\eta` just above
    :math:`\eta_0 = 2/L''`) iff :math:`3L'''^2 > L''L''''`, subcritical (GD leaves the
    neighbourhood) iff :math:`<`.  The sign is decided with the potential's constant
    values; when a constant is symbolic, with all constants assumed positive.

    For a polynomial potential the 2-cycle is followed exactly: its points are the roots
    of a factor of :math:`(f\circ f(w) - w)/(f(w) - w)`, its multiplier
    :math:`f'(p)f'(q) = \mathrm{Res}_w(\text{factor}, f')/\mathrm{lc}^{\deg f'}` and the
    stable range ends where the multiplier reaches :math:`\pm 1`.

    Args:
        potential: a 1-D :class:`~eostheory.symbolic.Potential`, toy name or formula.
        point: the critical point :math:`w_0` (default 0).
        constants: constant values overriding the potential's.

    Returns:
        A :class:`FlipResult`.

    Raises:
        EosInputError: more than one parameter, :math:`L'(w_0) \ne 0`, :math:`L''(w_0) \le 0`, or
            :math:`L'''(w_0) = L''''(w_0) = 0` (no 2-cycle is selected: its amplitude is undefined).

    Examples:
        >>> r = flip_bifurcation("quartic")
        >>> r.kind, r.amplitude_squared, r.stable_range, r.exit
        ('supercritical', (S*eta - 2)/(Q*eta), (2/S, 3/S), '+1')
    """
    pot, w, L, cvals = _one_d(potential, constants)
    w0 = _as_sympy(point, "the critical point w0")
    eta = _fresh("eta", L.free_symbols)
    d = [sp.diff(L, w, k) for k in range(1, 5)]
    at = [sp.simplify(x.subs(w, w0)) for x in d]
    known = {s: v for s, v in cvals.items() if v is not None}
    if sp.simplify(at[0].subs(known)) != 0:
        raise EosInputError(f"w0 = {w0} is not a critical point of {pot}: L'(w0) = {at[0]}")
    L2, L3, L4 = at[1], at[2], at[3]
    L2v = sp.simplify(L2.subs(known))
    pos = {s: sp.Symbol(s.name, positive=True) for s in cvals}
    if L2v.is_number and L2v <= 0:
        raise EosInputError(f"L''(w0) = {L2v} <= 0: w0 is not a minimum, GD has no flip there")
    eta0 = sp.simplify(2 / L2)
    crit = sp.factor(sp.expand(3 * L3**2 - L2 * L4))
    notes: list[str] = []
    cv = crit.subs(known)
    if cv.free_symbols:
        cv = sp.simplify(cv.subs(pos))
        notes.append("the sign of the criterion assumes every symbolic constant is positive")
    if cv.is_positive:
        kind = "supercritical"
    elif cv.is_negative:
        kind = "subcritical"
    elif cv.is_zero:
        kind = "degenerate"
        notes.append("3L'''^2 = L''L'''': the cubic term vanishes, higher orders decide")
    else:
        kind = "undetermined"
    denom = sp.simplify(eta**2 * L3**2 / 4 - eta * L4 / 6)
    if denom == 0:
        raise EosInputError(
            f"the 2-cycle amplitude of GD on {pot} at w0 = {w0} is undefined (infinite): L'''(w0) = L''''(w0) = 0, "
            "so no cubic or quartic term selects a 2-cycle (on a quadratic GD is linear and every point is a "
            "2-cycle at eta0); add a higher-order term, e.g. 'w**2/2 - w**4/4'"
        )
    amp2 = sp.factor(sp.simplify((eta * L2 - 2) / denom))
    exact, mult, rng, exit_ = None, None, None, None
    center, half2 = None, None
    f = w - eta * d[0]
    if L.is_polynomial(w):
        ff = sp.expand(f.subs(w, f))
        quo, rem = sp.div(sp.expand(ff - w), sp.expand(f - w), w)
        if rem == 0 and quo != 0:
            facs = [fa for fa, _ in sp.factor_list(quo, w)[1] if fa.has(w)]
            # the branch born at (w0, eta0)
            born = [fa for fa in facs if sp.simplify(fa.subs({w: w0, eta: eta0})) == 0]
            if born:
                exact = born[0]
                if sp.degree(exact, w) == 2:
                    fp = sp.diff(f, w)
                    lc = sp.Poly(exact, w).LC()
                    mult = sp.factor(sp.resultant(exact, fp, w) / lc ** sp.degree(fp, w))
                    c2, c1, c0 = sp.Poly(exact, w).all_coeffs()
                    center = sp.factor(-c1 / (2 * c2))
                    half2 = sp.factor((c1**2 - 4 * c2 * c0) / (4 * c2**2))
                    rng, exit_ = _cycle_range(mult, eta, eta0, known, pos, kind)
                    if exit_ == "+1":
                        notes.append(
                            "at the end of the range the 2-cycle's multiplier reaches +1: a pitchfork of the "
                            "2-cycle (symmetry-breaking when L is even: two asymmetric 2-cycles with a non-zero "
                            "mean take over, and they later period-double)"
                        )
                    elif exit_ == "-1":
                        notes.append("at the end of the range the 2-cycle period-doubles (multiplier -1): a 4-cycle")
    if kind == "subcritical":
        notes.append("subcritical: the 2-cycle born at eta0 exists below eta0 and is unstable; GD blows up above it")
    return FlipResult(pot, w0, eta, eta0, (L2, L3, L4), crit, kind, amp2, exact, mult, rng, exit_, center, half2, notes)


def _cycle_range(
    mult: sp.Expr, eta: sp.Symbol, eta0: sp.Expr, known: Mapping, pos: Mapping, kind: str
) -> tuple[tuple[sp.Expr, sp.Expr] | None, str | None]:
    """Stable range (eta0, eta1) of the 2-cycle with multiplier ``mult(eta)``."""
    if kind != "supercritical":
        return None, None

    def num(e: sp.Expr) -> sp.Expr:
        e = e.subs(known)
        return sp.N(e.subs(pos).subs({v: 1 for v in pos.values()}) if e.free_symbols - {eta} else e, _DIGITS)

    e0 = num(eta0)
    best: tuple[sp.Float, sp.Expr, str] | None = None
    for target, label in ((1, "+1"), (-1, "-1")):
        for s in sp.solve(sp.numer(sp.together(mult - target)), eta):
            v = num(s)
            re, im = v.as_real_imag()
            if abs(im) < sp.Float("1e-12") and re > e0 * (1 + sp.Float("1e-12")) and (best is None or re < best[0]):
                best = (re, sp.simplify(s), label)
    if best is None:
        return (eta0, sp.oo), None
    return (eta0, best[1]), best[2]


@dataclass(frozen=True)
class TwoCycle:
    """A 2-cycle ``p -> q -> p`` of GD with its multiplier ``f'(p) f'(q)``."""

    p: float
    q: float
    multiplier: float

    @property
    def stable(self) -> bool:
        """``|multiplier| < 1``."""
        return abs(self.multiplier) < 1

    @property
    def mean(self) -> float:
        """The time-average of the cycle, ``(p + q)/2``."""
        return (self.p + self.q) / 2


def two_cycles(potential: Any, eta: float, *, constants: Mapping[str, float] | None = None) -> list[TwoCycle]:
    r"""All real 2-cycles of GD on a 1-D polynomial potential at a numeric :math:`\eta`.

    The roots of :math:`(f\circ f(w) - w)/(f(w) - w)` are the points of 2-cycles; each
    real one is paired with its image.  Used to follow what happens past the end of the
    symmetric cycle's stable range (the quartic's asymmetric 2-cycles).

    Raises:
        EosInputError: a potential that is not a polynomial in its parameter, or a
            symbolic constant.

    Examples:
        >>> [(round(c.p, 6), round(c.q, 6), round(c.multiplier, 6)) for c in two_cycles("quartic", 2.5)]
        [(-0.447214, 0.447214, 0.0)]
    """
    _, w, L, cvals = _one_d(potential, constants)
    missing = [str(s) for s, v in cvals.items() if v is None]
    if missing:
        raise EosInputError(f"give values for the constants {missing}")
    L = L.subs(cvals)
    if not L.is_polynomial(w):
        raise EosInputError(f"two_cycles needs a polynomial potential, got {L}")
    e = sp.nsimplify(eta, rational=True)
    f = sp.expand(w - e * sp.diff(L, w))
    fp = sp.diff(f, w)
    quo, _ = sp.div(sp.expand(f.subs(w, f) - w), sp.expand(f - w), w)
    out: list[TwoCycle] = []
    seen: list[float] = []
    for r in _real_roots(quo, w) if quo.has(w) else []:
        pv = float(r)
        if any(abs(pv - s) < 1e-9 * (1 + abs(pv)) for s in seen):
            continue
        qv = float(f.subs(w, r))
        seen += [pv, qv]
        out.append(TwoCycle(min(pv, qv), max(pv, qv), float(fp.subs(w, r) * fp.subs(w, sp.Float(qv, _DIGITS)))))
    return sorted(out, key=lambda c: (c.mean, c.p))
