"""Top-level functional forms (``nb.exp(x)``, ``nb.matmul(a, b)``, ...)."""

from __future__ import annotations

from nbgrad.ops import elementwise as _ew
from nbgrad.ops.elementwise import clamp, where
from nbgrad.ops.indexing import gather, index_select, masked_fill, scatter_add, take_along_dim
from nbgrad.ops.join import (
    cat,
    chunk,
    concat,
    concatenate,
    flip,
    split,
    stack,
    tril,
    triu,
    unbind,
)
from nbgrad.ops.linalg import bmm, dot, matmul, mm, outer
from nbgrad.ops.reduce import (  # noqa: A004
    amax,
    amin,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
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

# the op library: elementwise binaries, reductions, linear algebra, copying ops
__all__ += [
    "maximum", "minimum", "floor_divide", "remainder", "atan2", "clamp_min", "clamp_max",
    "clamp", "clip", "where", "prod", "var", "std", "var_mean", "std_mean", "amax", "amin",
    "max", "min", "argmax", "argmin", "logsumexp", "norm", "mm", "bmm", "dot", "outer",
    "gather", "scatter_add", "index_select", "masked_fill", "take_along_dim", "cat", "concat",
    "concatenate", "stack", "split", "chunk", "unbind", "flip", "tril", "triu",
]
maximum, minimum, floor_divide, remainder, atan2, clamp_min, clamp_max = (
    _ew.binary(n) for n in ("maximum", "minimum", "floor_divide", "remainder", "atan2",
                            "clamp_min", "clamp_max")
)
clip = clamp
