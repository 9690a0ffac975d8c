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
edge far above any sharpness the network reaches.  So each run starts at the fraction
``gamma`` of the lower of its two edges at initialisation (:func:`initial_eta`), and
progressive sharpening has to close the gap :math:`1/\gamma`.
Plateaus are reported times :math:`\eta_B/2`, which makes runs with different
:math:`\eta_B` comparable.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from eostheory._errors import EosInputError
from eostheory.analysis.plateau import plateau, regime
from eostheory.symbolic.eoss import binding_direction, crossover_batch_size, predicted_plateau
from eostheory.torch._backend import require_torch

torch = require_torch()

__all__ = ["curvature_statistics", "eoss_experiment", "eoss_run", "initial_eta"]


def curvature_statistics(objective: Any, theta: Any, *, tol: float = 1e-3) -> dict[str, Any]:
    r"""Per-example curvatures along the top eigenvector and along each per-example gradient.

    Returns ``{"lam_max", "curvatures", "kappa1_top"}``: ``curvatures[k, i]`` is
    :math:`v_k^\top \nabla^2\ell_i\, v_k` for :math:`v_0 = u_1` and
    :math:`v_{j+1} = g_j/\|g_j\|` (one graph per example, :math:`n+1` products each), and
    ``kappa1_top`` the relative variance of the curvatures along :math:`u_1`.
    """
    from eostheory.torch._curvature import top_eigenpairs

    th = objective.as_theta(theta)
    pairs = top_eigenpairs(objective.hessian(th), 1, tol=tol)
    u = pairs.vectors[:, 0] if pairs.vectors.ndim == 2 else pairs.vectors
    u = u / torch.linalg.norm(u)
    n = objective.n_examples
    ops = [objective.hessian(th, torch.tensor([i])) for i in range(n)]
    dirs = [u]
    for op in ops:
        g = op.gradient.detach()
        nr = torch.linalg.norm(g)
        dirs.append(g / nr if nr > 0 else u)
    C = np.array([[op.quadratic(v) for op in ops] for v in dirs], dtype=float)
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


def eoss_run(
    data: Any,
    *,
    batch_size: int,
    beta: float,
    seed: int = 0,
    steps: int = 2500,
    gamma: float = 0.3,
    widths: Sequence[int] = (32, 32, 32),
    activation: str = "tanh",
    track_every: int = 40,
    tail: float = 0.5,
    bs_rse: float = 0.1,
) -> dict[str, Any]:
    """One run of :func:`eoss_experiment` (a JSON-ready record)."""
    from eostheory.torch._curvature import batch_sharpness, sharpness
    from eostheory.torch._models import build_model
    from eostheory.torch._objective import NetworkObjective
    from eostheory.torch._train import train

    t0 = time.perf_counter()
    n = int(data.n)
    b = int(batch_size)
    if not 1 <= b <= n:
        raise EosInputError(f"batch size must be in [1, {n}], got {b}")
    mkw = {"widths": list(widths), "activation": activation}
    module = build_model("mlp", data, seed=seed, **mkw)
    obj = NetworkObjective(module, data, "mse", device="cpu")
    th0 = obj.theta0
    lam0 = sharpness(obj, th0)
    bs0 = batch_sharpness(obj, th0, b, rse=0.05, batches="all" if b == n else None).value
    eta = initial_eta(lam0, bs0, beta, b, n, gamma)
    r = train(
        "mlp",
        data,
        optimizer="heavy-ball",
        eta=eta,
        beta=beta,
        batch_size=None if b == n else b,
        steps=steps,
        track=("loss", "sharpness", "batch_sharpness"),
        track_every=track_every,
        bs_batch_size=b,
        bs_rse=bs_rse,
        seed=seed,
        device="cpu",
        model_kwargs=mkw,
    )
    rec: dict[str, Any] = {
        "batch_size": b,
        "beta": beta,
        "seed": seed,
        "eta": eta,
        "lam0": lam0,
        "bs0": bs0,
        "status": r.status,
        "final_loss": float(r.series["loss"][-1]),
        "series": {k: r.series[k] for k in ("step", "loss", "sharpness", "batch_sharpness")},
    }
    half = eta / 2
    for key in ("batch_sharpness", "sharpness"):
        p = plateau(r.series[key], tail=tail)
        val = p.value if math.isfinite(p.value) else math.nan
        rec[key] = {
            **p.as_dict(),
            "ratio": val * half if math.isfinite(val) and r.status == "completed" else None,
            "regime": regime(val, eta, beta)["regime"] if p.plateaued else None,
        }
    if r.status == "completed":
        st = curvature_statistics(obj, r.theta)
        bd = binding_direction(st["curvatures"], eta, beta, b, st["lam_max"])
        top = predicted_plateau(st["kappa1_top"], eta, beta, b, n)
        rec["prediction"] = {
            "binding_direction": "top eigenvector" if bd["index"] == 0 else f"gradient of example {bd['index'] - 1}",
            "scale": bd["scale"],
            "ratio_lam": bd["ratio_lam"],
            "ratio_m2_over_a": bd["ratio_m2_over_a"],
            "kappa_binding": bd["kappa"],
            "kappa1_top": st["kappa1_top"],
            "top_only_ratio_lam": top["ratio_mean"],
            "crossover_batch_top": crossover_batch_size(st["kappa1_top"], beta, n),
            "lam_max_final": st["lam_max"],
        }
    rec["seconds"] = time.perf_counter() - t0
    return rec


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

        pr = [r.get("prediction", {}) for r in rs]
        out.append(
            {
                "beta": beta,
                "batch_size": b,
                "eta": stat([r["eta"] for r in rs]),
                "bs_ratio": stat([r["batch_sharpness"]["ratio"] for r in rs]),
                "lam_ratio": stat([r["sharpness"]["ratio"] for r in rs]),
                "bs_plateaued": sum(bool(r["batch_sharpness"]["plateaued"]) for r in rs),
                "lam_plateaued": sum(bool(r["sharpness"]["plateaued"]) for r in rs),
                "predicted_bs_ratio": stat([p.get("ratio_m2_over_a") for p in pr]),
                "predicted_lam_ratio": stat([p.get("ratio_lam") for p in pr]),
                "low": 1 - beta,
                "high": 1 + beta,
                "runs": len(rs),
                "diverged": sum(r["status"] != "completed" for r in rs),
            }
        )
    return out


def eoss_experiment(
    data: Any,
    *,
    batch_sizes: Sequence[int],
    betas: Sequence[float] = (0.0, 0.9),
    seeds: Sequence[int] = (0, 1),
    progress: Any = None,
    **kw: Any,
) -> dict[str, Any]:
    """Every (β, B, seed) of :func:`eoss_run` and the per-(β, B) summary (means and sds over seeds)."""
    torch.set_num_threads(1)
    runs = []
    t0 = time.perf_counter()
    for beta in betas:
        for b in batch_sizes:
            for s in seeds:
                rec = eoss_run(data, batch_size=b, beta=beta, seed=s, **kw)
                runs.append(rec)
                if progress is not None:
                    progress(rec)
    return {"runs": runs, "summary": _summary(runs), "seconds": time.perf_counter() - t0}
