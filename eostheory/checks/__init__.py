"""The validation battery behind ``eostheory check``.

Each check compares a number computed by eostheory with a closed form or theory and
returns :class:`CheckResult` records (name, value, expected, tolerance, passed).  Checks
are plain functions registered with :func:`check`; every module ``eostheory/checks/_*.py``
is discovered automatically, so a new model adds its checks in a file of its own.
"""

from __future__ import annotations

import difflib
import importlib
import math
import pkgutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from eostheory._errors import EosInputError

__all__ = [
    "Check",
    "CheckResult",
    "check",
    "close",
    "format_failures",
    "format_summary",
    "format_table",
    "format_tally",
    "groups",
    "registry",
    "run_checks",
    "select_checks",
]

#: width the default output of ``eostheory check`` fits in
WIDTH = 100


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


def groups(checks: Iterable[Check] | None = None) -> list[str]:
    """The check groups in pipeline order (of ``checks``, default the whole registry)."""
    out: list[str] = []
    for c in registry() if checks is None else checks:
        if c.group not in out:
            out.append(c.group)
    return out


def select_checks(full: bool = False, groups_: Iterable[str] | None = None) -> list[Check]:
    """The checks a run of the battery executes.

    Args:
        full: include the long (``full_only``) checks.
        groups_: only these groups (``None``: all).

    Returns:
        The selected checks in registry order.

    Raises:
        EosInputError: an unknown group (the known ones are listed, the nearest suggested),
            or a selection with no check in it (a typo must never pass as "0 failed").
    """
    checks = registry()
    known = groups(checks)
    wanted = None if groups_ is None else [g.strip() for g in groups_]
    if wanted is not None:
        unknown = [g for g in wanted if g not in known]
        if unknown:
            near = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}? " if near else ""
            names = ", ".join(map(repr, unknown))
            raise EosInputError(f"unknown check group(s) {names}; {hint}the groups are {', '.join(known)}")
    chosen = [c for c in checks if (full or not c.full_only) and (wanted is None or c.group in wanted)]
    if not chosen:
        which = f"group(s) {', '.join(wanted)}" if wanted else "the battery"
        raise EosInputError(f"no check selected: {which} has only long checks, run it with --full")
    return chosen


def run_checks(
    full: bool = False,
    groups: Iterable[str] | None = None,
    progress: Callable[[CheckResult], None] | None = None,
    *,
    before: Callable[[Check], None] | None = None,
    after: Callable[[Check, list[CheckResult]], None] | None = None,
) -> list[CheckResult]:
    """Run the battery; a check that raises is reported as failed, never hidden.

    Args:
        full: include the long checks.
        groups: only these groups (an unknown group is an error, see :func:`select_checks`).
        progress: called with every result as it is known.
        before: called with each check before it runs.
        after: called with each check and its results.

    Returns:
        Every result in order.

    Raises:
        EosInputError: an unknown group, or nothing selected.
    """
    out: list[CheckResult] = []
    for chk in select_checks(full, groups):
        if before:
            before(chk)
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
        if after:
            after(chk, results)
    return out


def _fmt(x: Any, limit: int | None = None) -> str:
    text = f"{x:.10g}" if isinstance(x, float) else ("-" if x is None else str(x))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _clip(line: str, width: int | None) -> str:
    return line if width is None or len(line) <= width else line[: width - 1] + "…"


def _seconds(t: float) -> str:
    return f"{t:.1f} s" if t < 60 else f"{int(t // 60)} min {t % 60:02.0f} s"


def format_table(results: list[CheckResult], *, value_width: int | None = 14) -> str:
    """The full table, one row per check (``eostheory check --verbose``), and the tally.

    Names are never cut; values longer than ``value_width`` characters are (``None``:
    never), so the table stays readable.
    """
    rows = [("", "group", "check", "value", "expected", "tol", "time")]
    rows += [
        (
            "PASS" if r.passed else "FAIL",
            r.group,
            r.name,
            _fmt(r.value, value_width),
            _fmt(r.expected, value_width),
            _fmt(r.tolerance, value_width),
            f"{r.seconds:.2f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    failures = format_failures(results, width=None)
    return "\n".join([*lines, "", *([failures] if failures else []), format_tally(results)])


def format_failures(results: list[CheckResult], *, width: int | None = WIDTH) -> str:
    """One line per failed check: ``FAIL group: name: value …, expected …; detail`` (clipped to ``width``)."""
    lines = []
    for r in results:
        if r.passed:
            continue
        what = f"value {_fmt(r.value, 24)}, expected {_fmt(r.expected, 24)}"
        if r.tolerance is not None:
            what += f", tol {_fmt(r.tolerance)}"
        if r.value is None and r.expected is None:
            what = ""
        tail = "; ".join(x for x in (what, r.detail) if x)
        lines.append(_clip(f"FAIL {r.group}: {r.name}" + (f": {tail}" if tail else ""), width))
    return "\n".join(lines)


def format_tally(results: list[CheckResult]) -> str:
    """The final line: ``N passed, M failed in T``."""
    failed = sum(not r.passed for r in results)
    return f"{len(results) - failed} passed, {failed} failed in {_seconds(sum(r.seconds for r in results))}"


def format_summary(results: list[CheckResult], *, width: int = WIDTH) -> str:
    """The default report of ``eostheory check``: one row per group, the failures, the tally.

    At most ``width`` columns (a failure line is clipped; ``--verbose`` shows it whole).

    Examples:
        >>> rs = [CheckResult("a", 1.0, 1.0, 0.0, True, "g"), CheckResult("b", 2.0, 1.0, 0.1, False, "g")]
        >>> print(format_summary(rs))
        group  passed  failed  total       time
        ---------------------------------------
        g           1       1      2      0.0 s
        <BLANKLINE>
        FAIL g: b: value 2, expected 1, tol 0.1
        1 passed, 1 failed in 0.0 s
    """
    order: list[str] = []
    for r in results:
        if r.group not in order:
            order.append(r.group)
    gw = max([len("group"), *(len(g) for g in order)])
    head = f"{'group':<{gw}}  {'passed':>6}  {'failed':>6}  {'total':>5}  {'time':>9}"
    lines = [head, "-" * len(head)]
    for g in order:
        rs = [r for r in results if r.group == g]
        ok = sum(r.passed for r in rs)
        t = _seconds(sum(r.seconds for r in rs))
        lines.append(_clip(f"{g:<{gw}}  {ok:>6}  {len(rs) - ok:>6}  {len(rs):>5}  {t:>9}", width))
    failures = format_failures(results, width=width)
    lines += ["", *([failures] if failures else []), format_tally(results)]
    return "\n".join(lines)
