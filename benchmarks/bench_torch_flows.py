"""What each torch flow costs and how well it tracks GD, side by side in one run.

Two tables, on MLPs trained full batch on 100 sklearn digits (MSE, float64, one CPU thread),
with GD at ``eta = frac / S(theta0)`` so that the sharpness rises to ``2/eta`` and GD enters
the edge part way through (progressive sharpening):

1. **Per flow, at its default discretisation** (``eostheory.torch.TORCH_DEFAULTS``):
   gradient-equivalents per GD step of the vector field (the nominal ``CostModel``: a
   gradient 1, a graph build 1.5, an HVP 2, a third-derivative contraction 4), HVPs and
   third-derivative contractions per GD step (field and recording together, one record per
   step), wall time per GD step (integration and recording) relative to
   one GD step with warm sharpness tracking measured in the same run, and the median
   relative centre error ``||c(t) - wbar_t|| / ||wbar_t - w_0||`` against GD's midpoints over
   the second half of the run.
2. **Error against cost of the central flow's discretisations** (``--sweep``): Euler, RK4 at
   several ``dt`` and ``tau``, Lanczos at two tolerances and warm power iteration, on two
   MLPs; the error is the largest relative difference in top ``eta*lambda`` and in predicted
   loss over every recorded step against the published code's scheme (Euler, substep 0.25,
   ``tau = 0.25``) with eigenvalues to 1e-6, and the median centre error against GD.

    python benchmarks/bench_torch_flows.py            # table 1, MLP 64-16-10, ~3 min on one core
    python benchmarks/bench_torch_flows.py --sweep    # and table 2 on two MLPs, ~10 min
    python benchmarks/bench_torch_flows.py --quick    # 60 steps, to see that it runs
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

import eostheory.torch as et

#: (label, hidden widths, seed)
NETS = (("MLP 64-16-10", (16,), 0), ("MLP 64-32-32-10", (32, 32), 1))

#: the flows of table 1 (GD flows; the momentum and RMSProp ones model other optimizers)
FLOWS = ("gradient", "modified", "central", "rod", "rod:extent=full", "edge", "edge-rayleigh")

#: table 2: (label, method, dt, tau, eigensolver, tolerance); the first row is the reference
SWEEP = (
    ("euler dt=.25 tau=.25 lanczos 1e-6 (reference)", "euler", 0.25, 0.25, "lanczos", 1e-6),
    ("euler dt=.25 tau=.25 lanczos 1e-4 (default)", "euler", 0.25, 0.25, "lanczos", 1e-4),
    ("euler dt=.25 tau=.25 power 1e-6", "euler", 0.25, 0.25, "power", 1e-6),
    ("euler dt=.5 tau=.5 lanczos 1e-4", "euler", 0.5, 0.5, "lanczos", 1e-4),
    ("euler dt=1 tau=1 lanczos 1e-4", "euler", 1.0, 1.0, "lanczos", 1e-4),
    ("rk4 dt=.25 tau=1 lanczos 1e-6 (old default)", "rk4", 0.25, 1.0, "lanczos", 1e-6),
    ("rk4 dt=1 tau=.5 lanczos 1e-4", "rk4", 1.0, 0.5, "lanczos", 1e-4),
)


def make(hidden: tuple[int, ...], seed: int, frac: float) -> tuple[Any, float]:
    torch.manual_seed(seed)
    obj = et.NetworkObjective(et.mlp(64, 10, hidden, "tanh"), et.digits(n=100), "mse", device="cpu", dtype="float64")
    return obj, frac / et.sharpness(obj, tol=1e-8)


def gd_step_seconds(obj: Any, eta: float, steps: int) -> float:
    """Wall time of one GD step with the sharpness tracked by a warm Lanczos solve (the baseline)."""
    w = obj.theta0.detach().clone()
    tracker = et.EigenTracker(1, method="lanczos", tol=1e-6)
    t0 = time.perf_counter()
    for _ in range(steps):
        _loss, g = obj.value_and_grad(w)
        tracker(obj.hessian(w))
        w = w - eta * g
    return (time.perf_counter() - t0) / steps


def per_step(r: Any, key: str) -> float:
    w = r.work
    return (w.get(key, 0) + w.get("observation", {}).get(key, 0)) / w["span"]


def late_error(r: Any, gd: Any, steps: int) -> float:
    m = et.flow_vs_gd(r, gd)
    t, e = m["t"], m["relative_error"]
    late = e[t >= steps // 2]
    return float(np.median(late)) if len(late) else float("nan")


def table_flows(steps: int, frac: float) -> list[dict[str, Any]]:
    label, hidden, seed = NETS[0]
    obj, eta = make(hidden, seed, frac)
    gd = et.gd_midpoints(obj, eta=eta, steps=steps)
    base = gd_step_seconds(obj, eta, min(steps, 100))
    print(f"\n{label}, {obj.n_params} parameters, eta = {frac}/S0 = {eta:.4f}, {steps} steps")
    print(f"one GD step with sharpness tracking: {1e3 * base:.2f} ms (the wall-time unit below)")
    head = f"{'flow':18s} {'method':>8s} {'dt':>5s} {'grad-eq/step':>12s} {'HVP/step':>8s} {'3rd/step':>8s}"
    print(head + f" {'wall/GD step':>12s} {'median centre err':>17s}")
    rows = []
    for flow in FLOWS:
        r = et.solve_torch_flow(obj, flow, eta=eta, steps=steps, record_every=1)
        row = {
            "net": label,
            "flow": flow,
            "method": r.method,
            "dt": r.dt,
            "status": r.status,
            "gradient_equivalents_per_step": r.cost_per_step,
            "hvps_per_step": per_step(r, "hvps"),
            "thirds_per_step": per_step(r, "thirds"),
            "wall_per_gd_step": r.seconds / r.work["span"] / base,
            "median_centre_error": late_error(r, gd, steps),
        }
        rows.append(row)
        print(
            f"{flow:18s} {r.method:>8s} {r.dt:5.2f} {row['gradient_equivalents_per_step']:12.1f} "
            f"{row['hvps_per_step']:8.1f} {row['thirds_per_step']:8.1f} {row['wall_per_gd_step']:12.1f} "
            f"{row['median_centre_error']:17.4f}",
            flush=True,
        )
    return rows


def table_sweep(steps: int, frac: float) -> list[dict[str, Any]]:
    rows = []
    for label, hidden, seed in NETS:
        obj, eta = make(hidden, seed, frac)
        gd = et.gd_midpoints(obj, eta=eta, steps=steps)
        print(f"\ncentral flow on {label}, {obj.n_params} parameters, eta = {frac}/S0, {steps} steps")
        print(
            f"{'discretisation':46s} {'HVP/step':>8s} {'3rd/step':>8s} {'max dS/S':>9s} {'max dL/L':>9s} "
            f"{'median centre err':>17s} {'s':>6s}"
        )
        ref = None
        for name, method, dt, tau, eig, tol in SWEEP:
            r = et.solve_torch_flow(
                obj,
                "central",
                eta=eta,
                steps=steps,
                method=method,
                dt=dt,
                params={"tau": tau},
                eig_method=eig,
                eig_tol=tol,
                record_every=1,
            )
            ref = r if ref is None else ref
            n = min(len(r.t), len(ref.t))
            dS = float(np.max(np.abs(r.sharpness[:n] / ref.sharpness[:n] - 1)))
            dL = float(np.max(np.abs(r.predicted_loss[:n] / ref.predicted_loss[:n] - 1)))
            row = {
                "net": label,
                "discretisation": name,
                "status": r.status,
                "hvps_per_step": per_step(r, "hvps"),
                "thirds_per_step": per_step(r, "thirds"),
                "max_rel_sharpness_diff": dS,
                "max_rel_loss_diff": dL,
                "median_centre_error": late_error(r, gd, steps),
                "seconds": r.seconds,
            }
            rows.append(row)
            print(
                f"{name:46s} {row['hvps_per_step']:8.1f} {row['thirds_per_step']:8.1f} {dS:9.2e} {dL:9.2e} "
                f"{row['median_centre_error']:17.4f} {r.seconds:6.1f}",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200, help="GD steps (default 200)")
    ap.add_argument("--frac", type=float, default=1.5, help="eta = frac / S(theta0) (default 1.5: sharpening first)")
    ap.add_argument("--sweep", action="store_true", help="also the central flow's error-vs-cost table on two MLPs")
    ap.add_argument("--quick", action="store_true", help="60 steps")
    ap.add_argument("--json", default=None, help="write both tables to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    steps = 60 if args.quick else args.steps
    out: dict[str, Any] = {"flows": table_flows(steps, args.frac)}
    if args.sweep:
        out["sweep"] = table_sweep(steps, args.frac)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
