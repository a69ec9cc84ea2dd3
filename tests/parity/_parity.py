"""Shared driver of the parity tier: run one computation through nbgrad and PyTorch on the same
float64 inputs, seed every differentiable output with the same random cotangent, and compare the
outputs, the inputs' gradients and the parameters' gradients."""

import numpy as np
import pytest

import nbgrad as nb

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-9, 1e-11


def flat(out):
    """The tensors of a (nested) tuple/list of outputs, Nones dropped."""
    if out is None:
        return []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def np_of(t):
    return t.detach().numpy().copy()


def floating(lib, t):
    return t.dtype in (lib.float64, lib.float32, lib.float16)


def const(a):
    """A float array passed without requires_grad (a target no gradient is defined for)."""
    a = np.array(a)
    a.setflags(write=False)
    return a


def run(lib, f, arrays, module=None, seed=0):
    """``f(lib, *tensors)`` with float arrays as leaves that require grad (read-only ones, see
    :func:`const`, do not); returns the outputs, the leaves' gradients and (if ``module``) the
    parameters' gradients by name, as numpy."""
    leaves = [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f" and a.flags.writeable)
              for a in arrays]
    outs = flat(f(lib, *leaves))
    rng = np.random.default_rng(seed)
    total = None
    for o in outs:
        if floating(lib, o) and o.requires_grad:
            g = lib.tensor(rng.standard_normal(tuple(o.shape)))
            term = (o * g).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    grads = [None if t.grad is None else np_of(t.grad) for t in leaves if t.requires_grad]
    pgrads = {}
    if module is not None:
        for name, p in module.named_parameters():
            pgrads[name] = None if p.grad is None else np_of(p.grad)
    return [np_of(o) for o in outs], grads, pgrads


def compare_dtypes(f, arrays):
    """The outputs' numpy dtypes equal (no silent promotion of float32 to float64)."""
    ours = [o.dtype for o in run(nb, f, arrays)[0]]
    theirs = [o.dtype for o in run(torch, f, arrays)[0]]
    assert ours == theirs, "output dtypes"


def assert_close(ours, theirs, what, rtol=RTOL, atol=ATOL):
    assert (ours is None) == (theirs is None), what
    if ours is None:
        return
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    if theirs.dtype.kind in "biu":
        np.testing.assert_array_equal(ours, theirs, err_msg=what)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def compare(f, arrays, nmod=None, tmod=None, rtol=RTOL, atol=ATOL, seed=0):
    ours = run(nb, f, arrays, nmod, seed)
    theirs = run(torch, f, arrays, tmod, seed)
    assert len(ours[0]) == len(theirs[0]), "number of outputs"
    for i, (a, b) in enumerate(zip(ours[0], theirs[0])):
        assert_close(a, b, f"output {i}", rtol, atol)
    for i, (a, b) in enumerate(zip(ours[1], theirs[1])):
        assert_close(a, b, f"grad of input {i}", rtol, atol)
    assert sorted(ours[2]) == sorted(theirs[2]), "parameter names"
    for k in theirs[2]:
        assert_close(ours[2][k], theirs[2][k], f"grad of {k}", rtol, atol)
    return ours, theirs


def build_pair(name, *args, float32=False, **kwargs):
    """``nn.<name>(*args, **kwargs)`` of both libraries in float64 (or their default float32),
    torch's weights copied into nbgrad's through numpy; state_dict keys and shapes are checked
    equal first."""
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args, **kwargs)
    nm = getattr(nb.nn, name)(*args, **kwargs)
    if not float32:
        tm, nm = tm.double(), nm.double()
    check_state_dict(nm, tm)
    copy_weights(tm, nm)
    return nm, tm


def check_state_dict(nm, tm):
    ours = {k: tuple(v.shape) for k, v in nm.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert list(ours) == list(theirs), "state_dict keys"
    assert ours == theirs, "state_dict shapes"


def copy_weights(tm, nm):
    nm.load_state_dict({k: nb.tensor(v.detach().numpy().copy())
                        for k, v in tm.state_dict().items()})


def module_fn(nm, tm, call=None):
    """An ``f(lib, *xs)`` that calls the library's module."""
    def f(lib, *xs):
        m = nm if lib is nb else tm
        return m(*xs) if call is None else call(lib, m, *xs)
    return f


def randn(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


def run2(lib, f, arrays, module=None, seed=0):
    """Second order: the gradient of ``sum(out * g)`` w.r.t. the float leaves and parameters
    (create_graph), contracted with random ``v``, differentiated again; returns the first-order
    gradients and the second-order ones of the leaves and parameters, as numpy."""
    leaves = [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f" and a.flags.writeable)
              for a in arrays]
    params = [] if module is None else [p for _, p in module.named_parameters()]
    wrt = [t for t in leaves if t.requires_grad] + params
    outs = [o for o in flat(f(lib, *leaves)) if floating(lib, o) and o.requires_grad]
    rng = np.random.default_rng(seed)
    total = sum((o * lib.tensor(rng.standard_normal(tuple(o.shape)))).sum() for o in outs)
    firsts = lib.autograd.grad(total, wrt, create_graph=True, allow_unused=True)
    second = sum((g * lib.tensor(rng.standard_normal(tuple(g.shape)))).sum()
                 for g in firsts if g is not None and g.requires_grad)
    for t in wrt:
        t.grad = None
    if not isinstance(second, int):
        second.backward()
    return ([None if g is None else np_of(g) for g in firsts],
            [None if t.grad is None else np_of(t.grad) for t in wrt])


def compare2(f, arrays, nmod=None, tmod=None, rtol=RTOL, atol=ATOL, seed=0):
    ours = run2(nb, f, arrays, nmod, seed)
    theirs = run2(torch, f, arrays, tmod, seed)
    for i, (a, b) in enumerate(zip(ours[0], theirs[0])):
        assert_close(a, b, f"first-order grad {i}", rtol, atol)
    for i, (a, b) in enumerate(zip(ours[1], theirs[1])):
        # a gradient that does not depend on the leaf: None on one side, zeros on the other
        if (a is None) != (b is None):
            a, b = (np.zeros_like(b), b) if a is None else (a, np.zeros_like(a))
        assert_close(a, b, f"second-order grad {i}", rtol, atol)
