"""Matrix products on the GPU (tiled shared-memory kernel) against the CPU's BLAS."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from cuda_helpers import assert_same, pair

import nbgrad as nb

cuda_linalg = importlib.import_module("nbgrad.backends.cuda.linalg")

pytestmark = pytest.mark.cuda

RNG = np.random.default_rng(3)
T = cuda_linalg.TILE


@pytest.mark.parametrize("sa,sb", [
    ((5,), (5,)),
    ((3, 4), (4, 2)),
    ((4,), (4, 3)),
    ((2, 4), (4,)),
    ((T + 2, T + 5), (T + 5, T - 1)),  # several tiles, ragged edges
    ((2, 3, 4), (4, 5)),
    ((2, 1, 3, 4), (3, 4, 2)),  # broadcast batch dims
])
def test_matmul_matches_cpu(sa, sb):
    ac, ag = pair(RNG.standard_normal(sa), nb.float32)
    bc, bg = pair(RNG.standard_normal(sb), nb.float32)
    assert_same(ac @ bc, ag @ bg, rtol=1e-5, atol=1e-5)


def test_matmul_of_strided_views_and_integers():
    ac, ag = pair(RNG.standard_normal((4, 6)), nb.float64)
    assert_same(ac.t() @ ac, ag.t() @ ag)
    assert_same(ac[:, ::2] @ ac[::2].t()[::2], ag[:, ::2] @ ag[::2].t()[::2])
    ic, ig = pair(np.arange(12).reshape(3, 4), nb.int64)
    assert_same(ic @ ic.t(), ig @ ig.t())
    zc, zg = pair(np.zeros((3, 0)), nb.float32)
    assert_same(zc @ zc.t(), zg @ zg.t())  # k == 0: zeros


def test_matmul_gradients_match_cpu():
    ac, ag = pair(RNG.standard_normal((2, 3, 4)), nb.float64, requires_grad=True)
    bc, bg = pair(RNG.standard_normal((4, 5)), nb.float64, requires_grad=True)
    vc, vg = pair(RNG.standard_normal(5), nb.float64, requires_grad=True)
    for a, b, v in ((ac, bc, vc), (ag, bg, vg)):
        ((a @ b).tanh() @ v).sum().backward()
    for c, g in ((ac, ag), (bc, bg), (vc, vg)):
        assert_same(c.grad, g.grad)


def test_mixed_devices_are_refused_naming_both():
    a = nb.ones(2, 2)
    with pytest.raises(RuntimeError, match="cuda:0 and cpu|cpu and cuda:0"):
        a.cuda() @ a
