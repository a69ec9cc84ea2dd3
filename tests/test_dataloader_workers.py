"""DataLoader with worker processes: same batches as in-process loading, worker info and
seeding, iterable sharding, persistent workers, and the faults (a worker that raises, one that
is killed, one that hangs past ``timeout``), each reported without hanging and without orphans.

Every test is bounded by an alarm (pytest-timeout is not installed)."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset, get_worker_info

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs SIGALRM")


@pytest.fixture(autouse=True)
def _bounded():
    def fail(*_):
        raise TimeoutError("test ran past its 60 s bound")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running: read its state where /proc exists
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _gone(pids, within=5.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


class Info(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "worker": info.id, "n": info.num_workers, "seed": info.seed,
                "pid": os.getpid(), "same": info.dataset is not None}


def test_workers_give_the_same_batches_in_order():
    ds = TensorDataset(nb.arange(20).reshape(10, 2).float(), nb.arange(10))
    single = [b[1].tolist() for b in DataLoader(ds, batch_size=3)]
    multi = DataLoader(ds, batch_size=3, num_workers=2, prefetch_factor=1)
    assert [b[1].tolist() for b in multi] == single
    shuffled = DataLoader(ds, batch_size=4, shuffle=True, num_workers=2, seed=0)
    assert [b[1].tolist() for b in shuffled] == \
        [b[1].tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, seed=0)]


def test_worker_info_and_seeds():
    loader = DataLoader(Info(), batch_size=2, num_workers=2, generator=np.random.default_rng(7))
    batches = list(loader)
    assert [b["i"].tolist() for b in batches] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    workers = [b["worker"].tolist() for b in batches]
    assert workers == [[0, 0], [1, 1], [0, 0], [1, 1]]  # round robin over the workers
    assert all(b["n"].tolist() == [2, 2] for b in batches)
    seeds = {w[0]: b["seed"][0].item() for w, b in zip(workers, batches)}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker id
    assert len({b["pid"][0].item() for b in batches}) == 2
    assert os.getpid() not in {b["pid"][0].item() for b in batches}


def _init(worker_id):
    np.random.seed(100 + worker_id)


class Draw(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return float(np.random.rand())


def test_worker_init_fn_runs_in_each_worker():
    out = next(iter(DataLoader(Draw(), batch_size=1, num_workers=2, worker_init_fn=_init)))
    assert out.item() == np.random.RandomState(100).rand()


class Shards(IterableDataset):
    def __iter__(self):
        info = get_worker_info()
        n, k = (1, 0) if info is None else (info.num_workers, info.id)
        return iter(range(k, 10, n))


def test_iterable_dataset_sharded_by_worker_info():
    got = [b.tolist() for b in DataLoader(Shards(), batch_size=2, num_workers=2)]
    assert sorted(v for b in got for v in b) == list(range(10))
    assert got[0] == [0, 2] and got[1] == [1, 3]


def test_persistent_workers_are_reused_between_epochs():
    loader = DataLoader(Info(), batch_size=4, num_workers=2, persistent_workers=True)
    first = {b["pid"][0].item() for b in loader}
    pids = loader._iterator.worker_pids()
    second = {b["pid"][0].item() for b in loader}
    assert first == second == set(pids)
    half = iter(loader)
    next(half)  # an epoch left unfinished: its late results must not leak into the next
    assert [b["i"].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    loader._iterator._shutdown_workers()
    assert _gone(pids)


class Faulty(Dataset):
    def __init__(self, mode, bad=5):
        self.mode, self.bad = mode, bad

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == self.bad:
            if self.mode == "raise":
                raise ValueError(f"bad sample {i}")
            if self.mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.mode == "hang":
                time.sleep(30)
        return i


def _pids_of(loader_iter):
    return loader_iter._it.worker_pids()


def test_a_worker_that_raises_is_reported_with_its_id_and_index():
    loader = DataLoader(Faulty("raise"), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    pids = _pids_of(it)
    with pytest.raises(ValueError) as err:
        next(it)
    msg = str(err.value)
    assert "Caught ValueError in DataLoader worker process 0" in msg
    assert "index 5" in msg and "bad sample 5" in msg and "Traceback" in msg
    assert next(it).tolist() == [6, 7]  # the workers carry on, as PyTorch's
    with pytest.raises(StopIteration):
        next(it)
    assert _gone(pids)


def test_a_killed_worker_is_reported_not_hung_on():
    loader = DataLoader(Faulty("kill"), batch_size=2, num_workers=2)
    it = iter(loader)  # (batches before the kill may be lost with the worker: not asserted)
    pids = _pids_of(it)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           "unexpectedly"):
        list(it)
    assert time.monotonic() - start < 20
    assert _gone(pids)  # the other worker is cleaned up too


def test_a_hanging_worker_times_out():
    loader = DataLoader(Faulty("hang"), batch_size=2, num_workers=2, timeout=1.5)
    it = iter(loader)
    next(it)
    pids = _pids_of(it)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader timed out after 1.5 seconds"):
        list(it)
    assert time.monotonic() - start < 15
    assert _gone(pids)


def test_a_new_loader_works_after_the_faults():
    for mode in ("raise", "kill"):
        with pytest.raises((ValueError, RuntimeError)):
            list(DataLoader(Faulty(mode, bad=0), batch_size=2, num_workers=2))
    assert [b.tolist() for b in DataLoader(Faulty("none"), batch_size=4, num_workers=2)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7]]
