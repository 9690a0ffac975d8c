"""One-line notices on stderr: first-time compilations, derivations, and cache warnings.

Every new numba compilation of a generated kernel prints one line,
``eostheory: compiling <what> (first time only) ... done in 1.3 s``; a kernel loaded from
the on-disk cache prints nothing.  The line opens when numba starts compiling (numba
announces a compilation only on a cache miss) and closes when the compiled unit is
ready, so a long compilation is never silent.

Compile notices are silenced by ``EOSTHEORY_QUIET=1`` (read at each notice) or by
:func:`set_quiet`; warnings (a corrupt cache entry quarantined, an unusable cache
directory) are always printed, once per process each.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["install_listener", "is_quiet", "kernel_label", "progress", "set_quiet", "warn"]

_QUIET: bool | None = None
_WARNED: set[str] = set()
_LOCK = threading.RLock()
#: generated module names (``eos_pot_<hash>``, ``eos_run_<hash>``, ...)
_GENERATED = re.compile(r"eos_[a-z]+_[0-9a-f]{20}")


def set_quiet(flag: bool | None = True) -> None:
    """Silence (``True``) or enable (``False``) compile notices; ``None`` defers to ``EOSTHEORY_QUIET``.

    Args:
        flag: the switch; the command line's ``--quiet`` sets it.
    """
    global _QUIET
    _QUIET = flag


def is_quiet() -> bool:
    """Whether compile notices are silenced (:func:`set_quiet`, else ``EOSTHEORY_QUIET``).

    Returns:
        ``True`` when notices are off.
    """
    if _QUIET is not None:
        return _QUIET
    return os.environ.get("EOSTHEORY_QUIET", "").strip().lower() in {"1", "true", "yes", "on"}


def _write(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stderr must never stop a run
        pass


def warn(message: str) -> None:
    """Print ``eostheory: warning: <message>`` on stderr, once per process per message.

    Args:
        message: one line (newlines are folded into spaces).
    """
    line = " ".join(str(message).split())
    with _LOCK:
        if line in _WARNED:
            return
        _WARNED.add(line)
        if _STATE.line is not None and _STATE.line.printed and not _STATE.line.broken:
            _write("\n")  # do not glue the warning to an open "compiling ..." line
            _STATE.line.broken = True
        _write(f"eostheory: warning: {line}\n")


class _Line:
    def __init__(self, verb: str, label: str, owner: int, delay: float = 0.0) -> None:
        self.t0 = time.perf_counter()
        self.owner: int | None = owner  # depth of the progress() context closing it; -1: the compile event
        self.printed = False
        self.broken = False
        self.verb = verb
        self.label = label
        self.timer: threading.Timer | None = None
        if is_quiet():
            return
        if delay > 0:  # only if it turns out to be slow
            self.timer = threading.Timer(delay, self.open)
            self.timer.daemon = True
            self.timer.start()
        else:
            self.open()

    def open(self) -> None:
        with _LOCK:
            if not self.printed and self.owner is not None:
                self.printed = True
                _write(f"eostheory: {self.verb} {self.label} (first time only) ...")

    def close(self, ok: bool) -> None:
        with _LOCK:
            if self.timer is not None:
                self.timer.cancel()
            printed, self.printed = self.printed, False
            self.owner = None  # a late timer must not open it any more
        if not printed:
            return
        dt = time.perf_counter() - self.t0
        tail = f"done in {dt:.1f} s" if ok else f"failed after {dt:.1f} s"
        if self.broken:
            _write(f"eostheory: {self.verb} {self.label}: {tail}\n")
        else:
            _write(f" {tail}\n")


class _State:
    def __init__(self) -> None:
        self.labels: list[str] = []  # labels of the active progress() contexts
        self.line: _Line | None = None
        self.depth = 0  # nesting of numba compile events


_STATE = _State()


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: the title of a generated flow module: ``"central flow functions central1_core, ..."``
_FLOW_TITLE = re.compile(r"(?P<kind>[\w-]+) flow functions .*")
#: the parameter line a generated potential module starts with: ``# params = ['x', 'y']``
_PARAMS_LINE = re.compile(r"# params = \[(?P<names>[^\]]*)\]")


def _model_text(mod: Any) -> str | None:
    """``L(x, y) = <formula>`` (or the toy's name) for a generated potential module, from its header."""
    title = getattr(mod, "TITLE", None)
    if not isinstance(title, str):
        return None
    text = title.removeprefix("potential ").strip()
    if not text.startswith("L = "):
        return text
    names: list[str] = []
    try:
        with open(mod.__file__, encoding="utf-8") as f:
            for _ in range(8):  # the header is the module's first lines
                m = _PARAMS_LINE.fullmatch(f.readline().strip())
                if m:
                    names = re.findall(r"'([^']*)'", m.group("names"))
                    break
    except (OSError, TypeError, AttributeError):
        pass
    return f"L({', '.join(names)}) = {text[4:]}" if names else text


def kernel_label(dispatcher: Any) -> str | None:
    """What a compiled function is, for notices and errors.

    Args:
        dispatcher: a numba dispatcher.

    Returns:
        For a kernel of eostheory: ``<flow> flow for L(x, y) = <formula> (<function>)`` (or
        ``for <toy name>``) for a flow module, ``<module title> (<function>) on <potential
        title>`` for a run module, ``<module title> (<function>)`` otherwise; ``None`` for
        anyone else's function.
    """
    func = getattr(dispatcher, "py_func", None)
    modname = getattr(func, "__module__", "") or ""
    if not (_GENERATED.fullmatch(modname) or modname.startswith("eostheory.")):
        return None
    mod = sys.modules.get(modname)
    title = str(getattr(mod, "TITLE", modname))
    fname = getattr(func, "__name__", "?")
    # a run or flow module imports the potential's kernels: name the potential too
    kernels = getattr(getattr(getattr(mod, "loss", None), "py_func", None), "__module__", None)
    pot = sys.modules.get(kernels) if kernels and kernels != modname else None
    flow = _FLOW_TITLE.fullmatch(title)
    if flow is not None:  # the list of spliced functions says nothing to a user
        model = _model_text(pot) if pot is not None else None
        what = _short(model, 80) if model else "a potential"
        return _short(f"{flow.group('kind')} flow for {what} ({fname})", 110)
    label = f"{title} ({fname})"
    pot_title = getattr(pot, "TITLE", None)
    if pot_title:
        label += f" on {pot_title}"
    return _short(label)


def _on_compile_start(dispatcher: Any) -> None:
    with _LOCK:
        _STATE.depth += 1
        if _STATE.depth != 1 or _STATE.line is not None:
            return
        if _STATE.labels:
            _STATE.line = _Line("compiling", _STATE.labels[-1], len(_STATE.labels))
            return
        label = kernel_label(dispatcher)
        if label is not None:
            _STATE.line = _Line("compiling", label, -1)


def _on_compile_end(ok: bool) -> None:
    with _LOCK:
        _STATE.depth = max(0, _STATE.depth - 1)
        if _STATE.depth == 0 and _STATE.line is not None and _STATE.line.owner == -1:
            _STATE.line.close(ok)
            _STATE.line = None


@contextmanager
def progress(label: str, *, verb: str = "compiling", after: float | None = None) -> Iterator[None]:
    """Group the compilations inside the block under one notice line labelled ``label``.

    By default the line appears only if numba actually compiles something in the block
    (a cache hit prints nothing).  With ``after`` the block is known to be new work (a
    symbolic derivation about to be cached) and the line appears once it has run for
    ``after`` seconds, so quick work stays silent and slow work never is.

    Args:
        label: what is being built, e.g. ``"kernels of quartic"``.
        verb: the first word of the line (``"compiling"``, ``"deriving"``).
        after: seconds before the line appears for work that is new in any case.
    """
    install_listener()
    with _LOCK:
        _STATE.labels.append(_short(label))
        depth = len(_STATE.labels)
        if after is not None and _STATE.line is None:
            _STATE.line = _Line(verb, _STATE.labels[-1], depth, delay=after)
    ok = False
    try:
        yield
        ok = True
    finally:
        with _LOCK:
            if _STATE.line is not None and _STATE.line.owner == depth:
                _STATE.line.close(ok)
                _STATE.line = None
            _STATE.labels.pop()


_INSTALLED = False


def install_listener() -> None:
    """Register (once) a listener for numba's ``numba:compile`` event (sent only on a cache miss)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    try:
        from numba.core import event
    except Exception:  # numba missing or without events: no notices, nothing else changes
        return

    class _Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            _on_compile_start((ev.data or {}).get("dispatcher"))

        def on_end(self, ev: Any) -> None:
            # numba keeps the exception of a failed compilation in _exc_details (None on success)
            _on_compile_end(getattr(ev, "_exc_details", None) is None)

    event.register("numba:compile", _Listener())
