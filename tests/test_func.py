"""``nbgrad.func``: torch.func-style transforms (grad, grad_and_value, vjp, jvp, jacrev, jacfwd,
hessian, vmap, functional_call) against closed forms, their composition, and PyTorch's
errors."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.func import (
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    vjp,
    vmap,
)


def _t(a):
    return nb.tensor(np.asarray(a, dtype=np.float64), dtype=nb.float64)


X = _t([0.5, -1.0, 2.0])


def test_grad_of_a_scalar_function():
    g = grad(lambda x: (x.sin() * x).sum())(X)
    x = X.numpy()
    np.testing.assert_allclose(g.numpy(), np.cos(x) * x + np.sin(x))
    assert not g.requires_grad


def test_grad_argnums_tuple_gives_a_tuple():
    ga, gb = grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(X, X * 2)
    assert ga.tolist() == (X * 2).tolist() and gb.tolist() == X.tolist()


def test_grad_with_has_aux_returns_the_aux_unchanged():
    g, aux = grad(lambda x: ((x ** 2).sum(), "extra"), has_aux=True)(X)
    assert g.tolist() == (2 * X).tolist() and aux == "extra"


def test_grad_and_value_returns_the_value():
    g, value = grad_and_value(lambda x: (x ** 2).sum())(X)
    assert g.tolist() == (2 * X).tolist() and value.item() == pytest.approx(5.25)
    g, (value, aux) = grad_and_value(lambda x: ((x ** 2).sum(), 7), has_aux=True)(X)
    assert aux == 7 and value.item() == pytest.approx(5.25)


def test_grad_over_a_dict_of_tensors():
    params = {"w": _t([1.0, 2.0]), "b": _t(0.5)}
    g = grad(lambda p: (p["w"] * 3 + p["b"]).sum())(params)
    assert g["w"].tolist() == [3.0, 3.0] and g["b"].item() == 2.0


def test_grad_of_grad_is_the_second_derivative():
    g2 = grad(grad(lambda x: x ** 4))(_t(2.0))
    assert g2.item() == pytest.approx(48.0)  # 12 x^2


def test_grad_with_respect_to_an_unused_input_is_zero():
    g = grad(lambda a, b: a.sum(), argnums=1)(X, X)
    assert g.tolist() == [0.0, 0.0, 0.0]


def test_grad_of_a_non_scalar_output_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="Expected f\\(\\*args\\) to return a scalar Tensor"):
        grad(lambda x: x * 2)(X)


def test_grad_has_aux_without_a_pair_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="should be a tuple: \\(output, aux\\)"):
        grad(lambda x: x.sum(), has_aux=True)(X)


def test_grad_argnums_out_of_range_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 1 positional inputs"):
        grad(lambda x: x.sum(), argnums=2)(X)


def test_vjp_returns_a_reusable_vjp_fn():
    out, vjp_fn = vjp(lambda x: x ** 2, X)
    assert out.tolist() == (X ** 2).tolist()
    assert vjp_fn(_t([1.0, 1.0, 1.0]))[0].tolist() == (2 * X).tolist()
    assert vjp_fn(_t([1.0, 0.0, 0.0]))[0].tolist() == [1.0, 0.0, 0.0]


def test_jvp_is_forward_mode_and_matches_the_closed_form():
    out, tangent = jvp(lambda x: x.exp() * x, (X,), (_t([1.0, 2.0, 0.0]),))
    x = X.numpy()
    np.testing.assert_allclose(tangent.numpy(), np.exp(x) * (x + 1) * [1.0, 2.0, 0.0])
    np.testing.assert_allclose(out.numpy(), np.exp(x) * x)


def test_jvp_needs_tuples_like_pytorch():
    with pytest.raises(RuntimeError, match="Expected primals and tangents to be tuples"):
        jvp(lambda x: x, X, X)


@pytest.mark.parametrize("jac", [jacrev, jacfwd])
def test_jacrev_and_jacfwd_give_the_same_jacobian(jac):
    def f(x):
        return nb.nn.functional.softmax(x, 0) * x.sum()

    j = jac(f)(X)
    x = X.numpy()
    s = np.exp(x) / np.exp(x).sum()
    expected = (np.diag(s) - np.outer(s, s)) * x.sum() + s[:, None]
    np.testing.assert_allclose(j.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_jacrev_argnums_tuple():
    ja, jb = jacrev(lambda a, b: a * b, argnums=(0, 1))(X, _t([1.0, 2.0, 3.0]))
    assert ja.tolist() == np.diag([1.0, 2.0, 3.0]).tolist()
    assert jb.tolist() == np.diag(X.numpy()).tolist()


def test_hessian_is_forward_over_reverse():
    def f(x):
        return (x ** 3).sum() + (x @ x) ** 2

    h = hessian(f)(X)
    x = X.numpy()
    expected = np.diag(6 * x) + 8 * np.outer(x, x) + 4 * (x @ x) * np.eye(3)
    np.testing.assert_allclose(h.numpy(), expected, rtol=1e-10)


def test_jacfwd_of_jacrev_equals_jacrev_of_jacrev():
    def f(x):
        return (x.sin() * x.exp()).sum()

    np.testing.assert_allclose(jacfwd(jacrev(f))(X).numpy(), jacrev(jacrev(f))(X).numpy(),
                               rtol=1e-10, atol=1e-12)


def test_vmap_maps_over_the_leading_dimension():
    xs = _t([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert vmap(lambda r: r @ r)(xs).tolist() == [5.0, 25.0, 61.0]


def test_vmap_in_dims_none_broadcasts_and_out_dims_moves_the_batch():
    xs = _t([[1.0, 2.0], [3.0, 4.0]])
    w = _t([10.0, 100.0])
    out = vmap(lambda r, w: r * w, in_dims=(0, None), out_dims=1)(xs, w)
    assert out.tolist() == [[10.0, 30.0], [200.0, 400.0]]


def test_vmap_over_another_dimension():
    xs = _t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert vmap(lambda c: c.sum(), in_dims=1)(xs).tolist() == [5.0, 7.0, 9.0]


def test_vmap_with_mismatched_sizes_raises_like_pytorch():
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        vmap(lambda a, b: a + b)(nb.zeros(2, 3), nb.zeros(3, 3))


def test_per_sample_gradients_in_one_line():
    lin = nb.nn.Linear(3, 1, dtype=nb.float64)
    params = {k: v.detach() for k, v in lin.named_parameters()}
    xs = _t(np.random.default_rng(0).standard_normal((4, 3)))
    ys = _t([1.0, -1.0, 0.5, 2.0])

    def loss(p, x, y):
        return ((functional_call(lin, p, (x.unsqueeze(0),)).squeeze() - y) ** 2)

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)
    assert per_sample["weight"].shape == (4, 1, 3) and per_sample["bias"].shape == (4, 1)
    for i in range(4):
        p = {k: v.clone().requires_grad_() for k, v in params.items()}
        loss(p, xs[i], ys[i]).backward()
        np.testing.assert_allclose(per_sample["weight"][i].numpy(), p["weight"].grad.numpy())
        np.testing.assert_allclose(per_sample["bias"][i].numpy(), p["bias"].grad.numpy())


def test_functional_call_replaces_parameters_and_restores_them():
    lin = nb.nn.Linear(2, 1, bias=False)
    before = lin.weight
    out = functional_call(lin, {"weight": nb.tensor([[1.0, 2.0]])}, (nb.tensor([[3.0, 4.0]]),))
    assert out.tolist() == [[11.0]]
    assert lin.weight is before


def test_functional_call_strict_reports_missing_keys():
    lin = nb.nn.Linear(2, 1)
    with pytest.raises(RuntimeError, match="Missing key\\(s\\): bias"):
        functional_call(lin, {"weight": nb.zeros(1, 2)}, (nb.zeros(1, 2),), strict=True)


def test_functional_call_with_a_key_in_two_dicts_raises():
    lin = nb.nn.Linear(2, 1)
    w = {"weight": nb.zeros(1, 2)}
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        functional_call(lin, (w, w), (nb.zeros(1, 2),))
