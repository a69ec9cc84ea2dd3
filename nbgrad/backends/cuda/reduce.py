"""Reductions over any set of axes on the GPU.

As on the CPU, the input is viewed as ``(outer, reduced, inner)`` (reduced axes that are not
adjacent are moved last first, one copy; planned by :mod:`nbgrad.backends._planning`). When
``inner == 1`` and the rows are long, the reduced elements of each output are contiguous: one
block per output reduces them with a tree in shared memory. Otherwise one thread per output
walks the reduced axis (for ``inner > 1`` neighbouring threads then read neighbouring
addresses). Kernels come from memoised factories (one source; Numba compiles it per dtype).
"""

from __future__ import annotations

import numpy as np
from numba import cuda, from_dtype, int64

from nbgrad.backends._planning import accumulator_dtype, three_d
from nbgrad.backends.cuda import arrays
from nbgrad.backends.cuda._runtime import MAX_BLOCKS, SIMULATOR, CudaArray, grid_1d, launch, new

__all__ = ["reduce"]

TPB = 16 if SIMULATOR else 256  # threads per block of the tree reductions (a power of two)
# Rows shorter than this are reduced by one thread each: a block per short row would leave
# most of its threads idle (and the simulator is slow at barriers).
ROWS_MIN = TPB if SIMULATOR else 64


@cuda.jit(device=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True)
def _mul(a, b):
    return a * b


@cuda.jit(device=True)
def _better_max(v, i, best, at):
    if v != v:  # NaN propagates; the first NaN wins
        return best == best or i < at
    if best != best:
        return False
    return v > best or (v == best and i < at)


@cuda.jit(device=True)
def _better_min(v, i, best, at):
    if v != v:
        return best == best or i < at
    if best != best:
        return False
    return v < best or (v == best and i < at)


_cache: dict = {}


def _fold_rows(combine, acc_type):
    """One block per output: contiguous reduced elements, shared-memory tree."""

    def kernel(x, off, rows, red, out, init):
        shared = cuda.shared.array(TPB, acc_type)
        t = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < rows:
            acc = init
            base = off + r * red
            j = t
            while j < red:
                acc = combine(acc, x[base + j])
                j += TPB
            shared[t] = acc
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if t < s:
                    shared[t] = combine(shared[t], shared[t + s])
                cuda.syncthreads()
                s //= 2
            if t == 0:
                out[r] = shared[0]
            cuda.syncthreads()
            r += cuda.gridDim.x

    return cuda.jit(kernel)


def _fold_cols(combine):
    """One thread per output: strided reduced elements, coalesced across threads."""

    def kernel(x, off, outs, red, inner, out, init):
        q = cuda.grid(1)
        while q < outs:
            o = q // inner
            base = off + o * red * inner + q - o * inner
            acc = init
            for r in range(red):
                acc = combine(acc, x[base + r * inner])
            out[q] = acc
            q += cuda.gridsize(1)

    return cuda.jit(kernel)


def _arg_rows(better, value_type):
    """(value, index) of the best element per output, one block per output."""

    def kernel(x, off, rows, red, values, index):
        sv = cuda.shared.array(TPB, value_type)
        si = cuda.shared.array(TPB, int64)
        t = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < rows:
            base = off + r * red
            best = x[base]
            at = -1
            j = t
            while j < red:
                v = x[base + j]
                if at < 0 or better(v, j, best, at):
                    best = v
                    at = j
                j += TPB
            sv[t] = best
            si[t] = at
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if t < s:
                    other = si[t + s]
                    if other >= 0 and (si[t] < 0 or better(sv[t + s], other, sv[t], si[t])):
                        sv[t] = sv[t + s]
                        si[t] = other
                cuda.syncthreads()
                s //= 2
            if t == 0:
                values[r] = sv[0]
                index[r] = si[0]
            cuda.syncthreads()
            r += cuda.gridDim.x

    return cuda.jit(kernel)


def _arg_cols(better):
    def kernel(x, off, outs, red, inner, values, index):
        q = cuda.grid(1)
        while q < outs:
            o = q // inner
            base = off + o * red * inner + q - o * inner
            best = x[base]
            at = 0
            for r in range(1, red):
                v = x[base + r * inner]
                if better(v, r, best, at):
                    best = v
                    at = r
            values[q] = best
            index[q] = at
            q += cuda.gridsize(1)

    return cuda.jit(kernel)


def _kernel(kind: str, layout: str, dtype: np.dtype):
    """The kernel for ``kind``; ``dtype`` types its shared memory (accumulator or values)."""
    key = (kind, layout, dtype if layout == "rows" else None)
    found = _cache.get(key)
    if found is None:
        if kind in ("sum", "prod"):
            combine = _add if kind == "sum" else _mul
            found = (_fold_rows(combine, from_dtype(dtype)) if layout == "rows"
                     else _fold_cols(combine))
        else:
            better = _better_max if kind == "max" else _better_min
            found = (_arg_rows(better, from_dtype(dtype)) if layout == "rows"
                     else _arg_cols(better))
        _cache[key] = found
    return found


def reduce(kind: str, x: CudaArray, axes: tuple[int, ...], keepdim: bool, out_dtype):
    """Reduce ``x`` over normalised ``axes`` with ``kind`` in sum/prod/max/min/argmax/argmin.

    ``max``/``min`` return ``(values, indices)``; the others return one array.
    """
    out_dtype = np.dtype(out_dtype)
    x3, plan = three_d(arrays, x, tuple(axes))
    outer, red, inner = plan.dims
    out_shape = plan.keepdim if keepdim else plan.kept
    outs = outer * inner
    layout = "rows" if inner == 1 and red >= ROWS_MIN else "cols"
    if kind in ("sum", "prod"):
        acc_dtype = accumulator_dtype(out_dtype)
        store = out_dtype if out_dtype.kind in "fi" else acc_dtype
        out = new((outs,), store)
        if outs:
            kernel = _kernel(kind, layout, acc_dtype)
            init = acc_dtype.type(0 if kind == "sum" else 1)
            _run(kernel, layout, outs, [x3.buf, x3.offset], red, inner, [out, init])
        return arrays.reshape(arrays.astype(out, out_dtype), out_shape)
    if kind not in ("max", "min", "argmax", "argmin"):
        raise ValueError(f"unknown reduction {kind!r}")
    if red == 0:
        raise ValueError(f"{kind}(): cannot reduce over a zero-size dimension of shape {x.shape}")
    values = new((outs,), x.dtype)
    index = new((outs,), np.int64)
    if outs:
        kernel = _kernel("max" if kind in ("max", "argmax") else "min", layout, x3.dtype)
        _run(kernel, layout, outs, [x3.buf, x3.offset], red, inner, [values.buf, index.buf])
    if kind in ("argmax", "argmin"):
        return arrays.reshape(index, out_shape)
    return arrays.reshape(values, out_shape), arrays.reshape(index, out_shape)


def _run(kernel, layout, outs, src, red, inner, rest) -> None:
    rest = [r.buf if isinstance(r, CudaArray) else r for r in rest]
    if layout == "rows":
        launch(kernel, min(outs, MAX_BLOCKS), TPB, [*src, outs, red, *rest])
    else:
        blocks, threads = grid_1d(outs)
        launch(kernel, blocks, threads, [*src, outs, red, inner, *rest])
