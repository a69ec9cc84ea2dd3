"""Custom ops through ``nb.autograd.Function``: recording rules (grad modes), the ctx API
(save_for_backward with version checks, needs_input_grad, mark_dirty,
mark_non_differentiable, set_materialize_grads), gradient validation, higher order, and a
custom op whose kernels are the user's own ``@numba.njit`` functions."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import Function, gradcheck, gradgradcheck, once_differentiable


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


class Exp(Function):  # saves its output
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class ScaleBy(Function):  # a non-tensor argument
    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def _leaf(values):
    return nb.tensor(values, dtype=nb.float64, requires_grad=True)


def test_forward_backward_and_node_name():
    x = _leaf([1.0, 2.0])
    y = Cube.apply(x)
    assert y.grad_fn.name() == "CubeBackward" and not y.is_leaf
    assert y.tolist() == [1.0, 8.0]
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]
    assert y.grad_fn.next_functions[0][0].variable is x


@pytest.mark.parametrize("fn", [Cube.apply, Exp.apply, lambda t: ScaleBy.apply(t, 2.5)])
def test_gradcheck_and_gradgradcheck(fn):
    x = _leaf([0.3, -1.2, 0.8])
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_forward_runs_with_grad_disabled_and_outputs_follow_the_mode():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(nb.is_grad_enabled())
            y = x * 2
            seen.append(y.requires_grad)
            return y

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = _leaf([1.0])
    assert Probe.apply(x).requires_grad
    with nb.no_grad():
        out = Probe.apply(x)
    assert not out.requires_grad and out.grad_fn is None  # apply records nothing in no_grad
    with nb.inference_mode():
        out = Probe.apply(x)
    assert out.is_inference() and out.grad_fn is None
    assert seen == [False, False] * 3
    assert Probe.apply(nb.tensor([1.0])).grad_fn is None  # nothing requires grad


def test_backward_sees_create_graph_as_the_grad_mode():
    modes = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            modes.append(nb.is_grad_enabled())
            return grad

    x = _leaf([1.0])
    Probe.apply(x).sum().backward()
    nb.autograd.grad(Probe.apply(x).sum(), x, create_graph=True)
    y = Probe.apply(x).sum()
    with nb.no_grad():  # backward ignores the caller's mode
        y.backward()
    assert modes == [False, True, False]


def test_needs_input_grad():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b, c):
            seen.append(ctx.needs_input_grad)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad, None

    a, b = _leaf([1.0]), nb.tensor([2.0], dtype=nb.float64)
    Probe.apply(a, b, 3).sum().backward()
    with nb.no_grad():
        Probe.apply(a, b, 3)
    assert seen == [(True, False, False), (False, False, False)]
    assert a.grad.tolist() == [1.0]


def test_saved_input_modified_in_place_raises():
    x = _leaf([1.0, 2.0])
    h = x * 1
    y = Cube.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*version 1; "
                                           r"expected version 0"):
        y.sum().backward()


def test_saved_output_modified_in_place_raises():
    y = Exp.apply(_leaf([0.5]))
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_second_backward_needs_retain_graph():
    x = _leaf([1.0, 2.0])
    y = Cube.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [6.0, 24.0]
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_save_for_backward_checks_its_arguments():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

    with pytest.raises(TypeError, match="save_for_backward can only save"):
        Bad.apply(_leaf([1.0]))

    class SavesNone(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(None, x)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            none, x = ctx.saved_tensors
            assert none is None
            return grad * 2

    x = _leaf([1.0])
    SavesNone.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0]


def test_saved_inference_tensor_is_refused():
    with nb.inference_mode():
        w = nb.tensor([2.0])

    class UsesW(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(w)
            return x * w

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.saved_tensors[0]

    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        UsesW.apply(nb.tensor([1.0], requires_grad=True))


def test_mark_dirty():
    class AddOne_(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad

    leaf = _leaf([1.0, 2.0])
    h = leaf * 2
    out = AddOne_.apply(h)
    assert out is h and h.grad_fn.name() == "AddOne_Backward" and h._version == 1
    assert h.tolist() == [3.0, 5.0]
    (h * h).sum().backward()
    assert leaf.grad.tolist() == [12.0, 20.0]
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        AddOne_.apply(_leaf([1.0]))
    # a view of a non-leaf: its base takes the new history
    base = _leaf([1.0, 2.0, 3.0]) * 1
    view = base[1:]
    AddOne_.apply(view)
    assert base.tolist() == [1.0, 3.0, 4.0] and base.grad_fn.name() == "CopySlices"


def test_mark_non_differentiable_and_materialized_grads():
    received = []

    class SortDesc(Function):
        @staticmethod
        def forward(ctx, x):
            order = np.argsort(-x.detach().numpy(), kind="stable")
            idx = nb.tensor(order)
            ctx.save_for_backward(idx)
            values = x[idx]
            ctx.mark_non_differentiable(idx)
            return values, idx

        @staticmethod
        def backward(ctx, g_values, g_idx):
            received.append(g_idx)
            (idx,) = ctx.saved_tensors
            return nb.zeros_like(g_values).scatter_add(0, idx, g_values)

    x = _leaf([1.0, 3.0, 2.0])
    values, idx = SortDesc.apply(x)
    assert values.requires_grad and not idx.requires_grad and idx.tolist() == [1, 2, 0]
    (values * nb.tensor([1.0, 2.0, 3.0], dtype=nb.float64)).sum().backward()
    assert x.grad.tolist() == [3.0, 1.0, 2.0]
    assert received[0].tolist() == [0, 0, 0]  # zeros for the non-differentiable output


def test_set_materialize_grads_false_passes_none():
    received = []

    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            received.append((ga is None, gb is None))
            return (ga * 2 if ga is not None else 0) + (gb * 3 if gb is not None else 0)

    x = _leaf([1.0])
    a, b = Two.apply(x)
    b.sum().backward()
    assert received == [(True, False)] and x.grad.tolist() == [3.0]


def test_multiple_outputs_and_materialized_zeros():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = _leaf([1.0, 2.0])
    a, b = Split.apply(x)
    assert a.grad_fn is b.grad_fn and b._output_nr == 1
    a.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    assert gradcheck(lambda t: Split.apply(t), (x,))


def test_returned_input_is_an_alias_with_history():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = _leaf([1.0])
    y = Identity.apply(x)
    assert y is not x and y.grad_fn.name() == "IdentityBackward" and x.is_leaf
    y.sum().backward()
    assert x.grad.tolist() == [2.0]
    with nb.no_grad():
        y.add_(1)
    assert x.tolist() == [2.0]  # shares storage


def test_bad_gradients_are_reported():
    def make(backward):
        return type("Op", (Function,), {
            "forward": staticmethod(lambda ctx, x, k=None: x * 1),
            "backward": staticmethod(backward),
        })

    x = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 1, got 2"):
        make(lambda ctx, g: (g, g)).apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"invalid gradient at index 0 - got \[3\] but "
                                           r"expected shape compatible with \[2\]"):
        make(lambda ctx, g: nb.ones(3, dtype=nb.float64)).apply(x).sum().backward()
    with pytest.raises(TypeError, match="Tensor or None"):
        make(lambda ctx, g: 1.0).apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="not a Tensor"):
        make(lambda ctx, g: (g, g)).apply(x, 3).sum().backward()
    # trailing Nones, broadcastable gradients (summed) and other dtypes (cast) are accepted
    make(lambda ctx, g: (g, None, None)).apply(x).sum().backward()
    make(lambda ctx, g: nb.ones(3, 2)).apply(x).sum().backward()  # float32 (3, 2) -> (2,)
    assert x.grad.tolist() == [4.0, 4.0] and x.grad.dtype is nb.float64
    (g,) = nb.autograd.grad(make(lambda ctx, g: None).apply(x).sum(), x, allow_unused=True)
    assert g is None


def test_setup_context_style():
    class Mul(Function):
        @staticmethod
        def forward(a, b):
            return a * b

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return grad * b, grad * a

    a, b = _leaf([2.0]), _leaf([5.0])
    assert gradcheck(Mul.apply, (a, b)) and gradgradcheck(Mul.apply, (a, b))


def test_misuse():
    with pytest.raises(RuntimeError, match="staticmethods"):
        Cube()
    with pytest.raises(TypeError, match="positional"):
        Cube.apply(x=_leaf([1.0]))
    with pytest.raises(NotImplementedError, match="forward"):
        type("NoForward", (Function,), {}).apply(_leaf([1.0]))


def test_once_differentiable_refuses_double_backward():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, grad):
            assert not nb.is_grad_enabled()
            (x,) = ctx.saved_tensors
            return grad * 2 * x

    x = _leaf([3.0])
    assert gradcheck(Square.apply, (x,))
    v = nb.ones(1, dtype=nb.float64, requires_grad=True)
    (g,) = nb.autograd.grad(Square.apply(x), x, v, create_graph=True)
    assert g.tolist() == [6.0]
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


# --------------------------------------------------------------------------- with Numba
@numba.njit(cache=True)
def _softclip_forward(x, limit, out):
    for i in range(x.size):
        out[i] = limit * np.tanh(x[i] / limit)


@numba.njit(cache=True)
def _softclip_backward(x, grad, limit, out):
    for i in range(x.size):
        t = np.tanh(x[i] / limit)
        out[i] = grad[i] * (1.0 - t * t)


class SoftClip(Function):
    """``limit * tanh(x / limit)`` with hand-written Numba kernels."""

    @staticmethod
    def forward(ctx, x, limit):
        ctx.save_for_backward(x)
        ctx.limit = limit
        data = np.ascontiguousarray(x.detach().numpy())
        out = np.empty_like(data)
        _softclip_forward(data.reshape(-1), limit, out.reshape(-1))
        return nb.from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        data = np.ascontiguousarray(x.detach().numpy())
        g = np.ascontiguousarray(grad.detach().numpy())
        out = np.empty_like(data)
        _softclip_backward(data.reshape(-1), g.reshape(-1), ctx.limit, out.reshape(-1))
        return nb.from_numpy(out), None


@pytest.mark.parametrize("dtype", [nb.float32, nb.float64])
def test_custom_op_with_numba_kernels(dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((3, 4)) * 3
    x = nb.tensor(values, dtype=dtype, requires_grad=True)
    y = SoftClip.apply(x.t(), 2.0)  # a non-contiguous input works too
    np.testing.assert_allclose(y.detach().numpy(), 2.0 * np.tanh(values.T / 2.0), rtol=1e-6)
    assert y.dtype is dtype and y.grad_fn.name() == "SoftClipBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh(values / 2.0) ** 2, rtol=1e-5)
    if dtype is nb.float64:
        assert gradcheck(lambda t: SoftClip.apply(t, 1.5), (nb.tensor(values, dtype=dtype,
                                                                      requires_grad=True),))
    h = x * 1
    z = SoftClip.apply(h, 2.0)
    h.mul_(2)  # the saved input changed: the usual error, not a wrong gradient
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
