"""Overhead of :func:`eostheory.torch.train` and the cost of each tracked measure.

Two figures, in one run (digits subset, MLP tanh, MSE, float32, one torch thread, CPU by
default):

1. **Training steps per second** of ``eostheory.torch.train`` with no tracking (loss only,
   one record at the start and one at the end) next to a plain ``torch.optim.SGD`` loop
   on the same module, data and loss (``zero_grad``, forward, ``backward``, ``step``).
   The fixed cost of a run (building the model, the first and last record) is removed by
   timing ``train`` with ``steps`` and with ``0`` steps; the ratio (target <= 1.15) is
   seconds per step of ``train`` over seconds per step of the plain loop.  Both are the
   best of ``--repeat`` interleaved tries.
2. **The cost of each built-in measure** in gradient-equivalents: the extra wall time per
   record of a run that tracks only that measure over a loss-only run (the same steps and
   records), divided by the time of one full-batch gradient.  The eigen-measures run
   warm-started, as in a run.

    python benchmarks/bench_train_overhead.py             # 400 steps, 300 examples
    python benchmarks/bench_train_overhead.py --quick     # a few seconds
    python benchmarks/bench_train_overhead.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from typing import Any

import torch

import eostheory.torch as et
from eostheory.torch._objective import mse_loss


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def plain_sgd_seconds(module: torch.nn.Module, data: et.Dataset, eta: float, steps: int, device: str) -> float:
    """Seconds for ``steps`` steps of a plain ``torch.optim.SGD`` loop (full batch, the same MSE)."""
    model = copy.deepcopy(module).to(device=device, dtype=torch.float32)
    x = data.x.to(device=device, dtype=torch.float32)
    y = data.y.to(device=device, dtype=torch.float32)
    opt = torch.optim.SGD(model.parameters(), lr=eta)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = mse_loss(model(x), y)
        loss.backward()
        float(loss.detach())  # train reads each step's loss too
        opt.step()
    _sync(device)
    return time.perf_counter() - t0


def train_seconds(data: et.Dataset, eta: float, steps: int, device: str, widths: Any, **kw: Any) -> float:
    """Wall time of one :func:`eostheory.torch.train` call."""
    t0 = time.perf_counter()
    et.train(
        "mlp",
        data,
        eta=eta,
        steps=steps,
        device=device,
        dtype="float32",
        model_kwargs={"widths": widths, "activation": "tanh"},
        **kw,
    )
    _sync(device)
    return time.perf_counter() - t0


def gradient_seconds(data: et.Dataset, device: str, widths: Any, repeat: int) -> float:
    """Seconds per full-batch gradient (``value_and_grad``, best of 3 blocks)."""
    module = et.build_model("mlp", data, seed=0, widths=widths, activation="tanh")
    obj = et.NetworkObjective(module, data, "mse", device=device, dtype="float32")
    w = obj.theta0.clone()
    obj.value_and_grad(w)
    best = float("inf")
    for _ in range(3):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeat):
            obj.value_and_grad(w)
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def _seconds(data: et.Dataset, eta: float, args: argparse.Namespace, widths: Any, kw: dict[str, Any]) -> float:
    return train_seconds(data, eta, args.measure_steps, args.device, widths, **kw)


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    data = et.digits(n=args.n)
    widths = [args.width] * args.depth
    module = et.build_model("mlp", data, seed=0, widths=widths, activation="tanh")

    # 1. steps/s: train (loss only) vs plain torch.optim.SGD, interleaved, best of repeat
    no_track = {"track": ["loss"], "track_every": max(args.steps, 1)}
    plain, eos, eos0 = [], [], []
    for _ in range(args.repeat):
        plain.append(plain_sgd_seconds(module, data, args.eta, args.steps, args.device) / args.steps)
        eos.append(train_seconds(data, args.eta, args.steps, args.device, widths, **no_track))
        eos0.append(train_seconds(data, args.eta, 0, args.device, widths, **no_track))
    s_plain = min(plain)
    s_fixed = min(eos0)
    s_eos = max(min(eos) - s_fixed, 1e-12) / args.steps
    overhead = {
        "plain_sgd_steps_per_s": 1.0 / s_plain,
        "train_steps_per_s": 1.0 / s_eos,
        "ratio": s_eos / s_plain,
        "train_fixed_s": s_fixed,
    }

    # 2. each built-in measure: extra time per record over a loss-only run, in gradients
    t_grad = gradient_seconds(data, args.device, widths, args.grad_repeat)
    every = args.every
    n_rec = args.measure_steps // every + 1
    base_kw = {"track_every": every}
    base = min(
        train_seconds(data, args.eta, args.measure_steps, args.device, widths, track=["loss"], **base_kw)
        for _ in range(args.repeat)
    )
    costs: dict[str, dict[str, Any]] = {}
    for name in et.TRACKABLE:
        m = et.MEASURES[name]
        kw: dict[str, Any] = dict(base_kw, track=["loss", name])
        if name == "preconditioned-sharpness":  # defined for adaptive optimizers: measured on Adam
            kw.update(optimizer="adam", hyperparameters={"beta1": 0.9, "beta2": 0.999, "eps": 1e-8})
            eta = args.adam_eta
            loss_only = {**kw, "track": ["loss"]}
            b = min(_seconds(data, eta, args, widths, loss_only) for _ in range(args.repeat))
        else:
            eta, b = args.eta, base
        if name == "loss":
            extra = 0.0
        else:
            tm = min(_seconds(data, eta, args, widths, kw) for _ in range(args.repeat))
            extra = max(tm - b, 0.0) / n_rec
        costs[name] = {"measured": extra / t_grad, "nominal": m.cost, "seconds_per_record": extra}

    return {
        "setting": {
            "data": f"digits n={args.n}",
            "model": f"mlp {widths} tanh",
            "loss": "mse",
            "dtype": "float32",
            "eta": args.eta,
            "steps": args.steps,
            "device": args.device,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        },
        "overhead": overhead,
        "gradient_s": t_grad,
        "measures": costs,
        "measure_run": {"steps": args.measure_steps, "every": every, "records": n_rec},
    }


def table(res: dict[str, Any]) -> str:
    o = res["overhead"]
    s = res["setting"]
    lines = [
        f"{s['data']}, {s['model']}, {s['loss']}, {s['dtype']}, {s['device']}, {s['threads']} thread(s), "
        f"torch {s['torch']}",
        "",
        f"{'loop':<34} {'steps/s':>10}",
        f"{'plain torch.optim.SGD':<34} {o['plain_sgd_steps_per_s']:>10.1f}",
        f"{'eostheory train, loss only':<34} {o['train_steps_per_s']:>10.1f}",
        f"{'ratio (train / plain, s per step)':<34} {o['ratio']:>10.3f}   (target <= 1.15; fixed cost of a run "
        f"{o['train_fixed_s'] * 1e3:.0f} ms)",
        "",
        f"one gradient: {res['gradient_s'] * 1e3:.3f} ms; a record every {res['measure_run']['every']} of "
        f"{res['measure_run']['steps']} steps",
        f"{'measure':<26} {'measured (grad-eq)':>19} {'nominal':>8} {'ms/record':>10}",
    ]
    for name, c in res["measures"].items():
        lines.append(f"{name:<26} {c['measured']:>19.1f} {c['nominal']:>8.1f} {c['seconds_per_record'] * 1e3:>10.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a small run (seconds): for tests and a first look")
    p.add_argument("--n", type=int, default=300, help="digits examples")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--eta", type=float, default=0.2)
    p.add_argument("--adam-eta", type=float, default=1e-3)
    p.add_argument("--steps", type=int, default=400, help="steps of the steps/s comparison")
    p.add_argument("--measure-steps", type=int, default=100, help="steps of each measure's run")
    p.add_argument("--every", type=int, default=10, help="a record every this many steps in the measure runs")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--grad-repeat", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.width, args.steps, args.measure_steps, args.every = 100, 16, 30, 10, 5
        args.repeat, args.grad_repeat = 1, 5
    res = run(args)
    print(table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
