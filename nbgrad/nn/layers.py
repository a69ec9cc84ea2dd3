"""Layers: ``Linear``, ``Embedding``, ``LayerNorm``, ``Dropout``, activations."""

from __future__ import annotations

import math

from nbgrad.grad_mode import no_grad
from nbgrad.nn import functional as F
from nbgrad.nn import init
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import empty
from nbgrad.tensor import Tensor

__all__ = [
    "Identity", "Linear", "Embedding", "LayerNorm", "Dropout", "ReLU", "GELU", "SiLU", "Tanh",
    "Sigmoid", "Softmax", "LogSoftmax", "Flatten",
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


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim`` (init N(0, 1));
    the row at ``padding_idx`` starts at zero and gets no gradient.

    >>> import nbgrad as nb
    >>> emb = nb.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(nb.tensor([[0, 2], [4, 0]])).shape
    (2, 2, 3)
    >>> emb.weight[0].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError("Padding_idx must be within num_embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(empty(num_embeddings, embedding_dim, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the table from N(0, 1) (zeroing the padding row).

        >>> import nbgrad as nb
        >>> emb = nb.nn.Embedding(4, 2, padding_idx=1)
        >>> emb.reset_parameters()
        >>> emb.weight[1].tolist()
        [0.0, 0.0]
        """
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        """Rows of the table at the integer indices ``input``.

        >>> import nbgrad as nb
        >>> emb = nb.nn.Embedding(4, 2)
        >>> emb.forward(nb.tensor([3, 3])).tolist() == [emb.weight[3].tolist()] * 2
        True
        """
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class LayerNorm(Module):
    """Normalise the trailing ``normalized_shape`` dims, then apply a learned scale and shift.

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
                f"elementwise_affine={self.elementwise_affine}")


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
