"""``allclose``: whether two tensors are equal within a tolerance (PyTorch's rule)."""

from __future__ import annotations

import numpy as np

from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.tensor import Tensor

__all__ = ["allclose"]


@register(function=True, method=True, doc=Doc(
    "Comparisons", "same dtype on both sides; the result is a Python bool", "none"))
def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True when ``|input - other| <= atol + rtol * |other|`` for every element (broadcasting);
    infinities must match exactly, and NaNs count as equal only with ``equal_nan=True``.
    Both tensors need the same dtype, as in PyTorch.

    >>> import nbgrad as nb
    >>> nb.allclose(nb.tensor([1.0, 2.0]), nb.tensor([1.0, 2.0 + 1e-6]))
    True
    >>> nb.tensor([1.0, float("nan")]).allclose(nb.tensor([1.0, float("nan")]), equal_nan=True)
    True
    """
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError("allclose(): argument 'input' and 'other' must be Tensors, got "
                        f"{type(input).__name__} and {type(other).__name__}")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype.name} did not match {other.dtype.name}")
    if input.device != other.device:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{input.device} and {other.device}!"
        )
    broadcast_shape(input.shape, other.shape, op="allclose")  # shapes that do not broadcast
    a = input.detach()._host().astype(np.float64, copy=False)
    b = other.detach()._host().astype(np.float64, copy=False)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
