"""Fused optimizer updates: one pass over a parameter, its gradient and its state arrays.

The formulas are PyTorch's (``torch.optim.SGD``/``Adam``/``AdamW``, single-tensor path), applied
element by element in place; scalars are computed in float64 and stored in the arrays' dtype.
"""

from __future__ import annotations

import math

from nbgrad.backends._jit import kernel

__all__ = ["sgd_step", "adam_step"]


@kernel
def _sgd(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    for i in range(p.shape[0]):
        d = -g[i] if maximize else g[i]
        if weight_decay != 0.0:
            d += weight_decay * p[i]
        if momentum != 0.0:
            b = d if first else momentum * buf[i] + (1.0 - dampening) * d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


@kernel
def _adam(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
          step_size, bc2_sqrt):
    for i in range(p.shape[0]):
        d = -g[i] if maximize else g[i]
        if decoupled:
            p[i] *= 1.0 - lr * weight_decay
        elif weight_decay != 0.0:
            d += weight_decay * p[i]
        mi = m[i] + (1.0 - beta1) * (d - m[i])  # torch: exp_avg.lerp_(grad, 1 - beta1)
        vi = beta2 * v[i] + (1.0 - beta2) * d * d
        m[i] = mi
        v[i] = vi
        if amsgrad:
            if vi > vmax[i]:
                vmax[i] = vi
            vi = vmax[i]
        denom = math.sqrt(vi) / bc2_sqrt + eps
        if denom != 0.0:
            p[i] -= step_size * (mi / denom)
        else:  # eps=0 and a zero second moment: IEEE results, as PyTorch (no exception)
            p[i] -= step_size * (math.nan if mi == 0.0 else math.copysign(math.inf, mi))


def _flat(a):
    return a.reshape(-1)


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """SGD with momentum/dampening/nesterov/weight decay on C-contiguous arrays, in place."""
    if p.size:
        _sgd(_flat(p), _flat(g), _flat(buf), lr, momentum, dampening, weight_decay, nesterov,
             maximize, first)


def adam_step(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
              maximize, step):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) step number ``step``, in place."""
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    if p.size:
        _adam(_flat(p), _flat(g), _flat(m), _flat(v), _flat(vmax), lr, beta1, beta2, eps,
              weight_decay, decoupled, amsgrad, maximize, step_size, bc2_sqrt)
