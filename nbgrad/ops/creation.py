"""Factories: ``tensor``, ``zeros``, ``rand`` ... Each honours ``requires_grad=`` in every mode."""

from __future__ import annotations

import numbers

import numpy as np

from nbgrad import _dtype
from nbgrad._device import CPU, as_device, backend_for
from nbgrad.ops._dispatch import new_tensor
from nbgrad.ops.shape import parse_shape
from nbgrad.tensor import Tensor

__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "arange",
    "linspace", "eye", "rand", "randn", "randint", "manual_seed", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like",
]


def _host_array(data, dtype) -> np.ndarray:
    """Host array for ``data`` with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data.detach()._host()
        return arr.astype((_dtype.as_dtype(dtype) if dtype is not None else data.dtype).np)
    if isinstance(data, np.ndarray):
        target = _dtype.as_dtype(dtype) if dtype is not None else _dtype.from_numpy_dtype(
            data.dtype)
        return np.array(data, dtype=target.np)
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(f"could not convert {type(data).__name__} to a tensor: expected numbers")
    try:
        arr = np.array(data)
    except ValueError as exc:
        raise ValueError(f"could not build a tensor from ragged nested sequences: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"could not convert data to a tensor: expected numbers or bools, found {arr.dtype} "
            f"elements"
        )
    if dtype is not None:
        target = _dtype.as_dtype(dtype)
    elif arr.dtype.kind == "f":
        target = _dtype.float32
    elif arr.dtype.kind in "iu":
        target = _dtype.int64
    else:
        target = _dtype.bool_
    return arr.astype(target.np)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor copied from data (nested lists, numbers, numpy arrays or tensors)."""
    dev = as_device(device)
    arr = _host_array(data, dtype)
    return new_tensor(backend_for(dev).asarray(arr, arr.dtype), dev, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory when ``data`` already fits (tensor or numpy array)."""
    dev = as_device(device) if device is not None else None
    if isinstance(data, Tensor):
        out = data if dev is None else data.to(dev)
        return out if dtype is None else out.to(dtype)
    if isinstance(data, np.ndarray) and (dev is None or dev == CPU):
        if dtype is None or _dtype.as_dtype(dtype).np == data.dtype:
            return from_numpy(data)
    return tensor(data, dtype=dtype, device=dev)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    _dtype.from_numpy_dtype(array.dtype)
    return new_tensor(array, CPU, False)


def _factory(make, shape, dtype, device, requires_grad, default=_dtype.float32) -> Tensor:
    dt = _dtype.as_dtype(dtype) if dtype is not None else default
    dev = as_device(device)
    return new_tensor(make(backend_for(dev), shape, dt.np), dev, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return _factory(lambda bk, s, d: bk.zeros(s, d), parse_shape(size), dtype, device,
                    requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _factory(lambda bk, s, d: bk.full(s, 1, d), parse_shape(size), dtype, device,
                    requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor."""
    return _factory(lambda bk, s, d: bk.empty(s, d), parse_shape(size), dtype, device,
                    requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as in PyTorch)."""
    default = _dtype.scalar_dtype(fill_value)
    return _factory(lambda bk, s, d: bk.full(s, fill_value, d), parse_shape((size,)), dtype,
                    device, requires_grad, default)


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) in steps of ``step``."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    default = _dtype.float32 if is_float else _dtype.int64
    return _factory(lambda bk, s, d: bk.arange(start, end, step, d), None, dtype, device,
                    requires_grad, default)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    values = np.linspace(start, end, steps)
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.float32
    return tensor(values, dtype=dt, device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.float32
    return tensor(np.eye(n, m), dtype=dt, device=device, requires_grad=requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _factory(lambda bk, s, d: bk.uniform(s, d), parse_shape(size), dtype, device,
                    requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    return _factory(lambda bk, s, d: bk.normal(s, d), parse_shape(size), dtype, device,
                    requires_grad)


def randint(low, high=None, size=(), *, dtype=None, device=None) -> Tensor:
    """Uniform integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"randint: low ({low}) must be less than high ({high})")
    return _factory(lambda bk, s, d: bk.integers(low, high, s, d), parse_shape((size,)), dtype,
                    device, False, _dtype.int64)


def manual_seed(seed: int) -> None:
    """Seed the random generators of every device."""
    if not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    backend_for(CPU).seed(int(seed))
    from nbgrad._device import _BACKENDS

    for bk in _BACKENDS.values():
        bk.seed(int(seed))


def _like(fn):
    def like(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return fn(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                  requires_grad=requires_grad)

    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)
zeros_like.__doc__ = "Zeros with the shape (and by default dtype/device) of ``x``."
ones_like.__doc__ = "Ones with the shape (and by default dtype/device) of ``x``."
empty_like.__doc__ = "Uninitialised, with the shape of ``x``."
rand_like.__doc__ = "Uniform samples with the shape of ``x``."
randn_like.__doc__ = "Normal samples with the shape of ``x``."


def full_like(x: Tensor, fill_value, *, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with the shape of ``x``."""
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)
