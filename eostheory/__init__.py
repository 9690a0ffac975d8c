"""eostheory: a symbolic-numeric sandbox for gradient descent at the edge of stability.

>>> import eostheory as eos
>>> L = eos.toy("selfstab")
>>> r = eos.run(L, "gd", x0=[0.01, 1.5], eta=0.45, steps=5000)
>>> r.status, abs(1 + r.average["params"][1] ** 2 - 2 / 0.45) < 1e-6
('oscillating', True)
"""

from eostheory._errors import CompilationError, EosInputError
from eostheory.compile import compile_potential
from eostheory.optimizers import OPTIMIZERS, Optimizer, RunResult, get_optimizer, register_optimizer, run
from eostheory.symbolic import TOYS, Potential, UpdateRule, as_potential, parse_formula, toy
from eostheory.symbolic.nets import SymbolicNet, linear_chain, two_layer, two_layer_linear
from eostheory.symbolic.stability import flip_bifurcation, matrix_stability, mean_square, thresholds

__version__ = "0.1.0"

__all__ = [
    "OPTIMIZERS",
    "TOYS",
    "CompilationError",
    "EosInputError",
    "Optimizer",
    "Potential",
    "RunResult",
    "SymbolicNet",
    "UpdateRule",
    "__version__",
    "as_potential",
    "compile_potential",
    "flip_bifurcation",
    "get_optimizer",
    "linear_chain",
    "matrix_stability",
    "mean_square",
    "parse_formula",
    "register_optimizer",
    "run",
    "thresholds",
    "toy",
    "two_layer",
    "two_layer_linear",
]
