"""Views, in-place ops and version counters.

Views share storage and the version counter with their base; each in-place op bumps that counter
exactly once; a tensor saved for backward and modified afterwards is caught at backward; in-place
updates of views of non-leaf tensors are differentiated like their out-of-place equivalent.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck
from nbgrad.autograd.graph import unsafe_preserve_version_counter


def phrase(text: str) -> str:
    """A ``match=`` pattern for an API.md error phrase (case-insensitive, literal)."""
    return "(?i)" + re.escape(text)


MODIFIED = phrase("modified by an inplace operation")
LEAF = phrase("a leaf variable that requires grad")
NO_GRAD_VIEW = phrase("view was created in no_grad mode")


def f64(data, requires_grad=True):
    return nb.tensor(data, dtype=nb.float64, requires_grad=requires_grad)


# --------------------------------------------------------------------------- views
VIEWS = {
    "view": lambda a: a.view(6, 4),
    "view_infer": lambda a: a.view(-1, 12),
    "reshape": lambda a: a.reshape(4, 6),
    "transpose": lambda a: a.transpose(0, -1),
    "t": lambda a: a[0].t(),
    "T": lambda a: a.T,
    "permute": lambda a: a.permute(2, 0, 1),
    "permute_negative": lambda a: a.permute(-1, -3, -2),
    "expand": lambda a: a[:, :1].expand(2, 5, 4),
    "squeeze": lambda a: a[:, :1].squeeze(),
    "squeeze_dim": lambda a: a[:, :1].squeeze(-2),
    "unsqueeze": lambda a: a.unsqueeze(1),
    "unsqueeze_negative": lambda a: a.unsqueeze(-1),
    "flatten": lambda a: a.flatten(),
    "flatten_range": lambda a: a.flatten(1, -1),
    "narrow": lambda a: a.narrow(-1, 1, 2),
    "index_int": lambda a: a[1],
    "index_negative": lambda a: a[-1, -2],
    "index_scalar": lambda a: a[1, 2, 3],
    "index_slice": lambda a: a[:, 1:3],
    "index_step": lambda a: a[..., ::2],
    "index_none": lambda a: a[..., None],
    "index_none_middle": lambda a: a[:, None, 1],
    "index_ellipsis": lambda a: a[..., 1],
}


def _base():
    return nb.zeros(2, 3, 4)


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_shares_storage_and_counter(name):
    base = _base()
    v = VIEWS[name](base)
    assert np.shares_memory(v.numpy(), base.numpy())
    assert v._version == base._version == 0
    base.add_(1)
    assert v._version == base._version == 1
    assert (v.numpy() == 1).all()  # the view sees the base's change


@pytest.mark.parametrize("name", [n for n in VIEWS if n != "expand"])
def test_write_through_view_reaches_base(name):
    base = _base()
    v = VIEWS[name](base)
    v.fill_(7)
    assert v._version == base._version == 1
    expected = np.zeros((2, 3, 4))
    VIEWS[name](nb.from_numpy(expected)).fill_(7)
    np.testing.assert_array_equal(base.numpy(), expected)


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_gradients(name):
    rng = np.random.default_rng(0)
    x = nb.tensor(rng.standard_normal((2, 3, 4)), dtype=nb.float64, requires_grad=True)
    assert gradcheck(VIEWS[name], (x,))
    assert gradgradcheck(VIEWS[name], (x,))
    y = VIEWS[name](x)
    assert y.requires_grad and not y.is_leaf


def test_view_values_match_numpy():
    base = nb.arange(24.0).reshape(2, 3, 4)
    a = base.numpy()
    np.testing.assert_array_equal(base.permute(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(base[..., None].numpy(), a[..., None])
    np.testing.assert_array_equal(base[:, None, 1].numpy(), a[:, None, 1])
    np.testing.assert_array_equal(base.narrow(1, 1, 2).numpy(), a[:, 1:3])
    np.testing.assert_array_equal(base[-1, ::2].numpy(), a[-1, ::2])
    np.testing.assert_array_equal(base.transpose(-1, 0).numpy(), a.swapaxes(-1, 0))


def test_detach_shares_counter_but_data_does_not():
    x = nb.ones(3)
    d = x.detach()
    assert np.shares_memory(d.numpy(), x.numpy())
    d.add_(1)
    assert x._version == 1
    x.data.add_(1)  # .data is an untracked alias
    assert x._version == 1 and x.tolist() == [3.0, 3.0, 3.0]


def test_view_of_view_chain_shares_one_counter():
    x = nb.zeros(4, 4)
    v = x[1:].t()[::2].unsqueeze(0)
    v.add_(1)
    assert x._version == v._version == 1


def test_reshape_of_non_contiguous_copies():
    x = nb.arange(6.0).reshape(2, 3).t()
    r = x.reshape(6)
    assert not np.shares_memory(r.numpy(), x.numpy())
    assert r.tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    with pytest.raises(RuntimeError, match="view"):
        x.view(6)


def test_view_shape_errors():
    x = nb.zeros(2, 3)
    with pytest.raises(RuntimeError, match=r"\(4, 2\)"):
        x.view(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension"):
        x.view(-1, -1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.transpose(0, 2)
    with pytest.raises(RuntimeError, match="permutation"):
        x.permute(0, 0)
    with pytest.raises(RuntimeError, match="expand"):
        x.expand(2, 4)
    with pytest.raises(IndexError):
        x[2]


# --------------------------------------------------------------------------- version bumps
def _iadd(t):
    t += 1


def _isub(t):
    t -= 1


def _imul(t):
    t *= 2


def _idiv(t):
    t /= 2


INPLACE = {
    "add_": lambda t: t.add_(1),
    "add_tensor": lambda t: t.add_(nb.ones(3)),
    "sub_": lambda t: t.sub_(1),
    "mul_": lambda t: t.mul_(nb.full((2, 1), 2.0)),
    "div_": lambda t: t.div_(2),
    "pow_": lambda t: t.pow_(2),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(3),
    "fill_tensor": lambda t: t.fill_(nb.tensor(3.0)),
    "copy_": lambda t: t.copy_(nb.ones(3)),
    "setitem_int": lambda t: t.__setitem__(0, 5.0),
    "setitem_slice": lambda t: t.__setitem__((slice(None), slice(1, None)), 5.0),
    "setitem_tensor_value": lambda t: t.__setitem__(1, nb.tensor([1.0, 2.0, 3.0])),
    "setitem_advanced": lambda t: t.__setitem__(nb.tensor([0, 1]), 5.0),
    "setitem_list": lambda t: t.__setitem__([1], 5.0),
    "setitem_mask": lambda t: t.__setitem__(t > 2, 0.0),
    "iadd": _iadd, "isub": _isub, "imul": _imul, "idiv": _idiv,
    "exp_": lambda t: t.exp_(),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_bumps_exactly_once(name):
    t = nb.arange(6.0).reshape(2, 3)
    view = t[1]
    alias = t.detach()
    before = t._version
    out = INPLACE[name](t)
    assert t._version == before + 1
    assert view._version == alias._version == t._version
    if out is not None:
        assert out is t


@pytest.mark.parametrize("name", [n for n in INPLACE if not n.startswith("setitem_mask")])
def test_inplace_through_view_bumps_base_once(name):
    base = nb.arange(12.0).reshape(2, 2, 3)
    v = base[1]
    INPLACE[name](v)
    assert base._version == 1 and v._version == 1


def test_inplace_values():
    t = nb.arange(6.0).reshape(2, 3)
    t[0] = 5.0
    t[:, 1:] += 1
    t[t > 5] = 0.0
    assert t.tolist() == [[5.0, 0.0, 0.0], [3.0, 5.0, 0.0]]
    t[nb.tensor([1])] = nb.tensor([[9.0, 8.0, 7.0]])
    assert t[1].tolist() == [9.0, 8.0, 7.0]
    t.copy_(nb.tensor([1, 2, 3]))  # broadcast and cast
    assert t.tolist() == [[1.0, 2.0, 3.0]] * 2


def test_out_of_place_results_start_fresh():
    x = nb.ones(3)
    x.add_(1)
    for y in (x + 1, x.clone(), x.exp(), x.sum()):
        assert y._version == 0 and y._version_counter is not x._version_counter
    assert x._version == 1  # reading x did not bump it


@pytest.mark.parametrize("mode", [nb.no_grad, nb.inference_mode])
def test_bumps_happen_in_every_mode(mode):
    x = nb.ones(3)
    w = nb.ones(3, requires_grad=True)
    with mode():
        x.add_(1)
        x[0] = 2.0
        w.mul_(2)
    assert x._version == 2 and w._version == 1
    assert not x.is_inference() and not w.is_inference()


def test_inplace_dtype_and_shape_errors():
    i = nb.arange(3)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.div_(2)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(1.5)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        nb.ones(3).add_(nb.ones(2, 3))
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)"):
        nb.ones(2, 3).copy_(nb.ones(4))
    with pytest.raises(TypeError):
        nb.ones(3).mul_("a")
    assert i._version == 0  # refused before any write


def test_inplace_keeps_own_dtype():
    t = nb.ones(2)
    t.add_(nb.ones(2, dtype=nb.float64))
    assert t.dtype is nb.float32 and t.tolist() == [2.0, 2.0]
    i = nb.tensor([1, 2], dtype=nb.int32)
    i.mul_(3)
    assert i.dtype is nb.int32 and i.tolist() == [3, 6]


def test_inplace_on_non_contiguous_view():
    x = nb.arange(6.0).reshape(2, 3)
    x.t().mul_(nb.tensor([1.0, 10.0]))
    assert x.tolist() == [[0.0, 1.0, 2.0], [30.0, 40.0, 50.0]]
    x.t().exp_()
    np.testing.assert_allclose(x.numpy(), np.exp([[0, 1, 2], [30, 40, 50]]), rtol=1e-6)


# --------------------------------------------------------------------------- saved tensors
def _expect_version_error(fn, found, expected):
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        fn()
    assert f"is at version {found}; expected version {expected} instead" in str(info.value)
    return str(info.value)


def test_saved_input_modified():
    x = nb.ones(3, requires_grad=True)
    w = nb.ones(3)
    loss = (x * w).sum()
    w.add_(1)  # no error yet: the saved version is checked at backward
    _expect_version_error(loss.backward, 1, 0)


def test_saved_non_leaf_names_its_grad_fn():
    x = nb.ones(3, requires_grad=True)
    y = x * 1
    z = (y * y).sum()
    y.add_(1)
    msg = _expect_version_error(z.backward, 1, 0)
    assert "output 0 of AddBackward0" in msg


def test_saved_output_modified():
    x = nb.ones(3, requires_grad=True)
    y = x.exp()  # exp saves its output
    y.mul_(2)
    _expect_version_error(lambda: y.sum().backward(), 1, 0)


def test_modified_twice_reports_found_version():
    x = nb.ones(3, requires_grad=True)
    w = nb.ones(3)
    loss = (x * w).sum()
    w.add_(1)
    w.add_(1)
    _expect_version_error(loss.backward, 2, 0)


def test_modified_through_view():
    x = nb.ones(3, requires_grad=True)
    b = nb.ones(3)
    loss = (x * b).sum()
    b[:1].mul_(2)
    _expect_version_error(loss.backward, 1, 0)


def test_modified_through_detach():
    x = nb.ones(3, requires_grad=True)
    b = nb.ones(3)
    loss = (x * b).sum()
    b.detach().mul_(2)
    _expect_version_error(loss.backward, 1, 0)


def test_leaf_modified_under_no_grad():
    x = nb.ones(5, requires_grad=True)
    y = nb.ones(5, requires_grad=True)
    z = x * y
    with nb.no_grad():
        x *= 2
    _expect_version_error(lambda: z.sum().backward(), 1, 0)


def test_modified_after_save_but_not_saved_is_fine():
    x = nb.ones(3, requires_grad=True)
    w = nb.ones(3)
    loss = (x + w).sum()  # add saves nothing
    w.add_(1)
    loss.backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


# --------------------------------------------------------------------------- leaves
def test_inplace_on_leaf_requiring_grad_refused():
    w = nb.ones(3, requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.copy_(nb.zeros(3)),
               lambda: w.__setitem__(0, 2.0), lambda: w[1:].mul_(2)):
        with pytest.raises(RuntimeError, match=LEAF):
            op()
    assert w._version == 0 and w.tolist() == [1.0, 1.0, 1.0]


def test_iadd_on_leaf_refused():
    w = nb.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=LEAF):
        w += 1


def test_optimizer_idiom_under_no_grad():
    w = nb.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with nb.no_grad():
        w.sub_(0.5 * w.grad)
    assert w.tolist() == [0.0, 0.0]
    assert w.is_leaf and w.requires_grad and w.grad_fn is None and w._version == 1
    with nb.no_grad():
        w[0] = 3.0
    assert w._version == 2 and w.is_leaf
    (w * 2).sum().backward()  # still usable as a parameter
    assert w.grad.tolist() == [2.0 + 2.0, 2.0 + 4.0]


# --------------------------------------------------------------------------- differentiation
def test_inplace_on_unsaved_non_leaf_rebases():  # nothing saved it: legal, graph rebased
    a = nb.ones(3, requires_grad=True)
    y = a * 2
    y.add_(1)
    assert y.grad_fn.name() == "AddBackward0" and not y.is_leaf
    y.sum().backward()
    assert a.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("overwrite", [
    lambda y: y.zero_(), lambda y: y.fill_(2.0), lambda y: y.copy_(nb.ones(3)),
    lambda y: y.__setitem__(slice(None), 4.0),
])
def test_overwritten_values_get_zero_gradient(overwrite):
    a = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = a * 1
    overwrite(y)
    (g,) = nb.autograd.grad(y.sum(), a)  # a was used: a zero gradient, not "unused"
    assert g.tolist() == [0.0, 0.0, 0.0]


def test_fill_with_tensor_value_is_differentiable():
    a = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = nb.tensor(2.0, requires_grad=True)
    y = a * 1
    y[1:].fill_(b)
    y.sum().backward()
    assert a.grad.tolist() == [1.0, 0.0, 0.0] and b.grad.item() == 2.0


def test_inplace_into_plain_tensor_makes_it_non_leaf():
    x = nb.ones(3)
    y = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.mul_(y)
    assert not x.is_leaf and x.requires_grad
    x.sum().backward()
    assert y.grad.tolist() == [1.0, 1.0, 1.0]


def _grads(fn, *inputs):
    out = fn(*inputs)
    return nb.autograd.grad(out.sum(), inputs, allow_unused=True, materialize_grads=True)


def _check_against_out_of_place(inplace_fn, reference_fn, *data):
    xs = [f64(d) for d in data]
    ys = [f64(d) for d in data]
    out_in, out_ref = inplace_fn(*xs), reference_fn(*ys)
    np.testing.assert_allclose(out_in.detach().numpy(), out_ref.detach().numpy())
    for g_in, g_ref in zip(_grads(inplace_fn, *xs), _grads(reference_fn, *ys)):
        np.testing.assert_allclose(g_in.numpy(), g_ref.numpy())
    assert gradcheck(inplace_fn, [f64(d) for d in data])


def test_setitem_on_copy_of_leaf():
    def inplace(x, z):
        y = x * 1
        y[0] = z * 2
        return y * y

    def reference(x, z):
        first = nb.tensor([1.0, 0.0, 0.0], dtype=nb.float64)
        return (x * (1 - first) + z * 2 * first) ** 2

    _check_against_out_of_place(inplace, reference, [1.0, 2.0, 3.0], 4.0)


def test_setitem_of_non_leaf_documented_case():
    x = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = nb.tensor(2.0, requires_grad=True)
    y = x * 1
    y[0] = z * 2
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0] and z.grad.item() == 2.0


def test_view_mul_of_clone():
    def inplace(a, b):
        y = a.clone()
        y[:, 1].mul_(b)
        return y * y

    def reference(a, b):
        col = nb.tensor([0.0, 1.0, 0.0], dtype=nb.float64)
        factor = 1 + col * (b.unsqueeze(1) - 1)  # b in column 1, ones elsewhere
        return (a * factor) ** 2

    _check_against_out_of_place(inplace, reference, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [1.5, 2.0])


def test_setitem_into_zeros():
    w = nb.tensor([1.0, 2.0], requires_grad=True)
    out = nb.zeros(3)
    out[1] = w.sum()
    assert out.grad_fn is not None and out.tolist() == [0.0, 3.0, 0.0]
    (out * nb.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]

    def fn(w):
        out = nb.zeros(3, dtype=nb.float64)
        out[1] = (w * w).sum()
        return out * 3

    assert gradcheck(fn, [f64([1.0, 2.0])])


@pytest.mark.parametrize("case", [
    "slice_mul", "view_of_view", "transposed_setitem", "advanced_setitem", "mask_setitem",
    "copy_into_view", "iadd_view", "pow_view", "base_changed_after_view", "two_views",
    "row_loop", "overlapping_setitem",
])
def test_inplace_views_gradcheck(case):
    def fn(a, b):
        y = a * 1
        if case == "slice_mul":
            y[1:].mul_(b)
        elif case == "view_of_view":
            y[1:][1:].mul_(b[1:])
        elif case == "transposed_setitem":
            y2 = y.reshape(2, 2)
            y2.t()[0] = b[:2] * 3
        elif case == "advanced_setitem":
            y[nb.tensor([0, 2])] = b[:2] * b[:2]
        elif case == "mask_setitem":
            y[y > 1.5] = 0.0
            y = y * b.sum()
        elif case == "copy_into_view":
            y[:3].copy_(b.exp())
        elif case == "iadd_view":
            v = y[::2]
            v += b[:2]
        elif case == "pow_view":
            y[2:].pow_(2)
            y = y * b.sum()
        elif case == "base_changed_after_view":
            v = y[:2]
            y.mul_(b.sum())
            y = v * 1
        elif case == "two_views":
            v1, v2 = y[:2], y[1:]
            v1.mul_(b[:2])
            y = v2 * 1
        elif case == "row_loop":
            y2 = y.view(2, 2)
            for i in range(2):
                y2[i] = y2[i] * (i + 2) + b[i]  # saves nothing of y2[i]: legal
        elif case == "overlapping_setitem":
            y[1:] = y[:3] + b  # reads what it overwrites
        return y * y

    a = f64([1.0, 2.0, 3.0, 4.0])
    b = f64([0.5, 1.5, 2.5])
    assert gradcheck(fn, [a, b])


def test_grad_fn_of_written_base_and_view():
    a = nb.ones(3, requires_grad=True)
    y = a * 2
    v = y[1:]
    v.mul_(3)
    assert y.grad_fn.name() == "CopySlices"
    assert v.grad_fn is not None and v.requires_grad
    y.sum().backward()
    assert a.grad.tolist() == [2.0, 6.0, 6.0]


def test_view_sees_base_history_after_base_inplace():
    a = nb.tensor([1.0, 2.0], requires_grad=True)
    y = a * 1
    v = y[0]
    y.mul_(3)
    (v * 1).backward()
    assert a.grad.tolist() == [3.0, 0.0]


def test_copy_into_view_of_plain_tensor():
    x = nb.ones(3)
    y = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[1:].copy_(y[:2] * 2)
    assert x._version == 1 and x.grad_fn.name() == "CopySlices"
    x.sum().backward()
    assert y.grad.tolist() == [2.0, 2.0, 0.0]


# --------------------------------------------------------------------------- views made in no_grad
def test_view_made_in_no_grad_modified_with_grad_on():
    x = nb.ones(3, requires_grad=True)
    y = x * 1
    with nb.no_grad():
        v = y[:2]
    with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
        v.add_(1)
    with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
        v[0] = 2.0
    assert y._version == 0


def test_view_of_leaf_made_in_no_grad():
    x = nb.ones(3, requires_grad=True)
    with nb.no_grad():
        v = x[:2]
    with pytest.raises(RuntimeError, match=NO_GRAD_VIEW):
        v.mul_(2)


def test_view_and_inplace_both_inside_no_grad():
    x = nb.ones(3, requires_grad=True)
    y = x * 1
    with nb.no_grad():
        v = y[:2]
        v.add_(1)
    assert y.tolist() == [2.0, 2.0, 1.0] and y._version == 1
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]  # the untracked change adds no gradient


def test_view_and_inplace_both_outside():
    x = nb.ones(3, requires_grad=True)
    y = x * 1
    v = y[:2]
    v.mul_(3)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 1.0]


def test_no_grad_view_of_tensor_without_grad_is_fine():
    x = nb.ones(3)
    with nb.no_grad():
        v = x[:2]
    v.add_(1)
    assert x.tolist() == [2.0, 2.0, 1.0]


# --------------------------------------------------------------------------- unsafe preserve
def test_unsafe_preserve_version_counter():
    x = nb.ones(3, requires_grad=True)
    w = nb.ones(3)
    loss = (x * w).sum()
    with unsafe_preserve_version_counter(w):
        w.add_(1)
        assert w._version == 1
    assert w._version == 0
    loss.backward()  # the change is hidden from the saved-tensor check
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_unsafe_preserve_restores_on_error_and_handles_several():
    a, b = nb.zeros(2), nb.zeros(2)
    b.add_(1)
    with pytest.raises(KeyError):
        with unsafe_preserve_version_counter([a, b]):
            a.add_(1)
            b.add_(1)
            raise KeyError
    assert a._version == 0 and b._version == 1
    assert nb.autograd.graph.unsafe_preserve_version_counter is unsafe_preserve_version_counter
