r"""Real networks in PyTorch: curvature and training at the edge of stability (optional extra).

Install with ``pip install 'eostheory[torch]'``.  ``import eostheory`` never imports torch;
this subpackage does.  Everything runs on the CPU or on CUDA (``device="auto"`` picks
CUDA when present), in float32 or float64.

- :class:`NetworkObjective` / :class:`FunctionObjective`: a loss as a function of one flat
  parameter vector; :class:`HessianOperator`: Hessian-vector products through one
  gradient graph, the third-derivative contraction :math:`\nabla(u^\top Hu)` with a
  finite-difference guard, the dense Hessian for references.
- :func:`top_eigenpairs` (Lanczos in torch, scipy ``eigsh``, power iteration, dense),
  :class:`EigenTracker` (warm starts along a trajectory), :func:`batch_sharpness`,
  :func:`gni`.
- :func:`mlp`, :func:`cnn`, :func:`build_model`; :func:`digits`, :func:`gaussian_mixture`,
  :func:`teacher_student`, :func:`chebyshev`, :func:`from_arrays`, :func:`load_npz`.
- :func:`solve_torch_flow`: the stable, central (k <= 3), rod and edge flows of
  :mod:`eostheory.flows` on a torch objective, matrix-free, with work counters;
  :func:`gd_midpoints` and :func:`flow_vs_gd` compare them with GD's midpoints.
- :class:`TorchStep`: an optimizer's update rule (the single definition in
  :mod:`eostheory.optimizers`) evaluated on tensors; :func:`train`, :func:`resume`
  and :func:`branch` (fork a saved run into branches with new hyperparameters).
- :data:`MEASURES`, :class:`Measure`, :func:`measure` (decorator), :func:`register_measure`:
  the registry of quantities :func:`train` tracks (built-ins and the user's own).

Examples:
    >>> import eostheory.torch as et
    >>> data = et.digits(n=200)
    >>> r = et.train("mlp", data, eta=0.1, steps=20, track="sharpness", track_every=10, device="cpu")
    >>> r.status, len(r.series["sharpness"]), r.threshold
    ('completed', 3, 20.0)
"""

from eostheory.torch._backend import TORCH_MISSING, require_torch, resolve_device, resolve_dtype

require_torch()

from eostheory.torch._curvature import (  # noqa: E402
    DENSE_MAX_PARAMS,
    EIG_METHODS,
    Eigenpairs,
    EigenTracker,
    MonteCarloEstimate,
    NonFiniteCurvatureError,
    batch_sharpness,
    gni,
    sharpness,
    top_eigenpairs,
)
from eostheory.torch._data import (  # noqa: E402
    DATASETS,
    Dataset,
    chebyshev,
    digits,
    from_arrays,
    gaussian_mixture,
    get_dataset,
    load_npz,
    teacher_student,
)
from eostheory.torch._flows import (  # noqa: E402
    TORCH_FLOWS,
    CostModel,
    GDMidpoints,
    TorchFlowResult,
    flow_vs_gd,
    gd_midpoints,
    measure_costs,
    rod_delta_rhs,
    solve_torch_flow,
)
from eostheory.torch._measures import (  # noqa: E402
    MEASURES,
    Measure,
    MeasureState,
    get_measure,
    measure,
    preconditioned_sharpness,
    preconditioner,
    register_measure,
)
from eostheory.torch._models import ACTIVATIONS, MODELS, build_model, cnn, mlp  # noqa: E402
from eostheory.torch._objective import (  # noqa: E402
    FunctionObjective,
    HessianOperator,
    NetworkObjective,
    Objective,
    ThirdDerivativeCheck,
    Work,
    mse_loss,
)
from eostheory.torch._rules import TorchStep  # noqa: E402
from eostheory.torch._train import (  # noqa: E402
    TRACKABLE,
    StopTraining,
    TrainConfig,
    TrainResult,
    branch,
    resume,
    train,
)

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "DENSE_MAX_PARAMS",
    "EIG_METHODS",
    "MEASURES",
    "MODELS",
    "TORCH_FLOWS",
    "TORCH_MISSING",
    "TRACKABLE",
    "CostModel",
    "Dataset",
    "EigenTracker",
    "Eigenpairs",
    "FunctionObjective",
    "GDMidpoints",
    "HessianOperator",
    "Measure",
    "MeasureState",
    "MonteCarloEstimate",
    "NetworkObjective",
    "NonFiniteCurvatureError",
    "Objective",
    "StopTraining",
    "ThirdDerivativeCheck",
    "TorchFlowResult",
    "TorchStep",
    "TrainConfig",
    "TrainResult",
    "Work",
    "batch_sharpness",
    "branch",
    "build_model",
    "chebyshev",
    "cnn",
    "digits",
    "flow_vs_gd",
    "from_arrays",
    "gaussian_mixture",
    "gd_midpoints",
    "get_dataset",
    "get_measure",
    "gni",
    "load_npz",
    "measure",
    "measure_costs",
    "mlp",
    "mse_loss",
    "preconditioned_sharpness",
    "preconditioner",
    "register_measure",
    "resolve_device",
    "resolve_dtype",
    "resume",
    "rod_delta_rhs",
    "sharpness",
    "solve_torch_flow",
    "teacher_student",
    "top_eigenpairs",
    "train",
]
