"""Dtype conversions, type information and data exchange with other libraries.

``Tensor.type()`` names a tensor's type as PyTorch's legacy type strings do, with ``nbgrad``
where PyTorch says ``torch`` (``"nbgrad.FloatTensor"``, ``"nbgrad.cuda.LongTensor"``); ``type``
also accepts PyTorch's own strings. DLPack goes through numpy on the CPU (zero-copy both ways)
and ``__cuda_array_interface__`` on the GPU.
"""

from __future__ import annotations

import numpy as np

from nbgrad import _dtype
from nbgrad._device import CPU, as_device
from nbgrad.ops._dispatch import OpDef, apply, new_tensor
from nbgrad.ops._register import Doc, register
from nbgrad.tensor import Tensor

__all__ = ["finfo", "iinfo", "from_dlpack", "view_dtype"]

_BY_LEGACY = {d.legacy: d for d in _dtype._ALL}
_CONVERSIONS = Doc("Copying and joining", "every dtype", "the gradient cast back (floating "
                   "results only)")
_INFO = Doc("Copying and joining", "every dtype", "none")


# --------------------------------------------------------------------------- conversions
@register(method="half", doc=_CONVERSIONS)
def _half(self: Tensor) -> Tensor:
    """``self`` as float16 (itself when it already is).

    >>> import nbgrad as nb
    >>> nb.tensor([1.5, 2.0]).half()
    tensor([1.5000, 2.0000], dtype=nbgrad.float16)
    """
    return self.to(_dtype.float16)


@register(method="byte", doc=_CONVERSIONS)
def _byte(self: Tensor) -> Tensor:
    """``self`` as uint8.

    >>> import nbgrad as nb
    >>> nb.tensor([1, 255]).byte()
    tensor([  1, 255], dtype=nbgrad.uint8)
    """
    return self.to(_dtype.uint8)


@register(method="char", doc=_CONVERSIONS)
def _char(self: Tensor) -> Tensor:
    """``self`` as int8.

    >>> import nbgrad as nb
    >>> nb.tensor([1, -2]).char()
    tensor([ 1, -2], dtype=nbgrad.int8)
    """
    return self.to(_dtype.int8)


@register(method="short", doc=_CONVERSIONS)
def _short(self: Tensor) -> Tensor:
    """``self`` as int16.

    >>> import nbgrad as nb
    >>> nb.tensor([1.7, -300.0]).short()
    tensor([   1, -300], dtype=nbgrad.int16)
    """
    return self.to(_dtype.int16)


@register(method="bfloat16", doc=_CONVERSIONS)
def _bfloat16(self: Tensor) -> Tensor:
    """bfloat16 is not supported (numpy has no such type): this raises a ``TypeError``.

    >>> import nbgrad as nb
    >>> nb.ones(1).bfloat16()
    Traceback (most recent call last):
    TypeError: bfloat16 is not supported: numpy has no bfloat16 type; use .half() or .float()
    """
    raise TypeError("bfloat16 is not supported: numpy has no bfloat16 type; use .half() or "
                    ".float()")


def _type_name(t: Tensor) -> str:
    return f"nbgrad.{'cuda.' if t.is_cuda else ''}{t.dtype.legacy}Tensor"


@register(method="type", doc=_CONVERSIONS)
def _type(self: Tensor, dtype=None, non_blocking: bool = False) -> Tensor | str:
    """With no argument, the type's name (``"nbgrad.FloatTensor"``); with a dtype or a type
    name (``"nbgrad.LongTensor"``, ``"torch.cuda.HalfTensor"`` too), ``self`` converted to it.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.5])
    >>> x.type(), x.type(nb.int16), x.type("torch.LongTensor").type()
    ('nbgrad.FloatTensor', tensor([1], dtype=nbgrad.int16), 'nbgrad.LongTensor')
    """
    if dtype is None:
        return _type_name(self)
    if isinstance(dtype, str) and dtype.endswith("Tensor"):
        parts = dtype.split(".")
        legacy = _BY_LEGACY.get(parts[-1][: -len("Tensor")])
        if parts[0] not in ("torch", "nbgrad") or legacy is None or len(parts) > 3 or (
                len(parts) == 3 and parts[1] != "cuda"):
            raise ValueError(f"invalid type: {dtype!r}")
        out = self.to(legacy)
        if len(parts) == 3:
            return out.to("cuda")
        return out.cpu() if self.is_cuda else out
    return self.to(_dtype.as_dtype(dtype))


class _ViewDtype(OpDef):
    """``x.view(dtype)``: the same bytes read as another dtype (no gradient)."""

    name = "ViewDtype"
    view = True
    differentiable = False

    def forward(self, bk, params, x):
        if not isinstance(x, np.ndarray):
            raise TypeError("view(dtype) is supported for CPU tensors only")
        return x.view(params)


_VIEW_DTYPE = _ViewDtype()


def view_dtype(x: Tensor, dtype) -> Tensor:
    """``x``'s bytes reinterpreted as ``dtype`` (``Tensor.view(dtype)``): with a different
    element size the last dimension shrinks or grows, and must be contiguous.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.interop import view_dtype
    >>> view_dtype(nb.tensor([1.0]), nb.int32)
    tensor([1065353216], dtype=nbgrad.int32)
    >>> nb.tensor([1.0, 2.0]).view(nb.int16)
    tensor([    0, 16256,     0, 16384], dtype=nbgrad.int16)
    """
    dt = _dtype.as_dtype(dtype)
    old, new = x.dtype.itemsize, dt.itemsize
    if old != new:
        if x.ndim == 0:
            raise RuntimeError(
                f"self.dim() cannot be 0 to view {x.dtype.legacy} as {dt.legacy} (different "
                "element sizes)")
        if x.stride()[-1] != 1 and x.shape[-1] != 1:
            raise RuntimeError(
                f"self.stride(-1) must be 1 to view {x.dtype.legacy} as {dt.legacy} "
                f"(different element sizes), but got {x.stride()[-1]}")
        if new > old and x.shape[-1] * old % new:
            raise RuntimeError(
                f"self.size(-1) must be divisible by {new // old} to view {x.dtype.legacy} as "
                f"{dt.legacy} (different element sizes), but got {x.shape[-1]}")
    if x.requires_grad and not (dt.is_floating_point and old == new):
        x = x.detach()
    return apply(_VIEW_DTYPE, (x,), dt.np)


# --------------------------------------------------------------------------- type information
class finfo:
    """Facts about a floating-point dtype (``nb.finfo(nb.float16).eps``); float32 by default.

    >>> import nbgrad as nb
    >>> nb.finfo(nb.float16).eps, nb.finfo().bits, nb.finfo(nb.float64).max > 1e308
    (0.0009765625, 32, True)
    """

    def __init__(self, type=None) -> None:  # noqa: A002  (PyTorch's name)
        dt = _dtype.float32 if type is None else _dtype.as_dtype(type)
        if not dt.is_floating_point:
            raise TypeError("nbgrad.finfo() requires a floating point input type. Use "
                            "nbgrad.iinfo to handle 'nbgrad.finfo'")
        info = np.finfo(dt.np)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = float(info.resolution)
        self.dtype = dt.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """Facts about an integer (or bool) dtype.

    >>> import nbgrad as nb
    >>> nb.iinfo(nb.int8)
    iinfo(min=-128, max=127, dtype=int8)
    >>> nb.iinfo(nb.uint8).max, nb.iinfo(nb.int64).bits
    (255, 64)
    """

    def __init__(self, type) -> None:  # noqa: A002  (PyTorch's name)
        dt = _dtype.as_dtype(type)
        if dt.is_floating_point:
            raise TypeError("nbgrad.iinfo() requires an integer input type. Use nbgrad.finfo "
                            "to handle 'nbgrad.iinfo'")
        info = np.iinfo(np.uint8 if dt is _dtype.bool_ else dt.np)
        self.bits = 8 if dt is _dtype.bool_ else int(info.bits)
        self.min, self.max = (0, 1) if dt is _dtype.bool_ else (int(info.min), int(info.max))
        self.dtype = dt.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


register(finfo, function=True, doc=_INFO)
register(iinfo, function=True, doc=_INFO)


# --------------------------------------------------------------------------- memory facts
@register(method=True, doc=_INFO)
def data_ptr(self: Tensor) -> int:
    """The address of the tensor's first element.

    >>> import nbgrad as nb
    >>> x = nb.zeros(4)
    >>> x[1:].data_ptr() - x.data_ptr()
    4
    """
    data = self._data
    if isinstance(data, np.ndarray):
        return int(data.__array_interface__["data"][0])
    return int(_cuda_interface(self)["data"][0])


@register(method=True, doc=_INFO)
def nelement(self: Tensor) -> int:
    """The number of elements (``numel``).

    >>> import nbgrad as nb
    >>> nb.zeros(2, 3).nelement()
    6
    """
    return self.numel()


class UntypedStorage:
    """The bytes under a tensor and its views (``Tensor.untyped_storage()``).

    >>> import nbgrad as nb
    >>> x = nb.zeros(4)
    >>> x[2:].untyped_storage().nbytes(), len(x.untyped_storage())
    (16, 16)
    """

    def __init__(self, root, device) -> None:
        self._root = root
        self.device = device

    def nbytes(self) -> int:
        """The storage's size in bytes.

        >>> import nbgrad as nb
        >>> nb.zeros(3, dtype=nb.float64).untyped_storage().nbytes()
        24
        """
        if isinstance(self._root, np.ndarray):
            return int(self._root.nbytes)
        return int(self._root.size * self._root.dtype.itemsize)

    def size(self) -> int:
        """The storage's size in bytes (as ``nbytes``).

        >>> import nbgrad as nb
        >>> nb.zeros(2, dtype=nb.int16).untyped_storage().size()
        4
        """
        return self.nbytes()

    def __len__(self) -> int:
        return self.nbytes()

    def data_ptr(self) -> int:
        """The address of the storage's first byte.

        >>> import nbgrad as nb
        >>> x = nb.zeros(4)
        >>> x[1:].untyped_storage().data_ptr() == x.data_ptr()
        True
        """
        if isinstance(self._root, np.ndarray):
            return int(self._root.__array_interface__["data"][0])
        return _device_address(self._root)


@register(method=True, doc=_INFO)
def untyped_storage(self: Tensor) -> UntypedStorage:
    """The storage the tensor's elements live in (shared with its views).

    >>> import nbgrad as nb
    >>> nb.zeros(2, 3).t().untyped_storage().nbytes()
    24
    """
    data = self._data
    if isinstance(data, np.ndarray):
        root = data
        while isinstance(root.base, np.ndarray):
            root = root.base
        return UntypedStorage(root, self.device)
    return UntypedStorage(data.buf, self.device)


# --------------------------------------------------------------------------- formatting
@register(dunder="__format__", doc=_INFO)
def _format(self: Tensor, spec: str) -> str:
    """``f"{t:.2f}"``: a 0-d tensor formats as its Python number; other tensors take no format
    spec (as in PyTorch).

    >>> import nbgrad as nb
    >>> f"{nb.tensor(3.14159):.2f} {nb.tensor(7):>3}"
    '3.14   7'
    """
    if self.ndim == 0:
        return format(self.item(), spec)
    if spec:
        raise TypeError("unsupported format string passed to Tensor.__format__")
    return str(self)


# --------------------------------------------------------------------------- DLPack
_KDL_CPU, _KDL_CUDA = 1, 2


def _device_address(buf) -> int:
    """The device address of a numba.cuda buffer (in the CUDA simulator: the address of the
    host array it wraps)."""
    pointer = getattr(buf, "device_ctypes_pointer", None)
    if pointer is None:
        host = getattr(buf, "_ary", None)
        return int(host.__array_interface__["data"][0]) if host is not None else 0
    return int(pointer.value or 0)


def _cuda_interface(t: Tensor) -> dict:
    a = t._data
    item = a.dtype.itemsize
    ptr = _device_address(a.buf) + a.offset * item
    return {"shape": tuple(a.shape), "strides": tuple(s * item for s in a.strides),
            "typestr": a.dtype.str, "data": (ptr, False), "version": 3}


def _check_exportable(t: Tensor) -> None:
    if t.requires_grad:
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")


@register(dunder="__dlpack__", doc=_INFO)
def _dlpack(self: Tensor, *, stream=None, max_version=None, dl_device=None, copy=None):
    """A DLPack capsule of the tensor's memory (CPU tensors, through numpy; no copy).

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0])
    >>> a = np.from_dlpack(x)
    >>> a[0] = 5.0
    >>> x
    tensor([5., 2.])
    """
    _check_exportable(self)
    if not isinstance(self._data, np.ndarray):
        raise BufferError("DLPack export of CUDA tensors is not supported; use "
                          "__cuda_array_interface__ (e.g. cupy.asarray(t))")
    kwargs = {} if max_version is None else {"max_version": max_version}
    if copy is not None:
        kwargs["copy"] = copy
    return self._data.__dlpack__(stream=stream, **kwargs)


@register(dunder="__dlpack_device__", doc=_INFO)
def _dlpack_device(self: Tensor) -> tuple[int, int]:
    """``(device type, index)`` in DLPack's codes: ``(1, 0)`` for the CPU, ``(2, i)`` for
    ``cuda:i``.

    >>> import nbgrad as nb
    >>> nb.zeros(1).__dlpack_device__()
    (1, 0)
    """
    if self.is_cuda:
        return (_KDL_CUDA, self.device.index or 0)
    return (_KDL_CPU, 0)


@register(prop="__cuda_array_interface__", doc=_INFO)
def _cuda_array_interface(self: Tensor) -> dict:
    """Numba's / CuPy's description of a CUDA tensor's memory (an ``AttributeError`` on the
    CPU, as in PyTorch).

    >>> import nbgrad as nb
    >>> hasattr(nb.zeros(1), "__cuda_array_interface__")
    False
    """
    if not self.is_cuda:
        raise AttributeError("Can't get __cuda_array_interface__ on non-CUDA tensor type: "
                             f"{_type_name(self)}")
    _check_exportable(self)
    return _cuda_interface(self)


def _from_cuda_interface(obj) -> Tensor:
    """A CUDA tensor sharing the memory ``obj`` describes by ``__cuda_array_interface__``
    (C-contiguous arrays only)."""
    from numba import cuda  # the GPU runtime, on demand

    from nbgrad.backends.cuda._runtime import CudaArray, c_strides

    dev = obj if _is_numba_device_array(obj) else cuda.as_cuda_array(obj)
    item = np.dtype(dev.dtype).itemsize
    if dev.size > 1 and tuple(dev.strides) != tuple(s * item for s in c_strides(dev.shape)):
        raise ValueError("from_dlpack: only C-contiguous CUDA arrays can be shared")
    _dtype.from_numpy_dtype(np.dtype(dev.dtype))
    flat = dev.reshape(dev.size) if dev.ndim != 1 else dev
    return new_tensor(CudaArray(flat, dev.shape), as_device("cuda"), False)


def _is_numba_device_array(obj) -> bool:
    """A numba.cuda device array (also the CUDA simulator's, which has no
    ``__cuda_array_interface__``)."""
    return type(obj).__module__.startswith("numba") and hasattr(obj, "copy_to_host")


@register(function=True, doc=_INFO)
def from_dlpack(ext_tensor) -> Tensor:
    """A tensor sharing memory with ``ext_tensor``: anything with ``__dlpack__`` on the CPU
    (numpy arrays, other libraries' CPU tensors), or with ``__cuda_array_interface__`` on the
    GPU.

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> a = np.arange(3.0)
    >>> t = nb.from_dlpack(a)
    >>> a[0] = 7.0
    >>> t
    tensor([7., 1., 2.], dtype=nbgrad.float64)
    """
    if isinstance(ext_tensor, Tensor):
        return ext_tensor
    if hasattr(ext_tensor, "__cuda_array_interface__") or _is_numba_device_array(ext_tensor):
        return _from_cuda_interface(ext_tensor)
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__, got "
                        f"{type(ext_tensor).__name__}")
    device = ext_tensor.__dlpack_device__()[0] if hasattr(ext_tensor, "__dlpack_device__") \
        else _KDL_CPU
    if device != _KDL_CPU:
        raise TypeError("from_dlpack: only CPU DLPack tensors are supported (device type "
                        f"{device}); GPU arrays are taken through __cuda_array_interface__")
    array = np.from_dlpack(ext_tensor)
    _dtype.from_numpy_dtype(array.dtype)
    return new_tensor(array, CPU, False)
