"""Views (sharing storage and version counter with their base) and copying shape ops."""

from __future__ import annotations

import math

import numpy as np

from nbgrad import _dtype
from nbgrad._device import backend_for
from nbgrad.errors import ShapeError
from nbgrad.ops._dispatch import OpDef, apply, apply_inplace
from nbgrad.ops._register import register
from nbgrad.ops._shapes import broadcast_shape, parse_shape
from nbgrad.ops.creation import ones, tensor, zeros_like
from nbgrad.ops.elementwise import fit_gradient, sum_to
from nbgrad.ops.interop import view_dtype
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = [
    "view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "t",
    "expand", "expand_as", "narrow", "getitem", "setitem", "contiguous", "clone", "to_dtype",
    "copy_", "fill_", "zero_", "advanced_index",
]


def _infer_shape(shape: tuple[int, ...], numel: int, op: str, src_shape) -> tuple[int, ...]:
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred, got {shape}")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape {shape} is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if math.prod(shape) != numel or any(s < 0 for s in shape):
        raise RuntimeError(
            f"{op}: shape {shape} is invalid for input of shape {tuple(src_shape)} "
            f"(size {numel})"
        )
    return shape


class Reshape(OpDef):
    """A view with another shape; params = (input shape, output shape)."""

    view = True

    def forward(self, bk, params, x):
        out = bk.reshape(x, params[1])
        if out is None:
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (shape "
                f"{params[0]} -> {params[1]}); use .reshape(...) instead"
            )
        return out

    def backward(self, node, grad):
        return (grad.reshape(node.params[0]),)


class Permute(OpDef):
    """A view with reordered dimensions; params = axes."""

    view = True

    def forward(self, bk, params, x):
        return bk.transpose(x, params)

    def backward(self, node, grad):
        inverse = tuple(np.argsort(node.params))
        return (grad.permute(inverse),)


class Expand(OpDef):
    """A broadcast view; params = (input shape, output shape)."""

    view = True

    def forward(self, bk, params, x):
        return bk.broadcast_to(x, params[1])

    def backward(self, node, grad):
        return (sum_to(grad, node.params[0]),)


class Index(OpDef):
    """``x[index]``: a view for basic indices, a copy for advanced ones."""

    def __init__(self, name, view):
        super().__init__(name)
        self.view = view

    def forward(self, bk, params, x):
        return bk.getitem(x, params[0])

    def backward(self, node, grad):
        index, in_shape = node.params
        return (apply(INDEX_ADD, (grad,), (index, in_shape)),)


class IndexAddIntoZeros(OpDef):
    """Scatter ``grad`` into zeros of the indexed tensor's shape (the gradient of indexing)."""

    name = "IndexAdd"

    def forward(self, bk, params, g):
        index, shape = params
        out = bk.zeros(shape, g.dtype)
        bk.index_add(out, index, g)
        return out

    def backward(self, node, grad):
        return (grad[node.params[0]],)


class IndexPut(OpDef):
    """``x[index] = v`` out of place (used in place through ``setitem``)."""

    name = "IndexPut"
    wants_meta = True
    params_saved = True  # PyTorch saves the indices: a second backward raises

    def forward(self, bk, params, x, v):
        out = bk.copy(x)
        bk.setitem(out, params, v)
        return out

    def forward_into(self, bk, params, out, x, v):
        bk.setitem(out, params, v)

    def meta(self, arrays, out):
        v = arrays[1]
        return () if isinstance(v, (int, float, bool)) else (tuple(v.shape), v.dtype)

    def backward(self, node, grad):
        index = node.params
        gx = gv = None
        if node.edges[0] is not None:
            mask = ones(grad.shape, dtype=grad.dtype, device=grad.device)
            backend_for(mask.device).setitem(mask._data, index, 0)
            gx = grad * mask
        if node.edges[1] is not None:
            shape, dtype = node.meta
            gv = fit_gradient(grad[index], shape, dtype)
        return gx, gv


class Copy(OpDef):
    """``dst.copy_(src)``: broadcast and cast ``src`` into ``dst``."""

    name = "Copy"
    node_name = "CopyBackwards"  # PyTorch's (legacy) name for the node of copy_
    wants_meta = True

    def forward(self, bk, params, dst, src):
        out = bk.empty(dst.shape, dst.dtype)
        bk.assign(out, src)
        return out

    def forward_into(self, bk, params, out, dst, src):
        bk.assign(out, src)

    def meta(self, arrays, out):
        src = arrays[1]
        return () if isinstance(src, (int, float, bool)) else (tuple(src.shape), src.dtype)

    def backward(self, node, grad):
        gsrc = None
        if node.edges[1] is not None:
            shape, dtype = node.meta
            gsrc = fit_gradient(grad, shape, dtype)
        # the overwritten values get a zero gradient (not none: they were used), as in PyTorch
        return (zeros_like(grad) if node.edges[0] is not None else None), gsrc


class Fill(OpDef):
    """``x.fill_(value)``."""

    name = "Fill"
    node_name = "FillBackward2"  # PyTorch's fill_.Scalar (after fill.Scalar and fill.Tensor)

    def forward(self, bk, params, x):
        return bk.full(x.shape, params, x.dtype)

    def forward_into(self, bk, params, out, x):
        bk.assign(out, params)

    def backward(self, node, grad):
        return (zeros_like(grad),)


class Clone(OpDef):
    """A copy with its own storage."""

    name = "Clone"

    def forward(self, bk, params, x):
        return bk.copy(x)

    def backward(self, node, grad):
        return (grad,)


class Cast(OpDef):
    """Conversion to another dtype; params = (target numpy dtype, source numpy dtype)."""

    name = "ToCopy"

    def forward(self, bk, params, x):
        return bk.astype(x, params[0])

    def backward(self, node, grad):
        source = _dtype.from_numpy_dtype(node.params[1])
        return (grad.to(source) if source.is_floating_point else None,)


VIEW, SQUEEZE, UNSQUEEZE = Reshape("View"), Reshape("Squeeze"), Reshape("Unsqueeze")
# PyTorch's squeeze overloads: squeeze() 0, squeeze(int dim) 1, squeeze(dims) 2
SQUEEZE_DIM = SQUEEZE.overload("SqueezeBackward1")
SQUEEZE_DIMS = SQUEEZE.overload("SqueezeBackward2")
UNSAFE_VIEW = Reshape("UnsafeView")
PERMUTE, TRANSPOSE, T = Permute("Permute"), Permute("Transpose"), Permute("T")
EXPAND = Expand("Expand")
SELECT, SLICE, ADV_INDEX = Index("Select", True), Index("Slice", True), Index("Index", False)
ADV_INDEX.params_saved = True  # PyTorch saves the indices: a second backward raises
INDEX_ADD, INDEX_PUT, COPY, FILL = IndexAddIntoZeros(), IndexPut(), Copy(), Fill()
ZERO = FILL.overload("ZeroBackward0")
FILL_TENSOR = COPY.overload("FillBackward3")  # fill_ with a 0-d Tensor: PyTorch's fill_.Tensor
CLONE, CAST = Clone(), Cast()
CAST_NO_GRAD = Cast()  # to an integer or bool dtype: the result is not differentiable
CAST_NO_GRAD.differentiable = False


@register(method=True)
def view(x: Tensor, *shape) -> Tensor:
    """A view with another shape (no copy; fails when the layout does not allow it).

    >>> import nbgrad as nb
    >>> nb.arange(6).view(2, 3)
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    if len(shape) == 1 and isinstance(shape[0], _dtype.DType):
        return view_dtype(x, shape[0])  # the bytes read as another dtype (ops/interop.py)
    target = _infer_shape(parse_shape(shape), x.numel(), "view", x.shape)
    return apply(VIEW, (x,), (x.shape, target))


@register(function=True, method=True)
def reshape(x: Tensor, *shape) -> Tensor:
    """Another shape: a view when the layout allows it, else a copy.

    >>> import nbgrad as nb
    >>> nb.reshape(nb.arange(6), (3, -1)).shape
    (3, 2)
    """
    target = _infer_shape(parse_shape(shape), x.numel(), "reshape", x.shape)
    if target == x.shape:
        return apply(VIEW, (x,), (x.shape, target))
    if backend_for(x._device).reshape(x._data, target) is not None:
        return apply(VIEW, (x,), (x.shape, target))
    return apply(UNSAFE_VIEW, (clone(x),), (x.shape, target))


@register(function=True, method=True)
def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one.

    >>> import nbgrad as nb
    >>> nb.flatten(nb.zeros(2, 3, 4)).shape, nb.zeros(2, 3, 4).flatten(1).shape
    ((24,), (2, 12))
    """
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = _wrap_dim(start_dim, x.ndim), _wrap_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return reshape(x, shape)


@register(function=True, method=True)
def squeeze(x: Tensor, dim=None) -> Tensor:
    """Remove dims of size 1 (all, or those listed in ``dim``).

    >>> import nbgrad as nb
    >>> x = nb.zeros(1, 3, 1)
    >>> nb.squeeze(x).shape, x.squeeze(0).shape
    ((3,), (3, 1))
    """
    if dim is None:
        op, dims = SQUEEZE, {d for d, s in enumerate(x.shape) if s == 1}
    else:
        one = isinstance(dim, int)
        op = SQUEEZE_DIM if one else SQUEEZE_DIMS
        dims = {_wrap_dim(d, x.ndim) for d in ((dim,) if one else dim)}
        dims = {d for d in dims if x.ndim and x.shape[d] == 1}
    shape = tuple(s for d, s in enumerate(x.shape) if d not in dims)
    return apply(op, (x,), (x.shape, shape))


@register(function=True, method=True)
def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim``.

    >>> import nbgrad as nb
    >>> nb.unsqueeze(nb.tensor([1, 2]), 0)
    tensor([[1, 2]])
    >>> nb.tensor([1, 2]).unsqueeze(-1).shape
    (2, 1)
    """
    d = _wrap_dim(dim, x.ndim + 1)
    shape = x.shape[:d] + (1,) + x.shape[d:]
    return apply(UNSQUEEZE, (x,), (x.shape, shape))


@register(function=True, method=True)
def permute(x: Tensor, *dims) -> Tensor:
    """A view with dims reordered.

    >>> import nbgrad as nb
    >>> nb.permute(nb.zeros(2, 3, 4), (2, 0, 1)).shape, nb.zeros(2, 3, 4).permute(1, 0, 2).shape
    ((4, 2, 3), (3, 2, 4))
    """
    axes = tuple(_wrap_dim(d, x.ndim) for d in parse_shape(dims))
    if sorted(axes) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of {x.ndim} dims")
    return apply(PERMUTE, (x,), axes)


@register(function=True, method=True)
def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """A view with two dims swapped.

    >>> import nbgrad as nb
    >>> nb.transpose(nb.tensor([[1, 2, 3]]), 0, 1)
    tensor([[1],
            [2],
            [3]])
    """
    axes = list(range(x.ndim))
    a, b = _wrap_dim(dim0, x.ndim), _wrap_dim(dim1, x.ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return apply(TRANSPOSE, (x,), tuple(axes))


@register(function=True, method=True)
def t(x: Tensor) -> Tensor:
    """Transpose of a matrix (1-D and 0-D tensors are returned as views unchanged).

    >>> import nbgrad as nb
    >>> nb.t(nb.tensor([[1, 2], [3, 4]]))
    tensor([[1, 3],
            [2, 4]])
    """
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return apply(T, (x,), tuple(reversed(range(x.ndim))))


@register(method=True)
def expand(x: Tensor, *sizes) -> Tensor:
    """A broadcast view to ``sizes`` (-1 keeps a dim).

    >>> import nbgrad as nb
    >>> nb.tensor([[1], [2]]).expand(-1, 3)
    tensor([[1, 1, 1],
            [2, 2, 2]])
    """
    sizes = parse_shape(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes {sizes} is less than dims of {x.shape}")
    lead = len(sizes) - x.ndim
    target = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"expand: -1 is not allowed in a new leading dim ({sizes})")
            target.append(s)
            continue
        have = x.shape[i - lead]
        if s == -1:
            s = have
        if have != s and have != 1:
            raise RuntimeError(
                f"expand: the expanded size {s} must match the existing size {have} at "
                f"dimension {i} (shape {x.shape} -> {sizes})"
            )
        target.append(s)
    target = tuple(target)
    if target == x.shape:
        return apply(VIEW, (x,), (x.shape, target))
    return apply(EXPAND, (x,), (x.shape, target))


@register(method=True)
def expand_as(x: Tensor, other: Tensor) -> Tensor:
    """``x.expand(other.shape)``.

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).expand_as(nb.zeros(2, 2))
    tensor([[1, 2],
            [1, 2]])
    """
    return expand(x, other.shape)


@register(function=True, method=True)
def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """A view of ``length`` entries of ``dim`` from ``start``.

    >>> import nbgrad as nb
    >>> nb.narrow(nb.arange(5), 0, 1, 3)
    tensor([1, 2, 3])
    """
    d = _wrap_dim(dim, x.ndim)
    if start < 0:
        start += x.shape[d]
    if not 0 <= start <= start + length <= x.shape[d]:
        raise IndexError(f"narrow: start {start} + length {length} exceeds dim {d} of {x.shape}")
    index = (slice(None),) * d + (slice(start, start + length),)
    return getitem(x, index)


def _normalize_index(index):
    """Convert an index to numpy form; return (index tuple, is_basic)."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    basic = True
    for item in index:
        if isinstance(item, Tensor):
            arr = item._data
            if arr.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int or bool tensors")
            out.append(arr)
            basic = False
        elif isinstance(item, (list, np.ndarray)):
            arr = np.asarray(item)
            if arr.dtype.kind not in "iub":
                raise IndexError(f"index arrays must be integers or bools, got {arr.dtype}")
            out.append(arr)
            basic = False
        elif isinstance(item, (bool, np.bool_)):
            out.append(np.asarray(item))
            basic = False
        elif isinstance(item, (int, np.integer)):
            out.append(int(item))
        elif item is None or item is Ellipsis or isinstance(item, slice):
            if isinstance(item, slice) and item.step is not None and item.step <= 0:
                raise ValueError("step must be greater than zero")
            out.append(item)
        elif hasattr(item, "dtype") and hasattr(item, "ndim") and item.dtype.kind in "iub":
            out.append(item)  # a device array of an index normalised before (backward replays)
            basic = False
        else:
            raise IndexError(
                f"only integers, slices, None, Ellipsis and integer or boolean tensors are valid "
                f"indices (got {type(item).__name__})"
            )
    if basic and Ellipsis not in out:
        out.append(Ellipsis)  # keeps 0-d results as arrays (views) rather than scalars
    return tuple(out), basic


@register(dunder="__getitem__")
def getitem(x: Tensor, index) -> Tensor:
    """``x[index]``: basic indexing gives a view, advanced indexing a copy."""
    if x.ndim == 0 and index not in ((), Ellipsis, None):
        raise IndexError("invalid index of a 0-dim tensor. Use tensor.item() to get the number")
    idx, basic = _normalize_index(index)
    if basic:
        op = SELECT if any(isinstance(i, int) for i in idx) else SLICE
        return apply(op, (x,), (idx, x.shape))
    return apply(ADV_INDEX, (x,), (idx, x.shape))


def advanced_index(x: Tensor, index: tuple, op: OpDef = ADV_INDEX) -> Tensor:
    """``x[index]`` for an index holding an integer tensor (a copy), recorded by ``op``: an
    overload of advanced indexing, such as ``index_select``'s.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.shape import advanced_index
    >>> advanced_index(nb.tensor([10, 20, 30]), (nb.tensor([2, 0]),))
    tensor([30, 10])
    """
    idx, _ = _normalize_index(index)
    return apply(op, (x,), (idx, x.shape))


@register(dunder="__setitem__")
def setitem(x: Tensor, index, value) -> None:
    """``x[index] = value``: an in-place update (one version bump)."""
    if not isinstance(value, (Tensor, int, float, bool)):
        value = tensor(value, dtype=x.dtype, device=x.device)
    idx, basic = _normalize_index(index)
    if basic:
        copy_(getitem(x, index), value)
    else:
        apply_inplace(INDEX_PUT, x, (value,), idx)


@register(method=True)
def contiguous(x: Tensor) -> Tensor:
    """``x`` itself when contiguous, else a contiguous copy.

    >>> import nbgrad as nb
    >>> x = nb.zeros(2, 3).t()
    >>> x.is_contiguous(), x.contiguous().is_contiguous()
    (False, True)
    """
    return x if x.is_contiguous() else clone(x)


@register(function=True, method=True)
def clone(x: Tensor) -> Tensor:
    """A copy with its own storage (differentiable).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0])
    >>> y = nb.clone(x).zero_()
    >>> x, y
    (tensor([1., 2.]), tensor([0., 0.]))
    """
    return apply(CLONE, (x,))


def to_dtype(x: Tensor, dtype) -> Tensor:
    """``x`` converted to ``dtype`` (``x`` itself when it already has it)."""
    dt = _dtype.as_dtype(dtype)
    if dt.np == x._data.dtype:
        return x
    op = CAST if dt.is_floating_point else CAST_NO_GRAD
    return apply(op, (x,), (dt.np, x._data.dtype))


@register(method="float")
def _float(self: Tensor) -> Tensor:
    """``self`` as float32 (itself when it already is).

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).float()
    tensor([1., 2.])
    """
    return to_dtype(self, _dtype.float32)


@register(method="double")
def _double(self: Tensor) -> Tensor:
    """``self`` as float64 (itself when it already is).

    >>> import nbgrad as nb
    >>> nb.tensor([1, 2]).double()
    tensor([1., 2.], dtype=nbgrad.float64)
    """
    return to_dtype(self, _dtype.float64)


@register(method="int")
def _int(self: Tensor) -> Tensor:
    """``self`` as int32 (itself when it already is); floats are truncated toward zero.

    >>> import nbgrad as nb
    >>> nb.tensor([1.7, -1.7]).int()
    tensor([ 1, -1], dtype=nbgrad.int32)
    """
    return to_dtype(self, _dtype.int32)


@register(method="long")
def _long(self: Tensor) -> Tensor:
    """``self`` as int64 (itself when it already is); floats are truncated toward zero.

    >>> import nbgrad as nb
    >>> nb.tensor([1.5, 2.5]).long()
    tensor([1, 2])
    """
    return to_dtype(self, _dtype.int64)


@register(method="bool")
def _bool(self: Tensor) -> Tensor:
    """``self`` as bool (itself when it already is): nonzero is ``True``.

    >>> import nbgrad as nb
    >>> nb.tensor([0, 2]).bool()
    tensor([False,  True])
    """
    return to_dtype(self, _dtype.bool_)


@register(prop="T")
def _T(self: Tensor) -> Tensor:
    """The tensor with its dimensions reversed (a ``permute``, as in PyTorch).

    >>> import nbgrad as nb
    >>> nb.tensor([[1, 2, 3]]).T
    tensor([[1],
            [2],
            [3]])
    >>> nb.zeros(2, 3, 4).T.shape
    (4, 3, 2)
    """
    return permute(self, *reversed(range(self.ndim)))


@register(prop="mT")
def _mT(self: Tensor) -> Tensor:
    """Transpose of the last two dims.

    >>> import nbgrad as nb
    >>> nb.zeros(5, 2, 3).mT.shape
    (5, 3, 2)
    """
    return transpose(self, -2, -1)


@register(inplace=True)
def copy_(x: Tensor, src) -> Tensor:
    """Copy ``src`` (broadcast, cast) into ``x`` in place.

    >>> import nbgrad as nb
    >>> nb.zeros(2, 2).copy_(nb.tensor([1, 2]))
    tensor([[1., 2.],
            [1., 2.]])
    """
    if isinstance(src, Tensor):
        if broadcast_shape(x.shape, src.shape) != x.shape:
            raise ShapeError(
                f"copy_: the source shape {src.shape} cannot be broadcast to {x.shape}"
            )
    elif not isinstance(src, (int, float, bool)):
        raise TypeError(f"copy_: expected a Tensor or a number, got {type(src).__name__}")
    return apply_inplace(COPY, x, (src,))


@register(inplace=True)
def fill_(x: Tensor, value) -> Tensor:
    """Set every element to ``value`` in place.

    >>> import nbgrad as nb
    >>> nb.zeros(3).fill_(7)
    tensor([7., 7., 7.])
    """
    if not isinstance(value, (Tensor, int, float, np.number, np.bool_)) or isinstance(
            value, (complex, np.complexfloating)):
        raise TypeError(
            f"fill_(): value must be a number or a 0-dim Tensor, got {type(value).__name__}"
        )
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor, got {value.shape}")
        return apply_inplace(FILL_TENSOR, x, (value,))
    return apply_inplace(FILL, x, (), value)


@register(inplace=True)
def zero_(x: Tensor) -> Tensor:
    """Set every element to zero in place.

    >>> import nbgrad as nb
    >>> nb.ones(2).zero_()
    tensor([0., 0.])
    """
    return apply_inplace(ZERO, x, (), 0)
