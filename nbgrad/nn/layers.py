"""Layers: ``Linear``, ``Embedding``, ``LayerNorm``, ``Dropout``, activations."""

from __future__ import annotations

import math

from nbgrad.nn import functional as F
from nbgrad.nn import init
from nbgrad.nn.module import Module
from nbgrad.nn.normalization import LayerNorm
from nbgrad.nn.parameter import Parameter
from nbgrad.nn.sparse import Embedding
from nbgrad.ops.creation import empty
from nbgrad.tensor import Tensor

__all__ = [
    "Identity", "Linear", "Embedding", "LayerNorm", "Dropout", "ReLU", "GELU", "SiLU", "Tanh",
    "Sigmoid", "Softmax", "LogSoftmax", "Flatten", "Dropout1d", "Dropout2d", "Dropout3d",
    "AlphaDropout", "FeatureAlphaDropout", "Unflatten", "Bilinear", "CosineSimilarity",
    "PairwiseDistance",
]


class Identity(Module):
    """Returns its input unchanged.

    >>> import nbgrad as nb
    >>> nb.nn.Identity()(nb.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        """``input``.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0])
        >>> nb.nn.Identity(54, unused="ignored").forward(x) is x
        True
        """
        return input


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` (out_features, in_features).

    Initialised like PyTorch: weight and bias from U(-1/sqrt(in_features), 1/sqrt(in_features)).

    >>> import nbgrad as nb
    >>> fc = nb.nn.Linear(4, 3)
    >>> fc(nb.zeros(2, 4)).shape
    (2, 3)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weights (kaiming-uniform with a=sqrt(5)) and the bias.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(4, 2)
        >>> fc.reset_parameters()
        >>> bool(fc.weight.abs().max() <= 0.5)  # U(-1/sqrt(in_features), 1/sqrt(in_features))
        True
        """
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        """``input @ weight.T + bias``.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 1)
        >>> with nb.no_grad():
        ...     _ = fc.weight.copy_(nb.tensor([[1.0, 2.0]]))
        ...     _ = fc.bias.fill_(0.5)
        >>> fc.forward(nb.tensor([[3.0, 4.0]])).tolist()
        [[11.5]]
        """
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Dropout(Module):
    """Zero elements with probability ``p`` while training (scaled by 1/(1-p)); identity in
    ``eval()`` mode.

    >>> import nbgrad as nb
    >>> drop = nb.nn.Dropout(p=0.5)
    >>> sorted(set(drop(nb.ones(1000)).tolist()))  # the kept ones are scaled by 1 / (1 - p)
    [0.0, 2.0]
    >>> drop.eval()(nb.ones(3))
    tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """Dropout when ``self.training``, else ``input``.

        >>> import nbgrad as nb
        >>> nb.nn.Dropout(p=1.0).forward(nb.ones(2))
        tensor([0., 0.])
        """
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class ReLU(Module):
    """``max(x, 0)``.

    >>> import nbgrad as nb
    >>> nb.nn.ReLU()(nb.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        """``relu(input)``.

        >>> import nbgrad as nb
        >>> x = nb.tensor([-1.0, 2.0])
        >>> nb.nn.ReLU(inplace=True).forward(x) is x, x
        (True, tensor([0., 2.]))
        """
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """Gaussian error linear unit (exact, or ``approximate="tanh"``).

    >>> import nbgrad as nb
    >>> nb.nn.GELU()(nb.tensor([-1.0, 1.0]))
    tensor([-0.1587,  0.8413])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        """``gelu(input)``.

        >>> import nbgrad as nb
        >>> nb.nn.GELU(approximate="tanh").forward(nb.tensor([1.0]))
        tensor([0.8412])
        """
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """``x * sigmoid(x)``.

    >>> import nbgrad as nb
    >>> nb.nn.SiLU()(nb.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7311])
    """

    def forward(self, input: Tensor) -> Tensor:
        """``silu(input)``.

        >>> import nbgrad as nb
        >>> nb.nn.SiLU().forward(nb.tensor([-1.0]))
        tensor([-0.2689])
        """
        return F.silu(input)


class Tanh(Module):
    """Hyperbolic tangent.

    >>> import nbgrad as nb
    >>> nb.nn.Tanh()(nb.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7616])
    """

    def forward(self, input: Tensor) -> Tensor:
        """``tanh(input)``.

        >>> import nbgrad as nb
        >>> nb.nn.Tanh().forward(nb.tensor([-1.0]))
        tensor([-0.7616])
        """
        return input.tanh()


class Sigmoid(Module):
    """Logistic sigmoid.

    >>> import nbgrad as nb
    >>> nb.nn.Sigmoid()(nb.tensor([0.0, 2.0]))
    tensor([0.5000, 0.8808])
    """

    def forward(self, input: Tensor) -> Tensor:
        """``sigmoid(input)``.

        >>> import nbgrad as nb
        >>> nb.nn.Sigmoid().forward(nb.tensor([-2.0]))
        tensor([0.1192])
        """
        return input.sigmoid()


class Softmax(Module):
    """Softmax along ``dim``.

    >>> import nbgrad as nb
    >>> nb.nn.Softmax(dim=0)(nb.tensor([1.0, 1.0, 1.0, 1.0]))
    tensor([0.2500, 0.2500, 0.2500, 0.2500])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        """``softmax(input, dim)``.

        >>> import nbgrad as nb
        >>> nb.nn.Softmax(dim=1).forward(nb.zeros(2, 4)).sum(dim=1)
        tensor([1., 1.])
        """
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim``.

    >>> import nbgrad as nb
    >>> nb.nn.LogSoftmax(dim=0)(nb.zeros(2))
    tensor([-0.6931, -0.6931])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        """``log_softmax(input, dim)``.

        >>> import nbgrad as nb
        >>> nb.nn.LogSoftmax(dim=1).forward(nb.zeros(1, 4)).exp()
        tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
        """
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim).

    >>> import nbgrad as nb
    >>> nb.nn.Flatten()(nb.zeros(2, 3, 4)).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        """``input.flatten(start_dim, end_dim)``.

        >>> import nbgrad as nb
        >>> nb.nn.Flatten(0, 1).forward(nb.zeros(2, 3, 4)).shape
        (6, 4)
        """
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) / (C, L) inputs while training.

    >>> import nbgrad as nb
    >>> nb.nn.Dropout1d(0.5).eval()(nb.ones(1, 2, 3)).sum()
    tensor(6.)
    """

    def forward(self, input: Tensor) -> Tensor:
        """``dropout1d(input, p, training, inplace)``.

        >>> import nbgrad as nb
        >>> nb.nn.Dropout1d(1.0).forward(nb.ones(1, 2, 3)).sum()
        tensor(0.)
        """
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) / (C, H, W) inputs while training.

    >>> import nbgrad as nb
    >>> nb.nn.Dropout2d(0.5)(nb.ones(2, 3, 2, 2)).shape
    (2, 3, 2, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        """``dropout2d(input, p, training, inplace)``.

        >>> import nbgrad as nb
        >>> nb.nn.Dropout2d(1.0).forward(nb.ones(1, 2, 2, 2)).sum()
        tensor(0.)
        """
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) / (C, D, H, W) inputs while training.

    >>> import nbgrad as nb
    >>> nb.nn.Dropout3d(0.5)(nb.ones(1, 2, 2, 2, 2)).shape
    (1, 2, 2, 2, 2)
    """

    def forward(self, input: Tensor) -> Tensor:
        """``dropout3d(input, p, training, inplace)``.

        >>> import nbgrad as nb
        >>> nb.nn.Dropout3d(1.0).forward(nb.ones(2, 2, 2, 2)).sum()
        tensor(0.)
        """
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Alpha dropout (keeps SELU's self-normalising mean and variance) while training.

    >>> import nbgrad as nb
    >>> nb.nn.AlphaDropout(0.2).eval()(nb.ones(2))
    tensor([1., 1.])
    """

    def forward(self, input: Tensor) -> Tensor:
        """``alpha_dropout(input, p, training)``.

        >>> import nbgrad as nb
        >>> nb.nn.AlphaDropout(0.5).forward(nb.ones(4)).shape
        (4,)
        """
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels while training.

    >>> import nbgrad as nb
    >>> nb.nn.FeatureAlphaDropout(0.2).eval()(nb.ones(1, 2))
    tensor([[1., 1.]])
    """

    def forward(self, input: Tensor) -> Tensor:
        """``feature_alpha_dropout(input, p, training)``.

        >>> import nbgrad as nb
        >>> nb.nn.FeatureAlphaDropout(0.5).forward(nb.ones(1, 4, 2)).shape
        (1, 4, 2)
        """
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace)


class Unflatten(Module):
    """Expand dim ``dim`` into ``unflattened_size``.

    >>> import nbgrad as nb
    >>> nb.nn.Unflatten(1, (2, 5))(nb.zeros(3, 10)).shape
    (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError("unflattened_size must be tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        """``input`` with dim ``dim`` reshaped to ``unflattened_size``.

        >>> import nbgrad as nb
        >>> nb.nn.Unflatten(-1, (2, -1)).forward(nb.zeros(4)).shape
        (2, 2)
        """
        d = self.dim % input.ndim
        return input.reshape(*input.shape[:d], *self.unflattened_size, *input.shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """``y = x1^T A x2 + b`` with ``weight`` (out, in1, in2), init U(-1/sqrt(in1), 1/sqrt(in1)).

    >>> import nbgrad as nb
    >>> m = nb.nn.Bilinear(3, 4, 5)
    >>> m(nb.randn(2, 3), nb.randn(2, 4)).shape
    (2, 5)
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(empty(out_features, in1_features, in2_features, device=device,
                                      dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight and bias from U(-1/sqrt(in1_features), 1/sqrt(in1_features)).

        >>> import nbgrad as nb
        >>> m = nb.nn.Bilinear(4, 2, 1)
        >>> m.reset_parameters()
        >>> bool(m.weight.abs().max() <= 0.5)
        True
        """
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        """``bilinear(input1, input2, weight, bias)``.

        >>> import nbgrad as nb
        >>> nb.nn.Bilinear(2, 2, 3).forward(nb.ones(2), nb.ones(2)).shape
        (3,)
        """
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class CosineSimilarity(Module):
    """Cosine similarity along ``dim``.

    >>> import nbgrad as nb
    >>> nb.nn.CosineSimilarity(dim=1)(nb.tensor([[1.0, 0.0]]), nb.tensor([[2.0, 0.0]]))
    tensor([1.])
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """``cosine_similarity(x1, x2, dim, eps)``.

        >>> import nbgrad as nb
        >>> nb.nn.CosineSimilarity(0).forward(nb.tensor([1.0, 0.0]), nb.tensor([0.0, 1.0]))
        tensor(0.)
        """
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``||x1 - x2 + eps||_p`` along the last dim.

    >>> import nbgrad as nb
    >>> nb.nn.PairwiseDistance(eps=0.0)(nb.tensor([[0.0, 0.0]]), nb.tensor([[3.0, 4.0]]))
    tensor([5.])
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        """``pairwise_distance(x1, x2, p, eps, keepdim)``.

        >>> import nbgrad as nb
        >>> nb.nn.PairwiseDistance(p=1.0, eps=0.0).forward(nb.zeros(1, 2), nb.ones(1, 2))
        tensor([2.])
        """
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
