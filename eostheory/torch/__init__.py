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
- :func:`solve_torch_flow`: the stable, central (any k), rod and edge flows of
  :mod:`eostheory.flows` on a torch objective, matrix-free, with work counters;
  :func:`gd_midpoints` and :func:`flow_vs_gd` compare them with GD's midpoints.
- :class:`TorchStep`: an optimizer's update rule (the single definition in
  :mod:`eostheory.optimizers`) evaluated on tensors; :func:`train`, :func:`resume`
  and :func:`branch` (fork a saved run, at its end or an earlier step, into branches with
  new hyperparameters); :func:`parse_schedule` / :class:`Schedule`: learning-rate schedules.
- :class:`Groups` and its builders (:func:`by_label`, :func:`by_quantiles`, :func:`output_outliers`,
  :func:`injected`, …), :func:`group_measures`; :func:`selective`: the branching intervention
  that measures which groups of the data gain from training at the edge.
- :data:`MEASURES`, :class:`Measure`, :func:`measure` (decorator), :func:`register_measure`:
  the registry of quantities :func:`train` tracks (built-ins and the user's own).

Examples:
    >>> import eostheory.torch as et
    >>> data = et.digits(n=200)
    >>> r = et.train("mlp", data, eta=0.1, steps=20, track="sharpness", track_every=10, device="cpu")
    >>> r.status, len(r.series["sharpness"]), r.threshold
    ('completed', 3, 20.0)
"""

from eostheory.torch._backend import (
    DEFAULT_CPU_THREADS,
    TORCH_MISSING,
    apply_default_threads,
    require_torch,
    resolve_device,
    resolve_dtype,
    thread_setting,
)

require_torch()
apply_default_threads()  # one CPU thread unless the user chose (see eostheory.torch._backend)

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
from eostheory.torch._eoss import (  # noqa: E402
    curvature_statistics,
    edge_verdict,
    eoss_edge_test,
    eoss_experiment,
    eoss_run,
)
from eostheory.torch._flows import (  # noqa: E402
    TORCH_DEFAULTS,
    TORCH_FLOWS,
    CostModel,
    GDMidpoints,
    TorchFlowResult,
    flow_vs_gd,
    gd_midpoints,
    measure_costs,
    rod_delta_rhs,
    solve_torch_flow,
    torch_flows,
)
from eostheory.torch._geometry import (  # noqa: E402  (registers the generalized-sharpness measures)
    GeometryStep,
    generalized_sharpness,
    generalized_sharpness_measure,
    layout_of,
)
from eostheory.torch._groups import (  # noqa: E402
    GROUP_KINDS,
    Groups,
    by_label,
    by_quantiles,
    from_indices,
    from_masks,
    group_measures,
    group_stats,
    injected,
    output_outliers,
    per_example,
    resolve_groups,
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
from eostheory.torch._models import (  # noqa: E402
    ACTIVATION_SPECS,
    ACTIVATIONS,
    MODELS,
    ActivationSpec,
    activation,
    build_model,
    cnn,
    mlp,
    nonsmooth_modules,
    resolve_activation,
)
from eostheory.torch._objective import (  # noqa: E402
    LOSSES,
    FunctionObjective,
    HessianOperator,
    NetworkObjective,
    Objective,
    ThirdDerivativeCheck,
    Work,
    mse_loss,
    mse_mean_loss,
)
from eostheory.torch._params import (  # noqa: E402
    ParamSlot,
    flat_params,
    load_flat_params,
    load_params_dict,
    param_layout,
    params_dict,
)
from eostheory.torch._rules import TorchStep  # noqa: E402
from eostheory.torch._schedules import SCHEDULES, Schedule, parse_schedule  # noqa: E402
from eostheory.torch._selective import (  # noqa: E402
    SelectiveResult,
    confidence_interval,
    noisy_digits,
    selective,
    selective_mixture,
)
from eostheory.torch._toys import potential_objective, torch_function  # noqa: E402
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
    "ACTIVATION_SPECS",
    "DATASETS",
    "DEFAULT_CPU_THREADS",
    "DENSE_MAX_PARAMS",
    "EIG_METHODS",
    "GROUP_KINDS",
    "LOSSES",
    "MEASURES",
    "MODELS",
    "SCHEDULES",
    "TORCH_DEFAULTS",
    "TORCH_FLOWS",
    "TORCH_MISSING",
    "TRACKABLE",
    "ActivationSpec",
    "CostModel",
    "Dataset",
    "EigenTracker",
    "Eigenpairs",
    "FunctionObjective",
    "GDMidpoints",
    "GeometryStep",
    "Groups",
    "HessianOperator",
    "Measure",
    "MeasureState",
    "MonteCarloEstimate",
    "NetworkObjective",
    "NonFiniteCurvatureError",
    "Objective",
    "ParamSlot",
    "Schedule",
    "SelectiveResult",
    "StopTraining",
    "ThirdDerivativeCheck",
    "TorchFlowResult",
    "TorchStep",
    "TrainConfig",
    "TrainResult",
    "Work",
    "activation",
    "apply_default_threads",
    "batch_sharpness",
    "branch",
    "build_model",
    "by_label",
    "by_quantiles",
    "chebyshev",
    "cnn",
    "confidence_interval",
    "curvature_statistics",
    "digits",
    "edge_verdict",
    "eoss_edge_test",
    "eoss_experiment",
    "eoss_run",
    "flat_params",
    "flow_vs_gd",
    "from_arrays",
    "from_indices",
    "from_masks",
    "gaussian_mixture",
    "gd_midpoints",
    "generalized_sharpness",
    "generalized_sharpness_measure",
    "get_dataset",
    "get_measure",
    "gni",
    "group_measures",
    "group_stats",
    "injected",
    "layout_of",
    "load_flat_params",
    "load_npz",
    "load_params_dict",
    "measure",
    "measure_costs",
    "mlp",
    "mse_loss",
    "mse_mean_loss",
    "noisy_digits",
    "nonsmooth_modules",
    "output_outliers",
    "param_layout",
    "params_dict",
    "parse_schedule",
    "per_example",
    "potential_objective",
    "preconditioned_sharpness",
    "preconditioner",
    "register_measure",
    "resolve_activation",
    "resolve_device",
    "resolve_dtype",
    "resolve_groups",
    "resume",
    "rod_delta_rhs",
    "selective",
    "selective_mixture",
    "sharpness",
    "solve_torch_flow",
    "teacher_student",
    "thread_setting",
    "top_eigenpairs",
    "torch_flows",
    "torch_function",
    "train",
]
