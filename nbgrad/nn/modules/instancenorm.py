"""``torch.nn.modules.instancenorm``.

>>> from nbgrad.nn.modules.instancenorm import InstanceNorm1d
>>> InstanceNorm1d(2).affine
False
"""

from nbgrad.nn.normalization import (  # noqa: F401
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    _InstanceNorm,
)

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]
