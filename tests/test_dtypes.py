"""The dtypes beyond float32/float64/int32/int64/bool (float16, uint8, int8, int16): PyTorch's
promotion table, float16 computed in float32, the dtype names and conversions, Tensor.type,
view(dtype), finfo/iinfo, and the integer-power and linspace refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import _dtype

F16, F32, F64 = nb.float16, nb.float32, nb.float64
U8, I8, I16, I32, I64, B = nb.uint8, nb.int8, nb.int16, nb.int32, nb.int64, nb.bool
ALL = [F16, F32, F64, U8, I8, I16, I32, I64, B]

# PyTorch's promotion of two dimensioned tensors (torch.promote_types), written out.
PROMOTE = {
    (U8, I8): I16, (U8, I16): I16, (U8, I32): I32, (U8, I64): I64, (I8, I16): I16,
    (I8, I32): I32, (I16, I64): I64, (I32, I64): I64, (U8, F16): F16, (I64, F16): F16,
    (F16, F32): F32, (F16, F64): F64, (F32, F64): F64, (B, U8): U8, (B, I8): I8, (B, F16): F16,
    (I64, F32): F32, (I16, F64): F64,
}


@pytest.mark.parametrize("a, b", list(PROMOTE), ids=[f"{a.name}-{b.name}" for a, b in PROMOTE])
def test_promotion_table(a, b):
    want = PROMOTE[a, b]
    assert _dtype.promote(a, b) is want and _dtype.promote(b, a) is want
    x, y = nb.ones(2, dtype=a), nb.ones(2, dtype=b)
    assert (x + y).dtype is want and (y * x).dtype is want


def test_scalars_and_zero_dim_tensors_keep_the_smaller_dtype():
    u = nb.tensor([250, 3], dtype=U8)
    assert (u + 10).dtype is U8 and (u + 10).tolist() == [4, 13]  # wraps, as PyTorch
    assert (u - 3).tolist() == [247, 0]
    assert (u + nb.tensor(-1)).dtype is U8
    assert (nb.ones(2, dtype=I8) * 2.5).dtype is F32
    h = nb.ones(2, dtype=F16)
    assert (h + 1.5).dtype is F16 and (h + nb.tensor(1.0)).dtype is F16
    assert (nb.tensor(1.0, dtype=F16) + nb.ones(2)).dtype is F32
    assert (h + nb.tensor([1, 2])).dtype is F16


@pytest.mark.parametrize("dtype", ALL, ids=[d.name for d in ALL])
def test_creation_casts_and_repr(dtype):
    t = nb.tensor([1, 0, 2], dtype=dtype)
    assert t.dtype is dtype and t.numpy().dtype == dtype.np
    assert nb.zeros(2, dtype=dtype).dtype is dtype and nb.ones(1, dtype=dtype).element_size() == (
        dtype.itemsize)
    assert t.to(F64).tolist() == ([1.0, 0.0, 1.0] if dtype is B else [1.0, 0.0, 2.0])
    assert nb.tensor([1.0, 2.0]).to(dtype).dtype is dtype
    if dtype not in (F32, I64, B):
        assert f"dtype=nbgrad.{dtype.name}" in repr(t)


def test_float16_is_stored_as_float16_and_computed_in_float32():
    a = np.array([0.1, 1.7, -3.3], np.float16)
    h = nb.tensor(a)
    for name, ref in (("exp", np.exp), ("sin", np.sin), ("sqrt", np.sqrt), ("tanh", np.tanh)):
        with np.errstate(invalid="ignore"):
            want = ref(a.astype(np.float32)).astype(np.float16)
        out = getattr(h, name)()
        assert out.dtype is F16
        np.testing.assert_array_equal(out.numpy(), want)
    np.testing.assert_array_equal((h * h + 1).numpy(), (a.astype(np.float32) ** 2 + 1).astype(
        np.float16))
    assert h.sum().dtype is F16 and h.sum().item() == pytest.approx(float(a.sum()), abs=1e-2)
    assert h.mean().dtype is F16 and h.max().item() == float(a.max())
    assert (h @ h).dtype is F16 and h.softmax(0).dtype is F16
    assert (h > 0).dtype is B and h.float().dtype is F32
    x = h.clone().requires_grad_()
    (x * x).sum().backward()
    assert x.grad.dtype is F16
    np.testing.assert_allclose(x.grad.numpy(), 2 * a, rtol=1e-3)
    t = nb.tensor([1.0, 2.0], dtype=F16)
    t.mul_(3)
    assert t.dtype is F16 and t.tolist() == [3.0, 6.0]
    t.exp_()
    assert t.dtype is F16 and t.tolist()[0] == pytest.approx(math.exp(3), rel=1e-3)


def test_small_integer_dtypes():
    i8 = nb.tensor([-128, 127, 5], dtype=I8)
    assert (i8 + 1).tolist() == [-127, -128, 6]  # wraps
    assert (i8 // 2).tolist() == [-64, 63, 2] and (i8 % 3).tolist() == [1, 1, 2]
    assert i8.sum().dtype is I64 and i8.sum().item() == 4
    assert (i8 & 1).tolist() == [0, 1, 1] and (~i8).dtype is I8
    s = nb.tensor([300, -2], dtype=I16)
    assert s.abs().tolist() == [300, 2] and (s * s).dtype is I16
    assert nb.tensor([3], dtype=U8).sin().dtype is F32
    assert nb.tensor([3, 4], dtype=U8).float().mean().item() == 3.5


def test_dtype_names_and_conversions():
    assert nb.int is I32 and nb.long is I64 and nb.float is F32 and nb.double is F64
    assert nb.half is F16 and nb.short is I16 and nb.uint8.name == "uint8"
    assert _dtype.as_dtype("half") is F16 and _dtype.as_dtype(np.int8) is I8
    x = nb.tensor([1.7, -2.2])
    assert x.half().dtype is F16 and x.short().tolist() == [1, -2]
    assert x.char().dtype is I8 and nb.tensor([200.0]).byte().tolist() == [200]
    with pytest.raises(TypeError, match="bfloat16 is not supported"):
        x.bfloat16()
    with pytest.raises(TypeError, match="numpy has no bfloat16 type"):
        nb.zeros(1, dtype="bfloat16")
    assert nb.uint8.is_signed is False and nb.int16.is_signed and F16.is_floating_point


def test_type_strings():
    cases = {F32: "Float", F64: "Double", F16: "Half", U8: "Byte", I8: "Char", I16: "Short",
             I32: "Int", I64: "Long", B: "Bool"}
    for dtype, legacy in cases.items():
        t = nb.ones(1, dtype=dtype)
        assert t.type() == f"nbgrad.{legacy}Tensor"
        assert nb.ones(1).type(f"torch.{legacy}Tensor").dtype is dtype
        assert nb.ones(1).type(f"nbgrad.{legacy}Tensor").dtype is dtype
    x = nb.tensor([1.5])
    assert x.type(nb.int16).tolist() == [1] and x.type(F32) is x
    with pytest.raises(ValueError, match="invalid type"):
        x.type("torch.FooTensor")


def test_view_dtype():
    x = nb.tensor([1.0, 2.0])
    v = x.view(nb.int32)
    np.testing.assert_array_equal(v.numpy(), np.array([1.0, 2.0], np.float32).view(np.int32))
    assert x.view(nb.int16).shape == (4,) and x.view(nb.float64).shape == (1,)
    m = nb.zeros(2, 4, dtype=nb.int16).view(nb.float64)
    assert m.shape == (2, 1) and m.dtype is F64
    v[0] = 0  # a view: the write shows in x
    assert x.tolist() == [0.0, 2.0] and x._version == v._version
    u = nb.tensor([-1], dtype=I8).view(U8)
    assert u.tolist() == [255]
    with pytest.raises(RuntimeError, match="must be divisible by 2"):
        nb.ones(3).view(F64)
    with pytest.raises(RuntimeError, match="stride"):
        nb.ones(2, 2).t().view(F64)
    with pytest.raises(RuntimeError, match="cannot be 0"):
        nb.tensor(1.0).view(F64)
    assert nb.tensor(1.0).view(I32).item() == 1065353216


def test_finfo_and_iinfo():
    for dtype in (F16, F32, F64):
        info, ref = nb.finfo(dtype), np.finfo(dtype.np)
        assert info.eps == float(ref.eps) and info.max == float(ref.max)
        assert info.min == float(ref.min) and info.tiny == float(ref.tiny)
        assert info.bits == ref.bits and info.dtype == dtype.name
    assert nb.finfo().dtype == "float32" and "eps=1.19209e-07" in repr(nb.finfo())
    for dtype in (U8, I8, I16, I32, I64):
        info, ref = nb.iinfo(dtype), np.iinfo(dtype.np)
        assert (info.min, info.max, info.bits) == (ref.min, ref.max, ref.bits)
    assert repr(nb.iinfo(I8)) == "iinfo(min=-128, max=127, dtype=int8)"
    with pytest.raises(TypeError, match="requires a floating point input type"):
        nb.finfo(I32)
    with pytest.raises(TypeError, match="requires an integer input type"):
        nb.iinfo(F32)


def test_integer_negative_powers_raise():
    x = nb.tensor([2, 3])
    for expr in (lambda: x ** -1, lambda: x ** nb.tensor([1, -1]), lambda: 2 ** nb.tensor([-1]),
                 lambda: nb.pow(x, -2), lambda: x.clone().pow_(-1)):
        with pytest.raises(RuntimeError, match="Integers to negative integer powers are not "
                                               "allowed."):
            expr()
    assert (x ** 2).tolist() == [4, 9] and (x ** 0).tolist() == [1, 1]
    assert (x.float() ** -1).tolist() == pytest.approx([0.5, 1 / 3])
    assert (x ** -1.0).dtype is F32


def test_linspace_refuses_bool():
    with pytest.raises(TypeError, match="dtype=bool is not supported"):
        nb.linspace(0, 1, 3, dtype=nb.bool)
    assert nb.linspace(0, 4, 3, dtype=I16).tolist() == [0, 2, 4]


def test_casting_to_float16_passes_the_gradient_back():
    x = nb.tensor([0.5, 1.5], dtype=F64, requires_grad=True)
    (x.half() * 2).sum().backward()
    assert x.grad.dtype is F64 and x.grad.tolist() == [2.0, 2.0]
