"""Normalisation layers: ``BatchNorm1d/2d/3d``, ``InstanceNorm1d/2d/3d``, ``GroupNorm``,
``LayerNorm``, ``RMSNorm`` and ``LocalResponseNorm``, with PyTorch's parameters, buffers and
``state_dict`` keys."""

from __future__ import annotations

from nbgrad import _dtype
from nbgrad.nn import functional as F
from nbgrad.nn import init
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import empty, ones, tensor, zeros
from nbgrad.tensor import Tensor

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "GroupNorm", "LayerNorm", "RMSNorm", "LocalResponseNorm",
]


class _NormBase(Module):
    _version = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(num_features, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked",
                                 tensor(0, dtype=_dtype.int64, device=device or "cpu"))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean to 0, running variance to 1, the batch count to 0.

        >>> import nbgrad as nb
        >>> bn = nb.nn.BatchNorm1d(2)
        >>> _ = bn(nb.randn(4, 2))
        >>> bn.reset_running_stats()
        >>> bn.running_mean.tolist(), bn.num_batches_tracked.item()
        ([0.0, 0.0], 0)
        """
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, the scale to 1 and the shift to 0.

        >>> import nbgrad as nb
        >>> bn = nb.nn.BatchNorm1d(2)
        >>> bn.reset_parameters()
        >>> bn.weight.tolist(), bn.bias.tolist()
        ([1.0, 1.0], [0.0, 0.0])
        """
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def _upgrade_state_dict(self, state_dict, prefix: str, version) -> dict | None:
        """State dicts of version < 2 (or without metadata) may lack ``num_batches_tracked``:
        keep the current count, as PyTorch does."""
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats \
                and key not in state_dict:
            return {key: self.num_batches_tracked}
        return None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        """Normalise with the batch statistics (training) or the running ones (eval).

        >>> import nbgrad as nb
        >>> bn = nb.nn.BatchNorm1d(1, affine=False, eps=0.0)
        >>> bn.forward(nb.tensor([[1.0], [3.0]]))
        tensor([[-1.],
                [ 1.]])
        """
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_stats = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_stats else None,
                            self.running_var if use_stats else None, self.weight, self.bias,
                            bn_training, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs over the batch (and length) dims,
    with learned per-channel scale and shift and running statistics for ``eval()``
    (``momentum=None``: a cumulative average).

    >>> import nbgrad as nb
    >>> bn = nb.nn.BatchNorm1d(3)
    >>> y = bn(nb.randn(8, 3))
    >>> [name for name, _ in bn.named_buffers()]
    ['running_mean', 'running_var', 'num_batches_tracked']
    >>> bn.num_batches_tracked
    tensor(1)
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel.

    >>> import nbgrad as nb
    >>> nb.nn.BatchNorm2d(4)(nb.randn(2, 4, 3, 3)).shape
    (2, 4, 3, 3)
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs, per channel.

    >>> import nbgrad as nb
    >>> nb.nn.BatchNorm3d(2)(nb.randn(2, 2, 2, 2, 2)).shape
    (2, 2, 2, 2, 2)
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 5:
            raise ValueError(f"expected 5D input (got {input.ndim}D input)")


class _InstanceNorm(_NormBase):
    _spatial = 1

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def _check_input_dim(self, input: Tensor) -> None:
        k = self._spatial
        if input.ndim not in (k + 1, k + 2):
            raise ValueError(f"expected {k + 1}D or {k + 2}D input (got {input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        """Normalise each channel of each sample over its spatial dims.

        >>> import nbgrad as nb
        >>> nb.nn.InstanceNorm1d(1, eps=0.0).forward(nb.tensor([[[1.0, 3.0]]]))
        tensor([[[-1.,  1.]]])
        """
        self._check_input_dim(input)
        unbatched = input.ndim == self._spatial + 1
        if unbatched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim=1 to match num_features "
                             f"({self.num_features}), but got: {input.shape[1]}.")
        use_input_stats = self.training or not self.track_running_stats
        momentum = self.momentum if self.momentum is not None else 0.0
        if self.training and self.track_running_stats and self.momentum is None:
            self.num_batches_tracked.add_(1)
            momentum = 1.0 / float(self.num_batches_tracked.item())
        elif self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        out = F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                              self.bias, use_input_stats, momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs (no affine, no running stats by
    default).

    >>> import nbgrad as nb
    >>> nb.nn.InstanceNorm1d(2)(nb.randn(3, 2, 5)).shape
    (3, 2, 5)
    """

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs.

    >>> import nbgrad as nb
    >>> nb.nn.InstanceNorm2d(2, affine=True)(nb.randn(1, 2, 3, 3)).shape
    (1, 2, 3, 3)
    """

    _spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) inputs.

    >>> import nbgrad as nb
    >>> nb.nn.InstanceNorm3d(1)(nb.randn(1, 1, 2, 2, 2)).shape
    (1, 1, 2, 2, 2)
    """

    _spatial = 3


class GroupNorm(Module):
    """Normalise groups of channels of each sample; per-channel affine.

    >>> import nbgrad as nb
    >>> gn = nb.nn.GroupNorm(2, 4)
    >>> gn(nb.randn(3, 4, 5)).shape, gn
    ((3, 4, 5), GroupNorm(2, 4, eps=1e-05, affine=True, bias=True))
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(empty(num_channels, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(num_channels, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scale to 1, shift to 0.

        >>> import nbgrad as nb
        >>> gn = nb.nn.GroupNorm(1, 2)
        >>> gn.reset_parameters()
        >>> gn.weight.tolist()
        [1.0, 1.0]
        """
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        """``group_norm(input, num_groups, weight, bias, eps)``.

        >>> import nbgrad as nb
        >>> nb.nn.GroupNorm(1, 2, eps=0.0).forward(nb.tensor([[1.0, 3.0]]))
        tensor([[-1.,  1.]], grad_fn=<AddBackward0>)
        """
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LayerNorm(Module):
    """Normalise the trailing ``normalized_shape`` dims, then apply a learned scale and shift
    (``bias=False``: scale only).

    >>> import nbgrad as nb
    >>> ln = nb.nn.LayerNorm(2)
    >>> ln(nb.tensor([[1.0, 3.0], [2.0, 2.0]])).detach()
    tensor([[-1.0000,  1.0000],
            [ 0.0000,  0.0000]])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(empty(self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(empty(self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scale to ones, shift to zeros.

        >>> import nbgrad as nb
        >>> ln = nb.nn.LayerNorm(3)
        >>> ln.reset_parameters()
        >>> ln.weight.tolist(), ln.bias.tolist()
        ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
        """
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        """The normalised input.

        >>> import nbgrad as nb
        >>> with nb.no_grad():
        ...     nb.nn.LayerNorm(2).forward(nb.tensor([[0.0, 4.0]]))
        tensor([[-1.0000,  1.0000]])
        """
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalisation of the trailing ``normalized_shape`` dims with a learned
    scale (``eps=None``: the dtype's machine epsilon).

    >>> import nbgrad as nb
    >>> rms = nb.nn.RMSNorm(2)
    >>> rms(nb.tensor([[3.0, 4.0]])).detach()
    tensor([[0.8485, 1.1314]])
    >>> rms
    RMSNorm((2,), eps=None, elementwise_affine=True)
    """

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(empty(self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Scale to ones.

        >>> import nbgrad as nb
        >>> r = nb.nn.RMSNorm(2)
        >>> r.reset_parameters()
        >>> r.weight.tolist()
        [1.0, 1.0]
        """
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        """``rms_norm(input, normalized_shape, weight, eps)``.

        >>> import nbgrad as nb
        >>> with nb.no_grad():
        ...     nb.nn.RMSNorm(2, eps=0.0).forward(nb.tensor([[1.0, 1.0]]))
        tensor([[1., 1.]])
        """
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Local response normalisation across ``size`` neighbouring channels.

    >>> import nbgrad as nb
    >>> nb.nn.LocalResponseNorm(2)
    LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        """``local_response_norm(input, size, alpha, beta, k)``.

        >>> import nbgrad as nb
        >>> nb.nn.LocalResponseNorm(1, alpha=1.0, beta=1.0, k=0.0).forward(nb.ones(1, 1, 1))
        tensor([[[1.]]])
        """
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
