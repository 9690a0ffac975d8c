"""The torch benchmarks on the CPU and on CUDA, side by side in one table (driver of gpu_suite.sh).

Each device runs in a child process of its own (``--child DEVICE``), so that thread settings
and CUDA state never leak from one column into the other.  The figures, on sklearn digits
with an MLP tanh and the MSE loss:

- **HVP cost**: milliseconds per full-batch gradient and per Hessian-vector product through
  a reused gradient graph, and their ratio (gradient-equivalents), float32;
  ``benchmarks/bench_torch_curvature.py``'s ``hvp_cost``;
- **sharpness tracking**: milliseconds per warm-started Lanczos estimate of the top
  Hessian eigenvalue during full-batch GD at the edge (``train(track="sharpness",
  track_every=1)`` minus a loss-only run of the same steps, per record), and HVPs per
  estimate;
- **training steps/s**: ``eostheory.torch.train`` without tracking and a plain
  ``torch.optim.SGD`` loop on the same module (``benchmarks/bench_train_overhead.py``'s
  timers), and their ratio;
- **a flow on an MLP**: the central flow (k = 1) on an MLP 64-16-10, 100 examples,
  float64, integrated with RK4 (``dt = 0.25``): seconds per GD step of flow time.

The CPU column uses the package's CPU thread default (see ``benchmarks/bench_threads.py``).
A device that is absent gets a dash and a line that says so.

    python benchmarks/gpu_table.py                 # ~1-2 min per device
    python benchmarks/gpu_table.py --quick         # smaller sizes (seconds; for a first look)
    python benchmarks/gpu_table.py --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _settings(quick: bool) -> dict[str, Any]:
    if quick:
        return {"n": 300, "widths": (32, 32), "hvp_repeat": 5, "track_steps": 20, "sgd_steps": 50, "flow_steps": 4}
    return {"n": 1797, "widths": (64, 64, 64), "hvp_repeat": 20, "track_steps": 100, "sgd_steps": 300, "flow_steps": 20}


def child(device: str, quick: bool) -> dict[str, Any]:
    """Every figure on one device (run in a fresh process)."""
    import torch

    import eostheory.torch as et

    curv = _load("bench_torch_curvature")
    over = _load("bench_train_overhead")
    cfg = _settings(quick)
    sync = over._sync
    out: dict[str, Any] = {"device": device, "threads": torch.get_num_threads(), "torch": torch.__version__}
    if device.startswith("cuda"):
        out["name"] = torch.cuda.get_device_name(0)
    data = et.digits(n=cfg["n"])
    widths = cfg["widths"]

    # 1. HVP cost
    model = et.build_model("mlp", data, widths=widths, activation="tanh", seed=0)
    obj = et.NetworkObjective(model, data, "mse", device=device, dtype="float32")
    cost = curv.hvp_cost(obj, obj.theta0.clone(), repeat=cfg["hvp_repeat"])
    out["n_params"] = obj.n_params
    out["gradient_ms"] = 1e3 * cost["gradient_s"]
    out["hvp_ms"] = 1e3 * cost["hvp_reused_graph_s"]
    out["hvp_in_gradients"] = cost["hvp_reused_graph_in_gradients"]

    # 2. sharpness tracking during GD at the edge (eta = 0.2: the sharpness rises to 2/eta)
    steps = cfg["track_steps"]
    common = {"model_kwargs": {"widths": widths, "activation": "tanh"}, "device": device, "dtype": "float32"}
    over.train_seconds(data, 0.2, 5, device, widths, track="loss", track_every=5)  # warm-up
    t_loss = min(
        over.train_seconds(data, 0.2, steps, device, widths, track="loss", track_every=steps) for _ in range(2)
    )
    t0 = time.perf_counter()
    r = et.train("mlp", data, eta=0.2, steps=steps, track="sharpness", track_every=1, **common)
    sync(device)
    t_track = time.perf_counter() - t0
    n_rec = len(r.series["sharpness"])
    out["sharpness_ms_per_estimate"] = 1e3 * max(t_track - t_loss, 0.0) / n_rec
    out["hvps_per_estimate"] = r.work["hvps"] / n_rec

    # 3. training steps/s: train without tracking against a plain torch.optim.SGD loop
    sgd = cfg["sgd_steps"]
    module = et.build_model("mlp", data, widths=widths, activation="tanh", seed=0)
    over.plain_sgd_seconds(module, data, 0.2, 5, device)  # warm-up
    plain = min(over.plain_sgd_seconds(module, data, 0.2, sgd, device) for _ in range(2))
    fixed = min(over.train_seconds(data, 0.2, 0, device, widths, track="loss") for _ in range(2))
    full = min(over.train_seconds(data, 0.2, sgd, device, widths, track="loss", track_every=sgd) for _ in range(2))
    out["train_steps_per_s"] = sgd / max(full - fixed, 1e-9)
    out["sgd_steps_per_s"] = sgd / plain
    out["train_over_sgd"] = out["sgd_steps_per_s"] / out["train_steps_per_s"]

    # 4. the central flow on an MLP 64-16-10 (float64)
    fdata = et.digits(n=100)
    fmodel = et.build_model("mlp", fdata, widths=(16,), seed=0)
    fobj = et.NetworkObjective(fmodel, fdata, "mse", device=device, dtype="float64")
    eta = 2.0 / et.sharpness(fobj)  # GD at the edge from its first step
    et.solve_torch_flow(fobj, "central", eta=eta, steps=1)  # warm-up (third-derivative check)
    sync(device)
    res = et.solve_torch_flow(fobj, "central", eta=eta, steps=cfg["flow_steps"])
    out["flow_status"] = res.status
    out["flow_s_per_step"] = res.seconds / cfg["flow_steps"]
    out["flow_params"] = fobj.n_params
    return out


ROWS = [
    ("gradient_ms", "gradient (ms)", "{:.3f}", True),
    ("hvp_ms", "HVP, reused graph (ms)", "{:.3f}", True),
    ("hvp_in_gradients", "HVP / gradient", "{:.2f}", None),
    ("sharpness_ms_per_estimate", "sharpness estimate (ms)", "{:.2f}", True),
    ("hvps_per_estimate", "HVPs per estimate", "{:.1f}", None),
    ("train_steps_per_s", "train steps/s (no tracking)", "{:.0f}", False),
    ("sgd_steps_per_s", "plain SGD steps/s", "{:.0f}", False),
    ("train_over_sgd", "train / SGD time ratio", "{:.2f}", None),
    ("flow_s_per_step", "central flow (s per GD step)", "{:.3f}", True),
]


def table(cols: dict[str, dict[str, Any] | None]) -> str:
    """The figures side by side, with the CPU/CUDA speed-up where it means something."""
    cpu, cuda = cols.get("cpu"), cols.get("cuda")
    lines = [f"{'figure':30s} {'CPU':>12s} {'CUDA':>12s} {'speed-up':>9s}"]
    for key, label, fmt, lower_is_faster in ROWS:

        def cell(c: dict[str, Any] | None, key: str = key, fmt: str = fmt) -> str:
            return fmt.format(c[key]) if c and key in c else "-"

        sp = "-"
        if cpu and cuda and lower_is_faster is not None and cpu.get(key) and cuda.get(key):
            sp = f"{(cpu[key] / cuda[key]) if lower_is_faster else (cuda[key] / cpu[key]):.1f}x"
        lines.append(f"{label:30s} {cell(cpu):>12s} {cell(cuda):>12s} {sp:>9s}")
    return "\n".join(lines)


def _run_child(device: str, quick: bool, timeout: float) -> dict[str, Any] | str:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", device] + (["--quick"] if quick else [])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"failed (exit {p.returncode}): {tail}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds per device)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds allowed per device (default 240)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.quick)))
        return 0
    import torch

    has_cuda = torch.cuda.is_available()
    cols: dict[str, dict[str, Any] | None] = {}
    notes: list[str] = []
    for dev in ("cpu", "cuda"):
        if dev == "cuda" and not has_cuda:
            cols[dev] = None
            notes.append("CUDA: absent (torch.cuda.is_available() is False): the CUDA column is empty")
            continue
        t0 = time.perf_counter()
        got = _run_child(dev, args.quick, args.timeout)
        if isinstance(got, str):
            cols[dev] = None
            notes.append(f"{dev}: {got}")
        else:
            cols[dev] = got
            notes.append(f"{dev}: {time.perf_counter() - t0:.0f} s")
    cfg = _settings(args.quick)
    c = cols.get("cpu") or cols.get("cuda") or {}
    print(
        f"digits n={cfg['n']}, MLP {'-'.join(map(str, cfg['widths']))} tanh ({c.get('n_params', '?')} parameters), "
        f"MSE, float32; flow: MLP 16, n=100, float64 ({c.get('flow_params', '?')} parameters); "
        f"torch {torch.__version__}"
    )
    if cols.get("cpu"):
        print(f"CPU: {cols['cpu']['threads']} torch thread(s), {os.cpu_count()} CPUs")
    if cols.get("cuda"):
        print(f"CUDA: {cols['cuda'].get('name', '?')}")
    print(table(cols))
    for n in notes:
        print(n)
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": cfg, "columns": cols, "notes": notes}, indent=2))
    return 0 if cols.get("cpu") else 1


if __name__ == "__main__":
    raise SystemExit(main())
