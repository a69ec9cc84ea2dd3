"""Convolution, pooling, padding and resampling on the GPU (or Numba's CUDA simulator), against
the CPU: values and gradients, on tiny shapes (the simulator runs one Python thread per CUDA
thread)."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import assert_same

import nbgrad as nb
import nbgrad.nn.functional as F

pytestmark = pytest.mark.cuda

RNG = np.random.default_rng(3)


def _both(fn, *arrays):
    """fn's output and its inputs' gradients agree on the CPU and the GPU (float64)."""
    results = []
    for dev in ("cpu", "cuda"):
        xs = [nb.tensor(a, dtype=nb.float64, device=dev, requires_grad=True) for a in arrays]
        out = fn(*xs)
        w = nb.tensor(np.arange(1.0, out.numel() + 1).reshape(out.shape), dtype=out.dtype,
                      device=dev)
        (out * w).sum().backward()
        results.append((out, [x.grad for x in xs]))
    (oc, gc), (og, gg) = results
    assert_same(oc, og, rtol=1e-9, atol=1e-10)
    for c, g in zip(gc, gg):
        assert_same(c, g, rtol=1e-9, atol=1e-10)


def test_conv2d_with_groups_stride_padding():
    x, w, b = RNG.standard_normal((2, 4, 4, 3)), RNG.standard_normal((2, 2, 2, 2)), \
        RNG.standard_normal(2)
    _both(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2), x, w, b)


def test_conv1d_dilation_and_conv_transpose():
    x, w = RNG.standard_normal((1, 2, 5)), RNG.standard_normal((3, 2, 2))
    _both(lambda x, w: F.conv1d(x, w, dilation=2, padding="same"), x, w)
    wt = RNG.standard_normal((2, 2, 3))
    _both(lambda x, w: F.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1), x, wt)


def test_max_pool_indices_unpool_and_avg_pool():
    x = RNG.standard_normal((1, 2, 4, 3))
    _both(lambda x: F.max_pool2d(x, 2, stride=1, padding=1), x)
    _both(lambda x: F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False), x)
    for dev in ("cpu", "cuda"):
        t = nb.tensor(x, device=dev)
        v, i = F.max_pool2d(t, 2, return_indices=True)
        if dev == "cpu":
            want = (v, i, F.max_unpool2d(v, i, 2))
        else:
            assert_same(want[0], v)
            assert_same(want[1], i)
            assert_same(want[2], F.max_unpool2d(v, i, 2))


def test_pad_interpolate_and_unfold():
    x = RNG.standard_normal((1, 1, 3, 2))
    _both(lambda x: F.pad(x, (1, 1, 2, 0), mode="reflect"), x)
    _both(lambda x: F.interpolate(x, size=(4, 3), mode="bilinear"), x)
    _both(lambda x: F.unfold(x, 2, padding=1), x)
