"""``torch.nn.modules.conv``: the layers of :mod:`nbgrad.nn.conv`.

>>> import nbgrad.nn.modules.conv as mod
>>> len(mod.__all__) > 0
True
"""

from nbgrad.nn import conv as _impl
from nbgrad.nn.conv import *  # noqa: F403

__all__ = list(_impl.__all__)
# PyTorch code subclasses the private bases (``_ConvNd``, ``_MaxPoolNd``, ...) too
globals().update({k: v for k, v in vars(_impl).items()
                  if k.startswith("_") and not k.startswith("__") and isinstance(v, type)})
