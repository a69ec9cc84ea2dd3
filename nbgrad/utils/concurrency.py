"""A cheap check for the one unsafe pattern of threaded inference: the weights changing under it.

Running a Module's forward from many threads at once is safe (each call builds its own
outputs; under ``inference_mode`` nothing is recorded). Updating the weights in place — an
optimizer step, ``load_state_dict`` — while another thread runs the forward is **not**, as in
PyTorch: the forward may read a mix of old and new weights. :func:`version_guard` detects that
after the fact, by comparing the parameters' and buffers' version counters (every in-place
update bumps them) before and after the guarded block.
"""

from __future__ import annotations

import contextlib

__all__ = ["version_guard", "ConcurrentModificationError"]


class ConcurrentModificationError(RuntimeError):
    """A module's parameters or buffers were updated in place during a guarded forward.

    >>> from nbgrad.utils.concurrency import ConcurrentModificationError
    >>> issubclass(ConcurrentModificationError, RuntimeError)
    True
    """


def _versions(module) -> list:
    out = []
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        counter = t._version_counter
        out.append((name, counter, None if counter is None else counter.value))
    return out


@contextlib.contextmanager
def version_guard(module):
    """Raise :class:`ConcurrentModificationError` at exit if any parameter or buffer of
    ``module`` was modified in place inside the block (e.g. by an optimizer step on another
    thread): the outputs computed inside it may mix old and new weights.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.concurrency import version_guard
    >>> net = nb.nn.Linear(2, 1)
    >>> with version_guard(net), nb.inference_mode():
    ...     y = net(nb.ones(1, 2))
    >>> with version_guard(net):
    ...     with nb.no_grad():
    ...         _ = net.bias.add_(1.0)
    Traceback (most recent call last):
    ...
    nbgrad.utils.concurrency.ConcurrentModificationError: parameter or buffer 'bias' was ...
    """
    before = _versions(module)
    yield
    for name, counter, value in before:
        if counter is not None and counter.value != value:
            raise ConcurrentModificationError(
                f"parameter or buffer '{name}' was modified in place during the guarded block "
                "(an optimizer step or load_state_dict on another thread?); its outputs may mix "
                "old and new weights: updating weights while other threads run inference is "
                "unsafe")
