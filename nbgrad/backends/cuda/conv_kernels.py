"""CUDA kernels for convolution and pooling: the same functions and contracts as
``nbgrad.backends.cpu.conv_kernels`` (``im2col``, ``col2im``, ``max_pool``, ``scatter_planes``),
on :class:`CudaArray` device arrays.

Every kernel is one thread per output element with a grid-stride loop over the 1-, 2- or 3-d
problem seen as 3-d (missing spatial dims are size 1). ``col2im`` gathers (each input position
sums the columns that read it, so no atomics); ``scatter_planes`` adds with atomics, since two
windows may pick the same position.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from nbgrad.backends.cuda import arrays
from nbgrad.backends.cuda._runtime import CudaArray, grid_1d, launch

__all__ = ["im2col", "col2im", "max_pool", "scatter_planes"]


def _three(values, fill: int) -> tuple:
    return (fill,) * (3 - len(values)) + tuple(int(v) for v in values)


def _flat(a: CudaArray):
    """The contiguous data of ``a`` as a 1-D device buffer starting at element 0."""
    a = arrays.contiguous(a)
    return a.buf[a.offset:a.offset + a.size] if a.offset or a.size != a.buf.shape[0] else a.buf


@cuda.jit
def _im2col(x, cols, geo, fill, channels_first, total):
    # geo: N C D H W kd kh kw od oh ow sd sh sw dd dh dw pd ph pw
    n_, c_, d_, h_, w_ = geo[0], geo[1], geo[2], geo[3], geo[4]
    kd, kh, kw, od_, oh_, ow_ = geo[5], geo[6], geo[7], geo[8], geo[9], geo[10]
    k_all = kd * kh * kw
    l_all = od_ * oh_ * ow_
    t = cuda.grid(1)
    while t < total:
        ow = t % ow_
        r = t // ow_
        oh = r % oh_
        r //= oh_
        od = r % od_
        r //= od_
        e = r % kw
        r //= kw
        q = r % kh
        r //= kh
        a = r % kd
        r //= kd
        c = r % c_
        n = r // c_
        i_d = od * geo[11] - geo[17] + a * geo[14]
        i_h = oh * geo[12] - geo[18] + q * geo[15]
        i_w = ow * geo[13] - geo[19] + e * geo[16]
        k = (a * kh + q) * kw + e
        pos = (od * oh_ + oh) * ow_ + ow
        if channels_first:
            dst = ((c * k_all + k) * n_ + n) * l_all + pos
        else:
            dst = ((n * c_ + c) * k_all + k) * l_all + pos
        if 0 <= i_d < d_ and 0 <= i_h < h_ and 0 <= i_w < w_:
            cols[dst] = x[(((n * c_ + c) * d_ + i_d) * h_ + i_h) * w_ + i_w]
        else:
            cols[dst] = fill
        t += cuda.gridsize(1)


@cuda.jit
def _col2im(cols, out, geo, channels_first, total):
    n_, c_, d_, h_, w_ = geo[0], geo[1], geo[2], geo[3], geo[4]
    kd, kh, kw, od_, oh_, ow_ = geo[5], geo[6], geo[7], geo[8], geo[9], geo[10]
    k_all = kd * kh * kw
    l_all = od_ * oh_ * ow_
    t = cuda.grid(1)
    while t < total:
        i_w = t % w_
        r = t // w_
        i_h = r % h_
        r //= h_
        i_d = r % d_
        r //= d_
        c = r % c_
        n = r // c_
        acc = cols[0] * 0
        for a in range(kd):
            nd_ = i_d + geo[17] - a * geo[14]
            if nd_ < 0 or nd_ % geo[11] != 0 or nd_ // geo[11] >= od_:
                continue
            od = nd_ // geo[11]
            for q in range(kh):
                nh = i_h + geo[18] - q * geo[15]
                if nh < 0 or nh % geo[12] != 0 or nh // geo[12] >= oh_:
                    continue
                oh = nh // geo[12]
                for e in range(kw):
                    nw = i_w + geo[19] - e * geo[16]
                    if nw < 0 or nw % geo[13] != 0 or nw // geo[13] >= ow_:
                        continue
                    ow = nw // geo[13]
                    k = (a * kh + q) * kw + e
                    pos = (od * oh_ + oh) * ow_ + ow
                    if channels_first:
                        acc += cols[((c * k_all + k) * n_ + n) * l_all + pos]
                    else:
                        acc += cols[((n * c_ + c) * k_all + k) * l_all + pos]
        out[t] = acc
        t += cuda.gridsize(1)


@cuda.jit
def _max_pool(x, vals, idx, geo, total):
    d_, h_, w_ = geo[2], geo[3], geo[4]
    kd, kh, kw, od_, oh_, ow_ = geo[5], geo[6], geo[7], geo[8], geo[9], geo[10]
    t = cuda.grid(1)
    while t < total:
        ow = t % ow_
        r = t // ow_
        oh = r % oh_
        r //= oh_
        od = r % od_
        b = r // od_
        base = b * d_ * h_ * w_
        found = False
        best = x[base]
        where = -1
        for a in range(kd):
            i_d = od * geo[11] - geo[17] + a * geo[14]
            if i_d < 0 or i_d >= d_:
                continue
            for q in range(kh):
                i_h = oh * geo[12] - geo[18] + q * geo[15]
                if i_h < 0 or i_h >= h_:
                    continue
                for e in range(kw):
                    i_w = ow * geo[13] - geo[19] + e * geo[16]
                    if i_w < 0 or i_w >= w_:
                        continue
                    p = (i_d * h_ + i_h) * w_ + i_w
                    v = x[base + p]
                    if not found or v > best or v != v:
                        best = v
                        where = p
                        found = True
        vals[t] = best
        idx[t] = where
        t += cuda.gridsize(1)


@cuda.jit
def _scatter(src, idx, out, per_plane, plane, total):
    t = cuda.grid(1)
    while t < total:
        b = t // per_plane
        cuda.atomic.add(out, b * plane + idx[t], src[t])
        t += cuda.gridsize(1)


def _geometry(n, c, in_size, kernel, out_size, stride, dilation, padding):
    geo = (n, c, *_three(in_size, 1), *_three(kernel, 1), *_three(out_size, 1),
           *_three(stride, 1), *_three(dilation, 1), *_three(padding, 0))
    return arrays.asarray(np.array(geo, np.int64), np.int64).buf


def im2col(x: CudaArray, in_size: tuple, kernel: tuple, stride: tuple, dilation: tuple,
           padding: tuple, out_size: tuple, fill: float,
           channels_first: bool = False) -> CudaArray:
    """Columns of ``x`` (N, C, *in_size): (N, C*K, L), or (C*K, N*L) with ``channels_first``."""
    n, c = x.shape[:2]
    k, length = int(np.prod(kernel)), int(np.prod(out_size))
    shape = (c * k, n * length) if channels_first else (n, c * k, length)
    cols = arrays.empty(shape, x.dtype)
    total = cols.size
    if total:
        blocks, threads = grid_1d(total)
        launch(_im2col, blocks, threads, [
            _flat(x), cols.buf, _geometry(n, c, in_size, kernel, out_size, stride, dilation,
                                          padding), x.dtype.type(fill), bool(channels_first),
            total])
    return cols


def col2im(cols: CudaArray, in_size: tuple, kernel: tuple, stride: tuple, dilation: tuple,
           padding: tuple, out_size: tuple, fill: float = 0.0, channels_first: bool = False,
           batch: int = 0) -> CudaArray:
    """Columns summed back into (N, C, *in_size) (each position gathers what read it)."""
    k = int(np.prod(kernel))
    if channels_first:
        n, c = batch, (cols.shape[0] // k if k else 0)
    else:
        n, c = cols.shape[0], (cols.shape[1] // k if k else 0)
    out = arrays.zeros((n, c, *in_size), cols.dtype)
    total = out.size
    if total and cols.size:
        blocks, threads = grid_1d(total)
        launch(_col2im, blocks, threads, [
            _flat(cols), out.buf, _geometry(n, c, in_size, kernel, out_size, stride, dilation,
                                            padding), bool(channels_first), total])
    return out


def max_pool(x: CudaArray, kernel: tuple, stride: tuple, dilation: tuple, padding: tuple,
             out_size: tuple):
    """(positions, maxima) of max pooling ``x`` (N, C, *S), each (N, C, *out_size)."""
    n, c = x.shape[:2]
    vals = arrays.empty((n, c, *out_size), x.dtype)
    idx = arrays.empty((n, c, *out_size), np.dtype(np.int64))
    total = vals.size
    if total:
        blocks, threads = grid_1d(total)
        launch(_max_pool, blocks, threads, [
            _flat(x), vals.buf, idx.buf,
            _geometry(n, c, x.shape[2:], kernel, out_size, stride, dilation, padding), total])
    return idx, vals


def scatter_planes(src: CudaArray, idx: CudaArray, out_size: tuple) -> CudaArray:
    """``out[n, c].flat[idx[n, c, ...]] += src[n, c, ...]`` into zeros (N, C, *out_size)."""
    n, c = src.shape[:2]
    plane = int(np.prod(out_size))
    out = arrays.zeros((n, c, *out_size), src.dtype)
    total = src.size
    if total:
        blocks, threads = grid_1d(total)
        launch(_scatter, blocks, threads, [
            _flat(src), _flat(arrays.astype(idx, np.dtype(np.int64))), out.buf,
            total // (n * c), plane, total])
    return out
