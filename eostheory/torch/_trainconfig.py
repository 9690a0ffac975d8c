"""A training run's configuration and result records (:class:`TrainConfig`, :class:`TrainResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._json import jsonable
from eostheory.torch._measures import BUILTIN_MEASURES, Measure

#: The built-in measures :func:`train` can track (``loss`` always is); the registry
#: :data:`~eostheory.torch.MEASURES` also holds the ones users register.
TRACKABLE = BUILTIN_MEASURES

_STATUS = ("completed", "diverged", "interrupted", "stopped")


class StopTraining(Exception):  # noqa: N818 - it is a request, not an error
    """Raised by an ``on_step`` callback of :func:`train` to end the run cleanly (status ``"stopped"``).

    Args:
        message: why the run stops (it becomes the run's ``message``); optional.
    """


@dataclass(frozen=True)
class TrainConfig:
    r"""Everything that defines a training run (stored as ``config.json``).

    ``branch`` is ``None``, or for a run forked by :func:`branch` its origin
    (``{"from": run directory, "step": fork step, "name": branch name}``, and for a fork
    before the source's last checkpoint ``"replayed_from"``, the saved state it was
    replayed from, and ``"replay_exact"``, whether the replay reproduced every saved step
    loss bit for bit).  ``schedule`` is the canonical spec of the learning-rate schedule
    (:func:`~eostheory.torch.parse_schedule`), ``weight_decay`` :math:`\lambda` and
    ``decoupled`` how it is applied; ``threshold`` is the full-batch stability threshold at
    the base rate ``eta``.
    """

    model: dict[str, Any]
    data: dict[str, Any]
    loss: str
    optimizer: str
    update: tuple[str, ...]
    hyperparameters: dict[str, float]
    steps: int
    batch_size: int | None
    track: tuple[str, ...]
    track_every: int
    top_k: int
    eig_method: str
    eig_tol: float
    bs_batch_size: int | None
    bs_rse: float
    seed: int
    device: str
    dtype: str
    n_params: int
    n_examples: int
    threshold: float | None
    branch: dict[str, Any] | None = None
    schedule: str = "constant"
    weight_decay: float = 0.0
    decoupled: bool = False
    checkpoint_every: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["update"] = list(self.update)
        d["track"] = list(self.track)
        return d

    # fields that may change when a run is resumed (checkpoint_every changes no number of the run)
    _RESUMABLE = ("steps", "device", "branch", "checkpoint_every")
    # fields that follow from the others (reported only when nothing else differs)
    _DERIVED = ("update", "n_params", "n_examples", "threshold")

    def differences(self, other: TrainConfig) -> list[str]:
        """What differs between this configuration and ``other`` (the saved one), field by field.

        ``steps`` and ``device`` are not compared (a resumed run may change them).

        Args:
            other: the configuration to compare with.

        Returns:
            One entry per difference, ``"eta 0.3 (saved: 0.4)"``; a dict field (``model``,
            ``data``, ``hyperparameters``) is compared key by key.  Empty when they agree.
        """
        a, b = jsonable(self.as_dict()), jsonable(other.as_dict())
        out: list[str] = []
        derived: list[str] = []
        for k in a:
            if k in self._RESUMABLE or a[k] == b.get(k):
                continue
            target = derived if k in self._DERIVED else out
            if isinstance(a[k], dict) and isinstance(b.get(k), dict):
                for kk in dict.fromkeys([*a[k], *b[k]]):
                    va, vb = a[k].get(kk, "unset"), b[k].get(kk, "unset")
                    if va != vb:
                        label = {"model": "model", "data": "data"}.get(k, "") if kk == "name" else kk
                        if k in ("model", "data") and kk != "name":
                            label = f"{k} {kk}"
                        target.append(f"{label} {_show(va)} (saved: {_show(vb)})")
            else:
                target.append(f"{k} {_show(a[k])} (saved: {_show(b.get(k))})")
        return out or derived


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        config: the :class:`TrainConfig`.
        status: ``"completed"``, ``"diverged"`` (a non-finite loss stopped the run; the
            final state is the last one with a finite loss), ``"stopped"`` (an ``on_step``
            callback asked to stop) or ``"interrupted"``.
        message: a sentence saying what happened.
        steps_done: optimizer steps taken.
        series: the tracked quantities, one list per key, aligned with ``series["step"]``.
        step_loss: the loss of every step (the batch loss for SGD).
        theta: the final parameters (flat tensor on the CPU).
        work: counters (losses, gradients, HVPs, third derivatives) over the whole run.
        seconds: wall-clock time of this call (resumed runs: of the last leg).
        out: the run directory, if any.
        measures: the tracked :class:`~eostheory.torch.Measure` objects by name (labels,
            panels and threshold lines for plots).
        thresholds: the stability thresholds on the sharpness of the data loss at the
            base rate ``eta``: ``"full-batch"`` (the linear stability threshold of the step,
            ``2(1+β)/η`` for heavy ball) and, for SGD (``batch_size`` below the data set)
            when it differs, ``"small-batch"``, the plateau ``2/η_eff`` of small-batch SGD
            (``2(1−β)/η`` for heavy ball and Nesterov); both shifted by weight decay (see
            the docs).  Empty when the linear analysis does not apply.  With a schedule, the
            records hold them at every record (``threshold``, ``threshold_small_batch``).
    """

    config: TrainConfig
    status: str
    message: str
    steps_done: int
    series: dict[str, list[Any]]
    step_loss: np.ndarray
    theta: Any
    work: dict[str, int]
    seconds: float
    out: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    measures: dict[str, Measure] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    @property
    def threshold(self) -> float | None:
        """The optimizer's linear stability threshold (``2/η`` for GD)."""
        return self.config.threshold

    def final(self) -> dict[str, Any]:
        """The last record."""
        return {k: v[-1] for k, v in self.series.items() if v}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary with the tracked series."""
        return {
            "status": self.status,
            "message": self.message,
            "steps_done": self.steps_done,
            "threshold": self.threshold,
            "thresholds": dict(self.thresholds),
            **({"threshold_note": self.extra["threshold_note"]} if self.extra.get("threshold_note") else {}),
            **({"regime": self.extra["regime"]} if self.extra.get("regime") else {}),
            "config": self.config.as_dict(),
            "final": self.final(),
            "series": self.series,
            "measures": {
                name: m.describe(self.config.hyperparameters, self.threshold) for name, m in self.measures.items()
            },
            "work": self.work,
            "seconds": self.seconds,
            "out": None if self.out is None else str(self.out),
        }


def _show(v: Any) -> str:
    if v == "unset" or v is None:
        return "unset" if v == "unset" else "none"
    if isinstance(v, list):
        return ",".join(_show(x) for x in v) or "[]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _config_tuples(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"update": tuple(d.get("update", ())), "track": tuple(d.get("track", ()))}
