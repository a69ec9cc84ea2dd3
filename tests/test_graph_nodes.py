"""Graph nodes look like PyTorch's: one class per node name, next_functions with one
AccumulateGrad per leaf, metadata, and node pre-/post-hooks run in PyTorch's order."""

from __future__ import annotations

import copy
import gc
import weakref

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad._graph import AccumulateGrad, Node, node_class


def leaf(*values):
    return nb.tensor(list(values), requires_grad=True)


# --------------------------------------------------------------------------- names
def _cases():
    x = nb.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    v = leaf(1.0, 2.0)
    b3 = nb.ones(3, 2, 2, requires_grad=True)
    w, bias = nb.ones(3, 2, requires_grad=True), nb.ones(3, requires_grad=True)

    def written_view():
        y = x * 1
        y[0] = 5.0
        return y

    return {
        "MulBackward0": x * 2, "AddBackward0": x + x, "SumBackward0": x.sum(),
        "ExpBackward0": x.exp(), "ReluBackward0": x.relu(), "TBackward0": x.t(),
        "TransposeBackward0": x.transpose(0, 1), "ViewBackward0": x.view(4),
        "SelectBackward0": x[0], "SliceBackward0": x[1:], "IndexBackward0": v[nb.tensor([1, 0])],
        "MmBackward0": x @ x, "MvBackward0": x @ v, "DotBackward0": v @ v,
        "BmmBackward0": b3 @ b3, "AddmmBackward0": F.linear(x, w, bias),
        "CopySlices": written_view(), "CopyBackwards": (x * 1).copy_(x),
        "ToCopyBackward0": x.to(nb.float64), "LogSoftmaxBackward0": F.log_softmax(x, 1),
        "NllLossBackward0": F.nll_loss(x, nb.tensor([0, 1])),
        # fused log_softmax + nll_loss: PyTorch records two nodes, nbgrad one of its own name
        "CrossEntropyLossBackward0": F.cross_entropy(x, nb.tensor([0, 1])),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_each_node_is_an_instance_of_a_class_named_as_in_pytorch(name):
    fn = _cases()[name].grad_fn
    assert type(fn).__name__ == name and fn.name() == name
    assert isinstance(fn, Node) and isinstance(fn, nb.autograd.Node)
    assert repr(fn).startswith(f"<{name} object at 0x")


def _overload_cases():
    """Expressions whose node PyTorch names by overload (the ``Backward<N>`` number counts the
    op's entries in tools/autograd/derivatives.yaml) or by title-casing the op name."""
    x = nb.tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    y = nb.tensor([[0.5, 2.0], [1.5, 3.0]], requires_grad=True)
    s = nb.ones(2, 1, 2, requires_grad=True)
    v = leaf(1.0, 2.0)
    mask = nb.tensor([[True, False], [False, True]])
    return [
        ("x.sum()", lambda: x.sum(), "SumBackward0"),
        ("x.sum(0)", lambda: x.sum(0), "SumBackward1"),
        ("nb.sum(x, (0, 1), keepdim=True)", lambda: nb.sum(x, (0, 1), keepdim=True),
         "SumBackward1"),
        ("x.prod()", lambda: x.prod(), "ProdBackward0"),
        ("x.prod(1)", lambda: x.prod(1), "ProdBackward1"),
        ("x.max()", lambda: x.max(), "MaxBackward1"),
        ("x.max(0).values", lambda: x.max(0).values, "MaxBackward0"),
        ("x.min()", lambda: x.min(), "MinBackward1"),
        ("x.min(1).values", lambda: x.min(1).values, "MinBackward0"),
        ("x ** 2", lambda: x ** 2, "PowBackward0"),
        ("x ** y", lambda: x ** y, "PowBackward1"),
        ("nb.pow(x, y)", lambda: nb.pow(x, y), "PowBackward1"),
        ("2 ** x", lambda: 2 ** x, "PowBackward2"),
        ("nb.pow(2, x)", lambda: nb.pow(2, x), "PowBackward2"),
        ("(x * 1).pow_(y)", lambda: (x * 1).pow_(y), "PowBackward1"),
        ("x.clamp(0, 1)", lambda: x.clamp(0, 1), "ClampBackward1"),
        ("x.clamp(min=0)", lambda: x.clamp(min=0), "ClampBackward1"),
        ("x.clip(max=0)", lambda: x.clip(max=0), "ClampBackward1"),
        ("(x * 1).clamp_(0, 1)", lambda: (x * 1).clamp_(0, 1), "ClampBackward1"),
        ("x.clamp(y * 0, y)", lambda: x.clamp(y * 0, y), "ClampBackward0"),
        ("x.clamp(min=y)", lambda: x.clamp(min=y), "ClampBackward0"),
        ("x.clamp_min(0)", lambda: x.clamp_min(0), "ClampMinBackward0"),
        ("x.clamp_min(y)", lambda: x.clamp_min(y), "ClampMinBackward1"),
        ("x.clamp_max(y)", lambda: x.clamp_max(y), "ClampMaxBackward1"),
        ("s.squeeze()", lambda: s.squeeze(), "SqueezeBackward0"),
        ("s.squeeze(1)", lambda: s.squeeze(1), "SqueezeBackward1"),
        ("s.squeeze((1,))", lambda: s.squeeze((1,)), "SqueezeBackward2"),
        ("2 - x", lambda: 2 - x, "RsubBackward1"),
        ("x - 2", lambda: x - 2, "SubBackward0"),
        ("x % 2", lambda: x % 2, "RemainderBackward0"),
        ("x % y", lambda: x % y, "RemainderBackward1"),
        ("(x * 1).fill_(2.0)", lambda: (x * 1).fill_(2.0), "FillBackward2"),
        ("(x * 1).fill_(tensor)", lambda: (x * 1).fill_(nb.tensor(2.0)), "FillBackward3"),
        ("(x * 1).zero_()", lambda: (x * 1).zero_(), "ZeroBackward0"),
        ("x.log1p()", lambda: x.log1p(), "Log1PBackward0"),
        ("x.expm1()", lambda: x.expm1(), "Expm1Backward0"),
        ("x.index_select(0, i)", lambda: x.index_select(0, nb.tensor([1, 0])),
         "IndexSelectBackward0"),
        ("x.masked_fill(m, 0.0)", lambda: x.masked_fill(mask, 0.0), "MaskedFillBackward0"),
        ("x.masked_fill(m, tensor)", lambda: x.masked_fill(mask, nb.tensor(0.0)),
         "MaskedFillBackward1"),
        ("x.scatter_add(0, i, y)", lambda: x.scatter_add(0, nb.tensor([[0, 1], [1, 0]]), y),
         "ScatterAddBackward0"),
        ("nb.take_along_dim(x, i, 1)", lambda: nb.take_along_dim(x, nb.tensor([[1], [0]]), 1),
         "GatherBackward0"),
        ("x.T", lambda: x.T, "PermuteBackward0"),
        ("v.T", lambda: v.T, "PermuteBackward0"),
        ("x.t()", lambda: x.t(), "TBackward0"),
        ("x.mT", lambda: x.mT, "TransposeBackward0"),
    ]


@pytest.mark.parametrize("expr, make, name", [pytest.param(*c, id=c[0]) for c in _overload_cases()])
def test_overloads_and_multi_part_names_are_named_as_in_pytorch(expr, make, name):
    fn = make().grad_fn
    assert type(fn).__name__ == name and fn.name() == name, expr


def test_an_overload_changes_only_the_node_name():
    x = nb.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (g0,) = nb.autograd.grad(x.sum(), x)
    (g1,) = nb.autograd.grad(x.sum(dim=(0, 1)), x)
    assert g0.tolist() == g1.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    e = nb.tensor([2.0, 3.0], requires_grad=True)
    (ge,) = nb.autograd.grad((2 ** e).sum(), e)
    np.testing.assert_allclose(ge.numpy(), np.log(2) * 2 ** np.array([2.0, 3.0]), rtol=1e-6)
    assert type((x ** x).grad_fn) is node_class("PowBackward1")


def test_linear_without_bias_is_an_mm_node():
    x, w = nb.ones(4, 3), nb.ones(2, 3, requires_grad=True)
    assert type(F.linear(x, w).grad_fn).__name__ == "MmBackward0"


def test_one_class_per_name_shared_by_every_op_that_records_it():
    x, y = leaf(1.0), leaf(2.0)
    assert type((x * y).grad_fn) is type((x * 3).grad_fn) is node_class("MulBackward0")
    mm = nb.ones(2, 2, requires_grad=True)
    assert type((mm @ mm).grad_fn) is type(F.linear(mm, mm).grad_fn)  # both MmBackward0
    assert type((x * y).grad_fn) is not type((x + y).grad_fn)
    assert node_class("MulBackward0").__slots__ == ()  # no per-node dict


def test_a_custom_function_node_is_named_after_the_function():
    class MyFn(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    y = MyFn.apply(leaf(1.0))
    assert type(y.grad_fn).__name__ == "MyFnBackward" and y.grad_fn.name() == "MyFnBackward"
    assert type(y.grad_fn)._forward_cls is MyFn and MyFn._backward_cls is type(y.grad_fn)
    assert type(MyFn.apply(leaf(2.0)).grad_fn) is type(y.grad_fn)

    class Other(nb.autograd.Function):  # another Function of the same name: its own class
        forward, backward = MyFn.forward, MyFn.backward

    Other.__name__ = "MyFn"
    assert type(Other.apply(leaf(1.0)).grad_fn) is not type(y.grad_fn)


def test_once_differentiable_error_node_is_pytorchs_delayed_error():
    class Sq(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @nb.autograd.once_differentiable
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 2 * x

    x = leaf(3.0)
    (g,) = nb.autograd.grad(Sq.apply(x), x, nb.ones(1, requires_grad=True), create_graph=True)
    assert type(g.grad_fn).__name__ == "DelayedError"


# --------------------------------------------------------------------------- next_functions
def test_a_leaf_has_one_accumulate_grad_whoever_asks():
    x = leaf(1.0, 2.0)
    y = x * 2
    acc = y.grad_fn.next_functions[0][0]
    assert type(acc) is AccumulateGrad and acc.name() == "AccumulateGrad"
    assert acc is y.grad_fn.next_functions[0][0] is (x + 1).grad_fn.next_functions[0][0]
    assert acc.variable is x and acc.next_functions == ()
    assert repr(acc).startswith("<AccumulateGrad object at 0x")
    other = leaf(1.0, 2.0)
    assert (other * 2).grad_fn.next_functions[0][0] is not acc


def test_accumulate_grad_and_its_leaf_die_by_reference_counting():
    x = leaf(1.0)
    acc = (x * 2).grad_fn.next_functions[0][0]
    acc.register_hook(lambda grad_inputs, grad_outputs: None)
    refs = weakref.ref(x), weakref.ref(acc)
    gc.disable()
    try:
        del x, acc
        assert refs[0]() is None and refs[1]() is None
    finally:
        gc.enable()


def test_a_copied_leaf_gets_its_own_accumulate_grad():
    x = leaf(1.0)
    acc = AccumulateGrad.of(x)
    y = copy.deepcopy(x)
    assert AccumulateGrad.of(y) is not acc and AccumulateGrad.of(y).variable is y


# --------------------------------------------------------------------------- metadata
def test_metadata_is_a_dict_per_node_made_on_first_use():
    x = leaf(1.0)
    a, b = x * 2, x * 3
    assert a.grad_fn.attached is None
    a.grad_fn.metadata["k"] = 1
    assert a.grad_fn.metadata == {"k": 1} and b.grad_fn.metadata == {}
    acc = a.grad_fn.next_functions[0][0]
    acc.metadata["leaf"] = True
    assert b.grad_fn.next_functions[0][0].metadata == {"leaf": True}


# --------------------------------------------------------------------------- hooks
def test_pre_hook_sees_a_tuple_and_may_replace_the_gradients():
    x = leaf(1.0, 2.0)
    y = x * 3
    seen = []
    h1 = y.grad_fn.register_prehook(lambda go: seen.append(go) or (go[0] * 2,))
    h2 = y.grad_fn.register_prehook(lambda go: seen.append(go[0].tolist()))  # sees h1's result
    y.sum().backward(retain_graph=True)
    assert isinstance(seen[0], tuple) and len(seen[0]) == 1 and seen[1] == [2.0, 2.0]
    assert x.grad.tolist() == [6.0, 6.0]
    h1.remove()
    h2.remove()
    h1.remove()
    x.grad = None
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0] and len(seen) == 2


def test_post_hook_sees_grad_inputs_and_grad_outputs_and_may_replace_grad_inputs():
    x, c = leaf(1.0, 2.0), nb.tensor([5.0, 7.0])
    y = x * c
    calls = []

    def hook(grad_inputs, grad_outputs):
        calls.append((grad_inputs, grad_outputs))
        return (grad_inputs[0] + 1, None)

    y.grad_fn.register_hook(hook)
    y.sum().backward()
    (gi, go), = calls
    assert isinstance(gi, tuple) and isinstance(go, tuple)
    assert gi[0].tolist() == [5.0, 7.0] and gi[1] is None  # c needs no gradient
    assert go[0].tolist() == [1.0, 1.0]
    assert x.grad.tolist() == [6.0, 8.0]


def test_hooks_run_in_pytorchs_order():
    x = leaf(1.0, 2.0)
    y = x * 2
    log = []
    y.register_hook(lambda g: log.append("tensor") or g * 10)
    y.grad_fn.register_prehook(lambda go: log.append(("pre", go[0].tolist())) or (go[0] + 1,))
    y.retain_grad()
    y.grad_fn.register_hook(lambda gi, go: log.append(("post", go[0].tolist(), gi[0].tolist())))
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: log.append(("acc pre", x.grad)) or (go[0] * 0 + 100,))
    acc.register_hook(lambda gi, go: log.append(("acc post", gi, x.grad.tolist())))
    (y * 1).sum().backward()
    assert log == [
        "tensor", ("pre", [10.0, 10.0]), ("post", [11.0, 11.0], [22.0, 22.0]),
        ("acc pre", None), ("acc post", (), [100.0, 100.0]),
    ]
    assert y.grad.tolist() == [11.0, 11.0]  # retain_grad stores what the pre-hooks left
    assert x.grad.tolist() == [100.0, 100.0]


def test_leaf_tensor_hooks_run_before_its_accumulate_grad_pre_hooks():
    x = leaf(1.0)
    log = []
    x.register_hook(lambda g: log.append("tensor") or g * 2)
    AccumulateGrad.of(x).register_prehook(lambda go: log.append(("acc", go[0].item())))
    (x * 3).sum().backward()
    assert log == ["tensor", ("acc", 6.0)] and x.grad.item() == 6.0


def test_autograd_grad_runs_node_hooks_but_accumulates_nothing():
    x = leaf(2.0)
    y = x * x
    log = []
    y.grad_fn.register_hook(lambda gi, go: log.append("post"))
    AccumulateGrad.of(x).register_prehook(lambda go: log.append("acc"))
    (g,) = nb.autograd.grad(y, x)
    assert g.item() == 4.0 and log == ["post"] and x.grad is None


def test_pre_hook_sees_none_for_an_output_without_gradient_and_may_fill_it_in():
    class Two(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 if g2 is None else g1 + 2 * g2

    x = leaf(1.0, 2.0)
    a, b = Two.apply(x)
    seen = []
    a.grad_fn.register_prehook(lambda go: seen.append(go[1]) or (go[0], nb.full((2,), 10.0)))
    a.sum().backward()
    assert seen == [None] and x.grad.tolist() == [21.0, 21.0]


@pytest.mark.parametrize("bad, error, message", [
    (lambda go: go[0], TypeError, "expected tuple, but hook returned 'Tensor'"),
    (lambda go: (go[0], go[0]), RuntimeError, "returned an incorrect number of values"),
    (lambda go: (np.ones(2),), TypeError, "expected Variable or None"),
])
def test_a_pre_hook_returning_the_wrong_thing_raises(bad, error, message):
    y = leaf(1.0, 2.0) * 2
    y.grad_fn.register_prehook(bad)
    with pytest.raises(error, match=message):
        y.sum().backward()


def test_a_post_hook_returning_the_wrong_length_raises():
    y = leaf(1.0) * leaf(2.0)

    def two_into_one(grad_inputs, grad_outputs):
        return (grad_inputs[0],)

    y.grad_fn.register_hook(two_into_one)
    with pytest.raises(RuntimeError, match="hook 'two_into_one' has returned an incorrect "
                                           r"number of values \(got 1, but expected 2\)"):
        y.backward()


def test_hooks_must_be_callable():
    y = leaf(1.0) * 2
    with pytest.raises(TypeError, match="hook must be callable"):
        y.grad_fn.register_hook(3)
    with pytest.raises(TypeError, match="hook must be callable"):
        y.grad_fn.next_functions[0][0].register_prehook(None)


def test_node_hooks_fire_on_each_backward_until_removed():
    x = leaf(1.0)
    y = x.exp()
    count = []
    handle = y.grad_fn.register_hook(lambda gi, go: count.append(1))
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    handle.remove()
    y.backward()
    assert len(count) == 2


def test_the_anomaly_trace_is_kept_with_the_node():
    with nb.autograd.detect_anomaly():
        y = leaf(1.0).exp()
    assert "exp()" in y.grad_fn.trace
    assert (leaf(1.0) * 2).grad_fn.trace is None
