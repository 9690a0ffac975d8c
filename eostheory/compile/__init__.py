"""sympy → generated source → numba kernels, cached on disk under a hash of the source."""

from eostheory.compile._cache import cache_dir, load_source_module, source_key
from eostheory.compile._codegen import GENERATOR_VERSION, backend
from eostheory.compile._kernels import CompiledPotential, compile_potential, potential_source

__all__ = [
    "GENERATOR_VERSION",
    "CompiledPotential",
    "backend",
    "cache_dir",
    "compile_potential",
    "load_source_module",
    "potential_source",
    "source_key",
]
