r"""The Edge of Stochastic Stability with heavy-ball momentum on a network, for several batch sizes.

For each batch size :math:`B`, momentum :math:`\beta` and seed, :func:`eoss_run` trains a
network with mini-batch SGD with heavy-ball momentum (PyTorch convention
``v = βv + g; w -= ηv``), tracking the top Hessian eigenvalue :math:`\lambda_{\max}` and
Batch Sharpness :math:`\mathrm{BS}_B = E_B[g_B^\top H_B g_B/\|g_B\|^2]`, then tests the tail
of both for a plateau (:func:`eostheory.analysis.plateau.plateau`) and compares the
plateau with :math:`2(1-\beta)/\eta`, :math:`2(1+\beta)/\eta` and with the mean-square
prediction of :func:`eostheory.symbolic.eoss.binding_direction`, fed with the per-example
curvatures measured at the final state along the candidate directions
:math:`\{u_1\} \cup \{g_i/\|g_i\|\}` (top eigenvector and per-example gradients).

**Learning rate per batch size.**  One :math:`\eta` cannot start every batch size stably
and still let full batch reach :math:`2(1+\beta)/\eta`: batch size 1 diverges at once
unless :math:`\eta < 2(1-\beta)/\mathrm{BS}_1`, and that :math:`\eta` puts the full-batch
edge far above any sharpness the network reaches.  So each run uses the fraction
``gamma`` of the lower of its two edges at initialisation (:func:`initial_eta`), reached
after a linear warm-up over ``warmup`` steps (which keeps heavy-ball momentum's early
transient from blowing up), and progressive sharpening has to close the gap
:math:`1/\gamma`.  :func:`eoss_edge_test` restarts a run on its plateau with larger
rates and classifies the restarts with :func:`detect_catapult`.
Plateaus are reported times :math:`\eta_B/2`, which makes runs with different
:math:`\eta_B` comparable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.analysis.plateau import crossover, plateau, regime
from eostheory.sweep import map_tasks
from eostheory.symbolic.eoss import binding_direction, crossover_batch_size, predicted_plateau, state_crossover
from eostheory.torch._backend import require_torch
from eostheory.torch._curvature import batch_sharpness, gni, sharpness, top_eigenpairs
from eostheory.torch._models import build_model
from eostheory.torch._objective import NetworkObjective
from eostheory.torch._train import train

torch = require_torch()

__all__ = [
    "curvature_statistics",
    "detect_catapult",
    "edge_verdict",
    "eoss_edge_test",
    "eoss_experiment",
    "eoss_run",
    "eoss_task",
    "initial_eta",
    "predicted_eta",
]


def curvature_statistics(objective: Any, theta: Any, *, tol: float = 1e-3) -> dict[str, Any]:
    r"""Per-example curvatures along the top eigenvector and along each per-example gradient.

    Returns ``{"lam_max", "curvatures", "kappa1_top"}``: ``curvatures[k, i]`` is
    :math:`v_k^\top \nabla^2\ell_i\, v_k` for :math:`v_0 = u_1` and
    :math:`v_{j+1} = g_j/\|g_j\|` (:meth:`~eostheory.torch.Objective.per_example_gradients`
    and :meth:`~eostheory.torch.Objective.per_example_quadratics`: vectorised over the
    examples and the directions for a :class:`~eostheory.torch.NetworkObjective`), and
    ``kappa1_top`` the relative variance of the curvatures along :math:`u_1`.
    """
    th = objective.as_theta(theta)
    pairs = top_eigenpairs(objective.hessian(th), 1, tol=tol)
    u = pairs.vectors[:, 0] if pairs.vectors.ndim == 2 else pairs.vectors
    u = u / torch.linalg.norm(u)
    G = objective.per_example_gradients(th)
    norms = torch.linalg.vector_norm(G, dim=1, keepdim=True)
    dirs = torch.where(norms > 0, G / torch.where(norms > 0, norms, 1), u)
    V = torch.cat([u.reshape(1, -1), dirs])
    C = objective.per_example_quadratics(th, V).detach().cpu().double().numpy()
    c0 = C[0]
    return {
        "lam_max": float(pairs.values[0]),
        "curvatures": C,
        "kappa1_top": float(c0.var() / c0.mean() ** 2) if c0.mean() > 0 else math.nan,
    }


def initial_eta(lam: float, bs: float, beta: float, batch_size: int, n: int, gamma: float) -> float:
    r""":math:`\eta_B = \gamma\min\big(2(1+\beta)/\lambda_{\max},\ 2(1-\beta)/\mathrm{BS}_B\big)` at initialisation.

    The lower of the two edges (the second only for :math:`B < n`), so that neither is
    crossed at the start.
    """
    edge = 2 * (1 + beta) / lam
    if batch_size < n:
        edge = min(edge, 2 * (1 - beta) / bs)
    return gamma * edge


def predicted_eta(curvatures: Any, beta: float, batch_size: int) -> float:
    r"""The mean-square critical :math:`\eta` of the one-direction model, minimised over candidate directions.

    For per-example curvatures ``curvatures[k, i]`` along direction :math:`v_k` (mean
    :math:`a_k`, batch second moment :math:`m_{2,k}` for batches of :math:`B` drawn without
    replacement),

    .. math:: \eta_c(B) = \min_k \frac{2(1-\beta)}{m_{2,k}/a_k - 2\beta a_k/(1+\beta)},

    the learning rate at which the first direction reaches the boundary of
    :func:`eostheory.symbolic.eoss.binding_direction` (its critical scale at :math:`\eta = 1`).
    At full batch (:math:`m_2 = a^2`) it is :math:`2(1+\beta)/\max_k a_k`.
    """
    C, _ = _curving(curvatures)
    return float(binding_direction(C, 1.0, beta, batch_size, 1.0)["scale"])


def _curving(curvatures: Any) -> tuple[np.ndarray, np.ndarray]:
    """The candidate directions with a positive mean curvature, and their row indices.

    A direction along which the loss curves down on average (a negative eigenvalue of a
    network Hessian, or an example whose gradient points into it) never reaches the
    mean-square boundary, so it cannot bind and is left out.
    """
    C = np.atleast_2d(np.asarray(curvatures, dtype=float))
    keep = np.nonzero(C.mean(axis=1) > 0)[0]
    if keep.size == 0:
        raise EosInputError("no candidate direction has a positive mean curvature: nothing can reach an edge")
    return C[keep], keep


def eoss_run(
    data: Any,
    *,
    batch_size: int,
    beta: float,
    seed: int = 0,
    steps: int = 2000,
    gamma: float = 0.6,
    widths: Sequence[int] = (32, 32),
    activation: str = "tanh",
    track_every: int = 40,
    tail: float = 0.5,
    bs_rse: float = 0.1,
    warmup: int = 200,
    checkpoint_every: int | None = None,
    out: Any = None,
    predict: bool = True,
    eta_rule: str = "edges",
    track_gni: bool = False,
    rungs: int = 2,
    predict_states: int = 1,
) -> dict[str, Any]:
    r"""One run of :func:`eoss_experiment` (a JSON-ready record).

    ``eta_rule`` picks :math:`\eta_B` at initialisation: ``"edges"`` is :func:`initial_eta`
    (``gamma`` times the lower of :math:`2(1+\beta)/\lambda_{\max}` and
    :math:`2(1-\beta)/\mathrm{BS}_B`); ``"predicted"`` is ``gamma`` times the mean-square
    boundary of :func:`predicted_eta` at the initial state (the batch-size-aware edge of the
    one-direction model over the top eigenvector and the per-example gradients).  Both values
    are in the record (``eta_edges``, ``eta_predicted``; the second only when it was computed).
    ``"auto"`` walks a geometric ladder down from the predicted rate to the edges rate and
    keeps the first run that stays finite: with :math:`\eta_p > \eta_e` and
    :math:`K` = ``rungs`` + 1 it tries

    .. math:: \eta_k = \eta_p\,(\eta_e/\eta_p)^{k/K}, \qquad k = 0, 1, \dots, K,

    named ``"predicted"`` (:math:`k = 0`), ``"rung1"`` … and ``"edges"`` (:math:`k = K`), so
    each run goes at the largest rate on the ladder at which it stays finite (``rungs=0``:
    the predicted rate, then the edges rate).  Where :math:`\eta_p \le \eta_e` (at
    :math:`\beta = 0` and at full batch the two rules agree to a few per cent) there is no lower
    rate: the ladder is the predicted rate alone, and a run that diverges there is recorded as
    diverged (a second try at the equal or higher edges rate would be no fallback, and one that
    happens to stay finite would not be a stable rate).  The record is the run that was kept
    (``eta_rule`` says which), with the abandoned attempts in order under ``attempts``
    (``eta_rule``, ``eta``, ``status``, ``last_step``: the last step with a finite record); with
    ``out`` each attempt goes to ``out/<rule>`` and ``run_dir`` names the kept one.

    ``warmup > 0`` ramps the learning rate linearly from :math:`\eta_B/W` to :math:`\eta_B`
    over the first ``W`` steps (``warmup:steps=W``); ``out`` and ``checkpoint_every`` keep a
    run directory with snapshots (for :func:`eoss_edge_test`); ``predict=False`` skips the
    final per-example curvature statistics and the prediction (:math:`n(n+1)` per-example curvatures);
    ``track_gni=True`` also tracks GNI (one more Monte-Carlo estimate per record; the series
    gets a ``"gni"`` entry).

    ``predict_states=K`` > 1 also reads the prediction at :math:`K - 1` earlier states of the
    run, at record steps spread evenly through the plateau test's tail (the last ``tail`` of
    the records), and averages the predicted ratios and the single-state crossover over
    those and the final state: the plateau is a tail mean, and a prediction from one state
    scatters with that state (``prediction["states"]`` holds each, ``prediction["tail_mean"]``
    the means, which :func:`eoss_experiment`'s summary then uses).  It costs :math:`K - 1`
    more curvature tables; the trajectory and its records are those of ``K = 1``.
    """
    t0 = time.perf_counter()
    n = int(data.n)
    b = int(batch_size)
    if not 1 <= b <= n:
        raise EosInputError(f"batch size must be in [1, {n}], got {b}")
    if isinstance(rungs, bool) or not isinstance(rungs, int) or rungs < 0:
        raise EosInputError(f"rungs must be a non-negative integer, got {rungs!r}")
    if eta_rule not in ("edges", "predicted", "auto"):
        raise EosInputError(f"eta_rule must be 'edges', 'predicted' or 'auto', got {eta_rule!r}")
    if isinstance(predict_states, bool) or not isinstance(predict_states, int) or not 1 <= predict_states <= 50:
        raise EosInputError(f"predict_states must be an integer in [1, 50], got {predict_states!r}")
    mkw = {"widths": list(widths), "activation": activation}
    tracked = ("loss", "sharpness", "batch_sharpness") + (("gni",) if track_gni else ())
    module = build_model("mlp", data, seed=seed, **mkw)
    obj = NetworkObjective(module, data, "mse", device="cpu")
    th0 = obj.theta0
    lam0 = sharpness(obj, th0)
    bs0 = batch_sharpness(obj, th0, b, rse=0.05, batches="all" if b == n else None).value
    eta_edges = initial_eta(lam0, bs0, beta, b, n, gamma)
    rates = {"edges": eta_edges}
    if eta_rule != "edges":
        rates["predicted"] = gamma * predicted_eta(curvature_statistics(obj, th0)["curvatures"], beta, b)
    plan = [eta_rule]
    if eta_rule == "auto":
        # down the ladder only: where the edges rate is not below the predicted one (beta = 0,
        # full batch: the two rules agree) it is no fallback, and the predicted run is the record
        plan = ["predicted", *_ladder(rates, rungs)] + (["edges"] if rates["edges"] < rates["predicted"] else [])
    attempts = []
    sample_at = _tail_steps(steps, track_every, tail, predict_states) if predict else []
    for rule in plan:
        eta = rates[rule]
        run_out = Path(out) / rule if out is not None and eta_rule == "auto" else out
        tail_states: list[dict[str, Any]] = []
        hook = _state_sampler(sample_at, eta, beta, b, tail_states) if sample_at else None
        r = train(
            "mlp",
            data,
            optimizer="heavy-ball",
            eta=eta,
            beta=beta,
            batch_size=None if b == n else b,
            steps=steps,
            track=tracked,
            track_every=track_every,
            bs_batch_size=b,
            bs_rse=bs_rse,
            seed=seed,
            device="cpu",
            model_kwargs=mkw,
            schedule=f"warmup:steps={int(warmup)}" if warmup > 0 else None,
            checkpoint_every=checkpoint_every,
            out=run_out,
            plot=False,
            on_step=hook,
            on_step_every=track_every,
        )
        if r.status == "completed" or rule == plan[-1]:
            break
        finite = [t for t, v in zip(r.series["step"], r.series["loss"], strict=True) if _finite(v)]
        attempts.append({"eta_rule": rule, "eta": eta, "status": r.status, "last_step": finite[-1] if finite else None})
    rec: dict[str, Any] = {
        "batch_size": b,
        "beta": beta,
        "seed": seed,
        "eta": eta,
        "eta_rule": rule,
        "run_dir": None if run_out is None else str(run_out),
        "eta_edges": eta_edges,
        "eta_predicted": rates.get("predicted"),
        "lam0": lam0,
        "bs0": bs0,
        "status": r.status,
        "final_loss": float(r.series["loss"][-1]),
        "series": {k: r.series[k] for k in ("step", *tracked)},
    }
    if eta_rule == "auto":
        rec["ladder"] = {k: rates[k] for k in plan}
    if attempts:
        rec["attempts"] = attempts
    half = eta / 2
    for key in ("batch_sharpness", "sharpness"):
        p = plateau(r.series[key], tail=tail)
        val = p.value if math.isfinite(p.value) else math.nan
        rec[key] = {
            **p.as_dict(),
            "ratio": val * half if math.isfinite(val) and r.status == "completed" else None,
            "regime": regime(val, eta, beta)["regime"] if p.plateaued else None,
        }
    if r.status == "completed" and out is not None:  # the state a restart forks from (eoss_edge_test)
        full = "all" if b == n else None
        rec["final_curvature"] = {
            "step": int(r.steps_done),
            "batch_sharpness": batch_sharpness(obj, r.theta, b, rse=0.05, batches=full).value,
            "gni": gni(obj, r.theta, b, rse=0.05, batches=full).value,
            "lam_max": sharpness(obj, r.theta),
        }
    if r.status == "completed" and predict:
        st = curvature_statistics(obj, r.theta)
        C, rows = _curving(st["curvatures"])
        bd = binding_direction(C, eta, beta, b, st["lam_max"])
        bd["index"] = int(rows[bd["index"]])
        top = predicted_plateau(st["kappa1_top"], eta, beta, b, n)
        rec["prediction"] = {
            "binding_direction": _direction_name(bd["index"]),
            "scale": bd["scale"],
            "ratio_lam": bd["ratio_lam"],
            "ratio_m2_over_a": bd["ratio_m2_over_a"],
            "kappa_binding": bd["kappa"],
            "kappa1_top": st["kappa1_top"],
            "top_only_ratio_lam": top["ratio_mean"],
            "crossover_batch_top": crossover_batch_size(st["kappa1_top"], beta, n),
            "lam_max_final": st["lam_max"],
        }
        if beta > 0:  # the whole predicted curve from this one state (state_crossover): where it crosses 1
            sc = state_crossover(C, beta)
            k = sc["crossover_index"]
            rec["prediction"]["crossover_batch_state"] = sc["crossover"] if math.isfinite(sc["crossover"]) else None
            rec["prediction"]["crossover_direction_state"] = None if k is None else _direction_name(int(rows[k]))
        if sample_at:
            keys = ("ratio_m2_over_a", "ratio_lam", "scale", "crossover_batch_state")
            final = {"step": int(r.steps_done), **{k: rec["prediction"].get(k) for k in keys}}  # computed above
            states = [*tail_states, final]
            rec["prediction"]["states"] = states
            rec["prediction"]["tail_mean"] = {
                key: _finite_mean([x[key] for x in states])
                for key in ("ratio_m2_over_a", "ratio_lam", "scale", "crossover_batch_state")
            }
    rec["seconds"] = time.perf_counter() - t0
    return rec


def _tail_steps(steps: int, every: int, tail: float, k: int) -> list[int]:
    """The ``k - 1`` record steps before the last at which ``predict_states = k`` reads a state.

    Spread evenly from the first record of the plateau test's tail (the last ``tail`` of the
    records) to the last record before the final step; fewer when the tail has fewer records.
    """
    if k <= 1:
        return []
    records = list(range(0, int(steps), int(every)))  # on_step runs at these, not at the final step
    n_rec = len(records) + 1  # with the final record
    first = n_rec - max(1, math.ceil(float(tail) * n_rec))
    pool = records[first:]
    if not pool:
        return []
    idx = np.unique(np.round(np.linspace(0, len(pool) - 1, min(k - 1, len(pool)))).astype(int))
    return [pool[i] for i in idx]


def _state_prediction(C_all: Any, eta: float, beta: float, b: int, lam_max: float) -> dict[str, Any]:
    """The prediction from one state's curvature table: ratios, critical scale and (β > 0) crossover."""
    C, _ = _curving(C_all)
    bd = binding_direction(C, eta, beta, b, lam_max)
    cross = state_crossover(C, beta)["crossover"] if beta > 0 else math.nan
    return {
        "ratio_m2_over_a": bd["ratio_m2_over_a"],
        "ratio_lam": bd["ratio_lam"],
        "scale": bd["scale"],
        "crossover_batch_state": cross if math.isfinite(cross) else None,
    }


def _state_sampler(at: list[int], eta: float, beta: float, b: int, into: list[dict[str, Any]]) -> Any:
    """An ``on_step`` callback that appends the prediction of the state at each step of ``at`` to ``into``."""
    wanted = set(at)

    def on_step(state: Any) -> None:
        if state.step in wanted:
            st = curvature_statistics(state.objective, state.w)
            into.append({"step": int(state.step), **_state_prediction(st["curvatures"], eta, beta, b, st["lam_max"])})

    return on_step


def _finite_mean(vals: list[Any]) -> float | None:
    v = [float(x) for x in vals if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else None


def _direction_name(row: int) -> str:
    """The candidate direction of ``curvature_statistics`` row ``row``: the top eigenvector, then one per example."""
    return "top eigenvector" if row == 0 else f"gradient of example {row - 1}"


def _ladder(rates: dict[str, float], rungs: int) -> list[str]:
    r"""Add the rungs :math:`\eta_p(\eta_e/\eta_p)^{k/(R+1)}`, :math:`k = 1..R`, to ``rates``; their names in order.

    None where the predicted rate :math:`\eta_p` is not above the edges rate :math:`\eta_e`.
    """
    pred, edges = rates["predicted"], rates["edges"]
    if not pred > edges:
        return []
    names = []
    for k in range(1, rungs + 1):
        rates[f"rung{k}"] = pred * (edges / pred) ** (k / (rungs + 1))
        names.append(f"rung{k}")
    return names


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def _summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys = sorted({(r["beta"], r["batch_size"]) for r in runs})
    for beta, b in keys:
        rs = [r for r in runs if r["beta"] == beta and r["batch_size"] == b]

        def stat(vals: list[Any]) -> dict[str, Any]:
            v = np.array([x for x in vals if x is not None and math.isfinite(x)], dtype=float)
            if v.size == 0:
                return {"mean": None, "sd": None, "count": 0}
            return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "count": int(v.size)}

        pr = [_prediction_basis(r) for r in rs]
        out.append(
            {
                "beta": beta,
                "batch_size": b,
                "eta": stat([r["eta"] for r in rs]),
                "bs_ratio": stat([r["batch_sharpness"]["ratio"] for r in rs]),
                "lam_ratio": stat([r["sharpness"]["ratio"] for r in rs]),
                "bs_plateaued": sum(bool(r["batch_sharpness"]["plateaued"]) for r in rs),
                "lam_plateaued": sum(bool(r["sharpness"]["plateaued"]) for r in rs),
                "bs_drift": stat([_relative_drift(r["batch_sharpness"]) for r in rs]),
                "lam_drift": stat([_relative_drift(r["sharpness"]) for r in rs]),
                "predicted_bs_ratio": stat([p.get("ratio_m2_over_a") for p in pr]),
                "predicted_lam_ratio": stat([p.get("ratio_lam") for p in pr]),
                "predicted_crossover_state": stat([p.get("crossover_batch_state") for p in pr]),
                "predicted_states": max((len(r.get("prediction", {}).get("states", ())) or 1 for r in rs), default=1),
                "low": 1 - beta,
                "high": 1 + beta,
                "runs": len(rs),
                "diverged": sum(r["status"] != "completed" for r in rs),
                "eta_rules": {k: sum(r.get("eta_rule") == k for r in rs) for k in _rule_names(rs)},
            }
        )
    return out


def _relative_drift(test: Mapping[str, Any]) -> float | None:
    r"""The plateau test's drift across the tail as a fraction of the tail mean, :math:`\Delta/\bar s`.

    :math:`\Delta` is the fitted line's change from the first to the last record of the tail
    (:func:`~eostheory.analysis.plateau.plateau`), so ``+0.1`` reads "still rising by 10% of its
    level over the tail".  ``None`` for a run without a plateau value (``ratio`` is ``None`` when the
    run diverged), without a finite drift, or with a zero mean.
    """
    d, v = test.get("drift"), test.get("value")
    if not (_finite(test.get("ratio")) and _finite(d) and _finite(v)) or v == 0:
        return None
    return float(d) / abs(float(v))


def _prediction_basis(run: Mapping[str, Any]) -> Mapping[str, Any]:
    """The predicted ratios a summary uses: the tail mean when the run read several states, else the final state's."""
    p = run.get("prediction", {})
    return p.get("tail_mean", p)


def _rule_names(runs: list[dict[str, Any]]) -> list[str]:
    """``edges`` and ``predicted``, then any ladder rungs the runs used, in ladder order."""
    rungs = {r["eta_rule"] for r in runs if str(r.get("eta_rule", "")).startswith("rung")}
    return ["edges", "predicted", *sorted(rungs, key=lambda k: int(k[4:]))]


def _crossovers(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per :math:`\beta > 0`: where each mean curve (plateau × η/2) rises through 1, by :func:`crossover`.

    With predictions, also ``predicted_state``: the crossover of the curve that each run's
    final state predicts on its own (:func:`state_crossover`), its mean per batch size
    (``by_batch``).
    """
    out = []
    for beta in sorted({r["beta"] for r in summary}):
        if beta == 0:
            continue  # one edge: 1 - beta = 1 + beta
        rs = sorted((r for r in summary if r["beta"] == beta), key=lambda r: r["batch_size"])
        sizes = [r["batch_size"] for r in rs]
        row: dict[str, Any] = {"beta": beta}
        for key in ("bs_ratio", "lam_ratio", "predicted_bs_ratio", "predicted_lam_ratio"):
            row[key] = crossover(sizes, [r[key]["mean"] for r in rs], 1.0)
        by_batch = {
            str(r["batch_size"]): r["predicted_crossover_state"]["mean"]
            for r in rs
            if r["predicted_crossover_state"]["count"]
        }
        if by_batch:  # each run's own state predicts a whole curve: its crossover, by batch size
            row["predicted_state"] = {"by_batch": by_batch}
        out.append(row)
    return out


def eoss_experiment(
    data: Any,
    *,
    batch_sizes: Sequence[int],
    betas: Sequence[float] = (0.0, 0.9),
    seeds: Sequence[int] = (0, 1),
    progress: Any = None,
    workers: int | None = None,
    scheduler: Any = None,
    **kw: Any,
) -> dict[str, Any]:
    r"""Every (β, B, seed) of :func:`eoss_run`, the per-(β, B) summary (means and sds over seeds) and crossovers.

    Each ``summary`` row (one per :math:`(\beta, B)`) holds the mean and sd over seeds of
    ``eta``, the measured ratios ``bs_ratio`` and ``lam_ratio`` (plateau times
    :math:`\eta/2`), their predictions ``predicted_bs_ratio`` and ``predicted_lam_ratio``, and
    ``bs_drift`` and ``lam_drift`` (the plateau test's drift across the tail over the tail
    mean: how far a level that did not plateau is still moving); the counts
    ``bs_plateaued``, ``lam_plateaued``, ``runs`` and ``diverged``; ``low`` :math:`= 1-\beta`
    and ``high`` :math:`= 1+\beta`; and ``eta_rules``, the runs per rule kept.

    ``crossover`` holds, for each :math:`\beta > 0`, the batch size at which each mean curve
    (measured Batch Sharpness and :math:`\lambda_{\max}`, predicted :math:`m_2/a` and
    :math:`\lambda_{\max}`, all times :math:`\eta/2`) rises through 1, the midpoint of
    :math:`1-\beta` and :math:`1+\beta` (:func:`eostheory.analysis.plateau.crossover`).

    ``workers=None`` (and no ``scheduler``) runs the runs one after another in this process;
    otherwise each run is one task of :func:`eostheory.sweep.map_tasks` (``workers=0``: in
    this process through the engine, ``N``: a local cluster of ``N`` one-thread workers,
    or the given ``scheduler``).  A run is deterministic on the CPU, so both paths give the
    same records (up to the ``seconds`` each took).  ``progress(record)`` is called as each
    run finishes (in finishing order on a cluster).
    """
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    grid = [(beta, b, s) for beta in betas for b in batch_sizes for s in seeds]
    if workers is None and scheduler is None:
        runs = []
        for beta, b, s in grid:
            rec = eoss_run(data, batch_size=b, beta=beta, seed=s, **kw)
            runs.append(rec)
            if progress is not None:
                progress(rec)
    else:
        tasks = [{"data": data, "batch_size": b, "beta": beta, "seed": s, **kw} for beta, b, s in grid]

        def cb(outcome: Any) -> None:
            if progress is not None and outcome.ok:
                progress(outcome.value)

        res = map_tasks(eoss_task, tasks, workers=workers, scheduler=scheduler, desc="eoss runs", callback=cb)
        runs = res.values()
    summary = _summary(runs)
    return {"runs": runs, "summary": summary, "crossover": _crossovers(summary), "seconds": time.perf_counter() - t0}


def detect_catapult(
    loss: Sequence[float],
    baseline: float,
    *,
    k: float = 2.0,
    within: int = 100,
    recover: float = 1.5,
    smooth: int = 1,
) -> dict[str, Any]:
    r"""Classify a loss series after a restart: ``catapult``, ``diverged``, ``none`` or ``no-recovery``.

    With :math:`L_0` = ``baseline`` (the loss level just before the restart) and
    :math:`\bar L_t` the loss averaged over a trailing window of ``smooth`` entries:

    * **catapult**: :math:`\max_{t < m}\bar L_t \ge k L_0` for :math:`m` = ``within`` (a
      spike of at least a factor ``k`` in the first ``m`` entries), afterwards
      :math:`\bar L_t \le` ``recover`` :math:`\cdot L_0` at some later entry, and the last
      :math:`\bar L_t` at most :math:`k L_0` (it came back);
    * **none**: no spike of a factor ``k`` in the first ``m`` entries and the last
      :math:`\bar L_t` at most :math:`k L_0` (a decrease, or fluctuations smaller than ``k``);
    * **diverged**: some entry is not finite, or the loss has not come back and the last
      :math:`\bar L_t` is still at least half the largest one (it rose and stays up), or it
      rose above :math:`k L_0` only after the window;
    * **no-recovery**: a spike that has fallen from its peak by more than a factor 2 but is
      not back to ``recover`` :math:`\cdot L_0` by the end of the series (a catapult
      slower than the window, or a move to a higher loss level).

    Returns ``{"kind", "peak", "peak_ratio", "peak_at", "recovered_at", "final_ratio"}``
    (indices into ``loss``; ratios to :math:`L_0`; ``recovered_at`` ``None`` unless a
    catapult).

    Raises:
        EosInputError: empty series, ``baseline`` not positive and finite, ``k <= 1``,
            ``recover`` not in ``[1, k)``, ``within`` or ``smooth`` < 1.
    """
    x = np.asarray([math.nan if v is None else float(v) for v in loss], dtype=float)
    if x.size == 0:
        raise EosInputError("the loss series is empty")
    if not (math.isfinite(baseline) and baseline > 0):
        raise EosInputError(f"baseline must be a positive finite loss, got {baseline}")
    if not k > 1:
        raise EosInputError(f"k must exceed 1, got {k}")
    if not 1 <= recover < k:
        raise EosInputError(f"recover must be in [1, k), got {recover}")
    if int(within) != within or within < 1 or int(smooth) != smooth or smooth < 1:
        raise EosInputError("within and smooth must be positive integers")
    if not np.all(np.isfinite(x)):
        bad = int(np.argmin(np.isfinite(x)))
        return {
            "kind": "diverged",
            "peak": math.inf,
            "peak_ratio": math.inf,
            "peak_at": bad,
            "recovered_at": None,
            "final_ratio": math.inf,
        }
    c = np.cumsum(np.concatenate([[0.0], x]))
    idx = np.arange(x.size)
    lo = np.maximum(0, idx - int(smooth) + 1)
    sm = (c[idx + 1] - c[lo]) / (idx + 1 - lo)
    head = sm[: int(within)]
    at = int(np.argmax(head))
    peak = float(head[at])
    final_ratio = float(sm[-1] / baseline)
    out: dict[str, Any] = {
        "peak": peak,
        "peak_ratio": peak / baseline,
        "peak_at": at,
        "recovered_at": None,
        "final_ratio": final_ratio,
    }
    if peak < k * baseline:  # no spike in the window: quiet, or a late steady rise
        return {"kind": "diverged" if final_ratio > k else "none", **out}
    back = np.nonzero(sm[at + 1 :] <= recover * baseline)[0]
    if back.size and final_ratio <= k:
        out["recovered_at"] = int(at + 1 + back[0])
        return {"kind": "catapult", **out}
    if sm[-1] >= 0.5 * float(sm.max()):  # still at (or rising past) its peak
        return {"kind": "diverged", **out}
    return {"kind": "no-recovery", **out}


def eoss_edge_test(
    data: Any,
    *,
    batch_size: int,
    beta: float,
    seed: int = 0,
    steps: int = 2500,
    factors: Sequence[float] = (1.0, 1.1, 1.3, 1.6),
    after: int = 300,
    record_every: int = 2,
    k: float = 2.0,
    within: int | None = None,
    recover: float = 1.5,
    smooth: int | None = None,
    tol: float = 0.05,
    predict: bool = True,
    workdir: Any = None,
    **run_kw: Any,
) -> dict[str, Any]:
    r"""The edge test: train to the plateau, then restart with a larger learning rate and look for a catapult.

    A source run (:func:`eoss_run`, with a kept checkpoint at its last step) is forked at
    its last step into one branch per factor :math:`f` with :math:`\eta' = f\eta` and the
    same batch order, momentum buffer and random states; each branch runs ``after`` steps
    and records the full-data loss every ``record_every`` steps.  The loss after the fork is
    classified by :func:`detect_catapult` against the mean full-data loss of the last
    quarter of the source run (factor ``k``, spike within the first ``within`` records,
    default a third of them, recovery to ``recover`` times the baseline), on the loss
    averaged over a trailing window of ``smooth`` records.  The default ``smooth`` is 1 at
    full batch and a twentieth of the records (at least 1) for mini-batches, whose full-data
    loss moves by a factor 2 from batch to batch at a low loss level: unsmoothed, that
    noise alone crosses ``k`` and reads as a spike.

    At the fork it reports each quantity against its edge at the new rate:
    :math:`\mathrm{BS}_B\,\eta'/(2(1-\beta))` and :math:`\mathrm{GNI}_B\,\eta'/(2(1-\beta))`
    (:math:`\mathrm{GNI}_B = E_B[g_B^\top H g_B]/\|\nabla L\|^2`, Andreyev & Beneventano 2024)
    and :math:`\lambda_{\max}\eta'/(2(1+\beta))`; a ratio above 1 says that quantity is
    over its edge after the restart.  The same ratios from the mean of the last quarter of
    the source run's records (``*_edge_recent``; GNI is tracked in the source run for this)
    give the level the run held; :func:`edge_verdict` reads the outcomes against both
    (``verdict``, ``verdict_final``, band ``tol``).  With ``predict`` (the default; :math:`n(n+1)`
    per-example curvatures at the fork) the source record carries the mean-square
    prediction at the fork state, and each branch ``ms_edge`` :math:`= f/s^*`, the restart's
    rate over the one-direction model's batch-size-aware edge :math:`s^*\eta`
    (:func:`eostheory.symbolic.eoss.binding_direction`); the verdict reads it as a fourth
    quantity, ``mean_square``.  ``run_kw`` goes to :func:`eoss_run`.

    Returns:
        ``{"source": record of the source run, "fork_step", "baseline", "recent", "verdict",
        "verdict_final", "detector", "branches": [{"factor", "eta", "bs_edge", "gni_edge",
        "lam_edge", "*_edge_recent", "ms_edge" (with ``predict``), "catapult":
        detect_catapult(...), "loss", "step"}], "seconds"}``.
    """
    import tempfile
    from pathlib import Path

    t0 = time.perf_counter()
    if not factors or any(not (math.isfinite(f) and f > 0) for f in factors):
        raise EosInputError("factors must be positive numbers")
    after = int(after)
    if after < 2 or record_every < 1:
        raise EosInputError("after must be >= 2 and record_every >= 1")
    n_rec = after // int(record_every)
    m = max(1, n_rec // 3) if within is None else int(within)
    if smooth is None:
        smooth = 1 if int(batch_size) == int(data.n) else max(1, n_rec // 20)
    if int(smooth) != smooth or smooth < 1:
        raise EosInputError(f"smooth must be a positive integer, got {smooth}")
    if not (math.isfinite(tol) and 0 <= tol < 1):
        raise EosInputError(f"tol must be in [0, 1), got {tol}")
    tmp = tempfile.TemporaryDirectory(prefix="eoss_edge_") if workdir is None else None
    root = Path(tmp.name if tmp is not None else workdir)
    try:
        src = root / "source"
        rec = eoss_run(
            data,
            batch_size=batch_size,
            beta=beta,
            seed=seed,
            steps=steps,
            out=src,
            checkpoint_every=steps,
            predict=predict,
            track_gni=True,
            **run_kw,
        )
        if rec["status"] != "completed":
            raise EosInputError(f"the source run did not complete ({rec['status']}): lower gamma")
        eta = rec["eta"]
        fc = rec["final_curvature"]
        src = Path(rec["run_dir"])  # out/<rule> under eta_rule="auto"
        baseline = _recent_mean(rec["series"]["loss"])  # the source completed: every entry is finite
        recent = {key: _recent_mean(rec["series"][key]) for key in ("batch_sharpness", "gni", "sharpness")}
        ms_scale = rec["prediction"]["scale"] if "prediction" in rec else None
        b = int(batch_size)
        mkw = {"widths": list(run_kw.get("widths", (32, 32))), "activation": run_kw.get("activation", "tanh")}
        branches = []
        for j, f in enumerate(factors):
            e2 = eta * float(f)
            r = train(
                "mlp",
                data,
                optimizer="heavy-ball",
                eta=e2,
                beta=beta,
                batch_size=None if b == int(data.n) else b,
                steps=steps + after,
                track=("loss",),
                track_every=int(record_every),
                seed=seed,
                device="cpu",
                model_kwargs=mkw,
                branch_from=src,
                branch_name=f"eta_x{f:g}",
                out=root / f"branch{j}",
                plot=False,
            )
            st = np.asarray(r.series["step"])
            lo = np.asarray([math.nan if v is None else v for v in r.series["loss"]], dtype=float)
            keep = st > fc["step"]
            loss_after = lo[keep]
            if r.status != "completed":
                loss_after = np.concatenate([loss_after, [math.inf]])
            branches.append(
                {
                    "factor": float(f),
                    "eta": e2,
                    "status": r.status,
                    "bs_edge": fc["batch_sharpness"] * e2 / (2 * (1 - beta)),
                    "gni_edge": fc["gni"] * e2 / (2 * (1 - beta)),
                    "lam_edge": fc["lam_max"] * e2 / (2 * (1 + beta)),
                    "bs_edge_recent": recent["batch_sharpness"] * e2 / (2 * (1 - beta)),
                    "gni_edge_recent": recent["gni"] * e2 / (2 * (1 - beta)),
                    "lam_edge_recent": recent["sharpness"] * e2 / (2 * (1 + beta)),
                    **(
                        {}
                        if ms_scale is None
                        else {"ms_edge": float(f) / ms_scale, "ms_edge_recent": float(f) / ms_scale}
                    ),
                    "catapult": detect_catapult(
                        loss_after.tolist(), baseline, k=k, within=m, recover=recover, smooth=int(smooth)
                    ),
                    "step": st[keep].tolist(),
                    "loss": [float(v) for v in lo[keep]],
                }
            )
    finally:
        if tmp is not None:
            tmp.cleanup()
    return {
        "source": rec,
        "fork_step": fc["step"],
        "baseline": baseline,
        "recent": recent,
        "verdict": edge_verdict(branches, basis="recent", tol=tol),
        "verdict_final": edge_verdict(branches, basis="final", tol=tol),
        "detector": {
            "k": k,
            "within": m,
            "recover": recover,
            "smooth": int(smooth),
            "record_every": int(record_every),
            "tol": tol,
        },
        "branches": branches,
        "seconds": time.perf_counter() - t0,
    }


def _recent_mean(series: Sequence[Any]) -> float:
    """Mean of the finite entries in the last quarter of a tracked series (the loss baseline's window)."""
    vals = [float(v) for v in series if v is not None and math.isfinite(float(v))]
    if not vals:
        return math.nan
    return float(np.mean(vals[-max(1, len(vals) // 4) :]))


_SPIKES = ("catapult", "no-recovery", "diverged")
_EDGE_KEYS = {"batch_sharpness": "bs_edge", "gni": "gni_edge", "lam_max": "lam_edge", "mean_square": "ms_edge"}


def edge_verdict(branches: Sequence[Mapping[str, Any]], *, basis: str = "recent", tol: float = 0.05) -> dict[str, Any]:
    r"""Which quantity the restarts of :func:`eoss_edge_test` are consistent with as the edge.

    A quantity :math:`q` with edge ratio :math:`r_f = q\,\eta'/(2(1\mp\beta))` at factor
    :math:`f` is *over* its edge after the restart if :math:`r_f > 1 + \mathrm{tol}`, *under*
    it if :math:`r_f < 1 - \mathrm{tol}`, and *at* it otherwise.  Over predicts a loss spike,
    under predicts none, and at predicts neither: a quantity on its plateau fluctuates around
    the edge, and ``tol`` (default 5%, the band of the drift test) is the resolution at which
    the restarts are read.  The restart *shows* a spike iff :func:`detect_catapult` calls it
    ``catapult``, ``no-recovery`` or ``diverged``.  :math:`q` is consistent with being the
    binding quantity iff no branch contradicts its prediction.  ``basis="recent"`` uses the
    ratios from the mean of the last quarter of the source run's records (``*_edge_recent``:
    the level the run holds); ``"final"`` the single estimate at the fork step (``*_edge``).

    Branches that carry ``ms_edge`` (:func:`eoss_edge_test` with ``predict``) add a fourth
    quantity, ``mean_square``: the restart's rate over the mean-square model's edge at the
    fork state (one value, used for both bases).

    Returns ``{"batch_sharpness" | "gni" | "lam_max" [| "mean_square"]: {"consistent",
    "mismatch": [factors], "side": ["under" | "at" | "over" per branch]}, "binding": [consistent names],
    "separates": bool}``; ``separates`` says whether, on some branch, Batch Sharpness and GNI
    sit on different sides of their edges (one of the two is then off its edge): only then
    can the restarts tell them apart.
    """
    if basis not in ("recent", "final"):
        raise EosInputError(f"basis must be 'recent' or 'final', got {basis!r}")
    if not (math.isfinite(tol) and 0 <= tol < 1):
        raise EosInputError(f"tol must be in [0, 1), got {tol}")
    suffix = "_recent" if basis == "recent" else ""
    out: dict[str, Any] = {}
    sides: dict[str, list[str]] = {}
    names = [name for name, key in _EDGE_KEYS.items() if name != "mean_square" or all(key in b for b in branches)]
    for name in names:
        key = _EDGE_KEYS[name]
        vals = [float(b[key + suffix]) for b in branches]
        sides[name] = [
            "nan" if not math.isfinite(v) else "over" if v > 1 + tol else "under" if v < 1 - tol else "at" for v in vals
        ]
        mismatch = []
        for b, side in zip(branches, sides[name], strict=True):
            spike = b["catapult"]["kind"] in _SPIKES
            if side == "nan" or (side == "over" and not spike) or (side == "under" and spike):
                mismatch.append(float(b["factor"]))
        out[name] = {"consistent": not mismatch, "mismatch": mismatch, "side": sides[name]}
    out["binding"] = [name for name in names if out[name]["consistent"]]
    out["separates"] = any(
        a != g and "nan" not in (a, g) for a, g in zip(sides["batch_sharpness"], sides["gni"], strict=True)
    )
    return out


def eoss_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """One (β, B, seed) run of the experiment as a picklable task for :func:`eostheory.sweep.map_tasks`.

    ``task`` = ``{"data": Dataset, "batch_size", "beta", "seed", **eoss_run options}``; holds
    torch to one thread.
    """
    torch.set_num_threads(1)
    kw = dict(task)
    data = kw.pop("data")
    return eoss_run(data, **kw)
