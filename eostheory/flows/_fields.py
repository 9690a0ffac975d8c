r"""Every flow's vector field written once, against the oracle of :mod:`eostheory.flows._oracle`.

A :class:`VectorField` declares its state as named blocks (``w: n``, ``wbar: n`` and
``Sigma: n*n`` …), its observables' extras and how its state starts from a GD point, and
computes in array style through ``o.xp`` so the same code runs on NumPy arrays (the toy
path, :class:`~eostheory.flows._oracle.ToyOracle`) and on torch tensors (the network
oracle).  Parameters arrive by name (:class:`Params`: ``P.eta``, ``P.k``, ``P.extent ==
"oscillation"``), never by position.

These are the reference definitions: the numba sources (``_src_*.py``) are a hand-tuned
fast path of the same formulas for toys and are tested against them to 1e-10
(``tests/test_flow_reference.py``) at random states and along trajectories.

Contract of a field (``o`` the oracle, ``y`` the state, ``P`` the parameters):

- ``initial(o, w0, P)``: the state at the flow's time 0 for GD started at ``w0``;
- ``rhs(o, y, P)``: :math:`\dot y` (for a discrete map, the increment before ``post``);
  an undefined field raises a flag on the oracle (``o.raise_flag(code, value)``);
- ``edge(o, y, P)``: the edge indicator (:math:`\ge 0` on the edge of stability);
- ``post(o, y, P)``: the state after a discrete step's projection (``None``: no projection);
- ``observe(o, y, P)``: an :class:`Observation` (centre, predicted loss, oscillation,
  sharpness, edge indicator, extras in the order of ``extras``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory.flows._linalg import min_eig_svec, sdcp_solve, svec_pairs

__all__ = [
    "F_DEGENERATE",
    "F_NO_GAP",
    "F_NO_GRADS",
    "F_PROJECTION",
    "F_SDCP",
    "Block",
    "CentralField",
    "CentralHeavyBallField",
    "EdgeField",
    "GradientField",
    "ModifiedField",
    "Observation",
    "Params",
    "RodField",
    "SelfStabField",
    "VectorField",
]

# flags raised when a field is undefined (the codes of FLAG_MESSAGES)
F_NO_GAP = 1
F_NO_GRADS = 2
F_SDCP = 3
F_PROJECTION = 4
F_DEGENERATE = 5

#: relative eigen-gap below which the tracked eigenvalues count as degenerate
GAP_TOL = 1e-8
#: the central flow's degenerate-boundary test (flows/_src_central.py LOW_TOL)
LOW_TOL = 1e-9
GAP_TOL_SS = 1e-10


class Params(Mapping[str, Any]):
    """A flow's parameters by name (``P.eta``, ``P["k"]``); categorical ones are their choice strings."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._v = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_v"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._v[name]

    def __iter__(self) -> Any:
        return iter(self._v)

    def __len__(self) -> int:
        return len(self._v)

    def __repr__(self) -> str:
        return f"Params({self._v})"


@dataclass(frozen=True)
class Block:
    """A named block of the state; ``size`` an expression in ``n`` (parameters) and ``r`` (a rank).

    ``positive``: the block's entries are positive in every state the flow can reach (a
    second-moment buffer such as RMSProp's :math:`\nu`); states are perturbed within that
    domain when a test samples random states.
    """

    name: str
    size: str
    positive: bool = False

    def length(self, n: int, r: int = 1) -> int:
        """The block's length for ``n`` parameters (and rank ``r``); evaluated from a whitelist only."""
        return _size(self.size, n, r)


def _size(expr: str, n: int, r: int) -> int:
    # sizes are products and sums of n, r and integers, written by the package
    total = 0
    for term in expr.replace(" ", "").split("+"):
        f = 1
        for a in term.split("*"):
            f *= n if a == "n" else r if a == "r" else int(a)
        total += f
    return total


@dataclass(frozen=True)
class Observation:
    """What a flow predicts at one state."""

    center: Any
    loss: float
    oscillation: float
    sharpness: float
    edge: float
    extras: tuple[float, ...] = ()


class VectorField:
    """Base: gradient flow :math:`\\dot w = -\\eta\\nabla L` (see the module docstring for the contract)."""

    blocks: tuple[Block, ...] = (Block("w", "n"),)
    extras: tuple[str, ...] = ()
    discrete: bool = False

    def layout(self, n: int, r: int = 1) -> dict[str, slice]:
        """The slices of the state's named blocks."""
        out: dict[str, slice] = {}
        o = 0
        for b in self.blocks:
            m = b.length(n, r)
            out[b.name] = slice(o, o + m)
            o += m
        return out

    def size(self, n: int, r: int = 1) -> int:
        """The state's length."""
        return sum(b.length(n, r) for b in self.blocks)

    def threshold(self, P: Params) -> float:
        """The sharpness the flow's model of GD is stable up to: :math:`2/\\eta`."""
        return 2.0 / P.eta

    def applicable(self, n: int, P: Params) -> str | None:
        """Why the flow cannot be defined on ``n`` parameters (``None``: it can)."""
        return None

    def center(self, o: Any, y: Any, P: Params) -> Any:
        return y[: o.n]

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        return o.xp.copy(w0)

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        return -P.eta * o.at(y).grad()

    def edge(self, o: Any, y: Any, P: Params) -> float:
        return o.sharpness(self.center(o, y, P)) - self.threshold(P)

    def post(self, o: Any, y: Any, P: Params) -> Any:
        return None

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        w = self.center(o, y, P)
        S = o.sharpness(w)
        return Observation(w, o.loss(w), 0.0, S, S - self.threshold(P))


class GradientField(VectorField):
    """Gradient flow (and the stable flow, which stops on the edge)."""


class ModifiedField(VectorField):
    r"""Barrett–Dherin: :math:`\dot w = -\eta(g + \tfrac\eta2 Hg)`."""

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        pt = o.at(y, True)
        g = pt.grad()
        return -P.eta * (g + 0.5 * P.eta * pt.hvp(g))


# --- central flow -----------------------------------------------------------------------


class CentralField(VectorField):
    r"""Central flow with ``k`` tracked eigenvalues, Baumgarte-relaxed (``tau``).

    :math:`\dot w = -\eta[\nabla L + \tfrac12\sum_q x_q D_q]`, :math:`D_q` the svec-weighted
    rows :math:`\nabla^3L[u_i, u_j]` over the top-k eigenvectors (ascending within the
    block, as the fast path), :math:`x = \mathrm{svec}(X)` the solution of the
    complementarity problem (closed form for ``k = 1``).
    """

    extras = ("sigma2", "margin")

    def applicable(self, n: int, P: Params) -> str | None:
        if P.k > n:
            return f"central flow with k={P.k} eigenvalues needs at least {P.k} parameters; it has {n}"
        if not 0.0 < P.track <= 1.0:
            return f"track must lie in (0, 1] (a fraction of 2/eta), got {P.track:g}"
        return None

    @staticmethod
    def tracked(o: Any, pt: Any, P: Params) -> tuple[Any, Any, float | None]:
        """The tracked top eigenpairs (descending) and the next eigenvalue.

        ``k >= 1``: the top ``k``.  ``k = 0``: every eigenvalue at or above
        ``track * 2/eta`` (at least the top one), found by asking for one more pair than the
        last count (``o.auto_k``) and doubling while all of them are above the level, so a
        network's Lanczos solve stays the same size (and warm) while the count is stable.
        """
        k = int(P.k)
        if k >= 1:
            return pt.eigh_top(k)
        level = P.track * 2.0 / P.eta
        n = o.n
        j = min(n, max(2, int(getattr(o, "auto_k", 2))))
        while True:
            lam_d, U_d, nxt = pt.eigh_top(j)
            lam_np = np.asarray(lam_d, dtype=np.float64)
            cnt = int(np.sum(lam_np >= level))
            if cnt < j or j == n:
                break
            j = min(n, 2 * j)
        k = max(1, cnt)
        o.auto_k = min(n, k + 1)
        return lam_d[:k], U_d[:, :k], (float(lam_np[k]) if k < j else nxt)

    def core(self, o: Any, w: Any, P: Params) -> tuple[Any, np.ndarray, Any, np.ndarray, float]:
        """(gradient, top-k eigenvalues ascending, rows D, svec(X), edge indicator)."""
        xp = o.xp
        eta, tau = P.eta, P.tau
        thr = 2.0 / eta
        pt = o.at(w, True)
        g = pt.grad()
        lam_d, U_d, nxt = self.tracked(o, pt, P)
        lam = np.asarray(lam_d, dtype=np.float64)[::-1].copy()  # ascending within the top k
        k = len(lam)
        U = xp.flip_columns(U_d)
        top = float(lam[k - 1])
        I, J, wt = svec_pairs(k)
        m = k * (k + 1) // 2
        rows = []
        a = np.empty(m)
        for q in range(m):
            ui = U[:, int(I[q])]
            if I[q] == J[q]:
                row = pt.third(ui)
            else:
                row = pt.third(ui, U[:, int(J[q])])
            rows.append(float(wt[q]) * row)
            a[q] = eta * xp.dot(rows[q], g)
            if I[q] == J[q]:
                a[q] += (thr - float(lam[int(I[q])])) / tau
        D = xp.stack(rows)
        x = np.zeros(m)
        n = o.n
        if k == 1:
            b = xp.dot(rows[0], rows[0])
            e = -float(a[0])
            if e >= 0.0:
                if not b > 1e-300:
                    o.raise_flag(F_NO_GRADS, b)
                    return g, lam, D, x, e
                x[0] = -2.0 * a[0] / (eta * b)
                if nxt is not None and top - nxt < GAP_TOL * max(1.0, abs(top)):
                    o.raise_flag(F_NO_GAP, top - nxt)
            return g, lam, D, x, e
        Dn = xp.to_numpy(D)
        Bs = 0.5 * eta * (Dn @ Dn.T)
        e = -float(min_eig_svec(a, k, I, J, wt))
        flag = int(sdcp_solve(a, Bs, k, x))
        if flag == 1:
            o.raise_flag(F_NO_GRADS, e)
        elif flag == 2:
            o.raise_flag(F_SDCP, e)
        if e >= 0.0 and k < n and nxt is not None:
            # a degenerate boundary matters only where X uses the lowest tracked eigenvector
            gap = float(lam[0]) - nxt
            low = float(np.abs(x[I == 0]).max())
            if gap < GAP_TOL * max(1.0, abs(top)) and low > LOW_TOL * float(np.abs(x).max()):
                o.raise_flag(F_NO_GAP, gap)
        return g, lam, D, x, e

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        core = self.core(o, y, P)
        o.remember("central", y, core)  # the observation at this state reuses it
        g, _lam, D, x, _e = core
        xt = o.xp.from_numpy(x, g)
        return -P.eta * (g + 0.5 * (xt @ D))

    def edge(self, o: Any, y: Any, P: Params) -> float:
        saved = (o.flag, o.flag_value)
        e = self.core(o, y, P)[4]
        o.flag, o.flag_value = saved
        return e

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        saved = (o.flag, o.flag_value)
        core = o.recall("central", y)
        _g, lam, _D, x, e = core if core is not None else self.core(o, y, P)
        o.flag, o.flag_value = saved
        I, J, _wt = svec_pairs(len(lam))
        tr = sum(float(x[q]) for q in range(len(x)) if I[q] == J[q])
        lx = sum(float(lam[int(I[q])] * x[q]) for q in range(len(x)) if I[q] == J[q])
        S = float(lam[-1])
        return Observation(y, o.loss(y) + 0.5 * lx, math.sqrt(max(tr, 0.0)), S, e, (tr, 2.0 / P.eta - S))


class CentralHeavyBallField(VectorField):
    r"""Heavy-ball central flow on :math:`(w, v)`: :math:`\bar g = \nabla L + \tfrac12\sigma^2\nabla S`,
    :math:`\dot v = -(1-\beta)v + \bar g`, :math:`\dot w = -\eta(\beta v + \bar g)`, S held at
    :math:`2(1+\beta)/\eta`."""

    blocks = (Block("w", "n"), Block("v", "n"))
    extras = ("sigma2", "margin")

    def threshold(self, P: Params) -> float:
        return 2.0 * (1.0 + P.beta) / P.eta

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        return o.xp.cat([o.xp.copy(w0), o.xp.zeros(o.n, w0)])

    def core(self, o: Any, y: Any, P: Params) -> tuple[float, float, float, Any, Any]:
        """(sigma2, edge indicator, S, gradient, grad S)."""
        xp = o.xp
        n = o.n
        eta, beta, tau = P.eta, P.beta, P.tau
        w, v = y[:n], y[n:]
        pt = o.at(w, True)
        g = pt.grad()
        lam, U, nxt = pt.eigh_top(1)
        S = float(lam[0])
        ds = pt.third(U[:, 0])
        b = xp.dot(ds, ds)
        a = (self.threshold(P) - S) / tau + eta * (beta * xp.dot(ds, v) + xp.dot(ds, g))
        e = -a
        s2 = 0.0
        if e >= 0.0:
            if not b > 1e-300:
                o.raise_flag(F_NO_GRADS, b)
            else:
                s2 = -2.0 * a / (eta * b)
            if nxt is not None and S - nxt < GAP_TOL * max(1.0, abs(S)):
                o.raise_flag(F_NO_GAP, S - nxt)
        return s2, e, S, g, ds

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        n = o.n
        core = self.core(o, y, P)
        o.remember("central-hb", y, core)  # the observation at this state reuses it
        s2, _e, _S, g, ds = core
        gb = g + 0.5 * s2 * ds
        v = y[n:]
        return o.xp.cat([-P.eta * (P.beta * v + gb), -(1.0 - P.beta) * v + gb])

    def edge(self, o: Any, y: Any, P: Params) -> float:
        saved = (o.flag, o.flag_value)
        e = self.core(o, y, P)[1]
        o.flag, o.flag_value = saved
        return e

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        saved = (o.flag, o.flag_value)
        core = o.recall("central-hb", y)
        s2, e, S, _g, _ds = core if core is not None else self.core(o, y, P)
        o.flag, o.flag_value = saved
        w = y[: o.n]
        return Observation(w, o.loss(w) + 0.5 * S * s2, math.sqrt(s2), S, e, (s2, self.threshold(P) - S))


# --- rod flow ---------------------------------------------------------------------------


def rod_centre(o: Any, wb: Any, delta: Any, P: Params) -> tuple[Any, Any, Any]:
    r"""The rod's centre equation and its two gradients.

    :math:`\dot{\bar w} = -\tfrac\eta2(g_+ + g_-) - \tfrac{\eta^2}{8}(H_+ + H_-)(g_+ + g_-)`,
    :math:`g_\pm = \nabla L(\bar w \pm \delta)`.  Returns ``(dwbar/dt, g+, g-)``.
    """
    eta = P.eta
    pp = o.at(wb + delta, True)
    pm = o.at(wb - delta, True)
    gp, gm = pp.grad(), pm.grad()
    s = gp + gm
    return -0.5 * eta * s - 0.125 * eta * eta * (pp.hvp(s) + pm.hvp(s)), gp, gm


def rod_source_columns(gp: Any, gm: Any, P: Params) -> tuple[list[Any], float]:
    r"""The extent's source :math:`A = q\sum_c a_c a_c^\top` as columns and weight ``q``.

    ``extent=full``: :math:`\tfrac{\eta^2}{4}(g_+g_+^\top + g_-g_-^\top)`;
    ``extent=oscillation``: :math:`\tfrac{\eta^2}{2}DD^\top`, :math:`D = (g_+ - g_-)/2`,
    i.e. one column :math:`(g_+ - g_-)/\sqrt2` at weight :math:`\eta^2/4`.
    """
    q = 0.25 * P.eta * P.eta
    if P.extent == "oscillation":
        return [(gp - gm) * math.sqrt(0.5)], q
    return [gp, gm], q


def top_eigen(xp: Any, B: Any, M: Any, r: int) -> tuple[Any, Any]:
    r"""Top-``r`` eigenpairs of :math:`BMB^\top` through the reduced QR factorization of ``B``.

    :math:`B = QR` gives :math:`BMB^\top = Q(RMR^\top)Q^\top`: the eigenpairs of the small
    matrix :math:`RMR^\top` mapped by :math:`Q` (exact for any ``B``).  Returns ``(U, s)``,
    orthonormal columns and eigenvalues, descending.
    """
    Q, R = xp.qr(B)
    lam, V = xp.eigh(R @ M @ R.T)
    m = lam.shape[0]
    idx = list(range(m - 1, m - 1 - r, -1))
    return Q @ V[:, idx], lam[idx]


class RodField(VectorField):
    r"""Rod flow: centre :math:`\bar w` and extent :math:`\Sigma`, one model in three representations.

    The half-extent is :math:`\delta = \sqrt{\lambda_1(\Sigma)}\,v_1(\Sigma)`; the centre
    follows :func:`rod_centre`, the extent :math:`\dot\Sigma = A - 2\Sigma` with the source
    :math:`A` of :func:`rod_source_columns`.  State representations of :math:`\Sigma`:

    - ``matrix`` (toys, the fast path's layout): ``Sigma: n*n`` row by row;
    - ``lowrank`` with rank ``r``: ``(U: n*r, s: r)``, :math:`\Sigma = U\mathrm{diag}(s)U^\top`,
      advanced by step-and-truncate (:meth:`lowrank_step`); with ``r = n`` it is the matrix
      rod's RK4 step exactly;
    - ``vector`` (rank one, the network default): ``delta: n`` by the tangent projection
      (:meth:`vector_rhs`).
    """

    blocks = (Block("wbar", "n"), Block("Sigma", "n*n"))
    extras = ("trace_sigma",)

    def initial_extent(self, o: Any, w0: Any, P: Params, r: int) -> tuple[Any, Any]:
        r"""``(w̄₀, δ)`` at GD time ½: :math:`\bar w_0 = w_0 + \delta_0`, :math:`\delta_0 = -\tfrac\eta2\nabla L(w_0)`.

        With ``extent=full`` the extent starts as :math:`\delta_0`, GD's first half-step; with
        ``extent=oscillation`` and a rank ``r < n``, as its projection onto the top ``r``
        eigenvectors of :math:`H(w_0)` (the part that can oscillate, as the edge flow's
        amplitude starts); with ``r = n`` (the matrix rod) that is :math:`\delta_0` itself.
        """
        pt = o.at(w0, True)
        delta = -0.5 * P.eta * pt.grad()
        if P.extent == "oscillation" and r < o.n:
            _lam, U, _nxt = pt.eigh_top(r)
            return w0 + delta, U @ (U.T @ delta)
        return w0 + delta, delta

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        r"""The matrix state :math:`(\bar w_0, \Sigma_0 = \delta_0\delta_0^\top)` (:meth:`initial_extent`, r = n)."""
        wb, delta = self.initial_extent(o, w0, P, o.n)
        return o.xp.cat([wb, o.xp.outer(delta, delta)])

    def delta(self, o: Any, y: Any) -> tuple[Any, float]:
        """The rank-one half-extent of the matrix state and :math:`\\max(\\lambda_1(\\Sigma), 0)`."""
        xp = o.xp
        n = o.n
        Sig = y[n:].reshape(n, n)
        lam, V = xp.eigh(Sig)
        top = max(float(lam[n - 1]), 0.0)
        return math.sqrt(top) * V[:, n - 1], top

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        xp = o.xp
        n = o.n
        wb = y[:n]
        delta, _top = self.delta(o, y)
        dw, gp, gm = rod_centre(o, wb, delta, P)
        cols, q = rod_source_columns(gp, gm, P)
        A = q * sum(xp.outer(a, a) for a in cols)
        return xp.cat([dw, A - 2.0 * y[n:].reshape(n, n)])

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        n = o.n
        wb = y[:n]
        delta, top = self.delta(o, y)
        S = o.sharpness(wb)
        ls = 0.5 * (o.loss(wb + delta) + o.loss(wb - delta))
        tr = float(sum(float(y[n + i * n + i]) for i in range(n)))
        return Observation(wb, ls, math.sqrt(top), S, S - 2.0 / P.eta, (tr,))

    # --- the rank-r representation ---
    @staticmethod
    def lowrank_split(n: int, r: int, y: Any) -> tuple[Any, Any, Any]:
        return y[:n], y[n : n + n * r].reshape(r, n).T, y[n + n * r :]

    @staticmethod
    def lowrank_pack(xp: Any, wb: Any, U: Any, s: Any) -> Any:
        return xp.cat([wb, U.T.reshape(-1), s])

    def lowrank_initial(self, o: Any, wb: Any, delta: Any, r: int) -> Any:
        """``(wbar, U, s)`` with :math:`\\Sigma = \\delta\\delta^\\top` (rank one within rank ``r``)."""
        xp = o.xp
        d2 = xp.dot(delta, delta)
        U = xp.zeros((o.n, r), wb)
        s = xp.zeros(r, wb)
        if d2 > 0.0:
            U[:, 0] = delta / math.sqrt(d2)
            s[0] = d2
        return self.lowrank_pack(xp, wb, U, s)

    def lowrank_delta(self, o: Any, y: Any, r: int) -> tuple[Any, Any, float]:
        """``(wbar, delta, lambda_1)`` of the rank-``r`` state."""
        wb, U, s = self.lowrank_split(o.n, r, y)
        V, lam = top_eigen(o.xp, U, o.xp.diag(s), 1)
        top = max(float(lam[0]), 0.0)
        return wb, math.sqrt(top) * V[:, 0], top

    def sign_points(self, o: Any, y: Any, r: int) -> list[Any]:
        r"""The ``2^r`` points :math:`\bar w + \sum_i \epsilon_i\sqrt{\lambda_i}v_i` of the rank-``r`` state."""
        xp = o.xp
        wb, U, s = self.lowrank_split(o.n, r, y)
        V, lam = top_eigen(xp, U, xp.diag(s), r)
        cols = V * xp.sqrt_pos(lam)
        pts = []
        for code in range(2**r):
            eps = [1.0 if (code >> i) & 1 else -1.0 for i in range(r)]
            pts.append(wb + cols @ xp.asarray(eps, y))
        return pts

    def lowrank_rhs(self, o: Any, y: Any, P: Params, r: int, points: str = "top") -> Any:
        r"""``[dwbar/dt, a_1, …]``: the centre's derivative and the extent's source columns.

        ``points="top"``: :func:`rod_centre` at :math:`\bar w \pm \delta` and the columns of
        :func:`rod_source_columns` (weight :math:`\eta^2/4`).  ``points="signs"``: the gradients
        :math:`g_\epsilon` at the :math:`P = 2^r` points of :meth:`sign_points`, their mean
        :math:`\bar g`, :math:`\dot{\bar w} = -\eta\bar g - \tfrac{\eta^2}{2}(\tfrac1P\sum H_\epsilon)\bar g`
        and the columns :math:`g_\epsilon` (``extent=full``) or :math:`g_\epsilon - \bar g`
        (``extent=oscillation``), weight :math:`\eta^2/(2P)`.
        """
        xp = o.xp
        eta = P.eta
        if points == "signs":
            pts = [o.at(w, True) for w in self.sign_points(o, y, r)]
            gs = [pt.grad() for pt in pts]
            sbar = sum(gs) / len(gs)
            hs = sum(pt.hvp(sbar) for pt in pts) / len(pts)
            if P.extent == "oscillation":
                gs = [g - sbar for g in gs]
            return xp.cat([-eta * sbar - 0.5 * eta * eta * hs, *gs])
        wb, delta, _top = self.lowrank_delta(o, y, r)
        dw, gp, gm = rod_centre(o, wb, delta, P)
        cols, _q = rod_source_columns(gp, gm, P)
        return xp.cat([dw, *cols])

    @staticmethod
    def lowrank_weight(P: Params, r: int, points: str = "top") -> float:
        r"""The weight ``q`` of the source columns, :math:`A = q\sum_c a_c a_c^\top`."""
        return 0.25 * P.eta * P.eta if points == "top" else 0.5 * P.eta * P.eta / 2**r

    def lowrank_observe(self, o: Any, y: Any, P: Params, r: int, points: str = "top") -> Observation:
        wb, delta, top = self.lowrank_delta(o, y, r)
        _wb, _U, s = self.lowrank_split(o.n, r, y)
        S = o.sharpness(wb)
        if points == "signs":
            pts = self.sign_points(o, y, r)
            ls = sum(o.loss(w) for w in pts) / len(pts)
        else:
            ls = 0.5 * (o.loss(wb + delta) + o.loss(wb - delta))
        return Observation(wb, ls, math.sqrt(top), S, S - 2.0 / P.eta, (float(s.sum()),))

    def lowrank_step(
        self, o: Any, y: Any, P: Params, r: int, h: float, order: int, f: Any, f0: Any, q: float | None = None
    ) -> Any:
        r"""One RK4 (``order=4``) or Euler (``order=1``) step of ``(wbar, Sigma)``.

        Exact in the basis of ``U`` and the stages' source columns (``f`` returns
        :meth:`lowrank_rhs`), then truncated to its top ``r`` eigenpairs (:func:`top_eigen`).
        Each stage takes :math:`\delta` from its own untruncated :math:`\Sigma`, so with
        ``r = n`` this is the matrix rod's RK4 step exactly.
        """
        xp = o.xp
        n = o.n
        q = self.lowrank_weight(P, r) if q is None else q
        nc = f0.shape[0] // n - 1
        wb0, U0, s0 = self.lowrank_split(n, r, y)
        nst = 1 if order == 1 else 4
        m = r + nc * nst
        M0 = xp.zeros((m, m), y)
        M0[:r, :r] = xp.diag(s0)
        cols = [U0]
        dws, Ks = [], []
        k = f0
        Mi = M0
        for i in range(nst):
            dws.append(k[:n])
            cols.append(k[n:].reshape(nc, n).T)
            K = -2.0 * Mi
            j = r + nc * i
            for c in range(nc):
                K[j + c, j + c] += q
            Ks.append(K)
            if i == nst - 1:
                break
            a = h if i == 2 else 0.5 * h
            Mi = M0 + a * K
            mi = r + nc * (i + 1)
            Us, ss = top_eigen(xp, xp.cat_columns(cols), Mi[:mi, :mi], r)
            k = f(self.lowrank_pack(xp, wb0 + a * dws[-1], Us, ss))
        B = xp.cat_columns(cols)
        if order == 1:
            wb = wb0 + h * dws[0]
            M = M0 + h * Ks[0]
        else:
            wb = wb0 + h * (dws[0] + 2.0 * dws[1] + 2.0 * dws[2] + dws[3]) / 6.0
            M = M0 + h * (Ks[0] + 2.0 * Ks[1] + 2.0 * Ks[2] + Ks[3]) / 6.0
        U, s = top_eigen(xp, B, M, r)
        return self.lowrank_pack(xp, wb, U, s)

    # --- the vector (rank-one) representation ---
    @staticmethod
    def vector_delta_rhs(xp: Any, delta: Any, gp: Any, gm: Any, eta: float) -> Any:
        r""":math:`\dot\delta = A\delta/\|\delta\|^2 - (\delta^\top A\delta)\delta/(2\|\delta\|^4) - \delta`
        (the matrix equation projected on rank-one matrices at :math:`\delta\delta^\top`)."""
        q = 0.25 * eta * eta
        ap = xp.dot(gp, delta)
        am = xp.dot(gm, delta)
        d2 = xp.dot(delta, delta)
        Ad = q * (ap * gp + am * gm)
        dAd = q * (ap * ap + am * am)
        return Ad / d2 - (0.5 * dAd / (d2 * d2)) * delta - delta

    def vector_initial(self, o: Any, w0: Any, P: Params) -> Any:
        wb, delta = self.initial_extent(o, w0, P, 1)
        return o.xp.cat([wb, delta])

    def vector_rhs(self, o: Any, y: Any, P: Params) -> Any:
        """``(dwbar/dt, ddelta/dt)`` of the rank-one state ``(wbar, delta)``."""
        xp = o.xp
        n = o.n
        wb, delta = y[:n], y[n:]
        oscillation = P.extent == "oscillation"
        nonzero = xp.dot(delta, delta) > 1e-300
        if not nonzero and not oscillation:
            o.raise_flag(F_DEGENERATE, 0.0)  # zero extent: the rank-one vector equation is singular
            return xp.zeros(y.shape[0], y)
        dw, gp, gm = rod_centre(o, wb, delta, P)
        if not nonzero:  # no oscillation: its source (eta^2/2) D D^T vanishes with it
            return xp.cat([dw, xp.zeros(n, y)])
        if oscillation:
            d = 0.5 * (gp - gm)
            return xp.cat([dw, self.vector_delta_rhs(xp, delta, d, d, P.eta)])
        return xp.cat([dw, self.vector_delta_rhs(xp, delta, gp, gm, P.eta)])

    def vector_observe(self, o: Any, y: Any, P: Params) -> Observation:
        n = o.n
        wb, delta = y[:n], y[n:]
        S = o.sharpness(wb)
        ls = 0.5 * (o.loss(wb + delta) + o.loss(wb - delta))
        d2 = o.xp.dot(delta, delta)
        return Observation(wb, ls, math.sqrt(d2), S, S - 2.0 / P.eta, (d2,))


# --- edge flow --------------------------------------------------------------------------


def edge_probe(o: Any, c: Any, u: Any, r: float, secant: bool) -> tuple[Any, Any, Any, Any, float, float]:
    r"""The edge flows' evaluations at centre ``c``, direction ``u``, magnitude ``r``.

    Returns ``(û, ∇L(c + rû), ∇L(c − rû), H(c)û, κ, ûᵀH(c)û)`` with :math:`\hat u = u/\|u\|`
    and :math:`\kappa` the secant :math:`\hat u^\top[\nabla L_+ - \nabla L_-]/(2r)` when
    ``secant`` (and ``r`` is not 0), else the Rayleigh quotient.  Raises the degenerate flag
    on a zero direction.
    """
    xp = o.xp
    nu = xp.norm(u)
    if not nu > 1e-150:
        o.raise_flag(F_DEGENERATE, nu)
        nu = 1.0
    uh = u / nu
    gp = o.at(c + r * uh).grad()
    gm = o.at(c - r * uh).grad()
    Hu = o.at(c, True).hvp(uh)
    ray = xp.dot(uh, Hu)
    kappa = ray
    if secant and abs(r) > 1e-150:
        kappa = xp.dot(uh, gp - gm) / (2.0 * r)
    return uh, gp, gm, Hu, kappa, ray


class EdgeField(VectorField):
    r"""Edge flow on :math:`(c, u, r)`: GD as :math:`c + (-1)^t r\hat u`.

    :math:`\dot c = -\tfrac\eta2[g_+ + g_-]`, :math:`g_\pm = \nabla L(c \pm r\hat u)`;
    :math:`\dot u = \eta[H(c)\hat u - (\hat u^\top H\hat u)\hat u] + \tfrac12(1 - \|u\|^2)u`;
    :math:`\dot r = \rho(\kappa) r` with :math:`\rho = \eta\kappa - 2` (``growth=linear``) or
    :math:`\log|1 - \eta\kappa|`, :math:`\kappa` the secant or Rayleigh curvature.
    """

    blocks = (Block("c", "n"), Block("u", "n"), Block("r", "1"))
    extras = ("kappa", "rayleigh")

    def initial(self, o: Any, w0: Any, P: Params) -> Any:
        xp = o.xp
        pt = o.at(w0, True)
        g = pt.grad()
        _lam, U, _nxt = pt.eigh_top(1)
        u = xp.copy(U[:, 0])
        gu = xp.dot(g, u)
        if gu < 0:
            u = -u
            gu = -gu
        r = 0.5 * P.eta * gu
        return xp.cat([w0 - r * u, u, xp.asarray([r], w0)])

    def core(self, o: Any, y: Any, P: Params) -> tuple[Any, Any, Any, Any, float, float]:
        """(unit u, g+, g-, H(c) u, kappa, Rayleigh quotient)."""
        n = o.n
        return edge_probe(o, y[:n], y[n : 2 * n], float(y[2 * n]), P.curvature == "secant")

    @staticmethod
    def rate(P: Params, kappa: float) -> float:
        if P.growth == "log":
            return math.log(max(abs(1.0 - P.eta * kappa), 1e-300))
        return P.eta * kappa - 2.0

    def rhs(self, o: Any, y: Any, P: Params) -> Any:
        xp = o.xp
        n = o.n
        eta = P.eta
        core = self.core(o, y, P)
        o.remember("edge", y, core)
        uh, gp, gm, Hu, kappa, ray = core
        u = y[n : 2 * n]
        nu2 = xp.dot(u, u)
        dc = -0.5 * eta * (gp + gm)
        du = eta * (Hu - ray * uh) + 0.5 * (1.0 - nu2) * u
        return xp.cat([dc, du, self.rate(P, kappa) * y[2 * n : 2 * n + 1]])

    def exponential_step(self, o: Any, y: Any, P: Params, h: float) -> Any:
        r"""One step of length ``h`` of the exponential integrator (first order, stable at ``h = 1``).

        With :math:`\bar g = (g_+ + g_-)/2`, :math:`q = \hat u^\top H(c)\hat u` and the field's
        own evaluation at ``y`` (no extra work when :meth:`rhs` was just called there):

        .. math::
            c' = c - h\eta(I - \hat u\hat u^\top)\bar g - \varphi(\hat u\cdot\bar g)\hat u, \quad
            \varphi = \frac{1 - e^{-h\eta q}}{q}; \qquad
            u' = \frac{\hat u + h\eta H(c)\hat u}{\|\hat u + h\eta H(c)\hat u\|}; \qquad
            r' = r\,e^{h\rho(\kappa)}.

        The centre is stiff along ``u`` (curvature about :math:`2/\eta`): that component is
        integrated exactly for frozen curvature, the rest by Euler; ``u`` takes the normalised
        Euler step of :math:`\dot v = \eta H(c)v` (whose projection on the sphere is Oja's
        equation) and ``r`` the exact step for frozen :math:`\kappa` (it stays positive).
        """
        xp = o.xp
        n = o.n
        eta = P.eta
        core = o.recall("edge", y)
        uh, gp, gm, Hu, kappa, ray = core if core is not None else self.core(o, y, P)
        c, r = y[:n], y[2 * n : 2 * n + 1]
        gb = 0.5 * (gp + gm)
        gu = xp.dot(gb, uh)
        x = h * eta * ray
        phi = h * eta * (-math.expm1(-x) / x if abs(x) > 1e-12 else 1.0)
        c_new = c - h * eta * (gb - gu * uh) - phi * gu * uh
        v = uh + h * eta * Hu
        nv = xp.norm(v)
        if not nv > 0.0:
            o.raise_flag(F_DEGENERATE, nv)  # u + h eta H u = 0
            nv = 1.0
        return xp.cat([c_new, v / nv, r * math.exp(min(h * self.rate(P, kappa), 700.0))])

    def edge(self, o: Any, y: Any, P: Params) -> float:
        saved = (o.flag, o.flag_value)
        kappa = self.core(o, y, P)[4]
        o.flag, o.flag_value = saved
        return P.eta * kappa - 2.0

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        n = o.n
        saved = (o.flag, o.flag_value)
        core = o.recall("edge", y)
        uh, _gp, _gm, _Hu, kappa, ray = core if core is not None else self.core(o, y, P)
        o.flag, o.flag_value = saved
        c, r = y[:n], float(y[2 * n])
        ls = 0.5 * (o.loss(c + r * uh) + o.loss(c - r * uh))
        S = o.sharpness(c)
        return Observation(c, ls, abs(r), S, P.eta * kappa - 2.0, (kappa, ray))


# --- self-stabilization -----------------------------------------------------------------


class SelfStabField(VectorField):
    r"""Damian–Nichani–Lee constrained trajectory: GD's increment, then the projection onto
    :math:`\{S \le 2/\eta,\ \nabla L\cdot u = 0\}` (a Gauss–Newton iteration on the active
    constraints; see the fast path's ``_src_selfstab``)."""

    extras = ("alpha", "beta")
    discrete = True

    def applicable(self, n: int, P: Params) -> str | None:
        if n < 2:
            return (
                "the self-stabilization constrained trajectory needs at least 2 parameters: in one "
                "dimension {S <= 2/eta, L'(w) = 0} is only the critical points"
            )
        return None

    def constraints(self, o: Any, th: Any, thr: float) -> tuple[float, float, float, Any, Any, Any, bool]:
        """(c1, c2, S, g, grad S, grad(g.u), ok) at ``th``."""
        xp = o.xp
        n = o.n
        pt = o.at(th, True)
        g = pt.grad()
        lam, V, _nxt = pt.eigh_top(n)  # descending
        u = V[:, 0]
        S = float(lam[0])
        c2 = xp.dot(g, u)
        J1 = pt.third(u)
        Ag = xp.zeros(n, th)
        for q in range(n - 1, 0, -1):  # ascending order of the rest, as the fast path
            gap = S - float(lam[q])
            if gap < GAP_TOL_SS * max(1.0, abs(S)):
                o.raise_flag(F_NO_GAP, gap)
                return S - thr, c2, S, g, J1, J1, False
            Ag = Ag + (xp.dot(V[:, q], g) / gap) * V[:, q]
        J2 = pt.third(u, Ag) + S * u
        return S - thr, c2, S, g, J1, J2, True

    def project(self, o: Any, z: Any, thr: float) -> Any:
        xp = o.xp
        th = xp.copy(z)
        for phase in range(2):
            done = False
            for _ in range(200):
                c1, c2, _S, g, J1, J2, ok = self.constraints(o, th, thr)
                if not ok:
                    return th
                gscale = 1.0 + math.sqrt(xp.dot(g, g))
                small = abs(c2) <= 1e-13 * gscale and (phase == 0 or abs(c1) <= 1e-13 * max(1.0, thr))
                d = z - th
                r2 = c2 + xp.dot(J2, d)
                if phase == 0:
                    nn = xp.dot(J2, J2)
                    if not nn > 1e-300:
                        o.raise_flag(F_PROJECTION, nn)
                        return th
                    d = d - J2 * (r2 / nn)
                else:
                    r1 = c1 + xp.dot(J1, d)
                    a11, a12, a22 = xp.dot(J2, J2), xp.dot(J2, J1), xp.dot(J1, J1)
                    det = a11 * a22 - a12 * a12
                    if not det > 1e-12 * a11 * a22:
                        o.raise_flag(F_PROJECTION, det)
                        return th
                    m2 = (a22 * r2 - a12 * r1) / det
                    m1 = (a11 * r1 - a12 * r2) / det
                    d = d - (J2 * m2 + J1 * m1)
                step = xp.norm(d)
                th = th + d
                if small and step <= 1e-12 * (1.0 + xp.norm(th)):
                    done = True
                    break
            if not done:
                o.raise_flag(F_PROJECTION, phase)
                return th
            if phase == 0:
                _c1, _c2, S, *_rest = self.constraints(o, th, thr)
                if S <= thr:
                    return th
        return th

    def post(self, o: Any, y: Any, P: Params) -> Any:
        return self.project(o, y, 2.0 / P.eta)

    def state(self, o: Any, y: Any, P: Params) -> tuple[float, float, float]:
        """(S, alpha = -grad L . grad S, beta = |grad S|^2)."""
        saved = (o.flag, o.flag_value)
        _c1, _c2, S, g, J1, _J2, _ok = self.constraints(o, y, 2.0 / P.eta)
        o.flag, o.flag_value = saved
        return S, -o.xp.dot(g, J1), o.xp.dot(J1, J1)

    def edge(self, o: Any, y: Any, P: Params) -> float:
        S, _a, _b = self.state(o, y, P)
        thr = 2.0 / P.eta
        return S - thr + 1e-8 * thr

    def observe(self, o: Any, y: Any, P: Params) -> Observation:
        S, alpha, beta = self.state(o, y, P)
        thr = 2.0 / P.eta
        e = S - thr + 1e-8 * thr
        x2 = max(0.0, 2.0 * alpha / beta) if e >= 0.0 and beta > 0.0 else 0.0
        return Observation(y, o.loss(y) + x2 / P.eta, math.sqrt(x2), S, e, (alpha, beta))
