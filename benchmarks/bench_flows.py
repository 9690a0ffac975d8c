"""Compiled flow integration against scipy's solve_ivp, side by side in one run.

For the central, rod and edge flows on a 2-D toy over 10^4 GD steps of time:

* eostheory: adaptive Dormand–Prince 5(4) compiled with numba (the whole loop), with its
  default steady-state exit (the run ends once the state is an attracting equilibrium to
  tolerance) and without it (every step integrated, as solve_ivp does);
* solve_ivp RK45 (the same method) with a numpy right-hand side built from sympy.lambdify
  of the potential's gradient, Hessian and third-derivative contraction, at the same
  rtol/atol;
* solve_ivp LSODA with the compiled (numba) right-hand side, at the same rtol/atol.

Accuracy is the largest error over 1001 output times against a tight-tolerance reference
(solve_ivp DOP853 at rtol = 1e-13 with the compiled right-hand side: an independent method).
Times are the best of ``--repeat`` runs after a warm-up (compilation excluded).

    python benchmarks/bench_flows.py [--steps 10000] [--rtol 1e-8] [--atol 1e-10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from eostheory.compile import compile_potential
from eostheory.flows import flow_system, get_flow
from eostheory.integrate import solve
from eostheory.symbolic import toy


def numpy_fields(pot, eta: float) -> dict[str, Callable[[float, np.ndarray], np.ndarray]]:
    """The three flows' vector fields in numpy, from lambdified sympy derivatives."""
    w = list(pot.params)
    u = list(pot.direction_symbols)
    consts = pot.constant_symbols
    cvals = pot.constant_values()
    n = pot.dim
    grad_f = sp.lambdify([*w, *consts], tuple(pot.gradient()), modules="numpy")
    hess_f = sp.lambdify([*w, *consts], tuple(pot.hessian()), modules="numpy")
    third_f = sp.lambdify([*w, *u, *consts], tuple(pot.third_contraction()), modules="numpy")

    def g(x: np.ndarray) -> np.ndarray:
        return np.array(grad_f(*x, *cvals))

    def h(x: np.ndarray) -> np.ndarray:
        return np.array(hess_f(*x, *cvals), dtype=float).reshape(n, n)

    def central(t: float, y: np.ndarray) -> np.ndarray:
        gv = g(y)
        lam, V = np.linalg.eigh(h(y))
        uu = V[:, -1]
        ds = np.array(third_f(*y, *uu, *cvals))
        a = eta * ds @ gv + (2 / eta - lam[-1])  # tau = 1
        s2 = -2 * a / (eta * (ds @ ds)) if a <= 0 else 0.0
        return -eta * (gv + 0.5 * s2 * ds)

    def rod(t: float, y: np.ndarray) -> np.ndarray:
        wb, S = y[:n], y[n:].reshape(n, n)
        lam, V = np.linalg.eigh(0.5 * (S + S.T))
        d = np.sqrt(max(lam[-1], 0.0)) * V[:, -1]
        gp, gm = g(wb + d), g(wb - d)
        dw = -0.5 * eta * (gp + gm) - 0.125 * eta**2 * (h(wb + d) + h(wb - d)) @ (gp + gm)
        dS = 0.125 * eta**2 * np.outer(gp - gm, gp - gm) - 2 * S  # extent=oscillation, the default
        return np.concatenate([dw, dS.ravel()])

    def edge(t: float, y: np.ndarray) -> np.ndarray:
        c, uv, r = y[:n], y[n : 2 * n], y[2 * n]
        uh = uv / np.linalg.norm(uv)
        gp, gm = g(c + r * uh), g(c - r * uh)
        Hu = h(c) @ uh
        ray = uh @ Hu
        kappa = uh @ (gp - gm) / (2 * r) if abs(r) > 1e-150 else ray
        return np.concatenate([-0.5 * eta * (gp + gm), eta * (Hu - ray * uh), [(eta * kappa - 2) * r]])

    return {"central": central, "rod": rod, "edge": edge}


def best_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=float, default=10_000.0, help="time span in GD steps")
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--atol", type=float, default=1e-10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repeat, 10^3 steps (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeat = 1000.0, 1
    # two toys: on the first every flow settles (the steady-state exit applies), on the
    # second the rod and edge flows keep cycling around GD's weakly unstable 2-cycle
    for pot, eta, x0 in (
        (toy("selfstab"), 0.45, np.array([0.2, 1.5])),
        (toy("canonical", c=0.01), 0.5, np.array([0.15, 3.0])),
    ):
        bench_toy(pot, eta, x0, args)
    print("speed-up = seconds of the row / seconds of eostheory dopri5 with its defaults")
    print(
        "flow costs per right-hand side: "
        + "; ".join(f"{n}: {get_flow(n).cost_line()}" for n in ("central", "rod", "edge"))
    )
    return 0


def bench_toy(pot, eta: float, x0: np.ndarray, args: argparse.Namespace) -> None:
    """The three flows on one toy: eostheory against solve_ivp."""
    T = args.steps
    te = np.linspace(0.0, T, 1001)
    fields = numpy_fields(pot, eta)
    cp = compile_potential(pot)
    c = cp.constants()
    print(
        f"{pot}, eta = {eta}, x0 = {x0.tolist()}, t in [0, {T:g}] GD steps, rtol = {args.rtol:g}, atol = {args.atol:g}"
    )
    head = f"{'flow':8} {'method':32} {'seconds':>9} {'rhs evals':>10} {'max error':>10} {'speed-up':>9}"
    print(head)
    print("-" * len(head))
    for name in ("central", "rod", "edge"):
        fl, system, _ = flow_system(pot, name, eta=eta)
        y0 = fl.initial_state(cp, x0, c, system.p)
        ws = np.zeros(int(system.module.NWS))
        out = np.empty(len(y0))

        def rhs_numba(t: float, y: np.ndarray, _m=system.module, _p=system.p, _ws=ws, _o=out) -> np.ndarray:
            _m.flow_rhs(y, _p, c, _ws, _o)
            return _o.copy()

        ref = solve_ivp(rhs_numba, (0, T), y0, method="DOP853", rtol=1e-13, atol=1e-15, t_eval=te).y.T

        def ours(system=system, y0=y0, steady=True):
            return solve(
                system, y0, (0.0, T), method="dopri5", rtol=args.rtol, atol=args.atol, t_eval=te, steady_state=steady
            )

        ours()  # warm (compile/load)
        t_ours, tr = best_time(ours, args.repeat)
        t_full, trf = best_time(lambda: ours(steady=False), args.repeat)
        rows = [
            ("eostheory dopri5 (numba loop)", t_ours, tr.work["rhs"], float(np.max(np.abs(tr.y - ref)))),
            ("  same, steady-state exit off", t_full, trf.work["rhs"], float(np.max(np.abs(trf.y - ref)))),
        ]
        for label, method, f in (
            ("solve_ivp RK45, lambdified numpy", "RK45", fields[name]),
            ("solve_ivp LSODA, numba rhs", "LSODA", rhs_numba),
        ):

            def run(method=method, f=f, y0=y0):
                return solve_ivp(f, (0, T), y0, method=method, rtol=args.rtol, atol=args.atol, t_eval=te)

            t_s, sol = best_time(run, max(1, args.repeat if method == "LSODA" else 1))
            err = float(np.max(np.abs(sol.y.T - ref))) if sol.success else float("nan")
            rows.append((label + ("" if sol.success else " (failed)"), t_s, sol.nfev, err))
        for label, secs, nfev, err in rows:
            print(f"{name:8} {label:32} {secs:9.4f} {nfev:10d} {err:10.2e} {secs / t_ours:8.1f}x")
        if tr.steady_from is not None:
            print(f"{'':8} (steady-state exit at t = {tr.steady_from:.1f})")
        print()


if __name__ == "__main__":
    raise SystemExit(main())
