"""Non-Euclidean edge of stability on digits: each method's generalized sharpness against 2/eta.

An MLP (64-32-32-10, tanh, MSE) on 300 digits is trained by full-batch steepest descent in
the l-inf norm, the l(1,2) block norm (greedy block coordinate descent) and the spectral
norm, and by their normalized versions (sign descent, normalized block CD, normalized
spectral GD).  Every ``--every`` steps the run records the Euclidean sharpness
lambda_max and the generalized sharpness S of its own norm (Frank-Wolfe; exact per-block
Lanczos for the block norm), and for the normalized methods S/||g||_*.

For the unnormalized methods the learning rate is eta = 2/(FACTOR * S_0), with S_0 the
generalized sharpness at initialisation: the threshold starts FACTOR times above S, so
the run begins stable and any approach to 2/eta comes from progressive sharpening.

Usage::

    python worked_examples/geometry_digits.py            # the figures and table of docs/non-euclidean.md
    python worked_examples/geometry_digits.py --quick    # the toy figure and a few network steps (tests)

The toy part (numpy only) runs steepest descent in the l-inf norm on the quadratic
L = (3x^2 + 2xy + 2y^2)/2, whose l-inf sharpness is S = 7: at eta = 0.9 * 2/S it converges,
at 1.1 * 2/S it diverges along the maximising direction d* = (1, 1); sign descent settles
on the 2-cycle +-eta/2 along d*, where S/||g||_1 = 2/eta.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

#: (optimizer, eta or None for 2/(FACTOR*S_0), measured quantity)
METHODS = [
    ("steepest:linf", None, "generalized_sharpness"),
    ("steepest:block", None, "generalized_sharpness"),
    ("steepest:spectral", None, "generalized_sharpness"),
    ("normalized:linf", 2e-4, "normalized_generalized_sharpness"),
    ("normalized:block", 0.02, "normalized_generalized_sharpness"),
    ("normalized:spectral", 0.02, "normalized_generalized_sharpness"),
    # controls: a larger step for sign descent and normalized block CD, block CD nearer its edge
    ("normalized:linf", 1e-3, "normalized_generalized_sharpness"),
    ("normalized:block", 0.1, "normalized_generalized_sharpness"),
    ("steepest:block", 1.2, "generalized_sharpness"),
]
FACTOR = 3.0


def initial_sharpness(data: object, name: str, widths: list[int], seed: int) -> float:
    """S of the optimizer's norm at initialisation."""
    import eostheory.torch as et
    from eostheory.geometry import steepest_optimizer
    from eostheory.torch._geometry import _block_sharpness, generalized_sharpness, layout_of

    model = et.build_model("mlp", data, widths=widths, activation="tanh", seed=seed)
    obj = et.NetworkObjective(model, data, "mse", device="cpu", dtype="float32")
    op = obj.hessian(obj.theta0)
    geo = steepest_optimizer(name).geometry_for(layout_of(obj))
    if geo.name == "block":
        return _block_sharpness(op, geo, 1e-5)
    return generalized_sharpness(op, geo, gradient=op.gradient, restarts=4).value


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few steps only")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=25)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--out", default="docs/figures", help="directory of geometry_toy.png and geometry_digits.png")
    p.add_argument("--json", default=None, help="write the table as JSON here")
    p.add_argument("--methods", default=None, help="comma-separated subset of the optimizers")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    toy = toy_figure(out / "geometry_toy.png")
    try:
        import torch
    except ImportError:  # the network part needs the torch extra
        return {"toy": toy, "rows": []}

    torch.set_num_threads(1)
    import eostheory.torch as et

    steps, every, n = (6, 3, 40) if args.quick else (args.steps, args.every, args.n)
    widths, seed = ([8] if args.quick else [32, 32]), 0
    data = et.digits(n=n)
    chosen = METHODS if not args.methods else [m for m in METHODS if m[0] in args.methods.split(",")]
    if args.quick:
        chosen = [METHODS[5]]
    rows, runs = [], {}
    for name, eta, key in chosen:
        t0 = time.perf_counter()
        s0 = None
        if eta is None:
            s0 = initial_sharpness(data, name, widths, seed)
            eta = 2.0 / (FACTOR * s0)
        track = ["sharpness", "generalized-sharpness", "normalized-generalized-sharpness", "step-smoothness"]
        r = et.train(
            "mlp",
            data,
            optimizer=name,
            eta=eta,
            steps=steps,
            track=track,
            track_every=every,
            device="cpu",
            model_kwargs={"widths": widths, "activation": "tanh"},
            seed=seed,
        )
        th = 2.0 / eta
        series = np.array([np.nan if v is None else v for v in r.series[key]], dtype=float)
        lam = np.array([np.nan if v is None else v for v in r.series["sharpness"]], dtype=float)
        tail = slice(2 * len(series) // 3, None)
        # the curvature along the step actually taken (Mishkin et al.'s signed H), normalized like the quantity
        hs = np.array([np.nan if v is None else v for v in r.series["smoothness_H_signed"]], dtype=float)
        finite = bool(np.isfinite(series[tail]).any())
        if key == "normalized_generalized_sharpness":
            hs = hs / np.array([np.nan if v is None else v for v in r.series["dual_grad_norm"]], dtype=float)
        sl = np.asarray(r.step_loss)
        last = sl[-101:]
        ups = float(np.mean(np.diff(last) > 0)) if len(last) > 1 else None
        two_cycle = bool(len(last) > 4 and np.max(np.abs(last[2:] - last[:-2]) / np.abs(last[2:])) < 1e-6)
        row = {
            "optimizer": name,
            "eta": eta,
            "S0": s0,
            "threshold": th,
            "status": r.status,
            "steps": r.steps_done,
            "quantity": key,
            "tail_median_ratio": float(np.nanmedian(series[tail]) / th) if finite else None,
            "tail_min_ratio": float(np.nanmin(series[tail]) / th) if finite else None,
            "tail_max_ratio": float(np.nanmax(series[tail]) / th) if finite else None,
            "lambda_max_tail_median": float(np.nanmedian(lam[tail])) if np.isfinite(lam[tail]).any() else None,
            "step_curvature_tail_median_ratio": float(np.nanmedian(hs[tail]) / th)
            if np.isfinite(hs[tail]).any()
            else None,
            "loss_up_fraction_last100": ups,
            "two_cycle_last100": two_cycle,
            "final_loss": r.series["loss"][-1],
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        runs[f"{name} eta={eta:.3g}"] = (np.array(r.series["step"]), series, lam, th, hs)
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    if runs and not args.quick:
        import matplotlib.pyplot as plt

        cols = (len(runs) + 2) // 3
        fig, axes = plt.subplots(3, cols, figsize=(3.6 * cols, 8.4), squeeze=False)
        for ax in axes.reshape(-1)[len(runs) :]:
            ax.axis("off")
        for ax, (name, (t, s, lam, th, hs)) in zip(axes.T.reshape(-1), runs.items(), strict=False):
            label = "$S/\\|g\\|_*$" if name.startswith("normalized") else "$S_{\\|\\cdot\\|}$"
            ax.plot(t, s, label=label)
            ax.plot(t, lam, label="$\\lambda_{max}$", alpha=0.8)
            ax.plot(t, hs, label="along the step", alpha=0.6, lw=0.8)
            ax.axhline(th, color="k", ls="--", lw=0.8, label="$2/\\eta$")
            ax.set_title(name, fontsize=10)
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.legend(fontsize=7)
        fig.tight_layout()
        _save(fig, out / "geometry_digits.png")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return {"toy": toy, "rows": rows}


def _save(fig: object, path: Path) -> None:
    """Save a figure at 90 dpi, palette-reduced to 64 colours when Pillow is there (small PNGs for the docs)."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=90)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    try:
        from PIL import Image
    except ImportError:
        return
    Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)


def toy_figure(path: Path) -> dict:
    """The l-inf threshold and sign descent's 2-cycle on a quadratic (numpy and the compiled gradient)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eostheory.geometry import run_steepest

    quad, s = "0.5*(3*x**2 + 2*x*y + 2*y**2)", 7.0
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    res = {}
    for f in (0.9, 1.1):
        r = run_steepest(quad, "steepest:linf", x0=[1e-3, 1.2e-3], steps=60, eta=f * 2 / s, params=["x", "y"])
        a1.semilogy(r.t, r.loss, label=f"$\\eta = {f}\\cdot 2/S_\\infty$: {r.status}")
        res[f"steepest_linf_{f}"] = r.status
    a1.set_xlabel("step")
    a1.set_ylabel("loss")
    a1.set_title("steepest descent in $\\ell_\\infty$, $S_\\infty = 7$", fontsize=10)
    a1.legend(fontsize=8)
    eta = 0.05
    r = run_steepest(quad, "normalized:linf", x0=[2.5 * eta, 2.5 * eta], steps=12, eta=eta, params=["x", "y"])
    a2.plot(r.t, r.params[:, 0] / eta, "o-", label="$x_t/\\eta$ (sign descent)")
    a2.plot(r.t, r.generalized_sharpness / r.dual_grad * eta / 2, "s--", label="$(S/\\|g\\|_1)/(2/\\eta)$")
    a2.set_xlabel("step")
    a2.set_title("sign descent: the 2-cycle $\\pm\\eta/2$", fontsize=10)
    a2.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    res["cycle_amplitude_over_eta"] = float(abs(r.params[-1, 0]) / eta)
    return res


if __name__ == "__main__":
    main()
