"""Tests for the Tensor data model: creation, dtypes and promotion, attributes, repr,
requires_grad rules and bad input (API.md "Tensors")."""

from __future__ import annotations

import re

import numpy as np
import pytest

import nbgrad as nb


def phrase(text: str) -> str:
    """A ``match=`` pattern for an API.md error phrase (case-insensitive, literal)."""
    return "(?i)" + re.escape(text)


# --------------------------------------------------------------------------- creation
class TestTensorFactory:
    def test_nested_lists(self):
        t = nb.tensor([[1.0, 2.0], [3.0, 4.0]])
        assert t.shape == (2, 2)
        assert t.dtype is nb.float32
        np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])

    @pytest.mark.parametrize("data, dtype", [
        ([1, 2], nb.int64), ([1.0, 2], nb.float32), ([True, False], nb.bool),
        (3, nb.int64), (3.5, nb.float32), (True, nb.bool), ([True, 2], nb.int64),
        (np.array([1.0]), nb.float64), (np.array([1], dtype=np.int32), nb.int32),
        (np.float32(2.0), nb.float32),
    ])
    def test_dtype_inference(self, data, dtype):
        assert nb.tensor(data).dtype is dtype

    def test_explicit_dtype_converts(self):
        t = nb.tensor([1.7, -2.2], dtype=nb.int64)
        assert t.dtype is nb.int64
        assert t.tolist() == [1, -2]
        assert nb.tensor([1, 2], dtype=nb.float64).dtype is nb.float64
        assert nb.tensor([1, 2], dtype="float32").dtype is nb.float32

    def test_copies_its_input(self):
        a = np.arange(3.0)
        t = nb.tensor(a)
        a[0] = 42
        assert t[0].item() == 0.0

    def test_from_tensor_copies(self):
        src = nb.tensor([1.0, 2.0], requires_grad=True)
        t = nb.tensor(src)
        assert not t.requires_grad and t.is_leaf
        t.add_(1)
        assert src.tolist() == [1.0, 2.0]

    def test_empty_list(self):
        t = nb.tensor([])
        assert t.shape == (0,) and t.dtype is nb.float32

    def test_zero_dim(self):
        t = nb.tensor(2.5)
        assert t.shape == () and t.ndim == 0 and t.numel() == 1

    def test_constructor_class(self):
        t = nb.Tensor([1.0, 2.0], requires_grad=True)
        assert isinstance(t, nb.Tensor) and t.requires_grad and t.tolist() == [1.0, 2.0]


class TestFromNumpy:
    def test_shares_memory_both_ways(self):
        a = np.arange(6.0).reshape(2, 3)
        t = nb.from_numpy(a)
        assert t.dtype is nb.float64
        a[0, 0] = 42
        assert t[0, 0].item() == 42
        t[1, 2] = -1.0
        assert a[1, 2] == -1
        assert np.shares_memory(t.numpy(), a)

    def test_refuses_non_array(self):
        with pytest.raises(TypeError, match="ndarray"):
            nb.from_numpy([1, 2])

    @pytest.mark.parametrize("dt", [np.uint16, np.uint32, np.complex64])
    def test_unsupported_dtype(self, dt):
        with pytest.raises(TypeError, match="unsupported dtype"):
            nb.from_numpy(np.zeros(2, dtype=dt))

    def test_as_tensor_shares_numpy_and_tensor(self):
        a = np.ones(3, dtype=np.float32)
        t = nb.as_tensor(a)
        assert np.shares_memory(t.numpy(), a)
        assert nb.as_tensor(t) is t
        converted = nb.as_tensor(a, dtype=nb.float64)
        assert converted.dtype is nb.float64 and not np.shares_memory(converted.numpy(), a)
        assert nb.as_tensor([1, 2]).dtype is nb.int64


class TestFactories:
    @pytest.mark.parametrize("fn, value", [(nb.zeros, 0), (nb.ones, 1)])
    def test_zeros_ones(self, fn, value):
        for args in [(2, 3), ((2, 3),), ([2, 3],)]:
            t = fn(*args)
            assert t.shape == (2, 3) and t.dtype is nb.float32
            assert (t.numpy() == value).all()
        assert fn(2, dtype=nb.int32).dtype is nb.int32
        assert fn(()).shape == ()

    def test_empty(self):
        t = nb.empty(4, 5, dtype=nb.float64)
        assert t.shape == (4, 5) and t.dtype is nb.float64

    @pytest.mark.parametrize("value, dtype", [(3, nb.int64), (3.0, nb.float32), (True, nb.bool)])
    def test_full_infers_dtype(self, value, dtype):
        t = nb.full((2, 2), value)
        assert t.dtype is dtype and (t.numpy() == value).all()
        assert nb.full((2,), 3, dtype=nb.float64).dtype is nb.float64

    def test_arange(self):
        assert nb.arange(5).tolist() == [0, 1, 2, 3, 4]
        assert nb.arange(5).dtype is nb.int64
        assert nb.arange(2, 8, 3).tolist() == [2, 5]
        t = nb.arange(0, 1, 0.25)
        assert t.dtype is nb.float32 and t.tolist() == [0.0, 0.25, 0.5, 0.75]
        assert nb.arange(3, dtype=nb.float64).dtype is nb.float64
        with pytest.raises(RuntimeError, match="step"):
            nb.arange(0, 3, 0)

    def test_linspace(self):
        t = nb.linspace(0, 1, 5)
        assert t.dtype is nb.float32
        np.testing.assert_allclose(t.numpy(), np.linspace(0, 1, 5))
        assert nb.linspace(-1, 1, 3, dtype=nb.float64).tolist() == [-1.0, 0.0, 1.0]

    def test_eye(self):
        np.testing.assert_array_equal(nb.eye(3).numpy(), np.eye(3))
        np.testing.assert_array_equal(nb.eye(2, 3).numpy(), np.eye(2, 3))
        assert nb.eye(2, dtype=nb.int64).dtype is nb.int64

    def test_rand_randn_ranges(self):
        u = nb.rand(1000)
        assert u.dtype is nb.float32 and u.shape == (1000,)
        assert 0 <= u.numpy().min() and u.numpy().max() < 1
        n = nb.randn(2000, dtype=nb.float64)
        assert n.dtype is nb.float64 and abs(n.numpy().mean()) < 0.15
        assert 0.8 < n.numpy().std() < 1.2

    def test_randint(self):
        r = nb.randint(3, 7, (200,))
        assert r.dtype is nb.int64 and r.shape == (200,)
        assert set(r.tolist()) <= {3, 4, 5, 6}
        assert set(nb.randint(4, (100,)).tolist()) <= {0, 1, 2, 3}
        assert nb.randint(0, 5, (2, 3), dtype=nb.int32).dtype is nb.int32
        with pytest.raises(RuntimeError, match="low"):
            nb.randint(5, 5, (2,))

    @pytest.mark.parametrize("make", [
        lambda: nb.rand(5), lambda: nb.randn(2, 3), lambda: nb.randint(0, 100, (8,)),
        lambda: nb.rand_like(nb.zeros(4)), lambda: nb.randn_like(nb.zeros(4)),
    ])
    def test_manual_seed_reproducible(self, make):
        nb.manual_seed(123)
        a = make().tolist()
        nb.manual_seed(123)
        b = make().tolist()
        nb.manual_seed(124)
        c = make().tolist()
        assert a == b and a != c

    def test_manual_seed_type(self):
        with pytest.raises(TypeError):
            nb.manual_seed(1.5)

    @pytest.mark.parametrize("fn, check", [
        (nb.zeros_like, lambda a: (a == 0).all()), (nb.ones_like, lambda a: (a == 1).all()),
        (nb.empty_like, lambda a: True), (nb.rand_like, lambda a: ((0 <= a) & (a < 1)).all()),
        (nb.randn_like, lambda a: np.isfinite(a).all()),
    ])
    def test_like(self, fn, check):
        src = nb.ones(2, 3, dtype=nb.float64, requires_grad=True)
        t = fn(src)
        assert t.shape == (2, 3) and t.dtype is nb.float64 and not t.requires_grad
        assert check(t.numpy())
        assert fn(src, dtype=nb.float32).dtype is nb.float32
        assert fn(src, requires_grad=True).requires_grad

    def test_full_like(self):
        t = nb.full_like(nb.zeros(2, dtype=nb.int32), 7)
        assert t.dtype is nb.int32 and t.tolist() == [7, 7]
        assert nb.full_like(nb.zeros(2), 7).tolist() == [7.0, 7.0]

    @pytest.mark.parametrize("make", [
        lambda: nb.tensor([1.0], requires_grad=True), lambda: nb.zeros(2, requires_grad=True),
        lambda: nb.ones(2, requires_grad=True), lambda: nb.empty(2, requires_grad=True),
        lambda: nb.full((2,), 1.0, requires_grad=True),
        lambda: nb.arange(3.0, requires_grad=True),
        lambda: nb.linspace(0, 1, 3, requires_grad=True),
        lambda: nb.eye(2, requires_grad=True), lambda: nb.rand(2, requires_grad=True),
        lambda: nb.randn(2, requires_grad=True),
    ])
    def test_requires_grad_kwarg(self, make):
        t = make()
        assert t.requires_grad and t.is_leaf and t.grad_fn is None


# --------------------------------------------------------------------------- promotion
F32, F64, I32, I64, B = nb.float32, nb.float64, nb.int32, nb.int64, nb.bool


def _t(dtype, zero_dim=False):
    return nb.ones((), dtype=dtype) if zero_dim else nb.ones(2, dtype=dtype)


class TestPromotion:
    @pytest.mark.parametrize("a, b, expected", [
        (F32, F32, F32), (F32, F64, F64), (I64, F32, F32), (I32, I64, I64), (I32, F32, F32),
        (B, B, B), (B, I32, I32), (B, F32, F32), (I32, F64, F64),
    ])
    def test_tensor_tensor(self, a, b, expected):
        assert (_t(a) + _t(b)).dtype is expected
        assert (_t(b) * _t(a)).dtype is expected

    @pytest.mark.parametrize("dim, zero, expected", [
        (F32, F64, F32),   # same category: the dimensioned tensor wins
        (I32, I64, I32),
        (I32, F64, F64),   # higher category: the zero-dim dtype is used
        (I32, F32, F32),
        (B, I32, I32),
        (I64, F32, F32),
    ])
    def test_tensor_zero_dim(self, dim, zero, expected):
        assert (_t(dim) + _t(zero, True)).dtype is expected
        assert (_t(zero, True) + _t(dim)).dtype is expected

    def test_zero_dim_with_zero_dim(self):
        assert (_t(F64, True) + _t(F32, True)).dtype is F64
        assert (_t(I32, True) * _t(F32, True)).dtype is F32

    @pytest.mark.parametrize("dtype, scalar, expected", [
        (I32, 5, I32), (I32, 2.5, F32), (I64, 2.5, F32), (F32, 2.5, F32), (F64, 2.5, F64),
        (F32, 2, F32), (B, 1, I64), (B, 1.5, F32), (B, True, B), (I64, True, I64),
        (I32, True, I32),
    ])
    def test_tensor_python_scalar(self, dtype, scalar, expected):
        assert (_t(dtype) + scalar).dtype is expected
        assert (scalar + _t(dtype)).dtype is expected
        assert (_t(dtype, True) * scalar).dtype is expected

    def test_values_after_promotion(self):
        r = nb.tensor([1, 2], dtype=nb.int32) + 2.5
        assert r.tolist() == [3.5, 4.5]
        assert (nb.tensor([True, False]) + nb.tensor([True, True])).tolist() == [True, True]
        assert (nb.tensor([True, False]) + 1).tolist() == [2, 1]

    def test_python_float_subclass_is_a_scalar(self):
        # np.float64 is a Python float: weak, like PyTorch
        assert (nb.ones(2) + np.float64(1.0)).dtype is F32

    def test_true_division_of_ints_is_float(self):
        r = nb.tensor([1, 2]) / nb.tensor([2, 2])
        assert r.dtype is F32 and r.tolist() == [0.5, 1.0]
        assert (nb.tensor([3], dtype=nb.int32) / 2).dtype is F32

    def test_comparisons_are_bool(self):
        assert (nb.tensor([1, 2]) < 1.5).tolist() == [True, False]
        assert (nb.ones(2) == nb.ones(2, dtype=nb.int64)).dtype is B

    def test_float_unary_on_ints(self):
        assert nb.tensor([0, 1]).exp().dtype is F32
        assert nb.tensor([0.0], dtype=nb.float64).exp().dtype is F64
        assert nb.tensor([True]).exp().dtype is F32

    def test_dtype_does_not_depend_on_call_order(self):
        # float64 first, then float32: each call must keep its own dtype
        assert nb.tensor([1.0], dtype=nb.float64).sin().dtype is F64
        assert nb.tensor([1.0]).sin().dtype is F32
        assert (nb.tensor([1], dtype=nb.int64) * 2).dtype is I64
        assert (nb.tensor([1], dtype=nb.int32) * 2).dtype is I32
        assert nb.tensor([True, False]).sign().dtype is B


# --------------------------------------------------------------------------- attributes
class TestAttributes:
    def test_shape_size(self):
        t = nb.zeros(2, 3, 4)
        assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4)
        assert t.size(0) == 2 and t.size(-1) == 4
        with pytest.raises(IndexError, match="Dimension out of range"):
            t.size(3)

    def test_dtype_device_ndim_numel(self):
        t = nb.zeros(2, 3, dtype=nb.float64)
        assert t.dtype is nb.float64
        assert t.device == "cpu" and str(t.device) == "cpu" and t.device.type == "cpu"
        assert t.ndim == 2 and t.dim() == 2 and t.numel() == 6
        assert nb.tensor(1.0).numel() == 1 and nb.zeros(0, 3).numel() == 0

    def test_T(self):
        x = nb.arange(6.0).reshape(2, 3)
        assert x.T.shape == (3, 2)
        np.testing.assert_array_equal(x.T.numpy(), x.numpy().T)
        y = nb.arange(24.0).reshape(2, 3, 4)
        np.testing.assert_array_equal(y.T.numpy(), y.numpy().T)
        assert nb.ones(3).T.shape == (3,)

    def test_contiguity_and_stride(self):
        x = nb.zeros(3, 4)
        assert x.is_contiguous() and x.stride() == (4, 1) and x.stride(0) == 4
        assert not x.T.is_contiguous() and x.T.stride() == (1, 4)
        assert x[:, ::2].stride() == (4, 2)
        assert x.T.contiguous().is_contiguous()
        assert x.contiguous() is x

    def test_data_is_a_detached_alias(self):
        w = nb.tensor([1.0, 2.0], requires_grad=True)
        d = w.data
        assert not d.requires_grad and d.is_leaf
        d.mul_(3)  # not tracked: no version bump on w, no error
        assert w.tolist() == [3.0, 6.0]
        assert w._version == 0

    def test_numpy_refuses_requires_grad(self):
        w = nb.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match=phrase("use tensor.detach().numpy()")):
            w.numpy()
        with pytest.raises(RuntimeError, match=phrase("use tensor.detach().numpy()")):
            (w * 2).numpy()
        arr = w.detach().numpy()
        assert arr.dtype == np.float32 and np.shares_memory(arr, w.detach().numpy())

    def test_item(self):
        assert nb.tensor([[2.5]]).item() == 2.5
        assert isinstance(nb.tensor(3).item(), int)
        assert isinstance(nb.tensor(True).item(), bool)
        with pytest.raises(RuntimeError, match="3 elements"):
            nb.ones(3).item()

    def test_tolist(self):
        assert nb.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
        assert nb.tensor(2.5).tolist() == 2.5
        assert nb.arange(6.0).reshape(2, 3).T.tolist() == [[0, 3], [1, 4], [2, 5]]

    def test_array_protocol(self):
        x = nb.arange(4.0)
        a = np.asarray(x)
        assert a.dtype == np.float32 and a.tolist() == [0, 1, 2, 3]
        assert np.asarray(x, dtype=np.float64).dtype == np.float64
        assert not np.shares_memory(np.array(x, copy=True), x.numpy())
        with pytest.raises(RuntimeError, match="detach"):
            np.asarray(nb.ones(2, requires_grad=True))

    def test_len_iter(self):
        x = nb.arange(6.0).reshape(3, 2)
        assert len(x) == 3
        rows = list(x)
        assert len(rows) == 3 and rows[1].tolist() == [2.0, 3.0]
        with pytest.raises(TypeError):
            len(nb.tensor(1.0))
        with pytest.raises(TypeError):
            iter(nb.tensor(1.0))

    def test_scalar_conversions(self):
        assert float(nb.tensor([2.5])) == 2.5 and int(nb.tensor(3.9)) == 3
        assert bool(nb.tensor([1.0])) and not bool(nb.tensor(0))
        assert [10, 20, 30][nb.tensor(1)] == 20
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(nb.ones(2))
        with pytest.raises(TypeError):
            [1, 2][nb.tensor(1.0)]


# --------------------------------------------------------------------------- repr
class TestRepr:
    @pytest.mark.parametrize("make, text", [
        (lambda: nb.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
        (lambda: nb.tensor(3.5), "tensor(3.5000)"),
        (lambda: nb.tensor(3.0), "tensor(3.)"),
        (lambda: nb.tensor([1, 2, 3]), "tensor([1, 2, 3])"),
        (lambda: nb.tensor(7), "tensor(7)"),
        (lambda: nb.tensor([1.0, 2.0], dtype=nb.float64), "tensor([1., 2.], dtype=nbgrad.float64)"),
        (lambda: nb.tensor(1.5, dtype=nb.float64), "tensor(1.5000, dtype=nbgrad.float64)"),
        (lambda: nb.tensor([1, 2], dtype=nb.int32), "tensor([1, 2], dtype=nbgrad.int32)"),
        (lambda: nb.tensor([1.0], dtype=nb.float64, requires_grad=True),
         "tensor([1.], dtype=nbgrad.float64, requires_grad=True)"),
        (lambda: nb.tensor([-1.5, 2.0]), "tensor([-1.5000,  2.0000])"),
        (lambda: nb.tensor([0.1, 100.0]), "tensor([  0.1000, 100.0000])"),
        (lambda: nb.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
        (lambda: nb.tensor([1.0, 2000.0]), "tensor([1.0000e+00, 2.0000e+03])"),
        (lambda: nb.tensor([1.0, float("inf")]), "tensor([1., inf])"),
        (lambda: nb.tensor([0.0, float("nan")]), "tensor([0., nan])"),
        (lambda: nb.tensor([True, False]), "tensor([ True, False])"),
        (lambda: nb.tensor(True), "tensor(True)"),
        (lambda: nb.zeros(0), "tensor([])"),
        (lambda: nb.zeros(2, 0), "tensor([], size=(2, 0))"),
        (lambda: nb.tensor([[1, -20], [300, 4]]), "tensor([[  1, -20],\n        [300,   4]])"),
        (lambda: nb.tensor([[1.5, 2.25], [3.0, 4.0]]),
         "tensor([[1.5000, 2.2500],\n        [3.0000, 4.0000]])"),
        (lambda: nb.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"),
    ])
    def test_exact(self, make, text):
        assert repr(make()) == text

    def test_grad_fn(self):
        x = nb.tensor([1.0, 2.0], requires_grad=True)
        assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
        assert repr((x * x).sum()) == "tensor(5., grad_fn=<SumBackward0>)"
        assert repr(x[0]) == "tensor(1., grad_fn=<SelectBackward0>)"
        assert repr(x + 1) == "tensor([2., 3.], grad_fn=<AddBackward0>)"

    def test_relu_of_negative_is_positive_zero(self):
        assert repr(nb.tensor([-1.0, 2.0]).relu()) == "tensor([0., 2.])"

    def test_no_grad_result_shows_nothing(self):
        x = nb.tensor([1.0], requires_grad=True)
        with nb.no_grad():
            assert repr(x * 2) == "tensor([2.])"


# --------------------------------------------------------------------------- requires_grad
class TestRequiresGrad:
    @pytest.mark.parametrize("dtype", [nb.int32, nb.int64, nb.bool])
    def test_non_float_refused(self, dtype):
        with pytest.raises(RuntimeError, match=phrase("only tensors of floating point")):
            nb.zeros(2, dtype=dtype, requires_grad=True)
        t = nb.zeros(2, dtype=dtype)
        with pytest.raises(RuntimeError, match=phrase("only tensors of floating point")):
            t.requires_grad_()
        with pytest.raises(RuntimeError, match=phrase("only tensors of floating point")):
            t.requires_grad = True
        assert t.requires_grad_(False) is t  # turning it off is always fine

    def test_leaf_toggle(self):
        t = nb.ones(2)
        assert t.requires_grad_() is t and t.requires_grad and t.is_leaf
        t.requires_grad = False
        assert not t.requires_grad

    NON_LEAF = phrase("only change requires_grad flags of leaf variables")

    def test_non_leaf_refused(self):
        x = nb.ones(2, requires_grad=True)
        y = x * 2
        with pytest.raises(RuntimeError, match=self.NON_LEAF):
            y.requires_grad = False
        with pytest.raises(RuntimeError, match=self.NON_LEAF):
            y.requires_grad_(False)
        with pytest.raises(RuntimeError, match=self.NON_LEAF):
            y.requires_grad = True  # only leaves may change requires_grad, even via the attribute
        assert y.requires_grad_() is y and y.requires_grad  # True is a no-op, as in PyTorch

    def test_propagation(self):
        x = nb.ones(2, requires_grad=True)
        c = nb.ones(2)
        assert (x * c).requires_grad and not (c * c).requires_grad
        assert (x * c).grad_fn is not None and (c * c).grad_fn is None
        assert not (x > 0).requires_grad  # comparisons have no gradient

    def test_detach(self):
        x = nb.ones(2, requires_grad=True)
        y = (x * 2).detach()
        assert not y.requires_grad and y.is_leaf and y.grad_fn is None
        z = x * 2
        assert z.detach_() is z and z.is_leaf and not z.requires_grad


# --------------------------------------------------------------------------- bad input
class TestBadInput:
    def test_strings(self):
        with pytest.raises(TypeError, match="expected numbers"):
            nb.tensor(["a", "b"])
        with pytest.raises(TypeError):
            nb.tensor("abc")

    def test_ragged(self):
        with pytest.raises(ValueError, match="ragged"):
            nb.tensor([[1, 2], [3]])

    def test_none_and_complex(self):
        with pytest.raises(TypeError):
            nb.tensor(None)
        with pytest.raises(TypeError):
            nb.tensor([1j])

    def test_bad_dtype(self):
        with pytest.raises(TypeError, match="unsupported dtype"):
            nb.zeros(2, dtype="bfloat16")

    def test_bad_shape(self):
        with pytest.raises(TypeError, match="shape"):
            nb.zeros(2.5)

    def test_bad_device(self):
        with pytest.raises(ValueError, match="device"):
            nb.zeros(2, device="tpu")

    def test_grad_assignment_checked(self):
        x = nb.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="shape"):
            x.grad = nb.ones(3)
        with pytest.raises(TypeError, match="dtype"):
            x.grad = nb.ones(2, dtype=nb.float64)
        with pytest.raises(TypeError):
            x.grad = [1.0, 1.0]
        x.grad = nb.zeros(2)
        assert x.grad.tolist() == [0.0, 0.0]
