"""The validation battery behind ``eostheory check``.

Each check compares a number computed by eostheory with a closed form or theory and
returns :class:`CheckResult` records (name, value, expected, tolerance, passed).  Checks
are plain functions registered with :func:`check`; every module ``eostheory/checks/_*.py``
is discovered automatically, so a new model adds its checks in a file of its own.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Check", "CheckResult", "check", "close", "format_table", "registry", "run_checks"]


@dataclass
class CheckResult:
    """One verified claim: ``|value - expected| <= tolerance`` (or a boolean outcome)."""

    name: str
    value: Any
    expected: Any
    tolerance: float | None
    passed: bool
    group: str = ""
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite floats become strings)."""
        d = asdict(self)
        for k in ("value", "expected", "tolerance"):
            v = d[k]
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = str(v)
        return d


@dataclass(frozen=True)
class Check:
    """A registered check function and where it runs."""

    func: Callable[[], Iterable[CheckResult] | CheckResult]
    group: str
    full_only: bool = False
    name: str = field(default="")


_REGISTRY: list[Check] = []
_DISCOVERED = False


def check(group: str, *, full_only: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check function (returns one :class:`CheckResult` or an iterable of them).

    ``full_only`` checks run only under ``eostheory check --full``.
    """

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.append(Check(func, group, full_only, func.__name__))
        return func

    return deco


def close(name: str, value: float, expected: float, tol: float, *, rel: bool = False, detail: str = "") -> CheckResult:
    """A :class:`CheckResult` for ``|value - expected| <= tol`` (times ``|expected|`` if ``rel``)."""
    value = float(value)
    expected = float(expected)
    bound = tol * abs(expected) if rel else tol
    ok = math.isfinite(value) and abs(value - expected) <= bound
    return CheckResult(name, value, expected, tol, ok, detail=detail + (" (relative)" if rel else ""))


def _discover() -> None:
    global _DISCOVERED
    import eostheory.checks as pkg

    order = ["_optimizers", "_stability", "_flows", "_nets", "_torch"]  # pipeline order; others after
    mods = sorted(
        pkgutil.iter_modules(pkg.__path__), key=lambda i: (order.index(i.name) if i.name in order else 99, i.name)
    )
    for info in mods:
        if info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    _DISCOVERED = True


def registry() -> list[Check]:
    """All registered checks (every ``_*.py`` module of this package is imported on first call,
    even if some were imported directly before)."""
    if not _DISCOVERED:
        _discover()
    return list(_REGISTRY)


def run_checks(
    full: bool = False, groups: Iterable[str] | None = None, progress: Callable[[CheckResult], None] | None = None
) -> list[CheckResult]:
    """Run the battery; a check that raises is reported as failed, never hidden."""
    wanted = set(groups) if groups else None
    out: list[CheckResult] = []
    for chk in registry():
        if chk.full_only and not full:
            continue
        if wanted is not None and chk.group not in wanted:
            continue
        t0 = time.perf_counter()
        try:
            res = chk.func()
            results = [res] if isinstance(res, CheckResult) else list(res)
        except Exception as exc:  # report, do not hide
            results = [CheckResult(chk.name, None, None, None, False, detail=f"raised {type(exc).__name__}: {exc}")]
        dt = (time.perf_counter() - t0) / max(1, len(results))
        for r in results:
            r.group = r.group or chk.group
            r.seconds = dt
            out.append(r)
            if progress:
                progress(r)
    return out


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.10g}"
    return "-" if x is None else str(x)


def format_table(results: list[CheckResult]) -> str:
    """A readable fixed-width table of results with a final tally."""
    rows = [("", "group", "check", "value", "expected", "tol")]
    rows += [
        ("PASS" if r.passed else "FAIL", r.group, r.name, _fmt(r.value), _fmt(r.expected), _fmt(r.tolerance))
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    failed = sum(not r.passed for r in results)
    lines.append(f"\n{len(results) - failed} passed, {failed} failed")
    for r in results:
        if not r.passed and r.detail:
            lines.append(f"  FAIL {r.name}: {r.detail}")
    return "\n".join(lines)
