"""Core ops, driven by the op registry: every elementwise row with one or two arguments that
the registry declares public (``UNARY`` / ``BINARY`` / ``COMPARISONS`` of ``ops/elementwise.py``)
is checked against a numpy reference (values on many shapes, float32 and float64, scalar
operands on both sides) and against finite differences (``gradcheck`` / ``gradgradcheck`` in
float64).

A new row is tested the moment it is declared; a row without an entry in ``REFERENCES`` makes
``test_every_row_has_a_reference`` fail. Then: sum/mean, matmul, clone and bad input.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck
from nbgrad.ops import _register
from nbgrad.ops import elementwise as ew

# --------------------------------------------------------------------------- references
# A domain is (low, high, flags): values are drawn uniformly from [low, high); with "nonzero"
# their magnitude is at least 0.25, with "nonint" they stay 0.1 away from integers and halves
# (the kinks of floor/ceil/round).
ANY = (-2.0, 2.0, "")
NONZERO = (-2.0, 2.0, "nonzero")
POSITIVE = (0.25, 2.0, "")
NONINT = (-3.0, 3.0, "nonint")


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erfinv(y):
    """erf's inverse by bisection (a reference independent of the kernel's approximation)."""
    lo, hi = np.full(np.shape(y), -6.0), np.full(np.shape(y), 6.0)
    for _ in range(200):
        mid = (lo + hi) / 2
        below = _erf(mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


UNARY_REF = {
    "neg": (np.negative, ANY),
    "abs": (np.abs, NONZERO),
    "sign": (np.sign, NONZERO),
    "exp": (np.exp, ANY),
    "log": (np.log, POSITIVE),
    "sin": (np.sin, ANY),
    "cos": (np.cos, ANY),
    "tan": (np.tan, (-1.2, 1.2, "")),
    "tanh": (np.tanh, ANY),
    "sigmoid": (_sigmoid, ANY),
    "relu": (lambda x: np.maximum(x, 0), NONZERO),
    "sqrt": (np.sqrt, POSITIVE),
    "rsqrt": (lambda x: 1 / np.sqrt(x), POSITIVE),
    "reciprocal": (lambda x: 1 / x, NONZERO),
    "log1p": (np.log1p, (-0.5, 2.0, "")),
    "expm1": (np.expm1, ANY),
    "erf": (_erf, ANY),
    "gelu": (lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), ANY),
    "silu": (lambda x: x * _sigmoid(x), ANY),
    "softplus": (lambda x: np.log1p(np.exp(x)), ANY),
    "floor": (np.floor, NONINT),
    "ceil": (np.ceil, NONINT),
    "round": (np.round, NONINT),
    "asin": (np.arcsin, (-0.8, 0.8, "")),
    "acos": (np.arccos, (-0.8, 0.8, "")),
    "atan": (np.arctan, ANY),
    "sinh": (np.sinh, ANY),
    "cosh": (np.cosh, ANY),
    "asinh": (np.arcsinh, ANY),
    "acosh": (np.arccosh, (1.25, 3.0, "")),
    "atanh": (np.arctanh, (-0.8, 0.8, "")),
    "log2": (np.log2, POSITIVE),
    "log10": (np.log10, POSITIVE),
    "exp2": (np.exp2, ANY),
    "erfc": (lambda x: 1 - _erf(x), ANY),
    "erfinv": (lambda x: _erfinv(x), (-0.9, 0.9, "")),
    "sinc": (lambda x: np.sinc(x), NONZERO),
    "deg2rad": (np.deg2rad, ANY),
    "rad2deg": (np.rad2deg, ANY),
    "square": (np.square, ANY),
    "trunc": (np.trunc, NONINT),
    "frac": (lambda x: x - np.trunc(x), NONINT),
}

BINARY_REF = {
    "add": (np.add, (ANY, ANY)),
    "sub": (np.subtract, (ANY, ANY)),
    "mul": (np.multiply, (ANY, ANY)),
    "div": (np.true_divide, (ANY, NONZERO)),
    "pow": (np.power, (POSITIVE, ANY)),
    "maximum": (np.maximum, (ANY, ANY)),
    "minimum": (np.minimum, (ANY, ANY)),
    "floor_divide": (np.floor_divide, (ANY, NONZERO)),
    "remainder": (np.remainder, (ANY, NONZERO)),
    "atan2": (np.arctan2, (NONZERO, NONZERO)),
    "clamp_min": (np.maximum, (ANY, ANY)),
    "clamp_max": (np.minimum, (ANY, ANY)),
    "fmod": (np.fmod, (ANY, NONZERO)),
    "copysign": (np.copysign, (NONZERO, NONZERO)),
    "hypot": (np.hypot, (NONZERO, NONZERO)),
    "logaddexp": (np.logaddexp, (ANY, ANY)),
    "logaddexp2": (np.logaddexp2, (ANY, ANY)),
    "xlogy": (lambda a, b: a * np.log(b), (ANY, POSITIVE)),
}

COMPARISON_REF = {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}

REFERENCES = {"unary": UNARY_REF, "binary": BINARY_REF, "comparison": COMPARISON_REF}


def _kind(op: ew.Elementwise) -> str:
    return "comparison" if op.kind == "bool" else ("unary", "binary", "ternary")[op.nargs - 1]


# Every elementwise row the registry declares as nb.<key> (aliases aside), by kind.
TABLES: dict[str, dict] = {"unary": {}, "binary": {}, "comparison": {}, "ternary": {}}
for _e in _register.entries("function"):
    if (isinstance(_e.doc, ew.Elementwise) and _e.name == _e.doc.key
            and _e.name not in ew.PREDICATES and _e.name not in ew.BITWISE):  # those:
        # tests/test_ops_elementwise_more.py
        TABLES[_kind(_e.doc)][_e.name] = _e.doc
del TABLES["ternary"]  # tests/test_ops_library.py
ROWS = [(kind, name) for kind, table in TABLES.items() for name in table]
UNARY_ROWS = list(TABLES["unary"])
BINARY_ROWS = list(TABLES["binary"])
COMPARISON_ROWS = list(TABLES["comparison"])


def _sample(rng, domain, shape):
    lo, hi, flags = domain
    x = rng.uniform(lo, hi, shape)
    if "nonzero" in flags:
        x = np.sign(x + (x == 0)) * (0.25 + np.abs(x) * (hi - 0.25) / hi)
    if "nonint" in flags:
        x = np.floor(x) + rng.choice([0.15, 0.35, 0.65, 0.85], shape)
    return x


def _scalar(rng, domain):
    return float(_sample(rng, domain, ()))


def _unary_ref(name):
    if name not in UNARY_REF:
        pytest.fail(f"unary op {name!r} has no numpy reference in tests/test_ops_core.py")
    return UNARY_REF[name]


def _binary_ref(name):
    if name not in BINARY_REF:
        pytest.fail(f"binary op {name!r} has no numpy reference in tests/test_ops_core.py")
    return BINARY_REF[name]


def _tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-6} if dtype is nb.float32 else {"rtol": 1e-12,
                                                                       "atol": 1e-12}


def _check(result, expected, dtype):
    assert result.dtype is dtype, (result.dtype, dtype)
    assert result.shape == np.shape(expected)
    np.testing.assert_allclose(result.numpy(), expected, **_tol(dtype))


@pytest.mark.parametrize("kind, name", ROWS)
def test_every_row_has_a_reference(kind, name):
    assert name in REFERENCES[kind], (
        f"{kind} op {name!r} was added to the op table without a numpy reference: add one to "
        f"{kind.upper()}_REF in tests/test_ops_core.py"
    )


@pytest.mark.parametrize("kind, name", ROWS)
def test_every_row_is_public(kind, name):
    assert callable(getattr(nb, name)), f"nb.{name} is missing"
    assert callable(getattr(nb.Tensor, name)), f"Tensor.{name} is missing"


# --------------------------------------------------------------------------- unary values
def _unary_inputs(rng, domain, dtype):
    """(label, tensor, numpy values) for contiguous, 0-d, empty and non-contiguous inputs."""
    base = _sample(rng, domain, (4, 6))
    cases = [
        ("2d", base[:3, :4].copy()),
        ("0d", np.asarray(base[0, 0])),
        ("empty", np.zeros((0, 3))),
        ("3d", _sample(rng, domain, (2, 3, 4))),
    ]
    out = [(label, nb.tensor(a, dtype=dtype), a) for label, a in cases]
    t = nb.tensor(base, dtype=dtype)
    out.append(("transposed", t.t(), base.T))
    out.append(("strided", t[::2, 1::3], base[::2, 1::3]))
    return out


@pytest.mark.parametrize("dtype", [nb.float32, nb.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", UNARY_ROWS)
def test_unary_values(name, dtype):
    ref, domain = _unary_ref(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    fn, method = getattr(nb, name), getattr(nb.Tensor, name)
    for label, t, values in _unary_inputs(rng, domain, dtype):
        expected = ref(values.astype(dtype.np).astype(np.float64))
        result = fn(t)
        _check(result, expected, dtype)
        _check(method(t), expected, dtype)
        assert t._version == 0, label  # inputs untouched


@pytest.mark.parametrize("name", UNARY_ROWS)
def test_unary_inplace(name):
    ref, domain = _unary_ref(name)
    rng = np.random.default_rng(1)
    values = _sample(rng, domain, (3, 4))
    t = nb.tensor(values, dtype=nb.float64)
    view = t.t()
    assert getattr(view, name + "_")() is view
    assert t._version == 1
    np.testing.assert_allclose(t.numpy(), ref(values), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", UNARY_ROWS)
def test_unary_gradcheck(name):
    _, domain = _unary_ref(name)
    rng = np.random.default_rng(2)
    x = nb.tensor(_sample(rng, domain, (2, 3)), dtype=nb.float64, requires_grad=True)
    fn = getattr(nb, name)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))
    x0 = nb.tensor(_scalar(rng, domain), dtype=nb.float64, requires_grad=True)
    assert gradcheck(fn, (x0,))


# --------------------------------------------------------------------------- binary values
SHAPE_PAIRS = [
    ((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((2, 1, 3), (4, 1)),
    ((), (3,)), ((3,), ()), ((), ()), ((0, 3), (3,)), ((2, 0), (2, 1)),
]


@pytest.mark.parametrize("dtype", [nb.float32, nb.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", BINARY_ROWS)
def test_binary_values(name, dtype):
    ref, (da, db) = _binary_ref(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    fn, method = getattr(nb, name), getattr(nb.Tensor, name)

    def run(a, b, ta, tb):
        a64 = a.astype(dtype.np).astype(np.float64) if isinstance(a, np.ndarray) else a
        b64 = b.astype(dtype.np).astype(np.float64) if isinstance(b, np.ndarray) else b
        expected = ref(a64, b64)
        _check(fn(ta, tb), expected, dtype)
        if isinstance(ta, nb.Tensor):
            _check(method(ta, tb), expected, dtype)

    for sa, sb in SHAPE_PAIRS:
        a, b = _sample(rng, da, sa), _sample(rng, db, sb)
        run(a, b, nb.tensor(a, dtype=dtype), nb.tensor(b, dtype=dtype))
    # non-contiguous operands
    a, b = _sample(rng, da, (4, 3)), _sample(rng, db, (3, 8))
    run(a.T, b[:, ::2], nb.tensor(a, dtype=dtype).t(), nb.tensor(b, dtype=dtype)[:, ::2])
    # Python scalars on both sides keep the tensor's dtype
    a, b = _sample(rng, da, (2, 3)), _sample(rng, db, (2, 3))
    sa, sb = _scalar(rng, da), _scalar(rng, db)
    run(a, sb, nb.tensor(a, dtype=dtype), sb)
    run(sa, b, sa, nb.tensor(b, dtype=dtype))


@pytest.mark.parametrize("name", BINARY_ROWS)
def test_binary_inplace(name):
    ref, (da, db) = _binary_ref(name)
    rng = np.random.default_rng(3)
    a, b = _sample(rng, da, (3, 4)), _sample(rng, db, (4,))
    t = nb.tensor(a, dtype=nb.float64)
    assert getattr(t, name + "_")(nb.tensor(b, dtype=nb.float64)) is t
    assert t._version == 1
    np.testing.assert_allclose(t.numpy(), ref(a, b), rtol=1e-12, atol=1e-12)
    s = _scalar(rng, db)
    getattr(t, name + "_")(s)
    assert t._version == 2
    np.testing.assert_allclose(t.numpy(), ref(ref(a, b), s), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", BINARY_ROWS)
def test_binary_gradcheck(name):
    _, (da, db) = _binary_ref(name)
    rng = np.random.default_rng(4)
    fn = getattr(nb, name)

    def leaf(domain, shape):
        return nb.tensor(_sample(rng, domain, shape), dtype=nb.float64, requires_grad=True)

    a, b = leaf(da, (2, 3)), leaf(db, (3,))  # broadcasting: b's gradient is summed
    assert gradcheck(fn, (a, b))
    assert gradgradcheck(fn, (a, b))
    col, row = leaf(da, (2, 1)), leaf(db, (1, 3))  # broadcasting both ways
    assert gradcheck(fn, (col, row))
    sa, sb = _scalar(rng, da), _scalar(rng, db)
    assert gradcheck(lambda t: fn(t, sb), (a,))
    assert gradcheck(lambda t: fn(sa, t), (leaf(db, (2, 3)),))
    assert gradgradcheck(lambda t: fn(sa, t), (leaf(db, (3,)),))
    constant = nb.tensor(_sample(rng, da, (2, 3)), dtype=nb.float64)  # only b needs a gradient
    assert gradcheck(lambda t: fn(constant, t), (leaf(db, (3,)),))


@pytest.mark.parametrize("name", BINARY_ROWS)
def test_binary_shape_mismatch(name):
    fn = getattr(nb, name)
    with pytest.raises((ValueError, RuntimeError), match=rf"(?i){name}.*\(2, 3\).*\(4,\)"):
        fn(nb.ones(2, 3), nb.ones(4))


# --------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize("name", COMPARISON_ROWS)
def test_comparison_values(name):
    ref = COMPARISON_REF.get(name)
    if ref is None:
        pytest.fail(f"comparison {name!r} has no numpy reference in tests/test_ops_core.py")
    rng = np.random.default_rng(5)
    fn = getattr(nb, name)
    for dtype in (nb.float32, nb.float64, nb.int64, nb.int32, nb.bool):
        for sa, sb in SHAPE_PAIRS:
            a = rng.integers(-2, 3, sa).astype(dtype.np)
            b = rng.integers(-2, 3, sb).astype(dtype.np)
            out = fn(nb.tensor(a, dtype=dtype), nb.tensor(b, dtype=dtype))
            assert out.dtype is nb.bool and out.shape == np.broadcast_shapes(sa, sb)
            np.testing.assert_array_equal(out.numpy(), ref(a, b))
    x = nb.tensor([0.5, 1.0, 1.5], requires_grad=True)
    for other in (1.0, 1, nb.tensor(1.0), nb.tensor([1, 1, 1])):
        out = fn(x, other)
        np.testing.assert_array_equal(out.numpy(), ref(np.array([0.5, 1.0, 1.5]), 1.0))
        assert not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(fn(1.0, x).numpy(), ref(1.0, np.array([0.5, 1.0, 1.5])))


def test_comparison_operators():
    x = nb.tensor([1.0, 2.0, 3.0])
    assert (x == 2).tolist() == [False, True, False]
    assert (x != 2).tolist() == [True, False, True]
    assert (x < 2).tolist() == [True, False, False] and (2 > x).tolist() == [True, False, False]
    assert (x <= 2).tolist() == [True, True, False] and (x >= 2).tolist() == [False, True, True]


# --------------------------------------------------------------------------- every dtype
def _assert_clear_error(exc: BaseException) -> None:
    text = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    assert not type(exc).__module__.startswith("numba"), text
    for marker in ("No implementation of function", "nopython", "Failed in", "typing of"):
        assert marker not in str(exc), text


DTYPES = [nb.float32, nb.float64, nb.int32, nb.int64, nb.bool]


@pytest.mark.parametrize("kind, name", ROWS)
def test_every_dtype_gives_a_result_or_a_clear_error(kind, name):
    table = TABLES[kind]
    op = table[name]
    rng = np.random.default_rng(6)
    for dtype in DTYPES:
        values = rng.integers(1, 3, (2, 3))
        t = nb.tensor(values, dtype=dtype)
        args = (t,) if kind == "unary" else (t, nb.tensor(values, dtype=dtype))
        fn = getattr(nb, name)
        try:
            out = fn(*args)
        except (TypeError, RuntimeError, ValueError, ZeroDivisionError) as exc:
            _assert_clear_error(exc)
            assert dtype is nb.bool, f"{name} refused {dtype.name}: {exc}"
            continue
        if kind == "comparison":
            assert out.dtype is nb.bool
        elif op.kind == "float" and not dtype.is_floating_point:
            assert out.dtype is nb.float32
        else:
            assert out.dtype is dtype, (name, dtype, out.dtype)
        assert out.shape == (2, 3)


@pytest.mark.parametrize("dtype", [nb.int32, nb.int64])
def test_integer_values(dtype):
    a = nb.tensor([-7, -3, 0, 4, 9], dtype=dtype)
    an = a.numpy()
    for name, ref in [("neg", np.negative), ("abs", np.abs), ("sign", np.sign),
                      ("relu", lambda x: np.maximum(x, 0))]:
        out = getattr(nb, name)(a)
        assert out.dtype is dtype
        np.testing.assert_array_equal(out.numpy(), ref(an))
    b = nb.tensor([2, -2, 3, 5, -4], dtype=dtype)
    bn = b.numpy()
    for name, ref in [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("floor_divide", np.floor_divide), ("remainder", np.remainder),
                      ("maximum", np.maximum), ("minimum", np.minimum)]:
        if name in TABLES["binary"]:
            out = getattr(nb, name)(a, b)
            assert out.dtype is dtype
            np.testing.assert_array_equal(out.numpy(), ref(an, bn))
    assert (a ** 2).tolist() == [49, 9, 0, 16, 81] and (a ** 2).dtype is dtype
    assert (a / b).dtype is nb.float32


# --------------------------------------------------------------------------- reductions
RED_DIMS = [None, 0, -1, 1, (0, 2), (-1, 0), (0, 1, 2), [2, 1]]


@pytest.mark.parametrize("dtype", [nb.float32, nb.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", RED_DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_values(op, dim, keepdim, dtype):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((2, 3, 4))
    t = nb.tensor(a, dtype=dtype)
    kwargs = {} if dim is None else {"dim": dim}
    out = getattr(t, op)(keepdim=keepdim, **kwargs)
    axis = tuple(dim) if isinstance(dim, list) else dim
    expected = getattr(np, op)(a.astype(dtype.np).astype(np.float64), axis=axis,
                               keepdims=keepdim)
    assert out.dtype is dtype
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5 if dtype is nb.float32 else 1e-12)
    assert getattr(nb, op)(t, **kwargs, keepdim=keepdim).shape == out.shape


@pytest.mark.parametrize("dim", RED_DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_gradcheck(op, dim):
    rng = np.random.default_rng(8)
    x = nb.tensor(rng.standard_normal((2, 3, 4)), dtype=nb.float64, requires_grad=True)
    kwargs = {} if dim is None else {"dim": dim}
    for keepdim in (False, True):
        assert gradcheck(lambda t, k=keepdim: getattr(t, op)(keepdim=k, **kwargs), (x,))
    assert gradgradcheck(lambda t: (getattr(t * t, op)(**kwargs)), (x,))


def test_sum_mean_special_inputs():
    t = nb.arange(12.0).reshape(3, 4).t()  # non-contiguous
    np.testing.assert_array_equal(t.sum(0).numpy(), np.arange(12.0).reshape(3, 4).T.sum(0))
    assert nb.tensor(3.0).sum().item() == 3.0 and nb.tensor(3.0).sum(0).item() == 3.0
    assert nb.tensor(3.0).mean(-1, keepdim=True).shape == ()
    assert nb.zeros(0, 3).sum(0).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(nb.zeros(0, 3).mean(0).numpy()).all()
    assert nb.zeros(0).sum().item() == 0.0


def test_sum_dtypes():
    assert nb.tensor([1, 2], dtype=nb.int32).sum().dtype is nb.int64
    assert nb.tensor([True, True, False]).sum().item() == 2
    assert nb.tensor([1, 2]).sum(dtype=nb.float64).dtype is nb.float64
    assert nb.tensor([1, 2]).mean(dtype=nb.float64).item() == 1.5
    assert nb.ones(100_000).sum().item() == 100_000.0
    with pytest.raises(RuntimeError, match="dtype"):
        nb.tensor([1, 2]).mean()


def test_reduction_dim_errors():
    x = nb.zeros(2, 3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.sum(2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.mean(-3)
    with pytest.raises(RuntimeError, match="multiple times"):
        x.sum((0, -2))


def test_sum_of_expanded_and_broadcast_gradient():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    x.expand(3, 2).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    w = nb.tensor([[1.0], [2.0]], requires_grad=True)
    (w * nb.ones(2, 3)).mean().backward()
    np.testing.assert_allclose(w.grad.numpy(), [[0.5], [0.5]])


# --------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)), ((1, 4), (4, 1)), ((0, 4), (4, 2)), ((3, 0), (0, 2)),
]


@pytest.mark.parametrize("dtype", [nb.float32, nb.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul_values(sa, sb, dtype):
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    ta, tb = nb.tensor(a, dtype=dtype), nb.tensor(b, dtype=dtype)
    expected = a.astype(dtype.np).astype(np.float64) @ b.astype(dtype.np).astype(np.float64)
    for out in (ta @ tb, nb.matmul(ta, tb), ta.matmul(tb)):
        assert out.dtype is dtype and out.shape == np.shape(expected)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4 if dtype is nb.float32 else
                                   1e-12, atol=1e-5 if dtype is nb.float32 else 1e-12)


@pytest.mark.parametrize("sa, sb", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]], ids=str)
def test_matmul_gradcheck(sa, sb):
    rng = np.random.default_rng(10)
    a = nb.tensor(rng.standard_normal(sa), dtype=nb.float64, requires_grad=True)
    b = nb.tensor(rng.standard_normal(sb), dtype=nb.float64, requires_grad=True)
    assert gradcheck(nb.matmul, (a, b))
    if len(sa) <= 2 and len(sb) <= 2:
        assert gradgradcheck(nb.matmul, (a, b))


def test_matmul_non_contiguous_and_mixed_dtypes():
    a = nb.arange(12.0).reshape(3, 4)
    b = nb.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose((a.t() @ b).numpy(), a.numpy().T @ b.numpy())
    i = nb.tensor([[1, 2], [3, 4]])
    assert (i @ i).dtype is nb.int64 and (i @ i).tolist() == [[7, 10], [15, 22]]
    assert (i @ nb.ones(2, 2)).dtype is nb.float32
    assert (nb.ones(2, 2) @ nb.ones(2, 2, dtype=nb.float64)).dtype is nb.float64
    assert (nb.ones(3) @ nb.ones(3)).shape == ()


def test_matmul_gradient_only_where_needed():
    w = nb.ones(3, 2, requires_grad=True)
    x = nb.ones(4, 3)
    (x @ w).sum().backward()
    assert w.grad.tolist() == [[4.0, 4.0]] * 3


@pytest.mark.parametrize("sa, sb", [
    ((2, 3), (4, 2)), ((3,), (4,)), ((2, 3), (2,)), ((2, 2, 3), (3, 3, 4)), ((5,), (2, 4, 3)),
])
def test_matmul_shape_errors_name_both_shapes(sa, sb):
    with pytest.raises((ValueError, RuntimeError), match=rf"(?i)matmul.*{re_shape(sa)}.*"
                                                         rf"{re_shape(sb)}"):
        nb.ones(*sa) @ nb.ones(*sb)


def re_shape(shape):
    return re.escape(str(tuple(shape)))


def test_matmul_bad_operands():
    with pytest.raises(RuntimeError, match="dimension"):
        nb.tensor(2.0) @ nb.ones(3)
    with pytest.raises(TypeError, match="bool"):
        nb.ones(2, dtype=nb.bool) @ nb.ones(2, dtype=nb.bool)
    with pytest.raises(TypeError):
        nb.matmul(nb.ones(2), [1.0, 2.0])


# --------------------------------------------------------------------------- clone
def test_clone():
    x = nb.arange(6.0).reshape(2, 3).t()
    c = x.clone()
    assert c.tolist() == x.tolist() and c.is_contiguous()
    assert not np.shares_memory(c.numpy(), x.numpy()) and c._version == 0
    c.add_(1)
    assert x._version == 0
    w = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    cw = w.clone()
    assert cw.grad_fn.name() == "CloneBackward0" and not cw.is_leaf
    assert gradcheck(lambda t: t.clone() * t, (w,))
    assert nb.clone(nb.tensor(2)).item() == 2


# --------------------------------------------------------------------------- bad input
def test_shape_mismatch_names_op_and_shapes():
    with pytest.raises((ValueError, RuntimeError), match=r"add.*\(2, 3\).*\(4,\)"):
        nb.ones(2, 3) + nb.ones(4)
    with pytest.raises((ValueError, RuntimeError), match=r"mul.*\(2, 3\).*\(2,\)"):
        nb.ones(2, 3) * nb.ones(2)
    with pytest.raises((ValueError, RuntimeError), match=r"\(3,\).*\(2\b"):
        nb.ones(3).add_(nb.ones(2))


@pytest.mark.parametrize("fn", [
    lambda: nb.ones(2) + "a", lambda: nb.ones(2) * [1, 2], lambda: nb.ones(2).add_(None),
    lambda: nb.exp([1.0]), lambda: nb.add(1.0, 2.0), lambda: nb.ones(2) + np.ones(2),
])
def test_non_numeric_operands(fn):
    with pytest.raises(TypeError) as info:
        fn()
    _assert_clear_error(info.value)


@pytest.mark.parametrize("fn", [
    lambda: -nb.tensor([True]), lambda: nb.tensor([True]) - nb.tensor([False]),
    lambda: nb.tensor([True]).relu(), lambda: nb.tensor([True]) ** nb.tensor([True]),
    lambda: nb.tensor([True]).mean(),
])
def test_bool_where_unsupported(fn):
    with pytest.raises((TypeError, RuntimeError), match="(?i)bool") as info:
        fn()
    _assert_clear_error(info.value)


def test_inplace_result_that_cannot_be_cast():
    with pytest.raises(RuntimeError, match="can't be cast"):
        nb.tensor([1, 2]).div_(2)
    with pytest.raises(RuntimeError, match="can't be cast"):
        nb.tensor([True]).add_(2)


def test_inf_and_nan_are_values_not_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (nb.tensor([1.0, -1.0, 0.0]) / 0).tolist()[:2] == [math.inf, -math.inf]
        assert math.isnan(nb.tensor([-1.0]).log().item())
        assert nb.tensor([1000.0]).exp().item() == math.inf
