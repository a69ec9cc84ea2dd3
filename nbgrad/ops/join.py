"""Joining and rearranging ops: cat, stack, repeat, flip, tril/triu (copies) and split, chunk,
unbind (views)."""

from __future__ import annotations

import math

from nbgrad import _dtype
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import parse_shape
from nbgrad.ops.shape import getitem, narrow
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = ["cat", "stack", "split", "chunk", "unbind", "repeat",
           "flip", "tril", "triu"]


class Cat(OpDef):
    """Concatenation along ``dim``; params = (dim, output numpy dtype, per-input (size along
    dim, numpy dtype))."""

    name = "Cat"

    def forward(self, bk, params, *arrays):
        return bk.concatenate(arrays, params[0], params[1])

    def backward(self, node, grad):
        dim, _, pieces = node.params
        start = 0
        grads = []
        for (size, dtype), edge in zip(pieces, node.edges):
            if edge is not None:
                piece = narrow(grad, dim, start, size)
                if piece._data.dtype != dtype:
                    piece = piece.to(_dtype.from_numpy_dtype(dtype))
                grads.append(piece)
            else:
                grads.append(None)
            start += size
        return tuple(grads)


class Flip(OpDef):
    """Reversal along ``dims`` (a copy); params = dims."""

    name = "Flip"

    def forward(self, bk, params, x):
        return bk.flip(x, params)

    def backward(self, node, grad):
        return (apply(self, (grad,), node.params),)


class Triangle(OpDef):
    """``tril``/``triu`` of the last two dims; params = diagonal offset."""

    def __init__(self, name: str, upper: bool) -> None:
        super().__init__(name)
        self.upper = upper

    def forward(self, bk, params, x):
        return (bk.triu if self.upper else bk.tril)(x, params)

    def backward(self, node, grad):
        return (apply(self, (grad,), node.params),)


CAT, FLIP = Cat(), Flip()
TRIL, TRIU = Triangle("Tril", False), Triangle("Triu", True)


def _tensors(name: str, tensors) -> list:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{name}(): expected a sequence of Tensors, got a single Tensor")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}(): expected Tensors, got {type(t).__name__} at entry {i}")
    return tensors


@register(function=("cat", "concat", "concatenate"), doc=Doc(
    "Copying and joining", "every dtype (promoted)", "g narrowed back to each input (and cast)"))
def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing ``dim``; dtypes are promoted as in arithmetic.

    >>> import nbgrad as nb
    >>> nb.cat([nb.tensor([1, 2]), nb.tensor([3])])
    tensor([1, 2, 3])
    """
    tensors = _tensors("cat", tensors)
    # PyTorch's legacy rule: 1-D empty tensors are skipped when joining other shapes
    if any(t.shape != (0,) for t in tensors):
        kept = [t for t in tensors if t.shape != (0,)]
    else:
        kept = tensors
    ref = kept[0]
    if ref.ndim == 0:
        raise RuntimeError("cat(): zero-dimensional tensor (at position 0) cannot be concatenated")
    d = _wrap_dim(dim, ref.ndim)
    for i, t in enumerate(kept):
        if t.ndim != ref.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if k != d):
            raise ValueError(
                f"cat(): Sizes of tensors must match except in dimension {d}: shapes "
                f"{ref.shape} and {t.shape} (entry {i})"
            )
    dt = _dtype.result_type(*[(t.dtype, 1) for t in kept])
    if len(kept) == 1 and ref.dtype is dt:
        return ref.clone()
    pieces = tuple((t.shape[d], t._data.dtype) for t in kept)
    return apply(CAT, tuple(kept), (d, dt.np, pieces))



@register(function=True, doc=Doc("Copying and joining", "every dtype (promoted)", "as cat"))
def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shape tensors along a new dim ``dim``.

    >>> import nbgrad as nb
    >>> nb.stack([nb.tensor([1, 2]), nb.tensor([3, 4])], dim=1)
    tensor([[1, 3],
            [2, 4]])
    """
    tensors = _tensors("stack", tensors)
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise ValueError(
                f"stack expects each tensor to be equal size, but got {ref.shape} at entry 0 "
                f"and {t.shape} at entry {i}"
            )
    d = _wrap_dim(dim, ref.ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


@register(function=True, method=True,
          doc=Doc("Splitting (views)", "every dtype", "views: g flows back into the slices"))
def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along ``dim``: of ``split_size`` each (the last may be
    smaller) or of the listed sizes.

    >>> import nbgrad as nb
    >>> nb.split(nb.arange(5), 2)
    (tensor([0, 1]), tensor([2, 3]), tensor([4]))
    >>> nb.arange(5).split([1, 4])
    (tensor([0]), tensor([1, 2, 3, 4]))
    """
    d = _wrap_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size < 0 or (size == 0 and n != 0):
            raise RuntimeError(f"split(): split_size must be a positive integer, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtin_sum(sizes) != n or any(s < 0 for s in sizes):
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                f"size at dimension {d}), but got split_sizes={sizes}"
            )
    pieces = []
    start = 0
    for s in sizes:
        pieces.append(narrow(x, d, start, s))
        start += s
    return tuple(pieces)


builtin_sum = sum


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` views of ``ceil(size / chunks)`` (fewer when the size runs out).

    >>> import nbgrad as nb
    >>> nb.chunk(nb.arange(5), 2)
    (tensor([0, 1, 2]), tensor([3, 4]))
    """
    if not isinstance(chunks, int) or chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _wrap_dim(dim, x.ndim)
    n = x.shape[d]
    return split(x, math.ceil(n / chunks) if n else 0, d)


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim`` (views, each without that dim).

    >>> import nbgrad as nb
    >>> nb.unbind(nb.tensor([[1, 2], [3, 4]]), dim=1)
    (tensor([1, 3]), tensor([2, 4]))
    """
    if x.ndim == 0:
        raise IndexError("unbind(): dimension specified as 0 but tensor has no dimensions")
    d = _wrap_dim(dim, x.ndim)
    lead = (slice(None),) * d
    return tuple(getitem(x, lead + (i,)) for i in range(x.shape[d]))


@register(method=True, doc=Doc("Copying and joining", "every dtype", "composed: expand + reshape"))
def repeat(x: Tensor, *sizes) -> Tensor:
    """Tile ``x``: repeat it ``sizes[i]`` times along dim ``i`` (leading new dims allowed).

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).repeat(2)
    tensor([1, 2, 1, 2])
    >>> nb.tensor([1, 2]).repeat(2, 1)
    tensor([[1, 2],
            [1, 2]])
    """
    reps = parse_shape(sizes)
    if len(reps) < x.ndim:
        raise RuntimeError(
            f"repeat(): Number of dimensions of repeat dims {reps} can not be smaller than "
            f"number of dimensions of tensor {x.shape}"
        )
    if any(r < 0 for r in reps):
        raise RuntimeError(f"repeat(): repeats must be non-negative, got {reps}")
    shape = (1,) * (len(reps) - x.ndim) + x.shape
    spread, tiled = [], []
    for r, s in zip(reps, shape):
        spread += [1, s]
        tiled += [r, s]
    out = x.reshape(*spread).expand(*tiled)
    return out.reshape(*(r * s for r, s in zip(reps, shape)))


@register(function=True, method=True, doc=Doc("Copying and joining", "every dtype", "g flipped"))
def flip(x: Tensor, *dims) -> Tensor:
    """A copy of ``x`` reversed along ``dims``: ``flip(x, (0, 1))``, ``x.flip(0, 1)``.

    >>> import nbgrad as nb
    >>> nb.flip(nb.tensor([[1, 2], [3, 4]]), (0, 1))
    tensor([[4, 3],
            [2, 1]])
    """
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if not all(isinstance(d, int) for d in dims):
        raise TypeError(f"flip(): dims must be integers, got {dims}")
    axes = tuple(_wrap_dim(d, x.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"flip(): dims {tuple(dims)} has a repeated dim")
    return apply(FLIP, (x,), axes)


def _triangle(op, name: str, x: Tensor, diagonal: int) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got {x.shape}")
    return apply(op, (x,), int(diagonal))


@register(function=True, method=True, doc=Doc("Copying and joining", "every dtype", "tril(g)"))
def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """Lower triangle of the last two dims (zeros above ``diagonal``).

    >>> import nbgrad as nb
    >>> nb.tril(nb.ones(3, 3))
    tensor([[1., 0., 0.],
            [1., 1., 0.],
            [1., 1., 1.]])
    """
    return _triangle(TRIL, "tril", x, diagonal)


@register(function=True, method=True, doc=Doc("Copying and joining", "every dtype", "triu(g)"))
def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """Upper triangle of the last two dims (zeros below ``diagonal``).

    >>> import nbgrad as nb
    >>> nb.triu(nb.ones(3, 3), diagonal=1)
    tensor([[0., 1., 1.],
            [0., 0., 1.],
            [0., 0., 0.]])
    """
    return _triangle(TRIU, "triu", x, diagonal)
