"""``Variable``: PyTorch's old name for a tensor that takes part in autograd, kept as an alias."""

from __future__ import annotations

import warnings

from nbgrad.tensor import Tensor

__all__ = ["Variable"]


class _VariableMeta(type):
    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, Tensor)


class Variable(metaclass=_VariableMeta):
    """Deprecated alias kept as PyTorch keeps it: ``Variable(t, requires_grad=...)`` returns
    ``t`` itself (with the flag set), and every tensor is an instance of ``Variable``.

    >>> import nbgrad as nb
    >>> v = nb.autograd.Variable(nb.ones(2), requires_grad=True)
    >>> v, isinstance(nb.ones(1), nb.autograd.Variable)
    (tensor([1., 1.], requires_grad=True), True)
    """

    def __new__(cls, data: Tensor, requires_grad: bool = False, volatile: bool = False):
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with nb.no_grad():` "
                          "instead.", UserWarning, stacklevel=2)
        if requires_grad:
            data.requires_grad_(True)
        return data
