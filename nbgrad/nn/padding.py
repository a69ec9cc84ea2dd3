"""Padding layers: ``ZeroPad*``, ``ConstantPad*``, ``ReflectionPad*``, ``ReplicationPad*`` and
``CircularPad*`` (1-, 2- and 3-d), each ``F.pad`` with its mode; an int pads every side."""

from __future__ import annotations

from nbgrad.nn import _conv_functional as F
from nbgrad.nn.module import Module
from nbgrad.tensor import Tensor

__all__ = [
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
]


class _PadNd(Module):
    _nd = 1
    _mode = "constant"

    def __init__(self, padding) -> None:
        super().__init__()
        n = 2 * self._nd
        self.padding = tuple(padding) if isinstance(padding, (list, tuple)) else (padding,) * n
        if len(self.padding) != n:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of {n} "
                             f"ints, got {padding}")

    def forward(self, input: Tensor) -> Tensor:
        """``F.pad(input, padding, mode)``.

        >>> import nbgrad as nb
        >>> nb.nn.ReflectionPad1d(1)(nb.tensor([[1.0, 2.0]]))
        tensor([[2., 1., 2., 1.]])
        """
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        """``F.pad(input, padding, value=value)``.

        >>> import nbgrad as nb
        >>> nb.nn.ConstantPad1d(1, 7.0)(nb.tensor([[1.0]]))
        tensor([[7., 1., 7.]])
        """
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant.

    >>> import nbgrad as nb
    >>> nb.nn.ConstantPad1d(2, 3.5)
    ConstantPad1d(padding=(2, 2), value=3.5)
    """

    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with a constant.

    >>> import nbgrad as nb
    >>> nb.nn.ConstantPad2d(1, 0.5)(nb.zeros(1, 1, 1)).shape
    (1, 3, 3)
    """

    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with a constant.

    >>> import nbgrad as nb
    >>> nb.nn.ConstantPad3d(1, 0.0)(nb.zeros(1, 1, 1, 1)).shape
    (1, 3, 3, 3)
    """

    _nd = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros.

    >>> import nbgrad as nb
    >>> nb.nn.ZeroPad1d((1, 2))
    ZeroPad1d((1, 2))
    """

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros.

    >>> import nbgrad as nb
    >>> nb.nn.ZeroPad2d(1)(nb.ones(1, 1, 1))
    tensor([[[0., 0., 0.],
             [0., 1., 0.],
             [0., 0., 0.]]])
    """

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dims with zeros.

    >>> import nbgrad as nb
    >>> nb.nn.ZeroPad3d(1)(nb.ones(1, 1, 1, 1)).shape
    (1, 3, 3, 3)
    """

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


def _padding_class(name: str, nd: int, mode: str, doc: str):
    return type(name, (_PadNd,), {"_nd": nd, "_mode": mode, "__doc__": doc,
                                  "__module__": __name__})


ReflectionPad1d = _padding_class("ReflectionPad1d", 1, "reflect", """Reflect the last dim.

    >>> import nbgrad as nb
    >>> nb.nn.ReflectionPad1d((2, 0))(nb.tensor([[1.0, 2.0, 3.0]]))
    tensor([[3., 2., 1., 2., 3.]])
    """)
ReflectionPad2d = _padding_class("ReflectionPad2d", 2, "reflect", """Reflect the last two dims.

    >>> import nbgrad as nb
    >>> nb.nn.ReflectionPad2d(1)
    ReflectionPad2d((1, 1, 1, 1))
    """)
ReflectionPad3d = _padding_class("ReflectionPad3d", 3, "reflect", """Reflect the last 3 dims.

    >>> import nbgrad as nb
    >>> nb.nn.ReflectionPad3d(1)(nb.zeros(1, 2, 2, 2)).shape
    (1, 4, 4, 4)
    """)
ReplicationPad1d = _padding_class("ReplicationPad1d", 1, "replicate", """Repeat the edge value.

    >>> import nbgrad as nb
    >>> nb.nn.ReplicationPad1d(1)(nb.tensor([[1.0, 2.0]]))
    tensor([[1., 1., 2., 2.]])
    """)
ReplicationPad2d = _padding_class("ReplicationPad2d", 2, "replicate", """Repeat the edges
    of the last two dims.

    >>> import nbgrad as nb
    >>> nb.nn.ReplicationPad2d(1)(nb.zeros(1, 1, 1)).shape
    (1, 3, 3)
    """)
ReplicationPad3d = _padding_class("ReplicationPad3d", 3, "replicate", """Repeat the edges of
    the last three dims.

    >>> import nbgrad as nb
    >>> nb.nn.ReplicationPad3d(1)
    ReplicationPad3d((1, 1, 1, 1, 1, 1))
    """)
CircularPad1d = _padding_class("CircularPad1d", 1, "circular", """Wrap the last dim around.

    >>> import nbgrad as nb
    >>> nb.nn.CircularPad1d(1)(nb.tensor([[1.0, 2.0, 3.0]]))
    tensor([[3., 1., 2., 3., 1.]])
    """)
CircularPad2d = _padding_class("CircularPad2d", 2, "circular", """Wrap the last two dims.

    >>> import nbgrad as nb
    >>> nb.nn.CircularPad2d(1)
    CircularPad2d((1, 1, 1, 1))
    """)
CircularPad3d = _padding_class("CircularPad3d", 3, "circular", """Wrap the last three dims.

    >>> import nbgrad as nb
    >>> nb.nn.CircularPad3d(1)(nb.zeros(1, 1, 1, 1)).shape
    (1, 3, 3, 3)
    """)
