"""Parametrizations (PyTorch's ``torch.nn.utils.parametrize``): a tensor of a module computed
from an ``original`` by a small module, recomputed at each access.

>>> import nbgrad as nb
>>> from nbgrad.nn.utils import parametrize
>>> class Symmetric(nb.nn.Module):
...     def forward(self, x):
...         return x.triu() + x.triu(1).transpose(0, 1)
>>> m = nb.nn.Linear(3, 3)
>>> _ = parametrize.register_parametrization(m, "weight", Symmetric())
>>> w = m.weight.detach().numpy()
>>> bool((w == w.T).all())
True
"""

from __future__ import annotations

import contextlib

from nbgrad.grad_mode import no_grad
from nbgrad.nn.container import ModuleDict, ModuleList
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.tensor import Tensor

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized",
           "type_before_parametrizations", "cached", "ParametrizationList"]

_cache_enabled = 0
_cache: dict = {}


@contextlib.contextmanager
def cached():
    """Inside this context a parametrized tensor is computed once per access site and
    reused (as PyTorch's ``parametrize.cached()``).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils import parametrize
    >>> with parametrize.cached():
    ...     pass
    """
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, with the unconstrained ``original`` (or
    ``original0``, ``original1``, ... when ``right_inverse`` returns several tensors).

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.parametrizations.weight_norm(nb.nn.Linear(2, 2))
    >>> type(m.parametrizations.weight).__name__, len(m.parametrizations.weight)
    ('ParametrizationList', 1)
    """

    def __init__(self, modules, original: Tensor, unsafe: bool = False) -> None:
        super().__init__(modules)
        self.unsafe = unsafe
        with no_grad():
            new = original
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    new = m.right_inverse(new)
        self.is_tensor = isinstance(new, Tensor)
        self.ntensors = 1 if self.is_tensor else len(new)
        if self.is_tensor:
            if isinstance(original, Parameter):
                with no_grad():
                    if new.shape == original.shape:
                        original.copy_(new)
                        value = original
                    else:
                        value = Parameter(new.detach().clone(), original.requires_grad)
                self.register_parameter("original", value)
            else:
                self.register_buffer("original", new.detach().clone())
        else:
            for i, t in enumerate(new):
                if isinstance(original, Parameter):
                    self.register_parameter(f"original{i}",
                                            Parameter(t.detach().clone(),
                                                      original.requires_grad))
                else:
                    self.register_buffer(f"original{i}", t.detach().clone())

    def right_inverse(self, value: Tensor) -> None:
        """Set the originals so that the parametrized tensor is ``value``.

        >>> import nbgrad as nb
        >>> from nbgrad.nn.utils import parametrize
        >>> class Double(nb.nn.Module):
        ...     def forward(self, x):
        ...         return 2 * x
        ...     def right_inverse(self, y):
        ...         return y / 2
        >>> m = nb.nn.Linear(1, 1)
        >>> _ = parametrize.register_parametrization(m, "bias", Double())
        >>> m.bias = nb.tensor([4.0])
        >>> m.parametrizations.bias.original.tolist()
        [2.0]
        """
        with no_grad():
            for m in reversed(list(self)):
                if hasattr(m, "right_inverse"):
                    value = m.right_inverse(value)
                elif not isinstance(value, Tensor):
                    raise ValueError("parametrization without right_inverse cannot invert a "
                                     "tuple of tensors")
            if self.is_tensor:
                self.original.copy_(value)
            else:
                for i, t in enumerate(value):
                    getattr(self, f"original{i}").copy_(t)

    def forward(self) -> Tensor:
        """The parametrized tensor.

        >>> import nbgrad as nb
        >>> m = nb.nn.utils.parametrizations.weight_norm(nb.nn.Linear(2, 2))
        >>> m.parametrizations.weight().shape
        (2, 2)
        """
        mods = list(self)
        if self.is_tensor:
            x = mods[0](self.original)
        else:
            x = mods[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in mods[1:]:
            x = m(x)
        return x


def _inject_new_class(module: Module) -> None:
    cls = module.__class__
    new_cls = type(f"Parametrized{cls.__name__}", (cls,), {
        "_original_class": cls,
    })
    object.__setattr__(module, "__class__", new_cls)


def _inject_property(module: Module, name: str) -> None:
    def getter(self):
        plist = self.parametrizations[name]
        if _cache_enabled:
            key = (id(self), name)
            if key not in _cache:
                _cache[key] = plist()
            return _cache[key]
        return plist()

    def setter(self, value):
        self.parametrizations[name].right_inverse(value)

    setattr(module.__class__, name, property(getter, setter))


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` (or its ``tensor_name``) has parametrizations.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils import parametrize
    >>> parametrize.is_parametrized(nb.nn.Linear(2, 2))
    False
    """
    plists = module.__dict__.get("_modules", {}).get("parametrizations")
    if not isinstance(plists, ModuleDict):
        return False
    return len(plists) > 0 if tensor_name is None else tensor_name in plists


def type_before_parametrizations(module: Module) -> type:
    """The class of ``module`` before any parametrization was registered.

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.parametrizations.weight_norm(nb.nn.Linear(2, 2))
    >>> nb.nn.utils.parametrize.type_before_parametrizations(m).__name__
    'Linear'
    """
    if is_parametrized(module):
        return module.__class__._original_class
    return type(module)


def register_parametrization(module: Module, tensor_name: str, parametrization: Module,
                             *, unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` the output of ``parametrization`` applied to an
    unconstrained ``module.parametrizations.<tensor_name>.original``; registering a second
    parametrization on the same tensor chains it.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils import parametrize
    >>> class Positive(nb.nn.Module):
    ...     def forward(self, x):
    ...         return x.exp()
    >>> m = parametrize.register_parametrization(nb.nn.Linear(2, 1), "bias", Positive())
    >>> sorted(m.state_dict())
    ['parametrizations.bias.original', 'weight']
    """
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            current = getattr(module, tensor_name)
            out = parametrization(current)
            if not isinstance(out, Tensor) or out.shape != current.shape:
                raise ValueError("Registering a parametrization may not change the shape of "
                                 "the tensor, unless `unsafe` flag is enabled.")
        plist.append(parametrization)
        return module
    if tensor_name not in module._parameters and tensor_name not in module._buffers:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a "
                         f"parametrized element with name '{tensor_name}'")
    original = getattr(module, tensor_name)
    plist = ParametrizationList([parametrization], original, unsafe=unsafe)
    if not unsafe:
        out = plist()
        if not isinstance(out, Tensor):
            raise ValueError(f"A parametrization must return a tensor. Got "
                             f"{type(out).__name__}.")
        if out.shape != original.shape:
            raise ValueError("Registering a parametrization may not change the shape of the "
                             f"tensor, unless `unsafe` flag is enabled.\nunparametrized shape: "
                             f"{original.shape}\nparametrized shape: {out.shape}")
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    _inject_property(module, tensor_name)
    module.parametrizations[tensor_name] = plist
    return module


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Undo :func:`register_parametrization`: ``tensor_name`` becomes a plain parameter
    again, holding the parametrized value (or the original with ``leave_parametrized=False``).

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.parametrizations.weight_norm(nb.nn.Linear(2, 2))
    >>> m = nb.nn.utils.parametrize.remove_parametrizations(m, "weight")
    >>> type(m).__name__, sorted(m.state_dict())
    ('Linear', ['bias', 'weight'])
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    plist = module.parametrizations[tensor_name]
    if leave_parametrized:
        with no_grad():
            value = getattr(module, tensor_name).detach().clone()
        requires = (plist.original if plist.is_tensor else plist.original0).requires_grad
        new = Parameter(value, requires)
    else:
        if not plist.is_tensor:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                             "that is parametrized in terms of a sequence of tensors.")
        new = plist.original if isinstance(plist.original, Parameter) else \
            Parameter(plist.original.detach())
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    module.register_parameter(tensor_name, new)
    if not is_parametrized(module):
        del module._modules["parametrizations"]
        object.__setattr__(module, "__class__", module.__class__._original_class)
    return module
