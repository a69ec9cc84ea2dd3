"""nb.nn.functional: values against numpy, gradients by finite differences (float64), errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1234)


def t64(a, requires_grad=True):
    return nb.tensor(np.asarray(a, dtype=np.float64), dtype=nb.float64,
                     requires_grad=requires_grad)


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_cross_entropy(x, t, weight=None, ignore_index=-100, smoothing=0.0, reduction="mean"):
    n, c = x.shape
    w = np.ones(c) if weight is None else weight
    logp = np_log_softmax(x, 1)
    losses, wts = np.zeros(n), np.zeros(n)
    for i in range(n):
        if t[i] == ignore_index:
            continue
        losses[i] = -(1 - smoothing) * w[t[i]] * logp[i, t[i]] - smoothing / c * (w * logp[i]).sum()
        wts[i] = w[t[i]]
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / wts.sum()


X = RNG.standard_normal((5, 4))
TARGET = np.array([0, 3, 1, 3, 2])


# ----------------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [nb.float32, nb.float64])
def test_softmax_and_log_softmax_values(dim, dtype):
    x = nb.tensor(X, dtype=dtype)
    ref = np_log_softmax(X, dim)
    tol = 1e-6 if dtype is nb.float32 else 1e-12
    np.testing.assert_allclose(F.log_softmax(x, dim).numpy(), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(F.softmax(x, dim).numpy(), np.exp(ref), rtol=tol, atol=tol)
    assert F.softmax(x, dim).dtype is dtype


def test_softmax_middle_dim_of_3d_tensor():
    a = RNG.standard_normal((2, 3, 4))
    np.testing.assert_allclose(F.log_softmax(t64(a, False), 1).numpy(), np_log_softmax(a, 1),
                               atol=1e-12)
    assert F.softmax(t64(a, False), 1).is_contiguous()


def test_softmax_is_stable_for_huge_logits():
    x = nb.tensor([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]])
    out = F.log_softmax(x, 1).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(F.softmax(x, 1).numpy()[1], [1 / 3] * 3, rtol=1e-6)
    loss = F.cross_entropy(x, nb.tensor([2, 0]))
    assert math.isfinite(loss.item())


def test_softmax_of_0d_and_implicit_dim_warning():
    assert F.softmax(nb.tensor(3.0), 0).item() == 1.0
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        out = F.softmax(nb.tensor(X))
    np.testing.assert_allclose(out.numpy(), np.exp(np_log_softmax(X, 1)), rtol=1e-6)


def test_softmax_refuses_integer_input():
    with pytest.raises(TypeError, match="floating point"):
        F.softmax(nb.tensor([1, 2]), 0)
    np.testing.assert_allclose(F.softmax(nb.tensor([1, 2]), 0, dtype=nb.float64).numpy(),
                               np.exp([1, 2]) / np.exp([1, 2]).sum())


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_gradients_first_and_second_order(fn, dim):
    x = t64(RNG.standard_normal((3, 4)))
    assert gradcheck(lambda a: fn(a, dim), (x,))
    assert gradgradcheck(lambda a: fn(a, dim), (x,))


# ----------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_values(reduction, smoothing, weighted):
    weight = np.array([0.5, 2.0, 1.0, 3.0]) if weighted else None
    t = TARGET.copy()
    t[2] = -100
    out = F.cross_entropy(t64(X, False), nb.tensor(t), reduction=reduction,
                          label_smoothing=smoothing,
                          weight=None if weight is None else t64(weight, False))
    ref = np_cross_entropy(X, t, weight, smoothing=smoothing, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_gradients_first_and_second_order(reduction, smoothing):
    w = t64([0.5, 2.0, 1.0, 3.0], False)
    t = nb.tensor([0, 3, -100, 1])
    x = t64(RNG.standard_normal((4, 4)))
    f = lambda a: F.cross_entropy(a, t, weight=w, reduction=reduction,  # noqa: E731
                                  label_smoothing=smoothing)
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_cross_entropy_float32_gradient_matches_softmax_minus_onehot():
    x = nb.tensor(X, dtype=nb.float32, requires_grad=True)
    F.cross_entropy(x, nb.tensor(TARGET)).backward()
    p = np.exp(np_log_softmax(X, 1))
    p[np.arange(5), TARGET] -= 1
    np.testing.assert_allclose(x.grad.numpy(), p / 5, rtol=1e-5, atol=1e-7)
    assert x.grad.dtype is nb.float32


def test_cross_entropy_ignore_index_and_all_ignored():
    t = nb.tensor([7, 7, 1, 7, 0])
    x = t64(X)
    loss = F.cross_entropy(x, t, ignore_index=7)
    np.testing.assert_allclose(loss.item(), np_cross_entropy(X, np.array([7, 7, 1, 7, 0]),
                                                             ignore_index=7))
    loss.backward()
    assert np.all(x.grad.numpy()[[0, 1, 3]] == 0)
    everything_ignored = F.cross_entropy(t64(X, False), nb.tensor([-100] * 5))
    assert math.isnan(everything_ignored.item())


def test_cross_entropy_probability_targets():
    probs = np.exp(np_log_softmax(RNG.standard_normal((5, 4)), 1))
    out = F.cross_entropy(t64(X, False), t64(probs, False))
    ref = -(probs * np_log_softmax(X, 1)).sum(1).mean()
    np.testing.assert_allclose(out.item(), ref, rtol=1e-12)
    smoothed = F.cross_entropy(t64(X, False), t64(probs, False), label_smoothing=0.2,
                               reduction="sum")
    q = probs * 0.8 + 0.2 / 4
    np.testing.assert_allclose(smoothed.item(), -(q * np_log_softmax(X, 1)).sum(), rtol=1e-12)
    x = t64(X)
    assert gradcheck(lambda a: F.cross_entropy(a, t64(probs, False)), (x,))


def test_cross_entropy_spatial_and_unbatched_shapes():
    x = RNG.standard_normal((2, 3, 4))  # N=2, C=3, d=4
    t = RNG.integers(0, 3, (2, 4))
    out = F.cross_entropy(t64(x, False), nb.tensor(t), reduction="none")
    assert out.shape == (2, 4)
    rows = np.moveaxis(x, 1, -1).reshape(-1, 3)
    np.testing.assert_allclose(out.numpy().ravel(),
                               np_cross_entropy(rows, t.ravel(), reduction="none"), rtol=1e-12)
    xt = t64(x)
    assert gradcheck(lambda a: F.cross_entropy(a, nb.tensor(t)), (xt,))
    one = F.cross_entropy(t64(X[0], False), nb.tensor(3), reduction="none")
    assert one.shape == ()
    np.testing.assert_allclose(one.item(), -np_log_softmax(X[:1], 1)[0, 3])


def test_cross_entropy_errors():
    x = nb.tensor(X)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(x, nb.tensor([0, 4, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"\(5, 4\).*\(3,\)"):
        F.cross_entropy(x, nb.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, nb.tensor(TARGET), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, nb.tensor(TARGET), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"weight must be a tensor of shape \(4,\)"):
        F.cross_entropy(x, nb.tensor(TARGET), weight=nb.ones(3))
    with pytest.raises(TypeError, match="integer tensor"):
        F.cross_entropy(x, nb.tensor([True] * 5))
    with pytest.raises(TypeError, match="must be a Tensor"):
        F.cross_entropy(x, [0, 1, 2, 3, 0])


def test_cross_entropy_create_graph_gives_a_differentiable_gradient():
    x = t64(X)
    (g,) = nb.autograd.grad(F.cross_entropy(x, nb.tensor(TARGET)), x, create_graph=True)
    assert g.requires_grad
    (g * g).sum().backward()
    assert x.grad is not None and np.isfinite(x.grad.numpy()).all()


# ----------------------------------------------------------------------------- nll
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_values_and_gradients(reduction):
    logp = np_log_softmax(X, 1)
    w = np.array([1.0, 2.0, 0.5, 1.5])
    t = TARGET.copy()
    t[0] = -100
    out = F.nll_loss(t64(logp, False), nb.tensor(t), weight=t64(w, False), reduction=reduction)
    ref = np_cross_entropy(X, t, w, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    x = t64(logp)
    f = lambda a: F.nll_loss(a, nb.tensor(t), weight=t64(w, False),  # noqa: E731
                             reduction=reduction)
    assert gradcheck(f, (x,))
    assert gradgradcheck(lambda a: f(a.tanh()), (x,))


def test_log_softmax_then_nll_equals_cross_entropy():
    x = nb.tensor(X)
    a = F.nll_loss(F.log_softmax(x, 1), nb.tensor(TARGET))
    b = F.cross_entropy(x, nb.tensor(TARGET))
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)


# ----------------------------------------------------------------------------- activations
def _gelu_ref(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "gelu": (F.gelu, _gelu_ref),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                   * (x + 0.044715 * x**3)))),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x))),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (F.tanh, np.tanh),
    "logsigmoid": (F.logsigmoid, lambda x: -np.logaddexp(0, -x)),
    "softplus": (F.softplus, lambda x: np.logaddexp(0, x)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_values_and_gradients(name):
    fn, ref = ACTIVATIONS[name]
    a = RNG.standard_normal(7) * 2 + 0.05  # away from relu's kink at 0
    np.testing.assert_allclose(fn(t64(a, False)).numpy(), ref(a), rtol=1e-10, atol=1e-12)
    x = t64(a)
    assert gradcheck(fn, (x,))
    if name != "relu":
        assert gradgradcheck(fn, (x,))


def test_logsigmoid_and_softplus_are_stable():
    x = nb.tensor([-1000.0, 1000.0], dtype=nb.float64)
    np.testing.assert_allclose(F.logsigmoid(x).numpy(), [-1000.0, 0.0])
    np.testing.assert_allclose(F.softplus(x).numpy(), [0.0, 1000.0])


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 1.5), (0.5, 0.2)])
def test_softplus_is_linear_above_threshold(beta, threshold):
    # PyTorch's rule: x itself (gradient 1) where beta * x > threshold, the smooth formula
    # log1p(exp(beta x)) / beta (gradient sigmoid(beta x)) elsewhere
    xs = np.array([-3.0, -0.4, 0.3, 0.7, 0.76, 1.2, 5.0, 25.0])
    x = nb.tensor(xs, requires_grad=True)
    y = F.softplus(x, beta, threshold)
    y.sum().backward()
    linear = beta * xs > threshold
    np.testing.assert_allclose(y.detach().numpy(),
                               np.where(linear, xs, np.logaddexp(0, beta * xs) / beta), rtol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(),
                               np.where(linear, 1.0, 1 / (1 + np.exp(-beta * xs))), rtol=1e-14)
    assert nb.nn.Softplus(beta, threshold)(x).detach().numpy() == pytest.approx(y.detach().numpy())


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(nb.ones(2), approximate="fast")


# ----------------------------------------------------------------------------- dropout
def test_dropout_modes():
    x = nb.ones(1000)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 1.0).sum().item() == 0
    nb.manual_seed(3)
    y = F.dropout(x, 0.25).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.18 < (y == 0).mean() < 0.32
    nb.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.25).numpy(), y)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_dropout_gradient_uses_the_same_mask():
    x = t64(np.ones(50))
    nb.manual_seed(0)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())


# ----------------------------------------------------------------------------- losses
def test_regression_losses():
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    x, y = t64(a), t64(b, False)
    np.testing.assert_allclose(F.mse_loss(x, y).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(x, y, reduction="sum").item(), ((a - b) ** 2).sum())
    np.testing.assert_allclose(F.l1_loss(x, y, reduction="none").detach().numpy(), abs(a - b))
    assert gradcheck(lambda v: F.mse_loss(v, y), (x,))
    assert gradcheck(lambda v: F.l1_loss(v, y), (x,))
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(x, t64(b[0], False))


def test_binary_cross_entropy():
    p, t = RNG.uniform(0.05, 0.95, 6), RNG.uniform(0, 1, 6)
    ref = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(F.binary_cross_entropy(t64(p, False), t64(t, False)).item(),
                               ref.mean())
    w = RNG.uniform(0.5, 2, 6)
    np.testing.assert_allclose(
        F.binary_cross_entropy(t64(p, False), t64(t, False), weight=t64(w, False),
                               reduction="sum").item(), (w * ref).sum())
    assert gradcheck(lambda v: F.binary_cross_entropy(v, t64(t, False)), (t64(p),))
    edge = F.binary_cross_entropy(nb.tensor([0.0, 1.0]), nb.tensor([1.0, 0.0]),
                                  reduction="none")
    np.testing.assert_allclose(edge.numpy(), [100.0, 100.0])  # log clamped at -100
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(nb.tensor([1.5]), nb.tensor([1.0]))
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(nb.tensor([0.5, 0.5]), nb.tensor([1.0]))


def test_binary_cross_entropy_with_logits():
    z, t = RNG.standard_normal(6) * 3, RNG.uniform(0, 1, 6)
    pw = RNG.uniform(0.5, 3, 6)
    log_sig = -np.logaddexp(0, -z)
    ref = -(pw * t * log_sig + (1 - t) * (log_sig - z))
    out = F.binary_cross_entropy_with_logits(t64(z, False), t64(t, False),
                                             pos_weight=t64(pw, False), reduction="none")
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    plain = F.binary_cross_entropy_with_logits(t64(z, False), t64(t, False))
    sig = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(plain.item(),
                               (-(t * np.log(sig) + (1 - t) * np.log(1 - sig))).mean())
    big = F.binary_cross_entropy_with_logits(nb.tensor([500.0, -500.0]), nb.tensor([0.0, 1.0]),
                                             reduction="none")
    np.testing.assert_allclose(big.numpy(), [500.0, 500.0])
    assert gradcheck(lambda v: F.binary_cross_entropy_with_logits(
        v, t64(t, False), pos_weight=t64(pw, False)), (t64(z),))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(nb.ones(3), nb.ones(2))


# ----------------------------------------------------------------------------- layers
def test_linear_values_gradients_and_errors():
    a, w, b = RNG.standard_normal((3, 4)), RNG.standard_normal((2, 4)), RNG.standard_normal(2)
    out = F.linear(t64(a, False), t64(w, False), t64(b, False))
    np.testing.assert_allclose(out.numpy(), a @ w.T + b)
    np.testing.assert_allclose(F.linear(t64(a, False), t64(w, False)).numpy(), a @ w.T)
    assert gradcheck(lambda x, ww, bb: F.linear(x, ww, bb), (t64(a), t64(w), t64(b)))
    with pytest.raises(ValueError, match=r"linear: input of shape \(3, 4\).*\(2, 5\)"):
        F.linear(t64(a), t64(RNG.standard_normal((2, 5))))
    with pytest.raises(ValueError, match="bias"):
        F.linear(t64(a), t64(w), t64(np.ones(3)))


def test_embedding_values_gradients_and_padding():
    w = RNG.standard_normal((6, 3))
    idx = np.array([[0, 1], [5, 0]])
    out = F.embedding(nb.tensor(idx), t64(w, False))
    np.testing.assert_array_equal(out.numpy(), w[idx])
    weight = t64(w)
    assert gradcheck(lambda v: F.embedding(nb.tensor(idx), v), (weight,))
    assert gradgradcheck(lambda v: F.embedding(nb.tensor(idx), v) ** 2, (weight,))
    F.embedding(nb.tensor(idx), weight, padding_idx=0).sum().backward()
    expected = np.zeros((6, 3))
    expected[1] = 1
    expected[5] = 1  # row 0 is the padding row: no gradient
    np.testing.assert_array_equal(weight.grad.numpy(), expected)
    with pytest.raises(IndexError, match="index 6 is out of range"):
        F.embedding(nb.tensor([6]), weight)
    with pytest.raises(TypeError, match="integer tensor"):
        F.embedding(nb.tensor([0.0]), weight)


def test_layer_norm_values_gradients_and_errors():
    a = RNG.standard_normal((2, 3, 4))
    w, b = RNG.standard_normal(4), RNG.standard_normal(4)
    mu = a.mean(-1, keepdims=True)
    ref = (a - mu) / np.sqrt(a.var(-1, keepdims=True) + 1e-5) * w + b
    out = F.layer_norm(t64(a, False), (4,), t64(w, False), t64(b, False))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    two = F.layer_norm(t64(a, False), (3, 4)).numpy()
    flat = a.reshape(2, -1)
    np.testing.assert_allclose(two.reshape(2, -1),
                               (flat - flat.mean(1, keepdims=True))
                               / np.sqrt(flat.var(1, keepdims=True) + 1e-5), rtol=1e-10)
    assert gradcheck(lambda x, ww, bb: F.layer_norm(x, (4,), ww, bb),
                     (t64(a[0]), t64(w), t64(b)))
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*, 5\]"):
        F.layer_norm(t64(a), (5,))


def test_one_hot():
    out = F.one_hot(nb.tensor([0, 2, 1]))
    assert out.dtype is nb.int64
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(nb.tensor([[1], [0]]), num_classes=4).shape == (2, 1, 4)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(nb.tensor([-1, 0]))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(nb.tensor([3]), num_classes=3)
    with pytest.raises(RuntimeError, match="index tensor"):
        F.one_hot(nb.tensor([1.0]))


def test_linear_is_one_node_whose_weight_gradient_needs_no_copy():
    x = nb.randn(4, 3)
    w = nb.randn(2, 3, requires_grad=True)
    b = nb.randn(2, requires_grad=True)
    out = F.linear(x, w, b)
    assert out.grad_fn.name() == "AddmmBackward0"
    out.sum().backward()
    assert w.grad.is_contiguous() and w.grad.shape == (2, 3)
    np.testing.assert_allclose(w.grad.numpy(), np.ones((4, 2)).T @ x.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), [4.0, 4.0])
    mixed = F.linear(nb.ones(1, 3, dtype=nb.float64), w)  # no fused kernel: composed ops
    assert mixed.dtype is nb.float64


def test_an_all_minus_inf_row_gives_nan_not_an_exception():
    x = nb.tensor([[-math.inf, -math.inf], [1.0, 2.0]], requires_grad=True)
    assert np.isnan(F.softmax(x, 1).detach().numpy()[0]).all()
    assert np.isnan(F.log_softmax(x, 1).detach().numpy()[0]).all()
    loss = F.cross_entropy(x, nb.tensor([0, 1]), reduction="none")
    assert math.isnan(loss.detach().numpy()[0]) and math.isfinite(loss.detach().numpy()[1])
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()[1]).all()
