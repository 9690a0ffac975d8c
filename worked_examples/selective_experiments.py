"""The selective edge-of-stability experiments of docs/selective.md, with their exact settings.

From one training state, an edge branch (the sharpness reaches 2/η) and a stable branch
(it stays below 2/η) continue for matched time η·t, over five seeds of the network; the
report gives, per group of the training data, the gain L_G(stable end) − L_G(edge end) with
a 95% Student-t interval over the seeds, the alignment |cos(∇L_G, u_1)| at the fork, and the
random-direction and top-eigenvector controls of the same displacement length.

    python worked_examples/selective_experiments.py --out runs/selective          # every experiment
    python worked_examples/selective_experiments.py --which mixture-gentle --out S
    python worked_examples/selective_experiments.py --quick --out /tmp/q           # a few seconds
    python worked_examples/selective_experiments.py --workers 2 --out S            # the seeds on 2 workers

With ``--workers N`` (or ``--scheduler ADDRESS``) the seeds run as tasks of the sweep engine
(:func:`eostheory.sweep.map_tasks`), one local cluster for all the experiments; the numbers
are the same as in this process, bit for bit.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from typing import Any

import torch

import eostheory.torch as et
from eostheory._json import dumps_strict
from eostheory.analysis.selective_plots import plot_selective

#: name -> (data builder, keyword arguments of eostheory.torch.selective)
EXPERIMENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    # (a) the designed mixture: the 'aligned' group carries the sharpest direction; enter the edge by 5%
    "mixture-gentle": (
        lambda: et.selective_mixture(240),
        dict(
            groups="injected+loss-quantiles:4",
            model_kwargs={"widths": (32,)},
            eta_base=0.3,
            relative=True,
            eta_edge=1.05,
            eta_stable=0.5,
            fork_step=200,
            steps=40,
        ),
    ),
    # (a, check of the phase) the same with one more edge step: the last iterate is the other half of the cycle
    "mixture-gentle-odd": (
        lambda: et.selective_mixture(240),
        dict(
            groups="injected+loss-quantiles:4",
            model_kwargs={"widths": (32,)},
            eta_base=0.3,
            relative=True,
            eta_edge=1.05,
            eta_stable=0.5,
            fork_step=200,
            steps=41,
        ),
    ),
    # (a') the same mixture, entering the edge hard (eta_e S / 2 = 1.1-1.3)
    "mixture-hard": (
        lambda: et.selective_mixture(240),
        dict(
            groups="injected+loss-quantiles:4",
            model_kwargs={"widths": (32,)},
            eta_edge=0.8,
            eta_stable=0.3,
            fork_step=200,
            steps=100,
        ),
    ),
    # (b) digits with 20% label noise under cross-entropy: noisy labels and output outliers
    "noisy-digits-ce": (
        lambda: et.noisy_digits(300, label_noise=0.2),
        dict(
            loss="ce",
            groups="injected+outliers:0.1",
            model_kwargs={"widths": (32, 32)},
            eta_edge=1.2,
            eta_stable=0.5,
            fork_step=300,
            steps=100,
        ),
    ),
    # the documented baseline: digits, MSE, 10 classes + 5 loss quintiles, K = 200, exit the edge
    "digits-mse": (
        lambda: et.digits(300),
        dict(
            groups="label+loss-quantiles:5",
            model_kwargs={"widths": (32, 32)},
            eta_base=0.5,
            eta_edge=0.5,
            eta_stable=0.25,
            fork_step=600,
            steps=200,
        ),
    ),
}

QUICK = (
    lambda: et.selective_mixture(48),
    dict(
        groups="injected",
        model_kwargs={"widths": (8,)},
        eta_base=0.3,
        relative=True,
        eta_edge=1.1,
        eta_stable=0.5,
        fork_step=30,
        steps=8,
        seeds=2,
        random_draws=2,
        top_k=1,
    ),
)


def run(name: str, build: Any, kw: dict[str, Any], out: Path, device: str, scheduler: Any = None) -> dict[str, Any]:
    kw = {"seeds": 5, "random_draws": 8, "top_k": 3, **kw}
    res = et.selective(data=build(), device=device, scheduler=scheduler, **kw)
    s = res.summary
    (out / f"selective_{name}.json").write_text(dumps_strict(s))
    plot_selective(s, out, prefix=f"selective_{name}")
    return s


def line(s: dict[str, Any]) -> str:
    def iv(d: dict[str, Any]) -> str:
        return f"{d['mean']:+.2e} [{d['lo']:+.1e}, {d['hi']:+.1e}]" if d["lo"] is not None else f"{d['mean']:+.2e}"

    rows = [
        f"  {g:<10} align {v['alignment']['mean']:.2f}  gain {iv(v['gain'])}  random {iv(v['control_random'])}"
        for g, v in s["per_group"].items()
    ]
    rc = s["rank_correlation"]
    rows.append(
        f"  rank correlation {rc['mean']} [{rc['lo']}, {rc['hi']}]; edge reached in "
        f"{s['checks']['edge_reached_seeds']} seeds; {s['seconds']:.0f} s ({s['engine']})"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--which", default="all", help=f"all, or one of {', '.join(EXPERIMENTS)}")
    ap.add_argument("--quick", action="store_true", help="a tiny mixture, two seeds (a few seconds)")
    ap.add_argument("--out", default=".", help="directory for the JSON reports and the figures")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--workers", type=int, default=0, help="run the seeds on a local cluster of N workers (default 0: here)"
    )
    ap.add_argument("--scheduler", help="run the seeds on this Dask scheduler (tcp://host:8786)")
    args = ap.parse_args(argv)
    if args.workers < 0:
        raise SystemExit("--workers must be >= 0")
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        todo = {"quick": QUICK}
    elif args.which == "all":
        todo = EXPERIMENTS
    elif args.which in EXPERIMENTS:
        todo = {args.which: EXPERIMENTS[args.which]}
    else:
        raise SystemExit(f"unknown experiment {args.which!r}; known: {', '.join(EXPERIMENTS)}")
    results = {}
    t0 = time.perf_counter()
    on_engine = args.workers > 0 or args.scheduler is not None
    with contextlib.ExitStack() as stack:
        eng = None
        if on_engine:  # one cluster for every experiment: its start and the workers' imports paid once
            from eostheory.sweep import engine

            eng = stack.enter_context(engine(args.workers or None, args.scheduler))
        for name, (build, kw) in todo.items():
            results[name] = run(name, build, kw, out, args.device, eng)
            print(name)
            print(line(results[name]))
    where = eng.description if eng is not None else "in-process"
    print(f"all: {time.perf_counter() - t0:.1f} s wall, {where}")
    return results


if __name__ == "__main__":
    main()
