"""eostheory: a symbolic-numeric sandbox for gradient descent at the edge of stability.

>>> import eostheory as eos
>>> L = eos.toy("selfstab")
>>> r = eos.run(L, "gd", x0=[0.01, 1.5], eta=0.45, steps=5000)
>>> r.status, abs(1 + r.average["params"][1] ** 2 - 2 / 0.45) < 1e-6
('oscillating', True)
"""

from eostheory._errors import CompilationError, EosInputError
from eostheory._version import __version__
from eostheory.compile import compile_potential
from eostheory.experiments import equilibria
from eostheory.flows import FLOWS, Flow, FlowResult, get_flow, solve_flow
from eostheory.optimizers import OPTIMIZERS, Optimizer, RunResult, get_optimizer, register_optimizer, run
from eostheory.symbolic import TOYS, Potential, UpdateRule, as_potential, parse_formula, toy
from eostheory.symbolic.nets import SymbolicNet, linear_chain, two_layer, two_layer_linear
from eostheory.symbolic.stability import flip_bifurcation, matrix_stability, mean_square, thresholds

#: ``eos.solve(potential, flow, ...)``: integrate a continuous-time model (alias of ``solve_flow``).
solve = solve_flow


def compare(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Run GD and continuous-time models from one start and compare them (see
    :func:`eostheory.analysis.compare.compare`; imported lazily so that ``import eostheory``
    does not import matplotlib)."""
    from eostheory.analysis.compare import compare as _compare

    return _compare(*args, **kwargs)


def sweep(*args, **kwargs):  # type: ignore[no-untyped-def]
    """Run a command over a grid of its arguments on Dask, one stored row per point (see
    :func:`eostheory.sweep.sweep`; imported lazily: Dask, pandas and pyarrow are the ``sweep`` extra)."""
    from eostheory.sweep import sweep as _sweep

    return _sweep(*args, **kwargs)


def load_sweep(path):  # type: ignore[no-untyped-def]
    """The stored points of a sweep directory as a pandas DataFrame (see :func:`eostheory.sweep.load_sweep`)."""
    from eostheory.sweep import load_sweep as _load_sweep

    return _load_sweep(path)


__all__ = [
    "FLOWS",
    "OPTIMIZERS",
    "TOYS",
    "CompilationError",
    "EosInputError",
    "Flow",
    "FlowResult",
    "Optimizer",
    "Potential",
    "RunResult",
    "SymbolicNet",
    "UpdateRule",
    "__version__",
    "as_potential",
    "compare",
    "compile_potential",
    "equilibria",
    "flip_bifurcation",
    "get_flow",
    "get_optimizer",
    "linear_chain",
    "load_sweep",
    "matrix_stability",
    "mean_square",
    "parse_formula",
    "register_optimizer",
    "run",
    "solve",
    "solve_flow",
    "sweep",
    "thresholds",
    "toy",
    "two_layer",
    "two_layer_linear",
]
