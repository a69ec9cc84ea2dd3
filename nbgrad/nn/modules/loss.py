"""``torch.nn.modules.loss`` (with the bases ``_Loss`` and ``_WeightedLoss``).

>>> from nbgrad.nn.modules.loss import _Loss
>>> _Loss(reduction="sum").reduction
'sum'
"""

from nbgrad.nn.loss import *  # noqa: F403
from nbgrad.nn.loss import (  # noqa: F401
    __all__,  # noqa: F401
    _Loss,
    _WeightedLoss,
)
