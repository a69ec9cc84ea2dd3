"""Hooks as PyTorch orders and scopes them: tensor hooks, node pre/post hooks, post-accumulate
-grad hooks, retain_grad across in-place ops and views, saved-tensor hooks. Each expected
value was checked against PyTorch 2.13."""

from __future__ import annotations

import pytest

import nbgrad as nb
from nbgrad.autograd.graph import (
    disable_saved_tensors_hooks,
    save_on_cpu,
    saved_tensors_hooks,
)


def _leaf(values=(1.0, 2.0)):
    return nb.tensor(list(values), requires_grad=True)


# ---------------------------------------------------------------------- tensor hooks
def test_hook_registered_before_an_in_place_op_sees_the_gradient_of_the_old_value():
    a = _leaf()
    x = a * 1
    seen = []
    x.register_hook(lambda g: seen.append(("before", g.tolist())))
    x.mul_(3)
    x.register_hook(lambda g: seen.append(("after", g.tolist())))
    (x * x).sum().backward()
    # PyTorch: the hook registered after the in-place op fires first, for the new value;
    # the earlier one receives the gradient with respect to the value before mul_
    assert seen == [("after", [6.0, 12.0]), ("before", [18.0, 36.0])]


def test_hook_on_an_unused_output_of_a_multi_output_op_is_called_with_none():
    class Two(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 + 2 * g2

    seen = []
    p, q = Two.apply(_leaf())
    q.register_hook(lambda g: seen.append(g))
    p.sum().backward()
    assert seen == [None]


def test_autograd_grad_with_respect_to_a_non_leaf_runs_no_leaf_hooks():
    a = nb.tensor([1.0], requires_grad=True)
    fired = []
    a.register_hook(lambda g: fired.append(g))
    y = a * 2
    z = y * 3
    assert nb.autograd.grad(z, y)[0].tolist() == [3.0]
    assert fired == []


def test_autograd_grad_with_respect_to_a_non_leaf_does_not_run_its_node():
    a = nb.tensor([1.0], requires_grad=True)
    y = a * 2
    ran = []
    y.grad_fn.register_prehook(lambda go: ran.append("pre"))
    y.register_hook(lambda g: ran.append("tensor"))
    nb.autograd.grad(y * 3, y)
    assert ran == ["tensor"]  # the tensor hook of y runs; y's own node does not


# ------------------------------------------------------------------- retain_grad
def test_retain_grad_across_an_in_place_op_holds_the_gradient_of_the_new_value():
    a = _leaf()
    x = a * 1
    x.retain_grad()
    x.mul_(2)
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]  # 2 * (2a)


def test_retain_grad_on_a_view_of_a_base_modified_in_place():
    a = _leaf()
    b = a * 1
    v = b[:1]
    v.retain_grad()
    b.mul_(2)
    (v * 5).sum().backward()
    assert v.grad.tolist() == [5.0]


# ------------------------------------------------------------------------ node hooks
def test_order_tensor_hook_then_node_prehook_then_node_hook():
    x = _leaf()
    y = x * 2
    log = []
    y.grad_fn.register_prehook(lambda go: log.append("pre"))
    y.grad_fn.register_hook(lambda gi, go: log.append("post"))
    y.register_hook(lambda g: log.append("tensor"))
    y.sum().backward()
    assert log == ["tensor", "pre", "post"]


def test_register_hook_on_the_accumulate_grad_node():
    x = _leaf()
    acc = (x * 1).grad_fn.next_functions[0][0]
    seen = []
    h = acc.register_hook(lambda gi, go: seen.append((gi, [g.tolist() for g in go])))
    (x * 1).sum().backward()
    h.remove()
    assert seen == [((), [[1.0, 1.0]])]


def test_node_hook_on_any_node_can_replace_grad_inputs():
    x = _leaf()
    y = x.exp()
    y.grad_fn.register_hook(lambda gi, go: (nb.ones(2) * 7,))
    y.sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]


# -------------------------------------------------------- post-accumulate-grad hooks
def test_post_accumulate_grad_hook_runs_after_tensor_hooks_and_sees_grad():
    w = nb.tensor([1.0], requires_grad=True)
    log = []
    w.register_hook(lambda g: log.append("tensor hook"))
    w.register_post_accumulate_grad_hook(lambda p: log.append(("post", p.grad.tolist())))
    (w * 2).sum().backward()
    assert log == ["tensor hook", ("post", [2.0])]


def test_post_accumulate_grad_hook_does_not_run_in_autograd_grad():
    w = nb.tensor([1.0], requires_grad=True)
    log = []
    w.register_post_accumulate_grad_hook(lambda p: log.append(p))
    nb.autograd.grad((w * 2).sum(), w)
    assert log == []


def test_post_accumulate_grad_hook_on_a_non_leaf_raises_like_pytorch():
    y = _leaf() * 2
    with pytest.raises(RuntimeError, match="cannot be registered on non-leaf tensors"):
        y.register_post_accumulate_grad_hook(lambda p: None)


def test_post_accumulate_grad_hook_handle_removes_it():
    w = nb.tensor([1.0], requires_grad=True)
    log = []
    h = w.register_post_accumulate_grad_hook(lambda p: log.append(1))
    h.remove()
    (w * 2).sum().backward()
    assert log == []


# ------------------------------------------------------------------ saved-tensor hooks
def test_saved_tensors_hooks_pack_every_saved_tensor_and_unpack_in_backward():
    calls = []

    def pack(t):
        calls.append(("pack", t.shape))
        return t

    def unpack(t):
        calls.append("unpack")
        return t

    x = _leaf()
    with saved_tensors_hooks(pack, unpack):
        y = x.exp()  # saves its output
        z = y * x  # saves both inputs
    assert calls == [("pack", (2,))] * 3
    z.sum().backward()
    assert calls[3:] == ["unpack"] * 3
    assert x.grad.tolist() == pytest.approx([(1 + v) * 2.718281828 ** v for v in (1.0, 2.0)])


def test_saved_tensors_hooks_work_with_create_graph():
    x = nb.tensor([1.0, 2.0], requires_grad=True, dtype=nb.float64)
    with saved_tensors_hooks(lambda t: t.detach() * 1, lambda t: t):
        y = (x * x * x).sum()
    (g,) = nb.autograd.grad(y, x, create_graph=True)
    assert g.tolist() == [3.0, 12.0] and g.requires_grad
    (gg,) = nb.autograd.grad(g.sum(), x)
    assert gg.tolist() == [6.0, 12.0]


def test_saved_tensors_hooks_second_backward_raises():
    x = _leaf()
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_saved_tensors_hooks_only_apply_inside_the_block():
    packed = []
    x = _leaf()
    with saved_tensors_hooks(lambda t: packed.append(1) or t, lambda t: t):
        pass
    _ = x * x
    assert packed == []


def test_save_on_cpu_gives_the_same_gradients():
    x = _leaf()
    with save_on_cpu():
        y = (x.sin() * x).sum()
    y.backward()
    expected = [(v.cos() * v + v.sin()).item() for v in (nb.tensor(1.0), nb.tensor(2.0))]
    assert x.grad.tolist() == pytest.approx(expected)


def test_disable_saved_tensors_hooks_refuses_new_hooks_with_the_message():
    with disable_saved_tensors_hooks("not in here"), pytest.raises(RuntimeError,
                                                                     match="not in here"):
        with saved_tensors_hooks(lambda t: t, lambda t: t):
            pass
    with saved_tensors_hooks(lambda t: t, lambda t: t):  # allowed again outside
        pass


def test_hooks_on_views_registered_before_an_in_place_op_on_the_base_do_not_fire():
    # PyTorch's test_tensor_hooks_inplace_over_view: the views' old nodes leave the graph
    fired = []
    base = nb.tensor([1.0], requires_grad=True).clone()
    view = base[:]
    view2 = base[:]
    view.register_hook(lambda g: fired.append("view, before"))
    view2.register_hook(lambda g: fired.append("view2, before"))
    view.mul_(2)
    view2.register_hook(lambda g: fired.append(("view2, after", g.tolist())))
    (view + view2).sum().backward()
    assert fired == [("view2, after", [1.0])]


def test_retain_grad_moves_to_the_base_node_after_an_in_place_op_through_a_view():
    x = nb.tensor([1.0], requires_grad=True).clone()
    x.retain_grad()
    x_view = x[:]
    x_view *= 2
    x *= 2
    x.sum().backward()
    assert x.grad.tolist() == [1.0]  # the gradient of the latest value of x


def test_output_nr_of_a_multi_output_function():
    class Two(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x[:1], x[1:]

        @staticmethod
        def backward(ctx, a, b):
            return nb.cat([a, b])

    a, b = Two.apply(_leaf())
    assert (a.output_nr, b.output_nr) == (0, 1)


def test_disable_saved_tensors_hooks_inside_active_hooks_raises_and_decorates():
    with saved_tensors_hooks(lambda t: t, lambda t: t), pytest.raises(RuntimeError,
                                                                        match="msg"):
        with disable_saved_tensors_hooks("msg"):
            pass

    @disable_saved_tensors_hooks("decorated")
    def f():
        with saved_tensors_hooks(lambda t: t, lambda t: t):
            pass

    with pytest.raises(RuntimeError, match="decorated"):
        f()


def test_unpack_hook_must_return_a_tensor():
    x = _leaf()
    with saved_tensors_hooks(lambda t: 5, lambda t: t):
        y = x * x
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor"):
        y.sum().backward()


def test_the_value_unpack_returns_is_what_backward_uses():
    x = _leaf()
    with saved_tensors_hooks(lambda t: t, lambda t: t * 2):
        y = x * x
    y.sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]  # 2 * (2x): each saved x came back doubled


def test_a_gradient_kept_by_a_hook_is_not_changed_by_the_next_backward():
    x = _leaf()
    kept = []
    x.register_hook(lambda g: kept.append(g))
    (x * 2).sum().backward()
    (x * 2).sum().backward()  # accumulates into x.grad in place
    assert x.grad.tolist() == [4.0, 4.0]
    assert kept[0].tolist() == [2.0, 2.0]
