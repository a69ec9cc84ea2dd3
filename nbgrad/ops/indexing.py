"""Copying ops that pick or place elements by index: gather, scatter_add, index_select,
masked_fill. Basic and advanced ``x[...]`` indexing lives in ``ops/shape.py``."""

from __future__ import annotations

from nbgrad import _dtype
from nbgrad._device import backend_for
from nbgrad.ops._dispatch import OpDef, apply, apply_inplace
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.ops.creation import tensor, zeros
from nbgrad.ops.elementwise import TERNARY, where
from nbgrad.ops.shape import ADV_INDEX, advanced_index, copy_, getitem
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = [
    "gather", "scatter_add", "scatter_add_", "index_select", "masked_fill", "masked_fill_",
    "take_along_dim",
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
