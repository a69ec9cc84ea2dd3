"""``torch.nn.modules.batchnorm`` (with the bases ``_NormBase`` and ``_BatchNorm``).

>>> from nbgrad.nn.modules.batchnorm import BatchNorm1d
>>> BatchNorm1d(2).num_features
2
"""

from nbgrad.nn.normalization import (  # noqa: F401
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    _BatchNorm,
    _NormBase,
)

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]
