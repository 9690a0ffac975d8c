"""The cost model of the flows on torch objectives: gradient-equivalents per primitive, nominal or timed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eostheory.torch._backend import require_torch
from eostheory.torch._objective import Objective

torch = require_torch()

__all__ = ["CostModel", "measure_costs", "sync"]


@dataclass(frozen=True)
class CostModel:
    r"""Cost of each primitive in gradient-equivalents (a plain gradient is 1).

    Attributes:
        graph: a gradient with ``create_graph=True`` (the start of a :class:`HessianOperator`).
        hvp: one Hessian-vector product through an existing graph.
        third: one contraction :math:`\nabla(u^\top H u)` through an existing graph.
        measured: whether the numbers were timed (:func:`measure_costs`) or are nominal.
        seconds_gradient: the timed plain gradient (``None`` when nominal).
    """

    graph: float = 1.5
    hvp: float = 2.0
    third: float = 4.0
    measured: bool = False
    seconds_gradient: float | None = None

    def cost(self, work: Mapping[str, float]) -> float:
        """Gradient-equivalents of a work record (``gradients``, ``graphs``, ``hvps``, ``thirds``)."""
        return (
            float(work.get("gradients", 0))
            + self.graph * float(work.get("graphs", 0))
            + self.hvp * float(work.get("hvps", 0))
            + self.third * float(work.get("thirds", 0))
        )


def measure_costs(objective: Objective, theta: Any = None, *, repeats: int = 20) -> CostModel:
    r"""Time a gradient, a graph build, an HVP and a third-derivative contraction at ``theta``.

    Args:
        objective: the objective.
        theta: the point (``objective.theta0`` by default).
        repeats: timings per primitive (the median is used).

    Returns:
        A :class:`CostModel` with ``measured=True``.
    """
    th = objective.as_theta(objective.theta0 if theta is None else theta)
    saved = objective.work.as_dict()
    gen = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(objective.n_params, generator=gen, dtype=torch.float64).to(th.device, th.dtype)
    u = u / torch.linalg.vector_norm(u)

    def timed(f: Any) -> float:
        ts = []
        for _ in range(max(3, int(repeats))):
            sync(th)
            t0 = time.perf_counter()
            f()
            sync(th)
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    t_grad = timed(lambda: objective.value_and_grad(th))
    t_graph = timed(lambda: objective.hessian(th))
    op = objective.hessian(th)
    t_hvp = timed(lambda: op.matvec(u))
    t_third = timed(lambda: op.third(u, check=False))
    objective.work.load(saved)
    return CostModel(t_graph / t_grad, t_hvp / t_grad, t_third / t_grad, True, t_grad)


def sync(t: Any) -> None:
    if t.device.type == "cuda":  # pragma: no cover - needs a GPU
        torch.cuda.synchronize(t.device)
