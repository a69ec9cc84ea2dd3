"""Copying kernels for the CUDA backend: gather/scatter along a dim, joins, flips, triangles.

Callers (the ops) validate shapes, dtypes and index ranges first, as for the CPU backend.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from nbgrad.backends.cuda import arrays
from nbgrad.backends.cuda._runtime import MAXD, CudaArray, grid_1d, launch, new, pad
from nbgrad.backends.cuda.reduce import reduce

__all__ = [
    "gather", "scatter_add", "concatenate", "flip", "tril", "triu", "index_bounds", "any_true",
]


@cuda.jit
def _gather_dim(x, x_off, x_st, idx, i_off, i_st, out, n, shape, dim):
    q = cuda.grid(1)
    while q < n:
        rem = q
        px = x_off
        pi = i_off
        for d in range(MAXD - 1, -1, -1):
            c = rem % shape[d]
            rem //= shape[d]
            pi += c * i_st[d]
            if d != dim:
                px += c * x_st[d]
        out[q] = x[px + idx[pi] * x_st[dim]]
        q += cuda.gridsize(1)


@cuda.jit
def _scatter_add_dim(out, o_off, o_st, idx, i_off, i_st, src, s_off, s_st, n, shape, dim):
    q = cuda.grid(1)
    while q < n:
        rem = q
        po = o_off
        pi = i_off
        ps = s_off
        for d in range(MAXD - 1, -1, -1):
            c = rem % shape[d]
            rem //= shape[d]
            pi += c * i_st[d]
            ps += c * s_st[d]
            if d != dim:
                po += c * o_st[d]
        cuda.atomic.add(out, po + idx[pi] * o_st[dim], src[ps])
        q += cuda.gridsize(1)


@cuda.jit
def _triangle(out, n, rows, cols, k, upper):
    q = cuda.grid(1)
    while q < n:
        j = q % cols
        i = (q // cols) % rows
        if (upper and j - i < k) or (not upper and j - i > k):
            out[q] = 0
        q += cuda.gridsize(1)


def _padded_dim(dim: int, ndim: int) -> int:
    return dim + MAXD - ndim


def gather(x: CudaArray, dim: int, index: CudaArray) -> CudaArray:
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` (for ``dim == 1``)."""
    out = new(index.shape, x.dtype)
    if out.size:
        blocks, threads = grid_1d(out.size)
        launch(_gather_dim, blocks, threads, [
            x.buf, x.offset, pad(x.strides, 0), index.buf, index.offset, pad(index.strides, 0),
            out.buf, out.size, pad(index.shape, 1), _padded_dim(dim, x.ndim),
        ])
    return out


def scatter_add(out: CudaArray, dim: int, index: CudaArray, src: CudaArray) -> None:
    """``out[i][index[i][j][k]][k] += src[i][j][k]`` in place (atomic adds)."""
    if out.dtype.kind == "b":
        raise TypeError("scatter_add: atomic adds are not supported for bool tensors on cuda")
    n = index.size
    if n:
        src = arrays.astype(src, out.dtype)
        blocks, threads = grid_1d(n)
        launch(_scatter_add_dim, blocks, threads, [
            out.buf, out.offset, pad(out.strides, 0), index.buf, index.offset,
            pad(index.strides, 0), src.buf, src.offset, pad(src.strides, 0), n,
            pad(index.shape, 1), _padded_dim(dim, out.ndim),
        ])


def concatenate(pieces, dim: int, dtype) -> CudaArray:
    """Join ``pieces`` along ``dim`` into a new array of ``dtype`` (one copy per piece)."""
    first = pieces[0]
    total = sum(p.shape[dim] for p in pieces)
    shape = first.shape[:dim] + (total,) + first.shape[dim + 1:]
    out = new(shape, np.dtype(dtype))
    start = 0
    for p in pieces:
        size = p.shape[dim]
        view = CudaArray(out.buf, p.shape, out.strides, out.offset + start * out.strides[dim])
        if p.size:
            arrays.assign(view, p)
        start += size
    return out


def flip(x: CudaArray, dims) -> CudaArray:
    """A contiguous copy of ``x`` reversed along ``dims`` (a negative-stride view, copied)."""
    strides = list(x.strides)
    offset = x.offset
    for d in dims:
        if x.shape[d] > 1:
            offset += (x.shape[d] - 1) * strides[d]
            strides[d] = -strides[d]
    return arrays.copy(CudaArray(x.buf, x.shape, strides, offset))


def _triangle_copy(x: CudaArray, k: int, upper: bool) -> CudaArray:
    out = arrays.copy(x)
    if out.size:
        blocks, threads = grid_1d(out.size)
        launch(_triangle, blocks, threads, [out.buf, out.size, x.shape[-2], x.shape[-1], int(k),
                                            upper])
    return out


def tril(x: CudaArray, k: int) -> CudaArray:
    """Lower triangle of the last two dims (elements above diagonal ``k`` zeroed), a copy."""
    return _triangle_copy(x, k, False)


def triu(x: CudaArray, k: int) -> CudaArray:
    """Upper triangle of the last two dims (elements below diagonal ``k`` zeroed), a copy."""
    return _triangle_copy(x, k, True)


def index_bounds(index: CudaArray) -> tuple[int, int]:
    """``(min, max)`` of a non-empty integer array as Python ints (waits for the device)."""
    axes = tuple(range(index.ndim))
    lo = reduce("min", index, axes, False, index.dtype)[0]
    hi = reduce("max", index, axes, False, index.dtype)[0]
    return int(arrays.to_host(lo)), int(arrays.to_host(hi))


def any_true(x: CudaArray) -> bool:
    """Whether any element is nonzero (waits for the device)."""
    flags = arrays.astype(x, np.bool_)
    total = reduce("sum", flags, tuple(range(x.ndim)), False, np.dtype(np.int64))
    return bool(arrays.to_host(total))
