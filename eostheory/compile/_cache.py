"""On-disk cache of generated kernel modules.

A generated module is a real ``.py`` file named after a hash of its own source (which
embeds the expression, the generator version and the backend), so a changed potential,
a changed optimizer or a new version of the generator always gets a new module name and
can never reuse stale compiled code.  numba's ``cache=True`` then stores the machine code
beside the file, keyed by that file.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["cache_dir", "load_source_module", "source_key"]


def cache_dir() -> Path:
    """The kernel cache directory.

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


def source_key(source: str) -> str:
    """A 20-hex-digit hash of a module's source."""
    return hashlib.sha256(source.encode()).hexdigest()[:20]


def load_source_module(prefix: str, source: str) -> ModuleType:
    """Write ``source`` as ``<cache>/<prefix>_<hash>.py`` (once) and import it.

    The write is atomic (temporary file and rename), so concurrent processes never see
    a half-written module.
    """
    name = f"{prefix}_{source_key(source)}"
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(source)
        os.replace(tmp, path)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    return importlib.import_module(name)
