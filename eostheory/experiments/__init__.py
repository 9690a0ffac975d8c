"""Numerical experiments that check the derivations against the compiled runs.

This package sits above the flows (it runs optimizers and integrates flows) and below the
validation battery, the command line and the worked examples, which all use it:

* stability thresholds checked by running the optimizer on :math:`\\tfrac12\\lambda w^2`
  around :math:`\\lambda^*`, by the spectral radius of the step matrix over a grid, and by
  simulating SGD with momentum (mean-square stability);
* derived equilibria (periodic orbits, flows' stationary points) checked against the
  compiled run loop and the compiled flows, and :func:`equilibria`, which derives them
  with those checks.
"""

from eostheory.experiments._equilibria import verify_flow_point, verify_orbit
from eostheory.experiments._equilibria_entry import equilibria
from eostheory.experiments._thresholds import (
    GridCheck,
    MeanSquareCheck,
    ThresholdRun,
    batch_sharpness,
    critical_eta_batch,
    critical_eta_full_batch,
    mean_square_radius,
    overparameterized_regression,
    preconditioned_radius,
    sgd_momentum_growth,
    spectral_radius_grid,
    verify_mean_square,
    verify_threshold,
)

__all__ = [
    "GridCheck",
    "MeanSquareCheck",
    "ThresholdRun",
    "batch_sharpness",
    "critical_eta_batch",
    "critical_eta_full_batch",
    "equilibria",
    "mean_square_radius",
    "overparameterized_regression",
    "preconditioned_radius",
    "sgd_momentum_growth",
    "spectral_radius_grid",
    "verify_flow_point",
    "verify_mean_square",
    "verify_orbit",
    "verify_threshold",
]
