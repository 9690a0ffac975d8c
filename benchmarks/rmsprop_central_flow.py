"""RMSProp on a small MLP against the RMSProp central flow (``central-rmsprop``).

RMSProp (full batch, the optimizer ``rmsprop``: ``s = alpha*s + (1 - alpha)*g**2``,
``w = w - eta*g/(sqrt(s) + eps)``) on sklearn digits with an MLP 64-h-10 (tanh, MSE,
float64), against the flow integrated on the same objective.  Printed: the median relative
error of the flow's predicted loss against RMSProp's loss smoothed by a Gaussian of
sigma = 50 steps, over the second half of the run; the same for sum(nu) against sum(s); the
preconditioned sharpness at the start and the end; and the same errors for the control,
the *stable* preconditioned flow (x = 0: dw/dt = -eta g/P, dnu/dt = r (g^2 - nu)), which
ignores the oscillation.

The buffer starts at ``grad L(w0)^2`` by default (``--start grad``; the flow's
``start=grad``), so that RMSProp starts below its edge and sharpens into it.  From a zero
buffer (``--start zero``, PyTorch's RMSprop) the first steps are ``1/sqrt(1 - alpha)`` = 10
times larger at alpha = 0.99 and start far beyond the edge (preconditioned sharpness 20x
2/eta here); the flow, which models the time-average *at* the edge, does not describe that
blow-up and its buffer stays too large for about 1/(1 - alpha) steps.

    python benchmarks/rmsprop_central_flow.py               # the long version
    python benchmarks/rmsprop_central_flow.py --quick       # a short one (tests use it)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np
import torch

import eostheory.flows._central_rmsprop  # noqa: F401  (registers central-rmsprop)
import eostheory.torch as et


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing with reflected ends (kernel truncated at 4 sigma)."""
    r = math.ceil(4 * sigma)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    xp = np.pad(x, r, mode="reflect")
    return np.convolve(xp, k, mode="valid")


def rmsprop(
    obj: Any, eta: float, alpha: float, eps: float, steps: int, start: str, beta1: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Losses L(w_t) and sum(s_t) (the buffer step t divides by) for t = 0..steps-1.

    ``beta1 > 0`` is Adam without bias correction: ``m = beta1*m + (1 - beta1)*g``,
    ``w = w - eta*m/(sqrt(s) + eps)``, with ``m`` starting at ``grad L(w0)`` under
    ``start="grad"`` (at zero otherwise).
    """
    w = obj.as_theta(obj.theta0).clone()
    g0 = obj.value_and_grad(w)[1]
    s = g0**2 if start == "grad" else torch.zeros_like(w)
    m = g0.clone() if start == "grad" else torch.zeros_like(w)
    losses, ssum = [], []
    for _ in range(steps):
        val, g = obj.value_and_grad(w)
        s = alpha * s + (1 - alpha) * g * g
        m = beta1 * m + (1 - beta1) * g
        losses.append(float(val))
        ssum.append(float(s.sum()))
        w = w - eta * m / (torch.sqrt(s) + eps)
    return np.array(losses), np.array(ssum)


def stable_flow(
    obj: Any, eta: float, alpha: float, eps: float, steps: int, dt: float, start: str
) -> tuple[np.ndarray, np.ndarray]:
    """The control: Euler on dw/dt = -eta g/(sqrt(nu) + eps), dnu/dt = r (g^2 - nu), r = -ln(alpha).

    Returns L(w(t)) and sum(nu(t)) at t = 0..steps-1 (``dt`` must divide 1).
    """
    r = -math.log(alpha)
    w = obj.as_theta(obj.theta0).clone()
    g0 = obj.value_and_grad(w)[1]
    nu = g0 * g0 * (1.0 if start == "grad" else 1.0 - alpha)
    sub = round(1.0 / dt)
    losses, nsum = [], []
    for _ in range(steps):
        losses.append(obj.value(w))
        nsum.append(float(nu.sum()))
        for _ in range(sub):
            g = obj.value_and_grad(w)[1]
            w, nu = w - dt * eta * g / (torch.sqrt(nu) + eps), nu + dt * r * (g * g - nu)
    return np.array(losses), np.array(nsum)


def compare(
    hidden: int,
    n: int,
    eta: float,
    alpha: float,
    eps: float,
    steps: int,
    dt: float,
    method: str = "rk4",
    start: str = "grad",
    beta1: float = 0.0,
) -> dict[str, Any]:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = et.digits(n=n)
    obj = et.NetworkObjective(et.mlp(64, 10, (hidden,), "tanh"), data, "mse", dtype="float64")
    t0 = time.perf_counter()
    loss, ssum = rmsprop(obj, eta, alpha, eps, steps, start, beta1)
    t_opt = time.perf_counter() - t0
    t0 = time.perf_counter()
    spec = f"central-rmsprop:alpha={alpha}:eps={eps}:start={start}:beta1={beta1}"
    thr = 2 * (1 + beta1) / (eta * (1 - beta1))
    r = et.solve_torch_flow(obj, spec, eta=eta, steps=steps - 1, dt=dt, method=method)
    t_flow = time.perf_counter() - t0
    t = r.t.astype(int)
    sm = gaussian_smooth(loss, 50.0)[t]
    half = t >= (steps - 1) / 2
    rel_loss = np.abs(r.predicted_loss - sm) / sm
    rel_nu = np.abs(r.extras["nu_sum"] - ssum[t]) / ssum[t]
    c_loss, c_nu = stable_flow(obj, eta, alpha, eps, steps, dt, start)
    on_edge = float(np.mean(r.edge[half] >= 0.0))
    return {
        "params": obj.n_params,
        "eta": eta,
        "alpha": alpha,
        "start": start,
        "beta1": beta1,
        "steps": steps,
        "flow_status": r.status,
        "median_rel_loss_2nd_half": float(np.median(rel_loss[half])),
        "median_rel_nu_sum_2nd_half": float(np.median(rel_nu[half])),
        "control_median_rel_loss_2nd_half": float(np.median((np.abs(c_loss[t] - sm) / sm)[half])),
        "control_median_rel_nu_sum_2nd_half": float(np.median((np.abs(c_nu[t] - ssum[t]) / ssum[t])[half])),
        "fraction_on_edge_2nd_half": on_edge,
        "initial_precond_sharpness_over_threshold": float(r.sharpness[0] / thr),
        "final_precond_sharpness_over_threshold": float(r.sharpness[-1] / thr),
        "final_loss_rmsprop_smoothed": float(sm[-1]),
        "final_loss_flow": float(r.predicted_loss[-1]),
        "seconds_rmsprop": t_opt,
        "seconds_flow": t_flow,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small run (hidden 4, n 50, 400 steps, Euler dt 0.5)")
    ap.add_argument("--eta", type=float, default=None, help="step size (default 0.004 quick, 0.002 long)")
    ap.add_argument("--alpha", type=float, default=0.99)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--beta1", type=float, default=0.0, help="Adam's beta1 (no bias correction); 0 is RMSProp")
    ap.add_argument("--start", choices=("grad", "zero"), default="grad", help="the buffer before step 0")
    ap.add_argument("--json", default=None, help="write the figures to this file")
    a = ap.parse_args()
    if a.quick:
        out = compare(4, 50, a.eta or 0.004, a.alpha, a.eps, 400, 0.5, "euler", a.start, a.beta1)
    else:
        out = compare(16, 200, a.eta or 0.002, a.alpha, a.eps, 1500, 0.5, "euler", a.start, a.beta1)
    for k, v in out.items():
        print(f"{k:34s} {v}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
