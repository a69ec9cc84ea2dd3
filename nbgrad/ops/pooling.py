"""Pooling: max, average, adaptive, power-average pooling and max unpooling (1-, 2-, 3-d).

Max pooling is one op with two outputs (the input position of each maximum, then the maxima):
the windows come from the im2col kernel, a kernel takes each window's maximum, and the
gradient scatters the output gradient to the recorded positions — an op of its own
(:data:`MAX_UNPOOL`, which is also ``max_unpool``) whose gradient gathers at the same positions,
so every order of gradient works. Average pooling is im2col, a sum and a scale; adaptive
average pooling one small averaging matrix per dimension (a matmul); adaptive max pooling
gathers each window through a table of input positions.
"""

from __future__ import annotations

import math

import numpy as np

from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops.conv import COL2IM, IM2COL, _shape_list, check_float
from nbgrad.ops.creation import tensor
from nbgrad.ops.nn_ops import _kernels
from nbgrad.tensor import Tensor

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
    "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
    "avg_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d", "MAX_UNPOOL",
]

_DOC = "Convolution and pooling"
_ = COL2IM  # the gradient of the windows (through IM2COL's backward)


def _tuple(value, nd: int, name: str) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            value = tuple(value) * nd
        if len(value) != nd:
            raise RuntimeError(f"{name} must either be a single int, or a tuple of {nd} ints")
        return tuple(int(v) for v in value)
    return (int(value),) * nd


def _input(x: Tensor, nd: int, fname: str) -> tuple[Tensor, bool]:
    """(x with a batch dim, whether it had none) with PyTorch's error for other ranks."""
    check_float(x, fname)
    if x.ndim not in (nd + 1, nd + 2) or any(s == 0 for s in x.shape[-nd - 1:][1:]):
        if nd == 1:
            raise RuntimeError(f"{fname}: Expected 2D or 3D (batch mode) tensor with optional 0 "
                               f"dim batch size for input, but got:{_shape_list(x.shape)}")
        raise RuntimeError(
            f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected for input")
    return (x.unsqueeze(0), True) if x.ndim == nd + 1 else (x, False)


def _out_len(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _plan(x: Tensor, nd: int, kernel_size, stride, padding, dilation, ceil_mode, avg: bool):
    """(kernel, stride, padding, dilation, out_size) of a pooling, checked as PyTorch does."""
    k = _tuple(kernel_size, nd, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not len(stride)) \
        else _tuple(stride, nd, "stride")
    p = _tuple(padding, nd, "padding")
    d = _tuple(dilation, nd, "dilation")
    if any(v <= 0 for v in k):
        raise RuntimeError("kernel size should be greater than zero, but got "
                           + " ".join(f"k{i}: {v}" for i, v in enumerate(k)))
    if any(v <= 0 for v in s):
        raise RuntimeError("stride should be greater than zero, but got "
                           + " ".join(f"s{i}: {v}" for i, v in enumerate(s)))
    if any(v <= 0 for v in d):
        raise RuntimeError("dilation should be greater than zero")
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > ((kk - 1) * dd + 1) // 2:
            if avg:
                raise RuntimeError(f"pad should be at most half of effective kernel size, but "
                                   f"got pad={pp}, kernel_size={kk} and dilation={dd}")
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={pp}, kernel_size={kk} and dilation={dd}")
    size = tuple(x.shape[2:])
    out = tuple(_out_len(*a, bool(ceil_mode)) for a in zip(size, k, s, p, d))
    if any(o < 1 for o in out):
        c = x.shape[1]
        raise RuntimeError(
            f"Given input size: ({'x'.join(map(str, (c, *size)))}). Calculated output size: "
            f"({'x'.join(map(str, (c, *out)))}). Output size is too small")
    return k, s, p, d, out


# ----------------------------------------------------------------------------- max pooling
class MaxPool(OpDef):
    """Outputs (input positions, maxima) of each window; params = (kernel, stride, dilation,
    padding, out_size)."""

    n_outputs = 2

    def output_differentiable(self, nr: int) -> bool:
        return nr == 1

    def forward(self, bk, params, x):
        return _kernels(bk, "conv").max_pool(x, *params)

    def save(self, needs):
        return (False,), True  # output 0: the positions

    def backward(self, node, grad_idx, grad):
        if grad is None:
            return (None,)
        return (apply(MAX_POOL_BACKWARD, (grad, node.output()), node.meta),)

    wants_meta = True

    def meta(self, arrays, out):
        return tuple(arrays[0].shape[2:])


class MaxUnpool(OpDef):
    """``out.flatten(2)[n, c, idx[n, c, l]] += src[n, c, l]`` into zeros of (N, C, *size):
    max unpooling, and the gradient of max pooling. params = size."""

    def forward(self, bk, params, src, idx):
        return _kernels(bk, "conv").scatter_planes(src, idx, params)

    def save(self, needs):
        return (False, True), False

    def backward(self, node, h):
        idx = node.saved_input(1)
        n, c = idx.shape[:2]
        g = h.reshape(n, c, -1).gather(2, idx.reshape(n, c, -1)).reshape(idx.shape)
        return g, None


MAX_POOL = {nd: MaxPool(f"MaxPool{nd}DWithIndices") for nd in (1, 2, 3)}
MAX_POOL_BACKWARD = MaxUnpool("MaxPoolWithIndicesBackward",
                              node_name="MaxPool2DWithIndicesBackwardBackward0")
MAX_UNPOOL = {nd: MaxUnpool(f"MaxUnpool{nd}D") for nd in (1, 2, 3)}


def _max_pool(nd: int, fname: str, input: Tensor, kernel_size, stride, padding, dilation,
              ceil_mode, return_indices):
    x, unbatched = _input(input, nd, fname)
    k, s, p, d, out = _plan(x, nd, kernel_size, stride, padding, dilation, ceil_mode, False)
    idx, vals = apply(MAX_POOL[nd], (x,), (k, s, d, p, out))
    if unbatched:
        idx, vals = idx.squeeze(0), vals.squeeze(0)
    return (vals, idx) if return_indices else vals


_MAX_DOC = (_DOC, "every dtype but bool", "g scattered to the position of each maximum")


@register(function=True, doc=Doc(*_MAX_DOC))
def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Maximum over sliding windows of ``input`` (N, C, L) or (C, L); with
    ``return_indices=True`` also the position of each maximum in its input row.

    >>> import nbgrad as nb
    >>> nb.max_pool1d(nb.tensor([[1.0, 3.0, 2.0, 5.0]]), 2)
    tensor([[3., 5.]])
    """
    return _max_pool(1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


@register(function=True, doc=Doc(*_MAX_DOC))
def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling of ``input`` (N, C, H, W) or (C, H, W); indices are flat positions in
    each H*W plane.

    >>> import nbgrad as nb
    >>> nb.max_pool2d(nb.arange(16.0).reshape(1, 4, 4), 2)
    tensor([[[ 5.,  7.],
             [13., 15.]]])
    """
    return _max_pool(2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


@register(function=True, doc=Doc(*_MAX_DOC))
def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """3-D max pooling of ``input`` (N, C, D, H, W) or (C, D, H, W).

    >>> import nbgrad as nb
    >>> nb.max_pool3d(nb.arange(8.0).reshape(1, 2, 2, 2), 2).flatten()
    tensor([7.])
    """
    return _max_pool(3, "max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``max_pool1d(..., return_indices=True)``: (maxima, positions).

    >>> import nbgrad as nb
    >>> from nbgrad.ops.pooling import max_pool1d_with_indices
    >>> max_pool1d_with_indices(nb.tensor([[1.0, 3.0]]), 2)[1]
    tensor([[1]])
    """
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``max_pool2d(..., return_indices=True)``: (maxima, positions).

    >>> import nbgrad as nb
    >>> from nbgrad.ops.pooling import max_pool2d_with_indices
    >>> max_pool2d_with_indices(nb.arange(4.0).reshape(1, 2, 2), 2)[1]
    tensor([[[3]]])
    """
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """``max_pool3d(..., return_indices=True)``: (maxima, positions).

    >>> import nbgrad as nb
    >>> from nbgrad.ops.pooling import max_pool3d_with_indices
    >>> max_pool3d_with_indices(nb.arange(8.0).reshape(1, 2, 2, 2), 2)[1].flatten()
    tensor([7])
    """
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


# ----------------------------------------------------------------------------- max unpooling
def _max_unpool(nd: int, fname: str, input: Tensor, indices: Tensor, kernel_size, stride,
                padding, output_size) -> Tensor:
    x, unbatched = _input(input, nd, fname)
    if not isinstance(indices, Tensor) or indices.dtype.is_floating_point:
        raise RuntimeError(f"{fname}(): expected indices to be an int64 tensor")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(
            f"Expected shape of indices to be same as that of the input tensor "
            f"({_shape_list(input.shape)}) but got indices tensor with shape: "
            f"{_shape_list(indices.shape)}")
    idx = indices.unsqueeze(0) if unbatched else indices
    k = _tuple(kernel_size, nd, "kernel_size")
    s = k if stride is None else _tuple(stride, nd, "stride")
    p = _tuple(padding, nd, "padding")
    default = tuple((i - 1) * ss - 2 * pp + kk for i, ss, pp, kk in zip(x.shape[2:], s, p, k))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)[-nd:]
        if len(size) != nd:
            raise ValueError(f"output_size should be a sequence containing {nd} or {nd + 2} "
                             f"elements, but it has a length of '{len(tuple(output_size))}'")
        for i, (want, dflt, ss) in enumerate(zip(size, default, s)):
            if not dflt - ss < want < dflt + ss:
                raise ValueError(
                    f"invalid output_size {list(size)} (dim {i} must be between {dflt - ss} and "
                    f"{dflt + ss})")
    out = apply(MAX_UNPOOL[nd], (x, idx), size)
    return out.squeeze(0) if unbatched else out




def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of ``max_pool1d``: each value put back at its index, zeros elsewhere.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> v, i = F.max_pool1d(nb.tensor([[[1.0, 3.0, 5.0, 2.0]]]), 2, return_indices=True)
    >>> F.max_unpool1d(v, i, 2)
    tensor([[[0., 3., 5., 0.]]])
    """
    return _max_unpool(1, "max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of ``max_pool2d`` (values at their flat H*W indices, zeros elsewhere).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> v, i = F.max_pool2d(nb.arange(4.0).reshape(1, 1, 2, 2), 2, return_indices=True)
    >>> F.max_unpool2d(v, i, 2)
    tensor([[[[0., 0.],
              [0., 3.]]]])
    """
    return _max_unpool(2, "max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The partial inverse of ``max_pool3d``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> v, i = F.max_pool3d(nb.arange(8.0).reshape(1, 1, 2, 2, 2), 2, return_indices=True)
    >>> F.max_unpool3d(v, i, 2).flatten().tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]
    """
    return _max_unpool(3, "max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size)


# ----------------------------------------------------------------------------- average pooling
def _divisor(size, k, s, p, out, count_include_pad: bool) -> np.ndarray:
    """The number each window's sum is divided by (PyTorch's rule), shape ``out``."""
    total = np.ones((), np.float64)
    for n, kk, ss, pp, o in zip(size, k, s, p, out):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, n + pp)
        if count_include_pad:
            cnt = end - start
        else:
            cnt = np.minimum(end, n) - np.maximum(start, 0)
        total = np.multiply.outer(total, cnt.astype(np.float64))
    return total


def _avg_pool(nd: int, fname: str, input: Tensor, kernel_size, stride, padding, ceil_mode,
              count_include_pad, divisor_override) -> Tensor:
    x, unbatched = _input(input, nd, fname)
    k, s, p, d, out = _plan(x, nd, kernel_size, stride, padding, 1, ceil_mode, True)
    size = tuple(x.shape[2:])
    n, c = x.shape[:2]
    cols = apply(IM2COL, (x,), (size, k, s, d, p, out, 0.0, False, x.shape[0]))
    total = cols.reshape(n, c, math.prod(k), math.prod(out)).sum(2)
    if divisor_override is not None:
        if int(divisor_override) == 0:
            raise RuntimeError("divisor must be not zero")
        res = total / float(divisor_override)
    else:
        inv = 1.0 / _divisor(size, k, s, p, out, bool(count_include_pad)).reshape(-1)
        if np.all(inv == inv[0]):
            res = total * float(inv[0])
        else:
            res = total * tensor(inv, dtype=total.dtype, device=x.device)
    res = res.reshape(n, c, *out)
    if not x.dtype.is_floating_point:
        res = res.to(x.dtype)
    return res.squeeze(0) if unbatched else res


_AVG_DOC = (_DOC, "float32, float64", "g / divisor, spread over each window (col2im)")


@register(function=True, doc=Doc(*_AVG_DOC))
def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Average over sliding windows of ``input`` (N, C, L) or (C, L).

    >>> import nbgrad as nb
    >>> nb.avg_pool1d(nb.tensor([[1.0, 3.0, 2.0, 6.0]]), 2)
    tensor([[2., 4.]])
    """
    return _avg_pool(1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling of ``input`` (N, C, H, W) or (C, H, W).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.avg_pool2d(nb.arange(16.0).reshape(1, 4, 4), 2)
    tensor([[[ 2.5000,  4.5000],
             [10.5000, 12.5000]]])
    """
    return _avg_pool(2, "avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """3-D average pooling of ``input`` (N, C, D, H, W) or (C, D, H, W).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.avg_pool3d(nb.arange(8.0).reshape(1, 2, 2, 2), 2).flatten()
    tensor([3.5000])
    """
    return _avg_pool(3, "avg_pool3d", input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


# ----------------------------------------------------------------------------- adaptive pooling
def _adaptive_input(x: Tensor, nd: int, fname: str, output_size):
    check_float(x, fname)
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{fname}(): Expected {nd + 1}D or {nd + 2}D tensor, but got "
                           f"{_shape_list(x.shape)}")
    unbatched = x.ndim == nd + 1
    x = x.unsqueeze(0) if unbatched else x
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != nd:
            raise ValueError(f"{fname}: output_size must be {nd}")
        out = tuple(s if o is None else int(o) for o, s in zip(output_size, x.shape[2:]))
    else:
        out = (int(output_size),) * nd
    if any(o < 0 for o in out):
        raise RuntimeError(f"{fname}(): elements of output_size must be greater than or equal "
                           f"to 0 but received {out}")
    return x, unbatched, out


def _windows(n: int, o: int):
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)


def _adaptive_avg(nd: int, fname: str, input: Tensor, output_size) -> Tensor:
    x, unbatched, out = _adaptive_input(input, nd, fname, output_size)
    dt = x.dtype if x.dtype.is_floating_point else None
    for axis, (n, o) in enumerate(zip(x.shape[2:], out)):
        if n == o:
            continue
        start, end = _windows(n, o)
        j = np.arange(n)
        a = ((j >= start[:, None]) & (j < end[:, None])) / (end - start)[:, None]
        m = tensor(a.T, dtype=dt, device=x.device)  # (n, o)
        dim = 2 + axis
        if dim == x.ndim - 1:
            x = x @ m
        else:
            x = (x.transpose(dim, -1) @ m).transpose(dim, -1)
    return x.squeeze(0) if unbatched else x


_ADAPTIVE_DOC = (_DOC, "float32, float64", "g @ A per dimension (A: the averaging matrix)")


@register(function=True, doc=Doc(*_ADAPTIVE_DOC))
def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed output length: window ``i`` covers
    ``[floor(i*L/out), ceil((i+1)*L/out))``.

    >>> import nbgrad as nb
    >>> nb.adaptive_avg_pool1d(nb.tensor([[1.0, 2.0, 3.0, 4.0]]), 2)
    tensor([[1.5000, 3.5000]])
    """
    return _adaptive_avg(1, "adaptive_avg_pool1d", input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (H_out, W_out) (an int, a pair, None keeps a size).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.adaptive_avg_pool2d(nb.arange(16.0).reshape(1, 4, 4), 1)
    tensor([[[7.5000]]])
    """
    return _adaptive_avg(2, "adaptive_avg_pool2d", input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (D_out, H_out, W_out).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.adaptive_avg_pool3d(nb.arange(8.0).reshape(1, 2, 2, 2), 1).flatten()
    tensor([3.5000])
    """
    return _adaptive_avg(3, "adaptive_avg_pool3d", input, output_size)


def _adaptive_max(nd: int, fname: str, input: Tensor, output_size, return_indices):
    x, unbatched, out = _adaptive_input(input, nd, fname, output_size)
    size = tuple(x.shape[2:])
    flat = np.zeros((1,) * (2 * nd), np.int64)
    for axis, (n, o) in enumerate(zip(size, out)):
        start, end = _windows(n, o)
        kmax = int((end - start).max()) if o else 1
        pos = np.minimum(start[:, None] + np.arange(kmax)[None, :], end[:, None] - 1)  # (o, k)
        shape = [1] * (2 * nd)
        shape[axis], shape[nd + axis] = o, kmax
        flat = flat * n + pos.reshape(shape)
    flat = flat.reshape(math.prod(out), -1)  # (L_out, K): repeats of a window's last element
    n_, c = x.shape[:2]
    table = tensor(flat.reshape(-1), device=x.device)
    vals = x.reshape(n_, c, -1).index_select(2, table).reshape(n_, c, *flat.shape)
    arg = vals.argmax(3, keepdim=True)
    res = vals.gather(3, arg).reshape(n_, c, *out)
    idx = tensor(flat, device=x.device).expand(n_, c, *flat.shape).gather(3, arg)
    idx = idx.reshape(n_, c, *out)
    if unbatched:
        res, idx = res.squeeze(0), idx.squeeze(0)
    return (res, idx) if return_indices else res


_ADAPTIVE_MAX_DOC = (_DOC, "every dtype but bool", "g scattered to each maximum's position")


@register(function=True, doc=Doc(*_ADAPTIVE_MAX_DOC))
def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed output length (windows as in ``adaptive_avg_pool1d``).

    >>> import nbgrad as nb
    >>> nb.adaptive_max_pool1d(nb.tensor([[1.0, 4.0, 3.0, 2.0]]), 2)
    tensor([[4., 3.]])
    """
    return _adaptive_max(1, "adaptive_max_pool1d", input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (H_out, W_out).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.adaptive_max_pool2d(nb.arange(16.0).reshape(1, 4, 4), 2)
    tensor([[[ 5.,  7.],
             [13., 15.]]])
    """
    return _adaptive_max(2, "adaptive_max_pool2d", input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (D_out, H_out, W_out).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.adaptive_max_pool3d(nb.arange(8.0).reshape(1, 2, 2, 2), 1).flatten()
    tensor([7.])
    """
    return _adaptive_max(3, "adaptive_max_pool3d", input, output_size, return_indices)


# ----------------------------------------------------------------------------- power-average
def _lp_pool(nd: int, input: Tensor, norm_type: float, kernel_size, stride, ceil_mode):
    k = _tuple(kernel_size, nd, "kernel_size")
    pool = (avg_pool1d, avg_pool2d, avg_pool3d)[nd - 1]
    out = pool(input.pow(norm_type), k, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu() * float(math.prod(k))).pow(1.0 / norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling: ``(sum over the window of x**p) ** (1/p)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.lp_pool1d(nb.tensor([[3.0, 4.0]]), 2, 2)
    tensor([[5.]])
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.lp_pool2d(nb.ones(1, 2, 2), 1, 2)
    tensor([[[4.]]])
    """
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """3-D power-average pooling.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.lp_pool3d(nb.ones(1, 2, 2, 2), 1, 2).flatten()
    tensor([8.])
    """
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)
