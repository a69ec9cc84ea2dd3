"""``torch.nn.modules.container``.

>>> from nbgrad.nn.modules.container import Sequential
>>> len(Sequential())
0
"""

from nbgrad.nn.container import (  # noqa: F401
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]
