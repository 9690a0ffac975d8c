r"""Steepest descent under a norm on networks, and the measures of its edge of stability.

:func:`~eostheory.torch.train` takes the steepest-descent optimizers of
:mod:`eostheory.geometry` by name — ``steepest:linf``, ``normalized:linf`` (sign descent),
``steepest:block`` (greedy block coordinate descent), ``steepest:spectral``,
``normalized:spectral``, ``normalized-momentum:spectral`` (``muon``), … — with the model's
parameter tensors as the blocks.  The step is :func:`eostheory.geometry.steepest_step`,
the same definition as on toys.

Measures (registered here with :func:`~eostheory.torch.measure`; their norm is the run's
geometry, the Euclidean norm for other optimizers):

- ``generalized-sharpness``: :math:`S = \max_{\|d\|\le1} d^\top Hd` (also ``gs_gap``, ``gs_hvps``);
- ``normalized-generalized-sharpness``: :math:`S/\|\nabla L\|_*` (also ``dual_grad_norm``);
- ``step-smoothness``: :math:`D, A, H, H_s` of Mishkin et al. (2024) along the run's next step
  (``smoothness_D``, ``smoothness_A``, ``smoothness_H``, ``smoothness_H_signed``).

Each is drawn with the line :math:`2/\eta`.

:math:`S` is exact where that is cheap — the Euclidean norm: :math:`\lambda_{\max}` from
the run's shared eigen-solve; the block norm: :math:`\max_b\lambda_{\max}(H_{bb})` by
Lanczos on each block (exact for a PSD Hessian, a lower bound otherwise) — and a
warm-started multi-restart Frank–Wolfe estimate otherwise (see
:func:`eostheory.geometry.frank_wolfe`; ``gs_gap`` is its Frank–Wolfe gap, 0 at a stationary
point).  Unnormalized steepest descent is stable iff :math:`S < 2/\eta`; the normalized
methods hover at :math:`S/\|\nabla L\|_* \approx 2/\eta`.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eostheory.geometry import (
    Geometry,
    Layout,
    SharpnessEstimate,
    SteepestOptimizer,
    frank_wolfe,
    get_norm,
    is_steepest_name,
    steepest_optimizer,
    step_smoothness,
)
from eostheory.geometry._norms import Combined, L2Block
from eostheory.torch._backend import require_torch
from eostheory.torch._measures import Measure, MeasureState, measure

__all__ = [
    "GeometryStep",
    "generalized_sharpness",
    "generalized_sharpness_measure",
    "geometry_optimizer",
    "geometry_step",
    "layout_of",
]

torch = require_torch()

#: Frank–Wolfe settings in a training run: random restarts on top of the warm start and the
#: gradient's direction, iterations per start, relative gap tolerance.
FW_RESTARTS, FW_ITERS = 2, 40


def geometry_optimizer(name: Any) -> SteepestOptimizer | None:
    """The steepest-descent optimizer ``name`` names (``KIND:NORM``, ``muon``), or ``None`` for any other name."""
    return steepest_optimizer(name) if is_steepest_name(name) else None


def layout_of(objective: Any) -> Layout:
    """The blocks of a network objective: its parameter tensors, in order (one block for other objectives)."""
    shapes = getattr(objective, "shapes", None)
    if shapes:
        return Layout.from_shapes(shapes, getattr(objective, "names", None))
    return Layout.flat(int(objective.n_params))


class GeometryStep:
    """One steepest-descent step on the flat parameters of a network (the torch runner's stepper).

    Args:
        optimizer: the :class:`~eostheory.geometry.SteepestOptimizer`.
        hyperparameters: ``eta`` (and ``beta`` for the momentum kinds).
        layout: the parameter blocks.
    """

    def __init__(self, optimizer: SteepestOptimizer, hyperparameters: Mapping[str, float], layout: Layout) -> None:
        self.optimizer = optimizer
        self.hyperparameters = {k: float(v) for k, v in hyperparameters.items()}
        self.geometry = optimizer.geometry_for(layout)
        self.state_names = ("m",) if optimizer.momentum else ()

    def init_state(self, w: Any) -> dict[str, Any]:
        return self.optimizer.init_state(w)

    def __call__(self, w: Any, g: Any, state: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        return self.optimizer.step(self.geometry, w, g, state, self.hyperparameters)


@dataclass
class _Run:
    geometry: Geometry
    step: GeometryStep | None
    warm: Any = None
    cache: dict[str, Any] = field(default_factory=dict)


_RUNS: weakref.WeakKeyDictionary[Any, _Run] = weakref.WeakKeyDictionary()


def geometry_step(optimizer: SteepestOptimizer, hyperparameters: Mapping[str, float], objective: Any) -> GeometryStep:
    """The stepper of ``optimizer`` on ``objective``'s parameter blocks; the run's measures then use its norm."""
    step = GeometryStep(optimizer, hyperparameters, layout_of(objective))
    _RUNS[objective] = _Run(step.geometry, step)
    return step


def _run_of(state: MeasureState) -> _Run:
    run = _RUNS.get(state.objective)
    if run is None:  # not a geometry run: the Euclidean norm on the model's blocks
        run = _Run(Combined(L2Block(), "l2", name="l2").bind(layout_of(state.objective)), None)
        _RUNS[state.objective] = run
    return run


def _block_sharpness(op: Any, geo: Geometry, tol: float) -> float:
    from eostheory.torch._curvature import top_eigenpairs

    best = -float("inf")
    k = 0
    scales = geo.norm_.scales  # type: ignore[attr-defined]
    for i, size in enumerate(geo.layout.sizes):
        s = scales if isinstance(scales, float) else scales[i]
        lo, hi = k, k + size
        k = hi

        class _Restricted:
            n, device, dtype = size, op.device, op.dtype

            def matvec(self, v: Any, lo: int = lo, hi: int = hi) -> Any:
                full = torch.zeros(op.n, device=op.device, dtype=op.dtype)
                full[lo:hi] = v
                return op.matvec(full)[lo:hi]

        if size == 1:
            e = torch.zeros(op.n, device=op.device, dtype=op.dtype)
            e[lo] = 1
            lam = float(op.matvec(e)[lo])
        else:
            gen = torch.Generator(device="cpu").manual_seed(i)
            pairs = top_eigenpairs(_Restricted(), 1, method="lanczos", tol=tol, generator=gen)  # type: ignore[arg-type]
            lam = float(pairs.values[0])
        best = max(best, s * s * lam)
    return best


def generalized_sharpness(
    op: Any,
    geo: Geometry,
    *,
    warm: Any = None,
    gradient: Any = None,
    restarts: int = FW_RESTARTS,
    iters: int = FW_ITERS,
    tol: float | None = None,
    seed: int = 0,
) -> SharpnessEstimate:
    r"""Generalized sharpness of a network's Hessian by Frank–Wolfe, one Hessian-vector product per iteration.

    Args:
        op: the :class:`~eostheory.torch.HessianOperator`.
        geo: the norm on the flat parameters (e.g. ``get_norm("spectral").bind(layout_of(objective))``).
        warm: a previous maximiser (warm start).
        gradient: the gradient, whose steepest direction is also a start.
        restarts, iters: random restarts and iterations per start.
        tol: relative gap tolerance (default 1e-10 in float64, 1e-5 in float32).
        seed: seed of the random starts.

    Returns:
        :class:`~eostheory.geometry.SharpnessEstimate`.
    """
    if tol is None:
        tol = 1e-10 if op.dtype == torch.float64 else 1e-5
    like = op.gradient
    starts = [s for s in (warm, gradient) if s is not None and bool(torch.any(s != 0))]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return frank_wolfe(op.matvec, geo, like=like, restarts=restarts, iters=iters, tol=tol, starts=starts, rng=gen)


def _sharpness(state: MeasureState, run: _Run) -> dict[str, Any]:
    hit = run.cache.get("gs")
    if hit is not None and hit[0] == state.step:
        return hit[1]
    geo = run.geometry
    nm = geo.norm_
    out: dict[str, Any]
    if isinstance(nm, Combined) and nm.parts.__class__ is L2Block and nm.reduce == "l2" and nm.scales == 1.0:
        pairs = state.eigenpairs
        out = {"generalized_sharpness": max(float(pairs.values[0]), 0.0), "gs_gap": None, "gs_hvps": 0}
    elif isinstance(nm, Combined) and nm.parts.__class__ is L2Block and nm.reduce == "sum":
        tol = 1e-6 if state.hessian.dtype == torch.float64 else 1e-4
        out = {"generalized_sharpness": _block_sharpness(state.hessian, geo, tol), "gs_gap": None, "gs_hvps": None}
    else:
        est = generalized_sharpness(state.hessian, geo, warm=run.warm, gradient=state.gradient, seed=state.step)
        run.warm = est.direction.detach()
        out = {"generalized_sharpness": est.value, "gs_gap": est.gap, "gs_hvps": est.n_hvp}
    run.cache["gs"] = (state.step, out)
    return out


def _two_over_eta(h: Mapping[str, float]) -> float | None:
    eta = h.get("eta")
    return 2.0 / eta if eta else None


@measure(
    "generalized-sharpness",
    label="generalized sharpness $S_{\\|\\cdot\\|}$",
    cost=40.0,
    thresholds=(_two_over_eta,),
    panel="generalized",
    needs=("hessian",),
    description="max_(|d|<=1) d^T H d in the run's norm (exact for l2 and block, else Frank-Wolfe; "
    "also gs_gap, gs_hvps)",
)
def _generalized_sharpness(state: MeasureState) -> dict[str, Any]:
    return _sharpness(state, _run_of(state))


@measure(
    "normalized-generalized-sharpness",
    label="$S_{\\|\\cdot\\|}/\\|\\nabla L\\|_*$",
    cost=40.0,
    thresholds=(_two_over_eta,),
    panel="normalized-generalized",
    needs=("hessian",),
    description="generalized sharpness over the dual gradient norm (the normalized methods' quantity; "
    "also dual_grad_norm)",
)
def _normalized_generalized_sharpness(state: MeasureState) -> dict[str, Any]:
    run = _run_of(state)
    s = _sharpness(state, run)["generalized_sharpness"]
    dual = float(run.geometry.dual(state.gradient))
    return {"normalized_generalized_sharpness": s / dual if dual > 0 else None, "dual_grad_norm": dual}


@measure(
    "step-smoothness",
    label="directional smoothness along the step",
    cost=6.0,
    thresholds=(_two_over_eta,),
    panel="step-smoothness",
    needs=("hessian",),
    description="Mishkin et al. (2024) point-wise D, path-wise A, optimal H (and signed H) along the run's "
    "next full-batch step, in the run's norm (steepest-descent optimizers only; null otherwise)",
)
def _step_smoothness(state: MeasureState) -> dict[str, Any]:
    run = _run_of(state)
    keys = ("smoothness_D", "smoothness_A", "smoothness_H", "smoothness_H_signed")
    if run.step is None:
        return dict.fromkeys(keys)
    w = state.w.detach()
    y, _ = run.step(w, state.gradient, state.optimizer_state)
    obj = state.objective

    def grad(x: Any) -> Any:
        return obj.value_and_grad(x)[1]

    r = step_smoothness(
        obj.value,
        grad,
        w,
        y,
        run.geometry,
        gx=state.gradient,
        lx=state.loss,
        hvp=state.hessian.matvec,
    )
    return dict(zip(keys, (r["D"], r["A"], r["H"], r["H_signed"]), strict=True))


def generalized_sharpness_measure(norm: Any, name: str | None = None, **options: Any) -> Measure:
    """A measure of the generalized sharpness in a norm of your choice (not the run's), for ``track``.

    Args:
        norm: a norm name (``"linf"``, ``"spectral"``, …) or a :class:`~eostheory.geometry.Norm`.
        name: the measure's name (default ``generalized-sharpness-NORM``).
        options: Frank–Wolfe settings (``restarts``, ``iters``, ``tol``).

    Examples:
        >>> import eostheory.torch as et
        >>> m = generalized_sharpness_measure("linf")
        >>> r = et.train("mlp", et.digits(n=40), eta=0.1, steps=2, track=[m], track_every=2, device="cpu",
        ...              model_kwargs={"widths": [4]}, dtype="float64")
        >>> r.series["generalized_sharpness_linf"][0] > 0
        True
    """
    nm = get_norm(norm)
    label = name or f"generalized-sharpness-{nm.name}"
    warm: dict[int, Any] = {}

    def fn(state: MeasureState) -> dict[str, Any]:
        geo = nm.bind(layout_of(state.objective))
        key = id(state.objective)
        est = generalized_sharpness(
            state.hessian, geo, warm=warm.get(key), gradient=state.gradient, seed=state.step, **options
        )
        warm[key] = est.direction.detach()
        k = label.replace("-", "_")
        return {k: est.value, f"{k}_gap": est.gap}

    return Measure(
        label,
        fn,
        f"$S$ in {nm.name}",
        40.0,
        (_two_over_eta,),
        "generalized",
        frozenset({"hessian"}),
        f"generalized sharpness in the {nm.name} norm (Frank-Wolfe)",
    )
