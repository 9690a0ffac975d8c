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

from eostheory._errors import EosInputError

__all__ = ["FILE_MODE", "atomic_path", "atomic_write_bytes", "atomic_write_text", "validate_out_dir"]


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


def validate_out_dir(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Check that ``path`` can be the output directory, before any work is done.

    The directory may exist (files in it are overwritten) or not (it is created later,
    with its missing parents); it is not created here.

    Args:
        path: the directory given on the command line.
        option: the option's name, for the message.

    Returns:
        ``path`` as a :class:`~pathlib.Path` (``~`` expanded).

    Raises:
        EosInputError: ``path`` is empty, exists and is not a directory, is a dangling
            symbolic link, lies under a file, or its nearest existing directory cannot
            be written (permissions, a read-only or virtual file system).

    Examples:
        >>> import tempfile
        >>> validate_out_dir(Path(tempfile.gettempdir()) / "no" / "such" / "run").name
        'run'
    """
    text = os.fspath(path)
    if not str(text).strip():
        raise EosInputError(f"{option} is empty: give a directory")
    p = Path(text).expanduser()
    try:
        if p.is_symlink() and not p.exists():
            raise EosInputError(f"{option} {text}: a dangling symbolic link (to {os.readlink(p)})")
        if p.exists():
            if not p.is_dir():
                raise EosInputError(f"{option} {text}: exists and is not a directory")
            probe = p
        else:
            probe = p.parent
            while not os.path.lexists(probe) and probe != probe.parent:
                probe = probe.parent
            if not probe.is_dir():
                what = "a dangling symbolic link" if probe.is_symlink() and not probe.exists() else "a file"
                raise EosInputError(f"{option} {text}: {probe} is {what}, not a directory")
    except OSError as exc:
        raise EosInputError(f"{option} {text}: cannot be used ({exc.strerror or exc})") from None
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EosInputError(f"{option} {text}: the directory {probe} is not writable (permission denied)")
    try:  # the file system itself may refuse (read-only mount, /proc); TemporaryFile leaves no name behind
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise EosInputError(f"{option} {text}: cannot create files in {probe} ({exc.strerror or exc})") from None
    return p
