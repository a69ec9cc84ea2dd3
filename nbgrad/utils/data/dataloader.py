"""``DataLoader``: batches from a data set, in this process or in worker processes
(``nbgrad.utils.data.dataloader``, as PyTorch's)."""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator

import numpy as np

from nbgrad.ops.creation import tensor
from nbgrad.tensor import Tensor
from nbgrad.utils.data._utils import worker as _worker
from nbgrad.utils.data._utils.collate import default_collate, default_convert
from nbgrad.utils.data._utils.rng import check_generator
from nbgrad.utils.data._utils.rng import seed as _draw_seed
from nbgrad.utils.data._utils.worker import get_worker_info
from nbgrad.utils.data.dataset import Dataset, IterableDataset, TensorDataset
from nbgrad.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_POLL_S = 0.1  # how often a waiting main process checks that its workers are alive


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: None forever (the data set decides)."""

    def __iter__(self):
        while True:
            yield None


class _MapFetcher:
    """Builds one batch (or one sample, without automatic batching) of a map-style data set."""

    def __init__(self, dataset, collate_fn: Callable, auto_collation: bool) -> None:
        self.dataset, self.collate_fn, self.auto_collation = dataset, collate_fn, auto_collation

    def __call__(self, indices):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[indices])
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(list(indices)) if getitems else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)


class _IterableBatches:
    """The batches of an iterable data set: ``batch_size`` samples collated at a time."""

    def __init__(self, batch_size: int | None, drop_last: bool, collate_fn: Callable) -> None:
        self.batch_size, self.drop_last, self.collate_fn = batch_size, drop_last, collate_fn

    def __call__(self, dataset) -> Iterator:
        it = iter(dataset)
        if self.batch_size is None:
            for sample in it:
                yield self.collate_fn(sample)
            return
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield self.collate_fn(batch)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches, as PyTorch's DataLoader.

    ``shuffle`` draws a new order each epoch (from ``generator``, a
    ``numpy.random.Generator``, or ``seed``, else from nbgrad's global generator:
    ``nb.manual_seed`` makes it repeatable). ``sampler`` / ``batch_sampler`` give the order
    instead; ``batch_size=None`` turns automatic batching off. ``num_workers > 0`` loads in
    that many worker processes (``prefetch_factor`` batches ahead each, ``persistent_workers``
    kept between epochs, ``timeout`` seconds at most per batch, ``worker_init_fn(worker_id)``
    run in each); an exception in a worker is raised here with the worker's traceback, a worker
    that dies is reported. ``pin_memory`` is accepted and does nothing on the CPU.

    >>> import nbgrad as nb
    >>> ds = nb.utils.data.TensorDataset(nb.arange(5))
    >>> [b[0].tolist() for b in nb.utils.data.DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | None = None, batch_sampler: Sampler | None = None,
                 num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator: np.random.Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 seed: int | None = None) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        check_generator(generator)
        if seed is not None:
            generator = np.random.default_rng(seed)
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.generator = generator
        iterable = isinstance(dataset, IterableDataset)
        self._iterable = iterable
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.shuffle = bool(shuffle)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self) -> Iterator:
        if self.num_workers == 0:
            return self._single_process()
        if self.persistent_workers:
            if self._iterator is None:
                self._iterator = _WorkerIterator(self)
            else:
                self._iterator._reset()
            return self._iterator
        return _WorkerIterator(self)

    def _fetcher(self) -> _MapFetcher:
        return _MapFetcher(self.dataset, self.collate_fn, self._auto_collation)

    def _single_process(self) -> Iterator:
        if self._iterable:
            yield from _IterableBatches(self.batch_size, self.drop_last, self.collate_fn)(
                self.dataset)
            return
        fast = (isinstance(self.dataset, TensorDataset) and self._auto_collation
                and self.collate_fn is default_collate)
        fetch = self._fetcher()
        for indices in self._index_sampler:
            yield self._index_batch(indices) if fast else fetch(indices)

    def _index_batch(self, indices) -> list[Tensor]:
        """A TensorDataset batch by indexing each tensor once (same values as collating)."""
        idx = np.asarray(indices, dtype=np.int64)
        return [t[tensor(idx, device=t.device)] for t in self.dataset.tensors]


class _WorkerIterator:
    """One pass (or, with persistent workers, every pass) over a DataLoader's batches loaded
    by worker processes: see :mod:`nbgrad.utils.data._utils.worker` for the protocol."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = multiprocessing.get_context()
        elif isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        n = loader.num_workers
        self._result_queue = ctx.Queue()
        self._index_queues = [ctx.Queue() for _ in range(n)]
        base_seed = _draw_seed(loader.generator)
        iterable = (_IterableBatches(loader.batch_size, loader.drop_last, loader.collate_fn)
                    if loader._iterable else None)
        self._workers = []
        for i in range(n):
            w = ctx.Process(target=_worker.worker_loop, daemon=True, args=(
                loader.dataset, loader._fetcher(), self._index_queues[i], self._result_queue,
                i, n, base_seed + i, loader.worker_init_fn, iterable))
            w.start()
            self._workers.append(w)
        self._shut = False
        self._start_epoch()

    def _start_epoch(self) -> None:
        loader = self._loader
        self._tasks = iter(loader._index_sampler)
        self._active = [True] * len(self._workers)
        self._next_worker = itertools.cycle(range(len(self._workers)))
        self._send_idx = 0
        self._rcvd_idx = 0
        self._outstanding: dict[int, int] = {}
        self._buffer: dict[int, object] = {}
        for _ in range(loader.prefetch_factor * len(self._workers)):
            self._put_task()

    def _reset(self) -> None:
        """Start a new epoch on the same (persistent) workers."""
        while self._outstanding:  # results of an epoch left early
            self._receive()
        if self._loader._iterable:
            for q in self._index_queues:
                q.put((_worker.RESET, None))
        self._start_epoch()

    def _put_task(self) -> None:
        if not any(self._active):
            return
        try:
            indices = next(self._tasks)
        except StopIteration:
            return
        for _ in range(len(self._workers)):
            w = next(self._next_worker)
            if self._active[w]:
                break
        self._index_queues[w].put((self._send_idx, indices))
        self._outstanding[self._send_idx] = w
        self._send_idx += 1

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            if self._rcvd_idx in self._buffer:
                data = self._buffer.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                if isinstance(data, _worker.IterableDone):
                    self._active[data.worker_id] = False
                    continue
                self._put_task()
                return self._unwrap(data)
            if not self._outstanding:
                if not self._loader.persistent_workers:
                    self._shutdown()
                raise StopIteration
            task_id, data = self._receive()
            if task_id is None:  # a worker failed before its first task
                self._shutdown()
                data.reraise()
            if self._loader.in_order or isinstance(data, _worker.IterableDone):
                self._buffer[task_id] = data
                continue
            self._put_task()
            return self._unwrap(data)

    def _unwrap(self, data):
        if isinstance(data, _worker.ExceptionWrapper):
            self._shutdown()
            data.reraise()
        return data

    def _receive(self):
        timeout = self._loader.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S,
                                                                 deadline - time.monotonic()))
            try:
                task_id, data = self._result_queue.get(timeout=wait)
            except queue.Empty:
                dead = [w.pid for w in self._workers if not w.is_alive()]
                if dead:
                    self._shutdown()
                    pids = ", ".join(str(p) for p in dead)
                    raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited "
                                       "unexpectedly") from None
                if deadline is not None and time.monotonic() >= deadline:
                    self._shutdown()
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
                continue
            self._outstanding.pop(task_id, None)
            return task_id, data

    def _shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        for q, w in zip(self._index_queues, self._workers):
            if w.is_alive():
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
        for w in self._workers:
            w.join(timeout=1.0)
            if w.is_alive():
                w.terminate()
                w.join(timeout=1.0)
            if w.is_alive():
                w.kill()
                w.join()
        for q in (*self._index_queues, self._result_queue):
            q.cancel_join_thread()
            q.close()
        self._outstanding.clear()
        self._outstanding = {}

    def __del__(self):
        try:
            self._shutdown()
        except Exception:
            pass
