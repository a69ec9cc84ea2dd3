"""Samplers: which indices the DataLoader fetches, in which order (PyTorch's
``torch.utils.data.sampler``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from nbgrad.tensor import Tensor
from nbgrad.utils.data._utils import rng

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


class Sampler:
    """Base class: subclasses implement ``__iter__`` (indices or lists of indices) and
    usually ``__len__``.

    >>> import nbgrad as nb
    >>> class Evens(nb.utils.data.Sampler):
    ...     def __iter__(self): return iter([0, 2, 4])
    ...     def __len__(self): return 3
    >>> list(Evens())
    [0, 2, 4]
    """

    def __init__(self, data_source=None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``.

    >>> import nbgrad as nb
    >>> list(nb.utils.data.SequentialSampler(range(3)))
    [0, 1, 2]
    """

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices in a random order: a new permutation per epoch, or with ``replacement`` draws
    ``num_samples`` indices independently. ``generator``: a ``numpy.random.Generator`` or a
    generator with ``manual_seed`` (``None``: nbgrad's global generator, ``nb.manual_seed``).

    Exact resume: :meth:`state_dict` gives the epoch, the current epoch's order and how many
    indices of it were handed out; :meth:`load_state_dict` makes the next ``iter`` continue
    from there (then draw fresh epochs from the generator, whose state is saved too: a numpy
    generator's or an ``nb.Generator``'s).

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> s = nb.utils.data.RandomSampler(range(5), generator=np.random.default_rng(0))
    >>> sorted(s), len(s)
    ([0, 1, 2, 3, 4], 5)
    >>> len(list(nb.utils.data.RandomSampler(range(3), replacement=True, num_samples=7)))
    7
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError("replacement should be a boolean value, but got replacement="
                            f"{self.replacement}")
        if isinstance(num_samples, bool) or not isinstance(self.num_samples, int) \
                or self.num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")
        rng.check_generator(generator)
        self.epoch = 0
        self._order: np.ndarray | None = None
        self._position = 0
        self._resume = False

    @property
    def num_samples(self) -> int:
        """How many indices one epoch yields (``len(data_source)`` unless given).

        >>> import nbgrad as nb
        >>> nb.utils.data.RandomSampler(range(4)).num_samples
        4
        """
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _draw(self) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            return rng.integers(n, k, self.generator)
        parts = [rng.permutation(n, self.generator) for _ in range(k // n)]
        if k % n:
            parts.append(rng.permutation(n, self.generator)[:k % n])
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def __iter__(self) -> Iterator[int]:
        if self._resume and self._order is not None:
            self._resume = False
        else:
            self._order = self._draw()
            self._position = 0
            self.epoch += 1
        order = self._order
        while self._position < len(order):
            i = int(order[self._position])
            self._position += 1
            yield i

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict:
        """``{"epoch", "order", "position", "generator_state"}``: where iteration stands.

        >>> import numpy as np
        >>> import nbgrad as nb
        >>> s = nb.utils.data.RandomSampler(range(4), generator=np.random.default_rng(0))
        >>> it = iter(s); first = [next(it), next(it)]
        >>> t = nb.utils.data.RandomSampler(range(4), generator=np.random.default_rng(5))
        >>> t.load_state_dict(s.state_dict())
        >>> first + list(t) == list(s._order)
        True
        """
        return {"epoch": self.epoch,
                "order": None if self._order is None else self._order.tolist(),
                "position": self._position,
                "generator_state": rng.get_state(self.generator)}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: the next ``iter`` continues the saved epoch.

        >>> import nbgrad as nb
        >>> s = nb.utils.data.RandomSampler(range(3))
        >>> s.load_state_dict({"epoch": 1, "order": [2, 0, 1], "position": 1})
        >>> list(s)
        [0, 1]
        """
        self.epoch = int(state["epoch"])
        order = state.get("order")
        self._order = None if order is None else np.asarray(order, dtype=np.int64)
        self._position = int(state.get("position", 0))
        self._resume = self._order is not None and self._position < len(self._order)
        rng.set_state(self.generator, state.get("generator_state"))


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one per epoch).

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> sorted(nb.utils.data.SubsetRandomSampler([5, 7, 9], np.random.default_rng(0)))
    [5, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator
        rng.check_generator(generator)

    def __iter__(self) -> Iterator[int]:
        for i in rng.permutation(len(self.indices), self.generator):
            yield self.indices[int(i)]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (with or
    without replacement).

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> g = np.random.default_rng(0)
    >>> s = nb.utils.data.WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=g)
    >>> list(s)
    [1, 1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError("replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        w = weights.numpy() if isinstance(weights, Tensor) else np.asarray(weights)
        w = w.astype(np.float64)
        if w.ndim != 1:
            raise ValueError("weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (weights must be finite, "
                               "non-negative and not all zero)")
        if not replacement and num_samples > int((w > 0).sum()):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator
        rng.check_generator(generator)

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        cdf = np.cumsum(p)
        if self.replacement:
            u = rng.uniform(self.num_samples, self.generator) * cdf[-1]
            out = np.minimum(np.searchsorted(cdf, u, side="right"), len(p) - 1)
        else:  # successive draws without replacement: Gumbel-top-k on log weights
            u = rng.uniform(len(p), self.generator)
            with np.errstate(divide="ignore"):
                keys = np.log(p) - np.log(-np.log(np.maximum(u, 1e-300)))
            out = np.argsort(-keys, kind="stable")[:self.num_samples]
        return iter(int(i) for i in out)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``).

    >>> import nbgrad as nb
    >>> list(nb.utils.data.BatchSampler(range(5), 2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Iterable, batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError("drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
