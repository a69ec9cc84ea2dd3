"""The backward engine: Tensor.backward, autograd.backward/grad, accumulation, hooks, retained
gradients, freed buffers, graph introspection, higher-order gradients, grad modes during backward
and concurrent backward passes."""

from __future__ import annotations

import re
import threading
import warnings

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck


def phrase(text: str) -> str:
    """A ``match=`` pattern for an API.md error phrase (case-insensitive, literal)."""
    return "(?i)" + re.escape(text)


NO_GRAD = phrase("does not require grad")
SECOND = phrase("backward through the graph a second time")
SCALAR = phrase("grad can be implicitly created only for scalar outputs")


def vec(*values, dtype=nb.float32):
    return nb.tensor(list(values), dtype=dtype, requires_grad=True)


# --------------------------------------------------------------------------- backward()
class TestBackward:
    def test_scalar(self):
        x = vec(1.0, 2.0, 3.0)
        (x * x).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0, 6.0]
        assert x.grad.is_leaf and not x.grad.requires_grad and x.grad.grad_fn is None

    def test_gradient_argument(self):
        x = vec(1.0, 2.0)
        (x * x).backward(nb.tensor([1.0, 10.0]))
        assert x.grad.tolist() == [2.0, 40.0]

    def test_gradient_is_cast_to_output_dtype(self):
        x = vec(1.0, 2.0)
        (x * 2).backward(nb.ones(2, dtype=nb.float64))
        assert x.grad.dtype is nb.float32 and x.grad.tolist() == [2.0, 2.0]

    @pytest.mark.parametrize("fn", [
        lambda a, b: (a @ b).sum(), lambda a, b: (a * b).sum(),
        lambda a, b: a.sum(dtype=nb.float64),
        lambda a, b: a.mean(dtype=nb.float64) + b.sum(), lambda a, b: (a.double() @ b).sum(),
    ])
    def test_grad_has_the_dtype_of_its_tensor(self, fn):
        a = nb.ones(2, 2, requires_grad=True)
        b = nb.ones(2, 2, dtype=nb.float64, requires_grad=True)
        fn(a, b).backward()
        assert a.grad.dtype is nb.float32
        assert b.grad is None or b.grad.dtype is nb.float64
        h = a * 1
        g = nb.autograd.grad(fn(h, b), [a, h, b], allow_unused=True)
        assert [t.dtype for t in g if t is not None][:2] == [nb.float32, nb.float32]

    def test_gradient_shape_checked(self):
        x = vec(1.0, 2.0)
        with pytest.raises(RuntimeError, match=r"\(3,\).*\(2,\)"):
            (x * 2).backward(nb.ones(3))

    def test_non_scalar_needs_gradient(self):
        x = vec(1.0, 2.0)
        with pytest.raises(RuntimeError, match=SCALAR):
            (x * 2).backward()
        (x.sum() * 1).reshape(1, 1).backward()  # one element of any shape is fine
        assert x.grad.tolist() == [1.0, 1.0]

    def test_backward_of_output_without_history_raises(self):
        with pytest.raises(RuntimeError, match=NO_GRAD):
            nb.ones(2).sum().backward()
        x = vec(1.0)
        with nb.no_grad():
            y = (x * 2).sum()
        assert y.is_leaf and not y.requires_grad
        with pytest.raises(RuntimeError, match=NO_GRAD):
            y.backward()
        with pytest.raises(RuntimeError, match=NO_GRAD):
            (x * 2).sum().detach().backward()

    def test_accumulates_into_leaves(self):
        x = vec(1.0, 2.0)
        (x * x).sum().backward()
        (x * 3).sum().backward()
        assert x.grad.tolist() == [5.0, 7.0]
        x.grad = None
        x.sum().backward()
        assert x.grad.tolist() == [1.0, 1.0]

    def test_grad_can_be_zeroed_in_place(self):
        x = vec(1.0, 2.0)
        x.sum().backward()
        x.grad.zero_()
        (x * 2).sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]

    def test_root_gradient_not_aliased_into_grad(self):
        x = vec(1.0, 2.0)
        seed = nb.ones(2)
        (x * 1).backward(seed)
        x.grad.add_(1)
        assert seed.tolist() == [1.0, 1.0]

    def test_grads_never_alias_each_other_or_the_seed(self):
        x, y = vec(1.0, 1.0), vec(1.0, 1.0)
        seed = nb.tensor([1.0, 2.0])
        h = x + y  # AddBackward hands the same gradient to both inputs
        h.retain_grad()
        h.backward(seed)
        arrays = [seed.numpy(), x.grad.numpy(), y.grad.numpy(), h.grad.numpy()]
        for i, a in enumerate(arrays):
            for b in arrays[i + 1:]:
                assert not np.shares_memory(a, b)
        x.grad.zero_()
        assert y.grad.tolist() == [1.0, 2.0] and seed.tolist() == [1.0, 2.0]
        z = vec(0.0, 0.0)
        z.backward(seed)
        assert not np.shares_memory(z.grad.numpy(), seed.numpy())

    def test_backward_on_leaf(self):
        x = vec(1.0, 2.0)
        x.backward(nb.tensor([3.0, 4.0]))
        assert x.grad.tolist() == [3.0, 4.0]

    def test_non_leaf_grad_is_none_without_retain(self):
        x = vec(1.0, 2.0)
        h = x * 3
        (h * h).sum().backward()
        assert h.grad is None and not h.retains_grad


class TestRetainGraph:
    def test_second_backward_raises(self):
        x = vec(1.0, 2.0)
        y = (x * x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match=SECOND):
            y.backward()

    def test_saved_output_freed_too(self):
        x = vec(1.0, 2.0)
        y = x.exp().sum()
        y.backward()
        with pytest.raises(RuntimeError, match=SECOND):
            y.backward()

    def test_retain_graph_accumulates(self):
        x = vec(1.0, 2.0)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward(retain_graph=True)
        y.backward()
        assert x.grad.tolist() == [6.0, 12.0]
        with pytest.raises(RuntimeError, match=SECOND):
            y.backward()

    def test_grad_frees_too(self):
        x = vec(1.0, 2.0)
        y = (x * x).sum()
        nb.autograd.grad(y, x)
        with pytest.raises(RuntimeError, match=SECOND):
            nb.autograd.grad(y, x)


class TestInputs:
    def test_leaf_inputs(self):
        x, y = vec(2.0), vec(3.0)
        (x * y).sum().backward(inputs=[x])
        assert x.grad.tolist() == [3.0] and y.grad is None
        (x * y).sum().backward(inputs=y)
        assert y.grad.tolist() == [2.0] and x.grad.tolist() == [3.0]

    def test_non_leaf_input(self):
        x = vec(1.0, 2.0)
        h = x * 3
        (h * h).sum().backward(inputs=[h], retain_graph=True)
        assert h.grad.tolist() == [6.0, 12.0] and x.grad is None
        (h * h).sum().backward()  # a later plain backward leaves h.grad alone
        assert h.grad.tolist() == [6.0, 12.0] and x.grad.tolist() == [18.0, 36.0]

    def test_empty_inputs_refused(self):
        x = vec(1.0)
        with pytest.raises(RuntimeError, match="inputs"):
            x.sum().backward(inputs=[])


# --------------------------------------------------------------------------- autograd.grad
class TestGrad:
    def test_returns_without_accumulating(self):
        x = vec(1.0, 2.0)
        (g,) = nb.autograd.grad((x * x).sum(), x)
        assert g.tolist() == [2.0, 4.0] and x.grad is None and not g.requires_grad

    def test_several_inputs_and_outputs(self):
        x, y = vec(1.0, 2.0), vec(3.0, 4.0)
        gx, gy = nb.autograd.grad([(x * y).sum(), (x * x).sum()], [x, y])
        assert gx.tolist() == [5.0, 8.0] and gy.tolist() == [1.0, 2.0]

    def test_grad_outputs(self):
        x = vec(1.0, 2.0)
        (g,) = nb.autograd.grad(x * x, x, grad_outputs=nb.tensor([1.0, 2.0]))
        assert g.tolist() == [2.0, 8.0]
        with pytest.raises(RuntimeError, match=SCALAR):
            nb.autograd.grad(x * x, x)

    def test_unused_input(self):
        x, y = vec(2.0), vec(3.0)
        with pytest.raises(RuntimeError, match="allow_unused"):
            nb.autograd.grad((x * 2).sum(), [x, y])
        gx, gy = nb.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
        assert gx.tolist() == [2.0] and gy is None

    def test_materialize_grads(self):
        x, y = vec(2.0), vec(3.0, 4.0)
        gx, gy = nb.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)
        assert gx.tolist() == [2.0] and gy.tolist() == [0.0, 0.0] and gy.dtype is y.dtype
        with pytest.raises(ValueError, match="allow_unused"):
            nb.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True, allow_unused=False)

    def test_non_leaf_inputs(self):
        x = vec(1.0, 2.0)
        a = x * 2
        b = a * 3
        ga, gx = nb.autograd.grad(b.sum(), [a, x])
        assert ga.tolist() == [3.0, 3.0] and gx.tolist() == [6.0, 6.0]
        h = x * 1
        (gh,) = nb.autograd.grad(h * 1, h, nb.ones(2))
        assert gh.tolist() == [1.0, 1.0]

    def test_inputs_must_require_grad(self):
        x = vec(1.0)
        with pytest.raises(RuntimeError, match=NO_GRAD):
            nb.autograd.grad((x * 2).sum(), [nb.ones(1)])
        with pytest.raises(RuntimeError, match=NO_GRAD):
            nb.autograd.grad(nb.ones(1).sum(), [x])


# --------------------------------------------------------------------------- retain_grad, hooks
class TestRetainGrad:
    def test_retain_grad(self):
        x = vec(1.0, 2.0)
        h = x * 3
        h.retain_grad()
        assert h.retains_grad
        (h * h).sum().backward()
        assert h.grad.tolist() == [6.0, 12.0] and x.grad.tolist() == [18.0, 36.0]
        assert not h.grad.requires_grad

    def test_retain_grad_accumulates_and_leaf_is_noop(self):
        x = vec(1.0)
        x.retain_grad()
        assert not x.retains_grad
        h = x * 2
        h.retain_grad()
        y = (h * h).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert h.grad.tolist() == [8.0]

    def test_retain_grad_needs_requires_grad(self):
        with pytest.raises(RuntimeError, match="requires_grad"):
            nb.ones(2).retain_grad()

    def test_grad_sees_hook_result(self):
        x = vec(1.0, 2.0)
        h = x * 2
        h.retain_grad()
        h.register_hook(lambda g: g * 10)
        (h * h).sum().backward()
        assert h.grad.tolist() == [40.0, 80.0] and x.grad.tolist() == [80.0, 160.0]


class TestHooks:
    def test_leaf_hook_sees_total_gradient_once(self):
        x = vec(1.0, 2.0)
        seen = []
        x.register_hook(lambda g: seen.append(g.tolist()))
        (x * x + x).sum().backward()  # three paths reach x
        assert seen == [[3.0, 5.0]] and x.grad.tolist() == [3.0, 5.0]

    def test_leaf_hook_replaces(self):
        x = vec(1.0, 2.0)
        handle = x.register_hook(lambda g: g * 0 + 7)
        (x * x).sum().backward()
        assert x.grad.tolist() == [7.0, 7.0]
        handle.remove()
        x.grad = None
        (x * x).sum().backward()
        assert x.grad.tolist() == [2.0, 4.0]
        handle.remove()  # removing twice is harmless

    def test_non_leaf_hook(self):
        x = vec(1.0, 2.0)
        h = x * 3
        seen = []
        h.register_hook(lambda g: seen.append(g.tolist()))
        h.register_hook(lambda g: g * 0)
        (h * h).sum().backward()
        assert seen == [[6.0, 12.0]] and x.grad.tolist() == [0.0, 0.0]

    def test_hooks_run_in_order_and_chain(self):
        x = vec(1.0)
        order = []
        x.register_hook(lambda g: order.append("a") or g + 1)
        x.register_hook(lambda g: order.append(("b", g.item())) or g * 2)
        (x * 1).sum().backward()
        assert order == ["a", ("b", 2.0)] and x.grad.item() == 4.0

    def test_hook_applies_to_autograd_grad(self):
        x = vec(1.0)
        x.register_hook(lambda g: g * 5)
        (g,) = nb.autograd.grad((x * 2).sum(), x)
        assert g.item() == 10.0

    def test_hook_needs_requires_grad(self):
        with pytest.raises(RuntimeError, match="doesn't require gradient"):
            nb.ones(1).register_hook(lambda g: g)

    def test_hooks_see_create_graph_as_grad_mode(self):
        x = vec(1.0, 2.0)
        seen = []
        x.register_hook(lambda g: seen.append(nb.is_grad_enabled()))
        (x * x).sum().backward()
        nb.autograd.grad((x * x).sum(), x, create_graph=True)
        loss = (x * x).sum()
        with nb.no_grad():
            nb.autograd.grad(loss, x, create_graph=True)  # the caller's mode is ignored
        assert seen == [False, True, True]


# --------------------------------------------------------------------------- graph
class TestGraph:
    def test_grad_fn_names(self):
        x = vec(1.0, 2.0)
        assert x.grad_fn is None and x.is_leaf
        cases = {
            "MulBackward0": x * 2, "AddBackward0": x + 1, "SubBackward0": x - 1,
            "DivBackward0": x / 2, "PowBackward0": x ** 2, "NegBackward0": -x,
            "ExpBackward0": x.exp(), "SumBackward0": x.sum(), "DotBackward0": x @ x,
            "CloneBackward0": x.clone(), "SelectBackward0": x[0], "SliceBackward0": x[1:],
            "ViewBackward0": x.view(2, 1), "UnsqueezeBackward0": x.unsqueeze(0),
            "ExpandBackward0": x.expand(3, 2),
        }
        for name, t in cases.items():
            assert t.grad_fn.name() == name
            assert repr(t.grad_fn).startswith(f"<{name} object")

    def test_next_functions(self):
        x = vec(1.0, 2.0)
        c = nb.ones(2)
        y = x * c
        (acc, nr), (none, nr2) = y.grad_fn.next_functions
        assert acc.name() == "AccumulateGrad" and acc.variable is x and nr == 0
        assert none is None and nr2 == 0
        assert acc.next_functions == ()
        z = (y + 1).sum()
        add = z.grad_fn.next_functions[0][0]
        assert add.name() == "AddBackward0"
        assert add.next_functions[0][0] is y.grad_fn

    def test_diamond(self):
        x = vec(3.0)
        a = x * 2
        b = x * x
        (a * b).sum().backward()  # d(2x^3)/dx = 6x^2
        assert x.grad.item() == 54.0

    def test_wide_diamond_reuses_intermediate(self):
        x = vec(1.0, 2.0, dtype=nb.float64)
        h = x.exp()
        y = (h * h + h.sin() + h).sum()
        y.backward()
        e = np.exp([1.0, 2.0])
        np.testing.assert_allclose(x.grad.numpy(), (2 * e + np.cos(e) + 1) * e)

    def test_graph_shared_by_several_outputs(self):
        x = vec(3.0)
        h = x * x
        o1, o2 = h * 2, h + 1
        nb.autograd.backward([o1.sum(), o2.sum()])
        assert x.grad.item() == 18.0  # d(3x^2 + 1)/dx
        x.grad = None
        h = x * x
        o1, o2 = h * 2, h + 1
        nb.autograd.backward([o1, o2], [nb.ones(1), nb.full((1,), 2.0)])
        assert x.grad.item() == 24.0

    def test_one_root_is_an_ancestor_of_another(self):
        x = vec(3.0)
        h = x * x
        y = h * 2
        nb.autograd.backward([h, y], [nb.ones(1), nb.ones(1)])
        assert x.grad.item() == 18.0  # (1 + 2) * 2x

    def test_shared_subgraph_needs_retain_graph(self):
        x = vec(3.0)
        h = x * x
        h.exp().sum().backward()
        with pytest.raises(RuntimeError, match=SECOND):
            (h * 2).sum().backward()

    def test_long_chain(self):
        x = vec(1.0, dtype=nb.float64)
        y = x
        for _ in range(500):
            y = y * 1.001
        y.sum().backward()
        np.testing.assert_allclose(x.grad.item(), 1.001 ** 500)


# --------------------------------------------------------------------------- higher order
class TestHigherOrder:
    def test_second_derivative_of_cube(self):
        x = nb.tensor(2.0, requires_grad=True)
        (g,) = nb.autograd.grad(x ** 3, x, create_graph=True)
        assert g.item() == 12.0 and g.requires_grad
        (g2,) = nb.autograd.grad(g, x, create_graph=True)
        assert g2.item() == 12.0  # 6x
        (g3,) = nb.autograd.grad(g2, x)
        assert g3.item() == 6.0

    def test_backward_create_graph_warns_and_builds_graph(self):
        x = nb.tensor(2.0, requires_grad=True)
        with pytest.warns(UserWarning, match="reference cycle"):
            (x ** 3).backward(create_graph=True)
        g = x.grad
        assert g.requires_grad and g.grad_fn is not None
        x.grad = None
        g.backward()
        assert x.grad.item() == 12.0

    def test_grad_create_graph_does_not_warn(self):
        x = nb.tensor(2.0, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            nb.autograd.grad(x ** 3, x, create_graph=True)

    def test_grad_of_grad_through_product(self):
        x = nb.tensor(2.0, requires_grad=True)
        (gx,) = nb.autograd.grad(x * x, x, create_graph=True)
        (gx * x).backward()  # d(2x * x)/dx = 4x
        assert x.grad.item() == 8.0

    def test_mixed_partials(self):
        x = nb.tensor(2.0, dtype=nb.float64, requires_grad=True)
        y = nb.tensor(3.0, dtype=nb.float64, requires_grad=True)
        (gx,) = nb.autograd.grad(x * x * y, x, create_graph=True)  # 2xy
        gxy, gxx = nb.autograd.grad(gx, [y, x])
        assert gxy.item() == 4.0 and gxx.item() == 6.0

    def test_gradcheck_and_gradgradcheck_of_composite(self):
        x = nb.tensor([0.3, -0.7, 1.1], dtype=nb.float64, requires_grad=True)
        w = nb.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3]], dtype=nb.float64, requires_grad=True)

        def fn(x, w):
            return ((w @ x).tanh() * (w @ x).sigmoid()).sum() / (x * x + 1).sqrt().sum()

        assert gradcheck(fn, (x, w))
        assert gradgradcheck(fn, (x, w))

    def test_gradcheck_detects_wrong_gradient(self):
        x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)

        def wrong(t):
            with nb.no_grad():
                frozen = t * 1
            return t * frozen  # gradient misses the frozen factor

        with pytest.raises(nb.autograd.GradcheckError):
            gradcheck(wrong, (x,))
        assert gradcheck(wrong, (x,), raise_exception=False) is False


# --------------------------------------------------------------------------- grad modes
class TestModesDuringBackward:
    def test_backward_inside_no_grad(self):
        x = vec(1.0, 2.0)
        loss = (x * x).sum()
        with nb.no_grad():
            loss.backward()
            assert not nb.is_grad_enabled()
        assert x.grad.tolist() == [2.0, 4.0] and not x.grad.requires_grad

    def test_create_graph_inside_no_grad(self):
        x = vec(1.0, 2.0)
        loss = (x * x * x).sum()
        with nb.no_grad():
            (g,) = nb.autograd.grad(loss, x, create_graph=True)
        assert g.requires_grad
        (g2,) = nb.autograd.grad(g.sum(), x)
        assert g2.tolist() == [6.0, 12.0]

    def test_no_create_graph_never_requires_grad(self):
        x = vec(1.0, 2.0)
        (g,) = nb.autograd.grad((x * x).sum(), x)
        assert not g.requires_grad and g.grad_fn is None

    def test_backward_inside_inference_mode(self):
        x = vec(1.0, 2.0)
        loss = (x * x).sum()
        with nb.inference_mode():
            loss.backward()
        assert not x.grad.is_inference()
        (x * x).sum().backward()
        assert x.grad.tolist() == [4.0, 8.0]

    def test_grad_inside_inference_mode(self):
        x = vec(1.0, 2.0)
        loss = (x * x).sum()
        with nb.inference_mode():
            (g,) = nb.autograd.grad(loss, x)
        assert not g.is_inference() and g.tolist() == [2.0, 4.0]

    def test_caller_mode_restored(self):
        x = vec(1.0)
        loss = (x * x).sum()
        with nb.no_grad():
            loss.backward()
            assert not nb.is_grad_enabled()
        assert nb.is_grad_enabled()
        with pytest.raises(RuntimeError):
            loss.backward()  # the failed call restores the mode too
        assert nb.is_grad_enabled() and not nb.is_inference_mode_enabled()


# --------------------------------------------------------------------------- threads
def test_backward_in_threads_matches_sequential():
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((12, 12)) for _ in range(6)]

    def work(d):
        x = nb.tensor(d, dtype=nb.float64, requires_grad=True)
        w = nb.tensor(d.T.copy(), dtype=nb.float64, requires_grad=True)
        for _ in range(10):
            ((x @ w).tanh() * x + w.exp() / 10).sum().backward()
        return x.grad.numpy().copy(), w.grad.numpy().copy()

    sequential = [work(d) for d in data]
    results: list = [None] * len(data)
    errors: list = []

    def run(i):
        try:
            results[i] = work(data[i])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(data))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (sx, sw), (tx, tw) in zip(sequential, results):
        np.testing.assert_array_equal(sx, tx)
        np.testing.assert_array_equal(sw, tw)


def test_threads_share_a_leaf_with_retained_graph():
    x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    h = x * x
    loss = (h * 3).sum()
    grads: list = []

    def run():
        (g,) = nb.autograd.grad(loss, x, retain_graph=True)
        grads.append(g.tolist())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert grads == [[6.0, 12.0]] * 4


def test_set_multithreading_enabled_runs_backward_kernels_on_one_thread():
    """API.md: set_multithreading_enabled(False) keeps backward's Numba kernels on one thread
    (Numba's thread count is per thread, so it is restored afterwards)."""
    import numba

    seen = []
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.register_hook(lambda g: seen.append(numba.get_num_threads()))
    before = numba.get_num_threads()
    with nb.autograd.set_multithreading_enabled(False):
        y.sum().backward(retain_graph=True)
    y.sum().backward()
    assert seen == [1, before]
    assert numba.get_num_threads() == before
    assert x.grad.tolist() == [6.0, 6.0]
