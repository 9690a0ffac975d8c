"""Run an explicit optimizer on a potential with the compiled (numba) loop."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory._period import detect_period
from eostheory._validate import finite_float, finite_vector, positive_int
from eostheory.compile import CompiledPotential, compile_potential, load_source_module, run_module_source
from eostheory.geometry import (
    SteepestOptimizer,
    generalized_threshold,
    is_steepest_name,
    run_steepest,
    steepest_optimizer,
)
from eostheory.optimizers._measures import TOY_MEASURES, ToyMeasure, ToyState, evaluate_measures, resolve_toy_measures
from eostheory.symbolic import Optimizer, get_optimizer
from eostheory.symbolic.potential import Potential, as_potential

__all__ = [
    "DIVERGENCE_BOUND",
    "STATUSES",
    "RunConfig",
    "RunResult",
    "as_optimizer",
    "run",
    "run_module",
    "stability_threshold",
]

#: Run statuses: ``converged`` (gradient below ``gtol`` or a fixed point reached),
#: ``oscillating`` (a cycle of period >= 2 detected), ``diverged`` (overflow: stopped at the
#: last finite iterate), ``max_steps`` (none of these within the step budget).
STATUSES = ("converged", "oscillating", "diverged", "max_steps")

_MAXABS = 1e100  # an iterate beyond this is treated as divergence (loss ~ w^k overflows soon after)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (config is data; kernels are functions)."""

    potential: str
    params: tuple[str, ...]
    constants: dict[str, float]
    optimizer: str
    update: tuple[str, ...]
    hyperparameters: dict[str, float]
    x0: tuple[float, ...]
    steps: int
    record_every: int
    gtol: float
    track: tuple[str, ...] = ()
    top_k: int = 1


def as_optimizer(optimizer: Optimizer | str = "gd", update: str | Sequence[str] | None = None) -> Optimizer:
    """The optimizer of a run: a built-in or registered one, or a rule written out.

    Args:
        optimizer: an :class:`Optimizer`, a registered name, or a steepest-descent name
            (``steepest:linf``, ``normalized:spectral``, ``muon``, …: see :mod:`eostheory.geometry`).
        update: instead, the step as update-rule lines (a sequence, or one string with the
            lines separated by ``;`` or newlines); the optimizer is then named ``"custom"``.

    Returns:
        The :class:`Optimizer` (its rule parsed, so a bad rule fails here).

    Raises:
        EosInputError: both a named optimizer (other than ``gd``) and ``update``; an unknown
            name; a rule that does not parse (see :class:`~eostheory.symbolic.rules.UpdateRule`).

    Examples:
        >>> as_optimizer(update="v = beta*v + g; w = w - eta*v").hyperparameters
        (beta, eta)
    """
    if update is None:
        if is_steepest_name(optimizer):  # steepest descent under a norm: not an update rule
            return steepest_optimizer(optimizer)
        return get_optimizer(optimizer)
    if not (optimizer == "gd" or (isinstance(optimizer, str) and optimizer == "custom")):
        name = optimizer.name if isinstance(optimizer, Optimizer) else optimizer
        raise EosInputError(f"give either an optimizer ({name!r}) or an update rule, not both")
    text = update if isinstance(update, str) else "; ".join(str(u) for u in update)
    opt = Optimizer("custom", tuple(p.strip() for p in text.replace("\n", ";").split(";") if p.strip()))
    _ = opt.rule  # parse now: a bad rule is a one-line error before any work
    return opt


def stability_threshold(optimizer: Optimizer | str, hyper: Mapping[str, float]) -> tuple[float | None, str]:
    r"""The rule's linear stability threshold :math:`\lambda^*` at these hyperparameters.

    Derived by :func:`eostheory.symbolic.stability.thresholds` from the optimizer's update
    rule (``2/η`` for GD, :math:`2(1+\beta)/\eta` for heavy ball, …).

    Returns:
        ``(value, "")``, or ``(None, why)`` where the linear analysis does not apply (sign,
        normalized and adaptive steps: ``why`` is its one-line reason) or the value is not
        finite.
    """
    from eostheory.symbolic.stability import thresholds

    opt = get_optimizer(optimizer)
    try:
        value = float(thresholds(opt).value(**dict(hyper)))
    except (EosInputError, TypeError, ValueError) as exc:
        return None, str(exc)
    if not math.isfinite(value):
        return None, f"the linear stability threshold of {opt.name} is not finite here ({value})"
    return value, ""


@dataclass
class RunResult:
    """What a run returns: status, recorded arrays, final and averaged state.

    Attributes:
        config: the :class:`RunConfig`.
        status: one of :data:`STATUSES`.
        period: detected period when ``status == "oscillating"``, else 1 (converged) or 0.
        steps: optimizer steps taken.
        t, params, loss, sharpness: records every ``record_every`` steps plus the final one.
        final: ``{"params", "loss", "sharpness"}`` at the last (finite) iterate.
        average: the same, averaged over the last 10% of the steps (an even number of
            steps, so a 2-cycle averages exactly); ``window`` gives its length.
        work: counters (``steps``, ``gradients``, ``hessians``).
        message: a human-readable sentence about the status.
        series: the tracked measures (``run(track=...)``) at the recorded steps ``t``, by
            key (``grad_norm``, ``eigenvalues``, …): a list of numbers (``None`` where a
            measure is undefined) or of lists; empty when nothing is tracked.
        measures: the tracked :class:`~eostheory.optimizers._measures.ToyMeasure` objects by name.
    """

    config: RunConfig
    status: str
    period: int
    steps: int
    t: np.ndarray
    params: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    final: dict[str, Any]
    average: dict[str, Any]
    work: dict[str, int]
    message: str
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    series: dict[str, list[Any]] = field(default_factory=dict)
    measures: dict[str, ToyMeasure] = field(default_factory=dict)

    @property
    def eta(self) -> float:
        """The learning rate η."""
        return self.config.hyperparameters["eta"]

    @property
    def generalized(self) -> dict[str, Any] | None:
        r"""For steepest descent under a norm (and the built-in ``sign-gd``, ``linf-descent``,
        ``normalized-gd``): the generalized-sharpness threshold, ``{"norm", "normalized",
        "quantity", "statement", "threshold", "value"}`` with ``value`` :math:`2/\eta`
        (see :func:`eostheory.geometry.generalized_threshold`); else ``None``."""
        gen = generalized_threshold(self.config.optimizer)
        return None if gen is None else {**gen, "value": 2.0 / self.eta}

    @property
    def threshold(self) -> float | None:
        r"""The rule's linear stability threshold (see :func:`stability_threshold`; derived once, on first use).

        For steepest descent under a norm (``steepest:NORM``, ``normalized:NORM``, …), which is
        no update rule, it is :math:`2/\eta` on the generalized sharpness (see :attr:`generalized`)."""
        if "threshold" not in self.extra and is_steepest_name(self.config.optimizer):
            self.extra["threshold"], self.extra["threshold_note"] = 2.0 / self.eta, ""
        if "threshold" not in self.extra:
            opt = Optimizer(self.config.optimizer, tuple(self.config.update))  # the rule as run
            value, note = stability_threshold(opt, self.config.hyperparameters)
            self.extra["threshold"], self.extra["threshold_note"] = value, note
        return self.extra["threshold"]

    @property
    def threshold_note(self) -> str:
        """Why there is no :attr:`threshold` (empty when there is one)."""
        _ = self.threshold
        return str(self.extra.get("threshold_note", ""))

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays but the tracked series)."""
        tracked: dict[str, Any] = {}
        if self.series:
            hyper = self.config.hyperparameters
            tracked = {
                "threshold": self.threshold,
                **({"threshold_note": self.threshold_note} if self.threshold_note else {}),
                "series": {"step": [int(x) for x in self.t], **self.series},
                "measures": {name: m.describe(hyper, self.threshold) for name, m in self.measures.items()},
            }
        return {
            "status": self.status,
            "period": self.period,
            "message": self.message,
            "steps": self.steps,
            "final": self.final,
            "average": self.average,
            "threshold_2_over_eta": 2.0 / self.eta,
            **({"generalized_threshold": self.generalized} if self.generalized is not None else {}),
            "work": self.work,
            "seconds": self.seconds,
            "config": asdict(self.config),
            **tracked,
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``result.json`` and ``arrays.npz`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        from eostheory._json import write_json  # strict JSON: a non-finite value is null, listed in non_finite

        write_json(d / "config.json", asdict(self.config))
        write_json(d / "result.json", self.summary(), annotate=True)
        tracked = {f"series_{k}": _series_array(v) for k, v in self.series.items()}
        np.savez(d / "arrays.npz", t=self.t, params=self.params, loss=self.loss, sharpness=self.sharpness, **tracked)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> RunResult:
        """Read a run directory written by :meth:`save`."""
        d = Path(directory)
        cfg = RunConfig(
            **{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in json.loads((d / "config.json").read_text()).items()
            }
        )
        summ = json.loads((d / "result.json").read_text())
        arr = np.load(d / "arrays.npz")
        series = {k[len("series_") :]: _series_list(arr[k]) for k in arr.files if k.startswith("series_")}
        measures = {n: TOY_MEASURES[n] for n in cfg.track if n in TOY_MEASURES}
        return cls(
            cfg,
            summ["status"],
            summ["period"],
            summ["steps"],
            arr["t"],
            arr["params"],
            arr["loss"],
            arr["sharpness"],
            summ["final"],
            summ["average"],
            summ["work"],
            summ["message"],
            summ.get("seconds", 0.0),
            series=series,
            measures=measures,
        )


def _series_array(values: list[Any]) -> np.ndarray:
    """A series as a float array (``None`` → NaN); a series of lists as a 2-D array (padded with NaN)."""
    if any(isinstance(v, list) for v in values):
        width = max((len(v) for v in values if isinstance(v, list)), default=0)
        out = np.full((len(values), width), np.nan)
        for i, v in enumerate(values):
            for j, x in enumerate(v if isinstance(v, list) else []):
                out[i, j] = np.nan if x is None else float(x)
        return out
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _series_list(a: np.ndarray) -> list[Any]:
    """The inverse of :func:`_series_array` (NaN → ``None``)."""

    def f(x: float) -> float | None:
        return float(x) if math.isfinite(float(x)) else None

    if a.ndim == 2:
        return [[f(x) for x in row] for row in a]
    return [f(x) for x in a]


#: An iterate beyond this bound ends a run as diverged (public name of the loop's bound).
DIVERGENCE_BOUND = _MAXABS

_RUN_MEMO: dict[tuple[str, str, str], Any] = {}


def _run_module(cp: CompiledPotential, opt: Optimizer) -> Any:
    key = (cp.module.__name__, str(opt.rule), cp.backend)
    mod = _RUN_MEMO.get(key)
    if mod is None:
        mod = load_source_module("eos_run", run_module_source(cp.module.__name__, opt.rule, cp.backend))
        _RUN_MEMO[key] = mod
    return mod


def run_module(cp: CompiledPotential, opt: Optimizer) -> Any:
    """The compiled run-loop module of ``(potential, optimizer)`` (memoized; its ``run_loop`` is the numba loop)."""
    return _run_module(cp, opt)


def _point(cp: CompiledPotential, w: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    loss = cp.loss(w, c)
    sharp = cp.sharpness(w, c)
    return {
        "params": [float(x) for x in w],
        "loss": loss if math.isfinite(loss) else None,
        "sharpness": sharp if math.isfinite(sharp) else None,
    }


def _track(
    measures: list[ToyMeasure],
    cp: CompiledPotential,
    c: np.ndarray,
    t: np.ndarray,
    ws: np.ndarray,
    losses: np.ndarray,
    x0: Any,
    hyper: Mapping[str, float],
    top_k: int,
) -> tuple[dict[str, list[Any]], int]:
    """The measures at each recorded iterate, as series by key (missing entries are ``None``),
    and the number of Hessians computed (one per record at most, only where a measure asks)."""
    if not measures:
        return {}, 0
    w0 = np.asarray(x0, dtype=float).reshape(-1)
    records = []
    hessians = [0]

    def hess(x: np.ndarray) -> np.ndarray:
        hessians[0] += 1
        return cp.hess(x, c)

    for step, w, loss in zip(t, ws, losses, strict=True):
        state = ToyState(
            step=int(step),
            w=w,
            loss=float(loss),
            gradient=cp.grad(w, c),
            w0=w0,
            hessian_fn=hess,
            hyperparameters=hyper,
            top_k=top_k,
        )
        records.append(evaluate_measures(measures, state))
    keys: list[str] = []
    for rec in records:
        keys.extend(k for k in rec if k not in keys)
    return {k: [rec.get(k) for rec in records] for k in keys}, hessians[0]


def run(
    potential: Potential | str,
    optimizer: Optimizer | str = "gd",
    *,
    x0: Sequence[float] | np.ndarray,
    steps: int,
    eta: float,
    beta: float | None = None,
    hyper: Mapping[str, float] | None = None,
    constants: Mapping[str, float] | None = None,
    params: Sequence[str] | None = None,
    record_every: int | None = None,
    gtol: float = 1e-12,
    tail: int = 256,
    update: str | Sequence[str] | None = None,
    track: Any = None,
    top_k: int = 1,
    groups: Sequence[Sequence[str]] | None = None,
) -> RunResult:
    r"""Run an explicit optimizer on a potential and classify the outcome.

    The loop is compiled with numba from the potential's symbolic gradient and the
    optimizer's update rule (both cached on disk).  It records :math:`(t, w_t, L(w_t),
    S(w_t))` every ``record_every`` steps, where :math:`S = \lambda_{\max}(\nabla^2 L)`
    is the sharpness, and stops on convergence (:math:`\|\nabla L\| \le` ``gtol``) or
    divergence (a non-finite gradient or an iterate beyond 1e100, keeping the last finite
    iterate).  Otherwise the last ``tail`` iterates are scanned for a cycle.

    Any update rule runs through the same compiled path: a built-in or registered
    optimizer, an :class:`Optimizer` of your own, or the step written out as ``update``
    lines (``"v = beta*v + g; w = w - eta*(g + beta*v)"``), with its hyperparameters in
    ``hyper``.

    ``track`` names measures (see :mod:`eostheory.optimizers._measures`: ``grad-norm``,
    ``sharpness``, ``eigenvalues``, ``directional-smoothness`` :math:`g^\top H g/\|g\|^2`,
    ``alignment``, ``param-distance``, or a function ``fn(state)`` of your own), evaluated
    after the run at every recorded iterate from the compiled gradient and the dense
    compiled Hessian (exact ``eigh``); they land in :attr:`RunResult.series`.

    Args:
        potential: a :class:`Potential`, a toy name or a formula.
        optimizer: an :class:`Optimizer` or its name (``gd``, ``heavy-ball``, …).
        x0: the starting point.
        steps: the step budget.
        eta: the learning rate :math:`\eta > 0`.
        beta: momentum :math:`\beta \in [0, 1)` for optimizers that have one.
        hyper: other hyperparameters by name.
        constants: values of the potential's constants (override its defaults).
        params: parameter order when ``potential`` is a formula.
        record_every: record stride (default: about 1000 records per run).
        gtol: gradient-norm tolerance for convergence.
        tail: number of final iterates kept for cycle detection.
        update: instead of ``optimizer``, the step as update-rule lines (the run's
            optimizer is then named ``"custom"``).
        track: measures to record at the recorded steps (names, ``"a,b"``, or callables).
        top_k: eigenpairs tracked by ``eigenvalues`` and ``alignment`` (at most the dimension).
        groups: for steepest descent under a norm, the parameter blocks by symbol name
            (``[["x", "y"], ["z"]]``; default every parameter its own block).

    Steepest descent under a norm (``optimizer="steepest:linf"``, ``"normalized:block"``,
    ``"muon"``, …) is no elementwise rule: it runs through
    :func:`eostheory.geometry.run_steepest` (the compiled gradient and Hessian, the step in
    numpy) and returns the same :class:`RunResult`, with the series
    ``generalized_sharpness`` (:math:`S_{\|\cdot\|}`, exact reference where there is one),
    ``dual_grad_norm`` and ``normalized_generalized_sharpness`` (:math:`S/\|g\|_*`) at the
    records, and :attr:`RunResult.threshold` :math:`2/\eta` on the generalized sharpness.

    Returns:
        A :class:`RunResult`.

    Raises:
        EosInputError: invalid η, β, ``x0`` length, non-finite inputs, unknown names, a
            hyperparameter the rule does not have or one it needs and lacks, an unknown measure.

    Examples:
        >>> r = run("quartic", "gd", x0=[0.1], steps=2000, eta=2.5, constants={"S": 1, "Q": 1})
        >>> r.status, r.period
        ('oscillating', 2)
        >>> abs(abs(r.final["params"][0]) - (1 - 2 / 2.5) ** 0.5) < 1e-8
        True
        >>> q = run("0.5*(3*x**2 + y**2)", update="w = w - eta*g", x0=[1.0, 0.0], steps=4, eta=0.1,
        ...         track="sharpness,directional-smoothness")
        >>> q.config.optimizer, q.series["sharpness"][0], q.series["directional_smoothness"][0]
        ('custom', 3.0, 3.0)
        >>> s = run("0.5*(3*x**2 + 2*x*y + 2*y**2)", "steepest:linf", x0=[1.0, 1.0], steps=50, eta=0.1)
        >>> s.status, s.threshold, s.series["generalized_sharpness"][0], s.generalized["quantity"]
        ('converged', 20.0, 7.0, 'S_inf')
    """
    pot = as_potential(potential, params=params, constants=None)
    opt = as_optimizer(optimizer, update)
    c = np.array(pot.constant_values(constants), dtype=np.float64)
    hp: dict[str, Any] = {"eta": eta}
    for k, v in dict(hyper or {}).items():
        if k == "eta" or (k == "beta" and beta is not None):
            raise EosInputError(f"{k} is given twice (as an argument and in hyper): give it once")
        hp[k] = v
    if beta is not None:
        hp["beta"] = beta
    hvals = opt.hyperparameter_values(**hp)
    measures = resolve_toy_measures(track) if track is not None else []
    top_k = positive_int("top_k", top_k)
    if top_k > pot.dim and any(m.name in ("eigenvalues", "alignment") for m in measures):
        raise EosInputError(f"top_k = {top_k} but the Hessian is {pot.dim}x{pot.dim}: give top_k <= {pot.dim}")
    w = finite_vector("x0", x0, pot.dim)
    steps = positive_int("steps", steps)
    stride = positive_int("record_every", record_every) if record_every is not None else max(1, steps // 1000)
    gtol = finite_float("gtol", gtol)
    tail = max(8, positive_int("tail", tail))
    cp = compile_potential(pot)
    cp.warm(w)
    if not math.isfinite(cp.loss(w, c)):
        raise EosInputError(
            f"the loss is not finite at x0 = {[float(x) for x in w]} (L = {pot.expr}): start inside the domain of L"
        )
    if isinstance(opt, SteepestOptimizer):
        hyper_named = {hs.name: v for hs, v in zip(opt.hyperparameters, hvals, strict=True)}
        return _run_steepest(pot, opt, cp, c, w, steps, stride, gtol, hyper_named, measures, top_k, groups, x0)
    if groups is not None:
        raise EosInputError(f"groups declare the blocks of a norm; {opt.name} is not steepest descent under a norm")
    mod = _run_module(cp, opt)

    window = max(2, (steps // 10) // 2 * 2)
    avg_start = steps - window
    n = pot.dim
    nrec = steps // stride + 1
    rec_t = np.zeros(nrec, dtype=np.int64)
    rec_w = np.zeros((nrec, n))
    rec_loss = np.zeros(nrec)
    rec_sharp = np.zeros(nrec)
    tail_w = np.zeros((min(tail, steps), n))
    sums = np.zeros(n + 2)
    state = np.zeros((len(opt.state), n))
    h = np.array(hvals, dtype=np.float64)
    t0 = time.perf_counter()
    taken, code, nr, navg = mod.run_loop(
        w, state, c, h, steps, stride, avg_start, gtol, _MAXABS, rec_t, rec_w, rec_loss, rec_sharp, tail_w, sums
    )
    seconds = time.perf_counter() - t0

    # the tail in time order, ending with the final iterate
    k = min(taken, tail_w.shape[0])
    order = [(taken - k + i) % tail_w.shape[0] for i in range(k)]
    tail_seq = np.vstack([tail_w[order], w[None, :]]) if code != 2 else tail_w[order]

    status, period = "max_steps", 0
    if code == 2:
        status = "diverged"
        # the final iterate must have a finite loss; walk back through the tail if needed
        for i in range(tail_seq.shape[0] - 1, -1, -1):
            if math.isfinite(cp.loss(tail_seq[i], c)) and math.isfinite(cp.sharpness(tail_seq[i], c)):
                w = tail_seq[i].copy()
                break
        message = f"diverged at step {taken}: the iterates overflowed; reporting the last finite iterate"
    elif code == 1:
        status, period = "converged", 1
        message = f"converged in {taken} steps (gradient norm <= {gtol:g})"
    else:
        period = detect_period(tail_seq)
        if period == 1:
            status, message = "converged", f"converged to a fixed point within {taken} steps"
        elif period >= 2:
            status, message = "oscillating", f"settled on a period-{period} cycle"
        else:
            message = f"no convergence or cycle detected in {taken} steps"
        if not math.isfinite(cp.loss(w, c)):
            # finite iterates where the loss is not defined (log of a negative number, ...):
            # a failed run, never a silent NaN under 'max_steps' or 'oscillating'
            bad = [int(rec_t[i]) for i in range(nr) if not math.isfinite(rec_loss[i])]
            first = f"; first non-finite loss recorded at step {bad[0]}" if bad else ""
            status, period = "diverged", 0
            message = (
                f"the loss is not finite at the final iterate w = {[float(x) for x in w]}{first}: "
                "the iterates left the domain where L is defined"
            )

    final = _point(cp, w, c)
    if navg > 0 and code == 0:
        average = {
            "params": [float(x) for x in sums[:n] / navg],
            "loss": float(sums[n] / navg),
            "sharpness": float(sums[n + 1] / navg),
            "window": int(navg),
        }
    else:  # stopped early: average over the last iterates seen
        seq = tail_seq[-max(1, min(len(tail_seq), max(2, taken // 10))) :]
        losses = [cp.loss(x, c) for x in seq]
        sharps = [cp.sharpness(x, c) for x in seq]
        ok = np.isfinite(losses) & np.isfinite(sharps)
        seq = seq[ok] if ok.any() else w[None, :]
        average = {
            "params": [float(x) for x in seq.mean(axis=0)],
            "loss": float(np.mean(np.asarray(losses)[ok])) if ok.any() else final["loss"],
            "sharpness": float(np.mean(np.asarray(sharps)[ok])) if ok.any() else final["sharpness"],
            "window": len(seq),
        }

    t_arr = np.append(rec_t[:nr], taken)
    w_arr = np.vstack([rec_w[:nr], w[None, :]])
    loss_arr = np.append(rec_loss[:nr], final["loss"] if final["loss"] is not None else np.nan)
    sharp_arr = np.append(rec_sharp[:nr], final["sharpness"] if final["sharpness"] is not None else np.nan)
    keep = np.isfinite(loss_arr) & np.isfinite(sharp_arr) & np.all(np.isfinite(w_arr), axis=1)
    hyper_named = {hs.name: v for hs, v in zip(opt.hyperparameters, hvals, strict=True)}
    series, n_hess = _track(measures, cp, c, t_arr[keep], w_arr[keep], loss_arr[keep], x0, hyper_named, top_k)

    config = RunConfig(
        potential=pot.name or str(pot.expr),
        params=tuple(p.name for p in pot.params),
        constants={s.name: v for s, v in zip(pot.constants, c.tolist(), strict=False)},
        optimizer=opt.name,
        update=tuple(opt.update),
        hyperparameters=hyper_named,
        x0=tuple(float(x) for x in np.asarray(x0, dtype=float).reshape(-1)),
        steps=steps,
        record_every=stride,
        gtol=gtol,
        track=tuple(m.name for m in measures),
        top_k=top_k,
    )
    work = {"steps": int(taken), "gradients": int(taken) + (0 if code == 0 else 1), "hessians": int(nr + navg)}
    if measures:  # the measures' own kernel calls: one gradient per tracked record, a Hessian where needed
        work["gradients"] += int(keep.sum())
        work["hessians"] += n_hess
    return RunResult(
        config,
        status,
        period,
        int(taken),
        t_arr[keep],
        w_arr[keep],
        loss_arr[keep],
        sharp_arr[keep],
        final,
        average,
        work,
        message,
        seconds,
        series=series,
        measures={m.name: m for m in measures},
    )


def _run_steepest(
    pot: Potential,
    opt: Any,
    cp: CompiledPotential,
    c: np.ndarray,
    w: np.ndarray,
    steps: int,
    stride: int,
    gtol: float,
    hyper: dict[str, float],
    measures: list[ToyMeasure],
    top_k: int,
    groups: Sequence[Sequence[str]] | None,
    x0: Any,
) -> RunResult:
    """:func:`run` for steepest descent under a norm (:func:`~eostheory.geometry.run_steepest`, as a RunResult)."""
    window = max(2, (steps // 10) // 2 * 2)
    r = run_steepest(
        pot,
        opt,
        x0=w,
        steps=steps,
        eta=hyper["eta"],
        beta=hyper.get("beta"),
        groups=groups,
        constants={s.name: float(v) for s, v in zip(pot.constants, c.tolist(), strict=False)},
        record_every=stride,
        gtol=gtol,
        average_window=window,
    )
    final = _point(cp, r.params[-1], c) if len(r.t) else _point(cp, w, c)
    avg = r.extra.get("average")
    if avg is None:  # stopped early (or diverged): the last iterates seen
        seq = np.asarray(r.extra["tail"])[-max(1, min(len(r.extra["tail"]), max(2, r.steps // 10))) :]
        pts = [_point(cp, x, c) for x in seq]
        ok = [p for p in pts if p["loss"] is not None and p["sharpness"] is not None] or [final]
        avg = {
            "params": [float(x) for x in np.mean([p["params"] for p in ok], axis=0)],
            "loss": float(np.mean([p["loss"] for p in ok])) if ok[0]["loss"] is not None else None,
            "sharpness": float(np.mean([p["sharpness"] for p in ok])) if ok[0]["sharpness"] is not None else None,
            "window": len(ok),
        }
    series: dict[str, list[Any]] = {
        "loss": [float(v) for v in r.loss],
        "generalized_sharpness": [float(v) for v in r.generalized_sharpness],
        "dual_grad_norm": [float(v) for v in r.dual_grad],
        "normalized_generalized_sharpness": [
            float(s) / float(d) if d > 0 else None for s, d in zip(r.generalized_sharpness, r.dual_grad, strict=True)
        ],
    }
    tracked, n_hess = _track(measures, cp, c, r.t, r.params, r.loss, x0, hyper, top_k)
    series.update(tracked)
    config = RunConfig(
        potential=pot.name or str(pot.expr),
        params=tuple(p.name for p in pot.params),
        constants={s.name: v for s, v in zip(pot.constants, c.tolist(), strict=False)},
        optimizer=opt.name,
        update=tuple(opt.update),
        hyperparameters=dict(hyper),
        x0=tuple(float(x) for x in np.asarray(x0, dtype=float).reshape(-1)),
        steps=steps,
        record_every=stride,
        gtol=gtol,
        track=tuple(m.name for m in measures),
        top_k=top_k,
    )
    n_rec = len(r.t)
    work = {
        "steps": int(r.steps),
        "gradients": int(r.steps) + 1 + n_rec * (1 + bool(measures)),
        "hessians": n_rec + int(r.extra.get("average_hessians", 0)) + n_hess,
    }
    result = RunResult(
        config,
        r.status,
        r.period,
        int(r.steps),
        r.t,
        r.params,
        r.loss,
        r.sharpness,
        final,
        avg,
        work,
        r.message,
        r.seconds,
        series=series,
        measures={m.name: m for m in measures},
    )
    return result
