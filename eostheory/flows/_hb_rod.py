r"""Rod flow for heavy ball and Nesterov in the phase space :math:`(w, v)`: ``rod-hb``.

The momentum iterate pair as a rod: centre :math:`\bar w = (w_t + w_{t+1})/2`, buffer mean
:math:`v` and extent :math:`\Sigma = \delta\delta^\top` (the half-extent :math:`\delta =
\sqrt{\lambda_1(\Sigma)}\,v_1(\Sigma)`).  With :math:`g_\pm = \nabla L(\bar w \pm \delta)`,
:math:`\bar g = (g_+ + g_-)/2`, :math:`D = (g_+ - g_-)/2`:

.. math::
    \dot{\bar w} = -\eta(a\bar g + b v), \qquad \dot v = -(1-\beta)v + \bar g, \qquad
    \dot\Sigma = \rho\left(\tfrac{\gamma^2}{2}DD^\top - 2\Sigma\right),

with :math:`(a, b) = (1, \beta)`, :math:`\gamma = \eta/(1+\beta)`,
:math:`\rho = (1+\beta)/(1-\beta)` for heavy ball and :math:`(a, b) = (1+\beta, \beta^2)`,
:math:`\gamma = \eta(1+2\beta)/(1+\beta)`, :math:`\rho = (1+2\beta)(1+\beta)/(1+3\beta)` for
Nesterov.  :math:`\gamma` makes the extent's fixed point :math:`\delta = \pm\tfrac\gamma2 D` the
method's period-two relation; :math:`\rho` makes its linear growth rate past the threshold the
period-two characteristic root's (:math:`\rho = 1` and :math:`\gamma = \eta` give GD's rod
extent).  The centre carries the first-order phase-space equations (no second-order term).

This one file is the whole flow: the reference vector field, the numba fast path for toys
and the registry entry.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from eostheory.flows._base import Flow, FlowParam, register_flow
from eostheory.flows._fields import Block, Observation, Params, VectorField
from eostheory.flows._hb_edge import KINDS, momentum_coefficients
from eostheory.flows._layout import P_BETA, P_ETA, WS_DELTA, WS_GM, WS_GP, WS_SIG, WS_SLAM, WS_SV, WS_WM, WS_WP
from eostheory.flows._src_common import sym_eigh
from eostheory.integrate._names import DIM, grad, loss, sharp
from eostheory.symbolic.potential import Potential

__all__ = ["ROD_HB", "MomentumRodField", "rod_rates"]

# placeholders for linters: the generated module binds its own layout constants
P_KIND = 2
KIND_NESTEROV = 1.0

#: the largest parameter count the matrix extent is kept for (n^2 state entries)
MAX_DIM = 512


def rod_rates(kind: str, eta: float, beta: float) -> tuple[float, float]:
    r"""``(gamma, rho)`` of the extent equation :math:`\dot\Sigma = \rho(\tfrac{\gamma^2}{2}DD^\top - 2\Sigma)`.

    :math:`\gamma = \eta s` (``s`` of :func:`~eostheory.flows._hb_edge.momentum_coefficients`);
    :math:`\rho` the ratio of the period-two root's growth rate :math:`d\log|z|/d\kappa` at
    the threshold, :math:`\eta/(1-\beta)` (heavy ball) or :math:`\eta(1+2\beta)^2/(1+3\beta)`
    (Nesterov), to the extent's own, :math:`\gamma`.
    """
    s = momentum_coefficients(kind, eta, beta)[3]
    if kind == "nesterov":
        return eta * s, (1.0 + 2.0 * beta) * (1.0 + beta) / (1.0 + 3.0 * beta)
    return eta * s, (1.0 + beta) / (1.0 - beta)


class MomentumRodField(VectorField):
    r"""Rod flow on :math:`(\bar w, v, \Sigma)` for heavy ball and Nesterov (see the module docstring)."""

    blocks = (Block("wbar", "n"), Block("v", "n"), Block("Sigma", "n*n"))
    extras = ("trace_sigma",)

    def threshold(self, P: Params) -> float:
        return momentum_coefficients(P.kind, P.eta, P.beta)[0]

    def applicable(self, n: int, P: Params) -> str | None:
        if n > MAX_DIM:
            return f"rod-hb keeps the full n x n extent Sigma and runs on at most {MAX_DIM} parameters; it has {n}"
        return None

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        r"""At GD time ½: :math:`\delta_0 = -\tfrac\eta2 s_0\nabla L(w_0)` (:math:`s_0 = 1`, or
        :math:`1+\beta` for Nesterov: half the first step), :math:`\bar w_0 = w_0 + \delta_0`,
        :math:`v_0 = \tfrac12\nabla L(w_0)` (the mean of the buffers 0 and :math:`\nabla L(w_0)`),
        :math:`\Sigma_0 = \delta_0\delta_0^\top`."""
        xp = o.xp
        g = o.at(w0).grad()
        s0 = 1.0 + P.beta if P.kind == "nesterov" else 1.0
        delta = -0.5 * P.eta * s0 * g
        return xp.cat([w0 + delta, 0.5 * g, xp.outer(delta, delta)])

    def delta(self, o: Any, y: Any) -> tuple[Any, float]:
        """The rank-one half-extent and :math:`\\max(\\lambda_1(\\Sigma), 0)`."""
        n = o.n
        Sig = y[2 * n :].reshape(n, n)
        if not o.xp.all_finite(Sig):  # a diverged state: no eigenvectors (the fast path gives NaN too)
            return y[:n] * math.nan, math.nan
        lam, V = o.xp.eigh(Sig)
        top = max(float(lam[n - 1]), 0.0)
        return math.sqrt(top) * V[:, n - 1], top

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        xp = o.xp
        n = o.n
        eta, beta = P.eta, P.beta
        _thr, a, b, _s = momentum_coefficients(P.kind, eta, beta)
        gamma, rho = rod_rates(P.kind, eta, beta)
        wb, v = y[:n], y[n : 2 * n]
        delta, _top = self.delta(o, y)
        gp = o.at(wb + delta).grad()
        gm = o.at(wb - delta).grad()
        gb = 0.5 * (gp + gm)
        D = 0.5 * (gp - gm)
        dS = rho * (0.5 * gamma * gamma * xp.outer(D, D) - 2.0 * y[2 * n :].reshape(n, n))
        return xp.cat([-eta * (a * gb + b * v), -(1.0 - beta) * v + gb, dS])

    def edge(self, o: Any, y: Any, P: Params) -> float:
        return o.sharpness(y[: o.n]) - self.threshold(P)

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        n = o.n
        wb = y[:n]
        delta, top = self.delta(o, y)
        S = o.sharpness(wb)
        ls = 0.5 * (o.loss(wb + delta) + o.loss(wb - delta))
        tr = float(sum(float(y[2 * n + i * n + i]) for i in range(n)))
        return Observation(wb, ls, math.sqrt(top), S, S - self.threshold(P), (tr,))


# --- the fast path on toys (numba source, spliced) -------------------------------------------


def hbr_coef(p):
    """(threshold, a, b, gamma, rho) of the momentum method."""
    eta = p[P_ETA]
    beta = p[P_BETA]
    if p[P_KIND] == KIND_NESTEROV:
        s = (1.0 + 2.0 * beta) / (1.0 + beta)
        rho = (1.0 + 2.0 * beta) * (1.0 + beta) / (1.0 + 3.0 * beta)
        return 2.0 * (1.0 + beta) / (eta * (1.0 + 2.0 * beta)), 1.0 + beta, beta * beta, eta * s, rho
    return 2.0 * (1.0 + beta) / eta, 1.0, beta, eta / (1.0 + beta), (1.0 + beta) / (1.0 - beta)


def hbr_delta(y, ws, delta):
    """Rank-one half-extent from Sigma; returns its squared length (top eigenvalue, clipped at 0)."""
    n = DIM
    S = ws[WS_SIG : WS_SIG + n * n].reshape((n, n))
    V = ws[WS_SV : WS_SV + n * n].reshape((n, n))
    lam = ws[WS_SLAM : WS_SLAM + n]
    for i in range(n):
        for j in range(n):
            S[i, j] = 0.5 * (y[2 * n + i * n + j] + y[2 * n + j * n + i])
    sym_eigh(S, lam, V)
    top = max(lam[n - 1], 0.0)
    r = math.sqrt(top)
    for i in range(n):
        delta[i] = r * V[i, n - 1]
    return top


def hbr_rhs(y, p, c, ws, out):
    n = DIM
    eta = p[P_ETA]
    beta = p[P_BETA]
    _thr, a, b, gamma, rho = hbr_coef(p)
    delta = ws[WS_DELTA : WS_DELTA + n]
    wp = ws[WS_WP : WS_WP + n]
    wm = ws[WS_WM : WS_WM + n]
    gp = ws[WS_GP : WS_GP + n]
    gm = ws[WS_GM : WS_GM + n]
    hbr_delta(y, ws, delta)
    for i in range(n):
        wp[i] = y[i] + delta[i]
        wm[i] = y[i] - delta[i]
    grad(wp, c, gp)
    grad(wm, c, gm)
    for i in range(n):
        gb = 0.5 * (gp[i] + gm[i])
        out[i] = -eta * (a * gb + b * y[n + i])
        out[n + i] = -(1.0 - beta) * y[n + i] + gb
    q = 0.5 * gamma * gamma
    for i in range(n):
        di = 0.5 * (gp[i] - gm[i])
        for j in range(n):
            dj = 0.5 * (gp[j] - gm[j])
            out[2 * n + i * n + j] = rho * (q * di * dj - 2.0 * y[2 * n + i * n + j])


def hbr_edge(y, p, c, ws):
    """S(wbar) - threshold."""
    thr, _a, _b, _g, _r = hbr_coef(p)
    return sharp(y[:DIM], c) - thr


def hbr_post(y, p, c, ws):
    return False


def hbr_aux(y, p, c, ws, out):
    """[wbar, L_sym, sqrt(lambda_1(Sigma)), S(wbar), S - threshold, trace Sigma]."""
    n = DIM
    thr, _a, _b, _g, _r = hbr_coef(p)
    delta = ws[WS_DELTA : WS_DELTA + n]
    wp = ws[WS_WP : WS_WP + n]
    wm = ws[WS_WM : WS_WM + n]
    top = hbr_delta(y, ws, delta)
    tr = 0.0
    for i in range(n):
        wp[i] = y[i] + delta[i]
        wm[i] = y[i] - delta[i]
        out[i] = y[i]
        tr += y[2 * n + i * n + i]
    S = sharp(y[:n], c)
    out[n] = 0.5 * (loss(wp, c) + loss(wm, c))
    out[n + 1] = math.sqrt(top)
    out[n + 2] = S
    out[n + 3] = S - thr
    out[n + 4] = tr


@dataclass(frozen=True)
class MomentumRodFlow(Flow):
    """The momentum rod flow's printed equations."""

    def equations(self, pot: Potential) -> str:
        """The equations in words (the field is the same for every potential)."""
        return "\n".join(
            [
                f"{self.title} on {pot}: centre wbar, buffer mean v, extent Sigma = delta delta^T, "
                "g+- = grad L(wbar +- delta)",
                "dwbar/dt = -eta (a gbar + b v),  (a, b) = (1, beta) heavy ball, (1 + beta, beta^2) Nesterov",
                "dv/dt = -(1 - beta) v + gbar,  gbar = (g+ + g-)/2",
                "dSigma/dt = rho ((gamma^2/2) D D^T - 2 Sigma),  D = (g+ - g-)/2",
                "gamma = eta/(1+beta), rho = (1+beta)/(1-beta) (heavy ball); "
                "gamma = eta (1+2 beta)/(1+beta), rho = (1+2 beta)(1+beta)/(1+3 beta) (Nesterov)",
            ]
        )


_FUNCS = ("hbr_coef", "hbr_delta", "hbr_rhs", "hbr_edge", "hbr_post", "hbr_aux")

ROD_HB = register_flow(
    MomentumRodFlow(
        "rod-hb",
        "momentum rod flow",
        "heavy ball (kind=heavy-ball) or Nesterov (kind=nesterov) as a rod in the phase space (w, v): "
        "centre and buffer mean on the symmetrized gradient, extent Sigma relaxing to the period-two "
        "relation delta = (gamma/2)(gL+ - gL-)/2.",
        "Regis & Chewi, 2026, arXiv:2602.01480 (rod flow, reconstructed), extended to momentum in "
        "the phase space (w, v)",
        sys.modules[__name__],
        _FUNCS,
        {"hbr_rhs": "flow_rhs", "hbr_edge": "flow_edge", "hbr_post": "flow_post", "hbr_aux": "flow_aux"},
        {"NY": "2 * DIM + DIM * DIM", "WS0": "8", "NAUX": "DIM + 5"},
        (FlowParam("kind", "heavy-ball", "momentum method: heavy-ball or nesterov (PyTorch's conventions)", KINDS),),
        optimizer="heavy-ball",
        time_offset=0.5,
        extras=MomentumRodField.extras,
        cost={"gradients": "2", "eigendecompositions": "1 (of Sigma)"},
        inline=("hbr_coef", "hbr_delta"),
        vector_field=MomentumRodField(),
        workspace=(
            Block("delta", "n"),
            Block("wp", "n"),
            Block("wm", "n"),
            Block("gp", "n"),
            Block("gm", "n"),
            Block("sig", "n*n"),
            Block("sv", "n*n"),
            Block("slam", "n"),
        ),
    )
)
