"""Axes of a sweep: grids, lists, random samples and explicit point lists, as text values.

An axis is a name and a list of values, each the text the command's parser will be given.
Numbers made here (ranges, samples) are written with 15 significant digits, so that
``0.3:0.52:12`` gives ``0.32`` rather than ``0.32000000000000006``; nothing is evaluated:
range ends and sample bounds are read with ``float``, everything else is passed on as
text to the command, whose own parsers check it.

Specifications (the part after ``NAME=``):

* ``a:b:n`` -- ``n`` evenly spaced values from ``a`` to ``b`` (both included);
  ``a:b:n:log`` -- geometrically spaced (``a``, ``b`` > 0);
* ``v1,v2,v3`` -- a list; ``v1;v2;v3`` when the values hold commas (``x0=0.01,1.5;0.02,1.5``);
* samples (``--sample``): ``lo:hi`` uniform, ``lo:hi:log`` log-uniform, ``lo:hi:int``
  integers from ``lo`` to ``hi`` inclusive, or a list, drawn from uniformly.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from eostheory._errors import EosInputError

__all__ = [
    "MAX_POINTS",
    "combine",
    "format_number",
    "parse_axis",
    "parse_sample",
    "read_points",
    "sample_values",
    "split_assignment",
]

#: the most points one sweep may have
MAX_POINTS = 100_000


def format_number(x: float) -> str:
    """A number as text with 15 significant digits (integers without a decimal point).

    Examples:
        >>> format_number(0.3 + 2 * 0.02), format_number(1e4), format_number(2.5e-7)
        ('0.34', '10000', '2.5e-07')
    """
    return format(float(x), ".15g")


def split_assignment(text: str, option: str) -> tuple[str, str]:
    """``"eta=0.1:0.5:9"`` as ``("eta", "0.1:0.5:9")`` (split at the first ``=``).

    Raises:
        EosInputError: no ``=``, or no name before it.
    """
    name, eq, spec = str(text).partition("=")
    if not eq or not name.strip():
        raise EosInputError(f"{option} {text!r}: write NAME=VALUES, e.g. {option} eta=0.1:0.5:9")
    return name.strip(), spec.strip()


def _shown(text: str) -> str:
    """``text`` on one line: control characters escaped (a message is always one line)."""
    return text if text.isprintable() else repr(text)[1:-1]


def _float(text: str, what: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise EosInputError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(x):
        raise EosInputError(f"{what} must be finite, got {text!r}")
    return x


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _count(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise EosInputError(f"{what}: the number of values must be an integer, got {text!r}") from None
    if n < 1:
        raise EosInputError(f"{what}: {n} values is an empty grid; give at least 1")
    if n > MAX_POINTS:
        raise EosInputError(f"{what}: {n:,} values, more than the {MAX_POINTS:,} points a sweep may have")
    return n


def _list(spec: str, what: str) -> list[str]:
    sep = ";" if ";" in spec else ","
    values = [v.strip() for v in spec.split(sep)]
    if sep == ";":  # ``x0=0.01,1.5;`` is one value holding a comma
        values = [v for v in values if v]
    if not spec.strip() or not any(values):
        raise EosInputError(f"{what}: no values (an empty grid); give a list v1,v2 or a range a:b:n")
    if "" in values:
        raise EosInputError(f"{what}: an empty value in the list {spec!r}")
    return list(dict.fromkeys(values))


def parse_axis(name: str, spec: str) -> list[str]:
    """The values of one grid axis.

    Args:
        name: the axis, for messages.
        spec: ``a:b:n``, ``a:b:n:log``, ``v1,v2,…`` or ``v1;v2;…``.

    Returns:
        The values as text, duplicates dropped.

    Raises:
        EosInputError: no values, a count below 1, non-finite ends, or a log range
            through zero.

    Examples:
        >>> parse_axis("eta", "0.1:0.5:5")
        ['0.1', '0.2', '0.3', '0.4', '0.5']
        >>> parse_axis("eta", "1e-3:1e-1:3:log")
        ['0.001', '0.01', '0.1']
        >>> parse_axis("flows", "central:k=2;rod")
        ['central:k=2', 'rod']
    """
    import numpy as np

    what = f"--grid {name}={_shown(spec)}"
    parts = spec.split(":")
    numeric = len(parts) in (3, 4) and all(_is_number(p) for p in parts[:3])
    if numeric and (len(parts) == 3 or parts[3].strip() in ("log", "lin")):
        a, b = _float(parts[0], f"{what}: the start"), _float(parts[1], f"{what}: the stop")
        n = _count(parts[2], what)
        if len(parts) == 4 and parts[3].strip() == "log":
            if a <= 0 or b <= 0:
                raise EosInputError(f"{what}: a log range needs both ends > 0")
            xs = np.geomspace(a, b, n)
        else:
            xs = np.linspace(a, b, n)
        return list(dict.fromkeys(format_number(x) for x in xs))
    return _list(spec, what)


def parse_sample(name: str, spec: str) -> tuple[str, Any]:
    """A sampled axis: ``("uniform"|"log"|"int", (lo, hi))`` or ``("choice", values)``.

    Raises:
        EosInputError: bounds that are not finite numbers, ``lo > hi``, or log bounds <= 0.

    Examples:
        >>> parse_sample("eta", "0.1:0.5")
        ('uniform', (0.1, 0.5))
        >>> parse_sample("seed", "0:9:int")
        ('int', (0, 9))
    """
    what = f"--sample {name}={_shown(spec)}"
    parts = spec.split(":")
    if len(parts) in (2, 3) and all(_is_number(p) for p in parts[:2]):
        kind = parts[2].strip() if len(parts) == 3 else "uniform"
        if kind not in ("uniform", "log", "int"):
            raise EosInputError(f"{what}: the distribution is uniform, log or int, got {kind!r}")
        lo, hi = _float(parts[0], f"{what}: the low end"), _float(parts[1], f"{what}: the high end")
        if lo > hi:
            raise EosInputError(f"{what}: the low end {lo:g} is above the high end {hi:g}")
        if kind == "log" and lo <= 0:
            raise EosInputError(f"{what}: a log-uniform sample needs both ends > 0")
        if kind == "int":
            if lo != int(lo) or hi != int(hi):
                raise EosInputError(f"{what}: integer sampling needs integer ends")
            return kind, (int(lo), int(hi))
        return kind, (lo, hi)
    return "choice", _list(spec, what)


def sample_values(dist: tuple[str, Any], n: int, rng: Any) -> list[str]:
    """``n`` draws of one sampled axis (see :func:`parse_sample`) from the numpy generator ``rng``."""
    import numpy as np

    kind, arg = dist
    if kind == "uniform":
        return [format_number(x) for x in rng.uniform(arg[0], arg[1], n)]
    if kind == "log":
        return [format_number(x) for x in np.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]), n))]
    if kind == "int":
        return [str(int(x)) for x in rng.integers(arg[0], arg[1] + 1, n)]
    return [arg[int(i)] for i in rng.integers(0, len(arg), n)]


def _cell_text(value: Any) -> str:
    from eostheory.sweep._args import value_text

    return value_text(value)


def read_points(path: str | Path) -> list[dict[str, str]]:
    """An explicit list of points from a file: JSON (a list of objects), JSON lines, or CSV with a header.

    Args:
        path: the file.

    Returns:
        One dict per point, axis name -> value text.

    Raises:
        EosInputError: the file cannot be read, is not one of those formats, or holds no point.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EosInputError(f"--points {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    rows: list[Any]
    if p.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        try:
            data = json.loads(text)
            rows = data if isinstance(data, list) else [data]
        except json.JSONDecodeError:
            try:
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise EosInputError(
                    f"--points {path}: not JSON, JSON lines or CSV (line {exc.lineno}: {exc.msg})"
                ) from None
    if not rows:
        raise EosInputError(f"--points {path}: no points (an empty list)")
    out = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row:
            raise EosInputError(f"--points {path}: point {i} is not an object of NAME: VALUE")
        out.append({str(k).strip(): _cell_text(v) for k, v in row.items()})
    return out


def combine(factors: Sequence[Sequence[Mapping[str, str]]]) -> Iterator[dict[str, str]]:
    """The Cartesian product of lists of partial points (each a dict of axis values).

    Examples:
        >>> list(combine([[{"a": "1"}, {"a": "2"}], [{"b": "x"}]]))
        [{'a': '1', 'b': 'x'}, {'a': '2', 'b': 'x'}]
    """
    for parts in itertools.product(*factors):
        point: dict[str, str] = {}
        for part in parts:
            point.update(part)
        yield point


def product_size(factors: Iterable[Sequence[Any]]) -> int:
    """How many points the product of ``factors`` has."""
    n = 1
    for f in factors:
        n *= len(f)
    return n
