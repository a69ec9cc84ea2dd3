"""Array plumbing for the CUDA backend: allocation, transfers, casts, copies, views, random.

Views (reshape, transpose, broadcast, basic indexing) only change a :class:`CudaArray`'s
metadata; copies and casts run the generic elementwise kernel with an identity function.
Random numbers are drawn on the host with numpy's generator and copied to the device.
"""

from __future__ import annotations

import numpy as np

from nbgrad.backends.cuda._runtime import DTYPES, CudaArray, download, new, upload
from nbgrad.backends.cuda.elementwise import identity, map_elementwise, nonzero

__all__ = [
    "name", "asarray", "to_host", "empty", "zeros", "full", "arange", "astype", "copy",
    "assign", "reshape", "transpose", "broadcast_to", "contiguous", "is_contiguous", "strides",
    "uniform", "normal", "integers", "seed",
]

name = "cuda"
_rng = np.random.default_rng()


def _check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in DTYPES:
        raise TypeError(f"the cuda backend does not support dtype {dt}")
    return dt


def seed(s: int) -> None:
    """Reseed the (host) generator behind rand/randn/randint on this device."""
    global _rng
    _rng = np.random.default_rng(s)


def asarray(data, dtype) -> CudaArray:
    """A fresh device array from host data (one host-to-device copy)."""
    if isinstance(data, CudaArray):
        return astype(data, dtype) if data.dtype != np.dtype(dtype) else copy(data)
    host = np.asarray(data, dtype=_check_dtype(dtype), order="C")  # keeps 0-d arrays 0-d
    return CudaArray(upload(host.reshape(-1)), host.shape)


def to_host(x: CudaArray) -> np.ndarray:
    """A host (numpy) copy of ``x``; waits for the kernels writing it."""
    if not x.contiguous:
        x = copy(x)
    return download(x.buf, x.offset, x.size).reshape(x.shape)


def empty(shape, dtype) -> CudaArray:
    """Uninitialised device array."""
    return new(shape, _check_dtype(dtype))


def full(shape, value, dtype) -> CudaArray:
    """Device array filled with ``value`` (one fill kernel, no host transfer)."""
    out = new(shape, _check_dtype(dtype))
    assign(out, value)
    return out


def zeros(shape, dtype) -> CudaArray:
    """Device array of zeros."""
    return full(shape, 0, dtype)


def arange(start, end, step, dtype) -> CudaArray:
    """Evenly spaced values in [start, end) (computed on the host, then copied)."""
    return asarray(np.arange(start, end, step, dtype=_check_dtype(dtype)), dtype)


def astype(x: CudaArray, dtype) -> CudaArray:
    """``x`` converted to ``dtype`` (``x`` itself when it already has it)."""
    dt = _check_dtype(dtype)
    if x.dtype == dt:
        return x
    fn = nonzero if dt.kind == "b" else identity
    return map_elementwise(fn, x.dtype, dt, (x,))


def copy(x: CudaArray) -> CudaArray:
    """A contiguous copy of ``x``."""
    return map_elementwise(identity, x.dtype, x.dtype, (x,))


def assign(dst: CudaArray, src) -> None:
    """Write ``src`` (a device array or a number; broadcast and cast) into ``dst``."""
    if isinstance(src, CudaArray):
        fn = nonzero if dst.dtype.kind == "b" and src.dtype.kind != "b" else identity
        if src.buf is dst.buf and not _disjoint_or_same(src, dst):
            src = copy(src)  # overlapping views: read everything before writing
        map_elementwise(fn, src.dtype, dst.dtype, (src,), out=dst)
        return
    if isinstance(src, np.ndarray):
        src = asarray(src, src.dtype)
        map_elementwise(identity, src.dtype, dst.dtype, (src,), out=dst)
        return
    value = dst.dtype.type(bool(src) if dst.dtype.kind == "b" else src)
    map_elementwise(identity, dst.dtype, dst.dtype, (value,), out=dst)


def _disjoint_or_same(a: CudaArray, b: CudaArray) -> bool:
    if a.shape == b.shape and a.strides == b.strides and a.offset == b.offset:
        return True  # elementwise in place: each element is read before it is written
    lo_a, hi_a = _extent(a)
    lo_b, hi_b = _extent(b)
    return hi_a < lo_b or hi_b < lo_a


def _extent(a: CudaArray) -> tuple[int, int]:
    lo = hi = a.offset
    for s, st in zip(a.shape, a.strides):
        if s == 0:
            return a.offset, a.offset - 1
        if st > 0:
            hi += (s - 1) * st
        else:
            lo += (s - 1) * st
    return lo, hi


def reshape(x: CudaArray, shape) -> CudaArray | None:
    """A view with a new shape, or None when the layout needs a copy."""
    shape = tuple(int(s) for s in shape)
    if x.contiguous or x.size == 0:
        return CudaArray(x.buf, shape, None, x.offset)
    strides = _nocopy_strides(x.shape, x.strides, shape)
    return None if strides is None else CudaArray(x.buf, shape, strides, x.offset)


def _nocopy_strides(old_shape, old_strides, new_shape):
    """Strides viewing ``old`` with ``new_shape`` without a copy, or None (numpy's rule)."""
    old = [(s, st) for s, st in zip(old_shape, old_strides) if s != 1]
    new_strides = [0] * len(new_shape)
    oi = ni = 0
    while oi < len(old) and ni < len(new_shape):
        if new_shape[ni] == 1:
            ni += 1
            continue
        oj, nj = oi + 1, ni + 1
        op, np_ = old[oi][0], new_shape[ni]
        while op != np_:
            if np_ < op:
                np_ *= new_shape[nj]
                nj += 1
            else:
                op *= old[oj][0]
                oj += 1
        for k in range(oi, oj - 1):
            if old[k][1] != old[k + 1][0] * old[k + 1][1]:
                return None
        new_strides[nj - 1] = old[oj - 1][1]
        for k in range(nj - 1, ni, -1):
            new_strides[k - 1] = new_strides[k] * new_shape[k]
        oi, ni = oj, nj
    return tuple(new_strides)


def transpose(x: CudaArray, axes) -> CudaArray:
    """A view with permuted axes."""
    return CudaArray(x.buf, tuple(x.shape[a] for a in axes), tuple(x.strides[a] for a in axes),
                     x.offset)


def broadcast_to(x: CudaArray, shape) -> CudaArray:
    """A broadcast view (stride 0 along expanded dims)."""
    shape = tuple(shape)
    lead = len(shape) - x.ndim
    if lead < 0 or any(s != 1 and s != shape[lead + d] for d, s in enumerate(x.shape)):
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}")
    strides = (0,) * lead + tuple(
        0 if s == 1 and shape[lead + d] != 1 else st
        for d, (s, st) in enumerate(zip(x.shape, x.strides))
    )
    return CudaArray(x.buf, shape, strides, x.offset)


def contiguous(x: CudaArray) -> CudaArray:
    """``x`` in C order (copied only when needed)."""
    return x if x.contiguous else copy(x)


def is_contiguous(x: CudaArray) -> bool:
    """Whether ``x`` is C-contiguous."""
    return x.contiguous


def strides(x: CudaArray) -> tuple[int, ...]:
    """Strides in elements."""
    return x.strides


def uniform(shape, dtype) -> CudaArray:
    """Uniform samples in [0, 1) (host generator, copied to the device)."""
    return asarray(_rng.random(shape, dtype=np.float64), dtype)


def normal(shape, dtype) -> CudaArray:
    """Standard normal samples (host generator, copied to the device)."""
    return asarray(_rng.standard_normal(shape, dtype=np.float64), dtype)


def integers(low, high, shape, dtype) -> CudaArray:
    """Uniform integers in [low, high) (host generator, copied to the device)."""
    return asarray(_rng.integers(low, high, shape), dtype)


