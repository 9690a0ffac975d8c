"""The few array operations the geometry needs, on numpy arrays or torch tensors.

Every norm, steepest direction and Frank–Wolfe iteration in :mod:`eostheory.geometry` is
written once against these functions, so the same definition runs on numpy (toys, dense
references) and on torch tensors (networks, on the CPU or CUDA).  Torch is never
imported here: a tensor is recognised by its type's module, and torch is then already
loaded by whoever made the tensor.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = [
    "abs_",
    "amax",
    "as_scalar",
    "dot",
    "is_torch",
    "randn_like",
    "reshape",
    "sign",
    "sqrt",
    "stack",
    "sum_",
    "svd",
    "zeros_like",
]


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (without importing torch)."""
    return type(x).__module__.split(".")[0] == "torch"


def _torch() -> Any:
    return sys.modules["torch"]


def abs_(x: Any) -> Any:
    return _torch().abs(x) if is_torch(x) else np.abs(x)


def sign(x: Any) -> Any:
    """Elementwise sign with ``sign(0) = 0``."""
    return _torch().sign(x) if is_torch(x) else np.sign(x)


def sqrt(x: Any) -> Any:
    return _torch().sqrt(x) if is_torch(x) else np.sqrt(x)


def sum_(x: Any) -> Any:
    """Sum of all entries (a 0-dim tensor on torch, a numpy float otherwise)."""
    return _torch().sum(x) if is_torch(x) else np.sum(x)


def amax(x: Any) -> Any:
    """Largest entry (0 for an empty array)."""
    if is_torch(x):
        return _torch().amax(x) if x.numel() else x.new_zeros(())
    return np.max(x) if np.size(x) else np.float64(0.0)


def dot(a: Any, b: Any) -> Any:
    """:math:`\\langle a, b\\rangle` over all entries."""
    return sum_(a * b)


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    return x.reshape(shape)


def zeros_like(x: Any) -> Any:
    return _torch().zeros_like(x) if is_torch(x) else np.zeros_like(x)


def stack(values: list[Any]) -> Any:
    """Scalars (0-dim tensors or floats) as one 1-D array of the same backend."""
    if values and is_torch(values[0]):
        return _torch().stack([v.reshape(()) for v in values])
    return np.asarray([float(v) for v in values], dtype=np.float64)


def svd(x: Any) -> tuple[Any, Any, Any]:
    """Reduced SVD ``x = U diag(s) Vh``."""
    if is_torch(x):
        return _torch().linalg.svd(x, full_matrices=False)
    return np.linalg.svd(x, full_matrices=False)


def randn_like(x: Any, rng: Any) -> Any:
    """Standard normal entries shaped like ``x``: ``rng`` is a numpy Generator or a torch Generator (CPU)."""
    if is_torch(x):
        t = _torch()
        return t.randn(tuple(x.shape), generator=rng, dtype=x.dtype).to(x.device)
    return rng.standard_normal(np.shape(x))


def as_scalar(x: Any) -> float:
    """A backend scalar as a Python float (synchronises on CUDA)."""
    return float(x)
