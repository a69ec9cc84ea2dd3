"""nn.utils: gradient clipping, vector conversion, weight_norm."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn


def _params(grads):
    ps = []
    for g in grads:
        p = nn.Parameter(nb.zeros(len(g), dtype=nb.float64))
        p.grad = nb.tensor(np.asarray(g, dtype=np.float64))
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm(norm_type):
    grads = [np.array([3.0, -4.0]), np.array([12.0])]
    ps = _params(grads)
    flat = np.concatenate(grads)
    ref = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() \
        ** (1 / norm_type)
    total = nn.utils.clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type, foreach=True)
    assert abs(total.item() - ref) < 1e-12
    coef = 2.0 / (ref + 1e-6)
    np.testing.assert_allclose(ps[0].grad.numpy(), grads[0] * coef)


def test_clip_grad_errors_and_value():
    ps = _params([[math.inf, 1.0]])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    ps = _params([[-3.0, 0.5, 2.0]])
    nn.utils.clip_grad_value_(ps, 1.0)
    assert ps[0].grad.tolist() == [-1.0, 0.5, 1.0]
    small = _params([[0.1]])
    nn.utils.clip_grad_norm_(small, 1.0)
    assert small[0].grad.tolist() == [0.1]  # below max_norm: untouched


def test_vector_round_trip():
    fc = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(fc.parameters())
    assert vec.shape == (8,)
    new = nb.arange(8, dtype=nb.float32)
    nn.utils.vector_to_parameters(new, fc.parameters())
    assert fc.weight.tolist() == [[0, 1, 2], [3, 4, 5]] and fc.bias.tolist() == [6, 7]


def test_weight_norm():
    fc = nn.Linear(3, 2).double()
    w = fc.weight.detach().numpy().copy()
    nn.utils.weight_norm(fc)
    np.testing.assert_allclose(fc.weight_g.detach().numpy(),
                               np.linalg.norm(w, axis=1, keepdims=True))
    x = nb.ones(1, 3, dtype=nb.float64)
    np.testing.assert_allclose(fc(x).detach().numpy(), x.numpy() @ w.T + fc.bias.detach().numpy())
    with nb.no_grad():
        fc.weight_g.mul_(2.0)
    np.testing.assert_allclose(fc(x).detach().numpy(),
                               x.numpy() @ (2 * w).T + fc.bias.detach().numpy())
    fc(x).sum().backward()
    assert fc.weight_v.grad is not None and fc.weight_g.grad is not None
    nn.utils.remove_weight_norm(fc)
    np.testing.assert_allclose(fc.weight.detach().numpy(), 2 * w)


def test_init_functions():
    nb.manual_seed(0)
    w = nn.init.trunc_normal_(nb.empty(4000, dtype=nb.float64), mean=1.0, std=2.0, a=0.0, b=3.0)
    v = w.numpy()
    assert v.min() >= 0.0 and v.max() <= 3.0 and abs(v.mean() - 1.4) < 0.1
    q = nn.init.orthogonal_(nb.empty(3, 5, dtype=nb.float64), gain=2.0).numpy()
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-10)
    s = nn.init.sparse_(nb.empty(8, 4), sparsity=0.25).numpy()
    assert ((s == 0).sum(0) == 2).all()
    assert nn.init.eye_(nb.empty(2, 2)).tolist() == [[1, 0], [0, 1]]
    d = nn.init.dirac_(nb.empty(4, 2, 3, 3), groups=2).numpy()
    assert d.sum() == 4 and d[0, 0, 1, 1] == 1 and d[3, 1, 1, 1] == 1
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions"):
        nn.init.dirac_(nb.empty(2, 2))
    k = nn.init.kaiming_normal_(nb.empty(2000, 50), mode="fan_out", nonlinearity="relu")
    assert abs(k.numpy().std() - math.sqrt(2 / 2000)) < 0.003
    assert nn.init.calculate_gain("conv_transpose2d") == 1.0
    assert abs(nn.init.calculate_gain("leaky_relu", 0.2) - math.sqrt(2 / 1.04)) < 1e-12


def test_spectral_norm_hooks_and_parametrization():
    nb.manual_seed(1)
    fc = nn.utils.spectral_norm(nn.Linear(5, 4).double(), n_power_iterations=3)
    w_orig = fc.weight_orig.detach().numpy()
    for _ in range(20):
        fc(nb.ones(1, 5, dtype=nb.float64))
    np.testing.assert_allclose(fc.weight.detach().numpy(), w_orig / np.linalg.norm(w_orig, 2),
                               rtol=1e-6)
    u, v = fc.weight_u.numpy(), fc.weight_v.numpy()
    np.testing.assert_allclose(u @ w_orig @ v, np.linalg.norm(w_orig, 2), rtol=1e-8)
    fc(nb.ones(1, 5, dtype=nb.float64)).sum().backward()
    assert fc.weight_orig.grad is not None
    nn.utils.remove_spectral_norm(fc)
    assert sorted(fc.state_dict()) == ["bias", "weight"]
    m = nn.utils.parametrizations.spectral_norm(nn.Linear(5, 4).double())
    for _ in range(10):
        m(nb.ones(1, 5, dtype=nb.float64))
    assert abs(np.linalg.norm(m.weight.detach().numpy(), 2) - 1.0) < 1e-3  # power method
    assert sorted(m.state_dict()) == ["bias", "parametrizations.weight.0._u",
                                      "parametrizations.weight.0._v",
                                      "parametrizations.weight.original"]


def test_parametrize_register_and_remove():
    from nbgrad.nn.utils import parametrize

    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

        def right_inverse(self, y):
            return y / 2

    m = nn.Linear(2, 2).double()
    w = m.weight.detach().numpy().copy()
    parametrize.register_parametrization(m, "weight", Double())
    np.testing.assert_allclose(m.weight.detach().numpy(), w)  # right_inverse at registration
    assert parametrize.is_parametrized(m, "weight") and type(m).__name__ == "ParametrizedLinear"
    m(nb.ones(1, 2, dtype=nb.float64)).sum().backward()
    np.testing.assert_allclose(m.parametrizations.weight.original.grad.numpy(), 2 * np.ones((2, 2)))
    parametrize.register_parametrization(m, "weight", Double())  # chained: 4 * original
    np.testing.assert_allclose(m.weight.detach().numpy(), 2 * w)
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(m.weight.detach().numpy(), 2 * w)
    wn = nn.utils.parametrizations.weight_norm(nn.Linear(3, 2).double())
    g = wn.parametrizations.weight.original0.detach().numpy()
    v = wn.parametrizations.weight.original1.detach().numpy()
    np.testing.assert_allclose(wn.weight.detach().numpy(),
                               v * g / np.linalg.norm(v, axis=1, keepdims=True))


@pytest.mark.parametrize("shape,omap", [((3, 3), "matrix_exp"), ((4, 2), "householder"),
                                        ((2, 4), "matrix_exp")])
def test_orthogonal_parametrization(shape, omap):
    lin = nn.Linear(shape[1], shape[0]).double()
    nn.utils.parametrizations.orthogonal(lin, orthogonal_map=omap)
    orig = lin.parametrizations.weight.original
    with nb.no_grad():
        noise = np.random.default_rng(0).standard_normal(shape) * 0.3
        orig.add_(nb.tensor(np.tril(noise, -1)))  # householder keeps the diagonal at +-1
    w = lin.weight.detach().numpy()
    gram = w @ w.T if shape[0] <= shape[1] else w.T @ w
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    assert sorted(lin.state_dict()) == ["bias", "parametrizations.weight.0.base",
                                        "parametrizations.weight.original"]
    lin(nb.ones(1, shape[1], dtype=nb.float64)).sum().backward()
    assert orig.grad is not None and np.isfinite(orig.grad.numpy()).all()


def test_matrix_exp_series():
    from nbgrad.nn.utils.parametrizations import _matrix_exp

    a = np.random.default_rng(1).standard_normal((3, 3)) * 2.0
    ref, term = np.eye(3), np.eye(3)
    for k in range(1, 80):
        term = term @ a / k
        ref = ref + term
    np.testing.assert_allclose(_matrix_exp(nb.tensor(a)).numpy(), ref, rtol=1e-10)
    x = nb.tensor(a * 0.2, requires_grad=True)
    assert nb.autograd.gradcheck(_matrix_exp, (x,))
