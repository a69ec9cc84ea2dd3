"""``torch.nn.modules.padding``: the layers of :mod:`nbgrad.nn.padding`.

>>> import nbgrad.nn.modules.padding as mod
>>> len(mod.__all__) > 0
True
"""

from nbgrad.nn import padding as _impl
from nbgrad.nn.padding import *  # noqa: F403

__all__ = list(_impl.__all__)
# PyTorch code subclasses the private bases (``_ConvNd``, ``_MaxPoolNd``, ...) too
globals().update({k: v for k, v in vars(_impl).items()
                  if k.startswith("_") and not k.startswith("__") and isinstance(v, type)})
