"""Checks of steepest descent in non-Euclidean norms: the symbolic descent identity, its threshold and
the normalized 2-cycle, each derived with sympy and compared with a compiled toy run."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import sympy as sp

from eostheory.checks import CheckResult, check, close

# the toy: L = (3x^2 + 2xy + 2y^2)/2, S_inf = 7 at d* = (1, 1)
_B = np.array([[3.0, 1.0], [1.0, 2.0]])
_QUAD = "0.5*(3*x**2 + 2*x*y + 2*y**2)"


@check("geometry")
def descent_identity_symbolic() -> Iterator[CheckResult]:
    """Delta L = -eta (1 - eta/2 d^T A d) ||g||_*^2 on a symbolic 2x2 quadratic, every piece of every oracle."""
    from eostheory.geometry import descent_identity, descent_threshold, generic_descent_identity

    for norm in ("l2", "linf", "l1", "block"):
        for normalized in (False, True):
            r = descent_identity(norm, 2, normalized=normalized, blocks=[[0, 1]] if norm == "block" else None)
            kind = "normalized" if normalized else "unnormalized"
            bad = [str(p.piece) for p in r.pieces if not p.holds]
            yield CheckResult(f"{norm} {kind}: residual exactly 0 on {len(r.pieces)} pieces", bad, [], None, not bad)
    gen = generic_descent_identity(2)
    yield CheckResult("any norm (<g, d> = ||g||_*): residual", str(gen.residual), "0", None, gen.residual == 0)
    eta, d = sp.Symbol("eta", positive=True), sp.Symbol("D", real=True)
    th = descent_threshold()
    yield CheckResult("Delta L < 0 iff D < 2/eta", str(th), "D < 2/eta", None, th == (d < 2 / eta))


@check("geometry")
def descent_identity_along_compiled_run() -> Iterator[CheckResult]:
    """The derived identity predicts every step's loss change of compiled steepest descent (linf, l1, l2)."""
    from eostheory.geometry import descent_identity, run_steepest

    for norm in ("linf", "l1", "l2"):
        ident = descent_identity(norm, 2)
        r = run_steepest(_QUAD, f"steepest:{norm}", x0=[1.0, -0.3], steps=30, eta=0.1, params=["x", "y"])
        steps = range(len(r.t) - 1)
        err = max(abs(r.loss[k + 1] - r.loss[k] - ident.predicted_delta_loss(_B, r.params[k], 0.1)) for k in steps)
        # losses of size ~1 in float64: 1e-12 is a few thousand ulps
        yield close(f"steepest:{norm}: max |Delta L - identity| over {len(r.t) - 1} steps", err, 0.0, 1e-12)


@check("geometry")
def ray_threshold_and_two_cycle() -> Iterator[CheckResult]:
    """On the maximising ray a -> (1 - eta S) a; normalized: the 2-cycle +-eta/2 with S/||g||_1 = 2/eta."""
    from eostheory.geometry import ETA, normalized_two_cycle, ray_multiplier, run_steepest

    ray = ray_multiplier([1, 1])
    subs = {sp.Symbol("a00", real=True): 3, sp.Symbol("a01", real=True): 1, sp.Symbol("a11", real=True): 2}
    eta = 1.1 * 2 / 7
    mult = float(ray["multiplier"].subs(subs).subs(ETA, eta))
    r = run_steepest(_QUAD, "steepest:linf", x0=[1e-3, 1e-3], steps=40, eta=eta, params=["x", "y"])
    yield close("linf ray multiplier 1 - eta S (derived) = -1.2", mult, -1.2, 1e-12)
    yield close("compiled run on the ray: a_40 / (a_0 mult^40)", r.params[-1][0] / (1e-3 * mult**40), 1.0, 1e-9)
    cyc = normalized_two_cycle()
    eta = 0.05
    amp = float(cyc.symmetric_amplitude.subs(ETA, eta))
    r = run_steepest(_QUAD, "normalized:linf", x0=[2.5 * eta, 2.5 * eta], steps=200, eta=eta, params=["x", "y"])
    ok = r.status == "oscillating" and r.period == 2
    yield CheckResult("sign descent settles on a 2-cycle", r.period, 2, None, ok)
    yield close("2-cycle amplitude eta/2 (derived) vs compiled", abs(r.params[-1][0]), amp, 1e-8)
    yield close(
        "S/||g||_1 on the cycle = 2/eta", r.generalized_sharpness[-1] / r.dual_grad[-1], float(2 / eta), 1e-8, rel=True
    )
    r = run_steepest(_QUAD, "normalized:linf", x0=[2.3 * eta, 2.3 * eta], steps=200, eta=eta, params=["x", "y"])
    lo, hi = cyc.limit_point(2.3 * eta, eta)
    got = sorted({round(float(p[0]), 12) for p in r.params[-4:]})
    yield close("off-midpoint start: cycle {r, r - eta} (derived)", max(abs(got[0] - hi), abs(got[-1] - lo)), 0.0, 1e-8)
