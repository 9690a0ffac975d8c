"""Checks of the exact equilibria: the quartic's 2-cycle and its stable range, and the
canonical toy's central flow = GD's cycle, each against a compiled run."""

from __future__ import annotations

from collections.abc import Iterator

import sympy as sp

from eostheory.checks import CheckResult, check, close

_ETA = sp.Symbol("eta", positive=True)


@check("equilibria")
def quartic_cycle_exact() -> Iterator[CheckResult]:
    """GD's 2-cycle on the quartic (S = Q = 1): w*^2 = 1 - 2/eta, stable exactly for eta in (2, 3)."""
    from eostheory.experiments import equilibria

    r = equilibria("quartic", flows=[], constants={"S": 1, "Q": 1})
    cyc = [c for c in r.cycles if c.contains("wbar") and c.contains("d2 - (1 - 2/eta)")]
    yield CheckResult("quartic 2-cycle w*^2 = (S - 2/eta)/Q found", len(cyc), 1, None, len(cyc) == 1)
    if len(cyc) != 1:
        return
    (st,) = cyc[0].ranges.stability or [None]
    if st is not None:
        yield close("quartic 2-cycle stable from eta*S", float(st.lo.as_expr()), 2.0, 0.0)
        yield close("quartic 2-cycle stable until eta*S", float(st.hi.as_expr()), 3.0, 0.0)
    chk = cyc[0].check or {}
    yield close("quartic 2-cycle: compiled GD off the orbit after a period", chk.get("period_error", 1.0), 0.0, 1e-10)


@check("equilibria", full_only=True)
def canonical_central_is_the_cycle() -> Iterator[CheckResult]:
    """Canonical toy: the central flow's stationary point sigma^2 = 2c is proved equal to GD's cycle x^2 = 2c."""
    from eostheory.experiments import equilibria

    r = equilibria("canonical", flows=["central"], constants={"s0": 1, "c": sp.Rational(1, 10)})
    proved = [a for a in r.agreements if a.status == "proved equal"]
    cyc = [c for c in r.cycles if c.contains("d2 - 1/5")]
    yield CheckResult("canonical: central = GD 2-cycle (proved)", len(proved) >= 1, True, None, len(proved) >= 1)
    if cyc:
        mod = cyc[0].spectrum.get("modulus_on_orbit")
        ok = mod is not None and sp.simplify(mod - (1 + _ETA**2 / 5)) == 0
        yield CheckResult("canonical: two-step modulus 1 + eta^2 x^2", str(mod), "1 + eta**2/5", None, ok)
