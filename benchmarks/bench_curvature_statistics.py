"""Cost of the per-example curvature statistics of the EoSS experiment: loop against torch.func.

:func:`eostheory.torch.curvature_statistics` measures, at one state, the curvature of every
example's loss along :math:`n + 1` candidate directions (the top eigenvector and the
normalised per-example gradients): an :math:`(n+1)\\times n` table
:math:`C_{ki} = v_k^\\top\\nabla^2\\ell_i\\,v_k`.  ``eostheory eoss`` needs it twice per run
(the predicted rate at initialisation and the prediction at the final state).  Side by
side, on the same objective and state (gaussian mixture, tanh MLP, MSE, float32, one torch
thread), this times

- the reference loop (:meth:`eostheory.torch.Objective.per_example_quadratics` and
  ``per_example_gradients``): one gradient graph per example, :math:`n + 1` double-backward
  Hessian-vector products through each, :math:`n(n+1)` in all;
- the vectorised path of :class:`eostheory.torch.NetworkObjective`: ``vmap`` of ``grad`` for
  the gradients, ``vmap`` over examples and blocks of directions of a forward-over-forward
  ``jvp`` for the curvatures,

and reports seconds, the ratio loop / vectorised and the largest difference of the two
tables relative to the largest entry (float32 rounding).  Each time is the best of
``--repeat`` tries after one untimed call (which pays torch's one-off set-up of forward-mode
decompositions).

    python benchmarks/bench_curvature_statistics.py              # n = 64, 128, 256; widths 16, 32
    python benchmarks/bench_curvature_statistics.py --quick      # n = 32, 64; width 16
    python benchmarks/bench_curvature_statistics.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import torch

import eostheory.torch as et


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    out = fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _table(obj: Any, th: Any, u: Any, *, loop: bool) -> Any:
    """The (n+1) x n table of curvature_statistics, by the loop or by the vectorised path."""
    grads = et.Objective.per_example_gradients if loop else type(obj).per_example_gradients
    quads = et.Objective.per_example_quadratics if loop else type(obj).per_example_quadratics
    G = grads(obj, th)
    norms = torch.linalg.vector_norm(G, dim=1, keepdim=True)
    V = torch.cat([u.reshape(1, -1), torch.where(norms > 0, G / torch.where(norms > 0, norms, 1), u)])
    return quads(obj, th, V)


def case(n: int, width: int, repeat: int) -> dict[str, Any]:
    data = et.gaussian_mixture(n=n, dim=16, classes=4, label_noise=0.3, seed=0)
    obj = et.NetworkObjective(et.build_model("mlp", data, seed=0, widths=[width, width]), data, "mse", device="cpu")
    th = obj.theta0
    pairs = et.top_eigenpairs(obj.hessian(th), 1, tol=1e-3)
    u = pairs.vectors[:, 0] if pairs.vectors.ndim == 2 else pairs.vectors
    u = u / torch.linalg.norm(u)
    t_loop, c_loop = _best(lambda: _table(obj, th, u, loop=True), repeat)
    t_vec, c_vec = _best(lambda: _table(obj, th, u, loop=False), repeat)
    err = float((c_vec - c_loop).abs().max() / c_loop.abs().max())
    return {
        "n": n,
        "width": width,
        "params": obj.n_params,
        "loop_s": t_loop,
        "vectorised_s": t_vec,
        "ratio": t_loop / t_vec,
        "max_rel_diff": err,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 32, 64; width 16; one timed try")
    ap.add_argument("--repeat", type=int, default=2, help="timed tries per path (best is kept; 2)")
    ap.add_argument("--json", metavar="FILE", help="write the rows to FILE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    grid = [(32, 16), (64, 16)] if args.quick else [(n, w) for w in (16, 32) for n in (64, 128, 256)]
    repeat = 1 if args.quick else args.repeat
    rows = []
    print(f"{'n':>5} {'width':>5} {'params':>6} {'loop s':>9} {'vectorised s':>12} {'ratio':>7} {'max rel diff':>12}")
    for n, w in grid:
        r = case(n, w, repeat)
        rows.append(r)
        print(
            f"{r['n']:5d} {r['width']:5d} {r['params']:6d} {r['loop_s']:9.3f} {r['vectorised_s']:12.4f} "
            f"{r['ratio']:7.1f} {r['max_rel_diff']:12.1e}"
        )
    if args.json:
        meta = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine()}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
