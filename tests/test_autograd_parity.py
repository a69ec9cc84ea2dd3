"""Parity with PyTorch's autograd surface: names PyTorch has (in-place view ops, as_strided,
Variable, InplaceFunction, saved_variables, graph.Node, gradient edges, increment_version),
gradient accumulation in place, and the errors PyTorch raises (and the things it allows).
Expected behaviour and messages were checked against PyTorch 2.13."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck
from nbgrad.autograd.graph import GradientEdge, get_gradient_edge, increment_version


def _leaf(values=(1.0, 2.0, 3.0), dtype=nb.float32):
    return nb.tensor(list(values), dtype=dtype, requires_grad=True)


# ----------------------------------------------------------------- in-place view ops
@pytest.mark.parametrize("name, args, shape, node", [
    ("transpose_", (0, 1), (3, 2), "TransposeBackward0"),
    ("t_", (), (3, 2), "TBackward0"),
    ("unsqueeze_", (0,), (1, 2, 3), "UnsqueezeBackward0"),
])
def test_in_place_view_op_changes_the_tensor_itself_and_takes_the_view_history(
        name, args, shape, node):
    x = nb.ones(2, 3, requires_grad=True)
    y = x * 1
    out = getattr(y, name)(*args)
    assert out is y and y.shape == shape and y._version == 1
    assert y.grad_fn.name() == node
    y.sum().backward()
    assert x.grad.tolist() == [[1.0] * 3] * 2


def test_squeeze_in_place():
    y = nb.ones(1, 3, 1, requires_grad=True) * 2
    assert y.squeeze_().shape == (3,)
    y2 = nb.zeros(1, 3).squeeze_(0)
    assert y2.shape == (3,)


def test_in_place_view_op_on_a_leaf_that_requires_grad_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        nb.ones(2, 2, requires_grad=True).t_()


def test_as_strided_is_a_view_sharing_the_version_counter():
    base = nb.arange(6.0)
    v = nb.as_strided(base, (2, 2), (1, 2), 1)
    assert v.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert v._base is base
    v.mul_(10)
    assert base._version == 1 and base.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 5.0]


def test_as_strided_gradient_with_overlapping_windows():
    x = nb.tensor(np.arange(6.0), dtype=nb.float64, requires_grad=True)
    assert gradcheck(lambda t: nb.as_strided(t, (3, 2), (1, 1)) * 2, (x,))
    assert gradgradcheck(lambda t: nb.as_strided(t, (2, 2), (2, 1)) ** 2, (x,))


def test_as_strided_in_place():
    x = nb.arange(6.0)
    assert x.as_strided_((2, 3), (3, 1)).shape == (2, 3)


def test_as_strided_out_of_bounds_raises():
    with pytest.raises(RuntimeError, match="storage"):
        nb.as_strided(nb.zeros(4), (3,), (2,))


# ------------------------------------------------------------------------ other names
def test_is_inference_is_a_function_too():
    with nb.inference_mode():
        y = nb.ones(2) * 2
    assert nb.is_inference(y) and not nb.is_inference(nb.ones(2))


def test_variable_is_a_deprecated_alias_of_tensor():
    v = nb.autograd.Variable(nb.ones(2), requires_grad=True)
    assert isinstance(v, nb.Tensor) and v.requires_grad
    assert isinstance(nb.zeros(1), nb.autograd.Variable)


def test_inplace_function_is_a_function_subclass():
    from nbgrad.autograd.function import InplaceFunction

    class Double(InplaceFunction):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = _leaf()
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_saved_variables_is_a_deprecated_alias_of_saved_tensors():
    messages = []

    class Id(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                (x,) = ctx.saved_variables
            messages.extend((type(m.message), str(m.message)) for m in w)
            return g

    Id.apply(_leaf()).sum().backward()
    assert messages == [(DeprecationWarning,
                         "'saved_variables' is deprecated; use 'saved_tensors'")]


def test_generate_vmap_rule_is_accepted():
    class Double(nb.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return x * 2

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, g):
            return g * 2

    assert Double.apply(_leaf()).grad_fn.name() == "DoubleBackward"


def test_graph_node_is_the_base_class_of_every_grad_fn():
    Node = nb.autograd.graph.Node  # noqa: N806
    x = _leaf()
    y = x * 2
    assert isinstance(y.grad_fn, Node)
    assert isinstance(y.grad_fn.next_functions[0][0], Node)  # AccumulateGrad
    z = y.clone()
    z[0] = 5.0
    assert isinstance(z.grad_fn, Node)  # CopySlices


def test_get_gradient_edge_of_a_leaf_and_of_a_non_leaf():
    x = _leaf()
    edge = get_gradient_edge(x)
    assert isinstance(edge, GradientEdge) and edge.node.name() == "AccumulateGrad"
    y = x * 2
    assert get_gradient_edge(y)[:2] == (y.grad_fn, 0)
    assert nb.autograd.grad(y.sum(), get_gradient_edge(y))[0].tolist() == [1.0, 1.0, 1.0]
    assert nb.autograd.grad((x * 3).sum(), get_gradient_edge(x))[0].tolist() == [3.0] * 3


def test_get_gradient_edge_of_a_tensor_without_grad_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="not possible to get the gradient edge"):
        get_gradient_edge(nb.zeros(2))


def test_increment_version_bumps_one_or_many():
    v = nb.zeros(2)
    increment_version(v)
    assert v._version == 1
    increment_version([v, v])
    assert v._version == 3


def test_calling_a_node_runs_its_backward():
    y = _leaf() * 3
    gx, gother = y.grad_fn(nb.ones(3))
    assert gx.tolist() == [3.0, 3.0, 3.0] and gother is None


# -------------------------------------------------------- gradient accumulation in place
def test_second_backward_accumulates_into_the_same_grad_tensor():
    x = _leaf()
    (x * 2).sum().backward()
    g = x.grad
    version = g._version
    (x * 2).sum().backward()
    assert x.grad is g and g._version == version + 1
    assert g.tolist() == [4.0, 4.0, 4.0]


def test_grad_set_to_none_gets_a_fresh_tensor():
    x = _leaf()
    (x * 2).sum().backward()
    g = x.grad
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad is not g and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_accumulation_with_create_graph_makes_a_new_tensor():
    x = _leaf()
    (x * 2).sum().backward()
    g = x.grad
    with pytest.warns(UserWarning, match="reference cycle"):
        (x * x).sum().backward(create_graph=True)
    assert x.grad is not g and x.grad.requires_grad


def test_grad_layout_follows_a_transposed_parameter():
    p = nb.randn(3, 2).t().requires_grad_()
    (p * 2).sum().backward()
    assert p.stride() == (1, 2) and p.grad.stride() == p.stride()
    assert p.grad.tolist() == [[2.0] * 3] * 2


# ------------------------------------------------------------ errors PyTorch raises
def test_second_backward_through_advanced_index_assignment_raises():
    x = _leaf((1.0, 2.0, 3.0, 4.0))
    y = x * 1
    y[nb.tensor([0, 1])] = nb.ones(2)
    s = y.sum()
    s.backward()
    with pytest.raises(RuntimeError, match="second time"):
        s.backward()


def test_second_backward_through_advanced_indexing_raises():
    x = _leaf()
    s = x[nb.tensor([0, 2])].sum()
    s.backward()
    with pytest.raises(RuntimeError, match="second time"):
        s.backward()


def test_setting_data_of_another_kind_on_a_tensor_that_requires_grad_raises():
    z = nb.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="must be floating point or complex dtype"):
        z.data = nb.ones(2, dtype=nb.int64)
    z.data = nb.ones(2, dtype=nb.float64)  # another float dtype is allowed, as in PyTorch
    assert z.dtype is nb.float64


def test_saved_tensors_of_a_custom_node_after_backward_freed_them_raise():
    class Double(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Double.apply(_leaf())
    assert len(y.grad_fn.saved_tensors) == 1
    y.sum().backward()
    with pytest.raises(RuntimeError, match="after they have already been freed"):
        y.grad_fn.saved_tensors  # noqa: B018


def test_in_place_on_a_view_of_a_no_grad_view_raises():
    a = _leaf() * 1
    with nb.no_grad():
        v = a[:2]
    w = v[:1]
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        w.mul_(2)


def test_detach_in_place_of_a_saved_input_is_detected_at_backward():
    a = _leaf() * 1
    y = a * a
    a.detach_()
    with pytest.raises(RuntimeError, match="detached in-place"):
        y.sum().backward()


def test_grad_with_empty_inputs_raises_cannot_be_empty():
    with pytest.raises(RuntimeError, match="cannot be empty"):
        nb.autograd.grad(_leaf().sum(), [])


# ------------------------------------------------------- things PyTorch allows
def test_numpy_of_a_tensor_that_requires_grad_works_inside_no_grad():
    x = _leaf()
    with nb.no_grad():
        assert x.numpy().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError, match="requires grad"):
        x.numpy()


def test_tensor_of_tensors_that_require_grad_is_a_constant_with_a_warning():
    x = _leaf()
    with pytest.warns(UserWarning, match="requires_grad=True to a scalar"):
        t = nb.tensor([x[0], x[1]])
    assert t.tolist() == [1.0, 2.0] and not t.requires_grad and t.dtype is nb.float32


def test_register_hook_on_any_node():
    x = _leaf()
    y = (x * 2).exp().sum()
    seen = []
    node = y.grad_fn.next_functions[0][0]  # ExpBackward0
    node.register_hook(lambda gi, go: seen.append(node.name()))
    node.register_prehook(lambda go: seen.append("pre"))
    y.backward()
    assert seen == ["pre", "ExpBackward0"]


# ------------------------------------------------------------- gradcheck keywords
def _x64(values=(0.5, 1.5, -0.7)):
    return nb.tensor(list(values), dtype=nb.float64, requires_grad=True)


def _wrong(t):
    return t.detach() * t  # half of the true gradient 2t


def test_gradcheck_fast_mode_passes_a_correct_gradient_and_catches_a_wrong_one():
    assert gradcheck(lambda t: (t * t).sin(), (_x64(),), fast_mode=True)
    with pytest.raises(nb.autograd.GradcheckError, match="computed in fast mode"):
        gradcheck(_wrong, (_x64(),), fast_mode=True)


def test_gradcheck_raise_exception_false_returns_false():
    assert gradcheck(_wrong, (_x64(),), raise_exception=False) is False
    assert gradcheck(_wrong, (_x64(),), fast_mode=True, raise_exception=False) is False


def test_gradcheck_check_forward_ad_checks_forward_mode():
    assert gradcheck(lambda t: F_softmax(t) * t, (_x64(),), check_forward_ad=True)

    class BadJvp(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

        @staticmethod
        def jvp(ctx, t):
            return t * 3  # wrong

    with pytest.raises(nb.autograd.GradcheckError, match="forward mode mismatch"):
        gradcheck(BadJvp.apply, (_x64(),), check_forward_ad=True)
    assert gradcheck(BadJvp.apply, (_x64(),), check_forward_ad=True, check_backward_ad=False,
                     raise_exception=False) is False


def F_softmax(t):  # noqa: N802
    return nb.nn.functional.softmax(t, 0)


def test_gradcheck_check_batched_grad():
    assert gradcheck(lambda t: t.exp() @ t, (_x64(),), check_batched_grad=True)
    assert gradgradcheck(lambda t: (t ** 3).sum(), (_x64(),), check_batched_grad=True)


def test_gradcheck_check_undefined_grad_catches_a_backward_ignoring_zero_gradients():
    class Leaky(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g + (g == 0) * 0.0 + 1e-3 * (g.abs().sum() == 0)

    x = _x64()
    with pytest.raises(nb.autograd.GradcheckError, match="undefined output grads"):
        gradcheck(Leaky.apply, (x,), atol=1e-2)
    assert gradcheck(Leaky.apply, (x,), atol=1e-2, check_undefined_grad=False)


def test_gradcheck_nondet_tol_allows_a_nondeterministic_backward():
    rng = np.random.default_rng(0)

    class Noisy(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * (2 + 1e-9 * float(rng.standard_normal()))

    with pytest.raises(nb.autograd.GradcheckError, match="not reentrant"):
        gradcheck(Noisy.apply, (_x64(),))
    assert gradcheck(Noisy.apply, (_x64(),), nondet_tol=1e-6)


def test_gradcheck_without_an_input_requiring_grad_raises():
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        gradcheck(lambda t: t * 2, (nb.zeros(2, dtype=nb.float64),))


def test_gradcheck_accepts_pytorch_keywords():
    assert gradcheck(lambda t: t * 2, (_x64(),), check_grad_dtypes=True, masked=None,
                     check_batched_forward_grad=False)
    assert gradgradcheck(lambda t: (t ** 3).sum(), (_x64(),), fast_mode=True,
                         check_fwd_over_rev=True, gen_non_contig_grad_outputs=False)


def test_get_numerical_and_analytical_jacobian_are_deprecated_and_transposed_like_pytorch():
    from nbgrad.autograd.gradcheck import get_analytical_jacobian, get_numerical_jacobian

    x = _x64((1.0, 2.0))

    def f(inp):
        (t,) = inp
        return nb.stack([t[0] * t[1], t[0] ** 2, t[1]])

    with pytest.warns(FutureWarning, match="deprecating"):
        (num,) = get_numerical_jacobian(f, (x,))
    with pytest.warns(FutureWarning, match="deprecating"):
        (ana,), reentrant, sizes, types = get_analytical_jacobian((x,), f((x,)))
    expected = [[2.0, 2.0, 0.0], [1.0, 0.0, 1.0]]  # (input.numel, output.numel)
    np.testing.assert_allclose(num.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(ana.numpy(), expected)
    assert reentrant and sizes and types


def test_variable_volatile_warns_that_it_has_no_effect():
    with pytest.warns(UserWarning, match="volatile was removed"):
        v = nb.autograd.Variable(nb.ones(1), volatile=True)
    assert not v.requires_grad


def test_backward_with_empty_inputs_raises_cannot_be_empty():
    with pytest.raises(RuntimeError, match="cannot be empty"):
        (_leaf() * 2).sum().backward(inputs=[])


# ------------------------------------------------------------------------ allclose
def test_allclose_follows_pytorch():
    assert nb.allclose(nb.tensor([1.0, 2.0]), nb.tensor([1.0, 2.0 + 1e-6]))
    assert not nb.allclose(nb.tensor([1.0]), nb.tensor([1.1]))
    assert nb.allclose(nb.tensor([1.0]), nb.tensor([1.1]), atol=0.2)
    nan = nb.tensor([1.0, float("nan")])
    assert not nb.allclose(nan, nan) and nb.allclose(nan, nan, equal_nan=True)
    assert nb.allclose(nb.tensor([float("inf")]), nb.tensor([float("inf")]))
    assert nb.allclose(nb.ones(2, 3), nb.ones(3))  # broadcasting
    assert nb.tensor([1, 2]).allclose(nb.tensor([1, 2]))
    x = nb.ones(2, requires_grad=True)
    assert nb.allclose(x, x) is True


def test_allclose_with_different_dtypes_or_shapes_raises():
    with pytest.raises(RuntimeError, match="float32 did not match float64"):
        nb.allclose(nb.ones(2), nb.ones(2, dtype=nb.float64))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        nb.allclose(nb.ones(2), nb.ones(3))


def test_grad_from_two_outputs_of_one_node_reaches_the_inputs_below():
    class Two(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return 2 * g1 + 3 * g2

    x = _leaf()
    h = x * 1  # a non-leaf between the node and the leaf
    a, b = Two.apply(h)
    (g,) = nb.autograd.grad([a, b], h, [nb.ones(3), nb.ones(3)])
    assert g.tolist() == [5.0, 5.0, 5.0]
    nb.autograd.backward([a, b], [nb.ones(3), nb.ones(3)])
    assert x.grad.tolist() == [5.0, 5.0, 5.0]


# ------------------------------------------------------------------ gradient edges
def test_grad_to_a_gradient_edge_taken_before_an_in_place_op():
    x = nb.tensor([1.0, 2.0], requires_grad=True).clone()
    x_edge = get_gradient_edge(x)
    x *= 2
    g_old, g_new = nb.autograd.grad(x.sum(), (x_edge, x))
    assert g_old.tolist() == [2.0, 2.0] and g_new.tolist() == [1.0, 1.0]


def test_materialize_grads_with_an_unused_gradient_edge_raises_like_pytorch():
    x = nb.tensor([1.0, 2.0], requires_grad=True).clone()
    y = nb.tensor([1.0, 2.0], requires_grad=True).clone()
    out = x.clone()
    edge_y = GradientEdge(y.grad_fn, y.output_nr)
    assert nb.autograd.grad(out.sum(), (x, edge_y), allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="materialize_grads cannot be used when the given "
                                           "input is a GradientEdge"):
        nb.autograd.grad(out.sum(), (x, edge_y), allow_unused=True, materialize_grads=True)


def test_backward_with_gradient_edges_as_inputs():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    out = (h * 2).sum()
    nb.autograd.backward(out, inputs=(get_gradient_edge(h), x), retain_graph=True)
    assert x.grad.tolist() == [6.0, 6.0]
    nb.autograd.backward(out, inputs=get_gradient_edge(h))  # stops at h: x gets nothing more
    assert x.grad.tolist() == [6.0, 6.0]


def test_materialized_grads_require_grad_like_pytorch():
    x = nb.tensor(0.5, requires_grad=True)
    a = nb.tensor(1.0, requires_grad=True)
    (dydx,) = nb.autograd.grad(x * a, x, create_graph=True)
    (d2,) = nb.autograd.grad(dydx, x, create_graph=True, materialize_grads=True)
    assert d2.item() == 0 and d2.requires_grad
    (d3,) = nb.autograd.grad(d2, x, materialize_grads=True)
    assert d3.item() == 0


def test_post_accumulate_grad_hook_returning_a_value_raises():
    w = nb.tensor([1.0], requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda p: p.grad)
    with pytest.raises(RuntimeError, match="hooks should return None"):
        (w * 2).sum().backward()
