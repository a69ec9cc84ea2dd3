"""``nbgrad.cuda``: is a GPU there, how many, and waiting for the kernels launched on it.

Importing this module does not import Numba; each function does, on first use.
"""

from __future__ import annotations

from nbgrad._device import CUDA0, backend_for, cuda_device_count

__all__ = ["is_available", "device_count", "synchronize", "manual_seed", "manual_seed_all",
           "is_simulator"]


def _numba_cuda():
    try:
        from numba import cuda
    except ImportError:
        return None
    return cuda


def is_available() -> bool:
    """True when numba-cuda is installed and finds a GPU (or the CUDA simulator is on).

    >>> import nbgrad as nb
    >>> device = "cuda" if nb.cuda.is_available() else "cpu"
    >>> nb.zeros(2, device=device).device.type == device
    True
    """
    cuda = _numba_cuda()
    try:
        return bool(cuda is not None and cuda.is_available())
    except Exception:  # a broken driver installation reads as "not available"
        return False


def is_simulator() -> bool:
    """True when Numba's CUDA simulator stands in for a GPU (``NUMBA_ENABLE_CUDASIM=1``).

    >>> import nbgrad as nb
    >>> nb.cuda.is_simulator() <= nb.cuda.is_available()  # the simulator counts as available
    True
    """
    if not is_available():
        return False
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def device_count() -> int:
    """How many CUDA devices are visible (0 without a GPU).

    >>> import nbgrad as nb
    >>> (nb.cuda.device_count() > 0) == nb.cuda.is_available()
    True
    """
    return cuda_device_count()


def _require() -> None:
    if not is_available():
        raise RuntimeError(
            "CUDA is not available: no NVIDIA GPU/driver found, or numba-cuda is not installed "
            "(pip install 'nbgrad[cuda]'). Set NUMBA_ENABLE_CUDASIM=1 to use the simulator."
        )


def synchronize() -> None:
    """Wait for every kernel launched on the GPU to finish (launches are asynchronous).

    >>> import nbgrad as nb
    >>> if nb.cuda.is_available():
    ...     y = nb.ones(1000, device="cuda") * 2
    ...     nb.cuda.synchronize()  # e.g. before reading a timer
    """
    _require()
    _numba_cuda().synchronize()


def manual_seed(seed: int) -> None:
    """Seed the generator behind ``rand``/``randn``/``randint`` on the GPU.

    >>> import nbgrad as nb
    >>> if nb.cuda.is_available():
    ...     nb.cuda.manual_seed(0)
    ...     a = nb.rand(3, device="cuda")
    ...     nb.cuda.manual_seed(0)
    ...     assert a.tolist() == nb.rand(3, device="cuda").tolist()

    Without a GPU it does nothing (as PyTorch).
    """
    if not is_available():
        return
    backend_for(CUDA0).seed(int(seed) % (1 << 64))


def manual_seed_all(seed: int) -> None:
    """Seed the generators of every GPU (one here); nothing without a GPU.

    >>> import nbgrad as nb
    >>> nb.cuda.manual_seed_all(0)
    """
    manual_seed(seed)
