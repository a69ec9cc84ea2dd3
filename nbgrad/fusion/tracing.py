"""Tracing: what a compiled function does, observed through the dispatch point's tracing hook.

A :class:`_Recorder` is the tracer (``nbgrad/_tracing.py``) active while a compiled function runs
for the first time with a new signature: the dispatch point hands it every op run at depth 0 (not
from inside another op) with its inputs, parameters, the grad mode it ran under and its result;
it also hears of the tensors made outside ops and of anything a trace cannot replay (in-place
ops, host reads, backward, hooks), which makes that signature run eagerly.
"""

from __future__ import annotations

import numpy as np

from nbgrad import _tracing
from nbgrad.ops import elementwise as _ew
from nbgrad.tensor import Tensor

_SCALARS = (bool, int, float)
_INT64 = (-(1 << 63), (1 << 63) - 1)

# --------------------------------------------------------------------------- recording ops


class _Recorder(_tracing.Tracer):
    """Records the ops run at depth 0 and the tensors made outside ops while active; ``failed``
    is the first reason the recorded code cannot be replayed (None: it can)."""

    def __init__(self, mode=None) -> None:
        self.events: list = []  # (op, inputs, params, mode, result)
        self.made: dict = {}  # id -> tensor created outside an op while recording
        self.failed: str | None = None
        self.mode = mode  # the grad mode the traced call started under

    def on_apply(self, op, inputs, params, mode, result) -> None:
        self.events.append((op, inputs, params, mode, result))

    def on_inplace(self, op, target, others, params, mode) -> None:
        self.on_opaque("an in-place op")

    def on_made(self, tensor) -> None:
        self.made[id(tensor)] = tensor

    def on_opaque(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason

    def run(self, fn, *args, **kwargs):
        """Call ``fn`` with this recorder as the active tracer (of this context only)."""
        with _tracing.tracing(self):
            return fn(*args, **kwargs)


class _Unsupported(Exception):
    """Raised while planning: the traced function must run eagerly (the message says why)."""


def _has_array(obj) -> bool:
    if isinstance(obj, (np.ndarray, Tensor)):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_has_array(o) for o in obj)
    if isinstance(obj, dict):
        return any(_has_array(o) for o in obj.values())
    return False


def _is_scalar_const(x) -> bool:
    return type(x) in _SCALARS and (type(x) is not int or _INT64[0] <= x <= _INT64[1])


def _fusable_op(op) -> bool:
    """Table rows with the stock forward (subclasses with their own checks stay eager)."""
    cls = type(op)
    return (isinstance(op, _ew.Elementwise) and cls.forward is _ew.Elementwise.forward
            and cls._prepare is _ew.Elementwise._prepare and op.n_outputs == 1)


# --------------------------------------------------------------------------- flattening


def _flatten(obj, leaves: list):
    """Append the leaves of nested tuples/lists/dicts to ``leaves``; return the structure."""
    t = type(obj)
    if t is tuple or t is list:
        return (t, tuple(_flatten(o, leaves) for o in obj))
    if t is dict:
        return (dict, tuple(obj), tuple(_flatten(o, leaves) for o in obj.values()))
    leaves.append(obj)
    return None


def _unflatten(tree, it):
    if tree is None:
        return next(it)
    if tree[0] is dict:
        return {k: _unflatten(sub, it) for k, sub in zip(tree[1], tree[2])}
    return tree[0](_unflatten(sub, it) for sub in tree[1])


def _signature(leaves: list):
    """The cache key of one call (None: an argument type this cannot key)."""
    items = []
    seen: dict = {}
    for i, x in enumerate(leaves):
        if isinstance(x, Tensor):
            first = seen.setdefault(id(x), i)
            d = x._data
            items.append((d.shape, d.dtype, x.requires_grad, x._device, first))
        elif type(x) in _SCALARS or x is None or type(x) is str:
            items.append((type(x), x))
        else:
            items.append(("obj", id(x)))
    return tuple(items)

