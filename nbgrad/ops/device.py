"""Moving tensors between devices: a differentiable copy whose gradient goes back."""

from __future__ import annotations

from nbgrad._device import Device, as_device, backend_for, cuda_device_count
from nbgrad.ops._dispatch import OpDef, apply
from nbgrad.ops._register import register
from nbgrad.ops.shape import to_dtype
from nbgrad.tensor import Tensor, parse_to_args

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
    """``x`` copied to ``device`` (``x`` itself when it is already there).

    >>> import nbgrad as nb
    >>> from nbgrad.ops.device import to_device
    >>> x = nb.tensor([1.0])
    >>> to_device(x, "cpu") is x
    True
    """
    target: Device = as_device(device)
    if target == x._device:
        return x
    if target.type == "cuda" and (target.index or 0) != 0:
        count = cuda_device_count()
        if target.index >= count:
            raise RuntimeError(f"invalid device {target}: {count} CUDA device(s) available")
    out = apply(TO_DEVICE, (x,), (target, x._device))
    out._device = target
    return out


@register(method=True)
def to(self: Tensor, *args, **kwargs) -> Tensor:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1, 2])
    >>> x.to(nb.float64)
    tensor([1., 2.], dtype=nbgrad.float64)
    >>> x.to("cpu", nb.float32), x.to(nb.zeros(1, dtype=nb.float64)).dtype
    (tensor([1., 2.]), nbgrad.float64)
    """
    device, dtype = parse_to_args(args, kwargs)
    out = self
    if dtype is not None:
        out = to_dtype(out, dtype)
    if device is not None and as_device(device) != out.device:
        out = to_device(out, as_device(device))
    return out


@register(method="cpu")
def _cpu(self: Tensor) -> Tensor:
    """``self`` on the CPU (itself when it already is there).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0])
    >>> x.cpu() is x, x.cpu().device
    (True, device(type='cpu'))
    """
    return to(self, "cpu")


@register(method="cuda")
def _cuda(self: Tensor, device="cuda") -> Tensor:
    """``self`` on a CUDA device, ``"cuda"`` by default (itself when already there).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0])
    >>> y = x.cuda() if nb.cuda.is_available() else x  # a copy in GPU memory when there is a GPU
    >>> y.cpu()
    tensor([1., 2.])
    """
    return to(self, device)
