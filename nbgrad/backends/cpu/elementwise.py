"""Elementwise kernels: each scalar function of the op table becomes Numba ufuncs.

A ufunc brings broadcasting, strided views, ``out=`` buffers and every dtype from a single
scalar definition. Each (function, dtype) pair gets its own single-loop ufunc, compiled on
first use and cached on disk, so numpy never has to choose between loops.

A table row may also name an exactly equivalent numpy ufunc (``np.exp``, ``np.add``...). The
CPU uses it instead of compiling the scalar function when numpy's loop for that dtype returns
the dtype the row asks for: numpy's own loops are SIMD-vectorised (llvmlite has no vector math
library, so ``math.exp`` in a Numba loop is a scalar libm call, about 5x slower) and handle a
Python-number operand without a casting buffer.
"""

from __future__ import annotations

import threading

import numpy as np

from nbgrad.backends._jit import elementwise

__all__ = ["map_elementwise", "elementwise_kernel", "quiet_fp"]

_NB_TYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64",
    np.dtype(np.bool_): "boolean",
}
_loops: dict = {}  # (fn, dtype) -> the ufunc computing fn for dtype (numpy's or compiled)
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


class _QuietFP:
    """``with quiet_fp():`` silences numpy's floating-point warnings in the block."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        var, ignore = _FP
        self._token = var.set(ignore)

    def __exit__(self, *exc) -> None:
        _FP[0].reset(self._token)


def quiet_fp():
    """A context manager silencing numpy's floating-point warnings (inf and nan are values),
    at a tenth of the cost of ``np.errstate`` where numpy allows."""
    return _QuietFP() if isinstance(_FP, tuple) else _FP()


def _numpy_fits(ufunc, nargs: int, dtype: np.dtype, out_dtype: np.dtype) -> bool:
    """Whether numpy's ``ufunc`` has a loop taking ``dtype`` operands to ``out_dtype``."""
    if ufunc.nin != nargs or ufunc.nout != 1:
        return False
    try:
        resolved = ufunc.resolve_dtypes((dtype,) * nargs + (None,))
    except (TypeError, ValueError, AttributeError):  # no loop (e.g. negative of bool)
        return False
    return resolved[-1] == out_dtype and all(d == dtype for d in resolved[:-1])


def _compile(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype, ufunc=None):
    with _compile_lock:  # several threads may ask for the same loop at once
        found = _loops.get((fn, dtype))
        if found is None:
            if ufunc is not None and _numpy_fits(ufunc, nargs, dtype, out_dtype):
                found = ufunc
            else:
                dufunc = elementwise(fn)
                arg = _NB_TYPES[dtype]
                dufunc.add(f"{_NB_TYPES[out_dtype]}({', '.join([arg] * nargs)})")
                found = dufunc.ufunc
            _loops[(fn, dtype)] = found
        return found


# Outputs this big come from the buffer pool: a fresh one would be faulted in page by page.
_POOLED_BYTES = 1 << 20


def _pooled_output(args, out_dtype: np.dtype) -> np.ndarray:
    from nbgrad.backends.cpu.pool import POOL

    shape = np.broadcast_shapes(*[a.shape for a in args if isinstance(a, np.ndarray)])
    return POOL.empty(shape, out_dtype)


def elementwise_kernel(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype, ufunc=None):
    """A function applying ``fn`` to arrays of ``dtype`` (at least 1-D, cast already) and
    Python scalars, returning a new array; floating-point errors are silent. ``ufunc`` is an
    equivalent numpy ufunc, used instead of compiling ``fn`` where its loop fits the dtypes."""
    found = _kernels.get((fn, dtype))
    if found is not None:
        return found
    loop = _loops.get((fn, dtype)) or _compile(fn, nargs, dtype, out_dtype, ufunc)
    if isinstance(_FP, tuple):
        var, ignore = _FP
        set_errstate, reset_errstate = var.set, var.reset

        def run(*args):
            token = set_errstate(ignore)
            try:
                if args[0].nbytes < _POOLED_BYTES:
                    return loop(*args)
                return loop(*args, out=_pooled_output(args, out_dtype))
            finally:
                reset_errstate(token)
    else:  # pragma: no cover - numpy without the private context variable
        def run(*args):
            with _FP():
                return loop(*args)

    _kernels[(fn, dtype)] = run
    return run


def map_elementwise(fn, dtype: np.dtype, out_dtype: np.dtype, args, out=None, ufunc=None):
    """Apply scalar ``fn`` elementwise over broadcast ``args`` (arrays of ``dtype`` or scalars),
    into ``out`` when given; ``ufunc`` as in :func:`elementwise_kernel`."""
    loop = _loops.get((fn, dtype)) or _compile(fn, len(args), dtype, out_dtype, ufunc)
    with quiet_fp():  # inf/nan results are values, as in PyTorch, not warnings
        if out is None:  # a ufunc returns a numpy scalar for 0-d inputs: keep an array
            return np.asarray(loop(*args))
        return loop(*args, out=out)
