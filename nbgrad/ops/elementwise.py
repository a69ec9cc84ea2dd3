"""Elementwise ops, declared as data: a row = name, scalar kernel, gradient rule, public faces.

The scalar kernel is a plain Python function of numbers, one ``def`` per kernel at module level
(Numba's on-disk cache keys each kernel on its source file and line), compiled by each backend:
a Numba ufunc on the CPU, a CUDA device function on the GPU. The gradient rule maps each of the
kernel's arguments to a function written with nbgrad ops, so it runs on every device and is
itself differentiable (higher-order gradients). A rule's parameters name what it reads:
``grad`` (the incoming gradient), kernel arguments, and ``out`` (the op's output); what the op
saves for backward is derived from those names. ``grad=None`` marks a row without a gradient,
``{"c": None, ...}`` an argument without one.

Each row of ``UNARY``, ``BINARY`` and ``COMPARISONS`` gives ``nb.<key>`` and ``Tensor.<key>``
(unary and binary rows also the in-place ``Tensor.<key>_``) and, with ``dunder=``, its operator
(binary rows also the reflected and in-place operators); ``where`` and ``clamp`` are the
public faces of the ``TERNARY`` rows.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from nbgrad import _dtype
from nbgrad.ops._dispatch import OpDef, apply, apply_inplace
from nbgrad.ops._register import Doc, register
from nbgrad.ops._shapes import broadcast_shape
from nbgrad.ops.creation import zeros_like
from nbgrad.tensor import Tensor

__all__ = [
    "Elementwise", "UNARY", "BINARY", "TERNARY", "COMPARISONS", "sum_to", "fit_gradient",
    "where", "clamp", "clamp_", "with_example", "PREDICATES", "BITWISE", "lerp", "logit",
    "nan_to_num",
]

_GRAD, _OUT = -1, -2  # where a rule's parameter comes from, besides the inputs' positions
_NUMBER = (int, float, bool)
_HALF, _SINGLE = np.dtype(np.float16), np.dtype(np.float32)


class Elementwise(OpDef):
    """An op applying a scalar kernel ``fn`` elementwise with broadcasting.

    ``grad`` maps each argument name of ``fn`` to its gradient rule (or None: no gradient for
    that argument); ``grad=None``: the op has no gradient. ``kind`` is the dtype rule: "same"
    keeps the promoted dtype, "float" turns integers (and bool) into the default float, "bool"
    computes in the promoted dtype and returns bool, "integer" refuses floating-point dtypes;
    ``allow_bool=False`` refuses bool inputs.
    ``example`` = ``(*inputs, expected_repr)``: the docstring example of the public functions
    made from this row (a list input becomes ``nb.tensor(list)``, a number stays a number, a
    string is an expression), with
    its expected output written out literally. ``ufunc`` names a numpy ufunc computing exactly
    ``fn`` (same values, NaN/inf and dtypes) that the CPU backend may run instead of compiling
    ``fn`` (numpy's loops are SIMD-vectorised); ``fn`` stays the one definition that the GPU,
    fusion and every other path compile. ``key`` is the public name (``name.lower()`` by
    default); ``dunder`` the operator method; ``alpha=True`` gives the function and method an
    ``alpha=`` keyword (``a op alpha * b``); ``aliases`` more public names. ``node_name`` is
    the node's name where PyTorch's is not ``<name>Backward0``; a binary row's ``overloads``
    names the nodes of its other call forms where PyTorch numbers them apart: ``"tensor"``
    (a Tensor second operand) and ``"number_first"`` (``2 - x``); ``x op 2`` is the row's own.

    What fusion and the backward read: ``arg_names`` (the kernel's argument names),
    ``grad_rules`` (argument name -> rule or None), :meth:`reads` and :meth:`input_grad`.

    >>> from nbgrad.ops.elementwise import BINARY
    >>> mul = BINARY["mul"]
    >>> mul.arg_names, mul.reads(0), mul.reads(1)
    (('a', 'b'), ((1,), False), ((0,), False))
    """

    wants_meta = True

    def __init__(self, name, fn, *, grad, kind="same", allow_bool=True, key=None, example=None,
                 ufunc=None, dunder=None, alpha=False, aliases=(), node_name=None,
                 overloads=None):
        super().__init__(name, node_name)
        self.key = key or name.lower()
        self.fn = fn
        self.kind = kind
        self.allow_bool = allow_bool
        self.example = example
        self.ufunc = ufunc
        self.dunder = dunder
        self.alpha = alpha
        self.aliases = tuple(aliases)
        self.overloads = dict(overloads or {})
        self.nargs = fn.__code__.co_argcount
        self.arg_names = tuple(fn.__code__.co_varnames[: self.nargs])
        self.differentiable = grad is not None
        self.grad_rules = _check_rules(name, self.arg_names, grad)
        rules = tuple(self.grad_rules[a] for a in self.arg_names)
        self._plans = tuple(_plan(rule, self.arg_names) for rule in rules)
        self._reads = tuple(
            (tuple(s for s in plan if s >= 0), _OUT in plan) for plan in self._plans
        )
        self._calls = tuple(_call_form(rule, plan) for rule, plan in zip(rules, self._plans))
        self._kernels: dict = {}
        self._no_values = (None,) * self.nargs
        self._save_cache: dict = {}

    # dtype resolution --------------------------------------------------
    def _fast_key(self, args):
        """The computation dtype in the common cases, without the general promotion walk:
        one array, an array and a Python number of a compatible kind, or two arrays of one
        dtype (all arrays at least 1-D). None means: take the general path."""
        a = args[0]
        ta = type(a)
        if ta is float or ta is int or ta is bool or not a.ndim:
            return None
        if len(args) == 1:
            return a.dtype
        if len(args) != 2:
            return None
        b = args[1]
        tb = type(b)
        if tb is float:
            return a.dtype if a.dtype.kind == "f" else None
        if tb is int:
            return a.dtype if a.dtype.kind in "fi" else None
        if tb is bool or isinstance(b, (int, float)):
            return None
        return a.dtype if b.dtype == a.dtype and b.ndim else None

    def _kernel(self, bk, dtype):
        """The compiled kernel of this op for ``dtype`` on backend ``bk`` (memoised)."""
        per_backend = self._kernels.get(bk)
        if per_backend is None:
            per_backend = self._kernels[bk] = {}
        kernel = per_backend.get(dtype)
        if kernel is None:
            compute, out_dtype = self.dtypes((np.empty(1, dtype),))
            if compute != dtype:
                return None
            kernel = per_backend[dtype] = bk.elementwise_kernel(
                self.fn, self.nargs, compute, out_dtype, ufunc=self.ufunc
            )
        return kernel

    def dtypes(self, args):
        """(compute dtype, output dtype) as numpy dtypes for these arguments."""
        first = None
        uniform = True
        scalar_cat = -1
        for a in args:
            if isinstance(a, _NUMBER):
                scalar_cat = max(scalar_cat, _dtype.scalar_dtype(a).category)
            elif first is None:
                first = a.dtype
            elif a.dtype != first:
                uniform = False
        dt = _dtype.from_numpy_dtype(first)
        if not uniform or scalar_cat > dt.category or any(
            not isinstance(a, _NUMBER) and a.ndim == 0 for a in args
        ):
            dt = _dtype.result_type(*[
                a if isinstance(a, _NUMBER) else (_dtype.from_numpy_dtype(a.dtype), a.ndim)
                for a in args
            ])
        if self.kind == "float" and not dt.is_floating_point:
            dt = _dtype.float32
        elif self.kind == "integer" and dt.is_floating_point:
            raise TypeError(
                f"{self.key}: only integer and bool tensors are supported, got {dt.name}"
            )
        elif dt is _dtype.bool_ and not self.allow_bool:
            raise TypeError(
                f"{self.key}: operation not supported for bool tensors; "
                "convert with .float() or .long() first"
            )
        compute = dt.np
        if compute == _HALF:  # stored as float16, computed in float32
            return _SINGLE, (np.dtype(np.bool_) if self.kind == "bool" else _HALF)
        return compute, (np.dtype(np.bool_) if self.kind == "bool" else compute)

    def _prepare(self, args):
        compute, out_dtype = self.dtypes(args)
        cast = tuple(
            _plain_scalar(a) if isinstance(a, _NUMBER)
            else a if a.dtype == compute else a.astype(compute)
            for a in args
        )
        return compute, out_dtype, cast

    def forward(self, bk, params, *args):
        key = self._fast_key(args)
        if key is not None:
            per_backend = self._kernels.get(bk)
            kernel = per_backend.get(key) if per_backend is not None else None
            if kernel is None:
                kernel = self._kernel(bk, key)
            if kernel is not None:
                return kernel(*args)
        compute, out_dtype, cast = self._prepare(args)
        if out_dtype == _HALF:
            return bk.astype(bk.map_elementwise(self.fn, compute, compute, cast,
                                                ufunc=self.ufunc), _HALF)
        return bk.map_elementwise(self.fn, compute, out_dtype, cast, ufunc=self.ufunc)

    def forward_into(self, bk, params, out, *args):
        compute, out_dtype, cast = self._prepare(args)
        if out_dtype != out.dtype and out_dtype.kind != out.dtype.kind and (
            out_dtype.kind == "f" or out.dtype.kind == "b"
        ):
            raise RuntimeError(
                f"result type {out_dtype.name} of {self.key}_ can't be cast to the "
                f"desired output type {out.dtype.name}"
            )
        shape = broadcast_shape(*[() if isinstance(a, _NUMBER) else a.shape for a in cast])
        if out_dtype == _HALF:
            bk.assign(out, bk.map_elementwise(self.fn, compute, compute, cast, ufunc=self.ufunc))
        elif out_dtype == out.dtype and tuple(out.shape) == shape:
            bk.map_elementwise(self.fn, compute, out_dtype, cast, out=out, ufunc=self.ufunc)
        else:
            bk.assign(out, bk.map_elementwise(self.fn, compute, out_dtype, cast,
                                              ufunc=self.ufunc))

    # autograd ------------------------------------------------------------
    def reads(self, i: int) -> tuple[tuple[int, ...], bool]:
        """What input ``i``'s gradient reads: (input positions, whether the output)."""
        return self._reads[i]

    def input_grad(self, i: int, grad, values: tuple, out):
        """The gradient for input ``i`` (a Tensor, or None when the row gives none) from the
        incoming ``grad``, the inputs' ``values`` (one per input, None where not saved) and the
        output ``out`` (or None), before :func:`fit_gradient`."""
        form, rule, j, k = self._calls[i]
        if form == 1:
            return rule(grad)
        if form == 2:
            return rule(grad, values[j])
        if form == 3:
            return rule(grad, out)
        if form == 4:
            return rule(grad, values[j], values[k])
        if form == 0:
            return None
        return rule(*[grad if s == _GRAD else out if s == _OUT else values[s]
                      for s in self._plans[i]])

    def save(self, needs):
        found = self._save_cache.get(needs)
        if found is None:
            found = self._save_cache[needs] = self._save_uncached(needs)
        return found

    def _save_uncached(self, needs):
        want: set = set()
        want_out = False
        for need, (positions, reads_out) in zip(needs, self._reads):
            if need:
                want.update(positions)
                want_out = want_out or reads_out
        if not want and not want_out:
            return None, False
        return tuple(i in want for i in range(self.nargs)), want_out

    def meta(self, arrays, out):
        shape, dtype = out.shape, out.dtype
        for a in arrays:
            if type(a) in _NUMBER or (a.shape == shape and a.dtype == dtype):
                continue
            break
        else:
            return None
        for a in arrays:
            if not isinstance(a, _NUMBER) and (a.shape != out.shape or a.dtype != out.dtype):
                return tuple(
                    None if isinstance(x, _NUMBER) else (tuple(x.shape), x.dtype)
                    for x in arrays
                )
        return None

    def backward(self, node, grad):
        saved = node.saved
        if saved is None:
            values = self._no_values
        else:
            values = [None if s is None else node.saved_input(i) for i, s in enumerate(saved)]
        out = None if node.saved_output is None else node.output()
        meta = node.meta
        calls = self._calls
        result = []
        for i, edge in enumerate(node.edges):
            if edge is None:
                result.append(None)
                continue
            form, rule, j, _ = calls[i]
            if form == 2:  # the two most common rule shapes, called without input_grad's frame
                g = rule(grad, values[j])
            elif form == 1:
                g = rule(grad)
            else:
                g = self.input_grad(i, grad, values, out)
            if meta is not None and g is not None:
                g = fit_gradient(g, *meta[i])
            result.append(g)
        return tuple(result)


def _check_rules(name: str, args: tuple, grad) -> dict:
    """The row's gradient rules by argument name, checked against the kernel's arguments."""
    for reserved in ("grad", "out"):
        if reserved in args:
            raise ValueError(
                f"{name}: a kernel argument may not be called {reserved!r} (gradient rules use "
                "that name for the incoming gradient / the output)"
            )
    if grad is None:
        return dict.fromkeys(args)
    if not isinstance(grad, dict):
        raise TypeError(f"{name}: grad must be a dict (argument name -> rule or None) or None")
    unknown = [k for k in grad if k not in args]
    missing = [a for a in args if a not in grad]
    if unknown or missing:
        raise ValueError(
            f"{name}: grad must have one key per kernel argument {args}"
            + (f"; not arguments: {unknown}" if unknown else "")
            + (f"; missing: {missing}" if missing else "")
        )
    for arg, rule in grad.items():
        if rule is None:
            continue
        bad = [p for p in inspect.signature(rule).parameters
               if p not in args and p not in ("grad", "out")]
        if bad:
            raise ValueError(
                f"{name}: the gradient rule of {arg!r} reads {bad}; a rule's parameters are "
                f"'grad', 'out' and the kernel's arguments {args}"
            )
    return {a: grad[a] for a in args}


def _plan(rule, args: tuple) -> tuple[int, ...]:
    """Where each parameter of ``rule`` comes from: an input position, _GRAD or _OUT."""
    if rule is None:
        return ()
    where_from = {"grad": _GRAD, "out": _OUT, **{a: i for i, a in enumerate(args)}}
    return tuple(where_from[p] for p in inspect.signature(rule).parameters)


def _call_form(rule, plan: tuple) -> tuple:
    """How :meth:`Elementwise.input_grad` calls ``rule``: (form, rule, j, k), the form naming
    the common parameter lists (the hot path of backward) and 5 the general one."""
    if rule is None:
        return 0, None, 0, 0
    if plan == (_GRAD,):
        return 1, rule, 0, 0
    if len(plan) == 2 and plan[0] == _GRAD and plan[1] >= 0:
        return 2, rule, plan[1], 0
    if plan == (_GRAD, _OUT):
        return 3, rule, 0, 0
    if len(plan) == 3 and plan[0] == _GRAD and plan[1] >= 0 and plan[2] >= 0:
        return 4, rule, plan[1], plan[2]
    return 5, rule, 0, 0


class _IntegerDivision(Elementwise):
    """``//`` and ``%``: integer operands must not divide by zero (PyTorch raises too)."""

    def _check_divisor(self, bk, args) -> None:
        compute, _ = self.dtypes(args)
        divisor = args[1]
        if compute.kind in "iub":
            zero = divisor == 0 if isinstance(divisor, (int, bool)) else bk.any_true(
                bk.map_elementwise(_is_zero, divisor.dtype, np.dtype(np.bool_), (divisor,)))
            if zero:
                raise ZeroDivisionError(
                    f"{self.key}: integer division by zero (ZeroDivisionError)"
                )

    def forward(self, bk, params, *args):
        self._check_divisor(bk, args)
        return super().forward(bk, params, *args)

    def forward_into(self, bk, params, out, *args):
        self._check_divisor(bk, args)
        return super().forward_into(bk, params, out, *args)


def _is_zero(x):
    return x == 0


def _is_negative(x):
    return x < 0


class _IntegerPower(Elementwise):
    """``**``: an integer base must not take a negative integer exponent (PyTorch raises)."""

    def _check_exponent(self, bk, args) -> None:
        compute, _ = self.dtypes(args)
        e = args[1]
        if compute.kind in "iu":
            negative = e < 0 if isinstance(e, (int, bool)) else bk.any_true(
                bk.map_elementwise(_is_negative, e.dtype, np.dtype(np.bool_), (e,)))
            if negative:
                raise RuntimeError("Integers to negative integer powers are not allowed.")

    def forward(self, bk, params, *args):
        self._check_exponent(bk, args)
        return super().forward(bk, params, *args)

    def forward_into(self, bk, params, out, *args):
        self._check_exponent(bk, args)
        return super().forward_into(bk, params, out, *args)


def _plain_scalar(value):
    """A Python number as a builtin (``np.float64`` is a float subclass that numpy would treat
    as a typed operand rather than a weak scalar)."""
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        return value
    return float(value) if isinstance(value, float) else int(value)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` over the dimensions that broadcasting expanded, so it has ``shape``.

    >>> import nbgrad as nb
    >>> from nbgrad.ops.elementwise import sum_to
    >>> sum_to(nb.ones(2, 3), (3,)), sum_to(nb.ones(2, 3), (2, 1)).shape
    (tensor([2., 2., 2.]), (2, 1))
    """
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    out = g.sum(dim=axes, keepdim=True) if axes else g
    return out.reshape(shape)


def fit_gradient(g: Tensor, shape: tuple, dtype) -> Tensor:
    """The table's last gradient step: ``g`` summed down to an input's ``shape`` (over the
    dimensions broadcasting expanded) and cast to the input's ``dtype`` (a numpy dtype).

    >>> import numpy as np
    >>> import nbgrad as nb
    >>> from nbgrad.ops.elementwise import fit_gradient
    >>> fit_gradient(nb.ones(2, 3), (1, 3), np.dtype(np.float64))
    tensor([[2., 2., 2.]], dtype=nbgrad.float64)
    """
    if tuple(g.shape) != tuple(shape):
        g = sum_to(g, shape)
    if g._data.dtype != dtype:
        g = g.to(_dtype.from_numpy_dtype(dtype))
    return g


def _pow_grad_base(grad, a, b):
    if isinstance(b, (int, float)):
        return grad * 0 if b == 0 else grad * b * a ** (b - 1)
    return where(b == 0, 0.0, grad * b * a ** (b - 1))  # as PyTorch: 0 where the exponent is 0


def _pow_grad_exponent(grad, a, b, out):
    # as PyTorch: 0 where the base is 0 and the exponent >= 0 (0 ** b is flat there)
    if isinstance(a, (int, float)):
        if a > 0:
            return grad * out * math.log(a)
        return where(b >= 0, 0.0, grad * out * (-math.inf if a == 0 else math.nan))
    return where((a == 0) * (b >= 0), 0.0, grad * out * a.log())


def _ln(b):
    """``log(b)`` of a Tensor or a Python number (nan below 0, as the Log row)."""
    if isinstance(b, Tensor):
        return b.log()
    return math.log(b) if b > 0 else (-math.inf if b == 0 else math.nan)


def _zeros(grad: Tensor) -> Tensor:
    """A zero gradient (not ``grad * 0``, which would turn inf/nan into nan)."""
    return zeros_like(grad)


def _tie_split(wins: Tensor, ties: Tensor) -> Tensor:
    """1 where this operand wins, 1/2 at ties (the gradient split of maximum/minimum)."""
    return wins + ties * 0.5


def _gelu_second_derivative(x: Tensor) -> Tensor:
    """d^2/dx^2 gelu(x) = phi(x) (2 - x^2), with nbgrad ops (differentiable again)."""
    x2 = x * x
    return (x2 * -0.5).exp() * 0.3989422804014327 * (2 - x2)


# --------------------------------------------------------------------------- one-pass backwards
def _gelu_derivative(x):
    return 0.5 * (1.0 + math.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * math.exp(
        -0.5 * x * x
    )


_gelu_derivative.cpu_float32 = "gelu_derivative"  # float32 on the CPU: a vectorised loop


# gelu'(x) as one kernel, so gelu's backward is one pass; itself differentiable.
GELU_DERIVATIVE = Elementwise(
    "GeluDerivative",
    _gelu_derivative,
    grad={"x": lambda grad, x: grad * _gelu_second_derivative(x)},
    kind="float",
)


# The backward of tanh and sigmoid from their output y, ``g * dy/dx``, each one kernel pass
# (instead of three); each is linear in g and differentiable again.
def _tanh_backward(g, y):
    return g * (1.0 - y * y)


TANH_BACKWARD = Elementwise(
    "TanhBackward",
    _tanh_backward,
    grad={
        "g": lambda grad, y: apply(TANH_BACKWARD, (grad, y)),
        "y": lambda grad, g, y: grad * g * y * -2.0,
    },
    kind="float",
)


def _sigmoid_backward(g, y):
    return g * y * (1.0 - y)


SIGMOID_BACKWARD = Elementwise(
    "SigmoidBackward",
    _sigmoid_backward,
    grad={
        "g": lambda grad, y: apply(SIGMOID_BACKWARD, (grad, y)),
        "y": lambda grad, g, y: grad * g * (1 - 2 * y),
    },
    kind="float",
)


# --------------------------------------------------------------------------- the table
UNARY: dict[str, Elementwise] = {}
BINARY: dict[str, Elementwise] = {}
TERNARY: dict[str, Elementwise] = {}
COMPARISONS: dict[str, Elementwise] = {}
PREDICATES: dict[str, Elementwise] = {}  # one argument, a bool result, no gradient
BITWISE: dict[str, Elementwise] = {}  # integer and bool tensors only, no gradient


def row(table: dict, name: str, **keywords):
    """Declare a row of ``table`` whose scalar kernel is the decorated function (returned as
    it is); ``op_class`` picks an :class:`Elementwise` subclass."""

    def declare(fn):
        op = keywords.pop("op_class", Elementwise)(name, fn, **keywords)
        table[op.key] = op
        return fn

    return declare


# One argument -------------------------------------------------------------------------------
@row(
    UNARY,
    "Neg",
    grad={"x": lambda grad: -grad},
    allow_bool=False,
    ufunc=np.negative,
    dunder="__neg__",
    example=([1.0, -2.0], "tensor([-1.,  2.])"),
)
def _neg(x):
    return -x


@row(
    UNARY,
    "Abs",
    grad={"x": lambda grad, x: grad * x.sign()},
    allow_bool=False,
    ufunc=np.absolute,
    dunder="__abs__",
    example=([-1.0, 2.0], "tensor([1., 2.])"),
)
def _abs(x):
    return abs(x)


@row(
    UNARY,
    "Sign",
    grad={"x": lambda grad: grad * 0},
    example=([-2.0, 0.0, 3.0], "tensor([-1.,  0.,  1.])"),
)
def _sign(x):
    return 1 if x > 0 else (-1 if x < 0 else 0)


@row(
    UNARY,
    "Exp",
    grad={"x": lambda grad, out: grad * out},
    kind="float",
    ufunc=np.exp,
    example=([0.0, 1.0], "tensor([1.0000, 2.7183])"),
)
def _exp(x):
    return math.exp(x)


@row(
    UNARY,
    "Log",
    grad={"x": lambda grad, x: grad / x},
    kind="float",
    ufunc=np.log,
    example=([1.0, 2.0], "tensor([0.0000, 0.6931])"),
)
def _log(x):
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


@row(
    UNARY,
    "Sin",
    grad={"x": lambda grad, x: grad * x.cos()},
    kind="float",
    ufunc=np.sin,
    example=([0.0, 1.0], "tensor([0.0000, 0.8415])"),
)
def _sin(x):
    return math.sin(x)


@row(
    UNARY,
    "Cos",
    grad={"x": lambda grad, x: -grad * x.sin()},
    kind="float",
    ufunc=np.cos,
    example=([0.0, 1.0], "tensor([1.0000, 0.5403])"),
)
def _cos(x):
    return math.cos(x)


@row(
    UNARY,
    "Tanh",
    grad={"x": lambda grad, out: apply(TANH_BACKWARD, (grad, out))},
    kind="float",
    ufunc=np.tanh,
    example=([0.0, 1.0], "tensor([0.0000, 0.7616])"),
)
def _tanh(x):
    return math.tanh(x)


@row(
    UNARY,
    "Sigmoid",
    grad={"x": lambda grad, out: apply(SIGMOID_BACKWARD, (grad, out))},
    kind="float",
    example=([0.0, 2.0], "tensor([0.5000, 0.8808])"),
)
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@row(
    UNARY,
    "Relu",
    grad={"x": lambda grad, out: grad * (out > 0)},
    allow_bool=False,
    example=([-1.0, 2.0], "tensor([0., 2.])"),
)
def _relu(x):
    return x if x > 0 or x != x else 0


@row(
    UNARY,
    "Sqrt",
    grad={"x": lambda grad, out: grad / (2 * out)},
    kind="float",
    ufunc=np.sqrt,
    example=([4.0, 2.0], "tensor([2.0000, 1.4142])"),
)
def _sqrt(x):
    return math.sqrt(x) if x >= 0 else math.nan


@row(
    UNARY,
    "Reciprocal",
    grad={"x": lambda grad, out: -grad * out * out},
    kind="float",
    ufunc=np.reciprocal,
    example=([2.0, 4.0], "tensor([0.5000, 0.2500])"),
)
def _reciprocal(x):
    return 1.0 / x if x != 0 else math.copysign(math.inf, x)


@row(
    UNARY,
    "Rsqrt",
    grad={"x": lambda grad, out: grad * -0.5 * out * out * out},
    kind="float",
    example=([4.0, 16.0], "tensor([0.5000, 0.2500])"),
)
def _rsqrt(x):
    return 1.0 / math.sqrt(x) if x > 0 else (math.copysign(math.inf, x) if x == 0 else math.nan)


@row(
    UNARY,
    "Log1p",
    grad={"x": lambda grad, x: grad / (x + 1)},
    kind="float",
    ufunc=np.log1p,
    node_name="Log1PBackward0",  # PyTorch title-cases each part of the op name
    example=([0.0, 1.0], "tensor([0.0000, 0.6931])"),
)
def _log1p(x):
    return math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan)


@row(
    UNARY,
    "Expm1",
    grad={"x": lambda grad, out: grad * (out + 1)},
    kind="float",
    ufunc=np.expm1,
    example=([0.0, 1.0], "tensor([0.0000, 1.7183])"),
)
def _expm1(x):
    return math.expm1(x)


@row(
    UNARY,
    "Tan",
    grad={"x": lambda grad, out: grad * (1 + out * out)},
    kind="float",
    ufunc=np.tan,
    example=([0.0, 1.0], "tensor([0.0000, 1.5574])"),
)
def _tan(x):
    return math.tan(x)


@row(
    UNARY,
    "Erf",
    grad={"x": lambda grad, x: grad * 1.1283791670955126 * (-x * x).exp()},
    kind="float",
    example=([0.0, 1.0], "tensor([0.0000, 0.8427])"),
)
def _erf(x):
    return math.erf(x)


_erf.cpu_float32 = "erf"  # float32 on the CPU: a vectorised loop (backends/cpu/vector_math.py)


@row(
    UNARY,
    "Gelu",
    grad={"x": lambda grad, x: grad * apply(GELU_DERIVATIVE, (x,))},
    kind="float",
    example=([-1.0, 1.0], "tensor([-0.1587,  0.8413])"),
)
def _gelu(x):
    return 0.5 * x * (1.0 + math.erf(x * 0.7071067811865476))


_gelu.cpu_float32 = "gelu"  # float32 on the CPU: a vectorised loop (backends/cpu/vector_math.py)


@row(
    UNARY,
    "Silu",
    grad={"x": lambda grad, x: grad * x.sigmoid() * (1 + x * (1 - x.sigmoid()))},
    kind="float",
    example=([0.0, 1.0], "tensor([0.0000, 0.7311])"),
)
def _silu(x):
    return x / (1.0 + math.exp(-x)) if x >= 0 else x * math.exp(x) / (1.0 + math.exp(x))


@row(
    UNARY,
    "Softplus",
    grad={"x": lambda grad, x: grad * x.sigmoid()},
    kind="float",
    example=([0.0, 1.0], "tensor([0.6931, 1.3133])"),
)
def _softplus(x):
    return x if x > 20.0 else math.log1p(math.exp(x))


@row(
    UNARY,
    "Floor",
    grad={"x": lambda grad: _zeros(grad)},
    allow_bool=False,
    example=([-1.5, 1.5], "tensor([-2.,  1.])"),
)
def _floor(x):
    return x if abs(x) == math.inf else x // 1


@row(
    UNARY,
    "Ceil",
    grad={"x": lambda grad: _zeros(grad)},
    allow_bool=False,
    example=([-1.5, 1.5], "tensor([-1.,  2.])"),
)
def _ceil(x):
    return x if abs(x) == math.inf else -((-x) // 1)


@row(
    UNARY,
    "Round",
    grad={"x": lambda grad: _zeros(grad)},
    allow_bool=False,
    example=([0.5, 1.5, 2.4], "tensor([0., 2., 2.])"),
)
def _round(x):  # half to even
    if abs(x) == math.inf:
        return x
    return (x // 1) + ((x - x // 1 > 0.5) or (x - x // 1 == 0.5 and (x // 1) % 2 == 1))


# Trigonometric and hyperbolic functions, logarithms and exponentials of other bases ------
_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046
_RAD_PER_DEG = math.pi / 180.0


@row(
    UNARY,
    "Asin",
    grad={"x": lambda grad, x: grad * (1 - x * x).rsqrt()},
    kind="float",
    ufunc=np.arcsin,
    aliases=("arcsin",),
    example=([0.0, 0.5], "tensor([0.0000, 0.5236])"),
)
def _asin(x):
    return math.asin(x) if -1.0 <= x <= 1.0 else math.nan


@row(
    UNARY,
    "Acos",
    grad={"x": lambda grad, x: -grad * (1 - x * x).rsqrt()},
    kind="float",
    ufunc=np.arccos,
    aliases=("arccos",),
    example=([0.0, 0.5], "tensor([1.5708, 1.0472])"),
)
def _acos(x):
    return math.acos(x) if -1.0 <= x <= 1.0 else math.nan


@row(
    UNARY,
    "Atan",
    grad={"x": lambda grad, x: grad / (1 + x * x)},
    kind="float",
    ufunc=np.arctan,
    aliases=("arctan",),
    example=([0.0, 1.0], "tensor([0.0000, 0.7854])"),
)
def _atan(x):
    return math.atan(x)


@row(
    UNARY,
    "Sinh",
    grad={"x": lambda grad, x: grad * x.cosh()},
    kind="float",
    ufunc=np.sinh,
    example=([1.0, -2.0], "tensor([ 1.1752, -3.6269])"),
)
def _sinh(x):
    return math.sinh(x)


@row(
    UNARY,
    "Cosh",
    grad={"x": lambda grad, x: grad * x.sinh()},
    kind="float",
    ufunc=np.cosh,
    example=([0.0, 1.0], "tensor([1.0000, 1.5431])"),
)
def _cosh(x):
    return math.cosh(x)


@row(
    UNARY,
    "Asinh",
    grad={"x": lambda grad, x: grad * (x * x + 1).rsqrt()},
    kind="float",
    ufunc=np.arcsinh,
    aliases=("arcsinh",),
    example=([0.0, 1.0], "tensor([0.0000, 0.8814])"),
)
def _asinh(x):
    return math.asinh(x)


@row(
    UNARY,
    "Acosh",
    grad={"x": lambda grad, x: grad * ((x - 1) * (x + 1)).rsqrt()},
    kind="float",
    ufunc=np.arccosh,
    aliases=("arccosh",),
    example=([1.0, 2.0], "tensor([0.0000, 1.3170])"),
)
def _acosh(x):
    return math.acosh(x) if x >= 1.0 else math.nan


@row(
    UNARY,
    "Atanh",
    grad={"x": lambda grad, x: grad / (1 - x * x)},
    kind="float",
    ufunc=np.arctanh,
    aliases=("arctanh",),
    example=([0.0, 0.5], "tensor([0.0000, 0.5493])"),
)
def _atanh(x):
    if x == 1.0 or x == -1.0:
        return math.copysign(math.inf, x)
    return math.atanh(x) if -1.0 < x < 1.0 else math.nan


@row(
    UNARY,
    "Log2",
    grad={"x": lambda grad, x: grad / (x * _LN2)},
    kind="float",
    ufunc=np.log2,
    example=([1.0, 8.0], "tensor([0., 3.])"),
)
def _log2(x):
    return math.log2(x) if x > 0 else (-math.inf if x == 0 else math.nan)


@row(
    UNARY,
    "Log10",
    grad={"x": lambda grad, x: grad / (x * _LN10)},
    kind="float",
    ufunc=np.log10,
    example=([1.0, 100.0], "tensor([0., 2.])"),
)
def _log10(x):
    return math.log10(x) if x > 0 else (-math.inf if x == 0 else math.nan)


@row(
    UNARY,
    "Exp2",
    grad={"x": lambda grad, out: grad * out * _LN2},
    kind="float",
    ufunc=np.exp2,
    example=([0.0, 3.0], "tensor([1., 8.])"),
)
def _exp2(x):
    return 2.0 ** x


@row(
    UNARY,
    "Erfc",
    grad={"x": lambda grad, x: grad * -1.1283791670955126 * (-x * x).exp()},
    kind="float",
    example=([0.0, 1.0], "tensor([1.0000, 0.1573])"),
)
def _erfc(x):
    return math.erfc(x)


@row(
    UNARY,
    "Erfinv",
    grad={"x": lambda grad, out: grad * 0.886226925452758 * (out * out).exp()},
    kind="float",
    example=([0.0, 0.5], "tensor([0.0000, 0.4769])"),
)
def _erfinv(x):
    # Giles' single-precision approximation, refined by two Newton steps on erf
    if x <= -1.0 or x >= 1.0:
        return math.copysign(math.inf, x) if x == 1.0 or x == -1.0 else math.nan
    if x != x:
        return x
    w = -math.log((1.0 - x) * (1.0 + x))
    if w < 5.0:
        w = w - 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    y = p * x
    y = y - (math.erf(y) - x) / (1.1283791670955126 * math.exp(-y * y))
    return y - (math.erf(y) - x) / (1.1283791670955126 * math.exp(-y * y))


@row(
    UNARY,
    "Sinc",
    grad={"x": lambda grad, x, out: grad * where(
        x == 0, 0.0, ((x * math.pi).cos() - out) / where(x == 0, 1.0, x))},
    kind="float",
    example=([0.0, 0.5], "tensor([1.0000, 0.6366])"),
)
def _sinc(x):
    if x == 0:
        return 1.0
    px = math.pi * x
    return math.sin(px) / px if abs(px) != math.inf else math.nan


@row(
    UNARY,
    "Deg2rad",
    grad={"x": lambda grad: grad * _RAD_PER_DEG},
    kind="float",
    example=([180.0, 90.0], "tensor([3.1416, 1.5708])"),
)
def _deg2rad(x):
    return x * 0.017453292519943295


@row(
    UNARY,
    "Rad2deg",
    grad={"x": lambda grad: grad * (1.0 / _RAD_PER_DEG)},
    kind="float",
    example=([3.141592653589793, 1.0], "tensor([180.0000,  57.2958])"),
)
def _rad2deg(x):
    return x * 57.29577951308232


@row(
    UNARY,
    "Square",
    grad={"x": lambda grad, x: grad * 2 * x},
    ufunc=np.square,
    example=([-2.0, 3.0], "tensor([4., 9.])"),
)
def _square(x):
    return x * x


@row(
    UNARY,
    "Trunc",
    grad={"x": lambda grad: _zeros(grad)},
    allow_bool=False,
    aliases=("fix",),
    example=([-1.5, 1.5], "tensor([-1.,  1.])"),
)
def _trunc(x):
    if abs(x) == math.inf:
        return x
    return x // 1 if x >= 0 else -((-x) // 1)


@row(
    UNARY,
    "Frac",
    grad={"x": lambda grad: grad},
    allow_bool=False,
    example=([-1.5, 2.25], "tensor([-0.5000,  0.2500])"),
)
def _frac(x):
    if abs(x) == math.inf:
        return math.nan
    return x - (x // 1 if x >= 0 else -((-x) // 1))


# Two arguments (broadcast; a Python number on either side) ----------------------------------
@row(
    BINARY,
    "Add",
    grad={
        "a": lambda grad: grad,
        "b": lambda grad: grad,
    },
    ufunc=np.add,
    dunder="__add__",
    alpha=True,
    example=([1.0, 2.0], [3.0, 4.0], "tensor([4., 6.])"),
)
def _add(a, b):
    return a + b


@row(
    BINARY,
    "Sub",
    grad={
        "a": lambda grad: grad,
        "b": lambda grad: -grad,
    },
    allow_bool=False,
    ufunc=np.subtract,
    dunder="__sub__",
    aliases=("subtract",),
    alpha=True,
    overloads={"number_first": "RsubBackward1"},  # 2 - x is PyTorch's rsub.Scalar
    example=([5.0, 7.0], [1.0, 2.0], "tensor([4., 5.])"),
)
def _sub(a, b):
    return a - b


@row(
    BINARY,
    "Mul",
    grad={
        "a": lambda grad, b: grad * b,
        "b": lambda grad, a: grad * a,
    },
    ufunc=np.multiply,
    dunder="__mul__",
    aliases=("multiply",),
    example=([1.0, 2.0], [3.0, 4.0], "tensor([3., 8.])"),
)
def _mul(a, b):
    return a * b


@row(
    BINARY,
    "Div",
    grad={
        "a": lambda grad, b: grad / b,
        "b": lambda grad, a, b: -grad * a / (b * b),
    },
    kind="float",
    ufunc=np.true_divide,
    dunder="__truediv__",
    aliases=("divide", "true_divide"),
    example=([1.0, 3.0], [2.0, 4.0], "tensor([0.5000, 0.7500])"),
)
def _div(a, b):
    return a / b


@row(
    BINARY,
    "Pow",
    op_class=_IntegerPower,
    grad={
        "a": lambda grad, a, b: _pow_grad_base(grad, a, b),
        "b": lambda grad, a, b, out: _pow_grad_exponent(grad, a, b, out),
    },
    allow_bool=False,
    dunder="__pow__",
    overloads={"tensor": "PowBackward1", "number_first": "PowBackward2"},
    example=([2.0, 3.0], 2, "tensor([4., 9.])"),
)
def _pow(a, b):
    return a ** b


@row(
    BINARY,
    "Maximum",
    grad={
        "a": lambda grad, a, b: grad * _tie_split(a > b, a == b),
        "b": lambda grad, a, b: grad * _tie_split(b > a, a == b),
    },
    example=([1.0, 4.0], [3.0, 2.0], "tensor([3., 4.])"),
)
def _maximum(a, b):
    return a if a > b or a != a else b


@row(
    BINARY,
    "Minimum",
    grad={
        "a": lambda grad, a, b: grad * _tie_split(a < b, a == b),
        "b": lambda grad, a, b: grad * _tie_split(b < a, a == b),
    },
    example=([1.0, 4.0], [3.0, 2.0], "tensor([1., 2.])"),
)
def _minimum(a, b):
    return a if a < b or a != a else b


@row(
    BINARY,
    "FloorDivide",
    op_class=_IntegerDivision,
    grad={
        "a": lambda grad: _zeros(grad),
        "b": lambda grad: _zeros(grad),
    },
    allow_bool=False,
    key="floor_divide",
    dunder="__floordiv__",
    example=([7, -7], 2, "tensor([ 3, -4])"),
)
def _floor_divide(a, b):
    return a // b


@row(
    BINARY,
    "Remainder",
    op_class=_IntegerDivision,
    grad={
        "a": lambda grad: grad,
        "b": lambda grad, a, b: -grad * (a // b),
    },
    allow_bool=False,
    key="remainder",
    dunder="__mod__",
    overloads={"tensor": "RemainderBackward1"},
    example=([7, -7], 3, "tensor([1, 2])"),
)
def _remainder(a, b):
    return a % b


@row(
    BINARY,
    "Atan2",
    grad={
        "a": lambda grad, a, b: grad * b / (a * a + b * b),
        "b": lambda grad, a, b: -grad * a / (a * a + b * b),
    },
    kind="float",
    aliases=("arctan2",),
    example=([1.0, 1.0], [1.0, -1.0], "tensor([0.7854, 2.3562])"),
)
def _atan2(a, b):
    return math.atan2(a, b)


@row(
    BINARY,
    "ClampMin",
    grad={
        "x": lambda grad, x, lo: grad * (x >= lo),
        "lo": lambda grad, x, lo: grad * (x < lo),
    },
    allow_bool=False,
    key="clamp_min",
    overloads={"tensor": "ClampMinBackward1"},
    example=([-1.0, 2.0], 0.0, "tensor([0., 2.])"),
)
def _clamp_min(x, lo):
    return lo if x < lo else x


@row(
    BINARY,
    "ClampMax",
    grad={
        "x": lambda grad, x, hi: grad * (x <= hi),
        "hi": lambda grad, x, hi: grad * (x > hi),
    },
    allow_bool=False,
    key="clamp_max",
    overloads={"tensor": "ClampMaxBackward1"},
    example=([-1.0, 2.0], 1.0, "tensor([-1.,  1.])"),
)
def _clamp_max(x, hi):
    return hi if x > hi else x


@row(
    BINARY,
    "Fmod",
    op_class=_IntegerDivision,
    grad={
        "a": lambda grad: grad,
        "b": lambda grad, a, b: -grad * apply(_DIV_TRUNC, (a, b)),
    },
    allow_bool=False,
    overloads={"tensor": "FmodBackward1"},
    example=([-7.0, 7.0], 3, "tensor([-1.,  1.])"),
)
def _fmod(a, b):
    r = abs(a) % abs(b)  # exact: both operands non-negative
    return -r if a < 0 else r


@row(
    BINARY,
    "Copysign",
    grad={
        "a": lambda grad, a, out: grad * where(a == 0, 0.0, out / where(a == 0, 1.0, a)),
        "b": lambda grad: _zeros(grad),
    },
    kind="float",
    ufunc=np.copysign,
    overloads={"tensor": "CopysignBackward1"},
    example=([1.0, 2.0], -1.0, "tensor([-1., -2.])"),
)
def _copysign(a, b):
    return math.copysign(a, b)


@row(
    BINARY,
    "Hypot",
    grad={
        "a": lambda grad, a, out: grad * a / out,
        "b": lambda grad, b, out: grad * b / out,
    },
    kind="float",
    ufunc=np.hypot,
    example=([3.0, 5.0], [4.0, 12.0], "tensor([ 5., 13.])"),
)
def _hypot(a, b):
    return math.hypot(a, b)


@row(
    BINARY,
    "Logaddexp",
    grad={
        "a": lambda grad, a, b: grad * (a - b).sigmoid(),
        "b": lambda grad, a, b: grad * (b - a).sigmoid(),
    },
    kind="float",
    ufunc=np.logaddexp,
    node_name="LogaddexpBackward0",
    example=([0.0, 1.0], [0.0, 2.0], "tensor([0.6931, 2.3133])"),
)
def _logaddexp(a, b):
    if a == b:  # also both infinite of one sign
        return a + 0.6931471805599453
    m = a if a > b else b
    return m + math.log1p(math.exp(-abs(a - b)))


@row(
    BINARY,
    "Logaddexp2",
    grad={
        "a": lambda grad, a, b: grad * ((a - b) * _LN2).sigmoid(),
        "b": lambda grad, a, b: grad * ((b - a) * _LN2).sigmoid(),
    },
    kind="float",
    ufunc=np.logaddexp2,
    example=([0.0, 1.0], [0.0, 3.0], "tensor([1.0000, 3.3219])"),
)
def _logaddexp2(a, b):
    if a == b:
        return a + 1.0
    m = a if a > b else b
    return m + math.log1p(2.0 ** -abs(a - b)) * 1.4426950408889634


@row(
    BINARY,
    "Xlogy",
    grad={
        "a": lambda grad, a, b: grad * where(a == 0, 0.0, _ln(b)),
        "b": lambda grad, a, b: grad * a / b,
    },
    kind="float",
    overloads={"tensor": "XlogyBackward0", "number_first": "XlogyBackward2"},
    node_name="XlogyBackward1",
    example=([0.0, 2.0], [0.0, 3.0], "tensor([0.0000, 2.1972])"),
)
def _xlogy(a, b):
    if b != b:
        return b
    if a == 0:
        return 0.0
    return a * (math.log(b) if b > 0 else (-math.inf if b == 0 else math.nan))


# ``div(a, b, rounding_mode="trunc")``: the quotient rounded toward zero (Python's ``//`` is
# the "floor" mode, the FloorDivide row); integers go through float64, exact up to 2**53.
def _div_trunc(a, b):
    q = a / b
    if q != q or abs(q) == math.inf:
        return q
    return q // 1 if q >= 0 else -((-q) // 1)


_DIV_TRUNC = _IntegerDivision(
    "DivTrunc",
    _div_trunc,
    grad={"a": lambda grad: _zeros(grad), "b": lambda grad: _zeros(grad)},
    allow_bool=False,
    key="div",
    node_name="DivBackward2",
)


# Three arguments: ``where(cond, a, b)`` (cond is computed in the promoted dtype, any nonzero is
# true) and ``clamp(x, min, max)`` = ``min(max(x, min), max)`` (all gradient to ``max`` when
# ``min > max``, like PyTorch) ----------------------------------------------------------------
@row(
    TERNARY,
    "Where",
    grad={
        "c": None,
        "a": lambda grad, c: where(c, grad, 0.0),
        "b": lambda grad, c: where(c, 0.0, grad),
    },
    example=([True, False], [1.0, 2.0], [3.0, 4.0], "tensor([1., 4.])"),
)
def _where(c, a, b):
    return a if c else b


@row(
    TERNARY,
    "Clamp",
    grad={
        "x": lambda grad, x, lo, hi: grad * ((x >= lo) * (x <= hi)),
        "lo": lambda grad, x, lo, hi: grad * ((x < lo) * (lo <= hi)),
        "hi": lambda grad, x, lo, hi: grad - grad * ((x <= hi) * (lo <= hi)),
    },
    allow_bool=False,
    example=([-1.0, 0.5, 2.0], 0.0, 1.0, "tensor([0.0000, 0.5000, 1.0000])"),
)
def _clamp(x, lo, hi):
    return hi if (lo if x < lo else x) > hi else (lo if x < lo else x)


# lerp(start, end, weight) = start + weight * (end - start), from the nearer end (as PyTorch)
@row(
    TERNARY,
    "Lerp",
    grad={
        "start": lambda grad, weight: grad * (1 - weight),
        "end": lambda grad, weight: grad * weight,
        "weight": lambda grad, start, end: grad * (end - start),
    },
    allow_bool=False,
    example=([1.0, 2.0], [3.0, 4.0], 0.5, "tensor([2., 3.])"),
)
def _lerp(start, end, weight):
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


# Comparisons: a bool result, no gradient -----------------------------------------------------
@row(
    COMPARISONS,
    "Eq",
    grad=None,
    kind="bool",
    dunder="__eq__",
    example=([1, 2], [1, 3], "tensor([ True, False])"),
)
def _eq(a, b):
    return a == b


@row(
    COMPARISONS,
    "Ne",
    grad=None,
    kind="bool",
    dunder="__ne__",
    example=([1, 2], [1, 3], "tensor([False,  True])"),
)
def _ne(a, b):
    return a != b


@row(
    COMPARISONS,
    "Lt",
    grad=None,
    kind="bool",
    dunder="__lt__",
    example=([1, 2], 2, "tensor([ True, False])"),
)
def _lt(a, b):
    return a < b


@row(
    COMPARISONS,
    "Le",
    grad=None,
    kind="bool",
    dunder="__le__",
    example=([1, 2], 2, "tensor([True, True])"),
)
def _le(a, b):
    return a <= b


@row(
    COMPARISONS,
    "Gt",
    grad=None,
    kind="bool",
    dunder="__gt__",
    example=([1, 2], 1, "tensor([False,  True])"),
)
def _gt(a, b):
    return a > b


@row(
    COMPARISONS,
    "Ge",
    grad=None,
    kind="bool",
    dunder="__ge__",
    example=([1, 2], 2, "tensor([False,  True])"),
)
def _ge(a, b):
    return a >= b


@row(
    COMPARISONS,
    "LogicalAnd",
    grad=None,
    kind="bool",
    key="logical_and",
    example=([1, 0, 2], [3, 3, 0], "tensor([ True, False, False])"),
)
def _logical_and(a, b):
    return a != 0 and b != 0


@row(
    COMPARISONS,
    "LogicalOr",
    grad=None,
    kind="bool",
    key="logical_or",
    example=([1, 0, 0], [0, 3, 0], "tensor([ True,  True, False])"),
)
def _logical_or(a, b):
    return a != 0 or b != 0


@row(
    COMPARISONS,
    "LogicalXor",
    grad=None,
    kind="bool",
    key="logical_xor",
    example=([1, 0, 2], [3, 3, 0], "tensor([False,  True,  True])"),
)
def _logical_xor(a, b):
    return (a != 0) != (b != 0)


# Tests of one value: a bool result, no gradient ----------------------------------------------
@row(
    PREDICATES,
    "LogicalNot",
    grad=None,
    kind="bool",
    key="logical_not",
    example=([1.0, 0.0], "tensor([False,  True])"),
)
def _logical_not(x):
    return x == 0


@row(
    PREDICATES,
    "Isnan",
    grad=None,
    kind="bool",
    example=("nb.tensor([1.0, float('nan')])", "tensor([False,  True])"),
)
def _isnan(x):
    return x != x


@row(
    PREDICATES,
    "Isinf",
    grad=None,
    kind="bool",
    example=("nb.tensor([1.0, -float('inf')])", "tensor([False,  True])"),
)
def _isinf(x):
    return abs(x) == math.inf


@row(
    PREDICATES,
    "Isfinite",
    grad=None,
    kind="bool",
    example=("nb.tensor([1.0, float('inf'), float('nan')])", "tensor([ True, False, False])"),
)
def _isfinite(x):
    return x == x and abs(x) != math.inf


@row(
    PREDICATES,
    "Isposinf",
    grad=None,
    kind="bool",
    example=("nb.tensor([1.0, float('inf'), -float('inf')])", "tensor([False,  True, False])"),
)
def _isposinf(x):
    return x == math.inf


@row(
    PREDICATES,
    "Isneginf",
    grad=None,
    kind="bool",
    example=("nb.tensor([1.0, float('inf'), -float('inf')])", "tensor([False, False,  True])"),
)
def _isneginf(x):
    return x == -math.inf


@row(
    PREDICATES,
    "Signbit",
    grad=None,
    kind="bool",
    example=([-0.0, 0.0, -2.0], "tensor([ True, False,  True])"),
)
def _signbit(x):
    return math.copysign(1.0, x * 1.0) < 0


# Bitwise ops (integer and bool tensors; bool as logical ops) -----------------------------------
@row(
    BITWISE,
    "BitwiseAnd",
    grad=None,
    kind="integer",
    key="bitwise_and",
    ufunc=np.bitwise_and,
    dunder="__and__",
    example=([12, 10], 6, "tensor([4, 2])"),
)
def _bitwise_and(a, b):
    return a & b


@row(
    BITWISE,
    "BitwiseOr",
    grad=None,
    kind="integer",
    key="bitwise_or",
    ufunc=np.bitwise_or,
    dunder="__or__",
    example=([12, 10], 6, "tensor([14, 14])"),
)
def _bitwise_or(a, b):
    return a | b


@row(
    BITWISE,
    "BitwiseXor",
    grad=None,
    kind="integer",
    key="bitwise_xor",
    ufunc=np.bitwise_xor,
    dunder="__xor__",
    example=([12, 10], 6, "tensor([10, 12])"),
)
def _bitwise_xor(a, b):
    return a ^ b


@row(
    BITWISE,
    "BitwiseLeftShift",
    grad=None,
    kind="integer",
    key="bitwise_left_shift",
    dunder="__lshift__",
    example=([1, 3], 2, "tensor([ 4, 12])"),
)
def _bitwise_left_shift(a, b):
    return a << b if 0 <= b < 64 else a * 0


@row(
    BITWISE,
    "BitwiseRightShift",
    grad=None,
    kind="integer",
    key="bitwise_right_shift",
    dunder="__rshift__",
    example=([-8, 12], 2, "tensor([-2,  3])"),
)
def _bitwise_right_shift(a, b):
    if 0 <= b < 64:
        return a >> b
    return a * 0 - 1 if a < 0 else a * 0


@row(
    BITWISE,
    "BitwiseNot",
    grad=None,
    kind="integer",
    key="bitwise_not",
    ufunc=np.invert,
    dunder="__invert__",
    example=([0, 5], "tensor([-1, -6])"),
)
def _bitwise_not(x):
    return ~x


# --------------------------------------------------------------------------- public faces
# The examples of the functions made below, for the doctest collection (one per public name;
# the function and the Tensor method of one op are one function).
__test__: dict = {}


def example_doc(op: Elementwise, call: str | None = None, inplace: bool = False) -> str:
    """The ``>>>`` example of ``op``'s table row as docstring text (empty when it has none):
    ``call(inputs)`` (``nb.<key>`` by default), or ``x.<key>_(inputs[1:])`` when ``inplace``."""
    if op.example is None:
        return ""
    *inputs, expected = op.example
    args = [f"nb.tensor({v!r})" if isinstance(v, list) else v if isinstance(v, str) else repr(v)
            for v in inputs]  # a string is an expression, written as it is
    lines = [">>> import nbgrad as nb"]
    if inplace:
        lines += [f">>> x = {args[0]}", f">>> x.{op.key}_({', '.join(args[1:])})"]
    else:
        lines.append(f">>> {call or 'nb.' + op.key}({', '.join(args)})")
    return "\n\n" + "\n".join([*lines, expected]) + "\n"


def with_example(fn, op: Elementwise, call: str | None = None, inplace: bool = False):
    """``fn`` with ``op``'s example appended to its docstring, registered for the doctests."""
    fn.__doc__ = inspect.cleandoc(fn.__doc__ or "") + example_doc(op, call, inplace)
    if op.example is not None and "<locals>" in fn.__qualname__:  # module-level ones are found
        __test__[fn.__name__] = fn
    return fn


def _check_operand(name: str, value) -> None:
    if not isinstance(value, (Tensor, int, float, bool)):
        raise TypeError(
            f"{name}(): expected a Tensor or a Python number, got {type(value).__name__}"
        )


def _unary(op: Elementwise):
    """``nb.<key>(x)`` (also ``Tensor.<key>`` and the row's operator)."""
    name = op.key

    def fn(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(x).__name__}")
        return apply(op, (x,))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` (differentiable)."
    return with_example(fn, op)


def _binary_apply(op, tensor_op, a: Tensor, b):
    if isinstance(b, Tensor):
        if a.shape != b.shape:
            broadcast_shape(a.shape, b.shape, op=op.key)
        return apply(tensor_op, (a, b))
    if isinstance(b, (int, float, bool)):
        return apply(op, (a, b))
    _check_operand(op.key, b)
    return NotImplemented


def _call_forms(op: Elementwise) -> tuple[Elementwise, Elementwise]:
    """The ops recording ``x op y`` and ``2 op x``: ``op`` itself unless the row's
    ``overloads`` names them apart."""
    forms = op.overloads
    return tuple(op.overload(forms[f]) if f in forms else op for f in ("tensor", "number_first"))


def _binary(op: Elementwise, tensor_op: Elementwise, number_first_op: Elementwise):
    """``nb.<key>(a, b)`` with a Tensor on either side (also ``Tensor.<key>`` and the row's
    operator); ``tensor_op`` records ``x op y``, ``number_first_op`` ``2 op x``."""
    name = op.key

    def fn(self: Tensor | float, other: Tensor | float) -> Tensor:
        t = type(other)
        if (t is float or t is int) and isinstance(self, Tensor):
            return apply(op, (self, other))  # the common case, checked first
        if not isinstance(self, Tensor):  # functional form with a scalar first: nb.add(2, x)
            _check_operand(name, self)
            if not isinstance(other, Tensor):
                raise TypeError(
                    f"{name}(): expected at least one Tensor argument, got "
                    f"{type(self).__name__} and {type(other).__name__}"
                )
            return apply(number_first_op, (self, other))
        return _binary_apply(op, tensor_op, self, other)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with broadcasting" + (
        " (differentiable)." if op.differentiable else " (no gradient)."
    )
    return with_example(fn, op)


def _with_alpha(plain, op: Elementwise):
    """``plain`` taking ``alpha=``: ``self op alpha * other``."""
    name = op.key

    def fn(self: Tensor | float, other: Tensor | float, *, alpha: float = 1) -> Tensor:
        return plain(self, other if alpha == 1 else other * alpha)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with broadcasting (differentiable): " \
        f"``self {name} alpha * other``."
    return with_example(fn, op)


def _reflected(op: Elementwise):
    """The reflected operator (``2 + x`` calls ``x.__radd__(2)``), recording ``op``."""

    def fn(self: Tensor, other: float) -> Tensor:
        if not isinstance(other, (int, float, bool)):
            return NotImplemented
        return apply(op, (other, self))

    fn.__name__ = op.key
    fn.__doc__ = f"Elementwise ``{op.key}`` with the number on the left."
    return fn


def _inplace(op: Elementwise, tensor_op: Elementwise):
    """``Tensor.<key>_``: the result written into self (also the in-place operator);
    ``tensor_op`` records it with a Tensor operand."""
    name = op.key

    def fn(self: Tensor, *other: Tensor | float) -> Tensor:
        if other:
            _check_operand(name + "_", other[0])
            if isinstance(other[0], Tensor):
                if broadcast_shape(self.shape, other[0].shape) != self.shape:
                    raise ValueError(
                        f"{name}_: output with shape {self.shape} doesn't match the broadcast "
                        f"shape of {self.shape} and {other[0].shape}"
                    )
                return apply_inplace(tensor_op, self, other)
        return apply_inplace(op, self, other)

    fn.__name__ = name + "_"
    fn.__doc__ = f"In-place ``{name}``: updates self and bumps its version counter."
    return with_example(fn, op, inplace=True)


def _with_rounding_mode(plain, rounded: dict, inplace: bool):
    """``div`` (or ``div_``) taking ``rounding_mode=None | "trunc" | "floor"``; ``rounded``
    maps each mode to the function computing it."""

    def div(self: Tensor | float, other: Tensor | float, *,
            rounding_mode: str | None = None) -> Tensor:
        if rounding_mode is None:
            return plain(self, other)
        fn = rounded.get(rounding_mode) if isinstance(rounding_mode, str) else None
        if fn is None:
            raise ValueError(
                "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                f"{rounding_mode!r}"
            )
        return fn(self, other)

    div.__name__ = plain.__name__
    div.__doc__ = (
        "Elementwise division with broadcasting (differentiable); ``rounding_mode=\"trunc\"``"
        " rounds the quotient toward zero, ``\"floor\"`` down (as ``//``; no gradient)."
        if not inplace else "In-place ``div`` (with ``rounding_mode=`` as ``nb.div``)."
    )
    return with_example(div, BINARY["div"], inplace=inplace)


def _publish(op: Elementwise, inplace: bool) -> None:
    """Declare a row's public faces: ``nb.<key>``, ``Tensor.<key>``, ``Tensor.<key>_`` (when
    ``inplace``) and its operator; a binary operator also gets the reflected and in-place ones.
    """
    tensor_op, number_first_op = _call_forms(op)
    plain = _unary(op) if op.nargs == 1 else _binary(op, tensor_op, number_first_op)
    public = _with_alpha(plain, op) if op.alpha else plain
    in_place = _inplace(op, tensor_op) if inplace else None
    if op.key == "div":
        floor = BINARY["floor_divide"]
        public = _with_rounding_mode(public, {
            "trunc": _binary(_DIV_TRUNC, _DIV_TRUNC, _DIV_TRUNC),
            "floor": _binary(floor, *_call_forms(floor))}, inplace=False)
        in_place = _with_rounding_mode(in_place, {
            "trunc": _inplace(_DIV_TRUNC, _DIV_TRUNC),
            "floor": _inplace(floor, _call_forms(floor)[0])}, inplace=True)
    names = (op.key, *op.aliases)
    register(public, function=names, method=names, doc=op)
    if in_place is not None:
        register(in_place, inplace=tuple(n + "_" for n in names), doc=op)
    if op.dunder is not None:
        register(plain, dunder=op.dunder, doc=op)
        if op.nargs == 2 and in_place is not None:
            stem = op.dunder[2:]
            register(_reflected(number_first_op), dunder="__r" + stem, doc=op)
            register(in_place, dunder="__i" + stem, doc=op)


for _op in (*UNARY.values(), *BINARY.values(), *BITWISE.values()):
    _publish(_op, inplace=True)
for _op in (*COMPARISONS.values(), *PREDICATES.values()):
    _publish(_op, inplace=False)
for _key in ("logical_and", "logical_or", "logical_xor", "logical_not"):  # these have x.op_()
    _op = COMPARISONS.get(_key) or PREDICATES[_key]
    _fn = _inplace(_op, _call_forms(_op)[0])
    _fn.__doc__ = (
        f"In-place ``{_key}``: the bool result written in self's dtype.\n\n"
        ">>> import nbgrad as nb\n>>> x = nb.tensor([2.0, 0.0])\n"
        f">>> x.{_key}_({'' if _op.nargs == 1 else 'nb.tensor([1.0, 1.0])'})\n"
        + {"logical_and": "tensor([1., 0.])", "logical_or": "tensor([1., 1.])"}.get(
            _key, "tensor([0., 1.])")
        + "\n"
    )
    register(_fn, inplace=_key + "_", doc=_op)
del _op, _key, _fn


@register(function=True, doc=TERNARY["where"])
def where(condition: Tensor, input: Tensor | float | None = None,
          other: Tensor | float | None = None) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (broadcast; differentiable in both).
    With ``condition`` alone: ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None and isinstance(condition, Tensor):
        return condition.nonzero(as_tuple=True)
    if not isinstance(condition, Tensor) or condition.dtype is not _dtype.bool_:
        got = condition.dtype.name if isinstance(condition, Tensor) else type(condition).__name__
        raise TypeError(f"where expected condition to be a boolean tensor, but got {got}")
    _check_operand("where", input)
    _check_operand("where", other)
    broadcast_shape(*[t.shape for t in (condition, input, other) if isinstance(t, Tensor)],
                    op="where")
    return apply(TERNARY["where"], (condition, input, other))


@register(method="where", doc=TERNARY["where"])
def _where_method(self: Tensor, condition: Tensor, other: Tensor | float) -> Tensor:
    """``self`` where ``condition`` is true, else ``other`` (as ``nb.where``).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, -2.0])
    >>> x.where(x > 0, 0.0)
    tensor([1., 0.])
    """
    return where(condition, self, other)


# clamp records PyTorch's overload: ClampBackward0 with a Tensor bound, ClampBackward1 with numbers
# (one bound given runs the clamp_min / clamp_max kernel)
_CLAMP = {
    (key, by_tensor): op.overload(f"ClampBackward{0 if by_tensor else 1}")
    for key, op in (("min", BINARY["clamp_min"]), ("max", BINARY["clamp_max"]),
                    ("both", TERNARY["clamp"]))
    for by_tensor in (False, True)
}


def _clamp_op(x, min, max, name):
    for bound in (min, max):
        if bound is not None:
            _check_operand(name, bound)
    if min is None and max is None:
        raise RuntimeError(f"{name}: At least one of 'min' or 'max' must not be None")
    by_tensor = isinstance(min, Tensor) or isinstance(max, Tensor)
    if max is None:
        return _CLAMP["min", by_tensor], (min,)
    if min is None:
        return _CLAMP["max", by_tensor], (max,)
    return _CLAMP["both", by_tensor], (min, max)


@register(function=("clamp", "clip"), method=("clamp", "clip"), doc=TERNARY["clamp"])
def clamp(
    x: Tensor, min: Tensor | float | None = None, max: Tensor | float | None = None
) -> Tensor:
    """Limit ``x`` to ``[min, max]`` (numbers or tensors); gradient 1 inside the range.

    With ``min > max`` every element becomes ``max`` (as in PyTorch)."""
    op, bounds = _clamp_op(x, min, max, "clamp")
    broadcast_shape(*[t.shape for t in (x, *bounds) if isinstance(t, Tensor)], op="clamp")
    return apply(op, (x, *bounds))


@register(inplace=("clamp_", "clip_"), doc=TERNARY["clamp"])
def clamp_(
    x: Tensor, min: Tensor | float | None = None, max: Tensor | float | None = None
) -> Tensor:
    """In-place ``clamp`` (one version bump)."""
    op, bounds = _clamp_op(x, min, max, "clamp_")
    for b in bounds:
        if isinstance(b, Tensor) and broadcast_shape(x.shape, b.shape) != x.shape:
            raise ValueError(
                f"clamp_: bound of shape {b.shape} does not broadcast to the output shape "
                f"{x.shape}"
            )
    return apply_inplace(op, x, bounds)


with_example(where, TERNARY["where"])
with_example(clamp, TERNARY["clamp"])
with_example(clamp_, TERNARY["clamp"], inplace=True)


# lerp records PyTorch's overloads: LerpBackward0 with a number weight, LerpBackward1 with a tensor
_LERP = {by_tensor: TERNARY["lerp"].overload(f"LerpBackward{int(by_tensor)}")
         for by_tensor in (False, True)}


def _lerp_args(name, input, end, weight):
    for arg, value in (("input", input), ("end", end)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' must be a Tensor, not "
                            f"{type(value).__name__}")
    _check_operand(name, weight)
    broadcast_shape(*[t.shape for t in (input, end, weight) if isinstance(t, Tensor)],
                    op=name)
    return _LERP[isinstance(weight, Tensor)]


@register(function=True, method=True, doc=TERNARY["lerp"])
def lerp(input: Tensor, end: Tensor, weight: Tensor | float) -> Tensor:
    """``input + weight * (end - input)`` (broadcast; differentiable in all three)."""
    return apply(_lerp_args("lerp", input, end, weight), (input, end, weight))


@register(inplace="lerp_", doc=TERNARY["lerp"])
def lerp_(input: Tensor, end: Tensor, weight: Tensor | float) -> Tensor:
    """In-place ``lerp`` (one version bump)."""
    op = _lerp_args("lerp_", input, end, weight)
    for b in (end, weight):
        if isinstance(b, Tensor) and broadcast_shape(input.shape, b.shape) != input.shape:
            raise ValueError(f"lerp_: operand of shape {b.shape} does not broadcast to the "
                             f"output shape {input.shape}")
    return apply_inplace(op, input, (end, weight))


with_example(lerp, TERNARY["lerp"])
with_example(lerp_, TERNARY["lerp"], inplace=True)

_LOGIT_DOC = Doc("Elementwise: one argument", "float32, float64; integers compute in float32",
                 "g / (x (1 - x)) (0 outside [eps, 1 - eps] when eps is given)")


@register(function=True, method=True, doc=_LOGIT_DOC)
def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """``log(p / (1 - p))``, with ``p`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given.

    >>> import nbgrad as nb
    >>> nb.logit(nb.tensor([0.25, 0.5]))
    tensor([-1.0986,  0.0000])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"logit(): argument 'input' must be a Tensor, not {type(input).__name__}")
    p = input if input.dtype.is_floating_point else input.to(_dtype.float32)
    if eps is not None:
        p = clamp(p, eps, 1 - eps)
    return (p / (1 - p)).log()


@register(inplace="logit_", doc=_LOGIT_DOC)
def logit_(input: Tensor, eps: float | None = None) -> Tensor:
    """In-place ``logit``.

    >>> import nbgrad as nb
    >>> nb.tensor([0.5]).logit_()
    tensor([0.])
    """
    return input.copy_(logit(input, eps))


_NAN_TO_NUM_DOC = Doc("Elementwise: one argument", "every dtype (integers and bool unchanged)",
                      "g where x is finite, else 0")


@register(function=True, method=True, doc=_NAN_TO_NUM_DOC)
def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default 0 and
    the dtype's largest and lowest finite values).

    >>> import nbgrad as nb
    >>> nb.nan_to_num(nb.tensor([float("nan"), 1.0, float("inf")]), posinf=9.0)
    tensor([0., 1., 9.])
    """
    if not isinstance(input, Tensor):
        raise TypeError(
            f"nan_to_num(): argument 'input' must be a Tensor, not {type(input).__name__}")
    if not input.dtype.is_floating_point:
        return input.clone()
    info = np.finfo(input.dtype.np)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    out = where(input == math.inf, posinf, input)
    out = where(out == -math.inf, neginf, out)
    return where(out != out, nan, out)


@register(inplace="nan_to_num_", doc=_NAN_TO_NUM_DOC)
def nan_to_num_(input: Tensor, nan: float = 0.0, posinf: float | None = None,
                neginf: float | None = None) -> Tensor:
    """In-place ``nan_to_num``.

    >>> import nbgrad as nb
    >>> nb.tensor([float("-inf"), 2.0]).nan_to_num_(neginf=-1.0)
    tensor([-1.,  2.])
    """
    return input.copy_(nan_to_num(input, nan, posinf, neginf))
