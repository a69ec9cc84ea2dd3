"""Functional forms of the normalisation, dropout, embedding, distance and loss layers
(imported into ``nb.nn.functional``). Every one is a composition of differentiable nbgrad ops,
so gradients (also of higher order) come from the ops' own.

>>> import nbgrad as nb
>>> import nbgrad.nn.functional as F
>>> F.rms_norm(nb.tensor([[3.0, 4.0]]), (2,), eps=0.0)
tensor([[0.8485, 1.1314]])
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from nbgrad import _dtype
from nbgrad.grad_mode import no_grad
from nbgrad.ops import functions as _f
from nbgrad.ops import nn_ops
from nbgrad.ops.creation import full, ones, rand, tensor, zeros
from nbgrad.tensor import Tensor

__all__ = [
    "batch_norm", "instance_norm", "group_norm", "rms_norm", "local_response_norm",
    "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "bilinear", "cosine_similarity", "pairwise_distance", "embedding", "embedding_bag",
    "smooth_l1_loss", "huber_loss", "kl_div", "poisson_nll_loss", "gaussian_nll_loss",
    "cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss", "multi_margin_loss",
    "multilabel_margin_loss", "multilabel_soft_margin_loss", "soft_margin_loss",
    "triplet_margin_loss", "triplet_margin_with_distance_loss", "ctc_loss",
    "multi_head_attention_forward",
]

_FINFO_EPS = {"float32": float(np.finfo(np.float32).eps),
              "float64": float(np.finfo(np.float64).eps)}


def _need(x, name: str, arg: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be a Tensor, not {type(x).__name__}")
    return x


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_channels(input: Tensor, tensors: dict) -> None:
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"expected a floating point input, got {input.dtype.name}")
    c = input.shape[1]
    for name, t in tensors.items():
        if t is not None and t.numel() != c:
            raise RuntimeError(f"{name} should contain {c} elements not {t.numel()}")


def _channel_shape(x: Tensor) -> list:
    shape = [1] * x.ndim
    shape[1] = x.shape[1]
    return shape


# ----------------------------------------------------------------------------- normalisation
def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every dim but the channel dim 1. In ``training`` the batch
    statistics normalise and update ``running_mean``/``running_var`` in place
    (``(1 - momentum) * running + momentum * batch``, the variance unbiased); otherwise the
    running statistics normalise.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> rm, rv = nb.zeros(1), nb.ones(1)
    >>> F.batch_norm(nb.tensor([[1.0], [3.0]]), rm, rv, training=True, eps=0.0)
    tensor([[-1.],
            [ 1.]])
    >>> rm, rv
    (tensor([0.2000]), tensor([1.1000]))
    """
    _need(input, "batch_norm")
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): expected at least 2D input (N, C, ...), got "
                         f"{input.ndim}D input of shape {input.shape}")
    dims = (0, *range(2, input.ndim))
    shape = _channel_shape(input)
    _check_channels(input, {"running_mean": running_mean, "running_var": running_var,
                            "weight": weight, "bias": bias})
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {input.shape}")
        mean = input.mean(dims, keepdim=True)
        centred = input - mean
        var = (centred * centred).mean(dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1.0 - momentum).add_(
                        mean.detach().reshape(-1).to(running_mean.dtype) * momentum)
                if running_var is not None:
                    unbiased = var.detach().reshape(-1) * (n / (n - 1))
                    running_var.mul_(1.0 - momentum).add_(
                        unbiased.to(running_var.dtype) * momentum)
        out = centred * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm(): running_mean and running_var must be defined "
                               "when training is False")
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample over its spatial dims (dims 2, ...). With
    running statistics and ``use_input_stats`` they are updated with the batch average of
    the per-instance statistics; ``use_input_stats=False`` normalises with them instead.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.instance_norm(nb.tensor([[[1.0, 3.0], [0.0, 4.0]]]), eps=0.0)
    tensor([[[-1.,  1.],
             [-1.,  1.]]])
    """
    _need(input, "instance_norm")
    if input.ndim < 3:
        raise ValueError(f"instance_norm(): expected input of at least 3 dims (N, C, L...), got "
                         f"shape {input.shape}")
    shape = _channel_shape(input)
    _check_channels(input, {"running_mean": running_mean, "running_var": running_var,
                            "weight": weight, "bias": bias})
    if use_input_stats:
        dims = tuple(range(2, input.ndim))
        n = math.prod(input.shape[2:])
        if n <= 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {input.shape}")
        mean = input.mean(dims, keepdim=True)
        centred = input - mean
        var = (centred * centred).mean(dims, keepdim=True)
        with no_grad():
            if running_mean is not None:
                m = mean.detach().reshape(input.shape[0], input.shape[1]).mean(0)
                running_mean.mul_(1.0 - momentum).add_(m.to(running_mean.dtype) * momentum)
            if running_var is not None:
                v = var.detach().reshape(input.shape[0], input.shape[1]).mean(0) * (n / (n - 1))
                running_var.mul_(1.0 - momentum).add_(v.to(running_var.dtype) * momentum)
        out = centred * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when "
                               "use_input_stats is false")
        out = (input - running_mean.reshape(shape)) * (running_var.reshape(shape) + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each of ``num_groups`` groups of channels of each sample, then scale and
    shift per channel.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.group_norm(nb.tensor([[1.0, 3.0, 0.0, 4.0]]), 2, eps=0.0)
    tensor([[-1.,  1., -1.,  1.]])
    """
    _need(input, "group_norm")
    if input.ndim < 2:
        raise RuntimeError(f"group_norm(): expected at least 2D input (N, C, ...), got shape "
                           f"{input.shape}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input "
            f"of shape {list(input.shape)} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != c:
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(t.shape)} and input of shape "
                f"{list(input.shape)}")
    g = input.reshape(n, num_groups, -1)
    centred = g - g.mean(2, keepdim=True)
    var = (centred * centred).mean(2, keepdim=True)
    out = (centred * (var + eps).rsqrt()).reshape(input.shape)
    shape = _channel_shape(input)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def rms_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` dims
    (``eps=None``: the machine epsilon of the dtype).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.rms_norm(nb.tensor([[1.0, 1.0]]), [2])
    tensor([[1., 1.]])
    """
    _need(input, "rms_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}"
        )
    if eps is None:
        eps = _FINFO_EPS.get(input.dtype.name, _FINFO_EPS["float32"])
    dims = tuple(range(-k, 0))
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """Divide each element by ``(k + alpha / size * sum of squares over ``size`` neighbouring
    channels) ** beta`` (the window zero-padded at the channel ends).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.local_response_norm(nb.tensor([[[2.0], [2.0]]]), 2, alpha=1.0, beta=1.0, k=0.0)
    tensor([[[1.0000],
             [0.5000]]])
    """
    _need(input, "local_response_norm")
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} "
                         "dimensions)")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    sq = input * input
    front, back = size // 2, (size - 1) // 2
    pad_shape = list(input.shape)
    parts = []
    if front:
        pad_shape[1] = front
        parts.append(zeros(pad_shape, dtype=input.dtype, device=input.device))
    parts.append(sq)
    if back:
        pad_shape[1] = back
        parts.append(zeros(pad_shape, dtype=input.dtype, device=input.device))
    padded = _f.cat(parts, 1) if len(parts) > 1 else sq
    total = padded.narrow(1, 0, c)
    for s in range(1, size):
        total = total + padded.narrow(1, s, c)
    div = (total * (alpha / size) + k) ** beta
    return input / div


# ----------------------------------------------------------------------------- dropout
def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _feature_mask(input: Tensor, p: float, batched: bool) -> Tensor:
    """The per-channel mask: (N, C, 1, ...) batched, (C, 1, ...) unbatched."""
    shape = list(input.shape)
    start = 2 if batched else 1
    for i in range(start, len(shape)):
        shape[i] = 1
    if p == 1.0:
        return zeros(shape, dtype=input.dtype, device=input.device)
    keep = rand(shape, dtype=input.dtype, device=input.device) >= p
    return keep.to(input.dtype) * (1.0 / (1.0 - p))


def _feature_dropout(input, p, training, inplace, name, dims):
    _need(input, name)
    _check_p(p)
    nd = dims + 1
    rank = input.ndim
    if name == "dropout1d":
        if rank not in (2, 3):
            raise RuntimeError(
                f"dropout1d: Expected 2D or 3D input, but received a {rank}D input. Note that "
                "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
                "inputs).")
        batched = rank == 3
    else:
        if rank not in (nd, nd + 1):
            warnings.warn(
                f"{name}: Received a {rank}-D input to {name}, which is deprecated and will "
                "result in an error in a future release. To retain the behavior and silence this "
                f"warning, please use dropout instead. Note that {name} exists to provide "
                f"channel-wise dropout on inputs with {dims} spatial dimensions, a channel "
                f"dimension, and an optional batch dimension (i.e. {nd}D or {nd + 1}D inputs).",
                UserWarning, stacklevel=3)
        if name == "dropout2d":
            if rank == 3:
                warnings.warn(
                    "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                    "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                    "where C is the channel dim. This behavior will change in a future release "
                    "to interpret the input as one without a batch dimension, i.e. shape "
                    "(C, H, W). To maintain the 1D channel-wise dropout behavior, please switch "
                    "to using dropout1d instead.", UserWarning, stacklevel=3)
            batched = True  # PyTorch's historical behaviour: dim 0 is the batch
        else:
            batched = rank == 5
    if not training or p == 0.0:
        return input
    mask = _feature_mask(input, p, batched and rank >= 2)
    return input.mul_(mask) if inplace else input * mask


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of a (N, C, L) or (C, L) input with probability ``p`` (the rest
    scaled by ``1/(1-p)``), only when ``training``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> y = F.dropout1d(nb.ones(1, 8, 3), p=0.5)
    >>> all(len(set(row)) == 1 for row in y[0].tolist())  # a channel is kept or dropped whole
    True
    """
    return _feature_dropout(input, p, training, inplace, "dropout1d", 1)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel-wise dropout of a (N, C, H, W) or (C, H, W) input.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.dropout2d(nb.ones(1, 2, 2, 2), p=1.0).sum()
    tensor(0.)
    """
    return _feature_dropout(input, p, training, inplace, "dropout2d", 2)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel-wise dropout of a (N, C, D, H, W) or (C, D, H, W) input.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.dropout3d(nb.ones(2, 1, 1, 1), p=0.5, training=False).sum()
    tensor(2.)
    """
    return _feature_dropout(input, p, training, inplace, "dropout3d", 3)


_SELU_ALPHA_P = -1.7580993408473766  # -scale * alpha of SELU: the value a dropped unit takes


def _alpha(input, p, training, inplace, name, feature):
    _need(input, name)
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = input * 0.0
        return input.mul_(0.0) if inplace else out
    if feature:
        if input.ndim < 2:
            raise RuntimeError(f"{name}: expected an input with a channel dim, got shape "
                               f"{input.shape}")
        shape = [input.shape[0], input.shape[1]] + [1] * (input.ndim - 2)
    else:
        shape = list(input.shape)
    keep = (rand(shape, dtype=input.dtype, device=input.device) >= p).to(input.dtype)
    a = ((1.0 - p) * (1.0 + p * _SELU_ALPHA_P ** 2)) ** -0.5
    b = -a * _SELU_ALPHA_P * p
    out = input * (keep * a) + (_SELU_ALPHA_P * a) * (1.0 - keep) + b
    return input.copy_(out.detach()) if inplace else out


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped units take SELU's negative saturation value and an
    affine correction keeps mean and variance.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> x = nb.ones(3)
    >>> F.alpha_dropout(x, 0.5) is x  # training=False by default
    True
    """
    return _alpha(input, p, training, inplace, "alpha_dropout", False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> y = F.feature_alpha_dropout(nb.ones(1, 4, 3), 0.5, training=True)
    >>> all(len(set(row)) == 1 for row in y[0].tolist())
    True
    """
    return _alpha(input, p, training, inplace, "feature_alpha_dropout", True)


# ----------------------------------------------------------------------------- layers
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.bilinear(nb.tensor([[1.0, 2.0]]), nb.tensor([[3.0]]), nb.ones(1, 2, 1))
    tensor([[9.]])
    """
    _need(input1, "bilinear", "input1")
    _need(input2, "bilinear", "input2")
    if weight.ndim != 3 or input1.shape[-1] != weight.shape[1] \
            or input2.shape[-1] != weight.shape[2] or input1.shape[:-1] != input2.shape[:-1]:
        raise RuntimeError(
            f"bilinear(): input1 {input1.shape} and input2 {input2.shape} do not fit weight "
            f"{weight.shape} (expected input1[..., in1], input2[..., in2], weight[out, in1, in2])"
        )
    out_f, in1, in2 = weight.shape
    flat = weight.permute(1, 0, 2).reshape(in1, out_f * in2)
    tmp = (input1 @ flat).reshape(*input1.shape[:-1], out_f, in2)
    out = (tmp * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1 . x2 / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim`` (inputs broadcast).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.cosine_similarity(nb.tensor([[1.0, 0.0]]), nb.tensor([[1.0, 1.0]]))
    tensor([0.7071])
    """
    _need(x1, "cosine_similarity", "x1")
    _need(x2, "cosine_similarity", "x2")
    n1 = (x1 * x1).sum(dim).sqrt().clamp_min(eps)
    n2 = (x2 * x2).sum(dim).sqrt().clamp_min(eps)
    return (x1 * x2).sum(dim) / (n1 * n2)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dim.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.pairwise_distance(nb.tensor([[3.0, 0.0]]), nb.tensor([[0.0, 4.0]]), eps=0.0)
    tensor([5.])
    """
    _need(x1, "pairwise_distance", "x1")
    _need(x2, "pairwise_distance", "x2")
    d = x1 - x2 + eps
    if p == math.inf:
        return d.abs().amax(-1, keepdim=keepdim)
    if p == 2.0:
        return (d * d).sum(-1, keepdim=keepdim).sqrt()
    return d.norm(p=p, dim=-1, keepdim=keepdim)


def _renorm_rows_(weight: Tensor, index: Tensor, max_norm: float, norm_type: float) -> None:
    with no_grad():
        rows = np.unique(index.detach().cpu().numpy().reshape(-1))
        if rows.size == 0:
            return
        idx = tensor(rows.astype(np.int64), device=weight.device)
        sel = weight.detach().index_select(0, idx)
        norms = sel.norm(p=norm_type, dim=1, keepdim=True)
        scale = _f.where(norms > max_norm, max_norm / (norms + 1e-7), ones((1,), dtype=sel.dtype,
                                                                           device=sel.device))
        weight.detach()[idx] = sel * scale


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num, dim) at the integer indices ``input`` (any shape). The row at
    ``padding_idx`` gets no gradient; with ``max_norm`` the looked-up rows whose
    ``norm_type``-norm exceeds it are rescaled in place first; ``scale_grad_by_freq`` divides
    each row's gradient by its count in ``input``. ``sparse=True`` is accepted (dense
    gradients).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.embedding(nb.tensor([2, 0]), nb.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
    tensor([[3., 3.],
            [1., 1.]])
    """
    _need(input, "embedding")
    _need(weight, "embedding", "weight")
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise ValueError("Padding_idx must be within num_embeddings")
        padding_idx %= n
    if max_norm is not None:
        _renorm_rows_(weight, input, max_norm, norm_type)
    out = nn_ops.embedding(input, weight, padding_idx)
    if scale_grad_by_freq and out.requires_grad:
        idx = input.detach().cpu().numpy().reshape(-1)
        counts = np.bincount(idx, minlength=weight.shape[0])[idx]
        s = tensor((1.0 / counts).reshape(*input.shape, 1), dtype=out.dtype, device=out.device)
        out = out.detach() + (out - out.detach()) * s
    return out


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of embedding rows: ``input`` (B, N) holds B bags of N
    indices, or ``input`` 1-D with ``offsets`` marking where each bag starts. Entries equal to
    ``padding_idx`` are left out; empty bags give zeros. ``per_sample_weights`` (mode "sum"
    only) scales each looked-up row.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> w = nb.tensor([[1.0], [2.0], [4.0]])
    >>> F.embedding_bag(nb.tensor([0, 1, 2]), w, nb.tensor([0, 2]), mode="sum")
    tensor([[3.],
            [4.]])
    """
    _need(input, "embedding_bag")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                "on GitHub."
            )
        if per_sample_weights.shape != input.shape:
            raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) "
                             f"is not None, then it must have the same shape as the input "
                             f"({input.shape})")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {type(offsets).__name__}")
        b, n = input.shape
        starts = np.arange(b) * n
        flat = input.reshape(-1)
        psw = None if per_sample_weights is None else per_sample_weights.reshape(-1)
        total = b * n
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        starts = offsets.detach().cpu().numpy().astype(np.int64)
        total = input.shape[0]
        if include_last_offset:
            starts = starts[:-1]
        flat, psw = input, per_sample_weights
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    nbags = len(starts)
    idx_np = flat.detach().cpu().numpy().astype(np.int64)
    if padding_idx is not None:
        padding_idx %= weight.shape[0]
    if max_norm is not None:
        _renorm_rows_(weight, flat, max_norm, norm_type)
    bag = np.zeros(total, dtype=np.int64)
    keep = np.zeros(total, dtype=bool)
    if nbags:
        ends = np.append(starts[1:], total) if not include_last_offset else \
            offsets.detach().cpu().numpy().astype(np.int64)[1:]
        counts = ends - starts
        if starts[0] < 0 or np.any(counts < 0) or ends[-1] > total:
            raise ValueError(f"embedding_bag: offsets must be non-decreasing and within the "
                             f"input's {total} entries, got {starts.tolist()}")
        first, last = int(starts[0]), int(ends[-1])
        bag[first:last] = np.repeat(np.arange(nbags), counts)
        keep[first:last] = True
    if padding_idx is not None:
        keep &= idx_np != padding_idx
    d = weight.shape[1]
    rows = embedding(flat, weight, padding_idx, None, norm_type, scale_grad_by_freq)
    if psw is not None:
        rows = rows * psw.unsqueeze(-1)
    if mode == "max":
        outs = []
        for i in range(nbags):
            sel = np.nonzero(keep & (bag == i))[0]
            if sel.size == 0:
                outs.append(zeros((d,), dtype=weight.dtype, device=weight.device))
            else:
                outs.append(rows.index_select(0, tensor(sel, device=weight.device)).amax(0))
        if not outs:
            return zeros((0, d), dtype=weight.dtype, device=weight.device)
        return _f.stack(outs, 0)
    mask = tensor(keep.astype(np.float64), dtype=rows.dtype, device=rows.device).unsqueeze(-1)
    rows = rows * mask
    index = tensor(np.repeat(bag[:, None], d, axis=1), device=rows.device)
    out = zeros((nbags, d), dtype=rows.dtype, device=rows.device).scatter_add(0, index, rows)
    if mode == "mean":
        counts = np.bincount(bag[keep], minlength=nbags).astype(np.float64)
        out = out / tensor(np.maximum(counts, 1.0)[:, None], dtype=out.dtype, device=out.device)
    return out


# ----------------------------------------------------------------------------- losses
def _same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", UserWarning, stacklevel=3)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 * d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (``d = input -
    target``; ``beta=0`` is the L1 loss).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.smooth_l1_loss(nb.tensor([0.5, 3.0]), nb.zeros(2), reduction="none")
    tensor([0.1250, 2.5000])
    """
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _same_shape("smooth_l1_loss", input, target)
    d = (input - target).abs()
    if beta == 0.0:
        return _reduce(d, reduction)
    loss = _f.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """``0.5 * d**2`` where ``|d| <= delta``, else ``delta * (|d| - 0.5 * delta)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.huber_loss(nb.tensor([0.5, 3.0]), nb.zeros(2), reduction="none", delta=2.0)
    tensor([0.1250, 4.0000])
    """
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _same_shape("huber_loss", input, target)
    d = (input - target).abs()
    loss = _f.where(d <= delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise KL divergence ``target * (log(target) - input)`` with ``input`` in log space
    (``log_target``: the target too). ``reduction="batchmean"`` divides the sum by the batch
    size (the mathematically correct KL; "mean" averages over every element).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> p = nb.tensor([[0.5, 0.5]])
    >>> F.kl_div(p.log(), p, reduction="batchmean")
    tensor(0.)
    """
    if reduction == "batchmean":
        if size_average is not None or reduce is not None:
            reduction = _reduction("mean", size_average, reduce)
    else:
        reduction = _reduction(reduction, size_average, reduce)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning, stacklevel=2)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        safe = _f.where(target > 0, target, ones((), dtype=target.dtype, device=target.device))
        loss = _f.where(target > 0, target * (safe.log() - input), target * 0.0 - 0.0 * input)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: ``exp(input) - target * input`` (``log_input``) or
    ``input - target * log(input + eps)``; ``full`` adds Stirling's term for targets > 1.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.poisson_nll_loss(nb.tensor([0.0]), nb.tensor([1.0]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        t = target.detach()  # the mask only: Stirling's term is differentiable in target
        safe = _f.where(t > 1, target, ones((), dtype=t.dtype, device=t.device) * 2)
        stirling = safe * safe.log() - safe + (safe * (2 * math.pi)).log() * 0.5
        loss = loss + _f.where(t > 1, stirling, zeros((), dtype=t.dtype, device=t.device))
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Gaussian negative log-likelihood ``0.5 * (log(var) + (input - target)**2 / var)`` (+
    ``0.5 * log(2 pi)`` when ``full``), ``var`` clamped below at ``eps`` (the clamp has no
    gradient). ``var`` may have one dim fewer or a last dim of 1 (homoscedastic).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.gaussian_nll_loss(nb.tensor([1.0]), nb.tensor([3.0]), nb.tensor([2.0]))
    tensor(1.3466)
    """
    reduction = _reduction(reduction)
    if not isinstance(var, Tensor):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = full_like_scalar(input, var)
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.shape[:-1] == var.shape[:-1] and var.shape[-1:] == (1,)):
            raise ValueError("var is of incorrect size")
    if bool((var.detach() < 0).sum().item()):
        raise ValueError("var has negative entry/entries")
    with no_grad():
        floor = (var.detach().clamp_min(eps) - var.detach())
    v = var + floor
    d = input - target
    loss = (v.log() + d * d / v) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def full_like_scalar(ref: Tensor, value: float) -> Tensor:
    return full(ref.shape, float(value), dtype=ref.dtype, device=ref.device)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` for target 1, ``max(0, cos(x1, x2) - margin)`` for target -1.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.cosine_embedding_loss(nb.tensor([[1.0, 0.0]]), nb.tensor([[0.0, 1.0]]), nb.tensor([1]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    eps = 1e-12
    dim = input1.ndim - 1
    prod = (input1 * input2).sum(dim)
    m1 = (input1 * input1).sum(dim) + eps
    m2 = (input2 * input2).sum(dim) + eps
    cos = prod / (m1 * m2).sqrt()
    zero = zeros((), dtype=cos.dtype, device=cos.device)
    pos = 1.0 - cos
    neg = (cos - margin).clamp_min(0.0)
    loss = _f.where(target == 1, pos, zero) + _f.where(target == -1, neg, zero)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.margin_ranking_loss(nb.tensor([1.0]), nb.tensor([2.0]), nb.tensor([1.0]))
    tensor(1.)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    loss = (-target * (input1 - input2) + margin).clamp_min(0.0)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """``input`` where target is 1, ``max(0, margin - input)`` where target is -1.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.hinge_embedding_loss(nb.tensor([0.3, 0.3]), nb.tensor([1.0, -1.0]), reduction="none")
    tensor([0.3000, 0.7000])
    """
    reduction = _reduction(reduction, size_average, reduce)
    zero = zeros((), dtype=input.dtype, device=input.device)
    margin_clamp = (margin - input).clamp_min(0.0)
    loss = _f.where(target != 1, margin_clamp, zero) + _f.where(target != -1, input, zero)
    return _reduce(loss, reduction)


def _class_target(input: Tensor, target: Tensor, name: str):
    if input.ndim not in (1, 2):
        raise ValueError(f"{name}: expected input of 1 or 2 dims, got shape {input.shape}")
    x = input if input.ndim == 2 else input.unsqueeze(0)
    t = target.reshape(-1)
    if t.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: inconsistent target size {target.shape} for input of size "
                         f"{input.shape}")
    return x, t


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C`` per sample
    (``weight[y]`` scales each term).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.multi_margin_loss(nb.tensor([[0.1, 0.2, 0.4, 0.8]]), nb.tensor([3]))
    tensor(0.3250)
    """
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x, t = _class_target(input, target, "multi_margin_loss")
    c = x.shape[1]
    xy = x.gather(1, t.unsqueeze(1))
    z = (x - xy + margin).clamp_min(0.0)
    if p == 2:
        z = z * z
    if weight is not None:
        z = z * weight.index_select(0, t).unsqueeze(1)
    not_y = _f.arange(c, device=x.device).unsqueeze(0) != t.unsqueeze(1)
    loss = _f.where(not_y, z, zeros((), dtype=z.dtype, device=z.device)).sum(1) / c
    if input.ndim == 1 and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: ``target`` lists the label indices of each sample, ended by the
    first -1; ``sum_{j in labels, i not in labels} max(0, 1 - (x[j] - x[i])) / C``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.multilabel_margin_loss(nb.tensor([[0.1, 0.2, 0.4, 0.8]]), nb.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    reduction = _reduction(reduction, size_average, reduce)
    x = input if input.ndim == 2 else input.unsqueeze(0)
    tg = target.reshape(x.shape)
    t = tg.detach().cpu().numpy()
    n, c = x.shape
    is_label = np.zeros((n, c), dtype=bool)
    pairs_w = np.zeros((n, c, c))  # [b, j, i]: 1 when j is a label and i is not
    for b in range(n):
        labels = []
        for v in t[b]:
            if v < 0:
                break
            labels.append(int(v))
        is_label[b, labels] = True
        for j in labels:
            pairs_w[b, j] += 1.0
    pairs_w = pairs_w * (~is_label)[:, None, :]
    w = tensor(pairs_w, dtype=x.dtype, device=x.device)
    margins = (1.0 - (x.unsqueeze(2) - x.unsqueeze(1))).clamp_min(0.0)
    loss = (margins * w).sum((1, 2)) / c
    if input.ndim == 1 and reduction == "none":
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Per-class logistic loss averaged over the classes:
    ``-mean_i(y log sigmoid(x) + (1 - y) log sigmoid(-x))``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.multilabel_soft_margin_loss(nb.zeros(1, 2), nb.tensor([[1.0, 0.0]]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    loss = -(target * nn_ops.logsigmoid(input) + (1 - target) * nn_ops.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = loss.mean(input.ndim - 1)
    return _reduce(loss, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Two-class logistic loss ``log(1 + exp(-target * input))``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.soft_margin_loss(nb.zeros(2), nb.tensor([1.0, -1.0]))
    tensor(0.6931)
    """
    reduction = _reduction(reduction, size_average, reduce)
    loss = -nn_ops.logsigmoid(target * input)
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with the pairwise ``p``-norm distance
    (``swap``: use ``min(d(a, n), d(p, n))``).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> a, pos, neg = nb.tensor([[0.0, 0.0]]), nb.tensor([[3.0, 4.0]]), nb.tensor([[1.0, 0.0]])
    >>> round(F.triplet_margin_loss(a, pos, neg, eps=0.0).item(), 4)
    5.0
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = _f.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce((d_pos - d_neg + margin).clamp_min(0.0), reduction)


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function=None, margin: float = 1.0,
                                      swap: bool = False, reduction: str = "mean") -> Tensor:
    """Triplet loss with any ``distance_function`` (default ``pairwise_distance``).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> dist = lambda x, y: (x - y).abs().sum(-1)
    >>> F.triplet_margin_with_distance_loss(nb.zeros(1, 2), nb.ones(1, 2), nb.zeros(1, 2),
    ...                                     distance_function=dist)
    tensor(3.)
    """
    reduction = _reduction(reduction)
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, "
                         f"got {margin} instead")
    dist = pairwise_distance if distance_function is None else distance_function
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:
        d_neg = _f.minimum(d_neg, dist(positive, negative))
    return _reduce((d_pos - d_neg + margin).clamp_min(0.0), reduction)


_NEG = -1e30  # a finite log(0): keeps logsumexp's gradient free of NaN


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss of ``log_probs`` (T, N, C) -- log-softmax
    outputs -- against ``targets`` (N, S) padded, or 1-D concatenated. ``reduction="mean"``
    divides each loss by its target length, then averages over the batch.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> lp = F.log_softmax(nb.zeros(2, 1, 2), 2)  # two frames, blank and one label, uniform
    >>> F.ctc_loss(lp, nb.tensor([[1]]), [2], [1], reduction="sum")  # paths: 1-, -1, 11
    tensor(0.2877)
    """
    reduction = _reduction(reduction)
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        if targets.ndim == 1 and not isinstance(target_lengths, (list, tuple)) \
                and getattr(target_lengths, "ndim", 1) == 0:
            targets = targets.unsqueeze(0)
    if log_probs.ndim != 3:
        raise ValueError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got "
                         f"{log_probs.shape}")
    t_max, n, _c = log_probs.shape

    def _ints(v):
        if isinstance(v, Tensor):
            return [int(x) for x in np.asarray(v.detach().cpu().numpy()).reshape(-1)]
        return [int(x) for x in np.asarray(v).reshape(-1)]

    in_len, tg_len = _ints(input_lengths), _ints(target_lengths)
    if len(in_len) != n or len(tg_len) != n:
        raise RuntimeError(f"ctc_loss: expected input_lengths and target_lengths of size {n}, "
                           f"got {len(in_len)} and {len(tg_len)}")
    tg = targets.detach().cpu().numpy().astype(np.int64)
    if tg.ndim == 2 and tg.shape[0] != n:
        raise RuntimeError(f"ctc_loss: padded targets must be (N={n}, S), got shape "
                           f"{targets.shape}")
    if tg.ndim == 1 and tg.shape[0] < sum(tg_len):
        raise RuntimeError(f"ctc_loss: concatenated targets have {tg.shape[0]} entries, "
                           f"target_lengths sum to {sum(tg_len)}")
    losses = []
    offset = 0
    for b in range(n):
        if tg.ndim == 2:
            lab = tg[b, :tg_len[b]]
        else:
            lab = tg[offset:offset + tg_len[b]]
            offset += tg_len[b]
        if in_len[b] > t_max:
            raise RuntimeError(f"Expected input_lengths to have value at most {t_max}, but got "
                               f"value {in_len[b]}")
        ext = np.full(2 * len(lab) + 1, blank, dtype=np.int64)
        ext[1::2] = lab
        m = len(ext)
        skip = np.zeros(m, dtype=bool)
        skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
        idx = tensor(ext, device=log_probs.device)
        lp = log_probs[:, b].index_select(1, idx)  # (T, M)
        dt, dev = lp.dtype, lp.device
        neg1 = full((1,), _NEG, dtype=dt, device=dev)
        neg2 = full((2,), _NEG, dtype=dt, device=dev)
        skip_t = tensor(skip, device=dev)
        init = np.full(m, _NEG)
        init[:min(2, m)] = 0.0
        alpha = _f.where(tensor(init > _NEG / 2, device=dev), lp[0],
                         full((m,), _NEG, dtype=dt, device=dev))
        for t in range(1, in_len[b]):
            a1 = _f.cat([neg1, alpha[:-1]], 0)
            a2 = _f.cat([neg2, alpha[:-2]], 0) if m > 2 else full((m,), _NEG, dtype=dt,
                                                                   device=dev)
            a2 = _f.where(skip_t, a2, full((m,), _NEG, dtype=dt, device=dev))
            alpha = _f.stack([alpha, a1, a2], 0).logsumexp(0) + lp[t]
        if in_len[b] == 0:
            ll = zeros((), dtype=dt, device=dev) if len(lab) == 0 else full((), _NEG, dtype=dt,
                                                                              device=dev)
        else:
            ll = alpha[-2:].logsumexp(0) if m > 1 else alpha[-1]
        loss = -ll
        if float(loss.item()) > -_NEG / 2:
            inf = full((), math.inf, dtype=dt, device=dev)
            loss = loss * 0.0 if zero_infinity else loss * 0.0 + inf
        losses.append(loss)
    out = _f.stack(losses, 0)
    if reduction == "mean":
        lens = tensor(np.maximum(np.array(tg_len, dtype=np.float64), 1.0), dtype=out.dtype,
                      device=out.device)
        return (out / lens).mean()
    if reduction == "sum":
        return out.sum()
    return out[0] if unbatched else out


# ----------------------------------------------------------------------------- attention
def _float_mask(mask: Tensor | None, dtype, device) -> Tensor | None:
    if mask is None:
        return None
    if mask.dtype is _dtype.bool_:
        return _f.where(mask, full((), -math.inf, dtype=dtype, device=device),
                        zeros((), dtype=dtype, device=device))
    if not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of masks are supported, got "
                             f"{mask.dtype.name}")
    return mask.to(dtype)


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    fused = nn_ops.linear(x, w, b)
    if fused is not None:
        return fused
    out = x @ w.t()
    return out if b is None else out + b


def _pad_last(mask: Tensor | None) -> Tensor | None:
    if mask is None:
        return None
    shape = (*mask.shape[:-1], 1)
    return _f.cat([mask, zeros(shape, dtype=mask.dtype, device=mask.device)], -1)


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
        bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Tensor | None, training: bool = True,
        key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
        v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
        static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False):
    """The computation of ``nn.MultiheadAttention`` on (L, N, E) / (S, N, E) inputs (or
    unbatched (L, E)): returns ``(output, weights)`` (weights None without ``need_weights``).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> x = nb.randn(3, 2, 4)
    >>> out, w = F.multi_head_attention_forward(x, x, x, 4, 2, nb.randn(12, 4), None, None,
    ...                                         None, False, 0.0, nb.randn(4, 4), None)
    >>> out.shape, w.shape
    ((3, 2, 4), (2, 3, 3))
    """
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if query.ndim not in (2, 3):
        raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"For {'batched (3-D)' if query.ndim == 3 else 'unbatched (2-D)'} "
                             f"`query`, expected `key` and `value` to be {query.ndim}-D but "
                             f"found {key.ndim}-D and {value.ndim}-D tensors respectively")
    batched = query.ndim == 3
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, e = query.shape
    if e != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but "
                             f"got {e}")
    h = num_heads
    hd = e // h
    if hd * h != e:
        raise AssertionError(f"embed_dim {e} not divisible by num_heads {h}")
    if key.shape[:2] != value.shape[:2]:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is True but q_proj_weight, "
                                 "k_proj_weight or v_proj_weight is None")
        wq, wk, wv = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        wq, wk, wv = in_proj_weight[:e], in_proj_weight[e:2 * e], in_proj_weight[2 * e:]
    if in_proj_bias is None:
        bq = bk = bv = None
    else:
        bq, bk, bv = in_proj_bias[:e], in_proj_bias[e:2 * e], in_proj_bias[2 * e:]
    q, k, v = _linear(query, wq, bq), _linear(key, wk, bk), _linear(value, wv, bv)
    dt, dev = q.dtype, q.device
    attn_mask = _float_mask(attn_mask, dt, dev)
    key_padding_mask = _float_mask(key_padding_mask, dt, dev)
    src_len0 = key.shape[0]
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len0):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, but "
                                   f"should be {(tgt_len, src_len0)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * h, tgt_len, src_len0):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape}, but "
                                   f"should be {(bsz * h, tgt_len, src_len0)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key/value.")
        k = _f.cat([k, bias_k.expand(1, bsz, e)], 0)
        v = _f.cat([v, bias_v.expand(1, bsz, e)], 0)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    # (L, N, E) -> (N, H, L, hd)
    q = q.reshape(tgt_len, bsz, h, hd).permute(1, 2, 0, 3)
    if static_k is not None:
        k = static_k.reshape(bsz, h, static_k.shape[1], hd)
    else:
        k = k.reshape(k.shape[0], bsz, h, hd).permute(1, 2, 0, 3)
    if static_v is not None:
        v = static_v.reshape(bsz, h, static_v.shape[1], hd)
    else:
        v = v.reshape(v.shape[0], bsz, h, hd).permute(1, 2, 0, 3)
    if add_zero_attn:
        k = _f.cat([k, zeros((bsz, h, 1, hd), dtype=dt, device=dev)], 2)
        v = _f.cat([v, zeros((bsz, h, 1, hd), dtype=dt, device=dev)], 2)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[2]
    scores = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-2, -1)  # (N, H, L, S)
    if attn_mask is not None:
        if attn_mask.shape[0] == 1:
            scores = scores + attn_mask.reshape(1, 1, tgt_len, src_len)
        else:
            scores = scores + attn_mask.reshape(bsz, h, tgt_len, src_len)
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(f"expecting key_padding_mask shape of {(bsz, src_len)}, but "
                                 f"got {key_padding_mask.shape}")
        scores = scores + key_padding_mask.reshape(bsz, 1, 1, src_len)
    weights = nn_ops.softmax(scores, -1)
    if dropout_p > 0.0 and training:
        keep = rand(weights.shape, dtype=dt, device=dev) >= dropout_p
        weights = weights * (keep.to(dt) * (1.0 / (1.0 - dropout_p)))
    out = (weights @ v).permute(2, 0, 1, 3).reshape(tgt_len, bsz, e)
    out = _linear(out, out_proj_weight, out_proj_bias)
    if not batched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = weights.mean(1)
    if not batched:
        weights = weights.squeeze(0)
    return out, weights
