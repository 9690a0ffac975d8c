"""Names that the integrator and flow sources use but that a generated module binds.

The integration loop calls four hooks, ``rhs``, ``event``, ``post`` and ``observe``
(described below); ``flow_rhs``, ``flow_edge``, ``flow_post`` and ``flow_aux`` are their
earlier names, still accepted.

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
    "FLOW_ALIASES",
    "M_ADAPTIVE",
    "M_EXPONENT",
    "M_LOCATE",
    "NAUX",
    "NK",
    "NWS",
    "NY",
    "WS0",
    "event",
    "flow_aux",
    "flow_edge",
    "flow_post",
    "flow_rhs",
    "grad",
    "hess",
    "loss",
    "observe",
    "post",
    "rhs",
    "sharp",
    "third",
]

DIM = 0  #: number of parameters of the potential (bound by the kernel module)
NY = 0  #: size of a flow's state vector
NWS = 0  #: size of a flow's workspace (``ws[0]`` is the error flag, ``ws[1]`` its value)
NAUX = 0  #: number of observables a flow reports per recorded state
NK = 0  #: rows of the integrator's stage workspace (the most stages of a compiled stepper)
#: per-method data of the compiled steppers, indexed by a stepper's code (generated from the tableaux)
M_ADAPTIVE: tuple[int, ...] = ()
M_LOCATE: tuple[int, ...] = ()
M_EXPONENT: tuple[float, ...] = ()
WS0 = 8  #: where a flow's scratch space starts in its workspace (ws[0:WS0] are flags and reserved)


def _unbound(*_args: Any) -> Any:
    raise RuntimeError("this name is bound only inside a generated eostheory module")


loss = grad = hess = sharp = third = _unbound
# the hooks the integration loop calls (a system binds them):
#   rhs(y, p, c, ws, out)      the vector field f(y), written to out
#   event(y, p, c, ws)         the event indicator (its sign changes are the events)
#   post(y, p, c, ws)          a map after every accepted step; True when it changed y
#   observe(y, p, c, ws, out)  the observables recorded with each output state
rhs = event = post = observe = _unbound

#: the earlier names of the hooks, kept as aliases: a generated module whose source defines
#: only one spelling of a hook gets the other bound to it
FLOW_ALIASES = {"flow_rhs": "rhs", "flow_edge": "event", "flow_post": "post", "flow_aux": "observe"}
flow_rhs, flow_edge, flow_post, flow_aux = rhs, event, post, observe
