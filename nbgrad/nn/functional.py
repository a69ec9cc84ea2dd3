"""``nb.nn.functional``: activations, losses and layers as functions (PyTorch's names).

Softmax, log-softmax, cross-entropy, NLL and embedding run fused, max-subtracted kernels (see
``nbgrad/ops/nn_ops.py``); the rest are compositions of nbgrad ops and are differentiable to any
order.

>>> import nbgrad as nb
>>> import nbgrad.nn.functional as F
>>> logits = nb.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
>>> loss = F.cross_entropy(logits, nb.tensor([0]))
>>> round(loss.item(), 4)
0.2413
"""

from __future__ import annotations

import math
import warnings

from nbgrad import _dtype
from nbgrad.nn import _activations
from nbgrad.nn._activations import *  # noqa: F403  (the activations beyond the ones here)
from nbgrad.ops import nn_ops
from nbgrad.ops.creation import arange, rand, zeros
from nbgrad.ops.elementwise import where
from nbgrad.tensor import Tensor

__all__ = [
    "relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "logsigmoid",
    "softplus", "dropout", "linear", "cross_entropy", "nll_loss", "mse_loss", "l1_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "layer_norm",
    "one_hot",
    *_activations.__all__,
]


def _tensor(x, name: str, arg: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be a Tensor, not {type(x).__name__}")
    return x


# ----------------------------------------------------------------------------- activations
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(input, 0)`` elementwise.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.relu(nb.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    _tensor(input, "relu")
    return input.relu_() if inplace else input.relu()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: ``x * Phi(x)`` (``approximate="none"``, through erf) or its tanh approximation.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.gelu(nb.tensor([-1.0, 1.0])), F.gelu(nb.tensor([1.0]), approximate="tanh")
    (tensor([-0.1587,  0.8413]), tensor([0.8412]))
    """
    _tensor(input, "gelu")
    if approximate == "none":
        return nn_ops.gelu(input)
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (inner.tanh() + 1.0)
    raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU (swish): ``x * sigmoid(x)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.silu(nb.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7311])
    """
    _tensor(input, "silu")
    out = input * input.sigmoid()
    return input.copy_(out) if inplace else out


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))`` elementwise.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.sigmoid(nb.tensor([0.0, 2.0]))
    tensor([0.5000, 0.8808])
    """
    return _tensor(input, "sigmoid").sigmoid()


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent elementwise.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.tanh(nb.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7616])
    """
    return _tensor(input, "tanh").tanh()


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))``, stable for large ``|x|``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.logsigmoid(nb.tensor([0.0, 1.0, -200.0]))
    tensor([  -0.6931,   -0.3133, -200.0000])
    """
    return nn_ops.logsigmoid(_tensor(input, "logsigmoid"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, computed stably; ``x`` itself (gradient 1) where
    ``beta * x > threshold``, as in PyTorch.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.softplus(nb.tensor([0.0, 1.0])), F.softplus(nb.tensor([0.0, 1.0]), beta=2.0)
    (tensor([0.6931, 1.3133]), tensor([0.3466, 1.0635]))
    >>> F.softplus(nb.tensor([0.5, 2.0]), beta=1.0, threshold=1.0)
    tensor([0.9741, 2.0000])
    """
    _tensor(input, "softplus")
    smooth = -nn_ops.logsigmoid(input * -beta) / beta
    return where(input * beta > threshold, input, smooth)


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.", UserWarning, stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """Softmax along ``dim``: fused and max-subtracted, so large inputs never overflow.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.softmax(nb.tensor([[1.0, 1.0], [1000.0, 1000.6931472]]), dim=1)
    tensor([[0.5000, 0.5000],
            [0.3333, 0.6667]])
    """
    _tensor(input, "softmax")
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim)
    return nn_ops.softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, dtype=None) -> Tensor:
    """``x - logsumexp(x, dim)``: fused and max-subtracted.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.log_softmax(nb.zeros(1, 2), dim=1)
    tensor([[-0.6931, -0.6931]])
    """
    _tensor(input, "log_softmax")
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim)
    return nn_ops.log_softmax(input, dim, dtype)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` -- only when
    ``training``; otherwise return ``input`` unchanged.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> sorted(set(F.dropout(nb.ones(1000), p=0.75).tolist()))
    [0.0, 4.0]
    >>> x = nb.ones(4)
    >>> F.dropout(x, p=0.5, training=False) is x
    True
    """
    _tensor(input, "dropout")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        mask = zeros(input.shape, dtype=input.dtype, device=input.device)
    else:
        keep = rand(input.shape, dtype=input.dtype, device=input.device) >= p
        mask = keep.to(input.dtype) * (1.0 / (1.0 - p))
    return input.mul_(mask) if inplace else input * mask


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> w = nb.tensor([[1.0, 1.0], [0.0, 1.0]])
    >>> F.linear(nb.tensor([[1.0, 2.0]]), w, nb.tensor([0.5, 0.0]))
    tensor([[3.5000, 2.0000]])
    """
    _tensor(input, "linear")
    _tensor(weight, "linear", "weight")
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} does not fit weight of shape {weight.shape} "
            f"(expected input shape (*, {weight.shape[1] if weight.ndim == 2 else '?'}))"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(
            f"linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}"
        )
    fused = nn_ops.linear(input, weight, bias)
    if fused is not None:
        return fused
    out = input @ weight.t()
    return out if bias is None else out + bias


# ----------------------------------------------------------------------------- losses
def _check_reduction(reduction: str, size_average=None, reduce=None) -> str:
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
        warnings.warn(f"size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction!r} is not a valid value for reduction; use 'none', "
                         "'mean' or 'sum'")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _as_rows(input: Tensor, target: Tensor, name: str):
    """(N, C, d1, ...) logits and (N, d1, ...) targets as (M, C) and (M,), plus the 'none' shape."""
    if input.ndim == 1:
        if target.ndim != 0:
            raise ValueError(
                f"{name}(): for unbatched input of shape {input.shape} the target must be a "
                f"0-d class index, got shape {target.shape}"
            )
        return input.unsqueeze(0), target.reshape(1), ()
    if input.ndim == 2:
        return input, target, None
    if input.ndim < 1 or target.shape != (input.shape[0], *input.shape[2:]):
        raise ValueError(
            f"{name}(): expected target of shape {(input.shape[0], *input.shape[2:])} for input "
            f"of shape {input.shape}, got {target.shape}"
        )
    perm = (0, *range(2, input.ndim), 1)
    rows = input.permute(perm).reshape(-1, input.shape[1])
    return rows, target.reshape(-1), target.shape


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits ``input`` (N, C) -- or (C,) or (N, C, d1, ...) -- and
    ``target``: class indices (int64) or class probabilities (same shape as ``input``).

    The class-index path is one fused kernel (log-softmax included); ``weight`` rescales classes,
    ``ignore_index`` rows add nothing, ``label_smoothing`` mixes in the uniform distribution.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.cross_entropy(nb.zeros(2, 4), nb.tensor([1, 3]))  # log(4)
    tensor(1.3863)
    >>> F.cross_entropy(nb.zeros(1, 2), nb.tensor([[0.5, 0.5]]))  # probabilities: log(2)
    tensor(0.6931)
    """
    _tensor(input, "cross_entropy")
    _tensor(target, "cross_entropy", "target")
    reduction = _check_reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if target.dtype.is_floating_point:
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    rows, t, shape = _as_rows(input, target, "cross_entropy")
    if shape is None:
        return nn_ops.cross_entropy_indices(rows, t, weight, ignore_index, reduction,
                                            label_smoothing)
    loss = nn_ops.cross_entropy_indices(rows, t, weight, ignore_index, reduction,
                                        label_smoothing)
    return loss.reshape(shape) if reduction == "none" else loss


def _cross_entropy_probs(input, target, weight, reduction, smoothing):
    if target.shape != input.shape:
        raise ValueError(
            f"cross_entropy(): class-probability target must have the input's shape "
            f"{input.shape}, got {target.shape}"
        )
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    logp = nn_ops.log_softmax(input, class_dim)
    if smoothing:
        target = target * (1.0 - smoothing) + smoothing / n_classes
    prod = logp * target
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = n_classes
        prod = prod * weight.reshape(shape)
    loss = -prod.sum(class_dim)
    if reduction == "mean" and input.ndim > 1:
        return loss.sum() / (input.numel() // n_classes)
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (N, C) at class indices ``target``
    (weighted mean over the rows not equal to ``ignore_index`` by default).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.nll_loss(nb.tensor([[-0.5, -1.0], [-2.0, -0.1]]), nb.tensor([0, 1]))  # (0.5 + 0.1) / 2
    tensor(0.3000)
    """
    _tensor(input, "nll_loss")
    _tensor(target, "nll_loss", "target")
    reduction = _check_reduction(reduction, size_average, reduce)
    rows, t, shape = _as_rows(input, target, "nll_loss")
    loss = nn_ops.nll_loss_indices(rows, t, weight, ignore_index, reduction)
    return loss.reshape(shape) if shape is not None and reduction == "none" else loss


def _check_same_shape(name: str, input: Tensor, target: Tensor) -> None:
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}(): target must be a Tensor, got {type(target).__name__}")
    if target.shape != input.shape:
        warnings.warn(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.", UserWarning, stacklevel=3,
        )


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target) ** 2``, reduced.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.mse_loss(nb.tensor([1.0, 2.0]), nb.tensor([0.0, 4.0]))  # (1 + 4) / 2
    tensor(2.5000)
    """
    _tensor(input, "mse_loss")
    reduction = _check_reduction(reduction, size_average, reduce)
    _check_same_shape("mse_loss", input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|input - target|``, reduced.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.l1_loss(nb.tensor([1.0, 2.0]), nb.tensor([0.0, 4.0]), reduction="sum")
    tensor(3.)
    """
    _tensor(input, "l1_loss")
    reduction = _check_reduction(reduction, size_average, reduce)
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``-(t log(x) + (1 - t) log(1 - x))`` for probabilities ``input`` in [0, 1] (the logs are
    clamped at -100, as in PyTorch).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.binary_cross_entropy(nb.tensor([0.5, 0.0]), nb.tensor([1.0, 1.0]))  # (log(2) + 100) / 2
    tensor(50.3466)
    """
    _tensor(input, "binary_cross_entropy")
    _tensor(target, "binary_cross_entropy", "target")
    reduction = _check_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size "
            f"({input.shape}) is deprecated. Please ensure they have the same size."
        )
    outside = (input.detach() < 0).sum() + (input.detach() > 1).sum()
    if outside.item():
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    loss = -(target * nn_ops.log_clamped(input) + (1 - target) * nn_ops.log_clamped(1 - input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` computed stably from the logits.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.binary_cross_entropy_with_logits(nb.tensor([0.0, 100.0]), nb.tensor([1.0, 0.0]))
    tensor(50.3466)
    """
    _tensor(input, "binary_cross_entropy_with_logits")
    _tensor(target, "binary_cross_entropy_with_logits", "target")
    reduction = _check_reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(
            f"Target size ({target.shape}) must be the same as input size ({input.shape})"
        )
    log_p = nn_ops.logsigmoid(input)  # log sigmoid(x); log(1 - sigmoid(x)) = log_p - x
    if pos_weight is None:
        loss = (1 - target) * input - log_p
    else:
        loss = (1 - target) * input - (target * (pos_weight - 1) + 1) * log_p
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ----------------------------------------------------------------------------- layers
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims to zero mean and unit (biased)
    variance, then scale by ``weight`` and shift by ``bias``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.layer_norm(nb.tensor([[1.0, 3.0]]), (2,))
    tensor([[-1.0000,  1.0000]])
    >>> F.layer_norm(nb.tensor([[1.0, 3.0]]), (2,), bias=nb.tensor([10.0, 10.0]))
    tensor([[ 9.0000, 11.0000]])
    """
    _tensor(input, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.shape[input.ndim - k:] != shape or input.ndim < k:
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {list(input.shape)}"
        )
    dims = tuple(range(-k, 0))
    centred = input - input.mean(dims, keepdim=True)
    var = (centred * centred).mean(dims, keepdim=True)
    out = centred / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Int64 one-hot encoding with a new last dim of size ``num_classes`` (inferred as
    ``max + 1`` when -1).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.one_hot(nb.tensor([0, 2]))
    tensor([[1, 0, 0],
            [0, 0, 1]])
    >>> F.one_hot(nb.tensor([1]), num_classes=4)
    tensor([[0, 1, 0, 0]])
    """
    _tensor(tensor, "one_hot", "tensor")
    if tensor.dtype.is_floating_point or tensor.dtype is _dtype.bool_:
        raise RuntimeError("one_hot is only applicable to index tensor of integer dtype, got "
                           f"{tensor.dtype.name}")
    values = tensor.detach().cpu().numpy()
    if values.size and values.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(values.max()) + 1 if values.size else 0
    elif values.size and values.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    classes = arange(num_classes, device=tensor.device)
    return (tensor.unsqueeze(-1) == classes).long()


# ----------------------------------------------------------------------------- conv and pooling
from nbgrad.nn import _conv_functional  # noqa: E402
from nbgrad.nn._conv_functional import *  # noqa: E402,F403

__all__ += _conv_functional.__all__
# ----------------------------------------------------------------------------- nn layers (issue 14)
from nbgrad.nn import _functional_nn as _nn_part  # noqa: E402
from nbgrad.nn._functional_nn import *  # noqa: E402,F401,F403

__all__ += list(_nn_part.__all__)
