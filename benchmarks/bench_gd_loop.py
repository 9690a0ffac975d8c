"""Benchmark of the compiled GD loop (issue: foundation).

Prints, side by side in one run:
  * ns per GD step on a 2-D potential with the numba loop,
  * the same generated loop run as plain Python (EOSTHEORY_DISABLE_NUMBA backend),
  * their ratio,
  * first-call compile time (fresh cache directory, new process) and warm-cache load time.

Usage:  python benchmarks/bench_gd_loop.py [--steps 20000000] [--python-steps 200000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import eostheory as eos
from eostheory.compile import compile_potential
from eostheory.optimizers._run import _run_module

CHILD = """
import time
import numba  # noqa: F401  (import cost is not compile cost)
t0 = time.perf_counter()
import eostheory as eos
r = eos.run("selfstab", "gd", x0=[0.01, 1.5], eta=0.45, steps=10)
print(time.perf_counter() - t0)
"""


def ns_per_step(backend: str, steps: int, repeats: int = 3) -> float:
    pot = eos.toy("selfstab")
    cp = compile_potential(pot, backend)
    cp.warm()
    mod = _run_module(cp, eos.get_optimizer("gd"))
    best = np.inf
    for _ in range(repeats + 1):  # the first call compiles (numba) and is discarded
        w = np.array([0.01, 1.5])
        t0 = time.perf_counter()
        mod.run_loop(
            w, np.zeros((0, 2)), np.zeros(0), np.array([0.45]), steps, steps, steps, 0.0, 1e100,
            np.zeros(2, dtype=np.int64), np.zeros((2, 2)), np.zeros(2), np.zeros(2), np.zeros((256, 2)), np.zeros(4),
        )  # fmt: skip
        best = min(best, (time.perf_counter() - t0) / steps * 1e9)
    return best


def child_seconds(cache: str) -> float:
    env = dict(os.environ, EOSTHEORY_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20_000_000)
    ap.add_argument("--python-steps", type=int, default=200_000)
    a = ap.parse_args()
    numba_ns = ns_per_step("numba", a.steps)
    python_ns = ns_per_step("python", a.python_steps, repeats=1)
    with tempfile.TemporaryDirectory() as cache:
        cold = child_seconds(cache)
        warm = child_seconds(cache)
    print("GD on L = (1+y^2)x^2/2 + (y-2)^2/2 (2-D), eta = 0.45")
    print(f"  numba loop           {numba_ns:10.2f} ns/step   (target <= 10)")
    print(f"  same loop, Python    {python_ns:10.1f} ns/step")
    print(f"  speed-up             {python_ns / numba_ns:10.0f} x        (target >= 50)")
    print(f"  first call, cold     {cold:10.2f} s   (derive + generate + numba compile, new process)")
    print(f"  first call, cached   {warm:10.2f} s   (load from the on-disk cache, new process)")


if __name__ == "__main__":
    main()
