"""Explicit optimizers: one definition each (an update rule), and the compiled run loop."""

from eostheory._period import detect_period
from eostheory.optimizers._measures import TOY_MEASURES, ToyMeasure, register_toy_measure, resolve_toy_measures
from eostheory.optimizers._run import (
    DIVERGENCE_BOUND,
    STATUSES,
    RunConfig,
    RunResult,
    as_optimizer,
    run,
    run_module,
    stability_threshold,
)
from eostheory.symbolic import OPTIMIZERS, Optimizer, get_optimizer, register_optimizer

__all__ = [
    "DIVERGENCE_BOUND",
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
    "resolve_toy_measures",
    "run",
    "run_module",
    "stability_threshold",
]
