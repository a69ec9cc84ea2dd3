"""Gradient checkpointing: same gradients as the plain call (inputs and closure parameters),
nothing of ``fn``'s graph kept in forward, recomputation in backward, nesting, grad modes,
random state, and errors."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.utils.checkpoint import checkpoint, checkpoint_sequential

F64 = nb.float64


def _leaf(shape, seed):
    rng = np.random.default_rng(seed)
    return nb.tensor(rng.standard_normal(shape), dtype=F64, requires_grad=True)


class Block:
    """A closure over parameters, called through checkpoint; counts its calls."""

    def __init__(self, seed):
        self.w = _leaf((4, 4), seed)
        self.b = _leaf((4,), seed + 1)
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return (x @ self.w + self.b).tanh() * 2


def _grads(*tensors):
    return [t.grad.numpy().copy() for t in tensors]


def _clear(*tensors):
    for t in tensors:
        t.grad = None


def test_same_gradients_as_the_plain_call():
    block = Block(0)
    x = _leaf((3, 4), 2)
    (block(x) ** 2).sum().backward()
    expected = _grads(x, block.w, block.b)
    _clear(x, block.w, block.b)
    block.calls = 0
    y = checkpoint(block, x)
    assert block.calls == 1
    assert y.grad_fn.name() == "_CheckpointBackward"
    assert [type(f).__name__ for f, _ in y.grad_fn.next_functions if f is not None] == [
        "AccumulateGrad"]  # the block's own graph was not kept
    (y ** 2).sum().backward()
    assert block.calls == 2  # recomputed once in backward
    for got, want in zip(_grads(x, block.w, block.b), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_intermediate_input_and_several_outputs():
    block = Block(3)
    x = _leaf((2, 4), 4)

    def two(t):
        h = block(t)
        return h.sum(1), h * t

    h0 = x * 3
    a, b = two(h0)
    (a.sum() + (b ** 2).sum()).backward()
    expected = _grads(x, block.w)
    _clear(x, block.w, block.b)
    a, b = checkpoint(two, x * 3)
    (a.sum() + (b ** 2).sum()).backward()
    for got, want in zip(_grads(x, block.w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    _clear(x, block.w, block.b)
    a, b = checkpoint(two, x * 3)
    a.sum().backward()  # the unused output's gradient is materialized as zeros
    assert x.grad is not None


def test_non_tensor_arguments_and_kwargs():
    x = _leaf((3,), 5)

    def scaled(t, factor, *, power=2):
        return (t * factor) ** power

    checkpoint(scaled, x, 3.0, power=3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * 27.0 * x.detach().numpy() ** 2, rtol=1e-12)


def test_nested_checkpoints():
    inner, outer_block = Block(6), Block(8)
    x = _leaf((2, 4), 10)

    def outer(t):
        return outer_block(checkpoint(inner, t) + 1)

    outer(x).sum().backward()
    expected = _grads(x, inner.w, outer_block.w)
    _clear(x, inner.w, inner.b, outer_block.w, outer_block.b)
    checkpoint(outer, x).sum().backward()
    for got, want in zip(_grads(x, inner.w, outer_block.w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_under_no_grad_it_just_calls_fn():
    block = Block(11)
    x = _leaf((2, 4), 12)
    with nb.no_grad():
        y = checkpoint(block, x)
    assert y.grad_fn is None and not y.requires_grad and block.calls == 1
    with nb.inference_mode():
        assert checkpoint(block, x).is_inference()


def test_fn_with_no_grad_sections():
    block = Block(13)
    x = _leaf((2, 4), 14)

    def partly_frozen(t):
        with nb.no_grad():
            scale = (t * t).sum()  # a constant for autograd
        return block(t) * scale

    partly_frozen(x).sum().backward()
    expected = _grads(x, block.w)
    _clear(x, block.w, block.b)
    checkpoint(partly_frozen, x).sum().backward()
    for got, want in zip(_grads(x, block.w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)

    @nb.no_grad()
    def frozen_helper(t):
        return t * 2

    _clear(x)
    checkpoint(lambda t: block(frozen_helper(t)) * t, x).sum().backward()
    assert x.grad is not None


def test_random_state_is_replayed_for_the_recomputation():
    x = _leaf((1000,), 15)

    def dropout_like(t):
        return t * (nb.rand(t.shape[0], dtype=F64) > 0.5)

    nb.manual_seed(0)
    y = checkpoint(dropout_like, x)
    after_forward = nb.rand(1).item()
    y.sum().backward()
    kept = (y.detach().numpy() != 0)
    np.testing.assert_array_equal(x.grad.numpy() != 0, kept)  # same mask both times
    nb.manual_seed(0)
    checkpoint(dropout_like, x)
    assert nb.rand(1).item() == after_forward  # the generator is where forward left it


def test_warns_when_no_input_requires_grad():
    block = Block(16)
    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        y = checkpoint(block, nb.ones(2, 4, dtype=F64))
    assert not y.requires_grad


def test_second_backward_and_inplace_checks():
    block = Block(17)
    x = _leaf((2, 4), 18)
    y = checkpoint(block, x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    h = x * 1
    y = checkpoint(block, h).sum()
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_checkpoint_sequential():
    blocks = [Block(20), Block(22), Block(24)]
    x = _leaf((2, 4), 26)
    out = x
    for b in blocks:
        out = b(out)
    out.sum().backward()
    expected = _grads(x, *(b.w for b in blocks))
    _clear(x, *(t for b in blocks for t in (b.w, b.b)))
    checkpoint_sequential(blocks, 2, x).sum().backward()
    for got, want in zip(_grads(x, *(b.w for b in blocks)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="segments"):
        checkpoint_sequential(blocks, 0, x)


# ------------------------------------------------------------- use_reentrant=False
def _plain_and_checkpointed(fn, *inputs, **kw):
    plain = fn(*inputs)
    checked = checkpoint(fn, *inputs, use_reentrant=False, **kw)
    return plain, checked


def test_non_reentrant_records_fn_graph_and_gives_the_same_gradients():
    block = Block(10)
    x = _leaf((3, 4), 11)
    (block(x) ** 2).sum().backward()
    expected = _grads(x, block.w, block.b)
    _clear(x, block.w, block.b)
    block.calls = 0
    y = checkpoint(block, x, use_reentrant=False)
    assert block.calls == 1 and y.grad_fn.name() == "MulBackward0"  # fn's own graph
    (y ** 2).sum().backward()
    assert block.calls == 2  # recomputed once, when backward first needed a saved tensor
    for got, want in zip(_grads(x, block.w, block.b), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_non_reentrant_works_with_autograd_grad_and_create_graph():
    block = Block(12)
    x = _leaf((2, 4), 13)
    ref = nb.autograd.grad(block(x).sum(), (x, block.w), create_graph=True)
    ref2 = nb.autograd.grad(ref[0].sum() + ref[1].sum(), (x, block.w))
    g = nb.autograd.grad(checkpoint(block, x, use_reentrant=False).sum(), (x, block.w),
                         create_graph=True)
    g2 = nb.autograd.grad(g[0].sum() + g[1].sum(), (x, block.w))
    for got, want in zip(g + g2, ref + ref2):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)


def test_non_reentrant_with_inputs_that_do_not_require_grad():
    block = Block(14)
    x = _leaf((2, 4), 15).detach()
    y = checkpoint(block, x, use_reentrant=False)
    assert y.requires_grad  # the closure's parameters require grad
    y.sum().backward()
    expected = nb.autograd.grad(block(x).sum(), block.w)[0]
    np.testing.assert_allclose(block.w.grad.numpy(), expected.numpy(), rtol=1e-12)


def test_non_reentrant_early_stop_skips_work_after_the_last_saved_tensor():
    log = []
    x = _leaf((3,), 16)

    def fn(t):
        y = t.exp()  # saves its output: the last tensor saved
        log.append("after exp")
        return y * 2.0  # a Python number: saves no tensor

    for early_stop, runs in ((True, 1), (False, 2)):
        log.clear()
        checkpoint(fn, x, use_reentrant=False, early_stop=early_stop).sum().backward()
        assert log == ["after exp"] * runs


def test_non_reentrant_outside_grad_mode_just_calls_fn():
    x = _leaf((2,), 17)
    with nb.no_grad():
        y = checkpoint(lambda t: t * 2, x, use_reentrant=False)
    assert not y.requires_grad


def test_non_reentrant_replays_dropout_with_the_same_mask():
    nb.manual_seed(0)
    x = _leaf((4, 8), 18)
    drop = nb.nn.Dropout(0.5)
    y = checkpoint(lambda t: drop(t) * t, x, use_reentrant=False)
    y.sum().backward()
    mask = (y.detach().numpy() != 0)
    # d(drop(t) * t)/dt = 2 * scale * t where kept, 0 where dropped
    np.testing.assert_allclose(x.grad.numpy(), np.where(mask, 4 * x.detach().numpy(), 0.0),
                               rtol=1e-12)


def test_non_reentrant_recomputation_that_saves_something_else_raises():
    from nbgrad.utils.checkpoint import CheckpointError

    state = {"n": 0}
    x = _leaf((3,), 19)

    def fn(t):
        state["n"] += 1
        return t.exp() if state["n"] == 1 else t[:2].exp()

    y = checkpoint(fn, x, use_reentrant=False)
    with pytest.raises(CheckpointError, match="different metadata"):
        y.sum().backward()


def test_checkpoint_sequential_non_reentrant():
    net = nb.nn.Sequential(nb.nn.Linear(2, 4), nb.nn.Tanh(), nb.nn.Linear(4, 1))
    x = nb.ones(3, 2, requires_grad=True)
    checkpoint_sequential(net, 2, x, use_reentrant=False).sum().backward()
    plain = nb.ones(3, 2, requires_grad=True)
    net(plain).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), plain.grad.numpy(), rtol=1e-6)
