"""Copying ops that pick or place elements by index: gather, scatter_add, index_select,
masked_fill. Basic and advanced ``x[...]`` indexing lives in ``ops/shape.py``."""

from __future__ import annotations

import numpy as np

from nbgrad import _dtype
from nbgrad._device import backend_for
from nbgrad.ops._dispatch import OpDef, apply, apply_inplace
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.ops.creation import tensor, zeros, zeros_like
from nbgrad.ops.elementwise import TERNARY, where
from nbgrad.ops.shape import (
    ADV_INDEX,
    INDEX_ADD,
    INDEX_PUT,
    _normalize_index,
    advanced_index,
    copy_,
    getitem,
)
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = [
    "gather", "scatter_add", "scatter_add_", "index_select", "masked_fill", "masked_fill_",
    "take_along_dim", "scatter", "scatter_", "scatter_reduce", "scatter_reduce_", "index_add",
    "index_add_", "index_copy", "index_copy_", "index_fill", "index_fill_", "index_put",
    "index_put_", "masked_select", "masked_scatter", "masked_scatter_", "nonzero", "argwhere",
    "take", "put", "put_", "diagonal", "diag_embed", "diag", "diagflat", "trace",
    "tril_indices", "triu_indices",
]


def _check_index(name: str, index, allow_0d: bool = False) -> None:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): index must be a Tensor, got {type(index).__name__}")
    if index.dtype not in (_dtype.int64, _dtype.int32):
        raise RuntimeError(f"{name}(): Expected dtype int64 for index, got {index.dtype.name}")


def _check_range(name: str, index: Tensor, size: int, dim: int) -> None:
    if index.numel() == 0:
        return
    lo, hi = backend_for(index.device).index_bounds(index._data)
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise IndexError(
            f"{name}(): index {bad} is out of bounds for dimension {dim} with size {size}"
        )


def _check_block(name: str, index: Tensor, other: Tensor, dim: int, what: str,
                 skip_dim: bool = True) -> None:
    """``index.size(d) <= other.size(d)`` for every ``d`` (except ``dim`` when skipped)."""
    if index.ndim != other.ndim and not (index.ndim <= 1 and other.ndim <= 1):
        raise RuntimeError(
            f"{name}(): Index tensor must have the same number of dimensions as {what} tensor "
            f"(index shape {index.shape}, {what} shape {other.shape})"
        )
    for d, (i, s) in enumerate(zip(index.shape, other.shape)):
        if (d != dim or not skip_dim) and i > s:
            raise RuntimeError(
                f"{name}(): Size does not match at dimension {d}: index shape {index.shape} "
                f"is larger than {what} shape {other.shape}"
            )


def _leading_block(t: Tensor, shape, dim: int | None) -> Tensor:
    """The view ``t[:shape[0], :shape[1], ...]`` (all of ``dim`` when given)."""
    if all(d == dim or s == t.shape[d] for d, s in enumerate(shape)):
        return t
    return getitem(t, tuple(slice(None) if d == dim else slice(0, s)
                            for d, s in enumerate(shape)))


class Gather(OpDef):
    """``out = x.gather(dim, index)``; params = (dim, input shape)."""

    name = "Gather"

    def forward(self, bk, params, x, index):
        return bk.gather(x, params[0], index)

    def save(self, needs):
        return (False, True), False

    def backward(self, node, grad, *_):
        dim, in_shape = node.params
        index = node.saved_input(1)
        base = zeros(in_shape, dtype=grad.dtype, device=grad.device)
        return scatter_add(base, dim, index, grad), None


class ScatterAdd(OpDef):
    """``out = x.clone(); out[..index.., along dim] += src``; params = dim."""

    name = "ScatterAdd"

    def forward(self, bk, params, x, index, src):
        out = bk.copy(x)
        bk.scatter_add(out, params, index, src)
        return out

    def forward_into(self, bk, params, out, x, index, src):
        bk.scatter_add(out, params, index, src)

    def save(self, needs):
        return (False, needs[2], False), False

    def backward(self, node, grad):
        gx = grad if node.edges[0] is not None else None
        gsrc = None
        if node.edges[2] is not None:
            gsrc = gather(grad, node.params, node.saved_input(1))
        return gx, None, gsrc


GATHER, SCATTER_ADD = Gather(), ScatterAdd()


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype; int64/int32 index", "scatter_add into zeros"))
def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """Values of ``x`` along ``dim`` at ``index`` (an int64 tensor with x's number of dims).

    ``out[i][j] = x[index[i][j]][j]`` for ``dim == 0``; the output has ``index``'s shape.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1, 2], [3, 4]])
    >>> nb.gather(x, 1, nb.tensor([[0, 0], [1, 0]]))
    tensor([[1, 1],
            [4, 3]])
    """
    _check_index("gather", index)
    d = _wrap_dim(dim, x.ndim)
    _check_block("gather", index, x, d, "input")
    _check_range("gather", index, x.shape[d] if x.ndim else 1, d)
    if x.ndim == 0:
        return apply(GATHER, (x.reshape(1), index.reshape(1)), (0, (1,))).reshape(index.shape)
    x = _leading_block(x, index.shape, d)
    return apply(GATHER, (x, index), (d, x.shape))


@register(function=True, method=True, doc=Doc("Copying and joining", "every dtype", "as gather"))
def take_along_dim(x: Tensor, indices: Tensor, dim: int) -> Tensor:
    """``gather`` with ``indices`` broadcast against ``x`` (numpy's ``take_along_axis``).

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1, 2], [3, 4]])
    >>> nb.take_along_dim(x, nb.tensor([[1], [0]]), dim=1)
    tensor([[2],
            [3]])
    """
    d = _wrap_dim(dim, x.ndim)
    shape = list(broadcast_shape(
        tuple(1 if i == d else s for i, s in enumerate(x.shape)),
        tuple(1 if i == d else s for i, s in enumerate(indices.shape)),
        op="take_along_dim",
    ))
    xs = list(shape)
    xs[d] = x.shape[d]
    shape[d] = indices.shape[d]
    return gather(x.expand(*xs), d, indices.expand(*shape))


def _scatter_args(name, x, dim, index, src):
    _check_index(name, index)
    if not isinstance(src, Tensor):
        raise TypeError(f"{name}(): src must be a Tensor, got {type(src).__name__}")
    if src.dtype is not x.dtype:
        raise RuntimeError(
            f"{name}(): Expected self.dtype to be equal to src.dtype (got {x.dtype.name} and "
            f"{src.dtype.name})"
        )
    d = _wrap_dim(dim, x.ndim)
    _check_block(name, index, x, d, "self")
    _check_block(name, index, src, d, "src", skip_dim=False)
    _check_range(name, index, x.shape[d] if x.ndim else 1, d)
    return d, _leading_block(src, index.shape, None)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype (src like input)", "input: g; src: g.gather(dim, index)"))
def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``x`` with ``src`` added at ``index`` along ``dim`` (repeats accumulate).

    ``out[index[i][j]][j] += src[i][j]`` for ``dim == 0``.

    >>> import nbgrad as nb
    >>> nb.scatter_add(nb.zeros(3), 0, nb.tensor([0, 2, 0]), nb.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    d, src = _scatter_args("scatter_add", x, dim, index, src)
    return apply(SCATTER_ADD, (x, index, src), d)


@register(inplace=True)
def scatter_add_(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """In-place ``scatter_add`` (one version bump).

    >>> import nbgrad as nb
    >>> x = nb.zeros(3)
    >>> x.scatter_add_(0, nb.tensor([0, 2, 0]), nb.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    d, src = _scatter_args("scatter_add_", x, dim, index, src)
    return apply_inplace(SCATTER_ADD, x, (index, src), d)


INDEX_SELECT = ADV_INDEX.overload("IndexSelectBackward0")
# masked_fill is a ``where`` recording PyTorch's masked_fill.Scalar / masked_fill.Tensor node
MASKED_FILL = TERNARY["where"].overload("MaskedFillBackward0")
MASKED_FILL_TENSOR = TERNARY["where"].overload("MaskedFillBackward1")


@register(function=True, method=True,
          doc=Doc("Copying and joining", "every dtype", "accumulated at the indices"))
def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``x`` at the positions ``index`` (1-D, int) along ``dim``, copied.

    >>> import nbgrad as nb
    >>> nb.index_select(nb.tensor([10, 20, 30]), 0, nb.tensor([2, 0]))
    tensor([30, 10])
    """
    _check_index("index_select", index)
    if index.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got {index.shape}")
    d = _wrap_dim(dim, x.ndim)
    size = x.shape[d] if x.ndim else 1
    _check_range("index_select", index, size, d)
    if x.ndim == 0:
        return getitem(x.reshape(1), (index.reshape(-1),)).reshape(index.shape)
    return advanced_index(x, (slice(None),) * d + (index.reshape(-1),), INDEX_SELECT)


def _mask_value(name: str, x: Tensor, mask, value) -> Tensor:
    if not isinstance(mask, Tensor) or mask.dtype is not _dtype.bool_:
        got = mask.dtype.name if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"{name} only supports boolean masks, but got mask with dtype {got}")
    if broadcast_shape(x.shape, mask.shape) != x.shape:
        raise ValueError(
            f"{name}: mask of shape {mask.shape} does not broadcast to the input shape {x.shape}"
        )
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(
                f"{name} only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)"
            )
        return value.to(x.dtype)
    if not isinstance(value, (int, float, bool)):
        raise TypeError(f"{name}(): value must be a number or a 0-d Tensor")
    return tensor(value, dtype=x.dtype, device=x.device)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype; bool mask",
    "input: g where not mask; value: sum of g where mask"))
def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    """A copy of ``x`` with ``value`` (a number or 0-d tensor) where ``mask`` is true.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, -2.0, 3.0])
    >>> nb.masked_fill(x, x < 0, 0.0)
    tensor([1., 0., 3.])
    """
    filled = _mask_value("masked_fill", x, mask, value)  # mask broadcasts to x; 0-d value
    return apply(MASKED_FILL_TENSOR if isinstance(value, Tensor) else MASKED_FILL,
                 (mask, filled, x))


@register(inplace=True)
def masked_fill_(x: Tensor, mask: Tensor, value) -> Tensor:
    """In-place ``masked_fill`` (one version bump).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, -2.0, 3.0])
    >>> x.masked_fill_(x < 0, 0.0)
    tensor([1., 0., 3.])
    """
    return copy_(x, where(mask, _mask_value("masked_fill_", x, mask, value), x))


# ---------------------------------------------------------------- scatter and friends
class HostScatter(OpDef):
    """``out = x.clone()``, then the entries of ``src`` combined into ``out`` at ``index``
    along ``dim`` with ``reduce`` (None: assign; "sum", "prod", "mean", "amax", "amin"),
    ``include_self`` saying whether ``x``'s own value takes part; params = (dim, reduce,
    include_self). Computed with numpy on the host."""

    name = "Scatter"

    def forward(self, bk, params, x, index, src):
        dim, reduce, include_self = params
        a, i, v = bk.to_host(x), bk.to_host(index), bk.to_host(src)
        out = np.array(a, copy=True)
        coords = list(np.indices(i.shape, sparse=True))
        coords[dim] = i
        coords = tuple(coords)
        v = v[tuple(slice(0, n) for n in i.shape)] if v.ndim else v
        if reduce is None:
            out[coords] = v
        else:
            touched = np.zeros(out.shape, bool)
            touched[coords] = True
            if not include_self:
                fill = {"sum": 0, "mean": 0, "prod": 1}.get(reduce)
                if fill is None:
                    info = np.finfo(out.dtype) if out.dtype.kind == "f" else np.iinfo(out.dtype)
                    if out.dtype.kind == "f":
                        fill = -np.inf if reduce == "amax" else np.inf
                    else:
                        fill = info.min if reduce == "amax" else info.max
                out[touched] = fill
            ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
                     "amin": np.minimum}[reduce]
            ufunc.at(out, coords, v)
            if reduce == "mean":
                count = np.zeros(out.shape, np.int64)
                np.add.at(count, coords, 1)
                count += include_self
                count = np.maximum(count, 1)
                out = out / count if out.dtype.kind == "f" else out // count
            out = out.astype(a.dtype, copy=False)
        return bk.asarray(out, out.dtype)

    def save(self, needs):
        return (True, True, True), True

    def backward(self, node, grad):
        dim, reduce, include_self = node.params
        x, index, src = node.saved_input(0), node.saved_input(1), node.saved_input(2)
        src = src[tuple(slice(0, n) for n in index.shape)] if src.ndim else src
        touched = _touched(x, dim, index)
        gx = gsrc = None
        if reduce is None:
            gx = grad.masked_fill(touched, 0.0)
            gsrc = gather(grad, dim, index)
        elif reduce == "sum":
            gx = grad if include_self else grad.masked_fill(touched, 0.0)
            gsrc = gather(grad, dim, index)
        elif reduce == "mean":
            ones = src * 0 + 1
            count = scatter_add(zeros_like(x), dim, index, ones) + (1 if include_self else 0)
            count = count.masked_fill(count == 0, 1.0)
            gx = (grad / count) if include_self else grad.masked_fill(touched, 0.0)
            gsrc = gather(grad / count, dim, index)
        elif reduce == "prod":
            out = node.output()
            gx = (grad * out / x) if include_self else grad.masked_fill(touched, 0.0)
            gsrc = gather(grad * out, dim, index) / src
        else:  # amax / amin: g shared evenly among the entries equal to the result
            out = node.output()
            hit_src = (src == gather(out, dim, index)).to(grad.dtype)
            hit_self = (x == out).to(grad.dtype) if include_self else \
                1 - touched.to(grad.dtype)
            count = scatter_add(hit_self, dim, index, hit_src)
            share = grad / count.masked_fill(count == 0, 1.0)
            gx = share * hit_self
            gsrc = gather(share, dim, index) * hit_src
        return gx, None, gsrc


HOST_SCATTER = HostScatter()
SCATTER_REDUCE = HOST_SCATTER.overload("ScatterReduceBackward0")
_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _touched(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """Bool mask of the entries of ``x`` that ``index`` points at along ``dim``."""
    ones = zeros(index.shape, dtype=_dtype.int64, device=x.device) + 1
    return scatter_add(zeros(x.shape, dtype=_dtype.int64, device=x.device), dim, index,
                       ones) > 0


def _scatter_src(name: str, x: Tensor, index: Tensor, src):
    if isinstance(src, Tensor):
        return src
    if not isinstance(src, (int, float, bool)):
        raise TypeError(f"{name}(): src must be a Tensor or a number, got {type(src).__name__}")
    return tensor(src, dtype=x.dtype, device=x.device).expand(*index.shape)


def _scatter_op(name, x, dim, index, src, reduce, include_self=True):
    src = _scatter_src(name, x, index, src)
    d, src = _scatter_args(name, x, dim, index, src)
    op = HOST_SCATTER if reduce is None else SCATTER_REDUCE
    return op, (x, index, src), (d, reduce, include_self)


_OLD_REDUCE = {"add": "sum", "multiply": "prod"}


def _old_reduce(name, reduce):
    if reduce is None:
        return None
    if reduce not in _OLD_REDUCE:
        raise RuntimeError(f"{name}(): reduce argument must be either add or multiply, got "
                           f"{reduce}")
    return _OLD_REDUCE[reduce]


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "input: g with scattered entries zeroed; src: gather"))
def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,
            reduce: str | None = None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor or a number, also as ``value=``) written at
    ``index`` along ``dim``; ``reduce="add"``/``"multiply"`` combines instead.

    >>> import nbgrad as nb
    >>> nb.scatter(nb.zeros(3), 0, nb.tensor([2, 0]), nb.tensor([5.0, 7.0]))
    tensor([7., 0., 5.])
    >>> nb.zeros(3).scatter(0, nb.tensor([1]), 2.0)
    tensor([0., 2., 0.])
    """
    src = value if src is None else src
    if src is None:
        raise TypeError("scatter() missing the src (or value) argument")
    op, ins, params = _scatter_op("scatter", input, dim, index, src,
                                  _old_reduce("scatter", reduce))
    return apply(op, ins, params)


@register(inplace=True)
def scatter_(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,
             reduce: str | None = None) -> Tensor:
    """In-place ``scatter``.

    >>> import nbgrad as nb
    >>> nb.zeros(3).scatter_(0, nb.tensor([1]), 2.0)
    tensor([0., 2., 0.])
    """
    return copy_(input, scatter(input, dim, index, src, value=value, reduce=reduce))


def _check_reduce(name, reduce):
    if reduce not in _REDUCES:
        raise RuntimeError(f"{name}(): reduce argument must be either sum, prod, mean, amax or "
                           f"amin, got {reduce}")


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype",
    "sum: g / gather; mean: divided by the counts; prod: g*out/x; amax/amin: shared by ties"))
def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """``input`` with the entries of ``src`` combined in at ``index`` along ``dim`` by
    ``reduce`` ("sum", "prod", "mean", "amax", "amin"); ``include_self=False`` leaves
    ``input``'s own values out where something is scattered.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0])
    >>> x.scatter_reduce(0, nb.tensor([0, 0, 1]), nb.tensor([5.0, 3.0, 1.0]), "amax")
    tensor([5., 2.])
    >>> x.scatter_reduce(0, nb.tensor([0, 0]), nb.tensor([5.0, 3.0]), "mean",
    ...                  include_self=False)
    tensor([4., 2.])
    """
    _check_reduce("scatter_reduce", reduce)
    op, ins, params = _scatter_op("scatter_reduce", input, dim, index, src, reduce,
                                  include_self)
    return apply(op, ins, params)


@register(inplace=True)
def scatter_reduce_(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                    include_self: bool = True) -> Tensor:
    """In-place ``scatter_reduce``.

    >>> import nbgrad as nb
    >>> nb.ones(2).scatter_reduce_(0, nb.tensor([1]), nb.tensor([3.0]), "prod")
    tensor([1., 3.])
    """
    return copy_(input, scatter_reduce(input, dim, index, src, reduce,
                                       include_self=include_self))


def _index_along(name: str, x: Tensor, dim: int, index: Tensor, source: Tensor | None):
    """``index`` (1-D) expanded to ``source``'s shape along ``dim``, for scatter."""
    _check_index(name, index)
    if index.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    d = _wrap_dim(dim, x.ndim)
    n = index.numel()
    if source is not None:
        if source.ndim != x.ndim and not (source.ndim <= 1 and x.ndim <= 1):
            raise RuntimeError(f"{name}(): source and self must have the same number of dims "
                               f"(got {source.ndim} and {x.ndim})")
        sshape = source.shape if source.ndim else (1,)
        xshape = x.shape if x.ndim else (1,)
        if sshape[d] != n:
            raise RuntimeError(f"{name}(): Number of indices ({n}) should be equal to "
                               f"source.size(dim) ({sshape[d]})")
        for k, (a, b) in enumerate(zip(sshape, xshape)):
            if k != d and a != b:
                raise RuntimeError(f"{name}(): source shape {source.shape} does not match "
                                   f"self shape {x.shape} outside dim {d}")
    _check_range(name, index, x.shape[d] if x.ndim else 1, d)
    shape = list(x.shape if x.ndim else (1,))
    shape[d] = n
    view = [1] * len(shape)
    view[d] = n
    return d, index.reshape(view).expand(*shape)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "input: g; source: alpha * g[index]"))
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` with ``alpha * source`` added at the positions ``index`` along ``dim``.

    >>> import nbgrad as nb
    >>> nb.zeros(3).index_add(0, nb.tensor([0, 2, 0]), nb.tensor([1.0, 2.0, 3.0]))
    tensor([4., 0., 2.])
    """
    d, idx = _index_along("index_add", input, dim, index, source)
    src = source if alpha == 1 else source * alpha
    if input.ndim == 0:
        return scatter_add(input.reshape(1), 0, idx, src.reshape(-1)).reshape(())
    return scatter_add(input, d, idx, src)


@register(inplace=True)
def index_add_(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """In-place ``index_add``.

    >>> import nbgrad as nb
    >>> nb.zeros(2).index_add_(0, nb.tensor([1]), nb.tensor([2.0]))
    tensor([0., 2.])
    """
    return copy_(input, index_add(input, dim, index, source, alpha=alpha))


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "input: g zeroed at index; source: g[index]"))
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with the slices of ``source`` copied to the positions ``index`` along ``dim``.

    >>> import nbgrad as nb
    >>> nb.zeros(3).index_copy(0, nb.tensor([2, 0]), nb.tensor([1.0, 2.0]))
    tensor([2., 0., 1.])
    """
    d, idx = _index_along("index_copy", input, dim, index, source)
    if input.ndim == 0:
        return scatter(input.reshape(1), 0, idx, source.reshape(-1)).reshape(())
    return scatter(input, d, idx, source)


@register(inplace=True)
def index_copy_(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """In-place ``index_copy``.

    >>> import nbgrad as nb
    >>> nb.zeros(2).index_copy_(0, nb.tensor([1]), nb.tensor([2.0]))
    tensor([0., 2.])
    """
    return copy_(input, index_copy(input, dim, index, source))


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "input: g zeroed at index; value: sum there"))
def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``input`` with ``value`` (a number or 0-d tensor) at the positions ``index`` along
    ``dim``.

    >>> import nbgrad as nb
    >>> nb.zeros(2, 2).index_fill(1, nb.tensor([1]), 5.0)
    tensor([[0., 5.],
            [0., 5.]])
    """
    d, idx = _index_along("index_fill", input, dim, index, None)
    xx = input.reshape(1) if input.ndim == 0 else input
    mask = _touched(xx, d, idx)
    return masked_fill(xx, mask, value).reshape(input.shape)


@register(inplace=True)
def index_fill_(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """In-place ``index_fill``.

    >>> import nbgrad as nb
    >>> nb.zeros(2).index_fill_(0, nb.tensor([0]), 1.0)
    tensor([1., 0.])
    """
    return copy_(input, index_fill(input, dim, index, value))


def _put_index(name: str, indices):
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"{name}(): indices must be a tuple of tensors")
    for i in indices:
        if i is not None and not isinstance(i, Tensor):
            raise TypeError(f"{name}(): indices must be a tuple of tensors, got "
                            f"{type(i).__name__}")
    return tuple(slice(None) if i is None else i for i in indices)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype",
    "input: g (zeroed at the indices unless accumulate); values: g[indices]"))
def index_put(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """``input`` with ``values`` written (or added, with ``accumulate``) at ``input[indices]``,
    ``indices`` a tuple of index tensors.

    >>> import nbgrad as nb
    >>> nb.zeros(3).index_put((nb.tensor([0, 0]),), nb.tensor([1.0, 2.0]), accumulate=True)
    tensor([3., 0., 0.])
    """
    index = _put_index("index_put", indices)
    if not isinstance(values, Tensor):
        values = tensor(values, dtype=input.dtype, device=input.device)
    if values.dtype is not input.dtype:
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{input.dtype.name} for the destination and {values.dtype.name} "
                           f"for the source.")
    idx, _ = _normalize_index(index)
    if accumulate:
        target_shape = getitem(input.detach(), index).shape
        return input + apply(INDEX_ADD, (values.expand(*target_shape),), (idx, input.shape))
    return apply(INDEX_PUT, (input, values), idx)


@register(inplace=True)
def index_put_(input: Tensor, indices, values: Tensor, accumulate: bool = False) -> Tensor:
    """In-place ``index_put``.

    >>> import nbgrad as nb
    >>> nb.zeros(2).index_put_((nb.tensor([1]),), nb.tensor(4.0))
    tensor([0., 4.])
    """
    return copy_(input, index_put(input, indices, values, accumulate))


def _bool_mask(name: str, mask) -> None:
    if not isinstance(mask, Tensor) or mask.dtype is not _dtype.bool_:
        got = mask.dtype.name if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"{name}: expected BoolTensor for mask, got {got}")


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype; bool mask", "g placed back where mask is true"))
def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The entries of ``input`` where ``mask`` (broadcast with it) is true, as a 1-D tensor.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1, -2], [-3, 4]])
    >>> nb.masked_select(x, x > 0)
    tensor([1, 4])
    """
    _bool_mask("masked_select", mask)
    shape = broadcast_shape(input.shape, mask.shape, op="masked_select")
    return getitem(input.expand(*shape), mask.expand(*shape))


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype; bool mask",
    "input: g where not mask; source: g[mask] placed in order"))
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``input`` with the leading elements of ``source`` (in order) written where ``mask``
    is true.

    >>> import nbgrad as nb
    >>> x = nb.zeros(4)
    >>> nb.masked_scatter(x, nb.tensor([True, False, True, False]), nb.tensor([7.0, 8.0, 9.0]))
    tensor([7., 0., 8., 0.])
    """
    _bool_mask("masked_scatter", mask)
    if source.dtype is not input.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but "
                           f"got {input.dtype.name} and {source.dtype.name}")
    shape = broadcast_shape(input.shape, mask.shape, op="masked_scatter")
    if shape != input.shape:
        raise RuntimeError(f"masked_scatter: mask of shape {mask.shape} does not broadcast to "
                           f"the input shape {input.shape}")
    m = mask.expand(*shape)
    mh = m._host()
    k = int(mh.sum())
    if k > source.numel():
        raise RuntimeError("masked_scatter: expected source to have at least as many elements "
                           f"as ones in mask ({k}), got {source.numel()}")
    pos = np.maximum(np.cumsum(mh.reshape(-1)) - 1, 0).reshape(shape)
    picked = source.reshape(-1)[tensor(pos.astype(np.int64), device=input.device)]
    return where(m, picked, input)


@register(inplace=True)
def masked_scatter_(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """In-place ``masked_scatter``.

    >>> import nbgrad as nb
    >>> nb.zeros(2).masked_scatter_(nb.tensor([False, True]), nb.tensor([5.0]))
    tensor([0., 5.])
    """
    return copy_(input, masked_scatter(input, mask, source))


def _int_tensor(a, device) -> Tensor:
    return tensor(np.asarray(a, np.int64), device=device)


@register(function=True, method=True, doc=Doc("Copying and joining", "every dtype",
                                              "not differentiable (int64 result)"))
def nonzero(input: Tensor, *, as_tuple: bool = False):
    """The positions of the non-zero entries: an ``(n, ndim)`` tensor, or with
    ``as_tuple=True`` one 1-D tensor per dim.

    >>> import nbgrad as nb
    >>> nb.nonzero(nb.tensor([[0, 1], [2, 0]]))
    tensor([[0, 1],
            [1, 0]])
    >>> nb.tensor([0, 3, 4]).nonzero(as_tuple=True)
    (tensor([1, 2]),)
    """
    a = input._host()
    if as_tuple:
        if a.ndim == 0:
            return (_int_tensor(np.nonzero(a.reshape(1))[0], input.device),)
        return tuple(_int_tensor(i, input.device) for i in np.nonzero(a))
    return _int_tensor(np.argwhere(a).reshape(int(np.count_nonzero(a)), a.ndim), input.device)


@register(function=True, method=True, doc=Doc("Copying and joining", "every dtype",
                                              "not differentiable (int64 result)"))
def argwhere(input: Tensor) -> Tensor:
    """``nonzero(input)``: the positions of the non-zero entries, one row each.

    >>> import nbgrad as nb
    >>> nb.argwhere(nb.tensor([0, 5, 7]))
    tensor([[1],
            [2]])
    """
    return nonzero(input)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "accumulated at the indices"))
def take(input: Tensor, index: Tensor) -> Tensor:
    """The entries of the flattened ``input`` at ``index`` (any shape; negative wraps).

    >>> import nbgrad as nb
    >>> nb.take(nb.tensor([[1, 2], [3, 4]]), nb.tensor([0, 3, -1]))
    tensor([1, 4, 4])
    """
    _check_index("take", index)
    n = input.numel()
    flat = input.reshape(-1)
    if index.numel():
        lo, hi = backend_for(index.device).index_bounds(index._data)
        if lo < -n or hi >= n:
            raise IndexError(f"take(): index {lo if lo < -n else hi} is out of bounds for "
                             f"size {n}")
    return getitem(flat, index)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "input: g zeroed at index; source: g[index]"))
def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """``input`` with ``source`` written (or added) at the positions ``index`` of its
    flattened form.

    >>> import nbgrad as nb
    >>> nb.zeros(2, 2).put(nb.tensor([3, 0]), nb.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 1.]])
    """
    _check_index("put", index)
    if source.numel() != index.numel():
        raise RuntimeError(f"put(): Expected source and index to have the same number of "
                           f"elements, but got source.numel() = {source.numel()}, "
                           f"index.numel() = {index.numel()}")
    n = input.numel()
    idx = index.reshape(-1)
    if idx.numel():
        lo, hi = backend_for(index.device).index_bounds(idx._data)
        if lo < -n or hi >= n:
            raise IndexError(f"put(): index {lo if lo < -n else hi} is out of bounds for "
                             f"size {n}")
    flat = index_put(input.reshape(-1), (idx,), source.reshape(-1), accumulate)
    return flat.reshape(input.shape)


@register(inplace=True)
def put_(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """In-place ``put``.

    >>> import nbgrad as nb
    >>> nb.zeros(3).put_(nb.tensor([1]), nb.tensor([9.0]))
    tensor([0., 9., 0.])
    """
    return copy_(input, put(input, index, source, accumulate))


# ---------------------------------------------------------------- diagonals
def _diag_coords(n1: int, n2: int, offset: int):
    """Row and column of each entry of the ``offset`` diagonal of an ``(n1, n2)`` matrix."""
    if offset >= 0:
        k = max(min(n1, n2 - offset), 0)
        return np.arange(k), np.arange(k) + offset
    k = max(min(n1 + offset, n2), 0)
    return np.arange(k) - offset, np.arange(k)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "g placed back on the diagonal"))
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal of the planes ``(dim1, dim2)``, as the last dim (a copy).

    >>> import nbgrad as nb
    >>> nb.diagonal(nb.tensor([[1, 2], [3, 4]]))
    tensor([1, 4])
    >>> nb.tensor([[1, 2], [3, 4]]).diagonal(1)
    tensor([2])
    """
    if input.ndim < 2:
        raise RuntimeError(f"diagonal dimensions requires at least 2 dimensions, got "
                           f"{input.ndim}")
    a, b = _wrap_dim(dim1, input.ndim), _wrap_dim(dim2, input.ndim)
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    moved = input.movedim((a, b), (-2, -1))
    r, c = _diag_coords(moved.shape[-2], moved.shape[-1], offset)
    return getitem(moved, (Ellipsis, _int_tensor(r, input.device), _int_tensor(c, input.device)))


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "the diagonal of g"))
def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose ``offset`` diagonal (in dims ``dim1``, ``dim2`` of the output) holds the
    last dim of ``input``; zeros elsewhere.

    >>> import nbgrad as nb
    >>> nb.diag_embed(nb.tensor([1, 2]))
    tensor([[1, 0],
            [0, 2]])
    """
    if input.ndim == 0:
        input = input.reshape(1)
    n = input.shape[-1]
    m = n + abs(offset)
    nd = input.ndim + 1
    a, b = _wrap_dim(dim1, nd), _wrap_dim(dim2, nd)
    if a == b:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    r, c = _diag_coords(m, m, offset)
    lin = _int_tensor(r * m + c, input.device)
    batch = input.shape[:-1]
    base = zeros(batch + (m * m,), dtype=input.dtype, device=input.device)
    out = scatter(base, -1, lin.expand(*batch, n), input).reshape(batch + (m, m))
    return out.movedim((-2, -1), (a, b)) if (a, b) != (nd - 2, nd - 1) else out


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "as diagonal / diag_embed"))
def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: F811
    """A 1-D input as the ``diagonal`` of a square matrix; a 2-D input's ``diagonal``.

    >>> import nbgrad as nb
    >>> nb.diag(nb.tensor([1, 2]))
    tensor([[1, 0],
            [0, 2]])
    >>> nb.diag(nb.tensor([[1, 2], [3, 4]]))
    tensor([1, 4])
    """
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return _diagonal(input, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


_diagonal = diagonal


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype", "as diag_embed"))
def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """The flattened input as the ``offset`` diagonal of a square matrix.

    >>> import nbgrad as nb
    >>> nb.diagflat(nb.tensor([[1, 2]]))
    tensor([[1, 0],
            [0, 2]])
    """
    return diag_embed(input.reshape(-1), offset)


@register(function=True, method=True, doc=Doc(
    "Copying and joining", "every dtype (integers give int64)", "g on the diagonal"))
def trace(input: Tensor) -> Tensor:
    """Sum of the main diagonal of a 2-D tensor.

    >>> import nbgrad as nb
    >>> nb.trace(nb.tensor([[1, 2], [3, 4]]))
    tensor(5)
    """
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return _diagonal(input).sum()


def _tri_indices(fn, row, col, offset, dtype, device):
    r, c = fn(row, offset, col)
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.int64
    return tensor(np.stack([r, c]).astype(np.int64).reshape(2, -1), dtype=dt, device=device)


@register(function=True, doc=Doc("Creation", "int64 (dtype=)", "not differentiable"))
def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """Row and column indices (a ``(2, n)`` tensor) of the lower triangle of a
    ``row x col`` matrix.

    >>> import nbgrad as nb
    >>> nb.tril_indices(2, 2)
    tensor([[0, 1, 1],
            [0, 0, 1]])
    """
    return _tri_indices(np.tril_indices, row, col, offset, dtype, device)


@register(function=True, doc=Doc("Creation", "int64 (dtype=)", "not differentiable"))
def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """Row and column indices (a ``(2, n)`` tensor) of the upper triangle.

    >>> import nbgrad as nb
    >>> nb.triu_indices(2, 2)
    tensor([[0, 0, 1],
            [0, 1, 1]])
    """
    return _tri_indices(np.triu_indices, row, col, offset, dtype, device)
