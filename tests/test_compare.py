"""GD against flows: alignment, summary JSON, the ``compare`` command, plots."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eostheory import EosInputError
from eostheory.analysis.compare import compare, gd_record
from eostheory.cli import main

ETA = 0.45


@pytest.fixture(scope="module")
def selfstab_cmp():
    return compare("selfstab", ["central", "rod", "edge", "gradient"], x0=[0.01, 1.5], eta=ETA, steps=1200)


def test_midpoint_of_an_exact_two_cycle() -> None:
    """On GD's exact 2-cycle (canonical toy) the midpoint is the cycle's centre and the amplitude its x."""
    xs = math.sqrt(0.02)
    g = gd_record("canonical", x0=[xs, 3.0], eta=0.5, steps=20, constants={"c": 0.01})
    assert np.allclose(g.midpoint, [[0.0, 3.0]] * len(g.tm), atol=1e-15)
    assert np.allclose(g.oscillation, xs, atol=1e-15)
    assert np.allclose(g.loss_avg, g.loss[1:-1], atol=1e-15)
    assert np.allclose(g.sharpness_mid, 4.0, atol=1e-12)


def test_converged_gd_is_extended() -> None:
    g = gd_record("quadratic", x0=[1.0, 1.0], eta=0.1, steps=5000)
    assert g.run.status == "converged" and g.t[-1] == 5000 and len(g.tm) == 4999


def test_summary_numbers(selfstab_cmp) -> None:
    s = selfstab_cmp.summary()
    y = s["gd"]["final_midpoint"][1]
    assert abs(1 + y * y - 2 / ETA) < 1e-9
    assert abs(s["gd"]["oscillation"] ** 2 - (2 - y) / y) < 1e-9
    for name in ("central", "rod", "edge"):
        f = s["flows"][name]
        assert f["status"] == "completed"
        assert f["center_error_final"] < 1e-8
        assert f["oscillation_error"] < 1e-8 and f["loss_error"] < 1e-8
        assert abs(f["final_sharpness"] - 2 / ETA) < 1e-8
        assert f["center_error_max"] >= f["center_error_final"]
    g = s["flows"]["gradient"]
    assert g["center_error_final"] > 0.1 and g["predicted_oscillation"] == 0.0
    assert abs(g["final_sharpness"] - 5.0) < 1e-8  # gradient flow settles at the minimum, S = 5 > 2/eta
    json.dumps(s, allow_nan=False)


def test_alignment_uses_gd_steps(selfstab_cmp) -> None:
    for name, fc in selfstab_cmp.flows.items():
        assert fc.t[0] == 1 and fc.t[-1] == 1199, name
        assert len(fc.center_error) == len(fc.t)


def test_table_and_save(tmp_path, selfstab_cmp) -> None:
    text = selfstab_cmp.table()
    assert "centre err max" in text and "central" in text and "threshold 4.44444" in text
    d = selfstab_cmp.save(tmp_path / "run")
    data = json.loads((d / "comparison.json").read_text())
    assert set(data["flows"]) == {"central", "rod", "edge", "gradient"}
    assert (d / "compare.png").stat().st_size > 10_000
    assert (d / "gd.npz").exists() and (d / "flows" / "central.npz").exists()


def test_compare_rejects_bad_input() -> None:
    with pytest.raises(EosInputError, match="unknown flow"):
        compare("selfstab", ["nope"], x0=[0.01, 1.5], eta=ETA, steps=10)
    with pytest.raises(EosInputError, match="drop --beta"):
        compare("selfstab", ["central"], x0=[0.01, 1.5], eta=ETA, beta=0.5, steps=10)
    with pytest.raises(EosInputError, match="give --beta"):
        compare("selfstab", ["central-hb"], x0=[0.01, 1.5], eta=ETA, steps=10)
    with pytest.raises(EosInputError, match="at least 3 steps"):
        compare("selfstab", ["central"], x0=[0.01, 1.5], eta=ETA, steps=2)
    with pytest.raises(EosInputError, match="at least one flow"):
        compare("selfstab", [], x0=[0.01, 1.5], eta=ETA, steps=10)


def test_cli_json(capsys) -> None:
    rc = main(
        [
            "compare",
            "--potential",
            "quartic",
            "--set",
            "S=1,Q=1",
            "--eta",
            "2.5",
            "--x0",
            "0.05",
            "--steps",
            "800",
            "--flows",
            "gradient,rod,edge,edge-rayleigh",
            "--json",
        ]
    )
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert abs(data["gd"]["oscillation"] ** 2 - 0.2) < 1e-12
    assert data["gd"]["final_midpoint"] == [0.0] or abs(data["gd"]["final_midpoint"][0]) < 1e-12
    for name in ("gradient", "rod", "edge", "edge-rayleigh"):
        f = data["flows"][name]
        for key in ("center_error_max", "predicted_oscillation", "predicted_loss", "final_center", "status"):
            assert key in f
    assert abs(data["flows"]["rod"]["predicted_oscillation"] ** 2 - 0.2) < 1e-7
    assert data["flows"]["edge-rayleigh"]["status"] in ("step_too_small", "diverged")


def test_cli_text_and_out(tmp_path, capsys) -> None:
    rc = main(
        [
            "compare",
            "--potential",
            "(1 + y**2)*x**2/2 + (y - 2)**2/2",
            "--eta",
            "0.45",
            "--x0",
            "0.01,1.5",
            "--steps",
            "300",
            "--flows",
            "central,selfstab",
            "--out",
            str(tmp_path / "c"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "selfstab" in out and "wrote" in out
    assert (tmp_path / "c" / "compare.png").exists()


@pytest.mark.parametrize(
    "extra,msg",
    [
        (["--flows", "central,bogus"], "unknown flow"),
        (["--flows", "central-hb"], "give --beta"),
        (["--flows", "central", "--beta", "0.5"], "drop --beta"),
        (["--flows", "central:k=9"], "needs at least 9 parameters"),
        (["--flows", "central:k=65"], "[0, 64]"),
    ],
)
def test_cli_errors_exit_2(capsys, extra: list[str], msg: str) -> None:
    rc = main(["compare", "--potential", "selfstab", "--eta", "0.45", "--x0", "0.01,1.5", "--steps", "50", *extra])
    assert rc == 2
    assert msg in capsys.readouterr().err
