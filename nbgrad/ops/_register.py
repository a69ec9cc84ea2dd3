"""The one registry of public op names: every ``nb.<name>`` function and every ``Tensor``
method, in-place method, operator and property is declared here, next to its op, once.

An op module declares the public faces of an op with :func:`register` (a decorator, or a call
for objects made by a factory). Each declared name becomes an :class:`Entry` with its kind;
``Tensor`` members are set on the class right here (the one place that does so), ``nb.<name>``
comes from :func:`functions`, and ``docs/gen_ops.py``, ``scripts/gen_stubs.py`` (the
``nbgrad/tensor.pyi`` stub) and the table-driven tests read :func:`entries`. A higher layer
declares a ``Tensor`` method the same way.

>>> import nbgrad as nb
>>> from nbgrad.ops import _register
>>> e = _register.entry("Tensor", "__add__")
>>> e.kind, e.obj is nb.Tensor.__add__, e.doc.name
('dunder', True, 'Add')
"""

from __future__ import annotations

from dataclasses import dataclass

from nbgrad.tensor import Tensor

__all__ = ["Doc", "Entry", "register", "entries", "entry", "functions", "KINDS"]

KINDS = ("function", "method", "inplace", "dunder", "property")

# What tensor.py itself defines on Tensor: a declaration may not replace it.
_OWN = frozenset(vars(Tensor))


@dataclass(frozen=True)
class Doc:
    """The row of an op that is not an elementwise table row in the op reference
    (``docs/ops.md``): its section, the dtypes it takes and how its gradient is formed."""

    section: str
    dtypes: str
    grad: str


@dataclass(frozen=True)
class Entry:
    """One public name: ``kind`` is one of :data:`KINDS`; ``obj`` is what the name holds (a
    ``property`` for kind "property"); ``doc`` is the op's reference row (a :class:`Doc` or an
    elementwise table row), shared by every name of one op, or None."""

    name: str
    kind: str
    obj: object
    doc: object = None

    @property
    def owner(self) -> str:
        """``"nb"`` for a function, ``"Tensor"`` for a member of the class."""
        return "nb" if self.kind == "function" else "Tensor"


_ENTRIES: dict[tuple[str, str], Entry] = {}


def _names(spec, target) -> tuple[str, ...]:
    if spec is True:
        return (target.__name__,)
    if not spec:
        return ()
    return (spec,) if isinstance(spec, str) else tuple(spec)


def register(obj=None, *, function=(), method=(), inplace=(), dunder=(), prop=(), doc=None):
    """Declare the public names of ``obj``: ``function`` (``nb.<name>``), ``method``,
    ``inplace`` (``Tensor.<name>_``), ``dunder`` (``Tensor.__add__`` ...) and ``prop``
    (``Tensor.T``). Each takes a name, a tuple of names, or True for ``obj.__name__``. Use it as
    a decorator (``@register(function=True, method=True)``) or call it with ``obj``; it returns
    ``obj``.

    >>> from nbgrad.ops._register import register
    >>> register(lambda self: self, method="exp")
    Traceback (most recent call last):
    ValueError: Tensor.exp is declared twice
    """

    def declare(target):
        for kind, spec in (("function", function), ("method", method), ("inplace", inplace),
                           ("dunder", dunder), ("property", prop)):
            for name in _names(spec, target):
                _add(Entry(name, kind, property(target) if kind == "property" else target, doc))
        return target

    return declare if obj is None else declare(obj)


def _add(e: Entry) -> None:
    key = (e.owner, e.name)
    if key in _ENTRIES:
        raise ValueError(f"{e.owner}.{e.name} is declared twice")
    if e.kind == "dunder" and not (e.name.startswith("__") and e.name.endswith("__")):
        raise ValueError(f"{e.name!r} is declared as a dunder but is not one")
    if e.owner == "Tensor":
        if e.name in _OWN:
            raise ValueError(f"Tensor.{e.name} is defined in nbgrad/tensor.py already")
        setattr(Tensor, e.name, e.obj)
    _ENTRIES[key] = e


def entries(kind: str | None = None) -> list[Entry]:
    """Every declared name (of one kind, when given), in declaration order.

    >>> from nbgrad.ops._register import entries
    >>> [e.name for e in entries("property")][-2:]
    ['T', 'mT']
    """
    return [e for e in _ENTRIES.values() if kind is None or e.kind == kind]


def entry(owner: str, name: str) -> Entry:
    """The entry of ``nb.<name>`` (owner ``"nb"``) or ``Tensor.<name>`` (owner ``"Tensor"``).

    >>> from nbgrad.ops._register import entry
    >>> entry("nb", "clip").obj is entry("nb", "clamp").obj
    True
    """
    return _ENTRIES[(owner, name)]


def functions() -> dict[str, object]:
    """``name -> function`` for every ``nb.<name>``.

    >>> from nbgrad.ops._register import functions
    >>> import nbgrad as nb
    >>> functions()["exp"] is nb.exp
    True
    """
    return {e.name: e.obj for e in _ENTRIES.values() if e.kind == "function"}
