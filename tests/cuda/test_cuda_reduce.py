"""Reductions on the GPU against the CPU: every kernel layout (block tree when the reduced
elements are contiguous, thread per output otherwise), any dim set, NaN and tie rules."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from cuda_helpers import assert_same, pair

import nbgrad as nb

cuda_reduce = importlib.import_module("nbgrad.backends.cuda.reduce")

pytestmark = pytest.mark.cuda

RNG = np.random.default_rng(7)
X = RNG.standard_normal((3, 4, 5))
DIMS = [None, 0, 1, 2, -1, (0, 2), (0, 1), (1, 2), (0, 1, 2)]


@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean_prod_over_dim_sets(dim, keepdim):
    xc, xg = pair(X, nb.float32)
    assert_same(xc.sum(dim, keepdim=keepdim), xg.sum(dim, keepdim=keepdim), rtol=1e-5)
    assert_same(xc.mean(dim, keepdim=keepdim), xg.mean(dim, keepdim=keepdim), rtol=1e-5)
    if dim is not None:
        assert_same(xc.prod(dim, keepdim=keepdim), xg.prod(dim, keepdim=keepdim), rtol=1e-5)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_max_min_argmax_along_a_dim(dim):
    xc, xg = pair(X, nb.float64)
    assert_same(tuple(xc.max(dim)), tuple(xg.max(dim)))
    assert_same(tuple(xc.min(dim, keepdim=True)), tuple(xg.min(dim, keepdim=True)))
    assert_same(xc.argmax(dim), xg.argmax(dim))
    assert_same(xc.argmin(dim), xg.argmin(dim))
    assert_same(xc.amax((0, dim) if dim else dim), xg.amax((0, dim) if dim else dim))


def test_whole_tensor_extrema_and_integer_and_bool_sums():
    xc, xg = pair(X, nb.float32)
    assert_same(xc.max(), xg.max())
    assert_same(xc.argmin(), xg.argmin())
    ic, ig = pair(np.arange(-6, 6).reshape(3, 4), nb.int32)
    assert_same(ic.sum(), ig.sum())
    assert_same(ic.sum(0), ig.sum(0))
    assert_same(ic.prod(1), ig.prod(1))
    assert_same(ic.amax(1), ig.amax(1))
    assert_same((ic > 0).sum(1), (ig > 0).sum(1))


def test_long_rows_use_the_shared_memory_tree():
    # more reduced elements than threads per block, contiguous: the block-tree kernel
    n = cuda_reduce.TPB * 2 + 7
    data = RNG.standard_normal((3, n))
    data[1, 5] = data[1, n - 3] = 9.0  # a tie: the first index wins
    xc, xg = pair(data, nb.float64)
    assert_same(xc.sum(1), xg.sum(1))
    assert_same(tuple(xc.max(1)), tuple(xg.max(1)))
    assert int(xg.argmax(1)[1].item()) == 5
    assert_same(xc.t().sum(0), xg.t().sum(0))  # transposed: copied to rows first


def test_nan_propagates_and_first_nan_wins():
    data = np.array([[1.0, np.nan, 3.0, np.nan], [4.0, 2.0, 8.0, 8.0]])
    xc, xg = pair(data, nb.float32)
    assert_same(tuple(xc.max(1)), tuple(xg.max(1)))
    assert_same(tuple(xc.min(1)), tuple(xg.min(1)))
    assert_same(xc.sum(1), xg.sum(1))
    assert_same(tuple(xc.t().max(0)), tuple(xg.t().max(0)))  # thread-per-output layout


def test_empty_reductions():
    xc, xg = pair(np.zeros((0, 3)), nb.float32)
    assert_same(xc.sum(0), xg.sum(0))
    assert_same(xc.sum(), xg.sum())
    with pytest.raises((RuntimeError, ValueError, IndexError)):
        xg.max(0)


def test_reduction_gradients_match_cpu():
    xc, xg = pair(X, nb.float64, requires_grad=True)
    for x in (xc, xg):
        (x.sum((0, 2)).sum() * 2 + x.mean(1).sum() + x.max(1)[0].sum() + x.amin(2).sum()
         + x.prod(0).sum()).backward()
    assert_same(xc.grad, xg.grad)


def test_composite_reductions():
    xc, xg = pair(X, nb.float32)
    for name in ("logsumexp", "var", "std", "norm"):
        if not hasattr(nb.Tensor, name):
            continue
        args = () if name == "norm" else (1,)
        assert_same(getattr(xc, name)(*args), getattr(xg, name)(*args), rtol=1e-4, atol=1e-5)
