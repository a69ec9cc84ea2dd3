"""Elementwise ops, declared as data: one row = name, scalar kernel, gradient rule.

The scalar kernel is a plain Python function of numbers, compiled by each backend (a Numba
ufunc on the CPU, a CUDA device function on the GPU). The gradient rule is written with nbgrad
ops, so it runs on every device and is itself differentiable (higher-order gradients).
Rows are one per line so each kernel has its own source line (Numba's cache keys on it).
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from nbgrad import _dtype
from nbgrad.errors import ShapeError
from nbgrad.ops._dispatch import OpDef, apply, apply_inplace
from nbgrad.tensor import Tensor

__all__ = ["UNARY", "BINARY", "COMPARISONS", "sum_to", "unary", "binary"]

# dtype rules: "same" keeps the promoted dtype; "float" turns integers into the default float;
# "bool" computes in the promoted dtype and returns bool.
_FLOAT_ONLY = {"float"}


class Elementwise(OpDef):
    """An op applying a scalar function elementwise with broadcasting.

    ``example`` = ``(*inputs, expected_repr)``: the docstring example of the public functions
    made from this row (a list input becomes ``nb.tensor(list)``, a number stays a number), with
    its expected output written out literally. ``ufunc`` names a numpy ufunc computing exactly
    ``fn`` (same values, NaN/inf and dtypes) that the CPU backend may run instead of compiling
    ``fn`` (numpy's loops are SIMD-vectorised); ``fn`` stays the one definition that the GPU,
    fusion and every other path compile.
    """

    wants_meta = True

    def __init__(self, name, fn, grads=(), needs=(), kind="same", differentiable=True,
                 allow_bool=True, key=None, example=None, ufunc=None):
        super().__init__(name)
        self.key = key or name.lower()  # the public name (``nb.<key>``, ``Tensor.<key>``)
        self.example = example
        self.fn = fn
        self.ufunc = ufunc
        self.grads = grads
        # per input: the values its gradient reads, from "a", "b", "c" (inputs) and "out"
        self.needs = tuple(tuple(n.split()) for n in needs)
        self.kind = kind
        self.differentiable = differentiable and bool(grads)
        self.allow_bool = allow_bool
        self.nargs = fn.__code__.co_argcount
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
            if isinstance(a, (int, float, bool)):
                scalar_cat = max(scalar_cat, _dtype.scalar_dtype(a).category)
            elif first is None:
                first = a.dtype
            elif a.dtype != first:
                uniform = False
        dt = _dtype.from_numpy_dtype(first)
        if not uniform or scalar_cat > dt.category or any(
            not isinstance(a, (int, float, bool)) and a.ndim == 0 for a in args
        ):
            dt = _dtype.result_type(*[
                a if isinstance(a, (int, float, bool)) else (_dtype.from_numpy_dtype(a.dtype),
                                                             a.ndim)
                for a in args
            ])
        if self.kind == "float" and not dt.is_floating_point:
            dt = _dtype.float32
        elif dt is _dtype.bool_ and not self.allow_bool:
            raise TypeError(
                f"{self.key}: operation not supported for bool tensors; "
                "convert with .float() or .long() first"
            )
        compute = dt.np
        return compute, (np.dtype(np.bool_) if self.kind == "bool" else compute)

    def _prepare(self, args):
        compute, out_dtype = self.dtypes(args)
        cast = tuple(
            _plain_scalar(a) if isinstance(a, (int, float, bool))
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
        if out_dtype == out.dtype and tuple(out.shape) == _broadcast_shape(cast):
            bk.map_elementwise(self.fn, compute, out_dtype, cast, out=out, ufunc=self.ufunc)
        else:
            bk.assign(out, bk.map_elementwise(self.fn, compute, out_dtype, cast,
                                              ufunc=self.ufunc))

    # autograd ------------------------------------------------------------
    def save(self, needs):
        found = self._save_cache.get(needs)
        if found is None:
            found = self._save_cache[needs] = self._save_uncached(needs)
        return found

    def _save_uncached(self, needs):
        want = set()
        for need, reads in zip(needs, self.needs):
            if need:
                want.update(reads)
        if not want:
            return None, False
        return tuple(name in want for name in "abc"[: self.nargs]), "out" in want

    def meta(self, arrays, out):
        shape, dtype = out.shape, out.dtype
        for a in arrays:
            if type(a) in (int, float, bool) or (a.shape == shape and a.dtype == dtype):
                continue
            break
        else:
            return None
        for a in arrays:
            if not isinstance(a, (int, float, bool)) and (
                a.shape != out.shape or a.dtype != out.dtype
            ):
                return tuple(
                    None if isinstance(x, (int, float, bool)) else (tuple(x.shape), x.dtype)
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
        result = []
        for i, edge in enumerate(node.edges):
            if edge is None:
                result.append(None)
                continue
            g = self.grads[i](grad, *values, out)
            if node.meta is not None:
                shape, dtype = node.meta[i]
                if tuple(g.shape) != shape:
                    g = sum_to(g, shape)
                if g._data.dtype != dtype:
                    g = g.to(_dtype.from_numpy_dtype(dtype))
            result.append(g)
        return tuple(result)

    # ---- adapters for fusion; replaced by the table rewrite (begin) ----
    @property
    def arg_names(self) -> tuple[str, ...]:
        """The scalar kernel's argument names, one per input."""
        return self.fn.__code__.co_varnames[: self.nargs]

    @property
    def grad_rules(self) -> dict:
        """Argument name -> the gradient rule of that input (None: no gradient)."""
        rules = self.grads if self.differentiable else ()
        return {name: rules[i] if i < len(rules) else None
                for i, name in enumerate(self.arg_names)}

    def reads(self, i: int) -> tuple[tuple[int, ...], bool]:
        """(the input positions, whether the output) input ``i``'s gradient rule reads."""
        codes = self.needs[i] if i < len(self.needs) else ()
        return tuple("abc".index(c) for c in codes if c != "out"), "out" in codes

    def input_grad(self, i: int, grad, values: tuple, out):
        """Input ``i``'s gradient rule applied to ``grad``, the input ``values`` (None where not
        saved) and the output ``out`` (or None): a Tensor or None, before any fitting."""
        return self.grads[i](grad, *values, out)


def fit_gradient(g: Tensor, shape: tuple, dtype) -> Tensor:
    """``g`` summed down to ``shape`` (undoing broadcasting) and cast to numpy dtype ``dtype``.

    >>> import nbgrad as nb
    >>> fit_gradient(nb.ones((2, 3)), (3,), np.dtype(np.float64))
    tensor([2., 2., 2.], dtype=nbgrad.float64)
    """
    if tuple(g.shape) != tuple(shape):
        g = sum_to(g, tuple(shape))
    if g._data.dtype != dtype:
        g = g.to(_dtype.from_numpy_dtype(dtype))
    return g
# ---- adapters for fusion; replaced by the table rewrite (end) ----


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


def _plain_scalar(value):
    """A Python number as a builtin (``np.float64`` is a float subclass that numpy would treat
    as a typed operand rather than a weak scalar)."""
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        return value
    return float(value) if isinstance(value, float) else int(value)


def _broadcast_shape(args) -> tuple:
    return np.broadcast_shapes(
        *[() if isinstance(a, (int, float, bool)) else a.shape for a in args]
    )


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum ``g`` over the dimensions that broadcasting expanded, so it has ``shape``."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    out = g.sum(dim=axes, keepdim=True) if axes else g
    return out.reshape(shape)


def _log(v):
    return v.log() if isinstance(v, Tensor) else math.log(v)


def _pow_grad_base(g, a, b):
    if isinstance(b, (int, float)):
        return g * 0 if b == 0 else g * b * a ** (b - 1)
    return where(b == 0, 0.0, g * b * a ** (b - 1))  # as PyTorch: 0 where the exponent is 0


def _pow_grad_exponent(g, a, b, y):
    # as PyTorch: 0 where the base is 0 and the exponent >= 0 (0 ** b is flat there)
    if isinstance(a, (int, float)):
        if a > 0:
            return g * y * math.log(a)
        return where(b >= 0, 0.0, g * y * (-math.inf if a == 0 else math.nan))
    return where((a == 0) * (b >= 0), 0.0, g * y * a.log())


def _zeros(g: Tensor) -> Tensor:
    """A zero gradient (not ``g * 0``, which would turn inf/nan into nan)."""
    from nbgrad.ops.creation import zeros_like

    return zeros_like(g)


def _tie_split(wins: Tensor, ties: Tensor) -> Tensor:
    """1 where this operand wins, 1/2 at ties (the gradient split of maximum/minimum)."""
    return wins + ties * 0.5


def _gelu_second_derivative(x: Tensor) -> Tensor:
    """d^2/dx^2 gelu(x) = phi(x) (2 - x^2), with nbgrad ops (differentiable again)."""
    x2 = x * x
    return (x2 * -0.5).exp() * 0.3989422804014327 * (2 - x2)


# gelu'(x) as one kernel, so gelu's backward is one pass; itself differentiable.
GELU_DERIVATIVE = Elementwise(
    "GeluDerivative",
    lambda x: 0.5 * (1.0 + math.erf(x * 0.7071067811865476)) + x * 0.3989422804014327 * math.exp(-0.5 * x * x),  # noqa: E501
    (lambda g, x, y: g * _gelu_second_derivative(x),), ("a",), kind="float",
)

# The backward of tanh and sigmoid from their output y, ``g * dy/dx``, each one kernel pass
# (instead of three); each is linear in g and differentiable again.
# fmt: off
TANH_BACKWARD = Elementwise("TanhBackward", lambda g, y: g * (1.0 - y * y), (lambda h, g, y, o: apply(TANH_BACKWARD, (h, y)), lambda h, g, y, o: h * g * y * -2.0), ("b", "a b"), kind="float")  # noqa: E501
SIGMOID_BACKWARD = Elementwise("SigmoidBackward", lambda g, y: g * y * (1.0 - y), (lambda h, g, y, o: apply(SIGMOID_BACKWARD, (h, y)), lambda h, g, y, o: h * g * (1 - 2 * y)), ("b", "a b"), kind="float")  # noqa: E501
# fmt: on


# --------------------------------------------------------------------------- the table
# Gradient rules receive (grad, *inputs, out); inputs not saved arrive as None.
# fmt: off
UNARY = {op.key: op for op in [
    Elementwise("Neg",     lambda x: -x,                                   (lambda g, x, y: -g,),                       ("",), allow_bool=False, ufunc=np.negative, example=([1.0, -2.0], "tensor([-1.,  2.])")),  # noqa: E501
    Elementwise("Abs",     lambda x: abs(x),                               (lambda g, x, y: g * x.sign(),),             ("a",), ufunc=np.absolute, example=([-1.0, 2.0], "tensor([1., 2.])")),  # noqa: E501
    Elementwise("Sign",    lambda x: 1 if x > 0 else (-1 if x < 0 else 0), (lambda g, x, y: g * 0,),                    ("",), example=([-2.0, 0.0, 3.0], "tensor([-1.,  0.,  1.])")),  # noqa: E501
    Elementwise("Exp",     lambda x: math.exp(x),                          (lambda g, x, y: g * y,),                    ("out",), kind="float", ufunc=np.exp, example=([0.0, 1.0], "tensor([1.0000, 2.7183])")),  # noqa: E501
    Elementwise("Log",     lambda x: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan), (lambda g, x, y: g / x,), ("a",), kind="float", ufunc=np.log, example=([1.0, 2.0], "tensor([0.0000, 0.6931])")),  # noqa: E501
    Elementwise("Sin",     lambda x: math.sin(x),                          (lambda g, x, y: g * x.cos(),),              ("a",), kind="float", ufunc=np.sin, example=([0.0, 1.0], "tensor([0.0000, 0.8415])")),  # noqa: E501
    Elementwise("Cos",     lambda x: math.cos(x),                          (lambda g, x, y: -g * x.sin(),),             ("a",), kind="float", ufunc=np.cos, example=([0.0, 1.0], "tensor([1.0000, 0.5403])")),  # noqa: E501
    Elementwise("Tanh",    lambda x: math.tanh(x),                         (lambda g, x, y: apply(TANH_BACKWARD, (g, y)),), ("out",), kind="float", ufunc=np.tanh, example=([0.0, 1.0], "tensor([0.0000, 0.7616])")),  # noqa: E501
    Elementwise("Sigmoid", lambda x: 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x)), (lambda g, x, y: apply(SIGMOID_BACKWARD, (g, y)),), ("out",), kind="float", example=([0.0, 2.0], "tensor([0.5000, 0.8808])")),  # noqa: E501
    Elementwise("Relu",    lambda x: x if x > 0 or x != x else 0,              (lambda g, x, y: g * (y > 0),),              ("out",), allow_bool=False, example=([-1.0, 2.0], "tensor([0., 2.])")),  # noqa: E501
    Elementwise("Sqrt",    lambda x: math.sqrt(x) if x >= 0 else math.nan, (lambda g, x, y: g / (2 * y),),              ("out",), kind="float", ufunc=np.sqrt, example=([4.0, 2.0], "tensor([2.0000, 1.4142])")),  # noqa: E501
    Elementwise("Reciprocal", lambda x: 1.0 / x if x != 0 else math.copysign(math.inf, x), (lambda g, x, y: -g * y * y,), ("out",), kind="float", ufunc=np.reciprocal, example=([2.0, 4.0], "tensor([0.5000, 0.2500])")),  # noqa: E501
    Elementwise("Rsqrt",   lambda x: 1.0 / math.sqrt(x) if x > 0 else (math.inf if x == 0 else math.nan), (lambda g, x, y: g * -0.5 * y * y * y,), ("out",), kind="float", example=([4.0, 16.0], "tensor([0.5000, 0.2500])")),  # noqa: E501
    Elementwise("Log1p",   lambda x: math.log1p(x) if x > -1 else (-math.inf if x == -1 else math.nan), (lambda g, x, y: g / (x + 1),), ("a",), kind="float", ufunc=np.log1p, example=([0.0, 1.0], "tensor([0.0000, 0.6931])")),  # noqa: E501
    Elementwise("Expm1",   lambda x: math.expm1(x),                        (lambda g, x, y: g * (y + 1),),              ("out",), kind="float", ufunc=np.expm1, example=([0.0, 1.0], "tensor([0.0000, 1.7183])")),  # noqa: E501
    Elementwise("Tan",     lambda x: math.tan(x),                          (lambda g, x, y: g * (1 + y * y),),          ("out",), kind="float", ufunc=np.tan, example=([0.0, 1.0], "tensor([0.0000, 1.5574])")),  # noqa: E501
    Elementwise("Erf",     lambda x: math.erf(x),                          (lambda g, x, y: g * 1.1283791670955126 * (-x * x).exp(),), ("a",), kind="float", example=([0.0, 1.0], "tensor([0.0000, 0.8427])")),  # noqa: E501
    Elementwise("Gelu",    lambda x: 0.5 * x * (1.0 + math.erf(x * 0.7071067811865476)), (lambda g, x, y: g * apply(GELU_DERIVATIVE, (x,)),), ("a",), kind="float", example=([-1.0, 1.0], "tensor([-0.1587,  0.8413])")),  # noqa: E501
    Elementwise("Silu",    lambda x: x / (1.0 + math.exp(-x)) if x >= 0 else x * math.exp(x) / (1.0 + math.exp(x)), (lambda g, x, y: g * x.sigmoid() * (1 + x * (1 - x.sigmoid())),), ("a",), kind="float", example=([0.0, 1.0], "tensor([0.0000, 0.7311])")),  # noqa: E501
    Elementwise("Softplus", lambda x: x if x > 20.0 else math.log1p(math.exp(x)), (lambda g, x, y: g * x.sigmoid(),),       ("a",), kind="float", example=([0.0, 1.0], "tensor([0.6931, 1.3133])")),  # noqa: E501
    Elementwise("Floor",   lambda x: x if abs(x) == math.inf else x // 1,  (lambda g, x, y: _zeros(g),),                ("",), allow_bool=False, example=([-1.5, 1.5], "tensor([-2.,  1.])")),  # noqa: E501
    Elementwise("Ceil",    lambda x: x if abs(x) == math.inf else -((-x) // 1), (lambda g, x, y: _zeros(g),),           ("",), allow_bool=False, example=([-1.5, 1.5], "tensor([-1.,  2.])")),  # noqa: E501
    Elementwise("Round",   lambda x: x if abs(x) == math.inf else (x // 1) + ((x - x // 1 > 0.5) or (x - x // 1 == 0.5 and (x // 1) % 2 == 1)), (lambda g, x, y: _zeros(g),), ("",), allow_bool=False, example=([0.5, 1.5, 2.4], "tensor([0., 2., 2.])")),  # noqa: E501
]}

BINARY = {op.key: op for op in [
    Elementwise("Add", lambda a, b: a + b,  (lambda g, a, b, y: g,      lambda g, a, b, y: g),                        ("", ""), ufunc=np.add, example=([1.0, 2.0], [3.0, 4.0], "tensor([4., 6.])")),  # noqa: E501
    Elementwise("Sub", lambda a, b: a - b,  (lambda g, a, b, y: g,      lambda g, a, b, y: -g),                       ("", ""), allow_bool=False, ufunc=np.subtract, example=([5.0, 7.0], [1.0, 2.0], "tensor([4., 5.])")),  # noqa: E501
    Elementwise("Mul", lambda a, b: a * b,  (lambda g, a, b, y: g * b,  lambda g, a, b, y: g * a),                    ("b", "a"), ufunc=np.multiply, example=([1.0, 2.0], [3.0, 4.0], "tensor([3., 8.])")),  # noqa: E501
    Elementwise("Div", lambda a, b: a / b,  (lambda g, a, b, y: g / b,  lambda g, a, b, y: -g * a / (b * b)),         ("b", "a b"), kind="float", ufunc=np.true_divide, example=([1.0, 3.0], [2.0, 4.0], "tensor([0.5000, 0.7500])")),  # noqa: E501
    Elementwise("Pow", lambda a, b: a ** b, (lambda g, a, b, y: _pow_grad_base(g, a, b), lambda g, a, b, y: _pow_grad_exponent(g, a, b, y)), ("a b", "a b out"), allow_bool=False, example=([2.0, 3.0], 2, "tensor([4., 9.])")),  # noqa: E501
    Elementwise("Maximum", lambda a, b: a if a > b or a != a else b, (lambda g, a, b, y: g * _tie_split(a > b, a == b), lambda g, a, b, y: g * _tie_split(b > a, a == b)), ("a b", "a b"), example=([1.0, 4.0], [3.0, 2.0], "tensor([3., 4.])")),  # noqa: E501
    Elementwise("Minimum", lambda a, b: a if a < b or a != a else b, (lambda g, a, b, y: g * _tie_split(a < b, a == b), lambda g, a, b, y: g * _tie_split(b < a, a == b)), ("a b", "a b"), example=([1.0, 4.0], [3.0, 2.0], "tensor([1., 2.])")),  # noqa: E501
    _IntegerDivision("FloorDivide", lambda a, b: a // b, (lambda g, a, b, y: _zeros(g), lambda g, a, b, y: _zeros(g)),       ("", ""), allow_bool=False, key="floor_divide", example=([7, -7], 2, "tensor([ 3, -4])")),  # noqa: E501
    _IntegerDivision("Remainder", lambda a, b: a % b, (lambda g, a, b, y: g, lambda g, a, b, y: -g * (a // b)),             ("", "a b"), allow_bool=False, key="remainder", example=([7, -7], 3, "tensor([1, 2])")),  # noqa: E501
    Elementwise("Atan2", lambda a, b: math.atan2(a, b), (lambda g, a, b, y: g * b / (a * a + b * b), lambda g, a, b, y: -g * a / (a * a + b * b)), ("a b", "a b"), kind="float", example=([1.0, 1.0], [1.0, -1.0], "tensor([0.7854, 2.3562])")),  # noqa: E501
    Elementwise("ClampMin", lambda x, lo: lo if x < lo else x, (lambda g, x, lo, y: g * (x >= lo), lambda g, x, lo, y: g * (x < lo)), ("a b", "a b"), allow_bool=False, key="clamp_min", example=([-1.0, 2.0], 0.0, "tensor([0., 2.])")),  # noqa: E501
    Elementwise("ClampMax", lambda x, hi: hi if x > hi else x, (lambda g, x, hi, y: g * (x <= hi), lambda g, x, hi, y: g * (x > hi)), ("a b", "a b"), allow_bool=False, key="clamp_max", example=([-1.0, 2.0], 1.0, "tensor([-1.,  1.])")),  # noqa: E501
]}

# Three operands: ``where(cond, a, b)`` (cond is computed in the promoted dtype, any nonzero is
# true) and ``clamp(x, min, max)`` = ``min(max(x, min), max)`` (all gradient to ``max`` when
# ``min > max``, like PyTorch).
TERNARY = {op.key: op for op in [
    Elementwise("Where", lambda c, a, b: a if c else b, (lambda g, c, a, b, y: None, lambda g, c, a, b, y: where(c, g, 0.0), lambda g, c, a, b, y: where(c, 0.0, g)), ("", "a", "a"), example=([True, False], [1.0, 2.0], [3.0, 4.0], "tensor([1., 4.])")),  # noqa: E501
    Elementwise("Clamp", lambda x, lo, hi: hi if (lo if x < lo else x) > hi else (lo if x < lo else x), (lambda g, x, lo, hi, y: g * ((x >= lo) * (x <= hi)), lambda g, x, lo, hi, y: g * ((x < lo) * (lo <= hi)), lambda g, x, lo, hi, y: g - g * ((x <= hi) * (lo <= hi))), ("a b c", "a b c", "a b c"), allow_bool=False, example=([-1.0, 0.5, 2.0], 0.0, 1.0, "tensor([0.0000, 0.5000, 1.0000])")),  # noqa: E501
]}

COMPARISONS = {op.name.lower(): op for op in [
    Elementwise("Eq", lambda a, b: a == b, kind="bool", example=([1, 2], [1, 3], "tensor([ True, False])")),
    Elementwise("Ne", lambda a, b: a != b, kind="bool", example=([1, 2], [1, 3], "tensor([False,  True])")),
    Elementwise("Lt", lambda a, b: a < b,  kind="bool", example=([1, 2], 2, "tensor([ True, False])")),
    Elementwise("Le", lambda a, b: a <= b, kind="bool", example=([1, 2], 2, "tensor([True, True])")),
    Elementwise("Gt", lambda a, b: a > b,  kind="bool", example=([1, 2], 1, "tensor([False,  True])")),
    Elementwise("Ge", lambda a, b: a >= b, kind="bool", example=([1, 2], 2, "tensor([False,  True])")),
]}
# fmt: on


# The examples of the functions the factories below make, for the doctest collection (one per
# public name; the function and the Tensor method of one op share a docstring).
__test__: dict = {}


def example_doc(op: Elementwise, call: str | None = None, inplace: bool = False) -> str:
    """The ``>>>`` example of ``op``'s table row as docstring text (empty when it has none):
    ``call(inputs)`` (``nb.<key>`` by default), or ``x.<key>_(inputs[1:])`` when ``inplace``."""
    if op.example is None:
        return ""
    *inputs, expected = op.example
    args = [f"nb.tensor({v!r})" if isinstance(v, list) else repr(v) for v in inputs]
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


def unary(name: str):
    """The public function for unary op ``name``."""
    op = UNARY[name]

    def fn(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a Tensor, not {type(x).__name__}")
        return apply(op, (x,))

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` (differentiable)."
    return with_example(fn, op)


def _binary_apply(op, a, b):
    if isinstance(b, Tensor) or isinstance(b, (int, float, bool)):
        if isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape != b.shape:
            _check_broadcast(op, a.shape, b.shape)
        return apply(op, (a, b))
    _check_operand(op.key, b)
    return NotImplemented


def _check_broadcast(op, sa, sb) -> None:
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ShapeError(
            f"{op.key}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast together"
        ) from None


def binary(name: str, reflected: bool = False):
    """The public function (or reflected dunder) for binary op ``name``."""
    op = BINARY.get(name) or COMPARISONS[name]

    if reflected:
        def fn(self, other):
            if not isinstance(other, (int, float, bool)):
                return NotImplemented
            return apply(op, (other, self))
    else:
        def fn(self, other):
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
                return apply(op, (self, other))
            return _binary_apply(op, self, other)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with broadcasting (differentiable)."
    return fn if reflected else with_example(fn, op)


def inplace(name: str):
    """The in-place method ``name_`` for elementwise op ``name``."""
    op = UNARY.get(name) or BINARY[name]

    def fn(self: Tensor, *other) -> Tensor:
        if other:
            _check_operand(name + "_", other[0])
            if isinstance(other[0], Tensor):
                try:
                    shape = np.broadcast_shapes(self.shape, other[0].shape)
                except ValueError:
                    shape = None
                if shape != self.shape:
                    raise ValueError(
                        f"{name}_: output with shape {self.shape} doesn't match the broadcast "
                        f"shape of {self.shape} and {other[0].shape}"
                    )
        return apply_inplace(op, self, other)

    fn.__name__ = name + "_"
    fn.__doc__ = f"In-place ``{name}``: updates self and bumps its version counter."
    return with_example(fn, op, inplace=True)


def where(condition: Tensor, input, other) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (broadcast; differentiable in both)."""
    if not isinstance(condition, Tensor) or condition.dtype is not _dtype.bool_:
        got = condition.dtype.name if isinstance(condition, Tensor) else type(condition).__name__
        raise TypeError(f"where expected condition to be a boolean tensor, but got {got}")
    _check_operand("where", input)
    _check_operand("where", other)
    shapes = [t.shape for t in (condition, input, other) if isinstance(t, Tensor)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"where: shapes {' and '.join(str(s) for s in shapes)} cannot be broadcast together"
        ) from None
    return apply(TERNARY["where"], (condition, input, other))


def _clamp_op(x, min, max, name):
    for bound in (min, max):
        if bound is not None:
            _check_operand(name, bound)
    if min is None and max is None:
        raise RuntimeError(f"{name}: At least one of 'min' or 'max' must not be None")
    if max is None:
        return BINARY["clamp_min"], (min,)
    if min is None:
        return BINARY["clamp_max"], (max,)
    return TERNARY["clamp"], (min, max)


def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """Limit ``x`` to ``[min, max]`` (numbers or tensors); gradient 1 inside the range.

    With ``min > max`` every element becomes ``max`` (as in PyTorch)."""
    op, bounds = _clamp_op(x, min, max, "clamp")
    shapes = [t.shape for t in (x, *bounds) if isinstance(t, Tensor)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"clamp: shapes {' and '.join(str(s) for s in shapes)} cannot be broadcast together"
        ) from None
    return apply(op, (x, *bounds))


def _broadcast_or_none(*shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        return None


def clamp_(x: Tensor, min=None, max=None) -> Tensor:
    """In-place ``clamp`` (one version bump)."""
    op, bounds = _clamp_op(x, min, max, "clamp_")
    for b in bounds:
        if isinstance(b, Tensor) and _broadcast_or_none(x.shape, b.shape) != x.shape:
            raise ValueError(
                f"clamp_: bound of shape {b.shape} does not broadcast to the output shape "
                f"{x.shape}"
            )
    return apply_inplace(op, x, bounds)


with_example(where, TERNARY["where"])
with_example(clamp, TERNARY["clamp"])
with_example(clamp_, TERNARY["clamp"], inplace=True)
