"""``default_collate`` and ``default_convert``: PyTorch's rules for turning samples into batches."""

from __future__ import annotations

import collections.abc
import numbers

import numpy as np

from nbgrad import _dtype
from nbgrad.ops.creation import tensor
from nbgrad.ops.join import stack
from nbgrad.tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_convert(data):
    """Convert numpy arrays (of numbers) inside ``data`` to tensors, keeping the structure; what
    the DataLoader applies to samples when automatic batching is off (``batch_size=None``).

    >>> import numpy as np
    >>> from nbgrad.utils.data import default_convert
    >>> default_convert({"x": np.array([1, 2]), "name": "a"})
    {'x': tensor([1, 2]), 'name': 'a'}
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind not in "SaUO":
        return tensor(data)
    if isinstance(data, (np.number, np.bool_)):
        return tensor(data.item(), dtype=_dtype.from_numpy_dtype(data.dtype))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        if type(data) is dict:
            return out
        try:
            return type(data)(out)
        except TypeError:
            return out
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Collate a list of samples into a batch, as PyTorch's ``default_collate``: tensors and
    numpy arrays are stacked along a new first dimension; Python floats become a ``float64``
    tensor, ints an ``int64`` tensor, bools a ``bool`` tensor (as PyTorch); strings stay a
    list; dicts and namedtuples are collated field by field; tuples and lists of samples are
    transposed into a list of per-field batches.

    >>> import nbgrad as nb
    >>> batch = [(nb.tensor([1.0, 2.0]), 0), (nb.tensor([3.0, 4.0]), 1)]
    >>> nb.utils.data.default_collate(batch)
    [tensor([[1., 2.],
            [3., 4.]]), tensor([0, 1])]
    >>> nb.utils.data.default_collate([{"y": 1.5}, {"y": 2.5}])
    {'y': tensor([1.5000, 2.5000], dtype=nbgrad.float64)}
    """
    batch = list(batch)
    if len(batch) == 0:
        raise IndexError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "SaUO":
            raise TypeError(_ERR.format(elem.dtype))
        return tensor(np.stack(batch))
    if isinstance(elem, (np.number, np.bool_)):
        return tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch, dtype=_dtype.bool_)
    if isinstance(elem, float):
        return tensor(batch, dtype=_dtype.float64)
    if isinstance(elem, numbers.Integral):
        return tensor(batch, dtype=_dtype.int64)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        if type(elem) is dict:
            return out
        try:
            return type(elem)(out)
        except TypeError:
            return out
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(s) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed  # a list, as PyTorch's
        try:
            return type(elem)(transposed)
        except TypeError:
            return transposed
    raise TypeError(_ERR.format(type(elem)))
