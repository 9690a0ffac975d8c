"""Benchmark of symbolic two-layer nets: derive + compile time, evaluation speed against torch,
and the naive full-expression baseline.

Measures, for a width-16 tanh net with 2-D inputs on 256 teacher points (65 parameters):

1. derive + compile, cold (fresh ``EOSTHEORY_CACHE_DIR``, in a new process): symbolic
   per-example derivation, code generation and numba compilation of all kernels;
2. the same from the cache (a second new process, same cache directory);
3. gradient + Hessian per call, eostheory's compiled kernels (single-threaded numba) against
   torch on CPU in float64 on the same net (autograd gradient plus ``torch.func.hessian``,
   timed with torch's default threads and with one thread; the ratio uses the faster); the
   torch column is skipped when torch is not installed;
4. the naive approach as a baseline: the full-data symbolic loss of a width-8 tanh net on
   16 points, differentiated and compiled as one expression through the potential
   pipeline, timed stage by stage (``--skip-naive`` to skip it; it takes many minutes, and
   the stages finished before ``--naive-timeout`` are reported if it runs out).

Run:  python benchmarks/bench_nets.py [--skip-naive] [--json] [--naive-timeout 600]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH, DIM_IN, N_POINTS = 16, 2, 256

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from eostheory.compile import compile_potential
from eostheory.symbolic.data import teacher
from eostheory.symbolic.nets import two_layer
t1 = time.perf_counter()
width, d, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
net = two_layer(width, teacher(n, d, seed=0), activation="tanh")
cp = compile_potential(net)
cp.warm()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "derive_compile_s": t2 - t1, "dim": net.dim}))
"""


_NAIVE = r"""
import json, sys, time
import numpy as np
from eostheory.compile import compile_potential
from eostheory.symbolic.data import teacher
from eostheory.symbolic.nets import two_layer

def stage(name, t):
    print(json.dumps({"stage": name, "seconds": time.perf_counter() - t}), flush=True)

width, d, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
pot = two_layer(width, teacher(n, d, seed=0), activation="tanh").full_potential()
stage("full expression", t0)
t = time.perf_counter(); pot.gradient(); stage("gradient", t)
t = time.perf_counter(); pot.hessian(); stage("Hessian", t)
t = time.perf_counter(); pot.third_contraction(); stage("third derivative", t)
t = time.perf_counter(); cp = compile_potential(pot); stage("code generation (CSE)", t)
t = time.perf_counter(); cp.warm(); stage("numba compilation", t)
print(json.dumps({"derive_compile_s": time.perf_counter() - t0}), flush=True)
"""


def _child(width: int, d: int, n: int, cache: str, timeout: float | None = None) -> dict:
    env = dict(os.environ, EOSTHEORY_CACHE_DIR=cache)
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(width), str(d), str(n), "nets"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


def _naive(width: int, d: int, n: int, cache: str, timeout: float) -> dict:
    """The full-data expression through the potential pipeline, timed stage by stage."""
    env = dict(os.environ, EOSTHEORY_CACHE_DIR=cache)
    t0 = time.perf_counter()
    res: dict = {"net": f"width {width}, d={d}, {n} points, tanh: the full-data expression", "stages": {}}
    try:
        out = subprocess.run(
            [sys.executable, "-c", _NAIVE, str(width), str(d), str(n)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
        res["timed_out"] = False
    except subprocess.TimeoutExpired as exc:
        raw = exc.stdout or b""
        out = raw.decode() if isinstance(raw, bytes) else raw
        res["timed_out"] = True
    for line in out.strip().splitlines():
        rec = json.loads(line)
        if "stage" in rec:
            res["stages"][rec["stage"]] = rec["seconds"]
        else:
            res.update(rec)
    res["process_s"] = time.perf_counter() - t0
    return res


def _per_call(f, repeats: int = 200) -> float:
    """Median seconds of one call over ``repeats`` (after one warm-up call)."""
    f()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _torch_timing(net, w: np.ndarray, ref_grad: np.ndarray, ref_hess: np.ndarray) -> dict:
    try:
        import torch
    except ImportError:
        return {"available": False}
    X = torch.tensor(net.X, dtype=torch.float64)
    Y = torch.tensor(net.Y, dtype=torch.float64)
    m, d = WIDTH, DIM_IN

    def loss(theta):
        W = theta[: m * d].reshape(m, d)
        b = theta[m * d : m * d + m]
        a = theta[m * d + m :].reshape(1, m)
        f = torch.tanh(X @ W.T + b) @ a.T
        return 0.5 * ((f - Y) ** 2).sum(dim=1).mean()

    hess_fn = torch.func.hessian(loss)
    theta0 = torch.tensor(w, dtype=torch.float64)

    def both():
        th = theta0.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(th), th)
        h = hess_fn(theta0)
        return g, h

    g, h = both()
    err = max(float(np.max(np.abs(g.numpy() - ref_grad))), float(np.max(np.abs(h.numpy() - ref_hess))))
    threads = torch.get_num_threads()
    default = _per_call(both, 50)
    torch.set_num_threads(1)
    try:
        single = _per_call(both, 50)
    finally:
        torch.set_num_threads(threads)
    return {
        "available": True,
        "version": torch.__version__,
        "threads": threads,
        "grad_hess_s": min(default, single),
        "grad_hess_s_default_threads": default,
        "grad_hess_s_one_thread": single,
        "max_abs_diff_vs_eostheory": err,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-naive", action="store_true", help="skip the naive full-expression baseline")
    ap.add_argument("--naive-timeout", type=float, default=600.0, help="seconds allowed for the naive baseline")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args(argv)

    results: dict = {"net": f"two-layer tanh, width {WIDTH}, d={DIM_IN}, N={N_POINTS}, with biases, MSE"}
    with tempfile.TemporaryDirectory(prefix="eos_bench_") as cache:
        results["cold"] = _child(WIDTH, DIM_IN, N_POINTS, cache)
        results["cached"] = _child(WIDTH, DIM_IN, N_POINTS, cache)

        # per-call timings in this process, from the same cache
        os.environ["EOSTHEORY_CACHE_DIR"] = cache
        from eostheory.compile import compile_potential
        from eostheory.symbolic.data import teacher
        from eostheory.symbolic.nets import two_layer

        net = two_layer(WIDTH, teacher(N_POINTS, DIM_IN, seed=0), activation="tanh")
        cp = compile_potential(net)
        cp.warm()
        c = cp.constants()
        w = net.initial_point(1)
        g = np.empty(net.dim)
        H = np.empty((net.dim, net.dim))
        mod = cp.module

        def eos_both() -> None:
            mod.grad(w, c, g)
            mod.hess(w, c, H)

        results["eostheory"] = {
            "dim": net.dim,
            "grad_s": _per_call(lambda: mod.grad(w, c, g), 1000),
            "hess_s": _per_call(lambda: mod.hess(w, c, H), 300),
            "grad_hess_s": _per_call(eos_both, 300),
            "sharpness_s": _per_call(lambda: mod.sharp(w, c), 300),
        }
        eos_both()
        results["torch"] = _torch_timing(net, w, g.copy(), H.copy())
        if results["torch"].get("available"):
            results["torch_over_eostheory"] = results["torch"]["grad_hess_s"] / results["eostheory"]["grad_hess_s"]

    if args.skip_naive:
        results["naive"] = {"skipped": True}
    else:
        with tempfile.TemporaryDirectory(prefix="eos_bench_naive_") as cache:
            results["naive"] = _naive(8, DIM_IN, 16, cache, args.naive_timeout)
            results["per_example_same_net"] = _child(8, DIM_IN, 16, cache)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_table(results)
    return results


def _print_table(r: dict) -> None:
    print(r["net"])
    cold, cached = r["cold"], r["cached"]
    print(f"  derive + compile, cold     {cold['derive_compile_s']:7.2f} s   (process {cold['process_s']:.2f} s)")
    print(f"  derive + compile, cached   {cached['derive_compile_s']:7.2f} s   (process {cached['process_s']:.2f} s)")
    e = r["eostheory"]
    print(f"  gradient per call          {e['grad_s'] * 1e6:9.1f} us")
    print(f"  Hessian per call           {e['hess_s'] * 1e6:9.1f} us")
    print(f"  gradient + Hessian         {e['grad_hess_s'] * 1e6:9.1f} us")
    print(f"  sharpness (Hessian + eig)  {e['sharpness_s'] * 1e6:9.1f} us")
    t = r["torch"]
    if t.get("available"):
        print(
            f"  torch {t['version']} gradient + Hessian: {t['grad_hess_s_one_thread'] * 1e6:.1f} us (1 thread), "
            f"{t['grad_hess_s_default_threads'] * 1e6:.1f} us ({t['threads']} threads)"
        )
        print(
            f"  -> torch (best) / eostheory = {r['torch_over_eostheory']:.1f}x"
            f"  (max |difference| {t['max_abs_diff_vs_eostheory']:.1e})"
        )
    else:
        print("  torch: not installed (column skipped)")
    nv = r["naive"]
    if nv.get("skipped"):
        print("  naive full-expression baseline: skipped (--skip-naive)")
    else:
        pe = r["per_example_same_net"]
        total = f"timed out after {nv['process_s']:.0f} s" if nv["timed_out"] else f"{nv['derive_compile_s']:.1f} s"
        print(f"  naive full-expression baseline (width 8 x 16 points): {total}")
        for name, sec in nv["stages"].items():
            print(f"      {name:24s} {sec:8.1f} s")
        print(f"  per-example kernels on the same width-8 x 16-point net: {pe['derive_compile_s']:.1f} s")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
