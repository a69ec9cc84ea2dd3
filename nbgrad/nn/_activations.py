"""The activations of ``nb.nn.functional`` beyond relu/gelu/silu/softmax, as compositions of
nbgrad ops (so every one is differentiable to any order and runs on every device).

Each branchy activation is a ``where`` whose untaken branch is computed on clamped input, so
that branch never produces inf/nan that would leak into the gradient (``0 * inf``).

``inplace=True`` writes the result into ``input`` and returns it, as PyTorch does, when autograd
does not record the call; when it does (the input requires grad), the result is returned as a
new tensor and ``input`` is left alone, because the composed gradient reads the input's old
values (PyTorch's fused kernels compute it from the output instead).
"""

from __future__ import annotations

import warnings

from nbgrad.ops import nn_ops
from nbgrad.ops._dispatch import will_record
from nbgrad.ops._register import Doc, register
from nbgrad.ops.creation import rand
from nbgrad.ops.elementwise import clamp, where
from nbgrad.tensor import Tensor

__all__ = [
    "elu", "selu", "celu", "leaky_relu", "relu6", "hardtanh", "hardswish", "hardsigmoid", "mish",
    "softsign", "softmin", "tanhshrink", "softshrink", "hardshrink", "threshold", "prelu",
    "rrelu", "glu", "normalize", "elu_", "leaky_relu_", "hardtanh_", "rrelu_", "threshold_",
    "celu_", "selu_",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _tensor(x, name: str, arg: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' must be a Tensor, not {type(x).__name__}")
    return x


def _finish(input: Tensor, result: Tensor, inplace: bool) -> Tensor:
    """``result``, written into ``input`` when ``inplace`` and autograd does not record."""
    if inplace and not will_record((input,)):
        return input.copy_(result)
    return result


def _negative_part(x: Tensor) -> Tensor:
    return clamp(x, max=0.0)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.elu(nb.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    _tensor(input, "elu")
    return _finish(input, where(input > 0, input, _negative_part(input).expm1() * alpha),
                   inplace)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`elu`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.elu_(nb.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(x, alpha)`` with the self-normalising constants of Klambauer et al.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.selu(nb.tensor([-1.0, 1.0]))
    tensor([-1.1113,  1.0507])
    """
    _tensor(input, "selu")
    return _finish(input, elu(input, _SELU_ALPHA) * _SELU_SCALE, inplace)


def selu_(input: Tensor) -> Tensor:
    """In-place :func:`selu`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.selu_(nb.tensor([1.0]))
    tensor([1.0507])
    """
    return selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.celu(nb.tensor([-1.0, 2.0]), alpha=2.0)
    tensor([-0.7869,  2.0000])
    """
    _tensor(input, "celu")
    if alpha == 0:
        raise ValueError("ZeroDivisionError: alpha cannot be 0 for CELU")
    neg = (_negative_part(input) / alpha).expm1() * alpha
    return _finish(input, where(input > 0, input, neg), inplace)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`celu`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.celu_(nb.tensor([2.0]))
    tensor([2.])
    """
    return celu(input, alpha, inplace=True)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` for ``x > 0``, else ``negative_slope * x``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.leaky_relu(nb.tensor([-2.0, 3.0]), 0.1)
    tensor([-0.2000,  3.0000])
    """
    _tensor(input, "leaky_relu")
    return _finish(input, where(input > 0, input, input * negative_slope), inplace)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place :func:`leaky_relu`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.leaky_relu_(nb.tensor([-2.0]), 0.5)
    tensor([-1.])
    """
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``x`` clamped to ``[min_val, max_val]``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.hardtanh(nb.tensor([-3.0, 0.5, 3.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    _tensor(input, "hardtanh")
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace and not will_record((input,)):
        return input.clamp_(min_val, max_val)
    return clamp(input, min_val, max_val)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place :func:`hardtanh`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.hardtanh_(nb.tensor([-3.0, 3.0]))
    tensor([-1.,  1.])
    """
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.relu6(nb.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
    """
    _tensor(input, "relu6")
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.hardsigmoid(nb.tensor([-4.0, 0.0, 1.5, 4.0]))
    tensor([0.0000, 0.5000, 0.7500, 1.0000])
    """
    _tensor(input, "hardsigmoid")
    return _finish(input, clamp(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.hardswish(nb.tensor([-4.0, 1.0, 4.0]))
    tensor([-0.0000,  0.6667,  4.0000])
    """
    _tensor(input, "hardswish")
    return _finish(input, input * clamp(input + 3.0, 0.0, 6.0) / 6.0, inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.mish(nb.tensor([-1.0, 1.0]))
    tensor([-0.3034,  0.8651])
    """
    _tensor(input, "mish")
    return _finish(input, input * input.softplus().tanh(), inplace)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.softsign(nb.tensor([-1.0, 3.0]))
    tensor([-0.5000,  0.7500])
    """
    _tensor(input, "softsign")
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.tanhshrink(nb.tensor([0.0, 1.0]))
    tensor([0.0000, 0.2384])
    """
    _tensor(input, "tanhshrink")
    return input - input.tanh()


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.softshrink(nb.tensor([-2.0, 0.2, 1.0]))
    tensor([-1.5000,  0.0000,  0.5000])
    """
    _tensor(input, "softshrink")
    if lambd < 0:
        raise ValueError(f"softshrink: lambda must be greater or equal to 0, but found to be "
                         f"{lambd}")
    return where(input > lambd, input - lambd, where(input < -lambd, input + lambd, 0.0))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.hardshrink(nb.tensor([-2.0, 0.2, 1.0]))
    tensor([-2.,  0.,  1.])
    """
    _tensor(input, "hardshrink")
    return where((input > lambd) | (input < -lambd), input, 0.0)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.threshold(nb.tensor([1.0, 0.0]), 0.5, 9.0)
    tensor([1., 9.])
    """
    _tensor(input, "threshold")
    return _finish(input, where(input > threshold, input, value), inplace)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place :func:`threshold`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.threshold_(nb.tensor([1.0, 0.0]), 0.5, 9.0)
    tensor([1., 9.])
    """
    return _threshold(input, threshold, value, inplace=True)


_threshold = threshold


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x`` for ``x > 0``, else ``weight * x``; ``weight`` has one element or one per channel
    (dimension 1 of the input).

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.prelu(nb.tensor([[-2.0, 2.0]]), nb.tensor([0.25]))
    tensor([[-0.5000,  2.0000]])
    """
    _tensor(input, "prelu")
    _tensor(weight, "prelu", "weight")
    n = weight.numel()
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: weight must be 0-D or 1-D, got {weight.ndim}-D")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise RuntimeError(
            "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
            f"{n} and channel size = {channels}."
        )
    w = weight
    if n != 1 and input.ndim >= 2:
        w = weight.reshape((n,) + (1,) * (input.ndim - 2))
    elif n == 1:
        w = weight.reshape(())
    return where(input > 0, input, input * w)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training each negative element is scaled by a slope drawn
    uniformly from ``[lower, upper]``; in evaluation by ``(lower + upper) / 2``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.rrelu(nb.tensor([-1.0, 2.0]), 0.1, 0.3)
    tensor([-0.2000,  2.0000])
    """
    _tensor(input, "rrelu")
    if training:
        slope = rand(*input.shape, dtype=input.dtype, device=input.device) * (upper - lower)
        slope = slope + lower
    else:
        slope = (lower + upper) / 2
    return _finish(input, where(input >= 0, input, input * slope), inplace)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    """In-place :func:`rrelu`.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.rrelu_(nb.tensor([-1.0]), 0.1, 0.3)
    tensor([-0.2000])
    """
    return rrelu(input, lower, upper, training, inplace=True)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves ``a, b`` of ``input`` along
    ``dim``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.glu(nb.tensor([1.0, 2.0, 0.0, 100.0]))
    tensor([0.5000, 2.0000])
    """
    _tensor(input, "glu")
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim + input.ndim if dim < 0 else dim
    if not 0 <= d < input.ndim:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-input.ndim}, {input.ndim - 1}], but got {dim})")
    if input.shape[d] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {d} is size {input.shape[d]}")
    a, b = input.chunk(2, d)
    return a * b.sigmoid()


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.normalize(nb.tensor([[3.0, 4.0]]))
    tensor([[0.6000, 0.8000]])
    """
    _tensor(input, "normalize")
    if p == 2:  # clamp before the root: the gradient stays finite at a zero vector
        norm = (input * input).sum(dim, keepdim=True).clamp_min(eps * eps).sqrt()
    elif p == 1:
        norm = input.abs().sum(dim, keepdim=True).clamp_min(eps)
    elif p == float("inf"):
        norm = input.abs().amax(dim, keepdim=True).clamp_min(eps)
    else:
        norm = (input.abs() ** p).sum(dim, keepdim=True).clamp_min(eps ** p) ** (1.0 / p)
    result = input / norm
    return result if out is None else out.copy_(result)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    """``softmax(-input, dim)``.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> F.softmin(nb.tensor([0.0, 0.6931472]), dim=0)
    tensor([0.6667, 0.3333])
    """
    _tensor(input, "softmin")
    if dim is None:
        warnings.warn("Implicit dimension choice for softmin has been deprecated. Change the "
                      "call to include dim=X as an argument.", UserWarning, stacklevel=2)
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return nn_ops.softmax(-input, dim, dtype)


_SOFTMAX_DOC = Doc("Reductions", "float32, float64 (dtype= casts first)",
                   "y * (g - (g * y).sum(dim)) (fused kernel)")
_LOG_SOFTMAX_DOC = Doc("Reductions", "float32, float64 (dtype= casts first)",
                       "g - exp(y) * g.sum(dim) (fused kernel)")


@register(function=True, method=True, doc=_SOFTMAX_DOC)
def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Softmax along ``dim`` (``nb.softmax``, ``Tensor.softmax``), computed in ``dtype`` when
    given.

    >>> import nbgrad as nb
    >>> nb.tensor([[0.0, 0.6931472]]).softmax(1)
    tensor([[0.3333, 0.6667]])
    """
    return nn_ops.softmax(_tensor(input, "softmax"), dim, dtype)


@register(function=True, method=True, doc=_LOG_SOFTMAX_DOC)
def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    """Log-softmax along ``dim`` (``nb.log_softmax``, ``Tensor.log_softmax``).

    >>> import nbgrad as nb
    >>> nb.zeros(1, 2).log_softmax(dim=-1, dtype=nb.float64)
    tensor([[-0.6931, -0.6931]], dtype=nbgrad.float64)
    """
    return nn_ops.log_softmax(_tensor(input, "log_softmax"), dim, dtype)
