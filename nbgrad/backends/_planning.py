"""Host-side planning shared by every backend: broadcast shapes and strides, the
(outer, reduced, inner) view of a reduction, the (rows, n) layout of the row kernels, class
targets and weights, and how a loss is reduced.

It is written once against the array functions every backend module exposes (``transpose``,
``contiguous``, ``reshape``, ``astype``, ``empty``, ``assign``, ``reduce``, ``map_elementwise``),
passed in as ``be``; each backend keeps only its kernels and how it launches them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "broadcast_shapes", "c_strides", "broadcast_strides", "coalesce", "ReducePlan",
    "reduce_plan", "three_d", "accumulator_dtype", "rows", "unrows", "targets", "class_weights",
    "target_error", "divide_or_nan", "reduce_losses", "loss_coef",
]

_F64 = np.dtype(np.float64)


# ----------------------------------------------------------------------------- shapes, strides
def broadcast_shapes(*shapes) -> tuple[int, ...]:
    """numpy's broadcasting of ``shapes`` with a clear error.

    >>> broadcast_shapes((3, 1), (4,))
    (3, 4)
    """
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(
            f"shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together"
        ) from None


def c_strides(shape) -> tuple[int, ...]:
    """Element strides of a C-ordered array of ``shape``.

    >>> c_strides((2, 3, 4))
    (12, 4, 1)
    """
    strides = [0] * len(shape)
    step = 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = step
        step *= max(shape[d], 1)
    return tuple(strides)


def broadcast_strides(shape, strides, target) -> tuple[int, ...]:
    """Element strides reading an array of ``shape``/``strides`` broadcast to ``target``.

    >>> broadcast_strides((3, 1), (1, 1), (2, 3, 4))
    (0, 1, 0)
    """
    lead = len(target) - len(shape)
    return (0,) * lead + tuple(
        0 if s == 1 and target[lead + d] != 1 else st
        for d, (s, st) in enumerate(zip(shape, strides))
    )


def coalesce(shape, strides_list):
    """Drop size-1 dims and merge dims that are contiguous in every operand.

    >>> coalesce((2, 1, 3), [(3, 3, 1), (0, 0, 1)])
    ((2, 3), [(3, 1), (0, 1)])
    """
    out_shape: list = []
    out_strides: list = [[] for _ in strides_list]
    for d, size in enumerate(shape):
        if size == 1:
            continue
        if out_shape and all(st[-1] == sl[d] * size for st, sl in zip(out_strides, strides_list)):
            out_shape[-1] *= size
            for st, sl in zip(out_strides, strides_list):
                st[-1] = sl[d]
            continue
        out_shape.append(size)
        for st, sl in zip(out_strides, strides_list):
            st.append(sl[d])
    return tuple(out_shape), [tuple(st) for st in out_strides]


# ----------------------------------------------------------------------------- reductions
class ReducePlan(NamedTuple):
    """How to view an array for a reduction: transpose by ``order`` first (None: no copy
    needed), then reshape to ``dims`` = (outer, reduced, inner); the result has ``kept`` shape,
    or ``keepdim`` shape with ``keepdim=True``."""

    order: tuple | None
    dims: tuple[int, int, int]
    kept: tuple[int, ...]
    keepdim: tuple[int, ...]


def reduce_plan(shape: tuple, axes: tuple[int, ...]) -> ReducePlan:
    """The (outer, reduced, inner) view reducing normalised ``axes`` of ``shape``: adjacent
    axes need no copy, others are moved last first.

    >>> reduce_plan((2, 3, 4), (1,))
    ReducePlan(order=None, dims=(2, 3, 4), kept=(2, 4), keepdim=(2, 1, 4))
    >>> reduce_plan((2, 3, 4), (0, 2)).order
    (1, 0, 2)
    """
    nd = len(shape)
    kept = tuple(s for d, s in enumerate(shape) if d not in axes)
    keepdim = tuple(1 if d in axes else s for d, s in enumerate(shape))
    if not axes:
        return ReducePlan(None, (math.prod(shape), 1, 1), kept, keepdim)
    order = None
    lo, hi = min(axes), max(axes)
    if hi - lo + 1 != len(axes):  # not adjacent: move the reduced axes last
        order = tuple(d for d in range(nd) if d not in axes) + tuple(sorted(axes))
        shape = tuple(shape[d] for d in order)
        lo, hi = nd - len(axes), nd - 1
    dims = (math.prod(shape[:lo]), math.prod(shape[lo:hi + 1]), math.prod(shape[hi + 1:]))
    return ReducePlan(order, dims, kept, keepdim)


def three_d(be, x, axes: tuple[int, ...]):
    """``(x3, plan)``: ``x`` as a contiguous (outer, reduced, inner) array of backend ``be``.

    >>> from nbgrad.backends import cpu
    >>> x3, plan = three_d(cpu, np.zeros((2, 3, 4)), (0, 2))
    >>> x3.shape, plan.kept
    ((3, 8, 1), (3,))
    """
    plan = reduce_plan(tuple(x.shape), tuple(axes))
    if plan.order is not None:
        x = be.transpose(x, plan.order)
    return be.reshape(be.contiguous(x), plan.dims), plan


def accumulator_dtype(out_dtype) -> np.dtype:
    """Sums and products accumulate in float64 for floating results, else int64.

    >>> accumulator_dtype(np.float32), accumulator_dtype(np.bool_)
    (dtype('float64'), dtype('int64'))
    """
    return _F64 if np.dtype(out_dtype).kind == "f" else np.dtype(np.int64)


# ----------------------------------------------------------------------------- row kernels
def rows(be, x, axis: int):
    """``x`` with ``axis`` moved last, as a contiguous (rows, n) array of backend ``be``.

    >>> import numpy as np
    >>> from nbgrad.backends import cpu
    >>> rows(cpu, np.zeros((2, 3, 4)), 1).shape
    (8, 3)
    """
    nd = x.ndim
    if nd and axis != nd - 1:
        x = be.transpose(x, [d for d in range(nd) if d != axis] + [axis])
    n = x.shape[-1] if nd else 1
    count = x.size // n if n else math.prod(x.shape[:-1])
    return be.reshape(be.contiguous(x), (count, n))


def unrows(be, out2, shape: tuple, axis: int):
    """Undo :func:`rows`: a contiguous array of ``shape`` from the (rows, n) result.

    >>> from nbgrad.backends import cpu
    >>> x = np.arange(24.0).reshape(2, 3, 4)
    >>> bool((unrows(cpu, rows(cpu, x, 1), x.shape, 1) == x).all())
    True
    """
    nd = len(shape)
    if nd == 0 or axis == nd - 1:
        return be.reshape(out2, shape)
    moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
    back = list(range(nd - 1))
    back.insert(axis, nd - 1)
    return be.contiguous(be.transpose(be.reshape(out2, moved), back))


# ----------------------------------------------------------------------------- class targets
def targets(be, target):
    """Class indices as a contiguous int64 array.

    >>> from nbgrad.backends import cpu
    >>> targets(cpu, np.array([2, 0], np.int32)).dtype
    dtype('int64')
    """
    return be.contiguous(be.astype(target, np.int64))


def class_weights(be, weight, n_classes: int, dtype):
    """The per-class weights as a contiguous array of ``dtype`` (ones when ``weight`` is None).

    >>> from nbgrad.backends import cpu
    >>> class_weights(cpu, None, 3, np.float32).tolist()
    [1.0, 1.0, 1.0]
    """
    if weight is None:
        return be.full((n_classes,), 1, dtype)
    return be.contiguous(be.astype(weight, dtype))


def target_error(bad: int, n_classes: int, ignore_index: int) -> IndexError:
    """The error for a class target out of range.

    >>> str(target_error(5, 3, -100)).split(":")[0]
    'Target 5 is out of bounds'
    """
    return IndexError(
        f"Target {int(bad)} is out of bounds: class indices must be in [0, {n_classes})"
        f" or equal ignore_index ({ignore_index})"
    )


# ----------------------------------------------------------------------------- loss reductions
def divide_or_nan(a, b):
    """``a / b``, nan where ``b`` is 0 (a mean over no weight), as PyTorch.

    >>> divide_or_nan(1.0, 4.0), divide_or_nan(1.0, 0.0)
    (0.25, nan)
    """
    return a / b if b != 0 else math.nan


def _sum64(be, a):
    return be.reduce("sum", a, (0,), False, _F64)


def reduce_losses(be, losses, wts, reduction: str):
    """Per-row ``losses`` reduced by ``reduction`` ("none", "sum" or "mean" over the row
    weights ``wts``), summed in float64 and stored in the losses' dtype.

    >>> from nbgrad.backends import cpu
    >>> losses, wts = np.array([1.0, 3.0], np.float32), np.array([1.0, 1.0], np.float32)
    >>> float(reduce_losses(cpu, losses, wts, "mean"))
    2.0
    >>> float(reduce_losses(cpu, losses, wts * 0, "mean"))  # no weight at all: nan
    nan
    """
    if reduction == "none":
        return losses
    total = _sum64(be, losses)
    if reduction == "mean":
        total = be.map_elementwise(divide_or_nan, _F64, _F64, (total, _sum64(be, wts)))
    return be.astype(total, losses.dtype)


def loss_coef(be, g, wts, reduction: str, dtype):
    """The gradient of the reduced loss with respect to each row's loss: shape (rows,).

    >>> from nbgrad.backends import cpu
    >>> wts = np.array([1.0, 0.0, 3.0], np.float32)
    >>> loss_coef(cpu, np.asarray(1.0, np.float32), wts, "mean", np.float32).tolist()
    [0.25, 0.25, 0.25]
    """
    n = wts.shape[0]
    if reduction == "none":
        return be.reshape(be.contiguous(be.astype(g, dtype)), (n,))
    g64 = be.astype(g, _F64)
    if reduction == "mean":
        g64 = be.map_elementwise(divide_or_nan, _F64, _F64, (g64, _sum64(be, wts)))
    out = be.empty((n,), dtype)
    be.assign(out, be.reshape(g64, ()))
    return out
