"""Names that the integrator and flow sources use but that a generated module binds.

The numba source of the steppers (:mod:`eostheory.integrate._src`) and of the flows
(``eostheory/flows/_src_*.py``) is written as ordinary Python so that it can be read,
linted and tested; it is spliced as text into a generated module (one per potential and
flow) where these names are bound to the potential's compiled kernels and the flow's
functions.  Importing them from here only serves linters: calling one raises.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DIM",
    "NAUX",
    "NWS",
    "NY",
    "WS0",
    "flow_aux",
    "flow_edge",
    "flow_post",
    "flow_rhs",
    "grad",
    "hess",
    "loss",
    "sharp",
    "third",
]

DIM = 0  #: number of parameters of the potential (bound by the kernel module)
NY = 0  #: size of a flow's state vector
NWS = 0  #: size of a flow's workspace (``ws[0]`` is the error flag, ``ws[1]`` its value)
NAUX = 0  #: number of observables a flow reports per recorded state
WS0 = 8  #: where a flow's scratch space starts in its workspace (ws[0:WS0] are flags and reserved)


def _unbound(*_args: Any) -> Any:
    raise RuntimeError("this name is bound only inside a generated eostheory module")


loss = grad = hess = sharp = third = _unbound
flow_rhs = flow_edge = flow_post = flow_aux = _unbound
