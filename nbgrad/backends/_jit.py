"""Numba compilation flags, set in this one place for every kernel nbgrad compiles."""

from __future__ import annotations

import numba

__all__ = ["kernel", "elementwise", "JIT_OPTIONS"]

# cache=True: compiled machine code is stored on disk (NUMBA_CACHE_DIR) and reused by new processes.
# nogil=True: kernels release the GIL, so several Python threads can run them at once.
JIT_OPTIONS = {"cache": True, "nogil": True}

# The workqueue layer aborts when parallel kernels are entered from several threads at once;
# prefer a thread-safe layer (TBB, then OpenMP) whenever one is importable.
numba.config.THREADING_LAYER_PRIORITY = ["tbb", "omp", "workqueue"]


def kernel(fn=None, *, parallel: bool = False):
    """``numba.njit`` with nbgrad's flags; use as ``@kernel`` or ``@kernel(parallel=True)``."""
    if fn is None:
        return lambda f: numba.njit(parallel=parallel, **JIT_OPTIONS)(f)
    return numba.njit(**JIT_OPTIONS)(fn)


def elementwise(fn):
    """Compile a scalar function into a lazily typed numpy ufunc (``numba.vectorize``)."""
    return numba.vectorize(cache=True)(fn)
