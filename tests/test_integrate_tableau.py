"""Runge–Kutta methods as data: tableaux, order conditions, the generic step and the pieces of the loop."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from eostheory import EosInputError
from eostheory.integrate import STEPPERS, get_stepper, register_stepper
from eostheory.integrate._steppers import STEP_FUNCTIONS
from eostheory.integrate._tableau import (
    DOPRI5,
    RK4,
    TABLEAUX,
    ButcherTableau,
    StepResult,
    explicit_step,
    register_tableau,
    rooted_trees,
)

F = Fraction


def test_rooted_tree_counts() -> None:
    """Trees with 1..6 nodes: 1, 1, 2, 4, 9, 20 (OEIS A000081), so 1, 2, 4, 8, 17, 37 up to each order."""
    assert [len(rooted_trees(p)) for p in range(1, 7)] == [1, 2, 4, 8, 17, 37]


@pytest.mark.parametrize("name,order", [("euler", 1), ("rk4", 4), ("dopri5", 5)])
def test_tableaux_have_exactly_their_order(name: str, order: int) -> None:
    """Every condition up to the stated order holds exactly; at least one of the next order fails."""
    tab = TABLEAUX[name]
    assert tab.validate() is tab
    assert tab.order == order and tab.order_defects() == []
    assert tab.order_defects(order=order + 1) != []
    for i, row in enumerate(tab.a, start=1):
        assert sum(row, F(0)) == tab.c[i]


def test_dopri5_embedded_and_dense_output() -> None:
    """The embedded solution b - e is of order 4 (not 5), b(1) = b, the dense output of order 4."""
    e = DOPRI5.b_err
    assert e is not None and sum(e, F(0)) == 0
    emb = [bi - ei for bi, ei in zip(DOPRI5.b, e, strict=True)]
    assert DOPRI5.order_defects(emb, 4) == [] and DOPRI5.order_defects(emb, 5) != []
    assert DOPRI5.dense is not None
    assert [sum(r, F(0)) for r in DOPRI5.dense] == list(DOPRI5.b)
    assert DOPRI5.fsal and list(DOPRI5.a[-1]) == list(DOPRI5.b[:-1])
    assert DOPRI5.error_exponent == -0.2 and DOPRI5.rhs_per_step == 6
    # the float coefficients are the ones the compiled loop used (Dormand & Prince 1980)
    assert DOPRI5.b_err_float == (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)


def test_validate_names_the_broken_condition() -> None:
    with pytest.raises(EosInputError, match="row sum of stage 2"):
        ButcherTableau("bad", (0, F(1, 3)), ((F(1, 2),),), (0, 1), order=2).validate()
    with pytest.raises(EosInputError, match="not of order 3"):  # explicit midpoint is of order 2 only
        ButcherTableau("mid", (0, F(1, 2)), ((F(1, 2),),), (0, 1), order=3).validate()
    with pytest.raises(EosInputError, match="lengths"):
        ButcherTableau("tri", (0, 1), ((1, 0),), (F(1, 2), F(1, 2)), order=2).validate()
    with pytest.raises(EosInputError, match="exact number"):
        ButcherTableau("flt", (0, 0.5), ((0.5,),), (0, 1), order=2)
    with pytest.raises(EosInputError, match="embedded"):
        ButcherTableau(
            "heun", (0, 1), ((1,),), (F(1, 2), F(1, 2)), order=2, b_err=(F(1, 2), F(-1, 2)), err_order=2
        ).validate()
    bad_dense = ((1, F(-1, 2)), (0, F(1, 3)))  # b_2(1) = 1/3, not 1/2
    with pytest.raises(EosInputError, match="dense output"):
        ButcherTableau("hd", (0, 1), ((1,),), (F(1, 2), F(1, 2)), order=2, dense=bad_dense, dense_order=2).validate()


def _linear(y: np.ndarray) -> np.ndarray:
    return np.array([-y[0] + 0.5 * y[1], -2.0 * y[1]])


def test_explicit_step_on_linear_flow_is_the_taylor_polynomial() -> None:
    r"""On :math:`\dot y = Jy` an order-:math:`p` explicit RK method with :math:`p = s \le 4` is the
    degree-:math:`p` Taylor polynomial of :math:`e^{hJ}` exactly; Dormand–Prince's degree-6 stability
    polynomial agrees with :math:`e^{hJ}` to :math:`O(h^6)`."""
    J = np.array([[-1.0, 0.5], [0.0, -2.0]])
    y = np.array([0.3, -0.7])
    h = 0.1
    for name, p in (("euler", 1), ("rk4", 4)):
        r = explicit_step(TABLEAUX[name], _linear, y, h)
        taylor = sum(np.linalg.matrix_power(h * J, k) @ y / math.factorial(k) for k in range(p + 1))
        assert isinstance(r, StepResult) and r.f_new is None and r.err is None
        assert np.allclose(r.y_new, taylor, rtol=1e-15, atol=1e-16)
    r = explicit_step(DOPRI5, _linear, y, h)
    w, V = np.linalg.eig(h * J)
    exact = (V @ np.diag(np.exp(w)) @ np.linalg.solve(V, y)).real
    assert np.max(np.abs(r.y_new - exact)) < 2 * 0.2**6 / math.factorial(6)  # ||hJ||^6/6! bounds the defect
    assert np.array_equal(r.f_new, _linear(r.y_new))  # first same as last
    assert r.err is not None and 0 < np.max(np.abs(r.err)) < 1e-6


def test_euler_step_is_exactly_y_plus_h_f0() -> None:
    y = np.array([0.1234567, -3.3])
    f0 = np.array([1.0 / 3.0, 7.1])
    r = explicit_step(TABLEAUX["euler"], lambda v: 1 / 0, y, 0.37, f0)  # f is never called
    assert np.array_equal(r.y_new, y + 0.37 * f0)


def test_explicit_step_on_torch_matches_numpy() -> None:
    torch = pytest.importorskip("torch")

    def f_np(y):
        return np.sin(y) - 0.3 * y * y

    def f_t(y):
        return torch.sin(y) - 0.3 * y * y

    y = np.array([0.2, -1.1, 2.5])
    for tab in TABLEAUX.values():
        a = explicit_step(tab, f_np, y, 0.05)
        b = explicit_step(tab, f_t, torch.tensor(y, dtype=torch.float64), 0.05)
        assert np.allclose(b.y_new.numpy(), a.y_new, rtol=1e-15, atol=0)
        if tab.adaptive:
            assert np.allclose(b.err.numpy(), a.err, rtol=1e-12, atol=1e-20)


def _pendulum(y: np.ndarray) -> np.ndarray:
    return np.array([y[1], -np.sin(y[0])])


def _march(name: str, y: np.ndarray, h: float, T: float) -> np.ndarray:
    st = get_stepper(name)
    for _ in range(round(T / h)):
        y = st.step(_pendulum, y, h).y_new
    return y


def test_convergence_orders_of_the_generic_step() -> None:
    r"""Fixed-step error at :math:`T = 4` on the pendulum :math:`\ddot q = -\sin q` against a fine
    Dormand–Prince reference (:math:`h = 10^{-3}`, error :math:`\sim 10^{-16}`): slopes 1, 4, 5."""
    y0 = np.array([1.2, 0.0])
    ref = _march("dopri5", y0, 1e-3, 4.0)
    for name, hs in (("euler", [0.02, 0.01, 0.005]), ("rk4", [0.2, 0.1, 0.05]), ("dopri5", [0.2, 0.1, 0.05])):
        errs = [np.max(np.abs(_march(name, y0, h, 4.0) - ref)) for h in hs]
        slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
        assert abs(slope - get_stepper(name).order) < 0.3, (name, slope)


def test_register_stepper_for_python_loops() -> None:
    def half_euler(f, y, h, f0):
        return StepResult(y + 0.5 * h * (f(y) if f0 is None else f0), None, None)

    try:
        st = register_stepper("half_euler_test", half_euler, 1, "half an Euler step (a test)")
        assert get_stepper("half_euler_test") is st and st.code == -1 and not st.compiled
        assert "half_euler_test" not in STEPPERS
        assert st.step(lambda v: v, np.array([2.0]), 0.5).y_new[0] == 2.5
        with pytest.raises(EosInputError, match="tableau stepper"):
            register_stepper("rk4", half_euler, 1, "x")
        with pytest.raises(EosInputError, match="callable"):
            register_stepper("nope", 3, 1, "x")  # type: ignore[arg-type]
    finally:
        STEP_FUNCTIONS.pop("half_euler_test", None)


def test_register_tableau_validates_and_refuses_duplicates() -> None:
    with pytest.raises(EosInputError, match="already registered"):
        register_tableau(RK4)
    with pytest.raises(EosInputError, match="not of order"):
        register_tableau(ButcherTableau("wrong", (0, F(1, 2)), ((F(1, 2),),), (0, 1), order=3))
    assert list(TABLEAUX) == ["euler", "rk4", "dopri5"]
