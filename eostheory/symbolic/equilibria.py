r"""Equilibria derived exactly: an optimizer's periodic orbits and every flow's stationary points.

:func:`derive_equilibria` derives, with sympy, on a polynomial or rational potential (the
flows' definitions and the numerical checks are handed in by
:func:`eostheory.experiments.equilibria`, ``eos.equilibria``, which sits above the flows):

1. the **period-2 (and period-4) orbits** of an optimizer's step (a built-in optimizer or
   any update rule): their relations, the range of :math:`\eta` where a real orbit exists
   and the exact range where it is stable (:mod:`eostheory.symbolic._orbits`);
2. the **stationary points of the flows** that model the optimizer (central, rod, edge,
   self-stabilization, heavy-ball central, …), solved from each flow's own sympy field
   (``Flow.field``), with their linear stability (:mod:`eostheory.symbolic._stationary`);
3. **agreement**: whether a flow's stationary set *is* an orbit family of the optimizer,
   compared in the coordinates both share — the centre (the orbit's time average, the
   flow's centre) and the squared oscillation amplitude (:math:`|d|^2` for an orbit
   :math:`\bar w \mp d`, :math:`\sigma^2`, :math:`\operatorname{tr}\Sigma = |\delta|^2`,
   :math:`r^2`, :math:`2\alpha/\beta`).  Each family is projected onto those coordinates
   by elimination (a lexicographic Gröbner basis); two families are *proved* equal when
   each basis reduces the other to zero.  Otherwise the differences are returned in closed
   form, with the values of :math:`\eta` where they vanish;
4. a **numerical check** of every result against the compiled runs at a sample
   :math:`\eta` inside its range (by the checks handed in: see
   :mod:`eostheory.experiments`).

Each symbolic step has a time limit; a step that does not finish leaves a one-line note
(and the families found so far) instead of hanging.

Examples:
    >>> r = derive_equilibria("quartic", flows=[], flow_names=[], resolve=None)
    >>> [c.stability_text() for c in r.cycles if c.contains("d2 - (S - 2/eta)/Q")]
    ['2/S < eta < 3/S']
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import sympy as sp

from eostheory._errors import EosInputError
from eostheory.symbolic._algebra import Budget, Intractable, limited, poly_numer
from eostheory.symbolic._family import FamilyRanges, Interval, real_points
from eostheory.symbolic._setup import BETA, ETA, Setup, exact, make_setup
from eostheory.symbolic.potential import Potential, as_potential
from eostheory.symbolic.stability import _show, as_rule

__all__ = ["Agreement", "Checks", "EquilibriaResult", "Equilibrium", "derive_equilibria"]

#: The squared-amplitude coordinate shared by orbits and flows, and its name per model.
AMP = sp.Symbol("A_")
_AMP_NAMES = {
    "orbit": "d2",
    "central": "sigma2",
    "central-hb": "sigma2",
    "rod": "Sigma",
    "edge": "r2",
    "edge-rayleigh": "r2",
    "selfstab": "x2",
}
_AMP_MEANING = {
    "orbit": "|d|^2, the squared half-difference of the orbit's two points (w = wbar -+ d)",
    "central": "sigma^2, the central flow's oscillation variance",
    "central-hb": "sigma^2, the heavy-ball central flow's oscillation variance",
    "rod": "tr Sigma = |delta|^2, the rod's squared half-extent",
    "edge": "r^2, the edge flow's squared magnitude",
    "edge-rayleigh": "r^2, the edge flow's squared magnitude",
    "selfstab": "2 alpha/beta, the self-stabilization prediction of <x^2>",
}
_DEFAULT_FLOWS = {"gd": ("central", "rod", "edge", "selfstab"), "heavy-ball": ("central-hb",)}


def _center_symbols(setup: Setup) -> list[sp.Symbol]:
    return [sp.Symbol(f"{p.name}bar") for p in setup.params]


# --------------------------------------------------------------------------------------
# projection onto (centre, amplitude) and explicit forms
# --------------------------------------------------------------------------------------
def _project_impl(
    relations: list[sp.Expr],
    gens: tuple[sp.Symbol, ...],
    params: tuple[sp.Symbol, ...],
    center: list[sp.Expr],
    amp: tuple[sp.Expr, sp.Expr] | None,
    C: list[sp.Symbol],
) -> list[sp.Expr]:
    inner = [sp.Symbol(f"_C{i}") for i in range(len(C))]  # the centre names may be unknowns of the family
    polys = list(relations) + [poly_numer(c - e) for c, e in zip(inner, center, strict=True)]
    new = list(inner)
    if amp is not None:
        polys.append(poly_numer(AMP * amp[1] - amp[0]))
        new.append(AMP)
    dom = sp.QQ.frac_field(*params) if params else sp.QQ
    G = sp.groebner(polys, *gens, *new, order="lex", domain=dom)
    back = dict(zip(inner, C, strict=True))
    return [poly_numer(e).xreplace(back) for e in G.exprs if not (e.free_symbols & set(gens))]


def _display_impl(
    projected: list[sp.Expr], C: list[sp.Symbol], params: tuple[sp.Symbol, ...], amp: bool
) -> list[sp.Expr]:
    """The family's relations for reading: those free of eta first (eta eliminated), then
    the ones that tie it to eta."""
    others = tuple(p for p in params if p != ETA)
    dom = sp.QQ.frac_field(*others) if others else sp.QQ
    gens = [ETA, *([AMP] if amp else []), *C]
    G = sp.groebner([poly_numer(p) for p in projected], *gens, order="lex", domain=dom)
    dom_all = sp.QQ.frac_field(*params)
    basis = sp.groebner([poly_numer(p) for p in projected], *gens[1:], order="lex", domain=dom_all)

    def inside(e: sp.Expr, B: Any = basis) -> bool:
        return B.reduce(poly_numer(e))[1] == 0

    free: list[sp.Expr] = []
    for e in G.exprs:
        if ETA in e.free_symbols:
            continue
        # the family is irreducible: a product vanishing on it has a factor that does
        for f, _ in sp.factor_list(poly_numer(e))[1]:
            if f.free_symbols and inside(f) and f not in free:
                free.append(f)
    tied = [poly_numer(e) for e in G.exprs if ETA in e.free_symbols]
    tied += [poly_numer(e) for e in projected]
    if free:  # tie eta to the fewest unknowns: reduce by the eta-free relations, keep a factor on the family
        Bf = sp.groebner(free, *gens[1:], order="lex", domain=dom_all)
        reduced = []
        for e in tied:
            r = poly_numer(Bf.reduce(e)[1])
            if r == 0:
                continue
            for f, _ in sp.factor_list(r)[1]:
                if ETA in f.free_symbols and inside(f):
                    reduced.append(f)
        tied = reduced + tied
    cands = sorted(free, key=lambda e: len(str(e))) + sorted(tied, key=lambda e: (sp.degree(e, ETA), len(str(e))))
    keep: list[sp.Expr] = []
    for e in cands:
        B = sp.groebner(keep, *gens[1:], order="lex", domain=dom_all) if keep else None
        if B is not None and all(inside(q, B) for q in projected):
            break
        if B is not None and inside(e, B):
            continue
        keep.append(e)
    for e in sorted(keep, key=lambda q: -len(str(q))):  # drop what the others already imply
        rest = [q for q in keep if q is not e]
        if rest and inside(e, sp.groebner(rest, *gens[1:], order="lex", domain=dom_all)):
            keep = rest
    return keep


def _solve_impl(projected: list[sp.Expr], unknowns: list[sp.Symbol]) -> list[dict[sp.Symbol, sp.Expr]]:
    sols = sp.solve(projected, unknowns, dict=True)
    out = []
    for s in sols:
        out.append({k: sp.factor(sp.simplify(v)) for k, v in s.items()})
    return out


def _reduces(basis: list[sp.Expr], exprs: Iterable[sp.Expr], gens: list[sp.Symbol], params: tuple) -> bool:
    if not basis:
        return False
    dom = sp.QQ.frac_field(*params) if params else sp.QQ
    G = sp.groebner(basis, *gens, order="lex", domain=dom)
    return all(G.reduce(poly_numer(e))[1] == 0 for e in exprs)


# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------
def _iv_text(ivs: Sequence[Interval] | None) -> str:
    if ivs is None:
        return "not analysed"
    if not ivs:
        return "never"
    parts = []
    for iv in ivs:
        lo, hi = iv.lo.as_expr(), iv.hi.as_expr()
        left = "" if lo == 0 else f"{_txt(lo)} < "
        right = "" if hi is sp.oo else f" < {_txt(hi)}"
        parts.append(f"{left}eta{right}" if (left or right) else "every eta > 0")
    return " or ".join(parts)


def _txt(e: sp.Expr) -> str:
    if isinstance(e, sp.CRootOf):
        return f"{float(e):.10g} (root of {sp.sstr(e.expr.subs(e.poly.gen, ETA))})"
    if isinstance(e, sp.Float):
        return f"{float(e):.10g}"
    return sp.sstr(e)


def _tex_iv(ivs: Sequence[Interval] | None) -> str:
    if ivs is None:
        return r"\text{not analysed}"
    if not ivs:
        return r"\text{never}"
    out = []
    for iv in ivs:
        lo, hi = iv.lo.as_expr(), iv.hi.as_expr()
        s = ("" if lo == 0 else sp.latex(lo) + " < ") + r"\eta" + ("" if hi is sp.oo else " < " + sp.latex(hi))
        out.append(s)
    return r" \ \text{or}\ ".join(out)


def _iv_json(ivs: Sequence[Interval] | None) -> Any:
    if ivs is None:
        return None
    return [
        {
            "lower": str(iv.lo.as_expr()),
            "upper": str(iv.hi.as_expr()),
            "lower_value": iv.lo.value,
            "upper_value": None if math.isinf(iv.hi.value) else iv.hi.value,
            "exact": iv.lo.exact and iv.hi.exact,
        }
        for iv in ivs
    ]


@dataclass
class Equilibrium:
    r"""One family of equilibria: an orbit family of the optimizer or a flow's stationary family.

    Attributes:
        kind: ``"orbit"`` or ``"stationary"``.
        source: the optimizer's or the flow's name.
        period: the orbit's period (``None`` for a flow).
        index: 1-based number within its source.
        relations: the family's triangular basis in its chart unknowns (``gens``).
        projected: the family in the shared coordinates — centre ``xbar, ybar, …`` and the
            squared amplitude (named ``d2``, ``sigma2``, ``Sigma``, ``r2`` or ``x2``) — as
            polynomials that vanish on it (``None`` when the elimination did not finish).
        solutions: explicit forms of those coordinates in :math:`\eta` (one dict per branch).
        ranges: existence and stability intervals of :math:`\eta`.
        spectrum: the linearization: the characteristic polynomial's coefficients and, for
            an orbit in two dimensions, the product of the multipliers (``det``) and their
            modulus when they are complex.
        check: the numerical comparison with the compiled run (see :mod:`eostheory.experiments`).
    """

    kind: str
    source: str
    period: int | None
    index: int
    params: tuple[sp.Symbol, ...]
    center: list[sp.Symbol]
    amp_name: str | None
    relations: list[sp.Expr]
    gens: tuple[sp.Symbol, ...]
    projected: list[sp.Expr] | None
    solutions: list[dict[sp.Symbol, sp.Expr]]
    ranges: FamilyRanges | None
    spectrum: dict[str, Any] = field(default_factory=dict)
    check: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    display: list[sp.Expr] | None = None
    _raw: Any = field(default=None, repr=False)

    # --- names ------------------------------------------------------------------------
    @property
    def amplitude(self) -> sp.Symbol | None:
        """The squared-amplitude symbol used in :attr:`projected_display`."""
        return None if self.amp_name is None else sp.Symbol(self.amp_name)

    @property
    def label(self) -> str:
        """``gd 2-orbit #1``, ``central #2`` …"""
        what = (
            f"{self.source} period-{self.period} orbit" if self.kind == "orbit" else f"{self.source} stationary point"
        )
        return f"{what} #{self.index}"

    def _rename(self) -> dict[sp.Symbol, sp.Symbol]:
        out: dict[sp.Symbol, sp.Symbol] = {}
        if self.amp_name is not None:
            out[AMP] = sp.Symbol(self.amp_name)
        return out

    @property
    def projected_display(self) -> list[sp.Expr]:
        """The family's relations for reading (eta-free ones first), the amplitude under its model's name."""
        if self.projected is None:
            return []
        ren = self._rename()
        return [sp.factor(p.xreplace(ren)) for p in (self.display or self.projected)]

    # --- queries ----------------------------------------------------------------------
    def contains(self, relation: str | sp.Expr) -> bool:
        r"""Whether ``relation = 0`` holds on the whole family (exact ideal membership).

        ``relation`` is written in the shared coordinates: the centre ``xbar, ybar, …``
        (``wbar`` in one dimension), the squared amplitude by its model's name (``d2``
        for an orbit, ``sigma2``, ``Sigma``, ``r2``, ``x2``), :math:`\eta` as ``eta``,
        the constants by name.

        Raises:
            EosInputError: an unparsable relation or one with unknown names.
        """
        if self.projected is None:
            raise EosInputError(f"{self.label}: no projected relations (the elimination did not finish)")
        names = {s.name: s for s in [*self.center, *self.params]}
        if self.amp_name is not None:
            names[self.amp_name] = AMP
        if isinstance(relation, str):
            from eostheory.symbolic._parse import parse_formula

            plain = {k: sp.Symbol(k) for k in names}
            expr = parse_formula(relation, symbols=plain)
            expr = expr.xreplace({plain[k]: v for k, v in names.items()})
        else:
            expr = sp.sympify(relation).xreplace({sp.Symbol(k): v for k, v in names.items()})
        unknown = sorted(str(s) for s in expr.free_symbols if s not in set(names.values()))
        if unknown:
            raise EosInputError(f"unknown name(s) {unknown} in {relation!r}; use {sorted(names)}")
        gens = [*self.center] + ([AMP] if self.amp_name else [])
        return _reduces(self.projected, [expr], gens, self.params)

    def stability_text(self) -> str:
        """The stable range of :math:`\\eta` as text."""
        return _iv_text(None if self.ranges is None else self.ranges.stability)

    def existence_text(self) -> str:
        """The existence range of :math:`\\eta` as text."""
        return _iv_text(None if self.ranges is None else self.ranges.existence)

    def value(self, name: str, branch: int = 0) -> sp.Expr:
        """The explicit form of a shared coordinate (``"wbar"``, ``"d2"``, …) on a branch."""
        if not self.solutions:
            raise EosInputError(f"{self.label}: no explicit form was found")
        sym = AMP if name == self.amp_name else sp.Symbol(name)
        sol = self.solutions[branch]
        if sym not in sol:
            raise EosInputError(f"{self.label}: no coordinate {name!r}; it has {[str(k) for k in sol]}")
        return sol[sym]

    # --- printing ---------------------------------------------------------------------
    def _relation_lines(self, latex: bool = False, width: int = 160) -> list[str]:
        out = []
        amp = self.amplitude
        for p in self.projected_display:
            p = sp.factor(p)
            solved = None
            for v in ([amp] if amp is not None else []) + list(self.center):
                if v in p.free_symbols and sp.degree(p, v) == 1:
                    solved = sp.Eq(v, sp.factor(sp.solve(p, v)[0]))
                    break
            if solved is None and ETA in p.free_symbols and sp.degree(p, ETA) == 1:
                rhs = sp.factor(sp.solve(p, ETA)[0])
                solved = sp.Eq(2 / rhs, 2 / ETA) if sp.count_ops(2 / rhs) < sp.count_ops(rhs) else sp.Eq(ETA, rhs)
            for v in list(self.center) if solved is None else []:
                if v in p.free_symbols and sp.degree(p, v) == 2 and sp.expand(p).coeff(v, 1) == 0:
                    v2 = sp.Symbol("_v2")
                    solved = sp.Eq(v**2, sp.factor(sp.solve(sp.expand(p).subs(v**2, v2), v2)[0]))
                    break
            if latex:
                out.append(sp.latex(solved) if solved is not None else sp.latex(p) + " = 0")
            else:
                s = f"{_show(solved.lhs)} = {_readable(solved.rhs)}" if solved is not None else f"{p} = 0"
                out.append(s if len(s) <= width else s[: width - 20] + f" ... ({len(s)} chars, see --json)")
        return out

    def __str__(self) -> str:
        lines = [f"{self.label}"]
        if self.projected_display:
            lines.append("  relations     " + ";  ".join(self._relation_lines()))
        else:
            lines.append("  relations     (chart unknowns) " + "; ".join(f"{sp.factor(r)} = 0" for r in self.relations))
        if self.solutions and len(str(self.solutions)) < 400:
            for k, sol in enumerate(self.solutions):
                txt = ", ".join(f"{self._rename().get(s, s)} = {v}" for s, v in sol.items())
                lines.append(f"  branch {k + 1}      {txt}")
        lines.append(f"  exists for    {self.existence_text()}")
        lines.append(f"  stable for    {self.stability_text()}")
        for key in ("multiplier", "det", "modulus"):
            if key in self.spectrum:
                lines.append(f"  {key:13s} {self.spectrum[key]}")
        if self.check is not None:
            lines.append(f"  check         {_check_text(self.check)}")
        lines += [f"  note          {n}" for n in self.notes]
        return "\n".join(lines)

    def latex(self) -> str:
        """LaTeX: the relations, the existence and the stability ranges."""
        rel = r",\quad ".join(self._relation_lines(latex=True)) if self.projected_display else ""
        ex = _tex_iv(None if self.ranges is None else self.ranges.existence)
        st = _tex_iv(None if self.ranges is None else self.ranges.stability)
        return rf"\text{{{self.label}}}:\ {rel};\quad \text{{exists for }} {ex};\quad \text{{stable for }} {st}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (expressions as sympy strings, also in LaTeX)."""
        r = self.ranges
        return {
            "kind": self.kind,
            "source": self.source,
            "settings": dict(self.settings),
            "period": self.period,
            "index": self.index,
            "label": self.label,
            "centre": [str(c) for c in self.center],
            "amplitude": self.amp_name,
            "amplitude_meaning": _AMP_MEANING.get("orbit" if self.kind == "orbit" else self.source),
            "relations": [str(p) for p in self.projected_display],
            "relations_text": self._relation_lines(width=10**9) if self.projected_display else [],
            "relations_latex": self._relation_lines(latex=True) if self.projected_display else [],
            "chart_relations": [str(p) for p in self.relations],
            "chart_unknowns": [str(g) for g in self.gens],
            "solutions": [{str(self._rename().get(k, k)): str(v) for k, v in s.items()} for s in self.solutions],
            "existence": _iv_json(None if r is None else r.existence),
            "stability": _iv_json(None if r is None else r.stability),
            "existence_text": self.existence_text(),
            "stability_text": self.stability_text(),
            "spectrum": {k: str(v) for k, v in self.spectrum.items()},
            "check": self.check,
            "notes": list(self.notes) + (list(r.notes) if r is not None else []),
        }


def _readable(e: sp.Expr) -> str:
    """The shorter of two readable forms, avoiding a leading minus sign where possible."""
    a, b = _show(e), sp.sstr(sp.factor(e))
    if a.startswith("-") and not b.startswith("-"):
        return b
    return a


def _check_text(c: Mapping[str, Any]) -> str:
    if "error" in c:
        return f"not run: {c['error']}"
    if "period_error" in c:
        s = f"eta = {c['eta']:g}: compiled run returns to the orbit after one period, error {c['period_error']:.1e}"
        if c.get("attraction_error") is not None:
            s += f"; attracts a 1e-6 perturbation to {c['attraction_error']:.1e} in {c['attraction_steps']} steps"
    else:
        s = f"eta = {c['eta']:g}: compiled field residual {c['residual']:.1e}"
        if c.get("eigenvalue_error") is not None:
            s += f", Jacobian eigenvalues agree to {c['eigenvalue_error']:.1e}"
        if c.get("return_error") is not None:
            s += f", returns from a 1e-6 perturbation to {c['return_error']:.1e}"
    return s + ("  [PASS]" if c.get("passed") else "  [FAIL]")


@dataclass
class Agreement:
    """Whether a flow's stationary family is an orbit family of the optimizer.

    Attributes:
        flow: the flow family's label; ``orbit`` the orbit family compared with it.
        status: ``"proved equal"`` (same set in centre and squared amplitude), ``"differs"``
            or ``"no orbit"``.
        differences: per shared coordinate, ``flow - orbit`` in closed form (on matching
            branches) and the values of :math:`\\eta` where it vanishes.
        numeric: the largest difference at the sample :math:`\\eta` (when both exist there).
    """

    flow: str
    orbit: str | None
    status: str
    differences: dict[str, dict[str, Any]] = field(default_factory=dict)
    numeric: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.status == "proved equal":
            return f"{self.flow} = {self.orbit}: proved (the same set of centre and squared amplitude)"
        if self.status == "no orbit":
            return f"{self.flow}: no orbit family to compare with"
        head = f"{self.flow} vs {self.orbit}: differs"
        parts = []
        for k, d in self.differences.items():
            z = d.get("zeros")
            zs = "nowhere" if z == [] else ("?" if z is None else ", ".join(f"eta = {x}" for x in z))
            parts.append(f"{k}: {d['difference']} (zero at {zs})")
        if self.numeric is not None:
            parts.append(f"at eta = {self.numeric['eta']:g} the largest difference is {self.numeric['max']:.3g}")
        return head + ("\n    " + "\n    ".join(parts) if parts else "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "flow": self.flow,
            "orbit": self.orbit,
            "status": self.status,
            "differences": self.differences,
            "numeric": self.numeric,
            "notes": self.notes,
        }


@dataclass
class EquilibriaResult:
    """What :func:`equilibria` returns; prints itself, ``.latex()``, ``.to_json()``.

    Attributes:
        potential: the potential; ``optimizer`` the optimizer's name (or its rule's text).
        symbolic: the symbols kept symbolic (:math:`\\eta`, free hyperparameters, constants).
        sample: the values used for the numerical steps (ordering of ranges, checks).
        cycles: the optimizer's orbit families (period 2, then 4 when asked).
        flows: each flow's stationary families.
        agreements: flow family against orbit family.
        notes: what was not derived and why (time limits, …).
    """

    potential: Potential
    optimizer: str
    symbolic: tuple[sp.Symbol, ...]
    sample: dict[str, float]
    cycles: list[Equilibrium]
    flows: dict[str, list[Equilibrium]]
    agreements: list[Agreement]
    notes: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def flow(self, name: str) -> list[Equilibrium]:
        """The stationary families of one flow."""
        try:
            return self.flows[name]
        except KeyError:
            raise EosInputError(f"no flow {name!r} in this result; it has {sorted(self.flows)}") from None

    def agreement(self, flow: str) -> list[Agreement]:
        """The agreements of one flow's families."""
        return [a for a in self.agreements if a.flow.startswith(flow + " ")]

    @property
    def passed(self) -> bool:
        """Every numerical check that ran passed."""
        return all(e.check is None or "error" in e.check or e.check.get("passed") for e in self.all())

    def all(self) -> list[Equilibrium]:
        """Every family, orbits first."""
        return [*self.cycles, *[e for fams in self.flows.values() for e in fams]]

    def __str__(self) -> str:
        syms = ", ".join(map(str, self.symbolic))
        samp = ", ".join(f"{k}={v:g}" for k, v in self.sample.items())
        lines = [
            f"equilibria of {self.potential} under {self.optimizer}",
            f"symbolic: {syms}; ranges ordered and checks run at {samp or 'the values shown'}",
        ]
        periods = sorted({c.period for c in self.cycles if c.period})
        lines.append("")
        lines.append(
            f"{self.optimizer}: periodic orbits" + (f" (period {', '.join(map(str, periods))})" if periods else "")
        )
        lines += [str(c) for c in self.cycles] or ["  none found"]
        for name, fams in self.flows.items():
            lines.append("")
            lines.append(f"{name}: stationary points")
            lines += [str(f) for f in fams] or ["  none found"]
        if self.agreements:
            lines.append("")
            lines.append("agreement (centre and squared amplitude)")
            lines += ["  " + str(a) for a in self.agreements]
        if self.notes:
            lines.append("")
            lines += [f"note: {n}" for n in self.notes]
        lines.append(f"\n({self.seconds:.1f} s)")
        return "\n".join(lines)

    def latex(self) -> str:
        """One LaTeX line per family (``\\\\``-separated)."""
        return " \\\\\n".join(e.latex() for e in self.all())

    def _repr_latex_(self) -> str:
        return "$$" + self.latex().replace("\\\\\n", "\\\\") + "$$"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "potential": str(self.potential.expr),
            "parameters": [p.name for p in self.potential.params],
            "optimizer": self.optimizer,
            "symbolic": [str(s) for s in self.symbolic],
            "sample": self.sample,
            "cycles": [c.as_dict() for c in self.cycles],
            "flows": {k: [f.as_dict() for f in v] for k, v in self.flows.items()},
            "agreements": [a.as_dict() for a in self.agreements],
            "notes": self.notes,
            "seconds": self.seconds,
            "timings": self.timings,
            "passed": self.passed,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON text of :meth:`as_dict`."""
        from eostheory._json import jsonable

        return json.dumps(jsonable(self.as_dict()), indent=indent, allow_nan=False)


# --------------------------------------------------------------------------------------
# building the results
# --------------------------------------------------------------------------------------
def _finish(
    eq: Equilibrium, center_exprs: list[sp.Expr], amp: tuple[sp.Expr, sp.Expr] | None, setup: Setup, budget: Budget
) -> None:
    """Project onto the shared coordinates and look for explicit forms (within the budget)."""
    C = eq.center
    # a floor: a simple family projects in well under a second even when the budget is spent
    seconds = _floor(budget, 8.0, 1.5)
    try:
        eq.projected = limited(
            _project_impl,
            eq.relations,
            tuple(eq.gens),
            tuple(eq.params),
            center_exprs,
            amp,
            C,
            seconds=seconds,
            what=f"{eq.label}: projection",
        )
    except (Intractable, RuntimeError) as exc:
        eq.projected = None
        eq.notes.append(str(exc).splitlines()[0])
        return
    unknowns = [*C] + ([AMP] if amp is not None else [])
    try:
        eq.display = limited(
            _display_impl,
            eq.projected,
            list(C),
            tuple(eq.params),
            amp is not None,
            seconds=_floor(budget, 5.0, 1.0),
            what=f"{eq.label}: relations",
        )
    except (Intractable, RuntimeError):
        eq.display = None
    try:
        sols = limited(
            _solve_impl,
            eq.projected,
            unknowns,
            seconds=_floor(budget, 5.0, 1.0),
            what=f"{eq.label}: explicit forms",
        )
        eq.solutions = [s for s in sols if len(str(s)) < 3000]
        if not eq.solutions and sols:
            eq.notes.append("explicit forms exist but are too long to show; see the relations")
    except (Intractable, RuntimeError, NotImplementedError):
        eq.solutions = []


def _pick_eta(r: FamilyRanges | None) -> float | None:
    if r is None:
        return None
    if r.stability:
        return r.stability[0].sample()
    if r.existence:
        return r.existence[0].sample()
    return None


def _orbit_equilibria(
    setup: Setup,
    rule: Any,
    name: str,
    period: int,
    fixed: Mapping[str, Any],
    sample_hyper: Mapping[str, Any],
    checks: Checks | None,
    notes: list[str],
    start: int,
) -> list[Equilibrium]:
    from eostheory.symbolic import _orbits

    budget = Budget(setup.time_limit)
    fams, more = _orbits.orbit_families(setup, rule, period, fixed=fixed, sample_hyper=sample_hyper, budget=budget)
    notes += [f"{name}: {m}" for m in more]
    out: list[Equilibrium] = []
    C = _center_symbols(setup)
    for fam in fams:
        sys_ = fam.system
        ex = fam.ranges.existence if fam.ranges else []
        if not ex:
            continue  # no real orbit for any eta
        k = start + len(out) + 1
        eq = Equilibrium(
            "orbit", name, period, k, sys_.params, C, "d2", fam.relations, sys_.gens, None, [], fam.ranges, _raw=fam
        )
        if period == 2:
            nu2 = 1 + sum(x**2 for x in sys_.chart_k)
            _finish(eq, list(sys_.centers[0]), (sys_.s * nu2, sp.Integer(1)), setup, budget)
        else:
            eq.amp_name = None
            eq.center = [sp.Symbol(f"{p.name}bar02") for p in setup.params]
            _finish(eq, list(sys_.centers[0]), None, setup, budget)
            eq.notes.append("centre of the points w0 and w2 (the orbit's 0th and 2nd points); see chart relations")
        try:
            eq.spectrum = limited(_spectrum_impl, fam, setup, seconds=_floor(budget, 5.0, 1.0), what="spectrum")
        except (Intractable, RuntimeError):
            eq.notes.append("the multipliers were not simplified in time")
        if checks is not None:
            eq.check = _verify_orbit(setup, rule, name, fam, sample_hyper, checks.orbit)
        out.append(eq)
    return out


def _spectrum_impl(fam: Any, setup: Setup) -> dict[str, Any]:
    eq = SimpleNamespace(spectrum={})
    _spectrum(eq, fam, setup)
    return eq.spectrum


def _spectrum(eq: Any, fam: Any, setup: Setup) -> None:
    cp = fam.charpoly
    if not cp:
        return
    sys_ = fam.system
    disp = {sys_.s: sp.Symbol(f"d{setup.params[sys_.lead].name}") ** 2}
    disp.update({c: s for c, s in zip(sys_.centers[0], _center_symbols(setup), strict=True)})
    ks = sys_.chart_k
    if ks:
        lead = sp.Symbol(f"d{setup.params[sys_.lead].name}")
        disp.update({k: sp.Symbol(f"d{setup.params[sys_.lead + 1 + i].name}") / lead for i, k in enumerate(ks)})
    if len(cp) == 2:
        eq.spectrum["multiplier"] = sp.factor(_reduce_on(-cp[1], fam).xreplace(disp))
    elif len(cp) == 3:
        det = sp.factor(cp[2].xreplace(disp))
        eq.spectrum["det"] = det
        root = _sqrt_square(det)
        if root is not None:
            eq.spectrum["modulus"] = root
        root = _sqrt_square(_reduce_on(cp[2], fam))
        if root is not None:
            eq.spectrum["modulus_on_orbit"] = root


def _sqrt_square(expr: sp.Expr) -> sp.Expr | None:
    """The square root of a rational function that is a perfect square (positive branch), else ``None``."""
    num, den = sp.fraction(sp.factor(sp.together(expr)))
    parts = []
    for p in (num, den):
        c, facs = sp.factor_list(p)
        rc = sp.sqrt(c)
        if not rc.is_Rational or any(m % 2 for _, m in facs):
            return None
        parts.append(rc * sp.Mul(*[f ** (m // 2) for f, m in facs]))
    out = sp.factor(parts[0] / parts[1])
    return -out if out.could_extract_minus_sign() else out


def _reduce_on(expr: sp.Expr, fam: Any) -> sp.Expr:
    """``expr`` reduced modulo the family's relations (its normal form on the family)."""
    sys_ = fam.system
    dom = sp.QQ.frac_field(*sys_.params)
    try:
        G = sp.groebner(fam.relations, *sys_.gens, order="lex", domain=dom)
        num, den = sp.fraction(sp.together(expr))
        rn = G.reduce(sp.expand(num))[1]
        rd = G.reduce(sp.expand(den))[1]
        return sp.cancel(rn / rd) if rd != 0 else expr
    except Exception:
        return expr


def _verify_orbit(
    setup: Setup, rule: Any, name: str, fam: Any, sample_hyper: Mapping[str, Any], verify_orbit: Callable[..., Any]
) -> dict[str, Any]:
    from eostheory.symbolic import _orbits

    eta = _pick_eta(fam.ranges)
    if eta is None:
        return {"error": "no eta where the orbit exists"}
    sys_ = fam.system
    sample = {**setup.sample, **_orbits.hyper_sample(sys_, sample_hyper)}
    pts = [p for p in real_points(fam.relations, sys_.gens, sample, eta) if p.get(sys_.s, 0.0) > 1e-14]
    if not pts:
        return {"error": f"no real orbit found at eta = {eta:g}"}
    pt = pts[0]
    z = _orbits.orbit_points(fam, pt, eta, sample)
    hyper = {"eta": eta}
    for h, v in sys_.hyper.items():
        if h != ETA:
            hyper[h.name] = float(v if v is not None else sample[h])
    try:
        radius = None
        if fam.charpoly:
            vals = {**{k: float(v) for k, v in sample.items()}, ETA: eta, **pt}
            radius = _orbits._spectral_radius(fam.charpoly, vals)
        return verify_orbit(setup.potential, rule, name, z, hyper, setup.numeric_constants(), radius=radius)
    except EosInputError as exc:
        return {"error": str(exc)}


def _flow_equilibria(
    setup: Setup,
    spec: str,
    resolve: Callable[[str], tuple[Any, dict[str, str]]],
    sample_hyper: Mapping[str, Any],
    checks: Checks | None,
    notes: list[str],
) -> tuple[str, list[Equilibrium]]:
    from eostheory.symbolic import _stationary as st

    fl, kw = resolve(spec)
    budget = Budget(setup.time_limit)
    fams, more = st.flow_families(setup, fl, kw, sample_hyper=sample_hyper, budget=budget)
    notes += [f"{fl.name}: {m}" for m in more]
    C = _center_symbols(setup)
    out: list[Equilibrium] = []
    for fam in fams:
        sys_ = fam.system
        if not (fam.ranges and fam.ranges.existence):
            continue
        amp_name = _AMP_NAMES.get(fl.name)
        gens = tuple(g for g in sys_.gens if g != st._T)
        eq = Equilibrium(
            "stationary",
            fl.name,
            None,
            len(out) + 1,
            sys_.params,
            C,
            amp_name,
            fam.relations,
            gens,
            None,
            [],
            fam.ranges,
            settings=dict(sys_.settings),
            _raw=fam,
        )
        amp = sys_.amplitude if amp_name is not None else None
        _finish(eq, list(sys_.center), amp, setup, budget)
        if fam.charpoly and len(fam.charpoly) <= 4:
            eq.spectrum["characteristic polynomial"] = sp.factor(
                sum(c * sp.Symbol("z") ** (len(fam.charpoly) - 1 - k) for k, c in enumerate(fam.charpoly))
            )
        if checks is not None:
            eq.check = _verify_flow(setup, fl.name, fam, sample_hyper, checks.flow)
        out.append(eq)
    return fl.name, out


def _verify_flow(
    setup: Setup, flow: str, fam: Any, sample_hyper: Mapping[str, Any], verify_flow_point: Callable[..., Any]
) -> dict[str, Any]:
    from eostheory.symbolic import _stationary as st

    eta = _pick_eta(fam.ranges)
    if eta is None:
        return {"error": "no eta where the stationary point exists"}
    sys_ = fam.system
    sample = st.flow_sample(sys_, setup, sample_hyper)
    gens = [g for g in sys_.gens if g != st._T]
    pts = real_points(fam.relations, gens, sample, eta)
    comp = st._compiled(setup, sys_, sample)
    pts = [p for p in pts if all(float(f(*comp.values(p, eta))) > 1e-12 for f in comp.positive)]
    if not pts:
        return {"error": f"no real stationary point found at eta = {eta:g}"}
    pt = pts[0]
    state = st.state_at(setup, sys_, pt, eta, sample)
    J = st.jacobian_at(setup, sys_, pt, eta, sample)
    beta = float(sample[BETA]) if BETA in sample else None
    try:
        return verify_flow_point(setup.potential, flow, sys_.settings, state, J, eta, beta, setup.numeric_constants())
    except EosInputError as exc:
        return {"error": str(exc)}


def _floor(budget: Budget, cap: float, floor: float) -> float:
    """The budget left, at most ``cap`` and at least ``floor``."""
    left = budget.left(cap=cap)
    return cap if left is None else max(left, floor)


def _cap(setup: Setup, cap: float) -> float | None:
    return cap if setup.time_limit is None else min(cap, setup.time_limit)


# --------------------------------------------------------------------------------------
# agreement
# --------------------------------------------------------------------------------------
def _shared_points(eq: Equilibrium, eta: float, sample: Mapping[sp.Symbol, Any]) -> list[dict[sp.Symbol, float]]:
    if eq.projected is None:
        return []
    gens = [*eq.center] + ([AMP] if eq.amp_name else [])
    return real_points(eq.projected, gens, sample, eta)


def _agree(flow_eq: Equilibrium, orbits: list[Equilibrium], sample: Mapping[sp.Symbol, Any], setup: Setup) -> Agreement:
    cands = [o for o in orbits if o.projected is not None and o.period == 2]
    if flow_eq.projected is None or not cands:
        return Agreement(flow_eq.label, None, "no orbit", notes=["no projected relations to compare"])
    gens = [*flow_eq.center, AMP]
    params = tuple(sorted(set(flow_eq.params) | set(cands[0].params), key=lambda s: s.name))
    for o in cands:
        try:
            same = limited(
                lambda a=flow_eq.projected, b=o.projected: (
                    _reduces(a, b, gens, params) and _reduces(b, a, gens, params)
                ),
                seconds=_cap(setup, 8.0),
                what="agreement",
            )
        except (Intractable, RuntimeError):
            same = False
        if same:
            return Agreement(flow_eq.label, o.label, "proved equal")
    # the closest orbit family at the flow's sample eta
    eta = _pick_eta(flow_eq.ranges) or 1.0
    best = None
    fp = _shared_points(flow_eq, eta, sample)
    for o in cands:
        op = _shared_points(o, eta, sample)
        for a in fp:
            for b in op:
                d = max(abs(a[g] - b[g]) for g in gens)
                if best is None or d < best[0]:
                    best = (d, o, a, b)
    target = best[1] if best is not None else cands[0]
    ag = Agreement(flow_eq.label, target.label, "differs")
    if best is not None:
        ag.numeric = {"eta": eta, "max": best[0]}
    # closed-form differences on matching branches
    if flow_eq.solutions and target.solutions:
        fb = _match_branch(flow_eq.solutions, best[2] if best else None, sample, eta)
        ob = _match_branch(target.solutions, best[3] if best else None, sample, eta)
        for g in gens:
            if g in fb and g in ob:
                try:
                    d = limited(
                        lambda x=fb[g] - ob[g]: sp.factor(sp.simplify(x)), seconds=_cap(setup, 5.0), what="difference"
                    )
                except (Intractable, RuntimeError):
                    d = fb[g] - ob[g]
                name = "amplitude^2" if g == AMP else str(g)
                ag.differences[name] = {"difference": str(d), "latex": sp.latex(d), "zeros": _zeros(d, setup)}
    return ag


def _match_branch(sols: list[dict], pt: Mapping[sp.Symbol, float] | None, sample: Mapping, eta: float) -> dict:
    if pt is None or len(sols) == 1:
        return sols[0]
    at = {**{k: v for k, v in sample.items()}, ETA: sp.nsimplify(eta, rational=True)}
    best = None
    for s in sols:
        try:
            d = max(abs(complex(sp.N(v.xreplace(at))) - pt.get(k, 0.0)) for k, v in s.items())
        except (TypeError, ValueError):
            continue
        if best is None or d < best[0]:
            best = (d, s)
    return best[1] if best else sols[0]


def _zeros(d: sp.Expr, setup: Setup) -> list[str] | None:
    if d == 0:
        return None
    try:
        if ETA not in d.free_symbols:
            return []
        sols = limited(sp.solve, d, ETA, seconds=_cap(setup, 5.0), what="zeros")
        return [str(s) for s in sols if not (s.is_number and (s.is_real is False or s <= 0))]
    except (Intractable, RuntimeError, NotImplementedError):
        return None


# --------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------
def _potential(
    potential: Any, params: Sequence[str] | None, constants: Mapping[str, Any] | None, sample: Mapping[str, Any] | None
) -> Potential:
    """A toy or Potential as is; a formula with ``params`` given gets its other symbols as
    constants (values from ``sample``, for the numerical steps; ``constants`` fix them)."""
    from eostheory.symbolic._parse import parse_formula
    from eostheory.symbolic.library import TOYS

    if isinstance(potential, str) and potential.strip() not in TOYS and params is not None:
        names = [str(p) for p in params]
        expr = parse_formula(potential, symbols={n: sp.Symbol(n) for n in names})
        others = sorted({s.name for s in expr.free_symbols} - set(names))
        if {"eta", "beta"} & set(others):
            raise EosInputError("eta and beta name the step size and momentum: rename that symbol of the potential")
        vals: dict[str, Any] = {}
        for k in others:
            v = (constants or {}).get(k, (sample or {}).get(k))
            vals[k] = None if v is None else float(exact(v, f"constant {k}"))
        return Potential(expr, names, vals)
    return as_potential(potential, params=params)


@dataclass(frozen=True)
class Checks:
    """The numerical checks of derived equilibria (see :mod:`eostheory.experiments`).

    Attributes:
        orbit: ``(potential, rule, name, points, hyper, constants, radius=)`` -> report dict.
        flow: ``(potential, flow, settings, state, jacobian, eta, beta, constants)`` -> report dict.
    """

    orbit: Callable[..., dict[str, Any]]
    flow: Callable[..., dict[str, Any]]


def derive_equilibria(
    potential: Potential | str | sp.Expr,
    optimizer: Any = None,
    flows: str | Sequence[str] | None = None,
    *,
    flow_names: Sequence[str],
    resolve: Callable[[str], tuple[Any, dict[str, str]]] | None,
    checks: Checks | None = None,
    params: Sequence[str] | None = None,
    constants: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    sample: Mapping[str, Any] | None = None,
    period: int | Sequence[int] = 2,
    symbolic_constants: bool = True,
    time_limit: float | None = 12.0,
) -> EquilibriaResult:
    r"""Derive an optimizer's periodic orbits and the flows' stationary points, exactly.

    The sympy core of :func:`eostheory.experiments.equilibria` (``eos.equilibria``), which
    hands in the flow registry and the numerical checks; the other arguments are its own.

    Args:
        potential: a :class:`~eostheory.symbolic.Potential`, a toy name or a formula
            (polynomial or rational in the parameters).
        optimizer: a built-in optimizer, an :class:`~eostheory.optimizers.Optimizer`, an
            :class:`~eostheory.symbolic.UpdateRule` or update lines (default: ``gd``, or
            the optimizer the chosen flows model).
        flows: flow names (``"rod:extent=full"`` for parameters), ``"all"``, or ``[]`` for
            none.  Default: the flows that model the optimizer (``central``, ``rod``,
            ``edge``, ``selfstab`` for GD; ``central-hb`` for heavy ball).
        params: the parameters of a formula; its other symbols are then constants
            (symbolic unless fixed by ``constants``; their values for the numerical steps
            come from ``sample``).
        constants: constants fixed exactly in the derivation (the others stay symbolic,
            their potential values being the samples).
        values: hyperparameters other than :math:`\eta` fixed exactly (``{"beta": 0.5}``).
        sample: sample values of the free hyperparameters for the numerical steps
            (default 1/2 each).
        period: 2, 4 or both (``(2, 4)``).
        symbolic_constants: keep the unset constants symbolic (else fix them at their values).
        time_limit: seconds per derivation (orbits of one period, or one flow; 12 by default); steps that
            do not finish are reported in ``notes``.  ``None``: no limit.
        flow_names: every flow's name, in registry order (``flows="all"``).
        resolve: ``spec -> (flow, settings)`` for a flow spec (the flow has ``name``,
            ``optimizer`` and ``field(potential, **settings)``); ``None`` when no flows are asked.
        checks: the numerical checks of each family against the compiled runs (``None``: none).

    Returns:
        An :class:`EquilibriaResult`.

    Raises:
        EosInputError: a potential that is not rational, a step that is not a rational
            map, an unknown flow or name, an unsupported flow.
    """
    t0 = time.perf_counter()
    pot = _potential(potential, params, constants, sample)
    if time_limit is not None and (not isinstance(time_limit, int | float) or time_limit <= 0):
        raise EosInputError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    setup = make_setup(pot, constants, symbolic_constants=symbolic_constants, time_limit=time_limit)
    periods = [period] if isinstance(period, int) else list(period)
    if not periods or any(p not in (2, 4) for p in periods):
        raise EosInputError(f"period must be 2, 4 or both, got {period!r}")
    FLOWS = list(flow_names)

    def resolve_flow(spec: str) -> tuple[Any, dict[str, str]]:
        if resolve is None:
            raise EosInputError(f"no flow registry was given to resolve {spec!r}")
        return resolve(spec)

    if isinstance(flows, str):
        flow_specs = list(FLOWS) if flows.strip() == "all" else [f for f in flows.split(",") if f.strip()]
    else:
        flow_specs = None if flows is None else list(flows)
    if flow_specs is not None:
        for f in flow_specs:
            resolve_flow(f)
    if optimizer is None:
        models = {resolve_flow(f)[0].optimizer for f in flow_specs or []}
        if len(models) > 1:
            raise EosInputError(f"the flows model different optimizers ({', '.join(sorted(models))}): ask for one")
        optimizer = models.pop() if models else "gd"
    rule, name = as_rule(optimizer)
    oname = name or "; ".join(a.text for a in rule.assignments)
    if flow_specs is None:
        flow_specs = [f for f in _DEFAULT_FLOWS.get(name or "", ()) if not (f == "selfstab" and setup.dim < 2)]
    elif flows == "all":
        from eostheory.symbolic._stationary import SUPPORTED_FLOWS

        flow_specs = [f for f in FLOWS if f in SUPPORTED_FLOWS and not (f == "selfstab" and setup.dim < 2)]
    asked = flows is not None
    sample_hyper = dict(sample or {})
    fixed = dict(values or {})
    notes: list[str] = list(setup.notes)
    timings: dict[str, float] = {}
    cycles: list[Equilibrium] = []
    for p in periods:
        t1 = time.perf_counter()
        cycles += _orbit_equilibria(setup, rule, oname, p, fixed, sample_hyper, checks, notes, len(cycles))
        timings[f"{oname} period {p}"] = time.perf_counter() - t1
    flow_out: dict[str, list[Equilibrium]] = {}
    for spec in flow_specs:
        fl = resolve_flow(spec)[0]
        if fl.optimizer != (name or "") and fl.optimizer in ("gd", "heavy-ball"):
            notes.append(f"{fl.name} models {fl.optimizer}, not {oname}: compared with {oname}'s orbits anyway")
        t1 = time.perf_counter()
        try:
            key, fams = _flow_equilibria(setup, spec, resolve_flow, {**sample_hyper, **fixed}, checks, notes)
        except EosInputError as exc:
            if asked:
                raise
            notes.append(f"{fl.name}: {exc}")
            continue
        flow_out[key if key not in flow_out else spec] = fams
        timings[spec] = time.perf_counter() - t1
    samp = {**{k: v for k, v in setup.sample.items()}}
    for h in rule.hyperparameters:
        if h.name != "eta" and h.name not in fixed:
            samp[BETA if h.name == "beta" else h] = exact(sample_hyper.get(h.name, sp.Rational(1, 2)), h.name)
    agreements = [
        _agree(f, [c for c in cycles if c.period == 2], samp, setup)
        for fams in flow_out.values()
        for f in fams
        if f.amp_name is not None
    ]
    symbolic = tuple(
        [ETA]
        + [BETA if h.name == "beta" else h for h in rule.hyperparameters if h.name not in ("eta", *fixed)]
        + list(setup.symbolic)
    )
    return EquilibriaResult(
        pot,
        oname,
        symbolic,
        {str(k): float(v) for k, v in samp.items()},
        cycles,
        flow_out,
        agreements,
        notes,
        time.perf_counter() - t0,
        timings,
    )
