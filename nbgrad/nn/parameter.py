"""``Parameter``: a tensor that a ``Module`` registers as trainable."""

from __future__ import annotations

from nbgrad._device import CPU
from nbgrad.ops.creation import empty
from nbgrad.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a ``Module`` attribute registers it.

    It shares storage and version counter with ``data`` (like ``data.detach()``) and is a leaf
    that requires grad by default -- also when created inside ``no_grad`` (as with factories,
    an explicit ``requires_grad`` is honoured in every grad mode).

    >>> import nbgrad as nb
    >>> with nb.no_grad():
    ...     w = nb.nn.Parameter(nb.zeros(2))
    >>> w.requires_grad, w.is_leaf
    (True, True)
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter: data must be a Tensor, got {type(data).__name__}; wrap it with "
                "nb.tensor(...) first"
            )
        p = object.__new__(cls)
        p._data = data._data
        p._version_counter = data._version_counter
        if data._device is not CPU:
            p._device = data._device
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        found = memo.get(id(self))
        if found is None:
            found = memo[id(self)] = Parameter(self.detach().clone(), self.requires_grad)
        return found
