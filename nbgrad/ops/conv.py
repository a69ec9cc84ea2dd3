"""Convolutions: ``conv1d/2d/3d``, ``conv_transpose1d/2d/3d``, ``unfold`` and ``fold``.

Two kernel ops carry them all: :data:`IM2COL` (PyTorch's ``unfold``: every window of the input
as a column) and :data:`COL2IM` (``fold``: the columns summed back into place). They are each
other's transpose, so each one's gradient is the other one and gradients of any order come for
free. A convolution is ``weight @ im2col(x)`` (a BLAS matmul, per group), a transposed
convolution ``col2im(weight.T @ x)``; both gradients are then the matmul's and the two
kernels', all differentiable again. The kernels live in ``backends/*/conv_kernels.py``.
"""

from __future__ import annotations

import math

from nbgrad import _dtype
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import Doc, register
from nbgrad.ops.nn_ops import _kernels
from nbgrad.tensor import Tensor

__all__ = [
    "IM2COL", "COL2IM", "im2col", "col2im", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "unfold", "fold", "ntuple", "check_float",
]

_DOC = "Convolution and pooling"


class Im2Col(OpDef):
    """Windows of ``x`` (N, C, *S) as columns (N, C*prod(k), prod(out)).

    params = (in_size, kernel, stride, dilation, padding, out_size, fill, channels_first,
    batch): with ``channels_first`` the columns are laid out (C*prod(k), N*prod(out)), the
    operand of one BLAS matmul per convolution."""

    name = "Im2Col"

    def forward(self, bk, params, x):
        return _kernels(bk, "conv").im2col(x, *params[:8])

    def backward(self, node, grad):
        p = node.params
        return (apply(COL2IM, (grad,), p[:6] + (0.0,) + p[7:]),)


class Col2Im(OpDef):
    """Columns summed back into (N, C, *in_size): the transpose of :class:`Im2Col`."""

    name = "Col2Im"

    def forward(self, bk, params, cols):
        return _kernels(bk, "conv").col2im(cols, *params)

    def backward(self, node, grad):
        p = node.params
        return (apply(IM2COL, (grad,), p[:6] + (0.0,) + p[7:]),)


IM2COL, COL2IM = Im2Col(), Col2Im()


def ntuple(value, n: int, name: str, fname: str = "conv") -> tuple:
    """``value`` as an ``n``-tuple of ints (one int is repeated), with PyTorch's error."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and n > 1:
            value = tuple(value) * n
        if len(value) != n:
            raise RuntimeError(
                f"expected {name} to be a single integer value or a list of {n} values to match "
                f"the convolution dimensions, but got {name}={list(value)}"
            )
        return tuple(int(v) for v in value)
    if isinstance(value, Tensor):
        value = value.item()
    return (int(value),) * n


def check_float(x: Tensor, fname: str, arg: str = "input") -> None:
    """A tensor argument, with PyTorch-style errors for a non-tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fname}(): argument '{arg}' (position 1) must be Tensor, not "
                        f"{type(x).__name__}")


def _out_len(size: int, k: int, s: int, d: int, p: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def im2col(x: Tensor, kernel: tuple, stride: tuple, dilation: tuple, padding: tuple,
           out_size: tuple | None = None, fill: float = 0.0) -> Tensor:
    """Columns (N, C*prod(kernel), L) of ``x`` (N, C, *S): the op behind ``unfold``.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.conv import im2col
    >>> im2col(nb.arange(4.0).reshape(1, 1, 4), (2,), (2,), (1,), (0,))
    tensor([[[0., 2.],
             [1., 3.]]])
    """
    in_size = tuple(x.shape[2:])
    if out_size is None:
        out_size = tuple(_out_len(*a) for a in zip(in_size, kernel, stride, dilation, padding))
    return apply(IM2COL, (x,), (in_size, tuple(kernel), tuple(stride), tuple(dilation),
                                 tuple(padding), tuple(out_size), float(fill), False,
                                 x.shape[0]))


def col2im(cols: Tensor, in_size: tuple, kernel: tuple, stride: tuple, dilation: tuple,
           padding: tuple, out_size: tuple) -> Tensor:
    """Columns (N, C*prod(kernel), prod(out_size)) summed back into (N, C, *in_size).

    >>> import nbgrad as nb
    >>> from nbgrad.ops.conv import col2im
    >>> col2im(nb.ones(1, 2, 2), (3,), (2,), (1,), (1,), (0,), (2,))
    tensor([[[1., 2., 1.]]])
    """
    return apply(COL2IM, (cols,), (tuple(in_size), tuple(kernel), tuple(stride),
                                    tuple(dilation), tuple(padding), tuple(out_size), 0.0, False,
                                    cols.shape[0]))


# ----------------------------------------------------------------------------- convolutions
def _shape_list(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _batched(x: Tensor, nd: int, fname: str) -> bool:
    """True when ``x`` is unbatched (nd+1 dims); raise PyTorch's error for other ranks."""
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {fname}, but got "
            f"input of size: {_shape_list(x.shape)}"
        )
    return x.ndim == nd + 1


def _conv_dtypes(x: Tensor, weight: Tensor, bias):
    if weight.dtype is not x.dtype or (bias is not None and bias.dtype is not x.dtype):
        other = weight.dtype if weight.dtype is not x.dtype else bias.dtype
        raise RuntimeError(
            f"expected scalar type {_dtype_title(x.dtype)} but found {_dtype_title(other)}")
    if x.dtype is _dtype.bool_:
        raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Bool\'')


def _dtype_title(dt) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
            "float16": "Half", "bfloat16": "BFloat16"}.get(dt.name, dt.name)


def _as_float(x: Tensor) -> Tensor:
    return x if x.dtype.is_floating_point else x.to(_dtype.float64)


def _conv_nd(nd: int, fname: str, input: Tensor, weight: Tensor, bias, stride, padding,
             dilation, groups: int) -> Tensor:
    check_float(input, fname)
    check_float(weight, fname, "weight")
    unbatched = _batched(input, nd, fname)
    if weight.ndim != nd + 2:
        raise RuntimeError(
            f"weight should have at least three dimensions, got weight of size "
            f"{_shape_list(weight.shape)}" if weight.ndim < 3 else
            f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input "
            f"{_shape_list(input.shape)}, but got {weight.ndim}-dimensional weight of size "
            f"{_shape_list(weight.shape)} instead")
    _conv_dtypes(input, weight, bias)
    x = input.unsqueeze(0) if unbatched else input
    stride = ntuple(stride, nd, "stride")
    dilation = ntuple(dilation, nd, "dilation")
    groups = int(groups)
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    oc, cg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if oc % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_shape_list(weight.shape)}] instead")
    if x.shape[1] != cg * groups:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {_shape_list(weight.shape)}, expected "
            f"input{_shape_list(x.shape)} to have {cg * groups} channels, but got "
            f"{x.shape[1]} channels instead")
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != oc):
        raise RuntimeError(
            f"Given weight of size {_shape_list(weight.shape)}, expected bias to be "
            f"1-dimensional with {oc} elements, but got bias of size {_shape_list(bias.shape)} "
            "instead")
    size = tuple(x.shape[2:])
    lo = hi = None
    if isinstance(padding, str):
        if padding == "valid":
            lo = hi = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            lo = tuple(t // 2 for t in total)
            hi = tuple(t - t // 2 for t in total)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        lo = hi = ntuple(padding, nd, "padding")
        if any(p < 0 for p in lo):
            raise RuntimeError("negative padding is not supported")
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    padded = tuple(s + a + b for s, a, b in zip(size, lo, hi))
    if any(p < e for p, e in zip(padded, eff)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater than "
            "actual input size")
    out_size = tuple((p - e) // s + 1 for p, e, s in zip(padded, eff, stride))
    orig = x.dtype
    x, w = _as_float(x), _as_float(weight)
    n = x.shape[0]
    cols = apply(IM2COL, (x,), (size, kernel, stride, dilation, lo, out_size, 0.0, True, n))
    ck, nl = cols.shape  # (C*K, N*L): one BLAS matmul (per group)
    if groups == 1:
        out = w.reshape(oc, ck) @ cols
    else:
        out = w.reshape(groups, oc // groups, ck // groups) @ cols.reshape(
            groups, ck // groups, nl)
    out = out.reshape(oc, n, *out_size).transpose(0, 1)
    if bias is not None:
        out = out + _as_float(bias).reshape(oc, *(1,) * nd)
    if orig is not out.dtype:
        out = out.round().to(orig)
    return out.squeeze(0) if unbatched else out


_CONV_DOC = (_DOC, "float32, float64 (integers computed in float64)",
                "input: col2im(W.T @ g); weight: g @ im2col(x).T; bias: sum of g")


@register(function=True, doc=Doc(*_CONV_DOC))
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of ``input`` (N, C_in, L) or (C_in, L) with
    ``weight`` (C_out, C_in/groups, k); ``padding`` may be an int, a tuple, 'valid' or 'same'.

    >>> import nbgrad as nb
    >>> nb.conv1d(nb.tensor([[[1.0, 2.0, 3.0, 4.0]]]), nb.tensor([[[1.0, -1.0]]]))
    tensor([[[-1., -1., -1.]]])
    """
    return _conv_nd(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


@register(function=True, doc=Doc(*_CONV_DOC))
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution of ``input`` (N, C_in, H, W) or (C_in, H, W) with ``weight``
    (C_out, C_in/groups, kH, kW): im2col and one BLAS matmul per group.

    >>> import nbgrad as nb
    >>> x = nb.arange(9.0).reshape(1, 1, 3, 3)
    >>> nb.conv2d(x, nb.ones(1, 1, 2, 2))
    tensor([[[[ 8., 12.],
              [20., 24.]]]])
    """
    return _conv_nd(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


@register(function=True, doc=Doc(*_CONV_DOC))
def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution of ``input`` (N, C_in, D, H, W) or (C_in, D, H, W) with ``weight``
    (C_out, C_in/groups, kD, kH, kW).

    >>> import nbgrad as nb
    >>> nb.conv3d(nb.ones(1, 1, 2, 2, 2), nb.ones(1, 1, 2, 2, 2)).flatten()
    tensor([8.])
    """
    return _conv_nd(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose_nd(nd: int, fname: str, input: Tensor, weight: Tensor, bias, stride,
                       padding, output_padding, groups: int, dilation) -> Tensor:
    check_float(input, fname)
    check_float(weight, fname, "weight")
    unbatched = _batched(input, nd, fname)
    if weight.ndim != nd + 2:
        raise RuntimeError(
            f"Expected {nd + 2}-dimensional weight for {nd + 2}-dimensional input "
            f"{_shape_list(input.shape)}, but got {weight.ndim}-dimensional weight of size "
            f"{_shape_list(weight.shape)} instead")
    _conv_dtypes(input, weight, bias)
    x = input.unsqueeze(0) if unbatched else input
    stride = ntuple(stride, nd, "stride")
    padding = ntuple(padding, nd, "padding")
    output_padding = ntuple(output_padding, nd, "output_padding")
    dilation = ntuple(dilation, nd, "dilation")
    groups = int(groups)
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)) or \
            any(op < 0 for op in output_padding):
        names = ("depth", "height", "width")[3 - nd:]
        parts = [f"output_padding_{a}: {v}" for a, v in zip(names, output_padding)]
        parts += [f"stride_{a}: {v}" for a, v in zip(names, stride)]
        parts += [f"dilation_{a}: {v}" for a, v in zip(names, dilation)]
        raise RuntimeError("output padding must be smaller than either stride or dilation, but "
                           "got " + " ".join(parts))
    cin, ocg = weight.shape[:2]
    kernel = tuple(weight.shape[2:])
    if x.shape[1] != cin:
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape_list(weight.shape)}, expected "
            f"input{_shape_list(x.shape)} to have {cin} channels, but got {x.shape[1]} "
            "channels instead")
    if cin % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_shape_list(weight.shape)}] instead")
    oc = ocg * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != oc):
        raise RuntimeError(
            f"Given transposed=1, weight of size {_shape_list(weight.shape)}, expected bias to "
            f"be 1-dimensional with {oc} elements, but got bias of size "
            f"{_shape_list(bias.shape)} instead")
    size = tuple(x.shape[2:])
    out_size = tuple((i - 1) * s - 2 * p + d * (k - 1) + op + 1 for i, s, p, d, k, op in
                     zip(size, stride, padding, dilation, kernel, output_padding))
    if any(o <= 0 for o in out_size):
        raise RuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, size))}). Calculated output "
            f"size per channel: ({' x '.join(map(str, out_size))}). Output size is too small")
    orig = x.dtype
    x, w = _as_float(x), _as_float(weight)
    n = x.shape[0]
    k = math.prod(kernel)
    length = math.prod(size)
    xs = x.reshape(n, cin, length).transpose(0, 1).reshape(groups, cin // groups, n * length)
    wg = w.reshape(groups, cin // groups, ocg * k).transpose(1, 2)  # (G, ocg*k, cin/G)
    cols = (wg @ xs).reshape(oc * k, n * length)  # the (C*K, N*L) layout
    out = apply(COL2IM, (cols,), (out_size, kernel, stride, dilation, padding, size, 0.0, True,
                                  n))
    if bias is not None:
        out = out + _as_float(bias).reshape(oc, *(1,) * nd)
    if orig is not out.dtype:
        out = out.round().to(orig)
    return out.squeeze(0) if unbatched else out


_CONVT_DOC = (_DOC, "float32, float64 (integers computed in float64)",
                 "input: W @ im2col(g) (a convolution); weight: x @ im2col(g).T; bias: sum of g")


@register(function=True, doc=Doc(*_CONVT_DOC))
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution ("deconvolution") of ``input`` (N, C_in, L) with ``weight``
    (C_in, C_out/groups, k).

    >>> import nbgrad as nb
    >>> nb.conv_transpose1d(nb.tensor([[[1.0, 2.0]]]), nb.tensor([[[1.0, 1.0]]]))
    tensor([[[1., 3., 2.]]])
    """
    return _conv_transpose_nd(1, "conv_transpose1d", input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


@register(function=True, doc=Doc(*_CONVT_DOC))
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution of ``input`` (N, C_in, H, W) with ``weight``
    (C_in, C_out/groups, kH, kW).

    >>> import nbgrad as nb
    >>> nb.conv_transpose2d(nb.ones(1, 1, 1, 1), nb.ones(1, 1, 2, 2), stride=2).shape
    (1, 1, 2, 2)
    """
    return _conv_transpose_nd(2, "conv_transpose2d", input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


@register(function=True, doc=Doc(*_CONVT_DOC))
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution of ``input`` (N, C_in, D, H, W) with ``weight``
    (C_in, C_out/groups, kD, kH, kW).

    >>> import nbgrad as nb
    >>> nb.conv_transpose3d(nb.ones(1, 1, 1, 1, 1), nb.ones(1, 2, 2, 2, 2)).shape
    (1, 2, 2, 2, 2)
    """
    return _conv_transpose_nd(3, "conv_transpose3d", input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


# ----------------------------------------------------------------------------- unfold / fold
def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding local blocks of ``input`` (N, C, H, W) or (C, H, W) as columns
    (N, C*kH*kW, L) — im2col.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.conv import unfold
    >>> unfold(nb.arange(4.0).reshape(1, 1, 2, 2), 1).tolist()
    [[[0.0, 1.0, 2.0, 3.0]]]
    """
    check_float(input, "unfold")
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[-3:]):
        raise RuntimeError(
            "Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and other non-zero "
            f"dimensions for input, but got: {_shape_list(input.shape)}")
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    k = ntuple(kernel_size, 2, "kernel_size")
    d, p, s = (ntuple(v, 2, n) for v, n in ((dilation, "dilation"), (padding, "padding"),
                                             (stride, "stride")))
    if any(v <= 0 for v in (*k, *d, *s)) or any(v < 0 for v in p):
        raise RuntimeError(f"im2col: kernel_size, dilation and stride should be greater than "
                           f"zero and padding non-negative, got kernel_size={k}, dilation={d}, "
                           f"padding={p}, stride={s}")
    out = tuple(_out_len(*a) for a in zip(x.shape[2:], k, s, d, p))
    if any(o < 1 for o in out):
        raise RuntimeError(
            f"Given input with spatial size ({x.shape[2]}, {x.shape[3]}), kernel_size={k}, "
            f"dilation={d}, padding={p}, calculated shape of the array of sliding blocks as "
            f"({out[0]}, {out[1]}), but its components must be at least one.")
    cols = im2col(x, k, s, d, p, out)
    return cols.squeeze(0) if unbatched else cols


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum columns ``(N, C*kH*kW, L)`` or ``(C*kH*kW, L)`` back into ``(N, C, *output_size)``
    — col2im, the transpose of :func:`unfold`.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.conv import fold
    >>> fold(nb.ones(1, 4, 1), (2, 2), 2)
    tensor([[[[1., 1.],
              [1., 1.]]]])
    """
    check_float(input, "fold")
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor with possibly 0 batch size and non-zero "
            f"dimensions for input, but got: {_shape_list(input.shape)}")
    unbatched = input.ndim == 2
    x = input.unsqueeze(0) if unbatched else input
    size = ntuple(output_size, 2, "output_size")
    k = ntuple(kernel_size, 2, "kernel_size")
    d, p, s = (ntuple(v, 2, n) for v, n in ((dilation, "dilation"), (padding, "padding"),
                                             (stride, "stride")))
    kk = k[0] * k[1]
    if x.shape[1] % kk:
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of kernel_size, "
            f"but got input.size(1)={x.shape[1]} and kernel_size={k}")
    out = tuple(_out_len(*a) for a in zip(size, k, s, d, p))
    if out[0] * out[1] != x.shape[2]:
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, stride={s}, "
            f"expected size of input's dimension 2 to match the calculated number of sliding "
            f"blocks {out[0]} * {out[1]} = {out[0] * out[1]}, but got input.size(2)="
            f"{x.shape[2]}.")
    res = col2im(x, size, k, s, d, p, out)
    return res.squeeze(0) if unbatched else res
