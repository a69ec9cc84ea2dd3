"""``DataLoader``: batches from a data set, in the main process or in worker processes
(PyTorch's ``torch.utils.data.dataloader``)."""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
from collections.abc import Callable, Iterator

import numpy as np

from nbgrad.ops.creation import tensor
from nbgrad.utils.data._utils import rng
from nbgrad.utils.data._utils.collate import default_collate, default_convert
from nbgrad.utils.data._utils.worker import (
    STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    _StopWorker,
    _worker_loop,
    get_worker_info,
)
from nbgrad.utils.data.dataset import IterableDataset, TensorDataset
from nbgrad.utils.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: ``None`` forever (the data set decides the end)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over ``dataset`` in mini-batches, with PyTorch's keywords.

    ``shuffle`` draws a new order each epoch from ``generator`` (a ``numpy.random.Generator``,
    or a generator with ``manual_seed``; ``seed=`` builds a numpy one) or else from nbgrad's
    global generator (``nb.manual_seed``). ``sampler`` / ``batch_sampler`` pick the indices
    instead; ``batch_size=None`` turns automatic batching off (samples are
    ``default_convert``-ed). ``num_workers > 0`` fetches and collates batches in that many
    worker processes (``prefetch_factor`` batches ahead each, ``persistent_workers`` kept
    between epochs, ``timeout`` seconds at most per batch); a worker's exception is re-raised
    here naming the worker and the index, a worker that dies is reported. ``pin_memory`` is
    accepted (nothing to pin on the CPU).

    :meth:`state_dict` / :meth:`load_state_dict` save and restore where iteration stands
    (epoch, batches handed out this epoch, the sampler's state), for exact resume.

    >>> import nbgrad as nb
    >>> ds = nb.utils.data.TensorDataset(nb.arange(5))
    >>> [b[0].tolist() for b in nb.utils.data.DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True, seed: int | None = None) -> None:
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
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
        rng.check_generator(generator)
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

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = "iterable"
            if shuffle not in (False, None):
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            self._dataset_kind = "map"
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
            if self._dataset_kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, bool(drop_last))
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.shuffle = bool(shuffle)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None
        self._epoch = 0
        self._yielded = 0
        self._skip = 0

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._dataset_kind == "iterable":
            n = len(self.dataset)  # TypeError when the stream has no length, as PyTorch
            if self.batch_size is not None:
                return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self) -> Iterator:
        self._epoch += 1
        skip, self._skip = self._skip, 0
        self._yielded = 0
        if self.num_workers == 0:
            it = _SingleProcessIter(self)
        elif self.persistent_workers:
            if self._iterator is None or self._iterator._shutdown:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator._reset(self)
            it = self._iterator
        else:
            it = _MultiProcessIter(self)
        for _ in range(skip):  # resume: the batches of this epoch handed out before the save
            next(it, None)
        self._yielded = skip
        return _Counting(self, it)

    # ------------------------------------------------------------------ exact resume
    def state_dict(self) -> dict:
        """``{"epoch", "batches_yielded", "sampler"}``: where iteration stands. ``sampler`` is
        the sampler's own ``state_dict()`` when it has one (``RandomSampler``), else ``None``.
        When the sampler keeps its state, :meth:`load_state_dict` continues its saved order;
        otherwise the first ``batches_yielded`` batches of the next epoch are skipped.

        >>> import numpy as np
        >>> import nbgrad as nb
        >>> ds = nb.utils.data.TensorDataset(nb.arange(6))
        >>> dl = nb.utils.data.DataLoader(ds, batch_size=2, shuffle=True, seed=0)
        >>> it = iter(dl); first = next(it)[0].tolist()
        >>> resumed = nb.utils.data.DataLoader(ds, batch_size=2, shuffle=True, seed=9)
        >>> resumed.load_state_dict(dl.state_dict())
        >>> [b[0].tolist() for b in resumed] == [b[0].tolist() for b in it]
        True
        """
        sampler = self.sampler
        state = getattr(sampler, "state_dict", None)
        return {"epoch": self._epoch, "batches_yielded": self._yielded,
                "sampler": state() if callable(state) else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: the next ``iter`` continues the saved epoch.

        >>> import nbgrad as nb
        >>> dl = nb.utils.data.DataLoader(list(range(5)), batch_size=2)
        >>> dl.load_state_dict({"epoch": 1, "batches_yielded": 2, "sampler": None})
        >>> [b.tolist() for b in dl]
        [[4]]
        """
        self._epoch = int(state["epoch"]) - 1
        sampler_state = state.get("sampler")
        if sampler_state is not None and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(sampler_state)
            self._skip = 0
        else:
            self._skip = int(state.get("batches_yielded", 0))

    def __del__(self):
        it = getattr(self, "_iterator", None)
        if it is not None:
            it._shutdown_workers()


class _Counting:
    """What ``iter(loader)`` returns: the loader's iterator, counting the batches handed out
    (an exception from a batch leaves it usable, as PyTorch's)."""

    def __init__(self, loader: DataLoader, it) -> None:
        self._loader = loader
        self._it = it

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._it)
        self._loader._yielded += 1
        return batch

    def __len__(self) -> int:
        return len(self._loader)


class _SingleProcessIter:
    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._kind = loader._dataset_kind
        self._dataset = loader.dataset
        self._auto = loader._auto_collation
        self._collate = loader.collate_fn
        self._drop_last = loader.drop_last
        self._sampler_iter = iter(loader._index_sampler)
        self._fast = (self._kind == "map" and self._auto and self._collate is default_collate
                      and isinstance(self._dataset, TensorDataset))
        if self._kind == "iterable":
            self._data_iter = iter(self._dataset)

    def __iter__(self):
        return self

    def __next__(self):
        index = next(self._sampler_iter)
        if self._kind == "iterable":
            if self._auto:
                data = list(itertools.islice(self._data_iter, len(index)))
                if not data or (self._drop_last and len(data) < len(index)):
                    raise StopIteration
                return self._collate(data)
            return self._collate(next(self._data_iter))
        if self._fast:
            idx = np.asarray(index, dtype=np.int64)
            return [t[tensor(idx, device=t.device)] for t in self._dataset.tensors]
        if self._auto:
            getitems = getattr(self._dataset, "__getitems__", None)
            if callable(getitems):
                return self._collate(getitems(index))
            return self._collate([self._dataset[i] for i in index])
        return self._collate(self._dataset[index])


class _MultiProcessIter:
    """Worker processes, each with its own index queue and one shared result queue; batches
    come back in sampler order (``in_order``), ``prefetch_factor`` per worker in flight."""

    def __init__(self, loader: DataLoader) -> None:
        self._shutdown = True
        self._workers: list = []
        ctx = loader.multiprocessing_context
        if ctx is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        elif isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        self._loader = loader
        self._num_workers = loader.num_workers
        self._prefetch = max(1, loader.prefetch_factor or 0) * self._num_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._kind = loader._dataset_kind
        base_seed = rng.seed_from(loader.generator)
        self._done = ctx.Event()
        self._results = ctx.Queue()
        self._index_queues = []
        for wid in range(self._num_workers):
            iq = ctx.Queue()
            iq.cancel_join_thread()
            w = ctx.Process(target=_worker_loop, daemon=True, args=(
                self._kind, loader.dataset, iq, self._results, self._done,
                loader._auto_collation, loader.collate_fn, loader.drop_last, base_seed,
                loader.worker_init_fn, wid, self._num_workers))
            w.start()
            self._index_queues.append(iq)
            self._workers.append(w)
        self._shutdown = False
        self._epoch = 0
        self._reset(loader, first=True)

    def _reset(self, loader: DataLoader, first: bool = False) -> None:
        self._epoch += 1
        self._sampler_iter = iter(loader._index_sampler)
        # task numbers keep counting across epochs: results of an epoch left unfinished
        # (persistent workers) carry numbers no longer awaited and are dropped
        if first:
            self._send = 0
        self._rcvd = self._send
        self._tasks: dict = {}
        self._active = [True] * self._num_workers
        self._next_worker = itertools.cycle(range(self._num_workers))
        for _ in range(self._prefetch):
            self._put_index()

    def _put_index(self) -> None:
        if not any(self._active):
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._next_worker)
            if self._active[wid]:
                break
        self._index_queues[wid].put((self._send, self._epoch, index))
        self._tasks[self._send] = (wid,)
        self._send += 1

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            while self._rcvd < self._send:
                info = self._tasks.get(self._rcvd)
                if info is None:  # handed out already (in_order=False) or a stop marker
                    self._rcvd += 1
                    continue
                if len(info) == 2 or self._active[info[0]]:
                    break
                del self._tasks[self._rcvd]  # a task sent to a worker that has stopped
                self._rcvd += 1
            else:
                if not self._loader.persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            info = self._tasks[self._rcvd]
            if len(info) == 2:
                del self._tasks[self._rcvd]
                return self._process(info[1])
            idx, data = self._get()
            if isinstance(data, _StopWorker):
                if data.epoch == self._epoch:
                    self._active[data.worker_id] = False
                    self._tasks.pop(idx, None)
                continue
            if idx not in self._tasks:
                continue  # a left-over of an earlier epoch
            if idx == self._rcvd or not self._in_order:
                del self._tasks[idx]
                return self._process(data, idx)
            self._tasks[idx] = (self._tasks[idx][0], data)

    def _process(self, data, idx=None):
        if idx is None or idx == self._rcvd:
            self._rcvd += 1
        self._put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _get(self):
        """The next ``(task index, data)`` from any worker; raises when a worker has died or
        ``timeout`` passed."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = STATUS_CHECK_INTERVAL / 5
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 0.0))
            try:
                return self._results.get(timeout=wait)
            except queue.Empty:
                pass
            dead = [w for w, active in zip(self._workers, self._active)
                    if not w.is_alive()]
            if dead:
                pids = ", ".join(str(w.pid) for w in dead)
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")
            if deadline is not None and time.monotonic() >= deadline:
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def worker_pids(self) -> list[int]:
        """The process ids of this iterator's workers."""
        return [w.pid for w in self._workers]

    def _shutdown_workers(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._done.set()
        for iq in self._index_queues:
            try:
                iq.put(None)
            except (OSError, ValueError):
                pass
        end = time.monotonic() + 2.0
        for w in self._workers:
            w.join(timeout=max(0.0, end - time.monotonic()))
        for w in self._workers:
            if w.is_alive():
                w.kill()
                w.join(timeout=1.0)
        for q in (*self._index_queues, self._results):
            q.cancel_join_thread()
            q.close()
        if self._loader._iterator is self:
            self._loader._iterator = None

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:
            pass
