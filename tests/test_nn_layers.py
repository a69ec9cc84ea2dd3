"""Normalisation, dropout, embedding and distance layers against numpy formulas."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad import nn

RNG = np.random.default_rng(0)


def t64(a, grad=False):
    return nb.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_batch_norm_training_and_running_stats():
    x = RNG.standard_normal((5, 3, 2))
    bn = nn.BatchNorm1d(3, momentum=0.25).double()
    y = bn(t64(x)).detach().numpy()
    mean = x.mean((0, 2), keepdims=True)
    var = x.var((0, 2), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.25 * mean.ravel(), atol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.75 + 0.25 * x.var((0, 2), ddof=1),
                               atol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    y2 = bn(t64(x)).detach().numpy()
    rm, rv = bn.running_mean.numpy()[:, None], bn.running_var.numpy()[:, None]
    np.testing.assert_allclose(y2, (x - rm) / np.sqrt(rv + 1e-5), atol=1e-12)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]


def test_batch_norm_cumulative_average_and_errors():
    bn = nn.BatchNorm1d(2, momentum=None).double()
    a, b = RNG.standard_normal((4, 2)), RNG.standard_normal((4, 2))
    bn(t64(a))
    bn(t64(b))
    np.testing.assert_allclose(bn.running_mean.numpy(), (a.mean(0) + b.mean(0)) / 2, atol=1e-12)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(2)(nb.zeros(2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(2)(nb.zeros(1, 2))
    nt = nn.BatchNorm1d(2, track_running_stats=False, affine=False)
    assert nt.running_mean is None and list(nt.state_dict()) == []
    assert repr(nn.BatchNorm2d(4)) == ("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, "
                                       "bias=True, track_running_stats=True)")
    assert list(nn.BatchNorm1d(2, bias=False).state_dict())[:2] == ["weight", "running_mean"]


def test_norm_gradients():
    x = t64(RNG.standard_normal((3, 4, 2)), True)
    w, b = t64(RNG.standard_normal(4), True), t64(RNG.standard_normal(4), True)
    assert nb.autograd.gradcheck(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), (x, w, b))
    assert nb.autograd.gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), (x, w, b))
    assert nb.autograd.gradcheck(lambda x: F.instance_norm(x), (x,))
    assert nb.autograd.gradcheck(lambda x: F.local_response_norm(x, 3), (x,))
    assert nb.autograd.gradcheck(lambda x: F.rms_norm(x, (2,)), (x,))


def test_group_instance_rms_lrn_values():
    x = RNG.standard_normal((2, 4, 3))
    g = x.reshape(2, 2, -1)
    ref = (g - g.mean(2, keepdims=True)) / np.sqrt(g.var(2, keepdims=True) + 1e-5)
    ref = ref.reshape(x.shape)
    np.testing.assert_allclose(nn.GroupNorm(2, 4).double()(t64(x)).detach().numpy(), ref,
                               atol=1e-12)
    ref = (x - x.mean(2, keepdims=True)) / np.sqrt(x.var(2, keepdims=True) + 1e-5)
    np.testing.assert_allclose(nn.InstanceNorm1d(4)(t64(x)).numpy(), ref, atol=1e-12)
    eps = np.finfo(np.float64).eps
    ref = x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)
    np.testing.assert_allclose(nn.RMSNorm(3).double()(t64(x)).detach().numpy(), ref, atol=1e-12)
    sq = np.pad(x * x, ((0, 0), (1, 1), (0, 0)))
    div = (1.0 + 1e-4 / 3 * (sq[:, :-2] + sq[:, 1:-1] + sq[:, 2:])) ** 0.75
    np.testing.assert_allclose(nn.LocalResponseNorm(3)(t64(x)).numpy(), x / div, atol=1e-12)
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)
    ln = nn.LayerNorm(3, bias=False)
    assert ln.bias is None and [n for n, _ in ln.named_parameters()] == ["weight"]


def test_channel_dropout_and_alpha_dropout():
    nb.manual_seed(0)
    y = F.dropout2d(nb.ones(4, 8, 3, 3), p=0.5).numpy()
    per_channel = y.reshape(4, 8, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))
    assert set(np.unique(y)) <= {0.0, 2.0}
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(nb.ones(2, 2, 2, 2))
    x = nb.randn(20000)
    out = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1.0) < 0.05
    a = -1.7580993408473766
    scale = ((1 - 0.3) * (1 + 0.3 * a * a)) ** -0.5
    dropped = np.isclose(out, scale * a - scale * a * 0.3)  # a * scale + b, b = -scale * a * p
    assert 0.25 < dropped.mean() < 0.35
    assert nn.AlphaDropout(0.5).eval()(x) is x


def test_embedding_options():
    w = RNG.standard_normal((5, 3)) * 3
    emb = nn.Embedding.from_pretrained(t64(w), freeze=False, max_norm=1.0, padding_idx=0)
    idx = nb.tensor([[1, 1, 0, 3]])
    out = emb(idx)
    norms = np.linalg.norm(emb.weight.detach().numpy(), axis=1)
    assert np.all(norms[[1, 3]] <= 1.0 + 1e-6) and norms[2] > 1.0  # only looked-up rows
    out.sum().backward()
    assert not emb.weight.grad.numpy()[0].any()
    emb2 = nn.Embedding(5, 2, scale_grad_by_freq=True).double()
    emb2(idx).sum().backward()
    np.testing.assert_allclose(emb2.weight.grad.numpy()[1], [1.0, 1.0])  # 2 hits / count 2
    assert repr(emb) == "Embedding(5, 3, padding_idx=0, max_norm=1.0)"


def test_embedding_bag_modes():
    w = RNG.standard_normal((6, 2))
    idx = np.array([0, 2, 2, 5, 1])
    off = np.array([0, 3, 3])
    bag = nn.EmbeddingBag.from_pretrained(t64(w), freeze=False, mode="mean")
    out = bag(nb.tensor(idx), nb.tensor(off)).detach().numpy()
    np.testing.assert_allclose(out, [w[[0, 2, 2]].mean(0), [0, 0], w[[5, 1]].mean(0)])
    mx = F.embedding_bag(nb.tensor(idx), t64(w), nb.tensor(off), mode="max").numpy()
    np.testing.assert_allclose(mx, [w[[0, 2, 2]].max(0), [0, 0], w[[5, 1]].max(0)])
    psw = RNG.random(5)
    s = F.embedding_bag(nb.tensor(idx), t64(w), nb.tensor(off), mode="sum",
                        per_sample_weights=t64(psw)).numpy()
    np.testing.assert_allclose(s[2], psw[3] * w[5] + psw[4] * w[1])
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(nb.tensor(idx), t64(w), nb.tensor(off), per_sample_weights=t64(psw))
    wt = t64(w, True)
    assert nb.autograd.gradcheck(
        lambda wt: F.embedding_bag(nb.tensor([[0, 1], [1, 3]]), wt, mode="mean"), (wt,))


def test_bilinear_distances_unflatten():
    x1, x2 = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 2))
    wb, bb = RNG.standard_normal((5, 4, 2)), RNG.standard_normal(5)
    out = F.bilinear(t64(x1), t64(x2), t64(wb), t64(bb)).numpy()
    np.testing.assert_allclose(out, np.einsum("ni,oij,nj->no", x1, wb, x2) + bb, atol=1e-12)
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    cs = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(nn.CosineSimilarity()(t64(a), t64(b)).numpy(), cs, atol=1e-12)
    np.testing.assert_allclose(nn.PairwiseDistance(p=1.0)(t64(a), t64(b)).numpy(),
                               np.abs(a - b + 1e-6).sum(1), atol=1e-12)
    assert nb.autograd.gradcheck(lambda u, v: F.cosine_similarity(u, v), (t64(a, True),
                                                                         t64(b, True)))
    assert nn.Unflatten(1, (2, 2))(nb.zeros(3, 4)).shape == (3, 2, 2)


def test_norm_second_order():
    x = t64(RNG.standard_normal((2, 4, 2)), True)
    assert nb.autograd.gradgradcheck(lambda x: F.group_norm(x, 2), (x,))
    assert nb.autograd.gradgradcheck(lambda x: F.batch_norm(x, None, None, training=True), (x,))
    assert nb.autograd.gradgradcheck(lambda x: F.rms_norm(x, (2,)), (x,))


def test_norm_bad_inputs_name_the_problem():
    with pytest.raises(RuntimeError, match="running_mean should contain 2 elements not 3"):
        nn.BatchNorm1d(3)(nb.randn(4, 2))
    with pytest.raises(RuntimeError, match="expected a floating point input, got int64"):
        nn.BatchNorm1d(2)(nb.tensor([[1, 2], [3, 4]]))
    with pytest.raises(RuntimeError, match="Expected weight to be a vector of size equal"):
        nn.GroupNorm(2, 4)(nb.randn(2, 6))
    with pytest.raises(RuntimeError, match="expected a floating point input"):
        nn.LSTM(2, 3)(nb.tensor([[[1, 2]]]))
