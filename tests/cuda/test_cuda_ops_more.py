"""Issue-13 ops on the GPU against the CPU (tiny shapes: the simulator runs one Python thread
per CUDA thread): the host-computed ops keep the device, and gradients flow on the device."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import assert_same, pair

import nbgrad as nb

pytestmark = pytest.mark.cuda

RNG = np.random.default_rng(11)
X = RNG.standard_normal((2, 3))


def test_scan_sort_and_selection_on_gpu():
    xc, xg = pair(X, nb.float32)
    assert_same(xc.cumsum(1), xg.cumsum(1))
    assert_same(xc.cumprod(0), xg.cumprod(0))
    assert_same(tuple(xc.cummax(1)), tuple(xg.cummax(1)))
    assert_same(tuple(xc.sort(1)), tuple(xg.sort(1)))
    assert_same(tuple(xc.topk(2, 1)), tuple(xg.topk(2, 1)))
    assert_same(xc.quantile(0.5, dim=1), xg.quantile(0.5, dim=1))
    assert_same(nb.diff(xc), nb.diff(xg))


def test_indexing_and_shape_on_gpu():
    xc, xg = pair(X, nb.float32)
    ic, ig = pair([[0, 2, 1]], nb.int64)
    assert_same(xc.scatter(1, ic, xc[:1]), xg.scatter(1, ig, xg[:1]))
    assert_same(xc.scatter_reduce(1, ic.expand(2, 3), xc, "amax"),
                xg.scatter_reduce(1, ig.expand(2, 3), xg, "amax"))
    assert_same(nb.nonzero(xc > 0), nb.nonzero(xg > 0))
    assert_same(nb.roll(xc, 1, 1), nb.roll(xg, 1, 1))
    assert_same(nb.diagonal(xc, 1), nb.diagonal(xg, 1))
    assert_same(nb.einsum("ij,kj->ik", xc, xc), nb.einsum("ij,kj->ik", xg, xg))


def test_gradients_and_linalg_on_gpu():
    ac, ag = pair(X @ X.T + 2 * np.eye(2), nb.float64, requires_grad=True)
    assert_same(nb.linalg.inv(ac), nb.linalg.inv(ag))
    nb.linalg.det(ac).backward()
    nb.linalg.det(ag).backward()
    assert_same(ac.grad, ag.grad)
    xc, xg = pair(X, nb.float64, requires_grad=True)
    xc.cumprod(1).sum().backward()
    xg.cumprod(1).sum().backward()
    assert_same(xc.grad, xg.grad)
    g = nb.Generator().manual_seed(0)
    a = nb.rand(3, generator=g, device="cuda")
    g.manual_seed(0)
    assert a.device == nb.device("cuda", 0)
    np.testing.assert_array_equal(a.cpu().numpy(), nb.rand(3, generator=g).numpy())
