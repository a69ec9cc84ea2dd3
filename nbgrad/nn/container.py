"""Containers: ``Sequential`` and ``ModuleList``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from nbgrad.nn.module import Module

__all__ = ["Sequential", "ModuleList"]


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
