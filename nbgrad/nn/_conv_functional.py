"""The convolution, pooling, padding and resampling half of ``nb.nn.functional``.

The kernels and their gradients are ops (``nbgrad/ops/conv.py``, ``pooling.py``,
``resample.py``); this module gathers them under PyTorch's ``torch.nn.functional`` names and
adds ``scaled_dot_product_attention``, composed from public ops.
"""

from __future__ import annotations

import math

from nbgrad import _dtype
from nbgrad.ops import nn_ops
from nbgrad.ops.conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    fold,
    unfold,
)
from nbgrad.ops.creation import ones, rand
from nbgrad.ops.pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d,
    max_pool1d_with_indices,
    max_pool2d,
    max_pool2d_with_indices,
    max_pool3d,
    max_pool3d_with_indices,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from nbgrad.ops.resample import interpolate, pad, pixel_shuffle, pixel_unshuffle, upsample
from nbgrad.tensor import Tensor

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "unfold", "fold", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
    "max_pool2d_with_indices", "max_pool3d_with_indices", "max_unpool1d", "max_unpool2d",
    "max_unpool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
    "pad", "interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle",
    "scaled_dot_product_attention",
]


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(q @ k.T * scale + mask) @ v`` over the last two dims (any leading dims).

    ``attn_mask`` is a bool mask (True = attend) or a float mask added to the scores, either
    broadcast against (..., L, S); ``is_causal`` masks the future (no ``attn_mask`` then);
    ``scale`` defaults to ``1/sqrt(E)``; ``dropout_p`` drops attention weights.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> q = k = nb.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> v = nb.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True)
    tensor([[[1.0000, 2.0000],
             [2.3395, 3.3395]]])
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention(): argument '{name}' must be Tensor, "
                            f"not {type(t).__name__}")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must have at "
                           "least 2 dimensions")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"Expected query and key to have the same embedding size, but got {query.shape[-1]} "
            f"and {key.shape[-1]}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                           "when is_causal=True")
    if enable_gqa and query.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]  # each key/value head serves `rep` query heads
        key, value = (t.unsqueeze(-3).expand(*t.shape[:-2], rep, *t.shape[-2:]).reshape(
            *t.shape[:-3], t.shape[-3] * rep, *t.shape[-2:]) for t in (key, value))
    length, source = query.shape[-2], key.shape[-2]
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query @ key.transpose(-2, -1)) * factor
    if is_causal:
        future = ones(length, source, device=query.device).tril() == 0
        scores = scores.masked_fill(future, -math.inf)
    elif attn_mask is not None:
        if attn_mask.dtype is _dtype.bool_:
            scores = scores.masked_fill(attn_mask == 0, -math.inf)
        else:
            scores = scores + attn_mask.to(scores.dtype)
    weights = nn_ops.softmax(scores, -1)
    if dropout_p > 0.0:
        keep_p = 1.0 - dropout_p
        mask = rand(*weights.shape, dtype=weights.dtype, device=weights.device) < keep_p
        weights = weights * mask / keep_p
    return weights @ value

