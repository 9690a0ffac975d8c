"""The flows: gradient, stable, modified, central (any k), heavy-ball central, rod, edge, self-stabilization."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from eostheory.flows import _fields as vf
from eostheory.flows import _src_basic, _src_central, _src_edge, _src_rod, _src_selfstab
from eostheory.flows._base import BETA, ETA, FLOWS, Flow, FlowParam, register_flow, vector_str
from eostheory.symbolic.flowfield import FlowField
from eostheory.symbolic.potential import Potential

__all__ = [
    "CentralFlow",
    "CentralHeavyBallFlow",
    "EdgeFlow",
    "GradientFlow",
    "ModifiedFlow",
    "RodFlow",
    "SelfStabilization",
    "StableFlow",
]

#: the most eigenvalues the central flow tracks: the flow's own check caps k at the parameter
#: count; past 64 the complementarity problem's dense system (k(k+1)/2 = 2080 unknowns) and the
#: k(k+1)/2 third-derivative contractions per evaluation cost more than any use here needs
MAX_TRACKED = 64
_COMMON = "DIM + 4"  # centre (DIM), predicted loss, predicted oscillation, sharpness, edge indicator


def _grad(pot: Potential) -> list[sp.Expr]:
    return list(pot.gradient())


def _at(exprs: list[sp.Expr], pot: Potential, point: list[sp.Expr]) -> list[sp.Expr]:
    sub = dict(zip(pot.params, point, strict=True))
    return [sp.sympify(e).xreplace(sub) for e in exprs]


@dataclass(frozen=True)
class GradientFlow(Flow):
    """Gradient flow :math:`\\dot w = -\\eta\\nabla L`: GD's first-order modified equation."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The vector field :math:`-\\eta\\nabla L` in sympy."""
        return FlowField(self.name, {"w": pot.params}, {"w": [-ETA * gi for gi in _grad(pot)]}, threshold=2 / ETA)

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        lines = [f"{self.title} (time in GD steps, eta the step size)"]
        lines += vector_str("w", f.rhs["w"], pot.params)
        return "\n".join(lines)


@dataclass(frozen=True)
class StableFlow(GradientFlow):
    """Gradient flow valid while :math:`S < 2/\\eta`; it stops on reaching the edge."""

    def equations(self, pot: Potential) -> str:
        return super().equations(pot) + "\nvalid while S(w) < 2/eta: the integration stops when S reaches 2/eta"


@dataclass(frozen=True)
class ModifiedFlow(Flow):
    """Barrett–Dherin implicit-regularization flow :math:`\\dot w = -\\eta\\nabla[L + (\\eta/4)\\|\\nabla L\\|^2]`."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The vector field :math:`-\\eta(g + (\\eta/2) H g)` in sympy."""
        g = sp.Matrix(_grad(pot))
        rhs = -ETA * (g + ETA / 2 * pot.hessian() * g)
        return FlowField(self.name, {"w": pot.params}, {"w": list(rhs)}, threshold=2 / ETA)

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        lines = [f"{self.title}: dw/dt = -eta grad[L + (eta/4)|grad L|^2] = -eta (g + (eta/2) H g)"]
        lines += vector_str("w", f.rhs["w"], pot.params)
        return "\n".join(lines)


@dataclass(frozen=True)
class CentralFlow(Flow):
    """Central flow with k tracked eigenvalues (Cohen et al. 2025), Baumgarte-stabilized constraint."""

    def variant(self, p: np.ndarray | None) -> tuple[tuple[str, ...], Mapping[str, str]]:
        """One eigenvalue: the closed-form core (no SDCP solver to compile)."""
        if p is not None and int(p[1]) == 1:
            return ("central1_core", *self.functions[1:]), {"central1_core": "central_core"}
        return self.functions, self.rename

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The one-eigenvalue vector field :math:`-\\eta[\\nabla L + \\tfrac12\\sigma^2\\nabla S]` in sympy."""
        g = _grad(pot)
        u = pot.direction_symbols
        ds = list(pot.third_contraction())
        s2 = sp.Symbol("sigma2", nonnegative=True)
        rhs = [-ETA * (gi + s2 / 2 * di) for gi, di in zip(g, ds, strict=True)]
        edge = -2 * sum(a * b for a, b in zip(g, ds, strict=True)) / sum(d**2 for d in ds)
        return FlowField(
            self.name,
            {"w": pot.params},
            {"w": rhs},
            {"u": u, "sigma2": s2},
            {"grad_S": ds, "sigma2_on_edge": edge},
            threshold=2 / ETA,
            settings={"k": str(params.get("k", 1))},
        )

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        u = f.implicit["u"]
        ds = f.extra["grad_S"]
        lines = [
            f"{self.title} (one eigenvalue at the edge; k >= 2 uses the matrix X of the SDCP)",
            "dw/dt = -eta [grad L + (1/2) sigma^2 grad S],  grad S = D^3L[u, u],  u the top eigenvector of H",
            "sigma^2 = max(0, 2 <-grad L, grad S>/|grad S|^2) while S = 2/eta (0 and gradient flow while S < 2/eta)",
            "relaxed on a discrete grid as sigma^2 = max(0, 2(<-grad L, grad S> - m/(eta tau))/|grad S|^2), "
            "m = 2/eta - S, so the margin decays no faster than exp(-t/tau)",
            f"grad S with u = ({', '.join(map(str, u))}):",
        ]
        lines += [f"  dS/d{w} = {sp.sstr(e)}" for w, e in zip(pot.params, ds, strict=True)]
        lines += vector_str("w", f.rhs["w"], pot.params)
        lines.append("predicted time-averaged loss: L(w) + (1/2) S sigma^2 = L + sigma^2/eta on the edge")
        return "\n".join(lines)


@dataclass(frozen=True)
class CentralHeavyBallFlow(Flow):
    """Heavy-ball central flow: buffer as state, sharpness held at :math:`2(1+\\beta)/\\eta`."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The vector field on :math:`(w, v)` in sympy, :math:`\\bar g = \\nabla L + \\tfrac12\\sigma^2\\nabla S`."""
        g = _grad(pot)
        ds = list(pot.third_contraction())
        s2 = sp.Symbol("sigma2", nonnegative=True)
        vs = tuple(sp.Symbol(f"v_{p}") for p in pot.params)
        gbar = [gi + s2 / 2 * di for gi, di in zip(g, ds, strict=True)]
        return FlowField(
            self.name,
            {"w": pot.params, "v": vs},
            {
                "w": [-ETA * (BETA * v + gb) for v, gb in zip(vs, gbar, strict=True)],
                "v": [-(1 - BETA) * v + gb for v, gb in zip(vs, gbar, strict=True)],
            },
            {"u": pot.direction_symbols, "sigma2": s2},
            {"grad_S": ds, "gbar": gbar},
            threshold=2 * (1 + BETA) / ETA,
        )

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        vs = list(f.blocks["v"])
        lines = [
            f"{self.title}: gbar = grad L + (1/2) sigma^2 grad S, S held at 2(1+beta)/eta",
            "dv/dt = -(1 - beta) v + gbar,   dw/dt = -eta (beta v + gbar)",
            "sigma^2 = max(0, -2(m/tau + eta grad S.(beta v + grad L))/(eta |grad S|^2)), m = 2(1+beta)/eta - S",
        ]
        lines += vector_str("w", f.rhs["w"], pot.params)
        lines += vector_str("v", f.rhs["v"], vs)
        return "\n".join(lines)


@dataclass(frozen=True)
class RodFlow(Flow):
    """Rod flow (Regis & Chewi 2026, arXiv:2602.01480, reconstructed from the abstract): centre and extent."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        r"""The vector field in sympy, with the extent written :math:`\Sigma = \delta\delta^\top`."""
        extent = str(params.get("extent", self.params[0].default))
        self.params[0].value(extent)
        n = pot.dim
        wb = tuple(sp.Symbol(f"{p}bar") for p in pot.params)
        dl = tuple(sp.Symbol(f"delta_{p}") for p in pot.params)
        g = _grad(pot)
        h = pot.hessian()
        gp = sp.Matrix(_at(g, pot, [a + b for a, b in zip(wb, dl, strict=True)]))
        gm = sp.Matrix(_at(g, pot, [a - b for a, b in zip(wb, dl, strict=True)]))
        hp = h.xreplace(dict(zip(pot.params, [a + b for a, b in zip(wb, dl, strict=True)], strict=True)))
        hm = h.xreplace(dict(zip(pot.params, [a - b for a, b in zip(wb, dl, strict=True)], strict=True)))
        dw = -ETA / 2 * (gp + gm) - ETA**2 / 8 * (hp + hm) * (gp + gm)
        full = extent == "full"
        dS = ETA**2 / 4 * (gp * gp.T + gm * gm.T) if full else ETA**2 / 8 * ((gp - gm) * (gp - gm).T)
        sig = sp.Matrix(dl) * sp.Matrix(dl).T
        return FlowField(
            self.name,
            {"wbar": wb, "delta": dl},
            {"wbar": list(dw), "Sigma": [dS[i, j] - 2 * sig[i, j] for i in range(n) for j in range(n)]},
            extra={"Sigma_source": dS},
            threshold=2 / ETA,
            settings={"extent": extent},
        )

    def equations(self, pot: Potential) -> str:
        n = pot.dim
        f = self.field(pot)
        wb = f.blocks["wbar"]
        dw = f.rhs["wbar"]
        dS = f.extra["Sigma_source"]
        full = f.settings["extent"] == "full"
        lines = [
            f"{self.title}: centre wbar = (w_t + w_(t+1))/2, half-extent delta = (w_(t+1) - w_t)/2, "
            "Sigma = delta delta^T (delta = sqrt(lambda_1(Sigma)) v_1)",
            "dwbar/dt = -(eta/2)(gL+ + gL-) - (eta^2/8)(H+ + H-)(gL+ + gL-),   gL+- = grad L(wbar +- delta)",
            "dSigma/dt = (eta^2/4)(gL+ gL+^T + gL- gL-^T) - 2 Sigma   (extent=full)",
            "dSigma/dt = (eta^2/2) D D^T - 2 Sigma,  D = (gL+ - gL-)/2   (extent=oscillation, the default: "
            "the oscillating block; the drift block (eta^2/2) Gbar Gbar^T - 2 Sigma_drift is dropped)",
            f"below: extent={'full' if full else 'oscillation'}",
        ]
        lines += [
            f"d{w}/dt = {sp.sstr(sp.expand(e) if sp.count_ops(e) < 80 else e)}" for w, e in zip(wb, dw, strict=True)
        ]
        for i in range(n):
            for j in range(i, n):
                lines.append(f"dSigma_{i}{j}/dt = {sp.sstr(dS[i, j])} - 2*Sigma_{i}{j}")
        return "\n".join(lines)


@dataclass(frozen=True)
class EdgeFlow(Flow):
    """Edge flow (Marion 2026, arXiv:2606.18080, reconstructed from the abstract): centre, direction, magnitude."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The vector field on :math:`(c, u, r)` in sympy (unit :math:`u`), both curvatures."""
        curvature = str(params.get("curvature", self.params[0].default))
        growth = str(params.get("growth", self.params[1].default))
        self.params[0].value(curvature)
        self.params[1].value(growth)
        cs = tuple(sp.Symbol(f"c_{p}") for p in pot.params)
        us = tuple(pot.direction_symbols)
        r = sp.Symbol("r", nonnegative=True)
        g = _grad(pot)
        gp = _at(g, pot, [a + r * b for a, b in zip(cs, us, strict=True)])
        gm = _at(g, pot, [a - r * b for a, b in zip(cs, us, strict=True)])
        h = pot.hessian().xreplace(dict(zip(pot.params, cs, strict=True)))
        hu = h * sp.Matrix(us)
        ray = (sp.Matrix(us).T * hu)[0, 0]
        sec = sum(ui * (a - b) for ui, a, b in zip(us, gp, gm, strict=True)) / (2 * r)
        kappa = sec if curvature == "secant" else ray
        rate = ETA * kappa - 2 if growth == "linear" else sp.log(sp.Abs(1 - ETA * kappa))
        return FlowField(
            self.name,
            {"c": cs, "u": us, "r": (r,)},
            {
                "c": [-ETA / 2 * (a + b) for a, b in zip(gp, gm, strict=True)],
                "u": [ETA * (hu[i] - ray * us[i]) for i in range(pot.dim)],
                "r": [rate * r],
            },
            extra={"kappa_rayleigh": ray, "kappa_secant": sec, "kappa": kappa},
            threshold=2 / ETA,
            settings={"curvature": curvature, "growth": growth},
        )

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        cs = f.blocks["c"]
        us = f.blocks["u"]
        ray = f.extra["kappa_rayleigh"]
        sec = f.extra["kappa_secant"]
        lines = [
            f"{self.title}: w_t ~ c + (-1)^t r u, |u| = 1",
            "dc/dt = -(eta/2)[grad L(c + r u) + grad L(c - r u)]",
            "du/dt = eta [H(c) u - (u^T H(c) u) u]",
            "dr/dt = (eta kappa - 2) r   (growth=linear)   or   r log|1 - eta kappa|   (growth=log)",
        ]
        lines += vector_str("c", f.rhs["c"], cs)
        lines += vector_str("u", f.rhs["u"], us)
        lines.append(f"kappa (rayleigh) = {sp.sstr(sp.expand(ray))}")
        lines.append(f"kappa (secant)   = {sp.sstr(sp.simplify(sec) if sp.count_ops(sec) < 80 else sec)}")
        lines.append("predicted time-averaged loss: L_sym = (L(c + r u) + L(c - r u))/2")
        return "\n".join(lines)


@dataclass(frozen=True)
class SelfStabilization(Flow):
    """Damian–Nichani–Lee constrained trajectory: projected GD onto {S <= 2/eta, grad L . u = 0}."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        """The map's GD increment and the constraints of the projection, in sympy."""
        g = _grad(pot)
        u = pot.direction_symbols
        ds = list(pot.third_contraction())
        gu = sum(a * b for a, b in zip(g, u, strict=True))
        return FlowField(
            self.name,
            {"theta": pot.params},
            {"theta": [-ETA * gi for gi in g]},
            {"u": u},
            {"c2": gu, "grad_S": ds},
            threshold=2 / ETA,
        )

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        gu = f.extra["c2"]
        ds = f.extra["grad_S"]
        lines = [
            f"{self.title} (discrete map, one GD step then a projection):",
            "theta_(t+1) = proj_M(theta_t - eta grad L(theta_t)),  M = {S <= 2/eta, grad L . u = 0}",
            f"grad L . u = {sp.sstr(sp.expand(gu))}",
            "grad S = " + sp.sstr(ds),
            "reduced map near the edge: x_(t+1) = -(1 + eta y_t) x_t,  y_(t+1) = y_t + eta (alpha - beta x_t^2/2)",
            "alpha = -grad L . grad S,  beta = |grad S|^2;  predicted <x^2> = 2 alpha/beta, loss L + <x^2>/eta",
        ]
        return "\n".join(lines)


_PLAIN = {"NY": "DIM", "WS0": "8", "NAUX": _COMMON}


def _ws(*blocks: str) -> tuple[vf.Block, ...]:
    """Workspace blocks written ``"NAME:size"`` (size in ``n``)."""
    return tuple(vf.Block(*b.split(":")) for b in blocks)


_WS_PLAIN = _ws("g:n", "h:n*n")
# d and x hold up to k = n tracked eigenvalues: k(k+1)/2 <= n*n rows of length n
_WS_CENTRAL = _ws("g:n", "lam:n", "d:n*n*n", "x:n*n", "h:n*n", "v:n*n", "ui:n", "uj:n", "tmp:n", "buf:n", "row:n")
_WS_HB = _ws("g:n", "ds:n", "h:n*n", "v:n*n", "lam:n", "u:n")
_WS_ROD = _ws("delta:n", "wp:n", "wm:n", "gp:n", "gm:n", "hp:n*n", "hm:n*n", "sig:n*n", "sv:n*n", "slam:n")
_WS_EDGE = _ws("uh:n", "gp:n", "gm:n", "hu:n", "cp:n", "cm:n", "h:n*n")

for _flow in [
    GradientFlow(
        "gradient",
        "gradient flow",
        "dw/dt = -eta grad L: GD's leading-order continuous model; it ignores the step size's "
        "instability and so fails once the sharpness exceeds 2/eta.",
        "classical",
        _src_basic,
        ("gradient_rhs", "plain_edge", "flow_post", "plain_aux"),
        {"gradient_rhs": "flow_rhs", "plain_edge": "flow_edge", "plain_aux": "flow_aux"},
        _PLAIN,
        cost={"gradients": "1"},
        vector_field=vf.GradientField(),
        workspace=_WS_PLAIN,
    ),
    StableFlow(
        "stable",
        "stable flow",
        "gradient flow while S < 2/eta (the central flow off the edge); the integration stops "
        "when the sharpness reaches 2/eta.",
        "Cohen et al., ICLR 2025",
        _src_basic,
        ("gradient_rhs", "plain_edge", "flow_post", "plain_aux"),
        {"gradient_rhs": "flow_rhs", "plain_edge": "flow_edge", "plain_aux": "flow_aux"},
        _PLAIN,
        stop_on_enter=True,
        cost={"gradients": "1"},
        vector_field=vf.GradientField(),
        workspace=_WS_PLAIN,
    ),
    ModifiedFlow(
        "modified",
        "modified (implicit-regularization) flow",
        "dw/dt = -eta grad[L + (eta/4)|grad L|^2]: the second-order modified equation of GD; like "
        "gradient flow it has no mechanism that keeps S <= 2/eta.",
        "Barrett & Dherin, ICLR 2021",
        _src_basic,
        ("modified_rhs", "plain_edge", "flow_post", "plain_aux"),
        {"modified_rhs": "flow_rhs", "plain_edge": "flow_edge", "plain_aux": "flow_aux"},
        _PLAIN,
        cost={"gradients": "1", "hvps": "1"},
        vector_field=vf.ModifiedField(),
        workspace=_WS_PLAIN,
    ),
    CentralFlow(
        "central",
        "central flow",
        "the time-averaged GD trajectory: projected gradient flow that keeps the top-k Hessian "
        "block <= 2/eta; one eigenvalue in closed form, several through the semidefinite "
        "complementarity problem.",
        "Cohen, Damian, Talwalkar, Kolter & Lee, ICLR 2025",
        _src_central,
        _src_central.FUNCTIONS,
        {},
        {
            "NY": "DIM",
            "NAUX": "DIM + 6",
            "GAP_TOL": "1e-8",
            "LOW_TOL": "1e-9",
            "WS0": "8",
        },
        (
            FlowParam(
                "k",
                1,
                "number of tracked top eigenvalues (1 to the number of parameters); 0 = every "
                "eigenvalue at or above track * 2/eta, counted afresh at each evaluation",
                integer_range=(0, MAX_TRACKED),
            ),
            FlowParam("tau", 1.0, "relaxation time of the stability constraint, in steps"),
            FlowParam("track", 0.5, "with k=0: the fraction of 2/eta at or above which eigenvalues are tracked"),
        ),
        extras=vf.CentralField.extras,
        cost={"gradients": "1", "eigendecompositions": "1", "third-derivative contractions": "k(k+1)/2 (+1 per pair)"},
        vector_field=vf.CentralField(),
        workspace=_WS_CENTRAL,
        inline=("central1_core", "central_eval"),
    ),
    CentralHeavyBallFlow(
        "central-hb",
        "heavy-ball central flow",
        "central flow of heavy-ball momentum with the buffer as state; the sharpness is held at "
        "2(1+beta)/eta (by analogy with the central flow; no published form).",
        "after Cohen et al., ICLR 2025",
        _src_central,
        _src_central.HB_FUNCTIONS,
        _src_central.HB_RENAME,
        {"NY": "2 * DIM", "NAUX": "DIM + 6", "GAP_TOL": "1e-8", "WS0": "8"},
        (FlowParam("tau", 1.0, "relaxation time of the stability constraint, in steps"),),
        optimizer="heavy-ball",
        extras=vf.CentralHeavyBallField.extras,
        vector_field=vf.CentralHeavyBallField(),
        workspace=_WS_HB,
        cost={"gradients": "1", "eigendecompositions": "1", "third-derivative contractions": "1"},
        inline=("hb_core",),
    ),
    RodFlow(
        "rod",
        "rod flow",
        "the GD iterate pair as a rod: centre (w_t + w_(t+1))/2 and extent Sigma = delta delta^T, "
        "second-order modified equation of the exact centre identity.",
        "Regis & Chewi, 2026, arXiv:2602.01480 (reconstructed from the abstract)",
        _src_rod,
        ("rod_delta", "rod_rhs", "rod_edge", "flow_post", "rod_aux"),
        {"rod_rhs": "flow_rhs", "rod_edge": "flow_edge", "rod_aux": "flow_aux"},
        {"NY": "DIM + DIM * DIM", "NAUX": "DIM + 5", "WS0": "8"},
        (
            FlowParam(
                "extent",
                "oscillation",
                "what Sigma carries: oscillation (the sign-flipping block (eta^2/2) D D^T, D = (gL+ - gL-)/2) "
                "or full (the reconstructed (eta^2/4)(gL+ gL+^T + gL- gL-^T), the drift half-step included)",
                choices=("full", "oscillation"),
            ),
        ),
        time_offset=0.5,
        extras=vf.RodField.extras,
        vector_field=vf.RodField(),
        workspace=_WS_ROD,
        inline=("rod_delta",),
        cost={"gradients": "2", "hvps": "2", "eigendecompositions": "1 (of Sigma)"},
    ),
    EdgeFlow(
        "edge",
        "edge flow",
        "GD as c + (-1)^t r u: centre on the symmetrized loss, direction by Oja's flow, magnitude "
        "growing at (eta kappa - 2); secant curvature by default.",
        "Marion, 2026, arXiv:2606.18080 (reconstructed from the abstract)",
        _src_edge,
        ("edge_core", "edge_rate", "edge_eval", "edge_rhs", "edge_edge", "flow_post", "edge_aux"),
        {"edge_rhs": "flow_rhs", "edge_edge": "flow_edge", "edge_aux": "flow_aux"},
        {"NY": "2 * DIM + 1", "NAUX": "DIM + 6", "WS0": "8"},
        (
            FlowParam("curvature", "secant", "curvature kappa: secant or rayleigh", choices=("rayleigh", "secant")),
            FlowParam(
                "growth",
                "linear",
                "dr/dt: linear (eta kappa - 2) r or log r log|1 - eta kappa|",
                choices=("linear", "log"),
            ),
        ),
        extras=vf.EdgeField.extras,
        vector_field=vf.EdgeField(),
        workspace=_WS_EDGE,
        cost={"gradients": "2", "hvps": "1"},
        inline=("edge_core", "edge_rate", "edge_eval"),
    ),
    SelfStabilization(
        "selfstab",
        "self-stabilization constrained trajectory",
        "projected GD onto {S <= 2/eta, grad L . u = 0}; predicted oscillation sqrt(2 alpha/beta) "
        "(the reduced map's time average) once on the edge.",
        "Damian, Nichani & Lee, ICLR 2023 (arXiv 2022)",
        _src_selfstab,
        ("ss_constraints", "ss_project", "ss_rhs", "ss_post", "ss_state", "ss_edge", "ss_aux"),
        {"ss_rhs": "flow_rhs", "ss_post": "flow_post", "ss_edge": "flow_edge", "ss_aux": "flow_aux"},
        {"NY": "DIM", "NWS": "2", "NAUX": "DIM + 6", "GAP_TOL_SS": "1e-10"},
        discrete=True,
        extras=vf.SelfStabField.extras,
        vector_field=vf.SelfStabField(),
        cost={
            "gradients": "1 per step + 1 per projection iteration",
            "third-derivative contractions": "3 per projection iteration",
            "eigendecompositions": "1 per projection iteration",
        },
    ),
]:
    register_flow(_flow)

# the Rayleigh-quotient edge flow under its own name (it differs in what it predicts):
# the same definition as "edge" with the curvature parameter defaulting to the Rayleigh quotient
_edge = FLOWS["edge"]
register_flow(
    replace(
        _edge,
        name="edge-rayleigh",
        title="edge flow (Rayleigh curvature)",
        description="edge flow with kappa = u^T H(c) u: r grows while the curvature at the centre exceeds "
        "2/eta, so it misses the amplitude set by the cubic and quartic terms.",
        params=tuple(replace(p, default="rayleigh") if p.name == "curvature" else p for p in _edge.params),
    )
)
