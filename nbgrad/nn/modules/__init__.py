"""``nbgrad.nn.modules``: PyTorch's ``torch.nn.modules`` paths (``.module``, ``.loss``,
``.batchnorm``, ``.rnn``, ...), re-exporting the layers of :mod:`nbgrad.nn` so that imports such as
``from torch.nn.modules.loss import _Loss`` port by changing the package name.

>>> import nbgrad as nb
>>> from nbgrad.nn.modules.batchnorm import _BatchNorm
>>> issubclass(nb.nn.BatchNorm2d, _BatchNorm)
True
"""

from nbgrad.nn import *  # noqa: F403
from nbgrad.nn import __all__ as _nn_all
from nbgrad.nn.modules import (  # noqa: F401
    activation,
    batchnorm,
    container,
    conv,
    distance,
    dropout,
    flatten,
    instancenorm,
    linear,
    loss,
    module,
    normalization,
    padding,
    pooling,
    rnn,
    sparse,
    transformer,
    utils,
)

__all__ = [n for n in _nn_all if n not in ("functional", "init", "utils")]
