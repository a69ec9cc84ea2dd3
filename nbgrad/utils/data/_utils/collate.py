"""Turning a list of samples into a batch: ``default_collate`` and ``default_convert``
(``nbgrad.utils.data._utils.collate``, as PyTorch's)."""

from __future__ import annotations

import collections.abc

import numpy as np

from nbgrad._dtype import float64, int64
from nbgrad.ops.creation import tensor
from nbgrad.ops.join import stack
from nbgrad.tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_NUMERIC_KINDS = "biufc"


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_collate(batch: list):
    """Stack a list of samples into a batch, field by field: tensors are stacked, numpy
    arrays and numbers become tensors (Python floats float64, ints int64, as PyTorch),
    strings stay a list, and mappings, namedtuples, tuples and lists are collated per
    field (a list of lists is transposed).

    >>> import nbgrad as nb
    >>> batch = [(nb.tensor([1.0, 2.0]), 0), (nb.tensor([3.0, 4.0]), 1)]
    >>> nb.utils.data.default_collate(batch)
    [tensor([[1., 2.],
            [3., 4.]]), tensor([0, 1])]
    >>> nb.utils.data.default_collate([{"y": 1.5, "name": "a"}, {"y": 2.5, "name": "b"}])
    {'y': tensor([1.5000, 2.5000], dtype=nbgrad.float64), 'name': ['a', 'b']}
    """
    first = batch[0]
    if isinstance(first, Tensor):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{[tuple(b.shape) for b in batch]}")
        return stack(batch)
    if isinstance(first, np.ndarray) or (isinstance(first, np.generic)
                                         and first.dtype.kind in _NUMERIC_KINDS):
        if first.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError("default_collate: batch must contain tensors, numpy arrays, "
                            f"numbers, dicts or lists; found {first.dtype}")
        return tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(first, bool):
        return tensor(batch)
    if isinstance(first, float):
        return tensor(batch, dtype=float64)
    if isinstance(first, int):
        return tensor(batch, dtype=int64)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, collections.abc.Mapping):
        fields = {k: default_collate([b[k] for b in batch]) for k in first}
        try:
            return fields if type(first) is dict else type(first)(fields)
        except TypeError:  # a mapping type that cannot be built from a dict
            return fields
    if _is_namedtuple(first):
        return type(first)(*(default_collate(list(f)) for f in zip(*batch)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(f)) for f in zip(*batch)]
    raise TypeError("default_collate: batch must contain tensors, numpy arrays, numbers, "
                    f"dicts or lists; found {type(first)}")


def default_convert(data):
    """What a DataLoader does to samples when automatic batching is off (``batch_size=None``):
    numpy arrays become tensors, containers are converted element by element, the rest is
    kept.

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> nb.utils.data.default_convert({"x": np.array([1, 2]), "n": 3})
    {'x': tensor([1, 2]), 'n': 3}
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        if data.dtype.kind in _NUMERIC_KINDS:
            return tensor(data)
        return data
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        return [default_convert(d) for d in data]
    return data

