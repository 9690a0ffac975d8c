r"""Tracked quantities of a training run: one registry of *measures*.

A :class:`Measure` is a name, a function of the run's :class:`MeasureState` that returns a
number, a list of numbers or a dict of named values, its nominal cost in
gradient-equivalents per record, a plot label, the plot panel it goes in and the
threshold lines it is compared with.  :func:`~eostheory.torch.train` records every
measure named in ``track`` (built-in, registered with :func:`measure` /
:func:`register_measure`, or a plain callable); the command line ``--track``, the JSON
summary, ``metrics.jsonl`` and ``training.png`` take any registered measure without
further code.

Built-ins (cost: nominal gradient-equivalents per record; one Hessian-vector product
costs about 2):

==============================  =====================================================  ======
name                            value                                                  cost
==============================  =====================================================  ======
``loss``                        full-batch loss :math:`L(w)` (always recorded)         0
``accuracy``                    full-batch accuracy (classification only)              0.5
``sharpness``                   :math:`\lambda_{\max}(H)`, warm-started eigensolver    ~20
``eigenvalues``                 the top ``top_k`` eigenvalues of :math:`H`             ~20
``batch-sharpness``             Batch Sharpness (Monte Carlo, ``bs_rse``)              varies
``gni``                         gradient-noise interaction (Monte Carlo, ``bs_rse``)   varies
``grad-norm``                   :math:`\|\nabla L(w)\|`                                0
``directional-smoothness``      :math:`g^\top H g / \|g\|^2`, :math:`g=\nabla L(w)`    2
``alignment``                   :math:`|\cos(\nabla L, u_i)|`, :math:`i\le` ``top_k``  ~20
``param-distance``              :math:`\|w - w_0\|` from the initial parameters        0
``preconditioned-sharpness``    :math:`\lambda_{\max}(P^{-1}H)`, Adam and RMSProp      ~40
==============================  =====================================================  ======

``sharpness``, ``eigenvalues`` and ``alignment`` share one eigen-solve per record, and
every measure that needs the Hessian shares its gradient graph.

Examples:
    >>> import eostheory.torch as et
    >>> @et.measure("param-norm-doc", label="‖w‖", cost=0)
    ... def param_norm(state):
    ...     return float(state.w.norm())
    >>> r = et.train("mlp", et.digits(n=100), eta=0.1, steps=4, track=["param-norm-doc"], track_every=2,
    ...              device="cpu")
    >>> len(r.series["param_norm_doc"])
    3
    >>> _ = et.MEASURES.pop("param-norm-doc")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eostheory._errors import EosInputError
from eostheory._measure_base import MeasureLines
from eostheory.torch._backend import require_torch
from eostheory.torch._curvature import Eigenpairs, NonFiniteCurvatureError, batch_sharpness, gni

__all__ = [
    "MEASURES",
    "Measure",
    "MeasureState",
    "adaptive_threshold",
    "get_measure",
    "measure",
    "preconditioned_sharpness",
    "preconditioner",
    "register_measure",
    "resolve_measures",
]

torch = require_torch()

#: What a measure may declare it needs (so the run builds it once and shares it).
NEEDS = ("hessian", "eigenpairs", "labels")


@dataclass(frozen=True)
class Measure(MeasureLines):
    """A tracked quantity.

    Args:
        name: the name used in ``track`` and ``--track`` (letters, digits, ``-``, ``_``).
        fn: ``fn(state) -> value``: a number, a list of numbers (one series of lists), a
            dict ``{key: value}`` recorded as is, or ``None`` (recorded as ``null``).
        label: the plot label (default: the name).
        cost: nominal cost per record in gradient-equivalents (documentation and ``--json``).
        thresholds: lines the measure is compared with on its plot: ``"stability"`` (the
            optimizer's linear stability threshold, ``2/η`` for GD), a number, or a callable
            ``f(hyperparameters) -> float | None``.
        panel: the plot panel: ``"curvature"`` (with the sharpness), ``"accuracy"``,
            ``"loss"``, or any other name (a panel of its own; default: the measure's name).
        needs: what ``fn`` uses, from ``"hessian"``, ``"eigenpairs"``, ``"labels"``: the
            run builds the Hessian graph (and the eigen-solve) once per record for all the
            measures that need it; a measure needing ``"labels"`` is skipped on
            regression data.
        description: one line for the docs and ``--json``.
    """

    name: str
    fn: Callable[[MeasureState], Any]
    label: str = ""
    cost: float = 0.0
    thresholds: tuple[Any, ...] = ()
    panel: str | None = None
    needs: frozenset[str] = field(default_factory=frozenset)
    description: str = ""

    def __post_init__(self) -> None:
        self._check_fields(NEEDS, "a measure")
        name = self.name
        cost = float(self.cost)
        if not (math.isfinite(cost) and cost >= 0):
            raise EosInputError(f"measure {name!r}: cost must be a finite number >= 0, got {self.cost!r}")
        object.__setattr__(self, "cost", cost)

    def describe(self, hyperparameters: Mapping[str, float], stability: float | None) -> dict[str, Any]:
        """A JSON-ready description (name, key, label, cost, thresholds as numbers)."""
        return {
            "key": self.key,
            "label": self.plot_label,
            "cost": self.cost,
            "panel": self.plot_panel,
            "thresholds": self.threshold_values(hyperparameters, stability),
            "description": self.description,
        }

    def evaluate(self, state: MeasureState) -> dict[str, Any]:
        """``fn(state)`` as a dict of record entries (a plain value is stored under :attr:`key`).

        Raises:
            EosInputError: ``fn`` raised (the message names the measure and the step), or
                returned something that is not a number, a list of numbers or a dict.
            NonFiniteCurvatureError: a Hessian-vector product was not finite.
        """
        try:
            v = self.fn(state)
        except (EosInputError, NonFiniteCurvatureError):
            raise
        except Exception as exc:  # a user's measure failing is one line naming it, not a traceback
            raise EosInputError(
                f"measure {self.name!r} raised {type(exc).__name__} at step {state.step}: {exc}"
            ) from exc
        if isinstance(v, Mapping):
            return {str(k): _plain(x) for k, x in v.items()}
        return {self.key: _plain(v)}


def _plain(v: Any) -> Any:
    """A value as a float, a list of floats, or ``None``."""
    if v is None:
        return None
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return float(v) if v.dim() == 0 else [float(x) for x in v.reshape(-1)]
    if isinstance(v, bool | int):
        return v
    if isinstance(v, float) or (hasattr(v, "__float__") and not hasattr(v, "__len__")):
        return float(v)
    if isinstance(v, Iterable) and not isinstance(v, str | bytes):
        return [None if x is None else float(x) for x in v]
    raise EosInputError(f"a measure returned {type(v).__name__}; return a number, a list of numbers or a dict")


class MeasureState:
    """What a measure sees at a record: the point, its loss and gradient, and shared work.

    Attributes:
        step: the optimizer steps done.
        w: the parameters (flat tensor on the run's device; do not modify it).
        gradient: the full-batch gradient at ``w``.
        loss: the full-batch loss at ``w``.
        objective: the :class:`~eostheory.torch.NetworkObjective` (``objective.loss(w, idx)``,
            ``objective.accuracy(w)``, ``objective.hessian(w)``, …).
        w0: the initial parameters.
        hyperparameters: the optimizer's hyperparameters by name.
        optimizer_state: the optimizer's buffers by name (e.g. ``v`` for heavy ball).
        top_k: eigenvalues tracked.
        bs_batch_size, bs_rse, bs_generator: batch size, target relative standard error and
            random generator of the Monte Carlo estimators (Batch Sharpness, GNI).
    """

    def __init__(
        self,
        *,
        step: int,
        w: Any,
        gradient: Any,
        loss: float,
        objective: Any,
        w0: Any,
        hyperparameters: Mapping[str, float],
        optimizer_state: Mapping[str, Any],
        top_k: int = 1,
        tracker: Any = None,
        hessian: Any = None,
        bs_batch_size: int | None = None,
        bs_rse: float = 0.05,
        bs_generator: Any = None,
    ) -> None:
        self.step = step
        self.w = w
        self.gradient = gradient
        self.loss = loss
        self.objective = objective
        self.w0 = w0
        self.hyperparameters = dict(hyperparameters)
        self.optimizer_state = dict(optimizer_state)
        self.top_k = top_k
        self.bs_batch_size = bs_batch_size or objective.n_examples
        self.bs_rse = bs_rse
        self.bs_generator = bs_generator
        self._tracker = tracker
        self._hessian = hessian
        self._pairs: Eigenpairs | None = None
        self._grad_norm: float | None = None

    @property
    def hessian(self) -> Any:
        """The :class:`~eostheory.torch.HessianOperator` at ``w`` (built once per record)."""
        if self._hessian is None:
            self._hessian = self.objective.hessian(self.w)
        return self._hessian

    @property
    def eigenpairs(self) -> Eigenpairs:
        """The top ``top_k`` eigenpairs of the Hessian (one warm-started solve per record, shared)."""
        if self._pairs is None:
            if self._tracker is None:
                from eostheory.torch._curvature import EigenTracker

                self._tracker = EigenTracker(self.top_k)
            self._pairs = self._tracker(self.hessian)
        return self._pairs

    @property
    def has_eigenpairs(self) -> bool:
        """Whether this record's eigen-solve has been done."""
        return self._pairs is not None

    @property
    def grad_norm(self) -> float:
        r""":math:`\|\nabla L(w)\|`."""
        if self._grad_norm is None:
            self._grad_norm = float(torch.linalg.vector_norm(self.gradient))
        return self._grad_norm

    def release(self) -> None:
        """Drop the Hessian graph (called by the run after the record)."""
        self._hessian = None


MEASURES: dict[str, Measure] = {}


def register_measure(m: Measure, *, replace: bool = False) -> Measure:
    """Add a measure to the registry.

    Args:
        m: the measure.
        replace: allow replacing a registered one of the same name.

    Returns:
        ``m``.

    Raises:
        EosInputError: the name is taken (and ``replace`` is false).
    """
    if not isinstance(m, Measure):
        raise EosInputError(f"register_measure takes a Measure, got {type(m).__name__}")
    if m.name in MEASURES and not replace:
        raise EosInputError(f"measure {m.name!r} already exists (pass replace=True to redefine it)")
    MEASURES[m.name] = m
    return m


def measure(
    name: str,
    *,
    label: str = "",
    cost: float = 0.0,
    thresholds: Iterable[Any] = (),
    panel: str | None = None,
    needs: Iterable[str] = (),
    description: str = "",
    replace: bool = False,
) -> Callable[[Callable[[MeasureState], Any]], Callable[[MeasureState], Any]]:
    """Decorator: register ``fn(state)`` as the measure ``name`` (the function is returned unchanged).

    Args:
        name: the name for ``track`` / ``--track``.
        label, cost, thresholds, panel, needs, description: see :class:`Measure`.
        replace: allow redefining a registered measure.

    Returns:
        The decorator.

    Raises:
        EosInputError: a bad name, a taken name, an unknown ``needs`` entry.

    Examples:
        >>> @measure("param-norm-example", label="parameter norm", cost=0)
        ... def param_norm(state):
        ...     return float(state.w.norm())
        >>> MEASURES["param-norm-example"].key
        'param_norm_example'
        >>> _ = MEASURES.pop("param-norm-example")
    """

    def deco(fn: Callable[[MeasureState], Any]) -> Callable[[MeasureState], Any]:
        m = Measure(name, fn, label, cost, tuple(thresholds), panel, frozenset(needs), description)
        register_measure(m, replace=replace)
        try:
            fn.eos_measure = m.name  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        return fn

    return deco


def get_measure(name: str) -> Measure:
    """The registered measure ``name`` (``_`` and ``-`` are the same).

    Raises:
        EosInputError: no measure of that name (the message lists the registered ones).
    """
    key = str(name).strip().replace("_", "-")
    try:
        return MEASURES[key]
    except KeyError:
        raise EosInputError(
            f"cannot track {str(name)!r}: no such measure; registered: {', '.join(MEASURES)} (register your own with "
            "@eostheory.torch.measure, or pass a callable in track)"
        ) from None


def resolve_measures(track: Any) -> list[Measure]:
    """``track`` (names, ``"a,b"``, :class:`Measure` objects or callables) as measures, ``loss`` first.

    Registered measures come in registry order (the built-ins first), then the others in
    the order given; duplicates are dropped.

    Raises:
        EosInputError: an unknown name, or two different measures of one name.
    """
    if isinstance(track, str) or isinstance(track, Measure) or callable(track):
        track = [track]
    items: list[Any] = []
    for t in track or ():
        if isinstance(t, str):
            items.extend(p for p in t.replace(" ", "").split(",") if p)
        else:
            items.append(t)
    chosen: dict[str, Measure] = {"loss": MEASURES["loss"]}
    for t in items:
        if isinstance(t, Measure):
            m = t
        elif isinstance(t, str):
            m = get_measure(t)
        elif callable(t):
            reg = getattr(t, "eos_measure", None)
            if reg is not None and reg in MEASURES and MEASURES[reg].fn is t:
                m = MEASURES[reg]
            else:
                name = getattr(t, "__name__", "") or type(t).__name__
                if name == "<lambda>":
                    raise EosInputError("a lambda in track has no name: wrap it in Measure(name, fn) or use @measure")
                m = Measure(name.replace("_", "-"), t)
        else:
            raise EosInputError(f"track takes names, Measure objects or callables, got {type(t).__name__}")
        if m.name in chosen and chosen[m.name] is not m:
            if chosen[m.name].fn is m.fn:
                continue
            raise EosInputError(f"two different measures are named {m.name!r} in track")
        chosen[m.name] = m
    order = list(MEASURES)
    registered = [m for m in chosen.values() if MEASURES.get(m.name) is m]
    registered.sort(key=lambda m: order.index(m.name))
    others = [m for m in chosen.values() if MEASURES.get(m.name) is not m]
    return registered + others


# ----------------------------------------------------------------------------- built-ins


def _loss(state: MeasureState) -> float:
    return state.loss


def _accuracy(state: MeasureState) -> Any:
    return state.objective.accuracy(state.w)


def _eigen(state: MeasureState) -> dict[str, Any]:
    pairs = state.eigenpairs
    out: dict[str, Any] = {"sharpness": float(pairs.values[0]), "eig_hvps": pairs.n_hvp}
    if not pairs.converged:
        out["eig_converged"] = False
    return out


def _eigenvalues(state: MeasureState) -> list[float]:
    return [float(v) for v in state.eigenpairs.values]


def _mc_batches(state: MeasureState) -> Any:
    return "all" if state.bs_batch_size == state.objective.n_examples else None


def _batch_sharpness(state: MeasureState) -> dict[str, Any]:
    est = batch_sharpness(
        state.objective,
        state.w,
        state.bs_batch_size,
        rse=state.bs_rse,
        generator=state.bs_generator,
        batches=_mc_batches(state),
    )
    return {"batch_sharpness": est.value, "batch_sharpness_se": est.stderr}


def _gni(state: MeasureState) -> dict[str, Any]:
    if not state.grad_norm > 0:
        return {}
    est = gni(
        state.objective,
        state.w,
        state.bs_batch_size,
        rse=state.bs_rse,
        generator=state.bs_generator,
        batches=_mc_batches(state),
    )
    return {"gni": est.value, "gni_se": est.stderr}


def _grad_norm(state: MeasureState) -> float:
    return state.grad_norm


def _directional_smoothness(state: MeasureState) -> float | None:
    g = state.gradient
    gg = float(g @ g)
    if not gg > 0:
        return None
    return float(g @ state.hessian.matvec(g)) / gg


def _alignment(state: MeasureState) -> list[float | None]:
    gn = state.grad_norm
    V = state.eigenpairs.vectors
    if not gn > 0:
        return [None] * int(V.shape[1])
    c = (state.gradient.reshape(1, -1) @ V).reshape(-1).abs() / gn
    return [float(x) for x in c]


def _param_distance(state: MeasureState) -> float:
    return float(torch.linalg.vector_norm(state.w - state.w0.to(state.w)))


#: Residual tolerance (relative) of the preconditioned-sharpness Lanczos solve in a run.
PRECOND_TOL = 1e-4


def preconditioner(optimizer_state: Mapping[str, Any], hyperparameters: Mapping[str, float]) -> Any:
    r"""The diagonal preconditioner :math:`P` of an adaptive step :math:`w \leftarrow w - \eta P^{-1} u`.

    - Adam (buffers ``m``, ``v``, ``c1``, ``c2``; the step ``w - (eta/c1) m/(sqrt(v)/sqrt(c2) + eps)``):
      :math:`P = c_1\,(\sqrt{v/c_2} + \epsilon)`, with :math:`c_k = 1-\beta_k^t` (bias corrections),
      so that the step is :math:`\eta P^{-1} m`;
    - RMSProp (buffer ``s``, hyperparameter ``alpha``; the step ``w - eta g/(sqrt(s) + eps)``):
      :math:`P = \sqrt{s} + \epsilon`.

    Args:
        optimizer_state: the optimizer's buffers by name (flat tensors).
        hyperparameters: its hyperparameters by name (``eps`` is read).

    Returns:
        ``P`` as a flat tensor, or ``None`` for other optimizers and before the first step
        (the buffers are still zero).
    """
    st, eps = optimizer_state, hyperparameters.get("eps")
    if eps is None:
        return None
    if all(k in st for k in ("m", "v", "c1", "c2")):
        c1, c2 = st["c1"], st["c2"]
        if not (bool((c1 > 0).all()) and bool((c2 > 0).all())):
            return None
        return c1 * (torch.sqrt(st["v"] / c2) + eps)
    if "s" in st and "alpha" in hyperparameters:
        if not bool(st["s"].any()):
            return None
        return torch.sqrt(st["s"]) + eps
    return None


class _Preconditioned:
    """The operator :math:`P^{-1/2} H P^{-1/2}` (symmetric; the eigenvalues of :math:`P^{-1}H`)."""

    def __init__(self, op: Any, p: Any) -> None:
        self.op = op
        self.d = torch.rsqrt(p.to(device=op.device, dtype=op.dtype))
        self.n, self.device, self.dtype = op.n, op.device, op.dtype

    def matvec(self, v: Any) -> Any:
        return self.d * self.op.matvec(self.d * v)


def preconditioned_sharpness(op: Any, p: Any, *, tol: float = 1e-8, seed: int = 0) -> Eigenpairs:
    r""":math:`\lambda_{\max}(P^{-1}H)`, matrix-free: Lanczos on :math:`P^{-1/2} H P^{-1/2}`.

    The two matrices are similar (:math:`P^{-1}H = P^{-1/2}(P^{-1/2}HP^{-1/2})P^{1/2}`), so
    their eigenvalues agree and the symmetric one can be solved by Lanczos, one
    Hessian-vector product per iteration.

    Args:
        op: the Hessian (:class:`~eostheory.torch.HessianOperator`).
        p: the diagonal of :math:`P` (positive, flat, one entry per parameter).
        tol: relative residual tolerance of the Lanczos solve.
        seed: seed of the random start vector (a cold start: the result is reproducible).

    Returns:
        :class:`~eostheory.torch.Eigenpairs` of :math:`P^{-1/2}HP^{-1/2}` (the top one; its
        vector ``u`` gives :math:`P^{-1}H` the right eigenvector :math:`P^{-1/2}u`).

    Raises:
        EosInputError: ``p`` of the wrong size or not positive.
        NonFiniteCurvatureError: a Hessian-vector product was not finite.
    """
    from eostheory.torch._curvature import top_eigenpairs

    p = torch.as_tensor(p).reshape(-1)
    if p.numel() != op.n:
        raise EosInputError(f"the preconditioner has {p.numel()} entries, the Hessian is {op.n}x{op.n}")
    if not bool((p > 0).all()) or not bool(torch.isfinite(p).all()):
        raise EosInputError("the preconditioner must be positive and finite")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return top_eigenpairs(_Preconditioned(op, p), 1, method="lanczos", tol=tol, generator=gen)  # type: ignore[arg-type]


def _precond_sharpness(state: MeasureState) -> dict[str, Any] | None:
    p = preconditioner(state.optimizer_state, state.hyperparameters)
    if p is None:
        return None
    pairs = preconditioned_sharpness(state.hessian, p, tol=PRECOND_TOL, seed=state.step)
    out: dict[str, Any] = {"preconditioned_sharpness": float(pairs.values[0]), "precond_hvps": pairs.n_hvp}
    if not pairs.converged:
        out["precond_converged"] = False
    return out


def adaptive_threshold(hyperparameters: Mapping[str, float]) -> float | None:
    r"""The threshold line on :math:`\lambda_{\max}(P^{-1}H)` for Adam and RMSProp.

    Adam: :math:`2(1+\beta_1)/(\eta(1-\beta_1))`; RMSProp: :math:`2/\eta`.  Adam's is the
    stability threshold of its linearised momentum step (Cohen et al. 2022,
    "Adaptive gradient methods at the edge of stability", arXiv:2207.14484): ``38/eta`` at
    ``beta1 = 0.9``.

    Returns:
        The threshold, or ``None`` when the hyperparameters are neither Adam's nor RMSProp's.
    """
    eta = hyperparameters.get("eta")
    if not eta:
        return None
    if "beta1" in hyperparameters:
        b1 = float(hyperparameters["beta1"])
        return 2 * (1 + b1) / (eta * (1 - b1)) if b1 < 1 else None
    if "alpha" in hyperparameters:
        return 2 / eta
    return None


for _m in (
    Measure("loss", _loss, "full-batch loss", 0.0, (), "loss", frozenset(), "full-batch loss (always recorded)"),
    Measure("accuracy", _accuracy, "accuracy", 0.5, (), "accuracy", frozenset({"labels"}), "full-batch accuracy"),
    Measure(
        "sharpness",
        _eigen,
        "sharpness $\\lambda_{max}$",
        20.0,
        ("stability",),
        "curvature",
        frozenset({"hessian", "eigenpairs"}),
        "top Hessian eigenvalue (warm-started eigensolver; also eig_hvps, eig_converged)",
    ),
    Measure(
        "eigenvalues",
        _eigenvalues,
        "top eigenvalues",
        20.0,
        ("stability",),
        "curvature",
        frozenset({"hessian", "eigenpairs"}),
        "top_k Hessian eigenvalues, largest first",
    ),
    Measure(
        "batch-sharpness",
        _batch_sharpness,
        "batch sharpness",
        20.0,
        ("stability",),
        "curvature",
        frozenset(),
        "Batch Sharpness E[g_B^T H_B g_B]/E[|g_B|^2] (Monte Carlo, to bs_rse)",
    ),
    Measure(
        "gni",
        _gni,
        "GNI",
        20.0,
        ("stability",),
        "curvature",
        frozenset(),
        "gradient-noise interaction (Monte Carlo, to bs_rse)",
    ),
    Measure("grad-norm", _grad_norm, "gradient norm", 0.0, (), "grad-norm", frozenset(), "full-batch gradient norm"),
    Measure(
        "directional-smoothness",
        _directional_smoothness,
        "directional smoothness $g^\\top Hg/\\|g\\|^2$",
        2.0,
        ("stability",),
        "curvature",
        frozenset({"hessian"}),
        "curvature along the gradient step, g^T H g / |g|^2 (one Hessian-vector product)",
    ),
    Measure(
        "alignment",
        _alignment,
        "$|\\cos(\\nabla L, u_i)|$",
        20.0,
        (),
        "alignment",
        frozenset({"hessian", "eigenpairs"}),
        "|cos| between the gradient and each of the top_k eigenvectors (shares the eigen-solve)",
    ),
    Measure(
        "param-distance",
        _param_distance,
        "$\\|w - w_0\\|$",
        0.0,
        (),
        "param-distance",
        frozenset(),
        "distance of the parameters from the initial point",
    ),
    Measure(
        "preconditioned-sharpness",
        _precond_sharpness,
        "preconditioned sharpness $\\lambda_{max}(P^{-1}H)$",
        40.0,
        (adaptive_threshold,),
        "preconditioned",
        frozenset({"hessian"}),
        "lambda_max(P^-1 H) of Adam / RMSProp (Lanczos on P^-1/2 H P^-1/2; also precond_hvps); null for others",
    ),
):
    register_measure(_m)

#: The built-in measures' names, in registry order.
BUILTIN_MEASURES = tuple(MEASURES)
