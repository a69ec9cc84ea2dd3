"""Convolution layers: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``, with PyTorch's weight
shapes, initialisation (kaiming-uniform, a=sqrt(5)) and ``padding_mode``, so a PyTorch
state_dict loads and gives the same outputs."""

from __future__ import annotations

import math

from nbgrad.nn import _conv_functional as F
from nbgrad.nn import init
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import empty
from nbgrad.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, n: int) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value) if len(value) == n else tuple(value) * n
    return (value,) * n


class _ConvNd(Module):
    _nd = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None, output_padding=0) -> None:
        super().__init__()
        nd = self._nd
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in _ntuple(stride, nd)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in _MODES:
            raise ValueError(f"padding_mode must be one of {list(_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, nd)
        self.stride = _ntuple(stride, nd)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, nd)
        self.dilation = _ntuple(dilation, nd)
        self.output_padding = _ntuple(output_padding, nd)
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(self.padding, str):
            self._reversed_padding_repeated_twice = [0, 0] * nd
            if padding == "same":
                for d, k, i in zip(self.dilation, self.kernel_size, range(nd - 1, -1, -1)):
                    total = d * (k - 1)
                    left = total // 2
                    self._reversed_padding_repeated_twice[2 * i] = left
                    self._reversed_padding_repeated_twice[2 * i + 1] = total - left
        else:
            self._reversed_padding_repeated_twice = [p for p in reversed(self.padding)
                                                     for _ in range(2)]
        shape = (in_channels, out_channels // groups) if self.transposed else \
            (out_channels, in_channels // groups)
        self.weight = Parameter(empty(*shape, *self.kernel_size, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight (a=sqrt(5)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias, as
        PyTorch initialises them.

        >>> import nbgrad as nb
        >>> conv = nb.nn.Conv2d(1, 2, 3)
        >>> conv.reset_parameters()
        >>> bool(conv.bias.abs().max() <= 1 / 3)
        True
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            if fan_in:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        nd = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        """The convolution of ``input`` with this layer's weight and bias.

        >>> import nbgrad as nb
        >>> nb.nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular")(nb.zeros(1, 2, 5)).shape
        (1, 3, 5)
        """
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        if self.padding_mode != "zeros":
            x = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                    self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) or (C_in, L); weight (C_out, C_in/groups, k).

    >>> import nbgrad as nb
    >>> nb.nn.Conv1d(2, 4, 3)(nb.zeros(1, 2, 8)).shape
    (1, 4, 6)
    """

    _nd = 1


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W); weight (C_out, C_in/groups, kH, kW).

    >>> import nbgrad as nb
    >>> nb.nn.Conv2d(1, 16, 3, padding="same")(nb.zeros(2, 1, 8, 8)).shape
    (2, 16, 8, 8)
    """

    _nd = 2


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W); weight (C_out, C_in/groups, kD, kH, kW).

    >>> import nbgrad as nb
    >>> nb.nn.Conv3d(1, 2, 2)(nb.zeros(1, 1, 3, 3, 3)).shape
    (1, 2, 2, 2, 2)
    """

    _nd = 3


class _ConvTranspose(_ConvNd):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding_mode != "zeros":
            raise ValueError(
                f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = [int(s) for s in output_size][-nd:]
        if len(size) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {input.ndim}D input, output_size must "
                             f"have {nd} or {nd + 2} elements (got {len(list(output_size))})")
        res = []
        for i in range(nd):
            lo = ((input.shape[input.ndim - nd + i] - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            hi = lo + self.stride[i] - 1
            if not lo <= size[i] <= hi:
                raise ValueError(f"requested an output size of {size}, but valid sizes range "
                                 f"from {lo} to {hi} (for an input of {list(input.shape[2:])})")
            res.append(size[i] - lo)
        return tuple(res)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        """The transposed convolution of ``input`` (``output_size`` picks the output padding).

        >>> import nbgrad as nb
        >>> up = nb.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
        >>> up(nb.zeros(1, 1, 4, 4), output_size=(8, 8)).shape
        (1, 1, 8, 8)
        """
        conv = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._nd - 1]
        return conv(input, self.weight, self.bias, self.stride, self.padding,
                    self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution; weight (C_in, C_out/groups, k).

    >>> import nbgrad as nb
    >>> nb.nn.ConvTranspose1d(2, 4, 3, stride=2)(nb.zeros(1, 2, 5)).shape
    (1, 4, 11)
    """

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution; weight (C_in, C_out/groups, kH, kW).

    >>> import nbgrad as nb
    >>> nb.nn.ConvTranspose2d(4, 2, 2, stride=2)(nb.zeros(1, 4, 3, 3)).shape
    (1, 2, 6, 6)
    """

    _nd = 2


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution; weight (C_in, C_out/groups, kD, kH, kW).

    >>> import nbgrad as nb
    >>> nb.nn.ConvTranspose3d(1, 1, 2)(nb.zeros(1, 1, 2, 2, 2)).shape
    (1, 1, 3, 3, 3)
    """

    _nd = 3
