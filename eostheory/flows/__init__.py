"""Continuous-time (and discrete) models of GD at the edge of stability, defined once each.

Flows (``FLOWS``): ``gradient``, ``stable``, ``modified``, ``central`` (any number ``k``
of eigenvalues), ``central-hb`` (heavy ball), ``hb-modified`` (heavy ball's modified
equation), ``rod``, ``edge`` / ``edge-rayleigh`` and ``selfstab`` (the projected-GD
constrained trajectory), plus Damian's reduced map (:func:`reduced_map`,
:class:`ReducedMap`).  Time is counted in GD steps.

>>> from eostheory.flows import solve_flow
>>> r = solve_flow("quartic", "rod", x0=[0.05], eta=2.5, steps=300, constants={"S": 1, "Q": 1})
>>> abs(r.final["oscillation"] ** 2 - (1 - 2 / 2.5)) < 1e-6
True
"""

from eostheory.flows import (
    _central_rmsprop,  # noqa: F401  (registers central-rmsprop)
    _defs,  # noqa: F401  (registers the flows)
    _hb_edge,  # noqa: F401  (registers edge-hb)
    _hb_modified,  # noqa: F401  (registers hb-modified)
    _hb_rod,  # noqa: F401  (registers rod-hb)
)
from eostheory.flows._base import (
    FLAG_MESSAGES,
    FLOWS,
    Flow,
    FlowParam,
    compile_flow,
    get_flow,
    register_flow,
    resolve_flow,
)
from eostheory.flows._reduced import ReducedMap, reduced_map
from eostheory.flows._run import FlowResult, flow_system, solve_flow

__all__ = [
    "FLAG_MESSAGES",
    "FLOWS",
    "Flow",
    "FlowParam",
    "FlowResult",
    "ReducedMap",
    "compile_flow",
    "flow_system",
    "get_flow",
    "reduced_map",
    "register_flow",
    "resolve_flow",
    "solve_flow",
]
