"""Compiled kernels: the chain of references sympy evalf = lambdified numpy = numba = Python,
and the hash-keyed on-disk cache that can never serve stale code."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import eostheory as eos
from eostheory import CompilationError, Potential
from eostheory.compile import _codegen, compile_potential
from eostheory.compile._cache import load_source_module
from eostheory.compile._kernels import _MEMO, potential_source

TOYS_UNDER_TEST = ["selfstab", "quartic", "canonical", "xy-quartic", "rosenbrock", "deep-scalar", "logistic-1d"]


def _evalf(expr: sp.Expr, subs: dict) -> float:
    return float(sp.N(expr.subs(subs), 30))


@pytest.mark.parametrize("name", TOYS_UNDER_TEST)
def test_chain_of_references(name: str) -> None:
    pot = eos.toy(name)
    cp = compile_potential(pot)
    c = cp.constants()
    consts = dict(zip(pot.constant_symbols, c, strict=True))
    rng = np.random.default_rng(0)
    grad_np = sp.lambdify(pot.params, pot.gradient().subs(consts), "numpy")
    hess_np = sp.lambdify(pot.params, pot.hessian().subs(consts), "numpy")
    for _ in range(3):
        w = rng.uniform(-1.5, 1.5, pot.dim)
        subs = {**consts, **dict(zip(pot.params, w, strict=True))}
        ref_loss = _evalf(pot.expr, subs)
        ref_grad = np.array([_evalf(e, subs) for e in pot.gradient()])
        ref_hess = np.array([[_evalf(e, subs) for e in row] for row in pot.hessian().tolist()])
        scale = 1.0 + np.abs(ref_hess).max()
        # lambdified numpy against the 30-digit reference
        np.testing.assert_allclose(np.array(grad_np(*w), dtype=float).ravel(), ref_grad, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(np.array(hess_np(*w), dtype=float), ref_hess, rtol=1e-12, atol=1e-12 * scale)
        # numba kernels against the same reference (double precision: a few ulps of the largest term)
        assert cp.loss(w, c) == pytest.approx(ref_loss, rel=1e-12, abs=1e-12 * scale)
        np.testing.assert_allclose(cp.grad(w, c), ref_grad, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(cp.hess(w, c), ref_hess, rtol=1e-12, atol=1e-12 * scale)
        assert cp.sharpness(w, c) == pytest.approx(np.linalg.eigvalsh(ref_hess)[-1], rel=1e-10, abs=1e-10 * scale)
        u = rng.normal(size=pot.dim)
        ref_third = np.array(
            [_evalf(e, {**subs, **dict(zip(pot.direction_symbols, u, strict=True))}) for e in pot.third_contraction()]
        )
        np.testing.assert_allclose(cp.third(w, u, c), ref_third, rtol=1e-11, atol=1e-11 * scale)


def test_python_fallback_matches_numba() -> None:
    pot = eos.toy("selfstab")
    nb = compile_potential(pot, "numba")
    py = compile_potential(pot, "python")
    assert py.module.__name__ != nb.module.__name__  # the backend is part of the hashed source
    w = np.array([0.3, -1.2])
    c = nb.constants()
    assert py.loss(w, c) == nb.loss(w, c)
    np.testing.assert_array_equal(py.grad(w, c), nb.grad(w, c))
    np.testing.assert_array_equal(py.hess(w, c), nb.hess(w, c))


def test_env_switch_selects_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOSTHEORY_DISABLE_NUMBA", "1")
    assert _codegen.backend() == "python"
    r = eos.run("quartic", "gd", x0=[0.1], steps=500, eta=2.5)
    assert r.status == "oscillating"
    assert abs(r.final["params"][0]) == pytest.approx(np.sqrt(1 - 2 / 2.5), abs=1e-8)
    monkeypatch.delenv("EOSTHEORY_DISABLE_NUMBA")
    assert _codegen.backend() == "numba"


def test_cache_never_stale(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A changed expression gets a new module; same expression reuses the file on disk."""
    monkeypatch.setenv("EOSTHEORY_CACHE_DIR", str(tmp_path))
    a = Potential("k*x**2/2 + x**4/4", params=["x"], constants={"k": 1.0})
    b = Potential("k*x**2/2 + x**4/5", params=["x"], constants={"k": 1.0})  # one coefficient changed
    ca = compile_potential(a, "python")
    cb = compile_potential(b, "python")
    assert ca.module.__name__ != cb.module.__name__
    assert ca.module.__file__.startswith(str(tmp_path))
    w, c = np.array([1.0]), np.array([1.0])
    assert ca.loss(w, c) == pytest.approx(0.75)
    assert cb.loss(w, c) == pytest.approx(0.7)
    files = sorted(p.name for p in tmp_path.glob("eos_pot_*.py"))
    assert len(files) == 2
    # same source again: same file, no new module written
    src = potential_source(a, "python")
    assert load_source_module("eos_pot", src) is ca.module
    assert sorted(p.name for p in tmp_path.glob("eos_pot_*.py")) == files


def test_generator_version_is_part_of_the_key(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EOSTHEORY_CACHE_DIR", str(tmp_path))
    pot = Potential("x**2 + 3*x", params=["x"])
    src1 = potential_source(pot, "python")
    monkeypatch.setattr(_codegen, "GENERATOR_VERSION", "test-next")
    src2 = potential_source(pot, "python")
    assert src1 != src2
    m1 = load_source_module("eos_pot", src1)
    m2 = load_source_module("eos_pot", src2)
    assert m1.__name__ != m2.__name__


def test_numba_cache_survives_a_new_process(tmp_path) -> None:
    """Second process loads the compiled kernels from disk (no recompilation needed)."""
    import subprocess
    import sys

    code = (
        "import time, eostheory as eos;"
        "t=time.perf_counter(); r=eos.run('quartic','gd',x0=[0.1],steps=100,eta=2.5);"
        "print(time.perf_counter()-t)"
    )
    env = {"EOSTHEORY_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = float(
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    )
    second = float(
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    )
    assert list(tmp_path.glob("__pycache__/*.nbi")), "numba wrote no cache index"
    assert second < first  # compile happens once; the second run only loads


def test_uncompilable_function_is_a_clear_error() -> None:
    x = sp.Symbol("x")
    pot = Potential(sp.Function("f")(x) ** 2 + x**2, params=[x])
    _MEMO.clear()
    with pytest.raises(CompilationError, match="cannot compile"):
        compile_potential(pot)
