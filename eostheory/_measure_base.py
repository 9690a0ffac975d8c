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

from eostheory._errors import EosInputError

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

    def _check_fields(self, known_needs: Any, kind: str) -> None:
        """Validate and normalise the shared fields (in ``__post_init__`` of a frozen dataclass).

        The name is letters, digits, ``-`` and ``_`` (``_`` is stored as ``-``), ``fn`` is
        callable, ``needs`` is a subset of ``known_needs``; ``thresholds`` becomes a tuple.
        """
        name = str(self.name).strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise EosInputError(f"a measure name is letters, digits, '-' and '_', got {self.name!r}")
        object.__setattr__(self, "name", name.replace("_", "-"))
        fn = getattr(self, "fn", None)
        if not callable(fn):
            raise EosInputError(f"measure {name!r}: fn must be callable, got {type(fn).__name__}")
        needs = frozenset(getattr(self, "needs", ()))
        bad = sorted(needs - set(known_needs))
        if bad:
            raise EosInputError(f"measure {name!r} needs {bad}; {kind} can need {', '.join(known_needs)}")
        object.__setattr__(self, "needs", needs)
        object.__setattr__(self, "thresholds", tuple(self.thresholds))

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
