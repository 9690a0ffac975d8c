"""Checks of the continuous-time models (central, rod, edge flow, self-stabilization) against closed forms and GD."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from eostheory._errors import EosInputError
from eostheory.checks import CheckResult, check, close

# canonical toy 1/2 (s0 + y) x^2 - c y at eta = 0.5: edge at y* = 2/eta - s0 = 3, cycle x*^2 = 2c
_CAN = {"s0": 1.0, "c": 0.01}
_CAN_ETA = 0.5


def integrator_orders() -> dict[str, float]:
    """Fitted global orders of euler, rk4 and dopri5 (run at a fixed step) on a nonlinear 2-D flow.

    Gradient flow on the self-stabilization toy (η = 0.1, from (0.5, 0.5) to t = 10) is
    integrated with halving steps; the error against RK4 at dt = 1e-3 is fitted as C h^p.
    """
    from eostheory.flows import flow_system
    from eostheory.integrate import solve

    _, system, _ = flow_system("selfstab", "gradient", eta=0.1)
    y0, T = [0.5, 0.5], 10.0
    ref = solve(system, y0, (0.0, T), method="rk4", dt=1e-3).y_final
    out = {}
    grids = {"euler": [0.1, 0.05, 0.025, 0.0125], "rk4": [0.8, 0.4, 0.2, 0.1], "dopri5": [0.8, 0.4, 0.2, 0.1]}
    for method, hs in grids.items():
        errs = []
        for h in hs:
            if method == "dopri5":  # tolerances so loose that no step is rejected: a fixed step h
                tr = solve(
                    system,
                    y0,
                    (0.0, T),
                    method=method,
                    rtol=1e6,
                    atol=1e6,
                    first_step=h,
                    max_step=h,
                    steady_state=False,
                )
            else:
                tr = solve(system, y0, (0.0, T), method=method, dt=h)
            errs.append(float(np.max(np.abs(tr.y_final - ref))))
        out[method] = float(np.polyfit(np.log(hs), np.log(errs), 1)[0])
    return out


@check("flows")
def flows_integrators() -> Iterator[CheckResult]:
    """Convergence orders (1, 4, 5) and GD = the Euler step of gradient flow with dt = 1."""
    from eostheory.flows import solve_flow
    from eostheory.optimizers import run

    orders = integrator_orders()
    for method, p in (("euler", 1), ("rk4", 4), ("dopri5", 5)):
        yield close(f"{method} fitted global order", orders[method], p, 0.25)
    g = run("selfstab", "gd", x0=[0.01, 1.5], eta=0.45, steps=300, record_every=1)
    f = solve_flow(
        "selfstab", "gradient", x0=[0.01, 1.5], eta=0.45, steps=300, method="euler", dt=1.0, t_eval=np.arange(0, 301)
    )
    diff = float(np.max(np.abs(f.state - g.params)))
    yield CheckResult("GD iterates == Euler(dt=1) on gradient flow (max |diff|)", diff, 0.0, 0.0, diff == 0.0)


@check("flows")
def flows_canonical_two_cycle() -> Iterator[CheckResult]:
    """Canonical toy: central σ² = 2c = GD's exact 2-cycle x²; GD weakly unstable (1 + η²x² per two steps)."""
    from eostheory.analysis.compare import compare, gd_record
    from eostheory.compile import compile_potential
    from eostheory.flows import solve_flow
    from eostheory.symbolic import toy

    c, eta = _CAN["c"], _CAN_ETA
    xs, ys = math.sqrt(2 * c), 2 / eta - _CAN["s0"]
    pot = toy("canonical", **_CAN)
    r = solve_flow(pot, "central", x0=[0.3, 0.0], eta=eta, steps=1500)
    yield close("canonical central stationary sigma^2 = 2c", r.extras["sigma2"][-1], 2 * c, 1e-9)
    yield close("canonical central stationary s0 + y = 2/eta", _CAN["s0"] + r.final["center"][1], 2 / eta, 1e-9)
    cp = compile_potential(pot)
    cc = cp.constants()
    w0 = np.array([xs, ys])
    w1 = w0 - eta * cp.grad(w0, cc)
    w2 = w1 - eta * cp.grad(w1, cc)
    yield close("canonical GD exact 2-cycle x^2 = 2c (|w2 - w0|)", float(np.max(np.abs(w2 - w0))), 0.0, 1e-15)
    J = (np.eye(2) - eta * cp.hess(w1, cc)) @ (np.eye(2) - eta * cp.hess(w0, cc))
    mod = np.abs(np.linalg.eigvals(J))
    yield close(
        "canonical two-step Jacobian |eigenvalues| = 1 + eta^2 x^2", float(mod.max()), 1 + eta**2 * xs**2, 1e-12
    )
    g = gd_record(pot, x0=[xs * (1 + 1e-6), ys], eta=eta, steps=4000)
    d = np.hypot(g.w[::2, 0] - xs, g.w[::2, 1] - ys)
    slope = float(np.polyfit(g.t[::2], np.log(d), 1)[0])
    yield close(
        "canonical GD spirals out: fitted log-growth per step = log(1 + eta^2 x^2)/2",
        slope,
        0.5 * math.log(1 + eta**2 * xs**2),
        0.02,
        rel=True,
    )
    cmp = compare(pot, ["central"], x0=[xs * 1.001, ys], eta=eta, steps=400)
    for name in ("central",):
        m = cmp.flows[name].metrics
        yield close(
            f"canonical early cycles (400 steps): {name} centre error at the end", m["center_error_final"], 0.0, 1e-3
        )
        yield close(f"canonical early cycles: {name} predicted oscillation vs GD", m["oscillation_error"], 0.0, 1e-4)


@check("flows")
def flows_quartic_amplitude() -> Iterator[CheckResult]:
    """Quartic: rod Σ* = secant edge r*² = GD's w*² for ηS in (2, 3); Rayleigh edge flow does not."""
    from eostheory.flows import solve_flow
    from eostheory.optimizers import run

    consts = {"S": 1.0, "Q": 1.0}
    for es in (2.2, 2.5, 2.9):
        wstar2 = 1 - 2 / es
        g = run("quartic", "gd", x0=[0.05], eta=es, steps=20000, constants=consts)
        yield close(f"quartic eta*S={es} GD w*^2", g.final["params"][0] ** 2, wstar2, 1e-10)
        for flow in ("rod", "edge"):
            r = solve_flow("quartic", flow, x0=[0.05], eta=es, steps=3000, constants=consts)
            yield close(f"quartic eta*S={es} {flow} amplitude^2 = w*^2", r.final["oscillation"] ** 2, wstar2, 1e-7)
    r = solve_flow("quartic", "edge-rayleigh", x0=[0.05], eta=2.5, steps=3000, constants=consts)
    ok = r.status != "completed" or abs(r.final["oscillation"] ** 2 - 0.2) > 1e-2
    yield CheckResult(
        "quartic eta*S=2.5 Rayleigh edge flow misses w*^2 (r grows: blow-up)",
        r.status,
        "not completed",
        None,
        ok,
        detail=r.message,
    )


@check("flows")
def flows_quartic_past_three() -> Iterator[CheckResult]:
    """Past ηS = 3: GD loses its 2-cycles (aperiodic at 3.5) while the rod flow settles on a fixed point.

    The rod's symmetric point loses stability in the centre direction at ηS = 3 exactly as
    GD's symmetric cycle does (rate -a - a²/2, a = 6 - 2ηS: the second-order expansion of
    log|1 - a|); the rod then sits at GD's asymmetric 2-cycle, which it keeps as a stable
    fixed point after GD's period doubling.
    """
    from eostheory.flows import solve_flow
    from eostheory.optimizers import run

    consts = {"S": 1.0, "Q": 1.0}
    g = run("quartic", "gd", x0=[0.05], eta=3.5, steps=20000, constants=consts)
    yield CheckResult(
        "quartic eta*S=3.5 GD has no cycle", g.status, "max_steps", None, g.status == "max_steps", detail=g.message
    )
    r = solve_flow("quartic", "rod", x0=[0.05], eta=3.5, steps=3000, constants=consts)
    v = np.abs(r.state[-1] - r.state[-2]).max() if len(r.state) > 1 else math.inf
    yield CheckResult(
        "quartic eta*S=3.5 rod flow reaches a fixed point",
        float(v),
        "< 1e-9",
        None,
        r.status == "completed" and v < 1e-9,
        detail=r.message,
    )
    # the fixed point is a GD 2-cycle (a, b): a = b - eta L'(b), b = a - eta L'(a)
    wbar, delta = r.final["center"][0], r.final["oscillation"]
    a, b = wbar + delta, wbar - delta

    def step(w: float) -> float:
        return w - 3.5 * (w - w**3)

    yield close("quartic eta*S=3.5 rod fixed point is a GD 2-cycle (|g(a) - b|)", abs(step(a) - b), 0.0, 1e-7)


@check("flows")
def flows_selfstab_toy() -> Iterator[CheckResult]:
    """½(1+y²)x² + ½(y−2)² at η = 0.45: EoS flows end on 1+y² = 2/η and x² = (2−y)/y; GF/modified do not."""
    from eostheory.analysis.compare import compare

    eta = 0.45
    cmp = compare(
        "selfstab", ["central", "rod", "edge", "selfstab", "gradient", "modified"], x0=[0.01, 1.5], eta=eta, steps=1500
    )
    gdm = cmp.gd_summary()
    y_gd = gdm["final_midpoint"][1]
    yield close("selfstab GD 2-cycle: 1 + y^2 = 2/eta", 1 + y_gd**2, 2 / eta, 1e-9)
    yield close("selfstab GD 2-cycle: x^2 = (2-y)/y", gdm["oscillation"] ** 2, (2 - y_gd) / y_gd, 1e-9)
    for name in ("central", "rod", "edge", "selfstab"):
        m = cmp.flows[name].metrics
        y = m["final_center"][1]
        yield close(f"selfstab {name} centre: 1 + y^2 = 2/eta", 1 + y * y, 2 / eta, 1e-7)
        yield close(f"selfstab {name} predicted x^2 = (2-y)/y", m["predicted_oscillation"] ** 2, (2 - y) / y, 1e-7)
        yield close(f"selfstab {name} predicted loss = GD time-averaged loss", m["loss_error"], 0.0, 1e-7)
    for name in ("gradient", "modified"):
        m = cmp.flows[name].metrics
        err = m["center_error_final"]
        yield CheckResult(f"selfstab {name} misses the GD centre (error > 0.1)", err, "> 0.1", None, err > 0.1)


@check("flows")
def flows_reduced_map() -> Iterator[CheckResult]:
    """Damian's reduced map: ⟨x²⟩ = 2α/β, and on the canonical toy it is GD exactly."""
    from eostheory.analysis.compare import gd_record
    from eostheory.flows import ReducedMap, reduced_map

    alpha, beta, eta, T = 0.005, 1.0, 0.5, 3000
    x, _y = reduced_map(alpha, beta, eta, 1.02 * math.sqrt(2 * alpha / beta), 0.0, T)
    # the y-updates telescope: <x^2> = 2 alpha/beta - 2 (y_T - y_0)/(eta beta T); over ~20 orbits
    # the boundary term is below 1e-3 relative
    yield close(
        "reduced map <x^2> = 2 alpha/beta (3000 steps)", float(np.mean(x[:-1] ** 2)), 2 * alpha / beta, 1e-3, rel=True
    )
    c = _CAN["c"]
    ys = 2 / _CAN_ETA - _CAN["s0"]
    rm = ReducedMap.at("canonical", [0.0, ys], _CAN_ETA, constants=_CAN)
    yield close("canonical reduced map 2 alpha/beta = 2c", rm.mean_x2, 2 * c, 1e-12)
    g = gd_record("canonical", x0=[0.15, ys + 0.01], eta=_CAN_ETA, steps=300, constants=_CAN)
    gx, gy = rm.coordinates(g.w)
    mx, my = rm.iterate(float(gx[0]), float(gy[0]), 300)
    dev = float(max(np.max(np.abs(mx - gx)), np.max(np.abs(my - gy))))
    yield close("canonical GD == reduced map over 300 steps (max |diff|)", dev, 0.0, 1e-12)


@check("flows")
def flows_central_loss_monotone() -> Iterator[CheckResult]:
    """The central flow's loss never increases (dL/dt = -η(|∇L|² - ⟨∇L,∇S⟩²/|∇S|²) ≤ 0 on the edge)."""
    from eostheory.compile import compile_potential
    from eostheory.flows import solve_flow
    from eostheory.symbolic import toy

    for name, pot, x0, eta in (
        ("selfstab", toy("selfstab"), [0.01, 1.5], 0.45),
        ("canonical", toy("canonical", **_CAN), [0.3, 0.0], _CAN_ETA),
    ):
        r = solve_flow(pot, "central", x0=x0, eta=eta, steps=1500, t_eval=np.arange(0, 3001) / 2)
        cp = compile_potential(pot)
        cc = cp.constants()
        L = np.array([cp.loss(w, cc) for w in r.center])
        rise = float(np.max(np.diff(L)))
        scale = float(np.max(np.abs(L))) + 1.0
        yield CheckResult(
            f"{name} central flow: max increase of L(w(t)) between records",
            rise,
            f"<= {1e-10 * scale:.1e}",
            1e-10 * scale,
            rise <= 1e-10 * scale,
        )
        yield close(f"{name} central flow: sharpness held at 2/eta", r.final["sharpness"], 2 / eta, 1e-9)


@check("flows")
def flows_heavy_ball_central() -> Iterator[CheckResult]:
    """Heavy-ball central flow at 2(1+β)/η against heavy-ball GD on the self-stabilization toy."""
    from eostheory.analysis.compare import compare

    for beta, eta in ((0.5, 0.62), (0.3, 0.55)):
        cmp = compare("selfstab", ["central-hb"], x0=[0.01, 1.5], eta=eta, beta=beta, steps=3000)
        m = cmp.flows["central-hb"].metrics
        y = m["final_center"][1]
        yield close(f"heavy ball beta={beta} eta={eta}: 1 + y^2 = 2(1+beta)/eta", 1 + y * y, 2 * (1 + beta) / eta, 1e-8)
        yield close(f"heavy ball beta={beta} eta={eta}: centre vs GD midpoint", m["center_error_final"], 0.0, 1e-8)
        yield close(f"heavy ball beta={beta} eta={eta}: sigma vs GD oscillation", m["oscillation_error"], 0.0, 1e-8)


@check("flows")
def flows_bad_input() -> Iterator[CheckResult]:
    """Undefined flows, unknown names: clear statuses and errors, never NaNs."""
    from eostheory.flows import solve_flow

    # the symmetric quartic at its centre: S = 1 > 2/eta but grad S = 0 there (central flow undefined)
    r = solve_flow("quartic", "central", x0=[0.0], eta=2.5, steps=50, constants={"S": 1.0, "Q": 1.0})
    yield CheckResult(
        "central flow where the constraint binds with grad S = 0 is undefined",
        r.status,
        "undefined",
        None,
        r.status == "undefined" and "vanishes" in r.message,
        detail=r.message,
    )
    try:
        solve_flow("selfstab", "no-such-flow", x0=[0.0, 1.0], eta=0.4, steps=10)
        ok, msg = False, "no error"
    except EosInputError as exc:
        ok, msg = "unknown flow" in str(exc), str(exc)
    yield CheckResult("unknown flow name raises EosInputError", ok, True, None, ok, detail=msg)


@check("flows", full_only=True)
def flows_central_two_eigenvalues() -> Iterator[CheckResult]:
    """Two sharp directions at the edge: central flow with k = 2 (the SDCP) against GD's exact 2-cycle."""
    from eostheory.flows import solve_flow
    from eostheory.symbolic import Potential

    pot = Potential(
        "(s1 + z1 + z2)*x**2/2 + (s2 + z1 - z2)*y**2/2 - c1*z1 - c2*z2",
        params=["x", "y", "z1", "z2"],
        constants={"s1": 1.0, "s2": 0.5, "c1": 0.02, "c2": 0.005},
        name="two-edge",
    )
    r = solve_flow(pot, "central:k=2", x0=[0.1, 0.1, 0.0, 0.0], eta=0.5, steps=2000)
    yield CheckResult(
        "two-edge central k=2 completes", r.status, "completed", None, r.status == "completed", detail=r.message
    )
    z1, z2 = r.final["center"][2], r.final["center"][3]
    yield close("two-edge: both eigenvalues at 2/eta (s1 + z1 + z2)", 1.0 + z1 + z2, 4.0, 1e-8)
    yield close("two-edge: both eigenvalues at 2/eta (s2 + z1 - z2)", 0.5 + z1 - z2, 4.0, 1e-8)
    yield close("two-edge: tr X = x^2 + y^2 of GD's 2-cycle = 2 c1", r.extras["sigma2"][-1], 0.04, 1e-9)
    r1 = solve_flow(pot, "central", x0=[0.1, 0.1, 0.0, 0.0], eta=0.5, steps=2000)
    yield CheckResult(
        "two-edge: k = 1 reports the missing eigen-gap",
        r1.status,
        "undefined",
        None,
        r1.status == "undefined" and "eigen-gap" in r1.message,
        detail=r1.message,
    )
