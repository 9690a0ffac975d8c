r"""The selective edge of stability: which groups of the data gain from training at the edge.

The branching intervention (after Kwag, Ganesh, Poggio & Beneventano 2026, "Edge of
Stability Selectively Shapes Learning Across the Data Distribution"): train a network to
step :math:`N`, then fork that one state into

- an **edge** branch with step size :math:`\eta_e`, large enough that the sharpness
  :math:`S = \lambda_{\max}(H)` reaches (or exceeds) :math:`2/\eta_e`, and
- a **stable** branch with :math:`\eta_s < \eta_e`, whose sharpness stays below :math:`2/\eta_s`,

for :math:`K_e` and :math:`K_s` steps, matched in time :math:`\eta K` (``match="time"``:
:math:`K_s = \mathrm{round}(K_e\eta_e/\eta_s)`) or in steps (:math:`K_s = K_e`).  With
:math:`w_0` the fork, :math:`w_e, w_s` the two endpoints and :math:`L_G` a group's loss, the
**gain** of group :math:`G` from the edge is

.. math::

    \mathrm{gain}_G = \Delta_s L_G - \Delta_e L_G = L_G(w_s) - L_G(w_e),
    \qquad \Delta_b L_G = L_G(w_b) - L_G(w_0),

positive when the edge branch lowered the group's loss more.  Because the edge branch
oscillates with period two along :math:`u`, the gain is also reported averaged over the
last cycle (``gain_cycle``): the edge branch's loss averaged over its last two iterates
(``K_e - 1`` and ``K_e``), against the stable branch's at the same two times (steps
``K_s - round(eta_e/eta_s)`` and ``K_s``), which removes the phase of the oscillation.

Controls, at the stable endpoint, with the edge-induced distance :math:`d = \|w_e - w_s\|`:

- **random direction**: :math:`w_s + d\,\xi/\|\xi\|`, :math:`\xi\sim\mathcal N(0, I)`,
  ``random_draws`` draws; its gain :math:`L_G(w_s) - L_G(w_s + d\xi/\|\xi\|)` (mean over draws);
- **top eigenvector**: :math:`w_s \pm d\,u_1(w_s)`; the gain of each sign and their mean.

Everything is repeated over ``seeds`` (the network's initialisation; the data stay fixed)
and summarised per group by the mean over seeds and a 95% interval: Student's *t* interval
over the seeds (``ci="t"``, the default) or a percentile bootstrap over the seeds
(``ci="bootstrap"``, 10 000 resamples).  The alignment of a group is
:math:`|\cos(g_G(w_0), u_1(w_0))|` at the fork; the rank correlation of gain with alignment
(Spearman, across groups) is computed per seed and summarised the same way.

The seeds are independent (each one's numbers depend only on its own settings), so with
``workers=N`` or ``scheduler=`` each seed is one task of the sweep engine
(:func:`eostheory.sweep.map_tasks`) and only the summary is computed in this process;
the numbers are the same, bit for bit, as one seed after another here.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._validate import positive_float, positive_int
from eostheory.torch._backend import require_torch, resolve_device, resolve_dtype
from eostheory.torch._curvature import top_eigenpairs
from eostheory.torch._data import Dataset, digits, from_arrays, get_dataset
from eostheory.torch._groups import Groups, group_losses, group_stats, resolve_groups
from eostheory.torch._models import build_model
from eostheory.torch._objective import NetworkObjective

__all__ = ["SCHEMA", "SelectiveResult", "confidence_interval", "noisy_digits", "selective", "selective_mixture"]

torch = require_torch()

#: The schema name of :meth:`SelectiveResult.summary`.
SCHEMA = "eostheory.selective/1"

#: The edge branch counts as having reached the edge when its largest tracked
#: :math:`\eta_e S / 2` is at least this (the eigensolver's tolerance and the records'
#: spacing leave the measured peak a little below the true one).
EDGE_REACHED = 0.95


# ----------------------------------------------------------------------------- data sets with injected groups


def selective_mixture(
    n: int = 240,
    *,
    dim: int = 8,
    aligned_fraction: float = 0.25,
    scale: float = 3.0,
    noise: float = 0.1,
    seed: int = 0,
) -> Dataset:
    r"""A regression mixture whose groups differ, by construction, in curvature and alignment.

    The ``aligned`` group (a fraction ``aligned_fraction`` of the examples) has inputs
    :math:`x = s\,z_1 e_1 + \epsilon` with :math:`z_1 \sim \mathcal N(0,1)`, scale :math:`s`
    = ``scale`` and small isotropic noise :math:`\epsilon` of standard deviation ``noise``:
    its examples stretch the input covariance along :math:`e_1`, which therefore carries the
    sharpest direction of the loss, and its gradients point along it.  The ``bulk`` group has
    isotropic inputs :math:`x\sim\mathcal N(0, I_d)`.  Targets are
    :math:`y = \tanh(x^\top a)` for a fixed random unit :math:`a` with :math:`a_1 = 1/\sqrt2`.

    Returns:
        A regression :class:`~eostheory.torch.Dataset` whose ``info["groups"]`` names the two
        injected groups (``aligned``, ``bulk``), for ``groups="injected"``.
    """
    n, dim = positive_int("n", n), positive_int("dim", dim)
    if dim < 2:
        raise EosInputError("selective_mixture needs dim >= 2")
    f = float(aligned_fraction)
    if not (math.isfinite(f) and 0 < f < 1):
        raise EosInputError(f"aligned_fraction must lie in (0, 1), got {aligned_fraction!r}")
    k = round(f * n)
    if not 1 <= k < n:
        raise EosInputError(f"aligned_fraction {f:g} of {n} examples leaves a group empty")
    scale, noise = positive_float("scale", scale), float(noise)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    X[:k] = noise * rng.standard_normal((k, dim))
    X[:k, 0] += scale * rng.standard_normal(k)
    a = rng.standard_normal(dim)
    a[0] = 0.0
    a = a / np.linalg.norm(a) / math.sqrt(2)
    a[0] = 1 / math.sqrt(2)
    Y = np.tanh(X @ a).reshape(-1, 1)
    ds = from_arrays(X, Y, name=f"selective-mixture(n={n}, dim={dim}, aligned={f:g}, scale={scale:g}, seed={seed})")
    return dataclasses.replace(ds, info={"groups": {"aligned": np.arange(k), "bulk": np.arange(k, n)}})


def noisy_digits(n: int = 300, *, label_noise: float = 0.2, seed: int = 0, preprocess: str = "center") -> Dataset:
    """sklearn's digits with a fraction of labels replaced at random, the corrupted ones named.

    Returns:
        :func:`~eostheory.torch.digits` with ``info["groups"]``: ``noisy`` (the examples whose
        label differs from the true one) and ``clean`` (the rest).

    Raises:
        EosInputError: no label was changed (raise ``label_noise`` or ``n``).
    """
    noisy = digits(n, label_noise=label_noise, seed=seed, preprocess=preprocess)
    clean = digits(n, label_noise=0.0, seed=seed, preprocess=preprocess)
    flipped = (noisy.labels != clean.labels).numpy()
    if not flipped.any() or flipped.all():
        raise EosInputError(f"label_noise {label_noise:g} of {n} examples changed no label (or all): no noisy group")
    info = {"groups": {"noisy": np.flatnonzero(flipped), "clean": np.flatnonzero(~flipped)}}
    return dataclasses.replace(noisy, info=info)


# ----------------------------------------------------------------------------- statistics


def confidence_interval(values: Sequence[float], *, method: str = "t", level: float = 0.95, seed: int = 0) -> dict:
    r"""Mean and two-sided confidence interval of ``values`` (one per seed).

    - ``"t"``: :math:`\bar x \pm t_{(1+\ell)/2,\,m-1}\, s/\sqrt m` (Student's *t*, :math:`m`
      values, sample standard deviation :math:`s`);
    - ``"bootstrap"``: the percentile interval of the mean over 10 000 resamples (seeded).

    Returns:
        ``{"mean", "lo", "hi", "sd", "n", "values", "excludes_zero"}``; ``lo``/``hi`` are
        ``None`` for fewer than two finite values.

    Raises:
        EosInputError: an unknown method or a level outside (0, 1).
    """
    if method not in ("t", "bootstrap"):
        raise EosInputError(f"unknown interval {method!r}; use t or bootstrap")
    if not 0 < level < 1:
        raise EosInputError(f"the confidence level must lie in (0, 1), got {level!r}")
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    out: dict[str, Any] = {"mean": None, "lo": None, "hi": None, "sd": None, "n": int(v.size)}
    out["values"] = [None if x is None else float(x) for x in values]
    if v.size:
        out["mean"] = float(v.mean())
    if v.size >= 2:
        sd = float(v.std(ddof=1))
        out["sd"] = sd
        if method == "t":
            from scipy.special import stdtrit  # the t quantile (scipy.stats takes seconds to import)

            h = float(stdtrit(v.size - 1, 0.5 + level / 2)) * sd / math.sqrt(v.size)
            out["lo"], out["hi"] = out["mean"] - h, out["mean"] + h
        else:
            rng = np.random.default_rng(seed)
            means = v[rng.integers(0, v.size, size=(10_000, v.size))].mean(axis=1)
            out["lo"], out["hi"] = (float(x) for x in np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))
    out["excludes_zero"] = None if out["lo"] is None else bool(out["lo"] > 0 or out["hi"] < 0)
    return out


def _spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return None
    rx, ry = _ranks(x[ok]), _ranks(y[ok])
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (Spearman's convention)."""
    order = np.argsort(v, kind="stable")
    r = np.empty(v.size)
    r[order] = np.arange(1, v.size + 1)
    for val in np.unique(v):
        tie = v == val
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


# ----------------------------------------------------------------------------- result


@dataclasses.dataclass
class SelectiveResult:
    """The outcome of :func:`selective`.

    Attributes:
        summary: the JSON-ready report (schema :data:`SCHEMA`, see ``docs/selective.md``).
        groups: the groups of the first seed (quantile groups are recomputed at each fork).
        out: the directory holding the runs, if kept.
    """

    summary: dict[str, Any]
    groups: Groups
    out: Path | None = None

    def gain(self, group: str) -> dict[str, Any]:
        """The gain interval of ``group`` (``{"mean", "lo", "hi", …}``)."""
        try:
            return self.summary["per_group"][group]["gain"]
        except KeyError:
            raise EosInputError(f"no group {group!r}; groups: {', '.join(self.summary['per_group'])}") from None


# ----------------------------------------------------------------------------- the intervention


class _Recorder:
    """An ``on_step`` callback: per-group loss and gradient norm every ``every`` steps after the fork."""

    def __init__(self, groups: Groups, start: int, total: int, every: int, back: int = 1) -> None:
        self.groups, self.start, self.total, self.every = groups, start, total, every
        self.back = max(1, min(back, total - start))
        self.steps: list[int] = []
        self.loss: list[dict[str, float]] = []
        self.grad: list[dict[str, float]] = []
        self.prev: Any = None

    def __call__(self, state: Any) -> None:
        t = int(state.step)
        if t == self.total - self.back:
            self.prev = state.w.detach().clone()
        if (t - self.start) % self.every:
            return
        st = group_stats(state.objective, state.w, self.groups)
        self.steps.append(t)
        self.loss.append({g: v["loss"] for g, v in st.items()})
        self.grad.append({g: v["grad_norm"] for g, v in st.items()})


def _sharpness_series(result: Any, fork: int) -> list[float]:
    s = result.series
    return [float(v) for t, v in zip(s.get("step", []), s.get("sharpness", []), strict=False) if t >= fork and v]


def selective(
    model: Any = "mlp",
    data: Any = "digits",
    *,
    loss: str = "mse",
    groups: Any = "label",
    eta_edge: float,
    eta_stable: float,
    eta_base: float | None = None,
    fork_step: int,
    steps: int,
    match: str = "time",
    relative: bool = False,
    seeds: Sequence[int] | int = 5,
    random_draws: int = 8,
    top_k: int = 3,
    track_every: int | None = None,
    record_every: int | None = None,
    ci: str = "t",
    model_kwargs: Mapping[str, Any] | None = None,
    data_kwargs: Mapping[str, Any] | None = None,
    dtype: Any = "float64",
    device: Any = "auto",
    out: str | Path | None = None,
    run_plots: bool = False,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    connect_timeout: float = 10.0,
) -> SelectiveResult:
    r"""Fork one training state into an edge and a stable branch and measure who gains, per group.

    For each seed: train ``steps = fork_step`` with ``eta_base`` (default ``eta_stable``:
    the edge branch *enters* the edge; pass ``eta_base = eta_edge`` to have the stable
    branch *exit* it), then continue from that checkpoint (:func:`~eostheory.torch.train`
    with ``branch_from``) with ``eta_edge`` for ``steps`` steps and with ``eta_stable`` for
    the matched number of steps.  See the module docstring for the gain, the controls and
    the intervals.

    Args:
        model: ``"mlp"``, ``"linear"``, ``"cnn"`` or a :class:`torch.nn.Module` (copied per seed;
            its own initialisation is then the same for every seed).
        data: a :class:`~eostheory.torch.Dataset` or a built-in name (with ``data_kwargs``;
            the data are the same for every seed).
        loss: ``"mse"`` or ``"ce"``.
        groups: a groups specification (:func:`~eostheory.torch.resolve_groups`); statistics
            such as loss quantiles are taken at each seed's fork.
        eta_edge, eta_stable: the two step sizes (``eta_stable < eta_edge``).
        eta_base: the step size up to the fork.
        fork_step: :math:`N`, the steps before the fork (> 0).
        steps: :math:`K_e`, the edge branch's steps after the fork.
        match: ``"time"`` (:math:`\eta_sK_s = \eta_eK_e`) or ``"steps"`` (:math:`K_s = K_e`).
        relative: ``eta_edge`` and ``eta_stable`` are multiples of :math:`2/S(w_0)`, the stability
            threshold at each seed's fork (``eta_edge=1.05`` enters the edge by 5% whatever the
            seed's sharpness); their ratio, hence :math:`K_s`, is the same for every seed.
        seeds: the seeds (a list) or how many (``0, 1, …``); at least 2 for intervals.
        random_draws: draws of the random-direction control per seed.
        top_k: eigenvectors for the alignment.
        track_every: sharpness records along the branches (default: ``steps // 10``).
        record_every: per-group records along the branches (default: ``steps // 20``).
        ci: ``"t"`` or ``"bootstrap"``.
        model_kwargs, data_kwargs: options of the named model and data set.
        dtype, device: as for :func:`~eostheory.torch.train` (float64 by default).
        out: keep the run directories under ``out/seedS/{base,edge,stable}`` (default: a
            temporary directory, removed at the end).
        run_plots: draw each run directory's ``training.png`` (off by default: it costs more
            than a small run itself).
        progress: a callback ``progress(message)`` told what runs (on an engine: each seed as it
            comes back).
        workers: run the seeds on the sweep engine (:func:`eostheory.sweep.map_tasks`), one task
            per seed, on a local cluster of this many one-thread worker processes; ``None`` or
            ``0`` (the default, without ``scheduler``): one seed after another in this process.
            The numbers are the same either way (each seed depends only on its own task);
            the intervals and the rank correlation are computed here once every seed is back.
        scheduler: a Dask scheduler address, a :class:`distributed.Client`, a cluster object or
            an engine opened by :func:`eostheory.sweep.engine` (shared across calls); the run
            directories under ``out`` must then be on a file system the workers share.
        connect_timeout: seconds to wait for ``scheduler``.

    Returns:
        :class:`SelectiveResult`.

    Raises:
        EosInputError: bad arguments (``eta_stable >= eta_edge``, an unknown ``match``, fewer
            than one seed, groups that do not fit the data, …) or a base run that diverged.
    """
    t_start = time.perf_counter()
    eta_edge, eta_stable = positive_float("eta_edge", eta_edge), positive_float("eta_stable", eta_stable)
    if not eta_stable < eta_edge:
        raise EosInputError(f"eta_stable ({eta_stable:g}) must be below eta_edge ({eta_edge:g})")
    if relative and eta_base is None:
        raise EosInputError("relative step sizes are multiples of 2/S at the fork: give eta_base, the absolute one")
    eta_base = eta_stable if eta_base is None else positive_float("eta_base", eta_base)
    fork_step, steps = positive_int("fork_step", fork_step), positive_int("steps", steps)
    if match not in ("time", "steps"):
        raise EosInputError(f"match must be 'time' (eta*t) or 'steps', got {match!r}")
    steps_stable = round(steps * eta_edge / eta_stable) if match == "time" else steps
    # the cycle average spans the edge branch's last step (time eta_e) and, in the stable
    # branch, the same time: its last round(eta_e/eta_s) steps (one step when matched in steps)
    back = {"edge": 1, "stable": max(1, round(eta_edge / eta_stable)) if match == "time" else 1}
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        seeds = list(range(positive_int("seeds", int(seeds))))
    seed_list = [int(positive_int("seed", s, allow_zero=True)) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise EosInputError("seeds must be a non-empty list of distinct integers (or how many)")
    random_draws = positive_int("random_draws", random_draws)
    top_k = positive_int("top_k", top_k)
    if ci not in ("t", "bootstrap"):
        raise EosInputError(f"unknown interval {ci!r}; use t or bootstrap")
    track_every = positive_int("track_every", track_every or max(1, steps // 10))
    record_every = positive_int("record_every", record_every or max(1, steps // 20))
    if loss not in ("mse", "ce"):
        raise EosInputError(f"loss must be mse or ce, got {loss!r}")
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    dkw = dict(data_kwargs or {})
    if isinstance(data, Dataset):
        if dkw:
            raise EosInputError("data_kwargs apply only to a data set given by name")
        dataset = data
    else:
        dkw.setdefault("seed", 0)
        dataset = get_dataset(data, **dkw)
    mkw = dict(model_kwargs or {})
    if not isinstance(model, str) and not isinstance(model, torch.nn.Module):
        raise EosInputError(f"model must be a name or a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(model, str) and mkw:
        raise EosInputError("model_kwargs apply only to a model given by name")
    if workers is not None:
        workers = positive_int("workers", workers, allow_zero=True)
        if scheduler is not None:
            raise EosInputError("workers sizes a local cluster; a scheduler has its own workers (give one of the two)")
    root = None if out is None else Path(out).expanduser()
    say = progress or (lambda _m: None)
    in_process = _in_process(workers, scheduler)
    jobs = [
        _SeedJob(
            seed=seed,
            model=model,
            model_kwargs=mkw,
            dataset=dataset,
            loss=loss,
            groups=groups,
            device=dev,
            dtype=dt,
            eta_base=eta_base,
            eta_edge=eta_edge,
            eta_stable=eta_stable,
            relative=bool(relative),
            fork_step=fork_step,
            steps=steps,
            steps_stable=steps_stable,
            back=back,
            track_every=track_every,
            record_every=record_every,
            random_draws=random_draws,
            top_k=top_k,
            run_dir=None if root is None else str((root / f"seed{seed}").absolute()),
            run_plots=run_plots,
            say=progress if in_process else None,
        )
        for seed in seed_list
    ]
    from eostheory.sweep._engine import TaskOutcome, map_tasks

    def arrived(o: TaskOutcome[dict[str, Any]]) -> None:
        if o.ok and not in_process:
            say(f"seed {seed_list[o.index]} done on {o.worker} ({o.seconds or 0:.1f} s)")

    mapped = map_tasks(
        _run_seed,
        jobs,
        workers=0 if in_process else workers,
        scheduler=None if in_process else scheduler,
        connect_timeout=connect_timeout,
        progress=False,
        desc="seeds",
        callback=arrived,
    )
    for o in mapped.outcomes:  # the first seed that failed, in seed order, once every seed is back
        if not o.ok:
            if o.exception is not None:
                raise o.exception
            raise RuntimeError(f"seed {seed_list[o.index]}: {o.error}")
    outs = [o.value for o in mapped.outcomes if o.value is not None]
    per_seed = [r["report"] for r in outs]
    series = {name: [r["series"][name] for r in outs] for name in ("edge", "stable")}
    first_groups = outs[0]["groups"]
    summary = _summarise(
        per_seed,
        series,
        ci,
        config={
            "model": model if isinstance(model, str) else type(model).__name__,
            "model_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in mkw.items()},
            "data": dataset.name,
            "loss": loss,
            "groups": groups if isinstance(groups, str) else first_groups.source,
            "eta_edge": eta_edge,
            "eta_stable": eta_stable,
            "eta_base": eta_base,
            "relative": bool(relative),
            "mode": "exit" if eta_base >= eta_edge and not relative else "enter",
            "fork_step": fork_step,
            "steps_edge": steps,
            "steps_stable": steps_stable,
            "match": match,
            "time_edge": eta_edge * steps,
            "time_stable": eta_stable * steps_stable,
            "time_unit": "2/S at the fork" if relative else "steps x eta",
            "cycle_steps": back,
            "seeds": seed_list,
            "random_draws": random_draws,
            "top_k": top_k,
            "dtype": str(dt).replace("torch.", ""),
            "device": str(dev),
        },
        eta={"edge": eta_edge, "stable": eta_stable},
        relative=relative,
    )
    summary["groups"] = first_groups.as_dict()
    summary["seconds"] = time.perf_counter() - t_start
    summary["engine"] = mapped.engine
    return SelectiveResult(summary, first_groups, root)


@dataclasses.dataclass
class _Trace:
    """A branch's per-group records (:class:`_Recorder` without its groups and parameters)."""

    steps: list[int]
    loss: list[dict[str, float]]
    grad: list[dict[str, float]]


@dataclasses.dataclass
class _SeedJob:
    """Everything one seed's work needs: the task of :func:`_run_seed` (pickled to a worker)."""

    seed: int
    model: Any
    model_kwargs: dict[str, Any]
    dataset: Dataset
    loss: str
    groups: Any
    device: Any
    dtype: Any
    eta_base: float
    eta_edge: float
    eta_stable: float
    relative: bool
    fork_step: int
    steps: int
    steps_stable: int
    back: dict[str, int]
    track_every: int
    record_every: int
    random_draws: int
    top_k: int
    run_dir: str | None
    run_plots: bool
    say: Callable[[str], None] | None = None


def _in_process(workers: int | None, scheduler: Any) -> bool:
    """No engine asked for (no workers, no scheduler), or an engine opened with ``workers=0``."""
    if scheduler is None:
        return not workers
    return getattr(scheduler, "client", True) is None and hasattr(scheduler, "description")


def _run_seed(job: _SeedJob) -> dict[str, Any]:
    """One seed: train to the fork, resolve the groups there, run both branches, measure and control.

    Returns:
        ``{"report": the per-seed numbers, "groups": the groups at this fork, "series":
        {"edge": _Trace, "stable": _Trace}}``; everything depends on ``job`` alone, so a worker
        and this process give the same numbers.
    """
    say = job.say or (lambda _m: None)
    seed, dev, dt = job.seed, job.device, job.dtype
    if isinstance(job.model, str):
        mod = build_model(job.model, job.dataset, seed=seed, **job.model_kwargs)
    else:
        mod = copy.deepcopy(job.model)
    obj = NetworkObjective(copy.deepcopy(mod), job.dataset, job.loss, device=dev, dtype=dt)
    # plot=run_plots: the report draws its own figures; a training.png per run is ~1.5 s of matplotlib
    common = dict(loss=job.loss, dtype=dt, device=dev, track=("loss", "sharpness"), plot=job.run_plots)
    tmp = None
    if job.run_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"eos-selective-seed{seed}-")
        sdir = Path(tmp.name)
    else:
        sdir = Path(job.run_dir)
    fork_step = job.fork_step
    try:
        say(f"seed {seed}: {fork_step} steps at eta {job.eta_base:g} to the fork")
        base = _train(mod, job.dataset, common, job.eta_base, fork_step, seed, sdir / "base", max(1, fork_step // 10))
        if base.status != "completed":
            raise EosInputError(f"seed {seed}: the run to the fork ended {base.status}: {base.message}")
        w0 = base.theta.to(device=dev, dtype=dt)
        G = resolve_groups(job.groups, obj, w0)
        pairs0 = top_eigenpairs(obj.hessian(w0), min(job.top_k, obj.n_params), tol=1e-6)
        fork = group_stats(obj, w0, G, vectors=pairs0.vectors)
        rec: dict[str, _Recorder] = {}
        res: dict[str, Any] = {}
        unit = 2.0 / float(pairs0.values[0]) if job.relative else 1.0
        if not (math.isfinite(unit) and unit > 0):
            raise EosInputError(
                f"seed {seed}: the sharpness at the fork is {pairs0.values[0]:g}; relative step "
                "sizes need a positive one"
            )
        etas = {"edge": job.eta_edge * unit, "stable": job.eta_stable * unit}
        for name, k in (("edge", job.steps), ("stable", job.steps_stable)):
            say(f"seed {seed}: {name} branch, {k} steps at eta {etas[name]:g}")
            rec[name] = _Recorder(G, fork_step, fork_step + k, job.record_every, job.back[name])
            res[name] = _train(
                mod,
                job.dataset,
                common,
                etas[name],
                fork_step + k,
                seed,
                sdir / name,
                job.track_every,
                branch_from=sdir / "base",
                on_step=rec[name],
            )
        report = _seed_report(
            seed,
            obj,
            G,
            w0,
            pairs0,
            fork,
            res,
            rec,
            etas["edge"],
            etas["stable"],
            fork_step,
            job.random_draws,
            job.top_k,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    series = {name: _Trace(r.steps, r.loss, r.grad) for name, r in rec.items()}
    return {"report": report, "groups": G, "series": series}


def _train(
    mod: Any,
    dataset: Dataset,
    common: Mapping[str, Any],
    eta: float,
    steps: int,
    seed: int,
    out: Path,
    track_every: int,
    **kw: Any,
) -> Any:
    from eostheory.torch._train import train

    return train(
        copy.deepcopy(mod),
        dataset,
        eta=eta,
        steps=steps,
        seed=seed,
        out=out,
        track_every=track_every,
        **common,
        **kw,
    )


def _seed_report(
    seed: int,
    obj: NetworkObjective,
    G: Groups,
    w0: Any,
    pairs0: Any,
    fork: Mapping[str, Any],
    res: Mapping[str, Any],
    rec: Mapping[str, _Recorder],
    eta_edge: float,
    eta_stable: float,
    fork_step: int,
    random_draws: int,
    top_k: int,
) -> dict[str, Any]:
    dev, dt = w0.device, w0.dtype
    we = res["edge"].theta.to(device=dev, dtype=dt)
    ws = res["stable"].theta.to(device=dev, dtype=dt)
    L0, Le, Ls = group_losses(obj, w0, G), group_losses(obj, we, G), group_losses(obj, ws, G)
    all_idx = Groups({"all": np.arange(obj.n_examples)}, obj.n_examples)

    def cycle(name: str, w_end: Any) -> dict[str, float]:
        prev = rec[name].prev
        last = group_losses(obj, w_end, G)
        if prev is None:
            return last
        before = group_losses(obj, prev.to(device=dev, dtype=dt), G)
        return {g: 0.5 * (last[g] + before[g]) for g in last}

    Ce, Cs = cycle("edge", we), cycle("stable", ws)
    delta = we - ws
    d = float(torch.linalg.vector_norm(delta))
    at_s = group_stats(obj, ws, G)
    first = {g: -float(at_s[g]["gradient"] @ delta) for g in G}
    gen = torch.Generator(device="cpu").manual_seed(10_000 + seed)
    rand: dict[str, list[float]] = {g: [] for g in G}
    rand_len = []
    for _ in range(random_draws):
        xi = torch.randn(obj.n_params, generator=gen, dtype=torch.float64).to(device=dev, dtype=dt)
        step = d * xi / torch.linalg.vector_norm(xi)
        rand_len.append(float(torch.linalg.vector_norm(step)))
        Lr = group_losses(obj, ws + step, G)
        for g in G:
            rand[g].append(Ls[g] - Lr[g])
    pairs_s = top_eigenpairs(obj.hessian(ws), 1, tol=1e-6)
    u = pairs_s.vectors[:, 0]
    Lp, Lm = group_losses(obj, ws + d * u, G), group_losses(obj, ws - d * u, G)
    cos_delta_u = float(abs(delta @ u) / d) if d > 0 else None
    sharp = {b: _sharpness_series(res[b], fork_step) for b in ("edge", "stable")}
    groups_out: dict[str, Any] = {}
    for g in G:
        groups_out[g] = {
            "size": int(G[g].size),
            "loss_fork": L0[g],
            "delta_edge": Le[g] - L0[g],
            "delta_stable": Ls[g] - L0[g],
            "gain": Ls[g] - Le[g],
            "gain_cycle": Cs[g] - Ce[g],
            "gain_first_order": first[g],
            "alignment": fork[g]["alignment"],
            "grad_u": fork[g]["grad_u"],
            "grad_norm_fork": fork[g]["grad_norm"],
            "control_random": float(np.mean(rand[g])),
            "control_random_draws": rand[g],
            "control_top_plus": Ls[g] - Lp[g],
            "control_top_minus": Ls[g] - Lm[g],
            "control_top": 0.5 * ((Ls[g] - Lp[g]) + (Ls[g] - Lm[g])),
        }
    Lall = {w: group_losses(obj, x, all_idx)["all"] for w, x in (("fork", w0), ("edge", we), ("stable", ws))}
    return {
        "seed": seed,
        "eta_edge": eta_edge,
        "eta_stable": eta_stable,
        "sharpness_fork": float(pairs0.values[0]),
        "eigenvalues_fork": [float(v) for v in pairs0.values],
        "loss": Lall,
        "gain_all": Lall["stable"] - Lall["edge"],
        "distance": d,
        "random_lengths": rand_len,
        "cos_delta_u": cos_delta_u,
        "edge": {
            "status": res["edge"].status,
            "steps": res["edge"].steps_done - fork_step,
            "max_sharpness": max(sharp["edge"], default=None),
            "max_eta_s_over_2": None if not sharp["edge"] else max(sharp["edge"]) * eta_edge / 2,
            "sharpness": sharp["edge"],
        },
        "stable": {
            "status": res["stable"].status,
            "steps": res["stable"].steps_done - fork_step,
            "max_sharpness": max(sharp["stable"], default=None),
            "max_eta_s_over_2": None if not sharp["stable"] else max(sharp["stable"]) * eta_stable / 2,
            "sharpness": sharp["stable"],
        },
        "groups": groups_out,
    }


def _summarise(
    per_seed: list[dict[str, Any]],
    series: Mapping[str, list[_Trace]],
    ci: str,
    *,
    config: dict[str, Any],
    eta: Mapping[str, float],
    relative: bool = False,
) -> dict[str, Any]:
    names = list(per_seed[0]["groups"])
    for s in per_seed[1:]:
        if list(s["groups"]) != names:
            raise EosInputError("the groups differ in name between seeds; give groups that every fork shares")

    def iv(vals: Sequence[float | None]) -> dict[str, Any]:
        return confidence_interval([math.nan if v is None else v for v in vals], method=ci)

    per_group: dict[str, Any] = {}
    for g in names:
        rows = [s["groups"][g] for s in per_seed]
        per_group[g] = {
            "size": float(np.mean([r["size"] for r in rows])),
            "loss_fork": float(np.mean([r["loss_fork"] for r in rows])),
            "gain": iv([r["gain"] for r in rows]),
            "gain_cycle": iv([r["gain_cycle"] for r in rows]),
            "gain_first_order": iv([r["gain_first_order"] for r in rows]),
            "delta_edge": iv([r["delta_edge"] for r in rows]),
            "delta_stable": iv([r["delta_stable"] for r in rows]),
            "alignment": iv([r["alignment"][0] for r in rows]),
            "grad_u": iv([r["grad_u"][0] for r in rows]),
            "grad_norm_fork": iv([r["grad_norm_fork"] for r in rows]),
            "control_random": iv([r["control_random"] for r in rows]),
            "control_top": iv([r["control_top"] for r in rows]),
            "control_top_plus": iv([r["control_top_plus"] for r in rows]),
            "control_top_minus": iv([r["control_top_minus"] for r in rows]),
        }
    rank = [
        _spearman([s["groups"][g]["gain"] for g in names], [s["groups"][g]["alignment"][0] or math.nan for g in names])
        for s in per_seed
    ]
    mean_gain = [per_group[g]["gain"]["mean"] for g in names]
    mean_align = [per_group[g]["alignment"]["mean"] for g in names]
    rank_corr = iv(rank)
    rank_corr["pooled"] = _spearman(mean_gain, mean_align)
    rank_corr["note"] = "Spearman correlation across groups of gain with |cos(g_G, u_1)| at the fork, per seed"
    ts: dict[str, Any] = {}
    for b, recs in series.items():
        steps0 = recs[0].steps
        m = min(len(r.steps) for r in recs)
        start = steps0[0] if steps0 else 0
        # time eta*t after the fork; with relative step sizes, in units of 2/S at the fork
        ts[b] = {
            "time": [eta[b] * (t - start) for t in steps0[:m]],
            "step": [t - start for t in steps0[:m]],
            "grad_norm": {g: [float(np.mean([r.grad[i][g] for r in recs])) for i in range(m)] for g in names},
            "loss": {g: [float(np.mean([r.loss[i][g] for r in recs])) for i in range(m)] for g in names},
        }
    edge_ok = [
        s["edge"]["max_eta_s_over_2"] is not None and s["edge"]["max_eta_s_over_2"] >= EDGE_REACHED for s in per_seed
    ]
    stable_ok = [
        s["stable"]["max_eta_s_over_2"] is not None and s["stable"]["max_eta_s_over_2"] < 1.0 for s in per_seed
    ]
    aligned = [g for g in names if per_group[g]["gain"]["lo"] is not None and per_group[g]["gain"]["lo"] > 0]
    losing = [g for g in names if per_group[g]["gain"]["hi"] is not None and per_group[g]["gain"]["hi"] < 0]
    return {
        "schema": SCHEMA,
        "config": config,
        "ci": {"method": ci, "level": 0.95, "over": "seeds"},
        "checks": {
            "edge_reached": all(edge_ok),
            "edge_reached_seeds": sum(edge_ok),
            "stable_below_threshold": all(stable_ok),
            "stable_below_threshold_seeds": sum(stable_ok),
            "edge_criterion": f"max over the edge branch of eta_edge * sharpness / 2 >= {EDGE_REACHED}",
            "stable_criterion": "max over the stable branch of eta_stable * sharpness / 2 < 1",
        },
        "overall": {
            "gain_all": iv([s["gain_all"] for s in per_seed]),
            "distance": iv([s["distance"] for s in per_seed]),
            "cos_delta_u": iv([s["cos_delta_u"] for s in per_seed]),
            "sharpness_fork": iv([s["sharpness_fork"] for s in per_seed]),
            "groups_gaining": aligned,
            "groups_losing": losing,
        },
        "per_group": per_group,
        "rank_correlation": rank_corr,
        "time_series": ts,
        "seeds": per_seed,
    }
