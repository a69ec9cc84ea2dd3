"""Fused optimizer updates on the GPU: one grid-stride pass over a parameter, its gradient and
its state arrays, with the formulas of ``nbgrad.backends.cpu.optim_kernels`` (PyTorch's)."""

from __future__ import annotations

import math

from numba import cuda

from nbgrad.backends.cuda._runtime import CudaArray, grid_1d, launch

__all__ = ["sgd_step", "adam_step"]


@cuda.jit
def _sgd(p, p0, g, g0, buf, b0, n, lr, momentum, dampening, weight_decay, nesterov, maximize,
         first):
    i = cuda.grid(1)
    while i < n:
        d = -g[g0 + i] if maximize else g[g0 + i]
        if weight_decay != 0.0:
            d += weight_decay * p[p0 + i]
        if momentum != 0.0:
            b = d if first else momentum * buf[b0 + i] + (1.0 - dampening) * d
            buf[b0 + i] = b
            d = d + momentum * b if nesterov else b
        p[p0 + i] -= lr * d
        i += cuda.gridsize(1)


@cuda.jit
def _adam(p, p0, g, g0, m, m0, v, v0, vmax, x0, n, lr, beta1, beta2, eps, weight_decay,
          decoupled, amsgrad, maximize, step_size, bc2_sqrt):
    i = cuda.grid(1)
    while i < n:
        d = -g[g0 + i] if maximize else g[g0 + i]
        if decoupled:
            p[p0 + i] *= 1.0 - lr * weight_decay
        elif weight_decay != 0.0:
            d += weight_decay * p[p0 + i]
        mi = m[m0 + i] + (1.0 - beta1) * (d - m[m0 + i])
        vi = beta2 * v[v0 + i] + (1.0 - beta2) * d * d
        m[m0 + i] = mi
        v[v0 + i] = vi
        if amsgrad:
            if vi > vmax[x0 + i]:
                vmax[x0 + i] = vi
            vi = vmax[x0 + i]
        p[p0 + i] -= step_size * (mi / (math.sqrt(vi) / bc2_sqrt + eps))
        i += cuda.gridsize(1)


def _flat(*arrays: CudaArray) -> list:
    out = []
    for a in arrays:
        if not a.contiguous:
            raise ValueError("fused optimizer updates need contiguous parameters and states")
        out += [a.buf, a.offset]
    return out


def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, first):
    """SGD with momentum/dampening/nesterov/weight decay on contiguous arrays, in place."""
    if p.size:
        blocks, threads = grid_1d(p.size)
        launch(_sgd, blocks, threads, [*_flat(p, g, buf), p.size, lr, momentum, dampening,
                                       weight_decay, nesterov, maximize, first])


def adam_step(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
              maximize, step):
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) step ``step`` (1-based), in
    place."""
    step_size = lr / (1.0 - beta1 ** step)
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    if p.size:
        blocks, threads = grid_1d(p.size)
        launch(_adam, blocks, threads, [*_flat(p, g, m, v, vmax), p.size, lr, beta1, beta2, eps,
                                        weight_decay, decoupled, amsgrad, maximize, step_size,
                                        bc2_sqrt])
