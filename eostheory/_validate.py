"""Small validators shared by the Python API and the CLI."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

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


#: The largest integer a compiled (numba, int64) loop accepts.
INT64_MAX = 2**63 - 1


def _as_int(name: str, value: object) -> int:
    """``value`` as an exact int: ints, integral floats, and strings such as ``"10000"`` or ``"1e4"``."""
    if isinstance(value, bool):
        raise EosInputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            dec = Decimal(text)
        except InvalidOperation:
            raise EosInputError(f"{name} must be an integer, got {value!r}") from None
        if not dec.is_finite() or dec != dec.to_integral_value():
            raise EosInputError(f"{name} must be an integer, got {value!r}")
        return int(dec)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or not float(value).is_integer():
            raise EosInputError(f"{name} must be an integer, got {value!r}")
        return int(value)
    raise EosInputError(f"{name} must be an integer, got {value!r}")


def positive_int(name: str, value: object, *, allow_zero: bool = False, maximum: int | None = INT64_MAX) -> int:
    """Return ``value`` as an int > 0 (or >= 0), at most ``maximum``, or raise :class:`EosInputError`.

    Args:
        name: what the value is, for the message (e.g. ``"steps"``).
        value: an int, an integral float, or a string such as ``"10000"`` or ``"1e4"``.
        allow_zero: accept 0.
        maximum: the largest accepted value (default: the int64 range of the compiled
            loops, so an oversized count is refused here rather than deep inside numba);
            ``None`` for no bound.

    Returns:
        The integer.

    Raises:
        EosInputError: not an integer, negative (or zero), or above ``maximum``.

    Examples:
        >>> positive_int("steps", "1e4")
        10000
    """
    k = _as_int(name, value)
    if k < 0 or (k == 0 and not allow_zero):
        raise EosInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {k}")
    if maximum is not None and k > maximum:
        raise EosInputError(f"{name} must be at most {maximum:,}, got {value!s}")
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
