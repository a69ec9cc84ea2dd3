"""Cumulative ops (cumsum, cumprod, cummax, cummin, logcumsumexp, diff) and :class:`HostOp`,
the pattern of a non-elementwise op whose forward is a numpy function of host copies of its
inputs (on the GPU the arrays make a round trip through the host) and whose gradient is written
with nbgrad ops, so it is differentiable again."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from nbgrad import _dtype
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops.creation import tensor, zeros
from nbgrad.ops.indexing import gather
from nbgrad.ops.join import cat, flip
from nbgrad.ops.reduce import amax
from nbgrad.ops.shape import narrow
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = ["HostOp", "host", "cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "diff"]

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _is_array(a) -> bool:
    return hasattr(a, "dtype") and hasattr(a, "shape")


class HostOp(OpDef):
    """An op whose forward is ``fn(params, *host_arrays) -> ndarray`` and whose gradient is
    ``grad(node, g) -> tuple`` (nbgrad ops); ``saves`` says whether backward reads the inputs
    and the output."""

    def __init__(self, name: str, fn, grad=None, saves=(False, False)) -> None:
        super().__init__(name)
        self.fn, self.grad, self.saves = fn, grad, saves
        self.differentiable = grad is not None

    def forward(self, bk, params, *arrays):
        out = self.fn(params, *(bk.to_host(a) if _is_array(a) else a for a in arrays))
        out = np.asarray(out)
        return bk.asarray(out, out.dtype)

    def save(self, needs):
        ins, outp = self.saves
        return ((True,) * len(needs) if ins else None), outp

    def backward(self, node, grad):
        return self.grad(node, grad)


def host(fn, *tensors: Tensor, device=None) -> Tensor:
    """A non-differentiable result ``fn(*host_arrays)`` on the device of ``tensors[0]``.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.scan import host
    >>> host(lambda a: a * 2, nb.tensor([1, 2]))
    tensor([2, 4])
    """
    arrays = [t._host() if isinstance(t, Tensor) else t for t in tensors]
    out = np.asarray(fn(*arrays))
    dev = device if device is not None else next(
        (t.device for t in tensors if isinstance(t, Tensor)), None)
    return tensor(out, dtype=_dtype.from_numpy_dtype(out.dtype), device=dev)


def _acc_dtype(x: Tensor, dtype) -> np.dtype:
    if dtype is not None:
        return _dtype.as_dtype(dtype).np
    return x._data.dtype if x.dtype.is_floating_point else np.dtype(np.int64)


def _cumsum_fwd(params, x):
    dim, dt = params
    return np.cumsum(x, axis=dim, dtype=dt) if x.ndim else x.astype(dt)


def _cumsum_grad(node, g):
    dim, _ = node.params
    if g.ndim:
        g = flip(cumsum(flip(g, dim), dim), dim)
    return (g,)


CUMSUM = HostOp("Cumsum", _cumsum_fwd, _cumsum_grad)


@register(function=True, method=True, doc=Doc(
    "Cumulative", "every dtype (integers and bool give int64)", "reversed cumulative sum of g"))
def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running sum along ``dim``.

    >>> import nbgrad as nb
    >>> nb.cumsum(nb.tensor([1.0, 2.0, 3.0]), 0)
    tensor([1., 3., 6.])
    """
    d = _wrap_dim(dim, input.ndim)
    dt = _acc_dtype(input, dtype)
    if dt != input._data.dtype:
        input = input.to(_dtype.from_numpy_dtype(dt))
    return apply(CUMSUM, (input,), (d, dt))


@register(inplace=True)
def cumsum_(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """In-place ``cumsum``.

    >>> import nbgrad as nb
    >>> nb.tensor([1.0, 2.0]).cumsum_(0)
    tensor([1., 3.])
    """
    return input.copy_(cumsum(input, dim, dtype=dtype))


def _cumprod_fwd(params, x):
    dim, dt = params
    return np.cumprod(x, axis=dim, dtype=dt) if x.ndim else x.astype(dt)


def _cumprod_grad(node, g):
    dim, _ = node.params
    x = node.saved_input(0)
    if not g.ndim:
        return (g,)
    n = x.shape[dim]
    if n == 0:
        return (g,)
    if not bool((x == 0).any()):
        y = cumprod(x, dim)
        return (flip(cumsum(flip(g * y, dim), dim), dim) / x,)
    # exact with zeros: d y_k / d x_i = prod_{j <= k, j != i} x_j, summed over k >= i
    parts = []
    for i in range(n):
        xi1 = narrow(x, dim, i, 1)
        ones = xi1 * 0 + 1
        repl = cat([narrow(x, dim, 0, i), ones, narrow(x, dim, i + 1, n - i - 1)], dim)
        yk = cumprod(repl, dim)
        parts.append((narrow(g * yk, dim, i, n - i)).sum(dim, keepdim=True))
    return (cat(parts, dim),)


CUMPROD = HostOp("Cumprod", _cumprod_fwd, _cumprod_grad, saves=(True, False))


@register(function=True, method=True, doc=Doc(
    "Cumulative", "every dtype (integers and bool give int64)",
    "reversed cumsum of g*y divided by x (exact sums where x has zeros)"))
def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Running product along ``dim``.

    >>> import nbgrad as nb
    >>> nb.cumprod(nb.tensor([1.0, 2.0, 3.0]), 0)
    tensor([1., 2., 6.])
    """
    d = _wrap_dim(dim, input.ndim)
    dt = _acc_dtype(input, dtype)
    if dt != input._data.dtype:
        input = input.to(_dtype.from_numpy_dtype(dt))
    return apply(CUMPROD, (input,), (d, dt))


@register(inplace=True)
def cumprod_(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """In-place ``cumprod``.

    >>> import nbgrad as nb
    >>> nb.tensor([2.0, 3.0]).cumprod_(0)
    tensor([2., 6.])
    """
    return input.copy_(cumprod(input, dim, dtype=dtype))


def _cum_index(a: np.ndarray, dim: int, largest: bool) -> np.ndarray:
    """Index of the running max (min) along ``dim``; ties take the latest, NaN propagates."""
    a = np.moveaxis(a, dim, -1)
    out = np.zeros(a.shape, np.int64)
    if a.shape[-1]:
        best = a[..., 0].copy()
        idx = np.zeros(a.shape[:-1], np.int64)
        for k in range(a.shape[-1]):
            v = a[..., k]
            if a.dtype.kind == "f":
                take = (v >= best) if largest else (v <= best)
                take |= np.isnan(v) & ~np.isnan(best) | np.isnan(v)
                take &= ~(np.isnan(best) & ~np.isnan(v))
            else:
                take = (v >= best) if largest else (v <= best)
            best = np.where(take, v, best)
            idx = np.where(take, k, idx)
            out[..., k] = idx
    return np.moveaxis(out, -1, dim)


def _cumext(name: str, input: Tensor, dim: int, largest: bool):
    d = _wrap_dim(dim, input.ndim)
    if input.ndim == 0:
        return ValuesIndices(input.clone(), zeros((), dtype=_dtype.int64, device=input.device))
    idx = host(lambda a: _cum_index(a, d, largest), input)
    return ValuesIndices(gather(input, d, idx), idx)


@register(function=True, method=True, doc=Doc(
    "Cumulative", "every dtype", "g scattered to the running argmax"))
def cummax(input: Tensor, dim: int) -> ValuesIndices:
    """Running maximum along ``dim`` and where it was found: ``(values, indices)``.

    >>> import nbgrad as nb
    >>> nb.cummax(nb.tensor([1.0, 3.0, 2.0, 5.0]), 0)
    ValuesIndices(values=tensor([1., 3., 3., 5.]), indices=tensor([0, 1, 1, 3]))
    """
    return _cumext("cummax", input, dim, True)


@register(function=True, method=True, doc=Doc(
    "Cumulative", "every dtype", "g scattered to the running argmin"))
def cummin(input: Tensor, dim: int) -> ValuesIndices:
    """Running minimum along ``dim`` and where it was found: ``(values, indices)``.

    >>> import nbgrad as nb
    >>> nb.cummin(nb.tensor([3.0, 1.0, 2.0]), 0)
    ValuesIndices(values=tensor([3., 1., 1.]), indices=tensor([0, 1, 1]))
    """
    return _cumext("cummin", input, dim, False)


@register(function=True, method=True, doc=Doc(
    "Cumulative", "float32, float64", "composed: log(cumsum(exp(x - max))) + max"))
def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, computed stably.

    >>> import nbgrad as nb
    >>> nb.logcumsumexp(nb.tensor([0.0, 0.0]), 0)
    tensor([0.0000, 0.6931])
    """
    if not input.dtype.is_floating_point:
        raise RuntimeError(f'"logcumsumexp_out_cpu" not implemented for \'{input.dtype.name}\'')
    d = _wrap_dim(dim, input.ndim)
    if input.ndim == 0 or input.shape[d] == 0:
        return input.clone()
    m = amax(input.detach(), d, keepdim=True)
    m = host(lambda a: np.where(np.isfinite(a), a, 0).astype(a.dtype), m)
    return cumsum((input - m).exp(), d).log() + m


@register(function=True, method=True, doc=Doc(
    "Cumulative", "every dtype (bool: xor)", "composed: differences of slices"))
def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The ``n``-th forward difference along ``dim``, after joining ``prepend``/``append``.

    >>> import nbgrad as nb
    >>> nb.diff(nb.tensor([1, 4, 9, 16]))
    tensor([3, 5, 7])
    >>> nb.diff(nb.tensor([1, 4, 9, 16]), n=2)
    tensor([2, 2])
    """
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if not isinstance(n, int) or n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    d = _wrap_dim(dim, input.ndim)
    parts = [p for p in (prepend, input, append) if p is not None]
    if len(parts) > 1:
        parts = [p if isinstance(p, Tensor) else tensor(p, dtype=input.dtype) for p in parts]
        parts = [p.expand(*[s if i != d else p.shape[d] for i, s in enumerate(input.shape)])
                 if p.ndim == input.ndim else p for p in parts]
        input = cat(parts, d)
    x = input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        a, b = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = (a != b) if x.dtype is _dtype.bool_ else a - b
    return x

