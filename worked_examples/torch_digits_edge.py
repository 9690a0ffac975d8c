"""Progressive sharpening and the edge of stability on a real network (sklearn digits, PyTorch).

Full-batch gradient descent on an MLP 64-64-64-10 (tanh, MSE ½‖f(x) − y‖², one-hot targets)
over the 1797 digits, for two learning rates.  Cohen et al. (2021) observed that the
sharpness S = λ_max(∇²L) first rises (progressive sharpening) until it reaches 2/η, and
then hovers at 2/η while the loss keeps falling non-monotonically (the edge of stability).
The script prints, for each η, the step at which S first reaches 95% of 2/η and the range
of S over the last third of the run, and saves the figures.

    python worked_examples/torch_digits_edge.py                 # 3000 steps, eta = 0.4 and 0.2
    python worked_examples/torch_digits_edge.py --quick         # a few seconds
    python worked_examples/torch_digits_edge.py --out runs/digits --device cuda
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import eostheory.torch as et
from eostheory.analysis.torch_plots import plot_sharpness_runs


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 examples, MLP 32-32, 800 steps, one learning rate")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=None, help="directory for the run directories and the figure")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (small nets run fastest on one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        etas, steps, data_kwargs, widths = (0.4,), args.steps or 800, {"n": 500}, (32, 32)
    else:
        etas, steps, data_kwargs, widths = (0.4, 0.2), args.steps or 3000, {}, (64, 64, 64)
    results = []
    summary = {}
    for eta in etas:
        out = None if args.out is None else Path(args.out) / f"eta{eta:g}"
        r = et.train(
            "mlp",
            "digits",
            loss="mse",
            optimizer="gd",
            eta=eta,
            steps=steps,
            track="sharpness,accuracy",
            track_every=20,
            device=args.device,
            out=out,
            model_kwargs={"widths": widths, "activation": "tanh"},
            data_kwargs=data_kwargs,
        )
        results.append(r)
        step = np.asarray(r.series["step"])
        s = np.asarray(r.series["sharpness"])
        thr = r.threshold
        reach = step[np.argmax(s >= 0.95 * thr)] if np.any(s >= 0.95 * thr) else None
        tail = s[step >= steps * 2 / 3]
        summary[eta] = {
            "threshold": thr,
            "initial_sharpness": float(s[0]),
            "first_step_at_95pct": None if reach is None else int(reach),
            "last_third_mean": float(tail.mean()),
            "last_third_min": float(tail.min()),
            "last_third_max": float(tail.max()),
            "final_loss": r.series["loss"][-1],
            "final_accuracy": r.series["accuracy"][-1],
            "seconds": r.seconds,
        }
        print(
            f"eta={eta:<4g} 2/eta={thr:<6.4g} S(0)={s[0]:.3f}  reaches 95% of 2/eta at step {reach}  "
            f"last third: mean {tail.mean():.3f} range [{tail.min():.3f}, {tail.max():.3f}]  "
            f"loss {r.series['loss'][-1]:.4f} acc {r.series['accuracy'][-1]:.3f}  "
            f"({r.seconds:.1f} s on {r.config.device})"
        )
    if args.out is not None:
        fig = plot_sharpness_runs(results, Path(args.out) / "sharpness.png")
        print(f"wrote {fig}")
    return summary


if __name__ == "__main__":
    main()
