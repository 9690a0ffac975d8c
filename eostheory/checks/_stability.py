"""Checks of the stability analysis against the classical thresholds, the flip bifurcation and simulation."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import sympy as sp

from eostheory.checks import CheckResult, check, close
from eostheory.symbolic.stability import LAMBDA as _LAM
from eostheory.symbolic.stability import _show

beta, eta = sp.symbols("beta eta")
_Z = sp.Symbol("z")

#: The classical linear-stability table, written out independently: name, update lines, p(z), lambda*.
CLASSICAL_TABLE = [
    ("gd", ["w = w - eta*g"], _Z - 1 + eta * _LAM, 2 / eta),
    (
        "heavy-ball",
        ["v = beta*v + g", "w = w - eta*v"],
        _Z**2 - (1 + beta - eta * _LAM) * _Z + beta,
        2 * (1 + beta) / eta,
    ),
    (
        "nesterov",
        ["v = beta*v + g", "w = w - eta*(g + beta*v)"],
        _Z**2 - (1 + beta) * (1 - eta * _LAM) * _Z + beta * (1 - eta * _LAM),
        2 * (1 + beta) / (eta * (1 + 2 * beta)),
    ),
    (
        "ema-momentum",
        ["m = beta*m + (1 - beta)*g", "w = w - eta*m"],
        _Z**2 - (1 + beta - eta * (1 - beta) * _LAM) * _Z + beta,
        2 * (1 + beta) / (eta * (1 - beta)),
    ),
]


def _same(a: sp.Expr, b: sp.Expr) -> bool:
    return sp.simplify(sp.expand(a - b)) == 0


@check("stability")
def theory_table_thresholds() -> Iterator[CheckResult]:
    """Exact sympy equality with the classical table (p(z), lambda*, crossing z = -1), by name and by --update lines."""
    from eostheory.symbolic.stability import thresholds

    for name, lines, poly, thr in CLASSICAL_TABLE:
        for label, target in ((name, name), (f"{name} from update lines", lines)):
            r = thresholds(target)
            p = r.polynomial.subs(r.z, _Z)
            ok = _same(r.threshold, thr) and _same(p, poly) and r.crossing == "z=-1"
            yield CheckResult(
                f"{label}: lambda* = {r.threshold_str()}, p(z), crossing {r.crossing}",
                r.threshold_str(),
                _show(thr),
                None,
                ok,
                detail=f"p(z) = {p}",
            )


@check("stability")
def preconditioned_thresholds() -> Iterator[CheckResult]:
    """Preconditioned GD bounds lambda_max(P^-1 H) by 2/eta; EMA at beta = 0.9 gives 38/eta (Adam's beta1)."""
    from eostheory.experiments import preconditioned_radius
    from eostheory.symbolic.stability import matrix_stability, thresholds

    r = thresholds("gd", preconditioned=True)
    yield CheckResult(
        "preconditioned gd: lambda_max(P^-1 H) < 2/eta", r.threshold_str(), "2/eta", None, _same(r.threshold, 2 / eta)
    )
    ema = thresholds("ema-momentum", values={"beta": 0.9}, preconditioned=True)
    yield CheckResult(
        "ema-momentum beta=0.9: 38/eta", ema.threshold_str(), "38/eta", None, _same(ema.threshold, 38 / eta)
    )
    rng = np.random.default_rng(3)
    B = rng.standard_normal((4, 4))
    H = B @ B.T + np.eye(4)
    C = rng.standard_normal((4, 4))
    P = C @ C.T + 0.5 * np.eye(4)
    for name, vals in (("gd", {}), ("heavy-ball", {"beta": 0.9}), ("nesterov", {"beta": 0.5})):
        res = thresholds(name, values=vals or None)
        ms = matrix_stability(res, H.tolist(), P.tolist(), values={"eta": 1.0})
        mu_max = float(max(ms.eigenvalues))
        eta_c = float(res.threshold.subs(eta, 1)) / mu_max  # lambda* scales as 1/eta
        below = preconditioned_radius(res, H, P, {"eta": 0.99 * eta_c})
        above = preconditioned_radius(res, H, P, {"eta": 1.01 * eta_c})
        yield CheckResult(
            f"{name}: 4x4 H, P: full map stable iff eta*mu_max(P^-1 H) below the scalar threshold",
            f"rho(0.99)={below:.6f}, rho(1.01)={above:.6f}",
            "< 1, > 1",
            None,
            below < 1 < above,
        )


@check("stability")
def mean_square_heavy_ball() -> Iterator[CheckResult]:
    """Mean-square boundary m2/a = 2(1-beta)/eta + 2 beta a/(1+beta); limits 2(1+beta)/eta and 2(1-beta)/eta."""
    from eostheory.symbolic.stability import mean_square, thresholds

    ms = mean_square("heavy-ball")
    a = ms.a
    want = 2 * (1 - beta) / eta + 2 * beta * a / (1 + beta)
    yield CheckResult(
        "heavy-ball mean-square boundary m2/a",
        ms.ratio_str(),
        "2*(1 - beta)/eta + 2*a*beta/(1 + beta)",
        None,
        _same(ms.critical_ratio, want),
    )
    yield CheckResult(
        "heavy-ball deterministic limit 2(1+beta)/eta",
        _show(ms.deterministic_limit),
        "2*(1 + beta)/eta",
        None,
        _same(ms.deterministic_limit, 2 * (1 + beta) / eta),
    )
    yield CheckResult(
        "heavy-ball noise-dominated limit 2(1-beta)/eta",
        _show(ms.noise_limit),
        "2*(1 - beta)/eta",
        None,
        _same(ms.noise_limit, 2 * (1 - beta) / eta),
    )
    for name, _, _, _ in CLASSICAL_TABLE:
        m = mean_square(name)
        t = thresholds(name)
        yield CheckResult(
            f"{name}: mean-square boundary meets m2 = a^2 at the deterministic threshold",
            _show(m.deterministic_limit),
            t.threshold_str(),
            None,
            _same(m.deterministic_limit, t.threshold),
        )
    # the moment map against a two-point curvature distribution, numerically
    vals = {"eta": 0.1, "beta": 0.5}
    crit = float(ms.critical_m2().subs({a: 3, eta: sp.Rational(1, 10), beta: sp.Rational(1, 2)}))
    lo = ms.spectral_radius(3, 0.99 * crit, **vals)
    hi = ms.spectral_radius(3, 1.01 * crit, **vals)
    yield CheckResult(
        "heavy-ball moment map radius at m2 = (1 -+ 1%) m2*", f"{lo:.6f}, {hi:.6f}", "< 1, > 1", None, lo < 1 < hi
    )


@check("stability")
def quartic_flip() -> Iterator[CheckResult]:
    """Flip bifurcation: quartic 2-cycle w*^2 = (S - 2/eta)/Q stable for eta*S in (2, 3); +Q/4 w^4 subcritical."""
    from eostheory.symbolic.stability import flip_bifurcation

    S, Q = sp.symbols("S Q")
    r = flip_bifurcation("quartic")
    e = r.eta
    yield CheckResult(
        "quartic: supercritical (3L'''^2 > L''L'''')", r.kind, "supercritical", None, r.kind == "supercritical"
    )
    yield CheckResult(
        "quartic: amplitude^2 = (S - 2/eta)/Q (leading order)",
        str(r.amplitude_squared),
        "(S - 2/eta)/Q",
        None,
        _same(r.amplitude_squared, (S - 2 / e) / Q),
    )
    yield CheckResult(
        "quartic: exact amplitude^2 = (S - 2/eta)/Q, centre 0",
        str(r.exact_amplitude_squared),
        "(S - 2/eta)/Q",
        None,
        r.exact_amplitude_squared is not None and _same(r.exact_amplitude_squared, (S - 2 / e) / Q) and r.center == 0,
    )
    rng_ok = r.stable_range is not None and _same(r.stable_range[0], 2 / S) and _same(r.stable_range[1], 3 / S)
    yield CheckResult("quartic: stable 2-cycle for eta*S in (2, 3)", str(r.stable_range), "(2/S, 3/S)", None, rng_ok)
    yield CheckResult(
        "quartic: 2-cycle multiplier (2 eta S - 5)^2 leaves through +1",
        f"{r.multiplier}, exit {r.exit}",
        "(2*S*eta - 5)**2, exit +1",
        None,
        r.multiplier is not None and _same(r.multiplier, (2 * S * e - 5) ** 2) and r.exit == "+1",
    )
    rp = flip_bifurcation("quartic-plus")
    yield CheckResult("quartic +Q/4 w^4: subcritical", rp.kind, "subcritical", None, rp.kind == "subcritical")


@check("stability")
def quartic_past_three() -> Iterator[CheckResult]:
    """Past eta*S = 3: symmetry-breaking pitchfork of the 2-cycle, then period doubling at eta*S = 1 + sqrt(5).

    The asymmetric 2-cycles have multiplier 9 - 2(eta*S - 1)^2 (stable for eta*S in
    (3, 1 + sqrt 5)); GD lands on one of them, with a non-zero mean.
    """
    from eostheory.optimizers import run
    from eostheory.symbolic.stability import two_cycles

    es = 3.1
    cyc = two_cycles("quartic", es, constants={"S": 1.0, "Q": 1.0})
    sym = [c for c in cyc if abs(c.mean) < 1e-12]
    asym = [c for c in cyc if abs(c.mean) >= 1e-12]
    yield close(
        "quartic eta*S=3.1: symmetric 2-cycle multiplier (2 eta S - 5)^2", sym[0].multiplier, (2 * es - 5) ** 2, 1e-9
    )
    for c in asym:
        yield close(
            "quartic eta*S=3.1: asymmetric 2-cycle multiplier 9 - 2(eta S - 1)^2",
            c.multiplier,
            9 - 2 * (es - 1) ** 2,
            1e-9,
        )
    r = run("quartic", "gd", x0=[0.05], eta=es, steps=20000, constants={"S": 1.0, "Q": 1.0})
    w = r.final["params"][0]
    dist = min(min(abs(w - c.p), abs(w - c.q)) for c in asym)
    yield CheckResult(
        "quartic eta*S=3.1: GD settles on an asymmetric 2-cycle (distance to it)",
        dist,
        0.0,
        1e-8,
        r.period == 2 and dist < 1e-8 and abs(r.average["params"][0]) > 1e-3,
        detail=r.message,
    )
    pd = 1 + math.sqrt(5)
    for es2, want in ((pd - 0.03, 2), (pd + 0.02, 4)):
        r2 = run("quartic", "gd", x0=[0.05], eta=es2, steps=40000, constants={"S": 1.0, "Q": 1.0})
        yield CheckResult(
            f"quartic eta*S=1+sqrt5{es2 - pd:+.2f}: period {want}",
            r2.period,
            want,
            None,
            r2.period == want,
            detail=r2.message,
        )


@check("stability")
def thresholds_run_on_quadratic() -> Iterator[CheckResult]:
    """Each optimizer converges at 0.99 lambda* and diverges at 1.01 lambda* (compiled runs)."""
    from eostheory.experiments import verify_threshold

    cases = [("gd", {"eta": 0.1})] + [
        (n, {"eta": 0.1, "beta": b}) for n in ("heavy-ball", "nesterov", "ema-momentum") for b in (0.5, 0.9)
    ]
    cases.append((["y = w - eta*g", "w = y + beta*(y - yp)", "yp = y"], {"eta": 0.1, "beta": 0.9}))
    for target, vals in cases:
        label = target if isinstance(target, str) else "; ".join(target)
        for r in verify_threshold(target, vals):
            yield CheckResult(
                f"{label} {vals}: lambda = {r.factor:.2f} lambda*",
                r.status,
                r.expected,
                None,
                r.passed,
                detail=f"spectral radius {r.spectral_radius:.6f}",
            )


@check("stability")
def thresholds_spectral_radius_grid() -> Iterator[CheckResult]:
    """The numpy spectral radius over a grid crosses 1 at the symbolic lambda* (and nowhere below it)."""
    from eostheory.experiments import spectral_radius_grid

    cases = [(n, {"eta": 0.1, "beta": 0.9}) for n in ("heavy-ball", "nesterov", "ema-momentum")] + [
        ("gd", {"eta": 0.1})
    ]
    two_ema = ["m = b1*m + (1 - b1)*g", "u = b2*u + (1 - b2)*m", "w = w - eta*u"]
    cases += [(two_ema, {"eta": 0.1, "b1": b, "b2": b}) for b in (0.2, 0.5, 0.9)]
    for target, vals in cases:
        g = spectral_radius_grid(target, vals)
        label = target if isinstance(target, str) else "double EMA"
        yield close(f"{label} {vals}: grid crossing vs lambda*", g.crossing, g.threshold, 1e-6, rel=True)
        yield CheckResult(f"{label} {vals}: grid points disagreeing", g.violations, 0, None, g.violations == 0)


@check("stability")
def mean_square_sgd_momentum() -> Iterator[CheckResult]:
    """SGD + heavy ball on regression (128 x 256).

    Batch size 1: eta_c*BS ~ 2(1-beta); full batch: eta_c*lam_max = 2(1+beta).
    """
    from eostheory.experiments import verify_mean_square

    for m in verify_mean_square((0.0, 0.5, 0.9), n=128, d=256, steps=20000):
        yield close(f"batch 1, beta={m.beta}: eta_c*BS / 2(1-beta)", m.ratio_batch1, 1.0, 0.2)
        yield close(f"full batch, beta={m.beta}: eta_c*lam_max / 2(1+beta)", m.ratio_full, 1.0, 0.01)


@check("stability", full_only=True)
def mean_square_sgd_momentum_full() -> Iterator[CheckResult]:
    """Full: longer runs, two data seeds, five momenta; the exact second-moment map against simulation.

    The simulation measures the growth of typical trajectories (almost-sure stability); the
    exact moment map measures the growth of E||x||^2 (mean-square stability), which is
    stricter: its critical eta is at most the simulated one, and both sit near 2(1-beta)/BS.
    """
    from eostheory.experiments import (
        critical_eta_batch,
        mean_square_radius,
        overparameterized_regression,
        verify_mean_square,
    )

    for seed in (0, 1):
        for m in verify_mean_square((0.0, 0.3, 0.5, 0.7, 0.9), n=128, d=256, steps=50000, seed=seed):
            yield close(f"seed {seed} batch 1, beta={m.beta}: eta_c*BS / 2(1-beta)", m.ratio_batch1, 1.0, 0.2)
            yield close(f"seed {seed} full batch, beta={m.beta}: eta_c*lam_max / 2(1+beta)", m.ratio_full, 1.0, 0.01)
    X = overparameterized_regression(48, 96, seed=2)
    bs = float(np.mean(np.sum(X * X, axis=1)))
    for b in (0.0, 0.5, 0.9):
        eta_sim, _, _ = critical_eta_batch(X, b, scale=2 * (1 - b) / bs, steps=60000, grid=np.linspace(0.8, 1.2, 17))
        lo, hi = 0.7 * 2 * (1 - b) / bs, 1.2 * 2 * (1 - b) / bs
        for _ in range(12):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if mean_square_radius(X, mid, b, iterations=3000) > 1 else (mid, hi)
        eta_ms = 0.5 * (lo + hi)
        yield CheckResult(
            f"48x96 beta={b}: exact mean-square eta_c <= simulated eta_c (1% slack)",
            eta_ms,
            eta_sim,
            None,
            eta_ms <= 1.01 * eta_sim,
            detail=f"ratio {eta_ms / eta_sim:.4f}",
        )
        yield close(f"48x96 beta={b}: exact mean-square eta_c*BS / 2(1-beta)", eta_ms * bs / (2 * (1 - b)), 1.0, 0.2)


@check("stability", full_only=True)
def thresholds_run_on_quadratic_full() -> Iterator[CheckResult]:
    """Full: many momenta and learning rates, 1% either side of lambda*."""
    from eostheory.experiments import verify_threshold

    for name in ("heavy-ball", "nesterov", "ema-momentum"):
        for b in (0.0, 0.3, 0.6, 0.8, 0.95):
            for e in (0.01, 1.0):
                for r in verify_threshold(name, {"eta": e, "beta": b}):
                    yield CheckResult(
                        f"{name} eta={e} beta={b}: lambda = {r.factor:.2f} lambda*",
                        r.status,
                        r.expected,
                        None,
                        r.passed,
                    )
