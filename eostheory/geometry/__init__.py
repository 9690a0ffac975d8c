r"""Non-Euclidean geometry: norms, steepest-descent methods and generalized sharpness.

- :class:`Layout`, :class:`Norm`, :class:`Combined`, :class:`Geometry`, block norms
  (:class:`L2Block`, :class:`LinfBlock`, :class:`L1Block`, :class:`SpectralBlock`,
  :class:`CustomNorm`) and the named norms :data:`NORMS` (:func:`get_norm`): norm, dual
  norm and steepest direction, on numpy arrays and torch tensors.
- :func:`steepest_optimizer` (``steepest:NORM``, ``normalized:NORM``, the momentum kinds,
  ``muon``), :func:`steepest_step` and :func:`run_steepest` on toy potentials; on networks
  :func:`eostheory.torch.train` takes the same names.
- :func:`descent_identity`, :func:`descent_threshold`, :func:`ray_multiplier`,
  :func:`normalized_two_cycle`, :func:`sign_descent_diagonal_cycle` (sympy): the descent
  identity, the threshold and the normalized 2-cycle derived on a symbolic quadratic.
- :func:`frank_wolfe` (generalized sharpness with a Frank–Wolfe gap), :func:`exact_sharpness`
  (dense references), :func:`step_smoothness` (Mishkin et al. 2024's D, A, H along a step).

numpy only: ``import eostheory.geometry`` never imports torch.

Examples:
    >>> import numpy as np
    >>> from eostheory.geometry import get_norm, Layout, frank_wolfe, exact_sharpness
    >>> geo = get_norm("block").bind(Layout.from_shapes([(2,), (1,)]))
    >>> H = np.diag([3.0, 1.0, 2.0])
    >>> exact_sharpness(H, geo), frank_wolfe(lambda v: H @ v, geo, like=np.zeros(3)).value
    (3.0, 3.0)
"""

from eostheory.geometry._norms import (
    NORMS,
    NS_COEFFICIENTS,
    BlockNorm,
    Combined,
    CustomNorm,
    Geometry,
    L1Block,
    L2Block,
    Layout,
    LinfBlock,
    Norm,
    SpectralBlock,
    get_norm,
    newton_schulz,
    newton_schulz_error,
)
from eostheory.geometry._sharpness import (
    ENUMERATE_MAX,
    SharpnessEstimate,
    check_norm,
    exact_sharpness,
    frank_wolfe,
    spectral_2x2_sharpness,
    step_smoothness,
)
from eostheory.geometry._steepest import (
    KINDS,
    STEEPEST_NAMES,
    SteepestOptimizer,
    SteepestRun,
    generalized_threshold,
    generalized_threshold_note,
    is_steepest_name,
    run_steepest,
    steepest_optimizer,
    steepest_step,
)
from eostheory.geometry._symbolic import (
    ETA,
    DescentIdentities,
    DescentIdentity,
    TwoCycle,
    descent_identity,
    descent_threshold,
    generic_descent_identity,
    normalized_two_cycle,
    ray_multiplier,
    sign_descent_diagonal_cycle,
)

__all__ = [
    "ENUMERATE_MAX",
    "ETA",
    "KINDS",
    "NORMS",
    "NS_COEFFICIENTS",
    "STEEPEST_NAMES",
    "BlockNorm",
    "Combined",
    "CustomNorm",
    "DescentIdentities",
    "DescentIdentity",
    "Geometry",
    "L1Block",
    "L2Block",
    "Layout",
    "LinfBlock",
    "Norm",
    "SharpnessEstimate",
    "SpectralBlock",
    "SteepestOptimizer",
    "SteepestRun",
    "TwoCycle",
    "check_norm",
    "descent_identity",
    "descent_threshold",
    "exact_sharpness",
    "frank_wolfe",
    "generalized_threshold",
    "generalized_threshold_note",
    "generic_descent_identity",
    "get_norm",
    "is_steepest_name",
    "newton_schulz",
    "newton_schulz_error",
    "normalized_two_cycle",
    "ray_multiplier",
    "run_steepest",
    "sign_descent_diagonal_cycle",
    "spectral_2x2_sharpness",
    "steepest_optimizer",
    "steepest_step",
    "step_smoothness",
]
