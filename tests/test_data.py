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
    # PyTorch: a batch of tuples collates to a list of fields; Python floats give float64
    out = default_collate([(nb.ones(2), 1.5), (nb.zeros(2), 2.5)])
    assert isinstance(out, list) and out[0].shape == (2, 2)
    assert out[1].dtype is nb.float64 and out[1].tolist() == [1.5, 2.5]
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (3,)])


def test_abstract_dataset():
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Dataset()[0]
