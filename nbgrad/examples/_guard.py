"""The examples' non-finite guard: stop training with the name of the first parameter holding
NaN or inf instead of going on (and saving NaN weights)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["first_nonfinite", "check_finite"]


def first_nonfinite(model) -> str | None:
    """The name of the first parameter of ``model`` (a Module, or a dict of named tensors) with
    a NaN or inf value, else None.

    >>> import nbgrad as nb
    >>> from nbgrad.examples._guard import first_nonfinite
    >>> net = nb.nn.Linear(2, 1)
    >>> first_nonfinite(net) is None
    True
    >>> with nb.no_grad():
    ...     _ = net.bias.fill_(float("nan"))
    >>> first_nonfinite(net)
    'bias'
    """
    items = model.items() if isinstance(model, dict) else model.named_parameters()
    for name, p in items:
        if not np.isfinite(p.detach()._host()).all():
            return name
    return None


def check_finite(model, where: str, loss: float | None = None) -> None:
    """Raise ``FloatingPointError`` naming the first non-finite parameter of ``model`` (or the
    loss, if it is not finite) ``where`` training stands."""
    if loss is not None and not math.isfinite(loss):
        raise FloatingPointError(
            f"the loss became {loss} {where}; stopping before the weights are saved "
            "(lower the learning rate, or use nb.autograd.detect_anomaly() to find the op)")
    name = first_nonfinite(model)
    if name is not None:
        raise FloatingPointError(
            f"parameter '{name}' holds non-finite values {where}; stopping before the weights "
            "are saved (lower the learning rate, or use nb.autograd.detect_anomaly())")
