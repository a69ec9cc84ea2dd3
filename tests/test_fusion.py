"""Tests for nbgrad.fusion (``nb.compile``): fused kernels give the eager values and gradients,
grad modes apply to compiled functions as to eager code, and unsupported code runs eagerly."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import fusion
from nbgrad.fusion import codegen

RNG = np.random.default_rng(7)


def T(shape, dtype=np.float64, requires_grad=True, positive=False):
    a = RNG.standard_normal(shape).astype(dtype)
    if positive:
        a = np.abs(a) + 0.5
    return nb.tensor(a, requires_grad=requires_grad)


def _tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _loss(outs):
    total = None
    for o in outs:
        if o.requires_grad:
            s = o.double().sum()
            total = s if total is None else total + s
    return total


def assert_values_match(actual, expected):
    """Fused kernels compute transcendentals with libm (``math.tanh``...), eager CPU ops with
    numpy's SIMD ufuncs: floats agree to a few ulps, everything else exactly."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected)
        return
    assert actual.dtype == expected.dtype
    tol = 16 * np.finfo(actual.dtype).eps
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def assert_same_as_eager(fn, *args):
    """Compile ``fn``, call it twice (trace, then fused) and compare with the eager function."""
    cf = nb.compile(fn)
    first = _tuple(cf(*args))
    fused = _tuple(cf(*args))
    eager = _tuple(fn(*args))
    for f, e, t in zip(fused, eager, first):
        assert f.dtype == e.dtype and f.shape == e.shape
        assert f.requires_grad == e.requires_grad
        assert_values_match(f.detach().numpy(), e.detach().numpy())
        assert_values_match(t.detach().numpy(), e.detach().numpy())
    leaves = [a for a in args if isinstance(a, nb.Tensor) and a.requires_grad]
    lf, le = _loss(fused), _loss(eager)
    assert (lf is None) == (le is None)
    if leaves and lf is not None:
        gf = nb.autograd.grad(lf, leaves, allow_unused=True)
        ge = nb.autograd.grad(le, leaves, allow_unused=True)
        for a, b in zip(gf, ge):
            assert (a is None) == (b is None)
            if a is not None:
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    return cf, fused


CASES = {
    "chain": (lambda x, y: ((x * y + 1.0).tanh() * 2.0 - y).relu(), lambda: (T(10), T(10))),
    "bias row": (lambda x, b: (x + b).sigmoid() * 3, lambda: (T((4, 5)), T(5))),
    "bias column": (lambda x, b: (x * b).exp() - x, lambda: (T((4, 5)), T((4, 1)))),
    "0-d tensor": (lambda x, s: (x * s + s).tanh(), lambda: (T((4, 5)), T(()))),
    "mixed float dtypes": (lambda x, y: (x * y + 1).sin() / (y * y + 1),
                           lambda: (T(6, np.float32), T(6))),
    "int operand": (lambda x, i: (x * i + i).cos() * 2,
                    lambda: (T(6), nb.tensor(np.arange(6)))),
    "float32": (lambda x, y: (x / y - 1.5).exp() * y,
                lambda: (T(9, np.float32), T(9, np.float32, positive=True))),
    "two outputs": (lambda x, y: ((x + y) * 2, (x - y).abs() * 3), lambda: (T(7), T(7))),
    "shared intermediate": (lambda x, y: ((x * y).exp() + 1, (x * y).exp() * y),
                            lambda: (T(7), T(7))),
    "output used later": (lambda x, y: ((a := (x * y + 1)), (a.tanh() * 2)), lambda: (T(5), T(5))),
    "eager op between": (lambda x, y: ((x * y + 1).tanh() * (x * y + 1).tanh().sum() - y).exp(),
                         lambda: (T(5), T(5))),
    "matmul": (lambda x, w: ((x @ w + 1.0).relu() * 0.5).sum(dim=1),
               lambda: (T((3, 4)), T((4, 6)))),
    "where": (lambda x, y: nb.where(x > y, x * 2, y * 3) + 1, lambda: (T(8), T(8))),
    "mask": (lambda x, y: ((x > 0) * y + 1) * x, lambda: (T(8), T(8))),
    "bool output": (lambda x, y: ((x * y + 1) * 2, x > y), lambda: (T(8), T(8))),
    "transposed input": (lambda x, y: (x.t() * y + 1).exp(), lambda: (T((3, 4)), T((4, 3)))),
    "pow": (lambda x, y: (x ** 2 + y ** x) * 0.5,
            lambda: (T(5, positive=True), T(5, positive=True))),
    "one input needs grad": (lambda x, y: (x * y + 1).tanh(),
                             lambda: (T(5), T(5, requires_grad=False))),
    "no input needs grad": (lambda x, y: (x * y + 1).tanh(),
                            lambda: (T(5, requires_grad=False), T(5, requires_grad=False))),
    "division by zero": (lambda x, y: (x / y + 1) * 2,
                         lambda: (T(4), nb.tensor([0.0, 1.0, -0.0, 2.0]))),
    "identity output": (lambda x, y: (x, (x * y + 1) * 2), lambda: (T(3), T(3))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_equal_eager(name):
    fn, make = CASES[name]
    assert_same_as_eager(fn, *make())


def test_fused_op_is_one_graph_node():
    x, y = T(6), T(6)
    cf, (out,) = assert_same_as_eager(lambda x, y: ((x * y + 1).tanh() * y).sigmoid(), x, y)
    assert out.grad_fn.name() == "FusedBackward0"
    assert [f.name() for f, _ in out.grad_fn.next_functions] == ["AccumulateGrad"] * 2
    assert "1 fused kernel(s), 0 eager op(s)" in cf.explain()


def test_closure_tensor_is_bound_and_guarded():
    w = T(5)
    cf, _ = assert_same_as_eager(lambda x: (x * w + 1).tanh() * w, T(5))
    w.requires_grad_(False)  # the guard notices and the function is traced again
    x = T(5)
    assert_values_match(cf(x).detach().numpy(), ((x * w + 1).tanh() * w).detach().numpy())


def test_gradcheck_and_gradgradcheck_float64():
    fn = nb.compile(lambda x, y: ((x * y + 1).tanh() * y - x / (y * y + 1)).sigmoid())
    x, y = T(4), T(4)
    fn(x, y)
    assert nb.autograd.gradcheck(fn, (x, y))
    assert nb.autograd.gradgradcheck(fn, (x, y))  # create_graph: eager recomputation


def test_create_graph_gives_second_derivative():
    fn = nb.compile(lambda x: (x * x * x + 1.0) * 2.0)
    x = T(3)
    fn(x)
    (g,) = nb.autograd.grad(fn(x).sum(), x, create_graph=True)
    assert g.requires_grad
    np.testing.assert_allclose(g.detach().numpy(), 6 * x.detach().numpy() ** 2)
    (gg,) = nb.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 12 * x.detach().numpy())


def test_no_grad_records_nothing():
    fn = nb.compile(lambda x: (x * 2 + 1).tanh())
    x = T(5)
    with nb.no_grad():
        fn(x)
        out = fn(x)
    assert not out.requires_grad and out.grad_fn is None and not out.is_inference()


def test_inference_mode_makes_inference_tensors():
    fn = nb.compile(lambda x: (x * 2 + 1).tanh())
    x = T(5)
    with nb.inference_mode():
        fn(x)
        out = fn(x)
    assert out.is_inference() and not out.requires_grad
    out = fn(x)
    fn(x)
    assert fn(x).grad_fn.name() == "FusedBackward0"
    assert len(fn.explain().splitlines()) == 2  # one plan per grad mode


def test_decorator_applies_outer_mode():
    @nb.compile
    def f(x):
        return (x * 3 - 1).exp()

    @nb.no_grad()
    def evaluate(x):
        return f(x)

    x = T(4)
    f(x)
    evaluate(x)
    assert not evaluate(x).requires_grad
    assert f(x).requires_grad


def test_new_shapes_and_requires_grad_are_traced_again():
    fn = nb.compile(lambda x, y: (x * y + 1) * 2)
    for shape in (3, 4):
        for rg in (True, False):
            x, y = T(shape, requires_grad=rg), T(shape)
            fn(x, y)
            out = fn(x, y)
            np.testing.assert_array_equal(out.detach().numpy(),
                                          ((x * y + 1) * 2).detach().numpy())
    assert len(fn.explain().splitlines()) == 4


def test_same_tensor_twice_is_a_separate_signature():
    fn = nb.compile(lambda x, y: (x * y + 1) * 2)
    x, y = T(3), T(3)
    fn(x, x)
    fn(x, x)
    out = fn(x, y)
    np.testing.assert_array_equal(out.detach().numpy(), ((x * y + 1) * 2).detach().numpy())


@pytest.mark.parametrize("body, reason", [
    (lambda x: (x * 2).add_(1) * 3, "in-place"),
    (lambda x: (x * 2 + 1) * float((x * 2).sum().item()), "reads tensor values"),
    (lambda x: (x * 2 + nb.ones(3)) * 3, "created inside the function"),
    (lambda x: (x * 2 + x.detach()) * 3, "created inside the function"),
    (lambda x: (x * 2 + 1) * nb.autograd.grad((x * x).sum(), x, create_graph=True)[0],
     "runs backward"),
])
def test_unsupported_code_runs_eagerly(body, reason):
    fn = nb.compile(body)
    x = T(3)
    fn(x)
    out = fn(x)
    assert out.grad_fn is None or out.grad_fn.name() != "FusedBackward0"
    np.testing.assert_allclose(out.detach().numpy(), body(x).detach().numpy())
    assert "eager" in fn.explain() and reason in fn.explain()


def test_mode_change_inside_runs_eagerly():
    def body(x):
        y = (x * 2 + 1) * 3
        with nb.no_grad():
            z = (x * 4 + 1) * 2
        return y + z

    fn = nb.compile(body)
    x = T(3)
    fn(x)
    out = fn(x)
    assert "grad mode changes" in fn.explain()
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 6.0))


def test_saved_input_modified_in_place_is_detected():
    fn = nb.compile(lambda x, y: (x * y + 1).tanh())
    x, y = T(4), T(4, requires_grad=False)
    fn(x, y)
    out = fn(x, y)
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_second_backward_without_retain_graph_fails():
    fn = nb.compile(lambda x: (x * x + 1).tanh())
    x = T(4)
    fn(x)
    loss = fn(x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_structured_arguments_and_results():
    @nb.compile
    def f(pair, scale=2.0, *, extra):
        a, b = pair
        return {"sum": (a + b) * scale + extra["c"], "prod": [(a * b) * scale - 1]}

    args = ([T(3), T(3)],)
    kwargs = {"scale": 3.0, "extra": {"c": T(3)}}
    f(*args, **kwargs)
    out = f(*args, **kwargs)
    ref = f.__wrapped__(*args, **kwargs)
    np.testing.assert_array_equal(out["sum"].detach().numpy(), ref["sum"].detach().numpy())
    np.testing.assert_array_equal(out["prod"][0].detach().numpy(),
                                  ref["prod"][0].detach().numpy())
    assert out["sum"].grad_fn.name() == "FusedBackward0"


def test_method_decorator():
    class Act:
        def __init__(self):
            self.scale = 2.0

        @nb.compile
        def __call__(self, x):
            return (x * self.scale + 1).tanh()

    act, x = Act(), T(4)
    act(x)
    assert_values_match(act(x).detach().numpy(), (x * 2.0 + 1).tanh().detach().numpy())


def test_parallel_kernel_above_threshold():
    n = fusion.PARALLEL_MIN + 3
    x, y = T(n, np.float32), T(n, np.float32)
    cf, (out,) = assert_same_as_eager(lambda x, y: ((x * y + 1.0) * x - y).relu() * 0.5, x, y)
    fop = out.grad_fn.op
    assert fop.parallel


def test_threads_share_a_compiled_function():
    fn = nb.compile(lambda x, y: (x * y + 1).tanh() - y)
    x, y = T(100), T(100)
    fn(x, y)
    expected = ((x * y + 1).tanh() - y).detach().numpy()
    errors = []

    def work():
        try:
            for _ in range(20):
                assert_values_match(fn(x, y).detach().numpy(), expected)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_kernels_are_written_to_the_fusion_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRAD_FUSION_DIR", str(tmp_path))
    monkeypatch.setattr(codegen, "_KERNELS", {})
    fn = nb.compile(lambda x: (x * 2 - 1).abs() + 1)
    x = T(5)
    fn(x)
    fn(x).sum().backward()
    files = sorted(p.name for p in tmp_path.glob("nbgrad_fused_*.py"))
    assert len(files) == 2  # forward and backward
    assert "def kernel(" in (tmp_path / files[0]).read_text()


def test_compile_rejects_non_callables():
    with pytest.raises(TypeError, match="expects a function"):
        nb.compile(3)


def test_output_buffers_are_reused_only_when_released():
    from nbgrad.backends.cpu.pool import BufferPool

    def _address(a):  # the pool recycles memory buffers, not array objects
        return a.__array_interface__["data"][0]

    n = BufferPool.MIN_BYTES // 4 + 1
    fn = nb.compile(lambda x, y: (x * y + 1.0) * 2.0)
    x, y = T(n, np.float32, False), T(n, np.float32, False)
    fn(x, y)
    first = fn(x, y)
    kept = first.numpy().copy()
    second = fn(y, x)  # first is alive: a different buffer
    assert second._data is not first._data
    np.testing.assert_array_equal(first.numpy(), kept)
    view = first[::2]
    released = _address(first._data)
    del first
    third = fn(x, y)  # a view still holds the buffer
    assert _address(third._data) != released
    np.testing.assert_array_equal(view.numpy(), kept[::2])
    freed = {released, _address(third._data)}
    del view, third
    fourth = fn(x, y)  # now a released buffer is taken again (no fresh allocation)
    assert _address(fourth._data) in freed
    np.testing.assert_array_equal(fourth.numpy(), kept)
