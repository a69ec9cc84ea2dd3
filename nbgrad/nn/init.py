"""``nb.nn.init``: in-place parameter initialisers (run under ``no_grad``, like PyTorch's).

They draw from nbgrad's global generator, so ``nb.manual_seed(s)`` makes them reproducible.
"""

from __future__ import annotations

import math

from nbgrad.grad_mode import no_grad
from nbgrad.ops.creation import rand, randn
from nbgrad.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (``relu``: sqrt(2), ``tanh``: 5/3, ...).

    >>> import nbgrad as nb
    >>> nb.nn.init.calculate_gain("relu"), nb.nn.init.calculate_gain("tanh")
    (1.4142135623730951, 1.6666666666666667)
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fans(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(got shape {tensor.shape})"
        )
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill_from(tensor: Tensor, values: Tensor) -> Tensor:
    with no_grad():
        tensor.copy_(values)
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples from U(a, b).

    >>> import nbgrad as nb
    >>> w = nb.nn.init.uniform_(nb.empty(2, 3), -0.1, 0.1)
    >>> bool(w.min() >= -0.1), bool(w.max() < 0.1)
    (True, True)
    """
    u = rand(tensor.shape, dtype=tensor.dtype, device=tensor.device)
    return _fill_from(tensor, u * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples from N(mean, std^2).

    >>> import nbgrad as nb
    >>> nb.manual_seed(0)
    >>> w = nb.nn.init.normal_(nb.empty(10000), mean=5.0, std=0.1)
    >>> round(w.mean().item(), 1), round(w.std().item(), 1)
    (5.0, 0.1)
    """
    z = randn(tensor.shape, dtype=tensor.dtype, device=tensor.device)
    return _fill_from(tensor, z * std + mean)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``.

    >>> import nbgrad as nb
    >>> nb.nn.init.constant_(nb.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    with no_grad():
        tensor.fill_(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    >>> import nbgrad as nb
    >>> fc = nb.nn.Linear(2, 2)
    >>> _ = nb.nn.init.zeros_(fc.bias)  # parameters are filled without recording a gradient
    >>> fc.bias.tolist()
    [0.0, 0.0]
    """
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    >>> import nbgrad as nb
    >>> nb.nn.init.ones_(nb.empty(2))
    tensor([1., 1.])
    """
    return constant_(tensor, 1.0)


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation: U(-bound, bound) with ``bound = gain * sqrt(3 / fan)``.

    >>> import nbgrad as nb
    >>> w = nb.nn.init.kaiming_uniform_(nb.empty(4, 6), nonlinearity="relu")  # bound 1
    >>> bool(w.abs().max() <= 1.0)
    True
    """
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He initialisation: N(0, std^2) with ``std = gain / sqrt(fan)``.

    >>> import nbgrad as nb
    >>> nb.manual_seed(0)
    >>> w = nb.nn.init.kaiming_normal_(nb.empty(1000, 50), nonlinearity="relu")
    >>> round(w.std().item(), 2)  # sqrt(2 / 50)
    0.2
    """
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialisation: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> import nbgrad as nb
    >>> w = nb.nn.init.xavier_uniform_(nb.empty(2, 4))  # a = sqrt(6 / 6) = 1
    >>> bool(w.abs().max() <= 1.0)
    True
    """
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot initialisation: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import nbgrad as nb
    >>> nb.manual_seed(0)
    >>> w = nb.nn.init.xavier_normal_(nb.empty(100, 100))
    >>> round(w.std().item(), 2)  # sqrt(2 / 200)
    0.1
    """
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
