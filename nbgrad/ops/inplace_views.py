"""View ops that change a tensor's own geometry in place (``transpose_``, ``t_``, ``squeeze_``,
``unsqueeze_``, ``as_strided_``) and ``as_strided``, PyTorch's raw strided view.

An in-place view op takes the history of the matching out-of-place view: the tensor keeps its
identity (and storage and version counter, which is bumped as PyTorch does), and its ``grad_fn``
becomes the view's node (``TransposeBackward0`` ...). As in PyTorch it is refused on a leaf that
requires grad while grad mode records.
"""

from __future__ import annotations

import numpy as np

from nbgrad._device import CPU
from nbgrad.ops._dispatch import OpDef, apply, check_inplace
from nbgrad.ops._register import Doc, register
from nbgrad.ops.creation import tensor
from nbgrad.ops.shape import INDEX_ADD, squeeze, t, transpose, unsqueeze
from nbgrad.tensor import Tensor

__all__ = ["as_strided", "as_strided_", "transpose_", "t_", "squeeze_", "unsqueeze_"]


def _storage_root(arr: np.ndarray) -> np.ndarray:
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


def _offset_of(arr: np.ndarray) -> int:
    root = _storage_root(arr)
    return (arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]) \
        // arr.itemsize


def _storage_indices(n: int, size, stride, offset: int) -> np.ndarray:
    """For each element of a ``(size, stride, offset)`` view, its index in the storage."""
    base = np.arange(n, dtype=np.int64)
    return np.lib.stride_tricks.as_strided(
        base[offset:], shape=tuple(size), strides=tuple(s * 8 for s in stride)
    )


class AsStrided(OpDef):
    """A view of the storage of input 0 with the given sizes, strides and storage offset;
    params = (size, stride, offset, input geometry (size, stride, offset), storage size)."""

    name = "AsStrided"
    view = True

    def forward(self, bk, params, x):
        size, stride, offset = params[:3]
        root = _storage_root(x).reshape(-1)
        return np.lib.stride_tricks.as_strided(
            root[offset:], shape=tuple(size), strides=tuple(s * x.itemsize for s in stride)
        )

    def backward(self, node, grad):
        size, stride, offset, (in_size, in_stride, in_offset), n = node.params
        out_idx = _storage_indices(n, size, stride, offset).reshape(-1)
        flat = apply(INDEX_ADD, (grad.reshape(-1),), ((out_idx,), (n,)))
        in_idx = _storage_indices(n, in_size, in_stride, in_offset)
        return (flat[_index_tensor(in_idx)],)


def _index_tensor(idx: np.ndarray) -> Tensor:
    return tensor(np.ascontiguousarray(idx))


AS_STRIDED = AsStrided()


@register(function=True, method=True, doc=Doc(
    "Splitting (views)", "every dtype", "scatter-add of g into the storage, read back"))
def as_strided(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    """A view of ``input``'s storage with the given ``size``, ``stride`` (in elements) and
    ``storage_offset`` (default: ``input``'s own). It shares the base's version counter.

    >>> import nbgrad as nb
    >>> x = nb.arange(6.0)
    >>> nb.as_strided(x, (2, 2), (1, 2))
    tensor([[0., 2.],
            [1., 3.]])
    """
    if input._device is not CPU:
        raise NotImplementedError("as_strided is only available for CPU tensors")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape ({len(size)} vs "
                           f"{len(stride)})")
    arr = input._data
    root = _storage_root(arr)
    own = _offset_of(arr)
    offset = own if storage_offset is None else int(storage_offset)
    if any(s < 0 for s in stride) or offset < 0:
        raise RuntimeError("as_strided: negative strides or storage offset are not supported")
    if size and all(size):
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= root.size:
            raise RuntimeError(
                f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
                f"{offset} require a storage of at least {last + 1} elements, but the storage "
                f"has {root.size}"
            )
    geometry = (tuple(arr.shape), tuple(s // arr.itemsize for s in arr.strides), own)
    return apply(AS_STRIDED, (input,), (size, stride, offset, geometry, int(root.size)))


def _take_over(x: Tensor, view: Tensor) -> Tensor:
    """``x`` becomes ``view`` (data and history), keeping its identity; its version is bumped."""
    x._data = view._data
    if view._grad_fn is not None:
        x._grad_fn, x._output_nr = view._grad_fn, view._output_nr
        x._requires_grad = True
    if x._base is not None:
        x._view_steps = view._view_steps
        x._base_fn = view._base_fn
    if x._version_counter is not None:
        x._version_counter.value += 1
    return x


def _inplace_view(x: Tensor, make) -> Tensor:
    check_inplace(x)
    return _take_over(x, make(x))


@register(method=True)
def transpose_(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims of ``x`` itself (in-place ``transpose``).

    >>> import nbgrad as nb
    >>> x = nb.zeros(2, 3)
    >>> x.transpose_(0, 1).shape, x._version
    ((3, 2), 1)
    """
    return _inplace_view(x, lambda v: transpose(v, dim0, dim1))


@register(method=True)
def t_(x: Tensor) -> Tensor:
    """In-place ``t()``.

    >>> import nbgrad as nb
    >>> nb.zeros(2, 3).t_().shape
    (3, 2)
    """
    return _inplace_view(x, t)


@register(method=True)
def squeeze_(x: Tensor, dim=None) -> Tensor:
    """In-place ``squeeze``.

    >>> import nbgrad as nb
    >>> nb.zeros(1, 3, 1).squeeze_().shape
    (3,)
    """
    return _inplace_view(x, lambda v: squeeze(v, dim))


@register(method=True)
def unsqueeze_(x: Tensor, dim: int) -> Tensor:
    """In-place ``unsqueeze``.

    >>> import nbgrad as nb
    >>> nb.zeros(3).unsqueeze_(0).shape
    (1, 3)
    """
    return _inplace_view(x, lambda v: unsqueeze(v, dim))


@register(method=True)
def as_strided_(x: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    """In-place ``as_strided``.

    >>> import nbgrad as nb
    >>> nb.arange(6.0).as_strided_((2, 3), (3, 1))
    tensor([[0., 1., 2.],
            [3., 4., 5.]])
    """
    return _inplace_view(x, lambda v: as_strided(v, size, stride, storage_offset))


register(Tensor.is_inference, function="is_inference")  # nb.is_inference(t), as PyTorch's
