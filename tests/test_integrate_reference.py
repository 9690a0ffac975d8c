"""The loop built from tableau data reproduces the hand-written steppers it replaced.

Two references: (1) the hand-written Euler, RK4 and Dormand–Prince ``_step``/``_interp``
that the compiled loop used before its steppers were generated from tableaux, kept here
verbatim (the vector field renamed ``_rhs``) and run as plain Python against the generated
source on the same states; (2) trajectories recorded with that loop (states at output
times, final state, event times, work counters, steady-state time), which the current
loop must reproduce to 1e-13 relative (it does bit for bit: the generated code performs
the same floating-point operations in the same order).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from eostheory.flows import solve_flow
from eostheory.integrate import STEPPERS
from eostheory.integrate._events import hermite
from eostheory.integrate._generate import stepper_source
from eostheory.integrate._tableau import TABLEAUX, explicit_step

# ---------------------------------------------------------------------------------------
# (1) the hand-written steppers (reference copy; plain Python)
# ---------------------------------------------------------------------------------------

# --- Dormand-Prince 5(4) tableau (Dormand & Prince 1980; dense output of Shampine 1986) ---
DP_A = np.array(
    [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [1 / 5, 0.0, 0.0, 0.0, 0.0],
        [3 / 40, 9 / 40, 0.0, 0.0, 0.0],
        [44 / 45, -56 / 15, 32 / 9, 0.0, 0.0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0.0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    ]
)
DP_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
DP_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
DP_P = np.array(
    [
        [1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
        [0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
        [0.0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
        [0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
        [0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
    ]
)

M_EULER = 0
M_RK4 = 1
M_DOPRI5 = 2


def old_step(method, y, h, f0, p, c, ws, K, ynew, fnew, err, tmp):
    """One step of ``method`` from ``y`` (with ``f0 = f(y)``): fills ynew, fnew, err; returns nfev."""
    n = y.shape[0]
    if method == M_EULER:
        for i in range(n):
            ynew[i] = y[i] + h * f0[i]
            err[i] = 0.0
        _rhs(ynew, p, c, ws, fnew)
        return 1
    if method == M_RK4:
        for i in range(n):
            K[0, i] = f0[i]
            tmp[i] = y[i] + 0.5 * h * f0[i]
        _rhs(tmp, p, c, ws, K[1])
        for i in range(n):
            tmp[i] = y[i] + 0.5 * h * K[1, i]
        _rhs(tmp, p, c, ws, K[2])
        for i in range(n):
            tmp[i] = y[i] + h * K[2, i]
        _rhs(tmp, p, c, ws, K[3])
        for i in range(n):
            ynew[i] = y[i] + h * (K[0, i] + 2.0 * K[1, i] + 2.0 * K[2, i] + K[3, i]) / 6.0
            err[i] = 0.0
        _rhs(ynew, p, c, ws, fnew)
        return 4
    # Dormand-Prince 5(4), first same as last
    for i in range(n):
        K[0, i] = f0[i]
    for s in range(1, 6):
        for i in range(n):
            acc = 0.0
            for j in range(s):
                acc += DP_A[s, j] * K[j, i]
            tmp[i] = y[i] + h * acc
        _rhs(tmp, p, c, ws, K[s])
    for i in range(n):
        acc = 0.0
        for j in range(6):
            acc += DP_B[j] * K[j, i]
        ynew[i] = y[i] + h * acc
    _rhs(ynew, p, c, ws, fnew)
    for i in range(n):
        K[6, i] = fnew[i]
        acc = 0.0
        for j in range(7):
            acc += DP_E[j] * K[j, i]
        err[i] = h * acc
    return 6


def old_interp(method, y, ynew, f0, fnew, K, h, theta, out):
    """Dense output at ``t + theta*h`` of the last step (0 <= theta <= 1).

    Dormand-Prince: its fourth-order continuous extension; Euler and RK4: the cubic Hermite
    interpolant of (y, f0) and (ynew, fnew), exact at both ends.
    """
    n = y.shape[0]
    if method == M_DOPRI5:
        b = np.zeros(7)
        for s in range(7):
            acc = 0.0
            pw = theta
            for k in range(4):
                acc += DP_P[s, k] * pw
                pw *= theta
            b[s] = acc
        for i in range(n):
            acc = 0.0
            for s in range(7):
                acc += b[s] * K[s, i]
            out[i] = y[i] + h * acc
        return
    if theta >= 1.0:
        for i in range(n):
            out[i] = ynew[i]
        return
    t2 = theta * theta
    t3 = t2 * theta
    h00 = 2.0 * t3 - 3.0 * t2 + 1.0
    h10 = t3 - 2.0 * t2 + theta
    h01 = -2.0 * t3 + 3.0 * t2
    h11 = t3 - t2
    for i in range(n):
        out[i] = h00 * y[i] + h10 * h * f0[i] + h01 * ynew[i] + h11 * h * fnew[i]


def _field(y: np.ndarray) -> np.ndarray:
    """A nonlinear 3-D field with no special structure."""
    return np.array([np.sin(y[1]) - 0.3 * y[0] ** 3, y[0] * y[2] - np.tanh(y[1]), -0.5 * y[2] + y[0] * y[1]])


def _rhs(y, p, c, ws, out):
    out[:] = _field(y)


def _generated() -> dict:
    """The generated ``_step``/``_interp`` run as plain Python with ``_rhs`` bound as ``rhs``."""
    ns = {"np": np, "math": math, "jit": lambda f: f, "rhs": _rhs}
    exec(stepper_source(), ns)  # the package's own generated text, no user input
    ns["_hermite"] = lambda y, ynew, f0, fnew, h, theta, out: out.__setitem__(
        slice(None), hermite(y, ynew, f0, fnew, h, theta)
    )
    return ns


def _buffers(n: int) -> dict:
    return {k: np.zeros(n) for k in ("ynew", "fnew", "err", "tmp")} | {"K": np.zeros((7, n))}


STATES = [np.array([0.3, -1.2, 0.7]), np.array([1e-3, 2.5, -4.0]), np.array([-0.9, 0.05, 1e2])]


@pytest.mark.parametrize("name", ["euler", "rk4", "dopri5"])
def test_generated_step_and_dense_output_match_the_hand_written_ones(name: str) -> None:
    gen = _generated()
    code = STEPPERS[name].code
    for y in STATES:
        for h in (0.01, 0.3):
            f0 = _field(y)
            a, b = _buffers(3), _buffers(3)
            na = old_step(code, y, h, f0, None, None, None, a["K"], a["ynew"], a["fnew"], a["err"], a["tmp"])
            nb = gen["_step"](code, y, h, f0, None, None, None, b["K"], b["ynew"], b["fnew"], b["err"], b["tmp"])
            assert na == nb == STEPPERS[name].rhs_per_step
            for k in ("ynew", "fnew", "err"):
                np.testing.assert_allclose(b[k], a[k], rtol=1e-13, atol=1e-300)
                assert np.array_equal(b[k], a[k]), (name, k)  # in fact bit for bit
            for theta in (0.0, 0.25, 0.5, 0.9, 1.0):
                oa, ob = np.zeros(3), np.zeros(3)
                old_interp(code, y, a["ynew"], f0, a["fnew"], a["K"], h, theta, oa)
                gen["_interp"](code, y, b["ynew"], f0, b["fnew"], b["K"], h, theta, ob)
                assert np.array_equal(oa, ob), (name, theta)
            # the array step (numpy, torch) does the same arithmetic
            r = explicit_step(TABLEAUX[name], _field, y, h, f0)
            assert np.array_equal(r.y_new, a["ynew"])
            if TABLEAUX[name].adaptive:
                assert np.array_equal(r.err, a["err"]) and np.array_equal(r.f_new, a["fnew"])


# ---------------------------------------------------------------------------------------
# (2) trajectories recorded with the hand-written loop
# ---------------------------------------------------------------------------------------

QUARTIC = {"S": 1.0, "Q": 1.0}
CASES = {
    "quartic_gradient_euler": dict(
        potential="quartic", flow="gradient", x0=[0.8], eta=0.5, steps=4.0, constants=QUARTIC, method="euler", dt=0.1
    ),
    "quartic_gradient_rk4": dict(
        potential="quartic", flow="gradient", x0=[0.8], eta=0.5, steps=4.0, constants=QUARTIC, method="rk4", dt=0.3
    ),
    "quartic_gradient_dopri5": dict(
        potential="quartic",
        flow="gradient",
        x0=[0.8],
        eta=0.5,
        steps=6.0,
        constants=QUARTIC,
        method="dopri5",
        steady_state=False,
        rtol=1e-7,
        atol=1e-10,
    ),
    "selfstab_central_dopri5_steady": dict(potential="selfstab", flow="central", x0=[0.2, 1.5], eta=0.45, steps=10000),
    "canonical_rod_dopri5": dict(
        potential="canonical", flow="rod", x0=[0.1414, 3.0], eta=0.5, steps=300, constants={"c": 0.01}
    ),
    "canonical_rod_rk4": dict(
        potential="canonical",
        flow="rod",
        x0=[0.1414, 3.0],
        eta=0.5,
        steps=300,
        constants={"c": 0.01},
        method="rk4",
        dt=0.25,
    ),
    "selfstab_stable_dopri5": dict(potential="selfstab", flow="stable", x0=[0.01, 1.5], eta=0.45, steps=100),
    "selfstab_stable_rk4": dict(
        potential="selfstab", flow="stable", x0=[0.01, 1.5], eta=0.45, steps=100, method="rk4", dt=0.25
    ),
}

# recorded before the steppers were generated from tableaux (9 output times of each run)
REFERENCE = {
    "quartic_gradient_euler": {
        "status": "completed",
        "t": [0.0, 1.0, 2.0, 3.0, 4.0],
        "y": [[0.8], [0.6314813367663739], [0.4423423622148613], [0.28459398140783004], [0.17536296896707168]],
        "y_final": [0.17536296896707168],
        "t_final": 4.0,
        "events": [],
        "work": {"rhs": 41, "steps": 40, "rejected": 0},
        "steady_from": None,
    },
    "quartic_gradient_rk4": {
        "status": "completed",
        "t": [0.0, 1.0, 2.0, 3.0, 4.0],
        "y": [[0.8], [0.6288158358604911], [0.4403837160350756], [0.2851562278847428], [0.17758033820232605]],
        "y_final": [0.17758033820232605],
        "t_final": 4.0,
        "events": [],
        "work": {"rhs": 57, "steps": 14, "rejected": 0},
        "steady_from": None,
    },
    "quartic_gradient_dopri5": {
        "status": "completed",
        "t": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "y": [
            [0.8],
            [0.6288147056232398],
            [0.4403814802520287],
            [0.2851548259068623],
            [0.17757910560435283],
            [0.1087969860466408],
            [0.0662369753351335],
        ],
        "y_final": [0.0662369753351335],
        "t_final": 6.0,
        "events": [],
        "work": {"rhs": 121, "steps": 18, "rejected": 2},
        "steady_from": None,
    },
    "selfstab_central_dopri5_steady": {
        "status": "completed",
        "t": [0.0, 1250.0, 2500.0, 3750.0, 5000.0, 6250.0, 7500.0, 8750.0, 10000.0],
        "y": [
            [0.2, 1.5],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
            [-3.0292258760486853e-27, 1.8559214542766742],
        ],
        "y_final": [-3.0292258760486853e-27, 1.8559214542766742],
        "t_final": 10000.0,
        "events": [[1.5509092206500028, "enter"]],
        "work": {"rhs": 1143, "steps": 181, "rejected": 6},
        "steady_from": 35.328598042286316,
    },
    "canonical_rod_rk4": {
        "status": "completed",
        "t": [0.5, 37.5, 74.5, 112.5, 149.5, 186.5, 224.5, 261.5, 299.5],
        "y": [
            [
                1.2141184879482687e-08,
                3.000001509371081,
                0.019993971319619535,
                -3.9267722978644664e-08,
                -3.9267722978644664e-08,
                2.0986671103695175e-13,
            ],
            [
                1.2068918089305909e-17,
                3.0000093844932305,
                0.020005430873256066,
                -2.8791468776367805e-40,
                -2.8791468776367805e-40,
                1.6203145175616356e-45,
            ],
            [
                1.2068918089305909e-17,
                2.9999822543672487,
                0.019996632402316427,
                -2.222894883017246e-72,
                -2.222894883017246e-72,
                1.2509917010287027e-77,
            ],
            [
                1.2068918089305909e-17,
                3.0000211721548693,
                0.02000082078769878,
                -2.3263380182489478e-105,
                -2.3263380182489478e-105,
                1.3092070060761443e-110,
            ],
            [
                1.2068918089305909e-17,
                2.9999802255770742,
                0.020002291893817015,
                -1.7960892919706147e-137,
                -1.7960892919706147e-137,
                1.0107957941366716e-142,
            ],
            [
                1.2068918089305909e-17,
                3.0000130423619487,
                0.019995212242853493,
                -1.38670163984153e-169,
                -1.38670163984153e-169,
                7.804022837508131e-175,
            ],
            [
                1.2068918089305909e-17,
                2.9999957136162547,
                0.02000592213002565,
                -1.4512322509613144e-202,
                -1.4512322509613144e-202,
                8.167185574486431e-208,
            ],
            [
                1.2068918089305909e-17,
                2.9999932099396798,
                0.01999426939071901,
                -1.1204488280151117e-234,
                -1.1204488280151117e-234,
                6.305616140389371e-240,
            ],
            [
                1.2068918089305909e-17,
                3.000014999159011,
                0.020004305717689738,
                -1.1725892780751002e-267,
                -1.1725892780751002e-267,
                6.599050035133023e-273,
            ],
        ],
        "y_final": [
            1.2068918089305909e-17,
            3.000014999159011,
            0.020004305717689738,
            -1.1725892780751002e-267,
            -1.1725892780751002e-267,
            6.599050035133023e-273,
        ],
        "t_final": 299.5,
        "events": [
            [43.92898733147729, "leave"],
            [88.35786728734728, "enter"],
            [132.7866465051411, "leave"],
            [177.21552646265323, "enter"],
            [221.64430567900217, "leave"],
            [266.07318563562154, "enter"],
        ],
        "work": {"rhs": 4793, "steps": 1198, "rejected": 0},
        "steady_from": None,
    },
    "canonical_rod_dopri5": {
        "status": "completed",
        "t": [0.5, 37.5, 74.5, 112.5, 149.5, 186.5, 224.5, 261.5, 299.5],
        "y": [
            [
                1.2407424535558133e-08,
                3.0000015093710823,
                0.019993971319619535,
                -3.9237621383594823e-08,
                -3.9237621383594823e-08,
                2.0970069246198687e-13,
            ],
            [
                -7.087244229681647e-13,
                3.0000093844931786,
                0.020005430873258446,
                3.553460940347897e-15,
                3.553460940347897e-15,
                8.813625051724681e-29,
            ],
            [
                -2.4835849588840093e-14,
                2.999982254367325,
                0.01999663240229754,
                1.2445831375240698e-16,
                1.2445831375240698e-16,
                -2.302046623936309e-26,
            ],
            [
                5.966566425445578e-13,
                3.0000211721548133,
                0.020000820787738294,
                -2.9909718410408517e-15,
                -2.9909718410408517e-15,
                -2.0380710649020055e-26,
            ],
            [
                3.2742455481973044e-13,
                2.999980225577043,
                0.020002291893761084,
                -1.6413631994253177e-15,
                -1.6413631994253177e-15,
                -1.6163705255293903e-26,
            ],
            [
                -1.237574547161038e-12,
                3.000013042362102,
                0.01999521224290733,
                6.201821819691029e-15,
                6.201821819691029e-15,
                8.931481579974373e-27,
            ],
            [
                2.844125988889162e-13,
                2.9999957136159847,
                0.020005922129991263,
                -1.4260521322917095e-15,
                -1.4260521322917095e-15,
                -4.2454890199882055e-26,
            ],
            [
                3.268663554969588e-13,
                2.9999932099400204,
                0.01999426939070957,
                -1.6379743567299405e-15,
                -1.6379743567299405e-15,
                -1.2497738765520547e-26,
            ],
            [
                -4.204278138777423e-13,
                3.0000149991586778,
                0.02000430571774705,
                2.1078734285414793e-15,
                2.1078734285414793e-15,
                3.467676566918144e-27,
            ],
        ],
        "y_final": [
            -4.204278138777423e-13,
            3.0000149991586778,
            0.02000430571774705,
            2.1078734285414793e-15,
            2.1078734285414793e-15,
            3.467676566918144e-27,
        ],
        "t_final": 299.5,
        "events": [
            [43.92898729193188, "leave"],
            [88.3578672096726, "enter"],
            [132.78664639301488, "leave"],
            [177.21552631190096, "enter"],
            [221.64430549271862, "leave"],
            [266.07318541238476, "enter"],
        ],
        "work": {"rhs": 2677, "steps": 371, "rejected": 56},
        "steady_from": None,
    },
    "selfstab_stable_dopri5": {
        "status": "stopped",
        "t": [0.0, 1.0, 2.0],
        "y": [[0.01, 1.5], [0.0020201447752358275, 1.6811700685618411], [0.0003279638644303926, 1.7967044390538367]],
        "y_final": [7.355066960985259e-05, 1.8559214484470081],
        "t_final": 2.7651163448104255,
        "events": [[2.7651163448104255, "enter"]],
        "work": {"rhs": 399, "steps": 65, "rejected": 0},
        "steady_from": None,
    },
    "selfstab_stable_rk4": {
        "status": "stopped",
        "t": [0.0, 1.0, 2.0],
        "y": [[0.01, 1.5], [0.002021111413185164, 1.681169854105529], [0.00032843217688104565, 1.7967041671857078]],
        "y_final": [7.373177117890241e-05, 1.8559214484182645],
        "t_final": 2.7651203743778323,
        "events": [[2.7651203743778323, "enter"]],
        "work": {"rhs": 49, "steps": 12, "rejected": 0},
        "steady_from": None,
    },
}


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= 1e-13 * np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize("case", list(CASES))
def test_loop_reproduces_recorded_trajectories(case: str) -> None:
    spec = dict(CASES[case])
    ref = REFERENCE[case]
    r = solve_flow(spec.pop("potential"), spec.pop("flow"), **spec)
    tr = r.trajectory
    idx = np.unique(np.linspace(0, len(tr.t) - 1, min(9, len(tr.t))).astype(int))
    assert tr.status == ref["status"] and tr.work == ref["work"]
    assert _close(tr.t[idx], ref["t"]) and _close(tr.y[idx], ref["y"]), case
    assert _close(tr.y_final, ref["y_final"]) and _close(tr.t_final, ref["t_final"])
    assert [k for _, k in tr.events] == [k for _, k in ref["events"]]
    assert _close([t for t, _ in tr.events], [t for t, _ in ref["events"]])
    assert (tr.steady_from is None) == (ref["steady_from"] is None)
    if ref["steady_from"] is not None:
        assert _close(tr.steady_from, ref["steady_from"])
