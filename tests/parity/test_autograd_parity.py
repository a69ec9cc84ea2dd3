"""nbgrad's autograd beside PyTorch's: grad modes, version counters and the error of an in-place
change to a saved tensor, retain_grad, the order hooks run in, ``autograd.grad`` with
``create_graph`` (second derivatives), forward-mode AD, and ``func.grad`` / ``func.jvp`` /
``func.vmap`` against ``torch.func``. Same inputs (float64) through both, results compared."""

import numpy as np
import pytest

import nbgrad as nb

torch = pytest.importorskip("torch")

X = np.array([[0.3, -1.2, 0.7], [1.5, 0.2, -0.4]])
V = np.array([[1.0, 0.5, -2.0], [0.25, -1.0, 3.0]])


def close(a, b, rtol=1e-10, atol=1e-12):
    def arr(t):
        return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    np.testing.assert_allclose(arr(a), arr(b), rtol=rtol, atol=atol)


def both(fn):
    """fn(lib) for nbgrad and torch."""
    return fn(nb), fn(torch)


# ---------------------------------------------------------------- grad modes

def test_grad_modes_requires_grad_of_results():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        out = []
        with lib.no_grad():
            out.append((x * 2).requires_grad)
            with lib.enable_grad():
                out.append((x * 2).requires_grad)
            out.append(lib.is_grad_enabled())
        with lib.set_grad_enabled(False):
            out.append((x + 1).requires_grad)
        out.append(lib.is_grad_enabled())
        with lib.inference_mode():
            y = x * 3
            out += [y.requires_grad, y.is_inference(), lib.is_inference_mode_enabled()]
        with lib.inference_mode(False):
            out.append((x * 3).requires_grad)
        lib.set_grad_enabled(False)
        out.append((x * 2).requires_grad)
        lib.set_grad_enabled(True)
        out.append((x * 2).requires_grad)

        @lib.no_grad()
        def f(t):
            return t * 2
        out.append(f(x).requires_grad)
        return out

    ours, theirs = both(run)
    assert ours == theirs


def test_inference_tensor_in_autograd_is_refused():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        with lib.inference_mode():
            y = lib.tensor(V)
        try:
            (x * y).sum().backward()
        except RuntimeError as e:
            return ("RuntimeError", str(e))
        return ("ok", x.grad.numpy().tolist())

    ours, theirs = both(run)
    assert ours[0] == theirs[0]


# ---------------------------------------------------------------- version counters

def test_version_counter_counts_in_place_ops():
    def run(lib):
        x = lib.tensor(X)
        vs = [x._version]
        x.add_(1)
        vs.append(x._version)
        x[0] = 2.0
        vs.append(x._version)
        v = x[1]
        v.mul_(2)
        vs += [x._version, v._version]
        x.zero_()
        vs.append(v._version)
        return vs

    ours, theirs = both(run)
    assert ours == theirs


@pytest.mark.parametrize("case", ["mul-saved-input", "sin-saved-input", "view-of-saved",
                                  "exp-saved-output", "not-saved"])
def test_in_place_change_of_a_saved_tensor(case):
    def run(lib):
        leaf = lib.tensor(X, requires_grad=True)
        a = leaf * 1
        if case == "mul-saved-input":
            b = a * a
            a.add_(1)
        elif case == "sin-saved-input":
            b = a.sin()
            a.mul_(2)
        elif case == "view-of-saved":
            b = a * a
            a[0].add_(1)
        elif case == "exp-saved-output":
            b = a.exp()
            b.add_(1)
        else:
            b = a + 2  # add saves nothing
            a.mul_(3)
        try:
            b.sum().backward()
        except RuntimeError as e:  # nbgrad raises a subclass (VersionMismatchError)
            return "RuntimeError", str(e)
        return "ok", leaf.grad.numpy().ravel().tolist()

    ours, theirs = both(run)
    assert ours[0] == theirs[0], (ours, theirs)
    if theirs[0] == "RuntimeError":
        assert "modified by an inplace operation" in ours[1], ours[1]
    else:
        assert ours[1] == pytest.approx(theirs[1], rel=1e-12)


def test_in_place_on_leaf_requiring_grad_is_refused():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        try:
            x.add_(1)
        except RuntimeError as e:
            return str(e)
        return "ok"

    ours, theirs = both(run)
    assert theirs != "ok" and ours != "ok"
    assert "leaf Variable that requires grad" in ours, ours


# ---------------------------------------------------------------- retain_grad, hooks

def test_retain_grad_and_non_leaf_grads():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        h = x * x
        h.retain_grad()
        g = h.sin()
        (g * lib.tensor(V)).sum().backward()
        return x.grad, h.grad, h.retains_grad, g.retains_grad, x.is_leaf, h.is_leaf

    ours, theirs = both(run)
    close(ours[0], theirs[0])
    close(ours[1], theirs[1])
    assert ours[2:] == theirs[2:]


def test_hooks_order_and_changed_gradients():
    def run(lib):
        log = []
        x = lib.tensor(X, requires_grad=True)
        h = x * 2
        h.register_hook(lambda g: log.append("h1"))
        h.register_hook(lambda g: (log.append("h2"), g * 3)[1])
        h.register_hook(lambda g: log.append(("h3", float(g.sum()))))
        x.register_hook(lambda g: log.append(("x", float(g.sum()))))
        y = h.exp()
        y.register_hook(lambda g: log.append("y"))
        handle = y.register_hook(lambda g: log.append("removed"))
        handle.remove()
        (y * lib.tensor(V)).sum().backward()
        return log, x.grad

    ours, theirs = both(run)
    assert [e if isinstance(e, str) else e[0] for e in ours[0]] == \
        [e if isinstance(e, str) else e[0] for e in theirs[0]]
    for a, b in zip(ours[0], theirs[0]):
        if not isinstance(a, str):
            assert a[1] == pytest.approx(b[1], rel=1e-12)
    close(ours[1], theirs[1])


def test_accumulation_and_zeroing():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        for _ in range(2):
            (x ** 3).sum().backward()
        g1 = x.grad.clone()
        x.grad = None
        (x * lib.tensor(V)).sum().backward()
        return g1, x.grad

    ours, theirs = both(run)
    close(ours[0], theirs[0])
    close(ours[1], theirs[1])


# ---------------------------------------------------------------- autograd.grad, higher order

FUNCS = {
    "poly": lambda lib, x: (x ** 3 - 2 * x * x).sum(),
    "sin_exp": lambda lib, x: (x.sin() * x.exp()).sum(),
    "tanh_mm": lambda lib, x: (x @ x.transpose(0, 1)).tanh().sum(),
    "softmax": lambda lib, x: (lib.softmax(x, 1) * lib.tensor(V)).sum(),
    "logsumexp": lambda lib, x: lib.logsumexp(x * x, 1).sum(),
    "norm": lambda lib, x: x.norm() * x.sum(),
    "sigmoid_div": lambda lib, x: (x.sigmoid() / (1 + x * x)).sum(),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_second_derivatives(name):
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        (g,) = lib.autograd.grad(FUNCS[name](lib, x), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * lib.tensor(V)).sum(), x)
        return g, gg

    ours, theirs = both(run)
    close(ours[0], theirs[0])
    close(ours[1], theirs[1])


def test_grad_options():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        w = lib.tensor(V, requires_grad=True)
        y = x * w
        gx, gw = lib.autograd.grad(y, (x, w), grad_outputs=lib.ones_like(y), retain_graph=True)
        (gu,) = lib.autograd.grad(y.sum(), lib.tensor(X, requires_grad=True), allow_unused=True)
        z = x.sin().sum()
        lib.autograd.grad(z, x)
        try:
            lib.autograd.grad(z, x)
            second = "ok"
        except RuntimeError as e:
            second = str(e)
        return gx, gw, gu, second

    ours, theirs = both(run)
    close(ours[0], theirs[0])
    close(ours[1], theirs[1])
    assert ours[2] is None and theirs[2] is None
    assert theirs[3] != "ok" and "second time" in ours[3], ours[3]


@pytest.mark.xfail(strict=True, reason="nbgrad/autograd: PyTorch frees every node's graph after "
                   "a backward without retain_graph, so a second backward through nodes that "
                   "saved no tensor (x * 2, sum) also raises; nbgrad raises only when a freed "
                   "saved tensor is read")
def test_second_backward_through_nodes_that_saved_nothing():
    def run(lib):
        x = lib.tensor(X, requires_grad=True)
        z = (x * 2).sum()
        z.backward()
        try:
            z.backward()
        except RuntimeError as e:
            return str(e)
        return "ok"

    ours, theirs = both(run)
    assert theirs != "ok" and "second time" in ours


# ---------------------------------------------------------------- forward mode

JVP_FUNCS = {
    "sin_mul": lambda lib, x: x.sin() * x,
    "exp_sum": lambda lib, x: x.exp().sum(1),
    "matmul": lambda lib, x: x @ x.transpose(0, 1),
    "tanh_div": lambda lib, x: x.tanh() / (2 + x),
    "softmax": lambda lib, x: lib.softmax(x, 1),
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's forward_ad imports jit
@pytest.mark.parametrize("name", sorted(JVP_FUNCS))
def test_forward_ad_dual_numbers(name):
    def run(lib):
        fa = lib.autograd.forward_ad
        with fa.dual_level():
            d = fa.make_dual(lib.tensor(X), lib.tensor(V))
            p, t = fa.unpack_dual(JVP_FUNCS[name](lib, d))
        return p, t

    ours, theirs = both(run)
    close(ours[0], theirs[0])
    close(ours[1], theirs[1])


@pytest.mark.parametrize("name", sorted(JVP_FUNCS))
def test_func_jvp(name):
    def run(lib):
        return lib.func.jvp(lambda x: JVP_FUNCS[name](lib, x), (lib.tensor(X),), (lib.tensor(V),))

    ours, theirs = both(run)
    close(ours[0], theirs[0])
    close(ours[1], theirs[1])


# ---------------------------------------------------------------- torch.func transforms

@pytest.mark.parametrize("name", sorted(FUNCS))
def test_func_grad(name):
    ours, theirs = both(lambda lib: lib.func.grad(lambda x: FUNCS[name](lib, x))(lib.tensor(X)))
    close(ours, theirs)


def test_func_grad_argnums_and_aux():
    def run(lib):
        def f(x, w):
            y = (x * w).sin().sum()
            return y, x * 2
        g, aux = lib.func.grad(f, argnums=(0, 1), has_aux=True)(lib.tensor(X), lib.tensor(V))
        gv, val = lib.func.grad_and_value(lambda x: (x ** 2).sum())(lib.tensor(X))
        return g[0], g[1], aux, gv, val

    for a, b in zip(*both(run)):
        close(a, b)


def test_func_hessian_and_jacobians():
    def f(lib):
        return lambda x: (x.sin() * x).sum()

    def g(lib):
        return lambda x: x.exp() * x.sum()

    def run(lib):
        x = lib.tensor(X[0])
        return (lib.func.hessian(f(lib))(x), lib.func.jacrev(g(lib))(x),
                lib.func.jacfwd(g(lib))(x))

    for a, b in zip(*both(run)):
        close(a, b)


VMAP_CASES = {
    "dot": (lambda lib: lambda a, b: (a * b).sum(), {}),
    "in_dims": (lambda lib: lambda a, b: a @ b, {"in_dims": (0, None)}),
    "out_dims": (lambda lib: lambda a, b: a.exp() + b, {"out_dims": 1}),
    "grad_inside": (lambda lib: lambda a, b: lib.func.grad(lambda t: (t.sin() * b).sum())(a), {}),
}


@pytest.mark.parametrize("case", sorted(VMAP_CASES))
def test_vmap(case):
    make, kw = VMAP_CASES[case]

    def run(lib):
        a = lib.tensor(X)
        b = lib.tensor(V[:, :3].T @ V) if case == "in_dims" else lib.tensor(V)
        return lib.func.vmap(make(lib), **kw)(a, b)

    ours, theirs = both(run)
    assert tuple(ours.shape) == tuple(theirs.shape)
    close(ours, theirs)
