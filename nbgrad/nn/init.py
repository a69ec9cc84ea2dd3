"""``nb.nn.init``: in-place parameter initialisers (run under ``no_grad``, like PyTorch's).

They draw from nbgrad's global generator, so ``nb.manual_seed(s)`` makes them reproducible.
"""

from __future__ import annotations

import math

import numpy as np

from nbgrad.grad_mode import no_grad
from nbgrad.ops.creation import rand, randn
from nbgrad.ops.creation import tensor as _tensor
from nbgrad.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
    "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
    "trunc_normal_", "orthogonal_", "sparse_", "eye_", "dirac_",
]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (``relu``: sqrt(2), ``tanh``: 5/3, ...).

    >>> import nbgrad as nb
    >>> nb.nn.init.calculate_gain("relu"), nb.nn.init.calculate_gain("tanh")
    (1.4142135623730951, 1.6666666666666667)
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid", "identity"):
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


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with samples from U(a, b).

    >>> import nbgrad as nb
    >>> w = nb.nn.init.uniform_(nb.empty(2, 3), -0.1, 0.1)
    >>> bool(w.min() >= -0.1), bool(w.max() < 0.1)
    (True, True)
    """
    u = rand(tensor.shape, dtype=tensor.dtype, device=tensor.device)
    return _fill_from(tensor, u * (b - a) + a)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator=None) -> Tensor:
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
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
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
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
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


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot initialisation: U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    >>> import nbgrad as nb
    >>> w = nb.nn.init.xavier_uniform_(nb.empty(2, 4))  # a = sqrt(6 / 6) = 1
    >>> bool(w.abs().max() <= 1.0)
    True
    """
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot initialisation: N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    >>> import nbgrad as nb
    >>> nb.manual_seed(0)
    >>> w = nb.nn.init.xavier_normal_(nb.empty(100, 100))
    >>> round(w.std().item(), 2)  # sqrt(2 / 200)
    0.1
    """
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _np_normal(shape) -> np.ndarray:
    return randn(*shape, dtype="float64").numpy() if shape else np.asarray(
        randn(1, dtype="float64").numpy()[0])


def _set(tensor: Tensor, values: np.ndarray) -> Tensor:
    return _fill_from(tensor, _tensor(np.asarray(values), dtype=tensor.dtype,
                                      device=tensor.device))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """Fill from N(mean, std**2) truncated to ``[a, b]`` (out-of-range draws are redrawn).

    >>> import nbgrad as nb
    >>> w = nb.nn.init.trunc_normal_(nb.empty(1000), std=1.0, a=-0.5, b=0.5)
    >>> bool(w.abs().max() <= 0.5)
    True
    """
    if mean < a - 2 * std or mean > b + 2 * std:
        import warnings

        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    n = tensor.numel()
    out = np.empty(0)
    while out.size < n:
        draw = mean + std * _np_normal((max(2 * (n - out.size), 16),))
        out = np.concatenate([out, draw[(draw >= a) & (draw <= b)]])
    return _set(tensor, out[:n].reshape(tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill with a (semi-)orthogonal matrix (the trailing dims flattened), scaled by ``gain``.

    >>> import nbgrad as nb
    >>> w = nb.nn.init.orthogonal_(nb.empty(3, 3))
    >>> bool(((w @ w.T) - nb.eye(3)).abs().max() < 1e-5)
    True
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _np_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _set(tensor, gain * q.reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """Fill a 2-D tensor from N(0, std**2) with a fraction ``sparsity`` of each column zero.

    >>> import nbgrad as nb
    >>> w = nb.nn.init.sparse_(nb.empty(10, 3), sparsity=0.5)
    >>> [(w[:, j] == 0).sum().item() for j in range(3)]
    [5, 5, 5]
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    values = std * _np_normal((rows, cols))
    for j in range(cols):
        order = np.argsort(rand(rows, dtype="float64").numpy())
        values[order[:num_zeros], j] = 0.0
    return _set(tensor, values)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix.

    >>> import nbgrad as nb
    >>> nb.nn.init.eye_(nb.empty(2, 3))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _set(tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-5-D convolution weight with the Dirac delta (the convolution is the identity
    on the first channels of each group).

    >>> import nbgrad as nb
    >>> nb.nn.init.dirac_(nb.empty(2, 2, 3))[:, :, 1]
    tensor([[1., 0.],
            [0., 1.]])
    """
    dims = tensor.ndim
    if dims not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    min_dim = min(out_per_group, sizes[1])
    values = np.zeros(sizes)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            values[(g * out_per_group + d, d) + centre] = 1.0
    return _set(tensor, values)
