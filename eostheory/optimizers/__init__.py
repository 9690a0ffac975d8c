"""Explicit optimizers: one definition each (an update rule), and the compiled run loop."""

from eostheory.optimizers._defs import OPTIMIZERS, Optimizer, get_optimizer, register_optimizer
from eostheory.optimizers._measures import TOY_MEASURES, ToyMeasure, register_toy_measure
from eostheory.optimizers._run import (
    STATUSES,
    RunConfig,
    RunResult,
    as_optimizer,
    detect_period,
    run,
    stability_threshold,
)

__all__ = [
    "OPTIMIZERS",
    "STATUSES",
    "TOY_MEASURES",
    "Optimizer",
    "RunConfig",
    "RunResult",
    "ToyMeasure",
    "as_optimizer",
    "detect_period",
    "get_optimizer",
    "register_optimizer",
    "register_toy_measure",
    "run",
    "stability_threshold",
]
