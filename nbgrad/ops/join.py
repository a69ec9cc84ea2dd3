"""Joining and rearranging ops: cat, stack, repeat, flip, tril/triu (copies) and split, chunk,
unbind (views)."""

from __future__ import annotations

import itertools
import math

from nbgrad import _dtype
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape, parse_shape
from nbgrad.ops.creation import tensor, zeros
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
    if x.ndim == 0:
        return apply(FLIP, (x.reshape(1),), (0,) if axes else ()).reshape(())
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


# ---------------------------------------------------------------- rearranging, composed
_SHAPE = Doc("Shape (composed)", "every dtype", "composed from views and copies")


def _dims_arg(dims) -> tuple:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        return tuple(dims[0])
    return tuple(dims)


@register(function=("movedim", "moveaxis"), method=("movedim", "moveaxis"), doc=_SHAPE)
def movedim(input: Tensor, source, destination) -> Tensor:
    """Move dims ``source`` to positions ``destination`` (ints or sequences); a view.

    >>> import nbgrad as nb
    >>> nb.movedim(nb.zeros(2, 3, 4), 0, -1).shape
    (3, 4, 2)
    """
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    n = input.ndim
    src = [_wrap_dim(d, n) for d in src]
    dst = [_wrap_dim(d, n) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: repeated dim in `source` or `destination`")
    if n == 0:
        return input.view(())
    order = [d for d in range(n) if d not in src]
    perm = [None] * n
    for s, d in zip(src, dst):
        perm[d] = s
    it = iter(order)
    perm = [p if p is not None else next(it) for p in perm]
    return input.permute(*perm)


@register(function=("swapaxes", "swapdims"), method=("swapaxes", "swapdims"), doc=_SHAPE)
def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose(input, axis0, axis1)`` (numpy's name).

    >>> import nbgrad as nb
    >>> nb.swapaxes(nb.zeros(2, 3), 0, 1).shape
    (3, 2)
    """
    return input.transpose(axis0, axis1)


@register(function=True, method=True, doc=_SHAPE)
def unflatten(input: Tensor, dim: int, sizes) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one entry may be -1).

    >>> import nbgrad as nb
    >>> nb.unflatten(nb.zeros(2, 6), 1, (2, 3)).shape
    (2, 2, 3)
    """
    d = _wrap_dim(dim, input.ndim)
    sizes = tuple(sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in sizes if s != -1)
    n = input.shape[d]
    if -1 in sizes:
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != n:
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({n}) in the input tensor")
    return input.reshape(input.shape[:d] + sizes + input.shape[d + 1:])


@register(function=True, method=True, doc=_SHAPE)
def broadcast_to(input: Tensor, size) -> Tensor:
    """``input.expand(size)``.

    >>> import nbgrad as nb
    >>> nb.broadcast_to(nb.tensor([1, 2]), (2, 2))
    tensor([[1, 2],
            [1, 2]])
    """
    return input.expand(*parse_shape((size,)))


@register(function=True, doc=_SHAPE)
def broadcast_shapes(*shapes) -> tuple:
    """The shape the given shapes broadcast to.

    >>> import nbgrad as nb
    >>> nb.broadcast_shapes((2, 1), (3,))
    (2, 3)
    """
    out: tuple = ()
    for s in shapes:
        out = broadcast_shape(out, (s,) if isinstance(s, int) else tuple(s))
    return tuple(out)


@register(function=True, doc=_SHAPE)
def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    """Each tensor expanded to the common broadcast shape.

    >>> import nbgrad as nb
    >>> a, b = nb.broadcast_tensors(nb.zeros(2, 1), nb.zeros(3))
    >>> a.shape, b.shape
    ((2, 3), (2, 3))
    """
    tensors = _dims_arg(tensors)
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(*shape) for t in tensors)


@register(function=True, method=True, doc=_SHAPE)
def tile(input: Tensor, dims) -> Tensor:
    """``input`` repeated ``dims[i]`` times along dim ``i`` (dims padded with leading ones).

    >>> import nbgrad as nb
    >>> nb.tile(nb.tensor([1, 2]), (2,))
    tensor([1, 2, 1, 2])
    """
    dims = tuple(dims) if not isinstance(dims, int) else (dims,)
    dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, *dims)


@register(function=True, method=True, doc=_SHAPE)
def roll(input: Tensor, shifts, dims=None) -> Tensor:
    """Rotate elements along ``dims`` by ``shifts`` (flattened when ``dims`` is None).

    >>> import nbgrad as nb
    >>> nb.roll(nb.tensor([1, 2, 3, 4]), 1)
    tensor([4, 1, 2, 3])
    """
    if dims is None:
        if not isinstance(shifts, int):
            if len(shifts) != 1:
                raise RuntimeError(f"roll(): shifts and dimensions must align. shifts: "
                                   f"{len(shifts)}, dims:0")
            shifts = shifts[0]
        return roll(input.reshape(-1), shifts, 0).reshape(input.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll(): shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{len(dims)}")
    out = input
    for s, d in zip(shifts, dims):
        d = _wrap_dim(d, input.ndim)
        n = out.shape[d] if out.ndim else 1
        if n == 0 or out.ndim == 0:
            continue
        s %= n
        if s:
            out = cat([narrow(out, d, n - s, s), narrow(out, d, 0, n - s)], d)
    return out


@register(function=True, method=True, doc=_SHAPE)
def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims`` (from the first towards the
    second).

    >>> import nbgrad as nb
    >>> nb.rot90(nb.tensor([[1, 2], [3, 4]]))
    tensor([[2, 4],
            [1, 3]])
    """
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {input.ndim}")
    a, b = (_wrap_dim(d, input.ndim) for d in dims)
    if a == b:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {a} and "
                           f"dim1 = {b}")
    k %= 4
    if k == 1:
        return flip(input, b).transpose(a, b)
    if k == 2:
        return flip(input, a, b)
    if k == 3:
        return flip(input, a).transpose(a, b)
    return input.clone()


def _atleast(n: int, tensors):
    ts = _dims_arg(tensors)
    single = len(tensors) == 1 and isinstance(tensors[0], Tensor)
    out = []
    for t in ts:
        if t.ndim >= n:
            out.append(t)
        elif n == 1 or t.ndim == 0:
            out.append(t.reshape((1,) * n))
        elif n == 2:
            out.append(t.unsqueeze(0))
        else:
            out.append(t.unsqueeze(0).unsqueeze(-1) if t.ndim == 1 else t.unsqueeze(-1))
    return out[0] if single else tuple(out)


@register(function=True, doc=_SHAPE)
def atleast_1d(*tensors):
    """Each input with at least one dim.

    >>> import nbgrad as nb
    >>> nb.atleast_1d(nb.tensor(1.0))
    tensor([1.])
    """
    return _atleast(1, tensors)


@register(function=True, doc=_SHAPE)
def atleast_2d(*tensors):
    """Each input with at least two dims.

    >>> import nbgrad as nb
    >>> nb.atleast_2d(nb.tensor([1, 2])).shape
    (1, 2)
    """
    return _atleast(2, tensors)


@register(function=True, doc=_SHAPE)
def atleast_3d(*tensors):
    """Each input with at least three dims (a 1-D tensor becomes ``(1, n, 1)``).

    >>> import nbgrad as nb
    >>> nb.atleast_3d(nb.tensor([1, 2])).shape
    (1, 2, 1)
    """
    return _atleast(3, tensors)


@register(function=True, doc=_SHAPE)
def hstack(tensors) -> Tensor:
    """Join along dim 1 (dim 0 for 1-D inputs).

    >>> import nbgrad as nb
    >>> nb.hstack([nb.tensor([1, 2]), nb.tensor([3])])
    tensor([1, 2, 3])
    """
    ts = atleast_1d(*_tensors("hstack", tensors))
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


@register(function=("vstack", "row_stack"), doc=_SHAPE)
def vstack(tensors) -> Tensor:
    """Join along dim 0 after making each input at least 2-D.

    >>> import nbgrad as nb
    >>> nb.vstack([nb.tensor([1, 2]), nb.tensor([3, 4])])
    tensor([[1, 2],
            [3, 4]])
    """
    return cat(atleast_2d(*_tensors("vstack", tensors)), 0)


@register(function=True, doc=_SHAPE)
def dstack(tensors) -> Tensor:
    """Join along dim 2 after making each input at least 3-D.

    >>> import nbgrad as nb
    >>> nb.dstack([nb.tensor([1, 2]), nb.tensor([3, 4])]).shape
    (1, 2, 2)
    """
    return cat(atleast_3d(*_tensors("dstack", tensors)), 2)


@register(function=True, doc=_SHAPE)
def column_stack(tensors) -> Tensor:
    """Join as columns: 0-d and 1-D inputs become ``(n, 1)`` columns.

    >>> import nbgrad as nb
    >>> nb.column_stack([nb.tensor([1, 2]), nb.tensor([3, 4])])
    tensor([[1, 3],
            [2, 4]])
    """
    ts = [t.reshape(-1, 1) if t.ndim <= 1 else t for t in _tensors("column_stack", tensors)]
    return cat(ts, 1)


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``n`` nearly equal parts (an int) or at the given indices (a sequence).

    >>> import nbgrad as nb
    >>> [t.tolist() for t in nb.tensor_split(nb.arange(5), 2)]
    [[0, 1, 2], [3, 4]]
    >>> [t.tolist() for t in nb.tensor_split(nb.arange(5), (1, 3))]
    [[0], [1, 2], [3, 4]]
    """
    d = _wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    n = input.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.item() if ios.ndim == 0 else ios.tolist()
    if isinstance(ios, int):
        if ios <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {ios}")
        q, r = divmod(n, ios)
        bounds, start = [], 0
        for i in range(ios):
            start += q + (1 if i < r else 0)
            bounds.append(start)
        bounds = bounds[:-1]
    else:
        bounds = list(ios)
    out, start = [], 0
    for b in bounds + [n]:
        b = max(min(b if b >= 0 else b + n, n), 0)
        stop = max(b, start)
        out.append(narrow(input, d, start, stop - start))
        start = stop
    return tuple(out)


def _hvsplit(name: str, input: Tensor, ios, dim: int, need: int):
    if input.ndim < need:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {need} dimension, "
                           f"but got a tensor with {input.ndim} dimensions!")
    if isinstance(ios, int) and input.shape[dim] % ios:
        raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but the "
                           f"size of the dimension {input.shape[dim]} is not divisible by the "
                           f"split_size {ios}!")
    return tensor_split(input, ios, dim)


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def hsplit(input: Tensor, indices_or_sections) -> tuple[Tensor, ...]:
    """Split along dim 1 (dim 0 for 1-D) into equal parts or at indices.

    >>> import nbgrad as nb
    >>> [t.shape for t in nb.hsplit(nb.zeros(2, 4), 2)]
    [(2, 2), (2, 2)]
    """
    return _hvsplit("hsplit", input, indices_or_sections, 0 if input.ndim == 1 else 1, 1)


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def vsplit(input: Tensor, indices_or_sections) -> tuple[Tensor, ...]:
    """Split along dim 0 into equal parts or at indices (input at least 2-D).

    >>> import nbgrad as nb
    >>> [t.shape for t in nb.vsplit(nb.zeros(4, 2), 2)]
    [(2, 2), (2, 2)]
    """
    return _hvsplit("vsplit", input, indices_or_sections, 0, 2)


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def dsplit(input: Tensor, indices_or_sections) -> tuple[Tensor, ...]:
    """Split along dim 2 (input at least 3-D).

    >>> import nbgrad as nb
    >>> [t.shape for t in nb.dsplit(nb.zeros(1, 1, 4), 2)]
    [(1, 1, 2), (1, 1, 2)]
    """
    return _hvsplit("dsplit", input, indices_or_sections, 2, 3)


@register(function=True, method=True, doc=Doc("Splitting (views)", "every dtype", "views"))
def split_with_sizes(input: Tensor, split_sizes, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into pieces of the given sizes (which must sum to the dim's size).

    >>> import nbgrad as nb
    >>> [t.tolist() for t in nb.split_with_sizes(nb.arange(5), [2, 3])]
    [[0, 1], [2, 3, 4]]
    """
    d = _wrap_dim(dim, input.ndim)
    sizes = list(split_sizes)
    if sum(sizes) != input.shape[d]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                           f"{input.shape[d]} (input tensor's size at dimension {d}), but got "
                           f"split_sizes={sizes}")
    return split(input, sizes, d)


@register(function=True, method=True, doc=_SHAPE)
def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim`` (that dim removed); a view.

    >>> import nbgrad as nb
    >>> nb.select(nb.tensor([[1, 2], [3, 4]]), 1, 0)
    tensor([1, 3])
    """
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, input.ndim)
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return getitem(input, (slice(None),) * d + (index % n,))


@register(function=True, method=True, doc=_SHAPE)
def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``narrow`` copied into a new tensor.

    >>> import nbgrad as nb
    >>> nb.narrow_copy(nb.arange(5), 0, 1, 2)
    tensor([1, 2])
    """
    return narrow(input, dim, start, length).clone()


@register(method=True, doc=_SHAPE)
def view_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.view(other.shape)``.

    >>> import nbgrad as nb
    >>> nb.arange(4).view_as(nb.zeros(2, 2)).shape
    (2, 2)
    """
    return input.view(other.shape)


@register(method=True, doc=_SHAPE)
def reshape_as(input: Tensor, other: Tensor) -> Tensor:
    """``input.reshape(other.shape)``.

    >>> import nbgrad as nb
    >>> nb.arange(4).reshape_as(nb.zeros(2, 2)).shape
    (2, 2)
    """
    return input.reshape(other.shape)


@register(method=True, doc=Doc("Shape (composed)", "every dtype", "cast back"))
def type_as(input: Tensor, other: Tensor) -> Tensor:
    """``input`` cast to ``other``'s dtype.

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).type_as(nb.zeros(1))
    tensor([1., 2.])
    """
    return input.to(other.dtype)


@register(method="unfold", doc=_SHAPE)
def _unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Every slice of length ``size`` along ``dimension``, ``step`` apart, as a new last dim.

    >>> import nbgrad as nb
    >>> nb.arange(5).unfold(0, 2, 2)
    tensor([[0, 1],
            [2, 3]])
    """
    d = _wrap_dim(dimension, input.ndim)
    n = input.shape[d] if input.ndim else 1
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if input.ndim == 0:
        return input.reshape(1)
    count = (n - size) // step + 1
    parts = [narrow(input, d, i * step, size).unsqueeze(-1) for i in range(count)]
    out = cat(parts, -1) if parts else narrow(input, d, 0, 0).unsqueeze(-1)
    # out: (..., size@d, ..., count) -> (..., count@d, ..., size)
    return out.transpose(d, -1)


@register(function=True, doc=_SHAPE)
def meshgrid(*tensors, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (``indexing="ij"``, the default, or ``"xy"``).

    >>> import nbgrad as nb
    >>> a, b = nb.meshgrid(nb.tensor([1, 2]), nb.tensor([3, 4, 5]), indexing="ij")
    >>> a.shape, b[0].tolist()
    ((2, 3), [3, 4, 5])
    """
    ts = list(_dims_arg(tensors))
    if indexing is None:
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but '
                           f'received: {indexing}')
    for t in ts:
        if t.ndim > 1:
            raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list "
                               f"but got: {t.shape}")
    ts = [t.reshape(-1) for t in ts]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = [t.reshape(tuple(-1 if i == j else 1 for j in range(len(ts)))).expand(*shape)
           for i, t in enumerate(ts)]
    if swap:
        out[0], out[1] = out[1], out[0]
    return tuple(out)


@register(function=True, doc=_SHAPE)
def cartesian_prod(*tensors) -> Tensor:
    """Every combination of one element from each 1-D tensor, as rows.

    >>> import nbgrad as nb
    >>> nb.cartesian_prod(nb.tensor([1, 2]), nb.tensor([3, 4]))
    tensor([[1, 3],
            [1, 4],
            [2, 3],
            [2, 4]])
    """
    ts = _dims_arg(tensors)
    if len(ts) == 1:
        return ts[0]
    return stack([g.reshape(-1) for g in meshgrid(*ts, indexing="ij")], 1)


@register(function=True, doc=_SHAPE)
def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of a 1-D tensor's elements, as rows.

    >>> import nbgrad as nb
    >>> nb.combinations(nb.tensor([1, 2, 3]))
    tensor([[1, 2],
            [1, 3],
            [2, 3]])
    """
    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return input[:0]
    f = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = list(f(range(input.shape[0]), r))
    if not idx:
        return input[:0].reshape(0, r)
    return input[tensor(idx, device=input.device)]


@register(function=True, doc=_SHAPE)
def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the inputs (0-, 1- or 2-D).

    >>> import nbgrad as nb
    >>> nb.block_diag(nb.tensor([[1, 2]]), nb.tensor([[3]]))
    tensor([[1, 2, 0],
            [0, 0, 3]])
    """
    ts = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input {i} has {t.ndim} dimensions")
        ts.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not ts:
        return zeros(1, 0)
    dt = ts[0].dtype
    for t in ts[1:]:
        dt = _dtype.promote(dt, t.dtype)
    cols = sum(t.shape[1] for t in ts)
    rows = []
    start = 0
    for t in ts:
        c = t.shape[1]
        left = zeros(t.shape[0], start, dtype=dt, device=t.device)
        right = zeros(t.shape[0], cols - start - c, dtype=dt, device=t.device)
        rows.append(cat([left, t.to(dt), right], 1))
        start += c
    return cat(rows, 0)

