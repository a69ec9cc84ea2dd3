"""einsum, the products, and nbgrad.linalg: values against numpy, float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(2)


def f64(*shape):
    return nb.tensor(RNG.standard_normal(shape), dtype=nb.float64, requires_grad=True)


EINSUM = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
          ("i,i->", [(3,), (3,)]), ("ii->i", [(3, 3)]), ("ij->ji", [(2, 3)]),
          ("...ij,...jk", [(5, 2, 3), (3, 4)]), ("i,j->ij", [(2,), (3,)]),
          ("ijk,ikl,lm->jm", [(2, 3, 4), (2, 4, 5), (5, 2)]), ("bii->b", [(2, 3, 3)]),
          ("ij,ij->i", [(2, 3), (2, 3)]), ("a...,a->...", [(3, 2, 2), (3,)]),
          ("iij,jk", [(2, 2, 3), (3, 1)]), ("ij,kj", [(2, 3), (4, 3)]), ("ii", [(3, 3)])]


@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_einsum_matches_numpy_and_gradchecks(eq, shapes):
    arrs = [RNG.standard_normal(s) for s in shapes]
    got = nb.einsum(eq, *[nb.tensor(a) for a in arrs]).numpy()
    np.testing.assert_allclose(got, np.einsum(eq, *arrs), rtol=1e-10, atol=1e-12)
    ts = tuple(nb.tensor(a, requires_grad=True) for a in arrs)
    assert gradcheck(lambda *t: nb.einsum(eq, *t), ts)


def test_einsum_errors_and_list_form():
    a = nb.ones(2, 3)
    assert nb.einsum("ij->i", [a]).tolist() == [3, 3]
    with pytest.raises(ValueError, match="number of subscripts"):
        nb.einsum("ijk", a)
    with pytest.raises(ValueError, match="more operands"):
        nb.einsum("ij", a, a)
    with pytest.raises(RuntimeError, match="subscript j has sizes"):
        nb.einsum("ij,jk", a, nb.ones(2, 2))


def test_products():
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4, 3, 2))
    np.testing.assert_allclose(nb.tensordot(nb.tensor(a), nb.tensor(b), ([1, 2], [1, 0])).numpy(),
                               np.tensordot(a, b, ([1, 2], [1, 0])))
    m, n = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 2))
    np.testing.assert_allclose(nb.kron(nb.tensor(m), nb.tensor(n)).numpy(), np.kron(m, n))
    np.testing.assert_allclose(nb.inner(nb.tensor(m), nb.tensor(n.T)).numpy(), np.inner(m, n.T))
    c = nb.tensor(RNG.standard_normal((2, 2)))
    M, N = nb.tensor(m), nb.tensor(n)
    np.testing.assert_allclose(nb.addmm(c, M, N, beta=0.5, alpha=2).numpy(),
                               0.5 * c.numpy() + 2 * m @ n)
    nan = nb.full((2, 2), float("nan"), dtype=nb.float64)
    assert not np.isnan(nb.addmm(nan, M, N, beta=0).numpy()).any()
    b1, b2 = nb.tensor(RNG.standard_normal((3, 2, 4))), nb.tensor(RNG.standard_normal((3, 4, 2)))
    np.testing.assert_allclose(nb.baddbmm(c, b1, b2).numpy(), c.numpy() + b1.numpy() @ b2.numpy())
    np.testing.assert_allclose(nb.addbmm(c, b1, b2).numpy(),
                               c.numpy() + (b1.numpy() @ b2.numpy()).sum(0))
    v = nb.tensor([1.0, 2.0, 3.0], dtype=nb.float64)
    np.testing.assert_allclose(nb.addmv(nb.zeros(2, dtype=nb.float64), M, v).numpy(), m @ [1, 2, 3])
    np.testing.assert_allclose(nb.addr(M, nb.ones(2, dtype=nb.float64), v).numpy(),
                               m + np.outer([1, 1], [1, 2, 3]))
    assert nb.vdot(v, v).item() == 14
    np.testing.assert_allclose(nb.chain_matmul(M, N, c).numpy(), m @ n @ c.numpy())
    x, y = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    np.testing.assert_allclose(nb.cross(nb.tensor(x), nb.tensor(y)).numpy(), np.cross(x, y))
    np.testing.assert_allclose(nb.linalg.cross(nb.tensor(x), nb.tensor(y)).numpy(), np.cross(x, y))
    assert gradcheck(lambda p, q: nb.addmm(p, q, q.T, beta=2, alpha=3), (f64(2, 2), f64(2, 3)))
    assert gradcheck(lambda p, q: nb.kron(p, q), (f64(2, 2), f64(2, 1)))
    assert gradcheck(lambda p, q: nb.linalg.cross(p, q), (f64(2, 3), f64(2, 3)))


def _spd(n, batch=()):
    a = RNG.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def test_linalg_values():
    a = RNG.standard_normal((2, 3, 3))
    t = nb.tensor(a)
    L = nb.linalg
    np.testing.assert_allclose(L.inv(t).numpy(), np.linalg.inv(a))
    np.testing.assert_allclose(L.det(t).numpy(), np.linalg.det(a))
    s, ld = L.slogdet(t)
    ns, nld = np.linalg.slogdet(a)
    np.testing.assert_allclose(s.numpy(), ns)
    np.testing.assert_allclose(ld.numpy(), nld)
    b = RNG.standard_normal((2, 3, 2))
    np.testing.assert_allclose(L.solve(t, nb.tensor(b)).numpy(), np.linalg.solve(a, b))
    np.testing.assert_allclose(L.solve(t, nb.tensor(b[..., 0])).numpy(),
                               np.linalg.solve(a, b[..., :1])[..., 0])
    spd = _spd(3)
    np.testing.assert_allclose(L.cholesky(nb.tensor(spd)).numpy(), np.linalg.cholesky(spd))
    w, v = L.eigh(nb.tensor(spd))
    np.testing.assert_allclose(w.numpy(), np.linalg.eigvalsh(spd))
    np.testing.assert_allclose(L.svdvals(t).numpy(), np.linalg.svd(a, compute_uv=False))
    U, S, Vh = L.svd(nb.tensor(a[0]), full_matrices=False)
    np.testing.assert_allclose((U.numpy() * S.numpy()) @ Vh.numpy(), a[0], atol=1e-12)
    q, r = L.qr(nb.tensor(a[0]))
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a[0], atol=1e-12)
    rect = RNG.standard_normal((4, 2))
    np.testing.assert_allclose(L.pinv(nb.tensor(rect)).numpy(), np.linalg.pinv(rect), atol=1e-12)
    np.testing.assert_allclose(L.lstsq(nb.tensor(rect), nb.tensor(b[0, :2].T.repeat(2, 0)[:4])
                                       ).solution.numpy(),
                               np.linalg.lstsq(rect, b[0, :2].T.repeat(2, 0)[:4], rcond=None)[0])
    assert L.matrix_rank(nb.tensor([[1.0, 2.0], [2.0, 4.0]])).item() == 1
    np.testing.assert_allclose(L.matrix_power(t, -2).numpy(), np.linalg.matrix_power(a, -2))
    for o in ("fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        np.testing.assert_allclose(L.matrix_norm(t, o).numpy(), np.linalg.norm(a, o, (-2, -1)))
    for o in (1, 2, 3.5, np.inf, -np.inf, 0):
        np.testing.assert_allclose(L.vector_norm(t, o, dim=-1).numpy(),
                                   np.linalg.norm(a, o, -1))
    np.testing.assert_allclose(L.norm(t[0]).numpy(), np.linalg.norm(a[0]))
    np.testing.assert_allclose(L.multi_dot([t[0], t[1], nb.tensor(b[0, :, 0])]).numpy(),
                               a[0] @ a[1] @ b[0, :, 0])
    with pytest.raises(RuntimeError, match="square matrices"):
        L.inv(nb.zeros(2, 3))
    with pytest.raises(RuntimeError, match="singular"):
        L.inv(nb.zeros(2, 2))
    with pytest.raises(RuntimeError, match="positive-definite"):
        L.cholesky(-nb.eye(2))


def test_linalg_gradients():
    L = nb.linalg
    a = nb.tensor(RNG.standard_normal((3, 3)) + 3 * np.eye(3), requires_grad=True)
    b = f64(3, 2)
    assert gradcheck(L.inv, (a,)) and gradgradcheck(L.inv, (a,))
    assert gradcheck(L.det, (a,)) and gradgradcheck(L.det, (a,))
    assert gradcheck(lambda a: L.slogdet(a).logabsdet, (a,))
    assert gradcheck(L.solve, (a, b)) and gradgradcheck(L.solve, (a, b))
    x = f64(3, 3)

    def sym(x):
        return x @ x.T + 3 * nb.eye(3, dtype=nb.float64)

    assert gradcheck(lambda x: L.cholesky(sym(x)), (x,))
    assert gradcheck(lambda x: L.eigvalsh(sym(x)), (x,))
    assert gradcheck(lambda x: (lambda w, v: (v * v, w))(*L.eigh(sym(x))), (x,))
    assert gradcheck(L.svdvals, (f64(4, 3),))
    m = f64(4, 3)

    def svd_invariant(m):
        u, s, vh = L.svd(m, full_matrices=False)
        return u @ u.T, s, vh.T @ vh, (u * s.unsqueeze(-2)) @ vh

    assert gradcheck(svd_invariant, (m,))
    assert gradcheck(lambda m: L.qr(m), (f64(4, 3),))
    assert gradcheck(lambda m: L.pinv(m), (f64(4, 3),))
    assert gradcheck(lambda m: L.matrix_norm(m, "nuc"), (f64(3, 3),))
    assert gradcheck(lambda m: L.vector_norm(m, 3.0), (f64(3, 3),))
    assert gradcheck(lambda m: L.matrix_power(m, 3), (f64(2, 2),))


def test_second_order_through_compositions():
    a, b = f64(2, 3), f64(3, 2)
    assert gradgradcheck(lambda a, b: nb.einsum("ij,jk->ik", a, b), (a, b))
    assert gradgradcheck(lambda a: nb.linalg.vector_norm(a, 3.0), (a,))
    assert gradgradcheck(lambda a: a.sort(1).values, (a,))
    assert gradgradcheck(lambda a: a.scatter_reduce(1, nb.tensor([[0, 0, 1], [1, 1, 1]]),
                                                    a, "sum"), (a,))
