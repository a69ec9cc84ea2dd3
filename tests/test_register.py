"""The op registry (``nbgrad/ops/_register.py``) and the elementwise row declaration: one
declaration gives every public face of an op, and a row's gradient rules are checked against
its kernel's arguments when it is declared."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.ops import _register
from nbgrad.ops import elementwise as ew


def test_every_declared_name_is_public_where_its_kind_says():
    for e in _register.entries():
        if e.owner == "nb":
            assert getattr(nb, e.name) is e.obj, e.name
        else:
            assert nb.Tensor.__dict__[e.name] is e.obj, e.name
    kinds = {e.kind for e in _register.entries()}
    assert kinds == set(_register.KINDS)


def test_a_binary_row_gives_function_method_inplace_and_operators():
    row = ew.BINARY["mul"]
    faces = {(e.owner, e.name): e.kind for e in _register.entries() if e.doc is row}
    assert faces == {("nb", "mul"): "function", ("Tensor", "mul"): "method",
                     ("Tensor", "mul_"): "inplace", ("Tensor", "__mul__"): "dunder",
                     ("Tensor", "__rmul__"): "dunder", ("Tensor", "__imul__"): "dunder",
                     # PyTorch's alias, with all of its faces
                     ("nb", "multiply"): "function", ("Tensor", "multiply"): "method",
                     ("Tensor", "multiply_"): "inplace"}
    x = nb.tensor([1.0, 2.0])
    assert (2 * x).tolist() == [2.0, 4.0] and nb.mul(x, x).tolist() == [1.0, 4.0]
    x *= 3
    assert x.tolist() == [3.0, 6.0]


def test_comparisons_have_no_inplace_form_and_aliases_share_the_function():
    assert not hasattr(nb.Tensor, "eq_")
    assert nb.clip is nb.clamp and nb.concat is nb.cat and nb.concatenate is nb.cat
    assert nb.Tensor.arctan2 is nb.Tensor.atan2


def test_add_and_sub_take_alpha_as_function_and_method():
    a, b = nb.tensor([1.0, 2.0]), nb.tensor([10.0, 20.0])
    assert nb.add(a, b, alpha=2).tolist() == [21.0, 42.0]
    assert a.sub(b, alpha=0.5).tolist() == [-4.0, -8.0]


def test_a_name_cannot_be_declared_twice_or_replace_tensor_py():
    with pytest.raises(ValueError, match="Tensor.exp is declared twice"):
        _register.register(lambda self: self, method="exp")
    with pytest.raises(ValueError, match="nb.exp is declared twice"):
        _register.register(lambda x: x, function="exp")
    with pytest.raises(ValueError, match="defined in nbgrad/tensor.py"):
        _register.register(lambda self: self, method="numel")
    with pytest.raises(ValueError, match="not one"):
        _register.register(lambda self: self, dunder="__nope")
    assert nb.Tensor.exp is _register.entry("Tensor", "exp").obj


def _kernel(a, b):
    return a * b


def _bad_kernel(grad, b):
    return grad * b


@pytest.mark.parametrize("grad, message", [
    ({"a": lambda grad: grad}, r"missing: \['b'\]"),
    ({"a": lambda grad: grad, "b": lambda grad: grad, "c": None}, r"not arguments: \['c'\]"),
    ({"a": lambda grad, z: grad, "b": None}, r"reads \['z'\]"),
    ((lambda grad: grad,), "must be a dict"),
])
def test_a_row_is_checked_when_declared(grad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ew.Elementwise("Bad", _kernel, grad=grad)


def test_kernel_arguments_may_not_be_called_grad_or_out():
    with pytest.raises(ValueError, match="may not be called 'grad'"):
        ew.Elementwise("Bad", _bad_kernel, grad=None)


def test_what_a_gradient_reads_comes_from_the_rules_parameter_names():
    div = ew.BINARY["div"]
    assert div.arg_names == ("a", "b")
    assert div.reads(0) == ((1,), False) and div.reads(1) == ((0, 1), False)
    assert div.save((True, False)) == ((False, True), False)
    assert div.save((False, True)) == ((True, True), False)
    exp = ew.UNARY["exp"]
    assert exp.reads(0) == ((), True) and exp.save((True,)) == ((False,), True)
    assert ew.BINARY["add"].save((True, True)) == (None, False)
    pw = ew.BINARY["pow"]
    assert pw.reads(1) == ((0, 1), True)


def test_rows_without_a_gradient_say_so():
    for op in ew.COMPARISONS.values():
        assert not op.differentiable and set(op.grad_rules.values()) == {None}
    where = ew.TERNARY["where"]
    assert where.differentiable and where.grad_rules["c"] is None
    assert where.reads(0) == ((), False)
    c, g = nb.tensor([True, False]), nb.tensor([1.0, 2.0])
    assert where.input_grad(0, g, (c, None, None), None) is None
    assert where.input_grad(1, g, (c, None, None), None).tolist() == [1.0, 0.0]


def test_input_grad_and_fit_gradient_make_the_table_gradient():
    mul = ew.BINARY["mul"]
    a, b = nb.tensor([[1.0, 2.0], [3.0, 4.0]]), nb.tensor([10.0, 20.0], dtype=nb.float64)
    g = nb.ones(2, 2)
    gb = mul.input_grad(1, g, (a, b), None)
    assert gb.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    fitted = ew.fit_gradient(gb, (2,), np.dtype(np.float64))
    assert fitted.tolist() == [4.0, 6.0] and fitted.dtype is nb.float64
    same = ew.fit_gradient(g, (2, 2), np.dtype(np.float32))
    assert same is g
    x = nb.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = nb.tensor([10.0, 20.0], dtype=nb.float64, requires_grad=True)
    (x * y).sum().backward()
    assert y.grad.tolist() == fitted.tolist() and y.grad.dtype is nb.float64


def test_every_rule_of_every_row_runs_through_input_grad():
    """Each rule called with what its parameters name gives a tensor of the input's shape."""
    for table in (ew.UNARY, ew.BINARY, ew.TERNARY):
        for op in table.values():
            values = tuple(
                nb.tensor([True, False]) if name == "c" else nb.tensor([0.5, 1.5])
                for name in op.arg_names
            )
            out = nb.tensor([0.25, 0.75])
            for i, rule in enumerate(op.grad_rules.values()):
                g = op.input_grad(i, nb.ones(2), values, out)
                assert (g is None) == (rule is None), (op.name, i)
                if g is not None:  # 0.5 and 1.5 are not both in these rows' domains
                    finite = op.key in ("asin", "acos", "acosh", "atanh", "erfinv") or all(
                        math.isfinite(v) for v in g.tolist())
                    assert g.shape == (2,) and finite, op.name
