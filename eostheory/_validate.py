"""Small validators shared by the Python API and the CLI."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from eostheory._errors import EosInputError


def finite_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float or raise :class:`EosInputError`."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EosInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise EosInputError(f"{name} must be finite, got {value!r}")
    return x


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a finite float > 0 or raise :class:`EosInputError`."""
    x = finite_float(name, value)
    if x <= 0:
        raise EosInputError(f"{name} must be > 0, got {x:g}")
    return x


def unit_interval(name: str, value: object) -> float:
    """Return ``value`` as a float in [0, 1) or raise :class:`EosInputError`."""
    x = finite_float(name, value)
    if not 0.0 <= x < 1.0:
        raise EosInputError(f"{name} must lie in [0, 1), got {x:g}")
    return x


def positive_int(name: str, value: object, *, allow_zero: bool = False) -> int:
    """Return ``value`` as an int > 0 (or >= 0) or raise :class:`EosInputError`."""
    try:
        k = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise EosInputError(f"{name} must be an integer, got {value!r}") from None
    if k != value and not isinstance(value, str | np.integer):
        raise EosInputError(f"{name} must be an integer, got {value!r}")
    if k < 0 or (k == 0 and not allow_zero):
        raise EosInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {k}")
    return k


def finite_vector(name: str, value: Sequence[float] | np.ndarray, n: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite float64 vector (of length ``n`` when given)."""
    try:
        arr = np.array(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise EosInputError(f"{name} must be a list of numbers, got {value!r}") from None
    if n is not None and arr.shape[0] != n:
        raise EosInputError(f"{name} has length {arr.shape[0]}, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise EosInputError(f"{name} must be finite, got {arr.tolist()}")
    return arr
