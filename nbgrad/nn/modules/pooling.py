"""``torch.nn.modules.pooling``: the layers of :mod:`nbgrad.nn.pooling`.

>>> import nbgrad.nn.modules.pooling as mod
>>> len(mod.__all__) > 0
True
"""

from nbgrad.nn import pooling as _impl
from nbgrad.nn.pooling import *  # noqa: F403

__all__ = list(_impl.__all__)
# PyTorch code subclasses the private bases (``_ConvNd``, ``_MaxPoolNd``, ...) too
globals().update({k: v for k, v in vars(_impl).items()
                  if k.startswith("_") and not k.startswith("__") and isinstance(v, type)})
