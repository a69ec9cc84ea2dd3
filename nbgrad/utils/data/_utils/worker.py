"""What runs inside a DataLoader worker process, and what a worker sends back.

A worker takes ``(task_id, indices)`` from its own index queue, fetches and collates those
samples and puts ``(task_id, batch)`` on the shared result queue; ``None`` ends it. An
exception is sent back as an :class:`ExceptionWrapper` that the main process re-raises with
the worker's traceback. For an ``IterableDataset`` the worker iterates its own copy of the data
set and sends batches until it is exhausted (then an :class:`IterableDone`)."""

from __future__ import annotations

import random
import sys
import traceback
from dataclasses import dataclass

from nbgrad.ops.creation import manual_seed

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper", "IterableDone", "worker_loop"]

_worker_info: WorkerInfo | None = None

RESET = -1
"""The task id that tells a persistent worker to start its iterable data set afresh."""


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker process: its ``id`` (0 ... ``num_workers`` - 1), ``num_workers``,
    ``seed`` (the base seed of this iteration plus ``id``) and its copy of ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of the worker process this is called in; None in the main
    process. Use it in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to shard.

    >>> import nbgrad as nb
    >>> nb.utils.data.get_worker_info() is None
    True
    """
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback."""

    def __init__(self, exc_info, where: str) -> None:
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise the worker's exception type in the main process, naming the worker and
        carrying its traceback."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:  # an exception type that needs other arguments
            raise RuntimeError(msg) from None
        raise exc


class KeyErrorMessage(str):
    """A KeyError's message printed as is (KeyError would show its repr)."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class IterableDone:
    """Sent by a worker whose ``IterableDataset`` copy is exhausted."""

    worker_id: int


def _seed_worker(seed: int) -> None:
    random.seed(seed)
    manual_seed(seed % (2**63))


def worker_loop(dataset, fetch, index_queue, result_queue, worker_id: int, num_workers: int,
                seed: int, init_fn, iterable_batches) -> None:
    """The body of worker ``worker_id``: see the module docstring. ``fetch(indices)`` builds
    one batch of a map-style data set; ``iterable_batches(dataset)`` yields the batches of an
    iterable one (None for a map-style data set)."""
    global _worker_info
    try:
        _seed_worker(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        if init_fn is not None:
            init_fn(worker_id)
    except Exception:
        result_queue.put((None, ExceptionWrapper(sys.exc_info(),
                                                 f"in DataLoader worker process {worker_id}")))
        return
    batches = iterable_batches(dataset) if iterable_batches is not None else None
    while True:
        task = index_queue.get()
        if task is None:
            break
        task_id, indices = task
        if task_id == RESET:  # persistent workers, a new epoch of an iterable data set
            batches = iterable_batches(dataset)
            continue
        try:
            if batches is None:
                data = fetch(indices)
            else:
                try:
                    data = next(batches)
                except StopIteration:
                    data = IterableDone(worker_id)
        except Exception:
            where = f"in DataLoader worker process {worker_id}"
            if indices is not None:
                where += f" (sample indices {list(indices)})"
            data = ExceptionWrapper(sys.exc_info(), where)
        result_queue.put((task_id, data))
