"""``nbgrad.random``, as ``torch.random``: the default generator's seed and state.

>>> import nbgrad as nb
>>> nb.random.manual_seed(1)
>>> s = nb.random.get_rng_state()
>>> a = nb.rand(2)
>>> nb.random.set_rng_state(s)
>>> a.tolist() == nb.rand(2).tolist(), nb.random.initial_seed()
(True, 1)
"""

from __future__ import annotations

import contextlib

from nbgrad.ops.creation import default_generator, manual_seed
from nbgrad.ops.random import get_rng_state, initial_seed, seed, set_rng_state

__all__ = ["manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "fork_rng", "default_generator"]


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True):
    """Restore the default generator's state on leaving the block.

    >>> import nbgrad as nb
    >>> with nb.random.fork_rng():
    ...     a = nb.rand(2)
    >>> a.tolist() == nb.rand(2).tolist()
    True
    """
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
