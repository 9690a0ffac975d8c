r"""The RMSProp central flow: state :math:`(w, \nu)`, stability on the preconditioned Hessian.

RMSProp (the optimizer ``rmsprop``: ``s = alpha*s + (1 - alpha)*g**2``,
``w = w - eta*g/(sqrt(s) + eps)``) is GD preconditioned by :math:`P = \mathrm{diag}(\sqrt s) +
\epsilon`.  With the buffer frozen its linearization is stable while
:math:`\lambda(w, \nu) = \lambda_{\max}(P^{-1/2} H P^{-1/2}) \le 2/\eta`; at the edge the
iterates oscillate along the top generalized eigenvector :math:`u` (:math:`Hu = \lambda Pu`,
:math:`u^\top P u = 1`) as :math:`w = \bar w + \delta`, :math:`\Sigma = E[\delta\delta^\top] =
x\,uu^\top`.  Averaging the update over the oscillation, with
:math:`\nabla L(\bar w + \delta) \approx \nabla L + H\delta + \tfrac12\nabla^3L[\delta, \delta]`:

.. math::
    \dot w = -\eta P^{-1}\bar g, \quad \bar g = \nabla L + \tfrac12 x\,\nabla^3L[u, u], \qquad
    \dot\nu = r\big[\bar g^{\odot 2} + x\,(Hu)^{\odot 2} - \nu\big], \quad r = -\ln\alpha,

since :math:`E[g^{\odot 2}] = \bar g^{\odot 2} + \mathrm{diag}(H\Sigma H) + O(\delta^3)` (the
cross term :math:`2\nabla L\odot H\delta` averages out) and :math:`\mathrm{diag}(H\Sigma H) =
x\,(Hu)^{\odot 2}`: the second-order term is taken along :math:`Hu`, not along :math:`u`.  The
averaged gradient :math:`\bar g` (not :math:`\nabla L(w)`) is squared because
:math:`\nabla L\odot\nabla^3L[\Sigma]` is of the same order as :math:`\mathrm{diag}(H\Sigma H)`
wherever the gradient at the centre is balanced by the oscillation (``square=centre`` keeps
:math:`\nabla L^{\odot 2}`, the published form).  The rate :math:`r = -\ln\alpha`
makes the buffer's exponential relaxation :math:`s_t - \bar s \propto \alpha^t` exact for a
frozen input; :math:`1-\alpha` and :math:`(1-\alpha)/\alpha` agree with it to first order
and bracket it.  The state :math:`\nu(t)` models :math:`s_{t+1}`, the buffer step ``t`` divides
by, so it starts at :math:`(1-\alpha)\nabla L(w_0)^{\odot 2}` (RMSProp's buffer starts at zero).

:math:`x \ge 0` keeps the constraint with Baumgarte relaxation :math:`\tau`: with
:math:`\dot\lambda = u^\top\dot H u - \lambda\,u^\top\dot P u = a - b\,x`,

.. math::
    a = -\eta\,d^\top P^{-1}\nabla L - \lambda r\sum_i c_i(\nabla_i L^2 - \nu_i), \quad
    b = \tfrac\eta2 d^\top P^{-1} d + \lambda r \sum_i c_i\big((Hu)_i^2 + \nabla_i L\,d_i\big), \quad
    q = \tfrac14\lambda r\sum_i c_i d_i^2,

with :math:`d = \nabla^3L[u, u]`, :math:`c_i = u_i^2/(2\sqrt{\nu_i})`, so
:math:`\dot\lambda = a - bx - qx^2`.  The edge indicator is :math:`e = a - (2/\eta - \lambda)/\tau`
and on the edge :math:`x` is the positive root of :math:`e - bx - qx^2 = 0`,
:math:`x = 2e/(b + \sqrt{b^2 + 4qe})` (:math:`\dot\lambda = (2/\eta-\lambda)/\tau`; ``square=centre``:
:math:`q = 0` and no :math:`\nabla_i L\,d_i` in :math:`b`).  Predicted
time-averaged loss :math:`L + \tfrac12\langle\Sigma, H\rangle = L + \tfrac12 x\lambda`.
(A coordinate with :math:`\nu_i \le 0` counts as :math:`\sqrt{\nu_i} = 0` with
:math:`c_i = 0`: the buffer cannot go negative along the flow.)

``beta1 > 0`` models Adam without bias correction (``m = beta1*m + (1 - beta1)*g``,
``w = w - eta*m/(sqrt(v) + eps)``) with the first moment taken equal to the averaged
gradient: only the threshold changes, to :math:`2(1+\beta_1)/(\eta(1-\beta_1))` on
:math:`P^{-1}H`.  That is exact at Adam's 2-cycle, where the moment does not lag; it does not
describe Adam's transients on a network (docs/flows-rmsprop.md has the figures).
``start=grad`` starts the buffer at :math:`\nabla L(w_0)^{\odot 2}` (RMSProp's buffer
initialised with the first squared gradient) instead of :math:`(1-\alpha)\nabla L(w_0)^{\odot 2}`.

This one file is the whole flow: the reference vector field (toys and networks), the
numba fast path for toys (spliced into the generated module) and the registry entry.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from eostheory.flows._base import ETA, Flow, FlowParam, register_flow, vector_str
from eostheory.flows._fields import GAP_TOL, Block, Observation, Params, VectorField
from eostheory.flows._src_common import F_NO_GAP, F_NO_GRADS, _dot, sym_eigh
from eostheory.integrate._names import DIM, grad, hess, loss, third
from eostheory.symbolic.flowfield import FlowField
from eostheory.symbolic.potential import Potential

__all__ = ["CENTRAL_RMSPROP", "RMSPropCentralField", "preconditioned_top"]

#: above this many parameters the preconditioned top eigenpair comes from Lanczos (ARPACK)
DENSE_MAX = 64
#: relative tolerance of the Lanczos solve on networks
LANCZOS_TOL = 1e-10

# placeholders for linters: the generated module binds the layout's values
P_ETA = P_ALPHA = P_EPS = P_TAU = P_SQUARE = P_BETA1 = 0
SQUARE_AVERAGED = SQUARE_CENTRE = 0.0
WS_G = WS_H = WS_M = WS_V = WS_LAM = WS_PD = WS_SI = WS_U = WS_HU = WS_D = WS_S = 0


def preconditioned_top(o: Any, pt: Any, pd: Any) -> tuple[float, Any, float | None]:
    r"""Top eigenpair of :math:`P^{-1/2}HP^{-1/2}`, :math:`P = \mathrm{diag}(p_d)`, as a generalized pair.

    Returns ``(lambda, u, next)``: :math:`Hu = \lambda Pu` with :math:`u^\top Pu = 1`
    (:math:`u = P^{-1/2}z` for the unit eigenvector :math:`z`) and the next eigenvalue
    (``None`` in one dimension).  Dense from :math:`n` Hessian-vector products up to
    :data:`DENSE_MAX` parameters (exact ``eigh``); Lanczos (``eigsh``, ``which="LA"``) on the
    operator above that, warm-started from the previous call's vector on this oracle.
    """
    xp = o.xp
    n = o.n
    si = 1.0 / np.sqrt(xp.to_numpy(pd))
    if n <= DENSE_MAX:
        H = np.empty((n, n))
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1.0
            H[:, j] = xp.to_numpy(pt.hvp(xp.from_numpy(e, pd)))
        M = (si[:, None] * H) * si[None, :]
        lam, V = np.linalg.eigh(0.5 * (M + M.T))
        z = V[:, n - 1]
        top, nxt = float(lam[n - 1]), (float(lam[n - 2]) if n > 1 else None)
    else:
        from scipy.sparse.linalg import LinearOperator, eigsh

        def mv(v: np.ndarray) -> np.ndarray:
            v = np.asarray(v, dtype=np.float64).reshape(-1)
            return si * xp.to_numpy(pt.hvp(xp.from_numpy(si * v, pd)))

        op = LinearOperator((n, n), matvec=mv, dtype=np.float64)
        warm = o.__dict__.get("_rmsprop_warm")
        v0 = warm if warm is not None and warm.shape == (n,) else np.ones(n) / math.sqrt(n)
        lam, V = eigsh(op, k=2, which="LA", v0=v0, tol=LANCZOS_TOL)
        order = np.argsort(lam)
        top, nxt = float(lam[order[1]]), float(lam[order[0]])
        z = V[:, order[1]]
        o.__dict__["_rmsprop_warm"] = z.copy()
    return top, xp.from_numpy(si * z, pd), nxt


class RMSPropCentralField(VectorField):
    r"""RMSProp central flow on :math:`(w, \nu)` (one tracked eigenvalue; see the module docstring)."""

    blocks = (Block("w", "n"), Block("nu", "n", positive=True))
    extras = ("sigma2", "margin", "nu_sum")

    def applicable(self, n: int, P: Params) -> str | None:
        if not 0.0 < P.alpha < 1.0:
            return f"the RMSProp central flow needs 0 < alpha < 1, got alpha={P.alpha:g}"
        if not 0.0 <= P.beta1 < 1.0:
            return f"the RMSProp central flow needs 0 <= beta1 < 1, got beta1={P.beta1:g}"
        return None

    def threshold(self, P: Params) -> float:
        r""":math:`2(1+\beta_1)/(\eta(1-\beta_1))` on :math:`P^{-1}H` (:math:`2/\eta` for RMSProp)."""
        return 2.0 * (1.0 + P.beta1) / (P.eta * (1.0 - P.beta1))

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        g = o.at(w0).grad()
        scale = 1.0 if P.start == "grad" else 1.0 - P.alpha
        return o.xp.cat([o.xp.copy(w0), scale * g * g])

    def core(self, o: Any, y: Any, P: Params) -> dict[str, Any]:
        """Gradient, preconditioner, top generalized pair, :math:`d`, :math:`x` and the edge indicator."""
        xp = o.xp
        n = o.n
        eta, tau = P.eta, P.tau
        r = -math.log(P.alpha)
        thr = self.threshold(P)
        w, nu = y[:n], y[n:]
        sq = xp.sqrt_pos(nu)
        pd = sq + P.eps
        pt = o.at(w, True)
        g = pt.grad()
        lam, u, nxt = preconditioned_top(o, pt, pd)
        hu = pt.hvp(u)
        d = pt.third(u)
        sqn = xp.to_numpy(sq)
        cn = np.zeros(n)
        pos = sqn > 0.0
        un = xp.to_numpy(u)
        cn[pos] = un[pos] ** 2 / (2.0 * sqn[pos])
        c = xp.from_numpy(cn, pd)
        # d lambda/dt = a + beta x + gamma x^2 (the buffer's input is quadratic in x through gbar)
        a = -eta * xp.dot(d, g / pd) - lam * r * xp.dot(c, g * g - nu)
        beta = -0.5 * eta * xp.dot(d, d / pd) - lam * r * xp.dot(c, hu * hu)
        gamma = 0.0
        if P.square == "averaged":
            beta -= lam * r * xp.dot(c, g * d)
            gamma = -0.25 * lam * r * xp.dot(c, d * d)
        e = a - (thr - lam) / tau
        x = 0.0
        if e >= 0.0:
            den = -beta + math.sqrt(max(beta * beta - 4.0 * gamma * e, 0.0))
            if not den > 1e-300:
                o.raise_flag(F_NO_GRADS, den)
            else:
                x = 2.0 * e / den
            if nxt is not None and lam - nxt < GAP_TOL * max(1.0, abs(lam)):
                o.raise_flag(F_NO_GAP, lam - nxt)
        return {"g": g, "pd": pd, "lam": lam, "u": u, "hu": hu, "d": d, "x": x, "e": e, "r": r}

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        k = self.core(o, y, P)
        nu = y[o.n :]
        g, x = k["g"], k["x"]
        dw = (-P.eta) * (g + (0.5 * x) * k["d"]) / k["pd"]
        gn = g + (0.5 * x) * k["d"] if P.square == "averaged" else g
        dnu = k["r"] * (gn * gn + x * (k["hu"] * k["hu"]) - nu)
        return o.xp.cat([dw, dnu])

    def edge(self, o: Any, y: Any, P: Params) -> float:
        saved = (o.flag, o.flag_value)
        e = float(self.core(o, y, P)["e"])
        o.flag, o.flag_value = saved
        return e

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        saved = (o.flag, o.flag_value)
        k = self.core(o, y, P)
        o.flag, o.flag_value = saved
        n = o.n
        w = y[:n]
        x, lam = float(k["x"]), float(k["lam"])
        s2 = x * o.xp.dot(k["u"], k["u"])  # tr(Sigma) = x |u|^2
        nu_sum = float(o.xp.to_numpy(y[n:]).sum())
        return Observation(
            w,
            o.loss(w) + 0.5 * x * lam,
            math.sqrt(max(s2, 0.0)),
            lam,
            float(k["e"]),
            (s2, self.threshold(P) - lam, nu_sum),
        )


# --- the fast path on toys (numba source, spliced) -------------------------------------------


def rmsc_core(y, p, c, ws):
    """Fills the workspace (g, pd, u, hu, d) and ws[WS_S:] = (x, lambda, e, r); returns e."""
    n = DIM
    eta = p[P_ETA]
    tau = p[P_TAU]
    eps = p[P_EPS]
    r = -np.log(p[P_ALPHA])
    thr = 2.0 * (1.0 + p[P_BETA1]) / (eta * (1.0 - p[P_BETA1]))
    w = y[:n]
    g = ws[WS_G : WS_G + n]
    grad(w, c, g)
    h = ws[WS_H : WS_H + n * n].reshape((n, n))
    hess(w, c, h)
    pd = ws[WS_PD : WS_PD + n]
    si = ws[WS_SI : WS_SI + n]
    for i in range(n):
        s = np.sqrt(y[n + i]) if y[n + i] > 0.0 else 0.0
        pd[i] = s + eps
        si[i] = 1.0 / np.sqrt(pd[i])
    M = ws[WS_M : WS_M + n * n].reshape((n, n))
    for i in range(n):
        for j in range(n):
            M[i, j] = 0.5 * (h[i, j] * si[i] * si[j] + h[j, i] * si[j] * si[i])
    V = ws[WS_V : WS_V + n * n].reshape((n, n))
    lam = ws[WS_LAM : WS_LAM + n]
    sym_eigh(M, lam, V)
    top = lam[n - 1]
    u = ws[WS_U : WS_U + n]
    for i in range(n):
        u[i] = si[i] * V[i, n - 1]
    hu = ws[WS_HU : WS_HU + n]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += h[i, j] * u[j]
        hu[i] = acc
    d = ws[WS_D : WS_D + n]
    third(w, u, c, d)
    avg = p[P_SQUARE] == SQUARE_AVERAGED
    dpg = 0.0
    dpd = 0.0
    cg = 0.0
    ch = 0.0
    cgd = 0.0
    cdd = 0.0
    for i in range(n):
        dpg += d[i] * (g[i] / pd[i])
        dpd += d[i] * (d[i] / pd[i])
        nui = y[n + i]
        if nui > 0.0:
            ci = u[i] * u[i] / (2.0 * np.sqrt(nui))
            cg += ci * (g[i] * g[i] - nui)
            ch += ci * (hu[i] * hu[i])
            cgd += ci * (g[i] * d[i])
            cdd += ci * (d[i] * d[i])
    a = -eta * dpg - top * r * cg
    beta = -0.5 * eta * dpd - top * r * ch
    gamma = 0.0
    if avg:
        beta -= top * r * cgd
        gamma = -0.25 * top * r * cdd
    e = a - (thr - top) / tau
    x = 0.0
    if e >= 0.0:
        den = -beta + np.sqrt(max(beta * beta - 4.0 * gamma * e, 0.0))
        if not den > 1e-300:
            ws[0] = F_NO_GRADS
            ws[1] = den
        else:
            x = 2.0 * e / den
        if n > 1 and top - lam[n - 2] < GAP_TOL * max(1.0, abs(top)):
            ws[0] = F_NO_GAP
            ws[1] = top - lam[n - 2]
    ws[WS_S] = x
    ws[WS_S + 1] = top
    ws[WS_S + 2] = e
    ws[WS_S + 3] = r
    return e


def rmsc_rhs(y, p, c, ws, out):
    """dw/dt = -eta (g + x d/2)/pd, dnu/dt = r (g^2 + x (Hu)^2 - nu)."""
    n = DIM
    rmsc_core(y, p, c, ws)
    g = ws[WS_G : WS_G + n]
    pd = ws[WS_PD : WS_PD + n]
    hu = ws[WS_HU : WS_HU + n]
    d = ws[WS_D : WS_D + n]
    x = ws[WS_S]
    r = ws[WS_S + 3]
    eta = p[P_ETA]
    avg = p[P_SQUARE] == SQUARE_AVERAGED
    for i in range(n):
        gb = g[i] + 0.5 * x * d[i]
        out[i] = -eta * gb / pd[i]
        gn = gb if avg else g[i]
        out[n + i] = r * (gn * gn + x * (hu[i] * hu[i]) - y[n + i])


def rmsc_edge(y, p, c, ws):
    f0 = ws[0]
    f1 = ws[1]
    e = rmsc_core(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    return e


def rmsc_post(y, p, c, ws):
    return False


def rmsc_aux(y, p, c, ws, out):
    """[w, L + x lambda/2, sqrt(tr Sigma), lambda, e, tr Sigma, 2/eta - lambda, sum nu]."""
    n = DIM
    f0 = ws[0]
    f1 = ws[1]
    e = rmsc_core(y, p, c, ws)
    ws[0] = f0
    ws[1] = f1
    x = ws[WS_S]
    top = ws[WS_S + 1]
    u = ws[WS_U : WS_U + n]
    s2 = x * _dot(u, u)
    nsum = 0.0
    for i in range(n):
        out[i] = y[i]
        nsum += y[n + i]
    out[n] = loss(y[:n], c) + 0.5 * x * top
    out[n + 1] = np.sqrt(max(s2, 0.0))
    out[n + 2] = top
    out[n + 3] = e
    out[n + 4] = s2
    out[n + 5] = 2.0 * (1.0 + p[P_BETA1]) / (p[P_ETA] * (1.0 - p[P_BETA1])) - top
    out[n + 6] = nsum


ALPHA = sp.Symbol("alpha", positive=True)
EPS = sp.Symbol("epsilon", positive=True)


@dataclass(frozen=True)
class RMSPropCentralFlow(Flow):
    """The flow's sympy field and printed equations."""

    def field(self, pot: Potential, **params: str) -> FlowField:
        r"""The vector field on :math:`(w, \nu)` in sympy, with :math:`u`, :math:`Hu` and :math:`x` implicit."""
        g = list(pot.gradient())
        ds = list(pot.third_contraction())
        u = pot.direction_symbols
        Hm = pot.hessian()
        hu = list(Hm * sp.Matrix(u))
        x = sp.Symbol("x", nonnegative=True)
        nus = tuple(sp.Symbol(f"nu_{q}", positive=True) for q in pot.params)
        r = -sp.log(ALPHA)
        b1 = sp.Float(float(params["beta1"])) if float(params.get("beta1", 0.0)) else sp.Integer(0)
        pd = [sp.sqrt(v) + EPS for v in nus]
        rw = [-ETA * (gi + x / 2 * di) / pi for gi, di, pi in zip(g, ds, pd, strict=True)]
        gb = [gi + x / 2 * di for gi, di in zip(g, ds, strict=True)]
        gn = g if params.get("square") == "centre" else gb
        rn = [r * (gi**2 + x * hi**2 - v) for gi, hi, v in zip(gn, hu, nus, strict=True)]
        return FlowField(
            self.name,
            {"w": pot.params, "nu": nus},
            {"w": rw, "nu": rn},
            {"u": u, "x": x},
            {"grad_lambda_w": ds, "Hu": hu, "P": pd},
            threshold=2 * (1 + b1) / (ETA * (1 - b1)),
        )

    def equations(self, pot: Potential) -> str:
        f = self.field(pot)
        lines = [
            f"{self.title}: P = diag(sqrt(nu)) + eps, u the top generalized eigenvector H u = lambda P u, u^T P u = 1,",
            "held at lambda = lambda_max(P^-1/2 H P^-1/2) <= 2/eta with Sigma = x u u^T, r = -log(alpha)",
            "(Adam, beta1 > 0: held at 2(1 + beta1)/(eta (1 - beta1)) instead, the rest unchanged)",
            "dw/dt = -eta P^-1 gbar,  gbar = grad L + (x/2) D^3L[u, u],  dnu/dt = r [gbar^2 + x (H u)^2 - nu]",
            "on the edge x solves e = b x + q x^2, e = a - (2/eta - lambda)/tau (the edge indicator),",
            "  a = -eta d.P^-1 grad L - lambda r sum c_i (g_i^2 - nu_i),  q = (lambda r/4) sum c_i d_i^2,",
            "  b = (eta/2) d.P^-1 d + lambda r sum c_i ((H u)_i^2 + g_i d_i),  d = D^3L[u, u],",
            "  c_i = u_i^2/(2 sqrt(nu_i))",
        ]
        lines += vector_str("w", f.rhs["w"], pot.params)
        lines += vector_str("nu", f.rhs["nu"], list(f.blocks["nu"]))
        lines.append("predicted time-averaged loss: L(w) + (1/2) x lambda = L + x/eta on the edge")
        return "\n".join(lines)


CENTRAL_RMSPROP = register_flow(
    RMSPropCentralFlow(
        "central-rmsprop",
        "RMSProp central flow",
        "the time-averaged RMSProp trajectory on (w, nu): preconditioned gradient flow that keeps "
        "lambda_max(P^-1/2 H P^-1/2) <= 2/eta, P = diag(sqrt(nu)) + eps, with the buffer fed by "
        "grad L^2 + diag(H Sigma H); one eigenvalue in closed form.",
        "after Cohen, Damian, Talwalkar, Kolter & Lee, ICLR 2025 (state equation rederived)",
        sys.modules[__name__],
        ("rmsc_core", "rmsc_rhs", "rmsc_edge", "rmsc_post", "rmsc_aux"),
        {"rmsc_rhs": "flow_rhs", "rmsc_edge": "flow_edge", "rmsc_post": "flow_post", "rmsc_aux": "flow_aux"},
        {"NY": "2 * DIM", "WS0": "8", "NAUX": "DIM + 7", "GAP_TOL": "1e-8"},
        (
            FlowParam("alpha", 0.99, "RMSProp's buffer decay (PyTorch alpha, Adam's beta2), in (0, 1)"),
            FlowParam("eps", 1e-8, "RMSProp's eps: P = sqrt(nu) + eps"),
            FlowParam("k", 1, "number of tracked top eigenvalues (1)", integer_range=(1, 1)),
            FlowParam("tau", 1.0, "relaxation time of the stability constraint, in steps"),
            FlowParam(
                "square",
                "averaged",
                "the buffer's input: averaged = gbar^2 + diag(H Sigma H), gbar = grad L + (x/2) D^3L[u,u] "
                "(consistent to second order); centre = grad L(w)^2 + diag(H Sigma H) (the published form)",
                choices=("averaged", "centre"),
            ),
            FlowParam(
                "start",
                "zero",
                "RMSProp's buffer before step 0: zero (PyTorch; nu(0) = (1 - alpha) grad L(w0)^2) or "
                "grad (s = grad L(w0)^2, so nu(0) = grad L(w0)^2 and the first step is not 1/sqrt(1 - alpha) "
                "times larger)",
                choices=("zero", "grad"),
            ),
            FlowParam(
                "beta1",
                0.0,
                "Adam's first-moment decay (m = beta1 m + (1 - beta1) g, w = w - eta m/(sqrt(v) + eps), "
                "no bias correction): the threshold on P^-1 H becomes 2(1 + beta1)/(eta (1 - beta1)); 0 is RMSProp",
                nonnegative=True,
            ),
        ),
        optimizer="rmsprop",
        extras=RMSPropCentralField.extras,
        cost={
            "gradients": "1",
            "hvps": "n + 1 (dense, n <= 64) or Lanczos + 1",
            "third-derivative contractions": "1",
        },
        vector_field=RMSPropCentralField(),
        workspace=(
            Block("g", "n"),
            Block("h", "n*n"),
            Block("m", "n*n"),
            Block("v", "n*n"),
            Block("lam", "n"),
            Block("pd", "n"),
            Block("si", "n"),
            Block("u", "n"),
            Block("hu", "n"),
            Block("d", "n"),
            Block("s", "4"),
        ),
        inline=("rmsc_core",),
    )
)
