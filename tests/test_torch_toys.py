"""Every library toy on the torch path equals its compiled sympy kernels (value, gradient, Hessian, third)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from eostheory._errors import EosInputError  # noqa: E402
from eostheory.compile import compile_potential  # noqa: E402
from eostheory.symbolic.library import TOYS, toy  # noqa: E402
from eostheory.symbolic.potential import Potential  # noqa: E402
from eostheory.torch import potential_objective, torch_function  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("name", list(TOYS))
def test_toy_on_torch_equals_compiled_kernels(name: str) -> None:
    pot = toy(name)
    cp = compile_potential(pot)
    c = np.array(pot.constant_values(None), dtype=np.float64)
    rng = np.random.default_rng([ord(ch) for ch in name])
    for _ in range(3):
        w = rng.uniform(0.2, 0.9, pot.dim) * rng.choice([-1.0, 1.0], pot.dim)
        obj = potential_objective(pot, w)
        th = obj.theta0
        op = obj.hessian(th)
        scale = max(1.0, float(np.max(np.abs(cp.hess(w, c)))))
        # float64 on both sides, the same formula evaluated in another order: rounding only
        assert float(obj.loss(th)) == pytest.approx(float(cp.loss(w, c)), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(op.gradient.numpy(), cp.grad(w, c), rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(op.dense().numpy(), cp.hess(w, c), rtol=0, atol=1e-12 * scale)
        u = rng.standard_normal(pot.dim)
        ref = np.asarray(cp.third(w, u, c))
        got = op.third(torch.as_tensor(u)).numpy()
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11 * max(1.0, float(np.max(np.abs(ref)))))


def test_constants_override_and_refusals() -> None:
    f = torch_function("quartic", {"S": 3.0, "Q": 2.0})
    w = torch.tensor([0.5], dtype=torch.float64)
    assert float(f(w)) == pytest.approx(3.0 * 0.25 / 2 - 2.0 * 0.0625 / 4, rel=1e-15)
    with pytest.raises(EosInputError, match="2 parameters"):
        torch_function("selfstab")(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(EosInputError, match="has no value"):
        torch_function(Potential("S*w**2/2", params=["w"], constants={"S": None}))
    with pytest.raises(EosInputError, match="Potential or a toy name"):
        torch_function(3.0)  # type: ignore[arg-type]


def test_one_data_set_on_both_paths() -> None:
    """A torch data set goes to the NumPy path and back unchanged (same rows, float64)."""
    from eostheory.symbolic.data import Dataset as NumpyDataset
    from eostheory.torch import get_dataset

    ds = get_dataset("chebyshev", n=8, degree=2)
    nd = ds.to_numpy()
    assert isinstance(nd, NumpyDataset) and nd.n == 8 and nd.X.dtype == np.float64
    np.testing.assert_array_equal(nd.X, ds.x.numpy())
    back = get_dataset(nd)
    np.testing.assert_array_equal(back.x.numpy(), ds.x.numpy())
    np.testing.assert_array_equal(back.y.numpy(), ds.y.numpy())
