"""Top-level functional forms (``nb.exp(x)``, ``nb.matmul(a, b)``, ...): every function
declared in the op registry (``ops/_register.py``), once each op module has declared its own."""

from __future__ import annotations

from nbgrad.ops import (  # noqa: F401  (importing an op module declares its public names)
    conv,
    creation,
    device,
    elementwise,
    indexing,
    inplace_views,
    interop,
    join,
    linalg,
    pooling,
    random,
    reduce,
    resample,
    scan,
    shape,
    sorting,
)
from nbgrad.ops._register import functions as _functions

globals().update(_functions())
__all__ = list(_functions())
