r"""The network oracle: the flows' reference fields on a torch objective, matrix-free.

:class:`NetworkOracle` implements the oracle of :mod:`eostheory.flows._oracle` over an
:class:`~eostheory.torch.Objective`: a point asked for curvature builds one gradient graph
(:class:`HessianOperator`) whose gradient, Hessian-vector products and third-derivative
contractions :math:`\nabla(u^\top H v)` share it; a point asked for its gradient only
spends one plain gradient.  Top eigenpairs come from the dense Hessian for small
objectives or warm-started Lanczos (:class:`EigenTracker`) otherwise.  Every primitive is
counted (:class:`WorkCounter`), so the flows' cost per step is measured, not assumed.
:data:`TORCH` is the torch array namespace the fields compute with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eostheory.flows._oracle import ArrayOps, OracleBase
from eostheory.torch._backend import require_torch
from eostheory.torch._curvature import EigenTracker
from eostheory.torch._objective import HessianOperator, Objective

torch = require_torch()

__all__ = ["TORCH", "EigenSource", "NetworkOracle", "TorchOps", "WorkCounter", "add_work"]


class TorchOps(ArrayOps):
    """The array namespace of the fields on torch tensors (dtype and device of the state)."""

    name = "torch"

    @staticmethod
    def asarray(x: Any, like: Any = None) -> Any:
        if like is None:
            return torch.as_tensor(x)
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)

    @staticmethod
    def zeros(n: int | tuple[int, ...], like: Any) -> Any:
        return torch.zeros(n, dtype=like.dtype, device=like.device)

    @staticmethod
    def cat(parts: list[Any]) -> Any:
        return torch.cat([p.reshape(-1) for p in parts])

    @staticmethod
    def cat_columns(blocks: list[Any]) -> Any:
        return torch.cat(blocks, 1)

    @staticmethod
    def stack(rows: list[Any]) -> Any:
        return torch.stack(rows)

    @staticmethod
    def dot(a: Any, b: Any) -> float:
        return float(a @ b)

    @staticmethod
    def norm(a: Any) -> float:
        return float(torch.linalg.vector_norm(a))

    @staticmethod
    def outer(a: Any, b: Any) -> Any:
        return torch.outer(a, b)

    @staticmethod
    def copy(a: Any) -> Any:
        return a.clone()

    @staticmethod
    def to_numpy(a: Any) -> np.ndarray:
        return a.detach().double().cpu().numpy()

    @staticmethod
    def from_numpy(a: np.ndarray, like: Any) -> Any:
        return torch.as_tensor(a, dtype=like.dtype, device=like.device)

    @staticmethod
    def eigh(a: Any) -> tuple[Any, Any]:
        return torch.linalg.eigh(0.5 * (a + a.T))

    @staticmethod
    def qr(a: Any) -> tuple[Any, Any]:
        return torch.linalg.qr(a)

    @staticmethod
    def diag(a: Any) -> Any:
        return torch.diag(a)

    @staticmethod
    def flip_columns(a: Any) -> Any:
        return a.flip(1)

    @staticmethod
    def sqrt_pos(a: Any) -> Any:
        return torch.sqrt(torch.clamp(a, min=0.0))

    @staticmethod
    def all_finite(a: Any) -> bool:
        return bool(torch.all(torch.isfinite(a)))

    @staticmethod
    def maxabs(a: Any) -> float:
        return float(a.abs().max()) if a.numel() else 0.0


#: the torch namespace
TORCH = TorchOps()


class WorkCounter:
    """Work of the vector field: deltas of the objective's counters plus graph builds."""

    def __init__(self, obj: Objective) -> None:
        self.obj = obj
        self.graphs = 0

    def snapshot(self) -> tuple[dict[str, int], int]:
        return self.obj.work.as_dict(), self.graphs

    def since(self, snap: tuple[dict[str, int], int]) -> dict[str, int]:
        w0, g0 = snap
        w1 = self.obj.work.as_dict()
        graphs = self.graphs - g0
        return {
            "gradients": w1["gradients"] - w0["gradients"] - graphs,
            "graphs": graphs,
            "hvps": w1["hvps"] - w0["hvps"],
            "thirds": w1["thirds"] - w0["thirds"],
            "losses": w1["losses"] - w0["losses"],
        }

    def hessian(self, theta: Any) -> HessianOperator:
        self.graphs += 1
        return self.obj.hessian(theta)


def add_work(acc: dict[str, int], d: Mapping[str, int]) -> None:
    """Add the counters ``d`` into ``acc``."""
    for k, v in d.items():
        acc[k] = acc.get(k, 0) + int(v)


class EigenSource:
    """Top eigenpairs along the trajectory: dense for small objectives, warm Lanczos otherwise.

    The vector field's ``k`` pairs and the observation's sharpness have their own warm
    trackers; another ``k`` (the rank-``r`` rod's initial extent, or the central flow's
    ``k = 0`` mode, which asks for one pair more than its last count) gets a warm tracker of
    its own, kept for the next request of that size.
    """

    def __init__(self, counter: WorkCounter, k: int, method: str, tol: float) -> None:
        self.cnt = counter
        self.k = max(1, k)
        self.method = method
        self.tol = tol
        self.tracker = EigenTracker(self.k, method=method, tol=tol) if method != "dense" else None
        self.obs_tracker = EigenTracker(1, method=method, tol=tol) if method != "dense" else None
        self.others: dict[int, EigenTracker] = {}

    def pairs(self, op: HessianOperator, k: int | None = None) -> tuple[np.ndarray, Any, float | None]:
        """Top-k values (descending, NumPy), vectors (columns) and the next value (dense only)."""
        k = self.k if k is None else k
        if self.tracker is None:
            H = op.dense()
            lam, V = torch.linalg.eigh(H)
            idx = torch.arange(op.n - 1, op.n - 1 - k, -1, device=V.device)
            nxt = float(lam[op.n - 1 - k]) if op.n > k else None
            return lam[idx].double().cpu().numpy(), V[:, idx], nxt
        if k == self.k:
            res = self.tracker(op)
            return np.asarray(res.values, dtype=np.float64), res.vectors, None
        if k not in self.others:
            method = "lanczos" if self.method == "power" else self.method  # power: top pair only
            self.others[k] = EigenTracker(k, method=method, tol=self.tol)
        res = self.others[k](op)
        return np.asarray(res.values, dtype=np.float64), res.vectors, None

    def top(self, w: Any) -> float:
        op = self.cnt.hessian(w)
        if self.obs_tracker is None:
            return float(torch.linalg.eigvalsh(op.dense())[-1])
        return self.obs_tracker(op).top


class _NetPoint:
    """The objective at one point: a plain gradient, or a gradient graph shared by HVPs and thirds."""

    def __init__(self, o: NetworkOracle, w: Any, curvature: bool) -> None:
        self.o = o
        self.w = w
        self._op: HessianOperator | None = o.cnt.hessian(w) if curvature else None
        self._g: Any = None

    def _hess(self) -> HessianOperator:
        if self._op is None:
            self._op = self.o.cnt.hessian(self.w)
        return self._op

    def loss(self) -> float:
        return self.o.obj.value(self.w)

    def grad(self) -> Any:
        if self._op is not None:
            return self._op.gradient
        if self._g is None:
            _L, self._g = self.o.obj.value_and_grad(self.w)
        return self._g

    def hvp(self, v: Any) -> Any:
        return self._hess().matvec(v)

    def third(self, u: Any, v: Any = None) -> Any:
        op = self._hess()
        if v is None:
            return op.third(u)
        return 0.25 * (op.third(u + v) - op.third(u - v))  # polarization

    def eigh_top(self, k: int) -> tuple[np.ndarray, Any, float | None]:
        return self.o.eig.pairs(self._hess(), k)


class NetworkOracle(OracleBase):
    """The oracle over a torch :class:`Objective` (see the module docstring)."""

    def __init__(self, obj: Objective, counter: WorkCounter, eig: EigenSource) -> None:
        self.obj = obj
        self.cnt = counter
        self.eig = eig
        self.n = obj.n_params
        self.xp = TORCH
        self.flag = 0
        self.flag_value = 0.0

    def at(self, w: Any, curvature: bool = False) -> _NetPoint:
        return _NetPoint(self, w, curvature)

    def loss(self, w: Any) -> float:
        return self.obj.value(w)

    def sharpness(self, w: Any) -> float:
        return self.eig.top(w)
