"""Moving tensors between devices: a differentiable copy whose gradient goes back."""

from __future__ import annotations

from nbgrad._device import Device, as_device, backend_for
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.tensor import Tensor

__all__ = ["to_device"]


class ToDevice(OpDef):
    """A copy onto another device; params = (target device, source device).

    The copy goes through host memory (device -> host -> device); its gradient is the same
    copy in the other direction, so ``x.cuda().sum().backward()`` leaves ``x.grad`` on the CPU.
    """

    name = "ToCopy"

    def forward(self, bk, params, x):
        target = params[0]
        host = bk.to_host(x)
        return backend_for(target).asarray(host, host.dtype)

    def backward(self, node, grad):
        return (to_device(grad, node.params[1]),)


TO_DEVICE = ToDevice()


def to_device(x: Tensor, device) -> Tensor:
    """``x`` copied to ``device`` (``x`` itself when it is already there)."""
    target: Device = as_device(device)
    if target == x._device:
        return x
    if target.type == "cuda" and (target.index or 0) != 0:
        from nbgrad import cuda

        if target.index >= cuda.device_count():
            raise RuntimeError(
                f"invalid device {target}: {cuda.device_count()} CUDA device(s) available"
            )
    out = apply(TO_DEVICE, (x,), (target, x._device))
    out._device = target
    return out
