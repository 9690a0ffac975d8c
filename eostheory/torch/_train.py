r"""Training at the edge of stability: explicit optimizers on networks, with curvature tracking.

:func:`train` runs full-batch GD, heavy ball, Nesterov, RMSProp, Adam — any optimizer of
:data:`eostheory.optimizers.OPTIMIZERS` or a rule written out (``update=``), evaluated from
its single update-rule definition by :class:`~eostheory.torch.TorchStep` — or SGD with any
batch size, and records every ``track_every`` steps the full-batch loss and the tracked
measures of :mod:`eostheory.torch._measures` (accuracy, sharpness, top eigenvalues, Batch
Sharpness, GNI, gradient norm, directional smoothness, alignment, distance from the start,
or the user's own).  :func:`branch` forks a saved run into new run directories with changed
hyperparameters.

A run directory (``out``) holds ``config.json``, ``metrics.jsonl`` (one JSON record per
line, appended as the run goes), ``step_loss.f64`` (the loss of every step, raw float64),
``checkpoint.pt`` (parameters, optimizer state, random-number states and the last
eigenvectors, written atomically after each record), ``checkpoint.json`` (its integrity
record), ``result.json`` and ``training.png``, and with ``checkpoint_every`` the kept
checkpoints ``checkpoints/step_N.pt`` (their hashes in ``checkpoints/index.json``) that a
branch at an earlier step starts from.  Every JSON file is strict JSON: a non-finite number
is written as ``null`` and the run's ``message`` says why.  Writes go through
:mod:`eostheory._io`.

The step at ``t`` runs at the scheduled rate :math:`\eta_t` (:mod:`eostheory.torch._schedules`)
with optional weight decay; under a schedule every record holds ``eta`` and the stability
thresholds at that rate (:class:`_Thresholds`).

An interrupted run resumes from its checkpoint with ``resume=True``: records after the
checkpoint are recomputed, bit for bit on the CPU, so nothing recorded is lost.  The
integrity record holds the SHA-256 of the checkpoint's bytes and of the metrics and step
losses written up to it; a resume checks all three before it loads anything, drops what an
interruption left after the checkpoint (a record or a line cut short) and refuses, with a
message naming the last good record, a checkpoint whose bytes changed or a metrics file
that lost records.  Writes go to a temporary file renamed into place, and the record keeps
the previous checkpoint's hash too, so a process killed between the two renames leaves a
directory that still resumes.

Divergence is detected before any curvature is computed: the loss and the gradient are
checked for finiteness first, and a NaN or infinite Hessian-vector product
(:class:`~eostheory.torch.NonFiniteCurvatureError`) ends the run with status
``"diverged"``, keeping the last finite state, instead of reaching an eigensolver.

The modules: :mod:`eostheory.torch._trainconfig` (the configuration and result records),
:mod:`eostheory.torch._rundir` (the run directory), :mod:`eostheory.torch._metrics` (the
thresholds and regime of each record) and :mod:`eostheory.torch._trainloop` (the loop,
resume and branch); this module gathers their public names.
"""

from eostheory.torch._trainconfig import TRACKABLE, StopTraining, TrainConfig, TrainResult
from eostheory.torch._trainloop import branch, resume, train

__all__ = ["TRACKABLE", "StopTraining", "TrainConfig", "TrainResult", "branch", "resume", "train"]
