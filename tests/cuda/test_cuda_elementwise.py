"""Every elementwise row of the op table on the GPU, compared with the CPU: values, dtypes,
broadcasting, strided views, scalars, in-place updates, casts and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import assert_same, host, pair

import nbgrad as nb
from nbgrad.ops._dispatch import apply, apply_inplace
from nbgrad.ops.elementwise import BINARY, COMPARISONS, UNARY

pytestmark = pytest.mark.cuda

MIXED = [[-1.5, -0.5, 0.0], [0.5, 1.5, 2.5]]
POSITIVE = [[0.3, 0.7, 1.2], [1.9, 0.45, 1.6]]
A = [[1.5, -2.0, 3.0], [0.5, 2.5, -1.0]]
B = [[2.0, 0.5, -1.5], [3.0, 1.0, 2.0]]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_rows_match_cpu(name):
    op = UNARY[name]
    for data, dtype in ((MIXED, nb.float32), (POSITIVE, nb.float64)):
        xc, xg = pair(data, dtype)
        assert_same(apply(op, (xc,)), apply(op, (xg,)))


@pytest.mark.parametrize("name", sorted(n for n, op in UNARY.items() if op.differentiable))
def test_unary_gradients_match_cpu(name):
    op = UNARY[name]
    xc, xg = pair(POSITIVE, nb.float64, requires_grad=True)
    w = np.arange(1.0, 7.0).reshape(2, 3)
    (apply(op, (xc,)) * nb.tensor(w)).sum().backward()
    (apply(op, (xg,)) * nb.tensor(w, device="cuda")).sum().backward()
    assert_same(xc.grad, xg.grad)


def _binary_inputs(name):
    if name in ("pow",):
        return POSITIVE, [[2.0, 0.5, 1.5], [3.0, 1.0, 2.0]]
    return A, B


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_rows_match_cpu_with_broadcasting_and_scalars(name):
    op = BINARY[name]
    a, b = _binary_inputs(name)
    ac, ag = pair(a, nb.float32)
    bc, bg = pair(b, nb.float32)
    assert_same(apply(op, (ac, bc)), apply(op, (ag, bg)))
    assert_same(apply(op, (ac, bc[1])), apply(op, (ag, bg[1])))  # (2, 3) with (3,)
    assert_same(apply(op, (ac[:, :1], bc)), apply(op, (ag[:, :1], bg)))  # (2, 1) with (2, 3)
    assert_same(apply(op, (ac, 2)), apply(op, (ag, 2)))
    assert_same(apply(op, (1.5, bc)), apply(op, (1.5, bg)))


@pytest.mark.parametrize("name", sorted(n for n, op in BINARY.items() if op.differentiable))
def test_binary_gradients_match_cpu(name):
    op = BINARY[name]
    a, b = _binary_inputs(name)
    ac, ag = pair(a, nb.float64, requires_grad=True)
    bc, bg = pair(np.asarray(b)[0], nb.float64, requires_grad=True)  # broadcast: sum_to on cuda
    apply(op, (ac, bc)).sum().backward()
    apply(op, (ag, bg)).sum().backward()
    assert_same(ac.grad, ag.grad)
    assert_same(bc.grad, bg.grad)


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_match_cpu(name):
    op = COMPARISONS[name]
    ac, ag = pair([[1, 2, 3], [4, 5, 6]], nb.int64)
    bc, bg = pair([[3, 2, 1], [4, 0, 9]], nb.int64)
    assert_same(apply(op, (ac, bc)), apply(op, (ag, bg)))
    fc, fg = pair(A, nb.float32)
    assert_same(apply(op, (fc, 0.5)), apply(op, (fg, 0.5)))


def test_integer_and_bool_arithmetic_match_cpu():
    ac, ag = pair([[7, -3, 4], [0, 5, -8]], nb.int64)
    bc, bg = pair([[2, 2, -3], [1, 4, 3]], nb.int32)
    for fn in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
               lambda a, b: a // b, lambda a, b: a % b, lambda a, b: a / b,
               lambda a, b: -a, lambda a, b: abs(a).sign(), lambda a, b: a.exp(),
               lambda a, b: (a > 0) + (b > 0)):
        assert_same(fn(ac, bc), fn(ag, bg))


def test_strided_and_expanded_views_as_operands():
    ac, ag = pair(np.arange(24.0).reshape(2, 3, 4), nb.float32)
    bc, bg = pair(np.linspace(-1, 1, 12).reshape(3, 4), nb.float32)
    for fn in (lambda a, b: a.permute(2, 0, 1) * b.t().unsqueeze(1),
               lambda a, b: a[:, ::2, 1:] + b[::2, 1:],
               lambda a, b: a[1].t() - b.t(),
               lambda a, b: b[:, :1].expand(3, 4) * a,
               lambda a, b: (a.transpose(0, 2)[::2] + 1).tanh()):
        assert_same(fn(ac, bc), fn(ag, bg))


def test_in_place_updates_through_strided_views():
    for dev in ("cpu", "cuda"):
        x = nb.tensor(np.arange(12.0).reshape(3, 4), device=dev)
        x[:, 1:].mul_(2)
        x.t()[::2].add_(nb.tensor([1.0, 2.0, 3.0], device=dev))
        x.sub_(0.5)
        x[1:, :2].exp_() if dev == "cpu" else x[1:, :2].exp_()
        if dev == "cpu":
            expected = host(x)
        else:
            np.testing.assert_allclose(host(x), expected, rtol=1e-6)


@pytest.mark.parametrize("src,dst", [
    (nb.float32, nb.int64), (nb.int64, nb.float32), (nb.float64, nb.bool),
    (nb.bool, nb.float32), (nb.int32, nb.bool), (nb.float32, nb.float64),
    (nb.int64, nb.int32),
])
def test_casts_match_cpu(src, dst):
    data = [[-2.7, 0.0, 1.5], [3.2, -0.4, 7.9]]
    xc, xg = pair(np.asarray(data), src)
    assert_same(xc.to(dst), xg.to(dst))
    assert_same(xc.t().to(dst), xg.t().to(dst))


def test_copy_fill_and_clone():
    xc, xg = pair(np.zeros((2, 3)), nb.float32)
    for x, y in ((xc, nb.tensor([1, 2, 3])), (xg, nb.tensor([1, 2, 3], device="cuda"))):
        x.copy_(y)  # int64 into float32, broadcast over rows
        x[0].fill_(7)
    assert_same(xc, xg)
    assert_same(xc.t().clone(), xg.t().clone())
    assert xg.t().clone().is_contiguous()


def test_inplace_elementwise_is_recorded_on_cuda():
    for dev in ("cpu", "cuda"):
        x = nb.tensor([0.5, 1.0, 2.0], device=dev, requires_grad=True)
        y = x * 1
        y.mul_(y)
        y.sum().backward()
        assert x.grad.device == x.device
        np.testing.assert_allclose(host(x.grad), [1.0, 2.0, 4.0])


def test_elementwise_out_of_place_on_zero_size_and_0d():
    for shape in ((0, 3), ()):
        xc, xg = pair(np.ones(shape), nb.float32)
        assert_same(xc * 2 + 1, xg * 2 + 1)


def test_apply_inplace_on_cuda_bumps_version():
    x = nb.ones(3, device="cuda")
    v = x._version
    apply_inplace(BINARY["add"], x, (1,))
    assert x._version == v + 1
    np.testing.assert_allclose(host(x), 2.0)
