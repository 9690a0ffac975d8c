"""``njit`` with a disk cache that checks itself: sealed numba cache files, quarantine on damage.

numba's ``cache=True`` keeps, per function, an index file (``.nbi``) and one data file
per signature (``.nbc``), both pickles.  A truncated or garbled one (a full disk, a killed
process) makes every later call fail with ``UnpicklingError``, ``EOFError`` or an LLVM
parsing error, and a byte flipped inside the machine code might not fail at all.  The
cache used here writes the same files through numba's own atomic writer, but each file
starts with a magic tag and the SHA-256 of the rest; on load the hash is checked before
anything is unpickled.  Any failure to load an entry (hash mismatch, unpickling,
rebuilding the machine code, an unreadable file) moves the function's cache files to
``<cache>/quarantine/``, prints one warning line, and lets numba compile afresh (and
write a new sealed entry).  A failure to write the cache is one warning too, never an
error: the kernel is compiled and used, only not kept.

Generated modules import :func:`njit` from here in place of ``numba.njit``.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eostheory._errors import CompilationError
from eostheory.compile._codegen import numba_reason
from eostheory.compile._notice import install_listener, kernel_label, warn

__all__ = ["CorruptCacheFileError", "njit"]

_MAGIC = b"EOSNB1\n"
_DIGEST = 32


class CorruptCacheFileError(Exception):
    """A numba cache file whose content does not match its seal.

    ``foreign`` marks a complete file in numba's own unsealed format (left by plain
    ``numba.njit(cache=True)`` or an older eostheory): replaced without a warning.
    """

    def __init__(self, message: str, foreign: bool = False) -> None:
        super().__init__(message)
        self.foreign = foreign


def _seal(payload: bytes) -> bytes:
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def _unseal(raw: bytes, path: str) -> bytes:
    head = len(_MAGIC) + _DIGEST
    if not raw.startswith(_MAGIC):
        foreign = raw.startswith(b"\x80") and raw.rstrip().endswith(b".")  # a whole pickle stream
        raise CorruptCacheFileError(f"{Path(path).name}: no eostheory seal", foreign=foreign)
    if len(raw) < head:
        raise CorruptCacheFileError(f"{Path(path).name}: truncated")
    payload = raw[head:]
    if hashlib.sha256(payload).digest() != raw[len(_MAGIC) : head]:
        raise CorruptCacheFileError(f"{Path(path).name}: content hash mismatch")
    return payload


_CACHE_CLASS: Any = None


def _cache_class() -> Any:
    """The sealed cache class (built on first use, so importing this module does not import numba)."""
    global _CACHE_CLASS
    if _CACHE_CLASS is not None:
        return _CACHE_CLASS
    from numba.core.caching import FunctionCache, IndexDataCacheFile

    class SealedCacheFile(IndexDataCacheFile):  # type: ignore[misc]
        """numba's index/data files, each sealed with a magic tag and a SHA-256."""

        def _save_index(self, overloads: dict[Any, str]) -> None:
            payload = pickle.dumps(self._version, protocol=-1) + self._dump((self._source_stamp, overloads))
            with self._open_for_write(self._index_path) as fh:
                fh.write(_seal(payload))

        def _load_index(self) -> dict[Any, str]:
            try:
                with open(self._index_path, "rb") as fh:
                    raw = fh.read()
            except FileNotFoundError:
                return {}
            buf = io.BytesIO(_unseal(raw, self._index_path))
            version = pickle.load(buf)
            if version != self._version:  # another numba version: not ours to read
                return {}
            stamp, overloads = pickle.loads(buf.read())
            return overloads if stamp == self._source_stamp else {}

        def _save_data(self, name: str, data: Any) -> None:
            with self._open_for_write(self._data_path(name)) as fh:
                fh.write(_seal(self._dump(data)))

        def _load_data(self, name: str) -> Any:
            path = self._data_path(name)
            with open(path, "rb") as fh:
                raw = fh.read()
            return pickle.loads(_unseal(raw, path))

    class SealedFunctionCache(FunctionCache):  # type: ignore[misc]
        """numba's per-function cache over :class:`SealedCacheFile`, quarantining what it cannot load."""

        def __init__(self, py_func: Callable[..., Any]) -> None:
            super().__init__(py_func)
            old = self._cache_file
            self._cache_file = SealedCacheFile(
                cache_path=self._cache_path,
                filename_base=self._impl.filename_base,
                source_stamp=old._source_stamp,
            )

        def _entry_files(self) -> list[Path]:
            folder = Path(self._cache_path)
            base = self._impl.filename_base
            return [folder / f"{base}.nbi", *sorted(folder.glob(f"{base}.*.nbc"))]

        def _what(self) -> str:
            func = self._py_func
            return f"the numba cache of {getattr(func, '__module__', '?')}.{func.__name__}"

        def load_overload(self, sig: Any, target_context: Any) -> Any:
            try:
                return super().load_overload(sig, target_context)
            except Exception as exc:  # garbled, truncated, unreadable, foreign: rebuild
                from eostheory.compile._cache import quarantine

                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                reason = text if isinstance(exc, CorruptCacheFileError) else f"{type(exc).__name__}: {text}"
                foreign = isinstance(exc, CorruptCacheFileError) and exc.foreign
                quarantine(self._entry_files(), self._what(), reason, quiet=foreign)
                return None

        def save_overload(self, sig: Any, data: Any) -> None:
            try:
                super().save_overload(sig, data)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                warn(
                    f"cannot write {self._what()} in {self._cache_path} ({type(exc).__name__}: {first}); "
                    "the kernel works but will be compiled again by the next process"
                )

    _CACHE_CLASS = SealedFunctionCache
    return _CACHE_CLASS


def njit(*args: Any, cache: bool = False, **options: Any) -> Any:
    """``numba.njit`` whose ``cache=True`` uses the sealed, self-repairing cache.

    Usable as ``@njit``, ``@njit(...)`` or ``njit(...)(f)``, with numba's options.

    Args:
        *args: the function, when used as a bare decorator.
        cache: keep compiled code on disk (sealed, checked on load).
        **options: passed to ``numba.njit`` (``error_model``, ``inline``, ...).

    Returns:
        A numba dispatcher, or a decorator making one.
    """
    import numba

    install_listener()

    def decorate(func: Callable[..., Any]) -> Any:
        disp = numba.njit(**options)(func)
        if cache:
            try:
                disp._cache = _cache_class()(disp.py_func)
            except Exception:  # an unexpected numba internals change: plain numba caching
                disp.enable_caching()
        _one_line_errors(disp)
        return disp

    if args and callable(args[0]):
        return decorate(args[0])
    return decorate


def _one_line_errors(disp: Any) -> None:
    """Make a typing or lowering failure of a call from Python a one-line :class:`CompilationError`.

    numba compiles a kernel at its first call from Python (``_compile_for_args``); a
    failure there is a multi-screen ``TypingError`` whose first line is "Failed in
    nopython mode pipeline".  The error raised instead names the kernel (its module's
    title: the potential, the update rule, the flow) and numba's informative line.
    """
    from numba.core.errors import NumbaError

    compile_for_args = getattr(disp, "_compile_for_args", None)
    if compile_for_args is None:
        return

    def checked(*args: Any, **kws: Any) -> Any:
        try:
            return compile_for_args(*args, **kws)
        except NumbaError as exc:
            what = kernel_label(disp) or getattr(disp.py_func, "__name__", "a kernel")
            raise CompilationError(f"numba cannot compile {what}: {numba_reason(exc)}") from None

    disp._compile_for_args = checked
