"""``torch.nn.modules.dropout``.

>>> from nbgrad.nn.modules.dropout import Dropout
>>> Dropout(0.2).p
0.2
"""

from nbgrad.nn.layers import (  # noqa: F401
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    _DropoutNd,
)

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]
