"""PyTorch-style ``repr`` of tensors: ``tensor([1., 2.], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

__all__ = ["format_tensor"]

_DEFAULT_DTYPES = ("float32", "int64", "bool")
_THRESHOLD, _EDGE = 1000, 3


def _float_formatter(values: np.ndarray):
    """PyTorch's choice of float layout: integer, fixed (4 decimals) or scientific.

    Only the finite non-zero values decide the layout and the column width; nan/inf/0 follow.
    """
    finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
    int_mode, sci = True, False
    if finite.size:
        mag = np.abs(finite)
        amin, amax = float(mag.min()), float(mag.max())
        int_mode = bool(np.all(finite == np.ceil(finite)))
        sci = amax / amin > 1e3 or amax > 1e8 or (not int_mode and amin < 1e-4)

    def one(v: float) -> str:
        if sci:
            return f"{v:.4e}"
        if int_mode:
            return f"{v:.0f}" if np.isnan(v) or np.isinf(v) else f"{v:.0f}."
        return f"{v:.4f}"

    width = max((len(one(v)) for v in finite), default=1)
    return lambda v: one(v).rjust(width)


def _summarized(data: np.ndarray) -> np.ndarray:
    """The values a summarized repr shows (first and last three along each long dim)."""
    if data.size <= _THRESHOLD:
        return data
    for axis, n in enumerate(data.shape):
        if n > 2 * _EDGE:
            data = np.take(data, np.r_[0:_EDGE, n - _EDGE:n], axis=axis)
    return data


def format_tensor(t) -> str:
    """The text ``repr(t)`` shows."""
    data = t._host()
    kind = data.dtype.kind
    shown = _summarized(data)
    if kind == "f":
        formatter = {"float_kind": _float_formatter(shown)}
    else:  # ints and bools: right-aligned to the widest value shown (" True, False")
        width = max((len(str(v)) for v in shown.flat), default=0)
        formatter = {"int": lambda v: str(v).rjust(width),
                     "bool": lambda v: str(bool(v)).rjust(width)}
    body = np.array2string(
        data, separator=", ", prefix="tensor(", formatter=formatter, threshold=_THRESHOLD,
        edgeitems=_EDGE, max_line_width=80,
    )
    if data.size == 0:
        body = "[]" if data.ndim <= 1 else body
    body = body.replace(", ...,", ",  ...,")  # PyTorch pads the ellipsis like a value
    extras = []
    if t._device.type != "cpu":
        extras.append(f"device='{t._device}'")
    if data.dtype.name not in _DEFAULT_DTYPES or data.size == 0 and kind != "f":
        extras.append(f"dtype=nbgrad.{t.dtype.name}")
    if data.size == 0 and data.ndim > 1:
        extras.append(f"size={tuple(data.shape)}")
    fn = t._grad_fn
    if fn is not None:
        extras.append(f"grad_fn=<{fn.name()}>")
    elif t._requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body, *extras]) + ")"
