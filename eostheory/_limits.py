"""Time limits for symbolic derivations that can run for minutes.

A sympy derivation (factorising a large characteristic polynomial, solving for a
cycle) cannot be interrupted from outside, so :func:`time_limit` uses the operating
system's interval timer: ``SIGALRM`` raises :class:`DerivationTimeoutError` inside the
running Python code, which unwinds the derivation.  This works in the main thread of a
process on POSIX systems (the command line and most scripts); elsewhere (worker
threads, Windows) the limit is not enforced and the derivation runs to completion.

The timer repeats every :data:`_REPEAT` seconds after the limit until the block ends.
An exception raised while Python runs a garbage-collector callback (a profiler's, or
hypothesis's) is not propagated but reported as "unraisable", and a broad ``except`` in
library code can swallow it too; the next alarm then raises it again in ordinary code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from eostheory._errors import EosInputError

__all__ = ["DerivationTimeoutError", "default_time_limit", "time_limit"]

_REPEAT = 0.05  # seconds between alarms once the limit has passed
_OWN_FILES = frozenset({__file__, contextlib.__file__})


class DerivationTimeoutError(EosInputError):
    """A derivation did not finish within its time limit."""


def default_time_limit() -> float:
    """Seconds allowed to one derivation: ``EOSTHEORY_TIME_LIMIT`` or 60 (``0`` disables)."""
    try:
        return max(0.0, float(os.environ.get("EOSTHEORY_TIME_LIMIT", "60")))
    except ValueError:
        return 60.0


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`DerivationTimeoutError` if the block runs longer than ``seconds``.

    Args:
        seconds: the limit; ``None`` takes :func:`default_time_limit`, ``0`` disables it.
        what: what is being derived, for the message.

    Raises:
        DerivationTimeoutError: the limit was reached (message: what, the limit, how to raise it).

    Examples:
        >>> import time
        >>> try:
        ...     with time_limit(0.05, "a nap"):
        ...         time.sleep(1)
        ... except DerivationTimeoutError as exc:
        ...     print(str(exc).split(";")[0])
        a nap did not finish within 0.05 s
    """
    limit = default_time_limit() if seconds is None else float(seconds)
    usable = (
        limit > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0  # never override an outer timer
    )
    if not usable:
        yield
        return

    state = {"active": True}

    def _alarm(signum: int, frame: FrameType | None) -> None:
        # never raise once the block has ended, nor inside this module's or contextlib's own
        # frames (the clean-up below must run, whatever alarm arrives during it)
        if not state["active"] or (frame is not None and frame.f_code.co_filename in _OWN_FILES):
            return
        raise DerivationTimeoutError(
            f"{what} did not finish within {limit:g} s; it is too large for exact algebra "
            "(raise the limit with time_limit=... or EOSTHEORY_TIME_LIMIT=SECONDS, 0 for none)"
        )

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit, _REPEAT)
    try:
        yield
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
