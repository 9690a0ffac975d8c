"""A bound on the work one call does, measured so that a loaded machine does not fail it.

The input-safety tests assert that hostile or random text is answered quickly (an error or a
value, never a hang on something like ``9**9**9**9``).  Wall-clock time is the wrong measure
for that on a shared two-core CI machine: a second process, a pytest-xdist sibling or a
one-time import inflates it without the parser doing more work.  ``time.thread_time`` counts
only the CPU time of the calling thread, so it measures the parser's own work; the bound is
set well above the few milliseconds a parse takes and far below what a runaway expansion
needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

#: CPU seconds any single parse or derivation refusal may use.  A parse takes milliseconds; a
#: symbolic blow-up (a huge integer power, a nested expansion) takes minutes or exhausts memory.
PARSE_CPU_S = 10.0


@contextmanager
def cpu_bounded(seconds: float = PARSE_CPU_S) -> Iterator[None]:
    """Fail if the body uses more than ``seconds`` of this thread's CPU time."""
    t0 = time.thread_time()
    yield
    used = time.thread_time() - t0
    assert used < seconds, f"used {used:.2f} s of CPU time, the bound is {seconds} s"
