r"""Stationary points of the flows, solved from each flow's own sympy field, with their linear stability.

Every flow's :class:`~eostheory.symbolic.flowfield.FlowField` (``Flow.field(pot)``) is
turned into a polynomial system and solved over :math:`\mathbb{Q}(\eta, \dots)` like the
orbits (:mod:`eostheory.symbolic._orbits`):

* **central** (one eigenvalue) and **heavy-ball central**: the field vanishes with the
  sharpness held at the threshold, :math:`H(w)\hat u = T\hat u`.  The direction is charted,
  :math:`\hat u = (0, \dots, 1, k, \dots)` with :math:`u = \hat u/|\hat u|`; because
  :math:`\nabla S = \nabla^3L[u,u]` is quadratic in :math:`u`, the field's
  :math:`\sigma^2\nabla^3L[u,u]` is :math:`\tau\,\nabla^3L[\hat u,\hat u]` with
  :math:`\sigma^2 = \tau |\hat u|^2`.
* **rod**: centre and half-extent :math:`\delta = e(0, \dots, 1, k, \dots)`,
  :math:`\Sigma = \delta\delta^\top`; the field is even in :math:`\delta`, so it depends
  on :math:`s = e^2`; :math:`s \ne 0` is imposed by saturation (:math:`t s = 1`).
* **edge** (secant or Rayleigh curvature): :math:`\nabla L(c + ru) + \nabla L(c - ru) = 0`,
  :math:`u` an eigenvector of :math:`H(c)`, :math:`\kappa = 2/\eta`; with
  :math:`ru = \hat r\hat u` the equations are even in :math:`\hat r`.
* **self-stabilization** (the projected map): a fixed point of
  :math:`\theta \mapsto \mathrm{proj}_{\mathcal M}(\theta - \eta\nabla L)` on the edge is a
  KKT point, :math:`-\eta\nabla L = \mu_1\nabla S + \mu_2\nabla(\nabla L\cdot u)`,
  :math:`\mu_1 \ge 0`, with :math:`\nabla(\nabla L\cdot u) = Hu + \nabla^3L[u, a]`,
  :math:`(S - H)a = \nabla L`, :math:`a\cdot u = 0` (the derivative of the eigenvector).
* **gradient**, **stable**, **modified**: the field vanishes (no oscillation).

Linear stability is that of the vector field the package integrates, including the
quantities defined implicitly (the top eigenpair of :math:`H`, or of :math:`\Sigma` for the
rod): with the field :math:`G(y, \xi)` and :math:`\Phi(y, \xi) = 0` defining
:math:`\xi`, the Jacobian is :math:`G_y - G_\xi\Phi_\xi^{-1}\Phi_y` (implicit function
theorem).  The central flows use their relaxed constraint
:math:`\sigma^2 = 2(\langle-\nabla L,\nabla S\rangle - m/(\eta\tau))/|\nabla S|^2`,
:math:`m = T - S`, which adds the eigenvalue :math:`-1/\tau` across the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._algebra import Budget, Intractable, limited, poly_numer, solve_charted
from eostheory.symbolic._family import FamilyRanges, Point, analyse
from eostheory.symbolic._setup import BETA, ETA, Setup, exact
from eostheory.symbolic.flowfield import FlowField
from eostheory.symbolic.potential import Potential

__all__ = ["SUPPORTED_FLOWS", "FlowFamily", "FlowSystem", "flow_families"]

#: Flows whose stationary points are derived.
SUPPORTED_FLOWS = (
    "central",
    "central-hb",
    "rod",
    "edge",
    "edge-rayleigh",
    "selfstab",
    "gradient",
    "stable",
    "modified",
)


@dataclass
class FlowSystem:
    """The charted stationarity equations of one flow (one chart).

    Attributes:
        flow: the flow's name; ``settings`` its parameters.
        gens: unknowns, lexicographic order (centre last).
        polys: the equations.
        params: symbolic parameters.
        center: the centre (time-averaged iterate) in the unknowns.
        amplitude: the squared oscillation amplitude as ``(numerator, denominator)``.
        state: the compiled state at the point, in the unknowns and ``nu`` (:math:`|\\hat u|`,
            or of the chart direction) and ``e`` (:math:`\\sqrt s`).
        jac: the Jacobian of the compiled field (or ``None``).
        continuous: a continuous-time flow (else a discrete map).
        reduce: substitutions that turn even powers of ``e``/``nu`` into the unknowns.
    """

    flow: str
    settings: dict[str, str]
    gens: tuple[sp.Symbol, ...]
    polys: list[sp.Expr]
    params: tuple[sp.Symbol, ...]
    center: list[sp.Expr]
    amplitude: tuple[sp.Expr, sp.Expr]
    state: list[sp.Expr]
    jac: sp.Matrix | None
    continuous: bool
    evens: dict[sp.Symbol, sp.Expr]
    valid_exprs: list[sp.Expr]
    positive: list[sp.Expr] = field(default_factory=list)
    top: sp.Expr | None = None
    lead: int = 0
    directions: tuple[sp.Symbol, ...] = ()


@dataclass
class FlowFamily:
    """One family of stationary points of a flow."""

    system: FlowSystem
    relations: list[sp.Expr]
    charpoly: list[sp.Expr]
    ranges: FamilyRanges | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _sym_pot(setup: Setup) -> Potential:
    """The potential with the fixed constants substituted (symbolic ones declared)."""
    return Potential(setup.expr, setup.params, {s: None for s in setup.symbolic})


def _even(expr: sp.Expr, var: sp.Symbol, sq: sp.Expr, parity: int = 0) -> sp.Expr:
    """``expr`` (a polynomial, ``parity`` in ``var``) with ``var**2`` replaced by ``sq``,
    after dividing an odd one by ``var``."""
    P = sp.Poly(sp.expand(expr), var)
    if any(m[0] % 2 != parity for m in P.monoms()):
        raise RuntimeError(f"internal error: {var} does not enter with the expected parity")
    return sp.expand(sp.Add(*[c * sq ** ((m[0] - parity) // 2) for m, c in zip(P.monoms(), P.coeffs(), strict=True)]))


def _even_rational(expr: sp.Expr, evens: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    """A rational expression even in each symbol of ``evens``, with its squares replaced."""
    num, den = sp.fraction(sp.together(expr))
    out = []
    for p in (sp.expand(num), sp.expand(den)):
        for v, sq in evens.items():
            if v in p.free_symbols:
                p = _even(p, v, sq)
        out.append(p)
    return sp.cancel(out[0] / out[1])


def _chart(n: int, lead: int, name: str) -> tuple[list[sp.Expr], list[sp.Symbol]]:
    ks = [sp.Symbol(f"{name}{i}") for i in range(lead + 1, n)]
    return [sp.Integer(0)] * lead + [sp.Integer(1)] + ks, ks


def _implicit_jacobian(G: list[sp.Expr], y: list[sp.Symbol], xi: list[sp.Symbol], Phi: list[sp.Expr]) -> sp.Matrix:
    """:math:`G_y - G_\\xi \\Phi_\\xi^{-1} \\Phi_y` (symbolic, before evaluation)."""
    Gm = sp.Matrix(G)
    if not xi:
        return Gm.jacobian(y)
    Pm = sp.Matrix(Phi)
    return Gm.jacobian(y) - Gm.jacobian(xi) * Pm.jacobian(xi).inv() * Pm.jacobian(y)


def _cap(setup: Setup, cap: float) -> float | None:
    return cap if setup.time_limit is None else min(cap, setup.time_limit)


def _params(setup: Setup, has_beta: bool) -> tuple[sp.Symbol, ...]:
    return tuple([ETA] + ([BETA] if has_beta else []) + list(setup.symbolic))


# --------------------------------------------------------------------------------------
# one system per flow (and chart)
# --------------------------------------------------------------------------------------
def _central(setup: Setup, fld: FlowField, lead: int, tau: sp.Expr, hb: bool) -> FlowSystem:
    pot_params = list(setup.params)
    n = setup.dim
    uh, ks = _chart(n, lead, "k")
    tau_s = sp.Symbol("tau_")  # sigma^2 / |u_hat|^2
    u, s2 = fld.implicit["u"], fld.implicit["sigma2"]
    sub = {**dict(zip(u, uh, strict=True)), s2: tau_s}
    H = setup.hessian()
    T = fld.threshold
    polys = [poly_numer(e.xreplace(sub)) for e in fld.rhs["w"]]
    vs = list(fld.blocks.get("v", ()))
    if hb:
        polys += [poly_numer(e.xreplace(sub)) for e in fld.rhs["v"]]
    polys += [poly_numer(x) for x in (H * sp.Matrix(uh) - T * sp.Matrix(uh))]
    nu2 = sp.Add(*[x**2 for x in uh])
    gens = tuple([*vs, *ks, tau_s, *pot_params])
    # compiled field: sigma^2 from the relaxed constraint, u the unit top eigenvector
    y = [*pot_params, *vs]
    uu = [sp.Symbol(f"_u{i}") for i in range(n)]
    lam = sp.Symbol("_lam")
    grad = setup.gradient()
    ds = [sp.expand(sum(uu[a] * uu[b] * sp.diff(H[a, b], p) for a in range(n) for b in range(n))) for p in pot_params]
    m = T - lam
    if hb:
        drift = [BETA * v + g for v, g in zip(vs, grad, strict=True)]
        sig = -2 * (m / tau + ETA * sum(d * x for d, x in zip(ds, drift, strict=True))) / (ETA * sum(d**2 for d in ds))
        gbar = [g + sig / 2 * d for g, d in zip(grad, ds, strict=True)]
        G = [-ETA * (BETA * v + gb) for v, gb in zip(vs, gbar, strict=True)]
        G += [-(1 - BETA) * v + gb for v, gb in zip(vs, gbar, strict=True)]
    else:
        sig = 2 * (-sum(g * d for g, d in zip(grad, ds, strict=True)) - m / (ETA * tau)) / sum(d**2 for d in ds)
        G = [-ETA * (g + sig / 2 * d) for g, d in zip(grad, ds, strict=True)]
    Phi = [*(H * sp.Matrix(uu) - lam * sp.Matrix(uu)), sum(x**2 for x in uu) - 1]
    nu = sp.Symbol("nu_")
    try:
        J = limited(_implicit_jacobian, G, y, [*uu, lam], Phi, seconds=_cap(setup, 10.0), what="central Jacobian")
        J = J.xreplace({**{uu[i]: uh[i] / nu for i in range(n)}, lam: T})
    except Intractable:
        J = None
    return FlowSystem(
        fld.flow,
        dict(fld.settings),
        gens,
        polys,
        _params(setup, hb),
        list(pot_params),
        (tau_s * nu2, sp.Integer(1)),
        [*pot_params, *vs],
        J,
        True,
        {nu: nu2},
        [tau_s],
        positive=[tau_s],
        top=T,
        lead=lead,
        directions=tuple(ks),
    )


def _rod(setup: Setup, fld: FlowField, lead: int) -> FlowSystem:
    n = setup.dim
    wb, dl = list(fld.blocks["wbar"]), list(fld.blocks["delta"])
    dh, ks = _chart(n, lead, "k")
    e, s, t = sp.Symbol("e_"), sp.Symbol("s_"), _T
    sub = dict(zip(dl, [e * x for x in dh], strict=True))
    eqs = [*fld.rhs["wbar"]] + [fld.rhs["Sigma"][i * n + j] for i in range(n) for j in range(i, n)]
    polys = [_even(poly_numer(q.xreplace(sub)), e, s) for q in eqs]
    polys.append(t * s - 1)
    nu2 = sp.Add(*[x**2 for x in dh])
    gens = tuple([t, *ks, s, *wb])
    # compiled field on (wbar, Sigma): delta = sqrt(lambda_1) v_1 of the symmetrized Sigma
    Sig = [sp.Symbol(f"_S{i}{j}") for i in range(n) for j in range(n)]
    vv = [sp.Symbol(f"_v{i}") for i in range(n)]
    lam = sp.Symbol("_lam", positive=True)
    Ssym = sp.Matrix(n, n, lambda i, j: (Sig[i * n + j] + Sig[j * n + i]) / 2)
    dsub = dict(zip(dl, [sp.sqrt(lam) * x for x in vv], strict=True))
    src = fld.extra["Sigma_source"]
    G = [q.xreplace(dsub) for q in fld.rhs["wbar"]] + [
        src[i, j].xreplace(dsub) - 2 * Sig[i * n + j] for i in range(n) for j in range(n)
    ]
    Phi = [*(Ssym * sp.Matrix(vv) - lam * sp.Matrix(vv)), sum(x**2 for x in vv) - 1]
    nu = sp.Symbol("nu_", positive=True)
    try:
        J = limited(_implicit_jacobian, G, [*wb, *Sig], [*vv, lam], Phi, seconds=_cap(setup, 10.0), what="rod Jacobian")
        delta = [e * x for x in dh]
        at = {**{Sig[i * n + j]: delta[i] * delta[j] for i in range(n) for j in range(n)}}
        at.update({vv[i]: dh[i] / nu for i in range(n)})
        J = J.xreplace({lam: s * nu**2}).xreplace(at)
        J = J.applyfunc(lambda x: x.xreplace({sp.sqrt(s * nu**2): e * nu}).subs(sp.sqrt(s), e))
    except Intractable:
        J = None
    delta = [e * x for x in dh]
    state = [*wb] + [delta[i] * delta[j] for i in range(n) for j in range(n)]
    return FlowSystem(
        fld.flow,
        dict(fld.settings),
        gens,
        polys,
        _params(setup, False),
        list(wb),
        (s * nu2, sp.Integer(1)),
        state,
        J,
        True,
        {e: s, nu: nu2},
        [s],
        positive=[s],
        lead=lead,
        directions=tuple(ks),
    )


def _edge(setup: Setup, fld: FlowField, lead: int) -> FlowSystem:
    n = setup.dim
    cs, us, (r,) = list(fld.blocks["c"]), list(fld.blocks["u"]), fld.blocks["r"]
    uh, ks = _chart(n, lead, "k")
    e, s, lam = sp.Symbol("e_"), sp.Symbol("s_"), sp.Symbol("lam_")
    sub = {**dict(zip(us, uh, strict=True)), r: e}
    H = setup.hessian().xreplace(dict(zip(setup.params, cs, strict=True)))
    T = fld.threshold
    polys = [_even(poly_numer(q.xreplace(sub)), e, s) for q in fld.rhs["c"]]
    polys += [poly_numer(x) for x in (H * sp.Matrix(uh) - lam * sp.Matrix(uh))]
    nu2 = sp.Add(*[x**2 for x in uh])
    if fld.settings["curvature"] == "secant":
        sec = fld.extra["kappa_secant"] * 2 * r  # u . (g+ - g-) for a unit u
        polys.append(_even(poly_numer(sec.xreplace(sub)), e, s, parity=1) - 2 * T * nu2)
    else:
        ray = fld.extra["kappa_rayleigh"]
        polys.append(poly_numer(ray.xreplace(sub) - T * nu2))
    gens = tuple([*ks, lam, s, *cs])
    # compiled field on (c, u, r): u used normalized, |u| pulled back to 1
    uu = [sp.Symbol(f"_u{i}") for i in range(n)]
    rr = sp.Symbol("_r")
    nrm = sp.sqrt(sum(x**2 for x in uu))
    unit = {us[i]: uu[i] / nrm for i in range(n)}
    G = [q.xreplace({**unit, r: rr}) for q in fld.rhs["c"]]
    G += [fld.rhs["u"][i].xreplace({**unit, r: rr}) + (1 - nrm**2) / 2 * uu[i] for i in range(n)]
    # the growth law does not matter at a stationary point (both rates vanish there with slope eta)
    G += [(ETA * fld.extra["kappa"] - 2) * r]
    G[-1] = G[-1].xreplace({**unit, r: rr})
    nu = sp.Symbol("nu_", positive=True)
    try:
        J = limited(lambda: sp.Matrix(G).jacobian([*cs, *uu, rr]), seconds=_cap(setup, 10.0), what="edge Jacobian")
        J = J.xreplace({**{uu[i]: uh[i] / nu for i in range(n)}, rr: e * nu})
    except Intractable:
        J = None
    return FlowSystem(
        fld.flow,
        dict(fld.settings),
        gens,
        polys,
        _params(setup, False),
        list(cs),
        (s * nu2, sp.Integer(1)),
        [*cs, *[x / nu for x in uh], e * nu],
        J,
        True,
        {e: s, nu: nu2},
        [s],
        positive=[s],
        lead=lead,
        directions=tuple(ks),
    )


def _selfstab(setup: Setup, fld: FlowField, lead: int) -> FlowSystem:
    n = setup.dim
    th = list(setup.params)
    uh, ks = _chart(n, lead, "k")
    a = [sp.Symbol(f"a_{i}") for i in range(n)]
    mu1, mu2 = sp.Symbol("mu1_"), sp.Symbol("mu2_")
    H = setup.hessian()
    g = setup.gradient()
    T = fld.threshold
    U = sp.Matrix(uh)
    ds = [sp.expand(sum(uh[i] * uh[j] * sp.diff(H[i, j], p) for i in range(n) for j in range(n))) for p in th]
    pair = [sp.expand(sum(uh[i] * a[j] * sp.diff(H[i, j], p) for i in range(n) for j in range(n))) for p in th]
    grad_c2 = [sp.expand((H * U)[i] + pair[i]) for i in range(n)]
    polys = [poly_numer(x) for x in (H * U - T * U)]
    polys.append(poly_numer(sum(gi * ui for gi, ui in zip(g, uh, strict=True))))
    polys += [poly_numer(x) for x in (T * sp.Matrix(a) - H * sp.Matrix(a) - sp.Matrix(g))]
    polys.append(sp.expand(sum(ai * ui for ai, ui in zip(a, uh, strict=True))))
    polys += [poly_numer(ETA * g[i] + mu1 * ds[i] + mu2 * grad_c2[i]) for i in range(n)]
    nu2 = sp.Add(*[x**2 for x in uh])
    gens = tuple([*a, mu2, mu1, *ks, *th])
    num = -2 * sum(gi * d for gi, d in zip(g, ds, strict=True)) * nu2
    den = sum(d**2 for d in ds)
    return FlowSystem(
        fld.flow,
        dict(fld.settings),
        gens,
        polys,
        _params(setup, False),
        th,
        (num, den),
        list(th),
        None,
        False,
        {},
        [mu1],
        positive=[mu1],
        top=T,
        lead=lead,
        directions=tuple(ks),
    )


def _plain(setup: Setup, fld: FlowField) -> FlowSystem:
    w = list(setup.params)
    polys = [poly_numer(q) for q in fld.rhs["w"]]
    J = sp.Matrix(fld.rhs["w"]).jacobian(w)
    return FlowSystem(
        fld.flow,
        dict(fld.settings),
        tuple(w),
        polys,
        _params(setup, False),
        w,
        (sp.Integer(0), sp.Integer(1)),
        w,
        J,
        True,
        {},
        [],
        top=(2 / ETA) if fld.flow == "stable" else None,
    )


def flow_systems(setup: Setup, flow: Any, settings: Mapping[str, str]) -> list[FlowSystem]:
    """The charted stationarity systems of ``flow`` (one per chart of the direction).

    ``flow`` is a flow definition (its ``name`` and sympy ``field(potential, **settings)``,
    e.g. :func:`eostheory.flows.get_flow`), resolved by the caller.

    Raises:
        EosInputError: a flow that is not supported, or not defined on this potential.
    """
    fl = flow
    if fl.name not in SUPPORTED_FLOWS:
        raise EosInputError(
            f"stationary points are derived for the flows {', '.join(SUPPORTED_FLOWS)}; not for {fl.name!r}"
        )
    pot = _sym_pot(setup)
    kw = {k: v for k, v in settings.items() if k != "tau"}
    if fl.name == "central":
        k = str(kw.pop("k", "1"))
        if k != "1":
            raise EosInputError(
                "stationary points of the central flow are derived with one eigenvalue at the edge (k=1); "
                f"k={k} needs the semidefinite complementarity problem"
            )
    if fl.name == "selfstab" and setup.dim < 2:
        raise EosInputError(
            "the self-stabilization constrained trajectory needs at least 2 parameters: in one dimension "
            "{S <= 2/eta, L'(w) = 0} is only the critical points"
        )
    fld = fl.field(pot, **kw)
    tau = exact(settings.get("tau", 1), "tau")
    if fl.name in ("central", "central-hb"):
        return [_central(setup, fld, lead, tau, fl.name == "central-hb") for lead in range(setup.dim)]
    if fl.name == "rod":
        return [_rod(setup, fld, lead) for lead in range(setup.dim)]
    if fl.name in ("edge", "edge-rayleigh"):
        return [_edge(setup, fld, lead) for lead in range(setup.dim)]
    if fl.name == "selfstab":
        return [_selfstab(setup, fld, lead) for lead in range(setup.dim)]
    return [_plain(setup, fld)]


# --------------------------------------------------------------------------------------
# families, stability and ranges
# --------------------------------------------------------------------------------------
def _charpoly_impl(J: sp.Matrix, evens: dict[sp.Symbol, sp.Expr]) -> list[sp.Expr]:
    mu = sp.Symbol("_mu")
    cp = J.charpoly(mu).all_coeffs()
    return [_even_rational(c, evens) for c in cp]


class _Compiled:
    """The numeric side of a flow system, compiled once (numpy)."""

    def __init__(self, setup: Setup, sys_: FlowSystem, sample: Mapping[sp.Symbol, Any]) -> None:
        pre = {k: v for k, v in sample.items()}
        self.args = [g for g in sys_.gens if g != _T] + [ETA]
        ev_args = [*self.args, *sys_.evens]
        self.evens = [sp.lambdify(self.args, sq.xreplace(pre), modules="numpy") for sq in sys_.evens.values()]
        self.jac = None if sys_.jac is None else sp.lambdify(ev_args, sys_.jac.xreplace(pre), modules="numpy")
        self.state = sp.lambdify(ev_args, [sp.sympify(x).xreplace(pre) for x in sys_.state], modules="numpy")
        self.center = sp.lambdify(ev_args, [sp.sympify(x).xreplace(pre) for x in sys_.center], modules="numpy")
        self.positive = [sp.lambdify(ev_args, x.xreplace(pre), modules="numpy") for x in sys_.positive]
        self.top = None if sys_.top is None else sp.lambdify([ETA], sys_.top.xreplace(pre), modules="numpy")
        self.hess = sp.lambdify(list(setup.params), setup.hessian().xreplace(pre), modules="numpy")

    def values(self, pt: Point, eta: float) -> list[float]:
        import math

        base = [pt.get(a, 0.0) for a in self.args[:-1]] + [eta]
        return base + [math.sqrt(max(float(f(*base)), 0.0)) for f in self.evens]


_COMPILED: dict[tuple[int, int], _Compiled] = {}


def _compiled(setup: Setup, sys_: FlowSystem, sample: Mapping[sp.Symbol, Any]) -> _Compiled:
    key = (id(sys_), hash(tuple(sorted((str(k), str(v)) for k, v in sample.items()))))
    hit = _COMPILED.get(key)
    if hit is None:
        if len(_COMPILED) > 256:
            _COMPILED.clear()
        hit = _COMPILED[key] = _Compiled(setup, sys_, sample)
    return hit


def jacobian_at(setup: Setup, sys_: FlowSystem, pt: Point, eta: float, sample: Mapping[sp.Symbol, Any]) -> Any:
    """The flow's Jacobian at a numeric stationary point (a numpy array), or ``None``."""
    import numpy as np

    c = _compiled(setup, sys_, sample)
    if c.jac is None:
        return None
    return np.array(c.jac(*c.values(pt, eta)), dtype=float)


def state_at(setup: Setup, sys_: FlowSystem, pt: Point, eta: float, sample: Mapping[sp.Symbol, Any]) -> list[float]:
    """The flow's compiled state at a numeric stationary point."""
    c = _compiled(setup, sys_, sample)
    return [float(x) for x in c.state(*c.values(pt, eta))]


def center_at(setup: Setup, sys_: FlowSystem, pt: Point, eta: float, sample: Mapping[sp.Symbol, Any]) -> list[float]:
    """The stationary point's centre."""
    c = _compiled(setup, sys_, sample)
    return [float(x) for x in c.center(*c.values(pt, eta))]


def flow_families(
    setup: Setup,
    flow: Any,
    settings: Mapping[str, str] | None = None,
    *,
    sample_hyper: Mapping[str, Any] | None = None,
    analyse_ranges: bool = True,
    budget: Budget | None = None,
) -> tuple[list[FlowFamily], list[str]]:
    """All families of stationary points of ``flow`` on the setup's potential.

    Returns:
        ``(families, notes)``.

    Raises:
        EosInputError: as :func:`flow_systems`.
    """
    out: list[FlowFamily] = []
    notes: list[str] = []
    budget = budget or Budget(setup.time_limit)
    found: list[tuple[FlowSystem, list[sp.Expr], str]] = []
    for sys_ in flow_systems(setup, flow, dict(settings or {})):
        label = f"{sys_.flow} stationary points" + (f" (direction chart {sys_.lead})" if setup.dim > 1 else "")
        if budget.spent:
            notes.append(f"{label}: not derived, the time limit of {budget.seconds:g} s was spent")
            continue
        try:
            comps, positive, more = solve_charted(
                sys_.polys, sys_.gens, sys_.params, sys_.directions, seconds=budget.left(share=0.6), what=label
            )
            notes += more
        except Intractable as exc:
            notes.append(str(exc))
            continue
        if positive:
            notes.append(f"{label}: the solutions include a continuum (not isolated); only isolated ones are listed")
        found += [(sys_, [r for r in rel if not r.has(_T)], label) for rel in comps]
    polys: dict[int, list[sp.Expr]] = {}
    for sys_, rel, label in sorted(found, key=lambda t: len(str(t[1]))):  # the simplest families first
        if id(sys_) not in polys:
            cp: list[sp.Expr] = []
            if sys_.jac is not None and sp.count_ops(sys_.jac) <= _CHARPOLY_OPS and not budget.spent:
                try:
                    cp = limited(
                        _charpoly_impl,
                        sys_.jac,
                        sys_.evens,
                        seconds=budget.left(cap=5.0, share=0.5),
                        what=f"{label}: characteristic polynomial of the Jacobian",
                    )
                except Intractable:
                    cp = []
            if sys_.jac is not None and not cp:
                notes.append(
                    f"{label}: the Jacobian's characteristic polynomial was not formed in time; "
                    "stability is decided numerically"
                )
            polys[id(sys_)] = cp
        fam = FlowFamily(sys_, rel, polys[id(sys_)])
        if analyse_ranges:
            fam.ranges = _ranges(setup, fam, sample_hyper or {}, budget)
        out.append(fam)
    return out, notes


#: the rod's saturation unknown (t s = 1)
_T = sp.Symbol("t_")
#: above this many operations in a Jacobian its characteristic polynomial is not formed
_CHARPOLY_OPS = 6000


def flow_sample(sys_: FlowSystem, setup: Setup, sample_hyper: Mapping[str, Any]) -> dict[sp.Symbol, sp.Expr]:
    """Sample values of the parameters other than eta."""
    out = dict(setup.sample)
    if BETA in sys_.params:
        out[BETA] = exact(sample_hyper.get("beta", sp.Rational(1, 2)), "beta")
    return out


def _ranges(setup: Setup, fam: FlowFamily, sample_hyper: Mapping[str, Any], budget: Budget) -> FamilyRanges:
    import numpy as np

    sys_ = fam.system
    sample = flow_sample(sys_, setup, sample_hyper)
    gens = [g for g in sys_.gens if g != _T]

    comp = _compiled(setup, sys_, sample)

    def valid(pt: Point, eta: float) -> bool:
        vals = comp.values(pt, eta)
        if any(float(f(*vals)) <= 1e-12 for f in comp.positive):
            return False
        if comp.top is not None:
            H = np.array(comp.hess(*comp.center(*vals)), dtype=float)
            top = float(np.max(np.linalg.eigvalsh(H)))
            thr = float(comp.top(eta))
            if sys_.flow == "stable":
                return top < thr
            if top > thr * (1 + 1e-9) + 1e-12:
                return False
        return True

    def stable(pt: Point, eta: float) -> bool:
        J = np.array(comp.jac(*comp.values(pt, eta)), dtype=float)
        ev = np.linalg.eigvals(J)
        return bool(np.max(ev.real) < -1e-10) if sys_.continuous else bool(np.max(np.abs(ev)) < 1 - 1e-10)

    bounds: list[sp.Expr] = []
    if fam.charpoly:
        cp = fam.charpoly
        bounds.append(poly_numer(cp[-1]))  # det J = 0: a real eigenvalue through 0
        if len(cp) == 3:
            bounds.append(poly_numer(cp[1]))  # trace 0: a pair through the imaginary axis
        elif len(cp) == 4:
            bounds.append(poly_numer(cp[1] * cp[2] - cp[0] * cp[3]))  # Hurwitz determinant
    return analyse(
        fam.relations,
        gens,
        sys_.params,
        sample,
        valid=valid,
        existence_exprs=list(sys_.valid_exprs),
        stable=stable if sys_.jac is not None else None,
        stability_exprs=bounds,
        seconds=budget.left(cap=8.0, share=0.7),
    )
