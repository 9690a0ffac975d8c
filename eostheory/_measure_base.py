"""What every tracked measure shares, on toys (:mod:`eostheory.optimizers._measures`) and networks
(:mod:`eostheory.torch._measures`): its series key, plot label and panel, and its threshold lines.

A mixin of methods only (no fields), so each path keeps its own frozen dataclass with the
fields it needs (a network measure has a cost in gradient-equivalents, a toy measure the
derivatives it needs) and both name, label and draw their thresholds the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["MeasureLines"]


class MeasureLines:
    """Series key, plot label and panel, and threshold lines of a measure.

    The class using it has the fields ``name``, ``label``, ``panel`` and ``thresholds``: each
    threshold is ``"stability"`` (the optimizer's stability threshold), a number, or a function
    of the hyperparameters returning a number or ``None``.
    """

    name: str
    label: str | None
    panel: str | None
    thresholds: tuple[Any, ...]

    @property
    def key(self) -> str:
        """The key of its value in records and series (``-`` becomes ``_``: ``grad-norm`` → ``grad_norm``)."""
        return self.name.replace("-", "_")

    @property
    def plot_label(self) -> str:
        return self.label or self.name

    @property
    def plot_panel(self) -> str:
        return self.panel or self.name

    def threshold_values(self, hyperparameters: Mapping[str, float], stability: float | None) -> list[float]:
        """The threshold lines as numbers (those that do not apply, or are not finite, are left out)."""
        out: list[float] = []
        for th in self.thresholds:
            if th == "stability":
                v = stability
            elif callable(th):
                try:
                    v = th(dict(hyperparameters))
                except Exception:  # a threshold line must never lose a run
                    v = None
            else:
                v = th
            if v is not None and math.isfinite(float(v)):
                out.append(float(v))
        return out
