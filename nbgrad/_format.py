"""PyTorch-style ``repr`` of tensors: ``tensor([1., 2.], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

__all__ = ["format_tensor"]

_DEFAULT_DTYPES = ("float32", "int64", "bool")


def _float_formatter(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        fmt = "{:.0f}."
    else:
        amax = float(np.abs(finite).max())
        nonzero = np.abs(finite[finite != 0])
        amin = float(nonzero.min()) if nonzero.size else 0.0
        if np.all(finite == np.round(finite)) and amax < 1e8:
            fmt = "{:.0f}."
        elif amax >= 1e8 or (amin and amin < 1e-4) or (amin and amax / amin > 1e3):
            fmt = "{:.4e}"
        else:
            fmt = "{:.4f}"

    def one(v: float) -> str:
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = fmt.format(v)
        return text.replace(".e", "e") if fmt == "{:.0f}." else text

    width = max((len(one(v)) for v in values.flat), default=0)
    return lambda v: one(v).rjust(width)


def format_tensor(t) -> str:
    """The text ``repr(t)`` shows."""
    data = t._host()
    kind = data.dtype.kind
    if kind == "f":
        formatter = {"float_kind": _float_formatter(data)}
    elif kind == "b":
        formatter = {"bool": lambda v: "True" if v else "False"}
    else:
        width = max((len(str(v)) for v in data.flat), default=0)
        formatter = {"int": lambda v: str(v).rjust(width)}
    body = np.array2string(
        data, separator=", ", prefix="tensor(", formatter=formatter, threshold=1000, edgeitems=3,
        max_line_width=80,
    )
    if data.size == 0:
        body = "[]" if data.ndim <= 1 else body
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
