"""Data exchange and memory facts: DLPack both ways (zero-copy with numpy), as_tensor sharing
memory, numpy(force=True), __format__ on 0-d tensors, data_ptr, nelement, element_size and
untyped_storage()."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb


def test_dlpack_to_numpy_shares_memory():
    x = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.from_dlpack(x)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    a[0, 0] = 9.0
    assert x[0, 0].item() == 9.0
    assert x.__dlpack_device__() == (1, 0)
    t = x.t()  # strided views travel too
    np.testing.assert_array_equal(np.from_dlpack(t), x.numpy().T)
    with pytest.raises(RuntimeError, match="Can't export tensors that require gradient"):
        np.from_dlpack(nb.ones(2, requires_grad=True))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.uint8, np.int8,
                                   np.int16, np.int32, np.int64, np.bool_])
def test_from_dlpack_is_zero_copy(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    t = nb.from_dlpack(a)
    assert t.dtype.np == a.dtype and t.shape == (2, 3)
    assert t.data_ptr() == a.__array_interface__["data"][0]
    np.testing.assert_array_equal(t.numpy(), a)
    round_trip = nb.from_dlpack(nb.from_dlpack(a))
    assert round_trip.data_ptr() == a.__array_interface__["data"][0]
    assert nb.from_dlpack(t) is t


def test_from_dlpack_errors():
    with pytest.raises(TypeError, match="expected an object with __dlpack__, got list"):
        nb.from_dlpack([1, 2])
    with pytest.raises(TypeError, match="unsupported dtype"):
        nb.from_dlpack(np.zeros(2, np.uint16))


def test_as_tensor_shares_memory_and_numpy_force():
    a = np.array([1.0, 2.0])
    t = nb.as_tensor(a)
    a[1] = 5.0
    assert t.tolist() == [1.0, 5.0] and t.data_ptr() == a.__array_interface__["data"][0]
    assert nb.as_tensor(a, dtype=nb.float32).dtype is nb.float32  # a copy in another dtype
    g = nb.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        g.numpy()
    out = g.numpy(force=True)
    assert out.tolist() == [1.0, 2.0]


def test_format():
    assert f"{nb.tensor(3.14159):.2f}" == "3.14"
    assert f"{nb.tensor(42):05d}" == "00042"
    assert f"{nb.tensor(True)}" == "True"
    assert format(nb.tensor([1.0, 2.0])) == str(nb.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
        f"{nb.tensor([3.14159]):.2f}"


def test_memory_facts():
    x = nb.zeros(3, 4)
    assert x.nelement() == 12 and x.element_size() == 4
    assert nb.zeros(2, dtype=nb.float16).element_size() == 2
    assert x[1].data_ptr() - x.data_ptr() == 16
    assert x[:, 1:].data_ptr() - x.data_ptr() == 4
    s = x[1:].untyped_storage()
    assert s.nbytes() == 48 and s.size() == 48 and s.data_ptr() == x.data_ptr()
    assert x.t().untyped_storage().nbytes() == 48
    assert nb.zeros(0).untyped_storage().nbytes() == 0
    assert x.reshape(12).untyped_storage().data_ptr() == x.data_ptr()
