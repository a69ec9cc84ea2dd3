"""Parametrizations built on :mod:`nbgrad.nn.utils.parametrize`: ``weight_norm`` and
``spectral_norm`` (PyTorch's ``torch.nn.utils.parametrizations``)."""

from __future__ import annotations

from nbgrad.nn.module import Module
from nbgrad.nn.utils import parametrize
from nbgrad.nn.utils._spectral import normalize, power_iteration_, reshape_weight, sigma
from nbgrad.ops.creation import randn
from nbgrad.tensor import Tensor

__all__ = ["weight_norm", "spectral_norm"]


def _norm_except_dim(v: Tensor, dim) -> Tensor:
    if dim is None:
        return v.norm()
    dim = dim % v.ndim
    dims = tuple(d for d in range(v.ndim) if d != dim)
    return (v * v).sum(dims, keepdim=True).sqrt()


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        """``g * v / ||v||``."""
        dim = None if self.dim == -1 else self.dim
        return weight_v * (weight_g / _norm_except_dim(weight_v, dim))

    def right_inverse(self, weight: Tensor):
        """``(g, v)`` with ``g = ||weight||``, ``v = weight``."""
        dim = None if self.dim == -1 else self.dim
        return _norm_except_dim(weight, dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Weight normalisation as a parametrization: ``parametrizations.<name>.original0`` is
    the magnitude g, ``original1`` the direction v.

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.parametrizations.weight_norm(nb.nn.Linear(3, 2))
    >>> sorted(m.state_dict())
    ['bias', 'parametrizations.weight.original0', 'parametrizations.weight.original1']
    """
    return parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        self.n_power_iterations = n_power_iterations
        if ndim > 1:
            mat = reshape_weight(weight.detach(), self.dim)
            h, w = mat.shape
            u = normalize(randn(h, dtype=weight.dtype, device=weight.device), eps)
            v = normalize(randn(w, dtype=weight.dtype, device=weight.device), eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            power_iteration_(mat, self._u, self._v, 15, eps)

    def forward(self, weight: Tensor) -> Tensor:
        """``weight / sigma`` (power iteration first while training)."""
        if weight.ndim == 1:
            return normalize(weight, self.eps)
        mat = reshape_weight(weight, self.dim)
        if self.training:
            power_iteration_(mat, self._u, self._v, self.n_power_iterations, self.eps)
        u, v = self._u.clone(), self._v.clone()
        return weight / sigma(mat, u, v)

    def right_inverse(self, value: Tensor) -> Tensor:
        """The value itself (the constraint is not inverted, as in PyTorch)."""
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Spectral normalisation as a parametrization: the weight divided by its largest
    singular value, estimated by power iteration (buffers ``_u``, ``_v``).

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.parametrizations.spectral_norm(nb.nn.Linear(4, 3))
    >>> import numpy as np
    >>> round(float(np.linalg.norm(m.weight.detach().numpy(), 2)), 2)
    1.0
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    return parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
