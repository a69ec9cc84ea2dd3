"""Array plumbing for the CPU backend: allocation, casts, copies, views, matmul, indexing."""

from __future__ import annotations

import numpy as np

from nbgrad.backends.cpu import blas
from nbgrad.backends.cpu.scatter import scatter_flat

__all__ = [
    "name", "asarray", "to_host", "empty", "zeros", "full", "arange", "astype", "copy",
    "assign", "matmul", "getitem", "setitem", "index_add", "reshape", "transpose", "broadcast_to",
    "contiguous", "is_contiguous", "strides", "uniform", "normal", "integers", "seed",
]

name = "cpu"
_rng = np.random.default_rng()


def seed(s: int) -> None:
    """Reseed the generator behind rand/randn/randint on this device."""
    global _rng
    _rng = np.random.default_rng(s)


def asarray(data, dtype: np.dtype) -> np.ndarray:
    """A fresh array on this device from host data."""
    return np.array(data, dtype=dtype)


def to_host(x: np.ndarray) -> np.ndarray:
    """The array itself (already on the host)."""
    return x


def empty(shape, dtype):
    """Uninitialised array."""
    return np.empty(shape, dtype)


def zeros(shape, dtype):
    """Array of zeros."""
    return np.zeros(shape, dtype)


def full(shape, value, dtype):
    """Array filled with ``value``."""
    return np.full(shape, value, dtype)


def arange(start, end, step, dtype):
    """Evenly spaced values in [start, end)."""
    return np.arange(start, end, step, dtype=dtype)


def astype(x, dtype):
    """``x`` converted to ``dtype`` (no copy when it already has it)."""
    return x.astype(dtype, copy=False)


def copy(x):
    """A contiguous copy of ``x``."""
    return np.array(x, copy=True, order="C")


def assign(dst, src) -> None:
    """Write ``src`` (broadcast, cast) into ``dst`` in place."""
    np.copyto(dst, src, casting="unsafe")


def _blas_ready(a):
    """``a`` itself when numpy can hand its matrices to BLAS (each one row- or column-major),
    else a C-contiguous copy: numpy's fallback loop for other strides (a broadcast gradient,
    a transposed batch) is ~100x slower than the copy."""
    if a.ndim < 2 or a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    s0, s1 = a.strides[-2:]
    item = a.itemsize
    if (s1 == item and s0 >= a.shape[-1] * item) or (s0 == item and s1 >= a.shape[-2] * item):
        if all(s != 0 for s in a.strides[:-2]):
            return a
    return np.ascontiguousarray(a)


def matmul(a, b):
    """Matrix product (BLAS through numpy); 1-D @ 1-D gives a 0-d array.

    A stack of matrices times one matrix (``(..., m, k) @ (k, n)``) is one 2-D product over
    the stacked rows: numpy would otherwise call BLAS once per matrix of the stack (2-3x slower
    on a transformer's ``(batch, seq, d)`` activations). Small products run on one BLAS thread
    (:mod:`nbgrad.backends.cpu.blas`).

    >>> matmul(np.ones((2, 3, 4)), np.ones((4, 5))).shape
    (2, 3, 5)
    """
    a, b = _blas_ready(a), _blas_ready(b)
    if a.ndim > 2 and b.ndim == 2:
        return blas.matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[1:])
    return np.asarray(blas.matmul(a, b))


def getitem(x, index):
    """``x[index]`` (a view for basic indices, a copy for advanced ones); always an array."""
    out = x[index]
    return out if isinstance(out, np.ndarray) else np.asarray(out)


def setitem(target, index, values) -> None:
    """``target[index] = values``."""
    target[index] = values


def index_add(target, index, values) -> None:
    """``target[index] += values`` accumulating repeated indices.

    A basic index (ints, slices, None, Ellipsis) names each element once, so numpy's own
    ``+=`` is exact; an advanced one goes through a Numba scatter loop over the flat positions
    it picks (``np.add.at`` costs ~0.1-0.4 ms a call where the loop takes microseconds).

    >>> t = np.zeros(3)
    >>> index_add(t, (np.array([0, 2, 0]),), np.array([1.0, 2.0, 3.0]))
    >>> t.tolist()
    [4.0, 0.0, 2.0]
    """
    parts = index if isinstance(index, tuple) else (index,)
    if not any(isinstance(p, (np.ndarray, list)) or p is True or p is False for p in parts):
        target[index] += values
        return
    positions = np.arange(target.size, dtype=np.int64).reshape(target.shape)[index]
    scatter_flat(target, positions, values)


def reshape(x, shape):
    """A view with a new shape, or None when the layout needs a copy."""
    try:
        return x.reshape(shape, copy=False)
    except ValueError:
        return None


def transpose(x, axes):
    """A view with permuted axes."""
    return x.transpose(axes)


def broadcast_to(x, shape):
    """A read-only broadcast view."""
    return np.broadcast_to(x, shape)


def contiguous(x):
    """``x`` in C order (copied only when needed)."""
    return np.ascontiguousarray(x)


def is_contiguous(x) -> bool:
    """Whether ``x`` is C-contiguous."""
    return x.flags.c_contiguous


def strides(x) -> tuple[int, ...]:
    """Strides in elements."""
    return tuple(s // x.itemsize for s in x.strides)


def uniform(shape, dtype):
    """Uniform samples in [0, 1)."""
    return _rng.random(shape, dtype=np.float64).astype(dtype)


def normal(shape, dtype):
    """Standard normal samples."""
    return _rng.standard_normal(shape, dtype=np.float64).astype(dtype)


def integers(low, high, shape, dtype):
    """Uniform integers in [low, high)."""
    return _rng.integers(low, high, shape).astype(dtype)
