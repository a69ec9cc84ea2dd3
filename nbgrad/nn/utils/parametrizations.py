"""Parametrizations built on :mod:`nbgrad.nn.utils.parametrize`: ``weight_norm``,
``spectral_norm`` and ``orthogonal`` (PyTorch's ``torch.nn.utils.parametrizations``)."""

from __future__ import annotations

import math

import numpy as np

from nbgrad.grad_mode import no_grad
from nbgrad.nn.module import Module
from nbgrad.nn.utils import parametrize
from nbgrad.nn.utils._spectral import normalize, power_iteration_, reshape_weight, sigma
from nbgrad.ops import functions as _f
from nbgrad.ops.creation import eye, randn, tensor, zeros
from nbgrad.tensor import Tensor

__all__ = ["weight_norm", "spectral_norm", "orthogonal"]


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


def _matrix_exp(a: Tensor) -> Tensor:
    """``exp(a)`` of a square matrix by scaling and squaring a degree-18 Taylor series
    (composed of matrix products, so differentiable to any order)."""
    n = a.shape[-1]
    norm = float(np.abs(a.detach().cpu().numpy()).sum(-2).max()) if a.numel() else 0.0
    s = max(0, int(math.ceil(math.log2(norm))) + 1) if norm > 0.5 else 0
    b = a * (1.0 / 2 ** s)
    ident = eye(n, dtype=a.dtype, device=a.device)
    term, out = ident, ident
    for k in range(1, 19):
        term = (term @ b) * (1.0 / k)
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def _householder_product(a: Tensor, tau: Tensor) -> Tensor:
    """The first ``k`` columns of ``H_1 ... H_k`` with ``H_i = I - tau_i v_i v_i^T``, ``v_i``
    the i-th column of ``a`` below the diagonal with a 1 on it."""
    n, k = a.shape[-2], a.shape[-1]
    q = eye(n, dtype=a.dtype, device=a.device)
    for i in range(k):
        unit = np.zeros(n)
        unit[i] = 1.0
        keep = np.zeros(n)
        keep[i + 1:] = 1.0
        v = a[:, i] * tensor(keep, dtype=a.dtype, device=a.device) + tensor(
            unit, dtype=a.dtype, device=a.device)
        q = q - _f.outer(q @ v, v) * tau[i]
    return q[:, :k]


def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))[None, :]


class _Orthogonal(Module):
    def __init__(self, weight: Tensor, orthogonal_map: str, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = tuple(weight.shape)
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        """The orthogonal matrix that ``x`` parametrizes."""
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.transpose(-2, -1)
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:
                x = _f.cat([x, zeros((n, n - k), dtype=x.dtype, device=x.device)], -1)
            a = x - x.transpose(-2, -1)
            if self.orthogonal_map == "cayley":
                raise NotImplementedError("orthogonal_map='cayley' needs a linear solve, which "
                                          "nbgrad does not have yet; use 'matrix_exp' or "
                                          "'householder'")
            q = _matrix_exp(a)
            if n != k:
                q = q[:, :k]
        else:
            a = x.tril(-1)
            tau = 2.0 / (1.0 + (a * a).sum(-2))
            q = _householder_product(a, tau)
            with no_grad():
                sign = x.detach()
                diag = tensor(np.trunc(np.diag(sign.cpu().numpy())), dtype=x.dtype,
                              device=x.device)
            q = q * diag.unsqueeze(0)
        if self.__dict__["_buffers"].get("base") is not None:
            q = self.base @ q
        if transposed:
            q = q.transpose(-2, -1)
        return q

    def right_inverse(self, q: Tensor) -> Tensor:
        """An unconstrained matrix that gives ``q`` (with trivialization: store ``q`` as the
        base and return ``-I``)."""
        if tuple(q.shape) != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {tuple(q.shape)}.")
        q_init = q
        mat = q.detach().cpu().numpy().astype(np.float64)
        n, k = mat.shape
        transpose = n < k
        if transpose:
            mat = mat.T
            n, k = k, n
        if "base" not in self.__dict__["_buffers"]:
            if self.orthogonal_map != "householder":
                raise NotImplementedError("It is not possible to assign to the matrix "
                                          "exponential or the Cayley parametrizations when "
                                          "use_trivialization=False.")
            raise NotImplementedError("orthogonal(use_trivialization=False) with householder "
                                      "needs geqrf, which nbgrad does not have yet")
        if n == k:
            if not np.allclose(mat.T @ mat, np.eye(n), atol=1e-5):
                mat = _make_orthogonal(mat)
        else:
            extra = randn(n, n - k, dtype="float64").numpy()
            mat = _make_orthogonal(np.concatenate([mat, extra], -1))
        self.base = tensor(mat, dtype=q.dtype, device=q.device)
        neg_id = -np.eye(*q_init.shape)
        return tensor(neg_id, dtype=q_init.dtype, device=q_init.device)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> Module:
    """Constrain the matrix ``module.<name>`` to be orthogonal (its rows or columns,
    whichever are fewer, orthonormal). ``orthogonal_map``: "matrix_exp" (default for square
    matrices) or "householder" (default otherwise); the initial weight is the base of the
    trivialization (buffer ``base``).

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.parametrizations.orthogonal(nb.nn.Linear(3, 3))
    >>> w = m.weight.detach().numpy()
    >>> import numpy as np
    >>> bool(np.allclose(w @ w.T, np.eye(3), atol=1e-5))
    True
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if weight.ndim > 2:
        raise NotImplementedError("orthogonal: batches of matrices are not supported yet")
    n, k = weight.shape[-2], weight.shape[-1]
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if n == k else "householder"
    if orthogonal_map not in ("matrix_exp", "cayley", "householder"):
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    return parametrize.register_parametrization(module, name, orth, unsafe=True)
