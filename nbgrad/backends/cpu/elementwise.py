"""Elementwise kernels: each scalar function of the op table becomes Numba ufuncs.

A ufunc brings broadcasting, strided views, ``out=`` buffers and every dtype from a single
scalar definition. Each (function, dtype) pair gets its own single-loop ufunc, compiled on
first use and cached on disk, so numpy never has to choose between loops.

A table row may also name an exactly equivalent numpy ufunc (``np.exp``, ``np.add``...). The
CPU uses it instead of compiling the scalar function when numpy's loop for that dtype returns
the dtype the row asks for: numpy's own loops are SIMD-vectorised (llvmlite has no vector math
library, so ``math.exp`` in a Numba loop is a scalar libm call, about 5x slower) and handle a
Python-number operand without a casting buffer. A row whose scalar function names a loop of
:mod:`nbgrad.backends.cpu.vector_math` (``fn.cpu_float32 = "gelu"``) runs float32 through that
vectorised loop instead (erf-based rows: numpy has no erf).
"""

from __future__ import annotations

import contextvars
import threading

import numpy as np

from nbgrad.backends._jit import elementwise
from nbgrad.backends._planning import broadcast_shapes
from nbgrad.backends.cpu.pool import POOL

__all__ = ["map_elementwise", "elementwise_kernel", "quietly"]

_NB_TYPES = {
    np.dtype(np.float32): "float32",
    np.dtype(np.float64): "float64",
    np.dtype(np.int32): "int32",
    np.dtype(np.int8): "int8",
    np.dtype(np.uint8): "uint8",
    np.dtype(np.int16): "int16",
    np.dtype(np.int64): "int64",
    np.dtype(np.bool_): "boolean",
}
_FLOAT32 = np.dtype(np.float32)
_loops: dict = {}  # (fn, dtype) -> the ufunc computing fn for dtype (numpy's or compiled)
_kernels: dict = {}
_compile_lock = threading.Lock()


# inf and nan are values, as in PyTorch: numpy's floating-point warnings are off inside the
# kernels. numpy keeps its error state in a context variable, so each thread takes, once, a
# copy of its context made inside ``np.errstate(all="ignore")`` and runs each kernel call in it:
# ~0.2 us a call, where entering ``np.errstate`` costs ~2 us (it rebuilds its state each time).
_threads = threading.local()


def _quiet_context() -> contextvars.Context:
    with np.errstate(all="ignore"):
        ctx = _threads.context = contextvars.copy_context()
    return ctx


def quietly(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with numpy's floating-point warnings off (one kernel call, which
    must not call back into this function).

    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("error")
    ...     float(quietly(np.log, np.zeros(1))[0])
    -inf
    """
    ctx = getattr(_threads, "context", None) or _quiet_context()
    return ctx.run(fn, *args, **kwargs)


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
            vector = getattr(fn, "cpu_float32", None)
            if vector is not None and dtype == _FLOAT32 and out_dtype == _FLOAT32:
                from nbgrad.backends.cpu.vector_math import LOOPS

                found = LOOPS[vector]
            elif ufunc is not None and _numpy_fits(ufunc, nargs, dtype, out_dtype):
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
    shape = broadcast_shapes(*[a.shape for a in args if isinstance(a, np.ndarray)])
    return POOL.empty(shape, out_dtype)


def elementwise_kernel(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype, ufunc=None):
    """A function applying ``fn`` to arrays of ``dtype`` (at least 1-D, cast already) and
    Python scalars, returning a new array; floating-point errors are silent. ``ufunc`` is an
    equivalent numpy ufunc, used instead of compiling ``fn`` where its loop fits the dtypes."""
    found = _kernels.get((fn, dtype))
    if found is not None:
        return found
    loop = _loops.get((fn, dtype)) or _compile(fn, nargs, dtype, out_dtype, ufunc)

    def run(*args):  # quietly(), inlined: this is every elementwise op's hot path
        ctx = getattr(_threads, "context", None) or _quiet_context()
        if args[0].nbytes < _POOLED_BYTES:
            return ctx.run(loop, *args)
        return ctx.run(loop, *args, out=_pooled_output(args, out_dtype))

    _kernels[(fn, dtype)] = run
    return run


def map_elementwise(fn, dtype: np.dtype, out_dtype: np.dtype, args, out=None, ufunc=None):
    """Apply scalar ``fn`` elementwise over broadcast ``args`` (arrays of ``dtype`` or scalars),
    into ``out`` when given; ``ufunc`` as in :func:`elementwise_kernel`."""
    loop = _loops.get((fn, dtype)) or _compile(fn, len(args), dtype, out_dtype, ufunc)
    if out is None:  # a ufunc returns a numpy scalar for 0-d inputs: keep an array
        return np.asarray(quietly(loop, *args))
    return quietly(loop, *args, out=out)
