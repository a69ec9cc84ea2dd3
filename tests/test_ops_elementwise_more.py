"""Elementwise rows outside the float tables of tests/test_ops_core.py: the one-argument tests
(isnan ... signbit, logical_not), bitwise ops and operators, div's rounding modes, lerp, logit,
nan_to_num, clamp with tensor bounds and the dtype rules of the new rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck
from nbgrad.ops import elementwise as ew

SPECIAL = [1.5, -0.0, 0.0, -2.0, math.inf, -math.inf, math.nan]

PREDICATE_REF = {
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "isposinf": np.isposinf,
    "isneginf": np.isneginf, "signbit": np.signbit, "logical_not": np.logical_not,
}


def test_every_predicate_and_bitwise_row_has_a_test():
    assert set(ew.PREDICATES) == set(PREDICATE_REF)
    assert set(ew.BITWISE) == set(BITWISE_REF) | {"bitwise_not"}


@pytest.mark.parametrize("name", sorted(PREDICATE_REF))
@pytest.mark.parametrize("dtype", [nb.float32, nb.float64, nb.int32, nb.int64, nb.bool])
def test_predicates(name, dtype):
    values = np.array(SPECIAL) if dtype.is_floating_point else np.array([3, 0, -2, 1])
    values = values.astype(dtype.np) if dtype is not nb.bool else values != 0
    t = nb.tensor(values, dtype=dtype)
    for out in (getattr(nb, name)(t), getattr(t, name)(), getattr(nb, name)(t.reshape(1, -1).t())):
        assert out.dtype is nb.bool and not out.requires_grad
        np.testing.assert_array_equal(out.numpy().reshape(-1), PREDICATE_REF[name](values))
    x = nb.tensor([1.0, math.nan], requires_grad=True)
    assert getattr(nb, name)(x).grad_fn is None
    assert getattr(nb, name)(nb.tensor(math.inf)).shape == ()


BITWISE_REF = {
    "bitwise_and": (np.bitwise_and, "__and__"), "bitwise_or": (np.bitwise_or, "__or__"),
    "bitwise_xor": (np.bitwise_xor, "__xor__"),
    "bitwise_left_shift": (np.left_shift, "__lshift__"),
    "bitwise_right_shift": (np.right_shift, "__rshift__"),
}


@pytest.mark.parametrize("name", sorted(BITWISE_REF))
@pytest.mark.parametrize("dtype", [nb.int32, nb.int64])
def test_bitwise_binary(name, dtype):
    ref, dunder = BITWISE_REF[name]
    a = np.array([[12, -7, 0, 5]], dtype.np)
    b = np.array([[3], [1]], dtype.np)
    ta, tb = nb.tensor(a), nb.tensor(b)
    for out in (getattr(nb, name)(ta, tb), getattr(ta, dunder)(tb), getattr(ta, name)(tb)):
        assert out.dtype is dtype
        np.testing.assert_array_equal(out.numpy(), ref(a, b))
    np.testing.assert_array_equal(getattr(ta, dunder)(2).numpy(), ref(a, 2))
    r = "__r" + dunder[2:]
    np.testing.assert_array_equal(getattr(ta, r)(6).numpy(), ref(6, a))
    t = ta.clone()
    assert getattr(t, "__i" + dunder[2:])(tb[:1]) is t and t._version == 1
    np.testing.assert_array_equal(t.numpy(), ref(a, b[:1]))


def test_bitwise_operators_and_bool():
    a, b = nb.tensor([12, 10]), nb.tensor([6, 3])
    assert (a & b).tolist() == [4, 2] and (a | b).tolist() == [14, 11]
    assert (a ^ b).tolist() == [10, 9] and (~a).tolist() == [-13, -11]
    assert (a << 1).tolist() == [24, 20] and (a >> 2).tolist() == [3, 2]
    assert (3 & a).tolist() == [0, 2] and (1 << nb.tensor([0, 3])).tolist() == [1, 8]
    p, q = nb.tensor([True, True, False]), nb.tensor([True, False, False])
    for out, ref in ((p & q, [True, False, False]), (p | q, [True, True, False]),
                     (p ^ q, [False, True, False]), (~p, [False, False, True])):
        assert out.dtype is nb.bool and out.tolist() == ref
    assert nb.bitwise_not(nb.tensor([0, 5], dtype=nb.int32)).tolist() == [-1, -6]
    x = nb.tensor([1, 2])
    x &= 3
    x |= 4
    x ^= 1
    x <<= 1
    x >>= 1
    assert x.tolist() == [4, 7] and x._version == 5
    assert (nb.tensor([1, 2], dtype=nb.int32) & 3).dtype is nb.int32
    # shifts past the width: 0, or -1 for a negative number shifted right (as PyTorch)
    assert (nb.tensor([1, -8]) << 70).tolist() == [0, 0]
    assert (nb.tensor([1, -8]) >> 70).tolist() == [0, -1]


@pytest.mark.parametrize("expr", [
    lambda x: x & 1, lambda x: x | x, lambda x: ~x, lambda x: x << 1, lambda x: x ^ 1,
    lambda x: nb.bitwise_and(x, x),
])
def test_bitwise_refuses_floats(expr):
    with pytest.raises(TypeError, match="only integer and bool tensors are supported, got "
                                        "float32"):
        expr(nb.tensor([1.5]))


def test_logical_binary():
    a, b = nb.tensor([1.0, 0.0, 2.0, 0.0]), nb.tensor([3, 3, 0, 0])
    assert nb.logical_and(a, b).tolist() == [True, False, False, False]
    assert nb.logical_or(a, b).tolist() == [True, True, True, False]
    assert nb.logical_xor(a, b).tolist() == [False, True, True, False]
    assert a.logical_and(b).dtype is nb.bool and nb.logical_not(b).tolist() == [False] * 2 + [
        True] * 2
    t = a.clone()  # in place: the result written in self's dtype, as PyTorch
    assert t.logical_or_(b) is t and t.dtype is nb.float32 and t.tolist() == [1.0, 1.0, 1.0, 0.0]
    t.logical_not_()
    assert t.tolist() == [0.0, 0.0, 0.0, 1.0] and t._version == 2
    m = nb.tensor([True, False])
    m.logical_xor_(nb.tensor([True, True]))
    assert m.tolist() == [False, True]
    assert nb.tensor([1, 0]).logical_and_(nb.tensor([1, 1])).tolist() == [1, 0]


# --------------------------------------------------------------------------- dtype rules
def test_dtype_rules_of_the_new_rows():
    i = nb.tensor([1, 2, 4])
    for name in ("asin", "sinh", "log2", "exp2", "erfc", "erfinv", "sinc", "deg2rad", "atan"):
        assert getattr(nb, name)(i).dtype is nb.float32, name
    assert nb.hypot(i, i).dtype is nb.float32 and nb.copysign(i, -1).tolist() == [-1, -2, -4]
    assert nb.square(i).dtype is nb.int64 and nb.square(i).tolist() == [1, 4, 16]
    assert nb.trunc(i).dtype is nb.int64 and nb.fmod(i, 3).dtype is nb.int64
    assert (i / i).dtype is nb.float32
    x = nb.tensor([-7, 7, -7, 7])
    y = nb.tensor([2, 2, -2, -2])
    assert (x // y).tolist() == [-4, 3, 3, -4]  # Python's floor rule
    assert (x % y).tolist() == [1, 1, -1, -1]  # the sign of the divisor
    assert nb.fmod(x, y).tolist() == [-1, 1, -1, 1]  # the sign of the dividend
    assert nb.remainder(x.double(), y).tolist() == [1.0, 1.0, -1.0, -1.0]
    with pytest.raises(ZeroDivisionError, match="fmod"):
        nb.fmod(x, 0)


def test_special_values():
    t = nb.tensor(SPECIAL, dtype=nb.float64)
    with np.errstate(all="ignore"):
        a = np.array(SPECIAL)
        for name, ref in (("asin", np.arcsin), ("acosh", np.arccosh), ("atanh", np.arctanh),
                          ("log2", np.log2), ("log10", np.log10), ("exp2", np.exp2),
                          ("trunc", np.trunc), ("sinh", np.sinh), ("square", np.square)):
            np.testing.assert_array_equal(getattr(nb, name)(t).numpy(), ref(a), err_msg=name)
    assert nb.erfinv(nb.tensor([-1.0, 1.0, 2.0, 0.0])).tolist()[:2] == [-math.inf, math.inf]
    assert math.isnan(nb.erfinv(nb.tensor(2.0)).item())
    inf = math.inf
    assert nb.logaddexp(nb.tensor([inf, -inf]), nb.tensor([inf, -inf])).tolist() == [inf, -inf]
    assert nb.xlogy(nb.tensor([0.0, 0.0]), nb.tensor([0.0, math.nan])).numpy().tolist()[0] == 0
    assert math.isnan(nb.xlogy(nb.tensor(0.0), nb.tensor(math.nan)).item())
    assert nb.frac(nb.tensor([-1.5, 2.25])).tolist() == [-0.5, 0.25]


def test_erfinv_accuracy():
    y = np.linspace(-0.999999, 0.999999, 101)
    x = nb.erfinv(nb.tensor(y, dtype=nb.float64)).numpy()
    np.testing.assert_allclose(np.vectorize(math.erf)(x), y, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- div modes
def test_div_rounding_modes():
    a = nb.tensor([-7.0, 7.0, 1.0])
    b = nb.tensor([2.0, -2.0, 0.1])
    assert nb.div(a, b, rounding_mode="trunc").tolist() == [-3.0, -3.0, 10.0]
    assert nb.div(a, b, rounding_mode="floor").tolist() == (a // b).tolist()
    assert a.div(2, rounding_mode="floor").tolist() == [-4.0, 3.0, 0.0]
    assert nb.div(a, b).tolist() == (a / b).tolist()
    i = nb.tensor([-7, 7])
    assert nb.div(i, 2, rounding_mode="trunc").tolist() == [-3, 3]
    assert nb.div(i, 2, rounding_mode="trunc").dtype is nb.int64
    assert nb.divide(i, 2).dtype is nb.float32 and nb.true_divide(i, 2).tolist() == [-3.5, 3.5]
    t = a.clone()
    assert t.div_(2, rounding_mode="trunc") is t and t.tolist() == [-3.0, 3.0, 0.0]
    with pytest.raises(ValueError, match="rounding_mode to be one of None, 'trunc', or 'floor' "
                                         "but found 'bad'"):
        nb.div(a, b, rounding_mode="bad")
    with pytest.raises(ZeroDivisionError):
        nb.div(i, 0, rounding_mode="trunc")
    x = nb.tensor([1.5, -2.5], requires_grad=True)
    nb.div(x, 2.0, rounding_mode="trunc").sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    assert nb.multiply(a, 2).tolist() == (a * 2).tolist()
    assert nb.subtract(a, 1).tolist() == (a - 1).tolist()


# --------------------------------------------------------------------------- ternary and more
def _leaf(rng, shape, lo=-2.0, hi=2.0):
    return nb.tensor(rng.uniform(lo, hi, shape), dtype=nb.float64, requires_grad=True)


def test_lerp():
    rng = np.random.default_rng(0)
    s, e, w = (rng.uniform(-2, 2, (2, 3)) for _ in range(3))
    out = nb.lerp(nb.tensor(s), nb.tensor(e), nb.tensor(w))
    np.testing.assert_allclose(out.numpy(), s + w * (e - s), rtol=1e-6)
    assert nb.tensor(s).lerp(nb.tensor(e), 0.75).shape == (2, 3)
    a, b, c = _leaf(rng, (2, 3)), _leaf(rng, (3,)), _leaf(rng, (2, 1), 0.0, 1.0)
    assert gradcheck(nb.lerp, (a, b, c)) and gradgradcheck(nb.lerp, (a, b, c))
    assert gradcheck(lambda x, y: nb.lerp(x, y, 0.3), (a, b))
    assert type(nb.lerp(a, b, 0.3).grad_fn).__name__ == "LerpBackward0"
    assert type(nb.lerp(a, b, c).grad_fn).__name__ == "LerpBackward1"
    t = nb.tensor([1.0, 2.0])
    assert t.lerp_(nb.tensor([3.0, 4.0]), 0.5) is t and t.tolist() == [2.0, 3.0]
    with pytest.raises(TypeError, match="argument 'end' must be a Tensor"):
        nb.lerp(t, 1.0, 0.5)


def test_logit():
    p = np.array([0.1, 0.5, 0.9, 0.0])
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(nb.logit(nb.tensor(p, dtype=nb.float64)).numpy(),
                                   np.log(p / (1 - p)))
    out = nb.logit(nb.tensor(p), eps=1e-6).numpy()
    np.testing.assert_allclose(out[-1], np.log(1e-6 / (1 - 1e-6)), rtol=1e-4)
    rng = np.random.default_rng(1)
    x = _leaf(rng, (2, 3), 0.1, 0.9)
    assert gradcheck(nb.logit, (x,)) and gradgradcheck(nb.logit, (x,))
    assert gradcheck(lambda t: nb.logit(t, 0.2), (x,))
    assert nb.logit(nb.tensor([1, 0])).dtype is nb.float32
    t = nb.tensor([0.5])
    assert t.logit_() is t and t.tolist() == [0.0]


def test_nan_to_num():
    t = nb.tensor([math.nan, math.inf, -math.inf, 1.0])
    big = float(np.finfo(np.float32).max)
    assert nb.nan_to_num(t).tolist() == [0.0, big, -big, 1.0]
    assert t.nan_to_num(1.0, 2.0, -3.0).tolist() == [1.0, 2.0, -3.0, 1.0]
    d = nb.tensor([math.inf], dtype=nb.float64)
    assert nb.nan_to_num(d).item() == np.finfo(np.float64).max
    assert nb.nan_to_num(nb.tensor([1, 2])).tolist() == [1, 2]
    x = nb.tensor([math.nan, 2.0, math.inf], dtype=nb.float64, requires_grad=True)
    (nb.nan_to_num(x) * 3).sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0]
    assert t.nan_to_num_() is t and t.tolist()[0] == 0.0


def test_clamp_with_tensor_bounds():
    rng = np.random.default_rng(2)
    x, lo = _leaf(rng, (2, 3)), _leaf(rng, (3,), -1.0, -0.5)
    hi = _leaf(rng, (2, 1), 0.5, 1.0)
    out = nb.clamp(x, lo, hi)
    np.testing.assert_allclose(out.detach().numpy(), np.minimum(np.maximum(
        x.detach().numpy(), lo.detach().numpy()), hi.detach().numpy()))
    assert gradcheck(nb.clamp, (x, lo, hi))
    assert gradcheck(lambda a, b: nb.clamp(a, min=b), (x, lo))
    assert gradcheck(lambda a, b: nb.clamp(a, max=b), (x, hi))


def test_fmod_and_xlogy_gradients_with_number_operands():
    rng = np.random.default_rng(3)
    a = _leaf(rng, (2, 3), 0.3, 2.0)
    assert gradcheck(lambda t: nb.xlogy(t, 2.5), (a,))
    assert gradcheck(lambda t: nb.xlogy(2.0, t), (a,))
    assert gradcheck(lambda t: nb.fmod(3.3, t), (a,))
    assert gradgradcheck(lambda t: nb.copysign(t, -1.0), (a,))


def test_rsqrt_of_signed_zero_and_sinc_of_infinity():
    # 1/sqrt(-0.0) = 1/-0.0 = -inf (IEEE, as PyTorch); sin(pi*inf)/(pi*inf) is nan (as np.sinc)
    r = nb.rsqrt(nb.tensor([0.0, -0.0, 4.0, -1.0])).tolist()
    assert r[:3] == [math.inf, -math.inf, 0.5] and math.isnan(r[3])
    s = nb.sinc(nb.tensor([math.inf, -math.inf, 0.0, 0.5])).tolist()
    assert math.isnan(s[0]) and math.isnan(s[1]) and s[2] == 1.0
    assert s[3] == pytest.approx(float(np.sinc(0.5)), rel=1e-6)


def test_abs_refuses_bool_as_pytorch():
    with pytest.raises(TypeError, match="abs: operation not supported for bool"):
        nb.abs(nb.tensor([True, False]))
    with pytest.raises(TypeError, match="abs"):
        abs(nb.tensor([True]))
    assert nb.abs(nb.tensor([-2, 3])).tolist() == [2, 3]
