"""Atomic file writes, shared by every writer in eostheory.

A file is written to a temporary file in the same directory, flushed to disk and then
renamed over the destination (``os.replace`` is atomic on POSIX and Windows), so a
reader — or a later run after a crash, a full disk or a killed process — sees either
the old file or the new one, never a half-written one.  Kernel cache entries, JSON
results, checkpoints and sweep fragments all go through here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FILE_MODE", "atomic_path", "atomic_write_bytes", "atomic_write_text"]


def _file_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


#: Permissions of written files: what ``open`` would give under the umask (``mkstemp``
#: alone makes 0600, which a shared cache or results directory must not have).
FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, mode: int = FILE_MODE) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed over it when the block ends without error.

    Use it for writers that want a file name (``torch.save``, ``pyarrow.parquet.write_table``).
    The file is fsynced before the rename; on an exception it is removed and ``path`` is
    left as it was.

    Raises:
        OSError: the directory is not writable; the message names ``path``, not the
            temporary file.

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "x.txt").read_text()
        'hello'
    """
    out = Path(path)
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(out)) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(out)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    with atomic_path(path, mode=mode) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, mode: int = FILE_MODE) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`); returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode)
