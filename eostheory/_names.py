"""Name checking with suggestions (``did you mean ...?``), shared by the command line and the sweeps."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from eostheory._errors import EosInputError

__all__ = ["check_name", "suggest"]


def suggest(name: str, known: Iterable[str], *, n: int = 3) -> str:
    """``"did you mean 'a' or 'b'?"`` for the nearest of ``known`` (difflib), or ``""``.

    Examples:
        >>> suggest("selfsta", ["selfstab", "quartic"])
        "did you mean 'selfstab'?"
    """
    close = difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"


def check_name(kind: str, name: str, known: Iterable[str]) -> str:
    """``name`` if it is one of ``known``, else a one-line error suggesting the nearest names.

    Args:
        kind: what the name names (``"optimizer"``, ``"flow"``), for the message.
        name: the name given.
        known: the valid names.

    Returns:
        ``name``, stripped.

    Raises:
        EosInputError: ``name`` is not known.

    Examples:
        >>> check_name("flow", "central", ["gradient", "central"])
        'central'
    """
    names = list(known)
    text = str(name).strip()
    if text in names:
        return text
    hint = suggest(text, names)
    raise EosInputError(f"unknown {kind} {text!r}; {hint + ' ' if hint else ''}known: {', '.join(names)}")
