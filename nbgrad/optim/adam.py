"""Adam and AdamW."""

from __future__ import annotations

from nbgrad import _dtype
from nbgrad.ops import nn_ops
from nbgrad.ops.creation import tensor, zeros_like
from nbgrad.optim.optimizer import Optimizer, _fused_update
from nbgrad.tensor import Tensor

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam with PyTorch's update rule (bias-corrected moments, optional AMSGrad).

    ``m = beta1 m + (1 - beta1) g``; ``v = beta2 v + (1 - beta2) g^2``;
    ``p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``. ``weight_decay`` adds
    ``weight_decay * p`` to the gradient (L2); ``AdamW`` decays the weights directly instead.
    Each parameter is updated by one fused kernel (on contiguous copies for other layouts).

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0, -1.0]))
    >>> opt = nb.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.tolist()  # the first step moves each weight by about lr, against its gradient
    [0.8999999761581421, -0.8999999761581421]
    """

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, foreach=None, capturable: bool = False,
                 differentiable: bool = False, fused=None) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise NotImplementedError("differentiable=True is not supported")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _update(self, p: Tensor, group: dict) -> None:
        """One Adam(W) update of ``p``, with PyTorch's bias corrections.

        >>> import nbgrad as nb
        >>> w = nb.nn.Parameter(nb.tensor([2.0]))
        >>> opt = nb.optim.Adam([w], lr=0.5)
        >>> for _ in range(2):
        ...     opt.zero_grad()
        ...     (w * w).sum().backward()
        ...     opt.step()
        >>> round(w.item(), 4)  # 2 - 0.5 (step 1), then - 0.5 * 3.4737 / 3.5353 (step 2)
        1.0087
        """
        g = p.grad
        state = self.state.setdefault(p, {})
        amsgrad = group["amsgrad"]
        if not state:
            state["step"] = tensor(0.0, dtype=_dtype.float32)  # a 0-d tensor, as PyTorch's
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
            if amsgrad:
                state["max_exp_avg_sq"] = zeros_like(p)
        step = int(float(state["step"])) + 1
        state["step"] = tensor(float(step), dtype=_dtype.float32)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        vmax = state.get("max_exp_avg_sq") if amsgrad else None
        if amsgrad and vmax is None:
            vmax = state["max_exp_avg_sq"] = zeros_like(p)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, maximize = group["weight_decay"], group["maximize"]
        _fused_update(nn_ops.adam_step_, p, g, (m, v, v if vmax is None else vmax), lr, beta1,
                      beta2, eps, wd, self._decoupled, amsgrad, maximize, step)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step
    (default ``weight_decay=0.01``).

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = nb.zeros(1)  # a zero gradient: only the decay acts
    >>> opt.step()
    >>> round(w.item(), 4)  # 1 - 0.1 * 0.5
    0.95
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach=None, capturable: bool = False,
                 differentiable: bool = False, fused=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused)
