"""One adapter through which the data utilities draw random numbers, whatever ``generator``
the user gave: ``None`` (nbgrad's global generator, ``nb.manual_seed``), a
``numpy.random.Generator``, or a generator object with ``manual_seed``/``initial_seed`` (such as
``nb.Generator``), whose draws go through nbgrad's random ops when they take ``generator=``."""

from __future__ import annotations

import numpy as np

from nbgrad import _dtype
from nbgrad.ops.creation import rand

__all__ = ["check_generator", "permutation", "integers", "uniform", "seed_from"]


def check_generator(generator) -> None:
    """Raise ``TypeError`` unless ``generator`` is usable by :func:`permutation` and friends.

    >>> check_generator(None); check_generator(np.random.default_rng(0))
    >>> check_generator(42)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: generator must be a numpy.random.Generator or a generator with ... got int
    """
    if generator is None or isinstance(generator, np.random.Generator):
        return
    if hasattr(generator, "initial_seed") or hasattr(generator, "manual_seed"):
        return
    raise TypeError("generator must be a numpy.random.Generator or a generator with "
                    f"manual_seed/initial_seed, got {type(generator).__name__}")


_fallback: dict = {}


def _numpy_of(generator) -> np.random.Generator:
    """A numpy generator standing in for an object generator whose draws nbgrad's ops do not
    take yet (seeded once from its ``initial_seed``)."""
    key = id(generator)
    if key not in _fallback:
        seed = int(generator.initial_seed()) if hasattr(generator, "initial_seed") else 0
        _fallback[key] = (generator, np.random.default_rng(seed))
    return _fallback[key][1]


def uniform(n: int, generator=None) -> np.ndarray:
    """``n`` float64 draws in ``[0, 1)``.

    >>> uniform(3, np.random.default_rng(0)).shape
    (3,)
    """
    if isinstance(generator, np.random.Generator):
        return generator.random(n)
    if generator is None:
        return rand(n, dtype=_dtype.float64).numpy()
    try:
        return rand(n, dtype=_dtype.float64, generator=generator).numpy()
    except TypeError:
        return _numpy_of(generator).random(n)


def permutation(n: int, generator=None) -> np.ndarray:
    """A random permutation of ``range(n)`` (int64).

    >>> sorted(permutation(5, np.random.default_rng(1)).tolist())
    [0, 1, 2, 3, 4]
    """
    if isinstance(generator, np.random.Generator):
        return generator.permutation(n)
    return np.argsort(uniform(n, generator), kind="stable").astype(np.int64)


def integers(high: int, size: int, generator=None) -> np.ndarray:
    """``size`` int64 draws in ``[0, high)``.

    >>> bool((integers(3, 10, np.random.default_rng(0)) < 3).all())
    True
    """
    if isinstance(generator, np.random.Generator):
        return generator.integers(0, high, size, dtype=np.int64)
    return np.minimum((uniform(size, generator) * high).astype(np.int64), high - 1)


def seed_from(generator=None) -> int:
    """A 62-bit seed drawn from ``generator`` (the workers' base seed).

    >>> 0 <= seed_from(np.random.default_rng(0)) < 2 ** 62
    True
    """
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(0, 2 ** 62))
    return int(integers(2 ** 31, 2, generator) @ np.array([2 ** 31, 1]))


def get_state(generator):
    """The state of ``generator`` (a numpy generator's bit-generator state, or an
    ``nb.Generator``'s ``get_state()``; ``None`` for the global generator: save that with
    the other RNG states).

    >>> get_state(None) is None
    True
    """
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state
    if generator is not None and hasattr(generator, "get_state"):  # nb.Generator
        return generator.get_state()
    return None


def set_state(generator, state) -> None:
    """Restore a state from :func:`get_state` into ``generator``.

    >>> g = np.random.default_rng(0); s = get_state(g); a = g.random()
    >>> set_state(g, s); g.random() == a
    True
    """
    if state is None or generator is None:
        return
    if isinstance(generator, np.random.Generator):
        generator.bit_generator.state = state
    elif hasattr(generator, "set_state"):
        generator.set_state(state)
