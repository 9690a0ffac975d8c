"""The edge of stability of a CNN, with several eigenvalues at the edge: a GPU-ready script.

Runs on CUDA when a GPU is present and on the CPU otherwise (``--device auto``); nothing
in it assumes CUDA.  Full-batch GD (η = 0.2) trains a small CNN (two 3×3 conv layers with
16 and 32 channels, tanh, average pooling) on the 1797 digits with the MSE loss, and tracks
the top three Hessian eigenvalues with warm-started Lanczos running on the device.  The
sharpness rises to 2/η = 10; then several eigenvalues sit at the edge together — the
regime in which the central flow needs more than one eigenvalue (Cohen, Damian et al. 2025).

    python worked_examples/torch_gpu_edge.py              # 1500 steps (about a minute on 1 CPU core)
    python worked_examples/torch_gpu_edge.py --quick      # seconds
    python worked_examples/torch_gpu_edge.py --dtype float64 --out runs/cnn
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import eostheory.torch as et


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="256 examples, small CNN, 60 steps")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=1, help="CPU threads when running on the CPU")
    args = ap.parse_args(argv)
    device = et.resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    steps = args.steps or (60 if args.quick else 1500)
    widths = (4, 8) if args.quick else (16, 32)
    data_kwargs = {"n": 256} if args.quick else {}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), dtype {args.dtype}")
    t0 = time.perf_counter()
    r = et.train(
        "cnn",
        "digits",
        eta=0.2,
        steps=steps,
        track="eigenvalues,accuracy",
        top_k=3,
        track_every=max(1, steps // 30),
        device=device,
        dtype=args.dtype,
        out=args.out,
        model_kwargs={"widths": widths, "activation": "tanh"},
        data_kwargs=data_kwargs,
    )
    seconds = time.perf_counter() - t0
    ev = np.asarray(r.series["eigenvalues"])
    hv = np.asarray(r.series["eig_hvps"][1:] or [0])
    print(
        f"{r.config.n_params} parameters, {steps} steps in {seconds:.1f} s "
        f"({1e3 * seconds / max(steps, 1):.1f} ms/step)"
    )
    print(f"top-3 eigenvalues at the start {np.round(ev[0], 3).tolist()}, at the end {np.round(ev[-1], 3).tolist()}")
    print(
        f"2/eta = {r.threshold:g}; max sharpness {ev[:, 0].max():.3f}; Lanczos HVPs per estimate: mean {hv.mean():.1f}"
    )
    print(f"final loss {r.series['loss'][-1]:.4f}, accuracy {r.series['accuracy'][-1]:.3f}, status {r.status}")
    return {
        "device": str(device),
        "seconds": seconds,
        "eigenvalues_start": ev[0].tolist(),
        "eigenvalues_end": ev[-1].tolist(),
        "threshold": r.threshold,
        "hvps_mean": float(hv.mean()),
    }


if __name__ == "__main__":
    main()
