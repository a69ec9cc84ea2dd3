"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from nbgrad.ops import nn_ops
from nbgrad.ops.creation import empty_like
from nbgrad.optim.optimizer import Optimizer, _fused_update
from nbgrad.tensor import Tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD with PyTorch's update rule.

    With ``g = grad (+ weight_decay * p)``: ``buf = g`` on the first step, then
    ``buf = momentum * buf + (1 - dampening) * g``; the step direction is ``buf`` (or
    ``g + momentum * buf`` with ``nesterov``); ``p -= lr * direction``. The whole update runs
    as one fused kernel per parameter (on contiguous copies for other layouts).

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0, 2.0]))
    >>> opt = nb.optim.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([0.8000, 1.6000], requires_grad=True)
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if differentiable:
            raise NotImplementedError("differentiable=True is not supported")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p: Tensor, group: dict) -> None:
        """One SGD update of ``p`` (momentum, dampening, Nesterov, weight decay as PyTorch).

        >>> import nbgrad as nb
        >>> w = nb.nn.Parameter(nb.tensor([1.0]))
        >>> opt = nb.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     w.sum().backward()  # gradient 1
        ...     opt.step()
        >>> round(w.item(), 4)  # 1 - 0.1 * 1 - 0.1 * (0.9 * 1 + 1)
        0.71
        """
        g = p.grad
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        state = self.state.setdefault(p, {})
        buf = state.get("momentum_buffer")
        first = momentum != 0 and buf is None
        if first:
            buf = state["momentum_buffer"] = empty_like(p)
        _fused_update(nn_ops.sgd_step_, p, g, (g if buf is None else buf,), lr, momentum,
                      dampening, wd, nesterov, maximize, first)
