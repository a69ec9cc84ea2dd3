"""Pooling (max, average, adaptive, power-average, max unpooling) and the pooling layers:
values against numpy loops, gradients by float64 gradcheck, PyTorch's errors and reprs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(11)


def t64(a, requires_grad=True):
    return nb.tensor(np.asarray(a, dtype=np.float64), dtype=nb.float64,
                     requires_grad=requires_grad)


def out_len(n, k, s, p, d, ceil):
    o = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def np_max_pool(x, k, s, p, d, ceil):
    """(values, flat indices) by a direct loop; padding never wins; first maximum wins."""
    nd = x.ndim - 2
    size = x.shape[2:]
    out = [out_len(size[i], k[i], s[i], p[i], d[i], ceil) for i in range(nd)]
    vals = np.zeros(x.shape[:2] + tuple(out))
    idx = np.zeros(x.shape[:2] + tuple(out), np.int64)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(v) for v in out)):
            best, where = -np.inf, -1
            for j in itertools.product(*(range(v) for v in k)):
                pos = [o[i] * s[i] - p[i] + j[i] * d[i] for i in range(nd)]
                if all(0 <= pos[i] < size[i] for i in range(nd)):
                    v = x[(n, c, *pos)]
                    if where < 0 or v > best:
                        best, where = v, int(np.ravel_multi_index(pos, size))
            vals[(n, c, *o)], idx[(n, c, *o)] = best, where
    return vals, idx


MAX_CASES = [
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (1, (3, 7), dict(kernel_size=2, dilation=2)),
    (2, (2, 2, 6, 5), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1))),
    (2, (1, 2, 5, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (2, (2, 5, 4), dict(kernel_size=2)),
    (3, (1, 2, 4, 3, 5), dict(kernel_size=2, stride=1, padding=1)),
]


@pytest.mark.parametrize("nd,shape,kw", MAX_CASES)
def test_max_pool_values_and_indices(nd, shape, kw):
    x = RNG.standard_normal(shape)
    fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    vals, idx = fn(nb.tensor(x), return_indices=True, **kw)

    def tup(name, default):
        v = kw.get(name, default)
        return (v,) * nd if np.isscalar(v) else tuple(v)
    k = tup("kernel_size", None)
    s = tup("stride", None) if "stride" in kw else k
    batched = x if len(shape) == nd + 2 else x[None]
    want_v, want_i = np_max_pool(batched, k, s, tup("padding", 0), tup("dilation", 1),
                                 kw.get("ceil_mode", False))
    if len(shape) != nd + 2:
        want_v, want_i = want_v[0], want_i[0]
    np.testing.assert_array_equal(vals.numpy(), want_v)
    np.testing.assert_array_equal(idx.numpy(), want_i)
    assert idx.dtype == nb.int64


def test_max_pool_gradients():
    x = t64(RNG.standard_normal((1, 2, 5, 4)))
    fn = lambda t: F.max_pool2d(t, 2, stride=1, padding=1)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))
    x3 = t64(RNG.standard_normal((1, 1, 3, 3, 2)))
    assert gradcheck(lambda t: F.max_pool3d(t, 2, stride=1), (x3,))
    # the gradient goes to the first maximum of each window, as PyTorch's
    y = nb.tensor([[[1.0, 1.0, 0.0, 2.0]]], requires_grad=True)
    F.max_pool1d(y, 2).sum().backward()
    assert y.grad.tolist() == [[[1.0, 0.0, 0.0, 1.0]]]


def test_max_pool_propagates_nan_and_ints():
    x = nb.tensor([[[1.0, math.nan, 3.0, 0.0]]])
    v = F.max_pool1d(x, 2)
    assert math.isnan(v[0, 0, 0].item()) and v[0, 0, 1].item() == 3.0
    xi = nb.tensor([[[1, 5, -3, -7]]])
    assert F.max_pool1d(xi, 2).tolist() == [[[5, -3]]]


def test_max_unpool_inverts_max_pool_and_has_a_gradient():
    x = RNG.standard_normal((2, 3, 4, 6))
    v, i = F.max_pool2d(nb.tensor(x), 2, return_indices=True)
    up = F.max_unpool2d(v, i, 2)
    want = np.zeros_like(x).reshape(2, 3, -1)
    np.put_along_axis(want, i.numpy().reshape(2, 3, -1), v.numpy().reshape(2, 3, -1), -1)
    np.testing.assert_array_equal(up.numpy(), want.reshape(x.shape))
    assert F.max_unpool2d(v, i, 2, output_size=(5, 7)).shape == (2, 3, 5, 7)
    v64 = t64(v.numpy())
    assert gradcheck(lambda t: F.max_unpool2d(t, i, 2), (v64,))
    v1, i1 = F.max_pool1d(nb.tensor([[[1.0, 3.0, 5.0, 2.0]]]), 2, return_indices=True)
    assert F.max_unpool1d(v1, i1, 2).tolist() == [[[0.0, 3.0, 5.0, 0.0]]]
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(v, i, 2, output_size=(9, 9))


def np_avg_pool(x, k, s, p, ceil, include_pad, divisor):
    nd = x.ndim - 2
    size = x.shape[2:]
    out = [out_len(size[i], k[i], s[i], p[i], 1, ceil) for i in range(nd)]
    res = np.zeros(x.shape[:2] + tuple(out))
    for o in itertools.product(*(range(v) for v in out)):
        start = [o[i] * s[i] - p[i] for i in range(nd)]
        end = [min(start[i] + k[i], size[i] + p[i]) for i in range(nd)]
        count_pad = math.prod(end[i] - start[i] for i in range(nd))
        lo = [max(v, 0) for v in start]
        hi = [min(end[i], size[i]) for i in range(nd)]
        window = x[(slice(None), slice(None), *(slice(a, b) for a, b in zip(lo, hi)))]
        count = count_pad if include_pad else math.prod(b - a for a, b in zip(lo, hi))
        res[(slice(None), slice(None), *o)] = window.sum(tuple(range(2, 2 + nd))) / (
            divisor or count)
    return res


AVG_CASES = [
    (1, (2, 3, 9), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    (2, (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (2, (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                           count_include_pad=False)),
    (2, (2, 5, 4), dict(kernel_size=2, stride=1, padding=1, divisor_override=3)),
    (3, (1, 2, 4, 5, 3), dict(kernel_size=2, stride=1, padding=1, count_include_pad=False)),
]


@pytest.mark.parametrize("nd,shape,kw", AVG_CASES)
def test_avg_pool_values(nd, shape, kw):
    x = RNG.standard_normal(shape)
    fn = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1]
    got = fn(nb.tensor(x), **kw)

    def tup(name, default):
        v = kw.get(name, default)
        return (v,) * nd if np.isscalar(v) else tuple(v)
    k = tup("kernel_size", None)
    batched = x if len(shape) == nd + 2 else x[None]
    want = np_avg_pool(batched, k, tup("stride", None), tup("padding", 0),
                       kw.get("ceil_mode", False), kw.get("count_include_pad", True),
                       kw.get("divisor_override"))
    np.testing.assert_allclose(got.numpy(), want if len(shape) == nd + 2 else want[0],
                               atol=1e-12)


def test_avg_pool_gradients():
    x = t64(RNG.standard_normal((1, 2, 5, 4)))
    fn = lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False)  # noqa
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def np_adaptive(x, out, reduce):
    nd = x.ndim - 2
    size = x.shape[2:]
    res = np.zeros(x.shape[:2] + tuple(out))
    for o in itertools.product(*(range(v) for v in out)):
        sl = tuple(slice((o[i] * size[i]) // out[i], -((-(o[i] + 1) * size[i]) // out[i]))
                   for i in range(nd))
        res[(slice(None), slice(None), *o)] = reduce(
            x[(slice(None), slice(None), *sl)], axis=tuple(range(2, 2 + nd)))
    return res


@pytest.mark.parametrize("nd,shape,out", [(1, (2, 3, 7), (3,)), (2, (2, 2, 7, 5), (3, 4)),
                                          (2, (2, 5, 4), (2, 4)), (3, (1, 2, 3, 5, 4), (2, 3, 3))])
def test_adaptive_pools(nd, shape, out):
    x = RNG.standard_normal(shape)
    batched = x if len(shape) == nd + 2 else x[None]
    avg = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[nd - 1]
    mx = (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)[nd - 1]
    want_avg = np_adaptive(batched, out, np.mean)
    want_max = np_adaptive(batched, out, np.max)
    if len(shape) != nd + 2:
        want_avg, want_max = want_avg[0], want_max[0]
    np.testing.assert_allclose(avg(nb.tensor(x), out).numpy(), want_avg, atol=1e-12)
    vals, idx = mx(nb.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(vals.numpy(), want_max)
    flat = x.reshape(*x.shape[:-nd], -1)
    picked = np.take_along_axis(flat, idx.numpy().reshape(*idx.shape[:-nd], -1), -1)
    np.testing.assert_array_equal(picked.reshape(vals.shape), want_max)


def test_adaptive_pool_gradients_and_none_size():
    x = t64(RNG.standard_normal((1, 2, 5, 3)))
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, (2, 2)), (x,))
    assert gradcheck(lambda t: F.adaptive_max_pool2d(t, (3, 2)), (x,))
    assert F.adaptive_avg_pool2d(nb.zeros(1, 2, 5, 3), (2, None)).shape == (1, 2, 2, 3)


def test_lp_pool():
    x = np.abs(RNG.standard_normal((1, 2, 6, 5)))
    got = F.lp_pool2d(nb.tensor(x), 3, 2, stride=1)
    want = np.zeros((1, 2, 5, 4))
    for i, j in itertools.product(range(5), range(4)):
        want[:, :, i, j] = ((x[:, :, i:i + 2, j:j + 2] ** 3).sum((2, 3))) ** (1 / 3)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    y = nb.tensor([[3.0, 4.0, 1.0]])
    np.testing.assert_allclose(F.lp_pool1d(y, 2, 2).numpy(), [[5.0]])
    assert gradcheck(lambda t: F.lp_pool1d(t, 2, 2), (t64(np.abs(x[0, :, 0]) + 0.5),))


@pytest.mark.parametrize("call,message", [
    (lambda: F.max_pool2d(nb.zeros(2, 3), 2), r"non-empty 3D or 4D \(batch mode\) tensor"),
    (lambda: F.max_pool1d(nb.zeros(3), 2), r"max_pool1d: Expected 2D or 3D \(batch mode\)"),
    (lambda: F.max_pool2d(nb.zeros(1, 3, 4, 4), 2, padding=2),
     r"pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and "
     r"dilation=1"),
    (lambda: F.max_pool2d(nb.zeros(1, 3, 1, 1), 2),
     r"Given input size: \(3x1x1\)\. Calculated output size: \(3x0x0\)\. Output size is too "
     r"small"),
    (lambda: F.avg_pool2d(nb.zeros(1, 3, 4, 4), 2, padding=2), r"pad should be at most half"),
    (lambda: F.adaptive_avg_pool2d(nb.zeros(3), 2),
     r"adaptive_avg_pool2d\(\): Expected 3D or 4D tensor, but got \[3\]"),
])
def test_pool_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def test_pool_layers_and_reprs():
    assert repr(nb.nn.MaxPool2d(2)) == \
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nb.nn.MaxPool1d(3, return_indices=True, ceil_mode=True)) == \
        "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=True)"
    assert repr(nb.nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nb.nn.AvgPool1d(3)) == "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"
    assert repr(nb.nn.AdaptiveAvgPool2d((2, 3))) == "AdaptiveAvgPool2d(output_size=(2, 3))"
    assert repr(nb.nn.AdaptiveMaxPool2d(2)) == "AdaptiveMaxPool2d(output_size=2)"
    assert repr(nb.nn.MaxUnpool2d(2)) == \
        "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    assert repr(nb.nn.LPPool2d(2, 3)) == \
        "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"
    x = nb.tensor(RNG.standard_normal((1, 2, 4, 4)))
    v, i = nb.nn.MaxPool2d(2, return_indices=True)(x)
    np.testing.assert_array_equal(v.numpy(), F.max_pool2d(x, 2).numpy())
    assert nb.nn.MaxUnpool2d(2)(v, i).shape == (1, 2, 4, 4)
    assert nb.nn.AvgPool3d(2)(nb.ones(1, 1, 2, 2, 2)).tolist() == [[[[[1.0]]]]]
    assert nb.nn.AdaptiveAvgPool1d(1)(nb.tensor([[1.0, 3.0]])).tolist() == [[2.0]]
    assert nb.nn.LPPool1d(1, 2)(nb.tensor([[1.0, 2.0]])).tolist() == [[3.0]]
