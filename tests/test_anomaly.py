"""Anomaly detection: the nan/inf check names the backward node, its forward op and the stack
where the op was created; errors in backward get the forward stack; the "modified by an
inplace operation" error gets the stack of the in-place op; the switches restore state."""

from __future__ import annotations

import math

import pytest

import nbgrad as nb
from nbgrad.autograd.anomaly import is_anomaly_check_nan_enabled, is_anomaly_enabled


@pytest.fixture(autouse=True)
def _anomaly_off_after_each_test():
    yield
    nb.autograd.set_detect_anomaly(False)


def make_nan_gradient(x):
    """A forward whose backward divides by zero: d(sqrt)/dx at 0 is inf."""
    return x.sqrt().sum()


def test_nan_gradient_names_the_forward_op_and_its_creation_stack():
    x = nb.tensor([0.0, 1.0], requires_grad=True)
    with nb.autograd.detect_anomaly():
        assert is_anomaly_enabled()
        y = make_nan_gradient(x)
        with pytest.raises(RuntimeError) as info:
            y.backward()
    message = str(info.value)
    assert "Function 'SqrtBackward0' returned nan values in its 0th output" in message
    assert "forward op 'sqrt'" in message
    assert "make_nan_gradient" in message and "x.sqrt().sum()" in message  # creation stack
    assert "test_anomaly.py" in message
    assert not is_anomaly_enabled()


def test_without_anomaly_detection_nan_gradients_pass_silently():
    x = nb.tensor([0.0, 1.0], requires_grad=True)
    make_nan_gradient(x).backward()
    assert math.isinf(x.grad.tolist()[0])


def test_check_nan_false_keeps_traces_but_skips_the_check():
    x = nb.tensor([0.0], requires_grad=True)
    with nb.autograd.detect_anomaly(check_nan=False):
        assert not is_anomaly_check_nan_enabled()
        y = make_nan_gradient(x)
        assert y.grad_fn.trace and "make_nan_gradient" in y.grad_fn.trace
        y.backward()
    assert is_anomaly_check_nan_enabled()


def test_graph_built_before_enabling_has_no_trace():
    x = nb.tensor([0.0], requires_grad=True)
    y = make_nan_gradient(x)
    with nb.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="no forward trace"):
        y.backward()


def test_inf_gradients_count_as_anomalies():
    x = nb.tensor([0.0], requires_grad=True)
    with nb.autograd.detect_anomaly():
        y = (x.reciprocal() * 0).sum()  # forward nan, backward of mul gives 0 * inf
        with pytest.raises(RuntimeError, match="nan values"):
            y.backward()


def test_errors_in_backward_carry_the_forward_stack():
    class Broken(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("broken backward")

    def build_broken(x):
        return Broken.apply(x).sum()

    x = nb.tensor([1.0], requires_grad=True)
    with nb.autograd.detect_anomaly():
        y = build_broken(x)
        with pytest.raises(ValueError, match="broken backward") as info:
            y.backward()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Error detected in BrokenBackward" in notes and "build_broken" in notes
    y = build_broken(x)
    with pytest.raises(ValueError) as info:
        y.backward()
    assert not getattr(info.value, "__notes__", None)  # off: no note


def modify_in_place(t):
    t.mul_(2)


def test_version_error_names_the_inplace_op_and_where_it_ran():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.autograd.detect_anomaly():
        h = x * 1
        y = (h * h).sum()
        modify_in_place(h)
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
            y.backward()
    message = str(info.value)
    assert "mul_" in message and "modify_in_place" in message and "t.mul_(2)" in message


def test_set_detect_anomaly_switches_now_and_restores_as_a_context_manager():
    nb.autograd.set_detect_anomaly(True)
    assert is_anomaly_enabled()
    with nb.autograd.set_detect_anomaly(False):
        assert not is_anomaly_enabled()
    assert is_anomaly_enabled()
    nb.autograd.set_detect_anomaly(False)
    assert not is_anomaly_enabled()
    with nb.autograd.set_detect_anomaly(True, check_nan=False):
        assert is_anomaly_enabled() and not is_anomaly_check_nan_enabled()
    assert not is_anomaly_enabled() and is_anomaly_check_nan_enabled()


def test_detect_anomaly_restores_after_errors_nests_and_decorates():
    with pytest.raises(KeyError):
        with nb.autograd.detect_anomaly():
            raise KeyError
    assert not is_anomaly_enabled()
    with nb.autograd.detect_anomaly():
        with nb.autograd.detect_anomaly(check_nan=False):
            assert not is_anomaly_check_nan_enabled()
        assert is_anomaly_enabled() and is_anomaly_check_nan_enabled()
    assert not is_anomaly_enabled()

    @nb.autograd.detect_anomaly()
    def inside():
        return is_anomaly_enabled()

    assert inside() and not is_anomaly_enabled()


def test_detect_anomaly_warns_that_it_is_enabled_like_pytorch():
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with nb.autograd.detect_anomaly():
            pass


def test_error_in_backward_warns_with_the_forward_trace_of_the_failing_node():
    x = nb.tensor([0.0], requires_grad=True)
    with nb.autograd.detect_anomaly():
        y = (x / x).sum()
        with pytest.warns(UserWarning, match="Error detected in DivBackward0. Traceback of "
                          "forward call that caused the error") as record, \
                pytest.raises(RuntimeError, match="returned nan values"):
            y.backward()
    assert any("y = (x / x).sum()" in str(w.message) for w in record)


def test_nan_in_a_nested_backward_warns_with_the_trace_that_induced_it():
    class Abs(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (x * x).sqrt()  # finite at x = 0; its own derivative is 0/0 there

    def outer_forward(a):
        return Abs.apply(a * 1).sum()

    a = nb.tensor([0.0], requires_grad=True)
    with nb.autograd.detect_anomaly():
        (g,) = nb.autograd.grad(outer_forward(a), a, create_graph=True)
        with pytest.warns(UserWarning) as record, pytest.raises(RuntimeError, match="nan"):
            g.sum().backward()
    messages = [str(w.message) for w in record]
    assert any(m.startswith("Error detected in") for m in messages)
    induced = [m for m in messages if "Previous calculation was induced by" in m]
    assert induced and "AbsBackward" in induced[0] and "outer_forward" in induced[0]


def test_check_nan_false_runs_backward_through_nan_without_raising():
    x = nb.tensor([0.0], requires_grad=True)
    with nb.autograd.detect_anomaly(check_nan=False):
        (x / x).sum().backward()
    assert math.isnan(x.grad.item())
