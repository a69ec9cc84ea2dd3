"""The power iteration shared by both spectral-norm APIs."""

from __future__ import annotations

from nbgrad.grad_mode import no_grad
from nbgrad.ops import functions as _f


def normalize(x, eps: float):
    """``x / max(||x||, eps)``."""
    return x / x.norm().clamp_min(eps)


def reshape_weight(weight, dim: int):
    """The weight as a matrix with ``dim`` first."""
    if dim != 0:
        perm = [dim, *[d for d in range(weight.ndim) if d != dim]]
        weight = weight.permute(*perm)
    return weight.reshape(weight.shape[0], -1)


def power_iteration_(mat, u, v, n: int, eps: float) -> None:
    """``n`` steps of the power method, updating the buffers ``u``, ``v`` in place."""
    with no_grad():
        m = mat.detach()
        for _ in range(n):
            v.copy_(normalize(m.t() @ u, eps))
            u.copy_(normalize(m @ v, eps))


def sigma(mat, u, v):
    """``u^T W v``, differentiable in ``W``."""
    return _f.dot(u, mat @ v)
