"""Datasets and mini-batch loading: ``Dataset``, ``TensorDataset``, ``Subset``, ``DataLoader``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from nbgrad import _dtype
from nbgrad.ops.creation import rand, tensor
from nbgrad.ops.join import stack
from nbgrad.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "DataLoader", "default_collate"]


class Dataset:
    """A map-style data set: subclasses implement ``__getitem__(i)`` and ``__len__``.

    >>> import nbgrad as nb
    >>> class Squares(nb.utils.data.Dataset):
    ...     def __getitem__(self, i):
    ...         return nb.tensor(float(i * i))
    ...     def __len__(self):
    ...         return 4
    >>> [batch.tolist() for batch in nb.utils.data.DataLoader(Squares(), batch_size=2)]
    [[0.0, 1.0], [4.0, 9.0]]
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Samples are the ``i``-th rows of each tensor (all with the same first dimension).

    >>> import nbgrad as nb
    >>> ds = nb.utils.data.TensorDataset(nb.arange(6).reshape(3, 2), nb.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2, 3]), tensor(1)))
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for t in tensors:
            if not isinstance(t, Tensor) or t.ndim == 0:
                what = "a 0-d tensor" if isinstance(t, Tensor) else type(t).__name__
                raise TypeError(f"TensorDataset takes tensors with a first dimension, got {what}")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(
                "Size mismatch between tensors: first dimensions "
                f"{[t.shape[0] for t in tensors]} differ"
            )
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``.

    >>> import nbgrad as nb
    >>> ds = nb.utils.data.TensorDataset(nb.tensor([10, 20, 30, 40]))
    >>> part = nb.utils.data.Subset(ds, [3, 0])
    >>> len(part), part[0]
    (2, (tensor(40),))
    """

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = list(indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)




def default_collate(batch: list):
    """Stack a list of samples into a batch: tensors and numbers are stacked, tuples, lists and
    dicts are collated field by field.

    >>> import nbgrad as nb
    >>> batch = [(nb.tensor([1.0, 2.0]), 0), (nb.tensor([3.0, 4.0]), 1)]
    >>> nb.utils.data.default_collate(batch)
    (tensor([[1., 2.],
            [3., 4.]]), tensor([0, 1]))
    >>> nb.utils.data.default_collate([{"y": 1.5}, {"y": 2.5}])
    {'y': tensor([1.5000, 2.5000])}
    """
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, (bool, int, float, np.number)):
        return tensor(batch)
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return type(first)(default_collate(list(f)) for f in zip(*batch)) \
            if isinstance(first, tuple) else [default_collate(list(f)) for f in zip(*batch)]
    if isinstance(first, np.ndarray):
        return tensor(np.stack(batch))
    return batch


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    ``shuffle`` draws a new order each epoch: from ``generator`` (a ``numpy.random.Generator``)
    or ``seed`` when given, else from nbgrad's global generator (``nb.manual_seed``).
    ``drop_last`` drops a final incomplete batch. A ``TensorDataset`` is batched by indexing its
    tensors once per batch; other data sets fetch samples one by one and ``collate_fn`` them.

    >>> import nbgrad as nb
    >>> ds = nb.utils.data.TensorDataset(nb.arange(5))
    >>> [b[0].tolist() for b in nb.utils.data.DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, *, collate_fn: Callable | None = None,
                 generator: np.random.Generator | None = None, seed: int | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"generator must be a numpy.random.Generator, got "
                            f"{type(generator).__name__}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn or default_collate
        self.generator = generator if seed is None else np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self, n: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(n)
        if self.generator is not None:
            return self.generator.permutation(n)

        keys = rand(n, dtype=_dtype.float64).numpy()
        return np.argsort(keys, kind="stable")

    def __iter__(self) -> Iterator:
        n = len(self.dataset)
        order = self._order(n)
        stop = len(self) * self.batch_size if self.drop_last else n
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            if fast:
                yield self._index_batch(idx)
            else:
                yield self.collate_fn([self.dataset[int(i)] for i in idx])

    def _index_batch(self, idx: np.ndarray) -> tuple:
        batch = []
        for t in self.dataset.tensors:
            index = tensor(idx, device=t.device)
            batch.append(t[index])
        return tuple(batch)
