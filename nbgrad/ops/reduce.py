"""Reductions over any dims, with ``keepdim``: sums, products, extrema, statistics and norms.

Kernels reduce an (outer, reduced, inner) view (``backends/cpu/reduce.py``); ``var``, ``std``,
``logsumexp`` and ``norm`` are compositions of differentiable ops, so their gradients are
differentiable again.
"""

from __future__ import annotations

import functools
import math
from collections import namedtuple

import numpy as np

from nbgrad import _dtype
from nbgrad._device import backend_for
from nbgrad.ops._dispatch import OpDef, apply, new_tensor
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.ops.creation import eye, zeros
from nbgrad.ops.elementwise import BINARY, UNARY, where
from nbgrad.ops.indexing import scatter_add
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = [
    "sum", "mean", "normalize_dims", "prod", "var", "std", "var_mean", "std_mean", "amax",
    "amin", "max", "min", "argmax", "argmin", "logsumexp", "norm", "axis_alias", "all", "any",
    "count_nonzero", "nansum", "nanmean", "aminmax", "isclose", "allclose", "equal",
]


def normalize_dims(dim, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, an int or a sequence) as a sorted tuple of non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (int, np.integer)):
        dim = (int(dim),)
    elif not isinstance(dim, (tuple, list)):
        raise TypeError(f"dim must be an int or a tuple of ints, got {type(dim).__name__}")
    dims = tuple(sorted({int(_wrap_dim(d, ndim)) for d in dim}))
    if len(dims) != len(tuple(dim)):
        raise RuntimeError(f"dim {tuple(dim)} appears multiple times in the list of dims")
    return dims if ndim else ()  # a 0-d tensor accepts dim 0 / -1 and has nothing to reduce


def axis_alias(fn):
    """Accept ``axis=`` as PyTorch does: another name for ``dim``."""

    @functools.wraps(fn)
    def with_axis(*args, **kwargs):
        if "axis" in kwargs:
            if "dim" in kwargs:
                raise TypeError(f"{fn.__name__}() got both dim and its alias axis")
            kwargs["dim"] = kwargs.pop("axis")
        return fn(*args, **kwargs)

    return with_axis


class Sum(OpDef):
    """Sum over ``axes``; the gradient broadcasts back."""

    name = "Sum"

    def forward(self, bk, params, x):
        axes, keepdim, out_dtype, _ = params
        return bk.reduce("sum", x, axes, keepdim, out_dtype)

    def backward(self, node, grad):
        axes, keepdim, _, in_shape = node.params
        if not keepdim:
            grad = grad.reshape(tuple(1 if d in axes else s for d, s in enumerate(in_shape)))
        return (grad.expand(in_shape),)


SUM = Sum()
SUM_DIM = SUM.overload("SumBackward1")  # PyTorch's sum.dim_IntList: sum(dim) / keepdim


def _sum_dtype(x: Tensor, dtype) -> np.dtype:
    if dtype is not None:
        return _dtype.as_dtype(dtype).np
    return x._data.dtype if x.dtype.is_floating_point else np.dtype(np.int64)


@register(
    function=True, method=True,
    doc=Doc("Reductions", "every dtype (integers and bool give int64)",
            "broadcast back"),
)
@axis_alias
def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum of elements over ``dim`` (all by default).

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.sum(x), x.sum(dim=0), x.sum(dim=1)
    (tensor(10.), tensor([4., 6.]), tensor([3., 7.]))
    """
    axes = normalize_dims(dim, x.ndim)
    op = SUM if dim is None and not keepdim else SUM_DIM
    return apply(op, (x,), (axes, keepdim, _sum_dtype(x, dtype), x.shape))


@register(
    function=True, method=True,
    doc=Doc("Reductions", "float32, float64",
            "broadcast back, divided by the count"),
)
@axis_alias
def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over ``dim`` (all by default); floating-point tensors only.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.mean(x), x.mean(dim=1)
    (tensor(2.5000), tensor([1.5000, 3.5000]))
    """
    target = _dtype.as_dtype(dtype) if dtype is not None else x.dtype
    if not target.is_floating_point:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {x.dtype.name}"
        )
    axes = normalize_dims(dim, x.ndim)
    count = 1
    for d in axes:
        count *= x.shape[d]
    total = sum(x, axes, keepdim, dtype=target)
    return total / count if count else total * float("nan")


# --------------------------------------------------------------------------- helpers
def _keep_shape(in_shape, axes) -> tuple[int, ...]:
    return tuple(1 if d in axes else s for d, s in enumerate(in_shape))


def _unsqueeze_back(t: Tensor, axes, keepdim: bool, in_shape) -> Tensor:
    """A reduced result reshaped so it broadcasts against the input again."""
    return t if keepdim else t.reshape(_keep_shape(in_shape, axes))


def _count(shape, axes) -> int:
    return math.prod(shape[d] for d in axes) if shape else 1


def _require_float(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): expected a Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise RuntimeError(
            f"{name}(): input dtype should be floating point, got {x.dtype.name}"
        )


def _check_nonempty(x: Tensor, axes, name: str, dim_given: bool = False) -> None:
    if x.numel() == 0:
        if not dim_given:
            raise RuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0 "
                f"(input shape {x.shape}). Specify the reduction dim with the 'dim' argument."
            )
        for d in axes:
            if x.shape[d] == 0:
                raise IndexError(
                    f"{name}(): Expected reduction dim {d} to have non-zero size "
                    f"(input shape {x.shape})"
                )


# --------------------------------------------------------------------------- product
class Prod(OpDef):
    """Product over ``axes``; the gradient is exact when the input holds zeros."""

    name = "Prod"

    def forward(self, bk, params, x):
        axes, keepdim, out_dtype, _ = params
        return bk.reduce("prod", x, axes, keepdim, out_dtype)

    def save(self, needs):
        return (True,), True

    def backward(self, node, grad):
        axes, keepdim, _, in_shape = node.params
        x = node.saved_input(0)
        g = _unsqueeze_back(grad, axes, keepdim, in_shape)
        if not (x.detach()._host() == 0).any():
            y = _unsqueeze_back(node.output(), axes, keepdim, in_shape)
            return (g * y / x,)
        return (g * _product_of_others(x, axes),)


def _product_of_others(x: Tensor, axes) -> Tensor:
    """For each element, the product of the other elements of its reduced slice.

    Each slice of n elements becomes an n x n matrix whose diagonal is 1 (leave one out), so
    no division is needed and the result stays differentiable where zeros occur.
    """
    kept = [d for d in range(x.ndim) if d not in axes]
    order = kept + list(axes)
    kept_sizes = tuple(x.shape[d] for d in kept)
    n = _count(x.shape, axes)
    rows = x.permute(*order).reshape(*kept_sizes, 1, n).expand(*kept_sizes, n, n)
    diag = eye(n, dtype=_dtype.bool_, device=x.device)
    others = prod(where(diag, 1.0, rows), dim=-1)
    others = others.reshape(*kept_sizes, *(x.shape[d] for d in axes))
    return others.permute(*np.argsort(order).tolist())


PROD = Prod()
PROD_DIM = PROD.overload("ProdBackward1")  # PyTorch's prod.dim_int: prod(dim) / keepdim


@register(
    function=True, method=True,
    doc=Doc("Reductions", "every dtype (integers and bool give int64)",
            "product of the other elements (exact with zeros)"),
)
@axis_alias
def prod(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of elements over ``dim`` (all by default); integers give int64.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.prod(x), x.prod(dim=0)
    (tensor(24.), tensor([3., 8.]))
    """
    axes = normalize_dims(dim, x.ndim)
    op = PROD if dim is None and not keepdim else PROD_DIM
    return apply(op, (x,), (axes, keepdim, _sum_dtype(x, dtype), x.shape))


# --------------------------------------------------------------------------- extrema
class ValueReduce(OpDef):
    """``amax``/``amin`` (and ``max()``/``min()`` without dim): the gradient is split evenly
    among the elements equal to the extreme value."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(name)
        self.kind = kind

    def forward(self, bk, params, x):
        axes, keepdim = params
        return bk.reduce(self.kind, x, axes, keepdim, x.dtype)[0]

    def save(self, needs):
        return (True,), True

    def backward(self, node, grad):
        axes, keepdim = node.params
        x = node.saved_input(0)
        y = _unsqueeze_back(node.output(), axes, keepdim, x.shape)
        mask = (x == y).to(grad.dtype)
        count = mask.sum(dim=axes, keepdim=True)
        return (_unsqueeze_back(grad, axes, keepdim, x.shape) * mask / count,)


class IndexReduce(OpDef):
    """``max(x, dim)``/``min(x, dim)``: values and int64 indices; the gradient goes to the
    selected positions."""

    n_outputs = 2
    wants_meta = True

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(name)
        self.kind = kind

    def output_differentiable(self, nr: int) -> bool:
        """Only the values (output 0) carry a gradient."""
        return nr == 0

    def forward(self, bk, params, x):
        dim, keepdim = params
        return bk.reduce(self.kind, x, (dim,), keepdim, x.dtype)

    def meta(self, arrays, out):
        return tuple(arrays[0].shape), out[1].copy()

    def backward(self, node, grad, _indices_grad=None):
        dim, keepdim = node.params
        in_shape, index = node.meta
        index = new_tensor(index, grad.device)
        if not keepdim and in_shape:
            grad, index = grad.unsqueeze(dim), index.unsqueeze(dim)
        base = zeros(in_shape, dtype=grad.dtype, device=grad.device)
        if not in_shape:
            return (base + grad,)
        return (scatter_add(base, dim, index, grad),)


AMAX, AMIN = ValueReduce("Amax", "max"), ValueReduce("Amin", "min")
# PyTorch numbers max.dim first: max(dim) is MaxBackward0, max() over all elements MaxBackward1
MAX_ALL = ValueReduce("Max", "max").overload("MaxBackward1")
MIN_ALL = ValueReduce("Min", "min").overload("MinBackward1")
MAX_DIM, MIN_DIM = IndexReduce("Max", "max"), IndexReduce("Min", "min")
_max_result = namedtuple("max", ["values", "indices"])
_min_result = namedtuple("min", ["values", "indices"])


@register(
    function=True, method=True,
    doc=Doc("Reductions", "every dtype",
            "split evenly among the maximal elements"),
)
@axis_alias
def amax(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Largest value over ``dim`` (all dims when empty or None); ties share the gradient.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.amax(x), x.amax(dim=1)
    (tensor(4.), tensor([2., 4.]))
    """
    axes = normalize_dims(None if dim == () else dim, x.ndim)
    _check_nonempty(x, axes, "amax", dim not in ((), None))
    return apply(AMAX, (x,), (axes, keepdim))


@register(
    function=True, method=True,
    doc=Doc("Reductions", "every dtype",
            "split evenly among the minimal elements"),
)
@axis_alias
def amin(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Smallest value over ``dim`` (all dims when empty or None); ties share the gradient.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> nb.amin(x), x.amin(dim=1)
    (tensor(1.), tensor([1., 3.]))
    """
    axes = normalize_dims(None if dim == () else dim, x.ndim)
    _check_nonempty(x, axes, "amin", dim not in ((), None))
    return apply(AMIN, (x,), (axes, keepdim))


def _extreme(x, dim, keepdim, name, whole_op, dim_op, result, elementwise):
    if isinstance(dim, Tensor):  # max(a, b) is maximum(a, b)
        return apply(BINARY[elementwise], (x, dim))
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}(): keepdim=True needs a dim")
        axes = tuple(range(x.ndim))
        _check_nonempty(x, axes, name)
        return apply(whole_op, (x,), (axes, False))
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}(): dim must be an int, got {type(dim).__name__}")
    d = _wrap_dim(int(dim), x.ndim)
    _check_nonempty(x, (d,) if x.ndim else (), name, dim_given=True)
    values, indices = apply(dim_op, (x,), (d, keepdim))
    return result(values, indices)


@register(
    function=True, method=True,
    doc=Doc("Reductions", "every dtype",
            "whole: split among ties; with dim: to the returned index; with a tensor: maximum"),
)
@axis_alias
def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """``max(x)``: the largest value; ``max(x, dim)``: ``(values, indices)`` along ``dim``;
    ``max(x, other)``: elementwise ``maximum``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 5.0], [3.0, 4.0]])
    >>> nb.max(x)
    tensor(5.)
    >>> x.max(dim=1)
    max(values=tensor([5., 4.]), indices=tensor([1, 1]))
    """
    return _extreme(x, dim, keepdim, "max", MAX_ALL, MAX_DIM, _max_result, "maximum")


@register(
    function=True, method=True,
    doc=Doc("Reductions", "every dtype",
            "whole: split among ties; with dim: to the returned index; with a tensor: minimum"),
)
@axis_alias
def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """``min(x)``: the smallest value; ``min(x, dim)``: ``(values, indices)`` along ``dim``;
    ``min(x, other)``: elementwise ``minimum``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 5.0], [3.0, 4.0]])
    >>> nb.min(x)
    tensor(1.)
    >>> x.min(dim=0)
    min(values=tensor([1., 4.]), indices=tensor([0, 1]))
    """
    return _extreme(x, dim, keepdim, "min", MIN_ALL, MIN_DIM, _min_result, "minimum")


class ArgReduce(OpDef):
    """Index of the extreme value (no gradient); over all dims it indexes the flattened input."""

    differentiable = False

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(name)
        self.kind = kind

    def forward(self, bk, params, x):
        axes, keepdim = params
        return bk.reduce(self.kind, x, axes, keepdim, None)


ARGMAX, ARGMIN = ArgReduce("Argmax", "argmax"), ArgReduce("Argmin", "argmin")


def _arg(op, x: Tensor, dim, keepdim: bool, name: str) -> Tensor:
    axes = normalize_dims(dim, x.ndim)
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}(): dim must be an int or None, got {type(dim).__name__}")
    _check_nonempty(x, axes, name, dim is not None)
    return apply(op, (x,), (axes, keepdim))


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (int64 result)",
                                              "none"))
@axis_alias
def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (first one at ties) along ``dim``, or in the flattened input.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 5.0], [3.0, 4.0]])
    >>> nb.argmax(x), x.argmax(dim=0)
    (tensor(1), tensor([1, 0]))
    """
    return _arg(ARGMAX, x, dim, keepdim, "argmax")


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (int64 result)",
                                              "none"))
@axis_alias
def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value (first one at ties) along ``dim``, or in the flattened input.

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 5.0], [3.0, 4.0]])
    >>> nb.argmin(x), x.argmin(dim=1)
    (tensor(0), tensor([0, 0]))
    """
    return _arg(ARGMIN, x, dim, keepdim, "argmin")


# --------------------------------------------------------------------------- statistics
class Root(OpDef):
    """``s ** (1 / p)`` for ``s >= 0`` whose gradient is 0 where ``s == 0`` (as PyTorch does
    for ``std`` and ``norm`` of an all-zero slice)."""

    def forward(self, bk, params, s):
        if params == 2:
            return UNARY["sqrt"].forward(bk, None, s)
        return BINARY["pow"].forward(bk, None, s, 1.0 / params)

    def save(self, needs):
        return (True,), True

    def backward(self, node, grad):
        p = node.params
        s, y = node.saved_input(0), node.output()
        zero = s == 0
        return (where(zero, 0.0, grad * y / (where(zero, 1.0, s) * p)),)


STD_ROOT, NORM_ROOT = Root("Std"), Root("Norm")


def _correction(name, dim, unbiased, correction):
    if isinstance(dim, bool):  # var(x, True): the legacy ``unbiased`` positional
        dim, unbiased = None, dim
    if correction is not None and unbiased is not None:
        raise TypeError(f"{name}(): pass either unbiased or correction, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    return dim, correction


@register(
    function=True, method=True,
    doc=Doc("Reductions", "float32, float64",
            "composed: mean, subtract, square, sum"),
)
@axis_alias
def var(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default; ``unbiased=False``
    means 0). Two-pass (mean first), so it is stable for large offsets.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0, 3.0, 4.0])
    >>> nb.var(x), x.var(unbiased=False)
    (tensor(1.6667), tensor(1.2500))
    """
    _require_float(x, "var")
    dim, correction = _correction("var", dim, unbiased, correction)
    axes = normalize_dims(dim, x.ndim)
    n = _count(x.shape, axes)
    centred = x - mean(x, axes, keepdim=True)
    total = (centred * centred).sum(dim=axes, keepdim=keepdim)
    dof = n - correction
    return total / dof if dof > 0 else total * math.nan


@register(
    function=True, method=True,
    doc=Doc("Reductions", "float32, float64",
            "composed; 0 where the result is 0"),
)
@axis_alias
def std(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation: ``sqrt(var(...))``; the gradient is 0 where it is 0.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0, 3.0, 4.0])
    >>> nb.std(x), x.std(correction=0)
    (tensor(1.2910), tensor(1.1180))
    """
    _require_float(x, "std")
    return apply(STD_ROOT, (var(x, dim, unbiased, keepdim, correction=correction),), 2)


@register(function=True, doc=Doc("Reductions", "float32, float64", "as var and mean"))
@axis_alias
def var_mean(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction=None) -> tuple[Tensor, Tensor]:
    """``(var(x, ...), mean(x, ...))``.

    >>> import nbgrad as nb
    >>> nb.var_mean(nb.tensor([1.0, 2.0, 3.0, 4.0]))
    (tensor(1.6667), tensor(2.5000))
    """
    dim_, _ = _correction("var_mean", dim, unbiased, correction)
    return (var(x, dim, unbiased, keepdim, correction=correction),
            mean(x, normalize_dims(dim_, x.ndim), keepdim))


@register(function=True, doc=Doc("Reductions", "float32, float64", "as std and mean"))
@axis_alias
def std_mean(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction=None) -> tuple[Tensor, Tensor]:
    """``(std(x, ...), mean(x, ...))``.

    >>> import nbgrad as nb
    >>> nb.std_mean(nb.tensor([1.0, 2.0, 3.0, 4.0]))
    (tensor(1.2910), tensor(2.5000))
    """
    dim_, _ = _correction("std_mean", dim, unbiased, correction)
    return (std(x, dim, unbiased, keepdim, correction=correction),
            mean(x, normalize_dims(dim_, x.ndim), keepdim))


@register(
    function=True, method=True,
    doc=Doc("Reductions", "float32, float64; integers compute in float32",
            "composed around the (detached) maximum: softmax"),
)
@axis_alias
def logsumexp(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``dim``, computed stably around the maximum (float32 safe).

    >>> import nbgrad as nb
    >>> nb.logsumexp(nb.tensor([0.0, 0.0])), nb.tensor([1000.0, 1000.0]).logsumexp(dim=0)
    (tensor(0.6931), tensor(1000.6932))
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"logsumexp(): expected a Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        x = x.to(_dtype.float32)
    axes = normalize_dims(dim, x.ndim)
    if _count(x.shape, axes) == 0 or x.numel() == 0:
        return x.exp().sum(dim=axes, keepdim=keepdim).log()
    shift = amax(x.detach(), axes, keepdim=True)
    shift = where(shift.abs() == math.inf, 0.0, shift)  # all -inf (or an inf) slices
    out = (x - shift).exp().sum(dim=axes, keepdim=True).log() + shift
    return out if keepdim else out.reshape(tuple(s for d, s in enumerate(x.shape)
                                                 if d not in axes))


@register(
    function=True, method=True,
    doc=Doc("Reductions", "float32, float64",
            "p=2: g * x / norm; p=1: g * sign(x); inf: split among ties; 0 at a zero norm"),
)
@axis_alias
def norm(x: Tensor, p="fro", dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Vector norm over ``dim`` (all elements by default): ``p`` = 2/'fro' (default), 1, any
    real, ``inf``/``-inf`` (max/min of ``|x|``) or 0 (count of nonzeros). The gradient at an
    all-zero slice is 0, as in PyTorch.

    >>> import nbgrad as nb
    >>> x = nb.tensor([3.0, -4.0])
    >>> nb.norm(x), x.norm(p=1), x.norm(p=float("inf"))
    (tensor(5.), tensor(7.), tensor(4.))
    """
    _require_float(x, "norm")
    if dtype is not None:
        x = x.to(dtype)
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str) or not isinstance(p, (int, float)):
        raise ValueError(f"norm(): unsupported norm type {p!r}; use a number, inf or 'fro'")
    axes = normalize_dims(dim, x.ndim)
    if p == 2:
        return apply(NORM_ROOT, ((x * x).sum(dim=axes, keepdim=keepdim),), 2)
    if p == 1:
        return x.abs().sum(dim=axes, keepdim=keepdim)
    if p == math.inf:
        return amax(x.abs(), axes, keepdim) if x.numel() else x.abs().sum(axes, keepdim)
    if p == -math.inf:
        return amin(x.abs(), axes, keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim=axes, keepdim=keepdim)
    return apply(NORM_ROOT, ((x.abs() ** p).sum(dim=axes, keepdim=keepdim),), float(p))


# ---------------------------------------------------------------- tests and nan-aware reductions
MinMax = namedtuple("aminmax", ["min", "max"])


def _host_reduce(name, fn, x: Tensor, dim, keepdim: bool, dtype=None) -> Tensor:
    axes = normalize_dims(dim, x.ndim)
    a = x._host()
    out = np.asarray(fn(a, axis=axes, keepdims=keepdim))
    if dtype is not None:
        out = out.astype(dtype)
    return new_tensor(_backend(x).asarray(out, out.dtype), x.device)


def _backend(x: Tensor):
    return backend_for(x.device)


def _test_dtype(x: Tensor):
    return np.uint8 if x.dtype.name == "uint8" else np.bool_


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (bool result)",
                                              "not differentiable"))
@axis_alias
def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether every element (over ``dim``) is non-zero.

    >>> import nbgrad as nb
    >>> nb.all(nb.tensor([[True, False], [True, True]]), dim=1)
    tensor([False,  True])
    """
    return _host_reduce("all", np.all, x, dim, keepdim, _test_dtype(x))


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (bool result)",
                                              "not differentiable"))
@axis_alias
def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether any element (over ``dim``) is non-zero.

    >>> import nbgrad as nb
    >>> nb.any(nb.tensor([0, 0, 3])), nb.tensor([[0, 1], [0, 0]]).any(1)
    (tensor(True), tensor([ True, False]))
    """
    return _host_reduce("any", np.any, x, dim, keepdim, _test_dtype(x))


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (int64 result)",
                                              "not differentiable"))
@axis_alias
def count_nonzero(x: Tensor, dim=None) -> Tensor:
    """The number of non-zero elements (over ``dim``).

    >>> import nbgrad as nb
    >>> nb.count_nonzero(nb.tensor([[0, 1], [2, 3]]), dim=0)
    tensor([1, 2])
    """
    return _host_reduce("count_nonzero", lambda a, axis, keepdims: np.count_nonzero(
        a, axis=axis, keepdims=keepdims), x, dim, False, np.int64)


def _isnan(x: Tensor) -> Tensor:
    return x != x


@register(function=True, method=True, doc=Doc("Reductions", "every dtype",
                                              "g where the input is not NaN"))
@axis_alias
def nansum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum treating NaN as zero.

    >>> import nbgrad as nb
    >>> nb.nansum(nb.tensor([1.0, float("nan"), 2.0]))
    tensor(3.)
    """
    if x.dtype.is_floating_point:
        x = where(_isnan(x), 0.0, x)
    return sum(x, dim, keepdim, dtype=dtype)


@register(function=True, method=True, doc=Doc("Reductions", "float32, float64",
                                              "g / count where the input is not NaN"))
@axis_alias
def nanmean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean of the non-NaN elements.

    >>> import nbgrad as nb
    >>> nb.nanmean(nb.tensor([1.0, float("nan"), 2.0]))
    tensor(1.5000)
    """
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got "
                           f"{x.dtype.name}")
    count = sum((x == x).to(x.dtype), dim, keepdim)
    return nansum(x, dim, keepdim, dtype=dtype) / count


@register(function=True, method=True, doc=Doc("Reductions", "every dtype",
                                              "as amin and amax"))
@axis_alias
def aminmax(x: Tensor, *, dim=None, keepdim: bool = False) -> MinMax:
    """``(min, max)`` over all elements or along ``dim``.

    >>> import nbgrad as nb
    >>> nb.aminmax(nb.tensor([3.0, 1.0, 2.0]))
    aminmax(min=tensor(1.), max=tensor(3.))
    """
    d = () if dim is None else dim
    if dim is None and keepdim:
        d = tuple(range(x.ndim))
    return MinMax(amin(x, d, keepdim), amax(x, d, keepdim))


def _same_dtype(name, a: Tensor, b: Tensor) -> None:
    if not isinstance(b, Tensor) or not isinstance(a, Tensor):
        raise TypeError(f"{name}(): argument 'other' must be Tensor")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"{_SCALAR_NAMES.get(a.dtype.name, a.dtype.name)} did not match "
                           f"{_SCALAR_NAMES.get(b.dtype.name, b.dtype.name)}")


_SCALAR_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
                 "bool": "Bool", "float16": "Half", "bfloat16": "BFloat16", "int16": "Short",
                 "int8": "Char", "uint8": "Byte"}


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (bool result)",
                                              "not differentiable"))
def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (equal infinities too).

    >>> import nbgrad as nb
    >>> nb.isclose(nb.tensor([1.0, 2.0]), nb.tensor([1.0 + 1e-9, 2.1]))
    tensor([ True, False])
    """
    _same_dtype("isclose", input, other)
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    broadcast_shape(tuple(input.shape), tuple(other.shape), op="isclose")
    out = np.isclose(input._host(), other._host(), rtol=rtol, atol=atol, equal_nan=equal_nan)
    return new_tensor(_backend(input).asarray(np.asarray(out), np.bool_), input.device)


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (Python bool)",
                                              "not differentiable"))
def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether ``isclose`` holds everywhere.

    >>> import nbgrad as nb
    >>> nb.allclose(nb.tensor([1.0, 2.0]), nb.tensor([1.0, 2.0000001]))
    True
    """
    return bool(isclose(input, other, rtol, atol, equal_nan)._host().all())


@register(function=True, method=True, doc=Doc("Reductions", "every dtype (Python bool)",
                                              "not differentiable"))
def equal(input: Tensor, other: Tensor) -> bool:
    """Whether both tensors have the same shape and the same values.

    >>> import nbgrad as nb
    >>> nb.equal(nb.tensor([1, 2]), nb.tensor([1, 2])), nb.equal(nb.tensor([1]), nb.tensor([1, 1]))
    (True, False)
    """
    if not isinstance(other, Tensor):
        raise TypeError("equal(): argument 'other' must be Tensor")
    if input.shape != other.shape:
        return False
    return bool(np.array_equal(input._host(), other._host()))
