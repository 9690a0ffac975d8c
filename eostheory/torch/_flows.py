r"""The flows of :mod:`eostheory.flows` on a torch objective, matrix-free.

Each flow's vector field, initial state and observables are its one definition
(:mod:`eostheory.flows._fields`), run here through the network oracle: gradients,
Hessian-vector products through one gradient graph, the third-derivative contraction
:math:`\nabla(u^\top H v)` and top eigenpairs by warm-started Lanczos
(:mod:`eostheory.torch._flow_oracle`).  The modules, one job each:

- :mod:`eostheory.torch._flow_oracle`: the oracle, the torch array namespace, work counters;
- :mod:`eostheory.torch._flow_solve`: the fixed-step loop (:func:`solve_torch_flow`) and
  :class:`TorchFlowResult`;
- :mod:`eostheory.torch._flow_cost`: the cost model (:class:`CostModel`, :func:`measure_costs`);
- :mod:`eostheory.torch._flow_compare`: GD with midpoints and the alignment with a flow.

States (as on toys, except the rod's rank): ``gradient`` / ``stable`` / ``modified`` /
``hb-modified``: :math:`w`; ``central``: :math:`w`; ``central-hb``: :math:`(w, v)`;
``rod``: :math:`(\bar w, \delta)` (rank one, default) or :math:`(\bar w, U, s)` with
``rank=r`` (:math:`\Sigma = U\,\mathrm{diag}(s)\,U^\top`; ``r = n`` is the toy path's
matrix rod); ``edge`` / ``edge-rayleigh``: :math:`(c, u, r)`.  Time is counted in GD steps.
"""

from __future__ import annotations

from eostheory.torch._flow_compare import GDMidpoints, align_with_gd, flow_vs_gd, gd_midpoints
from eostheory.torch._flow_cost import CostModel, measure_costs
from eostheory.torch._flow_oracle import EigenSource, NetworkOracle, WorkCounter
from eostheory.torch._flow_solve import (
    TORCH_DEFAULTS,
    TORCH_FLOWS,
    TorchFlowResult,
    rod_delta_rhs,
    solve_torch_flow,
    torch_flows,
)

__all__ = [
    "TORCH_DEFAULTS",
    "TORCH_FLOWS",
    "CostModel",
    "EigenSource",
    "GDMidpoints",
    "NetworkOracle",
    "TorchFlowResult",
    "WorkCounter",
    "align_with_gd",
    "flow_vs_gd",
    "gd_midpoints",
    "measure_costs",
    "rod_delta_rhs",
    "solve_torch_flow",
    "torch_flows",
]
