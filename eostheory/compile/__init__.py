"""sympy → generated source → numba kernels, cached on disk under a hash of the source.

Every cached file is checked on load (see :mod:`eostheory.compile._cache` and
:mod:`eostheory.compile._jit`); a new compilation prints one line on stderr, silenced
by :func:`set_quiet` or ``EOSTHEORY_QUIET=1``.
"""

from eostheory.compile._cache import cache_dir, load_source_module, source_key
from eostheory.compile._codegen import GENERATOR_VERSION, backend, module_header
from eostheory.compile._jit import njit
from eostheory.compile._kernels import CompiledPotential, compile_potential, potential_source
from eostheory.compile._netkernels import net_source
from eostheory.compile._notice import is_quiet, set_quiet
from eostheory.compile._step import run_module_source

__all__ = [
    "GENERATOR_VERSION",
    "CompiledPotential",
    "backend",
    "cache_dir",
    "compile_potential",
    "is_quiet",
    "load_source_module",
    "module_header",
    "net_source",
    "njit",
    "potential_source",
    "run_module_source",
    "set_quiet",
    "source_key",
]
