"""``torch.nn.modules.linear``.

>>> from nbgrad.nn.modules.linear import Linear
>>> Linear(2, 3).weight.shape
(3, 2)
"""

from nbgrad.nn.layers import Bilinear, Identity, Linear  # noqa: F401

__all__ = ["Identity", "Linear", "Bilinear"]
