"""Matrix products: ``matmul`` (1-D, 2-D, batched with broadcasting) through BLAS."""

from __future__ import annotations

from nbgrad import _dtype
from nbgrad.errors import ShapeError
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.ops.elementwise import sum_to
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
