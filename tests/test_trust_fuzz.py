"""Fuzzing the small parsers of user text: ``--set`` pairs, number lists, grid axes, samples.

The formula parser and update rules are fuzzed in ``test_trust_parse.py``.  Every parser
here must either return a well-formed value or raise a one-line
:class:`~eostheory.EosInputError`, quickly, for any text — no other exception, no
non-finite number slipping through, no huge allocation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from _limits import cpu_bounded
from hypothesis import given, settings
from hypothesis import strategies as st

from eostheory import EosInputError
from eostheory.cli._common import parse_assignments, parse_floats, parse_names

PIECES = [
    "0", "1", "-1", "0.5", "1e-3", "1e308", "1e309", "-1e400", "inf", "-inf", "nan", "NaN", "1_000", "0x10", "1j",
    "S", "Q", "beta", "eta", "_", "__class__", "=", "==", ",", ";", ":", "log", "lin", "int", "uniform", " ", "",
    "'", '"', "(", ")", "[", "]", ".", "-", "+", "*", "e", "9" * 30, "\x00", "é", "\n", "\t",
]  # fmt: skip
TEXT = st.lists(st.sampled_from(PIECES), min_size=0, max_size=20).map("".join) | st.text(max_size=40)

_FAST = settings(max_examples=500, deadline=None)
_SLOW = settings(max_examples=5000, deadline=None)


def _total(call: Callable[[], object], check: Callable[[object], None]) -> None:
    with cpu_bounded():
        try:
            out = call()
        except EosInputError as exc:
            assert "\n" not in str(exc) and "\r" not in str(exc)
        else:
            check(out)


def _finite_floats(out: object) -> None:
    assert isinstance(out, list) and out and all(isinstance(x, float) and math.isfinite(x) for x in out)


def _assignments(out: object) -> None:
    assert isinstance(out, dict)
    assert all(k.isidentifier() and isinstance(v, float) and math.isfinite(v) for k, v in out.items())


def _names(out: object) -> None:
    assert out is None or (isinstance(out, list) and out and all(n.isidentifier() for n in out))


def _axis(out: object) -> None:
    assert isinstance(out, list) and 1 <= len(out) <= 100_000 and all(isinstance(v, str) and v for v in out)


def _sample(out: object) -> None:
    assert isinstance(out, tuple) and out[0] in ("uniform", "log", "int", "choice")
    if out[0] != "choice":
        lo, hi = out[1]
        assert math.isfinite(lo) and math.isfinite(hi) and lo <= hi


def _cases() -> list[tuple[str, Callable[[str], object], Callable[[object], None]]]:
    cases: list[tuple[str, Callable[[str], object], Callable[[object], None]]] = [
        ("parse_floats", lambda t: parse_floats(t, "--x0"), _finite_floats),
        ("parse_assignments", parse_assignments, _assignments),
        ("parse_names", parse_names, _names),
    ]
    try:
        from eostheory.sweep._grid import parse_axis, parse_sample
    except ImportError:  # the sweep extra is not installed
        return cases
    cases += [
        ("parse_axis", lambda t: parse_axis("eta", t), _axis),
        ("parse_sample", lambda t: parse_sample("eta", t), _sample),
    ]
    return cases


CASES = _cases()


@pytest.mark.parametrize(("name", "parser", "check"), CASES, ids=[c[0] for c in CASES])
@_FAST
@given(text=TEXT)
def test_fuzz_small_parsers(name: str, parser: Callable[[str], object], check: Callable, text: str) -> None:
    _total(lambda: parser(text), check)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "parser", "check"), CASES, ids=[c[0] for c in CASES])
@_SLOW
@given(text=TEXT)
def test_fuzz_small_parsers_long(name: str, parser: Callable[[str], object], check: Callable, text: str) -> None:
    _total(lambda: parser(text), check)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("S=inf", "finite"), ("S=1e309", "finite"), ("S", "NAME=VALUE"), ("1x=2", "not a name"), ("S=nan", "finite")],
)
def test_assignments_refused(text: str, fragment: str) -> None:
    with pytest.raises(EosInputError, match=fragment):
        parse_assignments(text)
