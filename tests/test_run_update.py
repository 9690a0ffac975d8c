"""``run`` with any update rule (``--update``, ``--hp``) and toy measures (``--track``).

References: the built-in Nesterov rule (a user rule written out must give the same run),
the closed-form Nesterov threshold, and a quadratic ``L = ½ wᵀAw`` whose measures are
known in closed form along GD (``w_t = Σ c_i (1 - ηλ_i)^t u_i``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import eostheory as eos
from eostheory import EosInputError
from eostheory.cli import main
from eostheory.cli._common import parse_hp
from eostheory.optimizers._measures import TOY_MEASURES, ToyMeasure, resolve_toy_measures

# The "quadratic-general" toy (a=3, b=1, c=2): L = ½ wᵀAw with a non-diagonal Hessian A
# (its kernels are shared with tests/test_optimizers.py, so no new compilation).
A = np.array([[3.0, 1.0], [1.0, 2.0]])
QUAD = "quadratic-general"
NESTEROV = "v = beta*v + g; w = w - eta*(g + beta*v)"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


# ----------------------------------------------------------------------------- any update rule


def test_user_rule_equals_builtin_nesterov() -> None:
    """The rule written differently (``-eta*g - eta*beta*v`` instead of ``-eta*(g + beta*v)``) compiles
    to other floating-point operations; over 150 steps of a stable run the two trajectories
    may differ by rounding only: 1e-12 is ~10^4 ulps of iterates of size ~1."""
    kw = {"x0": [0.3, -1.2], "steps": 150, "eta": 0.005, "record_every": 1, "gtol": 0.0}
    ref = eos.run("quadratic-general", "nesterov", beta=0.9, **kw)
    mine = eos.run("quadratic-general", update="v = beta*v + g; w = w - eta*g - eta*beta*v", hyper={"beta": 0.9}, **kw)
    assert mine.config.optimizer == "custom" and ref.params.shape == mine.params.shape == (151, 2)
    assert np.max(np.abs(mine.params - ref.params)) < 1e-12
    assert np.max(np.abs(mine.params[-1])) > 1e-4  # still moving: the comparison is not of two zeros


def test_cli_update_equals_nesterov_with_derived_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run", "--potential", QUAD, "--eta", "0.3", "--x0", "0.3,-1.2", "--steps", "15", "--json"]
    code, out, _ = _cli(capsys, *base, "--update", NESTEROV, "--hp", "beta=0.9")
    assert code == 0
    mine = json.loads(out)
    code, out, _ = _cli(capsys, *base, "--optimizer", "nesterov", "--beta", "0.9")
    ref = json.loads(out)
    assert mine["config"]["optimizer"] == "custom" and ref["config"]["optimizer"] == "nesterov"
    assert np.max(np.abs(np.subtract(mine["final"]["params"], ref["final"]["params"]))) < 1e-12
    assert mine["status"] == "max_steps" and max(map(abs, ref["final"]["params"])) > 1e-3  # mid-run, not at 0
    # Nesterov's linear threshold: 2(1 + beta) / (eta (1 + 2 beta)), from the rule, not 2/eta
    expected = 2 * 1.9 / (0.3 * 2.8)
    assert abs(mine["threshold"] - expected) < 1e-12 * expected
    assert abs(ref["threshold"] - expected) < 1e-12 * expected


def test_sign_rule_has_no_linear_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--potential", "quadratic-general", "--eta", "0.01", "--x0", "0.3,0.2", "--steps", "20"]
    code, out, _ = _cli(capsys, *argv, "--update", "w = w - eta*sign(g)")
    assert code == 0 and "threshold none: not linear" in out and "lam*" not in out
    code, out, _ = _cli(capsys, *argv, "--update", "w = w - eta*sign(g)", "--json")
    data = json.loads(out)
    assert data["threshold"] is None and "not linear" in data["threshold_note"]


def test_hp_for_named_optimizers_and_beta_shorthand(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["run", "--potential", "quadratic-general", "--eta", "0.05", "--x0", "0.3,0.2", "--steps", "50", "--json"]
    code, out, _ = _cli(capsys, *base, "--optimizer", "adam", "--hp", "beta1=0.8,beta2=0.99")
    assert code == 0
    assert json.loads(out)["config"]["hyperparameters"] == {"beta1": 0.8, "beta2": 0.99, "eps": 1e-8, "eta": 0.05}
    _, a, _ = _cli(capsys, *base, "--optimizer", "heavy-ball", "--beta", "0.5")
    _, b, _ = _cli(capsys, *base, "--optimizer", "heavy-ball", "--hp", "beta=0.5")
    ja, jb = json.loads(a), json.loads(b)
    assert ja["config"]["hyperparameters"] == jb["config"]["hyperparameters"] == {"beta": 0.5, "eta": 0.05}
    assert ja["final"] == jb["final"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--update", "v = beta*v + g; w = w - eta*v", "--hp", "nu=0.7"],
            "has no hyperparameter nu; its hyperparameters",
        ),
        (["--update", "v = beta*v + g; w = w - eta*(v + nu*g)"], "needs a value for beta, nu: give --hp beta=…,nu=…"),
        (["--optimizer", "adam", "--hp", "beta1=1.5"], "--hp beta1=1.5: beta1 must lie in [0, 1)"),
        (["--optimizer", "adam", "--hp", "beta1=abc"], "--hp beta1"),
        (
            ["--optimizer", "gd", "--beta", "0.9"],
            "optimizer 'gd' has no hyperparameter beta; its hyperparameters are eta",
        ),
        (["--optimizer", "heavy-ball", "--beta", "0.5", "--hp", "beta=0.4"], "repeats --beta"),
        (["--hp", "eta=0.2"], "give the learning rate with --eta"),
        (["--optimizer", "nesterov", "--update", "w = w - eta*g"], "not both"),
        (["--update", "w = w - eta*h(g)"], "unknown function 'h'"),
        (["--track", "accuracy"], "accuracy is a network measure"),
        (["--track", "eigenvalues", "--top-k", "3"], "at most 2 eigenpairs"),
    ],
)
def test_bad_rules_and_hyperparameters_are_one_line(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["run", "--potential", "quadratic-general", "--eta", "0.05", "--x0", "0.3,0.2", "--steps", "5"]
    _one_line_error(capsys, [*base, *extra], message)


def test_parse_hp_is_shared_with_train() -> None:
    import eostheory.cli._cmd_train as train

    assert train.parse_hp is parse_hp
    assert parse_hp("beta1=0.9, eps=1e-8") == {"beta1": 0.9, "eps": 1e-8}
    with pytest.raises(EosInputError, match="gives beta twice"):
        parse_hp("beta=0.1,beta=0.2")


# ----------------------------------------------------------------------------- measures on toys


def test_measures_on_a_quadratic_match_closed_forms() -> None:
    """GD on L = ½ wᵀAw: w_t = Σ c_i (1-ηλ_i)^t u_i, so every measure is a closed form in (λ_i, c_i).
    Tolerances: 1e-12 relative (values O(1), a few hundred float64 operations each)."""
    lam, U = np.linalg.eigh(A)
    lam, U = lam[::-1], U[:, ::-1]
    eta, steps = 0.1, 40
    x0 = np.array([0.7, -0.4])
    r = eos.run(
        QUAD,
        "gd",
        x0=x0,
        steps=steps,
        eta=eta,
        record_every=1,
        gtol=0.0,
        track="grad-norm,sharpness,eigenvalues,directional-smoothness,alignment,param-distance",
        top_k=2,
    )
    s = r.series
    assert r.config.track == (
        "loss",
        "grad-norm",
        "sharpness",
        "eigenvalues",
        "directional-smoothness",
        "alignment",
        "param-distance",
    )
    t = np.asarray(r.t, dtype=float)
    assert len(t) == steps + 1 and all(len(v) == len(t) for v in s.values())
    c = U.T @ x0
    decay = (1 - eta * lam)[None, :] ** t[:, None]  # (records, 2)
    coef = c[None, :] * decay  # w_t in the eigenbasis
    g = coef * lam  # gradient in the eigenbasis
    np.testing.assert_allclose(s["sharpness"], lam[0], rtol=1e-12)
    np.testing.assert_allclose(np.array(s["eigenvalues"]), np.tile(lam, (len(t), 1)), rtol=1e-12)
    np.testing.assert_allclose(s["loss"], 0.5 * (lam * coef**2).sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(s["grad_norm"], np.linalg.norm(g, axis=1), rtol=1e-12)
    ds = (lam**3 * coef**2).sum(axis=1) / (lam**2 * coef**2).sum(axis=1)
    np.testing.assert_allclose(s["directional_smoothness"], ds, rtol=1e-12)
    np.testing.assert_allclose(np.array(s["alignment"]), np.abs(g) / np.linalg.norm(g, axis=1)[:, None], atol=1e-12)
    np.testing.assert_allclose(s["param_distance"], np.linalg.norm(coef - c, axis=1), rtol=1e-12, atol=1e-15)
    # the records are the run's own iterates
    np.testing.assert_allclose(r.params, coef @ U.T, rtol=1e-12, atol=1e-15)


def test_directional_smoothness_along_an_eigenvector_is_its_eigenvalue() -> None:
    """Started on the eigenvector u_2, GD stays on it: gᵀHg/‖g‖² = λ_2 at every record (while the
    sharpness is λ_1), and the gradient is aligned with u_2 only (atol 1e-12: the u_1 component
    is rounding, ~1e-17, and shrinks faster than the u_2 one, as |1 - ηλ_1| < |1 - ηλ_2| here)."""
    lam, U = np.linalg.eigh(A)
    lam, U = lam[::-1], U[:, ::-1]
    r = eos.run(
        QUAD,
        "gd",
        x0=0.5 * U[:, 1],
        steps=30,
        eta=0.1,
        record_every=3,
        gtol=0.0,
        track=["directional-smoothness", "sharpness", "alignment"],
        top_k=2,
    )
    np.testing.assert_allclose(r.series["directional_smoothness"], lam[1], rtol=1e-12)
    np.testing.assert_allclose(r.series["sharpness"], lam[0], rtol=1e-12)
    np.testing.assert_allclose(np.array(r.series["alignment"]), [[0.0, 1.0]] * len(r.t), atol=1e-12)


def test_undefined_measures_are_null_not_nan(tmp_path: Path) -> None:
    """At the minimizer g = 0: directional smoothness and alignment are undefined (None / null)."""
    r = eos.run(QUAD, "gd", x0=[0.0, 0.0], steps=10, eta=0.1, track="directional-smoothness,alignment,grad-norm")
    assert r.status == "converged"
    assert r.series["grad_norm"][0] == 0.0
    assert r.series["directional_smoothness"][0] is None and r.series["alignment"][0] == [None]
    d = r.save(tmp_path / "run")
    text = (d / "result.json").read_text()
    assert "NaN" not in text and "non_finite" not in json.loads(text)
    back = eos.RunResult.load(d)
    assert back.series == r.series and back.config.track == r.config.track
    assert set(back.measures) == {"loss", "grad-norm", "directional-smoothness", "alignment"}


def test_user_measure_is_a_function_of_the_state() -> None:
    def param_norm(state) -> float:
        return float(np.linalg.norm(state.w))

    r = eos.run("quadratic-general", "gd", x0=[0.3, 0.2], steps=20, eta=0.1, record_every=5, track=[param_norm])
    np.testing.assert_allclose(r.series["param_norm"], np.linalg.norm(r.params, axis=1), rtol=1e-15)
    plain = eos.run("quadratic-general", "gd", x0=[0.3, 0.2], steps=20, eta=0.1, record_every=5)
    assert r.work["hessians"] == plain.work["hessians"]  # this measure never asks for the Hessian
    assert r.work["gradients"] == plain.work["gradients"] + len(r.t)
    with pytest.raises(EosInputError, match="lambda in track has no name"):
        resolve_toy_measures([lambda s: 1.0])
    with pytest.raises(EosInputError, match="returned str"):
        eos.run("quadratic-general", x0=[0.3, 0.2], steps=2, eta=0.1, track=ToyMeasure("bad", lambda s: "x"))


def test_toy_measure_names_are_the_network_ones() -> None:
    """Same names, same meanings as the torch registry (compared by name only: no torch import here)."""
    assert set(TOY_MEASURES) == {
        "loss",
        "grad-norm",
        "sharpness",
        "eigenvalues",
        "directional-smoothness",
        "alignment",
        "param-distance",
    }
    assert TOY_MEASURES["directional-smoothness"].key == "directional_smoothness"


def test_cli_track_json_out_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """GD on selfstab settles on a 2-cycle with the curvature along the step at 2/η exactly."""
    d = tmp_path / "run"
    argv = ["run", "--potential", "selfstab", "--eta", "0.45", "--x0", "0.01,1.5", "--steps", "600"]
    argv += ["--track", "sharpness,grad-norm,directional-smoothness,eigenvalues", "--top-k", "2"]
    code, out, _ = _cli(capsys, *argv, "--json", "--out", str(d))
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "oscillating" and data["period"] == 2
    series = data["series"]
    assert set(series) == {"step", "loss", "grad_norm", "sharpness", "eigenvalues", "directional_smoothness"}
    # on the 2-cycle the step is along x, whose curvature 1 + y² sits at 2/η (see docs/optimizers.md)
    assert abs(series["directional_smoothness"][-1] - 2 / 0.45) < 1e-9
    assert data["measures"]["directional-smoothness"]["thresholds"] == [pytest.approx(2 / 0.45, rel=1e-12)]
    assert abs(series["eigenvalues"][-1][0] - series["sharpness"][-1]) < 1e-12
    assert "plot_error" not in data
    for name in ("run.png", "measures.png", "arrays.npz", "result.json", "config.json"):
        assert (d / name).stat().st_size > 0
    arr = np.load(d / "arrays.npz")
    assert arr["series_eigenvalues"].shape == (len(series["step"]), 2)
    code, out, _ = _cli(capsys, *argv)
    assert code == 0 and "tracked    grad_norm=" in out and "directional_smoothness=4.444444444" in out


def test_help_names_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert all(opt in out for opt in ("--update", "--hp", "--track", "--top-k", "--beta"))
