"""Explicit optimizers: one definition each (an update rule), and the compiled run loop."""

from eostheory.optimizers._defs import OPTIMIZERS, Optimizer, get_optimizer, register_optimizer
from eostheory.optimizers._run import STATUSES, RunConfig, RunResult, detect_period, run

__all__ = [
    "OPTIMIZERS",
    "STATUSES",
    "Optimizer",
    "RunConfig",
    "RunResult",
    "detect_period",
    "get_optimizer",
    "register_optimizer",
    "run",
]
