"""View bookkeeping: how a view is made, which views a base has, and when a view may be written.

A view shares its base's storage and version counter. It remembers the steps that rebuild it
from its base (``_view_steps``) and how it came to be (``_view_meta``: made while recording,
under ``no_grad`` from a tensor that requires grad, or in inference mode). A base keeps weak
references to its views, so that when the base's history changes (an in-place op on it or on one
of its views), the dispatch point refreshes every live view there and then — an explicit step;
reading ``requires_grad`` or ``grad_fn`` never runs an op.
"""

from __future__ import annotations

import weakref

from nbgrad import errors
from nbgrad._graph import VIEW_INFERENCE, VIEW_NO_GRAD, VIEW_NORMAL
from nbgrad.tensor import Tensor, _make

__all__ = ["make_view", "views_to_refresh", "adopt_history", "check_view_inplace",
           "move_retained"]

_FIRST_PRUNE = 8  # a base prunes dead references once it holds this many (then at twice the live)


def make_view(src: Tensor, data, op, params, mode) -> Tensor:
    """The tensor for ``data``, a view of ``src`` made by ``op`` with ``params`` in ``mode``."""
    t = _make(data, src._version_counter)
    base = src if src._base is None else src._base
    t._base = base
    t._view_steps = src._view_steps + ((op, params),)
    meta = src._view_meta
    if meta == VIEW_NORMAL and src._version_counter is not None:
        if mode.inference:
            meta = VIEW_INFERENCE
        elif not mode.grad and src._requires_grad:
            meta = VIEW_NO_GRAD
    t._view_meta = meta
    if meta != VIEW_NORMAL:  # remembered to detect a later rebase of the base
        t._base_fn = base._grad_fn
    elif src._version_counter is not None:
        _track(base, t)
    return t


def _track(base: Tensor, view: Tensor) -> None:
    views = base._views
    if views is None:
        base._views = views = [_FIRST_PRUNE]  # slot 0: the length at which to prune next
    views.append(weakref.ref(view))
    if len(views) > views[0]:
        live = [r for r in views[1:] if r() is not None]
        views[:] = [max(_FIRST_PRUNE, 2 * len(live) + 1), *live]


def views_to_refresh(base: Tensor) -> list[Tensor]:
    """The live views of ``base`` whose history predates the base's current history."""
    views = base._views
    if views is None or not base._requires_grad:
        return []
    fn = base._grad_fn
    found = []
    for ref in views[1:]:
        view = ref()
        if view is not None and view._base_fn is not fn:
            found.append(view)
    return found


def adopt_history(view: Tensor, fresh: Tensor) -> None:
    """Give ``view`` the history of ``fresh``, a replay of its steps on the current base."""
    if view._retains_grad and fresh._grad_fn is not None:
        move_retained(view, fresh._grad_fn, fresh._output_nr)
    view._grad_fn = fresh._grad_fn
    view._output_nr = fresh._output_nr
    view._requires_grad = fresh._requires_grad
    view._base_fn = view._base._grad_fn


def check_view_inplace(target: Tensor) -> None:
    """Refuse writing in place to a view when autograd could not differentiate it."""
    base = target._base
    if target._view_meta == VIEW_NO_GRAD:
        raise errors.InplaceError(errors.NO_GRAD_VIEW_INPLACE)
    if target._view_meta == VIEW_INFERENCE and base._requires_grad:
        raise errors.InplaceError(errors.INFERENCE_VIEW_INPLACE)
    if base._requires_grad and base._grad_fn is None:
        raise errors.InplaceError(errors.VIEW_OF_LEAF_INPLACE)


def move_retained(t: Tensor, node, output_nr: int = 0) -> None:
    """``t`` retains its gradient and takes the history ``node``: the retained ``.grad`` is
    from now on the gradient of ``t``'s new value (as PyTorch moves its retain_grad hook)."""
    old = t._grad_fn
    if old is not None and old.retained:
        old.retained.pop(t._output_nr, None)
    if node.retained is None:
        node.retained = {}
    node.retained[output_nr] = weakref.ref(t)
