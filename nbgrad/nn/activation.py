"""Activation modules (PyTorch's ``torch.nn`` activations beyond ReLU, GELU, SiLU, Tanh, Sigmoid,
Softmax and LogSoftmax, which live in ``nbgrad/nn/layers.py``). Each module calls its function
in ``nb.nn.functional`` and shows its settings in its repr as PyTorch's does."""

from __future__ import annotations

from nbgrad.nn import functional as F
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import full
from nbgrad.tensor import Tensor

__all__ = [
    "ELU", "SELU", "CELU", "LeakyReLU", "ReLU6", "Hardtanh", "Hardswish", "Hardsigmoid", "Mish",
    "Softsign", "Softmin", "Tanhshrink", "Softshrink", "Hardshrink", "Threshold", "PReLU",
    "RReLU", "GLU", "Softplus", "LogSigmoid", "Softmax2d",
]


def _inplace(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""


class ELU(Module):
    """Exponential linear unit, ``F.elu``.

    >>> import nbgrad as nb
    >>> m = nb.nn.ELU(alpha=0.5)
    >>> m, m(nb.tensor([-1.0, 2.0]))
    (ELU(alpha=0.5), tensor([-0.3161,  2.0000]))
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class SELU(Module):
    """Scaled exponential linear unit, ``F.selu``.

    >>> import nbgrad as nb
    >>> nb.nn.SELU()(nb.tensor([1.0]))
    tensor([1.0507])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class CELU(Module):
    """Continuously differentiable ELU, ``F.celu``.

    >>> import nbgrad as nb
    >>> nb.nn.CELU(2.0), nb.nn.CELU(2.0)(nb.tensor([-1.0]))
    (CELU(alpha=2.0), tensor([-0.7869]))
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class LeakyReLU(Module):
    """``F.leaky_relu``.

    >>> import nbgrad as nb
    >>> nb.nn.LeakyReLU(0.2), nb.nn.LeakyReLU(0.2)(nb.tensor([-1.0, 1.0]))
    (LeakyReLU(negative_slope=0.2), tensor([-0.2000,  1.0000]))
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace)}"


class Hardtanh(Module):
    """``F.hardtanh``: clamp to ``[min_val, max_val]``.

    >>> import nbgrad as nb
    >>> nb.nn.Hardtanh(), nb.nn.Hardtanh()(nb.tensor([-2.0, 0.5]))
    (Hardtanh(min_val=-1.0, max_val=1.0), tensor([-1.0000,  0.5000]))
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError("min_val cannot be greater than max_val")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace)}"


class ReLU6(Hardtanh):
    """``F.relu6``: clamp to ``[0, 6]``.

    >>> import nbgrad as nb
    >>> nb.nn.ReLU6(), nb.nn.ReLU6()(nb.tensor([-1.0, 7.0]))
    (ReLU6(), tensor([0., 6.]))
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Hardswish(Module):
    """``F.hardswish``.

    >>> import nbgrad as nb
    >>> nb.nn.Hardswish()(nb.tensor([1.0]))
    tensor([0.6667])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, self.inplace)


class Hardsigmoid(Module):
    """``F.hardsigmoid``.

    >>> import nbgrad as nb
    >>> nb.nn.Hardsigmoid()(nb.tensor([0.0]))
    tensor([0.5000])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, self.inplace)


class Mish(Module):
    """``F.mish``: ``x * tanh(softplus(x))``.

    >>> import nbgrad as nb
    >>> nb.nn.Mish()(nb.tensor([1.0]))
    tensor([0.8651])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softsign(Module):
    """``F.softsign``: ``x / (1 + |x|)``.

    >>> import nbgrad as nb
    >>> nb.nn.Softsign()(nb.tensor([1.0]))
    tensor([0.5000])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Tanhshrink(Module):
    """``F.tanhshrink``: ``x - tanh(x)``.

    >>> import nbgrad as nb
    >>> nb.nn.Tanhshrink()(nb.tensor([1.0]))
    tensor([0.2384])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class Softshrink(Module):
    """``F.softshrink``.

    >>> import nbgrad as nb
    >>> nb.nn.Softshrink(), nb.nn.Softshrink()(nb.tensor([-2.0, 0.1]))
    (Softshrink(0.5), tensor([-1.5000,  0.0000]))
    """

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return F.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Module):
    """``F.hardshrink``.

    >>> import nbgrad as nb
    >>> nb.nn.Hardshrink(), nb.nn.Hardshrink()(nb.tensor([-2.0, 0.1]))
    (Hardshrink(0.5), tensor([-2.,  0.]))
    """

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return F.hardshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Threshold(Module):
    """``F.threshold``: ``x`` above ``threshold``, else ``value``.

    >>> import nbgrad as nb
    >>> m = nb.nn.Threshold(0.1, 20)
    >>> m, m(nb.tensor([0.0, 1.0]))
    (Threshold(threshold=0.1, value=20), tensor([20.,  1.]))
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{_inplace(self.inplace)}"


class PReLU(Module):
    """``F.prelu`` with a learnt slope: one, or one per channel (``num_parameters``), each
    starting at ``init``.

    >>> import nbgrad as nb
    >>> m = nb.nn.PReLU()
    >>> m, m.weight.tolist(), m(nb.tensor([-2.0, 1.0]))
    (PReLU(num_parameters=1), [0.25], tensor([-0.5000,  1.0000], grad_fn=<WhereBackward0>))
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(full((num_parameters,), init, dtype=dtype, device=device))

    def reset_parameters(self) -> None:
        """Set every slope back to ``init``.

        >>> import nbgrad as nb
        >>> m = nb.nn.PReLU(2, init=0.5)
        >>> _ = m.weight.data.fill_(3.0)
        >>> m.reset_parameters(); m.weight.tolist()
        [0.5, 0.5]
        """
        self.weight.data.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """``F.rrelu``: random negative slopes in training, their mean in evaluation.

    >>> import nbgrad as nb
    >>> m = nb.nn.RReLU(0.1, 0.3).eval()
    >>> m, m(nb.tensor([-1.0, 1.0]))
    (RReLU(lower=0.1, upper=0.3), tensor([-0.2000,  1.0000]))
    """

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}{_inplace(self.inplace)}"


class GLU(Module):
    """``F.glu``: the first half of ``dim`` gated by the sigmoid of the second.

    >>> import nbgrad as nb
    >>> nb.nn.GLU(), nb.nn.GLU()(nb.tensor([1.0, 0.0]))
    (GLU(dim=-1), tensor([0.5000]))
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softplus(Module):
    """``F.softplus``: ``log(1 + exp(beta * x)) / beta``.

    >>> import nbgrad as nb
    >>> nb.nn.Softplus(), nb.nn.Softplus()(nb.tensor([0.0]))
    (Softplus(beta=1.0, threshold=20.0), tensor([0.6931]))
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSigmoid(Module):
    """``F.logsigmoid``.

    >>> import nbgrad as nb
    >>> nb.nn.LogSigmoid()(nb.tensor([0.0]))
    tensor([-0.6931])
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softmin(Module):
    """``F.softmin`` along ``dim``.

    >>> import nbgrad as nb
    >>> nb.nn.Softmin(dim=0), nb.nn.Softmin(dim=0)(nb.tensor([0.0, 0.0]))
    (Softmin(dim=0), tensor([0.5000, 0.5000]))
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax2d(Module):
    """Softmax over the channels of each location: dimension -3 of a (C, H, W) or (N, C, H, W)
    input.

    >>> import nbgrad as nb
    >>> nb.nn.Softmax2d()(nb.zeros(1, 2, 1, 1)).flatten()
    tensor([0.5000, 0.5000])
    """

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return F.softmax(input, -3)
