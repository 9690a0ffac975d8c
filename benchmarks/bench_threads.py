"""Hessian-vector products on an MLP with 1, 2, … torch CPU threads, side by side in one process.

The default thread count of ``eostheory.torch`` on the CPU comes from this measurement.  For
each model size the same Hessian operator (one gradient graph, digits, MLP tanh, MSE,
float32) is timed with every thread count in turn, interleaved over ``--rounds`` rounds so
that a change of the machine's load hits all counts alike; the figure is the median over
rounds of the mean time of ``--repeat`` products.  The ratio is that time over the time
with one thread (above 1: slower than one thread).  The load average and the number of
CPUs are printed with the table, since the answer depends on them.

    python benchmarks/bench_threads.py                       # threads 1..cpu_count, three sizes
    python benchmarks/bench_threads.py --threads 1,2,4,8 --widths 64,64,64 --widths 512,512
    python benchmarks/bench_threads.py --quick --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from typing import Any

import torch

import eostheory.torch as et


def _hvp_seconds(op: et.HessianOperator, v: torch.Tensor, repeat: int) -> float:
    op.matvec(v)  # warm-up at this thread count
    t0 = time.perf_counter()
    for _ in range(repeat):
        op.matvec(v)
    return (time.perf_counter() - t0) / repeat


def measure(widths: tuple[int, ...], n: int, threads: list[int], rounds: int, repeat: int) -> dict[str, Any]:
    """Median seconds per HVP for each thread count on one MLP, interleaved over rounds."""
    data = et.digits(n=n)
    model = et.build_model("mlp", data, widths=widths, activation="tanh", seed=0)
    obj = et.NetworkObjective(model, data, "mse", device="cpu", dtype="float32")
    op = obj.hessian(obj.theta0)
    v = torch.randn(obj.n_params, generator=torch.Generator().manual_seed(0)).to(op.dtype)
    times: dict[int, list[float]] = {t: [] for t in threads}
    for _ in range(rounds):
        for t in threads:
            torch.set_num_threads(t)
            times[t].append(_hvp_seconds(op, v, repeat))
    med = {t: statistics.median(s) for t, s in times.items()}
    base = med[threads[0]]
    return {
        "widths": list(widths),
        "n_examples": data.n,
        "n_params": obj.n_params,
        "ms_per_hvp": {str(t): 1e3 * m for t, m in med.items()},
        "ratio_to_first": {str(t): m / base for t, m in med.items()},
        "best_threads": min(med, key=med.__getitem__),
    }


def _parse_widths(text: str) -> tuple[int, ...]:
    return tuple(int(w) for w in text.replace("x", ",").split(",") if w.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default=None, help="thread counts, e.g. 1,2,4 (default 1..cpu_count)")
    ap.add_argument("--widths", action="append", default=None, help="hidden widths of one size (repeatable)")
    ap.add_argument("--n", type=int, default=None, help="digits examples (default all 1797)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=20, help="products per timing")
    ap.add_argument("--quick", action="store_true", help="two sizes, 300 examples, 3 rounds of 5 (seconds)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    ncpu = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else list(range(1, ncpu + 1))
    if threads[0] != 1:
        threads = [1, *[t for t in threads if t != 1]]
    sizes = [_parse_widths(w) for w in args.widths or []]
    if not sizes:
        sizes = [(16,), (64, 64, 64)] if args.quick else [(16,), (64, 64, 64), (256, 256)]
    n = args.n if args.n is not None else (300 if args.quick else None)
    rounds, repeat = (3, 5) if args.quick else (args.rounds, args.repeat)
    start = torch.get_num_threads()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"torch {torch.__version__}, {ncpu} CPUs ({platform.processor() or platform.machine()}), "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"eostheory.torch set {start} thread(s): {et.thread_setting()[1]}"
    )
    rows = []
    try:
        for w in sizes:
            rows.append(measure(w, n or 1797, threads, rounds, repeat))
    finally:
        torch.set_num_threads(start)
    head = f"{'MLP widths':>14s} {'params':>7s} " + " ".join(f"{f'{t} thr ms':>10s}" for t in threads)
    head += "  " + " ".join(f"{f'{t}/1':>6s}" for t in threads[1:])
    print(head)
    for r in rows:
        line = f"{'-'.join(map(str, r['widths'])):>14s} {r['n_params']:7d} "
        line += " ".join(f"{r['ms_per_hvp'][str(t)]:10.3f}" for t in threads)
        line += "  " + " ".join(f"{r['ratio_to_first'][str(t)]:6.2f}" for t in threads[1:])
        print(line)
    print(
        f"(median over {rounds} interleaved rounds of {repeat} HVPs each, float32, {rows[0]['n_examples']} examples; "
        "ratio = time with t threads / time with 1)"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"cpus": ncpu, "load": list(load), "torch": torch.__version__, "threads": threads, "sizes": rows},
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
