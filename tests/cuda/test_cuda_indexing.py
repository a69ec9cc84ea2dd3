"""Indexing, gather/scatter and joins on the GPU against the CPU: basic views, integer and
boolean array indices (device and host), assignment, atomic accumulation of repeated indices."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import assert_same, host, pair

import nbgrad as nb

pytestmark = pytest.mark.cuda

X = np.arange(60.0).reshape(3, 4, 5)


def _index(spec, device):
    """Index items: lists stay host lists, ("t", values) become index tensors on ``device``."""
    out = []
    for item in spec:
        if isinstance(item, tuple) and item and item[0] == "t":
            out.append(nb.tensor(item[1], device=device))
        else:
            out.append(item)
    return tuple(out)


@pytest.mark.parametrize("spec", [
    (1,), (slice(None), 2), (Ellipsis, 3), (None, 1, slice(1, 4, 2)), (slice(None, None, 2),),
    (-1, Ellipsis, None), (1, 2, 3),
])
def test_basic_indexing_gives_views(spec):
    xc, xg = pair(X, nb.float32)
    yc, yg = xc[spec], xg[spec]
    assert_same(yc, yg)
    assert yg._base is xg
    assert yg.stride() == yc.stride()


@pytest.mark.parametrize("spec", [
    (("t", [0, 2, 2]),),
    ([2, -1],),
    (slice(None), ("t", [[3, 0], [1, 1]])),
    (("t", [0, 2]), slice(None), ("t", [4, 1])),  # separated: indexed dims go first
    (1, ("t", [0, 3])),  # an int next to an array is an array index
    (("t", [[True, False, True, False], [False] * 4, [True] * 4]),),
    (slice(None), ("t", [True, False, True, True])),
    (True,),
])
def test_advanced_indexing_matches_cpu(spec):
    xc, xg = pair(X, nb.float32)
    assert_same(xc[_index(spec, "cpu")], xg[_index(spec, "cuda")])


def test_cpu_index_tensor_on_a_cuda_tensor():
    xc, xg = pair(X, nb.float32)
    i = nb.tensor([2, 0])
    assert_same(xc[i], xg[i])


def test_out_of_range_indices_raise():
    _, xg = pair(X, nb.float32)
    with pytest.raises(IndexError, match="out of bounds"):
        xg[3]
    with pytest.raises(IndexError, match="out of bounds"):
        xg[[0, 3]]
    with pytest.raises(IndexError, match="out of bounds"):
        xg[nb.tensor([0, -4], device="cuda")]


@pytest.mark.parametrize("spec,value", [
    ((1,), 7.0),
    ((slice(None), 0), ("t", [1.0, 2.0, 3.0, 4.0, 5.0])),
    ((("t", [0, 2]),), -1.0),
    ((slice(None), ("t", [1, 3]), 2), ("t", [[9.0, 8.0], [7.0, 6.0], [5.0, 4.0]])),
    ((("t", [[True, False, True, False]] * 3),), ("t", [1.0, 2.0, 3.0, 4.0, 5.0])),
])
def test_setitem_matches_cpu(spec, value):
    xc, xg = pair(X, nb.float32)
    for x, dev in ((xc, "cpu"), (xg, "cuda")):
        v = nb.tensor(value[1], device=dev) if isinstance(value, tuple) else value
        x[_index(spec, dev)] = v
    assert_same(xc, xg)


def test_repeated_indices_accumulate_gradients_atomically():
    xc, xg = pair(X[0], nb.float64, requires_grad=True)
    for x, dev in ((xc, "cpu"), (xg, "cuda")):
        idx = nb.tensor([0, 2, 2, 2, 1, 0], device=dev)
        (x[idx] * 2).sum().backward()
        (x[1:, [4, 4]]).sum().backward()
    assert_same(xc.grad, xg.grad)
    assert host(xg.grad)[2, 0] == 6.0


def test_gather_scatter_add_index_select_masked_fill():
    xc, xg = pair(X, nb.float32)
    ic, ig = pair(np.array([[[0, 1], [3, 3], [2, 0], [1, 1]]] * 3), nb.int64)
    assert_same(nb.gather(xc, 2, ic), nb.gather(xg, 2, ig))
    assert_same(nb.take_along_dim(xc, ic, 2), nb.take_along_dim(xg, ig, 2))
    src_c, src_g = pair(np.ones((3, 4, 2)), nb.float32)
    assert_same(nb.scatter_add(xc, 2, ic, src_c), nb.scatter_add(xg, 2, ig, src_g))
    jc, jg = pair([2, 0, 2], nb.int64)
    assert_same(nb.index_select(xc, 1, jc), nb.index_select(xg, 1, jg))
    assert_same(nb.masked_fill(xc, xc > 30, -1.0), nb.masked_fill(xg, xg > 30, -1.0))
    assert_same(nb.where(xc > 10, xc, 0.0), nb.where(xg > 10, xg, 0.0))
    with pytest.raises(IndexError, match="out of bounds"):
        nb.gather(xg, 2, ig + 4)


def test_gather_gradient_scatters_on_the_device():
    xc, xg = pair(X, nb.float64, requires_grad=True)
    ic, ig = pair(np.array([[[0, 0], [3, 3], [2, 0], [1, 1]]] * 3), nb.int64)
    for x, i in ((xc, ic), (xg, ig)):
        (nb.gather(x, 2, i) ** 2).sum().backward()
    assert_same(xc.grad, xg.grad)


def test_joins_flips_and_triangles():
    xc, xg = pair(X, nb.float32)
    assert_same(nb.cat([xc, xc[:1]], 0), nb.cat([xg, xg[:1]], 0))
    assert_same(nb.cat([xc, xc.int()], 2), nb.cat([xg, xg.int()], 2))
    assert_same(nb.stack([xc[0], xc[1]], 1), nb.stack([xg[0], xg[1]], 1))
    assert_same(nb.flip(xc, (0, 2)), nb.flip(xg, (0, 2)))
    assert_same(nb.tril(xc, 1), nb.tril(xg, 1))
    assert_same(nb.triu(xc[0].t(), -1), nb.triu(xg[0].t(), -1))
    for part_c, part_g in zip(nb.split(xc, 2, 1), nb.split(xg, 2, 1)):
        assert_same(part_c, part_g)
    assert_same(xc.repeat(2, 1, 1), xg.repeat(2, 1, 1))


def test_index_views_reshape_and_transposes_share_storage():
    _, xg = pair(X, nb.float32)
    v = xg.permute(2, 0, 1)[1:3]
    assert not v.is_contiguous()
    v.zero_()
    assert (host(xg)[:, :, 1:3] == 0).all()
    assert host(xg)[0, 0, 0] == 0 and host(xg)[0, 0, 3] == 3
    flat = xg.reshape(-1)
    assert flat._base is xg  # contiguous: a view
    assert xg.t().reshape(-1).is_contiguous() if xg.ndim == 2 else True
    with pytest.raises(RuntimeError, match="view"):
        xg.transpose(0, 2).view(-1)


def test_assignment_and_double_backward_through_device_indices():
    results = []
    for dev in ("cpu", "cuda"):
        x = nb.ones(4, 3, dtype=nb.float64, device=dev, requires_grad=True)
        v = nb.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=nb.float64, device=dev,
                      requires_grad=True)
        idx = nb.tensor([0, 2], device=dev)
        y = x * 1
        y[idx] = v * 2
        (y * y).sum().backward()
        (g,) = nb.autograd.grad((x[idx] ** 3).sum(), x, create_graph=True)
        (h,) = nb.autograd.grad(g.sum(), x)
        results.append((x.grad, v.grad, h))
    for c, g in zip(*results):
        assert_same(c, g)
