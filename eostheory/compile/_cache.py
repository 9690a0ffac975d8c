"""On-disk cache of generated kernel modules, with integrity checks.

A generated module is a real ``.py`` file named after a hash of its own source (which
embeds the expression, the generator version and the backend), so a changed potential,
a changed optimizer or a new version of the generator always gets a new module name and
can never reuse stale compiled code.  numba's ``cache=True`` then stores the machine code
beside the file, keyed by that file (see :mod:`eostheory.compile._jit` for how those files
are sealed with a hash).

Integrity:

* every write goes to a temporary file in the same directory, then ``os.replace``: a
  reader sees the old file or the new one, never half of one;
* a module is executed from the source in memory, after checking that the file on disk
  holds exactly that source (its hash is the module's name); a file that does not match
  (edited, truncated, not UTF-8) is moved to ``<cache>/quarantine/`` and rewritten, with
  one warning line.  No ``.pyc`` is ever written or read for a generated module;
* other cached text (the symbolic-net sources) starts with a ``# sha256=<hex>`` line over
  the rest of the file, checked on every load (:func:`read_sealed_text`);
* a cache directory that cannot be used (a file, a dangling link, not writable, holding
  another user's unreadable entries) is replaced, for the rest of the process, by a
  private temporary directory, with one warning line.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
import types
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from eostheory._errors import EosInputError
from eostheory._io import atomic_write_bytes
from eostheory.compile._notice import warn

__all__ = [
    "atomic_write_bytes",
    "cache_dir",
    "configured_cache_dir",
    "load_source_module",
    "quarantine",
    "read_sealed_text",
    "seal_text",
    "source_key",
    "write_sealed_text",
]


# configured directory -> private temporary directory used instead (for this process)
_FALLBACK: dict[str, Path] = {}
# configured directories already found usable in this process
_USABLE: set[str] = set()


def configured_cache_dir() -> Path:
    """The cache directory the user asked for (not checked).

    Returns:
        ``$EOSTHEORY_CACHE_DIR`` when set, else the user's cache directory
        (``$XDG_CACHE_HOME/eostheory``, ``~/.cache/eostheory``, or
        ``~/Library/Caches/eostheory`` on macOS).
    """
    env = os.environ.get("EOSTHEORY_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "eostheory"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "eostheory"


def _problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold the cache, or ``None`` when it can (creating it if needed)."""
    if folder.is_symlink() and not folder.exists():
        return "it is a dangling symbolic link"
    if folder.exists() and not folder.is_dir():
        return "it is not a directory"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"it cannot be created: {exc.strerror or exc}"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".eos-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"it is not writable: {exc.strerror or exc}"
    return None


def _private_dir(configured: Path, reason: str) -> Path:
    """Switch ``configured`` to a private temporary directory for this process (one warning)."""
    key = str(configured)
    if key in _FALLBACK:
        return _FALLBACK[key]
    private = Path(tempfile.mkdtemp(prefix="eostheory-cache-"))  # mode 0700
    atexit.register(shutil.rmtree, private, True)
    _FALLBACK[key] = private
    _USABLE.discard(key)
    warn(
        f"the kernel cache directory {configured} cannot be used ({reason}); using the private "
        f"temporary directory {private} for this process (compiled kernels will not be kept; "
        "set EOSTHEORY_CACHE_DIR to a writable directory)"
    )
    return private


def cache_dir() -> Path:
    """The kernel cache directory in use.

    :func:`configured_cache_dir` when it is usable (it is created if needed), else a
    private temporary directory for the rest of the process (one warning line).

    Returns:
        An existing, writable directory.
    """
    configured = configured_cache_dir()
    key = str(configured)
    if key in _FALLBACK:
        return _FALLBACK[key]
    if key not in _USABLE:
        reason = _problem(configured)
        if reason is not None:
            return _private_dir(configured, reason)
        _USABLE.add(key)
    return configured


def source_key(source: str) -> str:
    """A 20-hex-digit hash of a module's source.

    Args:
        source: the module's text.

    Returns:
        The first 20 hex digits of its SHA-256.
    """
    return hashlib.sha256(source.encode()).hexdigest()[:20]


def _one_line(text: object, limit: int = 160) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def quarantine(paths: Sequence[Path], what: str, reason: str, *, quiet: bool = False) -> None:
    """Move damaged cache files aside (into ``<cache>/quarantine/``) and print one warning line.

    A file that cannot be moved is deleted; one that has already gone (another process
    quarantined it first) is skipped.  The caller rebuilds the entry.

    Args:
        paths: the files of one cache entry.
        what: what the entry is, for the message.
        reason: why it is rejected, for the message.
        quiet: delete without a warning (an entry in an outdated format, not a damaged one).
    """
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if not existing:
        return
    if quiet:  # outdated, not damaged: nothing worth keeping
        for p in existing:
            try:
                p.unlink()
            except OSError:
                pass
        return
    moved_to: Path | None = None
    for p in existing:
        for folder in (cache_dir() / "quarantine", p.parent / "quarantine"):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                dest = folder / f"{p.name}.{uuid.uuid4().hex[:8]}"
                os.replace(p, dest)
                moved_to = folder
                break
            except FileNotFoundError:
                break  # gone already
            except OSError:
                continue
        else:
            try:
                p.unlink()
            except OSError:
                pass
    where = f"moved it to {moved_to}" if moved_to is not None else "removed it"
    warn(f"{what} was damaged ({_one_line(reason)}); {where} and rebuilt it")


# --------------------------------------------------------------------- sealed text files
_SEAL = "# sha256="


def seal_text(body: str) -> bytes:
    """``# sha256=<hex of body>`` then ``body``, as UTF-8.

    Args:
        body: the text to protect.

    Returns:
        The bytes to write.
    """
    data = body.encode()
    return f"{_SEAL}{hashlib.sha256(data).hexdigest()}\n".encode() + data


def read_sealed_text(path: Path) -> str | None:
    """The body of a sealed text file, or ``None`` when absent; a damaged file is quarantined.

    Args:
        path: a file written by :func:`write_sealed_text`.

    Returns:
        The body (checked against its hash), or ``None`` when the file is missing or was
        damaged (then it has been moved to the quarantine with one warning line).

    Raises:
        OSError: the file exists but cannot be read (e.g. another user's file).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    head, sep, data = raw.partition(b"\n")
    reason = None
    if not sep or not head.startswith(_SEAL.encode()):
        reason = "no content hash"
    elif head[len(_SEAL) :].decode("ascii", "replace") != hashlib.sha256(data).hexdigest():
        reason = "content hash mismatch"
    else:
        try:
            return data.decode()
        except UnicodeDecodeError:
            reason = "not UTF-8"
    quarantine([path], f"the cached kernel source {path.name}", reason)
    return None


def write_sealed_text(path: Path, body: str) -> None:
    """Write ``body`` sealed with its hash (:func:`seal_text`), atomically.

    Args:
        path: the destination.
        body: the text.
    """
    atomic_write_bytes(path, seal_text(body))


# --------------------------------------------------------------------- generated modules
def _ensure_module_file(folder: Path, name: str, data: bytes) -> Path:
    """``<folder>/<name>.py`` holding exactly ``data`` (written, or rewritten if damaged)."""
    path = folder / f"{name}.py"
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old == data:
        return path
    if old is not None:
        reason = "truncated" if data.startswith(old) else "its content does not match its hash"
        try:
            old.decode()
        except UnicodeDecodeError:
            reason = "not UTF-8"
        quarantine([path], f"generated module {name}", reason)
    atomic_write_bytes(path, data)
    return path


def _check_numba_entries(folder: Path, name: str) -> None:
    """Raise ``OSError`` when numba's cache files of module ``name`` exist but cannot be read."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    pyc = folder / "__pycache__"
    if not pyc.is_dir():
        return
    for p in pyc.glob(f"{name}.*"):
        with open(p, "rb") as fh:
            fh.read(1)


def _exec_module(name: str, path: Path, source: str) -> ModuleType:
    """Execute ``source`` (already checked against ``path``) as module ``name``; no ``.pyc`` involved.

    ``source`` is never user text: it is eostheory's own printer output for a sympy
    expression that was built by the allow-list parser (names become array slots, numbers
    literals), and it is executed only after its content matches the SHA-256 in its file
    name, so an edited cache file is rebuilt instead of run.  This is how any Python module
    is imported; ``importlib`` would do the same ``exec`` after reading a ``.pyc``.
    """
    code = compile(source, str(path), "exec", dont_inherit=True)
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    sys.modules[name] = mod
    try:
        exec(code, mod.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def load_source_module(prefix: str, source: str) -> ModuleType:
    """Write ``source`` as ``<cache>/<prefix>_<hash>.py`` (once, atomically) and import it.

    The file is checked against ``source`` before use and rewritten if damaged (one
    warning); the module runs from ``source`` itself, so a file changed on disk after the
    check cannot change what runs.  Memoized in ``sys.modules``.

    Args:
        prefix: module family, e.g. ``"eos_pot"``.
        source: the module's text.

    Returns:
        The module.

    Raises:
        EosInputError: not even a private temporary directory can hold the module.
    """
    name = f"{prefix}_{source_key(source)}"
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    data = source.encode()
    for attempt in range(2):
        folder = cache_dir()
        try:
            path = _ensure_module_file(folder, name, data)
            _check_numba_entries(folder, name)
            break
        except OSError as exc:
            if attempt or folder != configured_cache_dir():
                raise EosInputError(f"cannot write the generated module {name} in {folder}: {exc}") from None
            _private_dir(folder, f"cannot use its entry {name}: {exc.strerror or exc}")
    return _exec_module(name, path, source)
