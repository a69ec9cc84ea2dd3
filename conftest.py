"""Repository-wide pytest setup: what the doctest collection (docs pages, docstrings) skips."""

from __future__ import annotations

import importlib.util

import pytest
from _pytest.doctest import DoctestItem

# Not collected: the Sphinx configuration and build output, the examples (they need the
# `examples` extra), and the CUDA kernels (importing them needs numba-cuda; they are tested
# through tests/cuda).
collect_ignore = ["docs/conf.py", "docs/_build", "nbgrad/examples", "nbgrad/backends/cuda"]
# nbgrad.utils.tensorboard needs the optional `tensorboard` extra (its import says so).
if importlib.util.find_spec("tensorboard") is None:
    collect_ignore.append("nbgrad/utils/tensorboard")


@pytest.fixture(autouse=True)
def _restore_grad_mode_after_doctests(request):
    """A doctest that switches the grad mode with a plain ``set_grad_enabled(False)`` must not
    leak it into what runs after it (doctests share the main thread's context)."""
    if not isinstance(request.node, DoctestItem):
        yield
        return
    from nbgrad.grad_mode import mode_var

    saved = mode_var.get()
    try:
        yield
    finally:
        mode_var.set(saved)
