r"""Period-2 and period-4 orbits of an optimizer's step, derived exactly.

The step :math:`z \mapsto F(z)` on the state :math:`z = (w, v_1, \dots)` comes from the
optimizer's :class:`~eostheory.symbolic.rules.UpdateRule` with :math:`g = \nabla L(w)`.

**Fixed points factored out by symmetry.**  A period-:math:`p` orbit
:math:`z_0 \to z_1 \to \dots \to z_{p-1} \to z_0` is written in pairs
:math:`z_t = c_j \mp h_j` (:math:`t = j` and :math:`t = j + p/2`) with centre :math:`c_j` and
half-difference :math:`h_j`.  Shifting the orbit by :math:`p/2` steps swaps the two members
of every pair, i.e. :math:`h \mapsto -h`, so each orbit equation splits into a part even
and a part odd in :math:`h`.  Write :math:`h_0 = e\,(0, \dots, 0, 1, k_{\ell+1}, \dots)`
(a chart: :math:`\ell` is the first coordinate in which the orbit moves) and every other
half-difference as :math:`e\,\hat h_j`.  The odd equations are divisible by :math:`e`;
after the division every equation depends on :math:`e` only through :math:`s = e^2`.  The
orbits with :math:`z_0 = z_{p/2}` (fixed points, and 2-cycles for :math:`p = 4`) sit at
:math:`e = 0` and have been divided out: what remains is a polynomial system in the
centres, :math:`k`, :math:`\hat h` and :math:`s` over :math:`\mathbb{Q}(\eta, \dots)`, solved
by Gröbner bases (:func:`eostheory.symbolic._algebra.components`).

**Buffers eliminated.**  When every buffer is updated linearly in the buffers (heavy ball,
Nesterov, EMA momentum, …), on a periodic orbit the buffers solve a cyclic linear system
whose right-hand side is the orbit's gradients; it is solved exactly and substituted, so
only the parameters remain unknown.

**Stability.**  The orbit is stable when every eigenvalue of the :math:`p`-step Jacobian
:math:`J = DF(z_{p-1}) \cdots DF(z_0)` lies inside the unit disc; its characteristic
polynomial depends on :math:`e` only through :math:`s` (the shift by :math:`p/2` is a
similarity).  Stability changes where an eigenvalue crosses :math:`\pm 1` or a complex pair
crosses the circle (:math:`\det J = 1` for two eigenvalues).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mpmath
import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._algebra import Budget, Intractable, limited, poly_numer, solve_charted
from eostheory.symbolic._family import FamilyRanges, Point, analyse
from eostheory.symbolic._setup import ETA, Setup, canonical, exact
from eostheory.symbolic.rules import REDUCTIONS, G, UpdateRule, W
from eostheory.symbolic.stability import _schur_cohn

__all__ = ["OrbitFamily", "OrbitSystem", "build_orbit_system", "orbit_families"]


@dataclass
class OrbitSystem:
    """The charted orbit equations of one optimizer on one potential.

    Attributes:
        period: :math:`p`.
        lead: the chart: index of the first coordinate in which the orbit moves.
        gens: the unknowns in lexicographic order (centres last).
        polys: the equations.
        params: the symbolic parameters (:math:`\\eta`, free hyperparameters, constants).
        e, s: the half-difference scale and its square.
        points: the orbit's parameters :math:`w_t`, in ``e`` and ``gens``.
        states: the buffers :math:`v_t` (one list per time, coordinates per buffer).
        jac: the :math:`p`-step Jacobian of the full state, in ``e`` and ``gens``.
        hyper: the hyperparameters of the rule (canonical symbols) and their fixed values.
    """

    period: int
    lead: int
    gens: tuple[sp.Symbol, ...]
    polys: list[sp.Expr]
    params: tuple[sp.Symbol, ...]
    e: sp.Symbol
    s: sp.Symbol
    centers: list[list[sp.Expr]]
    halves: list[list[sp.Expr]]
    points: list[list[sp.Expr]]
    states: list[list[list[sp.Expr]]]
    jac: sp.Matrix
    chart_k: tuple[sp.Symbol, ...]
    hyper: dict[sp.Symbol, sp.Expr | None]


def _rule_exprs(rule: UpdateRule, fixed: Mapping[str, Any]) -> tuple[dict[sp.Symbol, sp.Expr], dict[sp.Symbol, Any]]:
    comp = rule.composed()
    for s, e in comp.items():
        bad = [f for f in e.atoms(sp.Function)]
        if bad or not e.is_rational_function(*e.free_symbols):
            what = bad[0] if bad else e
            kind = "a reduction" if bad and isinstance(bad[0], tuple(REDUCTIONS.values())) else "not rational"
            raise EosInputError(
                f"update of {s} = {e}: {what} is {kind}; exact orbits need a step that is a rational map "
                "(sign, abs, norms and roots are not)"
            )
    known = {h.name: h for h in rule.hyperparameters}
    unknown = sorted(set(fixed) - set(known))
    if unknown:
        raise EosInputError(f"the rule has no hyperparameter(s) {unknown}; it has {sorted(known)}")
    if "eta" not in known:
        raise EosInputError(f"the rule {rule} has no step size eta: the ranges are given in eta")
    sub: dict[sp.Symbol, sp.Expr] = {}
    hyper: dict[sp.Symbol, Any] = {}
    for name, h in known.items():
        canon = canonical(h)
        if name in fixed and name != "eta":
            sub[h] = exact(fixed[name], name)
            hyper[canon] = sub[h]
        else:
            sub[h] = canon
            hyper[canon] = None
    return {s: e.xreplace(sub) for s, e in comp.items()}, hyper


def build_orbit_system(
    setup: Setup, rule: UpdateRule, period: int, lead: int, fixed: Mapping[str, Any] | None = None
) -> OrbitSystem:
    """Build the charted orbit equations (see the module docstring).

    Raises:
        EosInputError: a period other than 2 or 4, a step that is not rational.
    """
    if period not in (2, 4):
        raise EosInputError(f"period must be 2 or 4, got {period}")
    comp, hyper = _rule_exprs(rule, dict(fixed or {}))
    n = setup.dim
    half = period // 2
    states = list(rule.state)
    grad = setup.gradient()
    e, s = sp.Symbol("e_"), sp.Symbol("s_")
    centers = [[sp.Symbol(f"c{j}_{i}") for i in range(n)] for j in range(half)]
    ks = [sp.Symbol(f"k_{i}") for i in range(lead + 1, n)]
    h0 = [sp.Integer(0)] * lead + [e] + [e * k for k in ks]
    hhat = [[sp.Symbol(f"h{j}_{i}") for i in range(n)] for j in range(1, half)]
    halves = [h0] + [[e * x for x in row] for row in hhat]
    pts = [
        [centers[t % half][i] + (1 if t >= half else -1) * halves[t % half][i] for i in range(n)] for t in range(period)
    ]
    gts = [[gi.xreplace(dict(zip(setup.params, pts[t], strict=True))) for gi in grad] for t in range(period)]
    # buffers: eliminated when linear in the buffers, else unknowns
    linear = (
        all(not (sp.Matrix([comp[v]]).jacobian(states).free_symbols & set(states)) for v in states) if states else True
    )
    aux: list[sp.Symbol] = []
    V: list[list[list[sp.Expr]]] = [[[sp.Integer(0)] * n for _ in states] for _ in range(period)]
    if states and linear:
        for i in range(n):
            unk = [[sp.Symbol(f"v{t}_{j}") for j in range(len(states))] for t in range(period)]
            eqs = []
            for t in range(period):
                env = {W: pts[t][i], G: gts[t][i], **{states[j]: unk[t][j] for j in range(len(states))}}
                for j, v in enumerate(states):
                    eqs.append(unk[(t + 1) % period][j] - comp[v].xreplace(env))
            flat = [x for row in unk for x in row]
            sol = sp.solve(eqs, flat, dict=True)
            if len(sol) != 1:
                raise EosInputError(f"the buffers of {rule} have no unique periodic solution on a {period}-orbit")
            for t in range(period):
                for j in range(len(states)):
                    V[t][j][i] = sp.together(sol[0][unk[t][j]])
    elif states:
        for j in range(len(states)):
            for jj in range(half):
                mu = [sp.Symbol(f"mu{jj}_{j}_{i}") for i in range(n)]
                nu = [sp.Symbol(f"nu{jj}_{j}_{i}") for i in range(n)]
                aux += mu + nu
                for i in range(n):
                    V[jj][j][i] = mu[i] - e * nu[i]
                    V[jj + half][j][i] = mu[i] + e * nu[i]
    # the orbit equations A_t (t < p/2); the shifted ones are their mirror images e -> -e
    polys: list[sp.Expr] = []
    for t in range(half):
        for i in range(n):
            env = {W: pts[t][i], G: gts[t][i], **{states[j]: V[t][j][i] for j in range(len(states))}}
            eqs = [pts[(t + 1) % period][i] - comp[W].xreplace(env)]
            if states and not linear:
                eqs += [V[(t + 1) % period][j][i] - comp[v].xreplace(env) for j, v in enumerate(states)]
            for A in eqs:
                polys += _even_odd(A, e, s)
    params = (
        ETA,
        *sorted((h for h, v in hyper.items() if v is None and h != ETA), key=lambda x: x.name),
        *setup.symbolic,
    )
    gens = tuple([*aux, *[x for row in hhat for x in row], *ks, s, *[c for row in centers for c in row]])
    jac = _step_jacobian(setup, comp, states, pts, V)
    return OrbitSystem(period, lead, gens, polys, params, e, s, centers, halves, pts, V, jac, tuple(ks), hyper)


def _even_odd(A: sp.Expr, e: sp.Symbol, s: sp.Symbol) -> list[sp.Expr]:
    num, den = sp.fraction(sp.together(A))
    num, den = sp.expand(num), sp.expand(den)
    mnum, mden = num.xreplace({e: -e}), den.xreplace({e: -e})
    even = sp.expand(num * mden + mnum * den)
    odd = sp.expand(num * mden - mnum * den)
    out = []
    for p, parity in ((even, 0), (odd, 1)):
        if p == 0:
            continue
        P = sp.Poly(p, e)
        if any(m[0] % 2 != parity for m in P.monoms()):
            raise RuntimeError("internal error: orbit equation without the expected symmetry")
        terms = [c * s ** ((m[0] - parity) // 2) for m, c in zip(P.monoms(), P.coeffs(), strict=True)]
        out.append(sp.expand(sp.Add(*terms)))
    return out


def _step_jacobian(
    setup: Setup, comp: dict[sp.Symbol, sp.Expr], states: list[sp.Symbol], pts: list, V: list
) -> sp.Matrix:
    """The p-step Jacobian of the full state (w, then each buffer), at the orbit."""
    n = setup.dim
    wsym = list(setup.params)
    vsym = [[sp.Symbol(f"_v{j}_{i}") for i in range(n)] for j in range(len(states))]
    grad = setup.gradient()
    F: list[sp.Expr] = []
    for i in range(n):
        env = {W: wsym[i], G: grad[i], **{states[j]: vsym[j][i] for j in range(len(states))}}
        F.append(comp[W].xreplace(env))
    for v in states:
        for i in range(n):
            env = {W: wsym[i], G: grad[i], **{states[jj]: vsym[jj][i] for jj in range(len(states))}}
            F.append(comp[v].xreplace(env))
    zs = wsym + [x for row in vsym for x in row]
    DF = sp.Matrix(F).jacobian(zs)
    J = sp.eye(len(zs))
    for t in range(len(pts)):
        sub = dict(zip(wsym, pts[t], strict=True))
        for j in range(len(states)):
            sub.update(dict(zip(vsym[j], V[t][j], strict=True)))
        J = DF.xreplace(sub) * J
    return J


@dataclass
class OrbitFamily:
    """One family of period-p orbits (a component of the charted system).

    Attributes:
        system: the :class:`OrbitSystem` it belongs to.
        relations: its triangular basis in the chart unknowns.
        charpoly: coefficients of :math:`\\det(\\mu I - J)` in the chart unknowns (``s`` for ``e**2``),
            highest power first.
        ranges: existence and stability intervals.
    """

    system: OrbitSystem
    relations: list[sp.Expr]
    charpoly: list[sp.Expr]
    ranges: FamilyRanges | None = None
    notes: list[str] = field(default_factory=list)


def _even_in_s(expr: sp.Expr, e: sp.Symbol, s: sp.Symbol) -> sp.Expr:
    num, den = sp.fraction(sp.together(expr))
    out = []
    for p in (sp.expand(num), sp.expand(den)):
        P = sp.Poly(p, e)
        if any(m[0] % 2 for m in P.monoms()):
            raise RuntimeError("internal error: a spectral invariant of the orbit is not even in the half-difference")
        out.append(sp.Add(*[c * s ** (m[0] // 2) for m, c in zip(P.monoms(), P.coeffs(), strict=True)]))
    return sp.cancel(out[0] / out[1])


def _charpoly_impl(J: sp.Matrix, e: sp.Symbol, s: sp.Symbol) -> list[sp.Expr]:
    mu = sp.Symbol("_mu")
    if J.rows == 1:
        return [sp.Integer(1), _even_in_s(-J[0, 0], e, s)]
    if J.rows == 2:
        tr = J[0, 0] + J[1, 1]
        det = J[0, 0] * J[1, 1] - J[0, 1] * J[1, 0]
        return [sp.Integer(1), _even_in_s(-tr, e, s), _even_in_s(det, e, s)]
    cp = J.charpoly(mu).all_coeffs()
    return [_even_in_s(c, e, s) for c in cp]


def _boundaries_impl(cp: list[sp.Expr]) -> list[sp.Expr]:
    """Polynomials whose zeros can change the stability of the orbit: the characteristic
    polynomial at +1 and -1 and, for two or more eigenvalues, the Schur-Cohn chain (whose
    terms vanish where a pair of eigenvalues meets the unit circle)."""

    deg = len(cp) - 1
    plus = sum(cp)
    minus = sum(c * (-1) ** (deg - k) for k, c in enumerate(cp))
    out = [poly_numer(plus), poly_numer(minus)]
    if deg == 2:
        out.append(poly_numer(cp[2] - cp[0]))  # det J = 1: a complex pair on the circle
    elif deg >= 3:
        z = sp.Symbol("_z")
        num = [poly_numer(c) for c in cp]
        den = sp.lcm_list([sp.fraction(sp.together(c))[1] for c in cp])
        P = sp.expand(sum(sp.cancel(c * den) * z ** (deg - k) for k, c in enumerate(cp)))
        del num
        out += [poly_numer(c) for c in _schur_cohn(P, z)]
    return out


def _boundaries(cp: list[sp.Expr], seconds: float | None) -> list[sp.Expr]:
    try:
        return limited(_boundaries_impl, cp, seconds=seconds, what="stability boundaries")
    except Intractable:
        deg = len(cp) - 1
        return [poly_numer(sum(cp)), poly_numer(sum(c * (-1) ** (deg - k) for k, c in enumerate(cp)))]


def orbit_families(
    setup: Setup,
    rule: UpdateRule,
    period: int,
    *,
    fixed: Mapping[str, Any] | None = None,
    sample_hyper: Mapping[str, Any] | None = None,
    analyse_ranges: bool = True,
    budget: Budget | None = None,
) -> tuple[list[OrbitFamily], list[str]]:
    """All families of period-``period`` orbits of ``rule`` on the setup's potential.

    Returns:
        ``(families, notes)``; a chart whose algebra does not finish within the time limit
        adds a note and no family.

    Raises:
        EosInputError: as :func:`build_orbit_system`.
    """
    out: list[OrbitFamily] = []
    notes: list[str] = []
    budget = budget or Budget(setup.time_limit)
    found: list[tuple[OrbitSystem, list[sp.Expr], str]] = []
    for lead in range(setup.dim):  # every chart first: the ranges of one must not starve another
        system = build_orbit_system(setup, rule, period, lead, fixed)
        label = f"period-{period} orbits moving first in {setup.params[lead]}"
        if budget.spent:
            notes.append(f"{label}: not derived, the time limit of {budget.seconds:g} s was spent")
            continue
        try:
            comps, positive, more = solve_charted(
                system.polys, system.gens, system.params, system.chart_k, seconds=budget.left(share=0.6), what=label
            )
            notes += more
        except Intractable as exc:
            notes.append(str(exc))
            continue
        if positive:
            notes.append(f"{label}: the solutions include a continuum (not isolated); only isolated ones are listed")
        # drop the families that collapse (s = 0)
        found += [(system, rel, label) for rel in comps if not any(sp.expand(r - system.s) == 0 for r in rel)]
    polys: dict[int, list[sp.Expr]] = {}
    for system, rel, label in sorted(found, key=lambda t: len(str(t[1]))):  # the simplest families first
        if id(system) not in polys:
            cp: list[sp.Expr] = []
            if sp.count_ops(system.jac) <= _CHARPOLY_OPS and not budget.spent:
                try:
                    cp = limited(
                        _charpoly_impl,
                        system.jac,
                        system.e,
                        system.s,
                        seconds=budget.left(cap=8.0, share=0.5),
                        what=f"{label}: the {period}-step Jacobian",
                    )
                except Intractable:
                    cp = []
            if not cp:
                notes.append(
                    f"{label}: the {period}-step characteristic polynomial was not formed in time; "
                    "stability is decided numerically"
                )
            polys[id(system)] = cp
        fam = OrbitFamily(system, rel, polys[id(system)])
        if analyse_ranges:
            fam.ranges = family_ranges(setup, fam, sample_hyper or {}, budget)
        out.append(fam)
    return out, notes


def hyper_sample(system: OrbitSystem, sample_hyper: Mapping[str, Any]) -> dict[sp.Symbol, sp.Expr]:
    """Sample values of the free hyperparameters other than eta."""
    out: dict[sp.Symbol, sp.Expr] = {}
    for h, v in system.hyper.items():
        if h == ETA or v is not None:
            continue
        val = sample_hyper.get(h.name)
        if val is None:
            val = sp.Rational(1, 2)
        out[h] = exact(val, h.name)
    return out


def point_state(fam: OrbitFamily, pt: Point, eta: float, sample: Mapping[sp.Symbol, Any]) -> dict[sp.Symbol, float]:
    """Numeric values of every symbol of the orbit (chart unknowns, e, eta, parameters)."""
    sys_ = fam.system
    vals: dict[sp.Symbol, float] = {**{k: float(v) for k, v in sample.items()}, ETA: eta, **pt}
    sv = pt.get(sys_.s, 0.0)
    vals[sys_.e] = float(mpmath.sqrt(max(sv, 0.0)))
    return vals


def orbit_points(fam: OrbitFamily, pt: Point, eta: float, sample: Mapping[sp.Symbol, Any]) -> list[list[float]]:
    """The orbit's full states ``z_t = (w_t, v_t)`` at a numeric point of the family."""
    vals = point_state(fam, pt, eta, sample)
    out = []
    for t, w in enumerate(fam.system.points):
        z = [float(sp.N(x.xreplace(vals), 20)) for x in w]
        for row in fam.system.states[t]:
            z += [float(sp.N(sp.sympify(x).xreplace(vals), 20)) for x in row]
        out.append(z)
    return out


def _spectral_radius(cp: list[sp.Expr], vals: Mapping[sp.Symbol, float]) -> float:
    coeffs = [complex(sp.N(c.xreplace(vals), 25)) for c in cp]
    if len(coeffs) == 2:
        return abs(coeffs[1] / coeffs[0])
    return max(abs(complex(r)) for r in mpmath.polyroots(coeffs, maxsteps=200, extraprec=100))


#: above this many operations in the p-step Jacobian its characteristic polynomial is not formed
_CHARPOLY_OPS = 6000


def family_ranges(
    setup: Setup, fam: OrbitFamily, sample_hyper: Mapping[str, Any], budget: Budget | None = None
) -> FamilyRanges:
    """Existence and stability intervals of an orbit family (see :mod:`eostheory.symbolic._family`)."""
    sys_ = fam.system
    sample = {**setup.sample, **hyper_sample(sys_, sample_hyper)}

    def valid(pt: Point, eta: float) -> bool:
        return pt.get(sys_.s, 0.0) > 1e-14

    jac_f = None

    def stable(pt: Point, eta: float) -> bool:
        nonlocal jac_f
        if fam.charpoly:
            vals = {**{k: float(v) for k, v in sample.items()}, ETA: eta, **pt}
            return _spectral_radius(fam.charpoly, vals) < 1 - 1e-10
        vals = point_state(fam, pt, eta, sample)
        if jac_f is None:
            jac_f = sp.lambdify(list(vals), sys_.jac, modules="mpmath")
        M = jac_f(*vals.values())
        return max(abs(complex(z)) for z in mpmath.eig(mpmath.matrix(M))[0]) < 1 - 1e-10

    return analyse(
        fam.relations,
        sys_.gens,
        sys_.params,
        sample,
        valid=valid,
        existence_exprs=[sys_.s],
        stable=stable,
        stability_exprs=_boundaries(fam.charpoly, 4.0 if budget is None else budget.left(cap=4.0))
        if fam.charpoly
        else [],
        seconds=8.0 if budget is None else budget.left(cap=8.0, share=0.7),
        scale=_eta_scale(setup, sample),
    )


def _eta_scale(setup: Setup, sample: Mapping[sp.Symbol, Any]) -> float:
    """2 over the sharpness at the origin, a natural unit of eta (1 when undefined)."""
    try:
        H = setup.hessian().xreplace({p: 0 for p in setup.params}).xreplace(dict(sample))
        ev = [float(sp.re(sp.N(x))) for x in H.eigenvals()]
        top = max(abs(x) for x in ev)
        return 2.0 / top if top > 0 else 1.0
    except Exception:
        return 1.0
