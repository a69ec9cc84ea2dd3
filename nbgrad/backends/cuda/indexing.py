"""Indexing on the GPU: basic indices make views; integer and boolean array indices gather,
scatter and scatter-add (atomics) with numpy's rules for where the indexed dims go.

An index is first walked once on the host (``_plan``): ints, slices and ``None`` become a
strided view; every array index is recorded with the view dim it indexes. The kernels then
decode each output position into (view position, position in the broadcast index arrays).
Boolean masks are turned into integer indices on the host (one copy back, as in PyTorch, since
the result's size depends on the mask's values). Host-side index arrays are bounds-checked on
the host; device-side ones are checked in the kernel, which raises a flag read back afterwards.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from nbgrad.backends._planning import broadcast_shapes, c_strides
from nbgrad.backends.cuda import arrays
from nbgrad.backends.cuda._runtime import MAXD, CudaArray, grid_1d, launch, new, pad
from nbgrad.backends.cuda.elementwise import map_elementwise

__all__ = ["getitem", "setitem", "index_add"]


def _add(a, b):
    return a + b


@cuda.jit(device=True)
def _locate(q, shape, src_st, idx_st, val_st, table, n_idx, k, adv_st, adv_size, flag):
    """(source offset, value offset) of output element ``q``."""
    rem = q
    p = 0
    pv = 0
    ip = 0
    for d in range(MAXD - 1, -1, -1):
        c = rem % shape[d]
        rem //= shape[d]
        p += c * src_st[d]
        pv += c * val_st[d]
        ip += c * idx_st[d]
    for j in range(k):
        v = table[j * n_idx + ip]
        size = adv_size[j]
        if v < 0:
            v += size
        if v < 0 or v >= size:
            flag[0] = 1
            v = 0
        p += v * adv_st[j]
    return p, pv


@cuda.jit
def _gather(src, src_off, out, n, shape, src_st, idx_st, val_st, table, n_idx, k, adv_st,
            adv_size, flag):
    q = cuda.grid(1)
    while q < n:
        p, pv = _locate(q, shape, src_st, idx_st, val_st, table, n_idx, k, adv_st, adv_size,
                        flag)
        out[q] = src[src_off + p]
        q += cuda.gridsize(1)


@cuda.jit
def _scatter(dst, dst_off, vals, vals_off, n, shape, src_st, idx_st, val_st, table, n_idx, k,
             adv_st, adv_size, flag):
    q = cuda.grid(1)
    while q < n:
        p, pv = _locate(q, shape, src_st, idx_st, val_st, table, n_idx, k, adv_st, adv_size,
                        flag)
        dst[dst_off + p] = vals[vals_off + pv]
        q += cuda.gridsize(1)


@cuda.jit
def _scatter_add(dst, dst_off, vals, vals_off, n, shape, src_st, idx_st, val_st, table, n_idx,
                 k, adv_st, adv_size, flag):
    q = cuda.grid(1)
    while q < n:
        p, pv = _locate(q, shape, src_st, idx_st, val_st, table, n_idx, k, adv_st, adv_size,
                        flag)
        cuda.atomic.add(dst, dst_off + p, vals[vals_off + pv])
        q += cuda.gridsize(1)


class _Plan:
    """A basic view of the indexed array plus, for advanced indices, how to walk it."""

    __slots__ = ("view", "shape", "src_st", "idx_st", "table", "n_idx", "k", "adv_st",
                 "adv_size", "check")


def _as_index_array(item):
    if isinstance(item, CudaArray):
        return arrays.to_host(item) if item.dtype.kind == "b" else item
    arr = np.asarray(item)
    if arr.dtype.kind not in "biu":
        raise IndexError(f"index arrays must be integers or bools, got {arr.dtype}")
    return arr


def _plan(x: CudaArray, index) -> _Plan:
    if not isinstance(index, tuple):
        index = (index,)
    items = []
    consumed = 0
    has_array = False
    for item in index:
        if isinstance(item, (CudaArray, np.ndarray, list)):
            item = _as_index_array(item)
            has_array = True
            consumed += item.ndim if item.dtype.kind == "b" else 1
        elif isinstance(item, (int, np.integer, slice)):
            consumed += 1
        elif item is not None and item is not Ellipsis:
            raise IndexError(f"unsupported index {item!r}")
        items.append(item)
    if sum(item is Ellipsis for item in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    sizes, strides, adv = [], [], []
    offset = x.offset
    sd = 0
    for item in items:
        if item is Ellipsis:
            for _ in range(x.ndim - consumed):
                sizes.append(x.shape[sd])
                strides.append(x.strides[sd])
                sd += 1
        elif item is None:
            sizes.append(1)
            strides.append(0)
        elif isinstance(item, slice):
            start, stop, step = item.indices(x.shape[sd])
            sizes.append(len(range(start, stop, step)))
            strides.append(x.strides[sd] * step)
            offset += start * x.strides[sd] if sizes[-1] else 0
            sd += 1
        elif isinstance(item, (int, np.integer)) and not has_array:
            size = x.shape[sd]
            if not -size <= item < size:
                raise IndexError(
                    f"index {item} is out of bounds for dimension {sd} with size {size}"
                )
            offset += (item % size) * x.strides[sd]
            sd += 1
        elif isinstance(item, (int, np.integer)):
            adv.append((len(sizes), np.asarray(item, np.int64), sd))
            sizes.append(x.shape[sd])
            strides.append(x.strides[sd])
            sd += 1
        elif item.dtype.kind == "b" and item.ndim == 0:  # x[True] / x[False]
            adv.append((len(sizes), np.zeros(int(item), np.int64), None))
            sizes.append(1)
            strides.append(0)
        elif item.dtype.kind == "b":
            want = x.shape[sd:sd + item.ndim]
            if item.shape != want:
                raise IndexError(
                    f"the shape of the mask {item.shape} does not match the shape of the "
                    f"indexed tensor {want} at dimension {sd}"
                )
            for nz in np.nonzero(item):
                adv.append((len(sizes), nz, sd))
                sizes.append(x.shape[sd])
                strides.append(x.strides[sd])
                sd += 1
        else:
            adv.append((len(sizes), item, sd))
            sizes.append(x.shape[sd])
            strides.append(x.strides[sd])
            sd += 1
    sizes += x.shape[sd:]
    strides += x.strides[sd:]
    plan = _Plan()
    plan.view = CudaArray(x.buf, sizes, strides, offset)
    plan.k = len(adv)
    if not adv:
        return plan
    idx_shape = broadcast_shapes(*[a.shape for _, a, _ in adv])
    positions = [p for p, _, _ in adv]
    together = positions == list(range(positions[0], positions[0] + len(positions)))
    rest = [d for d in range(len(sizes)) if d not in positions]
    before = [d for d in rest if together and d < positions[0]]
    after = [d for d in rest if d not in before]
    plan.shape = tuple(sizes[d] for d in before) + idx_shape + tuple(sizes[d] for d in after)
    zeros_i = [0] * len(idx_shape)
    plan.src_st = pad([strides[d] for d in before] + zeros_i + [strides[d] for d in after], 0)
    plan.idx_st = pad([0] * len(before) + list(c_strides(idx_shape)) + [0] * len(after), 0)
    if len(adv) > MAXD:
        raise IndexError(f"the cuda backend takes at most {MAXD} index arrays, got {len(adv)}")
    fill = [0] * (MAXD - len(adv))  # the kernel reads entries 0..k-1
    plan.adv_st = tuple(strides[p] for p in positions) + tuple(fill)
    plan.adv_size = tuple(sizes[p] for p in positions) + tuple(fill)
    plan.n_idx = math.prod(idx_shape)
    plan.check = any(isinstance(a, CudaArray) for _, a, _ in adv)
    plan.table = _index_table(adv, sizes, idx_shape, plan.n_idx, plan.check)
    return plan


def _index_table(adv, sizes, idx_shape, n_idx, on_device):
    """The index arrays broadcast to ``idx_shape``, stacked as a (k, n_idx) int64 array."""
    if not on_device:
        rows = []
        for pos, a, dim in adv:
            size = sizes[pos]
            a = a.astype(np.int64)
            bad = a[(a < -size) | (a >= size)]
            if bad.size:
                where = "" if dim is None else f" for dimension {dim}"
                raise IndexError(f"index {bad.flat[0]} is out of bounds{where} with size {size}")
            rows.append(np.broadcast_to(np.where(a < 0, a + size, a), idx_shape).reshape(-1))
        return arrays.asarray(np.stack(rows) if rows else np.zeros((0, 0)), np.int64)
    table = new((len(adv), n_idx), np.int64)
    for j, (_, a, _) in enumerate(adv):
        row = CudaArray(table.buf, idx_shape, None, j * n_idx)
        src = a if isinstance(a, CudaArray) else arrays.asarray(a, np.int64)
        arrays.assign(row, arrays.broadcast_to(src, idx_shape))
    return table


def _run(kernel, plan: _Plan, lead: list, values: CudaArray | None) -> None:
    n = math.prod(plan.shape)
    if n == 0:
        return
    val_st = pad(arrays.broadcast_to(values, plan.shape).strides, 0) if values is not None \
        else (0,) * MAXD
    flag = arrays.zeros((1,), np.int32)
    blocks, threads = grid_1d(n)
    launch(kernel, blocks, threads, [
        *lead, n, pad(plan.shape, 1), plan.src_st, plan.idx_st, val_st, plan.table.buf,
        plan.n_idx, plan.k, plan.adv_st, plan.adv_size, flag.buf,
    ])
    if plan.check and arrays.to_host(flag)[0]:
        raise IndexError("index out of bounds in an index tensor")


def getitem(x: CudaArray, index) -> CudaArray:
    """``x[index]``: a view for basic indices, a gathered copy for array indices."""
    plan = _plan(x, index)
    if not plan.k:
        return plan.view
    out = new(plan.shape, x.dtype)
    _run(_gather, plan, [plan.view.buf, plan.view.offset, out.buf], None)
    return out


def _values(target: CudaArray, values, shape) -> CudaArray:
    if not isinstance(values, CudaArray):
        values = arrays.full((), values, target.dtype) if np.ndim(values) == 0 else \
            arrays.asarray(values, target.dtype)
    values = arrays.astype(values, target.dtype)
    try:
        broadcast_shapes(values.shape, shape)
        return arrays.broadcast_to(values, shape)
    except ValueError:
        raise ValueError(
            f"shape mismatch: value array of shape {values.shape} could not be broadcast to "
            f"indexing result of shape {tuple(shape)}"
        ) from None


def setitem(target: CudaArray, index, values) -> None:
    """``target[index] = values`` (a repeated index keeps one of the values written)."""
    plan = _plan(target, index)
    if not plan.k:
        arrays.assign(plan.view, values)
        return
    vals = _values(target, values, plan.shape)
    _run(_scatter, plan, [target.buf, plan.view.offset, vals.buf, vals.offset], vals)


def index_add(target: CudaArray, index, values) -> None:
    """``target[index] += values``, accumulating repeated indices (atomic adds)."""
    if target.dtype.kind == "b":
        raise TypeError("index_add: atomic adds are not supported for bool arrays on cuda")
    plan = _plan(target, index)
    if not plan.k:
        vals = _values(target, values, plan.view.shape)
        map_elementwise(_add, target.dtype, target.dtype, (plan.view, vals), out=plan.view)
        return
    vals = _values(target, values, plan.shape)
    _run(_scatter_add, plan, [target.buf, plan.view.offset, vals.buf, vals.offset], vals)
