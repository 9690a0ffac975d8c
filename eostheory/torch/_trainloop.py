"""The training loop: :func:`train`, and :func:`resume` and :func:`branch` of a saved run."""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._json import jsonable
from eostheory._validate import positive_float, positive_int
from eostheory.analysis.torch_plots import plot_training
from eostheory.geometry import SteepestOptimizer
from eostheory.optimizers import Optimizer, get_optimizer
from eostheory.torch._backend import require_torch, resolve_device, resolve_dtype
from eostheory.torch._curvature import DENSE_MAX_PARAMS, EIG_METHODS, EigenTracker, NonFiniteCurvatureError
from eostheory.torch._data import DATASETS, Dataset, get_dataset
from eostheory.torch._geometry import geometry_optimizer, geometry_step
from eostheory.torch._measures import MEASURES, MeasureState, resolve_measures
from eostheory.torch._metrics import _regime_of, _series, _Thresholds
from eostheory.torch._models import build_model
from eostheory.torch._objective import NetworkObjective
from eostheory.torch._rules import TorchStep
from eostheory.torch._rundir import _RESUME_OPTIONS, _check_out, _merge, _RunDir, _saved_kwargs, _saved_run
from eostheory.torch._schedules import Schedule, parse_schedule
from eostheory.torch._trainconfig import StopTraining, TrainConfig, TrainResult, _config_tuples, _show

torch = require_torch()


# ----------------------------------------------------------------------------- helpers


def _defaults(fn: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keyword defaults of ``fn`` (so that a stored configuration names every option's value)."""
    import inspect

    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty and k not in skip
    }


def _model_spec(model: Any, name: str | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if name is not None:
        from eostheory.torch._models import _widths

        given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        spec = {"name": name, **({} if name == "linear" else _defaults(build_model, ("seed",))), **given}
        if "widths" in spec:  # "16,16", (16, 16) and [16, 16] are one configuration
            spec["widths"] = list(_widths(spec["widths"]))
        return jsonable(spec)
    return {"name": "custom", "repr": " ".join(repr(model).split())[:2000]}


def _finite(x: Any) -> bool:
    return bool(torch.isfinite(x).all())


class _StopRun(Exception):  # noqa: N818 - a control-flow signal
    """An ``on_step`` callback asked to stop at ``step``."""

    def __init__(self, step: int, message: str) -> None:
        super().__init__(step, message)
        self.step = step
        self.message = message


class _NonFiniteError(Exception):
    """A non-finite ``kind`` (``"loss"``, ``"gradient"`` or ``"hessian"``) at ``step``."""

    def __init__(self, step: int, kind: str, loss: float = math.nan) -> None:
        super().__init__(step, kind)
        self.step = step
        self.kind = kind
        self.loss = loss


# ----------------------------------------------------------------------------- main entry


def train(
    model: Any,
    data: Any,
    *,
    loss: Any = "mse",
    optimizer: Any = "gd",
    update: Any = None,
    eta: float,
    beta: float | None = None,
    hyperparameters: Mapping[str, float] | None = None,
    steps: int,
    batch_size: int | None = None,
    track: Any = ("loss", "accuracy", "sharpness"),
    track_every: int = 10,
    top_k: int = 1,
    eig_method: str = "lanczos",
    eig_tol: float = 1e-3,
    bs_batch_size: int | None = None,
    bs_rse: float = 0.05,
    seed: int = 0,
    device: Any = "auto",
    dtype: Any = "float32",
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    plot: bool = True,
    model_kwargs: Mapping[str, Any] | None = None,
    data_kwargs: Mapping[str, Any] | None = None,
    branch_from: str | Path | None = None,
    branch_name: str | None = None,
    on_step: Callable[[MeasureState], Any] | None = None,
    on_step_every: int = 1,
    schedule: str | Schedule | None = None,
    weight_decay: float = 0.0,
    decoupled: bool = False,
    checkpoint_every: int | None = None,
    branch_step: int | None = None,
    _halt_at: int | None = None,
) -> TrainResult:
    r"""Train a network with an explicit optimizer and track its curvature.

    Args:
        model: a :class:`torch.nn.Module`, or ``"mlp"``, ``"cnn"``, ``"linear"`` (built for
            ``data`` with ``model_kwargs`` such as ``widths``, ``activation``; seeded by ``seed``).
        data: a :class:`~eostheory.torch.Dataset`, a built-in name (``"digits"``, …, with
            ``data_kwargs``) or a ``.npz`` path.
        loss: ``"mse"`` (:math:`\tfrac12\|f-y\|^2`, mean over examples), ``"ce"`` or a callable.
        optimizer: a name from :data:`eostheory.optimizers.OPTIMIZERS` (``gd``, ``heavy-ball``,
            ``nesterov``, ``rmsprop``, ``adam``, …) or an :class:`~eostheory.optimizers.Optimizer`.
        update: instead of ``optimizer``, the step written as an update rule: assignments
            separated by ``;`` or a list of them, e.g. ``"v = beta*v + g; w = w - eta*v"``
            (the run's optimizer is then named ``"custom"``); any hyperparameter other than
            ``eta`` and ``beta`` goes in ``hyperparameters``.
        eta: learning rate :math:`\eta>0`.
        beta: momentum, for optimizers that have it.
        hyperparameters: values of other hyperparameters of the optimizer's rule.
        steps: total optimizer steps (on resume, the new total: at least the steps done);
            ``0`` only evaluates the start.
        batch_size: ``None`` for full batch, else SGD on random batches of this size
            (each step draws a fresh uniformly random batch without replacement).
        track: measures to record (a list or ``"a,b"``): names of built-in or registered
            measures (:data:`~eostheory.torch.MEASURES`, :func:`~eostheory.torch.measure`),
            :class:`~eostheory.torch.Measure` objects, or callables ``fn(state)`` (tracked
            under their ``__name__``).  ``loss`` always is.
        track_every: record every this many steps (and at the end).
        top_k: eigenvalues tracked (``"eigenvalues"``); the sharpness is the first.
        eig_method: eigensolver (:data:`~eostheory.torch.EIG_METHODS`), warm-started;
            ``"dense"`` only for models of at most
            :data:`~eostheory.torch.DENSE_MAX_PARAMS` parameters.
        eig_tol: its relative accuracy target.
        bs_batch_size: batch size for Batch Sharpness / GNI (default ``batch_size``, or the
            full data set for full-batch runs).
        bs_rse: target relative standard error of Batch Sharpness / GNI.
        seed: seed of the model, the batches and the estimators' random vectors.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ….
        dtype: ``"float32"`` or ``"float64"``.
        out: run directory (config, metrics, checkpoint and its integrity record, plot),
            checked before any work is done.
        resume: continue the run in ``out`` from its checkpoint.  A resumed run continues
            the saved configuration: every argument must match it, except ``steps`` and
            ``device``.
        progress: show a tqdm progress bar.
        plot: draw ``training.png`` in the run directory (``False`` saves about a second
            per run where only the numbers matter, e.g. many short branches).
        model_kwargs: options of the named model builder.
        data_kwargs: options of the named data set.
        branch_from: a run directory to fork from (see :func:`branch`, which builds the
            arguments from the saved configuration): the run starts from that directory's
            checkpoint — parameters, optimizer buffers, random-number states (batch order,
            estimators), eigenvectors, work counters, records and step losses — and writes
            a new run directory ``out``.  Model, data, loss, optimizer, seed and dtype must
            be the saved ones; hyperparameters, tracking and ``steps`` (the new total) may change.
        branch_name: the branch's name, stored in ``config.json`` with its origin.
        on_step: a callback ``on_step(state)`` for custom logging or stopping, called at
            steps 0, ``on_step_every``, 2 ``on_step_every``, … before the step from there
            (not at the final step), with a :class:`~eostheory.torch.MeasureState` like the
            one measures see (``state.step``, ``state.w``, the full-batch ``state.gradient``
            and ``state.loss``, ``state.optimizer_state``, ``state.hessian`` on demand, …;
            its ``eigenpairs`` come from a solver of its own, so the run's records do not
            change).  Returning a truthy value, or raising :class:`StopTraining`, ends the
            run cleanly with status ``"stopped"``: the state of that step is recorded,
            checkpointed and kept (``resume`` continues it).  Any other exception it raises
            propagates.  Not stored in the configuration (pass it again on resume).
        on_step_every: call ``on_step`` every this many steps (>= 1).
        schedule: the learning-rate schedule, a spec such as ``"cosine:warmup=100,final=0.1"``
            or ``"step:every=500,factor=0.5"`` (:func:`~eostheory.torch.parse_schedule`), or a
            :class:`~eostheory.torch.Schedule`: step ``t`` uses :math:`\eta_t = \eta f(t)`.
            Default constant.  With a schedule every record holds ``eta`` (:math:`\eta_t` of
            the step taken from it) and the thresholds at :math:`\eta_t` (``threshold``,
            ``threshold_small_batch``).
        weight_decay: :math:`\lambda \ge 0`.  Coupled (default): the step sees the gradient
            of :math:`L + \tfrac{\lambda}{2}\|w\|^2`, :math:`g + \lambda w` (as
            ``torch.optim.SGD``/``Adam``'s ``weight_decay``); with ``decoupled`` the step
            runs on :math:`g` and then :math:`w \leftarrow w - \eta_t\lambda w` (AdamW).
            The tracked loss and curvature are those of the data loss :math:`L`.
        decoupled: apply ``weight_decay`` decoupled (AdamW style) instead of coupled.
        checkpoint_every: with ``out``, keep the checkpoint of every this many steps (a
            multiple of ``track_every``) in ``out/checkpoints``, so that a branch can fork
            at that step without a replay (``branch(..., step=N)``).
        branch_step: with ``branch_from``, fork at this step instead of the source's last
            checkpoint: from a kept checkpoint of that step, or else by replaying the
            saved configuration from the nearest kept checkpoint before it (or the start);
            see :func:`branch`.

    Returns:
        :class:`TrainResult`.  Its ``status`` is ``"completed"``, ``"stopped"`` (by
        ``on_step``) or ``"diverged"``: a NaN or
        infinite loss, gradient or Hessian-vector product, checked in that order before any
        eigen-solve, stops the run and keeps the last state whose loss was finite (the
        ``message`` says which quantity failed and at which step).  A user module also ends
        up holding the final parameters.

    Raises:
        EosInputError: bad input (η ≤ 0, unknown names, shapes that do not fit, a model
            without parameters, ``eig_method="dense"`` on a model above
            :data:`~eostheory.torch.DENSE_MAX_PARAMS` parameters, a loss or gradient that is
            not finite at the start, an ``out`` that is a file or cannot be written, an
            existing run directory without ``resume``); on resume: a configuration that
            differs from the saved one, ``steps`` below the steps done, a run that diverged,
            a checkpoint that does not match its integrity record or metrics that lost
            records (the message names the last good record).
        KeyboardInterrupt: after writing the checkpoint, when interrupted.
    """
    t_start = time.perf_counter()
    if on_step is not None and not callable(on_step):
        raise EosInputError(f"on_step must be a callable on_step(state), got {type(on_step).__name__}")
    on_step_every = positive_int("on_step_every", on_step_every)
    try:
        weight_decay = float(weight_decay)
    except (TypeError, ValueError):
        raise EosInputError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}") from None
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise EosInputError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
    if not isinstance(decoupled, bool):
        raise EosInputError(f"decoupled must be True or False, got {decoupled!r}")
    if decoupled and weight_decay == 0:
        raise EosInputError("decoupled applies to weight decay: give weight_decay > 0 too")
    dev = resolve_device(device)
    dt = resolve_dtype(dtype)
    steps = positive_int("steps", steps, allow_zero=True)
    track_every = positive_int("track_every", track_every)
    top_k = positive_int("top_k", top_k)
    eig_tol = positive_float("eig_tol", eig_tol)
    bs_rse = positive_float("bs_rse", bs_rse)
    seed = int(positive_int("seed", seed, allow_zero=True))
    if eig_method not in EIG_METHODS:
        raise EosInputError(f"unknown eigensolver {eig_method!r}; known: {', '.join(EIG_METHODS)}")
    if eig_method == "power" and top_k != 1:
        raise EosInputError("power iteration tracks only the top eigenvalue; use top_k = 1 or eig_method='lanczos'")
    sched = parse_schedule(schedule, steps=steps)
    if checkpoint_every is not None:
        checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
        if out is None:
            raise EosInputError("checkpoint_every keeps checkpoints in the run directory: give out too")
        if checkpoint_every % track_every:
            raise EosInputError(
                f"checkpoint_every = {checkpoint_every} must be a multiple of track_every = {track_every} "
                "(checkpoints are written at records)"
            )
    if branch_step is not None:
        if branch_from is None:
            raise EosInputError("branch_step is the step to fork at: give branch_from too")
        branch_step = positive_int("branch_step", branch_step, allow_zero=True)
    measures = resolve_measures(track)
    rundir = None
    source = None
    if branch_from is not None:
        if resume:
            raise EosInputError("a branch starts a new run directory: pass branch_from without resume")
        if out is None:
            raise EosInputError("a branch needs out, the new run directory")
        source = _RunDir(branch_from)
        if not source.config.exists():
            raise EosInputError(f"no run to branch from in {source.path} (config.json missing)")
        if Path(out).expanduser().resolve() == source.path.resolve():
            raise EosInputError(f"a branch of {source.path} needs another directory than the run itself")
    if out is not None:
        rundir = _RunDir(_check_out(out))
        rundir.snapshot_every = checkpoint_every
        if rundir.exists() and not resume:
            raise EosInputError(
                f"{rundir.path} already holds a run; pass resume=True (--resume) or choose another --out"
            )

    # -- optimizer: the single definition, evaluated on tensors
    if update is not None:
        if optimizer not in ("gd", "custom"):
            raise EosInputError(f"give either an optimizer ({optimizer!r}) or an update rule, not both")
        lines = update if isinstance(update, str) else "; ".join(str(u) for u in update)
        opt = Optimizer("custom", tuple(p.strip() for p in lines.replace("\n", ";").split(";") if p.strip()))
        _ = opt.rule  # parse now: a bad rule is a one-line error before any work
    elif geometry_optimizer(optimizer) is not None:  # steepest descent under a norm (eostheory.geometry)
        opt = geometry_optimizer(optimizer)
    else:
        opt = get_optimizer(optimizer)
    hp: dict[str, float | None] = {"eta": eta}
    if beta is not None:
        hp["beta"] = beta
    for k, v in (hyperparameters or {}).items():
        hp[k] = v
    values = opt.hyperparameter_values(**hp)
    hyper = {h.name: v for h, v in zip(opt.hyperparameters, values, strict=True)}
    # a steepest-descent step needs the parameter blocks: it is built with the model below
    stepper: Any = None if isinstance(opt, SteepestOptimizer) else TorchStep(opt.rule, hyper)
    if "eta" not in hyper and not sched.is_constant:
        raise EosInputError(f"a learning-rate schedule scales eta, and the rule '{opt}' has none")
    eta = float(hyper.get("eta", eta))
    ths = _Thresholds(opt, hyper, weight_decay, decoupled, sgd=batch_size is not None)
    threshold_note = ths.note

    # -- data and model
    dkw = dict(data_kwargs or {})
    if isinstance(data, Dataset):
        if dkw:
            raise EosInputError("data_kwargs apply only to a data set given by name")
        dataset, data_spec = data, {"name": "custom", "repr": data.name}
    else:
        if not str(data).endswith(".npz"):
            dkw.setdefault("seed", seed)
        dataset = get_dataset(data, **dkw)
        full = dkw if str(data).endswith(".npz") else {**_defaults(DATASETS[str(data).strip()]), **dkw}
        data_spec = jsonable({"name": str(data), **full})
    mkw = dict(model_kwargs or {})
    if model == "linear" and mkw:
        raise EosInputError(f"model_kwargs {sorted(mkw)} do not apply to the linear model (it has no hidden layers)")
    if isinstance(model, str):
        module = build_model(model, dataset, seed=seed, **mkw)
        model_spec = _model_spec(module, model, mkw)
    else:
        if mkw:
            raise EosInputError("model_kwargs apply only to a model given by name")
        module = model
        model_spec = _model_spec(module, None, {})
    obj = NetworkObjective(module, dataset, loss, device=dev, dtype=dt)
    if stepper is None:
        stepper = geometry_step(opt, hyper, obj)
    n = obj.n_examples
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
        if batch_size > n:
            raise EosInputError(f"batch_size = {batch_size} exceeds the {n} examples")
        if batch_size == n:
            batch_size = None
            ths.sgd = False
    thresholds0 = ths.at(eta)
    threshold = thresholds0.get("full-batch")
    bsb = bs_batch_size if bs_batch_size is not None else (batch_size or n)
    bsb = positive_int("bs_batch_size", bsb)
    if bsb > n:
        raise EosInputError(f"bs_batch_size = {bsb} exceeds the {n} examples")
    if obj.labels is None:  # measures that need labels do not apply to regression data
        measures = [m for m in measures if "labels" not in m.needs]
    tracked = tuple(m.name for m in measures)
    need_eig = any("eigenpairs" in m.needs for m in measures)
    need_h = need_eig or any("hessian" in m.needs for m in measures)
    if need_eig and top_k > (obj.n_params - 1 if eig_method == "eigsh" else obj.n_params):
        raise EosInputError(
            f"top_k = {top_k} eigenvalues of a model with {obj.n_params} parameters"
            + (" (eigsh needs top_k < n)" if eig_method == "eigsh" else "")
        )
    if eig_method == "dense" and need_eig and obj.n_params > DENSE_MAX_PARAMS:
        raise EosInputError(
            f"eig_method 'dense' builds the full {obj.n_params:,} x {obj.n_params:,} Hessian at every record "
            f"(n products and an O(n^3) eigendecomposition); it is limited to {DENSE_MAX_PARAMS:,} parameters: "
            "use lanczos (the default, about 10 products per record)"
        )
    cfg = TrainConfig(
        model=model_spec,
        data=data_spec,
        loss=obj.loss_name,
        optimizer=opt.name,
        update=tuple(opt.update),
        hyperparameters=hyper,
        steps=steps,
        batch_size=batch_size,
        track=tracked,
        track_every=track_every,
        top_k=top_k,
        eig_method=eig_method,
        eig_tol=eig_tol,
        bs_batch_size=bsb,
        bs_rse=bs_rse,
        seed=seed,
        device=str(dev),
        dtype=str(dt).replace("torch.", ""),
        n_params=obj.n_params,
        n_examples=n,
        threshold=threshold,
        schedule=sched.spec(),
        weight_decay=weight_decay,
        decoupled=decoupled,
        checkpoint_every=checkpoint_every,
    )

    # -- state
    w = obj.theta0.clone()
    state = stepper.init_state(w)
    t = 0
    batch_gen = torch.Generator(device="cpu").manual_seed(seed + 1)
    bs_gen = torch.Generator(device="cpu").manual_seed(seed + 2)
    tracker = EigenTracker(top_k, method=eig_method, tol=eig_tol, seed=seed + 3)
    records: list[dict[str, Any]] = []
    step_loss: list[float] = []
    loaded = None
    if rundir is not None and resume:
        if rundir.config.exists():
            stored = rundir.read_config()
            try:
                old = TrainConfig(**{**stored, **_config_tuples(stored)})
            except TypeError:
                raise EosInputError(f"{rundir.config} is not a training configuration") from None
            diff = cfg.differences(old)
            if diff:
                raise EosInputError(
                    f"cannot resume {rundir.path}: resume continues the saved configuration, and this one "
                    f"differs in {'; '.join(diff)} (only steps and device may change; start a new run in another "
                    "--out to change the rest, or fork a branch with new hyperparameters: branch(), --branch)"
                )
            cfg = dataclasses.replace(cfg, branch=old.branch)  # a resumed branch keeps its origin
        loaded = rundir.load()
    elif source is not None:
        stored = source.read_config()
        fixed = ("model", "data", "loss", "optimizer", "update", "seed", "dtype", "n_params")
        mine = jsonable(cfg.as_dict())
        diff = [f"{k} {_show(mine[k])} (saved: {_show(stored.get(k))})" for k in fixed if mine[k] != stored.get(k)]
        if diff:
            raise EosInputError(
                f"cannot branch from {source.path}: a branch keeps the model, data, loss, optimizer, seed and dtype, "
                f"and this one differs in {'; '.join(diff)}"
            )
        loaded = source.load()
        if loaded is None:
            raise EosInputError(f"cannot branch from {source.path}: it holds no checkpoint yet")
        origin = {"from": str(source.path), "step": int(loaded[0]["step"]), "name": branch_name}
        if branch_step is not None and branch_step != origin["step"]:
            loaded, how = _fork_state(source, stored, loaded, branch_step, dev)
            origin.update(step=branch_step, **how)
        cfg = dataclasses.replace(cfg, branch=origin)
    if loaded is not None:
        assert rundir is not None
        ck, records, old_loss, doc = loaded
        t = int(ck["step"])
        if source is None and doc["entry"]["which"] == "current" and doc.get("status") == "diverged":
            raise EosInputError(
                f"cannot resume {rundir.path}: the run diverged ({doc.get('message')}); resuming would diverge "
                "again from the same state: start a new run (e.g. with a smaller eta) in another --out"
            )
        if steps < t:
            if source is not None:
                raise EosInputError(f"a branch of {source.path} at step {t} needs a total of steps >= {t}, got {steps}")
            raise EosInputError(
                f"cannot resume {rundir.path} with steps = {steps}: the run has done {t} steps already; "
                "resume keeps or raises the total"
            )
        w = ck["w"].to(device=dev, dtype=dt)
        state = {k: v.to(device=dev, dtype=dt) for k, v in ck["state"].items()}
        batch_gen.set_state(ck["batch_gen"])
        bs_gen.set_state(ck["bs_gen"])
        tracker.load_state_dict(ck["tracker"], device=dev, dtype=dt)
        obj.work.load(ck["work"])
        step_loss = [float(v) for v in old_loss]
        if len(step_loss) != t:
            raise EosInputError(f"{rundir.step_loss} holds {len(step_loss)} step losses, the checkpoint is at {t}")
        if source is not None:  # a new directory with the history up to the fork
            rundir.begin()
            rundir.rewrite_records(records)
            rundir.rewrite_step_loss(old_loss)
        else:
            rundir.adopt(doc, records, old_loss)
    else:
        L0, g0 = obj.value_and_grad(w)
        if not (math.isfinite(float(L0)) and _finite(g0)):
            what = "loss" if not math.isfinite(float(L0)) else "gradient"
            raise EosInputError(
                f"the {what} is not finite at the start (loss {float(L0)}): check the data, the model, "
                "the loss and the dtype (float32 overflows above 3e38)"
            )
        if rundir is not None:
            rundir.begin()
    if rundir is not None:
        rundir.write_config(cfg)

    recorded_steps = {r["step"] for r in records}
    flushed_loss = len(step_loss)

    w0 = obj.theta0.detach().clone()

    def hyper_at(tt: int) -> dict[str, float]:
        """The hyperparameters of step ``tt`` (``eta`` is the scheduled rate)."""
        return hyper if sched.is_constant else {**hyper, "eta": sched.eta(tt, eta)}

    def rate_entries(tt: int) -> dict[str, Any]:
        """What a record holds about step ``tt``'s rate under a schedule: ``eta`` and the thresholds at it.

        Nothing with a constant rate (the thresholds are ``TrainResult.thresholds``; records keep their form).
        """
        if sched.is_constant:
            return {}
        eta_t = sched.eta(tt, eta)
        at = thresholds0 if eta_t == eta else ths.at(eta_t)
        out: dict[str, Any] = {"eta": eta_t}
        if "full-batch" in at:
            out["threshold"] = at["full-batch"]
        if "small-batch" in at:
            out["threshold_small_batch"] = at["small-batch"]
        return out

    def advance(tt: int, ww: Any, g: Any, ss: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Step ``tt``: the rule at the scheduled rate, with weight decay (coupled: on the gradient)."""
        eta_t = eta
        if not sched.is_constant:
            eta_t = sched.eta(tt, eta)
            stepper.hyperparameters["eta"] = eta_t
        if weight_decay and not decoupled:
            g = g + weight_decay * ww
        w_new, s_new = stepper(ww, g, ss)
        if weight_decay and decoupled:
            w_new = w_new - (eta_t * weight_decay) * ww
        return w_new, s_new

    def record(tt: int, ww: Any, ss: Mapping[str, Any]) -> dict[str, Any]:
        # finiteness of the loss and the gradient first: no eigen-solve ever sees a diverged point
        op = obj.hessian(ww) if need_h else None
        if op is not None:
            Lw, gw = op.loss, op.gradient
        else:
            Lw, gw = obj.value_and_grad(ww)
        lw = float(Lw)
        if not math.isfinite(lw):
            raise _NonFiniteError(tt, "loss", lw)
        if not _finite(gw):
            raise _NonFiniteError(tt, "gradient", lw)
        rec: dict[str, Any] = {"step": tt, "loss": lw, **rate_entries(tt)}
        ms = MeasureState(
            step=tt,
            w=ww,
            gradient=gw,
            loss=lw,
            objective=obj,
            w0=w0,
            hyperparameters=hyper_at(tt),
            optimizer_state=ss,
            top_k=top_k,
            tracker=tracker,
            hessian=op,
            bs_batch_size=bsb,
            bs_rse=bs_rse,
            bs_generator=bs_gen,
        )
        del op
        try:
            if need_eig:  # one shared eigen-solve, recorded (sharpness, its cost) whichever measure asked for it
                rec.update(MEASURES["sharpness"].evaluate(ms))
            for m in measures:
                if m.name != "loss":
                    rec.update(m.evaluate(ms))
        except NonFiniteCurvatureError:
            raise _NonFiniteError(tt, "hessian", lw) from None
        finally:
            ms.release()
        rec["time"] = time.perf_counter() - t_start
        return jsonable(rec)

    def checkpoint(
        tt: int, ww: Any, ss: Mapping[str, Any], status: str = "running", msg: str = "", keep: bool = False
    ) -> None:
        if rundir is None:
            return
        nonlocal flushed_loss
        rundir.append_step_loss(step_loss[flushed_loss:tt])
        flushed_loss = tt
        rundir.save_checkpoint(
            {
                "step": tt,
                "w": ww.detach().cpu(),
                "state": {k: v.detach().cpu() for k, v in ss.items()},
                "batch_gen": batch_gen.get_state(),
                "bs_gen": bs_gen.get_state(),
                "tracker": tracker.state_dict(),
                "work": obj.work.as_dict(),
            },
            status,
            msg,
            keep=keep,
        )

    if source is not None:  # the branch directory holds its own checkpoint from the start, kept: a
        checkpoint(t, w, state, keep=True)  # branch of this branch after the fork replays from there

    def _call_on_step(tt: int, ww: Any, ss: Mapping[str, Any], lt: float, g: Any) -> str | None:
        """Run the callback at step ``tt``; the message of the stop it asks for, or ``None``."""
        if batch_size is not None:  # the callback sees the full-batch loss and gradient, as measures do
            Lf, g = obj.value_and_grad(ww)
            lt = float(Lf)
        cs = MeasureState(
            step=tt,
            w=ww,
            gradient=g,
            loss=lt,
            objective=obj,
            w0=w0,
            hyperparameters=hyper_at(tt),
            optimizer_state=ss,
            top_k=top_k,
            bs_batch_size=bsb,
            bs_rse=bs_rse,
            bs_generator=torch.Generator(device="cpu").manual_seed(seed + 4 + tt),
        )
        try:
            answer = on_step(cs)
        except StopTraining as exc:
            why = str(exc)
            return f"stopped by on_step at step {tt}" + (f": {why}" if why else "")
        finally:
            cs.release()
        if answer:
            return f"stopped by on_step at step {tt} (it returned {repr(answer)[:60]})"
        return None

    pbar = None
    if progress:
        from tqdm.auto import tqdm

        pbar = tqdm(total=steps, initial=min(t, steps), desc=f"{opt.name} eta={eta:g}", unit="step", leave=True)
    status, message = "completed", ""
    prev: tuple[int, Any, dict[str, Any]] | None = None
    cur = (t, w, state)
    diverged_at: int | None = None
    try:
        while True:
            t, w, state = cur
            # a replay (_halt_at) stops at its step like the run it replays: no extra record there
            if (t % track_every == 0 or (t >= steps and _halt_at is None)) and t not in recorded_steps:
                rec = record(t, w, state)
                records.append(rec)
                recorded_steps.add(t)
                if rundir is not None:
                    rundir.append_record(rec)
                checkpoint(t, w, state)
                if pbar is not None:
                    post = {"loss": f"{rec['loss']:.4g}"}
                    if rec.get("sharpness") is not None:
                        post["S"] = f"{rec['sharpness']:.4g}"
                    pbar.set_postfix(post, refresh=False)
            if t >= steps:
                break
            idx = None
            if batch_size is not None:
                idx = torch.randperm(n, generator=batch_gen)[:batch_size].to(dev)
            Lt, g = obj.value_and_grad(w, idx)
            lt = float(Lt)
            if not math.isfinite(lt):
                raise _NonFiniteError(t, "loss", lt)
            if not _finite(g):
                raise _NonFiniteError(t, "gradient", lt)
            if on_step is not None and t % on_step_every == 0:
                stop = _call_on_step(t, w, state, lt, g)
                if stop is not None:
                    raise _StopRun(t, stop)
            step_loss.append(lt)
            w_new, s_new = advance(t, w, g, state)
            prev = cur
            cur = (t + 1, w_new, s_new)
            if pbar is not None:
                pbar.update(1)
    except _NonFiniteError as bad:
        status = "diverged"
        t_bad = diverged_at = bad.step
        where = "the batch loss" if batch_size is not None and bad.kind == "loss" else f"the {bad.kind}"
        if bad.kind == "loss" and prev is not None and prev[0] == t_bad - 1:
            cur = prev
            message = (
                f"{where} became non-finite ({bad.loss}) at step {t_bad}; stopped and kept the state of step "
                f"{cur[0]}, the last with a finite loss"
            )
        elif bad.kind == "loss":
            message = f"{where} became non-finite ({bad.loss}) at step {t_bad}; stopped (state of step {t_bad} kept)"
        elif bad.kind == "gradient":
            message = (
                f"the gradient became non-finite at step {t_bad}; stopped there (the loss, {bad.loss:.6g}, is still "
                "finite)"
            )
        else:
            message = (
                f"the Hessian-vector products became non-finite at step {t_bad} (the loss, {bad.loss:.6g}, and the "
                "gradient are finite); stopped there before any eigen-solve (its record has null curvature)"
            )
        t, w, state = cur
        del step_loss[t:]
        if any(r["step"] > t for r in records):
            records = [r for r in records if r["step"] <= t]
            recorded_steps = {r["step"] for r in records}
            if rundir is not None:
                rundir.rewrite_records(records)
        if rundir is not None and flushed_loss > t:
            rundir.rewrite_step_loss(np.asarray(step_loss))
            flushed_loss = t
        rec = None
        if t not in recorded_steps and bad.kind == "loss":
            try:
                rec = record(t, w, state)
            except _NonFiniteError:  # the last good state may still be too close to the blow-up
                rec = None
        elif t not in recorded_steps and bad.kind == "hessian" and bad.step == t:
            # what is known at the last state: its loss; the curvature is null (the message says why)
            rec = {"step": t, "loss": bad.loss, **rate_entries(t)}
            rec.update({m.key: None for m in measures if m.needs & {"hessian", "eigenpairs"}})
            rec["time"] = time.perf_counter() - t_start
        if rec is not None:
            records.append(rec)
            if rundir is not None:
                rundir.append_record(rec)
        checkpoint(t, w, state, status, message)
    except _StopRun as stop:
        status, message = "stopped", stop.message
        t, w, state = cur
        if t not in recorded_steps:
            rec = record(t, w, state)
            records.append(rec)
            recorded_steps.add(t)
            if rundir is not None:
                rundir.append_record(rec)
        checkpoint(t, w, state, status, message)
    except EosInputError:
        if rundir is not None and rundir.unsaved():
            rundir.discard()  # a fresh run that failed before its first checkpoint leaves nothing behind
        raise
    except KeyboardInterrupt:
        status = "interrupted"
        t, w, state = cur
        message = f"interrupted at step {t}; resume with resume=True (--resume) to continue"
        checkpoint(t, w, state, status, message)
    finally:
        if pbar is not None:
            pbar.close()
    t, w, state = cur
    if status == "completed":
        message = f"{t} steps of {opt.name} with eta={eta:g}"
        if not sched.is_constant:
            message += f" ({sched.spec()})"
        if weight_decay:
            message += f", weight decay {weight_decay:g}" + (" (decoupled)" if decoupled else "")
        if threshold is not None:
            message += f" (threshold {threshold:.6g})"
        if _halt_at is not None:  # a replay ends with the checkpoint of its last step
            checkpoint(t, w, state)
        if rundir is not None:
            rundir.set_status(status, message)
    obj.load_into_model(w)
    series = _series(records)
    result = TrainResult(
        cfg,
        status,
        message,
        t,
        series,
        np.asarray(step_loss, dtype=np.float64),
        w.detach().cpu(),
        obj.work.as_dict(),
        time.perf_counter() - t_start,
        None if rundir is None else rundir.path,
        measures={m.name: m for m in measures},
        thresholds=thresholds0,
    )
    if threshold_note:
        result.extra["threshold_note"] = threshold_note
    if diverged_at is not None:
        result.extra["diverged_at"] = diverged_at
    regime_info = _regime_of(cfg, series)
    if regime_info is not None:
        result.extra["regime"] = regime_info
    if rundir is not None and _halt_at is None:
        rundir.write_result(result.summary())
        if records and plot:
            try:
                plot_training(result, rundir.path / "training.png", registry=MEASURES)
            except Exception as exc:  # a plot must never lose a run
                result.extra["plot_error"] = str(exc)
    if status == "interrupted":
        raise KeyboardInterrupt(message)
    return result


def _fork_state(
    source: _RunDir, stored: Mapping[str, Any], loaded: tuple[Any, ...], step: int, device: Any
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The full state of the run in ``source`` at ``step`` (before its last checkpoint), to branch from.

    From the checkpoint kept at ``step`` (``checkpoint_every``) if there is one; else the
    saved configuration is replayed from the nearest kept checkpoint before ``step`` (or
    from the start) into a temporary directory, with its records (so the random states and
    warm starts advance as they did) but no record at ``step`` unless the run made one.
    The history (records and step losses up to ``step``) is the source's own.

    Returns:
        ``(state, records, step_losses, integrity record)`` as :meth:`_RunDir.load`
        returns them, and what the origin records about the replay
        (``replayed_from``, ``replay_exact``: every replayed step loss and record equals the
        saved one bit for bit); empty for a kept checkpoint.

    Raises:
        EosInputError: ``step`` after the last checkpoint, before the fork of a branch, or
            not reachable (a user-supplied model or data and no checkpoint kept at ``step``).
    """
    ck, records, step_loss, doc = loaded
    final = int(ck["step"])
    if step > final:
        raise EosInputError(
            f"cannot branch {source.path} at step {step}: its last checkpoint is at step {final} (resume it to go on)"
        )
    origin = stored.get("branch") or {}
    if isinstance(origin, dict) and step < int(origin.get("step", 0)):
        raise EosInputError(
            f"cannot branch {source.path} at step {step}: it is itself a branch forked at step {origin['step']} "
            f"from {origin.get('from')}; branch that run at step {step} instead"
        )
    history = [r for r in records if r["step"] <= step]
    losses = step_loss[:step]
    kept = [s for s in source.snapshot_index() if s <= step]
    if step in kept:
        state = source.load_snapshot(step)
        return (state, history, losses, doc), {}
    start = max(kept, default=0)
    fork = int(origin.get("step", 0)) if isinstance(origin, dict) else 0
    if start < fork:  # before its fork a branch ran its source's configuration, not its own
        raise EosInputError(
            f"cannot branch {source.path} at step {step}: it is a branch forked at step {fork} and keeps no "
            f"checkpoint at or after its fork to replay from; branch its source, {origin.get('from')}, instead"
        )
    kwargs, _ = _saved_kwargs(source, f"branch at step {step} (no checkpoint was kept there)")
    kwargs["checkpoint_every"] = None
    tmp = Path(tempfile.mkdtemp(prefix="eostheory-replay-"))
    try:
        extra: dict[str, Any] = {"branch_from": source.path, "branch_step": start} if kept else {}
        train(steps=step, device=device, out=tmp / "run", _halt_at=step, **kwargs, **extra)
        replay = _RunDir(tmp / "run").load()
        if replay is None or int(replay[0]["step"]) != step:
            raise EosInputError(f"cannot branch {source.path} at step {step}: the replay did not reach it")
        state, rrecords, rloss, _ = replay
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def bare(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "time"} for r in rs]

    exact = np.array_equal(rloss, losses) and bare(rrecords) == bare(history)
    return (state, history, losses, doc), {"replayed_from": start, "replay_exact": bool(exact)}


def resume(
    out: str | Path, *, steps: int | None = None, progress: bool = False, device: Any = None, **options: Any
) -> TrainResult:
    """Continue the run in directory ``out`` (built-in model and data only), optionally to a new total of ``steps``.

    A resumed run continues its saved configuration.  ``options`` (any argument of
    :func:`train` but ``steps`` and ``device``, e.g. what a user typed again on the command
    line) are checked against it: a value that differs is refused, never silently replaced
    or ignored.  ``model_kwargs``, ``data_kwargs`` and ``hyperparameters`` are merged
    into the saved ones key by key.

    Args:
        out: the run directory.
        steps: the new total (at least the steps done); default: the saved total.
        progress: show a progress bar.
        device: where to continue (default ``"auto"``).
        **options: arguments of :func:`train` to check against the saved configuration.

    Returns:
        :class:`TrainResult` of the whole run.

    Raises:
        EosInputError: no run there, a run with a user-supplied model or data set (call
            :func:`train` with the same module and ``resume=True`` instead), an unknown
            option, an option that differs from the saved configuration (a changed
            schedule or weight decay too), and every refusal of :func:`train` on resume (a
            diverged run, a checkpoint or metrics that fail their integrity check).
    """
    unknown = [k for k in options if k not in _RESUME_OPTIONS]
    if unknown:
        raise EosInputError(f"resume() takes no option {', '.join(unknown)}; known: {', '.join(_RESUME_OPTIONS)}")
    rd, kwargs, saved_steps = _saved_run(out, "resume")
    for k, v in options.items():
        _merge(kwargs, k, v)
    return train(
        steps=saved_steps if steps is None else steps,
        device="auto" if device is None else device,
        out=rd.path,
        resume=True,
        progress=progress,
        **kwargs,
    )


#: What a branch may change (besides hyperparameters of the optimizer, given by name).
_BRANCH_OPTIONS = (
    "hyperparameters",
    "track",
    "track_every",
    "top_k",
    "eig_method",
    "eig_tol",
    "bs_batch_size",
    "bs_rse",
    "batch_size",
    "schedule",
    "weight_decay",
    "decoupled",
    "checkpoint_every",
)


def branch(
    source: str | Path,
    branches: Mapping[str, Mapping[str, Any]],
    *,
    steps: int,
    step: int | None = None,
    out: str | Path | None = None,
    paths: Mapping[str, str | Path] | None = None,
    progress: bool = False,
    device: Any = None,
) -> dict[str, TrainResult]:
    """Fork the run in ``source`` at its checkpoint (or at an earlier ``step``) into branches with new settings.

    Each branch starts from the full saved state — parameters, optimizer buffers (a
    heavy-ball branch carries its momentum), the random-number states (the order of SGD
    batches and of the estimators' vectors), the tracked eigenvectors, the step count, the
    records and step losses so far — and runs ``steps`` more steps in a new run directory
    ``out/NAME`` (default ``source/branches/NAME``), which is a complete run directory of
    its own (``resume`` continues it; ``config.json`` names its origin under ``branch``).
    A branch with no overrides continues exactly as the uninterrupted run would, bit for
    bit on the CPU.

    **Earlier steps.** With ``step=N`` below the last checkpoint, the state at step ``N`` is
    the checkpoint kept there (a run trained with ``checkpoint_every`` dividing ``N``), or
    else it is recomputed: the saved configuration is replayed from the nearest kept
    checkpoint before ``N`` (or from the start) to ``N``, with the same records, so that the
    random states and the eigensolver's warm starts advance exactly as in the original run.
    On the CPU the replay is deterministic, and it is checked: the origin in the branch's
    ``config.json`` records ``replayed_from`` and ``replay_exact`` (every replayed step loss
    and record equal to the saved one, bit for bit).  A replay costs the steps it replays.

    Args:
        source: a run directory with a checkpoint (a completed, interrupted or diverged run).
        branches: ``{name: overrides}``; overrides are hyperparameters by name (``eta``,
            ``beta``, ``beta1``, …) and options among ``track``, ``track_every``,
            ``top_k``, ``eig_method``, ``eig_tol``, ``bs_batch_size``, ``bs_rse``,
            ``batch_size``, ``schedule``, ``weight_decay``, ``decoupled``,
            ``checkpoint_every``.  ``{}`` continues unchanged.
        steps: steps each branch runs after the fork (> 0).
        step: the step to fork at (default: the last checkpoint, the last record).
        out: the directory that receives one run directory per branch.
        paths: the run directory of some branches by name (instead of ``out/NAME``).
        progress: show progress bars.
        device: where the branches run (default ``"auto"``).

    Returns:
        ``{name: TrainResult}`` in the order given.

    Raises:
        EosInputError: no run or no checkpoint in ``source``, a run with a user-supplied
            model or data (call :func:`train` with ``branch_from``), a bad branch name, an
            override that a branch cannot change (model, data, loss, optimizer, seed,
            dtype), an unknown hyperparameter, a branch directory that already holds a run,
            a ``step`` after the last checkpoint or before the source's own fork.
    """
    if not isinstance(branches, Mapping) or not branches:
        raise EosInputError('branches must be a non-empty dict {name: {overrides}}, e.g. {"slow": {"eta": 0.05}}')
    steps = positive_int("steps", steps)
    src, base, _ = _saved_run(source, "branch")
    if not src.record.exists():
        raise EosInputError(f"cannot branch from {src.path}: it holds no checkpoint yet")
    last = int(src._read_record()["current"]["step"])
    if step is not None:
        step = positive_int("step", step, allow_zero=True)
        if step > last:
            raise EosInputError(
                f"cannot branch {src.path} at step {step}: its last checkpoint is at step {last} (resume it to go on)"
            )
    t0 = last if step is None else step
    if base.get("update"):
        opt = Optimizer("custom", tuple(base["update"]))
    else:
        opt = geometry_optimizer(base["optimizer"]) or get_optimizer(base["optimizer"])
    hp_names = {h.name for h in opt.hyperparameters}
    root = Path(out).expanduser() if out is not None else src.path / "branches"
    unknown = sorted(set(paths or {}) - set(branches))
    if unknown:
        raise EosInputError(f"paths names branches that are not given: {', '.join(unknown)}")
    plan: dict[str, dict[str, Any]] = {}
    for name, overrides in branches.items():
        if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum():
            raise EosInputError(f"a branch name is letters, digits, '-' and '_', got {name!r}")
        if not isinstance(overrides, Mapping):
            raise EosInputError(f"branch {name!r}: overrides must be a dict, got {type(overrides).__name__}")
        kw = {**base, "hyperparameters": dict(base["hyperparameters"])}
        for k, v in overrides.items():
            if k in ("eta", "beta"):
                kw[k] = v
            elif k in hp_names:
                kw["hyperparameters"][k] = v
            elif k in _BRANCH_OPTIONS:
                _merge(kw, k, v)
            else:
                raise EosInputError(
                    f"branch {name!r} cannot change {k!r}: a branch keeps the model, data, loss, optimizer, seed and "
                    f"dtype; it changes the hyperparameters ({', '.join(sorted(hp_names))}) and "
                    f"{', '.join(_BRANCH_OPTIONS[1:])}"
                )
        target = Path((paths or {}).get(name, root / name)).expanduser()
        if _RunDir(target).exists():
            raise EosInputError(f"branch {name!r}: {target} already holds a run; choose another name or out")
        plan[name] = {**kw, "out": target}
    results: dict[str, TrainResult] = {}
    for name, kw in plan.items():
        results[name] = train(
            steps=t0 + steps,
            device="auto" if device is None else device,
            progress=progress,
            branch_from=src.path,
            branch_name=name,
            branch_step=step,
            **kw,
        )
    return results
