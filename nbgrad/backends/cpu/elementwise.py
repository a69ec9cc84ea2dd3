"""Elementwise kernels: each scalar function of the op table becomes one Numba ufunc.

A ufunc brings broadcasting, strided views, ``out=`` buffers and every dtype from a single
scalar definition; loops are compiled per dtype on first use and cached on disk.
"""

from __future__ import annotations

import threading

import numpy as np

from nbgrad.backends._jit import elementwise

__all__ = ["map_elementwise"]

_NB_TYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.bool_): "boolean",
}
_dufuncs: dict = {}
_loops: dict = {}
_compile_lock = threading.Lock()


def _compile(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype):
    with _compile_lock:  # several threads may ask for the same loop at once
        ufunc = _loops.get((fn, dtype))
        return ufunc if ufunc is not None else _compile_locked(fn, nargs, dtype, out_dtype)


def _compile_locked(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype):
    dufunc = _dufuncs.get(fn)
    if dufunc is None:
        dufunc = _dufuncs[fn] = elementwise(fn)
    arg = _NB_TYPES[dtype]
    dufunc.add(f"{_NB_TYPES[out_dtype]}({', '.join([arg] * nargs)})")
    ufunc = dufunc.ufunc
    _loops[(fn, dtype)] = ufunc
    return ufunc


def map_elementwise(fn, dtype: np.dtype, out_dtype: np.dtype, args, out=None):
    """Apply scalar ``fn`` elementwise over broadcast ``args`` (arrays of ``dtype`` or scalars)."""
    ufunc = _loops.get((fn, dtype))
    if ufunc is None:
        ufunc = _compile(fn, len(args), dtype, out_dtype)
    # The explicit signature picks this dtype's loop: numpy would otherwise take the first
    # registered loop the inputs cast to safely (e.g. a float64 loop for float32 inputs).
    sig = (dtype,) * len(args) + (out_dtype,)
    with np.errstate(all="ignore"):  # inf/nan results are values, as in PyTorch, not warnings
        if out is None:  # a ufunc returns a numpy scalar for 0-d inputs: keep an array
            return np.asarray(ufunc(*args, signature=sig))
        return ufunc(*args, out=out, signature=sig)
