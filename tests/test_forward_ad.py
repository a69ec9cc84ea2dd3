"""Forward-mode AD (``nb.autograd.forward_ad``): every op's jvp against reverse mode (the
Jacobian times the tangent) and central finite differences, dual-tensor API behaviour and
PyTorch's errors, custom ``Function.jvp``, and the functional APIs built on forward mode."""

from __future__ import annotations

import numpy as np
import pytest
from test_ops_core import BINARY_REF, UNARY_REF, _sample

import nbgrad as nb
import nbgrad.autograd.forward_ad as fwAD
from nbgrad.autograd.functional import hessian, jacobian, jvp
from nbgrad.ops import elementwise as ew

F = nb.nn.functional
RNG = np.random.default_rng(0)


def _t(a):
    return nb.tensor(np.asarray(a, dtype=np.float64), dtype=nb.float64)


def _forward(f, xs, vs):
    with fwAD.dual_level():
        duals = [fwAD.make_dual(x, v) for x, v in zip(xs, vs)]
        out = f(*duals)
        primal, tangent = fwAD.unpack_dual(out)
    return primal, tangent


def _reverse(f, xs, vs):
    """J·v from the reverse-mode Jacobian."""
    jac = jacobian(f, tuple(xs))
    out = f(*xs)
    total = np.zeros(out.numel())
    for j, v in zip(jac, vs):
        total += j.detach().numpy().reshape(out.numel(), -1) @ v.numpy().ravel()
    return total.reshape(out.shape)


def _finite(f, xs, vs, eps=1e-6):
    plus = f(*[x + eps * v for x, v in zip(xs, vs)]).numpy()
    minus = f(*[x - eps * v for x, v in zip(xs, vs)]).numpy()
    return (plus - minus) / (2 * eps)


def check(f, *xs):
    vs = [_t(RNG.standard_normal(x.shape)) for x in xs]
    primal, tangent = _forward(f, xs, vs)
    np.testing.assert_allclose(primal.numpy(), f(*xs).numpy(), rtol=1e-12, atol=1e-12)
    assert tangent is not None
    assert tangent.shape == primal.shape and tangent.dtype is primal.dtype
    np.testing.assert_allclose(tangent.numpy(), _reverse(f, xs, vs), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(tangent.numpy(), _finite(f, xs, vs), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ every elementwise row
_NOT_SMOOTH = {"sign", "floor", "ceil", "round", "floor_divide"}  # zero derivative: no FD check


@pytest.mark.parametrize("name", [n for n, op in ew.UNARY.items() if op.differentiable])
def test_jvp_of_every_unary_row_matches_reverse_mode_and_finite_differences(name):
    _, domain = UNARY_REF[name]
    x = _t(_sample(RNG, domain, (2, 3)))
    fn = getattr(nb, name)
    if name in _NOT_SMOOTH:
        _, tangent = _forward(fn, [x], [nb.ones_like(x)])
        assert np.all(tangent.numpy() == 0)
    else:
        check(fn, x)


@pytest.mark.parametrize("name", [n for n, op in ew.BINARY.items() if op.differentiable])
def test_jvp_of_every_binary_row_with_broadcasting(name):
    _, (da, db) = BINARY_REF[name]
    a = _t(_sample(RNG, da, (2, 3)))
    b = _t(_sample(RNG, db, (3,)))
    fn = getattr(nb, name)
    if name in _NOT_SMOOTH:
        _, tangent = _forward(fn, [a, b], [nb.ones_like(a), nb.ones_like(b)])
        assert np.all(tangent.numpy() == 0)
    else:
        check(fn, a, b)


def test_jvp_of_a_binary_row_with_a_python_number():
    x = _t([[0.5, 1.5], [2.0, 3.0]])
    check(lambda t: t ** 3, x)
    check(lambda t: 2.0 / t, x)
    check(lambda t: 1.0 - t, x)


def test_jvp_of_the_ternary_rows_where_and_clamp():
    x = _t([[-1.5, 0.3], [2.2, 0.7]])
    y = _t([[1.0, 2.0], [3.0, 4.0]])
    check(lambda a, b: nb.where(a > 0, a, b), x, y)
    check(lambda a: nb.clamp(a, -1.0, 1.0), x)


# ------------------------------------------------------------------------- other ops
LIBRARY = {
    "sum": lambda x: x.sum(),
    "sum_dim": lambda x: x.sum(1, keepdim=True),
    "mean": lambda x: x.mean(0),
    "prod": lambda x: x.prod(1),
    "amax": lambda x: x.amax(1),
    "max_dim": lambda x: x.max(1)[0],
    "var": lambda x: x.var(1),
    "std": lambda x: x.std(),
    "norm": lambda x: x.norm(),
    "logsumexp": lambda x: x.logsumexp(1),
    "softmax": lambda x: F.softmax(x, 1),
    "log_softmax": lambda x: F.log_softmax(x, 0),
    "matmul": lambda x: x @ x.t(),
    "reshape": lambda x: x.reshape(3, 2),
    "permute": lambda x: x.permute(1, 0),
    "expand": lambda x: x[:1].expand(4, 3),
    "slice": lambda x: x[:, 1:],
    "advanced_index": lambda x: x[nb.tensor([1, 0, 1])],
    "flip": lambda x: x.flip(0),
    "tril": lambda x: x.tril(),
    "cat": lambda x: nb.cat([x, x * 2], 1),
    "stack": lambda x: nb.stack([x, x.exp()]),
    "gather": lambda x: x.gather(1, nb.tensor([[0, 2], [1, 1]])),
    "clone": lambda x: x.clone(),
    "as_strided": lambda x: nb.as_strided(x, (2, 2), (1, 2)),
    "layer_norm": lambda x: F.layer_norm(x, (3,)),
    "mse_loss": lambda x: F.mse_loss(x, nb.zeros_like(x)),
    "cross_entropy": lambda x: F.cross_entropy(x, nb.tensor([0, 2])),
    "embedding": lambda x: F.embedding(nb.tensor([1, 0, 1]), x),
}


W1 = _t(RNG.standard_normal((2, 2, 2)))  # conv weights: (out, in, k)
W1T = _t(RNG.standard_normal((2, 1, 2)))  # transposed: (in, out, k)
W2 = _t(RNG.standard_normal((1, 1, 2, 2)))
W3 = _t(RNG.standard_normal((1, 1, 1, 2, 2)))

LIBRARY.update({  # every other differentiable nb.<function>, by its public name
    "amin": lambda x: x.amin(0),
    "min": lambda x: x.min(),
    "max": lambda x: x.max(),
    "bmm": lambda x: nb.bmm(x.unsqueeze(0), x.t().unsqueeze(0)),
    "mm": lambda x: nb.mm(x, x.t()),
    "dot": lambda x: nb.dot(x[0], x[1]),
    "outer": lambda x: nb.outer(x[0], x[1]),
    "chunk": lambda x: nb.chunk(x, 3, 1)[1],
    "split": lambda x: nb.split(x, 2, 1)[0],
    "unbind": lambda x: nb.unbind(x)[1],
    "narrow": lambda x: nb.narrow(x, 1, 1, 2),
    "flatten": lambda x: nb.flatten(x),
    "squeeze": lambda x: nb.squeeze(x[:1]),
    "unsqueeze": lambda x: nb.unsqueeze(x, 1),
    "transpose": lambda x: nb.transpose(x, 0, 1),
    "t": lambda x: nb.t(x),
    "triu": lambda x: nb.triu(x),
    "index_select": lambda x: nb.index_select(x, 1, nb.tensor([2, 0])),
    "take_along_dim": lambda x: nb.take_along_dim(x, nb.tensor([[0], [2]]), 1),
    "masked_fill": lambda x: nb.masked_fill(x, x > 1.2, 0.0),
    "scatter_add": lambda x: nb.scatter_add(x, 1, nb.tensor([[0, 0, 1], [2, 2, 2]]), x * x),
    "concat": lambda x: nb.concat([x, x]),
    "concatenate": lambda x: nb.concatenate([x, x], 1),
    "std_mean": lambda x: nb.std_mean(x, 1)[0] + nb.std_mean(x, 1)[1],
    "var_mean": lambda x: nb.var_mean(x)[0] * nb.var_mean(x)[1],
    "clip": lambda x: nb.clip(x, 0.8, 1.5),
    "arctan2": lambda x: nb.arctan2(x, x.flip(1)),
    "lerp": lambda x: nb.lerp(x, x.flip(1), 0.3),
    "logit": lambda x: nb.logit(x / 3),
    "nan_to_num": lambda x: nb.nan_to_num(x),
    "conv1d": lambda x: nb.conv1d(x.reshape(1, 2, 3), W1),
    "conv2d": lambda x: nb.conv2d(x.reshape(1, 1, 2, 3), W2),
    "conv3d": lambda x: nb.conv3d(x.reshape(1, 1, 1, 2, 3), W3),
    "conv_transpose1d": lambda x: nb.conv_transpose1d(x.reshape(1, 2, 3), W1T),
    "conv_transpose2d": lambda x: nb.conv_transpose2d(x.reshape(1, 1, 2, 3), W2),
    "conv_transpose3d": lambda x: nb.conv_transpose3d(x.reshape(1, 1, 1, 2, 3), W3),
    "max_pool1d": lambda x: nb.max_pool1d(x.reshape(1, 2, 3), 2),
    "max_pool2d": lambda x: nb.max_pool2d(x.reshape(1, 1, 2, 3), 2),
    "max_pool3d": lambda x: nb.max_pool3d(x.reshape(1, 1, 1, 2, 3), (1, 2, 2)),
    "avg_pool1d": lambda x: nb.avg_pool1d(x.reshape(1, 2, 3), 2),
    "adaptive_avg_pool1d": lambda x: nb.adaptive_avg_pool1d(x.reshape(1, 2, 3), 2),
    "adaptive_max_pool1d": lambda x: nb.adaptive_max_pool1d(x.reshape(1, 2, 3), 2),
    "pixel_shuffle": lambda x: nb.pixel_shuffle(nb.cat([x, x * 2]).reshape(1, 4, 1, 3), 2),
    "pixel_unshuffle": lambda x: nb.pixel_unshuffle(nb.cat([x, x * 2], 1).reshape(1, 1, 2, 6),
                                                    2),
    # the ops of the op issue's indexing, scan, sorting, products and shape parts
    "addbmm": lambda x: nb.addbmm(x[:, :2], x.unsqueeze(0), x.t().unsqueeze(0)[..., :2]),
    "addmm": lambda x: nb.addmm(x[:, :2], x, x.t()[:, :2]),
    "addmv": lambda x: nb.addmv(x[0, :2], x.t()[:2], x[1, :2]),
    "addr": lambda x: nb.addr(x, x[:, 0], x[0]),
    "baddbmm": lambda x: nb.baddbmm(x[:, :2].unsqueeze(0), x.unsqueeze(0),
                                    x.t()[:, :2].unsqueeze(0)),
    "aminmax": lambda x: nb.aminmax(x, dim=1)[0] + nb.aminmax(x, dim=1)[1],
    "atleast_1d": lambda x: nb.atleast_1d(x.sum()),
    "atleast_2d": lambda x: nb.atleast_2d(x[0]),
    "atleast_3d": lambda x: nb.atleast_3d(x),
    "block_diag": lambda x: nb.block_diag(x, x[:1]),
    "broadcast_tensors": lambda x: nb.broadcast_tensors(x, x[:1])[1],
    "broadcast_to": lambda x: nb.broadcast_to(x[:1], (2, 3)),
    "cartesian_prod": lambda x: nb.cartesian_prod(x[0], x[1, :2]),
    "cdist": lambda x: nb.cdist(x, x.flip(0) * 2),
    "chain_matmul": lambda x: nb.chain_matmul(x, x.t(), x),
    "column_stack": lambda x: nb.column_stack([x[0], x[1]]),
    "combinations": lambda x: nb.combinations(x[0]),
    "cross": lambda x: nb.cross(x, x.flip(1) ** 2, dim=1),
    "cummax": lambda x: nb.cummax(x, 1)[0],
    "cummin": lambda x: nb.cummin(x, 1)[0],
    "cumprod": lambda x: nb.cumprod(x, 1),
    "cumsum": lambda x: nb.cumsum(x, 0),
    "diag": lambda x: nb.diag(x[0]),
    "diag_embed": lambda x: nb.diag_embed(x),
    "diagflat": lambda x: nb.diagflat(x[0]),
    "diagonal": lambda x: nb.diagonal(x),
    "diff": lambda x: nb.diff(x, dim=1),
    "dist": lambda x: nb.dist(x, x.flip(1) * 2),
    "dsplit": lambda x: nb.dsplit(x.reshape(1, 2, 3), [1])[1],
    "dstack": lambda x: nb.dstack([x, x * 2]),
    "einsum": lambda x: nb.einsum("ij,kj->ik", x, x * x),
    "hsplit": lambda x: nb.hsplit(x, [1])[1],
    "hstack": lambda x: nb.hstack([x, x * 2]),
    "index_add": lambda x: nb.index_add(x, 1, nb.tensor([0, 2]), x[:, :2] * x[:, :2]),
    "index_copy": lambda x: nb.index_copy(x, 1, nb.tensor([0, 2]), x[:, :2] * 3),
    "index_fill": lambda x: nb.index_fill(x, 1, nb.tensor([1]), 0.5),
    "index_put": lambda x: nb.index_put(x, (nb.tensor([0, 1]), nb.tensor([2, 0])), x[0, :2] ** 2),
    "inner": lambda x: nb.inner(x, x * x),
    "kron": lambda x: nb.kron(x, x[:1, :2]),
    "kthvalue": lambda x: nb.kthvalue(x, 2, 1)[0],
    "logcumsumexp": lambda x: nb.logcumsumexp(x, 1),
    "masked_scatter": lambda x: nb.masked_scatter(x, x > 1.2, x.flip(1) * 2),
    "masked_select": lambda x: nb.masked_select(x, x > 1.2),
    "median": lambda x: nb.median(x, 1)[0],
    "meshgrid": lambda x: nb.meshgrid(x[0], x[1, :2], indexing="ij")[0],
    "mode": lambda x: nb.mode(x, 1)[0],
    "moveaxis": lambda x: nb.moveaxis(x, 0, 1),
    "movedim": lambda x: nb.movedim(x, 1, 0),
    "msort": lambda x: nb.msort(x),
    "mv": lambda x: nb.mv(x, x[0]),
    "nanmean": lambda x: nb.nanmean(x, 1),
    "nanmedian": lambda x: nb.nanmedian(x, 1)[0],
    "nanquantile": lambda x: nb.nanquantile(x, 0.3, dim=1),
    "nansum": lambda x: nb.nansum(x, 0),
    "narrow_copy": lambda x: nb.narrow_copy(x, 1, 1, 2),
    "put": lambda x: nb.put(x, nb.tensor([0, 4]), x[0, :2] ** 2),
    "quantile": lambda x: nb.quantile(x, 0.3, dim=1),
    "repeat_interleave": lambda x: nb.repeat_interleave(x, 2, dim=0),
    "roll": lambda x: nb.roll(x, 1, 1),
    "rot90": lambda x: nb.rot90(x),
    "row_stack": lambda x: nb.row_stack([x, x * 2]),
    "scatter": lambda x: nb.scatter(x, 1, nb.tensor([[0, 1], [2, 0]]), x[:, :2] ** 2),
    "scatter_reduce": lambda x: nb.scatter_reduce(x, 1, nb.tensor([[0, 0], [2, 2]]),
                                                  x[:, :2] ** 2, "sum"),
    "select": lambda x: nb.select(x, 1, 2),
    "sort": lambda x: nb.sort(x, 1)[0],
    "split_with_sizes": lambda x: nb.split_with_sizes(x, [1, 2], 1)[1],
    "swapaxes": lambda x: nb.swapaxes(x, 0, 1),
    "swapdims": lambda x: nb.swapdims(x, 0, 1),
    "take": lambda x: nb.take(x, nb.tensor([0, 5, 3])),
    "tensor_split": lambda x: nb.tensor_split(x, 2, 1)[0],
    "tensordot": lambda x: nb.tensordot(x, x * x, dims=([1], [1])),
    "tile": lambda x: nb.tile(x, (2, 1)),
    "topk": lambda x: nb.topk(x, 2, 1)[0],
    "trace": lambda x: nb.trace(x),
    "unflatten": lambda x: nb.unflatten(x, 1, (3, 1)),
    "vdot": lambda x: nb.vdot(x[0], x[1]),
    "vsplit": lambda x: nb.vsplit(x, [1])[1],
    "vstack": lambda x: nb.vstack([x, x * 2]),
})
# nb.<functions> that make tensors, are not differentiable or have no tensor input
NO_TANGENT = {
    "arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
    "linspace", "manual_seed", "ones", "ones_like", "rand", "rand_like", "randint", "randn",
    "randn_like", "tensor", "zeros", "zeros_like", "is_inference", "argmax", "argmin", "allclose",
    # random, RNG state, dtype info, interop and integer/bool-valued results
    "Generator", "bernoulli", "multinomial", "normal", "poisson", "randint_like", "randperm",
    "get_rng_state", "set_rng_state", "seed", "initial_seed", "finfo", "iinfo", "from_dlpack",
    "all", "any", "argsort", "argwhere", "bucketize", "count_nonzero", "equal", "isclose",
    "nonzero", "searchsorted", "tril_indices", "triu_indices", "unique", "unique_consecutive",
    "broadcast_shapes",
}


def test_every_public_function_has_a_forward_mode_test():
    from nbgrad.ops import _register

    missing = sorted(  # elementwise rows (and their aliases) are checked row by row above
        e.name for e in _register.entries("function")
        if not isinstance(e.doc, ew.Elementwise) and e.name not in {"where", "clamp"}
        and e.name not in LIBRARY and e.name not in NO_TANGENT
    )
    assert missing == [], f"add a forward-mode check to LIBRARY for: {missing}"


@pytest.mark.parametrize("name", list(LIBRARY))
def test_jvp_of_library_ops_matches_reverse_mode_and_finite_differences(name):
    x = _t(RNG.uniform(0.5, 2.0, (2, 3)))
    check(LIBRARY[name], x)


def test_jvp_of_linear_with_bias_uses_the_documented_fallback():
    x, w, b = _t(RNG.standard_normal((2, 3))), _t(RNG.standard_normal((4, 3))), _t([1.0] * 4)
    check(F.linear, x, w, b)


def test_jvp_of_in_place_ops_and_of_writes_through_views():
    x = _t([1.0, 2.0, 3.0])
    with fwAD.dual_level():
        d = fwAD.make_dual(x, _t([1.0, 1.0, 1.0]))
        y = d.clone()
        y.mul_(d)  # y = x^2: tangent 2x
        assert fwAD.unpack_dual(y).tangent.tolist() == [2.0, 4.0, 6.0]
        z = d * 1
        z[0] = 5.0  # a constant written: its tangent is 0
        assert fwAD.unpack_dual(z).tangent.tolist() == [0.0, 1.0, 1.0]
        w = d * 1
        w[1:].mul_(3.0)  # through a view: the base's tangent follows
        assert fwAD.unpack_dual(w).tangent.tolist() == [1.0, 3.0, 3.0]


# ----------------------------------------------------------------------- the dual API
def test_make_dual_outside_a_level_raises_like_pytorch():
    with pytest.raises(RuntimeError, match="no level exists"):
        fwAD.make_dual(nb.zeros(2), nb.ones(2))


def test_nested_dual_levels_are_not_supported_like_pytorch():
    with fwAD.dual_level(), pytest.raises(RuntimeError, match="Nested forward mode AD"):
        with fwAD.dual_level():
            pass


def test_make_dual_with_a_tangent_of_another_size_raises():
    with fwAD.dual_level(), pytest.raises(RuntimeError, match="different size"):
        fwAD.make_dual(nb.zeros(3), nb.ones(2))


def test_make_dual_is_a_view_that_keeps_reverse_mode_history():
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, nb.ones(2))
        assert d._base is x and d.grad_fn is not None
        y = (d * d).sum()
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_unpack_dual_returns_an_unpacked_dual_tensor_namedtuple():
    with fwAD.dual_level():
        d = fwAD.make_dual(nb.tensor([3.0]), nb.tensor([2.0]))
        u = fwAD.unpack_dual(d * d)
        assert isinstance(u, fwAD.UnpackedDualTensor) and isinstance(u, tuple)
        assert u.primal.tolist() == [9.0] and u.tangent.tolist() == [12.0]
        assert fwAD.unpack_dual(u.primal).tangent is None  # the primal carries no tangent
        assert fwAD.unpack_dual(nb.ones(1)).tangent is None


def test_tangents_are_dropped_when_the_level_exits():
    with fwAD.dual_level():
        d = fwAD.make_dual(nb.tensor([3.0]), nb.tensor([2.0]))
    assert fwAD.unpack_dual(d).tangent is None
    assert fwAD.unpack_dual(d * 2).tangent is None


def test_tangent_is_cast_to_the_primal_dtype():
    with fwAD.dual_level():
        d = fwAD.make_dual(nb.zeros(2), nb.ones(2, dtype=nb.float64))
        assert fwAD.unpack_dual(d).tangent.dtype is nb.float32


def test_ops_on_integer_tensors_get_no_tangent():
    with fwAD.dual_level():
        d = fwAD.make_dual(nb.tensor([1.5, 2.5]), nb.ones(2))
        assert fwAD.unpack_dual(d.argmax()).tangent is None
        assert fwAD.unpack_dual(d > 2).tangent is None


# ------------------------------------------------------------------- custom Functions
class _Cube(nb.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.x = x
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * grad

    @staticmethod
    def jvp(ctx, t):
        return 3 * ctx.x ** 2 * t


def test_custom_function_jvp_gives_the_tangent():
    with fwAD.dual_level():
        y = _Cube.apply(fwAD.make_dual(nb.tensor([2.0]), nb.tensor([1.0])))
        assert fwAD.unpack_dual(y).tangent.tolist() == [12.0]


def test_custom_function_without_jvp_raises_not_implemented_like_pytorch():
    class NoJvp(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with fwAD.dual_level(), pytest.raises(NotImplementedError, match="implement the jvp"):
        NoJvp.apply(fwAD.make_dual(nb.tensor([2.0]), nb.tensor([1.0])))


def test_custom_function_jvp_gets_zeros_for_inputs_without_tangent():
    seen = []

    class Mul(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.xy = (x, y)
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g, g

        @staticmethod
        def jvp(ctx, tx, ty):
            seen.append(ty.tolist())
            x, y = ctx.xy
            return tx * y + x * ty

    with fwAD.dual_level():
        out = Mul.apply(fwAD.make_dual(nb.tensor([2.0]), nb.tensor([1.0])), nb.tensor([5.0]))
        assert fwAD.unpack_dual(out).tangent.tolist() == [5.0]
    assert seen == [[0.0]]


# -------------------------------------------------------------- functional, forward mode
def test_functional_jvp_uses_forward_mode_and_matches_reverse():
    x = _t([0.5, 1.0, 2.0])
    v = _t([1.0, -1.0, 0.5])
    out, jv = jvp(lambda t: (t.exp() * t).sum(0, keepdim=True), x, v)
    expected = ((x.exp() * (x + 1)) * v).sum().item()
    assert out.shape == (1,) and jv.item() == pytest.approx(expected)


def test_functional_jvp_create_graph_keeps_history():
    x = _t([0.5, 1.0]).requires_grad_()
    _, jv = jvp(lambda t: t ** 3, x, _t([1.0, 1.0]), create_graph=True)
    (g,) = nb.autograd.grad(jv.sum(), x)
    assert g.tolist() == pytest.approx([3.0, 6.0])  # d/dx 3x^2 = 6x


def test_jacobian_forward_mode_strategy_matches_reverse_mode():
    x = _t([[0.5, 1.0], [2.0, 3.0]])

    def f(t):
        return F.softmax(t, 1) * t.sum()
    fwd = jacobian(f, x, strategy="forward-mode")
    rev = jacobian(f, x)
    np.testing.assert_allclose(fwd.numpy(), rev.numpy(), rtol=1e-10, atol=1e-12)


def test_hessian_with_forward_mode_outer_jacobian_is_forward_over_reverse():
    x = _t([0.5, 1.0, 2.0])

    def f(t):
        return (t.sin() * t.exp()).sum() + (t @ t) ** 2
    fwd = hessian(f, x, outer_jacobian_strategy="forward-mode")
    rev = hessian(f, x)
    np.testing.assert_allclose(fwd.numpy(), rev.numpy(), rtol=1e-10, atol=1e-10)


def test_jacobian_rejects_an_unknown_strategy():
    with pytest.raises(ValueError, match="forward-mode"):
        jacobian(lambda t: t, _t([1.0]), strategy="sideways")


@pytest.mark.parametrize("name", ["softmax", "layer_norm", "cross_entropy", "prod", "norm"])
def test_reverse_over_forward_differentiates_the_tangent(name):
    f = LIBRARY[name]
    x0 = RNG.uniform(0.5, 2.0, (2, 3))
    v = _t(RNG.standard_normal((2, 3)))

    def tangent_sum(a):
        with fwAD.dual_level():
            out = f(fwAD.make_dual(a, v))
            return fwAD.unpack_dual(out).tangent.sum()

    x = _t(x0).requires_grad_()
    tangent_sum(x).backward()
    eps = 1e-6
    numerical = np.zeros(x0.size)
    for k in range(x0.size):
        step = np.zeros(x0.size)
        step[k] = eps
        plus = tangent_sum(_t(x0 + step.reshape(x0.shape))).item()
        minus = tangent_sum(_t(x0 - step.reshape(x0.shape))).item()
        numerical[k] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(x.grad.numpy().ravel(), numerical, rtol=1e-5, atol=1e-6)


def test_custom_function_returning_its_input_does_not_overwrite_the_input_tangent():
    class Identity(nb.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

        @staticmethod
        def jvp(ctx, t):
            return t * 5

    with fwAD.dual_level():
        d = fwAD.make_dual(nb.tensor([1.0]), nb.tensor([1.0]))
        out = Identity.apply(d)
        assert out is not d
        assert fwAD.unpack_dual(out).tangent.tolist() == [5.0]
        assert fwAD.unpack_dual(d).tangent.tolist() == [1.0]
