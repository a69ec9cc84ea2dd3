"""Scatter-add on the CPU: ``target.flat[positions[i]] += values[i]`` as a Numba loop.

Replaces ``np.add.at``, whose generic indexing machinery costs ~0.1-0.4 ms a call on the sizes
a training step scatters (an embedding's or an indexing op's gradient), where the loop takes a
few microseconds. Repeated positions accumulate in order, as ``np.add.at`` does.
"""

from __future__ import annotations

import numpy as np

from nbgrad.backends._jit import kernel

__all__ = ["scatter_flat"]


@kernel
def _scatter_flat(target, positions, values):
    for i in range(positions.shape[0]):
        target[positions[i]] += values[i]


def scatter_flat(target: np.ndarray, positions: np.ndarray, values) -> None:
    """Add ``values`` (broadcast to ``positions``' shape, cast to ``target``'s dtype) into the
    elements of ``target`` at the flat C-order ``positions``, accumulating repeats.

    >>> t = np.zeros((2, 2))
    >>> scatter_flat(t, np.array([3, 0, 3]), np.array([1.0, 2.0, 3.0]))
    >>> t.tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    if not positions.size:
        return
    vals = np.broadcast_to(np.asarray(values, dtype=target.dtype), positions.shape)
    flat = target.reshape(-1) if target.flags.c_contiguous else None
    if flat is None or target.dtype.kind not in "fiu" or target.dtype.itemsize < 4:
        np.add.at(target.reshape(-1) if flat is not None else target,
                  positions if flat is not None else np.unravel_index(positions, target.shape),
                  vals)
        return
    _scatter_flat(flat, np.ascontiguousarray(positions, dtype=np.int64).reshape(-1),
                  np.ascontiguousarray(vals).reshape(-1))
