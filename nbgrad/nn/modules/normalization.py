"""``torch.nn.modules.normalization``.

>>> from nbgrad.nn.modules.normalization import LayerNorm
>>> LayerNorm(3).normalized_shape
(3,)
"""

from nbgrad.nn.normalization import (  # noqa: F401
    GroupNorm,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)

__all__ = ["LayerNorm", "GroupNorm", "LocalResponseNorm", "RMSNorm"]
