"""Property-based tests (hypothesis) of the autograd core as a whole.

1. Random op programs over random broadcast-compatible shapes, float32/float64 and
   non-contiguous inputs (transposed, strided, expanded views): values against numpy, gradients
   against central finite differences (``gradcheck`` in float64), float32 gradients against the
   float64 ones.
2. Random interleavings of views, aliases, in-place ops and backward against the version-counter
   rule: backward raises ``modified by an inplace operation`` exactly when a tensor saved for
   backward (or a view/alias sharing its storage) was modified after it was saved; otherwise the
   values equal a numpy replay of the same program (numpy has the same view/in-place semantics)
   and the gradient equals finite differences of that replay.
3. Random nestings of the grad-mode managers (context managers, decorators, generator functions,
   ``nb.grad_mode(mode, fn)``, plain ``set_grad_enabled`` calls, exceptions) against a model of the
   mode stack, checking at every point what a tensor op records and whether its result is an
   inference tensor. (``tests/test_grad_mode.py`` covers the bare mode stack; this adds tensors.)

Sizes are tiny and example counts modest so the file runs in well under a minute; set
``NBGRAD_PROPERTY_EXAMPLES`` to run more examples per test, and ``NBGRAD_PROPERTY_RANDOM=1`` to draw
new examples on each run (by default the examples are derandomized: the same on every run).
"""

from __future__ import annotations

import contextvars
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import nbgrad as nb
from nbgrad.grad_mode import MODES, mode_var

_SCALE = int(os.environ.get("NBGRAD_PROPERTY_EXAMPLES", "0"))


def _profile(n: int):
    """The settings of one property test: ``n`` examples (or the env override), no deadline
    (the first example of a kind may compile kernels), no example database on disk."""
    return settings(
        max_examples=_SCALE or n,
        deadline=None,
        database=None,
        derandomize=not os.environ.get("NBGRAD_PROPERTY_RANDOM"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(autouse=True)
def _default_mode():
    """Each test starts in the default mode and must leave it there."""
    mode_var.set(MODES[(True, False)])
    yield
    assert (nb.is_grad_enabled(), nb.is_inference_mode_enabled()) == (True, False)


# ======================================================================================
# 1. Random op programs: values vs numpy, gradients vs finite differences
# ======================================================================================

# unary ops: (nbgrad, numpy); chosen to be smooth or to have kinks only at isolated points
UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "sin": (lambda x: x.sin(), np.sin),
    "cos": (nb.cos, np.cos),
    "tanh": (lambda x: x.tanh(), np.tanh),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    "exp": (lambda x: x.exp(), np.exp),
    "softplus": (lambda x: x.softplus(), lambda x: np.log1p(np.exp(x))),
    "abs": (lambda x: x.abs(), np.abs),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0)),
    "square": (lambda x: x * x, lambda x: x * x),
    "cube": (lambda x: x ** 3, lambda x: x ** 3),
    "log_sq1": (lambda x: (x * x + 1).log(), lambda x: np.log(x * x + 1)),
    "sqrt_sq1": (lambda x: (x * x + 1).sqrt(), lambda x: np.sqrt(x * x + 1)),
    "rdiv": (lambda x: 2.0 / (x * x + 1), lambda x: 2.0 / (x * x + 1)),
    "rsub": (lambda x: 1 - x, lambda x: 1 - x),
    "half": (lambda x: x * 0.5, lambda x: x * 0.5),
}
# binary ops (broadcasting)
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "maximum": (nb.maximum, np.maximum),
    "minimum": (nb.minimum, np.minimum),
    "pow": (lambda a, b: (a * a + 0.5) ** b, lambda a, b: (a * a + 0.5) ** b),
    "atan2": (nb.atan2, np.arctan2),
}


def _leaf_shape(draw, full: tuple) -> tuple:
    """A shape that broadcasts to ``full``: a suffix of it with some dims set to 1."""
    r = draw(st.integers(0, len(full)))
    tail = full[len(full) - r:]
    return tuple(s if draw(st.booleans()) else 1 for s in tail)


@st.composite
def programs(draw):
    """(full shape, leaves [(shape, layout)], steps) of a random op program."""
    full = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    n_leaves = draw(st.integers(1, 3))
    leaves = []
    for _ in range(n_leaves):
        shape = _leaf_shape(draw, full)
        layouts = ["contiguous"]
        if len(shape) >= 2:
            layouts.append("transposed")
        if len(shape) >= 1:
            layouts.append("strided")
        if len(shape) >= 1 and 1 in shape:
            layouts.append("expanded")
        leaves.append((shape, draw(st.sampled_from(layouts))))
    steps = []
    n_values = n_leaves
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "view"]))
        i = draw(st.integers(0, n_values - 1))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), i))
        elif kind == "binary":
            j = draw(st.integers(0, n_values - 1))
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), i, j))
        elif kind == "reduce":
            steps.append(("reduce", draw(st.sampled_from(["sum", "mean"])), i,
                          draw(st.integers(-3, 2))))
        else:
            steps.append(("view", draw(st.sampled_from(["transpose_op", "unsqueeze", "expand",
                                                        "slice_all", "reshape_flat"])), i,
                          draw(st.sampled_from(sorted(UNARY)))))
        n_values += 1
    seed = draw(st.integers(0, 2**32 - 1))
    return full, leaves, steps, seed


def _storage_shape(shape, layout):
    if layout == "transposed":
        return shape[:-2] + (shape[-1], shape[-2])
    if layout == "strided":
        return (2 * shape[0],) + shape[1:]
    if layout == "expanded":  # the size-1 dims are expanded to 3 by the view, then sliced back
        return shape
    return shape


def _present(t, layout):
    """The non-contiguous view of a leaf storage the program sees (nbgrad or numpy)."""
    if layout == "transposed":
        return t.transpose(-1, -2) if isinstance(t, nb.Tensor) else np.swapaxes(t, -1, -2)
    if layout == "strided":
        return t[::2]
    if layout == "expanded":  # a stride-0 view of the size-1 dims, cut back to size 1
        big = tuple(3 if s == 1 else s for s in t.shape)
        index = tuple(slice(0, 1) if s == 1 else slice(None) for s in t.shape)
        if isinstance(t, nb.Tensor):
            return t.expand(big)[index]
        return np.broadcast_to(t, big)[index]
    return t


def _run_program(full, leaves, steps, inputs, lib):
    """Run a program on leaf storages with nbgrad (``lib='nb'``) or numpy; returns the output."""
    with np.errstate(all="ignore"):  # numpy's overflow warnings (the results are checked)
        return _run_program_body(full, leaves, steps, inputs, lib)


def _run_program_body(full, leaves, steps, inputs, lib):
    values = [_present(x, layout) for x, (_, layout) in zip(inputs, leaves)]
    idx = 1 if lib == "np" else 0
    for step in steps:
        kind, name, i = step[:3]
        x = values[i]
        if kind == "unary":
            y = UNARY[name][idx](x)
        elif kind == "binary":
            y = BINARY[name][idx](x, values[step[3]])
        elif kind == "reduce":
            ndim = x.ndim
            if ndim == 0:
                y = x * 1.0
            else:
                d = step[3] % ndim
                if lib == "np":
                    y = getattr(np, name)(x, axis=d, keepdims=True)
                else:
                    y = getattr(x, name)(dim=d, keepdim=True)
        else:
            inner = UNARY[step[3]][idx]
            if name == "transpose_op" and x.ndim >= 2:  # op on a transposed view, then back
                if lib == "np":
                    y = np.swapaxes(inner(np.swapaxes(x, 0, -1)), 0, -1)
                else:
                    y = inner(x.transpose(0, -1)).transpose(0, -1)
            elif name == "unsqueeze":
                y = inner(x[None] if lib == "np" else x.unsqueeze(0))
            elif name == "expand" and x.ndim <= len(full):
                shape = np.broadcast_shapes(x.shape, full)
                y = inner(np.broadcast_to(x, shape) if lib == "np" else x.expand(shape))
            elif name == "reshape_flat":  # flatten then restore: a view or a copy
                flat = x.reshape(-1)
                y = inner(flat).reshape(x.shape)
            else:
                y = inner(x[...])
        values.append(y)
    return values[-1]


def _inputs(leaves, seed, dtype):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-1.5, 1.5, _storage_shape(s, lay)) for s, lay in leaves]
    return arrays, [nb.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]


def _tolerances(dtype):
    return (1e-4, 1e-5) if dtype is nb.float32 else (1e-9, 1e-12)


@_profile(150)
@given(programs(), st.sampled_from([nb.float32, nb.float64]))
def test_random_programs_match_numpy_values(program, dtype):
    full, leaves, steps, seed = program
    arrays, tensors = _inputs(leaves, seed, dtype)
    np_inputs = [a.astype(dtype.np).astype(np.float64) for a in arrays]
    expected = np.asarray(_run_program(full, leaves, steps, np_inputs, "np"), dtype=np.float64)
    assume(np.all(np.isfinite(expected)) and np.abs(expected).max(initial=0) < 1e4)
    out = _run_program(full, leaves, steps, tensors, "nb")
    assert out.dtype is dtype
    assert tuple(out.shape) == expected.shape
    assert out.requires_grad
    rtol, atol = _tolerances(dtype)
    np.testing.assert_allclose(out.detach().numpy(), expected,
                               rtol=rtol, atol=atol * max(1.0, np.abs(expected).max()))


_SWEEP = [(("unary", name, 0),) for name in sorted(UNARY)] + [
    (("binary", name, 0, 1),) for name in sorted(BINARY)
]


@pytest.mark.parametrize("steps", _SWEEP, ids=lambda s: s[0][1])
@pytest.mark.parametrize("dtype", [nb.float32, nb.float64], ids=["f32", "f64"])
def test_every_program_op_on_broadcast_non_contiguous_inputs(steps, dtype):
    """Each op of the property tests once, deterministically, on a transposed (2,3) input and a
    strided (3,) input broadcast against it: values vs numpy, gradients vs finite differences."""
    full = (2, 3)
    leaves = [((2, 3), "transposed"), ((3,), "strided")]
    program = (full, leaves, list(steps), 7)
    arrays, tensors = _inputs(leaves, 7, dtype)
    np_inputs = [a.astype(dtype.np).astype(np.float64) for a in arrays]
    expected = _run_program(full, leaves, steps, np_inputs, "np")
    out = _run_program(full, leaves, steps, tensors, "nb")
    rtol, atol = _tolerances(dtype)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=rtol, atol=atol)
    if dtype is nb.float64:
        assert _kink_free(full, leaves, steps, arrays)
        weights = nb.tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3), dtype=nb.float64)
        assert nb.autograd.gradcheck(
            lambda *xs: (_run_program(*program[:3], xs, "nb") * weights).sum(), tuple(tensors),
            eps=1e-6, atol=1e-6, rtol=1e-5)


def _kink_free(full, leaves, steps, arrays) -> bool:
    """False when a kinked op (abs, relu, max/min) sees an argument within 1e-4 of its kink,
    where finite differences with eps=1e-6 are not meaningful."""
    with np.errstate(all="ignore"):
        return _kink_free_body(full, leaves, steps, arrays)


def _kink_free_body(full, leaves, steps, arrays) -> bool:
    values = [np.asarray(_present(a, lay), dtype=np.float64) for a, (_, lay) in zip(arrays,
                                                                                   leaves)]
    for k in range(len(steps)):
        step = steps[k]
        kind, name = step[0], step[1]
        x = values[step[2]]
        args = None
        if kind == "unary" and name in ("abs", "relu"):
            args = np.abs(x)
        elif kind == "view" and step[3] in ("abs", "relu"):
            args = np.abs(x)
        elif kind == "binary" and name in ("maximum", "minimum"):
            diff = x - values[step[3]]
            args = np.where(diff == 0, 1.0, np.abs(diff))  # exact ties are smooth (x vs x)
        elif kind == "binary" and name == "atan2":
            args = np.abs(x) + np.abs(values[step[3]])
        if args is not None and args.size and np.min(args) < 1e-4:
            return False
        values.append(np.asarray(_run_program(full, leaves, steps[: k + 1], arrays, "np")))
    return True


@_profile(200)
@given(programs())
def test_random_programs_gradients_match_finite_differences(program):
    full, leaves, steps, seed = program
    arrays, leaves64 = _inputs(leaves, seed, nb.float64)
    expected = np.asarray(_run_program(full, leaves, steps, arrays, "np"))
    assume(np.all(np.isfinite(expected)) and np.abs(expected).max(initial=0) < 1e3)
    assume(_kink_free(full, leaves, steps, arrays))
    weights = np.random.default_rng(seed + 1).uniform(0.5, 1.5, expected.shape)
    w64 = nb.tensor(weights, dtype=nb.float64)

    def fn(*xs):
        return (_run_program(full, leaves, steps, xs, "nb") * w64).sum()

    event(f"{len(steps)} steps")
    assert nb.autograd.gradcheck(fn, tuple(leaves64), eps=1e-6, atol=1e-5, rtol=1e-4)

    # the float32 program's gradients agree with the (finite-difference checked) float64 ones
    _, leaves32 = _inputs(leaves, seed, nb.float32)
    w32 = nb.tensor(weights, dtype=nb.float32)
    loss64 = fn(*leaves64)
    loss32 = (_run_program(full, leaves, steps, leaves32, "nb") * w32).sum()
    grads64 = nb.autograd.grad(loss64, leaves64, allow_unused=True)
    grads32 = nb.autograd.grad(loss32, leaves32, allow_unused=True)
    for g64, g32, x32 in zip(grads64, grads32, leaves32):
        assert (g64 is None) == (g32 is None)
        if g64 is None:
            continue
        assert g32.dtype is nb.float32 and g32.shape == x32.shape
        scale = max(1.0, float(np.abs(g64.numpy()).max(initial=0)))
        np.testing.assert_allclose(g32.numpy(), g64.numpy(), rtol=2e-3, atol=2e-4 * scale)


# ======================================================================================
# 2. Views, aliases, in-place ops and backward vs the version-counter rule
# ======================================================================================
#
# The pool starts with three storages built from the leaf w (3x2, float64, requires grad):
#   h = w * 1.0  (saves nothing)      k = w.exp()  (its node saves k itself)
#   c = a constant (no grad)
# Steps add views/aliases of pool entries, out-of-place results (which save what PyTorch's
# formulas save), run an in-place op on a pool entry, or call backward (retain_graph=True) on
# the loss so far. The model tracks, per storage group, its version and whether it needs grad,
# and records (group, version) for every saved tensor.

_VIEWS = ["t", "tail", "row", "unsqueeze", "detach", "data"]
_SAVING = ["sin", "exp", "mul", "add", "scale", "mul_w", "sin_w"]
_INPLACE = ["add_s", "mul_s", "noop_mul", "noop_add", "sin_", "add_t", "mul_t", "exp_"]


@st.composite
def inplace_programs(draw):
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["view", "save", "save", "inplace", "inplace", "backward"]))
        op = draw(st.sampled_from({"view": _VIEWS, "save": _SAVING, "inplace": _INPLACE,
                                   "backward": [""]}[kind]))
        steps.append((kind, op, draw(st.integers(0, 63)), draw(st.integers(0, 63))))
    return steps, draw(st.integers(0, 2**32 - 1))


class _Entry:
    """A pool entry: the nbgrad tensor, its numpy twin, its storage group and how it was made."""

    def __init__(self, t, a, group, alias=None, in_loss=True):
        self.t, self.a, self.group = t, a, group
        self.alias = alias  # None, "detach" (shares the counter) or "data" (its own counter)
        self.in_loss = in_loss


def _view(kind, x, lib):
    if kind == "t":
        return x.t() if lib == "nb" else x.T
    if kind == "tail":
        return x[1:]
    if kind == "row":
        return x[0] if lib == "nb" else x[0, ...]  # numpy: a 0-d view, not a scalar copy
    if kind == "unsqueeze":
        return x.unsqueeze(0) if lib == "nb" else x[None]
    if kind == "detach":
        return x.detach() if lib == "nb" else x.view()
    return x.data if lib == "nb" else x.view()


def _broadcasts_to(src, dst) -> bool:
    try:
        return np.broadcast_shapes(src, dst) == tuple(dst)
    except ValueError:
        return False


def _interpret_inplace_program(steps, w_array, c_array, lib, model=None, on_backward=None):
    """Run the program with nbgrad (``lib='nb'``, updating ``model``) or numpy; return the pool.

    Steps that do not apply (shape mismatch, a view that needs 2 dims, ...) are skipped
    identically in both libraries. A backward step calls ``on_backward(pool, steps_so_far)``.
    """
    if lib == "nb":
        w = nb.tensor(w_array, dtype=nb.float64, requires_grad=True)
        h, k = w * 1.0, w.exp()
        c = nb.tensor(c_array, dtype=nb.float64)
    else:
        w = w_array
        h, k = w * 1.0, np.exp(w)
        c = c_array.copy()
    pool = [_Entry(h, h, "h"), _Entry(k, k, "k"), _Entry(c, c, "c")]
    if model is not None:
        model.update(versions={"h": 0, "k": 0, "c": 0}, needs={"h": True, "k": True, "c": False},
                     saved=[("k", 0)], w=w)
    n_groups = 0
    for n, (kind, op, i, j) in enumerate(steps):
        x = pool[i % len(pool)]
        y = pool[j % len(pool)]
        if kind == "backward":
            if on_backward is not None:
                on_backward(pool, steps[:n])
            continue
        if kind == "view":
            if op == "t" and x.t.ndim != 2 or op in ("tail", "row") and (
                    x.t.ndim == 0 or x.t.shape[0] < 2):
                continue
            t = _view(op, x.t, lib)
            alias = op if op in ("detach", "data") else x.alias
            group = x.group
            if op == "data":  # .data has a counter of its own
                n_groups += 1
                group = f"data{n_groups}"
            pool.append(_Entry(t, t, group, alias, in_loss=alias is None))
            continue
        if kind == "save":
            if x.alias is not None or (op in ("mul", "add") and (
                    y.alias is not None or not _same_broadcast(x.t.shape, y.t.shape))):
                continue
            n_groups += 1
            group = f"out{n_groups}"
            t = _saving_op(op, x.t, y.t, w, lib)
            if model is not None:
                nx, ny = model["needs"][x.group], model["needs"].get(y.group, False)
                needs = {"sin": nx, "exp": nx, "scale": nx, "mul": nx or ny, "add": nx or ny,
                         "mul_w": True, "sin_w": True}[op]
                model["needs"][group] = needs
                model["versions"][group] = 0
                saves = {
                    "sin": [x.group] if nx else [],
                    "exp": [group] if nx else [],
                    "mul": ([y.group] if nx else []) + ([x.group] if ny else []),
                    "mul_w": [x.group],  # w.sum() always needs grad
                    "sin_w": ["w"],
                }.get(op, [])
                for g in saves:
                    model["saved"].append((g, model["versions"].get(g, 0)))
            pool.append(_Entry(t, t, group))
            continue
        # in-place
        if x.alias is not None and op not in ("noop_mul", "noop_add"):
            continue  # a value change through a detached alias is invisible to autograd
        if op in ("add_t", "mul_t") and (y.alias is not None or not _broadcasts_to(
                y.t.shape, x.t.shape)):
            continue
        if lib == "nb":
            _inplace_nb(op, x.t, y.t)
        else:
            _inplace_np(op, x.a, y.a)
        if model is not None:
            if op in ("add_t", "mul_t"):
                if op == "mul_t" and model["needs"][x.group] and y.t is not x.t:
                    model["saved"].append((y.group, model["versions"][y.group]))
                if model["needs"][y.group]:
                    model["needs"][x.group] = True
            model["versions"][x.group] = model["versions"].get(x.group, 0) + 1
    return pool


def _same_broadcast(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _saving_op(op, x, y, w, lib):
    if lib == "nb":
        return {
            "sin": lambda: x.sin(), "exp": lambda: x.exp(), "mul": lambda: x * y,
            "add": lambda: x + y, "scale": lambda: x * 2.0, "mul_w": lambda: w.sum() * x,
            "sin_w": lambda: w.sin().sum() + x,
        }[op]()
    return {
        "sin": lambda: np.sin(x), "exp": lambda: np.exp(x), "mul": lambda: x * y,
        "add": lambda: x + y, "scale": lambda: x * 2.0, "mul_w": lambda: w.sum() * x,
        "sin_w": lambda: np.sin(w).sum() + x,
    }[op]()


def _inplace_nb(op, x, y):
    if op == "add_s":
        x.add_(0.5)
    elif op == "mul_s":
        x.mul_(1.5)
    elif op == "noop_mul":
        x.mul_(1.0)
    elif op == "noop_add":
        x.add_(0.0)
    elif op == "sin_":
        x.sin_()
    elif op == "exp_":
        x.exp_()
    elif op == "add_t":
        x.add_(y)
    else:
        x.mul_(y)


def _inplace_np(op, x, y):
    if op == "add_s":
        x += 0.5
    elif op == "mul_s":
        x *= 1.5
    elif op in ("noop_mul", "noop_add"):
        pass
    elif op == "sin_":
        np.sin(x, out=x)
    elif op == "exp_":
        np.exp(x, out=x)
    elif op == "add_t":
        x += y
    else:
        x *= y


def _weight(n: int, shape) -> np.ndarray:
    """The fixed weight of pool entry ``n`` in the loss (values in [0.5, 1.5])."""
    size = int(np.prod(shape))
    return (0.5 + ((np.arange(size) * 7 + n * 3) % 11) / 10).reshape(shape)


def _np_loss(steps, w_array, c_array):
    with np.errstate(all="ignore"):  # numpy's overflow warnings (the results are checked)
        pool = _interpret_inplace_program(steps, w_array, c_array, "np")
        loss = sum(float((e.a * _weight(n, e.a.shape)).sum())
                   for n, e in enumerate(pool) if e.in_loss)
        return loss, pool


def _check_backward(pool, steps, model, w_array, c_array) -> None:
    """Backward of the loss over ``pool`` (built by ``steps``) raises exactly when a saved
    tensor is stale; otherwise the gradient equals central differences of the numpy replay."""
    loss = sum((e.t * nb.tensor(_weight(n, e.t.shape), dtype=nb.float64)).sum()
               for n, e in enumerate(pool) if e.in_loss)
    stale = [(g, v) for g, v in model["saved"] if g != "w" and model["versions"][g] != v]
    w = model["w"]
    w.grad = None
    event("backward raises" if stale else "gradient compared")
    if stale:
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
            loss.backward(retain_graph=True)
        assert "expected version" in str(info.value)
        assert w.grad is None  # nothing was accumulated
        return
    expected, _ = _np_loss(steps, w_array, c_array)
    assume(math.isfinite(expected) and abs(expected) < 1e6)
    loss.backward(retain_graph=True)
    eps = 1e-6
    numeric = np.zeros_like(w_array)
    for idx in np.ndindex(w_array.shape):
        plus, minus = w_array.copy(), w_array.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (_np_loss(steps, plus, c_array)[0]
                        - _np_loss(steps, minus, c_array)[0]) / (2 * eps)
    np.testing.assert_allclose(w.grad.numpy(), numeric, rtol=1e-5,
                               atol=1e-5 * max(1.0, np.abs(numeric).max()))
    w.grad = None


@_profile(300)
@given(inplace_programs())
def test_inplace_interleavings_follow_the_version_counter_rule(program):
    steps, seed = program
    rng = np.random.default_rng(seed)
    w_array = rng.uniform(-1, 1, (3, 2))
    c_array = rng.uniform(-1, 1, (3, 2))
    model: dict = {}

    def on_backward(pool, steps_so_far):  # a backward in the middle of the program
        _check_backward(pool, steps_so_far, model, w_array, c_array)

    pool = _interpret_inplace_program(steps, w_array, c_array, "nb", model, on_backward)
    expected_loss, np_pool = _np_loss(steps, w_array, c_array)
    assume(math.isfinite(expected_loss) and abs(expected_loss) < 1e6)

    # forward values: every pool entry equals its numpy twin (aliasing effects included)
    assert len(np_pool) == len(pool)
    for e, ne in zip(pool, np_pool):
        np.testing.assert_allclose(e.t.detach().numpy(), ne.a, rtol=1e-12, atol=1e-12)
    # versions: entries of one storage group share one counter
    for e in pool:
        if e.group in model["versions"]:
            assert e.t._version == model["versions"][e.group], (e.group, steps)
    _check_backward(pool, steps, model, w_array, c_array)


def test_inplace_rule_examples():
    """Hand-picked cases of the rule the property test checks (a readable spec of it)."""
    w = nb.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=nb.float64, requires_grad=True)
    # a detached alias shares the counter: bumping it invalidates the saved tensor
    h = w * 1.0
    y = h.sin()
    h.detach().mul_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    # .data gets its own counter: the same bump is not seen (PyTorch's documented escape hatch)
    h = w * 1.0
    y = h.sin()
    h.data.mul_(1.0)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.cos(w.detach().numpy()))
    # modifying a view of a tensor whose own output was saved (exp saves its output)
    w.grad = None
    k = w.exp()
    k[0].add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        k.sum().backward()
    # an in-place op whose operand is a view of its target saves a now-stale operand
    h = w * 1.0
    h.mul_(h.t())
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h.sum().backward()
    # an unsaved tensor may be modified freely; gradients see the modification
    h = w * 1.0
    y = h + 1.0
    h.mul_(3.0)
    (y.sum() + h.sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), np.full((2, 2), 4.0))


# ======================================================================================
# 3. Grad-mode nestings with tensors: what an op records, and inference tensors
# ======================================================================================

_KINDS = ["no_grad", "enable_grad", "sge", "inference", "grad_mode", "deco", "deco_inf",
          "gen_no_grad", "gen_inference", "gen_enable_grad"]
_ACTIONS = st.one_of(
    st.tuples(st.just("plain"), st.booleans()),
    st.tuples(st.just("op")),
    st.tuples(st.just("backward")),
    st.tuples(st.just("factory")),
)
_MODE_PROGRAM = st.recursive(
    st.lists(_ACTIONS, max_size=3),
    lambda children: st.lists(
        st.one_of(
            _ACTIONS,
            st.tuples(st.just("block"), st.sampled_from(_KINDS), st.booleans(), children),
            st.tuples(st.just("raise"), st.sampled_from(_KINDS), st.booleans(), children),
        ),
        max_size=4,
    ),
    max_leaves=20,
)


def _enter_model(kind, arg, state):
    grad, inf = state
    return {
        "no_grad": (False, inf), "deco": (False, inf), "gen_no_grad": (False, inf),
        "enable_grad": (True, inf), "gen_enable_grad": (True, inf),
        "sge": (arg, inf), "grad_mode": (arg, inf),
        "inference": (not arg, arg), "deco_inf": (not arg, arg), "gen_inference": (not arg, arg),
    }[kind]


class _Boom(Exception):
    pass


def _run_in(kind, arg, body):
    """Run ``body()`` under the manager ``kind`` in one of its forms; return its result."""
    if kind == "no_grad":
        with nb.no_grad():
            return body()
    if kind == "enable_grad":
        with nb.enable_grad():
            return body()
    if kind == "sge":
        with nb.set_grad_enabled(arg):
            return body()
    if kind == "inference":
        with nb.inference_mode(arg):
            return body()
    if kind == "grad_mode":
        return nb.grad_mode(arg, body)
    if kind == "deco":
        return nb.no_grad(body)()
    if kind == "deco_inf":
        return nb.inference_mode(arg)(body)()
    # generator functions: the mode holds while the body runs and is undone at every yield
    manager = {"gen_no_grad": nb.no_grad(), "gen_enable_grad": nb.enable_grad(),
               "gen_inference": nb.inference_mode(arg)}[kind]
    outer = (nb.is_grad_enabled(), nb.is_inference_mode_enabled())

    @manager
    def gen():
        result = body()
        yield "first"
        inside = (nb.is_grad_enabled(), nb.is_inference_mode_enabled())
        yield inside
        return result

    g = gen()
    assert next(g) == "first"
    assert (nb.is_grad_enabled(), nb.is_inference_mode_enabled()) == outer  # restored at yield
    inside = next(g)
    assert inside == _enter_model(kind, arg, outer)
    try:
        next(g)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("generator did not finish")


def _check_tensor_op(state, x, tag):
    """A tensor op at this point records exactly when grad is on and inference is off."""
    grad, inf = state
    assert (nb.is_grad_enabled(), nb.is_inference_mode_enabled()) == state, tag
    y = x * 2.0
    recorded = grad and not inf
    assert y.requires_grad is recorded, tag
    assert (y.grad_fn is not None) is recorded, tag
    assert y.is_inference() is inf, tag
    if recorded:
        assert y.grad_fn.name() == "MulBackward0"
    if not inf:
        assert y._version == 0
    else:
        with pytest.raises(RuntimeError, match="Inference tensors do not track version counter"):
            _ = y._version
    np.testing.assert_allclose(y.detach().numpy(), [2.0, 4.0])


def _interpret_modes(program, state, x, log):
    for item in program:
        if item[0] == "plain":
            nb.set_grad_enabled(item[1])
            state = (item[1], state[1])
        elif item[0] == "op":
            _check_tensor_op(state, x, program)
        elif item[0] == "factory":
            z = nb.ones(2, requires_grad=True)
            assert z.is_inference() is state[1]
            assert z.requires_grad  # factories honour requires_grad in every mode
        elif item[0] == "backward":
            # backward works in every mode (it runs under its own mode) and leaves it unchanged
            with nb.enable_grad(), nb.inference_mode(False):
                loss = (x * x).sum()
            before = x.grad.numpy().copy() if x.grad is not None else np.zeros(2)
            loss.backward()
            np.testing.assert_allclose(x.grad.numpy(), before + 2 * x.detach().numpy())
            log.append("backward")
        elif item[0] == "raise":
            _, kind, arg, sub = item
            inner = _enter_model(kind, arg, state)

            def body(sub=sub, inner=inner):
                _interpret_modes(sub, inner, x, log)
                raise _Boom

            with pytest.raises(_Boom):
                _run_in(kind, arg, body)
        else:
            _, kind, arg, sub = item
            inner = _enter_model(kind, arg, state)

            def body(sub=sub, inner=inner):
                _interpret_modes(sub, inner, x, log)
                return "done"

            assert _run_in(kind, arg, body) == "done"
        # after every item the mode is the model's, and ops behave accordingly
        _check_tensor_op(state, x, item)
    return state


@_profile(300)
@given(_MODE_PROGRAM, st.sampled_from(sorted(MODES)))
def test_mode_nestings_with_tensor_ops_match_the_stack_model(program, start):
    x = nb.tensor([1.0, 2.0], requires_grad=True)  # a normal tensor made in the default mode

    def run():
        mode_var.set(MODES[start])
        log: list = []
        final = _interpret_modes(program, start, x, log)
        # plain set_grad_enabled calls at top level persist; nothing else leaks
        assert (nb.is_grad_enabled(), nb.is_inference_mode_enabled()) == final
        return True

    assert contextvars.copy_context().run(run)
