"""The CUDA backend's runtime: device arrays as strided views of flat buffers, allocation,
host transfers and kernel launches.

Every call into the driver goes through five functions (``alloc``, ``upload``, ``download``,
``launch``, ``synchronize``), so the rest of the backend never touches
``numba.cuda``'s memory API directly and a dry run can replace them (see
``tests/cuda/test_cuda_ptx.py``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from numba import config, cuda

from nbgrad.backends._planning import c_strides

__all__ = [
    "CudaArray", "SIMULATOR", "MAXD", "THREADS", "alloc", "upload", "download", "launch",
    "synchronize", "grid_1d", "pad", "new", "DTYPES", "bind_methods",
]

SIMULATOR = bool(config.ENABLE_CUDASIM)
MAXD = 8  # kernels take shapes and strides as fixed-length tuples: one signature for any ndim
# The simulator runs one Python thread per CUDA thread: small blocks keep it fast. Real cards
# get 256 threads per block and enough blocks to fill every SM; kernels are grid-stride loops.
THREADS = 8 if SIMULATOR else 256
MAX_BLOCKS = 2 if SIMULATOR else 4096
DTYPES = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))

_checked = False
_configs: dict = {}

if not SIMULATOR:
    # nbgrad sizes each grid to its data, so small tensors get small grids on purpose; numba's
    # "low occupancy" warning would fire on most launches of a training step.
    try:
        from numba.cuda.core import config as _cuda_config
    except ImportError:  # pragma: no cover - older numba-cuda layouts
        _cuda_config = config
    _cuda_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0


def _check_available() -> None:
    global _checked
    if not cuda.is_available():
        raise RuntimeError(
            "CUDA is not available: numba.cuda found no usable NVIDIA GPU or driver. Install a "
            "driver and `pip install 'nbgrad[cuda]'`, or set NUMBA_ENABLE_CUDASIM=1 before "
            "importing nbgrad to run on Numba's CUDA simulator."
        )
    _checked = True


def alloc(n: int, dtype: np.dtype):
    """A flat device buffer of ``n`` elements (uninitialised)."""
    if not _checked:
        _check_available()
    return cuda.device_array(n, dtype)


def upload(host: np.ndarray):
    """Copy a contiguous 1-D host array to a new device buffer."""
    if not _checked:
        _check_available()
    if host.size == 0:
        return cuda.device_array(0, host.dtype)
    return cuda.to_device(host)


def download(buf, start: int, n: int) -> np.ndarray:
    """Copy ``n`` elements of ``buf`` from ``start`` to the host (waits for pending work)."""
    if n == 0:
        return np.empty(0, buf.dtype)
    if start == 0 and n == buf.shape[0]:
        return buf.copy_to_host()
    return buf[start:start + n].copy_to_host()


def launch(kernel, blocks, threads, args) -> None:
    """Launch ``kernel[blocks, threads](*args)`` on the default stream (asynchronous)."""
    if SIMULATOR:  # the simulator's kernel[...] reconfigures the kernel object itself
        kernel[blocks, threads](*args)
        return
    key = (kernel, blocks, threads)
    configured = _configs.get(key)
    if configured is None:
        configured = _configs[key] = kernel[blocks, threads]
    configured(*args)


def synchronize() -> None:
    """Wait until every launched kernel has finished."""
    cuda.synchronize()


def grid_1d(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over ``n`` items."""
    warp = 1 if SIMULATOR else 32
    threads = min(THREADS, max(warp, -(-n // warp) * warp))
    return max(1, min(MAX_BLOCKS, -(-n // threads))), threads


def pad(values, fill: int) -> tuple[int, ...]:
    """``values`` left-padded with ``fill`` to ``MAXD`` entries."""
    if len(values) > MAXD:
        raise ValueError(
            f"the CUDA backend supports tensors of at most {MAXD} dimensions, got {len(values)}"
        )
    return (fill,) * (MAXD - len(values)) + tuple(int(v) for v in values)


class CudaArray:
    """An n-d view (shape, element strides, offset) of a flat numba.cuda device buffer.

    Only metadata lives here; views share ``buf``. Array work goes through the backend
    functions; the few numpy-style methods below (``copy``, ``astype``, item assignment) run
    them on the device, and converting to numpy implicitly fails loudly rather than copying.
    """

    __slots__ = ("buf", "shape", "strides", "offset", "dtype", "size", "contiguous")

    def __init__(self, buf, shape, strides=None, offset: int = 0) -> None:
        self.buf = buf
        self.shape = tuple(shape)
        self.dtype = np.dtype(buf.dtype)
        self.offset = offset
        self.size = math.prod(self.shape)
        if strides is None:
            self.strides = c_strides(self.shape)
            self.contiguous = True
        else:
            self.strides = tuple(strides)
            self.contiguous = self.size == 0 or all(
                s == 1 or st == want
                for s, st, want in zip(self.shape, self.strides, c_strides(self.shape))
            )

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self.dtype.itemsize

    # The numpy-style methods run functions of the modules above this one (arrays, indexing);
    # the backend package binds them once it has loaded them (``bind_methods``), so imports
    # point one way: from those modules down to this one.
    _methods: ClassVar[dict] = {}

    def copy(self) -> CudaArray:
        """A contiguous device copy."""
        return self._methods["copy"](self)

    def astype(self, dtype, copy: bool = True) -> CudaArray:
        """A device copy converted to ``dtype`` (``self`` when ``copy=False`` and it fits)."""
        if np.dtype(dtype) == self.dtype:
            return self._methods["copy"](self) if copy else self
        return self._methods["astype"](self, dtype)

    def __setitem__(self, index, value) -> None:
        self._methods["setitem"](self, index, value)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "can't convert a cuda device array to numpy implicitly; copy it to the host first "
            "(Tensor.cpu())"
        )

    def __repr__(self) -> str:
        return (f"CudaArray(shape={self.shape}, dtype={self.dtype}, strides={self.strides}, "
                f"offset={self.offset})")


def bind_methods(*, copy, astype, setitem) -> None:
    """Give :class:`CudaArray`'s ``copy``, ``astype`` and item assignment their functions
    (the backend package does this once, when it loads).

    >>> import nbgrad.backends.cuda
    >>> sorted(nbgrad.backends.cuda.CudaArray._methods)
    ['astype', 'copy', 'setitem']
    """
    CudaArray._methods.update(copy=copy, astype=astype, setitem=setitem)


def new(shape, dtype) -> CudaArray:
    """A fresh contiguous (uninitialised) device array."""
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return CudaArray(alloc(math.prod(shape), np.dtype(dtype)), shape)
