"""Sorting and selection: sort, argsort, msort, topk, kthvalue, median, nanmedian, mode,
quantile, nanquantile, unique, unique_consecutive, searchsorted, bucketize.

Positions are found on the host with numpy; values are ``gather``-ed from the input, so their
gradients (g scattered back to where each value came from) come with ``gather``'s.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from nbgrad.ops._register import Doc, register
from nbgrad.ops.creation import tensor
from nbgrad.ops.indexing import gather
from nbgrad.ops.join import stack
from nbgrad.ops.scan import ValuesIndices, host
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian", "mode",
           "quantile", "nanquantile", "unique", "unique_consecutive", "searchsorted",
           "bucketize"]

TopK = namedtuple("TopK", ["values", "indices"])


def _sort_index(a: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable order along ``dim``; NaN sorts as the largest value (PyTorch's rule)."""
    if a.dtype == np.bool_:
        a = a.astype(np.int8)
    if descending:
        if a.dtype.kind == "f":
            key = np.where(np.isnan(a), -np.inf, -a)
            nan = np.isnan(a)
            # NaN first when descending: sort by (not nan, -a)
            order = np.argsort(key, axis=dim, kind="stable")
            nan_sorted = np.take_along_axis(nan, order, dim)
            return np.take_along_axis(order, np.argsort(~nan_sorted, axis=dim, kind="stable"), dim)
        if a.dtype.kind == "u":
            a = a.astype(np.int64)
        return np.argsort(-a if a.dtype.kind != "b" else ~a, axis=dim, kind="stable")
    return np.argsort(a, axis=dim, kind="stable")


def _dim0(x: Tensor, dim: int) -> int:
    return _wrap_dim(dim, x.ndim)


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "every dtype", "g scattered back to the sorted positions"))
def sort(input: Tensor, dim: int = -1, descending: bool = False, *,
         stable: bool = False) -> ValuesIndices:
    """Values sorted along ``dim`` and the positions they came from: ``(values, indices)``.
    The sort is always stable (``stable=`` is accepted).

    >>> import nbgrad as nb
    >>> nb.sort(nb.tensor([3.0, 1.0, 2.0]))
    ValuesIndices(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
    >>> nb.sort(nb.tensor([3, 1, 2]), descending=True).values
    tensor([3, 2, 1])
    """
    d = _dim0(input, dim)
    if input.ndim == 0:
        return ValuesIndices(input.clone(), tensor(0, device=input.device))
    idx = host(lambda a: _sort_index(a, d, descending), input)
    return ValuesIndices(gather(input, d, idx), idx)


@register(function=True, method=True, doc=Doc("Sorting and selection", "every dtype",
                                              "not differentiable (int64 result)"))
def argsort(input: Tensor, dim: int = -1, descending: bool = False, *,
            stable: bool = False) -> Tensor:
    """The positions that sort ``input`` along ``dim``.

    >>> import nbgrad as nb
    >>> nb.argsort(nb.tensor([3.0, 1.0, 2.0]))
    tensor([1, 2, 0])
    """
    return sort(input, dim, descending, stable=stable).indices


@register(function=True, method=True, doc=Doc("Sorting and selection", "every dtype", "as sort"))
def msort(input: Tensor) -> Tensor:
    """``sort(input, dim=0).values``.

    >>> import nbgrad as nb
    >>> nb.msort(nb.tensor([[2, 1], [1, 3]]))
    tensor([[1, 1],
            [2, 3]])
    """
    return sort(input, 0).values


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "every dtype", "g scattered back to the chosen positions"))
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True) -> TopK:  # noqa: A002
    """The ``k`` largest (or smallest) values along ``dim`` and their positions.

    >>> import nbgrad as nb
    >>> nb.topk(nb.tensor([1.0, 5.0, 3.0, 4.0]), 2)
    TopK(values=tensor([5., 4.]), indices=tensor([1, 3]))
    """
    d = _dim0(input, dim)
    size = input.shape[d] if input.ndim else 1
    if not isinstance(k, int) or not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    if input.ndim == 0:
        return TopK(input.clone(), tensor(0, device=input.device))
    idx = host(lambda a: np.take(_sort_index(a, d, largest), np.arange(k), axis=d), input)
    return TopK(gather(input, d, idx), idx)


def _pick(input: Tensor, dim, keepdim: bool, position, name: str) -> ValuesIndices:
    """The value at sorted ``position`` (a function of the lane's length) along ``dim``."""
    d = _dim0(input, dim)
    if input.ndim == 0:
        return ValuesIndices(input.clone(), tensor(0, device=input.device))
    n = input.shape[d]
    if n == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    order = host(lambda a: _sort_index(a, d, False), input)

    def chosen(o, a):
        sa = np.take_along_axis(a, o, d)
        pos = position(sa, d)
        return np.take_along_axis(o, pos, d)

    idx = host(chosen, order, input)
    vals = gather(input, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return ValuesIndices(vals, idx)


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "every dtype", "g scattered back to the chosen position"))
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The ``k``-th smallest value along ``dim`` (1-based) and its position.

    >>> import nbgrad as nb
    >>> nb.kthvalue(nb.tensor([3.0, 1.0, 2.0]), 2)
    ValuesIndices(values=tensor(2.), indices=tensor(2))
    """
    d = _dim0(input, dim)
    size = input.shape[d] if input.ndim else 1
    if not isinstance(k, int) or not 1 <= k <= size:
        raise IndexError(f"kthvalue(): selected number k out of range for dimension {d}")

    def pos(sa, d):
        shape = list(sa.shape)
        shape[d] = 1
        return np.full(shape, k - 1, np.int64)

    return _pick(input, dim, keepdim, pos, "kthvalue")


def _median_pos(ignore_nan: bool):
    def pos(sa, d):
        shape = list(sa.shape)
        n = shape[d]
        shape[d] = 1
        if sa.dtype.kind != "f":
            return np.full(shape, (n - 1) // 2, np.int64)
        nan = np.isnan(sa)
        cnt = (~nan).sum(axis=d, keepdims=True)
        if ignore_nan:
            return np.maximum((cnt - 1) // 2, 0).astype(np.int64)
        has_nan = nan.any(axis=d, keepdims=True)
        return np.where(has_nan, np.argmax(nan, axis=d).reshape(shape), (n - 1) // 2).astype(
            np.int64)

    return pos


def _median(name: str, input: Tensor, dim, keepdim: bool, ignore_nan: bool):
    if dim is None:
        if input.numel() == 0:
            return tensor(float("nan"), dtype=input.dtype, device=input.device)
        return _pick(input.reshape(-1), 0, False, _median_pos(ignore_nan), name).values
    return _pick(input, dim, keepdim, _median_pos(ignore_nan), name)


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "every dtype", "g at the median's position"))
def median(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """The lower median (of all values, or along ``dim`` with its position); NaN propagates.

    >>> import nbgrad as nb
    >>> nb.median(nb.tensor([4.0, 1.0, 3.0, 2.0]))
    tensor(2.)
    >>> nb.median(nb.tensor([[1, 5, 3]]), dim=1)
    ValuesIndices(values=tensor([3]), indices=tensor([2]))
    """
    return _median("median", input, dim, keepdim, False)


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "every dtype", "g at the median's position"))
def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False):
    """``median`` ignoring NaN values.

    >>> import nbgrad as nb
    >>> nb.nanmedian(nb.tensor([1.0, float("nan"), 3.0, 2.0]))
    tensor(2.)
    """
    return _median("nanmedian", input, dim, keepdim, True)


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "every dtype", "g at the mode's position"))
def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The most frequent value along ``dim`` (the smallest among ties) and a position of it
    (the last).

    >>> import nbgrad as nb
    >>> nb.mode(nb.tensor([1, 2, 2, 3, 3]))
    ValuesIndices(values=tensor(2), indices=tensor(2))
    """
    d = _dim0(input, dim)
    if input.ndim == 0:
        return ValuesIndices(input.clone(), tensor(0, device=input.device))

    def find(a):
        m = np.moveaxis(a, d, -1)
        flat = m.reshape(-1, m.shape[-1])
        out = np.zeros(flat.shape[0], np.int64)
        for r, row in enumerate(flat):
            vals, counts = np.unique(row, return_counts=True)
            v = vals[np.argmax(counts)]
            out[r] = np.nonzero(row == v)[0][-1]
        return np.expand_dims(out.reshape(m.shape[:-1]), d)

    idx = host(find, input)
    vals = gather(input, d, idx)
    if not keepdim:
        vals, idx = vals.squeeze(d), idx.squeeze(d)
    return ValuesIndices(vals, idx)


_INTERP = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(name, input, q, dim, keepdim, interpolation, ignore_nan):
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype")
    if interpolation not in _INTERP:
        raise ValueError(f"{name}() interpolation must be one of linear, lower, higher, "
                         f"midpoint or nearest. Got {interpolation}")
    scalar_q = not isinstance(q, Tensor)
    qt = tensor(q, dtype=input.dtype, device=input.device) if scalar_q else q
    if qt.ndim > 1:
        raise RuntimeError(f"{name}() q must be a scalar or 1D tensor")
    if qt.dtype is not input.dtype:
        raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor")
    qs = qt._host().reshape(-1)
    if ((qs < 0) | (qs > 1)).any():
        raise RuntimeError(f"{name}() q values must be in the range [0, 1]")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else _dim0(input, dim)
    if x.ndim == 0:
        x = x.reshape(1)
    if x.shape[d] == 0:
        raise IndexError(f"{name}() input tensor must be non-empty")
    s = sort(x, d).values
    n = x.shape[d]
    lane_shape = list(s.shape)
    lane_shape[d] = 1

    def positions(a):
        nan = np.isnan(a)
        cnt = (~nan).sum(axis=d, keepdims=True) if ignore_nan else np.full(lane_shape, n)
        anynan = nan.any(axis=d, keepdims=True)
        rank = qs.reshape((-1,) + (1,) * a.ndim) * (cnt - 1)
        lo = np.floor(rank)
        hi = np.ceil(rank)
        if interpolation == "lower":
            hi = lo
        elif interpolation == "higher":
            lo = hi
        elif interpolation == "nearest":
            lo = hi = np.round(rank)  # half to even, as PyTorch
        w = rank - lo if interpolation == "linear" else np.where(
            hi > lo, 0.5, 0.0) if interpolation == "midpoint" else np.zeros_like(rank)
        if not ignore_nan:  # a lane with NaN gives NaN: point at its last (NaN) entry
            lo = np.where(anynan, n - 1, lo)
            hi = np.where(anynan, n - 1, hi)
        else:
            lo = np.maximum(lo, 0)
            hi = np.maximum(hi, 0)
        return np.stack([lo.astype(np.int64), hi.astype(np.int64)]), w.astype(a.dtype)

    sh = s._host()
    pos, w = positions(sh)
    pos_t = tensor(pos, device=input.device)
    w_t = tensor(w, dtype=input.dtype, device=input.device)
    outs = []
    for j in range(len(qs)):
        lo = gather(s, d, pos_t[0, j])
        hi = gather(s, d, pos_t[1, j])
        v = lo + (hi - lo) * w_t[j]
        if ignore_nan:
            v = v.masked_fill(tensor(np.isnan(sh).all(axis=d, keepdims=True),
                                     device=input.device), float("nan"))
        if not keepdim:
            v = v.squeeze(d)
        elif dim is None:
            v = v.reshape((1,) * input.ndim)
        outs.append(v)
    out = stack(outs, 0)
    return out[0] if scalar_q or qt.ndim == 0 else out


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "float32, float64", "composed: sort, gather, lerp"))
def quantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The ``q``-th quantiles (a number or 1-D tensor in [0, 1]) of all values or along ``dim``.

    >>> import nbgrad as nb
    >>> nb.quantile(nb.tensor([1.0, 2.0, 3.0, 4.0]), 0.5)
    tensor(2.5000)
    """
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


@register(function=True, method=True, doc=Doc(
    "Sorting and selection", "float32, float64", "composed: sort, gather, lerp"))
def nanquantile(input: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """``quantile`` ignoring NaN values.

    >>> import nbgrad as nb
    >>> nb.nanquantile(nb.tensor([1.0, float("nan"), 3.0]), 0.5)
    tensor(2.)
    """
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


def _unique_out(input, vals, inverse, counts, return_inverse, return_counts):
    out = [tensor(vals, dtype=input.dtype, device=input.device)]
    if return_inverse:
        out.append(tensor(inverse.astype(np.int64), device=input.device))
    if return_counts:
        out.append(tensor(counts.astype(np.int64), device=input.device))
    return out[0] if len(out) == 1 else tuple(out)


@register(function=True, method=True, doc=Doc("Sorting and selection", "every dtype",
                                              "not differentiable"))
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None):
    """The distinct values (sorted), optionally with the inverse map and the counts; with
    ``dim``, the distinct slices along ``dim``.

    >>> import nbgrad as nb
    >>> nb.unique(nb.tensor([3, 1, 3, 2]), return_inverse=True, return_counts=True)
    (tensor([1, 2, 3]), tensor([2, 0, 2, 1]), tensor([1, 1, 2]))
    """
    a = input._host()
    if dim is None:
        vals, inv, cnt = np.unique(a, return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        d = _dim0(input, dim)
        vals, inv, cnt = np.unique(a, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
    return _unique_out(input, vals, inv, cnt, return_inverse, return_counts)


@register(function=True, method=True, doc=Doc("Sorting and selection", "every dtype",
                                              "not differentiable"))
def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None):
    """Collapse runs of equal values (or slices along ``dim``) to one.

    >>> import nbgrad as nb
    >>> nb.unique_consecutive(nb.tensor([1, 1, 2, 2, 3, 1]), return_counts=True)
    (tensor([1, 2, 3, 1]), tensor([2, 2, 1, 1]))
    """
    a = input._host()
    if dim is None:
        flat = a.reshape(-1)
        lanes = flat
        axis = 0
    else:
        axis = _dim0(input, dim)
        lanes = np.moveaxis(a, axis, 0)
        flat = lanes
    n = flat.shape[0]
    if n == 0:
        starts = np.zeros(0, np.int64)
    else:
        diffs = np.ones(n, bool)
        if n > 1:
            neq = flat[1:] != flat[:-1]
            diffs[1:] = neq.reshape(n - 1, -1).any(axis=1)
        starts = np.nonzero(diffs)[0]
    vals = lanes[starts]
    if dim is not None:
        vals = np.moveaxis(vals, 0, axis)
    inv = (np.cumsum(np.isin(np.arange(n), starts)) - 1) if n else np.zeros(0, np.int64)
    if dim is None:
        inv = inv.reshape(a.shape)
    cnt = np.diff(np.append(starts, n))
    return _unique_out(input, vals, inv, cnt, return_inverse, return_counts)


@register(function=True, doc=Doc("Sorting and selection", "every real dtype",
                                 "not differentiable (int64 or int32 result)"))
def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False, right: bool = False,
                 side: str | None = None, sorter: Tensor | None = None) -> Tensor:
    """Where ``input``'s values would be inserted into the last dim of ``sorted_sequence`` to
    keep it sorted (``right``/``side="right"``: after equal values).

    >>> import nbgrad as nb
    >>> nb.searchsorted(nb.tensor([1, 3, 5, 7]), nb.tensor([3, 6]))
    tensor([1, 3])
    >>> nb.searchsorted(nb.tensor([1, 3, 5, 7]), nb.tensor([3, 6]), right=True)
    tensor([2, 3])
    """
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                               "got side of left while right was True")
        right = side == "right"
    scalar = not isinstance(input, Tensor)
    vals = np.asarray(input) if scalar else input._host()
    seq = sorted_sequence._host()
    if sorter is not None:
        if sorter.shape != sorted_sequence.shape:
            raise RuntimeError("torch.searchsorted(): boundary and sorter must have the same "
                               "size")
        seq = np.take_along_axis(seq, sorter._host(), -1)
    s = "right" if right else "left"
    if seq.ndim <= 1:
        out = np.searchsorted(seq, vals, side=s)
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise RuntimeError(
                f"torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                f"dimensions of boundaries tensor and input value tensor must match, but we got "
                f"boundaries tensor {list(seq.shape)} and input value tensor {list(vals.shape)}")
        s2 = seq.reshape(-1, seq.shape[-1])
        v2 = vals.reshape(-1, vals.shape[-1])
        out = np.stack([np.searchsorted(a, v, side=s) for a, v in zip(s2, v2)]).reshape(
            vals.shape)
    out = np.asarray(out, np.int32 if out_int32 else np.int64)
    return tensor(out, device=sorted_sequence.device)


@register(function=True, doc=Doc("Sorting and selection", "every real dtype",
                                 "not differentiable (int64 or int32 result)"))
def bucketize(input, boundaries: Tensor, *, out_int32: bool = False,
              right: bool = False) -> Tensor:
    """The bucket of each value of ``input`` among the 1-D sorted ``boundaries``.

    >>> import nbgrad as nb
    >>> nb.bucketize(nb.tensor([1, 5, 9]), nb.tensor([2, 4, 6, 8]))
    tensor([0, 2, 4])
    """
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)

