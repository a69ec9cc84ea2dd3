"""Inference mode and inference tensors at the tensor level.

PyTorch quirks that are not part of the contract (``detach()`` of an inference tensor reporting
``_version`` 0 instead of raising, an inference leaf that requires grad giving an untracked ``r*r``
but a tracked ``r+1``) are deliberately not pinned here.
"""

from __future__ import annotations

import re
import threading

import pytest

import nbgrad as nb


def phrase(text: str) -> str:
    """A ``match=`` pattern for an API.md error phrase (case-insensitive, literal)."""
    return "(?i)" + re.escape(text)


NO_VERSION = phrase("inference tensors do not track version counter")
SET_REQUIRES_GRAD = phrase("inference tensor outside inferencemode")
INPLACE = phrase("inplace update to inference tensor outside inferencemode")
SAVED = phrase("inference tensors cannot be saved for backward")
INFERENCE_VIEW = phrase("view was created in inference mode")


def inference_tensor(*shape):
    with nb.inference_mode():
        return nb.ones(*shape)


# --------------------------------------------------------------------------- entering and leaving
def test_leaving_inference_mode_restores_the_whole_state():
    with nb.inference_mode():
        assert not nb.is_grad_enabled() and nb.is_inference_mode_enabled()
        nb.set_grad_enabled(True)
        assert nb.is_grad_enabled()
    assert nb.is_grad_enabled() and not nb.is_inference_mode_enabled()
    with nb.no_grad():
        with nb.inference_mode():
            nb.set_grad_enabled(True)
        assert not nb.is_grad_enabled()  # restored to the no_grad state it was entered in


def test_inference_mode_false_turns_grad_on_for_tensors():
    x = nb.ones(2, requires_grad=True)
    with nb.no_grad():
        with nb.inference_mode(False):
            assert nb.is_grad_enabled() and not nb.is_inference_mode_enabled()
            y = x * 2
        assert not nb.is_grad_enabled()
    assert y.requires_grad and not y.is_inference()


def test_enable_grad_inside_inference_records_nothing():
    x = nb.ones(2, requires_grad=True)
    with nb.inference_mode():
        with nb.enable_grad():
            assert nb.is_grad_enabled() and nb.is_inference_mode_enabled()
            y = x * 2
        with nb.set_grad_enabled(True):
            z = x + 1
        with nb.no_grad():
            assert nb.is_inference_mode_enabled()
    for t in (y, z):
        assert not t.requires_grad and t.grad_fn is None and t.is_inference()


# -------------------------------------------------------------- which tensors are inference tensors
def test_tensors_allocated_in_inference_mode_are_inference_tensors():
    x = nb.ones(3, requires_grad=True)
    n = nb.ones(3)
    with nb.inference_mode():
        made = [nb.ones(2), nb.zeros(2), nb.tensor([1.0]), nb.arange(3), nb.rand(2),
                nb.ones_like(n), x * 2, x.exp(), n + 1, x.sum(), x.clone(), nb.ones(2, 2) @ n[:2]]
        view_of_normal = x[:2]
    assert all(t.is_inference() for t in made)
    assert not x.is_inference() and not n.is_inference()
    assert not view_of_normal.is_inference()  # a view is an inference tensor iff its base is


def test_requires_grad_in_inference_mode():
    x = nb.ones(2, requires_grad=True)
    with nb.inference_mode():
        p = nb.ones(2, requires_grad=True)
        q = nb.zeros(2)
        q.requires_grad_()
        y = x * p
    assert p.requires_grad and p.is_inference() and p.is_leaf
    assert q.requires_grad and q.is_inference()
    assert not y.requires_grad and y.grad_fn is None  # functional outputs never require grad


# ---------------------------------------------------------------- version counter and requires_grad
def test_inference_tensors_have_no_version_counter():
    c = inference_tensor(2)
    with pytest.raises(RuntimeError, match=NO_VERSION):
        _ = c._version
    with nb.inference_mode():
        with pytest.raises(RuntimeError, match=NO_VERSION):
            _ = c._version
    assert nb.ones(2)._version == 0


def test_setting_requires_grad_on_inference_tensor_outside():
    c = inference_tensor(2)
    with pytest.raises(RuntimeError, match=SET_REQUIRES_GRAD):
        c.requires_grad_()
    with pytest.raises(RuntimeError, match=SET_REQUIRES_GRAD):
        c.requires_grad = True
    assert not c.requires_grad
    assert c.requires_grad_(False) is c  # turning it off is allowed
    with nb.inference_mode():
        c.requires_grad_()  # allowed inside
    assert c.requires_grad


# --------------------------------------------------------------------------- in-place updates
def _iadd(t):
    t += 1


@pytest.mark.parametrize("update", [
    lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(), lambda t: t.fill_(3),
    lambda t: t.copy_(nb.zeros(3)), lambda t: t.__setitem__(0, 5.0),
    lambda t: t.__setitem__(nb.tensor([0, 1]), 5.0), lambda t: t.exp_(), _iadd,
    lambda t: t[1:].add_(1),
])
def test_inplace_on_inference_tensor_outside_refused_before_writing(update):
    c = inference_tensor(3)
    for mode in (nb.enable_grad, nb.no_grad):
        with mode():
            with pytest.raises(RuntimeError, match=INPLACE):
                update(c)
    assert c.tolist() == [1.0, 1.0, 1.0]  # nbgrad checks before it writes
    with nb.inference_mode(False):
        with pytest.raises(RuntimeError, match=INPLACE):
            update(c)  # inference_mode(False) does not unlock an existing inference tensor


def test_inplace_on_inference_tensor_inside_allowed():
    c = inference_tensor(3)
    with nb.inference_mode():
        c.add_(1)
        c[0] = 5.0
        c.mul_(nb.ones(3))
    assert c.tolist() == [5.0, 2.0, 2.0] and c.is_inference()


def test_accumulator_pitfall_and_workaround():
    with nb.inference_mode():
        total = nb.zeros(())
        for _ in range(3):
            total += nb.ones(())
    with pytest.raises(RuntimeError, match=INPLACE):
        total /= 3
    normal = total.clone()
    normal /= 3
    assert normal.item() == 1.0 and not normal.is_inference()


# --------------------------------------------------------------------------- saving for backward
def test_saving_inference_tensor_raises_at_forward():
    c = inference_tensor(3)
    x = nb.ones(3, requires_grad=True)
    for fn in (lambda: c * x, lambda: x * c, lambda: x / c, lambda: c @ x,
               lambda: x ** c, lambda: c ** x):
        with pytest.raises(RuntimeError, match=SAVED):
            fn()


def test_ops_saving_nothing_accept_inference_tensors():
    c = inference_tensor(3)
    s = nb.ones(3, requires_grad=True)
    y = c + s
    assert y.requires_grad and not y.is_inference()
    (y - c).sum().backward()
    assert s.grad.tolist() == [1.0, 1.0, 1.0]


def test_inference_output_into_trainable_layer():
    w = nb.ones(2, 2, requires_grad=True)
    with nb.inference_mode():
        features = nb.ones(3, 2) * 2
    with pytest.raises(RuntimeError, match=SAVED):
        features @ w
    out = features.clone() @ w  # the documented workaround
    out.sum().backward()
    assert w.grad.tolist() == [[6.0, 6.0], [6.0, 6.0]]


def test_no_save_error_when_nothing_requires_grad():
    c = inference_tensor(3)
    assert (c * nb.ones(3)).tolist() == [1.0, 1.0, 1.0]
    with nb.no_grad():
        assert (c * nb.ones(3, requires_grad=True)).sum().item() == 3.0


# -------------------------------------------------- functional ops and views outside inference mode
def test_functional_op_on_inference_tensor_outside_gives_normal_tensor():
    c = inference_tensor(3)
    for y in (c * 2, c.exp(), c + nb.ones(3), c.sum(), c.clone()):
        assert not y.is_inference() and y.is_leaf and not y.requires_grad
        y.add_(1)  # mutable
        assert y._version == 1


def test_views_of_inference_tensors():
    c = inference_tensor(2, 3)
    with nb.inference_mode():
        inside = c[0]
    outside = [c[0], c.t(), c.view(6), c.unsqueeze(0), c.reshape(3, 2), c.T, c[..., None]]
    for v in (inside, *outside):
        assert v.is_inference() and not v.requires_grad
        with pytest.raises(RuntimeError, match=INPLACE):
            v.add_(1)
        with pytest.raises(RuntimeError, match=NO_VERSION):
            _ = v._version


# ------------------------------------------------------------- normal tensors inside inference mode
def test_inplace_on_normal_tensor_inside_inference():
    n = nb.ones(3)
    w = nb.ones(3, requires_grad=True)
    with nb.inference_mode():
        n.add_(1)
        nv = n[:2]
    assert not n.is_inference() and n._version == 1
    assert not nv.is_inference() and nv._version == n._version
    nv.mul_(2)  # base does not require grad: fine in normal mode
    assert n._version == 2 and n.tolist() == [4.0, 4.0, 2.0]
    y = w * 1
    with nb.inference_mode():
        y.add_(1)
    assert y.requires_grad and not y.is_inference() and y._version == 1


def test_version_bump_inside_inference_makes_later_backward_fail():
    w = nb.ones(3, requires_grad=True)
    z = w * 3
    loss = (z * z).sum()
    with nb.inference_mode():
        z.add_(1)
    assert z.requires_grad and not z.is_inference()
    with pytest.raises(RuntimeError, match=phrase("modified by an inplace operation")):
        loss.backward()


def test_view_made_in_inference_modified_in_normal_mode():
    w = nb.ones(3, requires_grad=True)
    z = w * 2
    with nb.inference_mode():
        zv = z[:2]
        wv = w[:2]
    assert not zv.is_inference() and zv._version == z._version
    with pytest.raises(RuntimeError, match=INFERENCE_VIEW):
        zv.add_(1)
    with pytest.raises(RuntimeError, match=INFERENCE_VIEW):
        wv.mul_(2)
    assert z._version == 0 and z.tolist() == [2.0, 2.0, 2.0]
    with nb.inference_mode():
        zv.add_(1)  # both inside: fine
    assert z.tolist() == [3.0, 3.0, 2.0]


def test_base_modified_then_inference_view_grad_fn():
    w = nb.ones(3, requires_grad=True)
    z = w * 2
    with nb.inference_mode():
        zv = z[:2]
    assert zv.grad_fn is None
    z.add_(1)
    with pytest.raises(RuntimeError, match=phrase(
            "view was created in inference mode and its base or another view of its base has "
            "been modified inplace")):
        _ = zv.grad_fn


# --------------------------------------------------------------------- mixing in-place ops; threads
def test_inplace_mixing_normal_and_inference_tensors():
    c = inference_tensor(3)
    a = nb.ones(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match=SAVED):
        a.mul_(c)
    assert a._version == 0
    a.add_(c)  # add saves nothing
    assert a.tolist() == [2.0, 2.0, 2.0]
    s = nb.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=INPLACE):
        c.copy_(s * 2)  # writing into an inference tensor outside inference mode


def test_new_threads_do_not_inherit_inference_mode():
    seen = {}

    def worker():
        seen["mode"] = nb.is_inference_mode_enabled()
        seen["tensor"] = nb.ones(2).is_inference()

    with nb.inference_mode():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == {"mode": False, "tensor": False}


# --------------------------------------------------------------------------- backward
def test_backward_inside_inference_mode_gives_normal_grads():
    x = nb.ones(2, requires_grad=True)
    loss = (x * x).sum()
    with nb.inference_mode():
        loss.backward()
    assert not x.grad.is_inference() and x.grad.tolist() == [2.0, 2.0]
    (x * x).sum().backward()  # accumulating outside works
    assert x.grad.tolist() == [4.0, 4.0]
