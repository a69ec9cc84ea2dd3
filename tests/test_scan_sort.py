"""Cumulative, sorting and selection ops: values against numpy, float64 gradcheck, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1)


def f64(*shape):
    return nb.tensor(RNG.standard_normal(shape), dtype=nb.float64, requires_grad=True)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_cumprod_values_dtypes_and_gradients(dim):
    a = RNG.standard_normal((3, 4))
    t = nb.tensor(a)
    np.testing.assert_allclose(nb.cumsum(t, dim).numpy(), np.cumsum(a, dim))
    np.testing.assert_allclose(t.cumprod(dim).numpy(), np.cumprod(a, dim))
    np.testing.assert_allclose(nb.cumsum(t.T, dim).numpy(), np.cumsum(a.T, dim))
    x = f64(3, 4)
    assert gradcheck(lambda x: x.cumsum(dim), (x,))
    assert gradgradcheck(lambda x: x.cumsum(dim), (x,))
    assert gradcheck(lambda x: x.cumprod(dim), (x,))
    assert gradgradcheck(lambda x: x.cumprod(dim), (x,))


def test_cumprod_gradient_with_zeros():
    x = nb.tensor([2.0, 0.0, 3.0, 0.0, 1.5], dtype=nb.float64, requires_grad=True)
    assert gradcheck(lambda x: x.cumprod(0), (x,))


def test_cumulative_dtypes_and_0d():
    assert nb.cumsum(nb.tensor([True, True]), 0).dtype is nb.int64
    assert nb.cumsum(nb.tensor([1, 2]), 0, dtype=nb.float64).dtype is nb.float64
    assert nb.cumsum(nb.tensor(3.0), 0).item() == 3.0
    with pytest.raises(IndexError, match="Dimension out of range"):
        nb.cumsum(nb.zeros(2), 1)


def test_cummax_cummin_logcumsumexp_diff():
    a = np.array([[1.0, 3.0, 2.0, 3.0], [0.0, -1.0, 4.0, 4.0]])
    t = nb.tensor(a)
    v, i = nb.cummax(t, 1)
    assert v.tolist() == np.maximum.accumulate(a, 1).tolist()
    assert i.tolist() == [[0, 1, 1, 3], [0, 0, 2, 3]]  # ties take the latest, as PyTorch
    v, i = t.cummin(1)
    assert v.tolist() == np.minimum.accumulate(a, 1).tolist()
    assert i.tolist() == [[0, 0, 0, 0], [0, 1, 1, 1]]
    np.testing.assert_allclose(nb.logcumsumexp(t, 1).numpy(),
                               np.log(np.cumsum(np.exp(a), 1)), rtol=1e-6)
    big = nb.tensor([1000.0, 1000.0], dtype=nb.float64)
    np.testing.assert_allclose(nb.logcumsumexp(big, 0).numpy(), [1000, 1000 + np.log(2)])
    assert nb.diff(t, dim=1).tolist() == np.diff(a, axis=1).tolist()
    assert nb.diff(t, 2, 0, prepend=nb.zeros(1, 4, dtype=nb.float64)).tolist() == \
        np.diff(a, 2, 0, prepend=np.zeros((1, 4))).tolist()
    assert nb.diff(nb.tensor([True, False, False])).tolist() == [True, False]
    x = f64(2, 4)
    assert gradcheck(lambda x: x.cummax(1).values, (x,))
    assert gradcheck(lambda x: nb.logcumsumexp(x, 1), (x,))
    assert gradgradcheck(lambda x: nb.logcumsumexp(x, 1), (x,))
    assert gradcheck(lambda x: nb.diff(x, 2, append=x), (x,))


def test_sort_argsort_topk_kthvalue():
    a = np.array([[3.0, 1.0, 2.0, 1.0], [np.nan, 0.0, 5.0, -1.0]])
    t = nb.tensor(a)
    s = nb.sort(t)
    assert s.indices.tolist() == np.argsort(a, 1, kind="stable").tolist()
    assert s.values[0].tolist() == [1, 1, 2, 3]
    d = t.sort(descending=True)
    assert d.indices.tolist() == [[0, 2, 1, 3], [0, 2, 1, 3]]  # NaN is largest
    assert nb.argsort(t, 0).tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]
    assert nb.msort(t).shape == (2, 4)
    v, i = nb.topk(nb.tensor([1.0, 5.0, 3.0, 4.0]), 3, largest=False)
    assert v.tolist() == [1, 3, 4] and i.tolist() == [0, 2, 3]
    with pytest.raises(RuntimeError, match="k out of range"):
        nb.topk(t, 5)
    k = nb.kthvalue(nb.tensor([[3, 1, 2]]), 2, 1, keepdim=True)
    assert k.values.tolist() == [[2]] and k.indices.tolist() == [[2]]
    x = f64(3, 4)
    assert gradcheck(lambda x: x.sort(1, descending=True).values, (x,))
    assert gradcheck(lambda x: x.topk(2, 0).values, (x,))
    assert gradcheck(lambda x: x.kthvalue(2, 1).values, (x,))


def test_median_mode_quantile():
    a = np.array([[4.0, 1.0, 3.0, 2.0], [1.0, np.nan, 0.0, 2.0]])
    t = nb.tensor(a)
    assert nb.median(t[0]).item() == 2.0  # the lower median
    m = t.median(1)
    assert m.values[0].item() == 2.0 and np.isnan(m.values[1].item()) and m.indices[1].item() == 1
    nm = nb.nanmedian(t, 1)
    assert nm.values.tolist() == [2.0, 1.0] and nm.indices.tolist() == [3, 0]
    mo = nb.mode(nb.tensor([[1, 2, 2, 3, 3, 3], [5, 5, 4, 4, 0, 1]]))
    assert mo.values.tolist() == [3, 4]
    b = RNG.standard_normal((3, 5))
    for how in ("linear", "lower", "higher", "midpoint", "nearest"):
        q = nb.quantile(nb.tensor(b), nb.tensor([0.1, 0.5, 0.9], dtype=nb.float64), dim=1,
                        interpolation=how)
        np.testing.assert_allclose(q.numpy(), np.quantile(b, [0.1, 0.5, 0.9], axis=1,
                                                          method=how))
    np.testing.assert_allclose(nb.nanquantile(t, 0.5, 1).tolist(), np.nanquantile(a, 0.5, 1))
    assert np.isnan(nb.quantile(t, 0.5, 1)[1].item())
    assert nb.quantile(nb.tensor(b), 0.3, keepdim=True).shape == (1, 1)
    with pytest.raises(RuntimeError, match="in the range"):
        nb.quantile(t, 1.5)
    with pytest.raises(RuntimeError, match="float or double"):
        nb.quantile(nb.tensor([1, 2]), 0.5)
    x = f64(3, 5)
    assert gradcheck(lambda x: x.median(), (x,))
    assert gradcheck(lambda x: x.quantile(0.4, dim=0), (x,))


def test_unique_searchsorted_bucketize():
    t = nb.tensor([[3, 1], [3, 2]])
    u, inv, cnt = nb.unique(t, return_inverse=True, return_counts=True)
    assert u.tolist() == [1, 2, 3] and inv.tolist() == [[2, 0], [2, 1]]
    assert cnt.tolist() == [1, 1, 2]
    assert nb.unique(nb.tensor([[1, 2], [1, 2], [0, 1]]), dim=0).tolist() == [[0, 1], [1, 2]]
    uc, ic, cc = nb.unique_consecutive(nb.tensor([1, 1, 2, 2, 1]), return_inverse=True,
                                       return_counts=True)
    assert uc.tolist() == [1, 2, 1] and ic.tolist() == [0, 0, 1, 1, 2] and cc.tolist() == [2, 2, 1]
    seq = nb.tensor([[1, 3, 5], [2, 4, 6]])
    v = nb.tensor([[3, 6], [1, 7]])
    assert nb.searchsorted(seq, v).tolist() == [[1, 3], [0, 3]]
    assert nb.searchsorted(seq, v, side="right").tolist() == [[2, 3], [0, 3]]
    assert nb.searchsorted(nb.tensor([5, 1, 3]), nb.tensor([2]), sorter=nb.tensor([1, 2, 0])
                           ).tolist() == [1]
    assert nb.searchsorted(seq[0], 3, out_int32=True).dtype is nb.int32
    with pytest.raises(RuntimeError, match="side and right can't be set to opposites"):
        nb.searchsorted(seq, v, right=True, side="left")
    b = nb.bucketize(nb.tensor([1, 5, 9]), nb.tensor([1, 5, 8]), right=True)
    assert b.tolist() == [1, 2, 3]
