"""Pooling, resampling and rearranging layers: ``MaxPool*``, ``AvgPool*``, ``AdaptiveAvgPool*``,
``AdaptiveMaxPool*``, ``MaxUnpool*``, ``LPPool*``, ``Upsample``, ``PixelShuffle``, ``Fold`` and
``Unfold``, each a thin module over its ``nb.nn.functional`` form, with PyTorch's ``extra_repr``."""

from __future__ import annotations

from nbgrad.nn import _conv_functional as F
from nbgrad.nn.module import Module
from nbgrad.tensor import Tensor

__all__ = [
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
    "LPPool1d", "LPPool2d", "LPPool3d", "Upsample", "UpsamplingNearest2d",
    "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "Fold", "Unfold",
]


def _tup(value, n: int) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value) if len(value) == n else tuple(value) * n
    return (value,) * n


class _MaxPoolNd(Module):
    _fn = staticmethod(F.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor):
        """Max pooling of ``input`` (and the indices when ``return_indices``).

        >>> import nbgrad as nb
        >>> nb.nn.MaxPool2d(2)(nb.arange(4.0).reshape(1, 2, 2))
        tensor([[[3.]]])
        """
        return self._fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                        ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max pooling over (N, C, L) or (C, L).

    >>> import nbgrad as nb
    >>> nb.nn.MaxPool1d(2)(nb.tensor([[1.0, 5.0, 2.0, 0.0]]))
    tensor([[5., 2.]])
    """

    _fn = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max pooling over (N, C, H, W) or (C, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.MaxPool2d(2, stride=1)(nb.zeros(1, 1, 3, 3)).shape
    (1, 1, 2, 2)
    """

    _fn = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max pooling over (N, C, D, H, W) or (C, D, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.MaxPool3d(2)(nb.zeros(1, 1, 2, 2, 2)).shape
    (1, 1, 1, 1, 1)
    """

    _fn = staticmethod(F.max_pool3d)


class AvgPool1d(Module):
    """Average pooling over (N, C, L) or (C, L).

    >>> import nbgrad as nb
    >>> nb.nn.AvgPool1d(2)(nb.tensor([[1.0, 3.0]]))
    tensor([[2.]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _tup(kernel_size, 1)
        self.stride = _tup(stride if stride is not None else kernel_size, 1)
        self.padding = _tup(padding, 1)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        """Average pooling of ``input``.

        >>> import nbgrad as nb
        >>> nb.nn.AvgPool1d(2).forward(nb.tensor([[2.0, 4.0]]))
        tensor([[3.]])
        """
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    _fn = staticmethod(F.avg_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        """Average pooling of ``input``.

        >>> import nbgrad as nb
        >>> nb.nn.AvgPool2d(2)(nb.ones(1, 2, 2))
        tensor([[[1.]]])
        """
        return self._fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                        self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
    """Average pooling over (N, C, H, W) or (C, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.AvgPool2d(2, divisor_override=1)(nb.ones(1, 2, 2))
    tensor([[[4.]]])
    """

    _fn = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """Average pooling over (N, C, D, H, W) or (C, D, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.AvgPool3d(2)(nb.ones(1, 2, 2, 2)).flatten()
    tensor([1.])
    """

    _fn = staticmethod(F.avg_pool3d)


class _AdaptiveNd(Module):
    _fn = staticmethod(F.adaptive_avg_pool2d)

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        """Adaptive pooling of ``input`` to ``output_size``.

        >>> import nbgrad as nb
        >>> nb.nn.AdaptiveAvgPool2d(1)(nb.ones(1, 1, 3, 3)).shape
        (1, 1, 1, 1)
        """
        return self._fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveNd):
    """Average pooling to a fixed length.

    >>> import nbgrad as nb
    >>> nb.nn.AdaptiveAvgPool1d(1)(nb.tensor([[1.0, 3.0]]))
    tensor([[2.]])
    """

    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptiveNd):
    """Average pooling to a fixed (H, W).

    >>> import nbgrad as nb
    >>> nb.nn.AdaptiveAvgPool2d((1, 2))(nb.ones(1, 4, 4)).shape
    (1, 1, 2)
    """

    _fn = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptiveNd):
    """Average pooling to a fixed (D, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.AdaptiveAvgPool3d(1)(nb.ones(1, 2, 2, 2)).shape
    (1, 1, 1, 1)
    """

    _fn = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxNd(_AdaptiveNd):
    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        """Adaptive max pooling of ``input`` (and the indices when ``return_indices``).

        >>> import nbgrad as nb
        >>> nb.nn.AdaptiveMaxPool1d(1)(nb.tensor([[1.0, 3.0]]))
        tensor([[3.]])
        """
        return self._fn(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxNd):
    """Max pooling to a fixed length.

    >>> import nbgrad as nb
    >>> nb.nn.AdaptiveMaxPool1d(2)(nb.tensor([[1.0, 3.0, 2.0]]))
    tensor([[3., 3.]])
    """

    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxNd):
    """Max pooling to a fixed (H, W).

    >>> import nbgrad as nb
    >>> nb.nn.AdaptiveMaxPool2d(1)(nb.arange(4.0).reshape(1, 2, 2))
    tensor([[[3.]]])
    """

    _fn = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxNd):
    """Max pooling to a fixed (D, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.AdaptiveMaxPool3d(1)(nb.arange(8.0).reshape(1, 2, 2, 2)).flatten()
    tensor([7.])
    """

    _fn = staticmethod(F.adaptive_max_pool3d)


class _MaxUnpoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = _tup(kernel_size, self._nd)
        self.stride = _tup(stride if stride is not None else kernel_size, self._nd)
        self.padding = _tup(padding, self._nd)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        """Values put back at ``indices`` (from max pooling), zeros elsewhere.

        >>> import nbgrad as nb
        >>> v, i = nb.nn.MaxPool1d(2, return_indices=True)(nb.tensor([[[1.0, 2.0]]]))
        >>> nb.nn.MaxUnpool1d(2)(v, i)
        tensor([[[0., 2.]]])
        """
        fn = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self._nd - 1]
        return fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool1d``.

    >>> import nbgrad as nb
    >>> nb.nn.MaxUnpool1d(2)
    MaxUnpool1d(kernel_size=(2,), stride=(2,), padding=(0,))
    """

    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool2d``.

    >>> import nbgrad as nb
    >>> nb.nn.MaxUnpool2d(2)
    MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    """

    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of ``MaxPool3d``.

    >>> import nbgrad as nb
    >>> nb.nn.MaxUnpool3d(2).stride
    (2, 2, 2)
    """

    _nd = 3


class _LPPoolNd(Module):
    _fn = staticmethod(F.lp_pool2d)

    def __init__(self, norm_type: float, kernel_size, stride=None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        """Power-average pooling of ``input``.

        >>> import nbgrad as nb
        >>> nb.nn.LPPool1d(2, 2)(nb.tensor([[3.0, 4.0]]))
        tensor([[5.]])
        """
        return self._fn(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L).

    >>> import nbgrad as nb
    >>> nb.nn.LPPool1d(1, 2)(nb.tensor([[1.0, 2.0]]))
    tensor([[3.]])
    """

    _fn = staticmethod(F.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.LPPool2d(2, 3)
    LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)
    """

    _fn = staticmethod(F.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.LPPool3d(1, 2)(nb.ones(1, 2, 2, 2)).flatten()
    tensor([8.])
    """

    _fn = staticmethod(F.lp_pool3d)


class Upsample(Module):
    """Resize by ``size`` or ``scale_factor`` with ``F.interpolate``'s modes.

    >>> import nbgrad as nb
    >>> nb.nn.Upsample(scale_factor=2)
    Upsample(scale_factor=2.0, mode='nearest')
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (list, tuple)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        """``F.interpolate(input, ...)`` with this layer's settings.

        >>> import nbgrad as nb
        >>> nb.nn.Upsample(size=3)(nb.ones(1, 1, 1)).shape
        (1, 1, 3)
        """
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """2-D nearest-neighbour upsampling.

    >>> import nbgrad as nb
    >>> nb.nn.UpsamplingNearest2d(scale_factor=2)(nb.ones(1, 1, 1, 1)).shape
    (1, 1, 2, 2)
    """

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """2-D bilinear upsampling with ``align_corners=True``.

    >>> import nbgrad as nb
    >>> nb.nn.UpsamplingBilinear2d(size=3)(nb.ones(1, 1, 2, 2)).shape
    (1, 1, 3, 3)
    """

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """Rearrange (*, C*r*r, H, W) into (*, C, H*r, W*r).

    >>> import nbgrad as nb
    >>> nb.nn.PixelShuffle(2)(nb.zeros(1, 8, 3, 3)).shape
    (1, 2, 6, 6)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        """``F.pixel_shuffle(input, upscale_factor)``.

        >>> import nbgrad as nb
        >>> nb.nn.PixelShuffle(1).forward(nb.ones(1, 1, 1)).shape
        (1, 1, 1)
        """
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """Rearrange (*, C, H*r, W*r) into (*, C*r*r, H, W).

    >>> import nbgrad as nb
    >>> nb.nn.PixelUnshuffle(2)(nb.zeros(1, 2, 6, 6)).shape
    (1, 8, 3, 3)
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        """``F.pixel_unshuffle(input, downscale_factor)``.

        >>> import nbgrad as nb
        >>> nb.nn.PixelUnshuffle(1).forward(nb.ones(1, 1, 1)).shape
        (1, 1, 1)
        """
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Fold(Module):
    """``F.fold``: columns summed back into an image (col2im).

    >>> import nbgrad as nb
    >>> nb.nn.Fold((3, 3), 2)(nb.ones(1, 4, 4)).shape
    (1, 1, 3, 3)
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        """``F.fold(input, ...)`` with this layer's settings.

        >>> import nbgrad as nb
        >>> nb.nn.Fold(2, 1).forward(nb.ones(1, 4)).shape
        (1, 2, 2)
        """
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class Unfold(Module):
    """``F.unfold``: sliding blocks as columns (im2col).

    >>> import nbgrad as nb
    >>> nb.nn.Unfold(2)(nb.ones(1, 1, 3, 3)).shape
    (1, 4, 4)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        """``F.unfold(input, ...)`` with this layer's settings.

        >>> import nbgrad as nb
        >>> nb.nn.Unfold(1).forward(nb.ones(1, 2, 2)).shape
        (1, 4)
        """
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
