"""``eostheory selective``: which groups of the data gain from training at the edge of stability."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eostheory._errors import EosInputError
from eostheory.cli._common import add_output_args, emit_json, int_option, validate_out_dir

NAME = "selective"
HELP = "fork one training state into an edge and a stable branch and report, per group of the data, who gains"
DESCRIPTION = (
    "Train a network to --fork-step, fork that state into an edge branch (--eta-edge: the sharpness reaches "
    "2/eta) and a stable branch (--eta-stable: the sharpness stays below 2/eta), matched in time eta*t (or in "
    "steps), over several seeds, and report per group of the training data the gain L_G(stable end) - "
    "L_G(edge end) with a 95% interval over the seeds, its alignment |cos(grad L_G, u_1)| with the top Hessian "
    "eigenvector at the fork, the random-direction control (the stable end displaced by the edge-induced "
    "distance in random directions) and the top-eigenvector control (the same distance along +-u_1). "
    "--out DIR writes selective.json and the figures gain-vs-alignment and gradient-norm-over-time."
)

EPILOG = """groups (--groups, joined with +):
  label                 one group per class
  loss-quantiles:Q      Q groups by per-example loss at the fork (also margin-quantiles:Q, grad-quantiles:Q)
  outliers:F            the fraction F of largest residuals (MSE) or smallest margins (CE), and the rest
  injected              the groups the data set injected (mixture: aligned/bulk; noisy-digits: noisy/clean)

examples:
  eostheory selective --quick --json
  eostheory selective --quick --workers 2 --json      # the seeds on a local cluster of 2 workers
  eostheory selective --data mixture --groups injected+loss-quantiles:4 --widths 32 --eta-base 0.3 \\
      --relative --eta-edge 1.05 --eta-stable 0.5 --fork-step 200 --steps 40 --seeds 5 --out S
  eostheory selective --data digits --n 300 --widths 32,32 --groups label+loss-quantiles:5 \\
      --eta-base 0.5 --eta-edge 0.5 --eta-stable 0.25 --fork-step 600 --steps 200 --seeds 5 --out D

Exit status: 0 when the report was made, 2 for bad input.
"""

_DATA = ("mixture", "noisy-digits", "digits", "gaussian-mixture", "teacher-student")

#: The --quick preset (a few seconds): a tiny mixture, two seeds.
QUICK = {
    "data": "mixture",
    "n": "48",
    "widths": "8",
    "eta_base": "0.3",
    "relative": True,
    "eta_edge": "1.1",
    "eta_stable": "0.5",
    "fork_step": "30",
    "steps": "8",
    "seeds": "2",
    "random_draws": "2",
    "top_k": "1",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    g = p.add_argument_group("model and data")
    g.add_argument("--data", choices=_DATA, help="data set (default mixture)")
    g.add_argument("--n", help="number of examples (default 240 for mixture, 300 for digits)")
    g.add_argument("--label-noise", help="noisy-digits: fraction of labels replaced at random (default 0.2)")
    g.add_argument("--aligned-fraction", help="mixture: fraction of the aligned group (default 0.25)")
    g.add_argument("--data-seed", help="seed of the data set (default 0; the same for every seed of the networks)")
    g.add_argument("--model", choices=["mlp", "linear"], help="model (default mlp)")
    g.add_argument("--widths", help="hidden widths (default 32)")
    g.add_argument("--activation", choices=["tanh", "relu", "elu", "softplus", "gelu"], help="default tanh")
    g.add_argument("--loss", choices=["mse", "ce"], help="default mse (ce needs a classification set)")
    g.add_argument("--groups", help="groups of the data (see below; default injected, or label for digits)")
    b = p.add_argument_group("the intervention")
    b.add_argument("--eta-edge", help="step size of the edge branch")
    b.add_argument("--eta-stable", help="step size of the stable branch (below --eta-edge)")
    b.add_argument(
        "--eta-base", help="step size up to the fork (default --eta-stable: enter the edge; --eta-edge: exit it)"
    )
    b.add_argument("--fork-step", help="steps before the fork")
    b.add_argument("--steps", help="steps of the edge branch after the fork")
    b.add_argument("--match", choices=["time", "steps"], help="match the branches in eta*t (default) or in steps")
    b.add_argument(
        "--relative",
        action="store_true",
        help="--eta-edge and --eta-stable are multiples of 2/S at each seed's fork (needs --eta-base)",
    )
    b.add_argument("--seeds", help="number of seeds of the network (default 5)")
    b.add_argument("--random-draws", help="random directions per seed in the control (default 8)")
    b.add_argument("--top-k", help="eigenvectors for the alignment (default 3)")
    b.add_argument("--ci", choices=["t", "bootstrap"], help="interval over seeds: Student t (default) or bootstrap")
    b.add_argument("--quick", action="store_true", help="a tiny preset for a smoke test (a few seconds)")
    e = p.add_argument_group("where the seeds run (the sweep engine)")
    e.add_argument(
        "--workers",
        metavar="N",
        help="run the seeds as tasks of a local Dask cluster of N one-thread workers (default 0: one seed after "
        "another in this process); the numbers are the same",
    )
    e.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler to run the seeds on, e.g. tcp://host:8786 (with --keep-runs, --out must be on a "
        "file system the workers share)",
    )
    e.add_argument("--connect-timeout", metavar="S", help="seconds to wait for --scheduler (default 10)")
    p.add_argument("--threads", help="CPU threads for torch (default 1)")
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--keep-runs", action="store_true", help="keep the run directories under --out/runs")
    add_output_args(p, "write selective.json and the figures selective_gain.png, selective_gradients.png to DIR")


def _opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    v = getattr(args, name, None)
    if v is None and args.quick:
        v = QUICK.get(name)
    return default if v is None else v


def _float(option: str, text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise EosInputError(f"{option} must be a number, got {text!r}") from None


def execute(args: argparse.Namespace) -> int:
    out = validate_out_dir(args.out) if args.out else None
    if args.keep_runs and out is None:
        raise EosInputError("--keep-runs needs --out DIR")
    try:
        import torch
    except ImportError:
        raise EosInputError("the selective command needs the torch extra: pip install 'eostheory[torch]'") from None
    torch.set_num_threads(int_option("--threads", _opt(args, "threads", "1")))
    import eostheory.torch as et

    data_name = _opt(args, "data", "mixture")
    seed = int_option("--data-seed", _opt(args, "data_seed", "0"), minimum=0)
    n = int_option("--n", _opt(args, "n", "240" if data_name == "mixture" else "300"))
    if data_name == "mixture":
        frac = _float("--aligned-fraction", _opt(args, "aligned_fraction", "0.25"))
        data = et.selective_mixture(n, aligned_fraction=frac, seed=seed)
    elif data_name == "noisy-digits":
        data = et.noisy_digits(n, label_noise=_float("--label-noise", _opt(args, "label_noise", "0.2")), seed=seed)
    else:
        data = et.get_dataset(data_name, n=n, seed=seed)
    for opt in ("eta_edge", "eta_stable", "fork_step", "steps"):
        if _opt(args, opt) is None:
            raise EosInputError(f"give --{opt.replace('_', '-')} (or --quick for a tiny preset)")
    widths = tuple(int_option("--widths", w) for w in str(_opt(args, "widths", "32")).split(",") if w.strip())
    model = _opt(args, "model", "mlp")
    mkw = {} if model == "linear" else {"widths": widths, "activation": _opt(args, "activation", "tanh")}
    default_groups = "label" if data_name in ("digits", "gaussian-mixture") else "injected"
    if data_name == "teacher-student":
        default_groups = "loss-quantiles:4"
    eta_base = _opt(args, "eta_base")
    out_runs = (out / "runs") if (out is not None and args.keep_runs) else None
    workers = None if args.workers is None else int_option("--workers", args.workers, minimum=0)
    timeout = _float("--connect-timeout", args.connect_timeout or "10")
    if not (timeout > 0 and timeout < float("inf")):
        raise EosInputError(f"--connect-timeout must be a positive number of seconds, got {args.connect_timeout}")
    if args.scheduler is not None and workers is not None:
        raise EosInputError("--workers sizes a local cluster; a --scheduler cluster has its own workers")
    progress = (lambda m: print(f"eostheory selective: {m}", file=sys.stderr)) if sys.stderr.isatty() else None
    res = et.selective(
        model,
        data,
        loss=_opt(args, "loss", "mse"),
        groups=_opt(args, "groups", default_groups),
        eta_edge=_float("--eta-edge", _opt(args, "eta_edge")),
        eta_stable=_float("--eta-stable", _opt(args, "eta_stable")),
        eta_base=None if eta_base is None else _float("--eta-base", eta_base),
        fork_step=int_option("--fork-step", _opt(args, "fork_step")),
        steps=int_option("--steps", _opt(args, "steps")),
        match=_opt(args, "match", "time"),
        relative=bool(args.relative or (args.quick and QUICK["relative"])),
        seeds=int_option("--seeds", _opt(args, "seeds", "5")),
        random_draws=int_option("--random-draws", _opt(args, "random_draws", "8")),
        top_k=int_option("--top-k", _opt(args, "top_k", "3")),
        ci=_opt(args, "ci", "t"),
        model_kwargs=mkw,
        device=_opt(args, "device", "auto"),
        out=out_runs,
        progress=progress,
        workers=workers,
        scheduler=args.scheduler,
        connect_timeout=timeout,
    )
    s = res.summary
    if out is not None:
        from eostheory._json import dumps_strict
        from eostheory.analysis.selective_plots import plot_selective

        out.mkdir(parents=True, exist_ok=True)
        (out / "selective.json").write_text(dumps_strict(s))
        s["figures"] = [str(p) for p in plot_selective(s, out)]
    if args.json:
        emit_json(s)
        return 0
    _print(s)
    return 0


def _iv(iv: dict[str, Any]) -> str:
    if iv["mean"] is None:
        return "n/a"
    if iv["lo"] is None:
        return f"{iv['mean']:+.3e}"
    return f"{iv['mean']:+.3e} [{iv['lo']:+.2e}, {iv['hi']:+.2e}]"


def _print(s: dict[str, Any]) -> None:
    c, ch = s["config"], s["checks"]
    print(f"data       {c['data']}, loss {c['loss']}, groups {c['groups']}")
    unit = " (x 2/S at the fork)" if c.get("relative") else ""
    print(
        f"branches   {c['mode']} the edge: fork at step {c['fork_step']} (eta {c['eta_base']:g}); edge eta "
        f"{c['eta_edge']:g}{unit} x {c['steps_edge']} steps, stable eta {c['eta_stable']:g}{unit} x "
        f"{c['steps_stable']} (matched in {c['match']}), {len(c['seeds'])} seeds"
    )
    print(
        f"checks     edge reached in {ch['edge_reached_seeds']}/{len(c['seeds'])} seeds; stable below 2/eta in "
        f"{ch['stable_below_threshold_seeds']}/{len(c['seeds'])}"
    )
    print(f"intervals  95%, {s['ci']['method']} over seeds")
    print(f"{'group':<14} {'size':>6} {'alignment':>10}  {'gain':<38} {'random control':<38} {'top-u control'}")
    for g, v in s["per_group"].items():
        al = v["alignment"]["mean"]
        print(
            f"{g:<14} {v['size']:>6.0f} {al if al is not None else float('nan'):>10.3f}  {_iv(v['gain']):<38} "
            f"{_iv(v['control_random']):<38} {_iv(v['control_top'])}"
        )
    rc = s["rank_correlation"]
    print(f"rank corr  gain vs alignment (Spearman): {_iv(rc) if rc['mean'] is not None else 'n/a (< 3 groups)'}")
    print(f"overall    gain of the whole loss {_iv(s['overall']['gain_all'])}")
    print(f"ran        {s['seconds']:.1f} s, {s['engine']}")
