"""CPU kernels for convolution and pooling: ``im2col`` (unfold) and its adjoint ``col2im`` (fold).

Both work on 1-, 2- and 3-d spatial shapes through one 3-d kernel (missing leading spatial
dims are size 1). ``im2col`` turns ``x`` of shape (N, C, *S) into columns (N, C*prod(k),
prod(out)) — PyTorch's ``unfold`` layout — where column ``l`` holds the window of output
position ``l``: input position ``o*stride - pad + j*dilation`` for kernel offset ``j``; a
position outside the input reads ``fill`` (0 for convolutions, -inf for max pooling).
``col2im`` sums columns back into an (N, C, *S) array (positions outside are dropped), so the
two are each other's transpose. Each kernel is serial and parallel twins over the N*C planes
(every plane is written by one thread: no atomics, no ``np.add.at``). Arrays in, arrays out.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from nbgrad.backends._jit import kernel, twins
from nbgrad.backends.cpu.pool import empty

__all__ = ["im2col", "col2im", "max_pool", "scatter_planes", "PARALLEL_MIN"]

PARALLEL_MIN = 1 << 16
"""Kernels over at least this many column elements run on Numba's parallel threads."""


@kernel
def _span(n_out, n_in, stride, pad, offset):
    """[lo, hi): the outputs ``o`` whose input ``o*stride - pad + offset`` lies in [0, n_in)."""
    lo = -((offset - pad) // stride)  # ceil((pad - offset) / stride)
    hi = -((offset - pad - n_in) // stride)  # ceil((n_in + pad - offset) / stride)
    lo = min(max(lo, 0), n_out)
    return lo, min(max(hi, lo), n_out)


def _im2col_planes(x, cols, shape, cstrides, stride, dilation, pad, fill):
    """``cols[n, c, k, od, oh, ow] = x[n, c, id, ih, iw]`` (or ``fill`` outside), both flat:
    ``shape`` = (N, C, D, H, W, kd, kh, kw, OD, OH, OW) and ``cstrides`` = the column strides of
    n, c and the kernel offset k (the output position is contiguous in both layouts). Each
    output row is split into its padded ends and an in-bounds middle copied without a branch."""
    n_, c_, d_, h_, w_, kd, kh, kw, od_, oh_, ow_ = shape
    sn, sc, sk = cstrides
    sw = stride[2]
    for b in prange(n_ * c_):
        n = b // c_
        c = b - n * c_
        xb = b * d_ * h_ * w_
        for a in range(kd):
            for q in range(kh):
                for e in range(kw):
                    lo, hi = _span(ow_, w_, sw, pad[2], e * dilation[2])
                    start = lo * sw - pad[2] + e * dilation[2]
                    base = n * sn + c * sc + ((a * kh + q) * kw + e) * sk
                    for od in range(od_):
                        i_d = od * stride[0] - pad[0] + a * dilation[0]
                        din = 0 <= i_d < d_
                        for oh in range(oh_):
                            i_h = oh * stride[1] - pad[1] + q * dilation[1]
                            row = base + (od * oh_ + oh) * ow_
                            if din and 0 <= i_h < h_:
                                src = xb + (i_d * h_ + i_h) * w_ + start
                                for ow in range(lo):
                                    cols[row + ow] = fill
                                if sw == 1:  # a contiguous copy (vectorised)
                                    for j in range(hi - lo):
                                        cols[row + lo + j] = x[src + j]
                                else:
                                    for j in range(hi - lo):
                                        cols[row + lo + j] = x[src + j * sw]
                                for ow in range(hi, ow_):
                                    cols[row + ow] = fill
                            else:
                                for ow in range(ow_):
                                    cols[row + ow] = fill


def _col2im_planes(cols, out, shape, cstrides, stride, dilation, pad):
    """``out[n, c, id, ih, iw] += cols[n, c, k, od, oh, ow]`` (flat, as in
    :func:`_im2col_planes`; ``out`` starts at zero; each (n, c) plane is summed by one thread;
    only the in-bounds span of each row is read)."""
    n_, c_, d_, h_, w_, kd, kh, kw, od_, oh_, ow_ = shape
    sn, sc, sk = cstrides
    sw = stride[2]
    for b in prange(n_ * c_):
        n = b // c_
        c = b - n * c_
        xb = b * d_ * h_ * w_
        for a in range(kd):
            for q in range(kh):
                for e in range(kw):
                    lo, hi = _span(ow_, w_, sw, pad[2], e * dilation[2])
                    start = lo * sw - pad[2] + e * dilation[2]
                    base = n * sn + c * sc + ((a * kh + q) * kw + e) * sk
                    for od in range(od_):
                        i_d = od * stride[0] - pad[0] + a * dilation[0]
                        if i_d < 0 or i_d >= d_:
                            continue
                        for oh in range(oh_):
                            i_h = oh * stride[1] - pad[1] + q * dilation[1]
                            if i_h < 0 or i_h >= h_:
                                continue
                            row = base + (od * oh_ + oh) * ow_ + lo
                            dst = xb + (i_d * h_ + i_h) * w_ + start
                            if sw == 1:
                                for j in range(hi - lo):
                                    out[dst + j] += cols[row + j]
                            else:
                                for j in range(hi - lo):
                                    out[dst + j * sw] += cols[row + j]


def _scatter_planes(src, idx, out):
    """``out[b, idx[b, j]] += src[b, j]`` (``out`` starts at zero; one thread per plane)."""
    nb_, ll = src.shape
    for b in prange(nb_):
        for j in range(ll):
            out[b, idx[b, j]] += src[b, j]


def _max_pool_planes(x, vals, idx, kernel, stride, dilation, pad):
    """Direct max pooling of every (n, c) plane of ``x`` (N, C, D, H, W): the maximum of each
    window (NaN wins, as in PyTorch; padding never does) and its flat position in the plane."""
    n_, c_, d_, h_, w_ = x.shape
    od_, oh_, ow_ = vals.shape[2:]
    for b in prange(n_ * c_):
        n = b // c_
        c = b - n * c_
        for od in range(od_):
            d0 = od * stride[0] - pad[0]
            for oh in range(oh_):
                h0 = oh * stride[1] - pad[1]
                for ow in range(ow_):
                    w0 = ow * stride[2] - pad[2]
                    found = False
                    best = x[n, c, 0, 0, 0]
                    where = -1
                    for a in range(kernel[0]):
                        i_d = d0 + a * dilation[0]
                        if i_d < 0 or i_d >= d_:
                            continue
                        for q in range(kernel[1]):
                            i_h = h0 + q * dilation[1]
                            if i_h < 0 or i_h >= h_:
                                continue
                            for e in range(kernel[2]):
                                i_w = w0 + e * dilation[2]
                                if i_w < 0 or i_w >= w_:
                                    continue
                                v = x[n, c, i_d, i_h, i_w]
                                if not found or v > best or v != v:
                                    best = v
                                    where = (i_d * h_ + i_h) * w_ + i_w
                                    found = True
                    vals[n, c, od, oh, ow] = best
                    idx[n, c, od, oh, ow] = where


_MAX_POOL = twins(_max_pool_planes)
_IM2COL = twins(_im2col_planes)
_COL2IM = twins(_col2im_planes)
_SCATTER = twins(_scatter_planes)


def _three(values, fill: int) -> tuple:
    """``values`` left-padded to three entries (int64 for one kernel signature)."""
    return tuple(np.int64(fill) for _ in range(3 - len(values))) + tuple(
        np.int64(v) for v in values)


def _pick(twin, size: int):
    serial, parallel = twin
    return parallel if size >= PARALLEL_MIN else serial


def _layout(n: int, c: int, k: int, length: int, channels_first: bool):
    """Column strides (of n, c, kernel offset) of the (C*K, N*L) or (N, C*K, L) layout."""
    if channels_first:
        return np.int64(length), np.int64(k * n * length), np.int64(n * length)
    return np.int64(c * k * length), np.int64(k * length), np.int64(length)


def _shape(n, c, in_size, kernel, out_size) -> tuple:
    return (np.int64(n), np.int64(c), *_three(in_size, 1), *_three(kernel, 1),
            *_three(out_size, 1))


def im2col(x: np.ndarray, in_size: tuple, kernel: tuple, stride: tuple, dilation: tuple,
           padding: tuple, out_size: tuple, fill: float,
           channels_first: bool = False) -> np.ndarray:
    """Columns (N, C*prod(kernel), prod(out_size)) of ``x`` (N, C, *in_size), or with
    ``channels_first`` the (C*prod(kernel), N*prod(out_size)) layout a convolution multiplies.

    >>> x = np.arange(4.0).reshape(1, 1, 4)
    >>> im2col(x, (4,), (2,), (2,), (1,), (0,), (2,), 0.0)[0]
    array([[0., 2.],
           [1., 3.]])
    """
    n, c = x.shape[:2]
    k, length = int(np.prod(kernel)), int(np.prod(out_size))
    shape = (c * k, n * length) if channels_first else (n, c * k, length)
    cols = empty(shape, x.dtype)
    if cols.size:
        _pick(_IM2COL, cols.size)(
            _c(x).reshape(-1), cols.reshape(-1), _shape(n, c, in_size, kernel, out_size),
            _layout(n, c, k, length, channels_first), _three(stride, 1), _three(dilation, 1),
            _three(padding, 0), x.dtype.type(fill))
    return cols


def col2im(cols: np.ndarray, in_size: tuple, kernel: tuple, stride: tuple, dilation: tuple,
           padding: tuple, out_size: tuple, fill: float = 0.0, channels_first: bool = False,
           batch: int = 0) -> np.ndarray:
    """The sum of columns (N, C*prod(kernel), prod(out_size)) back into (N, C, *in_size); with
    ``channels_first`` the columns are (C*prod(kernel), N*prod(out_size)), N = ``batch``.

    >>> cols = np.ones((1, 2, 2))
    >>> col2im(cols, (3,), (2,), (1,), (1,), (0,), (2,))
    array([[[1., 2., 1.]]])
    """
    k = int(np.prod(kernel))
    length = int(np.prod(out_size))
    if channels_first:
        n, c = batch, (cols.shape[0] // k if k else 0)
    else:
        n, c = cols.shape[0], (cols.shape[1] // k if k else 0)
    out = np.zeros((n, c, *in_size), cols.dtype)
    if cols.size and out.size:
        _pick(_COL2IM, cols.size)(
            _c(cols).reshape(-1), out.reshape(-1), _shape(n, c, in_size, kernel, out_size),
            _layout(n, c, k, length, channels_first), _three(stride, 1), _three(dilation, 1),
            _three(padding, 0))
    return out


def _c(a: np.ndarray) -> np.ndarray:
    if a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, order="C", copy=True)


def scatter_planes(src: np.ndarray, idx: np.ndarray, out_size: tuple) -> np.ndarray:
    """``out[n, c].flat[idx[n, c, ...]] += src[n, c, ...]`` into zeros (N, C, *out_size): max
    pooling's gradient and max unpooling.

    >>> scatter_planes(np.array([[[1.0, 2.0]]]), np.array([[[2, 2]]]), (3,))
    array([[[0., 0., 3.]]])
    """
    n, c = src.shape[:2]
    plane = int(np.prod(out_size))
    out = np.zeros((n * c, plane), src.dtype)
    if src.size:
        i2 = _c(idx.reshape(n * c, -1).astype(np.int64, copy=False))
        if i2.min() < 0 or i2.max() >= plane:
            raise IndexError(f"max_unpool: found an invalid max index {int(i2.max())} (output "
                             f"volumes are of size {'x'.join(map(str, out_size))})")
        _pick(_SCATTER, src.size)(_c(src.reshape(n * c, -1)), i2, out)
    return out.reshape(n, c, *out_size)


def max_pool(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, padding: tuple,
             out_size: tuple):
    """(positions, maxima) of max pooling ``x`` (N, C, *S): two (N, C, *out_size) arrays, the
    positions flat in each plane (int64).

    >>> max_pool(np.array([[[1.0, 3.0, 2.0, 0.0]]]), (2,), (2,), (1,), (0,), (2,))
    (array([[[1, 2]]]), array([[[3., 2.]]]))
    """
    n, c = x.shape[:2]
    x5 = _c(np.ascontiguousarray(x).reshape(n, c, *_three(x.shape[2:], 1)))
    o3 = _three(out_size, 1)
    vals = empty((n, c, *o3), x.dtype)
    idx = empty((n, c, *o3), np.int64)
    if vals.size:
        _pick(_MAX_POOL, vals.size * int(np.prod(kernel)))(
            x5, vals, idx, _three(kernel, 1), _three(stride, 1), _three(dilation, 1),
            _three(padding, 0))
    return idx.reshape(n, c, *out_size), vals.reshape(n, c, *out_size)
