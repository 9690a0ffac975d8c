"""Sweeps: a command of eostheory over a grid of its arguments, on Dask distributed, stored as Parquet.

``eostheory sweep run --potential selfstab --grid eta=0.3:0.52:12 --x0 0.01,1.5 --steps 20000 --out S``
runs ``eostheory run`` once per value of ``eta``, each point a Dask task whose result is the
command's ``--json`` output, and stores one row per point in ``S/points/<key>.parquet``
(``key``: a hash of the point's configuration).  A re-run skips the stored points.

* :func:`sweep` -- the Python entry point (``eos.sweep``);
* :func:`load_sweep` -- the stored rows as a pandas DataFrame (``eos.load_sweep``);
* :func:`plan` -- the points of a sweep, without running anything;
* :func:`map_tasks` -- any picklable function over independent tasks, on the same engine
  (:func:`engine` keeps one cluster open across several calls).

Dask, pandas and pyarrow are imported only when a sweep runs or is loaded (the ``sweep``
extra: ``pip install 'eostheory[sweep]'``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from eostheory.sweep._engine import (
    RUNTIME_AXES,
    Engine,
    MapResult,
    Plan,
    SweepResult,
    TaskOutcome,
    default_workers,
    engine,
    map_tasks,
    plan,
    sweep,
)
from eostheory.sweep._store import load_sweep

__all__ = [
    "RUNTIME_AXES",
    "Engine",
    "MapResult",
    "Plan",
    "SweepFrame",
    "SweepResult",
    "TaskOutcome",
    "default_workers",
    "engine",
    "load_sweep",
    "map_tasks",
    "plan",
    "sweep",
]


def __getattr__(name: str) -> Any:
    if name == "SweepFrame":  # imports pandas: not on the workers, which never need it
        from eostheory.sweep._frame import SweepFrame

        return SweepFrame
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``eostheory.sweep(...)`` stays the function once this package is imported.

    Importing ``eostheory.sweep`` binds the name ``sweep`` of the ``eostheory`` package to
    this module, in place of the function ``eostheory.sweep``; calling the module calls
    :func:`sweep`, so ``eos.sweep(...)`` works whichever of the two the name holds.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
