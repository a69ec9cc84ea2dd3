"""The CPU fast paths give the values of the general ones: scatter loops against np.add.at,
stacked matmuls against numpy's batched product, vectorised transcendental kernels against the
scalar definitions, and float64 gradcheck through each."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.backends.cpu import arrays, copying
from nbgrad.backends.cpu.scatter import scatter_flat


def _rng():
    return np.random.default_rng(12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_scatter_flat_accumulates_repeats_like_add_at(dtype):
    g = _rng()
    target = g.integers(-5, 5, (4, 6)).astype(dtype)
    positions = g.integers(0, target.size, 50)
    values = g.integers(-3, 3, 50).astype(dtype)
    expected = target.copy()
    np.add.at(expected.reshape(-1), positions, values)
    scatter_flat(target, positions, values)
    np.testing.assert_array_equal(target, expected)


def test_scatter_flat_on_a_strided_target_writes_through():
    base = np.zeros((4, 6))
    view = base[:, ::2]
    scatter_flat(view, np.array([0, 0, 11]), np.array([1.0, 2.0, 5.0]))
    assert base[0, 0] == 3.0 and base[3, 4] == 5.0 and base.sum() == 8.0


@pytest.mark.parametrize("index", [
    (np.array([0, 2, 0, 1, 2]),),
    (slice(1, 3), np.array([[0, 0], [3, 1]])),
    (np.array([True, False, True]),),
    (slice(None), 1),
    (Ellipsis, slice(0, 2)),
    (None, 0),
])
def test_index_add_matches_add_at(index):
    g = _rng()
    target = g.standard_normal((3, 4))
    values = g.standard_normal(target[index].shape)
    expected = target.copy()
    np.add.at(expected, index, values)
    arrays.index_add(target, index, values)
    np.testing.assert_allclose(target, expected, rtol=1e-15)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter_add_kernel_matches_add_at(dim):
    g = _rng()
    out = np.zeros((3, 4), np.float32)
    index = g.integers(0, out.shape[dim], (3, 4) if dim == 0 else (3, 2))
    src = g.standard_normal((3, 4)).astype(np.float32)
    expected = out.copy()
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    np.add.at(expected, tuple(grid), src[tuple(slice(0, n) for n in index.shape)])
    copying.scatter_add(out, dim, index, src)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_indexing_gradients_with_repeated_indices():
    x = nb.tensor(_rng().standard_normal((5, 3)), dtype=nb.float64, requires_grad=True)
    idx = nb.tensor([0, 3, 0, 4, 0])
    x[idx].sum().backward()
    assert x.grad[:, 0].tolist() == [3.0, 0.0, 0.0, 1.0, 1.0]
    assert nb.autograd.gradcheck(lambda t: t[idx] * t[idx], (x,))
    assert nb.autograd.gradcheck(lambda t: t[1:4, ::2] * 2.0, (x,))


def test_embedding_gradient_accumulates_repeats():
    w = nb.tensor(_rng().standard_normal((6, 4)), dtype=nb.float64, requires_grad=True)
    idx = nb.tensor([[1, 1, 5], [0, 1, 5]])
    assert nb.autograd.gradcheck(lambda t: nb.nn.functional.embedding(idx, t), (w,))


@pytest.mark.parametrize("shapes", [((2, 3, 4), (4, 5)), ((2, 3, 3, 4), (4, 2)), ((3, 4), (4, 5))])
def test_stacked_matmul_matches_numpy(shapes):
    g = _rng()
    a, b = (g.standard_normal(s).astype(np.float32) for s in shapes)
    np.testing.assert_allclose(arrays.matmul(a, b), np.matmul(a, b), rtol=1e-5, atol=1e-5)
    at = g.standard_normal(shapes[0][:-2] + shapes[0][-1:] + shapes[0][-2:-1]).swapaxes(-1, -2)
    np.testing.assert_allclose(arrays.matmul(at, b.astype(np.float64)), np.matmul(at, b),
                               rtol=1e-12)


def test_linear_on_stacked_input_gradcheck():
    g = _rng()
    x = nb.tensor(g.standard_normal((2, 3, 4)), requires_grad=True)
    w = nb.tensor(g.standard_normal((5, 4)), requires_grad=True)
    b = nb.tensor(g.standard_normal(5), requires_grad=True)
    out = nb.nn.functional.linear(x, w, b)
    np.testing.assert_allclose(out.detach().numpy(),
                               x.detach().numpy() @ w.detach().numpy().T + b.detach().numpy())
    assert nb.autograd.gradcheck(nb.nn.functional.linear, (x, w, b))
    wt = w.t().contiguous().detach().requires_grad_()
    assert nb.autograd.gradcheck(lambda x, w: x @ w, (x, wt))


# ----------------------------------------------------------------- vectorised float32 erf/gelu
EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-4, 0.5, -0.5, 1.0, 3.9, 4.0, 4.1, 5.6, 5.7, 6.0, -6.0,
         9.0, -9.0, 13.0, -13.0, 14.5, -20.0, 88.0, -100.0, 3e38, -3e38]


def _scalar_reference(fn, x32: np.ndarray) -> np.ndarray:
    """The row's scalar definition in float64 (exact math.erf/math.exp), rounded to float32."""
    return np.vectorize(fn, otypes=[np.float64])(x32.astype(np.float64)).astype(np.float32)


def _inputs() -> np.ndarray:
    g = _rng()
    return np.concatenate([np.array(EDGES), g.standard_normal(4000) * 3,
                           np.linspace(-8, 8, 4001)]).astype(np.float32)


@pytest.mark.parametrize("key", ["erf", "gelu"])
def test_vectorised_float32_rows_match_the_scalar_definition(key):
    from nbgrad.ops.elementwise import UNARY

    op = UNARY[key]
    assert op.fn.cpu_float32 == key  # the row opts in to the vectorised loop
    x = _inputs()
    got = getattr(nb, key)(nb.tensor(x)).numpy()
    assert got.dtype == np.float32
    ref = _scalar_reference(op.fn, x)
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-6)  # test_ops_core: 2e-5, 2e-6
    # the general path (the compiled scalar kernel) in float64 is untouched
    got64 = getattr(nb, key)(nb.tensor(x.astype(np.float64))).numpy()
    np.testing.assert_allclose(got64, np.vectorize(op.fn)(x.astype(np.float64)), rtol=1e-15,
                               atol=1e-300)


def test_vectorised_gelu_derivative_matches_the_scalar_definition():
    from nbgrad.ops.elementwise import GELU_DERIVATIVE

    x = _inputs()
    got = nb.ops._dispatch.apply(GELU_DERIVATIVE, (nb.tensor(x),)).numpy()
    np.testing.assert_allclose(got, _scalar_reference(GELU_DERIVATIVE.fn, x), rtol=1e-6,
                               atol=5e-7)


@pytest.mark.parametrize("key", ["erf", "gelu"])
def test_vectorised_rows_keep_nan_inf_and_layouts(key):
    from nbgrad.ops.elementwise import UNARY

    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    got = getattr(nb, key)(nb.tensor(x)).numpy()
    general = getattr(nb, key)(nb.tensor(x.astype(np.float64))).numpy()  # the scalar kernel
    np.testing.assert_array_equal(got, general.astype(np.float32))  # nan == nan here
    np.testing.assert_array_equal(np.signbit(got), np.signbit(general))
    assert UNARY[key].fn.cpu_float32 == key
    base = nb.tensor(_rng().standard_normal((6, 8)).astype(np.float32))
    for view in (base.t(), base[::2, 1::3], base[0]):  # strided inputs, results contiguous
        np.testing.assert_allclose(getattr(nb, key)(view).numpy(),
                                   getattr(nb, key)(view.contiguous()).numpy(), rtol=0, atol=0)
    out = base.clone()
    getattr(out[:, ::2], key + "_")()  # in place into a strided view
    np.testing.assert_allclose(out[:, ::2].numpy(), getattr(nb, key)(base[:, ::2]).numpy())
    np.testing.assert_array_equal(out[:, 1::2].numpy(), base[:, 1::2].numpy())


@pytest.mark.parametrize("key", ["erf", "gelu"])
def test_gradients_through_the_vectorised_rows(key):
    g = _rng()
    x64 = nb.tensor(g.standard_normal(12) * 2, requires_grad=True)
    fn = getattr(nb, key)
    assert nb.autograd.gradcheck(fn, (x64,))
    assert nb.autograd.gradgradcheck(fn, (x64,))
    x32 = x64.detach().float().requires_grad_()
    fn(x32).sum().backward()
    fn(x64).sum().backward()
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_the_vectorised_exp_is_accurate_over_the_float32_range():
    import numba

    from nbgrad.backends.cpu import vector_math as V

    @numba.njit
    def run(x, out):
        for i in range(x.shape[0]):
            out[i] = V._exp32(x[i])

    y = np.concatenate([np.linspace(-87.0, 88.7, 200001), [88.72, -87.3]]).astype(np.float32)
    out = np.empty_like(y)
    run(y, out)
    ref = np.exp(y.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=2e-7)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, 89.0, -88.0, -200.0], np.float32)
    run(special, out[:7])
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == 0.0 and out[3] == 1.0
    assert out[4] == np.inf and 0.0 <= out[5] < 1.2e-38 and out[6] == 0.0


def test_blas_thread_count_follows_the_call_size():
    from nbgrad.backends.cpu import blas

    g = _rng()
    small = [g.standard_normal(s).astype(np.float32) for s in ((4, 8), (8, 3))]
    np.testing.assert_array_equal(blas.matmul(*small), np.matmul(*small))
    if blas._threads.set is None or blas._threads.default < 2:
        pytest.skip("no multi-threaded OpenBLAS found in this process")
    assert blas._threads.is_serial
    big = [np.ones((256, 256), np.float32)] * 2
    np.testing.assert_array_equal(blas.matmul(*big), np.full((256, 256), 256, np.float32))
    assert not blas._threads.is_serial
    stacked = (np.ones((16, 4, 32, 16), np.float32), np.ones((16, 4, 16, 32), np.float32))
    blas.matmul(*stacked)  # 2 * 64 * 32 * 16 * 32 flops: serial
    assert blas._threads.is_serial


def test_malloc_tuning_is_applied_once_and_can_be_switched_off():
    import subprocess
    import sys

    code = "from nbgrad.backends.cpu import pool; print(pool.MALLOC_TUNED)"
    env = {k: v for k, v in __import__("os").environ.items() if k != "NBGRAD_MALLOC_TUNING"}
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "NBGRAD_MALLOC_TUNING": "0"})
    assert off.stdout.strip() == "False"
    if sys.platform.startswith("linux"):
        assert on.stdout.strip() in ("True", "False")  # False only without glibc's mallopt
