"""CPU backend kernels: table rows run through numpy's ufuncs, the nn row kernels (serial and
parallel), the cross-entropy that keeps its softmax, and the pool of big output arrays."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.autograd import gradcheck, gradgradcheck
from nbgrad.backends.cpu import elementwise as cpu_ew
from nbgrad.backends.cpu import nn_kernels as K
from nbgrad.backends.cpu.pool import BufferPool
from nbgrad.ops import elementwise as ew

RNG = np.random.default_rng(11)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-30, 88.0, 100.0, -104.0, math.inf, -math.inf,
           math.nan]

NUMPY_ROWS = [op for table in (ew.UNARY, ew.BINARY) for op in table.values() if op.ufunc]


def test_the_fast_rows_name_numpy_ufuncs():
    names = {op.key for op in NUMPY_ROWS}
    assert {"exp", "log", "tanh", "sqrt", "add", "sub", "mul", "div", "neg"} <= names
    assert ew.UNARY["sigmoid"].ufunc is None  # no numpy equivalent: the compiled kernel runs


@pytest.mark.parametrize("op", NUMPY_ROWS, ids=lambda op: op.key)
@pytest.mark.parametrize("dtype", [nb.float32, nb.float64, nb.int32, nb.int64, nb.bool])
def test_numpy_ufunc_rows_give_the_rows_dtype_and_values(op, dtype):
    if dtype.is_floating_point:
        data = np.array(SPECIAL, dtype.np)
    elif dtype is nb.bool:
        data = np.array([True, False, True])
    else:
        data = np.array([0, 1, -1, 7, -7, np.iinfo(dtype.np).max], dtype.np)
    x = nb.tensor(data, dtype=dtype)
    args = (x,) if op.nargs == 1 else (x, x.flip(0))
    try:
        compute, out_dtype = op.dtypes([a._data for a in args])
    except TypeError:  # a row refusing bool
        pytest.skip("the row refuses this dtype")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf and nan are values, never warnings
        got = nb.ops._dispatch.apply(op, args)
        scalar_arg = nb.ops._dispatch.apply(op, (x, 2)) if op.nargs == 2 else None
    assert got.dtype.np == out_dtype
    with np.errstate(all="ignore"):
        ref = op.ufunc(*[a._data.astype(compute) for a in args]).astype(out_dtype)
    np.testing.assert_array_equal(got.numpy(), ref)
    # the compiled scalar kernel (what CUDA and fusion run) agrees to a few ulps
    scalar = np.vectorize(op.fn, otypes=[np.float64 if out_dtype.kind == "f" else out_dtype])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            expected = scalar(*[a._data.astype(compute) for a in args]).astype(out_dtype)
        except (ValueError, OverflowError, ZeroDivisionError):  # Python's math refuses
            expected = None
    if expected is not None and out_dtype.kind == "f":
        np.testing.assert_allclose(got.numpy(), expected, rtol=4 * np.finfo(out_dtype).eps)
    if scalar_arg is not None:  # a Python number operand: the row's promotion rule decides
        assert scalar_arg.dtype.np == op.dtypes([x._data, 2])[1]


def test_cpu_backend_skips_a_ufunc_whose_loop_changes_the_dtype():
    f32 = np.dtype(np.float32)
    assert cpu_ew._numpy_fits(np.exp, 1, f32, f32)
    assert not cpu_ew._numpy_fits(np.exp, 1, np.dtype(np.int32), np.dtype(np.int32))
    assert not cpu_ew._numpy_fits(np.negative, 1, np.dtype(np.bool_), np.dtype(np.bool_))
    assert not cpu_ew._numpy_fits(np.add, 1, f32, f32)  # wrong arity


def test_tanh_and_sigmoid_backward_are_one_kernel_and_differentiable():
    x = nb.tensor(RNG.standard_normal(6), requires_grad=True)
    for fn, kernel in ((nb.tanh, ew.TANH_BACKWARD), (nb.sigmoid, ew.SIGMOID_BACKWARD)):
        (g,) = nb.autograd.grad(fn(x).sum(), x, create_graph=True)
        assert g.grad_fn.op is kernel
        assert gradcheck(lambda t, fn=fn: fn(t), (x,))
        assert gradgradcheck(lambda t, fn=fn: fn(t), (x,))
        g2, y = nb.tensor(RNG.standard_normal(6), requires_grad=True), fn(x).detach()
        y.requires_grad_()
        assert gradgradcheck(lambda a, b, k=kernel: nb.ops._dispatch.apply(k, (a, b)), (g2, y))


# ----------------------------------------------------------------------------- nn row kernels
def _all_row_ops(x, g, t, w):
    p, loss = K.cross_entropy_forward(x, t, w, -100, 0.2, "none")
    return [K.softmax(x, 1), K.log_softmax(x, 1), K.softmax(x, 0), K.log_softmax(x, 0),
            K.softmax_backward(g, K.softmax(x, 1), 1),
            K.log_softmax_backward(g, K.log_softmax(x, 1), 1), p, loss,
            K.cross_entropy_backward(p, t, w, loss * 0 + 1, -100, 0.2, "none")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_row_kernels_equal_the_serial_ones(monkeypatch, dtype):
    x = (RNG.standard_normal((37, 29)) * 4).astype(dtype)
    x[3, 5], x[4, :], x[6, 1] = np.inf, -np.inf, np.nan
    g = RNG.standard_normal((37, 29)).astype(dtype)
    t = RNG.integers(0, 29, 37)
    t[2] = -100
    w = RNG.random(29).astype(dtype) + 0.5
    monkeypatch.setattr(K, "PARALLEL_MIN", 1 << 60)
    serial = _all_row_ops(x, g, t, w)
    monkeypatch.setattr(K, "PARALLEL_MIN", 0)
    parallel = _all_row_ops(x, g, t, w)
    for a, b in zip(serial, parallel):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", [
    "_shift_rows", "_normalize_rows", "_log_normalize_rows", "_softmax_backward_rows",
    "_log_softmax_backward_rows", "_cross_entropy_rows", "_cross_entropy_backward_rows"])
def test_each_row_kernel_is_one_source_compiled_serial_and_parallel(name):
    serial, parallel = getattr(K, name)
    assert serial.py_func.__code__ is parallel.py_func.__code__
    assert parallel.targetoptions.get("parallel") is True
    assert not serial.targetoptions.get("parallel")
    assert parallel.py_func.__qualname__ == name + "_parallel"  # its own disk-cache entry


def test_loss_reductions_follow_the_shared_plan():
    # a mean over rows whose weights are all zero is nan, as PyTorch (planning, both backends)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    t = np.array([-100, -100, -100])
    _, loss = K.cross_entropy_forward(x, t, None, -100, 0.0, "mean")
    assert loss.dtype == np.float32 and np.isnan(loss)
    _, total = K.cross_entropy_forward(x, t, None, -100, 0.0, "sum")
    assert total == 0
    with pytest.raises(IndexError, match=r"Target 7 is out of bounds: .*\[0, 4\)"):
        K.nll_forward(x, np.array([0, 7, 1]), None, -100, "mean")


def test_row_kernels_compute_float32_in_float32_close_to_float64():
    x = (RNG.standard_normal((8, 1000)) * 3).astype(np.float32)
    x64 = x.astype(np.float64)
    for f in (K.softmax, K.log_softmax):
        out = f(x, 1)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, f(x64, 1), rtol=2e-6, atol=2e-6)


def test_softmax_family_of_empty_rows_and_empty_batches():
    for shape in ((2, 0), (0, 3)):
        z = nb.zeros(*shape, requires_grad=True)
        for fn in (F.softmax, F.log_softmax):
            out = fn(z, 1)
            assert out.shape == shape
            out.sum().backward()
            assert z.grad.shape == shape
            z.grad = None


def test_cross_entropy_keeps_the_softmax_not_the_logits():
    x = nb.tensor(RNG.standard_normal((5, 4)), requires_grad=True)
    t = nb.tensor([0, 3, 1, 3, 2])
    loss = F.cross_entropy(x, t)
    assert loss.grad_fn.name() == "CrossEntropyLossBackward0"
    p = np.exp(x.detach().numpy())
    p /= p.sum(1, keepdims=True)
    with nb.no_grad():
        x.mul_(0)  # as in PyTorch, changing the logits afterwards does not touch the gradient
    loss.backward()
    p[np.arange(5), t.numpy()] -= 1
    np.testing.assert_allclose(x.grad.numpy(), p / 5, rtol=1e-12)


def test_cross_entropy_third_order_gradient():
    x = nb.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    t = nb.tensor([0, 3, 1])
    (g,) = nb.autograd.grad(F.cross_entropy(x, t, label_smoothing=0.1), x, create_graph=True)
    assert gradgradcheck(lambda a: nb.autograd.grad(
        F.cross_entropy(a, t, label_smoothing=0.1), a, create_graph=True)[0], (x,))
    assert g.requires_grad


def test_cross_entropy_under_no_grad_records_nothing():
    x = nb.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    with nb.no_grad():
        loss = F.cross_entropy(x, nb.tensor([0, 1, 2, 0]))
    assert loss.grad_fn is None and not loss.requires_grad and loss.shape == ()


# ----------------------------------------------------------------------------- the array pool
def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_pool_reuses_an_array_only_once_nothing_refers_to_it():
    pool = BufferPool(limit=16 << 20, per_key=2)
    shape = (512, 1024)
    a = pool.empty(shape, np.float32)
    b = pool.empty(shape, np.float32)
    assert a is not b and a.flags.c_contiguous and a.flags.writeable
    view = a[1:]
    a_at = _address(a)
    del a
    assert _address(pool.empty(shape, np.float32)) != a_at  # the view keeps it alive
    del view
    assert _address(pool.empty(shape, np.float32)) == a_at
    assert pool.empty((4, 4), np.float32) is not pool.empty((4, 4), np.float32)  # small: fresh
    pool.clear()
    assert pool.total == 0


@pytest.mark.parametrize("make_view", [
    lambda a: a[1:], lambda a: a.reshape(-1)[::3], lambda a: a.T, lambda a: a.view(np.int32),
    lambda a: np.asarray(a)[2], lambda a: a.reshape(2, -1)[1:].reshape(-1),
], ids=["slice", "reshape-step", "transpose", "view-dtype", "asarray-row", "view-of-view"])
def test_pool_never_hands_out_a_buffer_a_numpy_view_still_uses(make_view):
    pool = BufferPool(limit=16 << 20, per_key=4)
    shape = (512, 1024)
    a = pool.empty(shape, np.float32)
    a[...] = 7
    view = make_view(a)
    before = view.copy()
    a_at = _address(a)
    del a
    others = [pool.empty(shape, np.float32) for _ in range(3)]  # the pool's other buffers
    assert a_at not in {_address(o) for o in others}
    for o in others:
        o[...] = -1
    np.testing.assert_array_equal(view, before)  # never overwritten
    owned = {a_at} | {_address(o) for o in others}
    del view, o, others
    again = [pool.empty(shape, np.float32) for _ in range(4)]
    assert {_address(x) for x in again} == owned  # all released: the same four buffers


def test_pool_keeps_its_memory_limit():
    pool = BufferPool(limit=4 << 20, per_key=8)
    held = [pool.empty((1 << 18,), np.float32) for _ in range(6)]  # 1 MiB each
    assert pool.total == 4 << 20  # the rest were plain allocations
    del held
    assert pool.total == 4 << 20


def test_a_pooled_gradient_held_by_the_user_is_never_overwritten():
    x = nb.tensor(RNG.standard_normal((512, 600)).astype(np.float32), requires_grad=True)
    t = nb.tensor(RNG.integers(0, 600, 512))
    F.cross_entropy(x, t).backward()
    kept = x.grad
    before = kept.numpy().copy()
    x.grad = None
    F.cross_entropy(x, t.flip(0)).backward()  # its gradient array comes from the pool
    np.testing.assert_array_equal(kept.numpy(), before)
    assert x.grad._data is not kept._data
    assert not np.array_equal(x.grad.numpy(), before)


def test_big_elementwise_outputs_reuse_only_released_buffers():
    """Outputs of >= 1 MiB come from the pool: a result still held is never handed out again,
    and values stay right when buffers are recycled."""
    n = (1 << 20) // 4 + 7
    rng = np.random.default_rng(0)
    a_np, b_np = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    a, b = nb.from_numpy(a_np), nb.from_numpy(b_np)
    held = a * b
    kept = held.numpy().copy()
    buffers = set()
    for _ in range(5):
        r = a + b
        buffers.add(_address(r._data))
        np.testing.assert_array_equal(r.numpy(), a_np + b_np)
        assert r._data is not held._data
        del r
    np.testing.assert_array_equal(held.numpy(), kept)  # never overwritten
    assert len(buffers) <= 2  # released outputs were reused instead of allocated again
