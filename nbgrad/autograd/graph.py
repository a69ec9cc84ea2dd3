"""Expert tools on the autograd graph."""

from __future__ import annotations

import contextlib

from nbgrad.tensor import Tensor

__all__ = ["unsafe_preserve_version_counter"]


@contextlib.contextmanager
def unsafe_preserve_version_counter(tensors):
    """Restore the version counters of ``tensors`` on exit, hiding in-place changes made inside
    from the saved-tensor check. Only for code that knows the change does not affect gradients.

    >>> import nbgrad as nb
    >>> x = nb.zeros(3)
    >>> with nb.autograd.graph.unsafe_preserve_version_counter(x):
    ...     _ = x.add_(1)
    >>> x._version
    0
    """
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    saved = [t._version for t in tensors]
    try:
        yield
    finally:
        for t, v in zip(tensors, saved):
            t._version_counter.value = v
