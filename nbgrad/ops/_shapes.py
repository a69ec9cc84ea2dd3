"""Shape arguments: parsing ``f(2, 3)`` / ``f((2, 3))`` and broadcasting shapes together."""

from __future__ import annotations

import numpy as np

from nbgrad.errors import ShapeError

__all__ = ["parse_shape", "broadcast_shape"]


def parse_shape(args) -> tuple[int, ...]:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``.

    >>> from nbgrad.ops._shapes import parse_shape
    >>> parse_shape((2, 3)), parse_shape(([2, 3],))
    ((2, 3), (2, 3))
    """
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for a in args:
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"shape entries must be integers, got {type(a).__name__} in {args}")
    return tuple(int(a) for a in args)


def broadcast_shape(*shapes, op: str | None = None) -> tuple[int, ...] | None:
    """The shape ``shapes`` broadcast to; when they do not broadcast together: None, or, when
    ``op`` names the op, a :class:`~nbgrad.errors.ShapeError` saying so.

    >>> from nbgrad.ops._shapes import broadcast_shape
    >>> broadcast_shape((3, 1), (4,)), broadcast_shape((2,), (3,))
    ((3, 4), None)
    >>> broadcast_shape((2,), (3,), op="add")
    Traceback (most recent call last):
    nbgrad.errors.ShapeError: add: shapes (2,) and (3,) cannot be broadcast together
    """
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        if op is None:
            return None
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(f"{op}: shapes {listed} cannot be broadcast together") from None
