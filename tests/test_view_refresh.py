"""A view's history is refreshed as an explicit step of the in-place op that changed its base's
history; reading ``requires_grad`` or ``grad_fn`` afterwards runs no op."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.ops import _dispatch


@pytest.fixture
def no_ops_allowed(monkeypatch):
    """Inside the returned context, any op through the dispatch point fails the test."""

    class Guard:
        def __enter__(self):
            def refuse(*args, **kwargs):
                raise AssertionError("an op ran while reading tensor attributes")

            monkeypatch.setattr(_dispatch, "apply", refuse)
            return self

        def __exit__(self, *exc):
            monkeypatch.undo()

    return Guard()


def test_view_history_follows_an_inplace_op_on_its_base(no_ops_allowed):
    x = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    base = x * 1
    view = base[:2]
    before = view.grad_fn
    base.mul_(2)
    with no_ops_allowed:
        fn = view.grad_fn
        assert view.requires_grad
        assert fn is not before
        assert fn.next_functions[0][0] is base.grad_fn
        assert view.grad_fn is fn  # reading twice gives the same node
    view.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 0.0])


def test_views_of_a_base_written_through_another_view(no_ops_allowed):
    w = nb.tensor([5.0], requires_grad=True)
    base = nb.zeros(3)
    other = base[1:]
    assert not other.requires_grad
    base[:1].copy_(w)
    with no_ops_allowed:
        assert base.requires_grad and other.requires_grad
        assert base.grad_fn.name() == "CopySlices"
        assert other.grad_fn.next_functions[0][0] is base.grad_fn
    (base * nb.tensor([3.0, 1.0, 1.0])).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0])


def test_dead_views_are_not_kept_by_their_base():
    base = nb.tensor([1.0, 2.0, 3.0], requires_grad=True) * 1
    for _ in range(1000):
        base[:1]  # each view dies at once
    gc.collect()
    assert len(base._views) < 20


def test_a_view_made_under_no_grad_is_not_refreshed():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    base = x * 1
    with nb.no_grad():
        view = base[:1]
    base.add_(1)
    with pytest.raises(RuntimeError, match="no_grad"):
        _ = view.grad_fn
