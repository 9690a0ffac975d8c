r"""Training at the edge of stability: explicit optimizers on networks, with curvature tracking.

:func:`train` runs full-batch GD, heavy ball, Nesterov — any optimizer of
:data:`eostheory.optimizers.OPTIMIZERS`, evaluated from its single update-rule definition by
:class:`~eostheory.torch.TorchStep` — or SGD with any batch size, and records every
``track_every`` steps the full-batch loss, accuracy, sharpness (warm-started top
eigenvalues), Batch Sharpness, GNI and gradient norm.

A run directory (``out``) holds ``config.json``, ``metrics.jsonl`` (one JSON record per
line, appended as the run goes), ``step_loss.f64`` (the loss of every step, raw float64),
``checkpoint.pt`` (parameters, optimizer state, random-number states and the last
eigenvectors, written atomically after each record), ``result.json`` and ``training.png``.
An interrupted run resumes from its checkpoint with ``resume=True``: records after the
checkpoint are recomputed, bit for bit on the CPU, so nothing recorded is lost.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._json import jsonable
from eostheory._validate import positive_float, positive_int
from eostheory.torch._backend import require_torch, resolve_device, resolve_dtype
from eostheory.torch._curvature import EIG_METHODS, EigenTracker, batch_sharpness, gni
from eostheory.torch._data import Dataset, get_dataset
from eostheory.torch._models import build_model
from eostheory.torch._objective import NetworkObjective
from eostheory.torch._rules import TorchStep

__all__ = ["TRACKABLE", "TrainConfig", "TrainResult", "resume", "train"]

torch = require_torch()

#: Quantities :func:`train` can track (``loss`` always is).
TRACKABLE = ("loss", "accuracy", "sharpness", "eigenvalues", "batch-sharpness", "gni", "grad-norm")

_STATUS = ("completed", "diverged", "interrupted")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (stored as ``config.json``)."""

    model: dict[str, Any]
    data: dict[str, Any]
    loss: str
    optimizer: str
    update: tuple[str, ...]
    hyperparameters: dict[str, float]
    steps: int
    batch_size: int | None
    track: tuple[str, ...]
    track_every: int
    top_k: int
    eig_method: str
    eig_tol: float
    bs_batch_size: int | None
    bs_rse: float
    seed: int
    device: str
    dtype: str
    n_params: int
    n_examples: int
    threshold: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        d["update"] = list(self.update)
        d["track"] = list(self.track)
        return d

    # fields that may change when a run is resumed
    _RESUMABLE = ("steps", "device")

    def differences(self, other: TrainConfig) -> list[str]:
        """Fields (other than ``steps`` and ``device``) in which two configs differ."""
        a, b = self.as_dict(), other.as_dict()
        return [k for k in a if k not in self._RESUMABLE and a[k] != b.get(k)]


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        config: the :class:`TrainConfig`.
        status: ``"completed"``, ``"diverged"`` (a non-finite loss stopped the run; the
            final state is the last one with a finite loss) or ``"interrupted"``.
        message: a sentence saying what happened.
        steps_done: optimizer steps taken.
        series: the tracked quantities, one list per key, aligned with ``series["step"]``.
        step_loss: the loss of every step (the batch loss for SGD).
        theta: the final parameters (flat tensor on the CPU).
        work: counters (losses, gradients, HVPs, third derivatives) over the whole run.
        seconds: wall-clock time of this call (resumed runs: of the last leg).
        out: the run directory, if any.
    """

    config: TrainConfig
    status: str
    message: str
    steps_done: int
    series: dict[str, list[Any]]
    step_loss: np.ndarray
    theta: Any
    work: dict[str, int]
    seconds: float
    out: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float | None:
        """The optimizer's linear stability threshold (``2/η`` for GD)."""
        return self.config.threshold

    def final(self) -> dict[str, Any]:
        """The last record."""
        return {k: v[-1] for k, v in self.series.items() if v}

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary with the tracked series."""
        return {
            "status": self.status,
            "message": self.message,
            "steps_done": self.steps_done,
            "threshold": self.threshold,
            "config": self.config.as_dict(),
            "final": self.final(),
            "series": self.series,
            "work": self.work,
            "seconds": self.seconds,
            "out": None if self.out is None else str(self.out),
        }


# ----------------------------------------------------------------------------- run directory


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class _RunDir:
    """Files of a run directory (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.step_loss = self.path / "step_loss.f64"
        self.checkpoint = self.path / "checkpoint.pt"
        self.result = self.path / "result.json"

    def exists(self) -> bool:
        return self.config.exists() or self.checkpoint.exists()

    def write_config(self, cfg: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.config, (json.dumps(cfg.as_dict(), indent=2) + "\n").encode())

    def read_config(self) -> dict[str, Any]:
        try:
            return json.loads(self.config.read_text())
        except (OSError, ValueError) as exc:
            raise EosInputError(f"cannot read {self.config}: {exc}") from None

    def read_records(self, upto: int | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.metrics.exists():
            return out
        for line in self.metrics.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                break  # a line cut short by an interruption: everything after it is recomputed
            if upto is not None and rec["step"] > upto:
                break
            out.append(rec)
        return out

    def rewrite_records(self, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, allow_nan=True) + "\n" for r in records)
        _atomic_write(self.metrics, text.encode())

    def append_record(self, rec: dict[str, Any]) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(rec, allow_nan=True) + "\n")
            f.flush()

    def read_step_loss(self, n: int) -> np.ndarray:
        if not self.step_loss.exists():
            return np.zeros(0)
        arr = np.fromfile(self.step_loss, dtype="<f8")
        return arr[:n]

    def rewrite_step_loss(self, arr: np.ndarray) -> None:
        _atomic_write(self.step_loss, np.asarray(arr, dtype="<f8").tobytes())

    def append_step_loss(self, arr: Iterable[float]) -> None:
        with open(self.step_loss, "ab") as f:
            f.write(np.asarray(list(arr), dtype="<f8").tobytes())
            f.flush()

    def save_checkpoint(self, state: dict[str, Any]) -> None:
        tmp = self.checkpoint.with_name("checkpoint.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint)

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint.exists():
            return None
        try:
            return torch.load(self.checkpoint, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise EosInputError(f"cannot read checkpoint {self.checkpoint}: {exc}") from None


# ----------------------------------------------------------------------------- helpers


def _parse_track(track: Any) -> tuple[str, ...]:
    if isinstance(track, str):
        track = [t for t in track.replace(" ", "").split(",") if t]
    items = [str(t).replace("_", "-") for t in (track or [])]
    bad = [t for t in items if t not in TRACKABLE]
    if bad:
        raise EosInputError(f"cannot track {bad}; choose from {', '.join(TRACKABLE)}")
    out = ["loss"] + [t for t in TRACKABLE[1:] if t in items]
    return tuple(out)


def _model_spec(model: Any, name: str | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    if name is not None:
        spec = {"name": name, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}}
        return jsonable(spec)
    return {"name": "custom", "repr": " ".join(repr(model).split())[:2000]}


def _finite(x: Any) -> bool:
    return bool(torch.isfinite(x).all())


# ----------------------------------------------------------------------------- main entry


def train(
    model: Any,
    data: Any,
    *,
    loss: Any = "mse",
    optimizer: str = "gd",
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
    model_kwargs: Mapping[str, Any] | None = None,
    data_kwargs: Mapping[str, Any] | None = None,
) -> TrainResult:
    r"""Train a network with an explicit optimizer and track its curvature.

    Args:
        model: a :class:`torch.nn.Module`, or ``"mlp"``, ``"cnn"``, ``"linear"`` (built for
            ``data`` with ``model_kwargs`` such as ``widths``, ``activation``; seeded by ``seed``).
        data: a :class:`~eostheory.torch.Dataset`, a built-in name (``"digits"``, …, with
            ``data_kwargs``) or a ``.npz`` path.
        loss: ``"mse"`` (:math:`\tfrac12\|f-y\|^2`, mean over examples), ``"ce"`` or a callable.
        optimizer: a name from :data:`eostheory.optimizers.OPTIMIZERS`.
        eta: learning rate :math:`\eta>0`.
        beta: momentum, for optimizers that have it.
        hyperparameters: values of other hyperparameters of the optimizer's rule.
        steps: total optimizer steps (on resume, the new total).
        batch_size: ``None`` for full batch, else SGD on random batches of this size
            (each step draws a fresh uniformly random batch without replacement).
        track: quantities to record, from :data:`TRACKABLE` (a list or ``"a,b"``).
        track_every: record every this many steps (and at the end).
        top_k: eigenvalues tracked (``"eigenvalues"``); the sharpness is the first.
        eig_method: eigensolver (:data:`~eostheory.torch.EIG_METHODS`), warm-started.
        eig_tol: its relative accuracy target.
        bs_batch_size: batch size for Batch Sharpness / GNI (default ``batch_size``, or the
            full data set for full-batch runs).
        bs_rse: target relative standard error of Batch Sharpness / GNI.
        seed: seed of the model, the batches and the estimators' random vectors.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ….
        dtype: ``"float32"`` or ``"float64"``.
        out: run directory (config, metrics, checkpoint, plot).
        resume: continue the run in ``out`` from its checkpoint (the configuration must
            match, except ``steps`` and ``device``).
        progress: show a tqdm progress bar.
        model_kwargs: options of the named model builder.
        data_kwargs: options of the named data set.

    Returns:
        :class:`TrainResult`.  A user module also ends up holding the final parameters.

    Raises:
        EosInputError: bad input (η ≤ 0, unknown names, shapes that do not fit, a model
            without parameters, a non-finite loss at the start, an existing run directory
            without ``resume``, a resumed run whose configuration differs).
    """
    t_start = time.perf_counter()
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
    tracked = _parse_track(track)

    # -- optimizer: the single definition, evaluated on tensors
    from eostheory.optimizers import get_optimizer

    opt = get_optimizer(optimizer)
    hp: dict[str, float | None] = {"eta": eta}
    if beta is not None:
        hp["beta"] = beta
    for k, v in (hyperparameters or {}).items():
        hp[k] = v
    values = opt.hyperparameter_values(**hp)
    hyper = {h.name: v for h, v in zip(opt.hyperparameters, values, strict=True)}
    stepper = TorchStep(opt.rule, hyper)
    threshold = _threshold(opt, hyper)

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
        data_spec = jsonable({"name": str(data), **dkw})
    mkw = dict(model_kwargs or {})
    if isinstance(model, str):
        module = build_model(model, dataset, seed=seed, **mkw)
        model_spec = _model_spec(module, model, mkw)
    else:
        if mkw:
            raise EosInputError("model_kwargs apply only to a model given by name")
        module = model
        model_spec = _model_spec(module, None, {})
    obj = NetworkObjective(module, dataset, loss, device=dev, dtype=dt)
    n = obj.n_examples
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
        if batch_size > n:
            raise EosInputError(f"batch_size = {batch_size} exceeds the {n} examples")
        if batch_size == n:
            batch_size = None
    bsb = bs_batch_size if bs_batch_size is not None else (batch_size or n)
    bsb = positive_int("bs_batch_size", bsb)
    if bsb > n:
        raise EosInputError(f"bs_batch_size = {bsb} exceeds the {n} examples")
    if "accuracy" in tracked and obj.labels is None:
        tracked = tuple(t for t in tracked if t != "accuracy")
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
    rundir = _RunDir(out) if out is not None else None
    if rundir is not None:
        if rundir.exists() and not resume:
            raise EosInputError(
                f"{rundir.path} already holds a run; pass resume=True (--resume) or choose another --out"
            )
        if resume and rundir.config.exists():
            stored = rundir.read_config()
            try:
                old = TrainConfig(**{**stored, **_config_tuples(stored)})
            except TypeError:
                raise EosInputError(f"{rundir.config} is not a training configuration") from None
            diff = cfg.differences(old)
            if diff:
                raise EosInputError(f"cannot resume {rundir.path}: the configuration differs in {', '.join(diff)}")
        ck = rundir.load_checkpoint() if resume else None
        if ck is not None:
            t = int(ck["step"])
            w = ck["w"].to(device=dev, dtype=dt)
            state = {k: v.to(device=dev, dtype=dt) for k, v in ck["state"].items()}
            batch_gen.set_state(ck["batch_gen"])
            bs_gen.set_state(ck["bs_gen"])
            tracker.load_state_dict(ck["tracker"], device=dev, dtype=dt)
            obj.work.load(ck["work"])
            records = rundir.read_records(upto=t)
            step_loss = list(rundir.read_step_loss(t))
            if len(step_loss) != t:
                raise EosInputError(f"{rundir.step_loss} holds {len(step_loss)} step losses, the checkpoint is at {t}")
            rundir.rewrite_records(records)
            rundir.rewrite_step_loss(np.asarray(step_loss))
        else:
            records, step_loss = [], []
            if rundir.metrics.exists():
                rundir.metrics.unlink()
            if rundir.step_loss.exists():
                rundir.step_loss.unlink()
        rundir.write_config(cfg)

    recorded_steps = {r["step"] for r in records}
    flushed_loss = len(step_loss)

    def record(tt: int, ww: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {"step": tt}
        need_h = "sharpness" in tracked or "eigenvalues" in tracked
        if need_h:
            op = obj.hessian(ww)
            rec["loss"] = float(op.loss)
            gnorm = float(torch.linalg.vector_norm(op.gradient))
            pairs = tracker(op)
            rec["sharpness"] = float(pairs.values[0])
            rec["eig_hvps"] = pairs.n_hvp
            if not pairs.converged:
                rec["eig_converged"] = False
            if "eigenvalues" in tracked:
                rec["eigenvalues"] = [float(v) for v in pairs.values]
            del op
        else:
            Lw, gw = obj.value_and_grad(ww)
            rec["loss"] = float(Lw)
            gnorm = float(torch.linalg.vector_norm(gw))
        if "grad-norm" in tracked:
            rec["grad_norm"] = gnorm
        if "accuracy" in tracked:
            rec["accuracy"] = obj.accuracy(ww)
        if "batch-sharpness" in tracked:
            est = batch_sharpness(obj, ww, bsb, rse=bs_rse, generator=bs_gen, batches="all" if bsb == n else None)
            rec["batch_sharpness"], rec["batch_sharpness_se"] = est.value, est.stderr
        if "gni" in tracked and gnorm > 0:
            est = gni(obj, ww, bsb, rse=bs_rse, generator=bs_gen, batches="all" if bsb == n else None)
            rec["gni"], rec["gni_se"] = est.value, est.stderr
        rec["time"] = time.perf_counter() - t_start
        return rec

    def checkpoint(tt: int, ww: Any, ss: Mapping[str, Any]) -> None:
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
            }
        )

    pbar = None
    if progress:
        from tqdm.auto import tqdm

        pbar = tqdm(total=steps, initial=min(t, steps), desc=f"{opt.name} eta={eta:g}", unit="step", leave=True)
    status, message = "completed", ""
    prev: tuple[int, Any, dict[str, Any]] | None = None
    cur = (t, w, state)
    try:
        while True:
            t, w, state = cur
            if (t % track_every == 0 or t >= steps) and t not in recorded_steps:
                rec = record(t, w)
                if not math.isfinite(rec["loss"]):
                    if prev is None:
                        raise EosInputError(f"the loss is {rec['loss']} at step {t}: check the data and the model")
                    raise _NonFiniteError(t)
                records.append(rec)
                recorded_steps.add(t)
                if rundir is not None:
                    rundir.append_record(rec)
                checkpoint(t, w, state)
                if pbar is not None:
                    post = {"loss": f"{rec['loss']:.4g}"}
                    if "sharpness" in rec:
                        post["S"] = f"{rec['sharpness']:.4g}"
                    pbar.set_postfix(post, refresh=False)
            if t >= steps:
                break
            idx = None
            if batch_size is not None:
                idx = torch.randperm(n, generator=batch_gen)[:batch_size].to(dev)
            Lt, g = obj.value_and_grad(w, idx)
            loss_ok = math.isfinite(float(Lt))
            if not (loss_ok and _finite(g)):
                if prev is None and t == 0:
                    raise EosInputError(f"the loss or its gradient is not finite at the start ({float(Lt)})")
                raise _NonFiniteError(t, rollback=not loss_ok)
            step_loss.append(float(Lt))
            w_new, s_new = stepper(w, g, state)
            prev = cur
            cur = (t + 1, w_new, s_new)
            if pbar is not None:
                pbar.update(1)
    except _NonFiniteError as bad:
        status = "diverged"
        t_bad = bad.step
        if bad.rollback and prev is not None and prev[0] == t_bad - 1:
            cur = prev
            message = (
                f"the loss became non-finite at step {t_bad}; stopped and kept the state of step {cur[0]}, "
                "the last with a finite loss"
            )
        elif bad.rollback:
            message = f"the loss became non-finite at step {t_bad}; stopped (state of step {t_bad} kept as is)"
        else:
            message = f"the gradient became non-finite at step {t_bad}; stopped there (the loss is still finite)"
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
        if t not in recorded_steps:
            try:
                rec = record(t, w)
            except Exception:  # the last good state may still be too close to the blow-up
                rec = None
            if rec is not None and math.isfinite(rec["loss"]):
                records.append(rec)
                if rundir is not None:
                    rundir.append_record(rec)
        checkpoint(t, w, state)
    except KeyboardInterrupt:
        status = "interrupted"
        t, w, state = cur
        message = f"interrupted at step {t}; resume with resume=True (--resume) to continue"
        checkpoint(t, w, state)
    finally:
        if pbar is not None:
            pbar.close()
    t, w, state = cur
    if status == "completed":
        message = f"{t} steps of {opt.name} with eta={eta:g}"
        if threshold is not None:
            message += f" (threshold {threshold:.6g})"
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
    )
    if rundir is not None:
        _atomic_write(rundir.result, (json.dumps(_strict(result.summary()), indent=2) + "\n").encode())
        if records:
            try:
                from eostheory.analysis.torch_plots import plot_training

                plot_training(result, rundir.path / "training.png")
            except Exception as exc:  # a plot must never lose a run
                result.extra["plot_error"] = str(exc)
    if status == "interrupted":
        raise KeyboardInterrupt(message)
    return result


def _threshold(opt: Any, hyper: Mapping[str, float]) -> float | None:
    """The optimizer's linear stability threshold from :func:`eostheory.symbolic.stability.thresholds`.

    ``None`` for rules that are not linear (sign, normalized steps).
    """
    from eostheory.symbolic.stability import thresholds

    try:
        return float(thresholds(opt).value(**hyper))
    except (EosInputError, TypeError, ValueError):
        return None


class _NonFiniteError(Exception):
    """A non-finite loss (``rollback``: go back one step) or gradient at ``step``."""

    def __init__(self, step: int, rollback: bool = True) -> None:
        super().__init__(step)
        self.step = step
        self.rollback = rollback


def _config_tuples(d: Mapping[str, Any]) -> dict[str, Any]:
    return {"update": tuple(d.get("update", ())), "track": tuple(d.get("track", ()))}


def _strict(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _strict(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_strict(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return jsonable(x)


def _series(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys: list[str] = []
    for r in records:
        for k in r:
            if k not in keys:
                keys.append(k)
    return {k: [r.get(k) for r in records] for k in keys}


def resume(out: str | Path, *, steps: int | None = None, progress: bool = False, device: Any = None) -> TrainResult:
    """Continue the run in directory ``out`` (built-in model and data only), optionally to a new total of ``steps``.

    Raises:
        EosInputError: no run there, or a run with a user-supplied model or data set (call
            :func:`train` with the same module and ``resume=True`` instead).
    """
    rd = _RunDir(out)
    if not rd.config.exists():
        raise EosInputError(f"no run to resume in {rd.path} (config.json missing)")
    c = rd.read_config()
    if c["model"].get("name") == "custom" or c["data"].get("name") == "custom":
        raise EosInputError(
            f"{rd.path} was trained with a user-supplied model or data set: call train(...) with the same ones "
            "and resume=True"
        )
    mkw = {k: v for k, v in c["model"].items() if k != "name"}
    dkw = {k: v for k, v in c["data"].items() if k != "name"}
    hyper = dict(c["hyperparameters"])
    eta = hyper.pop("eta")
    beta = hyper.pop("beta", None)
    return train(
        c["model"]["name"],
        c["data"]["name"],
        loss=c["loss"],
        optimizer=c["optimizer"],
        eta=eta,
        beta=beta,
        hyperparameters=hyper,
        steps=c["steps"] if steps is None else steps,
        batch_size=c["batch_size"],
        track=c["track"],
        track_every=c["track_every"],
        top_k=c["top_k"],
        eig_method=c["eig_method"],
        eig_tol=c["eig_tol"],
        bs_batch_size=c["bs_batch_size"],
        bs_rse=c["bs_rse"],
        seed=c["seed"],
        device="auto" if device is None else device,
        dtype=c["dtype"],
        out=rd.path,
        resume=True,
        progress=progress,
        model_kwargs=mkw,
        data_kwargs=dkw,
    )
