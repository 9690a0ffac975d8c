"""Preconditioned sharpness lambda_max(P^-1 H) of Adam and RMSProp: the operator, the measure, its threshold."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
import eostheory.torch._measures as meas  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.optimizers import get_optimizer  # noqa: E402

pytestmark = pytest.mark.torch

ADAM = {"optimizer": "adam", "eta": 1e-3, "hyperparameters": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}}
RMSPROP = {"optimizer": "rmsprop", "eta": 1e-3, "hyperparameters": {"alpha": 0.99, "eps": 1e-8}}


@pytest.fixture(scope="module")
def data():
    return et.digits(n=40)


def _dense_reference(H: np.ndarray, p: np.ndarray) -> float:
    """lambda_max of the non-symmetric P^-1 H, by numpy's general eigensolver (independent of the similarity)."""
    ev = np.linalg.eigvals(H / p[:, None])
    assert np.abs(ev.imag).max() < 1e-8 * np.abs(ev.real).max()
    return float(ev.real.max())


def test_matrix_free_equals_the_dense_reference(data):
    obj = et.NetworkObjective(et.build_model("mlp", data, seed=0, widths=[4]), data, "mse", dtype="float64")
    op = obj.hessian(obj.theta0)
    p = torch.exp(torch.randn(obj.n_params, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    got = meas.preconditioned_sharpness(op, p, tol=1e-12)
    ref = _dense_reference(op.dense().numpy(), p.numpy())
    assert got.values[0] == pytest.approx(ref, rel=1e-8)
    # P = 1 is the plain sharpness
    assert meas.preconditioned_sharpness(op, torch.ones_like(p), tol=1e-12).values[0] == pytest.approx(
        float(np.linalg.eigvalsh(op.dense().numpy()).max()), rel=1e-8
    )


@pytest.mark.parametrize("spec", [ADAM, RMSPROP], ids=["adam", "rmsprop"])
def test_preconditioner_is_the_one_of_the_update(data, spec):
    """w_new = w - eta * u / P(new state): u = m for Adam, g for RMSProp."""
    opt = get_optimizer(spec["optimizer"])
    hyper = {
        h.name: v
        for h, v in zip(
            opt.hyperparameters, opt.hyperparameter_values(eta=spec["eta"], **spec["hyperparameters"]), strict=True
        )
    }
    step = et.TorchStep(opt.rule, hyper)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(30, generator=gen, dtype=torch.float64)
    st = step.init_state(w)
    assert meas.preconditioner(st, hyper) is None  # no step yet
    for _ in range(3):
        g = torch.randn(30, generator=gen, dtype=torch.float64)
        w_new, st = step(w, g, st)
        u = st["m"] if "m" in st else g
        torch.testing.assert_close(w_new, w - spec["eta"] * u / meas.preconditioner(st, hyper), rtol=1e-13, atol=1e-15)
        w = w_new


@pytest.mark.parametrize(
    "spec, threshold",
    [(ADAM, 2 * 1.9 / (1e-3 * 0.1)), (RMSPROP, 2 / 1e-3)],
    ids=["adam-38/eta", "rmsprop-2/eta"],
)
def test_tracked_in_a_run_equals_the_dense_reference(data, monkeypatch, spec, threshold):
    monkeypatch.setattr(meas, "PRECOND_TOL", 1e-12)

    @et.measure("dense-precond-ref", needs=["hessian"], replace=True)
    def ref(state):
        p = meas.preconditioner(state.optimizer_state, state.hyperparameters)
        return None if p is None else _dense_reference(state.hessian.dense().numpy(), p.numpy())

    try:
        r = et.train(
            "mlp",
            data,
            steps=6,
            track=["preconditioned-sharpness", ref],
            track_every=2,
            device="cpu",
            dtype="float64",
            model_kwargs={"widths": [4]},
            **spec,
        )
    finally:
        et.MEASURES.pop("dense-precond-ref", None)
    got, want = r.series["preconditioned_sharpness"], r.series["dense_precond_ref"]
    assert got[0] is None and want[0] is None  # step 0: no preconditioner yet
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-8)
    assert r.summary()["measures"]["preconditioned-sharpness"]["thresholds"] == [pytest.approx(threshold)]


def test_not_an_adaptive_optimizer(data):
    r = et.train(
        "mlp",
        data,
        eta=0.1,
        steps=2,
        track="preconditioned-sharpness",
        track_every=1,
        device="cpu",
        model_kwargs={"widths": [4]},
    )
    assert r.series["preconditioned_sharpness"] == [None, None, None]
    assert r.summary()["measures"]["preconditioned-sharpness"]["thresholds"] == []


@pytest.mark.parametrize("p, match", [(torch.ones(3), "entries"), (None, "positive")])
def test_bad_preconditioner(data, p, match):
    obj = et.NetworkObjective(et.build_model("mlp", data, seed=0, widths=[4]), data, "mse", dtype="float64")
    if match == "positive":
        p = -torch.ones(obj.n_params, dtype=torch.float64)
    with pytest.raises(EosInputError, match=match):
        meas.preconditioned_sharpness(obj.hessian(obj.theta0), p)
