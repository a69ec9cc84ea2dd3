"""``nb.accelerator``: the device-generic accelerator API of recent PyTorch
(``torch.accelerator``). nbgrad's one accelerator is CUDA (through numba-cuda)."""

from __future__ import annotations

from nbgrad import cuda
from nbgrad._device import Device, as_device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index",
           "set_device_index", "synchronize"]


def is_available() -> bool:
    """Whether an accelerator (a CUDA GPU, or Numba's CUDA simulator) can be used.

    >>> import nbgrad as nb
    >>> nb.accelerator.is_available() == nb.cuda.is_available()
    True
    """
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Device | None:
    """The accelerator device type (``device(type='cuda')``) when nbgrad has one, else
    ``None``; with ``check_available=True`` also ``None`` when none is usable right now.

    >>> import nbgrad as nb
    >>> acc = nb.accelerator.current_accelerator(check_available=True)
    >>> acc is None or acc.type == "cuda"
    True
    """
    if cuda._numba_cuda() is None:
        return None
    if check_available and not is_available():
        return None
    return as_device("cuda")


def device_count() -> int:
    """How many accelerator devices are visible (0 without one).

    >>> import nbgrad as nb
    >>> nb.accelerator.device_count() == (nb.cuda.device_count() if nb.cuda.is_available() else 0)
    True
    """
    return cuda.device_count() if is_available() else 0


def current_device_index() -> int:
    """The index of the current accelerator device (nbgrad uses device 0).

    >>> import nbgrad as nb
    >>> nb.accelerator.current_device_index()
    0
    """
    return 0


def set_device_index(device) -> None:
    """Select the current accelerator device; nbgrad runs on device 0 only.

    >>> import nbgrad as nb
    >>> nb.accelerator.set_device_index(0)
    """
    index = device.index if isinstance(device, Device) else device
    if index not in (None, 0):
        raise RuntimeError(f"nbgrad uses accelerator device 0 only, got index {index}")


def synchronize(device=None) -> None:
    """Wait for every kernel launched on the accelerator (nothing to wait for without one).

    >>> import nbgrad as nb
    >>> nb.accelerator.synchronize()
    """
    if is_available():
        cuda.synchronize()
