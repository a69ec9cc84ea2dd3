"""Reductions over any set of axes, through one (outer, reduced, inner) view of the array.

Reduced axes that are adjacent need no copy: the array is viewed as ``(outer, reduced, inner)``
and each kernel walks the middle axis with the inner axis contiguous. Other axis sets are
transposed to the end first (one copy). The view is planned by :mod:`nbgrad.backends._planning`,
shared with the CUDA backend.
"""

from __future__ import annotations

import numpy as np

from nbgrad.backends._jit import kernel
from nbgrad.backends._planning import accumulator_dtype, three_d
from nbgrad.backends.cpu import arrays

__all__ = ["reduce"]


@kernel
def _sum3(x, acc):
    outer, red, inner = x.shape
    for o in range(outer):
        for r in range(red):
            for i in range(inner):
                acc[o, i] += x[o, r, i]


@kernel
def _sum_rows(x, acc):
    """Row sums of an (outer, reduced, 1) view: eight interleaved accumulators break the add
    dependency chain (the single chain of ``_sum3`` runs ~8x slower on long rows) and also
    round less, like a shallow pairwise sum."""
    outer, red, _ = x.shape
    stop = red - red % 8
    for o in range(outer):
        s0 = acc[o, 0]
        s1 = s2 = s3 = s4 = s5 = s6 = s7 = s0 * 0  # zeros of the accumulator's type
        for r in range(0, stop, 8):
            s0 += x[o, r, 0]
            s1 += x[o, r + 1, 0]
            s2 += x[o, r + 2, 0]
            s3 += x[o, r + 3, 0]
            s4 += x[o, r + 4, 0]
            s5 += x[o, r + 5, 0]
            s6 += x[o, r + 6, 0]
            s7 += x[o, r + 7, 0]
        for r in range(stop, red):
            s0 += x[o, r, 0]
        acc[o, 0] = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@kernel
def _prod3(x, acc):
    outer, red, inner = x.shape
    for o in range(outer):
        for r in range(red):
            for i in range(inner):
                acc[o, i] *= x[o, r, i]


@kernel
def _arg_extreme3(x, largest, values, index):
    """Max (``largest``) or min over the middle axis, with its first index; nan wins."""
    outer, red, inner = x.shape
    for o in range(outer):
        for i in range(inner):
            best = x[o, 0, i]
            at = 0
            for r in range(1, red):
                v = x[o, r, i]
                better = v > best if largest else v < best
                if better or (v != v and best == best):
                    best = v
                    at = r
            values[o, i] = best
            index[o, i] = at


def reduce(kind: str, x: np.ndarray, axes: tuple[int, ...], keepdim: bool, out_dtype: np.dtype):
    """Reduce ``x`` over normalised ``axes`` with ``kind`` in sum/prod/max/min/argmax/argmin.

    ``max``/``min`` return ``(values, indices)``; the others return one array.
    """
    x3, plan = three_d(arrays, x, axes)
    out_shape = plan.keepdim if keepdim else plan.kept
    outer, red, inner = plan.dims
    if kind in ("sum", "prod"):
        acc_dtype = accumulator_dtype(out_dtype)
        acc = (np.zeros if kind == "sum" else np.ones)((outer, inner), acc_dtype)
        if x3.size:
            if kind == "prod":
                _prod3(x3, acc)
            else:
                (_sum_rows if inner == 1 and red >= 64 else _sum3)(x3, acc)
        return acc.astype(out_dtype, copy=False).reshape(out_shape)
    if red == 0:
        raise ValueError(f"{kind}(): cannot reduce over a zero-size dimension of shape {x.shape}")
    values = np.empty((outer, inner), x.dtype)
    index = np.empty((outer, inner), np.int64)
    if x3.size:
        _arg_extreme3(x3, kind in ("max", "argmax"), values, index)
    if kind in ("argmax", "argmin"):
        return index.reshape(out_shape)
    return values.reshape(out_shape), index.reshape(out_shape)
