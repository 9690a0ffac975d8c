"""The results store of a sweep: a Parquet dataset, one fragment per completed point.

Layout of a sweep directory ``DIR``::

    DIR/sweep.json            what was swept: the command, its axes, each run's base arguments
    DIR/points/<key>.parquet  one row per point (done or failed), written when the point completes
    DIR/runs/<key>/           the point's run directory (its arrays, plots, checkpoint)
    DIR/results.parquet       every row in one file, rewritten at the end of each sweep

``<key>`` is the hash of the point's canonical command line, so a point is stored at most
once and a re-run finds it.  Every file is written to a temporary name in its directory
and renamed into place (the temporary names start with ``.``, which Parquet readers skip):
a sweep that dies leaves only complete fragments.  ``points/`` is the record;
``results.parquet`` is a convenience copy that pandas, polars and DuckDB read in one go.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eostheory._errors import EosInputError
from eostheory._io import atomic_path
from eostheory._json import write_json

__all__ = ["POINTS", "RESULTS", "RUNS", "SWEEP_FILE", "Store", "load_sweep", "read_table"]

SWEEP_FILE = "sweep.json"
POINTS = "points"
RUNS = "runs"
RESULTS = "results.parquet"

#: how the bookkeeping columns come after the axes and results in a loaded frame
_POINT_PREFIX = "point_"

_INT64 = (-(2**63), 2**63 - 1)


def _cell(value: Any) -> Any:
    """A value Parquet can hold in a typed column (huge ints and other objects as text)."""
    if isinstance(value, bool) or value is None or isinstance(value, float | str):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _atomic_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _unify(tables: Sequence[Any]) -> Any:
    """One table from fragments whose columns differ: missing columns null, conflicting types widened.

    Integers and floats meet as float64; a column that is text in one fragment and a
    number in another becomes text; an all-null column takes the type of the others.
    """
    import pyarrow as pa

    order: dict[str, set[Any]] = {}
    for t in tables:
        for field in t.schema:
            order.setdefault(field.name, set()).add(field.type)
    target: dict[str, Any] = {}
    for name, types in order.items():
        kinds = {t for t in types if not pa.types.is_null(t)}
        if not kinds:
            target[name] = pa.null()
        elif len(kinds) == 1:
            target[name] = next(iter(kinds))
        elif all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in kinds):
            target[name] = pa.float64()
        else:
            target[name] = pa.string()
    fixed = []
    for t in tables:
        cols = []
        for name, typ in target.items():
            if name in t.column_names:
                col = t.column(name)
                cols.append(col if col.type == typ else col.cast(typ))
            else:
                cols.append(pa.nulls(t.num_rows, type=typ))
        fixed.append(pa.Table.from_arrays(cols, names=list(target)))
    return pa.concat_tables(fixed) if fixed else pa.table({})


class Store:
    """A sweep directory (see the module's documentation).

    Args:
        root: the directory (created by :meth:`create`, not here).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()

    @property
    def points_dir(self) -> Path:
        return self.root / POINTS

    def fragment(self, key: str) -> Path:
        """The fragment file of a point."""
        return self.points_dir / f"{key}.parquet"

    def run_dir(self, key: str) -> Path:
        """The run directory of a point."""
        return self.root / RUNS / key

    def spec(self) -> dict[str, Any] | None:
        """The contents of ``sweep.json``, or ``None`` where there is none.

        Raises:
            EosInputError: the file is not JSON.
        """
        path = self.root / SWEEP_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EosInputError(f"{path}: not a readable sweep description ({exc})") from None
        if not isinstance(data, dict):
            raise EosInputError(f"{path}: not a sweep description")
        return data

    def check_command(self, command: str) -> None:
        """Refuse a directory that holds a sweep of another command (its rows would not compare).

        Raises:
            EosInputError: ``sweep.json`` names another command, or the directory holds
                files that are not a sweep's.
        """
        data = self.spec()
        if data is not None and data.get("command") != command:
            raise EosInputError(
                f"--out {self.root}: holds a sweep of eostheory {data.get('command')}, not {command}; "
                "give another directory"
            )
        if data is None and self.root.is_dir():
            others = [p.name for p in self.root.iterdir() if p.name not in (POINTS, RUNS, RESULTS)]
            if others:
                raise EosInputError(
                    f"--out {self.root}: an existing directory that is not a sweep (it holds {', '.join(others[:3])}"
                    f"{' …' if len(others) > 3 else ''}); give a new or empty directory"
                )

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """``point_status`` of the stored points among ``keys`` (unreadable fragments are left out)."""
        import pyarrow.parquet as pq

        out: dict[str, str] = {}
        if not self.points_dir.is_dir():
            return out
        present = {p.stem for p in self.points_dir.glob("*.parquet")}
        for key in keys:
            if key not in present:
                continue
            try:
                col = pq.read_table(self.fragment(key), columns=["point_status"]).column("point_status")
                out[key] = str(col[0].as_py())
            except Exception as exc:  # a damaged fragment: run the point again, which rewrites it
                warnings.warn(
                    f"sweep: fragment {self.fragment(key)} unreadable ({exc}); its point runs again", stacklevel=2
                )
        return out

    def create(self) -> None:
        """Create the directory and its ``points/`` and ``runs/`` folders."""
        try:
            self.points_dir.mkdir(parents=True, exist_ok=True)
            (self.root / RUNS).mkdir(exist_ok=True)
        except OSError as exc:
            raise EosInputError(f"--out {self.root}: cannot be created ({exc.strerror or exc})") from None

    def record_sweep(self, command: str, axes: Sequence[str], base: Sequence[str], n_points: int) -> None:
        """Add this sweep (axes, base arguments, size) to ``sweep.json`` (written atomically)."""
        data = self.spec() or {"format": 1, "command": command, "axes": [], "sweeps": []}
        data["axes"] = list(dict.fromkeys([*data.get("axes", []), *axes]))
        data.setdefault("sweeps", []).append(
            {
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "axes": list(axes),
                "base": list(base),
                "points": n_points,
            }
        )
        data["last_axes"] = list(axes)
        write_json(self.root / SWEEP_FILE, data)

    def write(self, row: Mapping[str, Any]) -> Path:
        """Store one point's row as its fragment (atomically; an earlier row of the point is replaced)."""
        import pyarrow as pa

        table = pa.Table.from_pylist([{k: _cell(v) for k, v in row.items()}])
        path = self.fragment(str(row["point_key"]))
        _atomic_parquet(table, path)
        return path

    def table(self) -> Any:
        """Every stored row as one pyarrow table (see :func:`read_table`)."""
        return read_table(sorted(self.points_dir.glob("*.parquet")) if self.points_dir.is_dir() else [])

    def consolidate(self) -> Path:
        """Rewrite ``results.parquet`` from the fragments; returns its path."""
        path = self.root / RESULTS
        _atomic_parquet(self.table(), path)
        return path


def read_table(files: Sequence[Path]) -> Any:
    """The fragments ``files`` as one pyarrow table with a unified schema."""
    import pyarrow.parquet as pq

    tables = []
    for f in files:
        try:
            tables.append(pq.read_table(f))
        except Exception as exc:
            warnings.warn(f"sweep: fragment {f} unreadable ({exc}); left out", stacklevel=2)
    return _unify(tables)


def _order(columns: Sequence[str], axes: Sequence[str]) -> list[str]:
    first = [a for a in axes if a in columns]
    book = [c for c in columns if c.startswith(_POINT_PREFIX) and c not in first]
    rest = [c for c in columns if c not in first and c not in book]
    return first + rest + book


def load_sweep(path: str | os.PathLike[str]) -> Any:
    """The stored points of a sweep as a pandas DataFrame, one row per point.

    Args:
        path: the sweep directory (the ``--out`` of ``eostheory sweep``).

    Returns:
        A :class:`~eostheory.sweep.SweepFrame` (a :class:`pandas.DataFrame`): the axes
        first, then the results, then the ``point_*`` bookkeeping; rows sorted by the
        axes.  Its ``sweep_axes`` names the axes and ``to_xarray()`` turns a regular grid
        into an :class:`xarray.Dataset` with one dimension per axis.

    Raises:
        EosInputError: ``path`` is not a sweep directory.
        ImportError: pandas or pyarrow is missing (``pip install 'eostheory[sweep]'``).
    """
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("load_sweep needs pandas and pyarrow: pip install 'eostheory[sweep]'") from None
    from eostheory.sweep._frame import SweepFrame

    store = Store(path)
    spec = store.spec()
    if spec is None and not store.points_dir.is_dir():
        raise EosInputError(f"{path}: not a sweep directory (no {SWEEP_FILE}, no {POINTS}/)")
    spec = spec or {}
    axes = list(spec.get("axes", []))
    df = store.table().to_pandas()
    df = df[_order(list(df.columns), axes)]
    present = [a for a in axes if a in df.columns]
    if present and len(df):
        try:
            df = df.sort_values(present, kind="stable").reset_index(drop=True)
        except TypeError:  # an axis mixing numbers and text: keep the stored order
            pass
    frame = SweepFrame(df)
    frame.sweep_axes = present
    frame.sweep_command = spec.get("command")
    frame.sweep_dir = str(store.root)
    return frame
