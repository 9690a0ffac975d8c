r"""Non-Euclidean geometry: norms, steepest-descent methods and generalized sharpness.

- :class:`Layout`, :class:`Norm`, :class:`Combined`, :class:`Geometry`, block norms
  (:class:`L2Block`, :class:`LinfBlock`, :class:`L1Block`, :class:`SpectralBlock`,
  :class:`CustomNorm`) and the named norms :data:`NORMS` (:func:`get_norm`): norm, dual
  norm and steepest direction, on numpy arrays and torch tensors.
- :func:`steepest_optimizer` (``steepest:NORM``, ``normalized:NORM``, the momentum kinds,
  ``muon``), :func:`steepest_step` and :func:`run_steepest` on toy potentials; on networks
  :func:`eostheory.torch.train` takes the same names.
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
    is_steepest_name,
    run_steepest,
    steepest_optimizer,
    steepest_step,
)

__all__ = [
    "ENUMERATE_MAX",
    "KINDS",
    "NORMS",
    "NS_COEFFICIENTS",
    "STEEPEST_NAMES",
    "BlockNorm",
    "Combined",
    "CustomNorm",
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
    "check_norm",
    "exact_sharpness",
    "frank_wolfe",
    "generalized_threshold",
    "get_norm",
    "is_steepest_name",
    "newton_schulz",
    "newton_schulz_error",
    "run_steepest",
    "spectral_2x2_sharpness",
    "steepest_optimizer",
    "steepest_step",
    "step_smoothness",
]
