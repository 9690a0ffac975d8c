"""Checks of the explicit optimizers against closed forms: the quartic's flip and the self-stabilization toys."""

from __future__ import annotations

import math
from collections.abc import Iterator

from eostheory.checks import CheckResult, check, close
from eostheory.optimizers import run


@check("optimizers")
def gd_selfstab_converges_below_threshold() -> Iterator[CheckResult]:
    """½(1+y²)x² + ½(y−2)²: sharpness 5 at the minimum, so GD converges for η < 0.4."""
    r = run("selfstab", "gd", x0=[0.01, 1.5], eta=0.38, steps=20000)
    yield CheckResult("selfstab gd eta=0.38 converges", r.status, "converged", None, r.status == "converged")
    yield close("selfstab sharpness at the minimum", r.final["sharpness"], 5.0, 1e-8)


@check("optimizers")
def gd_selfstab_two_cycle() -> Iterator[CheckResult]:
    """For η ∈ (0.4, 0.52] GD settles on a 2-cycle with 1 + y² = 2/η and x² = (2 − y)/y."""
    for eta in (0.41, 0.45, 0.5, 0.52):
        r = run("selfstab", "gd", x0=[0.01, 1.5], eta=eta, steps=20000)
        ok = r.status == "oscillating" and r.period == 2
        yield CheckResult(f"selfstab gd eta={eta} period", r.period, 2, None, ok, detail=r.message)
        x, y = r.average["params"][0], r.average["params"][1]
        yield close(f"selfstab gd eta={eta} mean 1+y^2 = 2/eta", 1 + y * y, 2 / eta, 1e-6)
        xf = r.final["params"][0]
        yield close(f"selfstab gd eta={eta} x^2 = (2-y)/y", xf * xf, (2 - y) / y, 1e-6)
        yield close(f"selfstab gd eta={eta} mean x = 0", x, 0.0, 1e-6)


@check("optimizers")
def gd_selfstab_diverges() -> CheckResult:
    """At η = 0.9 GD on the self-stabilization toy diverges and says so."""
    r = run("selfstab", "gd", x0=[0.01, 1.5], eta=0.9, steps=20000)
    finite = r.final["loss"] is not None and math.isfinite(r.final["loss"])
    return CheckResult(
        "selfstab gd eta=0.9 diverges (finite last state)",
        r.status,
        "diverged",
        None,
        r.status == "diverged" and finite,
    )


@check("optimizers")
def gd_quartic_two_cycle_amplitude() -> Iterator[CheckResult]:
    """Quartic (S/2)w² − (Q/4)w⁴: 2-cycle ±w*, w*² = (S − 2/η)/Q for ηS ∈ (2, 3)."""
    S, Q = 2.0, 0.5
    for es in (2.2, 2.5, 2.9):
        eta = es / S
        r = run("quartic", "gd", x0=[0.05], eta=eta, steps=20000, constants={"S": S, "Q": Q})
        amp = abs(r.final["params"][0])
        yield close(f"quartic gd eta*S={es} amplitude", amp, math.sqrt((S - 2 / eta) / Q), 1e-8)


@check("optimizers")
def gd_quartic_cycle_lost_past_three() -> Iterator[CheckResult]:
    """Past ηS = 3 the symmetric 2-cycle ±w* is lost.

    Its multiplier under two steps is (2ηS − 5)², which crosses +1 at ηS = 3: a
    symmetry-breaking pitchfork of the 2-cycle (GD moves to an asymmetric 2-cycle with a
    non-zero mean), followed by period doubling (period 4, 8, 16 by ηS ≈ 3.3) and chaos.
    """
    S = 1.0
    for es in (3.1, 3.2):
        r = run("quartic", "gd", x0=[0.05], eta=es, steps=20000, constants={"S": S, "Q": 1.0})
        dist = abs(abs(r.final["params"][0]) - math.sqrt(S - 2 / es))
        yield CheckResult(
            f"quartic gd eta*S={es} leaves the orbit +-w* (| |w|-w* |)",
            dist,
            "> 1e-3",
            None,
            dist > 1e-3,
            detail=r.message,
        )
    r = run("quartic", "gd", x0=[0.05], eta=3.3, steps=20000, constants={"S": S, "Q": 1.0})
    yield CheckResult("quartic gd eta*S=3.3 period doubled", r.period, ">= 4", None, r.period >= 4, detail=r.message)


@check("optimizers")
def gd_quartic_plus_subcritical() -> CheckResult:
    """With +Q/4 w⁴ the flip is subcritical: GD blows up just past ηS = 2."""
    r = run("quartic-plus", "gd", x0=[0.05], eta=2.05, steps=20000, constants={"S": 1.0, "Q": 1.0})
    return CheckResult("quartic-plus gd eta*S=2.05 diverges", r.status, "diverged", None, r.status == "diverged")


@check("optimizers")
def gd_quadratic_threshold() -> Iterator[CheckResult]:
    """GD on ½λw² converges iff ηλ < 2: check at ηλ = 2(1 ∓ 1%)."""
    for factor, want in ((0.99, "converged"), (1.01, "diverged")):
        r = run("quadratic-1d", "gd", x0=[1.0], eta=2 * factor, steps=200000, constants={"lam": 1.0})
        yield CheckResult(f"quadratic gd eta*lam={2 * factor:.2f}", r.status, want, None, r.status == want)


@check("optimizers", full_only=True)
def gd_selfstab_two_cycle_scan() -> Iterator[CheckResult]:
    """Full: a fine scan of η over (0.4, 0.52] on the self-stabilization toy."""
    for k in range(1, 13):
        eta = 0.40 + 0.01 * k
        r = run("selfstab", "gd", x0=[0.01, 1.5], eta=eta, steps=400000)
        y = r.average["params"][1]
        yield close(f"selfstab gd eta={eta:.2f} mean 1+y^2 = 2/eta", 1 + y * y, 2 / eta, 1e-6)
