"""Reuse of big output arrays whose last user let go of them.

A fresh multi-megabyte ``np.empty`` is faulted in page by page on its first write, and glibc hands
the memory back to the system when it is freed at the top of the heap, so a loop that allocates
and drops the same big arrays every step (a training step, a loss and its gradient) pays the page
faults every time: 4 MB cost ~1.4 ms to fault in here, ten times the kernel that fills them. An
array handed out before and since released by every tensor, view and saved tensor is already
mapped. An array is free again exactly when the pool holds the only reference to it (every numpy
view keeps its base alive, so views count too).
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

__all__ = ["BufferPool", "POOL", "empty"]


class BufferPool:
    """Big arrays (at least ``MIN_BYTES``), a few per (shape, dtype), ``limit`` bytes in all."""

    MIN_BYTES = 1 << 20

    def __init__(self, limit: int = 128 << 20, per_key: int = 4) -> None:
        self.limit = limit
        self.per_key = per_key
        self.buckets: dict = {}
        self.total = 0
        self.lock = threading.Lock()

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised C-contiguous array, reused when one of this shape and dtype is free."""
        dtype = np.dtype(dtype)
        shape = tuple(shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return np.empty(shape, dtype)
        key = (shape, dtype)
        with self.lock:
            bucket = self.buckets.get(key)
            if bucket is not None:
                for arr in bucket:
                    # references: the bucket, the loop variable and getrefcount's argument
                    if sys.getrefcount(arr) == 3:
                        return arr
            arr = np.empty(shape, dtype)
            if bucket is None:
                bucket = self.buckets[key] = []
            if len(bucket) < self.per_key and self.total + nbytes <= self.limit:
                bucket.append(arr)
                self.total += nbytes
            return arr

    def clear(self) -> None:
        """Forget every pooled array (their memory goes when their last user lets go)."""
        with self.lock:
            self.buckets.clear()
            self.total = 0


POOL = BufferPool()


def empty(shape: tuple, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, reusing a released big array of the same shape and dtype."""
    return POOL.empty(shape, dtype)
