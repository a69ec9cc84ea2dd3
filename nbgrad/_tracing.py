"""The tracing hook: how a tracer (``nb.compile``) observes what a function does.

A *tracer* is an object with the four methods of :class:`Tracer`. :func:`tracing` makes it the
active tracer of the current context (a :class:`contextvars.ContextVar`, so a trace in one thread
or asyncio task never sees another's ops; tracers nest like a stack). While it is active:

- the one dispatch point (``ops/_dispatch.py``) reports every op it runs at depth 0 with
  :meth:`Tracer.on_apply` (op, inputs, params, the grad mode it ran under, result) and every
  in-place update with :meth:`Tracer.on_inplace`; ops run *inside* a reported op (its gradient
  rule, a composite's inner ops, a view's replay) are hidden from the tracer;
- tensors made outside an op (factories, ``detach()``, ``.data``, a custom Function's outputs)
  are reported with :meth:`Tracer.on_made`;
- what a trace cannot capture (reading values in Python, running backward, registering hooks)
  is reported with :meth:`Tracer.on_opaque` and a reason.

This module is at the bottom of the layers (it knows no tensors): the places that report import
it, never the other way round. With no tracer active anywhere, a report costs one check of
:data:`active` (a module global).

>>> from nbgrad import _tracing
>>> class Reasons(_tracing.Tracer):
...     def __init__(self):
...         self.reasons = []
...     def on_opaque(self, reason):
...         self.reasons.append(reason)
>>> t = Reasons()
>>> with _tracing.tracing(t):
...     _tracing.note_opaque("reads tensor values in Python")
>>> _tracing.note_opaque("not traced")
>>> t.reasons
['reads tensor values in Python']
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["Tracer", "tracing", "tracer_var", "current", "note_made", "note_opaque"]

tracer_var: contextvars.ContextVar = contextvars.ContextVar("nbgrad_tracer", default=None)
"""The active tracer of this context (None: not traced, or inside an op being reported)."""

active = 0
"""How many tracers are active in any context: the one check reporting places make first."""

_lock = threading.Lock()


class Tracer:
    """The interface a tracer implements; every method defaults to ignoring the report.

    >>> Tracer().on_opaque("anything") is None
    True
    """

    def on_apply(self, op: Any, inputs: tuple, params: Any, mode: Any, result: Any) -> None:
        """Op ``op`` ran at depth 0 on ``inputs`` (Tensors and Python values) with ``params``
        under grad mode ``mode`` (a ``grad_mode.Mode``) and returned ``result`` (a Tensor or
        a tuple of them)."""

    def on_inplace(self, op: Any, target: Any, others: tuple, params: Any, mode: Any) -> None:
        """Op ``op`` is about to update ``target`` in place (with operands ``others``)."""

    def on_made(self, tensor: Any) -> None:
        """``tensor`` was made outside any op (a factory, ``detach()``, ``.data``...)."""

    def on_opaque(self, reason: str) -> None:
        """The traced code did something a trace cannot capture; ``reason`` says what."""


@contextlib.contextmanager
def tracing(tracer: Tracer) -> Iterator[Tracer]:
    """Make ``tracer`` the active tracer of this context for the ``with`` block.

    >>> with tracing(Tracer()) as t:
    ...     current() is t
    True
    >>> current() is None
    True
    """
    global active
    with _lock:
        active += 1
    token = tracer_var.set(tracer)
    try:
        yield tracer
    finally:
        tracer_var.reset(token)
        with _lock:
            active -= 1


def current() -> Tracer | None:
    """The tracer that reports in this context go to, or None.

    >>> current() is None
    True
    """
    return tracer_var.get() if active else None


def note_made(tensor: Any) -> None:
    """Report a tensor made outside any op to the active tracer (if any).

    >>> note_made(object())  # no tracer active: nothing happens
    """
    if active:
        tracer = tracer_var.get()
        if tracer is not None:
            tracer.on_made(tensor)


def note_opaque(reason: str) -> None:
    """Report something a trace cannot capture to the active tracer (if any).

    >>> note_opaque("reads tensor values in Python")  # no tracer active: nothing happens
    """
    if active:
        tracer = tracer_var.get()
        if tracer is not None:
            tracer.on_opaque(reason)
