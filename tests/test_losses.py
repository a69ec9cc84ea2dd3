"""Loss functions against numpy formulas, gradients by float64 gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad import nn

RNG = np.random.default_rng(3)
X = RNG.standard_normal((4, 5))
Y = RNG.standard_normal((4, 5))
S = np.array([1.0, -1.0, 1.0, -1.0])
T = np.array([1, 0, 4, 2])


def t(a, grad=False):
    return nb.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def softplus(z):
    return np.logaddexp(0, z)


REFS = {
    "smooth_l1": (lambda x, y: F.smooth_l1_loss(x, y, beta=0.5, reduction="none"),
                  lambda x, y: np.where(np.abs(x - y) < 0.5, (x - y) ** 2 / 1.0,
                                        np.abs(x - y) - 0.25)),
    "huber": (lambda x, y: F.huber_loss(x, y, delta=0.7, reduction="none"),
              lambda x, y: np.where(np.abs(x - y) <= 0.7, 0.5 * (x - y) ** 2,
                                    0.7 * (np.abs(x - y) - 0.35))),
    "soft_margin": (lambda x, y: F.soft_margin_loss(x, nb.tensor(np.sign(Y)), reduction="none"),
                    lambda x, y: softplus(-np.sign(Y) * x)),
    "gauss": (lambda x, y: F.gaussian_nll_loss(x, y, t(np.abs(Y) + 0.5), reduction="none"),
              lambda x, y: 0.5 * (np.log(np.abs(Y) + 0.5) + (x - y) ** 2 / (np.abs(Y) + 0.5))),
    "poisson": (lambda x, y: F.poisson_nll_loss(x, t(np.abs(Y)), reduction="none"),
                lambda x, y: np.exp(x) - np.abs(Y) * x),
}


@pytest.mark.parametrize("name", sorted(REFS))
def test_pointwise_losses(name):
    fn, ref = REFS[name]
    np.testing.assert_allclose(fn(t(X), t(Y)).detach().numpy(), ref(X, Y), atol=1e-12)
    assert nb.autograd.gradcheck(lambda x, y: fn(x, y).sum(), (t(X, True), t(Y, True)))


def test_reductions_and_deprecated_args():
    l1 = (lambda **kw: F.smooth_l1_loss(t(X), t(Y), **kw))
    none = l1(reduction="none").numpy()
    assert abs(l1(reduction="sum").item() - none.sum()) < 1e-12
    assert abs(l1().item() - none.mean()) < 1e-12
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        out = l1(size_average=False)
    assert abs(out.item() - none.sum()) < 1e-12
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        nn.HuberLoss(reduction="avg")


def test_kl_div():
    logq = X - np.log(np.exp(X).sum(1, keepdims=True))
    p = np.exp(Y) / np.exp(Y).sum(1, keepdims=True)
    ref = (p * (np.log(p) - logq)).sum() / 4
    assert abs(nn.KLDivLoss(reduction="batchmean")(t(logq), t(p)).item() - ref) < 1e-12
    lt = F.kl_div(t(logq), t(np.log(p)), reduction="batchmean", log_target=True)
    assert abs(lt.item() - ref) < 1e-12
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(t(logq), t(p))


def test_pair_and_margin_losses():
    cos = (X * Y).sum(1) / np.sqrt((X * X).sum(1) * (Y * Y).sum(1))
    ref = np.where(S == 1, 1 - cos, np.maximum(0, cos - 0.1))
    got = F.cosine_embedding_loss(t(X), t(Y), t(S), margin=0.1, reduction="none").numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    got = F.margin_ranking_loss(t(X[:, 0]), t(Y[:, 0]), t(S), margin=0.2, reduction="none")
    np.testing.assert_allclose(got.numpy(), np.maximum(0, -S * (X[:, 0] - Y[:, 0]) + 0.2))
    got = F.hinge_embedding_loss(t(X[:, 0]), t(S), margin=0.5, reduction="none").numpy()
    np.testing.assert_allclose(got, np.where(S == 1, X[:, 0], np.maximum(0, 0.5 - X[:, 0])))
    d = lambda a, b: np.linalg.norm(a - b + 1e-6, axis=1)  # noqa: E731
    Z = RNG.standard_normal((4, 5))
    got = F.triplet_margin_loss(t(X), t(Y), t(Z), margin=0.5, reduction="none").numpy()
    np.testing.assert_allclose(got, np.maximum(d(X, Y) - d(X, Z) + 0.5, 0), atol=1e-12)
    assert nb.autograd.gradcheck(lambda a, b, c: F.triplet_margin_loss(a, b, c),
                                 (t(X, True), t(Y, True), t(Z, True)))


def test_multi_class_margin_losses():
    w = RNG.random(5)
    xy = X[np.arange(4), T][:, None]
    z = np.maximum(0, 1.0 - xy + X) ** 2 * w[T][:, None]
    z[np.arange(4), T] = 0
    got = F.multi_margin_loss(t(X), nb.tensor(T), p=2, weight=t(w), reduction="none").numpy()
    np.testing.assert_allclose(got, z.sum(1) / 5, atol=1e-12)
    tgt = np.array([[3, 0, -1, 1, 2]] * 4)
    labels, others = [3, 0], [1, 2, 4]
    ref = np.array([sum(max(0, 1 - (x[j] - x[i])) for j in labels for i in others) / 5
                    for x in X])
    got = F.multilabel_margin_loss(t(X), nb.tensor(tgt), reduction="none").numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    y = (Y > 0).astype(np.float64)
    ref = (y * softplus(-X) + (1 - y) * softplus(X)).mean(1).mean()
    assert abs(F.multilabel_soft_margin_loss(t(X), t(y)).item() - ref) < 1e-12
    assert nb.autograd.gradcheck(lambda x: F.multi_margin_loss(x, nb.tensor(T)), (t(X, True),))


def _ctc_brute(lp, target, blank=0):
    """-log of the summed probability of every frame path that collapses to ``target``."""
    import itertools

    total = 0.0
    steps, classes = lp.shape
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c)]
        if collapsed == list(target):
            total += math.exp(sum(lp[i, c] for i, c in enumerate(path)))
    return -math.log(total)


def test_ctc_loss_brute_force_and_gradcheck():
    logits = RNG.standard_normal((4, 2, 3))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = np.array([[1, 2], [1, 1]])
    got = F.ctc_loss(t(lp), nb.tensor(targets), [4, 4], [2, 2], reduction="none").numpy()
    ref = [_ctc_brute(lp[:, b], targets[b]) for b in range(2)]
    np.testing.assert_allclose(got, ref, atol=1e-10)
    mean = nn.CTCLoss()(t(lp), nb.tensor(targets), [4, 4], [2, 2]).item()
    assert abs(mean - np.mean(np.array(ref) / 2)) < 1e-10
    impossible = F.ctc_loss(t(lp[:1, :1]), nb.tensor([[1, 1]]), [1], [2], reduction="none")
    assert np.isinf(impossible.numpy()).all()
    zero = F.ctc_loss(t(lp[:1, :1]), nb.tensor([[1, 1]]), [1], [2], zero_infinity=True)
    assert zero.item() == 0.0
    x = t(logits, True)
    assert nb.autograd.gradcheck(
        lambda x: F.ctc_loss(F.log_softmax(x, 2), nb.tensor(targets), [4, 3], [2, 1]), (x,))


def test_existing_class_losses_k_dim_and_smoothing():
    x = RNG.standard_normal((2, 3, 4))
    tgt = RNG.integers(0, 3, (2, 4))
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    ref = -np.take_along_axis(logp, tgt[:, None], 1).mean()
    assert abs(F.cross_entropy(t(x), nb.tensor(tgt)).item() - ref) < 1e-12
    assert abs(F.nll_loss(t(logp), nb.tensor(tgt)).item() - ref) < 1e-12
    smooth = (0.9 * -np.take_along_axis(logp, tgt[:, None], 1)[:, 0] - 0.1 / 3 * logp.sum(1))
    got = F.cross_entropy(t(x), nb.tensor(tgt), label_smoothing=0.1).item()
    assert abs(got - smooth.mean()) < 1e-12


def test_second_order_gradients():
    x, y = t(X[:2, :3], True), t(Y[:2, :3], True)
    assert nb.autograd.gradgradcheck(lambda a, b: F.huber_loss(a, b, delta=0.5), (x, y))
    assert nb.autograd.gradgradcheck(lambda a: F.soft_margin_loss(a, t(np.sign(Y[:2, :3]))), (x,))
    assert nb.autograd.gradgradcheck(
        lambda a, b: F.cosine_embedding_loss(a, b, nb.tensor([1.0, -1.0]), margin=-1.0), (x, y))
    assert nb.autograd.gradgradcheck(
        lambda a: F.kl_div(F.log_softmax(a, 1), t(np.full((2, 3), 1 / 3)),
                           reduction="batchmean"), (x,))


def test_poisson_nll_full_is_differentiable_in_target():
    # full=True adds Stirling's term t*log(t) - t + 0.5*log(2*pi*t) where t > 1; its gradient
    # in t (log(t) + 0.5/t) is part of the target's gradient, as in PyTorch
    x, y = np.array([0.5, 2.0, 1.3, 0.8]), np.array([0.5, 3.0, 2.5, 1.0])
    a, b = t(x, True), t(y, True)
    F.poisson_nll_loss(a, b, log_input=False, full=True, reduction="sum").backward()
    stirling = np.where(y > 1, np.log(y) + 0.5 / y, 0.0)
    np.testing.assert_allclose(b.grad.numpy(), -np.log(x + 1e-8) + stirling, rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), 1 - y / (x + 1e-8), rtol=1e-12)
    assert nb.autograd.gradcheck(
        lambda u, v: F.poisson_nll_loss(u, v, full=True), (t(x, True), t(y + 0.2, True)))
