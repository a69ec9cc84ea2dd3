"""``nb.nn.parallel``: :class:`DistributedDataParallel` (data parallelism on MPI).

>>> from nbgrad.nn.parallel import DistributedDataParallel, DDP
>>> DDP is DistributedDataParallel
True
"""

from nbgrad.nn.parallel.distributed import DistributedDataParallel

DDP = DistributedDataParallel

__all__ = ["DistributedDataParallel", "DDP"]
