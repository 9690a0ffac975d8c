"""Cost of the curvature estimators during a run at the edge of stability (digits, MLP, full-batch GD).

Side by side in one run of full-batch GD (sklearn digits, MLP 64-64-64-10 tanh, MSE,
eta = 0.2, the setting in which the sharpness rises to 2/eta = 10 and stays there), every
``--every`` steps the sharpness is estimated by

- Lanczos in torch, warm-started from the previous eigenvector (what ``train`` uses),
- scipy ``eigsh`` (ARPACK, which="LA"), warm-started, with scipy's default basis size
  (ncv = 20) and with ncv = 6,
- cold Lanczos and cold ``eigsh`` (random start vector),
- power iteration, cold and warm-started,

each to a relative accuracy target of 1e-3, and compared with a tight reference (Lanczos
to 1e-10).  It reports Hessian-vector products (HVPs) per estimate and the relative error,
and the cost of one HVP in gradient-equivalents (time of an HVP / time of a gradient).

    python benchmarks/bench_torch_curvature.py            # 3000 steps, every 20
    python benchmarks/bench_torch_curvature.py --quick    # 400 steps
    python benchmarks/bench_torch_curvature.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

import eostheory.torch as et
from eostheory.optimizers import get_optimizer


def _time(fn, repeat: int) -> float:
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def hvp_cost(obj: et.NetworkObjective, w: torch.Tensor, repeat: int) -> dict:
    """Seconds per gradient and per HVP (several ways), and the ratios."""
    v = torch.randn(obj.n_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(w)
    grad_s = _time(lambda: obj.value_and_grad(w), repeat)
    op = obj.hessian(w)
    reuse_s = _time(lambda: op.matvec(v), repeat)
    build_s = _time(lambda: obj.hessian(w), repeat)
    fresh_s = _time(lambda: obj.hessian(w).matvec(v), repeat)

    def f(th):
        return obj.loss(th)

    def fwd_over_rev():
        return torch.func.jvp(torch.func.grad(f), (w,), (v,))[1]

    try:
        func_s = _time(fwd_over_rev, repeat)
        # agreement of the two HVP methods
        agree = float(torch.linalg.vector_norm(fwd_over_rev() - op.matvec(v)) / torch.linalg.vector_norm(op.matvec(v)))
    except Exception as exc:  # pragma: no cover - depends on torch version
        func_s, agree = float("nan"), f"failed: {exc}"
    return {
        "gradient_s": grad_s,
        "hvp_reused_graph_s": reuse_s,
        "gradient_with_graph_s": build_s,
        "hvp_fresh_graph_s": fresh_s,
        "hvp_forward_over_reverse_s": func_s,
        "hvp_reused_graph_in_gradients": reuse_s / grad_s,
        "hvp_fresh_graph_in_gradients": fresh_s / grad_s,
        "hvp_forward_over_reverse_in_gradients": func_s / grad_s,
        "forward_over_reverse_vs_double_backward_rel_diff": agree,
    }


METHODS = {
    "lanczos-warm": ("lanczos", True),
    "eigsh-warm": ("eigsh", True),
    "eigsh-warm-ncv6": ("eigsh", True),
    "lanczos-cold": ("lanczos", False),
    "eigsh-cold": ("eigsh", False),
    "power-cold": ("power", False),
    "power-warm": ("power", True),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="400 steps instead of 3000")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = args.steps or (400 if args.quick else 3000)
    data = et.digits()
    model = et.build_model("mlp", data, widths=(64, 64, 64), activation="tanh", seed=0)
    obj = et.NetworkObjective(model, data, "mse", device=args.device, dtype=args.dtype)
    step = et.TorchStep(get_optimizer("gd").rule, {"eta": 0.2})
    w = obj.theta0.clone()
    state = step.init_state(w)
    print(
        f"device {obj.device}, dtype {obj.dtype}, {obj.n_params} parameters, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    cost = hvp_cost(obj, w, repeat=20)
    print(
        "HVP cost in gradient-equivalents: reused graph {:.2f}, fresh graph {:.2f}, forward-over-reverse {:.2f}".format(
            cost["hvp_reused_graph_in_gradients"],
            cost["hvp_fresh_graph_in_gradients"],
            cost["hvp_forward_over_reverse_in_gradients"],
        )
    )
    print(
        "  (gradient {:.3g} ms, HVP through a reused graph {:.3g} ms)".format(
            1e3 * cost["gradient_s"], 1e3 * cost["hvp_reused_graph_s"]
        )
    )
    trackers = {
        name: et.EigenTracker(1, method=m, tol=args.tol, seed=1, ncv=6 if name.endswith("ncv6") else None)
        for name, (m, _) in METHODS.items()
    }
    rows: dict[str, dict[str, list]] = {name: {"hvps": [], "err": [], "sec": []} for name in METHODS}
    ref_hist = []
    gen = torch.Generator().manual_seed(7)
    t_run = time.perf_counter()
    for t in range(steps + 1):
        if t % args.every == 0:
            op = obj.hessian(w)
            ref = et.top_eigenpairs(op, 1, method="lanczos", tol=1e-10, max_iter=400, generator=gen).top
            ref_hist.append((t, ref))
            for name, (_, warm) in METHODS.items():
                tr = trackers[name]
                if not warm:
                    tr.vectors = tr.guard_vectors = None
                t0 = time.perf_counter()
                res = tr(op)
                rows[name]["sec"].append(time.perf_counter() - t0)
                if t > 0 or not warm:
                    rows[name]["hvps"].append(res.n_hvp)
                    rows[name]["err"].append(abs(res.top - ref) / abs(ref))
            del op
        if t == steps:
            break
        _, g = obj.value_and_grad(w)
        w, state = step(w, g, state)
    elapsed = time.perf_counter() - t_run
    refs = np.array([r for _, r in ref_hist])
    print(
        f"\n{steps} GD steps, sharpness estimated at {len(ref_hist)} points every {args.every} steps "
        f"({elapsed:.1f} s); sharpness went {refs[0]:.3f} -> max {refs.max():.3f} -> {refs[-1]:.3f} (2/eta = 10)"
    )
    print(
        f"\n{'method':14s} {'HVPs mean':>10s} {'median':>7s} {'max':>5s} {'rel.err max':>12s} {'median':>10s} "
        f"{'>tol':>5s} {'ms/est':>7s}"
    )
    summary = {}
    for name, r in rows.items():
        h, e = np.array(r["hvps"]), np.array(r["err"])
        summary[name] = {
            "hvps_mean": float(h.mean()),
            "hvps_median": float(np.median(h)),
            "hvps_max": int(h.max()),
            "rel_err_max": float(e.max()),
            "rel_err_median": float(np.median(e)),
            "fraction_over_tol": float(np.mean(e > args.tol)),
            "ms_per_estimate": 1e3 * float(np.mean(r["sec"])),
        }
        s = summary[name]
        print(
            f"{name:14s} {s['hvps_mean']:10.1f} {s['hvps_median']:7.0f} {s['hvps_max']:5d} {s['rel_err_max']:12.2e} "
            f"{s['rel_err_median']:10.2e} {s['fraction_over_tol']:5.2f} {s['ms_per_estimate']:7.1f}"
        )
    out = {
        "device": str(obj.device),
        "dtype": str(obj.dtype),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": steps,
        "every": args.every,
        "tol": args.tol,
        "hvp_cost": cost,
        "methods": summary,
        "sharpness": ref_hist,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
