"""BLAS thread count chosen per call size.

numpy's OpenBLAS runs every product big enough for it on all its threads. For the small
products of a training step (a few MFLOP: a transformer's or an RNN's layers) waking and
joining the second thread costs more than it saves, and on a loaded machine a worker that has
been descheduled stalls the call for a whole scheduler slice (measured here: a 512x256 @ 256x64
product 0.8 ms on one thread, 4 ms on two while other jobs ran). Products under
``SERIAL_FLOPS`` therefore run on one BLAS thread; bigger ones on OpenBLAS's own count.

The count is OpenBLAS's process-wide setting, switched only when a call of the other kind
comes (one C call, ~0.3 us). nbgrad finds numpy's OpenBLAS among the libraries loaded in the
process (``/proc/self/maps``); without it (another BLAS, another OS) nothing is changed.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

__all__ = ["matmul", "SERIAL_FLOPS"]

SERIAL_FLOPS = 1 << 23
"""Products of fewer floating-point operations (2 m n k) run on one BLAS thread."""

_SYMBOLS = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
            ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
            ("openblas_set_num_threads", "openblas_get_num_threads"))


def _find_openblas():
    """(set_num_threads, its default count) of the OpenBLAS numpy loaded, or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _SYMBOLS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter = getattr(lib, set_name)
                setter.argtypes = [ctypes.c_int]
                setter.restype = None
                return setter, int(getattr(lib, get_name)())
    return None


class _Threads:
    """The BLAS thread count in force: ``serial()`` before a small product, ``wide()`` before
    a big one (each a no-op when the count is already right)."""

    def __init__(self) -> None:
        found = _find_openblas()
        self.set, self.default = found if found is not None else (None, 1)
        self.is_serial = False
        self.lock = threading.Lock()

    def serial(self) -> None:
        if not self.is_serial and self.set is not None and self.default > 1:
            with self.lock:
                self.set(1)
                self.is_serial = True

    def wide(self) -> None:
        if self.is_serial:
            with self.lock:
                self.set(self.default)
                self.is_serial = False


_threads = _Threads()


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)`` on one BLAS thread when it is small (fewer than ``SERIAL_FLOPS``).

    >>> matmul(np.ones((2, 3)), np.ones((3, 4))).tolist()[0]
    [3.0, 3.0, 3.0, 3.0]
    """
    if a.ndim >= 2 and b.ndim >= 2:
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        stack = max(a.size // max(1, m * k), b.size // max(1, k * n))  # broadcast batch
        if 2 * stack * m * k * n < SERIAL_FLOPS:
            _threads.serial()
        else:
            _threads.wide()
    return np.matmul(a, b)
