"""Reuse of big output arrays whose last user let go of them.

A fresh multi-megabyte ``np.empty`` is faulted in page by page on its first write, and glibc hands
the memory back to the system when it is freed at the top of the heap, so a loop that allocates
and drops the same big arrays every step (a training step, a loss and its gradient) pays the page
faults every time: 4 MB cost ~1.4 ms to fault in here, ten times the kernel that fills them.

The pool owns big raw buffers (anonymous ``mmap`` memory, page-aligned) and records who holds
each one. It hands a buffer out as a fresh array whose numpy base is the ``mmap`` (not an array),
so every view, slice or reshape of what it handed out keeps that array alive (numpy collapses a
view's base only through arrays). A weak reference to the handed-out array is the ownership
record: its callback returns the buffer to the free list exactly when the array and every view
of it are gone, so a buffer still referenced anywhere is never handed out twice.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import os
import sys
import threading
import weakref
from collections import deque

import numpy as np

__all__ = ["BufferPool", "POOL", "empty"]


class BufferPool:
    """Big buffers (at least ``MIN_BYTES``), at most ``per_key`` per byte size and ``limit``
    bytes in all.

    >>> pool = BufferPool()
    >>> a = pool.empty((1024, 1024), np.float32)
    >>> address = a.ctypes.data
    >>> pool.empty((1024, 1024), np.float32).ctypes.data == address  # a is alive: another one
    False
    >>> del a
    >>> pool.empty((1024, 1024), np.float32).ctypes.data == address  # released: reused
    True
    """

    MIN_BYTES = 1 << 20

    def __init__(self, limit: int = 128 << 20, per_key: int = 4) -> None:
        self.limit = limit
        self.per_key = per_key
        self.owned: dict = {}  # byte size -> how many buffers of that size the pool owns
        self.free: dict = {}  # byte size -> deque of buffers no array refers to
        self.total = 0
        self.lock = threading.Lock()
        self.held: dict = {}  # id(weak ref) -> (the ref, its buffer, its free list)

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        """An uninitialised C-contiguous array, on a released buffer of its size when there is
        one."""
        dtype = np.dtype(dtype)
        shape = tuple(shape)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.MIN_BYTES:
            return np.empty(shape, dtype)
        with self.lock:
            free = self.free.get(nbytes)
            if free is None:
                free = self.free[nbytes] = deque()
            try:
                raw = free.pop()  # the most recently released: still warm in cache
            except IndexError:
                owned = self.owned.get(nbytes, 0)
                if owned >= self.per_key or self.total + nbytes > self.limit:
                    return np.empty(shape, dtype)
                raw = _anonymous_memory(nbytes)
                self.owned[nbytes] = owned + 1
                self.total += nbytes
        arr = np.ndarray(shape, dtype, buffer=raw)
        ref = weakref.ref(arr, self._release)
        self.held[id(ref)] = (ref, raw, free)
        return arr

    def _release(self, ref: weakref.ref) -> None:
        """The last array on a buffer is gone: the buffer is free again. ``dict.pop`` and
        ``deque.append`` are atomic, so this takes no lock (it may run inside a collection)."""
        _, raw, free = self.held.pop(id(ref))
        free.append(raw)

    def clear(self) -> None:
        """Forget every pooled buffer (memory still in use goes when its last user lets go)."""
        with self.lock:
            self.owned.clear()
            self.free = {}
            self.total = 0


def _anonymous_memory(nbytes: int) -> mmap.mmap:
    """``nbytes`` of page-aligned anonymous memory, on huge pages where the kernel allows (numpy
    asks the same for its big arrays: fewer page faults and TLB misses)."""
    raw = mmap.mmap(-1, nbytes)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            raw.madvise(mmap.MADV_HUGEPAGE)
        except OSError:  # pragma: no cover - a kernel without transparent huge pages
            pass
    return raw


POOL = BufferPool()

# Mid-size arrays (128 KiB - 1 MiB: a transformer's activations) are below the pool's size,
# and glibc serves each from a fresh mmap (its threshold starts at 128 KiB) or trims the heap
# top after a free, so a training step faulted ~1100 pages back in every step (measured on T1).
# Raising the mmap threshold to 16 MiB and the trim threshold to 64 MiB keeps that memory in
# the heap for reuse (at most 64 MiB of freed memory is kept from the system). Set
# NBGRAD_MALLOC_TUNING=0 to leave glibc's defaults.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _tune_malloc() -> bool:
    """Apply the thresholds above (glibc on Linux only); whether they were set."""
    if not sys.platform.startswith("linux") or os.environ.get("NBGRAD_MALLOC_TUNING") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 16 << 20)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 64 << 20))


MALLOC_TUNED = _tune_malloc()


def empty(shape: tuple, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)``, reusing a released big buffer of the same size.

    >>> empty((2, 3), np.float64).shape
    (2, 3)
    """
    return POOL.empty(shape, dtype)
