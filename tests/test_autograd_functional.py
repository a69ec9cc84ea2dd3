"""``nb.autograd.functional``: jacobian, hessian, vjp, jvp (double vjp), vhp, hvp against
closed-form derivatives, tuple structure, ``create_graph``, ``strict`` and grad modes."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd.functional import hessian, hvp, jacobian, jvp, vhp, vjp

F64 = nb.float64


def _t(values):
    return nb.tensor(values, dtype=F64)


def _close(t, expected):
    np.testing.assert_allclose(t.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_jacobian_single_input_single_output():
    x = _t([[0.5, -1.0], [2.0, 0.3]])
    jac = jacobian(lambda t: t.sin() * 2, x)
    assert jac.shape == (2, 2, 2, 2) and not jac.requires_grad
    expected = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            expected[i, j, i, j] = 2 * np.cos(x.numpy()[i, j])
    _close(jac, expected)


def test_jacobian_tuple_structure():
    a, b = _t([1.0, 2.0, 3.0]), _t([0.5, -0.5])
    (ja_a, ja_b), (jb_a, jb_b) = jacobian(lambda p, q: (p * 2, nb.outer(p, q)), (a, b))
    _close(ja_a, 2 * np.eye(3))
    _close(ja_b, np.zeros((3, 2)))  # independent of b
    assert jb_a.shape == (3, 2, 3) and jb_b.shape == (3, 2, 2)
    _close(jb_a, np.einsum("ik,j->ijk", np.eye(3), b.numpy()))
    _close(jb_b, np.einsum("i,jk->ijk", a.numpy(), np.eye(2)))
    only_inputs = jacobian(lambda p, q: (p * q.sum()).sum(), (a, b))
    assert isinstance(only_inputs, tuple) and only_inputs[0].shape == (3,)
    only_outputs = jacobian(lambda p: (p.sum(), p * p), a)
    assert isinstance(only_outputs, tuple) and only_outputs[1].shape == (3, 3)


def test_jacobian_scalar_and_empty():
    x = _t(2.0)
    _close(jacobian(lambda t: t ** 3, x), 12.0)
    e = nb.zeros(0, dtype=F64)
    assert jacobian(lambda t: t * 2, e).shape == (0, 0)
    assert jacobian(lambda t: t.sum(), e).shape == (0,)


def test_hessian():
    x = _t([1.0, 2.0])

    def f(t):
        return (t ** 3).sum() + t[0] * t[1]

    h = hessian(f, x)
    _close(h, [[6.0, 1.0], [1.0, 12.0]])
    a, b = _t([1.0, 2.0]), _t(3.0)
    (haa, hab), (hba, hbb) = hessian(lambda p, q: (p * p).sum() * q, (a, b))
    _close(haa, 2 * 3.0 * np.eye(2))
    _close(hab, 2 * a.numpy())
    _close(hba, 2 * a.numpy())
    _close(hbb, 0.0)
    with pytest.raises(RuntimeError, match="single element"):
        hessian(lambda t: t * 2, x)


def test_vjp_and_jvp():
    x = _t([0.5, 1.5])
    v = _t([1.0, -2.0])

    def f(t):
        return t * t * t

    out, g = vjp(f, x, v)
    _close(out, x.numpy() ** 3)
    _close(g, 3 * x.numpy() ** 2 * v.numpy())
    out, jv = jvp(f, x, v)
    _close(jv, 3 * x.numpy() ** 2 * v.numpy())
    # non-square Jacobians: jvp has the output's shape, vjp the input's
    a = _t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    _, jv = jvp(lambda t: a @ t, _t([1.0, 0.0, 2.0]), _t([0.0, 1.0, 0.0]))
    _close(jv, [2.0, 5.0])
    _, g = vjp(lambda t: a @ t, _t([1.0, 0.0, 2.0]), _t([1.0, 1.0]))
    _close(g, [5.0, 7.0, 9.0])
    # v may be omitted for a single-element function/input
    _, g = vjp(lambda t: (t * t).sum(), x)
    _close(g, 2 * x.numpy())
    _, jv = jvp(lambda t: t * 3, _t(2.0))
    _close(jv, 3.0)


def test_vjp_jvp_with_tuples_and_unused_inputs():
    a, b = _t([1.0, 2.0]), _t([3.0, 4.0])
    outs, grads = vjp(lambda p, q: (p * q, p.sum()), (a, b), (_t([1.0, 1.0]), _t(2.0)))
    _close(grads[0], b.numpy() + 2.0)
    _close(grads[1], a.numpy())
    _, jv = jvp(lambda p, q: p * 2, (a, b), (_t([1.0, 0.0]), _t([5.0, 5.0])))
    _close(jv, [2.0, 0.0])
    _, g = vjp(lambda p, q: p * 2, (a, b), _t([1.0, 1.0]))
    _close(g[1], [0.0, 0.0])
    with pytest.raises(RuntimeError, match="strict"):
        vjp(lambda p, q: p * 2, (a, b), _t([1.0, 1.0]), strict=True)
    with pytest.raises(RuntimeError, match="strict"):
        jacobian(lambda p, q: p * 2, (a, b), strict=True)


def test_hvp_and_vhp_agree_with_the_hessian():
    x = _t([0.3, -0.7, 1.1])
    v = _t([1.0, 2.0, -1.0])

    def f(t):
        return (t.sin() * t).sum() + t[0] * t[2] ** 2

    h = hessian(f, x).numpy()
    val, hv = hvp(f, x, v)
    _close(val, f(x).numpy())
    np.testing.assert_allclose(hv.numpy(), h @ v.numpy(), rtol=1e-10)
    _, vh = vhp(f, x, v)
    np.testing.assert_allclose(vh.numpy(), v.numpy() @ h, rtol=1e-10)


def test_create_graph_keeps_history_to_the_inputs():
    x = nb.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    jac = jacobian(lambda t: t ** 3, x, create_graph=True)
    assert jac.requires_grad
    jac.sum().backward()
    _close(x.grad, 6 * x.detach().numpy())
    _, g = vjp(lambda t: (t ** 3).sum(), x, create_graph=True)
    (gg,) = nb.autograd.grad(g.sum(), x)
    _close(gg, 6 * x.detach().numpy())
    _, jv = jvp(lambda t: t ** 3, x, _t([1.0, 1.0]), create_graph=True)
    assert jv.requires_grad
    out, g = vjp(lambda t: (t ** 2).sum(), x)
    assert not out.requires_grad and not g.requires_grad and x.grad is not None


def test_works_under_no_grad_and_leaves_inputs_alone():
    x = nb.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    with nb.no_grad():
        jac = jacobian(lambda t: t * t, x)
        _, jv = jvp(lambda t: t * t, x, _t([1.0, 1.0]))
        assert not nb.is_grad_enabled()
    _close(jac, np.diag([2.0, 4.0]))
    _close(jv, [2.0, 4.0])
    assert x.grad is None and x.is_leaf


def test_bad_arguments():
    x = _t([1.0, 2.0])
    with pytest.raises(TypeError, match="Tensor or a tuple of Tensors"):
        jacobian(lambda t: t, [1.0, 2.0])
    with pytest.raises(TypeError, match="outputs of the user-provided function"):
        vjp(lambda t: 3.0, x, x)
    with pytest.raises(RuntimeError, match="v can only be None"):
        vjp(lambda t: t * 2, x)
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*\(2,\)"):
        jvp(lambda t: t * 2, x, _t([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        jacobian(lambda t: t * 2, nb.tensor([1, 2]))
