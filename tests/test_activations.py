"""The activations of nbgrad/nn/_activations.py and their modules (nbgrad/nn/activation.py):
values against numpy formulas, float64 gradcheck and gradgradcheck, in-place forms, module reprs
(PyTorch's) and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad import nn
from nbgrad.autograd import gradcheck, gradgradcheck

SA, SS = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sp(x):
    return np.log1p(np.exp(x))


# name -> (function of a tensor, numpy reference)
REF = {
    "elu": (lambda t: F.elu(t, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    "selu": (F.selu, lambda x: SS * np.where(x > 0, x, SA * np.expm1(x))),
    "celu": (lambda t: F.celu(t, 2.0), lambda x: np.where(x > 0, x, 2 * np.expm1(x / 2))),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "hardtanh": (lambda t: F.hardtanh(t, -0.5, 1.5), lambda x: np.clip(x, -0.5, 1.5)),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "mish": (F.mish, lambda x: x * np.tanh(_sp(x))),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x)),
    "softshrink": (lambda t: F.softshrink(t, 0.3),
                   lambda x: np.where(x > 0.3, x - 0.3, np.where(x < -0.3, x + 0.3, 0))),
    "hardshrink": (lambda t: F.hardshrink(t, 0.3), lambda x: np.where(np.abs(x) > 0.3, x, 0)),
    "threshold": (lambda t: F.threshold(t, 0.2, -3.0), lambda x: np.where(x > 0.2, x, -3.0)),
    "rrelu_eval": (lambda t: F.rrelu(t, 0.1, 0.3), lambda x: np.where(x >= 0, x, 0.2 * x)),
    "softmin": (lambda t: F.softmin(t, dim=1),
                lambda x: np.exp(-x) / np.exp(-x).sum(1, keepdims=True)),
    "glu": (lambda t: F.glu(t, 1), lambda x: x[:, :2] / (1 + np.exp(-x[:, 2:]))),
    "normalize": (F.normalize, lambda x: x / np.sqrt((x * x).sum(1, keepdims=True))),
    "normalize_p1": (lambda t: F.normalize(t, p=1, dim=0),
                     lambda x: x / np.abs(x).sum(0, keepdims=True)),
    "normalize_p3": (lambda t: F.normalize(t, p=3, dim=1),
                     lambda x: x / ((np.abs(x) ** 3).sum(1, keepdims=True)) ** (1 / 3)),
    "prelu": (lambda t: F.prelu(t, nb.tensor([0.1, 0.2, 0.3, 0.4], dtype=t.dtype)),
              lambda x: np.where(x > 0, x, x * np.array([0.1, 0.2, 0.3, 0.4]))),
}


def _inputs(rng, shape=(3, 4)):
    # kept 0.05 away from every kink (0, +-0.3, 0.2, +-3, 6, ...) so finite differences hold
    x = rng.uniform(-4.0, 7.0, shape)
    kinks = np.array([0.0, 0.3, -0.3, 0.2, -0.5, 1.5, 3.0, -3.0, 6.0])
    near = np.abs(x[..., None] - kinks).min(-1) < 0.05
    return np.where(near, x + 0.1, x)


@pytest.mark.parametrize("name", sorted(REF))
@pytest.mark.parametrize("dtype", [nb.float32, nb.float64], ids=["f32", "f64"])
def test_values(name, dtype):
    fn, ref = REF[name]
    x = _inputs(np.random.default_rng(0))
    out = fn(nb.tensor(x, dtype=dtype))
    assert out.dtype is dtype
    tol = 2e-5 if dtype is nb.float32 else 1e-12
    np.testing.assert_allclose(out.numpy(), ref(x.astype(dtype.np).astype(np.float64)),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(REF))
def test_gradients(name):
    fn, _ = REF[name]
    x = nb.tensor(_inputs(np.random.default_rng(1)) / 2, dtype=nb.float64, requires_grad=True)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_gradients_stay_finite_on_large_inputs():
    x = nb.tensor([-1000.0, 1000.0], dtype=nb.float64, requires_grad=True)
    for fn in (F.elu, F.selu, F.celu, F.mish, F.softsign):
        g, = nb.autograd.grad(fn(x).sum(), x)
        assert all(math.isfinite(v) for v in g.tolist()), fn.__name__
    z = nb.zeros(2, 3, dtype=nb.float64, requires_grad=True)
    g, = nb.autograd.grad(F.normalize(z).sum(), z)
    assert all(math.isfinite(v) for v in g.flatten().tolist())


def test_prelu_weight_gradients_and_shapes():
    rng = np.random.default_rng(2)
    x = nb.tensor(_inputs(rng, (2, 3, 4)), dtype=nb.float64, requires_grad=True)
    w = nb.tensor([0.1, 0.2, 0.3], dtype=nb.float64, requires_grad=True)
    assert gradcheck(F.prelu, (x, w)) and gradgradcheck(F.prelu, (x, w))
    one = nb.tensor([0.25], dtype=nb.float64, requires_grad=True)
    assert gradcheck(F.prelu, (x, one))
    assert F.prelu(nb.tensor([-4.0]), nb.tensor(0.5)).tolist() == [-2.0]
    with pytest.raises(RuntimeError, match="Found parameter numbers = 2 and channel size = 3"):
        F.prelu(nb.ones(2, 3), nb.ones(2))


def test_rrelu_training_draws_slopes_in_range():
    x = -nb.ones(1000)
    out = F.rrelu(x, 0.1, 0.3, training=True).numpy()
    assert (out <= -0.1).all() and (out >= -0.3).all() and out.std() > 0.01
    assert F.rrelu(nb.tensor([2.0]), training=True).tolist() == [2.0]


def test_inplace_forms():
    for fn, kwargs in ((F.elu, {}), (F.selu, {}), (F.celu, {}), (F.leaky_relu, {}),
                       (F.relu6, {}), (F.hardtanh, {}), (F.hardswish, {}), (F.hardsigmoid, {}),
                       (F.mish, {}), (F.rrelu, {}), (F.threshold, {"threshold": 0.0,
                                                                   "value": 5.0})):
        x = nb.tensor([-2.0, 0.5, 8.0])
        expected = fn(x, **kwargs).tolist()
        assert fn(x, **kwargs, inplace=True) is x and x.tolist() == expected, fn.__name__
    for fn in (F.elu_, F.selu_, F.celu_, F.leaky_relu_, F.hardtanh_, F.rrelu_):
        x = nb.tensor([-2.0, 0.5])
        assert fn(x) is x and x._version >= 1
    x = nb.tensor([-1.0, 1.0])
    assert F.threshold_(x, 0.0, 7.0) is x and x.tolist() == [7.0, 1.0]
    # recorded: a new tensor, and backward still works
    leaf = nb.tensor([-2.0, 3.0], requires_grad=True)
    h = leaf * 1
    y = F.elu(h, inplace=True)
    y.sum().backward()
    assert leaf.grad.tolist() == pytest.approx([math.exp(-2.0), 1.0])


def test_errors():
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 0 is "
                                           "size 3"):
        F.glu(nb.ones(3))
    with pytest.raises(ValueError, match="lambda must be greater or equal to 0"):
        F.softshrink(nb.ones(2), -1.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(nb.ones(2), 2.0, 1.0)
    with pytest.raises(TypeError, match=r"elu\(\): argument 'input' must be a Tensor"):
        F.elu([1.0])
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 1D"):
        nn.Softmax2d()(nb.ones(3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        F.softmin(nb.ones(2, 3))


REPRS = [
    (nn.ELU(), "ELU(alpha=1.0)"), (nn.ELU(0.5, True), "ELU(alpha=0.5, inplace=True)"),
    (nn.SELU(), "SELU()"), (nn.SELU(True), "SELU(inplace=True)"), (nn.CELU(), "CELU(alpha=1.0)"),
    (nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
    (nn.LeakyReLU(0.2, True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (nn.ReLU6(), "ReLU6()"), (nn.ReLU6(True), "ReLU6(inplace=True)"),
    (nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (nn.Hardtanh(-2.0, 2.0, True), "Hardtanh(min_val=-2.0, max_val=2.0, inplace=True)"),
    (nn.Hardswish(), "Hardswish()"), (nn.Hardsigmoid(), "Hardsigmoid()"), (nn.Mish(), "Mish()"),
    (nn.Mish(True), "Mish(inplace=True)"), (nn.Softsign(), "Softsign()"),
    (nn.Softmin(1), "Softmin(dim=1)"), (nn.Softmin(), "Softmin(dim=None)"),
    (nn.Tanhshrink(), "Tanhshrink()"), (nn.Softshrink(), "Softshrink(0.5)"),
    (nn.Hardshrink(), "Hardshrink(0.5)"), (nn.Threshold(0.1, 20), "Threshold(threshold=0.1, "
                                                                  "value=20)"),
    (nn.Threshold(0.1, 20, True), "Threshold(threshold=0.1, value=20, inplace=True)"),
    (nn.PReLU(), "PReLU(num_parameters=1)"), (nn.PReLU(3, 0.1), "PReLU(num_parameters=3)"),
    (nn.RReLU(), "RReLU(lower=0.125, upper=0.3333333333333333)"),
    (nn.RReLU(0.1, 0.3, True), "RReLU(lower=0.1, upper=0.3, inplace=True)"),
    (nn.GLU(), "GLU(dim=-1)"), (nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"),
    (nn.Softplus(2, 10), "Softplus(beta=2, threshold=10)"), (nn.LogSigmoid(), "LogSigmoid()"),
    (nn.Softmax2d(), "Softmax2d()"),
]


@pytest.mark.parametrize("module, text", REPRS, ids=[t for _, t in REPRS])
def test_module_reprs(module, text):
    assert repr(module) == text


def test_modules_compute_their_function():
    x = nb.tensor(_inputs(np.random.default_rng(3), (2, 4, 2, 2)))
    pairs = [
        (nn.ELU(0.5), F.elu(x, 0.5)), (nn.SELU(), F.selu(x)), (nn.CELU(2.0), F.celu(x, 2.0)),
        (nn.LeakyReLU(0.2), F.leaky_relu(x, 0.2)), (nn.ReLU6(), F.relu6(x)),
        (nn.Hardtanh(-2, 2), F.hardtanh(x, -2, 2)), (nn.Hardswish(), F.hardswish(x)),
        (nn.Hardsigmoid(), F.hardsigmoid(x)), (nn.Mish(), F.mish(x)),
        (nn.Softsign(), F.softsign(x)), (nn.Softmin(1), F.softmin(x, 1)),
        (nn.Tanhshrink(), F.tanhshrink(x)), (nn.Softshrink(0.2), F.softshrink(x, 0.2)),
        (nn.Hardshrink(0.2), F.hardshrink(x, 0.2)), (nn.Threshold(0.5, 2.0),
                                                     F.threshold(x, 0.5, 2.0)),
        (nn.GLU(1), F.glu(x, 1)), (nn.Softplus(2.0), F.softplus(x, 2.0)),
        (nn.LogSigmoid(), F.logsigmoid(x)), (nn.Softmax2d(), F.softmax(x, 1)),
        (nn.RReLU(0.1, 0.3).eval(), F.rrelu(x, 0.1, 0.3)),
    ]
    for module, expected in pairs:
        np.testing.assert_allclose(module(x).numpy(), expected.numpy(), err_msg=repr(module))
    prelu = nn.PReLU(4, 0.3)
    assert [n for n, _ in prelu.named_parameters()] == ["weight"]
    out = prelu(x)
    np.testing.assert_allclose(out.detach().numpy(), np.where(x.numpy() > 0, x.numpy(),
                                                              0.3 * x.numpy()), rtol=1e-6)
    out.sum().backward()
    assert prelu.weight.grad.shape == (4,)
    assert nn.Softmax2d()(nb.zeros(2, 1, 1)).tolist() == [[[0.5]], [[0.5]]]


def test_tensor_softmax_methods():
    x = nb.tensor([[1.0, 2.0, 3.0]])
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(x.softmax(1).numpy(), [e / e.sum()], rtol=1e-6)
    np.testing.assert_allclose(x.softmax(dim=-1).numpy(), [e / e.sum()], rtol=1e-6)
    assert x.softmax(1, dtype=nb.float64).dtype is nb.float64
    np.testing.assert_allclose(x.log_softmax(1).numpy(), [np.log(e / e.sum())], rtol=1e-6)
    assert nb.softmax(x, 0).tolist() == [[1.0, 1.0, 1.0]]
    assert nb.log_softmax(x, dim=1, dtype=nb.float64).dtype is nb.float64
    t = nb.tensor([[0.3, -1.0], [2.0, 0.5]], dtype=nb.float64, requires_grad=True)
    assert gradcheck(lambda a: a.softmax(1), (t,)) and gradcheck(lambda a: a.log_softmax(0), (t,))
