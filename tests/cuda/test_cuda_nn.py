"""Fused neural-network kernels and optimizer updates on the GPU, against the CPU, and a small
training step (the G2 workload in miniature) run on both devices."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import assert_same, host, pair

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.ops import nn_ops

pytestmark = pytest.mark.cuda

RNG = np.random.default_rng(11)
LOGITS = RNG.standard_normal((6, 5)) * 3
TARGET = np.array([0, 4, 2, -100, 1, 4])


def _grads(fn, *arrays, dtype=nb.float64):
    """fn's output and its inputs' gradients on both devices (cotangent: 1, 2, 3, ...)."""
    results = []
    for dev in ("cpu", "cuda"):
        xs = [nb.tensor(a, dtype=dtype, device=dev, requires_grad=True) for a in arrays]
        out = fn(dev, *xs)
        w = nb.tensor(np.arange(1.0, out.numel() + 1).reshape(out.shape), dtype=out.dtype,
                      device=dev)
        (out * w).sum().backward()
        results.append((out, [x.grad for x in xs]))
    (oc, gc), (og, gg) = results
    assert_same(oc, og, rtol=1e-6, atol=1e-7)
    for c, g in zip(gc, gg):
        assert_same(c, g, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim):
    x = RNG.standard_normal((3, 4, 5))
    _grads(lambda dev, x: F.softmax(x, dim), x)
    _grads(lambda dev, x: F.log_softmax(x, dim), x)


def test_softmax_with_long_rows_and_extreme_logits():
    x = RNG.standard_normal((2, 100)) * 50  # rows longer than a block; no overflow
    x[1, :] = -np.inf
    x[1, 3] = 0.0
    xc, xg = pair(x, nb.float32)
    assert_same(F.softmax(xc, 1), F.softmax(xg, 1))
    assert_same(F.log_softmax(xc, 1), F.log_softmax(xg, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy(reduction, smoothing):
    def fn(dev, x, w):
        t = nb.tensor(TARGET, device=dev)
        return F.cross_entropy(x, t, weight=w.detach(), reduction=reduction,
                               label_smoothing=smoothing)

    _grads(fn, LOGITS, np.array([1.0, 0.5, 2.0, 1.0, 0.25]))
    _grads(lambda dev, x: F.cross_entropy(x, nb.tensor(TARGET, device=dev),
                                          reduction=reduction, label_smoothing=smoothing), LOGITS)


def test_nll_loss_and_bad_targets():
    _grads(lambda dev, x: F.nll_loss(F.log_softmax(x, 1), nb.tensor(TARGET, device=dev)), LOGITS)
    x = nb.tensor(LOGITS, device="cuda")
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.cross_entropy(x, nb.tensor([0, 7, 1, 1, 1, 1], device="cuda"))


def test_embedding_forward_and_backward_with_padding():
    index = np.array([[0, 3, 3], [2, 0, 1]])

    def fn(dev, w):
        return F.embedding(nb.tensor(index, device=dev), w, padding_idx=3)

    _grads(fn, RNG.standard_normal((4, 3)))


def test_fused_optimizer_updates_match_cpu():
    for opt, kwargs in ((nb.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True,
                                            weight_decay=0.01)),
                        (nb.optim.Adam, dict(lr=0.01, amsgrad=True)),
                        (nb.optim.AdamW, dict(lr=0.01, weight_decay=0.1))):
        finals = []
        for dev in ("cpu", "cuda"):
            p = nb.tensor([[0.5, -1.0], [2.0, 0.25]], device=dev, requires_grad=True)
            o = opt([p], **kwargs)
            for step in range(3):
                o.zero_grad()
                ((p * p).sum() * (step + 1)).backward()
                o.step()
            assert p.device == nb.device(dev) if dev == "cpu" else p.is_cuda
            finals.append(p)
        assert_same(finals[0].detach(), finals[1].detach(), rtol=1e-6)
    assert hasattr(nn_ops, "adam_step_")


def test_a_training_step_on_the_gpu_matches_the_cpu():
    nb.manual_seed(0)
    model = nb.nn.Sequential(nb.nn.Linear(6, 8), nb.nn.ReLU(), nb.nn.Linear(8, 3))
    x = nb.randn(5, 6)
    t = nb.tensor([0, 2, 1, 1, 0])
    losses = {}
    states = {}
    for dev in ("cpu", "cuda"):
        m = nb.nn.Sequential(nb.nn.Linear(6, 8), nb.nn.ReLU(), nb.nn.Linear(8, 3))
        m.load_state_dict(model.state_dict())
        m.to(dev)
        opt = nb.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(m(x.to(dev)), t.to(dev))
            loss.backward()
            opt.step()
        assert all(p.is_cuda == (dev == "cuda") for p in m.parameters())
        losses[dev] = loss.item()
        states[dev] = [host(p) for p in m.parameters()]
    assert losses["cpu"] == pytest.approx(losses["cuda"], rel=1e-5)
    for c, g in zip(states["cpu"], states["cuda"]):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-6)


def test_cross_entropy_with_many_classes_uses_the_block_kernels():
    logits = RNG.standard_normal((3, 40)) * 4  # rows longer than ROWS_MIN: a block per row
    target = np.array([39, -100, 7])

    def fn(dev, x, w):
        return F.cross_entropy(x, nb.tensor(target, device=dev), weight=w.detach(),
                               label_smoothing=0.1)

    _grads(fn, logits, RNG.random(40) + 0.5)


def test_linear_fused_on_both_devices():
    _grads(lambda dev, x, w, b: F.linear(x, w, b), RNG.standard_normal((2, 3, 4)),
           RNG.standard_normal((5, 4)), RNG.standard_normal(5))
    _grads(lambda dev, x, w: F.linear(x, w), RNG.standard_normal((3, 4)),
           RNG.standard_normal((2, 4)))
    x = nb.ones(3, 4, device="cuda")
    w = nb.ones(2, 4, device="cuda", requires_grad=True)
    assert F.linear(x, w).grad_fn.name() == "MmBackward0"
