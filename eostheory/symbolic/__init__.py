"""Symbolic layer (sympy only): potentials, toy library, update rules, derivations."""

from eostheory.symbolic._parse import parse_formula
from eostheory.symbolic.library import TOYS, ToySpec, toy
from eostheory.symbolic.potential import Potential, as_potential
from eostheory.symbolic.rules import UpdateRule

__all__ = ["TOYS", "Potential", "ToySpec", "UpdateRule", "as_potential", "parse_formula", "toy"]
