"""Reductions: sum and mean over any dims (the op-library issue adds the rest)."""

from __future__ import annotations

import numpy as np

from nbgrad import _dtype
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = ["sum", "mean", "normalize_dims"]


def normalize_dims(dim, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, an int or a sequence) as a sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    dims = tuple(sorted({_wrap_dim(int(d), ndim) for d in dim}))
    if len(dims) != len(tuple(dim)):
        raise RuntimeError(f"dim {tuple(dim)} appears multiple times in the list of dims")
    return dims


class Sum(OpDef):
    """Sum over ``axes``; the gradient broadcasts back."""

    name = "Sum"

    def forward(self, bk, params, x):
        axes, keepdim, out_dtype, _ = params
        return bk.reduce("sum", x, axes, keepdim, out_dtype)

    def backward(self, node, grad):
        axes, keepdim, _, in_shape = node.params
        if not keepdim:
            grad = grad.reshape(tuple(1 if d in axes else s for d, s in enumerate(in_shape)))
        return (grad.expand(in_shape),)


SUM = Sum()


def _sum_dtype(x: Tensor, dtype) -> np.dtype:
    if dtype is not None:
        return _dtype.as_dtype(dtype).np
    return x._data.dtype if x.dtype.is_floating_point else np.dtype(np.int64)


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum of elements over ``dim`` (all by default)."""
    axes = normalize_dims(dim, x.ndim)
    return apply(SUM, (x,), (axes, keepdim, _sum_dtype(x, dtype), x.shape))


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over ``dim`` (all by default); floating-point tensors only."""
    target = _dtype.as_dtype(dtype) if dtype is not None else x.dtype
    if not target.is_floating_point:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {x.dtype.name}"
        )
    axes = normalize_dims(dim, x.ndim)
    count = 1
    for d in axes:
        count *= x.shape[d]
    total = sum(x, axes, keepdim, dtype=target)
    return total / count if count else total * float("nan")
