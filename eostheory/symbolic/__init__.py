"""Symbolic layer (sympy only): potentials, toy library, update rules, derivations."""

from eostheory.symbolic._optimizers import OPTIMIZERS, Optimizer, get_optimizer, register_optimizer
from eostheory.symbolic._parse import parse_formula
from eostheory.symbolic.library import TOYS, ToySpec, toy
from eostheory.symbolic.potential import Potential, as_potential
from eostheory.symbolic.rules import UpdateRule

__all__ = [
    "OPTIMIZERS",
    "TOYS",
    "Optimizer",
    "Potential",
    "ToySpec",
    "UpdateRule",
    "as_potential",
    "get_optimizer",
    "parse_formula",
    "register_optimizer",
    "toy",
]
