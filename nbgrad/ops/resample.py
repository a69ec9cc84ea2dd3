"""Padding, resampling and pixel shuffling: ``pad``, ``interpolate``, ``pixel_shuffle``,
``pixel_unshuffle``.

All are compositions of differentiable ops, so their gradients (of any order) and every device
come for free: constant padding concatenates filled blocks (a negative pad narrows), the other
padding modes and nearest resampling pick indices along each dimension (``index_select``), and
linear, bilinear, trilinear and bicubic resampling multiply each dimension by a small
interpolation matrix (a matmul; the matrices are planned in numpy from PyTorch's coordinate
rules).
"""

from __future__ import annotations

import math

import numpy as np

from nbgrad.ops._register import Doc, register
from nbgrad.ops.conv import _shape_list, check_float
from nbgrad.ops.creation import full, tensor
from nbgrad.ops.join import cat
from nbgrad.ops.pooling import adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d
from nbgrad.tensor import Tensor

__all__ = ["pad", "interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle"]

_DOC = "Convolution and pooling"


# ----------------------------------------------------------------------------- pad
def _pad_constant(x: Tensor, pads: list, value: float) -> Tensor:
    for i, (lo, hi) in enumerate(pads):
        dim = x.ndim - 1 - i
        if lo < 0:
            x = x.narrow(dim, -lo, x.shape[dim] + lo)
        if hi < 0:
            x = x.narrow(dim, 0, x.shape[dim] + hi)
        parts = []
        for n in (max(lo, 0), max(hi, 0)):
            shape = list(x.shape)
            shape[dim] = n
            parts.append(full(tuple(shape), value, dtype=x.dtype, device=x.device) if n else None)
        if parts[0] is not None or parts[1] is not None:
            x = cat([p for p in (parts[0], x, parts[1]) if p is not None], dim)
    return x


def _pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    i = np.arange(-lo, n + hi)
    if mode == "reflect":
        period = 2 * (n - 1)
        i = np.abs(i) % period if period else np.zeros_like(i)
        return np.where(i >= n, period - i, i)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    return i % n  # circular


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``
    starts from the last dimension. Modes: 'constant' (``value``, any number of dims; negative
    pads crop), 'reflect', 'replicate' and 'circular' (the last 1, 2 or 3 dims of a batched or
    unbatched input).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.pad(nb.tensor([[1.0, 2.0]]), (1, 2), value=9.0)
    tensor([[9., 1., 2., 9., 9.]])
    >>> F.pad(nb.tensor([[[1.0, 2.0, 3.0]]]), (2, 1), mode="reflect")
    tensor([[[3., 2., 1., 2., 3., 2.]]])
    """
    check_float(input, "pad")
    pad = [int(p) for p in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(
            f"Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.ndim}")
    pads = [(pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]
    if mode == "constant":
        return _pad_constant(input, pads, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
    k = len(pads)
    if k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.")
    x = input
    for i, (lo, hi) in enumerate(pads):
        dim = x.ndim - 1 - i
        n = x.shape[dim]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"Argument #4: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({lo}, {hi}) at dimension {dim} of input "
                f"{_shape_list(input.shape)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if mode == "replicate" and n == 0:
            raise RuntimeError(f"input tensor has a zero-sized dimension {dim} to pad")
        if lo or hi:
            x = x.index_select(dim, tensor(_pad_index(n, lo, hi, mode), device=x.device))
    return x


# ----------------------------------------------------------------------------- interpolate
_LINEAR = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def _scale(n_in: int, n_out: int, align_corners: bool, scale) -> float:
    if align_corners:
        return (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else n_in / n_out


def _linear_matrix(n_in: int, n_out: int, align: bool, scale) -> np.ndarray:
    r = _scale(n_in, n_out, align, scale)
    dst = np.arange(n_out, dtype=np.float64)
    src = r * dst if align else np.maximum(r * (dst + 0.5) - 0.5, 0.0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    return _taps(n_in, n_out, (i0, i1), (1.0 - lam, lam))


def _cubic_matrix(n_in: int, n_out: int, align: bool, scale) -> np.ndarray:
    r = _scale(n_in, n_out, align, scale)
    dst = np.arange(n_out, dtype=np.float64)
    src = r * dst if align else r * (dst + 0.5) - 0.5
    i = np.floor(src).astype(np.int64)
    t = src - i
    a = -0.75

    def near(v):  # |v| <= 1
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v):  # 1 < |v| < 2
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    idx = tuple(np.clip(i + j, 0, n_in - 1) for j in (-1, 0, 1, 2))
    return _taps(n_in, n_out, idx, weights)


def _taps(n_in: int, n_out: int, idx, weights) -> np.ndarray:
    """(n_out, n_in) matrix with ``weights[t][o]`` added at ``(o, idx[t][o])``."""
    rows = np.arange(n_out)
    flat = np.concatenate([rows * n_in + i for i in idx])
    m = np.bincount(flat, weights=np.concatenate(weights), minlength=n_out * n_in)
    return m.reshape(n_out, n_in)


def _nearest_index(n_in: int, n_out: int, scale, exact: bool) -> np.ndarray:
    r = _scale(n_in, n_out, False, scale)
    dst = np.arange(n_out, dtype=np.float64)
    src = np.floor((dst + 0.5) * r if exact else dst * r).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _along(x: Tensor, dim: int, m: np.ndarray) -> Tensor:
    mt = tensor(m.T, dtype=x.dtype, device=x.device)
    if dim == x.ndim - 1:
        return x @ mt
    return (x.transpose(dim, -1) @ mt).transpose(dim, -1)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of ``input`` ``(N, C, *S)`` to ``size`` or by ``scale_factor``.

    Modes: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' and 'bicubic' (4-D),
    'trilinear' (5-D) and 'area' (adaptive average pooling), with PyTorch's coordinate rules
    (``align_corners``, and ``scale_factor`` used as given unless ``recompute_scale_factor``).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.interpolate(nb.tensor([[[1.0, 2.0]]]), scale_factor=2)
    tensor([[[1., 1., 2., 2.]]])
    >>> F.interpolate(nb.tensor([[[1.0, 2.0]]]), size=3, mode="linear", align_corners=True)
    tensor([[[1.0000, 1.5000, 2.0000]]])
    """
    check_float(input, "interpolate")
    if antialias:
        raise NotImplementedError("interpolate(antialias=True) is not supported by nbgrad")
    nd = input.ndim - 2
    modes = ("nearest", "nearest-exact", "area", *_LINEAR)
    if mode not in modes:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})")
    if mode in _LINEAR:
        if align_corners is None:
            align_corners = False
    elif align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if nd not in (1, 2, 3):
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            f"the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
            f"nearest-exact (got {mode})")
    if mode in _LINEAR and _LINEAR[mode] != nd:
        need = {"linear": "3D", "bilinear": "4D", "bicubic": "4D", "trilinear": "5D"}[mode]
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {need} input")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    in_size = tuple(input.shape[2:])
    if size is not None:
        out = tuple(int(s) for s in size) if isinstance(size, (list, tuple)) else (int(size),) * nd
        if len(out) != nd:
            raise ValueError(
                f"Input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(in_size)} and output size of "
                f"{list(out)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                f"output size in (o1, o2, ...,oK) format.")
        scales = (None,) * nd
    else:
        sf = tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (list, tuple)) \
            else (float(scale_factor),) * nd
        if len(sf) != nd:
            raise ValueError(
                f"Input and scale_factor must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(in_size)} and scale_factor of "
                f"shape {list(sf)}. Please provide input tensor in (N, C, d1, d2, ...,dK) format "
                f"and scale_factor in (s1, s2, ...,sK) format.")
        out = tuple(int(math.floor(n * s)) for n, s in zip(in_size, sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    if any(o <= 0 for o in out):
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                           f"({', '.join(map(str, in_size))}) and output "
                           f"({', '.join(map(str, out))})")
    if mode == "area":
        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[nd - 1](input, out)
    x = input
    for axis, (n, o, s) in enumerate(zip(in_size, out, scales)):
        dim = 2 + axis
        if mode in ("nearest", "nearest-exact"):
            if n != o or s is not None:
                idx = _nearest_index(n, o, s, mode == "nearest-exact")
                x = x.index_select(dim, tensor(idx, device=x.device))
        elif mode == "bicubic":
            x = _along(x, dim, _cubic_matrix(n, o, align_corners, s))
        else:
            x = _along(x, dim, _linear_matrix(n, o, align_corners, s))
    return x


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """The deprecated name of :func:`interpolate`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.upsample(nb.tensor([[[1.0]]]), scale_factor=2)
    tensor([[[1., 1.]]])
    """
    return interpolate(input, size, scale_factor, mode, align_corners)


# ----------------------------------------------------------------------------- pixel shuffle
_SHUFFLE_DOC = (_DOC, "every dtype", "the inverse rearrangement of g")


@register(function=True, doc=Doc(*_SHUFFLE_DOC))
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C*r*r, H, W) into (*, C, H*r, W*r).

    >>> import nbgrad as nb
    >>> nb.pixel_shuffle(nb.arange(4.0).reshape(4, 1, 1), 2)
    tensor([[[0., 1.],
             [2., 3.]]])
    """
    check_float(input, "pixel_shuffle")
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got "
                           f"input with {input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    k = len(lead)
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    x = x.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


@register(function=True, doc=Doc(*_SHUFFLE_DOC))
def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """Rearrange (*, C, H*r, W*r) into (*, C*r*r, H, W): the inverse of ``pixel_shuffle``.

    >>> import nbgrad as nb
    >>> nb.pixel_unshuffle(nb.arange(4.0).reshape(1, 2, 2), 2).flatten()
    tensor([0., 1., 2., 3.])
    """
    check_float(input, "pixel_unshuffle")
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but "
                           f"got input with {input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    *lead, c, h, w = input.shape
    if h % r or w % r:
        which = ("height", -2, h) if h % r else ("width", -1, w)
        raise RuntimeError(
            f"pixel_unshuffle expects {which[0]} to be divisible by downscale_factor, but "
            f"input.size({which[1]})={which[2]} is not divisible by {r}")
    k = len(lead)
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    x = x.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)
