"""``nbgrad.utils.data.distributed``: PyTorch's path of :class:`DistributedSampler` (defined in
:mod:`nbgrad.distributed.sampler`)."""

from nbgrad.distributed.sampler import DistributedSampler

__all__ = ["DistributedSampler"]
