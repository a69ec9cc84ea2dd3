"""``torch.nn.modules.module``: ``Module``.

>>> from nbgrad.nn.modules.module import Module
>>> Module.__name__
'Module'
"""

from nbgrad.nn.module import IncompatibleKeys, Module, RemovableHandle  # noqa: F401

__all__ = ["Module"]
