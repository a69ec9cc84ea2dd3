"""Where the data utilities draw random numbers: a ``numpy.random.Generator`` the user gives,
else nbgrad's global generator (so ``nb.manual_seed`` makes shuffles repeatable)."""

from __future__ import annotations

import numpy as np

from nbgrad import _dtype
from nbgrad.ops.creation import rand


def check_generator(generator) -> None:
    """Refuse anything but None or a ``numpy.random.Generator``."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"generator must be a numpy.random.Generator, got "
                        f"{type(generator).__name__}")


def permutation(n: int, generator: np.random.Generator | None = None) -> np.ndarray:
    """A random order of ``range(n)``."""
    check_generator(generator)
    if generator is not None:
        return generator.permutation(n)
    return np.argsort(rand(n, dtype=_dtype.float64).numpy(), kind="stable")


def seed(generator: np.random.Generator | None = None) -> int:
    """A fresh 63-bit seed (the base seed of DataLoader workers)."""
    check_generator(generator)
    if generator is not None:
        return int(generator.integers(0, 2**63 - 1))
    return int(rand(1, dtype=_dtype.float64).numpy()[0] * (2**53)) * 1021 + 1


def numpy_rng(generator: np.random.Generator | None = None) -> np.random.Generator:
    """``generator`` itself, or a numpy generator seeded from the global one."""
    check_generator(generator)
    return generator if generator is not None else np.random.default_rng(seed())
