"""``parameters_to_vector`` / ``vector_to_parameters``."""

from __future__ import annotations

from nbgrad.grad_mode import no_grad
from nbgrad.ops import functions as _f
from nbgrad.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable).

    >>> import nbgrad as nb
    >>> nb.nn.utils.parameters_to_vector(nb.nn.Linear(3, 2).parameters()).shape
    (8,)
    """
    params = list(parameters)
    if params:
        dev = params[0].device
        for p in params:
            if p.device != dev:
                raise TypeError("Found two parameters on different devices, this is currently "
                                "not supported.")
    return _f.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of ``vec`` into the parameters (their data, in place).

    >>> import nbgrad as nb
    >>> fc = nb.nn.Linear(2, 1)
    >>> nb.nn.utils.vector_to_parameters(nb.tensor([1.0, 2.0, 3.0]), fc.parameters())
    >>> fc.weight.tolist(), fc.bias.tolist()
    ([[1.0, 2.0]], [3.0])
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    pointer = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[pointer:pointer + n].reshape(p.shape))
            pointer += n
