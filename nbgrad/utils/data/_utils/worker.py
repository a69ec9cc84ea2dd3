"""What runs inside a DataLoader worker process: its :class:`WorkerInfo`, seeding, the fetch
loop, and the wrapper that carries an exception (with its traceback text) back to the main
process."""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from nbgrad.ops.creation import manual_seed

__all__ = ["WorkerInfo", "get_worker_info", "ExceptionWrapper"]

_worker_info: WorkerInfo | None = None
STATUS_CHECK_INTERVAL = 0.5  # seconds between checks that the parent is still alive


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker process: ``id``, ``num_workers``, ``seed`` and this worker's copy of
    the ``dataset`` (what :func:`get_worker_info` returns there).

    >>> WorkerInfo(id=0, num_workers=2, seed=7, dataset=None).num_workers
    2
    """

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """The :class:`WorkerInfo` of the current DataLoader worker, ``None`` in the main process.

    >>> import nbgrad as nb
    >>> nb.utils.data.get_worker_info() is None
    True
    """
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as its type and traceback
    text (tracebacks do not pickle), re-raised there by :meth:`reraise`."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            raise KeyError(msg)  # (repr of the message, as PyTorch's KeyErrorMessage avoids)
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


class _StopWorker:
    """Sent by a worker whose iterable data set is exhausted for the current epoch."""

    def __init__(self, worker_id: int, epoch: int) -> None:
        self.worker_id = worker_id
        self.epoch = epoch


def _seed_worker(seed: int, worker_id: int) -> None:
    random.seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, seed]).generate_state(4))
    manual_seed(seed % 2 ** 63)


def _fetch(kind: str, dataset, state: dict, index, auto_collation: bool, collate_fn,
           drop_last: bool):
    if kind == "map":
        if auto_collation:
            getitems = getattr(dataset, "__getitems__", None)
            if callable(getitems):
                data = getitems(index)
            else:
                data = []
                for i in index:
                    state["index"] = i
                    data.append(dataset[i])
            return collate_fn(data)
        state["index"] = index
        return collate_fn(dataset[index])
    it = state["iter"]
    if auto_collation:
        data = []
        for _ in range(len(index)):
            try:
                data.append(next(it))
            except StopIteration:
                break
        if not data or (drop_last and len(data) < len(index)):
            raise StopIteration
        return collate_fn(data)
    return collate_fn(next(it))


def _worker_loop(kind, dataset, index_queue, data_queue, done_event, auto_collation,
                 collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers) -> None:
    global _worker_info
    try:
        seed = base_seed + worker_id
        _seed_worker(seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        init_error = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
        except Exception:
            init_error = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        parent = os.getppid()
        state: dict = {"epoch": None}
        while True:
            try:
                task = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent or done_event.is_set():
                    break
                continue
            if task is None:
                break
            if done_event.is_set():
                continue
            idx, epoch, index = task
            if init_error is not None:
                data_queue.put((idx, init_error))
                init_error = None  # reported once; the iterator shuts down on it
                continue
            if kind == "iterable" and state["epoch"] != epoch:
                state["epoch"] = epoch
                state["iter"] = iter(dataset)
            state["index"] = index
            try:
                data = _fetch(kind, dataset, state, index, auto_collation, collate_fn, drop_last)
            except StopIteration:
                data = _StopWorker(worker_id, epoch)
            except Exception:
                where = f"in DataLoader worker process {worker_id}"
                if kind == "map":
                    where += f" (while fetching index {state['index']})"
                data = ExceptionWrapper(where=where)
            data_queue.put((idx, data))
            del data
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()
