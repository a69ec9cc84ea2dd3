"""The tracing hook fusion is built on (nbgrad/_tracing.py): what the dispatch point and the
places that read values report to the active tracer, and what they hide from it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import _tracing
from nbgrad.ops import _dispatch
from nbgrad.ops.elementwise import BINARY


class Log(_tracing.Tracer):
    def __init__(self):
        self.ops, self.modes, self.inplace, self.made, self.opaque = [], [], [], [], []

    def on_apply(self, op, inputs, params, mode, result):
        self.ops.append(op.name)
        self.modes.append((mode.grad, mode.inference))
        assert isinstance(result, (nb.Tensor, tuple))

    def on_inplace(self, op, target, others, params, mode):
        self.inplace.append(op.name)

    def on_made(self, tensor):
        self.made.append(tensor)

    def on_opaque(self, reason):
        self.opaque.append(reason)


def traced(fn, *args):
    log = Log()
    with _tracing.tracing(log):
        fn(*args)
    assert _tracing.current() is None
    return log


def test_ops_at_depth_zero_are_reported_with_the_mode():
    x = nb.ones(3, requires_grad=True)
    log = traced(lambda: (x * 2 + 1).exp())
    assert log.ops == ["Mul", "Add", "Exp"]
    assert log.modes == [(True, False)] * 3
    with nb.no_grad():
        assert traced(lambda: x * 2).modes == [(False, False)]
    with nb.inference_mode():
        assert traced(lambda: x * 2).modes == [(False, True)]


class _Twice(_dispatch.OpDef):
    """An op whose forward runs another op through the dispatch point."""

    name = "Twice"

    def forward(self, bk, params, a):
        t = _dispatch.new_tensor(a)
        return _dispatch.apply(BINARY["add"], (t, t))._data


def test_ops_inside_an_op_are_hidden():
    x = nb.ones(3)
    log = traced(lambda: _dispatch.apply(_Twice(), (x,)))
    assert log.ops == ["Twice"] and log.made == []


def test_inplace_ops_are_reported_once():
    x = nb.ones(3, requires_grad=True) * 1
    log = traced(lambda: x.mul_(2))
    assert log.inplace == ["Mul"] and log.ops == []


def test_tensors_made_outside_ops_are_reported():
    x = nb.ones(3, requires_grad=True)
    log = traced(lambda: (nb.zeros(2), x.detach(), x.data))
    assert len(log.made) == 3 and all(isinstance(t, nb.Tensor) for t in log.made)


@pytest.mark.parametrize("body, reason", [
    (lambda x: (x * 1).sum().item(), "reads tensor values in Python (item/tolist)"),
    (lambda x: x.detach().tolist(), "reads tensor values in Python (item/tolist)"),
    (lambda x: x.detach().numpy(), "reads tensor values in Python (numpy)"),
    (lambda x: x.register_hook(lambda g: g), "registers a hook"),
    (lambda x: (x * 1).retain_grad(), "calls retain_grad"),
    (lambda x: (x * 1).sum().backward(), "runs backward inside the function"),
    (lambda x: nb.autograd.grad((x * 1).sum(), x), "runs backward inside the function"),
])
def test_what_a_trace_cannot_capture_is_reported(body, reason):
    log = traced(body, nb.ones(3, requires_grad=True))
    assert log.opaque[0] == reason


def test_an_op_that_raises_is_reported():
    x = nb.tensor([1, 2])
    log = Log()
    with _tracing.tracing(log), pytest.raises(ZeroDivisionError):
        nb.floor_divide(x, 0)
    assert log.opaque == ["FloorDivide raised while tracing"] and log.ops == []


def test_other_threads_are_not_traced():
    x = nb.ones(3)
    log = Log()
    done = threading.Event()

    def other():
        x * 3
        done.set()

    with _tracing.tracing(log):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert done.is_set() and log.ops == []


def test_tracers_nest_and_nothing_is_active_afterwards():
    x = nb.ones(3)
    outer, inner = Log(), Log()
    with _tracing.tracing(outer):
        x * 2
        with _tracing.tracing(inner):
            x + 1
        x - 1
    assert outer.ops == ["Mul", "Sub"] and inner.ops == ["Add"]
    assert _tracing.active == 0
    np.testing.assert_array_equal((x * 2).numpy(), np.full(3, 2.0, np.float32))
