r"""Steepest descent under a norm: the optimizers, one step written once, and a toy runner.

For a norm :math:`\|\cdot\|` with steepest direction :math:`d(g)` (see
:mod:`eostheory.geometry._norms`):

- **unnormalized** steepest descent :math:`w^+ = w - \eta\,\|g\|_*\, d(g)`, the minimiser of
  the model :math:`\langle g, \Delta\rangle + \tfrac1{2\eta}\|\Delta\|^2`
  (``steepest:linf`` is :math:`w - \eta\|g\|_1\operatorname{sign} g`, ``steepest:block``
  greedy block coordinate descent, ``steepest:spectral`` :math:`W - \eta\,(\sum_b\|G_b\|_{nuc})\,U V^\top`);
- **normalized** steepest descent :math:`w^+ = w - \eta\, d(g)`, steps of length
  :math:`\eta` in the norm (``normalized:linf`` is sign descent, ``normalized:spectral`` is
  Muon without momentum);
- with **momentum** (Muon-like): :math:`m^+ = \beta m + g`, then the same step with
  :math:`m^+` in place of :math:`g` (``steepest-momentum:NORM``, ``normalized-momentum:NORM``;
  ``muon`` is ``normalized-momentum:spectral``).

Names are ``KIND:NORM`` with ``KIND`` one of :data:`KINDS` and ``NORM`` one of
:data:`~eostheory.geometry.NORMS`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from eostheory._errors import EosInputError
from eostheory._period import detect_period
from eostheory._validate import finite_vector, positive_float, positive_int, unit_interval
from eostheory.compile import compile_potential
from eostheory.geometry._norms import NORMS, Geometry, Layout, Norm, get_norm
from eostheory.geometry._sharpness import exact_sharpness, frank_wolfe
from eostheory.symbolic import Optimizer
from eostheory.symbolic.potential import as_potential
from eostheory.symbolic.rules import UpdateRule

__all__ = [
    "KINDS",
    "STEEPEST_NAMES",
    "SteepestOptimizer",
    "SteepestRun",
    "run_steepest",
    "steepest_optimizer",
    "steepest_step",
]

#: Kinds of steepest-descent optimizers: ``(normalized, momentum)``.
KINDS: dict[str, tuple[bool, bool]] = {
    "steepest": (False, False),
    "normalized": (True, False),
    "steepest-momentum": (False, True),
    "normalized-momentum": (True, True),
}

_RULES = {  # the ones that are elementwise rules (the same step, also as an UpdateRule)
    ("l2", False): ("w = w - eta*g",),
    ("l2", True): ("w = w - eta*g/norm(g)",),
    ("linf", False): ("w = w - eta*norm1(g)*sign(g)",),
    ("linf", True): ("w = w - eta*sign(g)",),
}


@dataclass(frozen=True)
class SteepestOptimizer(Optimizer):
    """Steepest descent under a norm, as an :class:`~eostheory.optimizers.Optimizer`.

    Use :func:`steepest_optimizer` to build one by name (``"normalized:spectral"``).
    Its :attr:`update` lines describe the step for records; for ``l2`` and ``linf``
    without momentum :attr:`rule` is the equivalent elementwise update rule, for the
    other norms there is none (the step is not elementwise) and :attr:`rule` raises.

    Attributes:
        geometry: the :class:`~eostheory.geometry.Norm`.
        normalized: :math:`w - \\eta d` (else :math:`w - \\eta\\|g\\|_* d`).
        momentum: :math:`m = \\beta m + g` first, then the step with :math:`m`.
    """

    geometry: Any = None
    normalized: bool = False
    momentum: bool = False

    @property
    def rule(self) -> UpdateRule:  # type: ignore[override]
        """The equivalent elementwise update rule (``l2`` and ``linf`` without momentum only)."""
        key = (self.geometry.name, self.normalized)
        if self.momentum or key not in _RULES:
            raise EosInputError(
                f"{self.name} is steepest descent in the {self.geometry.name} norm, not an elementwise update rule; "
                f"its stability is set by the generalized sharpness S = max_(|d|<=1) d^T H d: "
                + ("S/||g||_* < 2/eta" if self.normalized else "S < 2/eta")
            )
        return UpdateRule(_RULES[key], name=self.name)

    @property
    def hyperparameters(self) -> tuple:  # type: ignore[override]
        return (sp.Symbol("beta"), sp.Symbol("eta")) if self.momentum else (sp.Symbol("eta"),)

    @property
    def state(self) -> tuple:  # type: ignore[override]
        return (sp.Symbol("m"),) if self.momentum else ()

    def geometry_for(self, layout: Layout) -> Geometry:
        """The norm on flat vectors split by ``layout``."""
        return self.geometry.bind(layout)

    def init_state(self, w: Any) -> dict[str, Any]:
        """Zero buffers shaped like ``w`` (the momentum ``m``, if any)."""
        from eostheory.geometry import _xp as xp

        return {"m": xp.zeros_like(w)} if self.momentum else {}

    def step(self, geo: Geometry, w: Any, g: Any, state: Mapping[str, Any], hyper: Mapping[str, float]) -> tuple:
        """One step (see :func:`steepest_step`)."""
        return steepest_step(
            geo,
            w,
            g,
            state,
            hyper["eta"],
            beta=hyper.get("beta") if self.momentum else None,
            normalized=self.normalized,
        )


def steepest_step(
    geo: Geometry,
    w: Any,
    g: Any,
    state: Mapping[str, Any],
    eta: float,
    *,
    beta: float | None = None,
    normalized: bool = False,
) -> tuple[Any, dict[str, Any]]:
    r"""One steepest-descent step on a flat vector (numpy or torch), the inputs unchanged.

    :math:`u = g` (or :math:`m^+ = \beta m + g`, :math:`u = m^+` with momentum),
    :math:`d = d(u)`, then :math:`w^+ = w - \eta d` (normalized) or
    :math:`w - \eta\|u\|_* d`.

    Returns:
        ``(w_new, state_new)``.

    Examples:
        >>> from eostheory.geometry import get_norm, Layout
        >>> geo = get_norm("linf").bind(Layout.flat(2))
        >>> w, _ = steepest_step(geo, np.array([1.0, 1.0]), np.array([2.0, -1.0]), {}, 0.1)
        >>> w.tolist()  # w - 0.1 * ||g||_1 * sign(g) = w - 0.3 * (1, -1)
        [0.7, 1.3]
    """
    new_state: dict[str, Any] = {}
    u = g
    if beta is not None:
        u = beta * state["m"] + g
        new_state["m"] = u
    d = geo.lmo(u)
    if normalized:
        return w - eta * d, new_state
    return w - (eta * geo.dual(u)) * d, new_state


def steepest_optimizer(
    name: str | SteepestOptimizer, *, norm: Norm | None = None, beta: float | None = None
) -> SteepestOptimizer:
    """A steepest-descent optimizer by name (``KIND:NORM``, or ``muon``), or a custom norm.

    Args:
        name: ``"steepest:linf"``, ``"normalized:spectral"``, ``"normalized-momentum:spectral"``,
            ``"muon"``, …; with ``norm`` given, only the kind (``"steepest"``, ``"normalized"``, …).
        norm: a :class:`~eostheory.geometry.Norm` of your own (e.g. a per-layer
            :class:`~eostheory.geometry.Combined` with scales); the optimizer is then named
            ``KIND:custom(NAME)``.
        beta: the default momentum for the momentum kinds (0.95 unless given).

    Raises:
        EosInputError: an unknown kind or norm.

    Examples:
        >>> opt = steepest_optimizer("normalized:linf")
        >>> opt.name, [str(h) for h in opt.hyperparameters], opt.rule.assignments[0].expr
        ('normalized:linf', ['eta'], -eta*sign(g) + w)
    """
    if isinstance(name, SteepestOptimizer):
        return name
    text = str(name).strip().lower()
    if text == "muon":
        text = "normalized-momentum:spectral"
    if norm is not None:
        kind, key = text, None
        if ":" in kind:
            raise EosInputError(f"with a norm given, name is only the kind ({', '.join(KINDS)}), got {name!r}")
    else:
        kind, _, key = text.partition(":")
        if not key:
            raise EosInputError(
                f"a steepest-descent optimizer is named KIND:NORM (e.g. normalized:spectral), got {name!r}"
            )
    if kind not in KINDS:
        raise EosInputError(f"unknown steepest-descent kind {kind!r}; known: {', '.join(KINDS)}")
    normalized, momentum = KINDS[kind]
    geometry = get_norm(key) if norm is None else get_norm(norm)
    full = f"{kind}:{geometry.name}" if norm is None else f"{kind}:custom({geometry.name})"
    u = "m" if momentum else "g"
    lines = (["m = beta*m + g"] if momentum else []) + [
        f"d = lmo_{geometry.name}({u})",
        "w = w - eta*d" if normalized else f"w = w - eta*dual_{geometry.name}({u})*d",
    ]
    desc = ("normalized " if normalized else "") + f"steepest descent in the {geometry.name} norm"
    if key in NORMS:
        desc += f" ({NORMS[key]})"
    b = 0.95 if beta is None else unit_interval("beta", beta)
    return SteepestOptimizer(
        full,
        tuple(lines),
        {"beta": b} if momentum else {},
        desc + (", with momentum m = beta*m + g" if momentum else ""),
        geometry=geometry,
        normalized=normalized,
        momentum=momentum,
    )


def is_steepest_name(name: Any) -> bool:
    """Whether ``name`` names a steepest-descent optimizer (``KIND:NORM`` or ``muon``)."""
    if isinstance(name, SteepestOptimizer):
        return True
    if not isinstance(name, str):
        return False
    text = name.strip().lower()
    return text == "muon" or (text.partition(":")[0] in KINDS and ":" in text)


# ----------------------------------------------------------------------------- toys


@dataclass
class SteepestRun:
    """A steepest-descent run on a toy potential.

    Attributes:
        optimizer: the optimizer's name; eta: the learning rate.
        status: ``converged``, ``oscillating``, ``diverged`` or ``max_steps``; period: of a cycle.
        t, params, loss: records (every ``record_every`` steps and the last).
        sharpness: :math:`\\lambda_{\\max}(H)` at the records.
        generalized_sharpness: :math:`S_{\\|\\cdot\\|}` at the records (exact reference where
            there is one for this norm, else Frank–Wolfe).
        dual_grad: :math:`\\|\\nabla L\\|_*` at the records.
        step_loss: the loss of every step.
    """

    optimizer: str
    eta: float
    status: str
    period: int
    steps: int
    t: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    generalized_sharpness: np.ndarray
    dual_grad: np.ndarray
    step_loss: np.ndarray
    message: str
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """:math:`2/\\eta`."""
        return 2.0 / self.eta


def run_steepest(
    potential: Any,
    optimizer: str | SteepestOptimizer,
    *,
    x0: Sequence[float] | np.ndarray,
    steps: int,
    eta: float,
    beta: float | None = None,
    groups: Sequence[Sequence[str]] | None = None,
    constants: Mapping[str, float] | None = None,
    params: Sequence[str] | None = None,
    record_every: int = 1,
    gtol: float = 1e-12,
    average_window: int | None = None,
) -> SteepestRun:
    r"""Run a steepest-descent optimizer on a toy potential (compiled gradient, numpy step).

    The gradient and Hessian are the potential's compiled numba kernels; the step is
    :func:`steepest_step` (the same definition the torch runner uses).  At each record the
    exact :math:`\lambda_{\max}` and the generalized sharpness are computed from the dense
    Hessian (exact reference where the norm has one, see
    :func:`~eostheory.geometry.exact_sharpness`, else Frank–Wolfe).

    Args:
        potential: a :class:`~eostheory.symbolic.Potential`, a toy name or a formula.
        optimizer: a name (``"steepest:linf"``, ``"normalized:block"``, …) or a :class:`SteepestOptimizer`.
        x0, steps, eta, beta, constants, params: as for :func:`eostheory.run`.
        groups: blocks of the parameters by symbol name (e.g. ``[["x", "y"], ["z"]]``);
            default: every parameter its own block.
        record_every: record stride.
        gtol: stop when :math:`\|\nabla L\|_*` falls below it.
        average_window: also average the parameters, the loss and :math:`\lambda_{\max}` over
            the iterates of the last ``average_window`` steps (``extra["average"]``, when the
            run uses all its steps; one compiled Hessian per step of the window).

    Returns:
        :class:`SteepestRun`; ``extra["tail"]`` holds the last (up to 256) iterates.

    Examples:
        >>> r = run_steepest("0.5*(3*x**2 + y**2)", "steepest:linf", x0=[1.0, 1.0], steps=200, eta=0.1,
        ...                  params=["x", "y"])
        >>> r.status, round(float(r.generalized_sharpness[0]), 12)  # S_inf = max over (+-1, +-1) of d^T H d = 4
        ('converged', 4.0)
    """
    pot = as_potential(potential, params=params, constants=None)
    opt = steepest_optimizer(optimizer)
    eta = positive_float("eta", eta)
    hyper = {"eta": eta}
    if opt.momentum:
        hyper["beta"] = opt.defaults["beta"] if beta is None else unit_interval("beta", beta)
    elif beta is not None:
        raise EosInputError(f"{opt.name} has no momentum; use a *-momentum kind for beta")
    steps = positive_int("steps", steps)
    stride = positive_int("record_every", record_every)
    names = [p.name for p in pot.params]
    if groups is None:
        layout = Layout.from_shapes([(1,)] * pot.dim, names)
    else:
        idx = []
        for g in groups:
            bad = [s for s in g if s not in names]
            if bad:
                raise EosInputError(f"groups name {bad}, which are not parameters of the potential ({names})")
            idx.append([names.index(s) for s in g])
        layout = Layout.from_groups(idx, pot.dim, ["+".join(g) for g in groups])
    geo = opt.geometry_for(layout)
    w = finite_vector("x0", x0, pot.dim).astype(np.float64)
    cp = compile_potential(pot)
    c = np.array(pot.constant_values(constants), dtype=np.float64)
    state = opt.init_state(w)

    def curv(x: np.ndarray) -> tuple[float, float]:
        h = cp.hess(x, c)
        lam = float(np.linalg.eigvalsh(h)[-1])
        try:
            s = exact_sharpness(h, geo)
        except EosInputError:
            s = frank_wolfe(lambda v: h @ v, geo, like=x, restarts=8).value
        return lam, s

    rec: dict[str, list[Any]] = {k: [] for k in ("t", "w", "loss", "lam", "S", "dual")}
    step_loss = np.zeros(steps)
    status, message, taken = "max_steps", "", steps
    tail: list[np.ndarray] = []
    avg_from = steps - positive_int("average_window", average_window) if average_window is not None else steps
    sums, navg = np.zeros(pot.dim + 2), 0
    t0 = time.perf_counter()

    def record(tt: int, x: np.ndarray, gx: np.ndarray) -> None:
        lam, s = curv(x)
        rec["t"].append(tt)
        rec["w"].append(x.copy())
        rec["loss"].append(cp.loss(x, c))
        rec["lam"].append(lam)
        rec["S"].append(s)
        rec["dual"].append(float(geo.dual(gx)))

    for t in range(steps):
        g = cp.grad(w, c)
        lt = cp.loss(w, c)
        if not (math.isfinite(lt) and np.all(np.isfinite(g))) or np.max(np.abs(w)) > 1e100:
            status, taken, message = "diverged", t, f"diverged at step {t}"
            last = next((x for x in reversed(tail[:-1]) if math.isfinite(cp.loss(x, c))), None)
            if last is not None and (not rec["t"] or rec["t"][-1] != t - 1):  # the last finite iterate
                record(t - 1, last, cp.grad(last, c))
            break
        if t % stride == 0:
            record(t, w, g)
        step_loss[t] = lt
        if t >= avg_from:
            sums[: pot.dim] += w
            sums[pot.dim] += lt
            sums[pot.dim + 1] += cp.sharpness(w, c)
            navg += 1
        if float(geo.dual(g)) <= gtol and not opt.momentum:
            status, taken, message = "converged", t, f"converged in {t} steps (dual gradient norm <= {gtol:g})"
            break
        w, state = opt.step(geo, w, g, state, hyper)
        tail.append(w.copy())
        if len(tail) > 256:
            tail.pop(0)
    else:
        period = detect_period(np.asarray(tail)) if len(tail) >= 8 else 0
        if period == 1:
            status, message = "converged", f"converged to a fixed point within {steps} steps"
        elif period >= 2:
            status, message = "oscillating", f"settled on a period-{period} cycle"
        else:
            message = f"no convergence or cycle detected in {steps} steps"
    if status != "diverged" and (not rec["t"] or rec["t"][-1] != taken):
        record(taken, w, cp.grad(w, c))
    period = 0 if status in ("diverged", "max_steps") else (1 if status == "converged" else period)
    extra: dict[str, Any] = {"tail": np.asarray(tail), "average_hessians": navg}
    if navg and taken == steps:
        n = pot.dim
        extra["average"] = {
            "params": [float(x) for x in sums[:n] / navg],
            "loss": float(sums[n] / navg),
            "sharpness": float(sums[n + 1] / navg),
            "window": navg,
        }
    return SteepestRun(
        opt.name,
        eta,
        status,
        period,
        taken,
        np.asarray(rec["t"]),
        np.asarray(rec["w"]),
        np.asarray(rec["loss"]),
        np.asarray(rec["lam"]),
        np.asarray(rec["S"]),
        np.asarray(rec["dual"]),
        step_loss[:taken],
        message,
        time.perf_counter() - t0,
        extra,
    )


#: Every steepest-descent optimizer name (``KIND:NORM`` for the named norms, and ``muon``), e.g. for CLI choices.
STEEPEST_NAMES: tuple[str, ...] = (*(f"{k}:{n}" for k in KINDS for n in NORMS), "muon")

#: The built-in elementwise optimizers that are steepest descent under a norm: (norm, normalized).
STEEPEST_BUILTINS: dict[str, tuple[str, bool]] = {
    "sign-gd": ("linf", True),
    "linf-descent": ("linf", False),
    "normalized-gd": ("l2", True),
    "gd": ("l2", False),
}

_SYMBOL = {"linf": "S_inf", "l2": "S_2", "l1": "S_1", "block": "S_block", "spectral": "S_spec"}
_DUAL = {"linf": "||g||_1", "l2": "||g||_2", "l1": "||g||_inf", "block": "max_b ||g_b||_2", "spectral": "sum ||G||_nuc"}


def generalized_threshold(name: str | SteepestOptimizer) -> dict[str, Any] | None:
    r"""The generalized stability threshold of a steepest-descent method, or ``None`` if ``name`` is not one.

    Unnormalized steepest descent in a norm is stable at a minimum of a quadratic iff
    :math:`S_{\|\cdot\|} < 2/\eta`; a normalized one settles where
    :math:`S_{\|\cdot\|}/\|\nabla L\|_* \approx 2/\eta` (see :mod:`eostheory.geometry._sharpness`).

    Returns:
        ``{"optimizer", "norm", "normalized", "statement", "quantity", "threshold"}`` with
        the threshold as text (``"2/eta"``).

    Examples:
        >>> generalized_threshold("sign-gd")["statement"]
        'S_inf/||g||_1 < 2/eta, S_inf = max_(||d||_inf <= 1) d^T H d'
    """
    if not isinstance(name, str | SteepestOptimizer):  # an update-rule optimizer object: by its name
        name = getattr(name, "name", None)
        if not isinstance(name, str):
            return None
    if isinstance(name, SteepestOptimizer):  # also one with a custom norm
        key, normalized, name = name.geometry.name, name.normalized, name.name
    elif name in STEEPEST_BUILTINS:
        key, normalized = STEEPEST_BUILTINS[name]
    elif is_steepest_name(name):
        opt = steepest_optimizer(name)
        key, normalized = opt.geometry.name, opt.normalized
    else:
        return None
    sym = _SYMBOL.get(key, f"S_{key}")
    ball = {"linf": "||d||_inf", "l2": "||d||_2", "l1": "||d||_1"}.get(key, f"||d||_{key}")
    quantity = f"{sym}/{_DUAL.get(key, '||g||_*')}" if normalized else sym
    return {
        "optimizer": name,
        "norm": key,
        "normalized": normalized,
        "quantity": quantity,
        "threshold": "2/eta",
        "statement": f"{quantity} < 2/eta, {sym} = max_({ball} <= 1) d^T H d",
    }


def generalized_threshold_note(optimizer: str | SteepestOptimizer, eta: float | None) -> str | None:
    r"""One line on a steepest-descent method's threshold at ``eta``, for run reports; ``None`` if it is not one.

    Unnormalized: :math:`S < 2/\eta` on the generalized sharpness (the ``generalized-sharpness``
    measure, whose panel draws :math:`2/\eta`); normalized: :math:`S/\|g\|_*` hovers at
    :math:`2/\eta` (``normalized-generalized-sharpness``).

    Examples:
        >>> generalized_threshold_note("steepest:spectral", 0.1).split(" (")[0]
        'steepest:spectral: threshold on the generalized sharpness in the spectral norm, S_spec < 2/eta = 20'
    """
    gen = generalized_threshold(optimizer)
    if gen is None:
        return None
    value = f" = {2.0 / eta:.6g}" if eta else ""
    if gen["normalized"]:
        return (
            f"{gen['optimizer']}: normalized steepest descent in the {gen['norm']} norm hovers at "
            f"{gen['quantity']} = 2/eta{value} (track normalized-generalized-sharpness; its panel draws the line)"
        )
    return (
        f"{gen['optimizer']}: threshold on the generalized sharpness in the {gen['norm']} norm, "
        f"{gen['quantity']} < 2/eta{value} (track generalized-sharpness; its panel draws the line)"
    )
