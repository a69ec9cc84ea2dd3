"""End-to-end: the digits main job trains to a set accuracy, saves, reloads and plots; the ODE
example's Numba adjoint matches finite differences and fits its parameters."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb


def test_digits_trains_saves_reloads_and_plots(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    from nbgrad.examples import digits

    lines = []
    result = digits.run(epochs=4, lr=3e-3, seed=0, out=str(tmp_path), progress=False,
                        log=lines.append)
    assert result["test_accuracy"] >= 0.90
    assert result["reloaded_accuracy"] == result["test_accuracy"]
    assert len(result["history"]["train_loss"]) == 4
    assert result["history"]["train_loss"][-1] < result["history"]["train_loss"][0]
    with open(result["plot"], "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    state = nb.load(result["weights"])
    assert set(state) == {"0.weight", "0.bias", "3.weight", "3.bias", "5.weight", "5.bias"}
    assert any("test accuracy" in line for line in lines)


def test_digits_is_reproducible_with_a_seed():
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    from nbgrad.examples import digits

    runs = [digits.run(epochs=1, seed=3, out=None, progress=False, log=lambda *a: None)
            for _ in range(2)]
    assert runs[0]["history"] == runs[1]["history"]


def test_digits_command_line(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    from nbgrad.examples import digits

    code = digits.main(["--epochs", "1", "--batch-size", "128", "--lr", "0.003",
                        "--seed", "1", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "reloaded model test accuracy" in out
    assert (tmp_path / "digits_mlp.nbz").exists() and (tmp_path / "digits_training.png").exists()


def test_ode_adjoint_matches_finite_differences_and_fits():
    from nbgrad.examples import ode_fit

    result = ode_fit.run(iters=120, lr=0.05, seed=0, log=lambda *a: None)
    assert result["fd_rel_error"] < 1e-6
    np.testing.assert_allclose(result["params"], result["true_params"], atol=0.05)


def test_ode_function_passes_gradcheck():
    from nbgrad.examples import ode_fit

    params = nb.tensor([1.7, 0.3], dtype=nb.float64, requires_grad=True)
    y0 = nb.tensor([0.5, -0.2], dtype=nb.float64, requires_grad=True)
    assert nb.autograd.gradcheck(lambda p, y: ode_fit.oscillator(p, y, 0.1, 6), (params, y0))
    with nb.no_grad():
        out = ode_fit.oscillator(params, y0, 0.1, 6)
    assert not out.requires_grad and out.shape == (7,)
