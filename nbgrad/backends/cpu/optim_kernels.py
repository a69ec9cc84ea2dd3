"""Fused optimizer updates on the CPU: one pass over a parameter, its gradient and its state
arrays, each element through the optimizer's scalar function of
:mod:`nbgrad.backends._optim_rules` (numpy's error model, inlined into the loop)."""

from __future__ import annotations

from nbgrad.backends import _optim_rules as rules
from nbgrad.backends._jit import kernel, scalar

__all__ = ["sgd_step", "adam_step"]

_sgd_update = scalar(rules.sgd_update, inline=True)
_adam_update = scalar(rules.adam_update, inline=True)


# Each loop stores only the state its update keeps: the momentum buffer with momentum, the
# running maximum with amsgrad (otherwise their arrays are placeholders, possibly the gradient's
# or the second moment's own).
@kernel
def _sgd(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    for i in range(p.shape[0]):
        pi, bi = _sgd_update(p[i], g[i], buf[i], lr, momentum, dampening, weight_decay, nesterov,
                             maximize, first)
        p[i] = pi
        if momentum != 0.0:
            buf[i] = bi


@kernel
def _adam(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad, maximize,
          step_size, bc2_sqrt):
    for i in range(p.shape[0]):
        pi, mi, vi, xi = _adam_update(p[i], g[i], m[i], v[i], vmax[i], lr, beta1, beta2, eps,
                                      weight_decay, decoupled, amsgrad, maximize, step_size,
                                      bc2_sqrt)
        p[i] = pi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vmax[i] = xi


def _flat(a):
    return a.reshape(-1)


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """SGD with momentum/dampening/nesterov/weight decay on C-contiguous arrays, in place.

    >>> import numpy as np
    >>> p, g = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    >>> sgd_step(p, g, g, 0.5, 0.0, 0.0, 0.0, False, False, False)
    >>> p.tolist()
    [0.5, 2.5]
    """
    if p.size:
        _sgd(_flat(p), _flat(g), _flat(buf), lr, momentum, dampening, weight_decay, nesterov,
             maximize, first)


def adam_step(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
              maximize, step):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) step number ``step``, in place.

    >>> import numpy as np
    >>> p, g, m, v = np.array([1.0]), np.array([2.0]), np.zeros(1), np.zeros(1)
    >>> adam_step(p, g, m, v, v, 0.1, 0.9, 0.999, 1e-8, 0.0, False, False, False, 1)
    >>> round(float(p[0]), 6), round(float(m[0]), 6)
    (0.9, 0.2)
    """
    step_size, bc2_sqrt = rules.adam_scalars(lr, beta1, beta2, step)
    if p.size:
        _adam(_flat(p), _flat(g), _flat(m), _flat(v), _flat(vmax), lr, beta1, beta2, eps,
              weight_decay, decoupled, amsgrad, maximize, step_size, bc2_sqrt)
