"""``DistributedSampler``: each rank's share of a data set's indices, as in PyTorch.

(Re-exported as ``nbgrad.utils.data.distributed.DistributedSampler``.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from nbgrad import distributed as dist

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """Yield the indices of ``dataset`` that belong to ``rank`` out of ``num_replicas``.

    PyTorch's assignment: the (shuffled with ``seed + epoch`` when ``shuffle``) index list is
    padded by repeating its start until it divides evenly (or cut, with ``drop_last``), and
    rank ``r`` takes every ``num_replicas``-th index starting at ``r``. Call ``set_epoch(e)``
    before each epoch so that the shuffle differs per epoch and agrees across ranks. The
    permutation comes from numpy's ``default_rng(seed + epoch)`` (not torch's generator: the
    order differs from PyTorch's for the same seed, the assignment rule is the same).

    >>> from nbgrad.distributed.sampler import DistributedSampler
    >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False))
    [1, 3, 0]
    >>> list(DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False, drop_last=True))
    [1, 3]
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass num_replicas= or call "
                                   "dist.init_process_group() first")
            num_replicas = dist.get_world_size()
        if rank is None:
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: pass rank= or call "
                                   "dist.init_process_group() first")
            rank = dist.get_rank()
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be positive, got {num_replicas}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        mine = indices[self.rank: self.total_size: self.num_replicas]
        assert len(mine) == self.num_samples
        return iter(mine)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next shuffle (the same on every rank).

        >>> from nbgrad.distributed.sampler import DistributedSampler
        >>> s = DistributedSampler(range(8), num_replicas=2, rank=0, seed=1)
        >>> a = list(s); s.set_epoch(1); a != list(s)
        True
        """
        self.epoch = epoch
