"""Each optimizer's update as ONE scalar function of one element, which every backend compiles:
a Numba loop on the CPU (``backends/cpu/optim_kernels.py``), a CUDA kernel on the GPU
(``backends/cuda/optim_kernels.py``). The optimizers run the same kernels on contiguous copies
of parameters the kernels cannot take in place, so the formulas exist only here.

The formulas are PyTorch's (``torch.optim.SGD``/``Adam``/``AdamW``, single-tensor path).
Scalars are computed in float64 and stored in the arrays' dtype. Division follows IEEE, as
PyTorch: with ``eps=0`` and a zero second moment Adam's step is ``m / 0``, which is nan or
+-inf, never an exception (on every backend and in plain Python alike).

Numba's disk cache validates a kernel by its own source file only: after editing a rule here,
touch ``backends/cpu/optim_kernels.py`` (or clear ``NUMBA_CACHE_DIR``) so its loops recompile.
"""

from __future__ import annotations

import math

__all__ = ["sgd_update", "adam_update", "adam_scalars"]


def sgd_update(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """``(new p, new momentum buffer)`` for one element.

    >>> sgd_update(1.0, 0.5, 0.0, 0.1, 0.9, 0.0, 0.0, False, False, True)
    (0.95, 0.5)
    >>> sgd_update(1.0, 0.5, 0.5, 0.1, 0.9, 0.0, 0.0, True, False, False)  # nesterov
    (0.8645, 0.95)
    """
    d = -g if maximize else g
    if weight_decay != 0.0:
        d = d + weight_decay * p
    b = buf
    if momentum != 0.0:
        b = d if first else momentum * buf + (1.0 - dampening) * d
        d = d + momentum * b if nesterov else b
    return p - lr * d, b


def adam_update(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                maximize, step_size, bc2_sqrt):
    """``(new p, new exp_avg, new exp_avg_sq, new max_exp_avg_sq)`` for one element of Adam
    (``decoupled=False``: ``weight_decay`` is L2 on the gradient) or AdamW (``decoupled=True``:
    the weight decays directly); ``step_size`` and ``bc2_sqrt`` come from :func:`adam_scalars`.

    >>> p, m, v, vmax = adam_update(1.0, 2.0, 0.0, 0.0, 0.0, 0.1, 0.9, 0.999, 1e-8, 0.0,
    ...                             False, False, False, *adam_scalars(0.1, 0.9, 0.999, 1))
    >>> round(p, 6), round(m, 6), round(v, 6)  # the first step moves p by about lr
    (0.9, 0.2, 0.004)
    >>> adam_update(1.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.9, 0.999, 0.0, 0.0, False, False, False,
    ...             1.0, 1.0)[0]  # eps=0 and no gradient yet: 0/0, as PyTorch
    nan
    """
    d = -g if maximize else g
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    elif weight_decay != 0.0:
        d = d + weight_decay * p
    m = m + (1.0 - beta1) * (d - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
    v = beta2 * v + (1.0 - beta2) * d * d
    if not amsgrad or v > vmax:  # without amsgrad the "max" is v itself (its array may be v's)
        vmax = v
    denom = math.sqrt(vmax) / bc2_sqrt + eps
    if denom != 0.0:
        ratio = m / denom
    else:  # IEEE's m / 0, spelled out so plain Python (the CUDA simulator) agrees
        ratio = math.nan if m == 0.0 or m != m else math.copysign(math.inf, m)
    return p - step_size * ratio, m, v, vmax


def adam_scalars(lr: float, beta1: float, beta2: float, step: int) -> tuple[float, float]:
    """``(step_size, sqrt(bias_correction2))`` of Adam step number ``step`` (1-based).

    >>> adam_scalars(0.1, 0.9, 0.999, 1)[0]
    1.0000000000000002
    """
    return lr / (1.0 - beta1 ** step), math.sqrt(1.0 - beta2 ** step)
