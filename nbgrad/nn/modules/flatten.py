"""``torch.nn.modules.flatten``.

>>> from nbgrad.nn.modules.flatten import Unflatten
>>> Unflatten(1, (2, 2)).unflattened_size
(2, 2)
"""

from nbgrad.nn.layers import Flatten, Unflatten  # noqa: F401

__all__ = ["Flatten", "Unflatten"]
