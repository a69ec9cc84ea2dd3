"""Devices (``"cpu"``, ``"cuda:0"``) and the registry mapping each to its kernel backend."""

from __future__ import annotations

import importlib

__all__ = ["Device", "as_device", "backend_for", "cuda_device_count"]


class Device:
    """Where a tensor's memory lives: ``Device("cpu")`` or ``Device("cuda", 0)``.

    >>> import nbgrad as nb
    >>> nb.device("cpu"), nb.device("cuda", 0), nb.device("cuda:1")
    (device(type='cpu'), device(type='cuda', index=0), device(type='cuda', index=1))
    >>> nb.zeros(1).device == "cpu"
    True
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: int | None = None) -> None:
        kind, _, idx = type.partition(":")
        if kind not in ("cpu", "cuda") or (idx and (index is not None or not idx.isdigit())):
            raise ValueError(f"unknown device {type!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        self.type = kind
        self.index = int(idx) if idx else index

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (
            f", index={self.index})" if self.index is not None else ")"
        )

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = as_device(other)
        return isinstance(other, Device) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


CPU = Device("cpu")
CUDA0 = Device("cuda", 0)
_INTERNED = {"cpu": CPU, "cuda": CUDA0, "cuda:0": CUDA0}


def as_device(spec) -> Device:
    """Parse ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a :class:`Device` (interned: fast to compare).

    >>> from nbgrad._device import as_device
    >>> as_device("cuda:1"), as_device(None), as_device("cpu") is as_device("cpu")
    (device(type='cuda', index=1), device(type='cpu'), True)
    """
    if isinstance(spec, Device):
        return _INTERNED.get(str(spec), spec)
    if spec is None:
        return CPU
    if isinstance(spec, str):
        found = _INTERNED.get(spec)
        if found is not None:
            return found
        kind, _, idx = spec.partition(":")
        if kind == "cuda" and idx.isdigit():
            dev = Device("cuda", int(idx))
            _INTERNED[spec] = dev
            return dev
    raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")


_BACKEND_MODULES = {"cpu": "nbgrad.backends.cpu", "cuda": "nbgrad.backends.cuda"}
_BACKENDS: dict[str, object] = {}


def backend_for(device: Device):
    """The kernel module for a device, imported on first use."""
    found = _BACKENDS.get(device.type)
    if found is None:
        found = importlib.import_module(_BACKEND_MODULES[device.type])
        _BACKENDS[device.type] = found
    return found


def cuda_device_count() -> int:
    """How many CUDA devices are visible (0 without numba-cuda or a GPU).

    >>> from nbgrad._device import cuda_device_count
    >>> cuda_device_count() >= 0
    True
    """
    try:
        from numba import cuda
    except ImportError:
        return 0
    try:
        return len(cuda.gpus) if cuda.is_available() else 0
    except Exception:  # a broken driver installation reads as "no device"
        return 0
