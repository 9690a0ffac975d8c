"""``SweepFrame``: the DataFrame of a stored sweep, which knows its axes."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from eostheory._errors import EosInputError

try:
    import pandas as pd
except ImportError:  # the sweep extra is not installed: load_sweep says so
    pd = None

__all__ = ["SweepFrame", "regular_grid"]


def regular_grid(frame: Any, axes: list[str]) -> None:
    """Check that the rows of ``frame`` are every combination of the axes' values, once each.

    Raises:
        EosInputError: no axes, a point repeated (the store holds sweeps that differ in
            another argument), or combinations missing (a random sample, a partial grid).
    """
    if not axes:
        raise EosInputError("this sweep has no axes to index an array by")
    dup = frame.duplicated(axes)
    if dup.any():
        raise EosInputError(
            f"the axes {', '.join(axes)} do not identify the points uniquely ({int(dup.sum())} repeated: the "
            "directory holds sweeps that differ in another argument); select one first, e.g. df[df.steps == 20000]"
        )
    full = math.prod(int(frame[a].nunique(dropna=False)) for a in axes)
    if full != len(frame):
        raise EosInputError(
            f"not a regular grid: {len(frame)} points for {full} combinations of the values of "
            f"{', '.join(axes)} (a random sample or a partial grid is a table: use the DataFrame)"
        )


if pd is not None:

    class SweepFrame(pd.DataFrame):
        """A :class:`pandas.DataFrame` of sweep points that knows its axes (``sweep_axes``).

        ``to_xarray()`` indexes a regular grid by its axes: an :class:`xarray.Dataset` with
        one dimension per axis and one variable per column.
        """

        _metadata: ClassVar[list[str]] = ["sweep_axes", "sweep_command", "sweep_dir"]

        @property
        def _constructor(self) -> type:
            return SweepFrame

        def to_xarray(self) -> Any:
            """The points of a regular grid as an :class:`xarray.Dataset` (one dimension per axis).

            Returns:
                The dataset; failed points are present, with missing results as NaN.

            Raises:
                EosInputError: the points are not a regular grid over the axes.
                ImportError: xarray is not installed.
            """
            try:
                import xarray  # noqa: F401
            except ImportError:
                raise ImportError(
                    "to_xarray needs xarray (pip install xarray); the DataFrame itself holds every point"
                ) from None
            axes = [a for a in (getattr(self, "sweep_axes", None) or []) if a in self.columns]
            plain = pd.DataFrame(self)
            regular_grid(plain, axes)
            return plain.set_index(axes).sort_index().to_xarray()

else:  # pragma: no cover - only without pandas

    class SweepFrame:  # type: ignore[no-redef]
        """Placeholder: needs pandas (``pip install 'eostheory[sweep]'``)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("SweepFrame needs pandas: pip install 'eostheory[sweep]'")
