"""nb.utils.data: datasets, batching, shuffling, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.utils.data import DataLoader, Dataset, Subset, TensorDataset, default_collate


def make_ds(n=10):
    return TensorDataset(nb.arange(n * 2).reshape(n, 2).float(), nb.arange(n))


def test_tensor_dataset():
    ds = make_ds(4)
    assert len(ds) == 4
    x, y = ds[2]
    assert x.tolist() == [4.0, 5.0] and y.item() == 2
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(nb.zeros(3, 2), nb.zeros(4))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(TypeError, match="first dimension"):
        TensorDataset(nb.tensor(1.0))


def test_batches_in_order_with_a_partial_last_batch():
    loader = DataLoader(make_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0][0].shape == (4, 2) and batches[0][0].dtype is nb.float32
    assert batches[2][0].tolist() == [[16.0, 17.0], [18.0, 19.0]]


def test_drop_last():
    loader = DataLoader(make_ds(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert list(DataLoader(make_ds(3), batch_size=4, drop_last=True)) == []
    assert len(DataLoader(make_ds(8), batch_size=4, drop_last=True)) == 2


def test_batch_larger_than_dataset_and_empty_dataset():
    (only,) = list(DataLoader(make_ds(3), batch_size=100))
    assert only[1].tolist() == [0, 1, 2]
    empty = TensorDataset(nb.zeros(0, 2))
    assert list(DataLoader(empty, batch_size=2)) == [] and len(DataLoader(empty)) == 0


def test_batches_are_copies_not_views_of_the_data():
    ds = make_ds(4)
    x, _ = next(iter(DataLoader(ds, batch_size=2)))
    x.add_(100.0)
    assert ds.tensors[0][0].tolist() == [0.0, 1.0]


def test_shuffle_is_a_permutation_reproducible_with_a_seed():
    def epoch(loader):
        return np.concatenate([b[1].numpy() for b in loader])

    a = DataLoader(make_ds(50), batch_size=7, shuffle=True, seed=3)
    first, second = epoch(a), epoch(a)
    assert sorted(first) == list(range(50))
    assert not np.array_equal(first, np.arange(50))
    assert not np.array_equal(first, second)  # a new order each epoch
    b = DataLoader(make_ds(50), batch_size=7, shuffle=True, seed=3)
    np.testing.assert_array_equal(epoch(b), first)
    np.testing.assert_array_equal(epoch(b), second)
    gen = DataLoader(make_ds(50), batch_size=7, shuffle=True,
                     generator=np.random.default_rng(3))
    np.testing.assert_array_equal(epoch(gen), first)


def test_shuffle_follows_the_global_seed():
    def epoch():
        loader = DataLoader(make_ds(30), batch_size=30, shuffle=True)
        return next(iter(loader))[1].numpy()

    nb.manual_seed(11)
    a = epoch()
    nb.manual_seed(11)
    np.testing.assert_array_equal(epoch(), a)
    assert sorted(a) == list(range(30))


def test_rows_stay_paired_after_shuffling():
    for x, y in DataLoader(make_ds(20), batch_size=6, shuffle=True, seed=0):
        np.testing.assert_array_equal(x.numpy()[:, 0], 2 * y.numpy())


def test_invalid_arguments():
    ds = make_ds(4)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="either generator or seed"):
        DataLoader(ds, shuffle=True, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        DataLoader(ds, shuffle=True, generator=42)


class Squares(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": nb.tensor([float(i), float(i * i)]), "label": i % 2, "name": f"s{i}"}


def test_generic_dataset_is_collated():
    batches = list(DataLoader(Squares(), batch_size=2))
    assert len(batches) == 3
    first = batches[0]
    assert first["x"].tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert first["label"].tolist() == [0, 1] and first["label"].dtype is nb.int64
    assert first["name"] == ["s0", "s1"]


def test_custom_collate_fn_and_subset():
    loader = DataLoader(make_ds(6), batch_size=3, collate_fn=lambda items: len(items))
    assert list(loader) == [3, 3]
    sub = Subset(make_ds(10), [9, 3])
    assert len(sub) == 2 and sub[0][1].item() == 9
    assert [b[1].tolist() for b in DataLoader(sub, batch_size=2)] == [[9, 3]]


def test_default_collate_of_tuples_and_errors():
    out = default_collate([(nb.ones(2), 1.5), (nb.zeros(2), 2.5)])
    assert isinstance(out, list) and out[0].shape == (2, 2)  # a list, as PyTorch's
    assert out[1].dtype is nb.float64 and out[1].tolist() == [1.5, 2.5]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])


def test_abstract_dataset():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]


# ------------------------------------------------------------------ the package's other names
from collections import namedtuple  # noqa: E402

from nbgrad.utils.data import (  # noqa: E402
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    StackDataset,
    SubsetRandomSampler,
    WeightedRandomSampler,
    default_convert,
    get_worker_info,
    random_split,
)


def test_pytorch_module_paths():
    import nbgrad.utils.data._utils.collate as collate
    import nbgrad.utils.data.dataloader as dataloader
    import nbgrad.utils.data.dataset as dataset
    import nbgrad.utils.data.sampler as sampler
    assert dataloader.DataLoader is DataLoader and dataset.Subset is Subset
    assert sampler.RandomSampler is RandomSampler and collate.default_collate is default_collate
    assert get_worker_info() is None


def test_default_collate_follows_pytorch_types():
    assert default_collate([1, 2]).dtype is nb.int64
    assert default_collate([True, False]).dtype is nb.bool
    assert default_collate([np.float32(1), np.float32(2)]).dtype is nb.float32
    arr = default_collate([np.array([1, 2], np.int32), np.array([3, 4], np.int32)])
    assert arr.dtype is nb.int32 and arr.tolist() == [[1, 2], [3, 4]]
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert [t.tolist() for t in default_collate([[1, 2], [3, 4]])] == [[1, 3], [2, 4]]
    Point = namedtuple("Point", "x y")
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3] and p.y.dtype is nb.float64
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object()])
    conv = default_convert({"a": np.array([1.0]), "s": "x", "t": (np.array([2]), 3)})
    assert conv["a"].tolist() == [1.0] and conv["s"] == "x" and conv["t"][1] == 3
    assert conv["t"][0].tolist() == [2]


def test_concat_chain_stack_datasets():
    ds = ConcatDataset([[1, 2], [3, 4, 5]])
    assert len(ds) == 5 and [ds[i] for i in range(5)] == [1, 2, 3, 4, 5] and ds[-2] == 4
    both = make_ds(2) + make_ds(3)
    assert isinstance(both, ConcatDataset) and len(both) == 5 and both[4][1].item() == 2
    with pytest.raises(IndexError):
        ds[5]

    class Stream(IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

    assert list(ChainDataset([Stream(2), Stream(1)])) == [0, 1, 0]
    assert StackDataset([1, 2], [3, 4])[0] == (1, 3)
    assert StackDataset(a=[1, 2], b=[3, 4])[1] == {"a": 2, "b": 4}
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset([1], [1, 2])


def test_random_split_lengths_fractions_and_remainder():
    parts = random_split(range(10), [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    # floors 3, 3, 4 (10 in all): the remaining 1 goes to the first split, as PyTorch
    parts = random_split(range(11), [0.3, 0.3, 0.4], generator=np.random.default_rng(1))
    assert [len(p) for p in parts] == [4, 3, 4]
    # floors 3, 3, 3: the remaining 1 to the first split
    assert [len(p) for p in random_split(range(10), [0.33, 0.33, 0.34])] == [4, 3, 3]
    again = random_split(range(11), [0.3, 0.3, 0.4], generator=np.random.default_rng(1))
    assert [list(p) for p in again] == [list(p) for p in parts]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(5), [2, 2])


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    s = RandomSampler(range(6), generator=np.random.default_rng(0))
    a, b = list(s), list(s)
    assert sorted(a) == list(range(6)) and a != b
    np.testing.assert_array_equal(a, np.random.default_rng(0).permutation(6))
    r = list(RandomSampler(range(3), replacement=True, num_samples=50,
                           generator=np.random.default_rng(0)))
    assert len(r) == 50 and set(r) <= {0, 1, 2}
    assert len(list(RandomSampler(range(3), num_samples=7))) == 7
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    assert sorted(SubsetRandomSampler([4, 8, 9])) == [4, 8, 9]
    w = list(WeightedRandomSampler([0.0, 1.0, 3.0], 2000, generator=np.random.default_rng(0)))
    counts = np.bincount(w, minlength=3)
    assert counts[0] == 0 and 0.70 < counts[2] / 2000 < 0.80
    nr = list(WeightedRandomSampler([1.0, 1.0, 1.0, 0.0], 3, replacement=False))
    assert sorted(nr) == [0, 1, 2]
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, drop_last=False)) == 3


def test_random_sampler_state_resumes_mid_epoch():
    s = RandomSampler(range(8), generator=np.random.default_rng(3))
    it = iter(s)
    head = [next(it) for _ in range(3)]
    state = s.state_dict()
    rest = list(it)
    nxt = list(s)
    t = RandomSampler(range(8), generator=np.random.default_rng(99))
    t.load_state_dict(state)
    assert list(t) == rest and list(t) == nxt and sorted(head + rest) == list(range(8))
    assert state["epoch"] == 1 and state["position"] == 3


def test_dataloader_state_dict_resumes():
    ds = make_ds(10)
    dl = DataLoader(ds, batch_size=3, shuffle=True, seed=1)
    it = iter(dl)
    next(it)
    state = dl.state_dict()
    assert state["batches_yielded"] == 1 and state["epoch"] == 1
    rest = [b[1].tolist() for b in it]
    resumed = DataLoader(ds, batch_size=3, shuffle=True, seed=5)
    resumed.load_state_dict(state)
    assert [b[1].tolist() for b in resumed] == rest
    plain = DataLoader(ds, batch_size=4)
    it = iter(plain)
    next(it)
    again = DataLoader(ds, batch_size=4)
    again.load_state_dict(plain.state_dict())
    assert [b[1].tolist() for b in again] == [[4, 5, 6, 7], [8, 9]]


def test_dataloader_keywords_and_mutual_exclusion():
    ds = make_ds(6)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=SequentialSampler(ds))
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=BatchSampler(range(6), 2, False))
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    bs = DataLoader(ds, batch_sampler=BatchSampler([5, 0, 1], 2, False))
    assert [b[1].tolist() for b in bs] == [[5, 0], [1]] and len(bs) == 2
    sampled = DataLoader(ds, batch_size=2, sampler=[3, 2, 1])
    assert [b[1].tolist() for b in sampled] == [[3, 2], [1]]
    unbatched = list(DataLoader(ds, batch_size=None))
    assert len(unbatched) == 6 and unbatched[2][1].item() == 2
    pinned = DataLoader(ds, batch_size=3, pin_memory=True, pin_memory_device="", in_order=True)
    assert len(list(pinned)) == 2


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset_loader():
    dl = DataLoader(Stream(5), batch_size=2)
    assert [b.tolist() for b in dl] == [[0, 1], [2, 3], [4]] and len(dl) == 3
    assert [b.tolist() for b in DataLoader(Stream(5), batch_size=2, drop_last=True)] == \
        [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(3), sampler=[0])


def test_nb_generator_drives_the_samplers_and_resumes():
    if not hasattr(nb, "Generator"):
        pytest.skip("nb.Generator not available")
    a = list(RandomSampler(range(9), generator=nb.Generator().manual_seed(4)))
    assert a == list(RandomSampler(range(9), generator=nb.Generator().manual_seed(4)))
    assert sorted(a) == list(range(9))
    dl = DataLoader(make_ds(9), batch_size=2, shuffle=True, generator=nb.Generator().manual_seed(1))
    it = iter(dl)
    next(it)
    state = dl.state_dict()
    rest, following = [b[1].tolist() for b in it], [b[1].tolist() for b in dl]
    resumed = DataLoader(make_ds(9), batch_size=2, shuffle=True,
                         generator=nb.Generator().manual_seed(77))
    resumed.load_state_dict(state)
    assert [b[1].tolist() for b in resumed] == rest
    assert [b[1].tolist() for b in resumed] == following  # the generator's state came along
