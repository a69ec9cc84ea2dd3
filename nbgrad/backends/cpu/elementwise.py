"""Elementwise kernels: each scalar function of the op table becomes Numba ufuncs.

A ufunc brings broadcasting, strided views, ``out=`` buffers and every dtype from a single
scalar definition. Each (function, dtype) pair gets its own single-loop ufunc, compiled on
first use and cached on disk, so numpy never has to choose between loops.
"""

from __future__ import annotations

import threading

import numpy as np

from nbgrad.backends._jit import elementwise

__all__ = ["map_elementwise", "elementwise_kernel"]

_NB_TYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.bool_): "boolean",
}
_loops: dict = {}
_kernels: dict = {}
_compile_lock = threading.Lock()


def _ignore_fp_errors():
    """A context manager silencing numpy's floating-point warnings: inf and nan are values,
    as in PyTorch. numpy's own ``errstate`` costs ~2 us per use, so where numpy exposes the
    context variable behind it we set that directly (~0.3 us)."""
    try:
        from numpy._core import _multiarray_umath as umath

        var = umath._extobj_contextvar
        ignore = umath._make_extobj(all="ignore")
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - other numpy builds
        return lambda: np.errstate(all="ignore")
    return (var, ignore)


_FP = _ignore_fp_errors()


def _compile(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype):
    with _compile_lock:  # several threads may ask for the same loop at once
        ufunc = _loops.get((fn, dtype))
        if ufunc is None:
            dufunc = elementwise(fn)
            arg = _NB_TYPES[dtype]
            dufunc.add(f"{_NB_TYPES[out_dtype]}({', '.join([arg] * nargs)})")
            ufunc = _loops[(fn, dtype)] = dufunc.ufunc
        return ufunc


def elementwise_kernel(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype):
    """A function applying ``fn`` to arrays of ``dtype`` (at least 1-D, cast already) and
    Python scalars, returning a new array; floating-point errors are silent."""
    found = _kernels.get((fn, dtype))
    if found is not None:
        return found
    ufunc = _loops.get((fn, dtype)) or _compile(fn, nargs, dtype, out_dtype)
    if isinstance(_FP, tuple):
        var, ignore = _FP
        set_errstate, reset_errstate = var.set, var.reset

        def run(*args):
            token = set_errstate(ignore)
            try:
                return ufunc(*args)
            finally:
                reset_errstate(token)
    else:  # pragma: no cover - numpy without the private context variable
        def run(*args):
            with _FP():
                return ufunc(*args)

    _kernels[(fn, dtype)] = run
    return run


def map_elementwise(fn, dtype: np.dtype, out_dtype: np.dtype, args, out=None):
    """Apply scalar ``fn`` elementwise over broadcast ``args`` (arrays of ``dtype`` or scalars),
    into ``out`` when given."""
    ufunc = _loops.get((fn, dtype)) or _compile(fn, len(args), dtype, out_dtype)
    with np.errstate(all="ignore"):  # inf/nan results are values, as in PyTorch, not warnings
        if out is None:  # a ufunc returns a numpy scalar for 0-d inputs: keep an array
            return np.asarray(ufunc(*args))
        return ufunc(*args, out=out)
