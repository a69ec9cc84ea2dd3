"""The op library beyond the core rows: three-operand elementwise rows (``where``, ``clamp``),
the semantics PyTorch users rely on (tie splits, zero gradients, Python-sign remainder), the
reductions, ``mm/bmm/dot/outer`` and the copying ops.

Reductions, linear algebra and copying ops are declared below as tables (``REDUCTIONS``,
``COPYING``, ``LINALG``): each entry is checked against numpy in float32 and float64 on
several inputs (broadcast, 0-d, empty, non-contiguous), with ``gradcheck`` and
``gradgradcheck`` in float64; bad input is checked for a clear error naming the problem.
The unary/binary rows themselves are covered by ``tests/test_ops_core.py``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck
from nbgrad.ops import _register
from nbgrad.ops import elementwise as ew

F32, F64 = nb.float32, nb.float64
DTYPES = pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])


def _tol(dtype):
    return {"rtol": 3e-5, "atol": 3e-6} if dtype is F32 else {"rtol": 1e-11, "atol": 1e-12}


def _leaf(a, dtype=F64):
    return nb.tensor(a, dtype=dtype, requires_grad=True)


def _rounded(a, dtype):
    """The float64 values a tensor of ``dtype`` built from ``a`` holds."""
    return np.asarray(a).astype(dtype.np).astype(np.float64)


def _noncontiguous(a, dtype):
    """A non-contiguous tensor holding ``a`` (ndim >= 2)."""
    t = nb.tensor(np.ascontiguousarray(np.swapaxes(a, 0, -1)), dtype=dtype).transpose(0, -1)
    assert not t.is_contiguous() or a.shape[0] == 1 or a.shape[-1] == 1
    return t


# =========================================================================== elementwise
TERNARY_REF = {
    "where": lambda c, a, b: np.where(c, a, b),
    "clamp": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "lerp": lambda s, e, w: s + w * (e - s),  # tests/test_ops_elementwise_more.py
}


# Every three-argument elementwise row the registry declares as nb.<key>.
TERNARY_ROWS = [e.name for e in _register.entries("function")
                if isinstance(e.doc, ew.Elementwise) and e.doc.nargs == 3 and e.name == e.doc.key]


@pytest.mark.parametrize("name", TERNARY_ROWS)
def test_every_ternary_row_has_a_reference(name):
    assert name in TERNARY_REF, f"add a numpy reference for {name!r} to TERNARY_REF"
    assert callable(getattr(nb, name)) and callable(getattr(nb.Tensor, name))


TERNARY_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), (3, 4)), ((), (2, 3), ()),
                  ((0, 3), (3,), (1, 3)), ((2, 1, 3), (4, 1), (3,))]


@DTYPES
def test_where_values(dtype):
    rng = np.random.default_rng(0)
    for sc, sa, sb in TERNARY_SHAPES:
        c = rng.random(sc) > 0.5
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        out = nb.where(nb.tensor(c), nb.tensor(a, dtype=dtype), nb.tensor(b, dtype=dtype))
        assert out.dtype is dtype
        np.testing.assert_allclose(out.numpy(), np.where(c, _rounded(a, dtype),
                                                         _rounded(b, dtype)), **_tol(dtype))
    a = rng.standard_normal((3, 4))
    t = _noncontiguous(a, dtype)
    out = t.where(t > 0, 0.5)
    np.testing.assert_allclose(out.numpy(), np.where(a > 0, _rounded(a, dtype), 0.5),
                               **_tol(dtype))
    # scalars: both numbers -> default float; int tensor with a float scalar promotes
    assert nb.where(nb.tensor([True, False]), 1.0, 0.0).tolist() == [1.0, 0.0]
    mixed = nb.where(nb.tensor([True, False]), nb.tensor([1, 2]), 2.5)
    assert mixed.dtype is F32 and mixed.tolist() == [1.0, 2.5]


def test_where_gradients():
    rng = np.random.default_rng(1)
    c = nb.tensor(rng.random((2, 3)) > 0.5)
    a, b = _leaf(rng.standard_normal((2, 3))), _leaf(rng.standard_normal((3,)))
    assert gradcheck(lambda x, y: nb.where(c, x, y), (a, b))
    assert gradgradcheck(lambda x, y: nb.where(c, x * x, y * y), (a, b))
    nb.where(c, a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), c.numpy().astype(float))
    np.testing.assert_array_equal(b.grad.numpy(), (~c.numpy()).sum(0))


def test_where_errors():
    with pytest.raises(TypeError, match="boolean"):
        nb.where(nb.tensor([1.0, 0.0]), nb.ones(2), nb.zeros(2))
    with pytest.raises(ValueError, match=r"where.*\(2,\).*\(3,\)"):
        nb.where(nb.tensor([True, False]), nb.ones(3), 0.0)
    with pytest.raises(TypeError, match="where"):
        nb.where(nb.tensor([True]), "a", 0.0)


@DTYPES
def test_clamp_values(dtype):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 4)) * 2
    ra = _rounded(a, dtype)
    t = nb.tensor(a, dtype=dtype)
    cases = [
        ((-1, 1), np.clip(ra, -1, 1)), ((None, 0.5), np.minimum(ra, 0.5)),
        ((-0.5, None), np.maximum(ra, -0.5)), ((1.0, -1.0), np.full_like(ra, -1.0)),
    ]
    for (lo, hi), expected in cases:
        np.testing.assert_allclose(t.clamp(lo, hi).numpy(), expected, **_tol(dtype))
        np.testing.assert_allclose(nb.clamp(t, min=lo, max=hi).numpy(), expected, **_tol(dtype))
    lo, hi = rng.standard_normal((4,)) - 1, rng.standard_normal((3, 1)) + 1
    out = nb.clamp(_noncontiguous(a, dtype), nb.tensor(lo, dtype=dtype), nb.tensor(hi, dtype=dtype))
    np.testing.assert_allclose(out.numpy(), TERNARY_REF["clamp"](ra, _rounded(lo, dtype),
                                                                 _rounded(hi, dtype)),
                               **_tol(dtype))
    assert nb.tensor(2.5, dtype=dtype).clamp(0, 1).shape == ()
    assert nb.zeros(0, 3, dtype=dtype).clamp(0, 1).shape == (0, 3)
    ints = nb.tensor([-3, 0, 5]).clamp(-1, 2)
    assert ints.dtype is nb.int64 and ints.tolist() == [-1, 0, 2]
    assert nb.clip(nb.tensor([-3.0, 3.0]), -1, 1).tolist() == [-1.0, 1.0]


def test_clamp_gradients():
    x = _leaf([-2.0, -1.0, 0.0, 1.0, 2.0])
    x.clamp(-1, 1).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # 1 inside the range, bounds included
    rng = np.random.default_rng(3)
    a = _leaf(rng.standard_normal((2, 3)) * 2)
    lo, hi = _leaf(rng.standard_normal((3,)) - 1), _leaf(rng.standard_normal((2, 1)) + 1)
    assert gradcheck(lambda t, p, q: nb.clamp(t, p, q), (a, lo, hi))
    assert gradcheck(lambda t, p: nb.clamp(t, min=p), (a, lo))
    assert gradcheck(lambda t, q: t.clamp(max=q), (a, hi))
    assert gradgradcheck(lambda t, p, q: nb.clamp(t * t, p, q), (a, lo, hi))
    # min > max: everything is max, and max gets the whole gradient
    lo2, hi2 = _leaf([1.0]), _leaf([-1.0])
    nb.clamp(nb.tensor([0.0, 5.0], dtype=F64), lo2, hi2).sum().backward()
    assert lo2.grad.tolist() == [0.0] and hi2.grad.tolist() == [2.0]


def test_clamp_inplace_and_errors():
    t = nb.tensor([-3.0, 0.5, 4.0])
    view = t[1:]
    assert t.clamp_(-1, 1) is t and t.tolist() == [-1.0, 0.5, 1.0]
    assert t._version == 1 and view._version == 1
    t.clamp_(max=0.0)
    assert t.tolist() == [-1.0, 0.0, 0.0] and t._version == 2
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        t.clamp()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        nb.ones(2, requires_grad=True).clamp_(0, 1)
    for bound in (nb.zeros(2), nb.zeros(3, 1)):
        with pytest.raises(ValueError, match=r"clamp_.*shape \((2,|3, 1)\).*\(3,\)"):
            t.clamp_(bound, None)
    with pytest.raises(RuntimeError, match="can't be cast"):
        nb.tensor([1, 2]).clamp_(0.5, 1.5)
    x = _leaf([-2.0, 0.5, 2.0])
    y = x * 1
    y.clamp_(-1, 1)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


def test_maximum_minimum_split_the_gradient_at_ties():
    a, b = _leaf([1.0, 3.0, 2.0]), _leaf([1.0, 2.0, 3.0])
    nb.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0, 0.0] and b.grad.tolist() == [0.5, 0.0, 1.0]
    a.grad = b.grad = None
    nb.minimum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0, 1.0] and b.grad.tolist() == [0.5, 1.0, 0.0]
    nan = nb.maximum(nb.tensor([math.nan, 1.0]), nb.tensor([0.0, math.nan]))
    assert all(math.isnan(v) for v in nan.tolist())  # nan propagates, as in PyTorch
    assert nb.Tensor.maximum(nb.tensor([1, 5]), nb.tensor([3, 2])).tolist() == [3, 5]


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "sign"])
def test_rounding_has_a_zero_gradient(name):
    x = _leaf([0.3, -1.7, 2.2])
    getattr(x, name)().sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    (g,) = nb.autograd.grad(getattr(x, name)().sum(), x, create_graph=True)
    assert g.tolist() == [0.0, 0.0, 0.0]


def test_rounding_edge_values():
    v = [0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994, math.inf, -math.inf, 1e300, -1e-20]
    t = nb.tensor(v, dtype=F64)
    np.testing.assert_array_equal(t.round().numpy(), np.round(v))  # half to even
    np.testing.assert_array_equal(t.floor().numpy(), np.floor(v))
    np.testing.assert_array_equal(t.ceil().numpy(), np.ceil(v))
    assert math.isnan(nb.tensor([math.nan]).floor().item())
    big = nb.tensor([2**62 + 1, -(2**62) - 1])
    for name in ("floor", "ceil", "round"):  # integers pass through exactly
        out = getattr(big, name)()
        assert out.dtype is nb.int64 and out.tolist() == [2**62 + 1, -(2**62) - 1]


def test_softplus_gelu_silu_match_pytorch_definitions():
    x = nb.tensor([-30.0, -1.0, 0.0, 1.0, 19.0, 21.0, 100.0], dtype=F64)
    xs = x.numpy()
    np.testing.assert_allclose(x.softplus().numpy(),
                               np.where(xs > 20, xs, np.log1p(np.exp(np.minimum(xs, 20)))),
                               rtol=1e-14)
    assert x.softplus()[-1].item() == 100.0  # above the threshold it is the identity
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(x.gelu().numpy(), 0.5 * xs * (1 + erf(xs / math.sqrt(2))),
                               rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(nb.tensor([-800.0, 800.0], dtype=F64).silu().numpy(),
                               [-0.0, 800.0])  # no overflow
    g = _leaf([-1.0, 0.5, 25.0])
    assert gradcheck(lambda t: t.softplus(), (g,)) and gradgradcheck(lambda t: t.gelu(), (g,))


def test_floor_divide_and_remainder_follow_python_signs():
    a = nb.tensor([7, -7, 7, -7])
    b = nb.tensor([2, 2, -2, -2])
    assert (a // b).tolist() == [3, -4, -4, 3] and (a % b).tolist() == [1, 1, -1, -1]
    assert (a // 2).tolist() == [3, -4, 3, -4] and (7 // b).tolist() == [3, 3, -4, -4]
    assert (-7 % b).tolist() == [1, 1, -1, -1]
    f = nb.tensor([7.5, -7.5], dtype=F64)
    assert (f % 2).tolist() == [1.5, 0.5] and (f // 2).tolist() == [3.0, -4.0]
    assert nb.remainder(f, -2.0).tolist() == [-0.5, -1.5]
    assert nb.floor_divide(f, 2).tolist() == [3.0, -4.0]
    t = nb.tensor([7.0, -7.0])
    t //= 2
    t %= 3
    assert t.tolist() == [0.0, 2.0] and t._version == 2
    assert (nb.tensor([1.0, -1.0, 0.0]) // 0).tolist()[:2] == [math.inf, -math.inf]


def test_integer_division_by_zero_raises():
    for fn in (lambda: nb.tensor([1, 2]) // nb.tensor([1, 0]), lambda: nb.tensor([3]) % 0,
               lambda: 5 // nb.tensor([0]), lambda: nb.tensor([4]).remainder_(0)):
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            fn()


def test_remainder_gradient():
    a = _leaf([5.3, -5.3, 2.2])
    b = _leaf([2.0, 2.0, -1.5])
    assert gradcheck(nb.remainder, (a, b))
    (nb.remainder(a, b)).sum().backward()
    assert b.grad.tolist() == [-2.0, 3.0, 2.0]  # -floor(a / b)


def test_pow_tensor_exponent_at_zero_base():
    base, exp = _leaf([0.0, 0.0, 2.0, 0.0]), _leaf([0.0, 2.0, 0.0, 1.0])
    (base ** exp).sum().backward()
    assert base.grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert exp.grad.tolist() == [0.0, 0.0, math.log(2.0), 0.0]  # PyTorch masks log(0)
    e = _leaf([0.5, 1.5])
    two = nb.tensor(2.0, dtype=F64)
    assert gradcheck(lambda t: 2.0 ** t, (e,)) and gradcheck(lambda t: two ** t, (e,))
    assert gradgradcheck(lambda p, q: p ** q, (_leaf([0.7, 1.3]), _leaf([0.5, 2.5])))


def test_atan2_values_and_gradient():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3,))
    np.testing.assert_allclose(nb.atan2(nb.tensor(a, dtype=F64), nb.tensor(b, dtype=F64))
                               .numpy(), np.arctan2(a, b), rtol=1e-14)
    assert gradgradcheck(nb.atan2, (_leaf(a), _leaf(b)))
    assert nb.tensor([1, 2]).atan2(nb.tensor([1, 1])).dtype is F32


# =========================================================================== reductions
def _np_norm(p):
    def ref(a, axis, keepdims):
        if p == 2:
            return np.sqrt((a * a).sum(axis, keepdims=keepdims))
        if p == math.inf:
            return np.abs(a).max(axis, keepdims=keepdims)
        return (np.abs(a) ** p).sum(axis, keepdims=keepdims) ** (1 / p)
    return ref


def _np_logsumexp(a, axis, keepdims):
    m = a.max(axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis)


# name -> (nbgrad call (x, dim, keepdim), numpy reference (a, axis, keepdims), second derivative)
REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda a, d, k: np.sum(a, d, keepdims=k), True),
    "mean": (lambda x, d, k: nb.mean(x, d, keepdim=k), lambda a, d, k: np.mean(a, d, keepdims=k),
             True),
    "prod": (lambda x, d, k: x.prod(d, keepdim=k), lambda a, d, k: np.prod(a, d, keepdims=k),
             True),
    "var": (lambda x, d, k: x.var(d, keepdim=k),
            lambda a, d, k: np.var(a, d, ddof=1, keepdims=k), True),
    "var_correction0": (lambda x, d, k: nb.var(x, d, keepdim=k, correction=0),
                        lambda a, d, k: np.var(a, d, keepdims=k), True),
    "std": (lambda x, d, k: x.std(d, keepdim=k),
            lambda a, d, k: np.std(a, d, ddof=1, keepdims=k), True),
    "std_unbiased_false": (lambda x, d, k: nb.std(x, d, False, k),
                           lambda a, d, k: np.std(a, d, keepdims=k), True),
    "amax": (lambda x, d, k: x.amax(() if d is None else d, k),
             lambda a, d, k: np.amax(a, d, keepdims=k), True),
    "amin": (lambda x, d, k: nb.amin(x, () if d is None else d, k),
             lambda a, d, k: np.amin(a, d, keepdims=k), True),
    "logsumexp": (lambda x, d, k: x.logsumexp(d, k), _np_logsumexp, True),
    "norm": (lambda x, d, k: x.norm(dim=d, keepdim=k), _np_norm(2), True),
    "norm_1": (lambda x, d, k: x.norm(1, d, k), _np_norm(1), True),
    "norm_3": (lambda x, d, k: nb.norm(x, 3, d, k), _np_norm(3), True),
    "norm_inf": (lambda x, d, k: x.norm(math.inf, d, k), _np_norm(math.inf), True),
    "norm_fro": (lambda x, d, k: x.norm("fro", d, k), _np_norm(2), True),
}
RED_DIMS = [None, 1, -1, (0, 2), (2, 0)]


@DTYPES
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_values(name, dtype):
    fn, ref, _ = REDUCTIONS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    a = rng.standard_normal((2, 3, 4)) + 0.5
    ra = _rounded(a, dtype)
    for t in (nb.tensor(a, dtype=dtype), _noncontiguous(a, dtype)):
        for dim in RED_DIMS:
            for keepdim in (False, True):
                out = fn(t, dim, keepdim)
                axis = tuple(dim) if isinstance(dim, tuple) else dim
                expected = ref(ra, axis, keepdim)
                assert out.dtype is dtype, (name, dim)
                assert out.shape == np.shape(expected), (name, dim, keepdim)
                np.testing.assert_allclose(out.numpy(), expected, **_tol(dtype))
    zero_d = nb.tensor(1.5, dtype=dtype)
    out = fn(zero_d, None, False)
    assert out.shape == ()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # numpy's "degrees of freedom <= 0" for var/std
        expected = ref(np.float64(1.5), None, False)
    np.testing.assert_allclose(out.numpy(), expected, equal_nan=True)


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_gradcheck(name):
    fn, _, second = REDUCTIONS[name]
    rng = np.random.default_rng(abs(hash(name)) % 2**32 + 1)
    x = _leaf(rng.standard_normal((2, 3, 4)) + 0.5)
    for dim in (None, 1, (0, 2)):
        for keepdim in (False, True):
            assert gradcheck(lambda t, d=dim, k=keepdim: fn(t, d, k), (x,)), (dim, keepdim)
    if second:
        y = _leaf(rng.standard_normal((2, 3)) + 0.5)
        assert gradgradcheck(lambda t: fn(t, 1, False), (y,))
        assert gradgradcheck(lambda t: fn(t, None, False), (y,))


def test_reductions_on_empty_inputs():
    e = nb.zeros(0, 3)
    assert e.sum().item() == 0.0 and e.prod().item() == 1.0
    assert e.sum(0).tolist() == [0.0, 0.0, 0.0] and e.prod(0).tolist() == [1.0, 1.0, 1.0]
    assert math.isnan(e.mean().item()) and math.isnan(e.var().item())
    assert e.logsumexp(0).tolist() == [-math.inf] * 3
    assert e.norm().item() == 0.0 and e.norm(dim=0).tolist() == [0.0, 0.0, 0.0]
    assert e.amax(1).shape == (0,) and e.max(1).values.shape == (0,)
    with pytest.raises(IndexError, match=r"amax.*dim 0.*non-zero size.*\(0, 3\)"):
        e.amax(0)
    with pytest.raises(IndexError, match=r"max\(\).*non-zero size"):
        e.max(0)
    with pytest.raises(RuntimeError, match=r"max\(\).*numel\(\) == 0"):
        e.max()
    with pytest.raises(RuntimeError, match="argmin"):
        e.argmin()


def test_reduction_dtypes_and_errors():
    i = nb.tensor([[1, 2], [3, 4]])
    assert i.prod().dtype is nb.int64 and i.prod().item() == 24
    assert i.amax().item() == 4 and i.amax(0).dtype is nb.int64
    assert nb.tensor([True, True]).prod().dtype is nb.int64
    assert i.logsumexp(1).dtype is F32
    for fn in (lambda: i.var(), lambda: i.std(0), lambda: i.norm()):
        with pytest.raises(RuntimeError, match="floating point"):
            fn()
    with pytest.raises(IndexError, match="Dimension out of range"):
        nb.ones(2, 3).amax(2)
    with pytest.raises(RuntimeError, match="appears multiple times"):
        nb.ones(2, 3).var((1, -1))
    with pytest.raises(ValueError, match="unsupported norm type"):
        nb.ones(3).norm("nuc")
    with pytest.raises(TypeError, match="unbiased or correction"):
        nb.ones(3).var(unbiased=True, correction=0)
    assert nb.ones(3).var(True).item() == 0.0  # legacy positional ``unbiased``


def test_prod_gradient_with_zeros():
    x = _leaf([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    x.prod(1).sum().backward()
    assert x.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 2.0]]
    assert gradcheck(lambda t: t.prod(1), (x,)) and gradcheck(lambda t: t.prod(), (x,))
    assert gradgradcheck(lambda t: t.prod(1), (x,)) and gradgradcheck(lambda t: t.prod(0), (x,))
    y = _leaf([[0.0, 2.0], [3.0, 0.5]])
    assert gradgradcheck(lambda t: t.prod(), (y,))


def test_amax_amin_and_full_max_split_ties_evenly():
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.max().backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]
    x.grad = None
    nb.min(x).backward()
    assert x.grad.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    x.grad = None
    x.norm(math.inf).backward()
    assert x.grad.tolist() == [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]]


@DTYPES
def test_max_min_with_dim(dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 4, 5))
    ra = _rounded(a, dtype)
    for t in (nb.tensor(a, dtype=dtype), _noncontiguous(a, dtype)):
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                for name in ("max", "min"):
                    out = getattr(t, name)(dim, keepdim)
                    values, indices = out
                    assert out.values is values and out.indices is indices
                    ref = getattr(np, name)(ra, dim, keepdims=keepdim)
                    arg = getattr(np, "arg" + name)(ra, dim)
                    if keepdim:
                        arg = np.expand_dims(arg, dim)
                    assert values.dtype is dtype and indices.dtype is nb.int64
                    np.testing.assert_allclose(values.numpy(), ref, **_tol(dtype))
                    np.testing.assert_array_equal(indices.numpy(), arg)
                    assert not indices.requires_grad
    assert nb.max(nb.tensor(2.0), 0).values.item() == 2.0
    assert nb.max(nb.tensor([1.0, 4.0]), nb.tensor([3.0, 2.0])).tolist() == [3.0, 4.0]
    assert repr(nb.tensor([1.0, 4.0]).max(0)).startswith("max(values=tensor(4.)")


def test_max_with_dim_gradient_goes_to_the_index():
    x = _leaf([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]])
    values, indices = x.max(1)
    assert indices.tolist() == [1, 0]  # first of the ties
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    rng = np.random.default_rng(6)
    y = _leaf(rng.standard_normal((3, 4)))
    for dim in (0, 1):
        assert gradcheck(lambda t, d=dim: t.max(d)[0], (y,))
        assert gradcheck(lambda t, d=dim: t.min(d, keepdim=True).values, (y,))
        assert gradgradcheck(lambda t, d=dim: (t * t).max(d).values, (y,))


def test_argmax_argmin():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((3, 4, 5))
    t = nb.tensor(a)
    assert t.argmax().item() == np.argmax(a) and nb.argmin(t).item() == np.argmin(a)
    for dim in (0, 1, -1):
        np.testing.assert_array_equal(t.argmax(dim).numpy(), np.argmax(a, dim))
        np.testing.assert_array_equal(t.argmin(dim, keepdim=True).numpy(),
                                      np.expand_dims(np.argmin(a, dim), dim))
    assert t.argmax(keepdim=True).shape == (1, 1, 1)
    assert nb.tensor([3, 1, 3]).argmax().item() == 0
    assert nb.tensor([1.0, math.nan, 2.0]).argmax().item() == 1  # nan is the maximum
    assert nb.tensor(2.0).argmax().item() == 0
    with pytest.raises(TypeError, match="dim must be an int"):
        t.argmax((0, 1))


def test_logsumexp_is_stable_in_float32():
    x = nb.tensor([[1000.0, 1000.0], [-1000.0, -1000.0], [-math.inf, -math.inf]])
    np.testing.assert_allclose(x.logsumexp(1).numpy()[:2], [1000 + math.log(2),
                                                            -1000 + math.log(2)], rtol=1e-6)
    assert x.logsumexp(1).tolist()[2] == -math.inf
    assert nb.tensor([math.inf, 0.0]).logsumexp(0).item() == math.inf
    y = nb.tensor([[1000.0, 1000.0]], requires_grad=True)
    y.logsumexp(1).sum().backward()
    assert y.grad.tolist() == [[0.5, 0.5]]


def test_var_is_stable_for_large_offsets():
    x = nb.tensor([1e8 + 1, 1e8 + 2, 1e8 + 3], dtype=F64)
    assert x.var().item() == pytest.approx(1.0)
    assert math.isnan(nb.tensor([3.0]).var().item())
    assert nb.tensor([3.0]).var(correction=0).item() == 0.0
    v, m = nb.var_mean(nb.tensor([[1.0, 3.0], [2.0, 6.0]]), 1)
    assert v.tolist() == [2.0, 8.0] and m.tolist() == [2.0, 4.0]
    s, m = nb.std_mean(nb.tensor([1.0, 3.0]), unbiased=False)
    assert s.item() == 1.0 and m.item() == 2.0


def test_zero_gradient_where_std_and_norm_are_zero():
    x = nb.ones(3, dtype=F64, requires_grad=True)
    x.std().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    z = nb.zeros(2, 3, dtype=F64, requires_grad=True)
    z.norm(dim=1).sum().backward()
    assert z.grad.tolist() == [[0.0] * 3] * 2
    z.grad = None
    z.norm(3).backward()
    assert z.grad.tolist() == [[0.0] * 3] * 2


# =========================================================================== linear algebra
LINALG = {
    "mm": (nb.mm, np.matmul, [(3, 4), (4, 2)]),
    "bmm": (nb.bmm, np.matmul, [(2, 3, 4), (2, 4, 5)]),
    "dot": (nb.dot, np.dot, [(5,), (5,)]),
    "outer": (nb.outer, np.outer, [(3,), (4,)]),
    "Tensor.mm": (nb.Tensor.mm, np.matmul, [(1, 4), (4, 1)]),
    "Tensor.dot": (nb.Tensor.dot, np.dot, [(0,), (0,)]),
    "Tensor.outer": (nb.Tensor.outer, np.outer, [(0,), (2,)]),
}


@DTYPES
@pytest.mark.parametrize("name", list(LINALG))
def test_linalg_values(name, dtype):
    fn, ref, shapes = LINALG[name]
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal(s) for s in shapes]
    out = fn(*(nb.tensor(a, dtype=dtype) for a in arrays))
    assert out.dtype is dtype
    np.testing.assert_allclose(out.numpy(), ref(*(_rounded(a, dtype) for a in arrays)),
                               **_tol(dtype))
    if len(shapes[0]) >= 2:  # non-contiguous operands
        out = fn(*(_noncontiguous(a, dtype) for a in arrays))
        np.testing.assert_allclose(out.numpy(), ref(*(_rounded(a, dtype) for a in arrays)),
                                   **_tol(dtype))


@pytest.mark.parametrize("name", list(LINALG))
def test_linalg_gradcheck(name):
    fn, _, shapes = LINALG[name]
    rng = np.random.default_rng(9)
    leaves = [_leaf(rng.standard_normal(s)) for s in shapes]
    assert gradcheck(fn, leaves)
    assert gradgradcheck(fn, leaves)


def test_linalg_errors_name_both_shapes():
    cases = [
        (lambda: nb.mm(nb.ones(2, 3), nb.ones(4, 2)), ValueError, r"mm.*\(2, 3\).*\(4, 2\)"),
        (lambda: nb.mm(nb.ones(2, 3, 1), nb.ones(1, 2)), RuntimeError,
         r"mm.*2-D.*\(2, 3, 1\).*\(1, 2\)"),
        (lambda: nb.bmm(nb.ones(2, 3, 4), nb.ones(3, 4, 5)), ValueError,
         r"bmm.*\(2, 3, 4\).*\(3, 4, 5\)"),
        (lambda: nb.bmm(nb.ones(3, 4), nb.ones(4, 5)), RuntimeError, r"bmm.*3-D"),
        (lambda: nb.dot(nb.ones(3), nb.ones(4)), ValueError, r"dot.*\(3,\).*\(4,\)"),
        (lambda: nb.dot(nb.ones(3), nb.ones(3, dtype=F64)), RuntimeError, "same dtype"),
        (lambda: nb.outer(nb.ones(3, 1), nb.ones(4)), RuntimeError, r"outer.*1-D"),
        (lambda: nb.mm(nb.ones(2, 2), [[1.0]]), TypeError, "Tensors"),
    ]
    for fn, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            fn()


# =========================================================================== copying ops
IDX = nb.tensor([[0, 2, 1, 0], [2, 2, 0, 1]])
SEL = nb.tensor([2, 0, 2])
MASK = np.array([[True, False, True, False], [False, False, True, True], [True, True, False,
                                                                          False]])


def _np_scatter_add(a, dim, index, src):
    out = a.copy()
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    np.add.at(out, tuple(grid), src[tuple(slice(0, s) for s in index.shape)])
    return out


def _np_gather_block(a, dim, index):
    block = a[tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(index.shape))]
    return np.take_along_axis(block, index, dim)


# name -> (nbgrad call on tensors, numpy reference on arrays, input shapes)
COPYING = {
    "gather_0": (lambda x: x.gather(0, IDX), lambda a: np.take_along_axis(a, IDX.numpy(), 0),
                 [(3, 4)]),
    "gather_1": (lambda x: nb.gather(x, 1, IDX[:, :2]),
                 lambda a: _np_gather_block(a, 1, IDX.numpy()[:, :2]), [(3, 4)]),
    "gather_smaller_index": (lambda x: x.gather(-1, IDX[:1, :2]),
                             lambda a: _np_gather_block(a, 1, IDX.numpy()[:1, :2]), [(3, 4)]),
    "take_along_dim": (lambda x: nb.take_along_dim(x, nb.tensor([[0], [3], [1]]), 1),
                       lambda a: np.take_along_axis(a, np.array([[0], [3], [1]]), 1), [(3, 4)]),
    "scatter_add": (lambda x, s: x.scatter_add(0, IDX, s),
                    lambda a, s: _np_scatter_add(a, 0, IDX.numpy(), s), [(3, 4), (2, 4)]),
    "scatter_add_bigger_src": (lambda x, s: nb.scatter_add(x, 1, IDX[:, :2], s),
                               lambda a, s: _np_scatter_add(a, 1, IDX.numpy()[:, :2], s),
                               [(3, 4), (2, 3)]),
    "index_select_0": (lambda x: x.index_select(0, SEL), lambda a: np.take(a, [2, 0, 2], 0),
                       [(3, 4)]),
    "index_select_1": (lambda x: nb.index_select(x, -1, SEL), lambda a: np.take(a, [2, 0, 2], 1),
                       [(3, 4)]),
    "index_int_tensor": (lambda x: x[nb.tensor([2, 0, 0])], lambda a: a[[2, 0, 0]], [(3, 4)]),
    "index_two_tensors": (lambda x: x[nb.tensor([0, 2]), nb.tensor([1, 1])],
                          lambda a: a[[0, 2], [1, 1]], [(3, 4)]),
    "index_bool_mask": (lambda x: x[nb.tensor(MASK)], lambda a: a[MASK], [(3, 4)]),
    "index_bool_rows": (lambda x: x[nb.tensor([True, False, True]), 1:],
                        lambda a: a[[True, False, True], 1:], [(3, 4)]),
    "cat_0": (lambda x, y: nb.cat([x, y]), lambda a, b: np.concatenate([a, b]), [(3, 4), (2, 4)]),
    "cat_1": (lambda x, y: nb.cat((x, y, x), dim=-1), lambda a, b: np.concatenate([a, b, a], 1),
              [(3, 4), (3, 1)]),
    "stack_0": (lambda x, y: nb.stack([x, y]), lambda a, b: np.stack([a, b]), [(3, 4), (3, 4)]),
    "stack_2": (lambda x, y: nb.stack([x, y], 2), lambda a, b: np.stack([a, b], 2),
                [(3, 4), (3, 4)]),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), [(3, 4)]),
    "repeat_same_ndim": (lambda x: x.repeat(1, 2), lambda a: np.tile(a, (1, 2)), [(3, 4)]),
    "flip_0": (lambda x: x.flip(0), lambda a: np.flip(a, 0), [(3, 4)]),
    "flip_both": (lambda x: nb.flip(x, (0, -1)), lambda a: np.flip(a, (0, 1)), [(3, 4)]),
    "flip_varargs": (lambda x: x.flip(1, 0), lambda a: np.flip(a, (0, 1)), [(3, 4)]),
    "tril": (lambda x: x.tril(), np.tril, [(3, 4)]),
    "tril_1": (lambda x: nb.tril(x, 1), lambda a: np.tril(a, 1), [(2, 3, 4)]),
    "triu": (lambda x: x.triu(), np.triu, [(3, 4)]),
    "triu_-1": (lambda x: nb.triu(x, -1), lambda a: np.triu(a, -1), [(4, 3)]),
    "masked_fill": (lambda x: x.masked_fill(nb.tensor(MASK), -1.5),
                    lambda a: np.where(MASK, -1.5, a), [(3, 4)]),
    "masked_fill_broadcast": (lambda x: nb.masked_fill(x, nb.tensor(MASK[0]), 2),
                              lambda a: np.where(MASK[0], 2.0, a), [(3, 4)]),
    "split_1": (lambda x: x.split(3, 1)[1], lambda a: a[:, 3:], [(3, 4)]),
    "split_sizes": (lambda x: nb.split(x, [1, 2])[1], lambda a: a[1:], [(3, 4)]),
    "chunk": (lambda x: x.chunk(3, 1)[1], lambda a: a[:, 2:4], [(3, 5)]),
    "unbind": (lambda x: x.unbind(1)[2], lambda a: a[:, 2], [(3, 4)]),
}


@pytest.mark.parametrize("dtype", [F32, F64, nb.int64], ids=["f32", "f64", "i64"])
@pytest.mark.parametrize("name", list(COPYING))
def test_copying_values(name, dtype):
    fn, ref, shapes = COPYING[name]
    rng = np.random.default_rng(10)
    arrays = [np.round(rng.standard_normal(s) * 4, 1) for s in shapes]
    if dtype is nb.int64:
        arrays = [np.round(a).astype(np.int64) for a in arrays]
    expected = ref(*(a.astype(dtype.np) for a in arrays)).astype(dtype.np)
    for make in (lambda a: nb.tensor(a, dtype=dtype), lambda a: _noncontiguous(a, dtype)):
        out = fn(*(make(a) for a in arrays))
        assert out.dtype is dtype, name
        assert out.shape == expected.shape, (name, out.shape, expected.shape)
        np.testing.assert_allclose(out.numpy(), expected, **_tol(F64))


@pytest.mark.parametrize("name", list(COPYING))
def test_copying_gradcheck(name):
    fn, _, shapes = COPYING[name]
    rng = np.random.default_rng(11)
    leaves = [_leaf(rng.standard_normal(s)) for s in shapes]
    assert gradcheck(fn, leaves)
    assert gradgradcheck(fn, leaves)


def test_copying_ops_on_0d_and_empty_inputs():
    s = nb.tensor(3.0)
    assert nb.gather(s, 0, nb.tensor(0)).item() == 3.0
    assert s.index_select(0, nb.tensor([0, 0])).tolist() == [3.0, 3.0]
    assert s.masked_fill(nb.tensor(True), 1.0).item() == 1.0
    assert s.repeat(2).tolist() == [3.0, 3.0] and s.flip(()).item() == 3.0
    e = nb.zeros(0, 4)
    assert nb.cat([e, nb.ones(1, 4)]).shape == (1, 4) and nb.stack([e, e]).shape == (2, 0, 4)
    assert e.gather(0, nb.zeros(0, 4, dtype=nb.int64)).shape == (0, 4)
    assert e.index_select(1, nb.tensor([1, 1])).shape == (0, 2)
    assert e.tril().shape == (0, 4) and e.flip(0).shape == (0, 4)
    assert nb.cat([nb.tensor([]), nb.ones(2, 2)]).shape == (2, 2)  # legacy empty 1-D skipped
    assert [p.shape for p in e.split(2, 1)] == [(0, 2), (0, 2)]
    assert nb.zeros(0).chunk(3)[0].shape == (0,)


def test_cat_promotes_and_gives_each_input_its_dtype():
    a = nb.tensor([1.0, 2.0], requires_grad=True)
    b = nb.tensor([3.0], dtype=F64, requires_grad=True)
    out = nb.cat([a, b, nb.tensor([4])])
    assert out.dtype is F64 and out.tolist() == [1.0, 2.0, 3.0, 4.0]
    out.sum().backward()
    assert a.grad.dtype is F32 and b.grad.dtype is F64
    assert nb.cat([nb.tensor([1]), nb.tensor([True])]).dtype is nb.int64


def test_split_chunk_unbind_are_views():
    x = nb.tensor(np.arange(12.0).reshape(3, 4))
    pieces = x.split([1, 3], dim=1)
    assert [p.shape for p in pieces] == [(3, 1), (3, 3)]
    assert all(p._base is x for p in pieces)
    pieces[1][0, 0] = 100.0
    assert x[0, 1].item() == 100.0 and x._version == 1
    assert [c.shape for c in x.chunk(3, 1)] == [(3, 2), (3, 2)]  # fewer chunks, as PyTorch
    assert [c.shape for c in nb.chunk(x, 2)] == [(2, 4), (1, 4)]
    rows = nb.unbind(x)
    assert len(rows) == 3 and rows[2].tolist() == [8.0, 9.0, 10.0, 11.0] and rows[0]._base is x
    leaf = nb.ones(2, 3, requires_grad=True)
    a, b = leaf.unbind(0)
    (a * 2 + b * 3).sum().backward()
    assert leaf.grad.tolist() == [[2.0] * 3, [3.0] * 3]


def test_scatter_add_accumulates_repeated_indices_and_inplace_form():
    x = nb.zeros(5)
    out = x.scatter_add(0, nb.tensor([0, 0, 3, 0]), nb.ones(4))
    assert out.tolist() == [3.0, 0.0, 0.0, 1.0, 0.0] and x.tolist() == [0.0] * 5
    assert x.scatter_add_(0, nb.tensor([4, 4]), nb.tensor([1.0, 2.0])) is x
    assert x.tolist() == [0.0, 0.0, 0.0, 0.0, 3.0] and x._version == 1
    src = _leaf([1.0, 2.0, 3.0])
    base = _leaf([0.0, 0.0])
    nb.scatter_add(base, 0, nb.tensor([1, 1, 0]), src).pow(2).sum().backward()
    assert src.grad.tolist() == [6.0, 6.0, 6.0] and base.grad.tolist() == [6.0, 6.0]


def test_masked_fill_inplace_and_value_tensor():
    x = nb.ones(2, 3)
    mask = nb.tensor([True, False, True])
    assert x.masked_fill_(mask, -1) is x and x._version == 1
    assert x.tolist() == [[-1.0, 1.0, -1.0]] * 2
    ints = nb.tensor([1, 2, 3]).masked_fill(nb.tensor([True, False, False]), 7.9)
    assert ints.dtype is nb.int64 and ints.tolist() == [7, 2, 3]  # keeps the input's dtype
    v = nb.tensor(2.0, requires_grad=True)
    w = _leaf([1.0, 2.0, 3.0])
    out = w.masked_fill(mask, v.double())
    out.sum().backward()
    assert v.grad.item() == 2.0 and w.grad.tolist() == [0.0, 1.0, 0.0]
    y = w * 1
    y.masked_fill_(mask, 0.0)
    assert y.grad_fn is not None and y.tolist() == [0.0, 2.0, 0.0]


def test_inplace_copying_ops_check_saved_tensors():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y.masked_fill_(nb.tensor([True, False]), 5.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.scatter_add_(0, nb.tensor([0]), nb.ones(1))


def test_advanced_index_gradient_accumulates_repeats():
    x = _leaf([1.0, 2.0, 3.0])
    x[nb.tensor([0, 0, 2, 0])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    m = _leaf([[1.0, -2.0], [-3.0, 4.0]])
    (m[m > 0] * 2).sum().backward()
    assert m.grad.tolist() == [[2.0, 0.0], [0.0, 2.0]]


COPYING_ERRORS = [
    (lambda: nb.ones(3, 4).gather(1, nb.tensor([[0.0]])), RuntimeError, "int64 for index"),
    (lambda: nb.ones(3, 4).gather(1, nb.tensor([0, 1])), RuntimeError,
     r"same number of dimensions.*\(2,\).*\(3, 4\)"),
    (lambda: nb.ones(3, 4).gather(1, nb.tensor([[4]])), IndexError,
     "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda: nb.ones(3, 4).gather(0, nb.tensor([[-1]])), IndexError, "index -1 is out of bounds"),
    (lambda: nb.ones(2, 2).gather(0, nb.zeros(3, 3, dtype=nb.int64)), RuntimeError,
     r"Size does not match at dimension 1"),
    (lambda: nb.ones(3).scatter_add(0, nb.tensor([0]), nb.ones(1, dtype=F64)), RuntimeError,
     "self.dtype to be equal to src.dtype"),
    (lambda: nb.ones(3).scatter_add(0, nb.tensor([0, 1]), nb.ones(1)), RuntimeError,
     r"Size does not match.*index shape \(2,\).*src shape \(1,\)"),
    (lambda: nb.ones(3).scatter_add(0, nb.tensor([5]), nb.ones(1)), IndexError,
     "out of bounds"),
    (lambda: nb.ones(3, 4).index_select(0, nb.tensor([[0]])), IndexError, "vector"),
    (lambda: nb.ones(3, 4).index_select(1, nb.tensor([4])), IndexError,
     "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda: nb.ones(3, 4).index_select(2, nb.tensor([0])), IndexError, "Dimension out of range"),
    (lambda: nb.cat([nb.ones(2, 3), nb.ones(2, 4)]), ValueError,
     r"cat.*dimension 0.*\(2, 3\).*\(2, 4\)"),
    (lambda: nb.cat([]), RuntimeError, "non-empty list"),
    (lambda: nb.cat(nb.ones(2)), TypeError, "sequence of Tensors"),
    (lambda: nb.cat([nb.ones(2), 3]), TypeError, "entry 1"),
    (lambda: nb.cat([nb.tensor(1.0), nb.tensor(2.0)]), RuntimeError, "zero-dimensional"),
    (lambda: nb.stack([nb.ones(2, 3), nb.ones(3, 2)]), ValueError,
     r"equal size.*\(2, 3\).*\(3, 2\)"),
    (lambda: nb.ones(2, 3).repeat(2), RuntimeError, r"can not be smaller.*\(2, 3\)"),
    (lambda: nb.ones(2, 3).flip((0, 0)), RuntimeError, "repeated dim"),
    (lambda: nb.ones(3).tril(), RuntimeError, r"tril.*at least 2 dimensions.*\(3,\)"),
    (lambda: nb.ones(3).triu(), RuntimeError, "triu"),
    (lambda: nb.ones(2, 3).masked_fill(nb.tensor([1, 0, 1]), 0.0), RuntimeError,
     "boolean masks"),
    (lambda: nb.ones(3).masked_fill(nb.ones(2, 3, dtype=nb.bool), 0.0), ValueError,
     r"mask of shape \(2, 3\).*input shape \(3,\)"),
    (lambda: nb.ones(3).masked_fill(nb.tensor([True] * 3), nb.ones(2)), RuntimeError,
     "0-dimensional value"),
    (lambda: nb.ones(3, 4).split([1, 1]), RuntimeError, "sum exactly to 3"),
    (lambda: nb.ones(3).split(0), RuntimeError, "positive"),
    (lambda: nb.ones(3).chunk(0), RuntimeError, "greater than 0"),
    (lambda: nb.tensor(1.0).unbind(), IndexError, "no dimensions"),
    (lambda: nb.ones(3)[nb.tensor([0.5])], IndexError, "long, int or bool"),
]


@pytest.mark.parametrize("case", range(len(COPYING_ERRORS)))
def test_copying_errors(case):
    fn, exc, pattern = COPYING_ERRORS[case]
    with pytest.raises(exc, match=pattern):
        fn()


def test_every_library_function_is_public():
    names = ["where", "clamp", "clip", "maximum", "minimum", "floor_divide", "remainder",
             "atan2", "prod", "var", "std", "amax", "amin", "max", "min", "argmax", "argmin",
             "logsumexp", "norm", "mm", "bmm", "dot", "outer", "gather", "scatter_add",
             "index_select", "masked_fill", "cat", "stack", "split", "chunk", "unbind", "flip",
             "tril", "triu"]
    for name in names:
        assert callable(getattr(nb, name)), name
    methods = [*names[1:], "repeat", "clamp_", "masked_fill_", "scatter_add_", "pow_",
               "floor_divide_", "remainder_", "__floordiv__", "__rfloordiv__", "__mod__",
               "__rmod__", "__ifloordiv__", "__imod__"]
    for name in set(methods) - {"cat", "stack"}:
        assert callable(getattr(nb.Tensor, name)), name


# =========================================================================== docs
def test_the_op_reference_page_is_generated_from_the_table():
    import importlib.util
    from pathlib import Path

    docs = Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("nbgrad_gen_ops", docs / "gen_ops.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = gen.render()
    assert (docs / "ops.md").read_text() == page, "docs/ops.md is stale: run python docs/gen_ops.py"
    for e in _register.entries():
        if isinstance(e.doc, ew.Elementwise):
            assert f"`nb.{e.doc.key}(" in page, e.doc.key
    assert "`g * (1 - y * y)`" in page  # gradients come from the rows themselves
