r"""Edge flow for heavy ball and Nesterov in the phase space :math:`(w, v)`: ``edge-hb``.

Heavy ball (PyTorch's convention) :math:`v_{t+1} = \beta v_t + \nabla L(w_t)`,
:math:`w_{t+1} = w_t - \eta v_{t+1}`, and Nesterov :math:`w_{t+1} = w_t - \eta(\nabla L(w_t) +
\beta v_{t+1})`, written near the edge as :math:`w_t \approx c + (-1)^t r\hat u` with a slowly
moving buffer mean :math:`v`.  With :math:`g_\pm = \nabla L(c \pm r\hat u)`,
:math:`\bar g = (g_+ + g_-)/2` and the secant curvature
:math:`\kappa = \hat u^\top(g_+ - g_-)/(2r)`:

.. math::
    \dot c = -\eta(a\bar g + b v), \qquad \dot v = -(1-\beta)v + \bar g, \qquad
    \dot u = \eta[H(c)\hat u - (\hat u^\top H\hat u)\hat u] + \tfrac12(1 - \|u\|^2)u, \qquad
    \dot r = r\log|z(\kappa)|,

:math:`(a, b) = (1, \beta)` for heavy ball and :math:`(1+\beta, \beta^2)` for Nesterov, and
:math:`z(\kappa)` the period-two root (the smaller real root) of the method's characteristic
polynomial along curvature :math:`\kappa`:

- heavy ball :math:`z^2 - (1 + \beta - \eta\kappa)z + \beta = 0`, :math:`|z| = 1` at
  :math:`\eta\kappa = 2(1+\beta)`;
- Nesterov :math:`z^2 - (1 + \beta - (1+\beta)\eta\kappa)z + \beta(1 - \eta\kappa) = 0`,
  :math:`|z| = 1` at :math:`\eta\kappa = 2(1+\beta)/(1+2\beta)`.

Its fixed points (:math:`\bar g = 0`, :math:`v = 0`, :math:`\kappa` at the threshold, :math:`\hat u`
an eigenvector of :math:`H(c)`) are the method's period-two orbits wherever the oscillating
gradient :math:`(g_+ - g_-)/2` is parallel to :math:`\hat u` (docs/flows-momentum.md).

This one file is the whole flow: the reference vector field (toys and networks), the numba
fast path for toys and the registry entry.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory.flows._base import Flow, FlowParam, register_flow
from eostheory.flows._fields import F_DEGENERATE, Block, Observation, Params, VectorField, edge_probe
from eostheory.flows._layout import P_BETA, P_ETA, WS_CM, WS_CP, WS_GM, WS_GP, WS_H, WS_HU, WS_UH
from eostheory.flows._src_common import _dot
from eostheory.integrate._names import DIM, grad, hess, loss, sharp
from eostheory.symbolic.potential import Potential

__all__ = ["EDGE_HB", "MomentumEdgeField", "momentum_coefficients", "period_two_root"]

# placeholders for linters: the generated module binds its own layout constants
P_KIND = 2
KIND_NESTEROV = 1.0

KINDS = ("heavy-ball", "nesterov")


def momentum_coefficients(kind: str, eta: float, beta: float) -> tuple[float, float, float, float]:
    r"""``(threshold, a, b, s)`` of a momentum method.

    The threshold :math:`2(1+\beta)/\eta` (heavy ball) or :math:`2(1+\beta)/(\eta(1+2\beta))`
    (Nesterov); the centre's coefficients :math:`\dot c = -\eta(a\bar g + bv)`; and ``s`` with
    :math:`2r\hat u = \eta s\,g_{\mathrm{osc}}` on a period-two orbit: :math:`s = 1/(1+\beta)`
    (heavy ball) or :math:`(1+2\beta)/(1+\beta)` (Nesterov).
    """
    if kind == "nesterov":
        return (
            2.0 * (1.0 + beta) / (eta * (1.0 + 2.0 * beta)),
            1.0 + beta,
            beta * beta,
            (1.0 + 2.0 * beta) / (1.0 + beta),
        )
    return 2.0 * (1.0 + beta) / eta, 1.0, beta, 1.0 / (1.0 + beta)


def period_two_root(kind: str, eta: float, beta: float, kappa: float) -> float:
    r"""The modulus :math:`|z|` of the period-two root of the characteristic polynomial at curvature :math:`\kappa`.

    With :math:`z^2 - Bz + C = 0` (:math:`B = 1 + \beta - \eta\kappa`, :math:`C = \beta` for heavy
    ball; :math:`B = 1 + \beta - (1+\beta)\eta\kappa`, :math:`C = \beta(1 - \eta\kappa)` for
    Nesterov): the smaller real root :math:`(B - \sqrt{B^2 - 4C})/2` when the roots are real,
    :math:`\sqrt C` when they are complex (both roots then have that modulus).

    Examples:
        >>> round(period_two_root("heavy-ball", 1.0, 0.5, 3.0), 12)  # at the threshold 2(1 + beta)/eta
        1.0
    """
    if kind == "nesterov":
        B = 1.0 + beta - (1.0 + beta) * eta * kappa
        C = beta * (1.0 - eta * kappa)
    else:
        B = 1.0 + beta - eta * kappa
        C = beta
    disc = B * B - 4.0 * C
    if disc >= 0.0:
        return abs(0.5 * (B - math.sqrt(disc)))
    return math.sqrt(C)


class MomentumEdgeField(VectorField):
    r"""Edge flow on :math:`(c, v, u, r)` for heavy ball and Nesterov (see the module docstring).

    The buffer mean :math:`v` is carried as state rather than slaved
    (:math:`v = \bar g/(1-\beta)`, :math:`\dot c = -\eta\bar g/(1-\beta)`): the slaved centre is
    stiff along :math:`\hat u` (rate :math:`2(1+\beta)/(1-\beta)` per step, 38 at
    :math:`\beta = 0.9`), while the pair :math:`(c, v)` has rates of order one, and it starts
    from the empty buffer of a GD start.
    """

    blocks = (Block("c", "n"), Block("v", "n"), Block("u", "n"), Block("r", "1"))
    extras = ("kappa", "rayleigh")

    def threshold(self, P: Params) -> float:
        return momentum_coefficients(P.kind, P.eta, P.beta)[0]

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        r""":math:`(c_0, 0, \hat u_0, r_0)`: :math:`\hat u_0` the top eigenvector of :math:`H(w_0)`
        (sign: :math:`\nabla L\cdot\hat u_0 \ge 0`), :math:`r_0` half the first step along it,
        :math:`r_0 = \tfrac\eta2 s_0\nabla L\cdot\hat u_0` (:math:`s_0 = 1`, or :math:`1+\beta` for
        Nesterov), :math:`c_0 = w_0 - r_0\hat u_0`, an empty buffer."""
        xp = o.xp
        pt = o.at(w0, True)
        g = pt.grad()
        _lam, U, _nxt = pt.eigh_top(1)
        u = xp.copy(U[:, 0])
        gu = xp.dot(g, u)
        if gu < 0:
            u = -u
            gu = -gu
        s0 = 1.0 + P.beta if P.kind == "nesterov" else 1.0
        r = 0.5 * P.eta * s0 * gu
        return xp.cat([w0 - r * u, xp.zeros(o.n, w0), u, xp.asarray([r], w0)])

    def core(self, o: Any, y: Any, P: Params) -> tuple[Any, Any, Any, Any, float, float]:
        """(unit u, g+, g-, H(c) u, secant curvature, Rayleigh quotient)."""
        n = o.n
        return edge_probe(o, y[:n], y[2 * n : 3 * n], float(y[3 * n]), True)

    @staticmethod
    def rate(P: Params, kappa: float) -> float:
        r""":math:`\log|z(\kappa)|`, the exact per-step growth of the period-two mode."""
        return math.log(max(period_two_root(P.kind, P.eta, P.beta, kappa), 1e-300))

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        xp = o.xp
        n = o.n
        eta, beta = P.eta, P.beta
        _thr, a, b, _s = momentum_coefficients(P.kind, eta, beta)
        uh, gp, gm, Hu, kappa, ray = self.core(o, y, P)
        v, u = y[n : 2 * n], y[2 * n : 3 * n]
        gb = 0.5 * (gp + gm)
        nu2 = xp.dot(u, u)
        dc = -eta * (a * gb + b * v)
        dv = -(1.0 - beta) * v + gb
        du = eta * (Hu - ray * uh) + 0.5 * (1.0 - nu2) * u
        return xp.cat([dc, dv, du, self.rate(P, kappa) * y[3 * n : 3 * n + 1]])

    def edge(self, o: Any, y: Any, P: Params) -> float:
        saved = (o.flag, o.flag_value)
        kappa = self.core(o, y, P)[4]
        o.flag, o.flag_value = saved
        return P.eta * (kappa - self.threshold(P))

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        n = o.n
        saved = (o.flag, o.flag_value)
        uh, _gp, _gm, _Hu, kappa, ray = self.core(o, y, P)
        o.flag, o.flag_value = saved
        c, r = y[:n], float(y[3 * n])
        ls = 0.5 * (o.loss(c + r * uh) + o.loss(c - r * uh))
        S = o.sharpness(c)
        return Observation(c, ls, abs(r), S, P.eta * (kappa - self.threshold(P)), (kappa, ray))


# --- the fast path on toys (numba source, spliced) -------------------------------------------


def hbe_coef(p):
    """(threshold, a, b) of the momentum method."""
    eta = p[P_ETA]
    beta = p[P_BETA]
    if p[P_KIND] == KIND_NESTEROV:
        return 2.0 * (1.0 + beta) / (eta * (1.0 + 2.0 * beta)), 1.0 + beta, beta * beta
    return 2.0 * (1.0 + beta) / eta, 1.0, beta


def hbe_rate(p, kappa):
    """log|z(kappa)|, z the period-two root of the characteristic polynomial."""
    eta = p[P_ETA]
    beta = p[P_BETA]
    if p[P_KIND] == KIND_NESTEROV:
        B = 1.0 + beta - (1.0 + beta) * eta * kappa
        C = beta * (1.0 - eta * kappa)
    else:
        B = 1.0 + beta - eta * kappa
        C = beta
    disc = B * B - 4.0 * C
    if disc >= 0.0:
        z = abs(0.5 * (B - math.sqrt(disc)))
    else:
        z = math.sqrt(C)
    return math.log(max(z, 1e-300))


def hbe_core(y, p, c, ws):
    """Fills the unit direction, g+, g- and H(c) u in ws; returns (kappa, rayleigh)."""
    n = DIM
    r = y[3 * n]
    uh = ws[WS_UH : WS_UH + n]
    gp = ws[WS_GP : WS_GP + n]
    gm = ws[WS_GM : WS_GM + n]
    Hu = ws[WS_HU : WS_HU + n]
    nu = 0.0
    for i in range(n):
        nu += y[2 * n + i] * y[2 * n + i]
    nu = math.sqrt(nu)
    if not nu > 1e-150:
        ws[0] = F_DEGENERATE
        ws[1] = nu
        nu = 1.0
    for i in range(n):
        uh[i] = y[2 * n + i] / nu
    cp = ws[WS_CP : WS_CP + n]
    cm = ws[WS_CM : WS_CM + n]
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    for i in range(n):
        cp[i] = y[i] + r * uh[i]
        cm[i] = y[i] - r * uh[i]
    grad(cp, c, gp)
    grad(cm, c, gm)
    hess(y[:n], c, h)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += h[i, j] * uh[j]
        Hu[i] = acc
    ray = _dot(uh, Hu)
    kappa = ray
    if abs(r) > 1e-150:
        acc = 0.0
        for i in range(n):
            acc += uh[i] * (gp[i] - gm[i])
        kappa = acc / (2.0 * r)
    return kappa, ray


def hbe_rhs(y, p, c, ws, out):
    n = DIM
    eta = p[P_ETA]
    beta = p[P_BETA]
    _thr, a, b = hbe_coef(p)
    kappa, ray = hbe_core(y, p, c, ws)
    uh = ws[WS_UH : WS_UH + n]
    gp = ws[WS_GP : WS_GP + n]
    gm = ws[WS_GM : WS_GM + n]
    Hu = ws[WS_HU : WS_HU + n]
    nu2 = 0.0
    for i in range(n):
        nu2 += y[2 * n + i] * y[2 * n + i]
    for i in range(n):
        gb = 0.5 * (gp[i] + gm[i])
        out[i] = -eta * (a * gb + b * y[n + i])
        out[n + i] = -(1.0 - beta) * y[n + i] + gb
        out[2 * n + i] = eta * (Hu[i] - ray * uh[i]) + 0.5 * (1.0 - nu2) * y[2 * n + i]
    out[3 * n] = hbe_rate(p, kappa) * y[3 * n]


def hbe_edge(y, p, c, ws):
    """eta (kappa - threshold): the magnitude grows when >= 0."""
    f0 = ws[0]
    f1 = ws[1]
    kappa, _ray = hbe_core(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    thr, _a, _b = hbe_coef(p)
    return p[P_ETA] * (kappa - thr)


def hbe_post(y, p, c, ws):
    return False


def hbe_aux(y, p, c, ws, out):
    """[c, L_sym, |r|, S(c), eta (kappa - threshold), kappa, Rayleigh quotient]."""
    n = DIM
    f0 = ws[0]
    f1 = ws[1]
    kappa, ray = hbe_core(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    thr, _a, _b = hbe_coef(p)
    uh = ws[WS_UH : WS_UH + n]
    r = y[3 * n]
    cp = np.empty(n)
    cm = np.empty(n)
    for i in range(n):
        cp[i] = y[i] + r * uh[i]
        cm[i] = y[i] - r * uh[i]
        out[i] = y[i]
    out[n] = 0.5 * (loss(cp, c) + loss(cm, c))
    out[n + 1] = abs(r)
    out[n + 2] = sharp(y[:n], c)
    out[n + 3] = p[P_ETA] * (kappa - thr)
    out[n + 4] = kappa
    out[n + 5] = ray


@dataclass(frozen=True)
class MomentumEdgeFlow(Flow):
    """The momentum edge flow's printed equations."""

    def equations(self, pot: Potential) -> str:
        """The equations in words (the field is the same for every potential)."""
        return "\n".join(
            [
                f"{self.title} on {pot}: w_t ~ c + (-1)^t r u, buffer mean v, g+- = grad L(c +- r u)",
                "dc/dt = -eta (a gbar + b v),  (a, b) = (1, beta) heavy ball, (1 + beta, beta^2) Nesterov",
                "dv/dt = -(1 - beta) v + gbar,  gbar = (g+ + g-)/2",
                "du/dt = eta [H(c) u - (u^T H(c) u) u]",
                "dr/dt = r log|z(kappa)|,  kappa = u^T (g+ - g-)/(2 r),  z the period-two characteristic root",
                "threshold: 2(1+beta)/eta (heavy ball), 2(1+beta)/(eta (1+2 beta)) (Nesterov)",
            ]
        )


_FUNCS = ("hbe_coef", "hbe_rate", "hbe_core", "hbe_rhs", "hbe_edge", "hbe_post", "hbe_aux")

EDGE_HB = register_flow(
    MomentumEdgeFlow(
        "edge-hb",
        "momentum edge flow",
        "heavy ball (kind=heavy-ball) or Nesterov (kind=nesterov) as c + (-1)^t r u with the buffer "
        "mean v carried: centre and buffer on the symmetrized gradient, direction by Oja's flow, "
        "magnitude growing at log|z(kappa)| (the period-two characteristic root, secant curvature).",
        "Marion, 2026, arXiv:2606.18080 (edge flow, reconstructed), extended to momentum in the phase space (w, v)",
        sys.modules[__name__],
        _FUNCS,
        {"hbe_rhs": "flow_rhs", "hbe_edge": "flow_edge", "hbe_post": "flow_post", "hbe_aux": "flow_aux"},
        {"NY": "3 * DIM + 1", "WS0": "8", "NAUX": "DIM + 6"},
        (FlowParam("kind", "heavy-ball", "momentum method: heavy-ball or nesterov (PyTorch's conventions)", KINDS),),
        optimizer="heavy-ball",
        extras=MomentumEdgeField.extras,
        cost={"gradients": "2", "hvps": "1"},
        inline=("hbe_coef", "hbe_rate", "hbe_core"),
        vector_field=MomentumEdgeField(),
        workspace=(
            Block("uh", "n"),
            Block("gp", "n"),
            Block("gm", "n"),
            Block("hu", "n"),
            Block("cp", "n"),
            Block("cm", "n"),
            Block("h", "n*n"),
        ),
    )
)
