"""Checks that need real hardware (skipped on the simulator and without a GPU): large shapes,
many threads racing on atomics, many blocks, and rough speed floors."""

from __future__ import annotations

import time

import numpy as np
import pytest
from cuda_helpers import host

import nbgrad as nb

pytestmark = pytest.mark.gpu

RNG = np.random.default_rng(1)


def test_large_elementwise_reduce_and_matmul_match_numpy():
    a = RNG.standard_normal(10**7, dtype=np.float32)
    b = RNG.standard_normal(10**7, dtype=np.float32)
    ga, gb = nb.tensor(a, device="cuda"), nb.tensor(b, device="cuda")
    np.testing.assert_allclose(host(ga * gb + 1), a * b + 1, rtol=1e-6)
    np.testing.assert_allclose(host(ga.reshape(1000, -1).sum(1)),
                               a.reshape(1000, -1).sum(1, dtype=np.float64), rtol=1e-4)
    m = RNG.standard_normal((300, 517)).astype(np.float32)
    n = RNG.standard_normal((517, 260)).astype(np.float32)
    np.testing.assert_allclose(host(nb.tensor(m, device="cuda") @ nb.tensor(n, device="cuda")),
                               m @ n, rtol=1e-4, atol=1e-3)


def test_atomic_accumulation_under_heavy_contention():
    idx = nb.tensor(RNG.integers(0, 10, 10**6), device="cuda")
    counts = nb.zeros(10, device="cuda").scatter_add(0, idx, nb.ones(10**6, device="cuda"))
    np.testing.assert_array_equal(host(counts), np.bincount(host(idx), minlength=10))


def test_training_step_on_a_larger_batch():
    import nbgrad.nn.functional as F

    model = nb.nn.Sequential(nb.nn.Linear(784, 512), nb.nn.ReLU(), nb.nn.Linear(512, 10))
    model.to("cuda")
    opt = nb.optim.SGD(model.parameters(), lr=0.1)
    x = nb.randn(1024, 784, device="cuda")
    t = nb.randint(0, 10, (1024,), device="cuda")
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first


def test_launch_overhead_is_bounded():
    x = nb.ones(100, device="cuda")
    with nb.no_grad():
        for _ in range(10):
            x = x + 1.0  # compile and warm up
        nb.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(1000):
            x = x + 1.0
        nb.cuda.synchronize()
    per_op = (time.perf_counter() - start) / 1000
    assert per_op < 200e-6, f"{per_op * 1e6:.0f} us per tiny op"
