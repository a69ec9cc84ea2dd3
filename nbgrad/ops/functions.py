"""Top-level functional forms (``nb.exp(x)``, ``nb.matmul(a, b)``, ...)."""

from __future__ import annotations

from nbgrad.ops import elementwise as _ew
from nbgrad.ops.linalg import matmul
from nbgrad.ops.reduce import mean, sum  # noqa: A004
from nbgrad.ops.shape import (
    clone,
    flatten,
    narrow,
    permute,
    reshape,
    squeeze,
    t,
    transpose,
    unsqueeze,
)

__all__ = [
    "matmul", "mean", "sum", "clone", "flatten", "narrow", "permute", "reshape", "squeeze",
    "t", "transpose", "unsqueeze", "add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le",
    "gt", "ge", *_ew.UNARY,
]

add, sub, mul, div, pow = (_ew.binary(n) for n in ("add", "sub", "mul", "div", "pow"))  # noqa: A001
eq, ne, lt, le, gt, ge = (_ew.binary(n) for n in ("eq", "ne", "lt", "le", "gt", "ge"))
globals().update({name: _ew.unary(name) for name in _ew.UNARY})
