"""Copying kernels for the CPU backend: gather/scatter along a dim, joins, flips, triangles.

Plain numpy on host arrays; callers validate shapes, dtypes and index ranges first.
"""

from __future__ import annotations

import numpy as np

from nbgrad.backends.cpu.scatter import scatter_flat

__all__ = [
    "gather", "scatter_add", "concatenate", "flip", "tril", "triu", "index_bounds", "any_true",
]


def gather(x: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` (for ``dim == 1``); shapes agree off ``dim``."""
    return np.take_along_axis(x, index, axis=dim)


def _scatter_index(dim: int, index: np.ndarray) -> tuple:
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def scatter_add(out: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray) -> None:
    """``out[i][index[i][j][k]][k] += src[i][j][k]`` in place, accumulating repeated indices."""
    if index.size:
        if src.shape != index.shape:  # only the part of src that index covers is added
            src = src[tuple(slice(0, n) for n in index.shape)]
        positions = np.arange(out.size, dtype=np.int64).reshape(out.shape)[
            _scatter_index(dim, index)]
        scatter_flat(out, positions, src)


def concatenate(arrays, dim: int, dtype: np.dtype) -> np.ndarray:
    """Join ``arrays`` along ``dim`` into a new array of ``dtype``."""
    return np.concatenate(arrays, axis=dim, dtype=dtype, casting="unsafe")


def flip(x: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
    """A contiguous copy of ``x`` reversed along ``dims``."""
    return np.ascontiguousarray(np.flip(x, dims))


def tril(x: np.ndarray, k: int) -> np.ndarray:
    """Lower triangle of the last two dims (elements above diagonal ``k`` zeroed), a copy."""
    return np.tril(x, k)


def triu(x: np.ndarray, k: int) -> np.ndarray:
    """Upper triangle of the last two dims (elements below diagonal ``k`` zeroed), a copy."""
    return np.triu(x, k)


def index_bounds(index: np.ndarray) -> tuple[int, int]:
    """``(min, max)`` of a non-empty integer array, as Python ints."""
    return int(index.min()), int(index.max())


def any_true(x: np.ndarray) -> bool:
    """Whether any element is nonzero."""
    return bool(x.any())
