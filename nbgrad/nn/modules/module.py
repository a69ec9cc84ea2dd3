"""``torch.nn.modules.module``: ``Module``.

>>> from nbgrad.nn.modules.module import Module
>>> Module.__name__
'Module'
"""

from nbgrad.nn.module import (  # noqa: F401
    IncompatibleKeys,
    Module,
    RemovableHandle,
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_full_backward_hook,
    register_module_full_backward_pre_hook,
)

__all__ = ["Module", "register_module_forward_pre_hook", "register_module_forward_hook",
           "register_module_full_backward_hook", "register_module_full_backward_pre_hook"]
