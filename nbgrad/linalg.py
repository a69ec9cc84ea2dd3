"""``nbgrad.linalg``, as ``torch.linalg``: norms, inverses, solvers, determinants and
decompositions, each with PyTorch's documented gradient.

>>> import nbgrad as nb
>>> A = nb.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=nb.float64)
>>> b = nb.tensor([3.0, 4.0], dtype=nb.float64)
>>> round(nb.linalg.det(A).item(), 6), nb.linalg.solve(A, b)
(5.0, tensor([1., 1.], dtype=nbgrad.float64))
"""

from __future__ import annotations

import math
from collections import namedtuple

from nbgrad.ops import linalg as _ops
from nbgrad.ops.creation import eye, tensor
from nbgrad.ops.einsum import cross as _cross
from nbgrad.tensor import Tensor

__all__ = ["norm", "vector_norm", "matrix_norm", "inv", "solve", "det", "slogdet", "cholesky",
           "qr", "svd", "svdvals", "eigh", "eigvalsh", "lstsq", "pinv", "matrix_rank",
           "matrix_power", "cross", "multi_dot", "vecdot", "matmul"]

SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])
EighResult = namedtuple("eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("svd", ["U", "S", "Vh"])
QRResult = namedtuple("qr", ["Q", "R"])
LstsqResult = namedtuple("lstsq", ["solution", "residuals", "rank", "singular_values"])

matmul = _ops.matmul


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The ``ord``-norm of ``x`` flattened (or over ``dim``): inf, -inf, 0 or any number.

    >>> import nbgrad as nb
    >>> v = nb.tensor([3.0, -4.0])
    >>> nb.linalg.vector_norm(v), nb.linalg.vector_norm(v, 1)
    (tensor(5.), tensor(7.))
    """
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {x.dtype.name.capitalize()}")
    if dtype is not None:
        x = x.to(dtype)
    if dim is None:
        x = x.reshape(-1)
        dim = 0
    a = x.abs()
    if ord == math.inf:
        return a.amax(dim, keepdim)
    if ord == -math.inf:
        return a.amin(dim, keepdim)
    if ord == 0:
        return (a != 0).to(x.dtype).sum(dim, keepdim)
    if ord == 2:
        return (x * x).sum(dim, keepdim).sqrt()
    if ord == 1:
        return a.sum(dim, keepdim)
    return (a ** ord).sum(dim, keepdim) ** (1.0 / ord)


def matrix_norm(A: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,
                dtype=None) -> Tensor:
    """Matrix norms over ``dim``: "fro", "nuc", 1, -1, 2, -2, inf, -inf.

    >>> import nbgrad as nb
    >>> nb.linalg.matrix_norm(nb.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
    tensor(6.)
    """
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if dtype is not None:
        A = A.to(dtype)
    d0, d1 = (d % A.ndim for d in dim)
    if ord == "fro":
        out = (A * A).sum((d0, d1), keepdim=True).sqrt()
    elif ord in ("nuc", 2, -2):
        moved = A.movedim((d0, d1), (-2, -1))
        s = svdvals(moved)
        v = s.sum(-1) if ord == "nuc" else s.amax(-1) if ord == 2 else s.amin(-1)
        out = v.unsqueeze(-1).unsqueeze(-1).movedim((-2, -1), (d0, d1))
    elif ord in (1, -1, math.inf, -math.inf):
        over, then = (d0, d1) if ord in (1, -1) else (d1, d0)
        col = A.abs().sum(over, keepdim=True)
        out = col.amax(then, keepdim=True) if ord > 0 else col.amin(then, keepdim=True)
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    return out if keepdim else out.squeeze((d0, d1))


def norm(A: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``vector_norm`` or ``matrix_norm`` as PyTorch picks: a matrix norm for a str ``ord``,
    a 2-tuple ``dim``, or a 2-D input with ``ord`` given and ``dim`` None.

    >>> import nbgrad as nb
    >>> nb.linalg.norm(nb.tensor([[3.0, 4.0]]))
    tensor(5.)
    """
    if isinstance(dim, int):
        dim = (dim,)
    if isinstance(ord, str) or (dim is not None and len(dim) == 2) or (
            dim is None and ord is not None and A.ndim == 2):
        return matrix_norm(A, "fro" if ord is None else ord, (-2, -1) if dim is None else dim,
                           keepdim, dtype=dtype)
    if ord is not None and dim is None and A.ndim not in (1, 2):
        raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be "
                           "1D or 2D.")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def inv(A: Tensor) -> Tensor:
    """The inverse; gradient ``-inv(A)^T g inv(A)^T``.

    >>> import nbgrad as nb
    >>> nb.linalg.inv(nb.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    return _ops.inv(A)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution of ``A X = B`` (``X A = B`` with ``left=False``).

    >>> import nbgrad as nb
    >>> nb.linalg.solve(nb.eye(2) * 2, nb.tensor([2.0, 4.0]))
    tensor([1., 2.])
    """
    return _ops.solve(A, B, left=left)


def det(A: Tensor) -> Tensor:
    """The determinant.

    >>> import nbgrad as nb
    >>> nb.linalg.det(nb.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(-2.)
    """
    return _ops.det(A)


def slogdet(A: Tensor) -> SlogdetResult:
    """``(sign, logabsdet)`` of the determinant; gradient of logabsdet ``g * inv(A)^T``.

    >>> import nbgrad as nb
    >>> nb.linalg.slogdet(nb.tensor([[-2.0, 0.0], [0.0, 1.0]])).sign
    tensor(-1.)
    """
    return SlogdetResult(*_ops.slogdet(A))


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor of symmetric positive-definite matrices.

    >>> import nbgrad as nb
    >>> nb.linalg.cholesky(nb.tensor([[4.0, 2.0], [2.0, 2.0]]))
    tensor([[2., 0.],
            [1., 1.]])
    """
    return _ops.cholesky(A, upper=upper)


def qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """``(Q, R)`` with ``A = Q R``; gradients for tall or square inputs in "reduced" mode.

    >>> import nbgrad as nb
    >>> q, r = nb.linalg.qr(nb.tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> bool(((q @ r) - nb.tensor([[3.0, 1.0], [4.0, 2.0]])).abs().max() < 1e-5)
    True
    """
    return QRResult(*_ops.qr(A, mode))


def svd(A: Tensor, full_matrices: bool = True) -> SVDResult:
    """``(U, S, Vh)``, ``A = U diag(S) Vh``; gradients with ``full_matrices=False``.

    >>> import nbgrad as nb
    >>> nb.linalg.svd(nb.tensor([[3.0, 0.0], [0.0, -2.0]])).S
    tensor([3., 2.])
    """
    return SVDResult(*_ops.svd(A, full_matrices))


def svdvals(A: Tensor) -> Tensor:
    """The singular values, descending.

    >>> import nbgrad as nb
    >>> nb.linalg.svdvals(nb.tensor([[0.0, 2.0], [1.0, 0.0]]))
    tensor([2., 1.])
    """
    return _ops.svdvals(A)


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices.

    >>> import nbgrad as nb
    >>> nb.linalg.eigh(nb.tensor([[2.0, 0.0], [0.0, 1.0]])).eigenvalues
    tensor([1., 2.])
    """
    return EighResult(*_ops.eigh(A, UPLO))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of symmetric matrices, ascending.

    >>> import nbgrad as nb
    >>> nb.linalg.eigvalsh(nb.tensor([[2.0, 1.0], [1.0, 2.0]]))
    tensor([1., 3.])
    """
    return _ops.eigh(A, UPLO)[0]


def pinv(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The pseudo-inverse through the SVD (singular values at or below the tolerance count
    as zero).

    >>> import nbgrad as nb
    >>> nb.linalg.pinv(nb.tensor([[2.0, 0.0], [0.0, 0.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    u, s, vh = _ops.svd(A, False)
    smax = s.detach().amax(-1, keepdim=True) if s.shape[-1] else s
    if rtol is None:
        rtol = 0.0 if atol else max(A.shape[-2:]) * _eps(A)
    tol = smax * rtol
    if atol:
        tol = tol.clamp(min=atol)
    keep = s > tol
    sinv = 1.0 / s.masked_fill(keep == 0, 1.0)
    sinv = sinv * keep.to(s.dtype)
    return _mT(vh) @ (sinv.unsqueeze(-1) * _mT(u))


def _eps(A: Tensor) -> float:
    return 2.220446049250313e-16 if A.dtype.name == "float64" else 1.1920928955078125e-07


def _mT(t: Tensor) -> Tensor:
    return t.transpose(-2, -1)


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None) -> LstsqResult:
    """The least-squares solution of ``A X = B`` (through ``pinv``), with the residuals of
    full-rank tall problems, the rank and the singular values.

    >>> import nbgrad as nb
    >>> A = nb.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=nb.float64)
    >>> nb.linalg.lstsq(A, nb.tensor([[1.0], [2.0], [3.0]], dtype=nb.float64)).solution
    tensor([[1.],
            [2.]], dtype=nbgrad.float64)
    """
    vec = B.ndim == A.ndim - 1
    b = B.unsqueeze(-1) if vec else B
    x = pinv(A, rtol=rcond) @ b
    rank = matrix_rank(A)
    m, n = A.shape[-2:]
    if m > n and bool((rank == n).all()):
        residuals = ((A @ x - b) ** 2).sum(-2)
    else:
        residuals = tensor([], dtype=A.dtype, device=A.device)
    sv = svdvals(A.detach())
    return LstsqResult(x.squeeze(-1) if vec else x, residuals, rank, sv)


def matrix_rank(A: Tensor, *, atol=None, rtol=None, hermitian: bool = False) -> Tensor:
    """The number of singular values above the tolerance (int64).

    >>> import nbgrad as nb
    >>> nb.linalg.matrix_rank(nb.tensor([[1.0, 2.0], [2.0, 4.0]]))
    tensor(1)
    """
    return tensor(_ops.matrix_rank_host(A._host(), atol, rtol, hermitian), device=A.device)


def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` multiplied by itself ``n`` times (``n < 0``: of its inverse; ``n == 0``: I).

    >>> import nbgrad as nb
    >>> nb.linalg.matrix_power(nb.tensor([[1.0, 1.0], [0.0, 1.0]]), 3)
    tensor([[1., 3.],
            [0., 1.]])
    """
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError("linalg.matrix_power: A must be batches of square matrices")
    if n == 0:
        return eye(A.shape[-1], dtype=A.dtype, device=A.device).expand(*A.shape).clone()
    base = inv(A) if n < 0 else A
    n = abs(n)
    out = None
    while n:  # by squaring
        if n & 1:
            out = base if out is None else out @ base
        n >>= 1
        if n:
            base = base @ base
    return out


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product along ``dim`` (default the last).

    >>> import nbgrad as nb
    >>> nb.linalg.cross(nb.tensor([0.0, 1.0, 0.0]), nb.tensor([0.0, 0.0, 1.0]))
    tensor([1., 0., 0.])
    """
    return _cross(input, other, dim)


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices (the first and last may be 1-D).

    >>> import nbgrad as nb
    >>> nb.linalg.multi_dot([nb.tensor([1.0, 2.0]), nb.eye(2), nb.tensor([3.0, 4.0])])
    tensor(11.)
    """
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        if t.ndim != 2 and not (t.ndim == 1 and i in (0, len(ts) - 1)):
            raise RuntimeError(f"multi_dot(): tensor {i} must be 2D but got {t.ndim}D")
    out = ts[0]
    for t in ts[1:]:
        out = out @ t
    return out


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """``(x * y).sum(dim)``.

    >>> import nbgrad as nb
    >>> nb.linalg.vecdot(nb.tensor([1.0, 2.0]), nb.tensor([3.0, 4.0]))
    tensor(11.)
    """
    return (x * y).sum(dim)
