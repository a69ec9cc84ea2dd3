"""Gradient clipping: ``clip_grad_norm_``, ``clip_grad_value_``, ``get_total_norm``,
``clip_grads_with_norm_`` (PyTorch's ``torch.nn.utils.clip_grad``)."""

from __future__ import annotations

import math

from nbgrad.grad_mode import no_grad
from nbgrad.ops import functions as _f
from nbgrad.ops.creation import tensor
from nbgrad.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _params(parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together (as if concatenated).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils import get_total_norm
    >>> get_total_norm([nb.tensor([3.0]), nb.tensor([4.0])])
    tensor(5.)
    """
    ts = [t for t in _params(tensors) if t is not None]
    norm_type = float(norm_type)
    if not ts:
        return tensor(0.0)
    with no_grad():
        norms = _f.stack([t.detach().norm(p=norm_type).to(ts[0].dtype) for t in ts])
        total = norms.amax() if norm_type == math.inf else norms.norm(p=norm_type)
    if error_if_nonfinite and not math.isfinite(float(total.item())):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients by ``max_norm / (total_norm + 1e-6)`` when that is below 1.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils import clip_grads_with_norm_
    >>> p = nb.nn.Parameter(nb.zeros(2)); p.grad = nb.tensor([3.0, 4.0])
    >>> clip_grads_with_norm_([p], 1.0, nb.tensor(5.0)); p.grad
    tensor([0.6000, 0.8000])
    """
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    coef = float(max_norm) / (float(total_norm.item()) + 1e-6)
    coef = min(coef, 1.0)
    with no_grad():
        for g in grads:
            g.mul_(coef)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients of ``parameters`` in place so that their total ``norm_type``-norm
    (``inf`` for the max) is at most ``max_norm``; returns the norm before clipping.
    ``foreach`` is accepted (one loop serves every case here).

    >>> import nbgrad as nb
    >>> p = nb.nn.Parameter(nb.zeros(2)); p.grad = nb.tensor([3.0, 4.0])
    >>> nb.nn.utils.clip_grad_norm_([p], max_norm=1.0), p.grad
    (tensor(5.), tensor([0.6000, 0.8000]))
    """
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`clip_grad_norm_` (as in PyTorch).

    >>> import nbgrad as nb
    >>> p = nb.nn.Parameter(nb.zeros(1)); p.grad = nb.tensor([2.0])
    >>> nb.nn.utils.clip_grad_norm([p], 1.0)
    tensor(2.)
    """
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient into ``[-clip_value, clip_value]`` in place.

    >>> import nbgrad as nb
    >>> p = nb.nn.Parameter(nb.zeros(2)); p.grad = nb.tensor([-3.0, 0.5])
    >>> nb.nn.utils.clip_grad_value_([p], 1.0); p.grad
    tensor([-1.0000,  0.5000])
    """
    clip_value = float(clip_value)
    with no_grad():
        for p in _params(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)
