"""CUDA tests: ``@pytest.mark.cuda`` tests run on a real GPU or on Numba's CUDA simulator;
``@pytest.mark.gpu`` tests need real hardware (performance, large shapes).

The simulator has to be switched on before Numba is imported, so it gets its own run::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda -m cuda

Without a GPU and without that variable, both groups are skipped.
"""

from __future__ import annotations

import os

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def _real_gpu() -> bool:
    if SIMULATOR:
        return False
    import nbgrad

    return nbgrad.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    # markers, not keywords: every test in tests/cuda has "cuda" among its keywords
    cuda_marked = [i for i in items if i.get_closest_marker("cuda") or i.get_closest_marker("gpu")]
    if not cuda_marked:
        return
    gpu = _real_gpu()
    skip_cuda = pytest.mark.skip(
        reason="no GPU: run with NUMBA_ENABLE_CUDASIM=1 to use Numba's CUDA simulator"
    )
    skip_gpu = pytest.mark.skip(reason="needs a real GPU (not the simulator)")
    for item in cuda_marked:
        if item.get_closest_marker("gpu") and not gpu:
            item.add_marker(skip_gpu)
        elif item.get_closest_marker("cuda") and not (gpu or SIMULATOR):
            item.add_marker(skip_cuda)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    """Run a test on each device (the cuda case is skipped without GPU or simulator)."""
    return request.param
