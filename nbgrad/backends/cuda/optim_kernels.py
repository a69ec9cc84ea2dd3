"""Fused optimizer updates on the GPU: one grid-stride pass over a parameter, its gradient and
its state arrays, each element through the optimizer's scalar function of
:mod:`nbgrad.backends._optim_rules` (compiled as a device function)."""

from __future__ import annotations

from numba import cuda

from nbgrad.backends import _optim_rules as rules
from nbgrad.backends.cuda._runtime import CudaArray, grid_1d, launch

__all__ = ["sgd_step", "adam_step"]

_sgd_update = cuda.jit(device=True)(rules.sgd_update)
_adam_update = cuda.jit(device=True)(rules.adam_update)


# Each kernel stores only the state its update keeps: the momentum buffer with momentum, the
# running maximum with amsgrad (otherwise their arrays are placeholders, possibly the gradient's
# or the second moment's own).
@cuda.jit
def _sgd(p, p0, g, g0, buf, b0, n, lr, momentum, dampening, weight_decay, nesterov, maximize,
         first):
    i = cuda.grid(1)
    while i < n:
        pi, bi = _sgd_update(p[p0 + i], g[g0 + i], buf[b0 + i], lr, momentum, dampening,
                             weight_decay, nesterov, maximize, first)
        p[p0 + i] = pi
        if momentum != 0.0:
            buf[b0 + i] = bi
        i += cuda.gridsize(1)


@cuda.jit
def _adam(p, p0, g, g0, m, m0, v, v0, vmax, x0, n, lr, beta1, beta2, eps, weight_decay,
          decoupled, amsgrad, maximize, step_size, bc2_sqrt):
    i = cuda.grid(1)
    while i < n:
        pi, mi, vi, xi = _adam_update(p[p0 + i], g[g0 + i], m[m0 + i], v[v0 + i], vmax[x0 + i],
                                      lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad,
                                      maximize, step_size, bc2_sqrt)
        p[p0 + i] = pi
        m[m0 + i] = mi
        v[v0 + i] = vi
        if amsgrad:
            vmax[x0 + i] = xi
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
    step_size, bc2_sqrt = rules.adam_scalars(lr, beta1, beta2, step)
    if p.size:
        blocks, threads = grid_1d(p.size)
        launch(_adam, blocks, threads, [*_flat(p, g, m, v, vmax), p.size, lr, beta1, beta2, eps,
                                        weight_decay, decoupled, amsgrad, maximize, step_size,
                                        bc2_sqrt])
