"""Matrix products: ``matmul`` (1-D, 2-D, batched with broadcasting) through BLAS."""

from __future__ import annotations

import numpy as np

from nbgrad import _dtype
from nbgrad.errors import ShapeError
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.ops.creation import eye
from nbgrad.ops.elementwise import sum_to
from nbgrad.ops.join import tril
from nbgrad.tensor import Tensor

__all__ = ["matmul", "mm", "bmm", "dot", "outer"]


class MatMul(OpDef):
    """``a @ b`` with numpy's rules for 1-D operands and batch broadcasting."""

    def forward(self, bk, params, a, b):
        dt = params
        if a.dtype != dt:
            a = bk.astype(a, dt)
        if b.dtype != dt:
            b = bk.astype(b, dt)
        return bk.matmul(a, b)

    def save(self, needs):
        return (needs[1], needs[0]), False

    def backward(self, node, grad):
        a_needed, b_needed = node.needs_input_grad
        a = node.saved_input(0) if b_needed else None
        b = node.saved_input(1) if a_needed else None
        a_shape, b_shape = node.meta
        if len(a_shape) == 1 and len(b_shape) == 1:
            return (grad * b if a_needed else None, grad * a if b_needed else None)
        g = grad
        if len(a_shape) == 1:
            g = g.unsqueeze(-2)
        if len(b_shape) == 1:
            g = g.unsqueeze(-1)
        ga = gb = None
        if a_needed:
            b2 = b.unsqueeze(-1) if len(b_shape) == 1 else b
            ga = g @ b2.transpose(-1, -2)
            ga = sum_to(ga, (1, *a_shape) if len(a_shape) == 1 else a_shape)
            ga = ga.reshape(a_shape) if len(a_shape) == 1 else ga
        if b_needed:
            a2 = a.unsqueeze(-2) if len(a_shape) == 1 else a
            gb = a2.transpose(-1, -2) @ g
            gb = sum_to(gb, (*b_shape, 1) if len(b_shape) == 1 else b_shape)
            gb = gb.reshape(b_shape) if len(b_shape) == 1 else gb
        return ga, gb

    wants_meta = True

    def meta(self, arrays, out):
        return tuple(arrays[0].shape), tuple(arrays[1].shape)


# One op, named per case as PyTorch names its node: dot, mv, mm (a row times a matrix too), bmm
DOT, MV, MM, BMM = MatMul("Dot"), MatMul("Mv"), MatMul("Mm"), MatMul("Bmm")


@register(function=True, method=True, dunder="__matmul__", doc=Doc(
    "Linear algebra", "float32, float64, int32, int64",
    "g @ bᵀ, aᵀ @ g (summed over broadcast batch dims)"))
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for 1-D, 2-D and batched operands.

    >>> import nbgrad as nb
    >>> a = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.matmul(a, nb.tensor([1.0, 1.0]))
    tensor([3., 7.])
    >>> (nb.ones(5, 2, 3) @ nb.ones(3, 4)).shape
    (5, 2, 4)
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(
            f"matmul(): expected two Tensors, got {type(a).__name__} and {type(b).__name__}"
        )
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        raise RuntimeError(
            f"matmul: both arguments need at least 1 dimension, got shapes {sa} and {sb}"
        )
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ShapeError(
            f"matmul: shapes {sa} and {sb} cannot be multiplied ({k_a} != {k_b})"
        )
    if len(sa) > 2 and len(sb) > 2 and broadcast_shape(sa[:-2], sb[:-2]) is None:
        raise ShapeError(f"matmul: batch dimensions of shapes {sa} and {sb} cannot be broadcast")
    dt = _dtype.result_type((a.dtype, a.ndim), (b.dtype, b.ndim))
    if dt is _dtype.bool_:
        raise TypeError("matmul: not supported for bool tensors")
    nd = (len(sa), len(sb))
    op = DOT if nd == (1, 1) else MV if nd == (2, 1) else MM if max(nd) <= 2 else BMM
    return apply(op, (a, b), dt.np)


def _expect(name: str, tensors: tuple, ndims: tuple) -> None:
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): expected Tensors, got {type(t).__name__}")
    shapes = " and ".join(str(t.shape) for t in tensors)
    for t, nd in zip(tensors, ndims):
        if t.ndim != nd:
            raise RuntimeError(
                f"{name}: expected {nd}-D tensors, got shapes {shapes}"
            )


@register(function=True, method=True,
          doc=Doc("Linear algebra", "float32, float64, int32, int64", "as matmul"))
def mm(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product of two 2-D tensors ``(n, k) @ (k, m)``.

    >>> import nbgrad as nb
    >>> nb.mm(nb.tensor([[1.0, 2.0], [3.0, 4.0]]), nb.tensor([[0.0, 1.0], [1.0, 0.0]]))
    tensor([[2., 1.],
            [4., 3.]])
    """
    _expect("mm", (a, b), (2, 2))
    if a.shape[1] != b.shape[0]:
        raise ShapeError(
            f"mm: shapes {a.shape} and {b.shape} cannot be multiplied "
            f"({a.shape[1]} != {b.shape[0]})"
        )
    return matmul(a, b)


@register(function=True, method=True,
          doc=Doc("Linear algebra", "float32, float64, int32, int64", "as matmul"))
def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product ``(B, n, k) @ (B, k, m)`` (no broadcasting).

    >>> import nbgrad as nb
    >>> nb.bmm(nb.ones(3, 2, 4), nb.ones(3, 4, 5)).shape
    (3, 2, 5)
    """
    _expect("bmm", (a, b), (3, 3))
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(
            f"bmm: shapes {a.shape} and {b.shape} do not match: expected (B, n, k) and "
            f"(B, k, m)"
        )
    return matmul(a, b)


@register(function=True, method=True,
          doc=Doc("Linear algebra", "float32, float64, int32, int64 (same dtype)", "as matmul"))
def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two 1-D tensors of the same length and dtype (a 0-d tensor).

    >>> import nbgrad as nb
    >>> nb.dot(nb.tensor([1.0, 2.0]), nb.tensor([3.0, 4.0]))
    tensor(11.)
    """
    _expect("dot", (a, b), (1, 1))
    if a.shape != b.shape:
        raise ValueError(
            f"dot: inconsistent tensor size, shapes {a.shape} and {b.shape}"
        )
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"dot: expected both vectors to have same dtype, but found {a.dtype.name} and "
            f"{b.dtype.name}"
        )
    return matmul(a, b)


@register(function=True, method=True,
          doc=Doc("Linear algebra", "every dtype but bool", "composed: a[:, None] * b[None, :]"))
def outer(a: Tensor, b: Tensor) -> Tensor:
    """Outer product of two 1-D tensors: ``out[i, j] = a[i] * b[j]``.

    >>> import nbgrad as nb
    >>> nb.outer(nb.tensor([1.0, 2.0]), nb.tensor([1.0, 10.0, 100.0]))
    tensor([[  1.,  10., 100.],
            [  2.,  20., 200.]])
    """
    _expect("outer", (a, b), (1, 1))
    return a.reshape(-1, 1) * b.reshape(1, -1)


# ---------------------------------------------------------------- decompositions and solvers
# Forward by numpy.linalg on host copies (batched over leading dims); gradients are PyTorch's
# documented formulas written with nbgrad ops.
class _Lapack(OpDef):
    """One numpy.linalg routine; ``fn(params, a, ...) -> array or tuple``; ``grad(node, *g)``."""

    def __init__(self, name, fn, grad, n_outputs=1, diff=None):
        self.n_outputs = n_outputs
        super().__init__(name)
        self.fn, self.grad, self.diff = fn, grad, diff
        self.differentiable = grad is not None

    def output_differentiable(self, nr: int) -> bool:
        return self.diff is None or nr in self.diff

    def forward(self, bk, params, *arrays):
        outs = self.fn(params, *(bk.to_host(a) for a in arrays))
        if self.n_outputs == 1:
            outs = np.asarray(outs)
            return bk.asarray(outs, outs.dtype)
        return tuple(bk.asarray(np.asarray(o), np.asarray(o).dtype) for o in outs)

    def save(self, needs):
        return (True,) * len(needs), self.n_outputs == 1

    def backward(self, node, *grads):
        return self.grad(node, *grads)


def _mT(t: Tensor) -> Tensor:
    return t.transpose(-2, -1)


def _square(name: str, a: Tensor) -> None:
    if not isinstance(a, Tensor):
        raise TypeError(f"linalg.{name}: expected a Tensor, got {type(a).__name__}")
    if a.ndim < 2:
        raise RuntimeError(f"linalg.{name}: The input tensor A must have at least 2 dimensions.")
    if a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"linalg.{name}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")
    if not a.dtype.is_floating_point:
        raise RuntimeError(f"linalg.{name}: Expected a floating point tensor as input. Got "
                           f"{a.dtype.name.capitalize()}")


def _np_inv(params, a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise RuntimeError("linalg.inv: The diagonal element 1 is zero, the inversion could "
                           "not be completed because the input matrix is singular.") from None


def _inv_grad(node, g):
    y = node.output()
    return (-(_mT(y) @ g @ _mT(y)),)


INV = _Lapack("LinalgInv", _np_inv, _inv_grad)


def inv(A: Tensor) -> Tensor:
    """The inverse of square matrices (batched)."""
    _square("inv", A)
    return apply(INV, (A,))


def _np_solve(params, a, b):
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        raise RuntimeError("linalg.solve: The solver failed because the input matrix is "
                           "singular.") from None


def _solve_grad(node, g):
    a = node.saved_input(0)
    x = node.output()
    gb = solve(_mT(a), g)
    ga = -(gb @ _mT(x))
    return ga, gb


SOLVE = _Lapack("LinalgSolve", _np_solve, _solve_grad)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of ``A X = B`` (``X A = B`` with ``left=False``); B a matrix or vector."""
    _square("solve", A)
    if not left:
        return _mT(solve(_mT(A), _mT(B)))
    vec = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if vec:
        return apply(SOLVE, (A, B.unsqueeze(-1))).squeeze(-1)
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x"
                           f"{B.shape[-1]})")
    return apply(SOLVE, (A, B))


def _det_grad(node, g):
    a = node.saved_input(0)
    d = node.output()
    return ((g * d).unsqueeze(-1).unsqueeze(-1) * _mT(inv(a)),)


DET = _Lapack("LinalgDet", lambda p, a: np.asarray(np.linalg.det(a)), _det_grad)


def det(A: Tensor) -> Tensor:
    """The determinant (batched); its gradient is ``g * det(A) * inv(A)^T``."""
    _square("det", A)
    return apply(DET, (A,))


def _logabsdet_grad(node, g):
    return (g.unsqueeze(-1).unsqueeze(-1) * _mT(inv(node.saved_input(0))),)


LOGABSDET = _Lapack("LinalgSlogdet", lambda p, a: np.asarray(np.linalg.slogdet(a)[1]),
                    _logabsdet_grad)


_SIGN = _Lapack("Sign", lambda p, a: np.asarray(np.linalg.slogdet(a)[0]), None)


def slogdet(A: Tensor):
    """``(sign, logabsdet)`` of the determinant."""
    _square("slogdet", A)
    sign = apply(_SIGN, (A.detach(),))
    return sign, apply(LOGABSDET, (A,))


def _np_cholesky(params, a):
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise RuntimeError("linalg.cholesky: The factorization could not be completed because "
                           "the input is not positive-definite.") from None


def _phi(x: Tensor) -> Tensor:
    """Lower triangle with the diagonal halved."""
    return tril(x) - 0.5 * tril(x) * _eye_like(x)


def _eye_like(x: Tensor) -> Tensor:
    return eye(x.shape[-1], dtype=x.dtype, device=x.device)


def _cholesky_grad(node, g):
    low = node.output()
    p = _phi(_mT(low) @ tril(g))
    linv = inv(low)
    s = _mT(linv) @ p @ linv
    return (0.5 * (s + _mT(s)),)


CHOLESKY = _Lapack("LinalgCholeskyEx", _np_cholesky, _cholesky_grad)


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower (or ``upper``) Cholesky factor of symmetric positive-definite matrices."""
    _square("cholesky", A)
    low = apply(CHOLESKY, (A,))
    return _mT(low) if upper else low


def _eigh_fn(params, a):
    w, v = np.linalg.eigh(a, UPLO=params)
    return w, v


def _eigh_grad(node, gw, gv):
    a = node.saved_input(0)
    w, v = apply(EIGH, (a.detach(),), node.params)
    inner = 0
    if gw is not None:
        inner = inner + _eye_like(a) * gw.unsqueeze(-2)
    if gv is not None:
        diff = w.unsqueeze(-2) - w.unsqueeze(-1)  # [i, j] = w_j - w_i
        f = 1.0 / (diff + _eye_like(a))
        f = f * (1 - _eye_like(a))
        inner = inner + f * (_mT(v) @ gv)
    if isinstance(inner, int):
        return (None,)
    return (v @ inner @ _mT(v),)


EIGH = _Lapack("LinalgEigh", _eigh_fn, _eigh_grad, n_outputs=2)


def eigh(A: Tensor, UPLO: str = "L"):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices."""
    _square("eigh", A)
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return apply(EIGH, (A,), UPLO)


def _svd_fn(params, a):
    u, s, vh = np.linalg.svd(a, full_matrices=params)
    return u, s, vh


def _svd_grad(node, gu, gs, gvh):
    a = node.saved_input(0)
    u, s, vh = apply(SVD_REDUCED, (a.detach(),), False)
    v = _mT(vh)
    k = s.shape[-1]
    eye = _eye_like(s.unsqueeze(-1).expand(*s.shape, k))
    sd = s.unsqueeze(-2) * eye  # diag(s)
    inner = 0
    if gs is not None:
        inner = inner + gs.unsqueeze(-2) * eye
    s2 = s * s
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1)  # [i, j] = s_j^2 - s_i^2
    f = (1 - eye) / (e + eye)
    extra = 0
    if gu is not None:
        gu = gu[..., :k] if gu.shape[-1] != k else gu
        j = _mT(u) @ gu
        inner = inner + (f * (j - _mT(j))) @ sd
        if a.shape[-2] > k:
            proj = gu - u @ j
            extra = extra + (proj / s.unsqueeze(-2)) @ vh
    if gvh is not None:
        gv = _mT(gvh)
        gv = gv[..., :k] if gv.shape[-1] != k else gv
        j = _mT(v) @ gv
        inner = inner + sd @ (f * (j - _mT(j)))
        if a.shape[-1] > k:
            proj = gv - v @ j
            extra = extra + u @ _mT(proj / s.unsqueeze(-2))
    out = u @ inner @ vh if not isinstance(inner, int) else 0
    out = out + extra
    return (None if isinstance(out, int) else out,)


SVD = _Lapack("LinalgSvd", _svd_fn, _svd_grad, n_outputs=3)
SVD_REDUCED = SVD


def svd(A: Tensor, full_matrices: bool = True):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``; gradients for ``full_matrices=False`` (or
    square inputs)."""
    if A.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    return apply(SVD, (A,), bool(full_matrices) and A.shape[-1] != A.shape[-2])


def _svdvals_grad(node, g):
    a = node.saved_input(0)
    u, s, vh = apply(SVD, (a.detach(),), False)
    return ((u * g.unsqueeze(-2)) @ vh,)


SVDVALS = _Lapack("LinalgSvdvals", lambda p, a: np.linalg.svd(a, compute_uv=False),
                  _svdvals_grad)


def svdvals(A: Tensor) -> Tensor:
    """The singular values, descending; gradient ``U diag(g) Vh``."""
    if A.ndim < 2:
        raise RuntimeError("linalg.svdvals: The input tensor A must have at least 2 "
                           "dimensions.")
    return apply(SVDVALS, (A,))


def _qr_fn(params, a):
    q, r = np.linalg.qr(a, mode=params)
    return q, r


def _qr_grad(node, gq, gr):
    a = node.saved_input(0)
    q, r = apply(QR, (a.detach(),), "reduced")
    if a.shape[-2] < a.shape[-1]:
        raise RuntimeError("The derivative of linalg.qr is not implemented when mode='complete'"
                           " and nrows > ncols, or for wide inputs (m < n)")
    gq = gq if gq is not None else q * 0
    gr = gr if gr is not None else r * 0
    m = r @ _mT(gr) - _mT(gq) @ q
    copyltu = tril(m) + _mT(tril(m, -1))
    b = gq + q @ copyltu
    return (_mT(solve(r, _mT(b))),)


QR = _Lapack("LinalgQr", _qr_fn, _qr_grad, n_outputs=2)


def qr(A: Tensor, mode: str = "reduced"):
    """``(Q, R)`` with ``A = Q R`` (``mode`` "reduced", "complete" or "r")."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    if A.ndim < 2:
        raise RuntimeError("linalg.qr: The input tensor A must have at least 2 dimensions.")
    q, r = apply(QR, (A,), "complete" if mode == "complete" else "reduced")
    if mode == "r":
        return q[..., :0, :0], r
    return q, r


def matrix_rank_host(a: np.ndarray, atol, rtol, hermitian: bool) -> np.ndarray:
    s = np.linalg.svd(a, compute_uv=False) if not hermitian else np.abs(
        np.linalg.eigvalsh(a))
    smax = s.max(axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
    if rtol is None:
        rtol = 0.0 if (atol is not None and atol > 0) else max(a.shape[-2:]) * np.finfo(
            a.dtype).eps
    tol = np.maximum(atol or 0.0, rtol * smax)
    return (s > tol).sum(-1).astype(np.int64)
