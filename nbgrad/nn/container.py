"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``,
``ParameterDict``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.tensor import Tensor

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _index(idx: int, n: int, what: str) -> int:
    if not -n <= idx < n:
        raise IndexError(f"index {idx} is out of range for {what} of length {n}")
    return idx % n


class Sequential(Module):
    """Modules applied one after the other; built from modules or an ``OrderedDict``.

    >>> import nbgrad as nb
    >>> nb.nn.Sequential(nb.nn.Linear(2, 4), nb.nn.ReLU())
    Sequential(
      (0): Linear(in_features=2, out_features=4, bias=True)
      (1): ReLU()
    )
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input):
        """Feed ``input`` through every module in order.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Flatten(), nb.nn.ReLU())
        >>> net.forward(nb.tensor([[[-1.0], [2.0]]]))  # the same as net(...)
        tensor([[0., 2.]])
        """
        for module in self._modules.values():
            input = module(input)
        return input

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_index(idx, len(self), "Sequential")]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        for key in (keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(keys),
                                                                           "Sequential")]]):
            del self._modules[key]
        items = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def insert(self, index: int, module: Module) -> Sequential:
        """Insert ``module`` before position ``index``; returns self.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.ReLU()).insert(0, nb.nn.Tanh())
        >>> list(net)
        [Tanh(), ReLU()]
        """
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m
        return self

    def extend(self, sequential) -> Sequential:
        """Append every module of ``sequential`` (any iterable of modules); returns self.

        >>> import nbgrad as nb
        >>> len(nb.nn.Sequential(nb.nn.ReLU()).extend([nb.nn.Tanh(), nb.nn.ReLU()]))
        3
        """
        for layer in sequential:
            self.append(layer)
        return self

    def pop(self, key) -> Module:
        """Remove and return the module at position ``key``.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.ReLU(), nb.nn.Tanh())
        >>> net.pop(0), list(net)
        (ReLU(), [Tanh()])
        """
        v = self[key]
        del self[key]
        return v

    def __add__(self, other) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return self.extend(list(other))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Linear(2, 2)).append(nb.nn.ReLU())
        >>> len(net), net[-1]
        (2, ReLU())
        """
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered (plain lists are invisible to
    ``parameters()``).

    >>> import nbgrad as nb
    >>> layers = nb.nn.ModuleList([nb.nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), len(list(layers.parameters()))
    (3, 6)
    >>> x = nb.ones(1, 2)
    >>> for layer in layers:
    ...     x = layer(x).tanh()
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, modules: list) -> None:
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(mods[idx])
        return mods[_index(idx, len(mods), "ModuleList")]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)

    def __delitem__(self, idx) -> None:
        mods = list(self._modules.values())
        if isinstance(idx, slice):
            del mods[idx]
        else:
            del mods[_index(idx, len(mods), "ModuleList")]
        self._renumber(mods)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self.

        >>> import nbgrad as nb
        >>> nb.nn.ModuleList().append(nb.nn.Tanh())
        ModuleList(
          (0): Tanh()
        )
        """
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append every module of ``modules``; returns self.

        >>> import nbgrad as nb
        >>> layers = nb.nn.ModuleList([nb.nn.ReLU()]).extend([nb.nn.Tanh(), nb.nn.GELU()])
        >>> [type(m).__name__ for m in layers]
        ['ReLU', 'Tanh', 'GELU']
        """
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index``.

        >>> import nbgrad as nb
        >>> layers = nb.nn.ModuleList([nb.nn.ReLU(), nb.nn.Tanh()])
        >>> layers.insert(1, nb.nn.SiLU())
        >>> [type(m).__name__ for m in layers]
        ['ReLU', 'SiLU', 'Tanh']
        """
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)

    def forward(self, *args, **kwargs):
        """A ModuleList has no forward: iterate over it instead.

        >>> import nbgrad as nb
        >>> nb.nn.ModuleList([nb.nn.ReLU()])(nb.zeros(1))
        Traceback (most recent call last):
            ...
        NotImplementedError: ModuleList is not callable; iterate over its modules
        """
        raise NotImplementedError("ModuleList is not callable; iterate over its modules")


class ModuleDict(Module):
    """Sub-modules by name, in insertion order (registered, so their parameters are found).

    >>> import nbgrad as nb
    >>> d = nb.nn.ModuleDict({"enc": nb.nn.Linear(2, 3), "act": nb.nn.ReLU()})
    >>> list(d.keys()), d["act"]
    (['enc', 'act'], ReLU())
    """

    def __init__(self, modules=None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def clear(self) -> None:
        """Remove every entry.

        >>> import nbgrad as nb
        >>> d = nb.nn.ModuleDict({"a": nb.nn.ReLU()})
        >>> d.clear(); len(d)
        0
        """
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Remove and return the module under ``key``.

        >>> import nbgrad as nb
        >>> nb.nn.ModuleDict({"a": nb.nn.ReLU()}).pop("a")
        ReLU()
        """
        v = self[key]
        del self[key]
        return v

    def keys(self):
        """The names.

        >>> import nbgrad as nb
        >>> list(nb.nn.ModuleDict({"a": nb.nn.ReLU()}).keys())
        ['a']
        """
        return self._modules.keys()

    def items(self):
        """``(name, module)`` pairs.

        >>> import nbgrad as nb
        >>> list(nb.nn.ModuleDict({"a": nb.nn.ReLU()}).items())
        [('a', ReLU())]
        """
        return self._modules.items()

    def values(self):
        """The modules.

        >>> import nbgrad as nb
        >>> list(nb.nn.ModuleDict({"a": nb.nn.ReLU()}).values())
        [ReLU()]
        """
        return self._modules.values()

    def update(self, modules) -> None:
        """Add entries from a mapping or an iterable of ``(name, module)`` pairs.

        >>> import nbgrad as nb
        >>> d = nb.nn.ModuleDict()
        >>> d.update([("a", nb.nn.ReLU())]); list(d)
        ['a']
        """
        if hasattr(modules, "items"):
            pairs = modules.items()
        else:
            pairs = []
            for j, m in enumerate(modules):
                if not isinstance(m, (tuple, list)) or len(m) != 2:
                    raise ValueError(f"ModuleDict update sequence element #{j} should be "
                                     f"Iterable; is {type(m).__name__}" if not isinstance(
                                         m, (tuple, list)) else
                                     f"ModuleDict update sequence element #{j} has length "
                                     f"{len(m)}; 2 is required")
                pairs.append(m)
        for k, m in pairs:
            self[k] = m


def _as_parameter(value):
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


class ParameterList(Module):
    """Parameters in a list (plain tensors are wrapped as ``Parameter``); registered as
    ``"0"``, ``"1"``, ...

    >>> import nbgrad as nb
    >>> pl = nb.nn.ParameterList([nb.zeros(2), nb.nn.Parameter(nb.ones(3))])
    >>> [(n, p.shape) for n, p in pl.named_parameters()]
    [('0', (2,)), ('1', (3,))]
    """

    def __init__(self, values=None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _key(self, idx: int) -> str:
        return str(_index(idx, self._size, "ParameterList"))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(self._size)[idx]])
        key = self._key(idx)
        return self._parameters.get(key, self.__dict__.get(f"_plain_{key}"))

    def __setitem__(self, idx: int, param) -> None:
        key = self._key(idx)
        param = _as_parameter(param)
        if isinstance(param, Parameter):
            self.register_parameter(key, param)
        else:
            self.__dict__[f"_plain_{key}"] = param

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter(self[i] for i in range(self._size))

    def __iadd__(self, parameters) -> ParameterList:
        return self.extend(parameters)

    def append(self, value) -> ParameterList:
        """Add ``value`` at the end; returns self.

        >>> import nbgrad as nb
        >>> len(nb.nn.ParameterList().append(nb.zeros(1)))
        1
        """
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values) -> ParameterList:
        """Append every value; returns self.

        >>> import nbgrad as nb
        >>> len(nb.nn.ParameterList().extend([nb.zeros(1), nb.ones(1)]))
        2
        """
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        lines = []
        for i, p in enumerate(self):
            if isinstance(p, Tensor):
                kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
                size = "x".join(str(s) for s in p.shape)
                lines.append(f"  ({i}): {kind} containing: [{p.dtype} of size {size}]")
            else:
                lines.append(f"  ({i}): Object of type: {type(p).__name__}")
        return "\n".join(lines)


class ParameterDict(Module):
    """Parameters by name (plain tensors are wrapped as ``Parameter``).

    >>> import nbgrad as nb
    >>> pd = nb.nn.ParameterDict({"scale": nb.ones(2)})
    >>> list(pd.keys()), isinstance(pd["scale"], nb.nn.Parameter)
    (['scale'], True)
    """

    def __init__(self, parameters=None) -> None:
        super().__init__()
        self._keys: dict = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str):
        if key in self._parameters:
            return self._parameters[key]
        if key in self._keys:
            return self.__dict__[f"_plain_{key}"]
        raise KeyError(key)

    def __setitem__(self, key: str, value) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict keys must be strings, got {type(key).__name__}")
        self._keys[key] = None
        value = _as_parameter(value)
        if isinstance(value, Parameter):
            self.register_parameter(key, value)
        else:
            self.__dict__[f"_plain_{key}"] = value

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        self._parameters.pop(key, None)
        self.__dict__.pop(f"_plain_{key}", None)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return iter(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._keys

    def keys(self):
        """The names.

        >>> import nbgrad as nb
        >>> list(nb.nn.ParameterDict({"a": nb.ones(1)}).keys())
        ['a']
        """
        return self._keys.keys()

    def items(self):
        """``(name, parameter)`` pairs.

        >>> import nbgrad as nb
        >>> [k for k, _ in nb.nn.ParameterDict({"a": nb.ones(1)}).items()]
        ['a']
        """
        return [(k, self[k]) for k in self._keys]

    def values(self):
        """The parameters.

        >>> import nbgrad as nb
        >>> len(nb.nn.ParameterDict({"a": nb.ones(1)}).values())
        1
        """
        return [self[k] for k in self._keys]

    def get(self, key: str, default=None):
        """The parameter under ``key``, or ``default``.

        >>> import nbgrad as nb
        >>> nb.nn.ParameterDict().get("missing", 0)
        0
        """
        return self[key] if key in self._keys else default

    def pop(self, key: str):
        """Remove and return the entry under ``key``.

        >>> import nbgrad as nb
        >>> nb.nn.ParameterDict({"a": nb.ones(1)}).pop("a").shape
        (1,)
        """
        v = self[key]
        del self[key]
        return v

    def clear(self) -> None:
        """Remove every entry.

        >>> import nbgrad as nb
        >>> pd = nb.nn.ParameterDict({"a": nb.ones(1)})
        >>> pd.clear(); len(pd)
        0
        """
        for k in list(self._keys):
            del self[k]

    def update(self, parameters) -> None:
        """Add entries from a mapping or ``(name, value)`` pairs.

        >>> import nbgrad as nb
        >>> pd = nb.nn.ParameterDict()
        >>> pd.update({"w": nb.zeros(2)}); list(pd)
        ['w']
        """
        pairs = parameters.items() if hasattr(parameters, "items") else parameters
        for k, v in pairs:
            self[k] = v
