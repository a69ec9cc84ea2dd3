"""Data types of nbgrad tensors and PyTorch's type-promotion rules."""

from __future__ import annotations

import numpy as np

__all__ = ["DType", "float32", "float64", "int32", "int64", "bool_", "as_dtype", "result_type"]

_BOOL, _INT, _FLOAT = 0, 1, 2


class DType:
    """A tensor element type (``nb.float32`` ...), wrapping a numpy dtype.

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).dtype is nb.int64, nb.float64.itemsize, nb.float is nb.float32
    (True, 8, True)
    """

    __slots__ = ("name", "np", "category", "itemsize")

    def __init__(self, name: str, np_dtype: type, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize

    @property
    def is_floating_point(self) -> bool:
        """True for float32 and float64.

        >>> import nbgrad as nb
        >>> nb.float64.is_floating_point, nb.int32.is_floating_point
        (True, False)
        """
        return self.category == _FLOAT

    def __repr__(self) -> str:
        return f"nbgrad.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


float32 = DType("float32", np.float32, _FLOAT)
float64 = DType("float64", np.float64, _FLOAT)
int32 = DType("int32", np.int32, _INT)
int64 = DType("int64", np.int64, _INT)
bool_ = DType("bool", np.bool_, _BOOL)

_ALL = (float32, float64, int32, int64, bool_)
_BY_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"float": float32, "double": float64, "int": int32, "long": int64})
_DEFAULT_FOR_CATEGORY = {_BOOL: bool_, _INT: int64, _FLOAT: float32}
# widening order within a category
_RANK = {bool_: 0, int32: 1, int64: 2, float32: 3, float64: 4}


def as_dtype(spec) -> DType:
    """Turn ``nb.float32``, ``"float32"``, ``np.float32`` or ``float`` into a :class:`DType`."""
    if isinstance(spec, DType):
        return spec
    if spec is float:
        return float32
    if spec is int:
        return int64
    if spec is bool:
        return bool_
    if isinstance(spec, str) and spec in _BY_NAME:
        return _BY_NAME[spec]
    try:
        found = _BY_NP.get(np.dtype(spec))
    except TypeError:
        found = None
    if found is None:
        raise TypeError(
            f"unsupported dtype {spec!r}: nbgrad supports float32, float64, int32, int64 and bool"
        )
    return found


def from_numpy_dtype(np_dtype: np.dtype) -> DType:
    """The DType matching a numpy dtype, with a clear error for unsupported ones."""
    found = _BY_NP.get(np_dtype)
    if found is None:
        return as_dtype(np_dtype)
    return found


def scalar_dtype(value) -> DType:
    """The dtype PyTorch gives a lone Python scalar (bool, int64, float32 default)."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return float32


def promote(a: DType, b: DType) -> DType:
    """The smallest dtype both ``a`` and ``b`` convert to safely."""
    return a if _RANK[a] >= _RANK[b] else b


def result_type(*operands) -> DType:
    """PyTorch's promotion for tensors (as ``(dtype, ndim)`` pairs) and Python scalars.

    Dimensioned tensors take precedence over zero-dim tensors, which take precedence over
    Python scalars -- unless a lower-priority operand belongs to a higher category
    (bool < integer < floating), in which case that category's dtype wins.
    """
    levels: list[DType | None] = [None, None, None]  # dimensioned, zero-dim, scalar
    for op in operands:
        if isinstance(op, tuple):
            dt, ndim = op
            slot = 0 if ndim else 1
        else:
            dt, slot = scalar_dtype(op), 2
        cur = levels[slot]
        levels[slot] = dt if cur is None else promote(cur, dt)
    result = None
    for slot, dt in enumerate(levels):
        if dt is None:
            continue
        if result is None:
            result = dt
        elif dt.category > result.category:
            result = _DEFAULT_FOR_CATEGORY[dt.category] if slot == 2 else dt
    assert result is not None
    return result
