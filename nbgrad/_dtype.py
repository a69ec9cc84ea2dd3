"""Data types of nbgrad tensors and PyTorch's type-promotion rules."""

from __future__ import annotations

import numpy as np

__all__ = [
    "DType", "float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool_",
    "as_dtype", "result_type",
]

_BOOL, _INT, _FLOAT = 0, 1, 2


class DType:
    """A tensor element type (``nb.float32`` ...), wrapping a numpy dtype.

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).dtype is nb.int64, nb.float64.itemsize, nb.float is nb.float32
    (True, 8, True)
    """

    __slots__ = ("name", "np", "category", "itemsize", "legacy")

    def __init__(self, name: str, np_dtype: type, category: int, legacy: str) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category
        self.itemsize = self.np.itemsize
        self.legacy = legacy  # PyTorch's tensor type name: "Float" for torch.FloatTensor

    @property
    def is_signed(self) -> bool:
        """False for uint8 and bool.

        >>> import nbgrad as nb
        >>> nb.uint8.is_signed, nb.int8.is_signed, nb.float16.is_signed
        (False, True, True)
        """
        return self.np.kind in "if"

    @property
    def is_floating_point(self) -> bool:
        """True for float16, float32 and float64.

        >>> import nbgrad as nb
        >>> nb.float64.is_floating_point, nb.int32.is_floating_point
        (True, False)
        """
        return self.category == _FLOAT

    def __repr__(self) -> str:
        return f"nbgrad.{self.name}"

    def __reduce__(self):
        return (as_dtype, (self.name,))


# float16 is stored as such; its arithmetic runs in float32 (numpy and Numba have no float16
# arithmetic on the CPU) and rounds back to float16. bfloat16 is not supported: numpy has no such
# type (docs/coming_from_pytorch.md).
float16 = DType("float16", np.float16, _FLOAT, "Half")
float32 = DType("float32", np.float32, _FLOAT, "Float")
float64 = DType("float64", np.float64, _FLOAT, "Double")
uint8 = DType("uint8", np.uint8, _INT, "Byte")
int8 = DType("int8", np.int8, _INT, "Char")
int16 = DType("int16", np.int16, _INT, "Short")
int32 = DType("int32", np.int32, _INT, "Int")
int64 = DType("int64", np.int64, _INT, "Long")
bool_ = DType("bool", np.bool_, _BOOL, "Bool")

_ALL = (float16, float32, float64, uint8, int8, int16, int32, int64, bool_)
_BY_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"float": float32, "double": float64, "half": float16, "int": int32,
                 "long": int64, "short": int16})
_DEFAULT_FOR_CATEGORY = {_BOOL: bool_, _INT: int64, _FLOAT: float32}


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
        hint = (" (numpy has no bfloat16 type: use float16 or float32)"
                if "bfloat16" in str(spec) else "")
        raise TypeError(
            f"unsupported dtype {spec!r}: nbgrad supports float16, float32, float64, uint8, int8, "
            f"int16, int32, int64 and bool{hint}"
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
    """PyTorch's promotion of two tensor dtypes: the higher category wins (an integer with
    float16 gives float16); within a category the smallest dtype holding both (uint8 with int8
    gives int16).

    >>> from nbgrad import _dtype as d
    >>> d.promote(d.uint8, d.int8), d.promote(d.int64, d.float16), d.promote(d.int32, d.int64)
    (nbgrad.int16, nbgrad.float16, nbgrad.int64)
    """
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return _BY_NP[np.promote_types(a.np, b.np)]


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
