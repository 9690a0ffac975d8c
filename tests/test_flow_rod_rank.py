"""The rod is one model: its rank-r representation at r = n is the matrix rod of the toy path.

The rank-r rod (state ``(wbar, U, s)``, step-and-truncate, the torch path's ``rod:rank=r``)
runs here on NumPy through the toy oracle; with ``r = n`` every stage's extent is the full
matrix, so one of its RK4 steps is the matrix rod's RK4 step (the compiled fast path's
``solve_flow(..., method="rk4")``) up to rounding.  Tolerance 1e-10: measured <= 1e-14.
"""

from __future__ import annotations

import numpy as np
import pytest

from eostheory.flows import get_flow, solve_flow
from eostheory.flows._fields import RodField
from eostheory.flows._reference import reference_flow


@pytest.mark.parametrize(
    ("toy_name", "x0", "eta", "extent"),
    [
        ("selfstab", [0.3, 1.5], 0.45, "oscillation"),
        ("selfstab", [0.3, 1.5], 0.45, "full"),
        ("deep-scalar", [0.6, 0.9, 1.2], 0.6, "oscillation"),
        ("quartic", [0.05], 2.5, "full"),
    ],
)
def test_rank_n_rod_is_the_matrix_rod(toy_name: str, x0: list[float], eta: float, extent: str) -> None:
    rf = reference_flow(toy_name, "rod", eta=eta, params={"extent": extent})
    field = rf.field
    assert isinstance(field, RodField)
    o, P, n = rf.oracle, rf.P, rf.oracle.n
    w0 = np.array(x0)
    wb, delta = field.initial_extent(o, w0, P, n)
    y = field.lowrank_initial(o, wb, delta, n)
    dt, steps = 0.25, 16

    def f(z: np.ndarray) -> np.ndarray:
        return field.lowrank_rhs(o, z, P, n)

    t_eval = 0.5 + dt * np.arange(steps + 1)
    r = solve_flow(
        toy_name, "rod", x0=x0, eta=eta, params={"extent": extent}, steps=t_eval[-1], method="rk4", dt=dt, t_eval=t_eval
    )
    assert r.status == "completed"
    for i in range(steps + 1):
        wbar, U, s = field.lowrank_split(n, n, y)
        sigma = (U * s) @ U.T
        ref = r.state[i]
        scale = max(1.0, float(np.max(np.abs(ref))))
        np.testing.assert_allclose(wbar, ref[:n], rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(sigma, ref[n:].reshape(n, n), rtol=0, atol=1e-10 * scale)
        if i < steps:
            y = field.lowrank_step(o, y, P, n, dt, 4, f, f(y))


def test_rod_representations_share_the_centre_equation() -> None:
    """Matrix, rank-r and vector states give the same centre velocity for the same extent δδᵀ."""
    rf = reference_flow("deep-scalar", "rod", eta=0.6)
    field, o, P = rf.field, rf.oracle, rf.P
    n = o.n
    wb = np.array([0.6, 0.9, 1.2])
    delta = np.array([0.05, -0.02, 0.01])
    matrix = field.rhs(o, np.concatenate([wb, np.outer(delta, delta).ravel()]), P)[:n]
    vector = field.vector_rhs(o, np.concatenate([wb, delta]), P)[:n]
    lowrank = field.lowrank_rhs(o, field.lowrank_initial(o, wb, delta, 2), P, 2)[:n]
    np.testing.assert_allclose(vector, matrix, rtol=0, atol=1e-14)
    np.testing.assert_allclose(lowrank, matrix, rtol=0, atol=1e-14)
    assert get_flow("rod").vector_field is field
