"""``eostheory eoss``: heavy-ball SGD on a network over batch sizes and momenta; plateaus against theory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import add_output_args, emit_json, int_option, parse_floats, validate_out_dir

NAME = "eoss"
HELP = "the edge of stochastic stability with momentum: Batch Sharpness / lambda_max plateaus against batch size"
DESCRIPTION = (
    "Train an MLP (tanh, MSE) with mini-batch SGD with heavy-ball momentum for every batch size, "
    "momentum and seed; track the top Hessian eigenvalue and Batch Sharpness; test the tail of each for "
    "a plateau (batch means with a t interval, drift test); report each plateau times eta/2 against "
    "1-beta and 1+beta and against the mean-square prediction from the final state's per-example "
    "curvatures; draw the figure 'plateau x eta/2 against batch size'. Each run starts at --gamma "
    "times the lower of its two edges at initialisation (see docs/eoss.md)."
)
EPILOG = """examples:
  eostheory eoss --quick --out E
  eostheory eoss --batch-sizes 1,4,16,n --betas 0,0.9 --seeds 0,1 --steps 2500 --gamma 0.3 --out E
  eostheory eoss --betas 0.9 --gamma 0.7 --out E07 --json
  eostheory eoss --workers 2 --out E          (the runs as tasks on a 2-worker local cluster)
  eostheory eoss --edge-test --batch-sizes 1 --betas 0.9 --out EDGE
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--data", default="gaussian-mixture", choices=["gaussian-mixture", "digits", "teacher-student"])
    p.add_argument("--n", default="256", help="examples (default 256)")
    p.add_argument("--label-noise", type=float, default=0.3, help="label noise of gaussian-mixture/digits (0.3)")
    p.add_argument("--widths", default="32,32", help="hidden widths of the tanh MLP (32,32)")
    p.add_argument("--batch-sizes", default="1,4,16,64,n", help="comma-separated; 'n' is full batch (1,4,16,64,n)")
    p.add_argument("--betas", default="0,0.9", help="heavy-ball momenta (0,0.9)")
    p.add_argument("--seeds", default="0,1,2", help="seeds (0,1,2)")
    p.add_argument("--steps", default="2000", help="optimizer steps per run (2000)")
    p.add_argument("--gamma", type=float, default=0.6, help="eta as this fraction of the lower initial edge (0.6)")
    p.add_argument(
        "--eta-rule",
        default="edges",
        choices=["edges", "predicted", "auto"],
        help="eta_B at initialisation: gamma times the lower of 2(1+beta)/lambda_max and 2(1-beta)/BS_B "
        "('edges', default), or gamma times the mean-square boundary of the one-direction model over the "
        "top eigenvector and the per-example gradients ('predicted'; n(n+1) per-example curvatures per run), "
        "or the first of 'predicted', --rungs geometric steps down from it and 'edges' at which the run stays finite "
        "('auto': each run at the largest stable rate on that ladder; where 'edges' is not below 'predicted', "
        "as at beta 0 and at full batch, the ladder is 'predicted' alone)",
    )
    p.add_argument(
        "--rungs",
        default=None,
        help="with --eta-rule auto: rates tried between the predicted and the edges rate, geometrically spaced "
        "(2; at most 8; 0: the predicted rate, then the edges rate)",
    )
    p.add_argument(
        "--predict-states",
        default=None,
        help="average the mean-square prediction over this many states: the final one and the rest spread "
        "through the plateau test's tail (1: the final state; at most 50; one more curvature table per state)",
    )
    p.add_argument("--track-every", default="40", help="record every this many steps (40)")
    p.add_argument("--warmup", default="200", help="linear learning-rate warm-up over this many steps (200; 0: none)")
    p.add_argument(
        "--workers",
        default=None,
        help="run the runs as tasks on the sweep engine: N local one-thread workers (0: in this process "
        "through the engine; default: a plain loop, no engine)",
    )
    p.add_argument(
        "--edge-test",
        action="store_true",
        help="instead of the sweep: train one run (first batch size, beta and seed) to its plateau, restart "
        "it with eta times each --edge-factors, and classify each restart (catapult / none / diverged)",
    )
    p.add_argument("--edge-factors", default="1,1.1,1.3,1.6", help="eta factors of the restarts (1,1.1,1.3,1.6)")
    p.add_argument("--edge-after", default="300", help="steps after the restart (300)")
    p.add_argument(
        "--edge-smooth",
        default=None,
        help="average the restarts' loss over this many records before classifying (default: 1 at full "
        "batch, a twentieth of the records for mini-batches)",
    )
    p.add_argument(
        "--edge-tol",
        type=float,
        default=0.05,
        help="an edge ratio within this of 1 counts as at the edge when the restarts are read (0.05)",
    )
    p.add_argument(
        "--edge-no-predict",
        action="store_true",
        help="skip the mean-square prediction at the fork (n(n+1) per-example curvatures; its edge is read as a "
        "fourth quantity)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny: n=32, batch sizes 1,n, betas 0.9, one seed, 300 steps recorded every 5, warm-up 50",
    )
    add_output_args(p, "write eoss.json and eoss_plateaus.png to DIR")


def _ints(text: str, option: str, n: int) -> list[int]:
    out = []
    for t in str(text).split(","):
        t = t.strip()
        if t == "n":
            out.append(n)
        elif t:
            v = int_option(option, t)
            if v > n:
                raise EosInputError(f"{option}: batch size {v} exceeds the {n} examples")
            out.append(v)
    if not out:
        raise EosInputError(f"{option} is empty")
    return sorted(set(out))


def _num(v: Any, spec: str = "5.3f", missing: str = "  -  ") -> str:
    """``v`` formatted with ``spec``, or ``missing`` for a run without the value."""
    return missing if v is None else format(v, spec)


def execute(args: argparse.Namespace) -> int:
    import eostheory.torch as et
    from eostheory.analysis.plateau import plot_eoss
    from eostheory.torch import eoss_experiment

    out = validate_out_dir(args.out) if args.out else None
    if args.quick:
        n, sizes, betas, seeds, steps, every = 32, "1,n", "0.9", "0", "300", "5"
    else:
        n, sizes, betas, seeds, steps, every = (
            int_option("--n", args.n, minimum=2),
            args.batch_sizes,
            args.betas,
            args.seeds,
            args.steps,
            args.track_every,
        )
    beta_list = parse_floats(betas, "--betas")
    for b in beta_list:
        if not 0 <= b < 1:
            raise EosInputError(f"--betas: momentum must be in [0, 1), got {b:g}")
    seed_list = [int_option("--seeds", s, minimum=0) for s in str(seeds).split(",") if s.strip()]
    widths = [int_option("--widths", w) for w in str(args.widths).split(",") if w.strip()]
    warmup = 50 if args.quick else int_option("--warmup", args.warmup, minimum=0)
    limit = 1.0 if warmup == 0 else 4.0  # above the initial edge only with a warm-up
    if not 0 < args.gamma < limit:
        raise EosInputError(f"--gamma must be in (0, {limit:g}) (above 1 only with --warmup), got {args.gamma:g}")
    workers = None if args.workers is None else int_option("--workers", args.workers, minimum=0)
    if args.rungs is not None and args.eta_rule != "auto":
        raise EosInputError(f"--rungs applies only with --eta-rule auto (got --eta-rule {args.eta_rule})")
    args.rungs = 2 if args.rungs is None else int_option("--rungs", args.rungs, minimum=0, maximum=8)
    if args.predict_states is not None and args.edge_test:
        raise EosInputError("--predict-states applies to the sweep, not to --edge-test")
    predict_states = (
        1 if args.predict_states is None else int_option("--predict-states", args.predict_states, minimum=1, maximum=50)
    )
    if args.data == "gaussian-mixture":
        data = et.gaussian_mixture(n=n, dim=16, classes=4, label_noise=args.label_noise, seed=0)
    elif args.data == "digits":
        data = et.digits(n=n, label_noise=args.label_noise, seed=0)
    else:
        data = et.teacher_student(n=n, seed=0)
    size_list = _ints(sizes, "--batch-sizes", n)

    def progress(rec: dict[str, Any]) -> None:
        if not args.json:
            bs, lam = rec["batch_sharpness"], rec["sharpness"]
            pr = rec.get("prediction", {})
            pr = pr.get("tail_mean", pr)  # with --predict-states: the mean over the run's states
            f = _num
            print(
                f"beta={rec['beta']:<4g} B={rec['batch_size']:<4d} seed={rec['seed']} eta={rec['eta']:.4g} "
                f"({rec['eta_rule']}) {rec['status']:<9s} BS*eta/2={f(bs['ratio'])}{'' if bs['plateaued'] else '?'} "
                f"lam*eta/2={f(lam['ratio'])}{'' if lam['plateaued'] else '?'} "
                f"predicted {f(pr.get('ratio_m2_over_a'))} / {f(pr.get('ratio_lam'))}  ({rec['seconds']:.0f}s)",
                file=sys.stderr,
            )

    if args.edge_test:
        return _edge_test(args, data, size_list[0], beta_list[0], seed_list[0], widths, warmup, steps, every, out)
    res = eoss_experiment(
        data,
        workers=workers,
        warmup=warmup,
        batch_sizes=size_list,
        betas=beta_list,
        seeds=seed_list,
        steps=int_option("--steps", steps),
        gamma=args.gamma,
        widths=widths,
        track_every=int_option("--track-every", every),
        eta_rule=args.eta_rule,
        rungs=args.rungs,
        predict_states=predict_states,
        progress=progress,
    )
    res["config"] = {
        "data": data.name,
        "widths": widths,
        "batch_sizes": size_list,
        "betas": beta_list,
        "seeds": seed_list,
        "steps": int(steps),
        "gamma": args.gamma,
        "warmup": warmup,
        "eta_rule": args.eta_rule,
        "rungs": args.rungs,
        "predict_states": predict_states,
        "workers": workers,
    }
    if out is not None:
        from eostheory._json import dumps_strict

        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "eoss.json").write_text(dumps_strict(res))
        title = f"{args.data} n={n}, tanh MLP {widths}, gamma={args.gamma:g} (lines: 1-beta, 1+beta)"
        plot_eoss(res, Path(out) / "eoss_plateaus.png", title=title)
    if args.json:
        emit_json({k: v for k, v in res.items()})
    else:
        _print_summary(res, predict_states, out)
    return 0


def _print_summary(res: dict[str, Any], predict_states: int, out: Any) -> None:
    """The text result of a sweep: one row per (beta, batch size), the crossovers, the wall time."""
    print(
        "beta  B     eta      BS*eta/2        lam*eta/2       predicted m2/a  predicted lam"
        "   plateaued BS lam   tail drift BS lam"
    )

    def g(d: dict[str, Any]) -> str:
        return "     -       " if d["mean"] is None else f"{d['mean']:.3f}+-{d['sd']:.3f}"

    def pct(d: dict[str, Any]) -> str:
        return "   -  " if d.get("mean") is None else f"{100 * d['mean']:+5.0f}%"

    for r in res["summary"]:
        n_runs = r["runs"]
        print(
            f"{r['beta']:<5g} {r['batch_size']:<5d} {r['eta']['mean']:.4g}  {g(r['bs_ratio'])}   "
            f"{g(r['lam_ratio'])}   {g(r['predicted_bs_ratio'])}   {g(r['predicted_lam_ratio'])}"
            f"   {r['bs_plateaued']:>5d}/{n_runs} {r['lam_plateaued']}/{n_runs}"
            f"   {pct(r['bs_drift'])} {pct(r['lam_drift'])}"
            f"   [1-beta={r['low']:g}, 1+beta={r['high']:g}; {r['diverged']}/{n_runs} diverged]"
        )
    print(
        "plateaued: runs whose tail passed the drift test; tail drift: the fitted line's change across "
        "the tail, as a fraction of its mean (mean over runs)"
    )
    for c in res["crossover"]:
        cx = {
            k: _num(c[k], ".3g", "none") for k in ("bs_ratio", "lam_ratio", "predicted_bs_ratio", "predicted_lam_ratio")
        }
        print(
            f"crossover (curve rises through 1), beta={c['beta']:g}: measured BS {cx['bs_ratio']}, "
            f"lam {cx['lam_ratio']}; predicted m2/a {cx['predicted_bs_ratio']}, lam {cx['predicted_lam_ratio']}"
        )
        if "predicted_state" in c:
            by = ", ".join(f"B={b}: {v:.3g}" for b, v in c["predicted_state"]["by_batch"].items())
            print(f"  predicted from each run's own state (mean per batch size): {by}")
    if predict_states > 1:
        print(f"predictions: the mean over {predict_states} states of each run (the final one and the tail)")
    print(f"{len(res['runs'])} runs in {res['seconds']:.0f} s" + (f"; written to {out}" if out else ""))


def _edge_test(
    args: argparse.Namespace,
    data: Any,
    b: int,
    beta: float,
    seed: int,
    widths: list[int],
    warmup: int,
    steps: str,
    every: str,
    out: Any,
) -> int:
    from eostheory.torch import eoss_edge_test

    factors = parse_floats(args.edge_factors, "--edge-factors")
    if not 0 <= args.edge_tol < 1:
        raise EosInputError(f"--edge-tol must be in [0, 1), got {args.edge_tol:g}")
    for f in factors:
        if not f > 0:
            raise EosInputError(f"--edge-factors: a factor must be positive, got {f:g}")
    res = eoss_edge_test(
        data,
        batch_size=b,
        beta=beta,
        seed=seed,
        steps=int_option("--steps", steps),
        factors=factors,
        after=int_option("--edge-after", args.edge_after, minimum=2),
        smooth=None if args.edge_smooth is None else int_option("--edge-smooth", args.edge_smooth),
        tol=args.edge_tol,
        predict=not args.edge_no_predict,
        eta_rule=args.eta_rule,
        rungs=args.rungs,
        gamma=args.gamma,
        widths=widths,
        warmup=warmup,
        track_every=int_option("--track-every", every),
    )
    if out is not None:
        from eostheory._json import dumps_strict

        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "eoss_edge.json").write_text(dumps_strict(res))
        from eostheory.analysis.plateau import plot_edge_test

        plot_edge_test(res, Path(out) / "eoss_edge.png")
    if args.json:
        emit_json(res)
        return 0
    src = res["source"]
    print(
        f"source     beta={beta:g} B={b} seed={seed} eta={src['eta']:.4g}, {src['status']} at step {res['fork_step']}; "
        f"loss level {res['baseline']:.4g}; loss averaged over {res['detector']['smooth']} records"
    )
    print("edge ratios after the restart, from the last quarter of the source run (at the fork step in brackets)")
    ms = "ms_edge" in res["branches"][0]
    print(
        "factor  eta       BS*eta'/(2(1-b))  GNI*eta'/(2(1-b))  lam*eta'/(2(1+b))  "
        + ("eta'/eta_ms  " if ms else "")
        + "outcome      peak/level"
    )
    for r in res["branches"]:
        c = r["catapult"]
        cells = [f"{r[k + '_recent']:.3f} ({r[k]:.3f})" for k in ("bs_edge", "gni_edge", "lam_edge")]
        print(
            f"{r['factor']:<6g}  {r['eta']:<8.4g}  {cells[0]:<16s}  {cells[1]:<17s}  {cells[2]:<17s}  "
            + (f"{r['ms_edge']:<11.3f}  " if ms else "")
            + f"{c['kind']:<11s}  {c['peak_ratio']:.3g}"
        )
    if ms:
        pr = src["prediction"]
        print(
            f"mean-square edge at the fork: eta_ms = {pr['scale']:.3g} eta ({pr['binding_direction']}; "
            f"its Batch Sharpness level {pr['ratio_m2_over_a'] / (1 - beta):.3g} x 2(1-b)/eta)"
        )
    names = {"batch_sharpness": "Batch Sharpness", "gni": "GNI", "lam_max": "lam_max", "mean_square": "mean-square"}
    for basis, v in (("last quarter", res["verdict"]), ("fork step", res["verdict_final"])):
        parts = []
        for q, label in names.items():
            if q not in v:
                continue
            miss = ", ".join(f"x{f:g}" for f in v[q]["mismatch"])
            parts.append(f"{label} " + ("consistent" if v[q]["consistent"] else f"not (at {miss})"))
        sep = "" if v["separates"] else "; Batch Sharpness and GNI predict the same on every restart"
        print(f"binding quantity ({basis}, edge band +-{args.edge_tol:g}): " + "; ".join(parts) + sep)
    print(f"{len(res['branches'])} restarts in {res['seconds']:.0f} s" + (f"; written to {out}" if out else ""))
    return 0
