r"""Tracked quantities of a toy run (a potential or a symbolic net): a small numpy registry.

The measures carry the names and meanings of the network measures of
:mod:`eostheory.torch` (``eostheory train --track``), restricted to those that make sense
on a toy, and are computed exactly: the compiled gradient and the dense compiled Hessian
:math:`H = \nabla^2 L(w)` at each recorded iterate, with a full symmetric eigendecomposition
(``numpy.linalg.eigh``) shared by the measures that need it.  Nothing here imports torch.

==============================  =========================================================
name                            value at a recorded iterate :math:`w_t`
==============================  =========================================================
``loss``                        :math:`L(w_t)` (always recorded)
``grad-norm``                   :math:`\|g\|`, :math:`g = \nabla L(w_t)`
``sharpness``                   :math:`\lambda_{\max}(H)` (exact)
``eigenvalues``                 the top ``top_k`` eigenvalues of :math:`H`, largest first
``directional-smoothness``      :math:`g^\top H g / \|g\|^2` (``None`` where :math:`g = 0`)
``alignment``                   :math:`|\cos(g, u_i)|` for the top ``top_k`` eigenvectors
``param-distance``              :math:`\|w_t - w_0\|` from the starting point
==============================  =========================================================

The network-only measures (``accuracy``, ``batch-sharpness``, ``gni``,
``preconditioned-sharpness``) have no toy counterpart here: a toy has no labels and no
mini-batches, and the run loop does not record the optimizer's buffers.

A user measure is a function ``fn(state) -> value`` of a :class:`ToyState` (a number, a
list of numbers, a dict of named values or ``None``), passed in ``run(..., track=[fn])``
or registered with :func:`register_toy_measure`.

Examples:
    >>> import numpy as np
    >>> A = np.diag([3.0, 1.0])
    >>> st = ToyState(step=0, w=np.array([1.0, 0.0]), loss=1.5, gradient=A @ np.array([1.0, 0.0]),
    ...               w0=np.zeros(2), hessian_fn=lambda w: A)
    >>> evaluate_measures(resolve_toy_measures("sharpness,directional-smoothness"), st)
    {'loss': 1.5, 'sharpness': 3.0, 'directional_smoothness': 3.0}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._measure_base import MeasureLines

__all__ = [
    "TOY_MEASURES",
    "ToyMeasure",
    "ToyState",
    "evaluate_measures",
    "get_toy_measure",
    "register_toy_measure",
    "resolve_toy_measures",
]

#: What a toy measure may declare it uses (documentation and ``--json``).
NEEDS = ("gradient", "hessian", "eigh")


@dataclass(frozen=True)
class ToyMeasure(MeasureLines):
    """A tracked quantity of a toy run.

    The attributes read by the plots (``name``, ``key``, ``plot_label``, ``plot_panel``,
    :meth:`threshold_values`) are those of :class:`eostheory.torch.Measure`, so one figure
    code draws both.

    Args:
        name: the name used in ``track`` and ``--track`` (letters, digits, ``-``, ``_``).
        fn: ``fn(state) -> value``: a number, a list of numbers, a dict ``{key: value}``
            recorded as is, or ``None`` (undefined at this point).
        label: the plot label (default: the name).
        thresholds: lines the measure is compared with on its plot: ``"stability"`` (the
            rule's linear stability threshold, ``2/η`` for GD), a number, or a callable
            ``f(hyperparameters) -> float | None``.
        panel: the plot panel (``"curvature"`` with the sharpness, or a panel of its own).
        needs: what ``fn`` uses, from :data:`NEEDS` (the Hessian and its eigendecomposition
            are computed once per record for all measures).
        description: one line for the docs and ``--json``.
    """

    name: str
    fn: Callable[[ToyState], Any]
    label: str = ""
    thresholds: tuple[Any, ...] = ()
    panel: str | None = None
    needs: frozenset[str] = field(default_factory=frozenset)
    description: str = ""

    def __post_init__(self) -> None:
        self._check_fields(NEEDS, "a toy measure")

    def describe(self, hyperparameters: Mapping[str, float], stability: float | None) -> dict[str, Any]:
        """A JSON-ready description (key, label, panel, thresholds as numbers, what it needs)."""
        return {
            "key": self.key,
            "label": self.plot_label,
            "panel": self.plot_panel,
            "thresholds": self.threshold_values(hyperparameters, stability),
            "needs": sorted(self.needs),
            "description": self.description,
        }

    def evaluate(self, state: ToyState) -> dict[str, Any]:
        """``fn(state)`` as record entries (a plain value is stored under :attr:`key`).

        Raises:
            EosInputError: ``fn`` raised (named with the step), or returned something that is
                not a number, a list of numbers, a dict or ``None``.
        """
        try:
            v = self.fn(state)
        except EosInputError:
            raise
        except Exception as exc:  # a user's measure failing is one line naming it, not a traceback
            raise EosInputError(
                f"measure {self.name!r} raised {type(exc).__name__} at step {state.step}: {exc}"
            ) from exc
        if isinstance(v, Mapping):
            return {str(k): _plain(x, self.name) for k, x in v.items()}
        return {self.key: _plain(v, self.name)}


def _plain(v: Any, name: str) -> Any:
    """A value as a float (``None`` if not finite), a list of such, or ``None``."""
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float | np.floating | np.integer) or (isinstance(v, np.ndarray) and v.ndim == 0):
        x = float(v)
        return x if math.isfinite(x) else None
    if isinstance(v, Iterable) and not isinstance(v, str | bytes):
        return [_plain(x, name) for x in v]
    raise EosInputError(
        f"measure {name!r} returned {type(v).__name__}; return a number, a list of numbers, a dict or None"
    )


class ToyState:
    r"""What a toy measure sees at a recorded iterate.

    Attributes:
        step: the optimizer steps done.
        w: the parameters :math:`w_t` (do not modify).
        loss: :math:`L(w_t)`.
        gradient: :math:`g = \nabla L(w_t)`.
        w0: the starting point.
        hyperparameters: the optimizer's hyperparameters by name.
        top_k: the eigenpairs tracked by ``eigenvalues`` and ``alignment``.
    """

    def __init__(
        self,
        *,
        step: int,
        w: np.ndarray,
        loss: float,
        gradient: np.ndarray,
        w0: np.ndarray,
        hessian_fn: Callable[[np.ndarray], np.ndarray],
        hyperparameters: Mapping[str, float] | None = None,
        top_k: int = 1,
    ) -> None:
        self.step = int(step)
        self.w = np.asarray(w, dtype=float)
        self.loss = float(loss)
        self.gradient = np.asarray(gradient, dtype=float)
        self.w0 = np.asarray(w0, dtype=float)
        self.hyperparameters = dict(hyperparameters or {})
        self.top_k = int(top_k)
        self._hessian_fn = hessian_fn
        self._hessian: np.ndarray | None = None
        self._eigh: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def hessian(self) -> np.ndarray:
        r"""The dense Hessian :math:`\nabla^2 L(w_t)` (computed once per record)."""
        if self._hessian is None:
            self._hessian = np.asarray(self._hessian_fn(self.w), dtype=float)
        return self._hessian

    @property
    def finite_hessian(self) -> bool:
        """Whether every Hessian entry is finite (else the eigen measures are ``None``)."""
        return bool(np.all(np.isfinite(self.hessian)))

    @property
    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        r"""All eigenpairs of the Hessian, largest first: ``(values, vectors)`` with ``vectors[:, i]`` the i-th."""
        if self._eigh is None:
            vals, vecs = np.linalg.eigh(self.hessian)
            self._eigh = (vals[::-1].copy(), vecs[:, ::-1].copy())
        return self._eigh

    @property
    def grad_norm(self) -> float:
        r""":math:`\|\nabla L(w_t)\|`."""
        return float(np.linalg.norm(self.gradient))


TOY_MEASURES: dict[str, ToyMeasure] = {}


def register_toy_measure(m: ToyMeasure, *, replace: bool = False) -> ToyMeasure:
    """Add a measure to the toy registry (``replace`` allows redefining a registered name).

    Raises:
        EosInputError: not a :class:`ToyMeasure`, or the name is taken.
    """
    if not isinstance(m, ToyMeasure):
        raise EosInputError(f"register_toy_measure takes a ToyMeasure, got {type(m).__name__}")
    if m.name in TOY_MEASURES and not replace:
        raise EosInputError(f"measure {m.name!r} already exists (pass replace=True to redefine it)")
    TOY_MEASURES[m.name] = m
    return m


_NETWORK_ONLY = {
    "accuracy": "a toy has no labels",
    "batch-sharpness": "a toy run is full batch",
    "gni": "a toy run is full batch",
    "preconditioned-sharpness": "the toy run loop does not record the optimizer's buffers",
}


def get_toy_measure(name: str) -> ToyMeasure:
    """The registered toy measure ``name`` (``_`` and ``-`` are the same).

    Raises:
        EosInputError: no such measure (the message lists the registered ones, and says why
            a network-only measure is not available on toys).
    """
    key = str(name).strip().replace("_", "-")
    try:
        return TOY_MEASURES[key]
    except KeyError:
        why = f" ({key} is a network measure: {_NETWORK_ONLY[key]})" if key in _NETWORK_ONLY else ""
        raise EosInputError(
            f"cannot track {str(name)!r} on a toy{why}; toy measures: {', '.join(TOY_MEASURES)}"
        ) from None


def resolve_toy_measures(track: Any) -> list[ToyMeasure]:
    """``track`` (names, ``"a,b"``, :class:`ToyMeasure` objects or callables) as measures, ``loss`` first.

    Registered measures come in registry order, then the others in the order given;
    duplicates are dropped.

    Raises:
        EosInputError: an unknown name, a lambda (it has no name), or two different
            measures of one name.
    """
    if isinstance(track, str | ToyMeasure) or callable(track):
        track = [track]
    items: list[Any] = []
    for t in track or ():
        if isinstance(t, str):
            items.extend(p for p in t.replace(" ", "").split(",") if p)
        else:
            items.append(t)
    chosen: dict[str, ToyMeasure] = {"loss": TOY_MEASURES["loss"]}
    for t in items:
        if isinstance(t, ToyMeasure):
            m = t
        elif isinstance(t, str):
            m = get_toy_measure(t)
        elif callable(t):
            name = getattr(t, "__name__", "") or type(t).__name__
            if name == "<lambda>":
                raise EosInputError("a lambda in track has no name: wrap it in ToyMeasure(name, fn) or use a def")
            m = ToyMeasure(name.replace("_", "-"), t)
        else:
            raise EosInputError(f"track takes names, ToyMeasure objects or callables, got {type(t).__name__}")
        if m.name in chosen and chosen[m.name] is not m:
            if chosen[m.name].fn is m.fn:
                continue
            raise EosInputError(f"two different measures are named {m.name!r} in track")
        chosen[m.name] = m
    order = list(TOY_MEASURES)
    registered = sorted(
        (m for m in chosen.values() if TOY_MEASURES.get(m.name) is m), key=lambda m: order.index(m.name)
    )
    others = [m for m in chosen.values() if TOY_MEASURES.get(m.name) is not m]
    return registered + others


def evaluate_measures(measures: Iterable[ToyMeasure], state: ToyState) -> dict[str, Any]:
    """The record of ``measures`` at ``state`` (one dict; the shared Hessian is computed once)."""
    rec: dict[str, Any] = {}
    for m in measures:
        rec.update(m.evaluate(state))
    return rec


# ----------------------------------------------------------------------------- built-ins


def _loss(state: ToyState) -> float:
    return state.loss


def _grad_norm(state: ToyState) -> float:
    return state.grad_norm


def _sharpness(state: ToyState) -> float | None:
    if not state.finite_hessian:
        return None
    return float(state.eigh[0][0])


def _eigenvalues(state: ToyState) -> list[float | None]:
    k = min(state.top_k, state.w.size)
    if not state.finite_hessian:
        return [None] * k
    return [float(v) for v in state.eigh[0][:k]]


def _directional_smoothness(state: ToyState) -> float | None:
    g = state.gradient
    gg = float(g @ g)
    if not (gg > 0 and math.isfinite(gg)) or not state.finite_hessian:
        return None
    return float(g @ state.hessian @ g) / gg


def _alignment(state: ToyState) -> list[float | None]:
    k = min(state.top_k, state.w.size)
    gn = state.grad_norm
    if not (gn > 0 and math.isfinite(gn)) or not state.finite_hessian:
        return [None] * k
    vecs = state.eigh[1][:, :k]
    return [float(x) for x in np.abs(state.gradient @ vecs) / gn]


def _param_distance(state: ToyState) -> float:
    return float(np.linalg.norm(state.w - state.w0))


for _m in (
    ToyMeasure("loss", _loss, "loss", (), "loss", frozenset(), "L(w) (always recorded)"),
    ToyMeasure("grad-norm", _grad_norm, "gradient norm", (), "grad-norm", frozenset({"gradient"}), "|grad L(w)|"),
    ToyMeasure(
        "sharpness",
        _sharpness,
        "sharpness $\\lambda_{max}$",
        ("stability",),
        "curvature",
        frozenset({"hessian", "eigh"}),
        "top Hessian eigenvalue (dense Hessian, exact eigh)",
    ),
    ToyMeasure(
        "eigenvalues",
        _eigenvalues,
        "top eigenvalues",
        ("stability",),
        "curvature",
        frozenset({"hessian", "eigh"}),
        "top_k Hessian eigenvalues, largest first (exact eigh)",
    ),
    ToyMeasure(
        "directional-smoothness",
        _directional_smoothness,
        "directional smoothness $g^\\top Hg/\\|g\\|^2$",
        ("stability",),
        "curvature",
        frozenset({"gradient", "hessian"}),
        "curvature along the gradient step, g^T H g / |g|^2 (null where g = 0)",
    ),
    ToyMeasure(
        "alignment",
        _alignment,
        "$|\\cos(\\nabla L, u_i)|$",
        (),
        "alignment",
        frozenset({"gradient", "hessian", "eigh"}),
        "|cos| between the gradient and each of the top_k Hessian eigenvectors (null where g = 0)",
    ),
    ToyMeasure(
        "param-distance",
        _param_distance,
        "$\\|w - w_0\\|$",
        (),
        "param-distance",
        frozenset(),
        "distance of the parameters from the starting point",
    ),
):
    register_toy_measure(_m)

#: The built-in toy measures' names, in registry order.
BUILTIN_TOY_MEASURES = tuple(TOY_MEASURES)
