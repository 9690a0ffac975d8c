"""Strict-JSON conversion shared by the CLI, run directories and reports.

JSON has no NaN or infinity.  Every file and every ``--json`` output of eostheory is
strict: :func:`jsonable` turns a non-finite float into ``null``, :func:`non_finite`
says which values those were (so the reason can be reported next to the ``null``), and
:func:`dumps_strict` / :func:`write_json` serialize with ``allow_nan=False``, so a
non-finite number can never slip through unconverted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._io import atomic_write_text

__all__ = ["NON_FINITE_KEY", "dumps_strict", "jsonable", "non_finite", "write_json"]

#: Key added by ``dumps_strict(..., annotate=True)`` to a top-level dict holding non-finite
#: values: ``{"average.loss": "nan", ...}`` (the path of each value written as ``null``).
NON_FINITE_KEY = "non_finite"


def jsonable(x: Any) -> Any:
    """Convert numpy types, tuples and paths for ``json.dumps``; non-finite floats become ``None``.

    Args:
        x: any nesting of dicts, lists, tuples, numpy arrays and scalars, paths and JSON values.

    Returns:
        The same structure made of JSON types only.

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


def non_finite(x: Any, prefix: str = "") -> dict[str, str]:
    """The non-finite floats in a nested structure, by dotted path.

    Args:
        x: the structure (as accepted by :func:`jsonable`).
        prefix: path of ``x`` itself.

    Returns:
        ``{path: "nan" | "inf" | "-inf"}``; list items are addressed as ``key[i]``.

    Examples:
        >>> non_finite({"final": {"loss": float("nan")}, "w": [1.0, float("inf")]})
        {'final.loss': 'nan', 'w[1]': 'inf'}
    """
    out: dict[str, str] = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out.update(non_finite(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(x, list | tuple | np.ndarray):
        for i, v in enumerate(x.tolist() if isinstance(x, np.ndarray) else x):
            out.update(non_finite(v, f"{prefix}[{i}]"))
    elif isinstance(x, float | np.floating) and not math.isfinite(float(x)):
        out[prefix] = str(float(x))
    return out


def dumps_strict(obj: Any, *, indent: int | None = 2, annotate: bool = False) -> str:
    """Serialize as strict JSON (never ``NaN``/``Infinity``), ending with a newline.

    Args:
        obj: the object (converted with :func:`jsonable`).
        indent: as in :func:`json.dumps`.
        annotate: when ``obj`` is a dict holding non-finite floats, add
            :data:`NON_FINITE_KEY` listing them, so a reader sees why a value is ``null``.

    Returns:
        The JSON text.

    Examples:
        >>> print(dumps_strict({"loss": float("nan")}, indent=None, annotate=True), end="")
        {"loss": null, "non_finite": {"loss": "nan"}}
    """
    data = jsonable(obj)
    if annotate and isinstance(obj, dict):
        bad = non_finite(obj)
        if bad:
            data[NON_FINITE_KEY] = bad
    return json.dumps(data, indent=indent, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any, *, annotate: bool = False) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically (a temporary file, then a rename).

    Args:
        path: the file to write (its directory must exist).
        obj: the object (see :func:`dumps_strict`).
        annotate: see :func:`dumps_strict`.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: the directory cannot be written.
    """
    out = Path(path)
    atomic_write_text(out, dumps_strict(obj, annotate=annotate))
    return out
