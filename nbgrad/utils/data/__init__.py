"""``nb.utils.data``: data sets, samplers and the ``DataLoader``, at PyTorch's
paths (``nbgrad.utils.data.dataset``, ``.sampler``, ``.dataloader``, ``._utils.collate``,
``.distributed``)."""

from nbgrad.utils.data import dataloader, dataset, distributed, sampler
from nbgrad.utils.data._utils.collate import default_collate, default_convert
from nbgrad.utils.data._utils.worker import WorkerInfo, get_worker_info
from nbgrad.utils.data.dataloader import DataLoader
from nbgrad.utils.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from nbgrad.utils.data.distributed import DistributedSampler  # noqa: F401  (also at PyTorch's top-level path)
from nbgrad.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "ChainDataset",
           "Subset", "StackDataset", "random_split", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
           "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
           "dataloader", "dataset", "distributed", "sampler"]
