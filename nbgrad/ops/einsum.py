"""``einsum`` and the products built like it: tensordot, kron, inner, vdot, the ``add*``
family (addmm, addbmm, baddbmm, addmv, addr), mv, chain_matmul, cross and dist.

``einsum`` takes its diagonals and lone sums per operand, then contracts the operands left to
right, each pair as one batched ``matmul`` (BLAS) of permuted, reshaped views; gradients come
from the ops it is made of.
"""

from __future__ import annotations

import math

from nbgrad.ops._register import Doc, register
from nbgrad.ops.indexing import diagonal
from nbgrad.ops.join import cat
from nbgrad.ops.linalg import matmul
from nbgrad.ops.reduce import norm
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = ["einsum", "tensordot", "kron", "inner", "vdot", "addmm", "addbmm", "baddbmm",
           "addmv", "addr", "mv", "chain_matmul", "cross", "dist"]

_PRODUCT = Doc("Linear algebra", "float32, float64 (integers too)", "composed: matmul and views")


def _parse(equation: str, operands) -> tuple[list[str], str]:
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError("einsum(): more operands were provided than specified in the equation"
                         if len(operands) > len(terms) else
                         "einsum(): fewer operands were provided than specified in the equation")
    for c in eq:
        if not (c.isalpha() or c in ",.->"):
            raise ValueError(f"einsum(): invalid subscript given at index {eq.index(c)} in the "
                             f"equation string, subscripts must be in [a-zA-Z]")
    used = set(c for c in eq if c.isalpha())
    free = (c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in used)
    ell_rank = 0
    for t, op in zip(terms, operands):
        if "..." in t:
            ell_rank = max(ell_rank, op.ndim - (len(t) - 3))
    ell = "".join(next(free) for _ in range(ell_rank))
    out_terms = []
    for t, op in zip(terms, operands):
        if "..." in t:
            k = op.ndim - (len(t) - 3)
            if k < 0:
                raise ValueError("einsum(): the number of subscripts in the equation does not "
                                 "match the number of dimensions for operand")
            t = t.replace("...", ell[ell_rank - k:])
        if len(t) != op.ndim:
            raise ValueError(f"einsum(): the number of subscripts in the equation ({len(t)}) does "
                             f"not match the number of dimensions ({op.ndim}) for operand "
                             f"{len(out_terms)} and no ellipsis was given")
        out_terms.append(t)
    if arrow:
        if "..." in rhs:
            rhs = rhs.replace("...", ell)
        elif ell and any("..." in t for t in terms):
            pass  # an explicit output without '...' sums the broadcast dims
        for c in rhs:
            if rhs.count(c) > 1:
                raise ValueError(f"einsum(): output subscript {c} appears more than once in the "
                                 f"output")
            if not any(c in t for t in out_terms):
                raise ValueError(f"einsum(): output subscript {c} does not appear in the "
                                 f"equation for any input operand")
    else:
        counts = {}
        for t in out_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        rhs = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return out_terms, rhs


def _single(t: Tensor, term: str, keep: set) -> tuple[Tensor, str]:
    """Take repeated subscripts' diagonals and sum the subscripts no one else needs."""
    while True:
        dup = next((c for c in term if term.count(c) > 1), None)
        if dup is None:
            break
        i = term.index(dup)
        j = term.index(dup, i + 1)
        t = diagonal(t, 0, i, j)  # the diagonal goes last
        term = "".join(c for k, c in enumerate(term) if k not in (i, j)) + dup
    drop = [k for k, c in enumerate(term) if c not in keep]
    if drop:
        t = t.sum(tuple(drop))
        term = "".join(c for k, c in enumerate(term) if k not in drop)
    return t, term


def _pair(a: Tensor, ta: str, b: Tensor, tb: str, keep: set) -> tuple[Tensor, str]:
    batch = [c for c in ta if c in tb and c in keep]
    contract = [c for c in ta if c in tb and c not in keep]
    a_only = [c for c in ta if c not in tb]
    b_only = [c for c in tb if c not in ta]
    size = {}
    for t, term in ((a, ta), (b, tb)):
        for c, n in zip(term, t.shape):
            if size.get(c, 1) == 1:
                size[c] = n
            elif n not in (1, size[c]):
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes "
                                   f"(original->remapped): subscript {c} has sizes {size[c]} "
                                   f"and {n}")
    a = a.permute(*[ta.index(c) for c in batch + a_only + contract])
    b = b.permute(*[tb.index(c) for c in batch + contract + b_only])
    a = a.expand(*[size[c] for c in batch + a_only + contract])
    b = b.expand(*[size[c] for c in batch + contract + b_only])
    nb_ = [size[c] for c in batch]
    m = math.prod(size[c] for c in a_only)
    k = math.prod(size[c] for c in contract)
    n = math.prod(size[c] for c in b_only)
    out = matmul(a.reshape(*nb_, m, k), b.reshape(*nb_, k, n))
    out = out.reshape(*nb_, *[size[c] for c in a_only], *[size[c] for c in b_only])
    return out, "".join(batch + a_only + b_only)


@register(function=True, doc=_PRODUCT)
def einsum(equation: str, *operands) -> Tensor:
    """Sum of products of the operands' entries, named by the subscripts of ``equation``
    (``"ij,jk->ik"``; ``...`` for broadcast dims; implicit output: the once-used subscripts
    in alphabetical order). Pairs contract through ``matmul``.

    >>> import nbgrad as nb
    >>> a = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.einsum("ij,jk->ik", a, a)
    tensor([[ 7., 10.],
            [15., 22.]])
    >>> nb.einsum("ii", a), nb.einsum("...j->...", a)
    (tensor(5.), tensor([3., 7.]))
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError("einsum(): the equation must be a string")
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    for op in operands:
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): operands must be Tensors, got {type(op).__name__}")
    terms, rhs = _parse(equation, operands)
    ops = list(operands)
    for i in range(len(ops)):
        keep = set(rhs).union(*[set(t) for j, t in enumerate(terms) if j != i])
        ops[i], terms[i] = _single(ops[i], terms[i], keep)
    acc, tacc = ops[0], terms[0]
    for i in range(1, len(ops)):
        keep = set(rhs).union(*[set(t) for t in terms[i + 1:]])
        acc, tacc = _pair(acc, tacc, ops[i], terms[i], keep)
        acc, tacc = _single(acc, tacc, keep)
    acc, tacc = _single(acc, tacc, set(rhs))
    if tacc != rhs:
        acc = acc.permute(*[tacc.index(c) for c in rhs]) if rhs else acc
    return acc if rhs else acc.reshape(())


@register(function=True, doc=_PRODUCT)
def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (an int), or the
    listed dims (``([1, 0], [0, 1])``).

    >>> import nbgrad as nb
    >>> nb.tensordot(nb.ones(2, 3), nb.ones(3, 4), dims=1).shape
    (2, 4)
    """
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    da = [_wrap_dim(d, a.ndim) for d in da]
    db = [_wrap_dim(d, b.ndim) for d in db]
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[x]} in dim {x} and second has size {b.shape[y]} in "
                               f"dim {y}")
    ra = [d for d in range(a.ndim) if d not in da]
    rb = [d for d in range(b.ndim) if d not in db]
    k = math.prod(a.shape[d] for d in da)
    am = a.permute(*(ra + da)).reshape(math.prod(a.shape[d] for d in ra), k)
    bm = b.permute(*(db + rb)).reshape(k, math.prod(b.shape[d] for d in rb))
    return matmul(am, bm).reshape(*[a.shape[d] for d in ra], *[b.shape[d] for d in rb])


@register(function=True, method=True, doc=_PRODUCT)
def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product.

    >>> import nbgrad as nb
    >>> nb.kron(nb.tensor([[1, 2]]), nb.tensor([[1], [10]]))
    tensor([[ 1,  2],
            [10, 20]])
    """
    n = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + input.shape)
    b = other.reshape((1,) * (n - other.ndim) + other.shape)
    a2 = a.reshape(tuple(s for d in a.shape for s in (d, 1)))
    b2 = b.reshape(tuple(s for d in b.shape for s in (1, d)))
    return (a2 * b2).reshape(tuple(x * y for x, y in zip(a.shape, b.shape)))


@register(function=True, method=True, doc=_PRODUCT)
def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum of products over the last dims (a product when one input is 0-d).

    >>> import nbgrad as nb
    >>> nb.inner(nb.tensor([1.0, 2.0]), nb.tensor([[1.0, 0.0], [0.0, 1.0]]))
    tensor([1., 2.])
    """
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


@register(function=True, method=True, doc=_PRODUCT)
def vdot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-D tensors (real: ``dot``).

    >>> import nbgrad as nb
    >>> nb.vdot(nb.tensor([1.0, 2.0]), nb.tensor([3.0, 4.0]))
    tensor(11.)
    """
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                           f"tensors")
    return input.dot(other)


def _add_scaled(input, prod, beta, alpha):
    out = prod if alpha == 1 else prod * alpha
    if beta == 0:  # input is not read (NaN in it does not propagate)
        shape = _bshape(input.shape, out.shape)
        return out if out.shape == shape else out.expand(*shape).clone()
    return out + (input if beta == 1 else input * beta)


def _bshape(a, b):
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


@register(function=True, method=True, doc=_PRODUCT)
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)`` (``input`` ignored when ``beta`` is 0).

    >>> import nbgrad as nb
    >>> nb.addmm(nb.ones(2, 2), nb.eye(2), nb.eye(2), beta=2)
    tensor([[3., 2.],
            [2., 3.]])
    """
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mat1 must be a matrix, got {mat1.ndim}-D tensor" if mat1.ndim != 2
                           else f"mat2 must be a matrix, got {mat2.ndim}-D tensor")
    return _add_scaled(input, mat1.mm(mat2), beta, alpha)


@register(function=True, method=True, doc=_PRODUCT)
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``.

    >>> import nbgrad as nb
    >>> nb.addbmm(nb.zeros(2, 2), nb.ones(3, 2, 1), nb.ones(3, 1, 2))
    tensor([[3., 3.],
            [3., 3.]])
    """
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError("batch1 and batch2 must be 3D tensors")
    return _add_scaled(input, batch1.bmm(batch2).sum(0), beta, alpha)


@register(function=True, method=True, doc=_PRODUCT)
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``.

    >>> import nbgrad as nb
    >>> nb.baddbmm(nb.zeros(3, 2, 2), nb.ones(3, 2, 1), nb.ones(3, 1, 2)).shape
    (3, 2, 2)
    """
    if batch1.ndim != 3 or batch2.ndim != 3:
        raise RuntimeError("batch1 and batch2 must be 3D tensors")
    return _add_scaled(input, batch1.bmm(batch2), beta, alpha)


@register(function=True, method=True, doc=_PRODUCT)
def mv(input: Tensor, vec: Tensor) -> Tensor:
    """Matrix times vector.

    >>> import nbgrad as nb
    >>> nb.mv(nb.eye(2), nb.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.ndim}, {vec.ndim}")
    return matmul(input, vec)


@register(function=True, method=True, doc=_PRODUCT)
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``.

    >>> import nbgrad as nb
    >>> nb.addmv(nb.ones(2), nb.eye(2), nb.tensor([1.0, 2.0]))
    tensor([2., 3.])
    """
    return _add_scaled(input, mv(mat, vec), beta, alpha)


@register(function=True, method=True, doc=_PRODUCT)
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``.

    >>> import nbgrad as nb
    >>> nb.addr(nb.zeros(2, 2), nb.tensor([1.0, 2.0]), nb.tensor([1.0, 1.0]))
    tensor([[1., 1.],
            [2., 2.]])
    """
    if vec1.ndim != 1 or vec2.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {vec1.ndim}-D"
                           if vec1.ndim != 1 else
                           f"addr: Expected 1-D argument vec2, but got {vec2.ndim}-D")
    return _add_scaled(input, vec1.outer(vec2), beta, alpha)


@register(function=True, doc=_PRODUCT)
def chain_matmul(*matrices) -> Tensor:
    """The product of 2-D matrices left to right (``linalg.multi_dot`` of matrices).

    >>> import nbgrad as nb
    >>> nb.chain_matmul(nb.eye(2), nb.ones(2, 3), nb.ones(3, 1)).shape
    (2, 1)
    """
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    out = matrices[0]
    for m in matrices[1:]:
        out = out.mm(m)
    return out if len(matrices) > 1 else out.clone()


@register(function=True, method=True, doc=_PRODUCT)
def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the first dim of size 3 when None).

    >>> import nbgrad as nb
    >>> nb.cross(nb.tensor([1.0, 0.0, 0.0]), nb.tensor([0.0, 1.0, 0.0]))
    tensor([0., 0., 1.])
    """
    shape = _bshape(input.shape, other.shape)
    a, b = input.expand(*shape), other.expand(*shape)
    if dim is None:
        dim = next((d for d, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = _wrap_dim(dim, len(shape))
    if shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{input.shape[d] if input.ndim > d else 1} and "
                           f"{other.shape[d] if other.ndim > d else 1}")
    a0, a1, a2 = (a.narrow(d, i, 1) for i in range(3))
    b0, b1, b2 = (b.narrow(d, i, 1) for i in range(3))
    return cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], d)


@register(function=True, method=True, doc=_PRODUCT)
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other``.

    >>> import nbgrad as nb
    >>> nb.dist(nb.tensor([0.0, 0.0]), nb.tensor([3.0, 4.0]))
    tensor(5.)
    """
    return norm(input - other, p)


@register(function=True, doc=Doc("Linear algebra", "float32, float64",
                                 "composed (zero distances get a zero gradient)"))
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The ``p``-norm distance between each row of ``x1`` (``(..., P, M)``) and each row of
    ``x2`` (``(..., R, M)``): a ``(..., P, R)`` tensor.

    >>> import nbgrad as nb
    >>> nb.cdist(nb.tensor([[0.0, 0.0]]), nb.tensor([[3.0, 4.0], [1.0, 0.0]]))
    tensor([[5., 1.]])
    """
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D"
                           if x1.ndim < 2 else
                           f"cdist only supports at least 2D tensors, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if not x1.dtype.is_floating_point or not x2.dtype.is_floating_point:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: "
                           f"{x1.dtype.name.capitalize()}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    a = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
    if p == math.inf:
        return a.amax(-1)
    if p == 0:
        return (a != 0).to(a.dtype).sum(-1)
    s = (a ** p).sum(-1) if p != 2 else (a * a).sum(-1)
    zero = s == 0
    safe = s.masked_fill(zero, 1.0)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return root.masked_fill(zero, 0.0)
