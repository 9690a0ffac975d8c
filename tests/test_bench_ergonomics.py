"""Ergonomics of the network bench: activations by name, the two MSE conventions, flat parameters,
the CPU thread default, progress bars, compile notices and the GPU suite's table."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eostheory.torch as et  # noqa: E402
from eostheory._errors import EosInputError  # noqa: E402
from eostheory.cli import main  # noqa: E402
from eostheory.compile import _notice  # noqa: E402
from eostheory.torch import _backend  # noqa: E402

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[1]


def _load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- 1. activations by name
def _sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


#: closed forms of the registry's functions, checked at a few points
CLOSED = {
    "tanh": math.tanh,
    "sigmoid": _sig,
    "silu": lambda z: z * _sig(z),
    "gelu": lambda z: 0.5 * z * (1 + math.erf(z / math.sqrt(2))),
    "softplus": lambda z: math.log1p(math.exp(z)),
    "mish": lambda z: z * math.tanh(math.log1p(math.exp(z))),
    "logsigmoid": lambda z: math.log(_sig(z)),
    "tanhshrink": lambda z: z - math.tanh(z),
    "identity": lambda z: z,
    "elu": lambda z: z if z > 0 else math.expm1(z),
    "celu": lambda z: z if z > 0 else math.expm1(z),
    "softsign": lambda z: z / (1 + abs(z)),
    "relu": lambda z: max(z, 0.0),
    "leaky-relu": lambda z: z if z > 0 else 0.01 * z,
    "relu6": lambda z: min(max(z, 0.0), 6.0),
    "hardtanh": lambda z: min(max(z, -1.0), 1.0),
    "hardswish": lambda z: z * min(max(z + 3, 0.0), 6.0) / 6,
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_each_activation_is_the_function_it_names(name: str) -> None:
    act = et.activation(name)
    zs = [-2.5, -0.7, 0.3, 1.9]
    got = act(torch.tensor(zs, dtype=torch.float64)).tolist()
    want = [CLOSED[name](z) for z in zs]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)  # float64, the same formulas


def _derivative(act, z: float, order: int) -> float:
    x = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    y = act(x)
    for _ in range(order):
        if not y.requires_grad:  # a polynomial piece: the higher derivatives are zero
            return 0.0
        (y,) = torch.autograd.grad(y, x, create_graph=True, allow_unused=True)
        if y is None:
            return 0.0
    return float(y.detach())


#: where each non-smooth activation has its kink (the derivative of order k+1 jumps there)
KINK = {"elu": 0.0, "celu": 0.0, "softsign": 0.0, "relu": 0.0, "leaky-relu": 0.0, "selu": 0.0, "relu6": 0.0}
KINK |= {"hardtanh": 1.0, "hardswish": -3.0}


@pytest.mark.parametrize("name", et.ACTIVATIONS)
def test_the_recorded_smoothness_class_is_the_true_one(name: str) -> None:
    """C^k: derivatives up to k continuous across the kink, the (k+1)-th jumps by O(1)."""
    spec = et.ACTIVATION_SPECS[name]
    act = spec.build()
    z0, h = KINK.get(name, 0.0), 1e-7
    top = 3 if math.isinf(spec.smoothness) else int(spec.smoothness) + 1
    for order in range(top + 1):
        jump = abs(_derivative(act, z0 + h, order) - _derivative(act, z0 - h, order))
        if order <= spec.smoothness:
            assert jump < 1e-5, (name, order, jump)  # continuous: O(h) change over 2h
        else:
            assert jump > 0.005, (name, order, jump)  # the smallest jump here: leaky-relu's 0.99, ELU's 1
    assert spec.c2 == (spec.smoothness >= 2) and spec.c3 == (spec.smoothness >= 3)


def test_names_are_case_insensitive_with_aliases_and_errors_suggest() -> None:
    assert et.resolve_activation("SiLU").name == "silu"
    assert et.resolve_activation("Swish").name == "silu"
    assert et.resolve_activation("leaky_relu").name == "leaky-relu"
    assert et.resolve_activation("LeakyReLU").name == "leaky-relu"
    assert et.resolve_activation("GELU").name == "gelu"
    assert et.resolve_activation("none").name == "identity"
    with pytest.raises(EosInputError, match=r"unknown activation 'sigmod' \(did you mean 'sigmoid'\?\); known: tanh"):
        et.resolve_activation("sigmod")
    with pytest.raises(EosInputError, match=r"known: .*leaky-relu"):
        et.mlp(4, 2, (3,), "quux")
    with pytest.raises(EosInputError, match="given by name"):
        et.resolve_activation(torch.nn.Tanh)
    net = et.mlp(4, 2, (3, 3), "Mish")
    assert [type(m).__name__ for m in net] == ["Linear", "Mish", "Linear", "Mish", "Linear"]
    assert type(et.cnn((1, 8, 8), 3, (2,), "swish")[2]).__name__ == "SiLU"
    # the Sequential fast path still applies (activations have no parameters)
    obj = et.NetworkObjective(net, _tiny_data(4, 2), "mse", device="cpu")
    assert obj._layers is not None


def _tiny_data(d: int, k: int, n: int = 12, seed: int = 0) -> et.Dataset:
    g = np.random.default_rng(seed)
    return et.from_arrays(g.normal(size=(n, d)), g.normal(size=(n, k)))


def test_non_smooth_models_warn_where_third_derivatives_are_needed() -> None:
    data = _tiny_data(3, 2)
    relu = et.NetworkObjective(et.mlp(3, 2, (4,), "relu"), data, "mse", device="cpu", dtype="float64")
    assert et.nonsmooth_modules(relu.model) == [("1", "relu", 0)]
    with pytest.warns(RuntimeWarning, match=r"relu \(C⁰\) at 1.*C³ activation"):
        relu.check_third_derivatives(relu.theta0)
    smooth = et.NetworkObjective(et.mlp(3, 2, (4,), "silu"), data, "mse", device="cpu", dtype="float64")
    assert et.nonsmooth_modules(smooth.model) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert smooth.check_third_derivatives(smooth.theta0).passed


def test_train_cli_takes_any_registered_activation(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--model", "mlp", "--widths", "4", "--data", "digits", "--n", "40", "--eta", "0.1"]
    argv += ["--steps", "2", "--track", "loss", "--device", "cpu", "--no-progress", "--json"]
    assert main([*argv, "--activation", "Swish"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed"
    assert main([*argv, "--activation", "sigmod"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'sigmoid'" in err and "Traceback" not in err


# ---------------------------------------------------------------- 2. the MSE conventions
def test_mse_and_mse_mean_and_their_hessians_on_a_linear_model() -> None:
    """f(x) = W x + b: both losses and their Hessians in closed form; H_mean = (2/k) H_mse."""
    d, k, n = 3, 4, 10
    data = _tiny_data(d, k, n, seed=3)
    X, Y = data.x.double().numpy(), data.y.double().numpy()
    model = et.mlp(d, k, ())
    objs = {name: et.NetworkObjective(model, data, name, device="cpu", dtype="float64") for name in et.LOSSES[:2]}
    theta = objs["mse"].theta0
    W = theta[: k * d].reshape(k, d).numpy()
    b = theta[k * d :].numpy()
    R = X @ W.T + b - Y
    assert objs["mse"].value(theta) == pytest.approx(0.5 * (R**2).sum() / n, rel=1e-13)
    assert objs["mse-mean"].value(theta) == pytest.approx((R**2).sum() / (n * k), rel=1e-13)
    # Hessian of ½‖Wx+b−y‖² averaged: per output j, (1/N) Σ φφᵀ with φ = (x, 1), in the flat order
    Phi = np.hstack([X, np.ones((n, 1))])
    G = Phi.T @ Phi / n
    H = np.zeros((k * d + k, k * d + k))
    for j in range(k):
        idx = [*range(j * d, (j + 1) * d), k * d + j]
        H[np.ix_(idx, idx)] = G
    H_mse = objs["mse"].hessian(theta).dense().numpy()
    H_mean = objs["mse-mean"].hessian(theta).dense().numpy()
    np.testing.assert_allclose(H_mse, H, rtol=0, atol=1e-13)  # exact up to float64 rounding of O(1) sums
    np.testing.assert_allclose(H_mean, (2.0 / k) * H, rtol=0, atol=1e-13)
    s_mse, s_mean = (et.sharpness(o, method="dense") for o in objs.values())
    assert s_mean / s_mse == pytest.approx(2.0 / k, rel=1e-12)
    assert objs["mse"].loss_name == "mse" and objs["mse-mean"].loss_name == "mse-mean"
    assert et.NetworkObjective(model, data, "MSE_mean", device="cpu").loss_name == "mse-mean"
    with pytest.raises(EosInputError, match="use mse, mse-mean, ce"):
        et.NetworkObjective(model, data, "l2", device="cpu")


def test_train_with_mse_mean_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI run with --loss mse-mean starts at 2/k times the loss and sharpness of --loss mse."""
    argv = ["train", "--model", "linear", "--data", "digits", "--n", "40", "--eta", "0.05", "--steps", "1"]
    argv += ["--track", "sharpness", "--track-every", "1", "--eig-method", "dense", "--device", "cpu"]
    argv += ["--dtype", "float64", "--no-progress", "--json"]
    runs = {}
    for loss in ("mse", "mse-mean"):
        assert main([*argv, "--loss", loss]) == 0
        runs[loss] = json.loads(capsys.readouterr().out)
    assert runs["mse-mean"]["config"]["loss"] == "mse-mean"
    k = 10  # digits: ten one-hot outputs

    def first(run: dict, key: str) -> float:
        return run["series"][key][0]

    assert first(runs["mse-mean"], "loss") / first(runs["mse"], "loss") == pytest.approx(2 / k, rel=1e-12)
    assert first(runs["mse-mean"], "sharpness") / first(runs["mse"], "sharpness") == pytest.approx(2 / k, rel=1e-9)


# ---------------------------------------------------------------- 3. flat parameters
def test_flat_order_is_the_documented_one() -> None:
    model = et.mlp(3, 2, ())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        model[0].bias.copy_(torch.tensor([7.0, 8.0]))
    assert et.flat_params(model).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]  # W row-major, then b
    lay = et.param_layout(model)
    assert [(s.name, s.shape, s.offset, s.stop) for s in lay] == [("0.weight", (2, 3), 0, 6), ("0.bias", (2,), 6, 8)]
    net = et.mlp(5, 3, (4,))
    obj = et.NetworkObjective(net, _tiny_data(5, 3), "mse", device="cpu")
    assert torch.equal(et.flat_params(net), obj.theta0)  # the objective's theta is this vector
    assert [s.name for s in et.param_layout(net)] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_flat_round_trip_and_dicts() -> None:
    net = et.mlp(5, 3, (4,)).double()
    v = torch.arange(et.flat_params(net).numel(), dtype=torch.float64) / 7
    et.load_flat_params(net, v.numpy())
    assert torch.equal(et.flat_params(net), v)
    d = et.params_dict(net)
    assert list(d) == ["0.weight", "0.bias", "2.weight", "2.bias"] and d["0.weight"].shape == (4, 5)
    assert d["0.weight"][1, 2] == pytest.approx(float(v[1 * 5 + 2]), rel=1e-15)
    other = et.mlp(5, 3, (4,)).double()
    et.load_params_dict(other, d)
    assert torch.equal(et.flat_params(other), v)
    assert et.params_dict(net, torch.zeros_like(v))["2.bias"].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(EosInputError, match="has 3 entries, the model has 39"):
        et.load_flat_params(net, [1.0, 2.0, 3.0])
    with pytest.raises(EosInputError, match="non-finite"):
        et.load_flat_params(net, np.full(39, np.nan))
    with pytest.raises(EosInputError, match=r"unknown parameter name\(s\) \['w'\]"):
        et.load_params_dict(net, {"w": np.zeros(3)})
    with pytest.raises(EosInputError, match="missing parameter"):
        et.load_params_dict(net, {"0.bias": np.zeros(4)})
    et.load_params_dict(net, {"0.bias": np.ones(4)}, strict=False)
    assert et.flat_params(net)[20:24].tolist() == [1.0] * 4 and torch.equal(et.flat_params(net)[:20], v[:20])


def test_weights_from_another_framework_give_its_outputs() -> None:
    """A Keras/JAX-style two-layer tanh net (kernels (in, out)) loaded by name: the same outputs."""
    g = np.random.default_rng(1)
    K1, c1, K2, c2 = g.normal(size=(5, 4)), g.normal(size=4), g.normal(size=(4, 3)), g.normal(size=3)
    x = g.normal(size=(7, 5))
    net = et.mlp(5, 3, (4,)).double()
    with pytest.raises(EosInputError, match=r"it is the transpose"):
        et.load_params_dict(net, {"0.weight": K1, "0.bias": c1, "2.weight": K2.T, "2.bias": c2})
    et.load_params_dict(net, {"0.weight": K1.T, "0.bias": c1, "2.weight": K2.T, "2.bias": c2})
    want = np.tanh(x @ K1 + c1) @ K2 + c2
    got = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)  # the same float64 sums


# ---------------------------------------------------------------- 4. CPU threads
def test_thread_default_and_what_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("EOSTHEORY_TORCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(max(_backend._torch_default_candidates()))  # what torch picks by itself
        assert _backend.apply_default_threads() == et.DEFAULT_CPU_THREADS == 1
        assert et.thread_setting()[0] == 1
        odd = max(_backend._torch_default_candidates()) + 3  # no default of torch's: a user's choice
        torch.set_num_threads(odd)
        assert _backend.apply_default_threads() == odd and et.thread_setting()[0] is None
        monkeypatch.setenv("EOSTHEORY_TORCH_THREADS", "2")
        assert _backend.apply_default_threads() == 2
        monkeypatch.setenv("EOSTHEORY_TORCH_THREADS", "torch")
        torch.set_num_threads(3)
        assert _backend.apply_default_threads() == 3
        monkeypatch.setenv("EOSTHEORY_TORCH_THREADS", "many")
        with pytest.warns(RuntimeWarning, match="not a positive integer"):
            assert _backend.apply_default_threads() == 1
        monkeypatch.delenv("EOSTHEORY_TORCH_THREADS")
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        torch.set_num_threads(2)
        assert _backend.apply_default_threads() == 2 and "OMP_NUM_THREADS" in et.thread_setting()[1]
    finally:
        torch.set_num_threads(before)


def test_bench_threads_prints_ratios_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = torch.get_num_threads()
    try:
        argv = ["--threads", "1,2", "--widths", "8", "--n", "40", "--rounds", "1", "--repeat", "2"]
        rc = _load_script("bench_threads").main([*argv, "--json", str(tmp_path / "t.json")])
    finally:
        torch.set_num_threads(n)
    assert rc == 0
    out = capsys.readouterr().out
    assert "1 thr ms" in out and "2/1" in out and "load average" in out
    res = json.loads((tmp_path / "t.json").read_text())
    row = res["sizes"][0]
    assert row["n_params"] == 64 * 8 + 8 + 8 * 10 + 10 and row["ratio_to_first"]["1"] == 1.0
    assert row["ratio_to_first"]["2"] == pytest.approx(row["ms_per_hvp"]["2"] / row["ms_per_hvp"]["1"], rel=1e-12)


# ---------------------------------------------------------------- 5. progress bars and notices
def test_flow_progress_bar_and_identical_results(capsys: pytest.CaptureFixture[str]) -> None:
    obj = et.FunctionObjective(lambda w: 0.5 * (1 + w[1] ** 2) * w[0] ** 2 + 0.5 * (w[1] - 2) ** 2, [0.1, 1.5])
    quiet = et.solve_torch_flow(obj, "gradient", eta=0.4, steps=6)
    assert capsys.readouterr().err == ""
    loud = et.solve_torch_flow(obj, "gradient", eta=0.4, steps=6, progress=True)
    err = capsys.readouterr().err
    assert "gradient flow eta=0.4" in err and "6.0/6.0" in err and "S=" in err
    np.testing.assert_array_equal(quiet.center, loud.center)  # the bar changes nothing
    et.gd_midpoints(obj, eta=0.4, steps=5, progress=True)
    assert "gd eta=0.4" in capsys.readouterr().err


def _fake_generated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pot_title: str, header: str, title: str):
    """Modules shaped like generated ones (a flow module importing a potential's kernels)."""
    pot_name, run_name = "eos_pot_" + "a" * 20, "eos_flow_" + "b" * 20
    pfile = tmp_path / f"{pot_name}.py"
    pfile.write_text(header)
    pot = types.ModuleType(pot_name)
    pot.TITLE, pot.__file__ = pot_title, str(pfile)

    def loss():  # pragma: no cover - never called
        return 0

    loss.__module__ = pot_name
    pot.loss = types.SimpleNamespace(py_func=loss)
    flow = types.ModuleType(run_name)
    flow.TITLE, flow.loss = title, pot.loss

    def integrate():  # pragma: no cover - never called
        return 0

    integrate.__module__ = run_name
    monkeypatch.setitem(sys.modules, pot_name, pot)
    monkeypatch.setitem(sys.modules, run_name, flow)
    return types.SimpleNamespace(py_func=integrate)


def test_compile_notice_names_the_flow_and_the_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    header = "# eostheory generated module: potential L = x**2*y**2/2\n# generator version 2\n# L = x**2*y**2/2\n"
    header += "# params = ['x', 'y']\n# constants = []\nimport math\n"
    disp = _fake_generated(
        monkeypatch, tmp_path, "potential L = x**2*y**2/2", header, "central flow functions central1_core, flow_rhs"
    )
    assert _notice.kernel_label(disp) == "central flow for L(x, y) = x**2*y**2/2 (integrate)"
    sys.modules["eos_flow_" + "b" * 20].TITLE = "run loop for w = -eta*g + w"
    assert _notice.kernel_label(disp) == "run loop for w = -eta*g + w (integrate) on potential L = x**2*y**2/2"
    named = _fake_generated(monkeypatch, tmp_path, "potential selfstab", "# nothing\n", "edge flow functions flow_rhs")
    assert _notice.kernel_label(named) == "edge flow for selfstab (integrate)"
    foreign = types.SimpleNamespace(py_func=types.SimpleNamespace(__module__="somebody_else", __name__="f"))
    assert _notice.kernel_label(foreign) is None


@pytest.mark.slow
def test_a_new_central_flow_announces_its_compilation(tmp_path: Path) -> None:
    """A real first compilation (about 20-40 s) prints 'compiling central flow for L(x, y) = ...'."""
    env = {**os.environ, "EOSTHEORY_CACHE_DIR": str(tmp_path)}
    env.pop("EOSTHEORY_QUIET", None)
    cmd = [sys.executable, "-m", "eostheory", "compare", "--potential", "x**2*y**2/2 + (y-3)**2/7.25"]
    cmd += ["--eta", "0.5", "--steps", "20", "--flows", "central", "--x0", "0.3,2.9"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "eostheory: compiling central flow for L(x, y) = x**2*y**2/2 + " in p.stderr


# ---------------------------------------------------------------- 6. the GPU suite's table
def test_gpu_table_puts_the_columns_side_by_side() -> None:
    gt = _load_script("gpu_table")
    cpu = {"gradient_ms": 2.0, "train_steps_per_s": 100.0, "hvp_in_gradients": 1.5}
    cuda = {"gradient_ms": 0.5, "train_steps_per_s": 800.0, "hvp_in_gradients": 1.7}
    rows = {ln[:30].strip(): ln[30:].split() for ln in gt.table({"cpu": cpu, "cuda": cuda}).splitlines()[1:]}
    assert rows["gradient (ms)"] == ["2.000", "0.500", "4.0x"]  # time: CPU / CUDA
    assert rows["train steps/s (no tracking)"] == ["100", "800", "8.0x"]  # rate: CUDA / CPU
    assert rows["HVP / gradient"] == ["1.50", "1.70", "-"]  # a ratio has no speed-up
    no_cuda = {ln[:30].strip(): ln[30:].split() for ln in gt.table({"cpu": cpu, "cuda": None}).splitlines()[1:]}
    assert no_cuda["gradient (ms)"] == ["2.000", "-", "-"]


@pytest.mark.slow
def test_gpu_suite_quick_cpu_half(tmp_path: Path) -> None:
    """The suite's benchmarks on a machine without CUDA: the CPU column, CUDA said absent, exit 0."""
    env = {**os.environ, "EOSTHEORY_CACHE_DIR": str(tmp_path), "PYTHON": sys.executable}
    p = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_suite.sh"), "--quick", "--no-tests"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "gradient (ms)" in p.stdout and "1 thr ms" in p.stdout
    if not torch.cuda.is_available():
        assert "CUDA: absent" in p.stdout
