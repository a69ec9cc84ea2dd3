"""Matrix products on the GPU: one tiled shared-memory kernel, batched with broadcasting."""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, from_dtype

from nbgrad.backends._planning import broadcast_shapes
from nbgrad.backends.cuda import arrays
from nbgrad.backends.cuda._runtime import MAX_BLOCKS, MAXD, SIMULATOR, CudaArray, launch, new, pad

__all__ = ["matmul"]

TILE = 8 if SIMULATOR else 16  # a TILE x TILE block computes a TILE x TILE tile of the output
_kernels: dict = {}


def _matmul_kernel(dtype: np.dtype):
    """The tiled kernel for ``dtype`` (memoised; shared memory needs a compile-time dtype)."""
    found = _kernels.get(dtype)
    if found is not None:
        return found
    element = from_dtype(dtype)

    def kernel(a, a_off, a_st, b, b_off, b_st, out, batch_shape, m, n, k, n_batch, zero):
        # a_st / b_st: MAXD - 2 batch strides, then the row and column strides.
        tile_a = cuda.shared.array((TILE, TILE), element)
        tile_b = cuda.shared.array((TILE, TILE), element)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        z = cuda.blockIdx.z
        while z < n_batch:
            rem = z
            pa = a_off
            pb = b_off
            for d in range(MAXD - 3, -1, -1):
                i = rem % batch_shape[d]
                rem //= batch_shape[d]
                pa += i * a_st[d]
                pb += i * b_st[d]
            acc = zero
            for t in range((k + TILE - 1) // TILE):
                kk = t * TILE + tx
                if row < m and kk < k:
                    tile_a[ty, tx] = a[pa + row * a_st[MAXD - 2] + kk * a_st[MAXD - 1]]
                else:
                    tile_a[ty, tx] = zero
                kk = t * TILE + ty
                if col < n and kk < k:
                    tile_b[ty, tx] = b[pb + kk * b_st[MAXD - 2] + col * b_st[MAXD - 1]]
                else:
                    tile_b[ty, tx] = zero
                cuda.syncthreads()
                for j in range(TILE):
                    acc += tile_a[ty, j] * tile_b[j, tx]
                cuda.syncthreads()
            if row < m and col < n:
                out[(z * m + row) * n + col] = acc
            z += cuda.gridDim.z

    found = _kernels[dtype] = cuda.jit(kernel)
    return found


def _batch_strides(x: CudaArray, batch: tuple[int, ...]) -> tuple[int, ...]:
    """Strides of ``x``'s batch dims broadcast to ``batch``, then its row/column strides."""
    own = x.shape[:-2]
    lead = len(batch) - len(own)
    st = [0] * lead + [0 if s == 1 and batch[lead + d] != 1 else x.strides[d]
                       for d, s in enumerate(own)]
    return pad(st, 0)[2:] + x.strides[-2:]


def matmul(a: CudaArray, b: CudaArray) -> CudaArray:
    """Matrix product with numpy's rules for 1-D operands and batch broadcasting."""
    if a.dtype != b.dtype:
        raise TypeError(f"cuda matmul: dtypes differ ({a.dtype} and {b.dtype}); cast first")
    if a.dtype.kind == "b":
        raise TypeError("cuda matmul: not supported for bool arrays")
    a1, b1 = a.ndim == 1, b.ndim == 1
    if a1:
        a = arrays.reshape(a, (1, a.shape[0]))
    if b1:
        b = arrays.reshape(b, (b.shape[0], 1))
    (m, k), (k2, n) = a.shape[-2:], b.shape[-2:]
    if k != k2:
        raise ValueError(f"cuda matmul: shapes {a.shape} and {b.shape} cannot be multiplied")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if len(batch) > MAXD - 2:
        raise ValueError(f"cuda matmul: at most {MAXD - 2} batch dimensions, got {len(batch)}")
    n_batch = math.prod(batch)
    full_shape = batch + (m, n)
    if k == 0:
        out = arrays.zeros(full_shape, a.dtype)
    else:
        out = new(full_shape, a.dtype)
        if out.size:
            kernel = _matmul_kernel(a.dtype)
            grid = (-(-n // TILE), -(-m // TILE), min(n_batch, MAX_BLOCKS, 65535))
            launch(kernel, grid, (TILE, TILE), [
                a.buf, a.offset, _batch_strides(a, batch), b.buf, b.offset,
                _batch_strides(b, batch), out.buf, pad(batch, 1)[2:], m, n, k, n_batch,
                a.dtype.type(0),
            ])
    if a1 or b1:
        shape = batch + ((m,) if not a1 else ()) + ((n,) if not b1 else ())
        out = arrays.reshape(out, shape)
    return out

