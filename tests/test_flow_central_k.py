"""The central flow with many tracked eigenvalues (k up to the parameter count).

The test problem has two Hessian eigenvalues that reach the edge together and stay there:

    L = x^T A(y) x / 2 + sum_i d_i (y_i - y*_i)^2 / 2 + c z^2 / 2,   d = (1, 1.1, 0.9),
    A(y) = [[1 + y1^2, r y3], [r y3, 1 + y2^2]],   y* = (2, 2.2, 0.05).

Both eigenvalues of ``A`` rise as ``y1, y2`` descend towards ``y*``.  The constrained minimum
of the ``y`` part over ``lambda_max(A(y)) <= 2/eta`` is the corner ``A = (2/eta) I``
(``y1 = y2 = sqrt(2/eta - 1)``, ``y3 = 0``): its KKT multiplier ``X`` is a full 2 x 2 PSD
matrix whose off-diagonal entry balances the pull of ``y3`` towards 0.05, so the
complementarity problem is genuinely matrix-valued (not two scalar ones).  With ``k = 5`` the
flow tracks five of the six eigenvalues, three of which never bind.  (The weights ``d`` keep
the ``y`` eigenvalues distinct, so the block boundary at k = 5 is never degenerate.)

Reference: a primal log-barrier interior-point method written here in plain NumPy (Newton on
``x.Bx/2 + a.x - mu log det X`` for mu down to 1e-13), independent of the package's
accelerated-projected-gradient-plus-face-solve in ``eostheory.flows._linalg.sdcp_solve``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

import eostheory as eos
from eostheory.compile._kernels import compile_potential
from eostheory.flows import FLOWS, solve_flow
from eostheory.flows._linalg import svec_pairs
from eostheory.flows._oracle import ToyOracle

FORMULA = (
    "((1 + y1**2)*x1**2 + 2*r*y3*x1*x2 + (1 + y2**2)*x2**2)/2"
    " + ((y1 - 2)**2 + 1.1*(y2 - 2.2)**2 + 0.9*(y3 - a)**2)/2 + c*z**2/2"
)
ETA = 0.5  # 2/eta = 4: the corner is y1 = y2 = sqrt(3)
X0 = [0.05, 0.03, 0.5, 0.6, 0.0, 0.3]


@pytest.fixture(scope="module")
def pot() -> eos.Potential:
    return eos.Potential(FORMULA, params=("x1", "x2", "y1", "y2", "y3", "z"), constants={"r": 1.0, "c": 1.5, "a": 0.05})


def _smat(x: np.ndarray, k: int) -> np.ndarray:
    I, J, wt = svec_pairs(k)
    X = np.zeros((k, k))
    X[I, J] = x / wt
    X[J, I] = x / wt
    return X


def _svec(X: np.ndarray) -> np.ndarray:
    I, J, wt = svec_pairs(X.shape[0])
    return X[I, J] * wt


def sdcp_barrier(a: np.ndarray, B: np.ndarray, k: int) -> np.ndarray:
    r"""Dense reference for :math:`\min_{X\succeq0} \tfrac12 x^\top Bx + a^\top x` (svec ``x``).

    Newton's method on the barrier problem :math:`f_\mu = \tfrac12 x^\top Bx + a^\top x -
    \mu\log\det X` with a feasibility-keeping backtracking line search, for
    :math:`\mu = 1, 0.2, 0.04, \dots` down to 1e-13.  The log-det Hessian is
    :math:`\mathrm{svec}(X^{-1} E X^{-1})` applied to the svec basis :math:`E`.  The central
    path's distance to the solution is :math:`O(\mu)` under strict complementarity; the
    barrier's answer is then refined on the rank it found, in the factored form
    :math:`X = RR^\top` (BFGS on :math:`R`, gradient :math:`2ZR`).
    """
    m = len(a)
    x = _svec(np.eye(k))
    basis = [_smat(e, k) for e in np.eye(m)]
    mu = 1.0
    while mu > 1e-13:
        for _ in range(60):
            X = _smat(x, k)
            Xi = np.linalg.inv(X)
            g = B @ x + a - mu * _svec(Xi)
            H = B + mu * np.column_stack([_svec(Xi @ E @ Xi) for E in basis])
            d = -np.linalg.solve(H, g)
            dec = -g @ d
            t = 1.0
            while np.linalg.eigvalsh(_smat(x + t * d, k))[0] <= 0:
                t *= 0.5
            fx = 0.5 * x @ B @ x + a @ x - mu * np.linalg.slogdet(X)[1]
            while True:
                xn = x + t * d
                fn = 0.5 * xn @ B @ xn + a @ xn - mu * np.linalg.slogdet(_smat(xn, k))[1]
                if fn <= fx - 0.25 * t * dec or t < 1e-12:
                    break
                t *= 0.5
            x = xn
            if dec < 1e-26:
                break
        mu *= 0.2
    # the barrier's x(mu) is O(mu) from the solution, and Newton loses accuracy as X becomes
    # singular; finish with the factored problem X = R R^T on the rank the barrier found
    # (Burer-Monteiro: its gradient is 2 Z R, zero exactly at a KKT point)
    lam, V = np.linalg.eigh(_smat(x, k))
    keep = lam > 1e-6 * lam[-1]
    R0 = V[:, keep] * np.sqrt(lam[keep])
    r = R0.shape[1]

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        R = theta.reshape(k, r)
        xs = _svec(R @ R.T)
        Z = _smat(a + B @ xs, k)
        return 0.5 * xs @ B @ xs + a @ xs, (2.0 * Z @ R).ravel()

    res = minimize(f, R0.ravel(), jac=True, method="BFGS", options={"gtol": 1e-14, "maxiter": 10_000})
    R = res.x.reshape(k, r)
    return _svec(R @ R.T)


def _sdcp_data(o: ToyOracle, w: np.ndarray, k: int, tau: float) -> tuple[np.ndarray, ...]:
    """The central flow's complementarity problem at ``w``, built from the field's own rows.

    ``a_q = eta D_q . grad L + [i = j] (2/eta - lambda_i)/tau`` and ``B = (eta/2) D D^T``, with
    ``D`` the svec-weighted rows ``grad^3 L[u_i, u_j]`` (docs/flows-central.md).
    """
    field = FLOWS["central"]
    P = field.named(field.param_array(ETA, k=str(k), tau=tau))
    g, lam, D, x, _e = field.vector_field.core(o, w, P)
    I, J, _wt = svec_pairs(k)
    a = ETA * (D @ g) + np.where(I == J, (2 / ETA - lam[I]) / tau, 0.0)
    return a, 0.5 * ETA * (D @ D.T), x, lam


def _run(pot: eos.Potential, k: int, tau: float = 1.0) -> np.ndarray:
    r = solve_flow(pot, f"central:k={k}", x0=X0, eta=ETA, steps=100, method="rk4", dt=0.125, params={"tau": tau})
    assert r.status == "completed", r.message
    return np.asarray(r.center)


@pytest.fixture(scope="module")
def corner(pot: eos.Potential) -> np.ndarray:
    return _run(pot, 5)[-1]


@pytest.mark.slow
def test_flow_reaches_the_two_eigenvalue_corner(corner: np.ndarray, pot: eos.Potential) -> None:
    s3 = math.sqrt(2 / ETA - 1)
    assert np.allclose(corner[2:5], [s3, s3, 0.0], atol=1e-8)
    H = np.array(pot.hessian().subs({**dict(zip(pot.params, corner, strict=True)), **pot.constants}), float)
    lam = np.linalg.eigvalsh(H)
    assert np.allclose(lam[-2:], 2 / ETA, atol=1e-8)  # two eigenvalues held at the edge
    assert lam[-3] < 0.9 * 2 / ETA  # and the other tracked ones well inside


@pytest.mark.parametrize("where", ["corner", "approach"])
def test_k5_sdcp_matches_the_dense_reference(where: str, pot: eos.Potential) -> None:
    cp = compile_potential(pot)
    o = ToyOracle(cp, np.array(pot.constant_values(None)))
    s3 = math.sqrt(2 / ETA - 1)
    if where == "corner":
        w = np.array([1e-3, -1e-3, s3 - 1e-3, s3 + 2e-3, 1e-3, 0.01])  # by the corner: a binding, non-trivial X
    else:
        w = np.array([0.0, 0.0, 1.70, 1.72, 0.01, 0.1])  # both eigenvalues just below 2/eta, rising
    a, B, x, _lam = _sdcp_data(o, w, 5, 1.0)
    ref = sdcp_barrier(a, B, 5)
    Xr, Zr = _smat(ref, 5), _smat(a + B @ ref, 5)  # the reference is a KKT point to round-off
    assert np.linalg.eigvalsh(Xr)[0] > -1e-12 and np.linalg.eigvalsh(Zr)[0] > -1e-10
    assert abs(ref @ (a + B @ ref)) < 1e-10
    assert np.abs(x - ref).max() <= 1e-8 * max(1.0, np.abs(ref).max())
    # the test is not trivial: X has rank two, mostly on the top two eigenvectors, with a
    # coupling term between them.  Off the x = 0 plane (corner case) the tracked eigenvectors
    # below the edge carry a small weight too: what k = 5 adds over k = 2 (the matrix
    # relaxation couples them; see test_untracked_eigenvalues_change_only_the_transient)
    X = _smat(x, 5)
    ev = np.linalg.eigvalsh(X)
    assert ev[-2] > 0.1 * ev[-1] and abs(ev[:-2]).max() < 1e-10 * ev[-1]
    assert abs(X[3, 4]) > 0.1 * ev[-1]
    low = np.abs(X[:3]).max() / ev[-1]
    assert 1e-5 < low < 1e-2 if where == "corner" else low <= 1e-10


@pytest.mark.slow
def test_untracked_eigenvalues_change_only_the_transient(pot: eos.Potential) -> None:
    """k = 2 and k = 5 share the fixed point; with tau > 0 they differ in the transient.

    The relaxed constraint ``m/tau + dm/dt >= 0`` is a matrix inequality over the tracked
    block, so an off-diagonal rate between an edge eigenvector and one far below the edge
    tightens it (a Schur complement of size ``tau |dM_ij/dt|^2 / margin_j``).  The difference
    vanishes as tau -> 0 (about as tau^2: measured 7.8e-4 at tau = 1, 5.7e-5 at tau = 1/4).
    """
    gap = {}
    for tau in (1.0, 0.25):
        c2, c5 = _run(pot, 2, tau), _run(pot, 5, tau)
        assert np.abs(c2[-1] - c5[-1]).max() < 1e-12
        gap[tau] = np.abs(c2 - c5).max()
    assert 1e-4 < gap[1.0] < 2e-3
    assert gap[1.0] / gap[0.25] > 8  # at least 4^1.5: second order in tau


def test_k_above_the_parameter_count_is_refused(pot: eos.Potential) -> None:
    with pytest.raises(eos.EosInputError, match=r"k=7 eigenvalues needs at least 7 parameters; .* has 6"):
        solve_flow(pot, "central:k=7", x0=X0, eta=ETA, steps=5)
    with pytest.raises(eos.EosInputError, match=r"must lie in \[0, 64\]"):
        solve_flow(pot, "central:k=65", x0=X0, eta=ETA, steps=5)
    with pytest.raises(eos.EosInputError, match=r"track must lie in \(0, 1\]"):
        solve_flow(pot, "central:k=0:track=1.5", x0=X0, eta=ETA, steps=5)


# --- k = 0: every eigenvalue above a fraction of the threshold ------------------------------


@pytest.mark.slow
def test_auto_k_is_the_fixed_k_it_counts(pot: eos.Potential) -> None:
    """k = 0 with track = 0.5 tracks exactly the two x eigenvalues here: the k = 2 flow, bit for bit.

    With track = 0.9 the second eigenvalue joins at 3.6, where its relaxed constraint is
    already active (it rises faster than margin/tau): the flow jumps there and ends 1.2e-2 away
    from k = 2 over the way (same fixed point).  A fraction well below the edge avoids that.
    """
    c2 = _run(pot, 2)
    r0 = solve_flow(pot, "central:k=0", x0=X0, eta=ETA, steps=100, method="rk4", dt=0.125)
    assert np.array_equal(np.asarray(r0.center), c2)
    r9 = solve_flow(pot, "central:k=0:track=0.9", x0=X0, eta=ETA, steps=100, method="rk4", dt=0.125)
    late = np.abs(np.asarray(r9.center) - c2).max()
    assert 1e-3 < late < 5e-2 and np.abs(np.asarray(r9.center)[-1] - c2[-1]).max() < 1e-12


@pytest.mark.parametrize("eig_method", ["dense", "lanczos"])
def test_auto_k_on_the_network_oracle_is_the_toy_field(eig_method: str, pot: eos.Potential) -> None:
    """The k = 0 field through the torch oracle (growing, warm Lanczos) equals the toy field.

    States: far from the edge (one eigenvalue counted), with both x eigenvalues above
    track * 2/eta = 2 (two counted), and by the corner where they bind.
    """
    torch = pytest.importorskip("torch")
    from eostheory.torch._flow_oracle import EigenSource, NetworkOracle, WorkCounter
    from eostheory.torch._toys import potential_objective

    field = FLOWS["central"]
    P = field.named(field.param_array(ETA, k="0"))
    toy = ToyOracle(compile_potential(pot), np.array(pot.constant_values(None)))
    obj = potential_objective(pot, X0)
    cnt = WorkCounter(obj)
    net = NetworkOracle(obj, cnt, EigenSource(cnt, 0, eig_method, 1e-12))
    s3 = math.sqrt(2 / ETA - 1)
    states = [[0.05, 0.03, 0.5, 0.6, 0.0, 0.3], [0.02, -0.01, 1.2, 1.3, 0.02, 0.1], [1e-3, -1e-3, s3, s3, 1e-3, 0.01]]
    counts = []
    for w in states:
        ref = field.vector_field.rhs(toy, np.array(w), P)
        got = field.vector_field.rhs(net, torch.tensor(w, dtype=torch.float64), P)
        np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-9 * (1 + np.abs(ref).max()))
        counts.append(net.auto_k - 1)
    assert counts == [1, 2, 2]
