"""Do the flows track GD on more than one network?  Three MLP scenarios, every flow, one table.

The worked example ``worked_examples/torch_flows_mlp.py`` studies one setting in depth (MLP
64-16-10 at eta = 2/S(theta0), GD at the edge from its first step).  This script checks that
what it finds is not a property of that one run: the same comparison on

- ``edge-at-start``: MLP 64-16-10 tanh, eta = 2/S(theta0), 300 steps (the example's run);
- ``sharpening``: the same net at eta = 1.5/S(theta0), 500 steps: GD is stable at first,
  the sharpness rises to 2/eta (progressive sharpening) and GD enters the edge late;
- ``deeper``: MLP 64-32-32-10 tanh (seed 1), eta = 2/S(theta0), 300 steps.

All on 100 sklearn digits, MSE, float64, one CPU thread.  For each flow: the relative centre
error ||c(t) - wbar_t|| / ||wbar_t - w_0|| against GD's midpoint (median over the second
half), the predicted against GD's measured oscillation, and vector-field evaluations per GD
step.  Central flow is the slowest (about a minute per scenario); ``--skip-central`` drops it.

    python benchmarks/flows_mlp_scenarios.py                 # ~6 min on one core
    python benchmarks/flows_mlp_scenarios.py --skip-central --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

import eostheory.torch as et

SCENARIOS = {
    "edge-at-start": {"hidden": (16,), "frac": 2.0, "steps": 300, "seed": 0},
    "sharpening": {"hidden": (16,), "frac": 1.5, "steps": 500, "seed": 0},
    "deeper": {"hidden": (32, 32), "frac": 2.0, "steps": 300, "seed": 1},
}

#: (label, flow, integrator, dt)
FLOWS = (
    ("gradient", "gradient", "rk4", 0.25),
    ("central", "central", "rk4", 0.25),
    ("edge", "edge", "rk4", 0.25),
    ("edge (exponential, dt=1)", "edge", "exponential", 1.0),
    ("rod", "rod", "rk4", 0.25),
    ("rod (full extent)", "rod:extent=full", "rk4", 0.25),
    ("rod (full, rank 2, signs)", "rod:rank=2:points=signs:extent=full", "rk4", 0.25),
)


def run_scenario(name: str, cfg: dict, skip_central: bool) -> list[dict]:
    torch.manual_seed(cfg["seed"])
    data = et.digits(n=100)
    obj = et.NetworkObjective(et.mlp(64, 10, cfg["hidden"], "tanh"), data, "mse", dtype="float64")
    s0 = et.sharpness(obj, tol=1e-8)
    eta = cfg["frac"] / s0
    steps = cfg["steps"]
    gd = et.gd_midpoints(obj, eta=eta, steps=steps, sharpness_every=10)
    s_end = float(np.nanmax(gd.sharpness[-11:]))
    print(
        f"\n[{name}] MLP 64-{'-'.join(map(str, cfg['hidden']))}-10 tanh, {obj.n_params} parameters, "
        f"eta = {cfg['frac']}/S0 = {eta:.4f} (2/eta = {2 / eta:.3f}), {steps} steps; "
        f"GD sharpness at the end {s_end:.3f}"
    )
    print(
        f"{'flow':28s} {'median err 2nd half':>19s} {'max':>7s} {'osc pred':>9s} {'osc GD':>7s} "
        f"{'evals/step':>10s} {'s':>6s}"
    )
    rows = []
    for label, flow, method, dt in FLOWS:
        if skip_central and flow == "central":
            continue
        t0 = time.perf_counter()
        r = et.solve_torch_flow(obj, flow, eta=eta, steps=steps, method=method, dt=dt, eig_tol=1e-4)
        m = et.flow_vs_gd(r, gd)
        t, e = m["t"], m["relative_error"]
        late = e[t >= steps // 2]
        row = {
            "scenario": name,
            "flow": label,
            "status": r.status,
            "median_error_2nd_half": float(np.median(late)),
            "max_error_2nd_half": float(np.max(late)),
            "predicted_oscillation": float(m["predicted_oscillation"]),
            "measured_oscillation": float(m["measured_oscillation"]),
            "evaluations_per_step": r.work["rhs"] / r.work["span"],
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        print(
            f"{label:28s} {row['median_error_2nd_half']:19.4f} {row['max_error_2nd_half']:7.4f} "
            f"{row['predicted_oscillation']:9.4f} {row['measured_oscillation']:7.4f} "
            f"{row['evaluations_per_step']:10.1f} {row['seconds']:6.1f}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="run only these (repeatable)")
    ap.add_argument("--skip-central", action="store_true", help="leave out the central flow (the slowest)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the rows to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    for name in args.scenario or list(SCENARIOS):
        rows += run_scenario(name, SCENARIOS[name], args.skip_central)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
