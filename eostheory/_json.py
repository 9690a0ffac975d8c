"""Strict-JSON conversion shared by the CLI, run directories and reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(x: Any) -> Any:
    """Convert numpy types, tuples and paths for ``json.dumps``; non-finite floats become ``None``.

    Examples:
        >>> jsonable({"a": np.float64(1.5), "b": (np.inf, 2)})
        {'a': 1.5, 'b': [None, 2]}
    """
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Path):
        return str(x)
    return x
