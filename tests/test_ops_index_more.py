"""Indexing, shape and reduction ops of issue 13: values against numpy, gradcheck, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def f64(*shape, grad=True):
    return nb.tensor(RNG.standard_normal(shape), dtype=nb.float64, requires_grad=grad)


def test_scatter_src_value_and_reduce():
    x = nb.zeros(2, 3)
    idx = nb.tensor([[2, 0], [1, 1]])
    src = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    out = x.scatter(1, idx, src).numpy()
    ref = np.zeros((2, 3), np.float32)
    ref[0, 2], ref[0, 0], ref[1, 1] = 1, 2, 4
    assert out[0].tolist() == ref[0].tolist() and out[1, 0] == 0 and out[1, 2] == 0
    assert nb.zeros(3).scatter(0, nb.tensor([1]), value=5.0).tolist() == [0, 5, 0]
    add = nb.ones(3).scatter(0, nb.tensor([0, 0]), nb.tensor([2.0, 3.0]), reduce="add")
    assert add.tolist() == [6, 1, 1]
    mul = nb.ones(3).scatter(0, nb.tensor([0, 0]), nb.tensor([2.0, 3.0]), reduce="multiply")
    assert mul.tolist() == [6, 1, 1]
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        nb.ones(3).scatter(0, nb.tensor([0]), nb.tensor([1.0]), reduce="max")


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_values_and_gradients(reduce, include_self):
    x = nb.tensor([1.0, 2.0, 3.0, 4.0], dtype=nb.float64)
    idx = nb.tensor([0, 0, 2, 2, 2])
    src = nb.tensor([5.0, -1.0, 0.5, 7.0, 2.0], dtype=nb.float64)
    out = x.scatter_reduce(0, idx, src, reduce, include_self=include_self).tolist()
    ufunc = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum,
             "amin": np.minimum}[reduce]
    ref = []
    for i, v in enumerate([1.0, 2.0, 3.0, 4.0]):
        vals = [s for j, s in zip(idx.tolist(), src.tolist()) if j == i]
        if not vals:
            ref.append(v)
            continue
        vals = ([v] if include_self else []) + vals
        ref.append(np.mean(vals) if reduce == "mean" else ufunc.reduce(vals))
    np.testing.assert_allclose(out, ref)
    a = f64(4)
    b = f64(5)
    assert gradcheck(lambda a, b: a.scatter_reduce(0, idx, b, reduce, include_self=include_self),
                     (a, b))


def test_scatter_gradients():
    a, b = f64(3, 4), f64(2, 4)
    idx = nb.tensor([[0, 1, 2, 0], [2, 0, 1, 1]])
    assert gradcheck(lambda a, b: a.scatter(0, idx, b), (a, b))
    assert gradgradcheck(lambda a, b: a.scatter(0, idx, b), (a, b))
    assert gradcheck(lambda a: a.scatter(0, idx, 2.0), (a,))


def test_index_add_copy_fill_put():
    x = nb.zeros(3, 2)
    src = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.index_add(0, nb.tensor([2, 2]), src, alpha=2).tolist() == [[0, 0], [0, 0], [8, 12]]
    assert x.index_copy(0, nb.tensor([2, 0]), src).tolist() == [[3, 4], [0, 0], [1, 2]]
    assert x.index_fill(1, nb.tensor([0]), -1.0).tolist() == [[-1, 0]] * 3
    y = nb.zeros(2, 2).index_put((nb.tensor([0, 1]), nb.tensor([1, 1])), nb.tensor([5.0, 6.0]))
    assert y.tolist() == [[0, 5], [0, 6]]
    acc = nb.zeros(2).index_put_((nb.tensor([0, 0]),), nb.tensor(1.0), accumulate=True)
    assert acc.tolist() == [2, 0]
    a, s = f64(3, 2), f64(2, 2)
    i = nb.tensor([2, 0])
    assert gradcheck(lambda a, s: a.index_add(0, i, s, alpha=3), (a, s))
    assert gradcheck(lambda a, s: a.index_copy(0, i, s), (a, s))
    assert gradcheck(lambda a: a.index_fill(0, i, 1.5), (a,))
    assert gradcheck(lambda a, s: a.index_put((i,), s, accumulate=True), (a, s))
    assert gradcheck(lambda a, s: a.index_put((i,), s), (a, s))
    with pytest.raises(RuntimeError, match="Number of indices"):
        x.index_add(0, nb.tensor([0]), src)
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_copy(0, nb.tensor([5, 0]), src)


def test_masked_select_scatter_nonzero_where_take_put():
    x = nb.tensor([[1.0, -2.0], [-3.0, 4.0]])
    m = x > 0
    assert nb.masked_select(x, m).tolist() == [1, 4]
    assert x.masked_scatter(m, nb.tensor([9.0, 8.0, 7.0])).tolist() == [[9, -2], [-3, 8]]
    assert nb.nonzero(m).tolist() == [[0, 0], [1, 1]]
    assert [t.tolist() for t in nb.nonzero(m, as_tuple=True)] == [[0, 1], [0, 1]]
    assert [t.tolist() for t in nb.where(m)] == [[0, 1], [0, 1]]
    assert nb.argwhere(nb.tensor([0, 2])).tolist() == [[1]]
    assert nb.nonzero(nb.tensor(3)).shape == (1, 0)
    assert nb.take(x, nb.tensor([[3, 0]])).tolist() == [[4, 1]]
    assert x.put(nb.tensor([1]), nb.tensor([0.5])).tolist() == [[1, 0.5], [-3, 4]]
    a, s = f64(2, 2), f64(3)
    mm = nb.tensor([[True, False], [True, True]])
    assert gradcheck(lambda a: nb.masked_select(a, mm), (a,))
    assert gradcheck(lambda a, s: a.masked_scatter(mm, s), (a, s))
    assert gradcheck(lambda a: nb.take(a, nb.tensor([3, 3, 0])), (a,))
    assert gradcheck(lambda a, s: a.put(nb.tensor([0, 3, 1]), s, accumulate=True), (a, s))
    with pytest.raises(RuntimeError, match="expected BoolTensor"):
        nb.masked_select(x, nb.tensor([1, 0]))
    with pytest.raises(RuntimeError, match="at least as many elements"):
        x.masked_scatter(nb.ones(2, 2) > 0, nb.tensor([1.0]))


def test_diagonals_and_triangle_indices():
    a = np.arange(12.0).reshape(3, 4)
    t = nb.tensor(a)
    for off in (-2, -1, 0, 1, 3):
        assert nb.diagonal(t, off).tolist() == np.diagonal(a, off).tolist()
    b = np.arange(24.0).reshape(2, 3, 4)
    assert nb.diagonal(nb.tensor(b), 0, 2, 0).tolist() == np.diagonal(b, 0, 2, 0).tolist()
    assert nb.diag(nb.tensor([1, 2]), 1).tolist() == np.diag([1, 2], 1).tolist()
    assert nb.diag(t, -1).tolist() == np.diag(a, -1).tolist()
    assert nb.diagflat(nb.tensor([[1, 2]]), -1).tolist() == np.diagflat([1, 2], -1).tolist()
    e = nb.diag_embed(nb.tensor(b[..., :2]), 0, 0, 2)
    assert e.shape == (2, 2, 2, 3)  # as torch.diag_embed(x, 0, 0, 2)
    assert e.reshape(-1)[:10].tolist() == [0, 4, 8, 0, 0, 0, 12, 16, 20, 0]  # torch values
    assert nb.trace(t).item() == np.trace(a)
    assert nb.tril_indices(3, 4, 1).tolist() == np.stack(np.tril_indices(3, 1, 4)).tolist()
    assert nb.triu_indices(3, 2, -1).tolist() == np.stack(np.triu_indices(3, -1, 2)).tolist()
    x = f64(3, 4)
    assert gradcheck(lambda x: nb.diagonal(x, 1), (x,))
    assert gradcheck(lambda x: nb.diag_embed(x, -1), (x,))
    assert gradcheck(lambda x: nb.trace(x), (x,))
    with pytest.raises(RuntimeError, match="Supports 1D or 2D"):
        nb.diag(nb.zeros(1, 1, 1))


def test_shape_compositions():
    a = np.arange(24).reshape(2, 3, 4)
    t = nb.tensor(a)
    assert nb.movedim(t, (0, 1), (2, 0)).tolist() == np.moveaxis(a, (0, 1), (2, 0)).tolist()
    assert nb.moveaxis(t, -1, 0).shape == (4, 2, 3)
    assert nb.swapaxes(t, 0, 2).shape == (4, 3, 2)
    assert t.unflatten(2, (2, -1)).shape == (2, 3, 2, 2)
    for s, d in ((1, None), (-5, None), ((1, 2), (0, 2)), (3, 1)):
        assert nb.roll(t, s, d).tolist() == np.roll(a, s, d).tolist()
    for k in range(-1, 5):
        assert nb.rot90(t, k, (1, 2)).tolist() == np.rot90(a, k, (1, 2)).tolist()
    assert nb.tile(t, (2, 1)).tolist() == np.tile(a, (2, 1)).tolist()
    assert nb.broadcast_to(nb.tensor([1, 2]), (2, 2)).tolist() == [[1, 2], [1, 2]]
    assert [x.shape for x in nb.broadcast_tensors(nb.zeros(2, 1), nb.zeros(3))] == [(2, 3)] * 2
    assert nb.hstack([t, t]).shape == (2, 6, 4)
    assert nb.vstack([nb.tensor([1]), nb.tensor([2])]).tolist() == [[1], [2]]
    assert nb.dstack([nb.tensor([1]), nb.tensor([2])]).shape == (1, 1, 2)
    assert nb.column_stack([nb.tensor([1, 2]), nb.zeros(2, 2, dtype=nb.int64)]).shape == (2, 3)
    assert [x.tolist() for x in nb.tensor_split(nb.arange(7), 3)] == \
        [x.tolist() for x in np.array_split(np.arange(7), 3)]
    assert [x.shape for x in nb.hsplit(t, 3)] == [(2, 1, 4)] * 3
    assert [x.shape for x in nb.vsplit(t, [1])] == [(1, 3, 4), (1, 3, 4)]
    with pytest.raises(RuntimeError, match="not divisible"):
        nb.vsplit(t, 3)
    assert [x.shape for x in t.split_with_sizes([1, 3], 2)] == [(2, 3, 1), (2, 3, 3)]
    assert nb.select(t, 1, -1).tolist() == a[:, -1].tolist()
    assert nb.narrow_copy(t, 2, 1, 2).tolist() == a[:, :, 1:3].tolist()
    assert t.view_as(nb.zeros(6, 4)).shape == (6, 4)
    assert t.reshape_as(nb.zeros(4, 6)).shape == (4, 6)
    assert t.type_as(nb.zeros(1, dtype=nb.float64)).dtype is nb.float64
    assert t.expand_as(nb.zeros(2, 2, 3, 4)).shape == (2, 2, 3, 4)
    u = nb.arange(7).unfold(0, 3, 2)
    assert u.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert t.unfold(1, 2, 1).shape == (2, 2, 4, 2)
    gi, gj = nb.meshgrid(nb.tensor([1, 2]), nb.tensor([3, 4, 5]), indexing="xy")
    ni, nj = np.meshgrid([1, 2], [3, 4, 5], indexing="xy")
    assert gi.tolist() == ni.tolist() and gj.tolist() == nj.tolist()
    assert nb.cartesian_prod(nb.tensor([1, 2]), nb.tensor([3])).tolist() == [[1, 3], [2, 3]]
    assert nb.combinations(nb.tensor([1, 2, 3]), 2, with_replacement=True).shape == (6, 2)
    bd = nb.block_diag(nb.tensor([[1.0]]), nb.tensor([2.0, 3.0]))
    assert bd.tolist() == [[1, 0, 0], [0, 2, 3]]
    assert nb.atleast_3d(nb.tensor(1.0)).shape == (1, 1, 1)
    assert [x.shape for x in nb.atleast_2d(nb.tensor(1.0), nb.zeros(3))] == [(1, 1), (1, 3)]
    x = f64(2, 3)
    assert gradcheck(lambda x: nb.roll(x, (1, -1), (0, 1)), (x,))
    assert gradcheck(lambda x: nb.rot90(x, 3), (x,))
    assert gradcheck(lambda x: x.unfold(1, 2, 1), (x,))
    assert gradcheck(lambda x: nb.block_diag(x, x), (x,))


def test_flip_and_squeeze_on_0d():
    x = nb.tensor(2.0)
    assert x.flip(0).shape == () and x.flip(0).item() == 2.0
    assert x.squeeze(0).shape == () and x.squeeze((0,)).shape == ()
    assert nb.zeros(1, 2, 1).squeeze((0, 2)).shape == (2,)


def test_reductions_and_tests():
    a = np.array([[0.0, 1.0, np.nan], [2.0, 0.0, 3.0]])
    t = nb.tensor(a)
    assert nb.all(t > -1, dim=1).tolist() == [False, True]  # NaN > -1 is False
    assert nb.any(t == 3, axis=0).tolist() == [False, False, True]
    assert nb.all(nb.tensor([1, 2], dtype=nb.int64)).item() is True
    assert nb.count_nonzero(t, dim=1).tolist() == [2, 2]
    assert nb.nansum(t).item() == 6.0
    np.testing.assert_allclose(nb.nanmean(t, 1).tolist(), np.nanmean(a, 1))
    mn, mx = nb.aminmax(nb.tensor([[3, 1], [2, 5]]), dim=0)
    assert mn.tolist() == [2, 1] and mx.tolist() == [3, 5]
    assert nb.sum(t, axis=0).shape == (3,)
    assert nb.isclose(nb.tensor([1.0, np.nan]), nb.tensor([1.0, np.nan]),
                      equal_nan=True).tolist() == [True, True]
    assert nb.allclose(nb.tensor([1.0]), nb.tensor([1.0 + 1e-7]))
    assert nb.equal(nb.tensor([1, 2]), nb.tensor([1, 2]))
    assert not nb.equal(nb.tensor([1, 2]), nb.tensor([1, 3]))
    with pytest.raises(RuntimeError, match="Float did not match Double"):
        nb.isclose(nb.tensor([1.0]), nb.tensor([1.0], dtype=nb.float64))
    x = nb.tensor([1.0, float("nan"), 2.0], dtype=nb.float64, requires_grad=True)
    nb.nanmean(x).backward()
    assert x.grad.tolist() == [0.5, 0.0, 0.5]
