"""Neural-network ops with fused kernels: softmax, log-softmax, cross-entropy, NLL, embedding,
a few elementwise activations, and the fused optimizer updates.

Each op is declared once: a fused backend kernel forward, and a gradient that is either written
with nbgrad ops or is itself an op whose own gradient is written with nbgrad ops, so
``create_graph=True`` (and gradients of any order) work through all of them.
"""

from __future__ import annotations

import importlib
import math

from nbgrad import _dtype
from nbgrad._device import backend_for
from nbgrad.ops._dispatch import OpDef, apply, apply_inplace
from nbgrad.ops.creation import ones_like
from nbgrad.ops.elementwise import UNARY, Elementwise, with_example
from nbgrad.tensor import Tensor, _wrap_dim

__all__ = [
    "softmax", "log_softmax", "linear", "cross_entropy_indices", "nll_loss_indices", "embedding",
    "gelu", "logsigmoid", "log_clamped", "sgd_step_", "adam_step_", "has_kernels",
]

_KERNELS: dict = {}


def _kernels(bk, kind: str = "nn"):
    """The backend's kernel module ``nn_kernels`` / ``optim_kernels``, imported on first use."""
    key = (bk.__name__, kind)
    found = _KERNELS.get(key)
    if found is None:
        try:
            found = importlib.import_module(f"{bk.__name__}.{kind}_kernels")
        except ModuleNotFoundError:
            raise NotImplementedError(
                f"the {kind} kernels are not implemented on device type '{bk.name}'"
            ) from None
        _KERNELS[key] = found
    return found


def has_kernels(device, kind: str) -> bool:
    """Whether the backend of ``device`` provides the fused ``kind`` ("nn"/"optim") kernels."""
    try:
        _kernels(backend_for(device), kind)
    except NotImplementedError:
        return False
    return True


def _check_float(x: Tensor, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): expected a Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(
            f"{op}(): expected a floating point tensor, got dtype {x.dtype.name}; "
            "convert with .float() first"
        )


# ----------------------------------------------------------------------------- softmax family
class _RowOp(OpDef):
    """Base for ops along one axis whose gradient needs the saved output."""

    def save(self, needs):
        return None, True


class LogSoftmax(_RowOp):
    """``x - logsumexp(x, dim)``, fused and max-subtracted; params = axis."""

    name = "LogSoftmax"

    def forward(self, bk, params, x):
        return _kernels(bk).log_softmax(x, params)

    def backward(self, node, grad):
        return (apply(LOG_SOFTMAX_BACKWARD, (grad, node.output()), node.params),)


class Softmax(_RowOp):
    """``exp(x) / sum(exp(x), dim)``, fused and max-subtracted; params = axis."""

    name = "Softmax"

    def forward(self, bk, params, x):
        return _kernels(bk).softmax(x, params)

    def backward(self, node, grad):
        return (apply(SOFTMAX_BACKWARD, (grad, node.output()), node.params),)


class LogSoftmaxBackward(OpDef):
    """``g - exp(y) * sum(g, dim)`` (the vjp of log-softmax at output ``y``), fused."""

    name = "LogSoftmaxBackwardData"

    def forward(self, bk, params, g, y):
        return _kernels(bk).log_softmax_backward(g, y, params)

    def save(self, needs):
        return (needs[1], True), False

    def backward(self, node, h):
        dim = node.params
        y = node.saved_input(1)
        p = y.exp()
        hp = h * p
        gg = gy = None
        if node.edges[0] is not None:
            gg = h - hp.sum(dim, keepdim=True)
        if node.edges[1] is not None:
            gy = -hp * node.saved_input(0).sum(dim, keepdim=True)
        return gg, gy


class SoftmaxBackward(OpDef):
    """``y * (g - sum(g * y, dim))`` (the vjp of softmax at output ``y``), fused."""

    name = "SoftmaxBackwardData"

    def forward(self, bk, params, g, y):
        return _kernels(bk).softmax_backward(g, y, params)

    def save(self, needs):
        return (needs[1], True), False

    def backward(self, node, h):
        dim = node.params
        y = node.saved_input(1)
        gg = gy = None
        if node.edges[0] is not None:
            gg = apply(SOFTMAX_BACKWARD, (h, y), dim)
        if node.edges[1] is not None:
            g = node.saved_input(0)
            gy = h * (g - (g * y).sum(dim, keepdim=True)) - (h * y).sum(dim, keepdim=True) * g
        return gg, gy


LOG_SOFTMAX, SOFTMAX = LogSoftmax(), Softmax()
LOG_SOFTMAX_BACKWARD, SOFTMAX_BACKWARD = LogSoftmaxBackward(), SoftmaxBackward()


def _along(op, x: Tensor, dim: int, dtype, fname: str) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    _check_float(x, fname)
    if x.ndim == 0:
        _wrap_dim(dim, 0)
        return apply(op, (x.reshape(1),), 0).reshape(())
    return apply(op, (x,), _wrap_dim(dim, x.ndim))


def softmax(x: Tensor, dim: int, dtype=None) -> Tensor:
    """Softmax along ``dim`` (fused, max-subtracted)."""
    return _along(SOFTMAX, x, dim, dtype, "softmax")


def log_softmax(x: Tensor, dim: int, dtype=None) -> Tensor:
    """Log-softmax along ``dim`` (fused, max-subtracted)."""
    return _along(LOG_SOFTMAX, x, dim, dtype, "log_softmax")


# ----------------------------------------------------------------------------- linear
class Linear(OpDef):
    """``x @ w.T (+ b)`` in one node: BLAS on the transposed view, bias added in place.

    The weight gradient comes out as ``g.T @ x``, already in ``w``'s (out, in) layout.
    """

    wants_meta = True

    def forward(self, bk, params, x, w, b=None):
        return _kernels(bk).linear_forward(x, w, b)

    def save(self, needs):
        return (needs[1], needs[0], False)[: 2 + (len(needs) > 2)], False

    def meta(self, arrays, out):
        return tuple(arrays[0].shape)

    def backward(self, node, grad):
        x_shape = node.meta
        needs = node.needs_input_grad
        gx = gw = gb = None
        n_out = grad.shape[-1] if grad.ndim else 1
        if needs[0]:
            gx = grad @ node.saved_input(1)
        if needs[1]:
            x = node.saved_input(0)
            gw = grad.reshape(-1, n_out).t() @ x.reshape(-1, x_shape[-1])
        if len(needs) > 2 and needs[2]:
            gb = grad.reshape(-1, n_out).sum(0)
        return (gx, gw, gb) if len(needs) > 2 else (gx, gw)


LINEAR, LINEAR_NO_BIAS = Linear("Addmm"), Linear("Mm")  # PyTorch's nodes for x @ w.T (+ b)


def linear(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor | None:
    """The fused ``x @ w.T + b``, or None when this device/dtype mix has no fused kernel (the
    caller then composes it from ``matmul`` and ``add``)."""
    if x.dtype is not w.dtype or (b is not None and b.dtype is not w.dtype) \
            or not w.dtype.is_floating_point or not has_kernels(x.device, "nn"):
        return None
    if getattr(_kernels(backend_for(x.device)), "linear_forward", None) is None:
        return None
    return apply(LINEAR_NO_BIAS, (x, w)) if b is None else apply(LINEAR, (x, w, b))


# ----------------------------------------------------------------------------- losses
def _weight_data(weight):
    return None if weight is None else weight._data


def _row_stats(x: Tensor, t: Tensor, weight, ignore_index: int):
    """Per-row mask of kept rows and the weight of each row's class (tensors, no grad)."""
    keep = t != ignore_index
    if weight is None:
        return keep.to(x.dtype), keep.to(x.dtype)
    safe = t * keep
    w_t = weight.detach().to(x.dtype)[safe] * keep
    return keep.to(x.dtype), w_t


class CrossEntropy(OpDef):
    """Cross-entropy of logits (N, C) against class indices (N,), with log-softmax fused in.

    params = (weight tensor or None, ignore_index, label_smoothing, reduction). Two outputs:
    ``softmax(x)`` (output 0, kept for backward, so the gradient is one pass with no second
    round of exponentials; :func:`cross_entropy_indices` returns only the loss) and the loss.
    """

    name = "CrossEntropyLoss"
    n_outputs = 2

    def output_differentiable(self, nr: int) -> bool:
        """Both: the kept softmax carries the gradient of higher-order backward passes."""
        return True

    def forward(self, bk, params, x, t):
        weight, ignore_index, smoothing, reduction = params
        return _kernels(bk).cross_entropy_forward(
            x, t, _weight_data(weight), ignore_index, smoothing, reduction
        )

    def save(self, needs):
        return (False, True), True  # the target and output 0, the softmax

    def backward(self, node, grad_p, grad):
        p, t = node.output(), node.saved_input(1)
        gx = None
        if grad is not None:
            gx = apply(CROSS_ENTROPY_GRAD, (p, grad, t), node.params)
        if grad_p is not None:  # only from gradients of the gradient (through CROSS_ENTROPY_GRAD)
            gp = apply(SOFTMAX_BACKWARD, (grad_p, p), 1)
            gx = gp if gx is None else gx + gp
        return gx, None


class CrossEntropyGrad(OpDef):
    """The gradient of :class:`CrossEntropy` with respect to the logits, fused, from the softmax
    ``p`` of the logits: ``coef_i * (s_i p_i - r_i)`` (``r_i`` the smoothed, weighted target)."""

    name = "CrossEntropyLossBackward"

    def forward(self, bk, params, p, g, t):
        weight, ignore_index, smoothing, reduction = params
        return _kernels(bk).cross_entropy_backward(
            p, t, _weight_data(weight), g, ignore_index, smoothing, reduction
        )

    def save(self, needs):
        return (True, True, True), False

    def backward(self, node, h):
        weight, ignore_index, smoothing, reduction = node.params
        p, g, t = (node.saved_input(i) for i in range(3))
        gp = gg = None
        if node.edges[1] is not None:  # the op is linear in g
            k = apply(CROSS_ENTROPY_GRAD, (p, ones_like(g), t), node.params)
            gg = (h * k).sum(1) if reduction == "none" else (h * k).sum()
        if node.edges[0] is not None:  # and linear in p: row i is scaled by coef_i * s_i
            n_classes = p.shape[1]
            keep, w_t = _row_stats(p, t, weight, ignore_index)
            wsum = n_classes if weight is None else weight.detach().to(p.dtype).sum()
            s = w_t * (1 - smoothing) + keep * (wsum * (smoothing / n_classes))
            coef = g
            if reduction == "mean":
                coef = g / w_t.sum()
            gp = h * (s * coef).unsqueeze(1)
        return gp, gg, None


class NllLoss(OpDef):
    """Negative log-likelihood of log-probabilities (N, C) at class indices (N,).

    params = (weight tensor or None, ignore_index, reduction).
    """

    name = "NllLoss"
    wants_meta = True

    def forward(self, bk, params, x, t):
        weight, ignore_index, reduction = params
        return _kernels(bk).nll_forward(x, t, _weight_data(weight), ignore_index, reduction)

    def save(self, needs):
        return (False, True), False

    def meta(self, arrays, out):
        return tuple(arrays[0].shape)

    def backward(self, node, grad):
        t = node.saved_input(1)
        return apply(NLL_GRAD, (grad, t), (*node.params, node.meta)), None


class NllGrad(OpDef):
    """The gradient of :class:`NllLoss` (linear in the loss gradient); its own vjp is NllLoss."""

    name = "NllLossBackward"

    def forward(self, bk, params, g, t):
        weight, ignore_index, reduction, shape = params
        return _kernels(bk).nll_backward(g, t, _weight_data(weight), shape, ignore_index,
                                         reduction)

    def save(self, needs):
        return (False, True), False

    def backward(self, node, h):
        return apply(NLL, (h, node.saved_input(1)), node.params[:3]), None


CROSS_ENTROPY, CROSS_ENTROPY_GRAD = CrossEntropy(), CrossEntropyGrad()
NLL, NLL_GRAD = NllLoss(), NllGrad()

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction!r} is not a valid value for reduction; use "
                         "'none', 'mean' or 'sum'")


def _check_class_target(name: str, x: Tensor, target: Tensor, weight) -> None:
    if not isinstance(target, Tensor):
        raise TypeError(f"{name}(): target must be a Tensor, got {type(target).__name__}")
    if target.dtype.is_floating_point or target.dtype is _dtype.bool_:
        raise TypeError(
            f"{name}(): class-index target must be an integer tensor (int64), got "
            f"{target.dtype.name}"
        )
    if x.ndim != 2 or target.ndim != 1 or target.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name}(): expected input of shape (N, C) and target of shape (N,), got input "
            f"{x.shape} and target {target.shape}"
        )
    if x.device != target.device:
        raise RuntimeError(
            f"{name}(): input is on {x.device} but target is on {target.device}"
        )
    if weight is not None and (not isinstance(weight, Tensor) or weight.shape != (x.shape[1],)):
        shape = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(
            f"{name}(): weight must be a tensor of shape ({x.shape[1]},) (one per class), "
            f"got {shape}"
        )


def cross_entropy_indices(x: Tensor, target: Tensor, weight=None, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Fused cross-entropy of logits ``x`` (N, C) and class indices ``target`` (N,)."""
    _check_float(x, "cross_entropy")
    _check_reduction(reduction)
    _check_class_target("cross_entropy", x, target, weight)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    params = (weight, int(ignore_index), float(label_smoothing), reduction)
    return apply(CROSS_ENTROPY, (x, target), params)[1]


def nll_loss_indices(x: Tensor, target: Tensor, weight=None, ignore_index: int = -100,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``x`` (N, C) at ``target`` (N,)."""
    _check_float(x, "nll_loss")
    _check_reduction(reduction)
    _check_class_target("nll_loss", x, target, weight)
    return apply(NLL, (x, target), (weight, int(ignore_index), reduction))


# ----------------------------------------------------------------------------- embedding
class Embedding(OpDef):
    """Rows of ``weight`` picked by integer ``index``; params = padding_idx (-1 for none)."""

    name = "Embedding"
    wants_meta = True

    def forward(self, bk, params, weight, index):
        return _kernels(bk).embedding_forward(weight, index)

    def save(self, needs):
        return (False, True), False

    def meta(self, arrays, out):
        return arrays[0].shape[0]

    def backward(self, node, grad):
        index = node.saved_input(1)
        return apply(EMBEDDING_BACKWARD, (grad, index), (node.meta, node.params)), None


class EmbeddingBackward(OpDef):
    """Scatter-add of gradient rows into the embedding table (the padding row gets none)."""

    name = "EmbeddingDenseBackward"  # PyTorch's embedding_dense_backward

    def forward(self, bk, params, grad, index):
        num, padding_idx = params
        return _kernels(bk).embedding_backward(grad, index, num, padding_idx)

    def save(self, needs):
        return (False, True), False

    def backward(self, node, h):
        index = node.saved_input(1)
        padding_idx = node.params[1]
        rows = apply(EMBEDDING, (h, index), padding_idx)
        if padding_idx >= 0:
            rows = rows * (index != padding_idx).unsqueeze(-1)
        return rows, None


EMBEDDING, EMBEDDING_BACKWARD = Embedding(), EmbeddingBackward()


def embedding(index: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Look up rows of ``weight`` (num, dim) at the integer tensor ``index``."""
    if not isinstance(index, Tensor) or index.dtype.is_floating_point or \
            index.dtype is _dtype.bool_:
        kind = index.dtype.name if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"embedding(): indices must be an integer tensor (int64), got {kind}")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = weight.shape if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"embedding(): weight must be a 2-D tensor (num, dim), got {shape}")
    pad = -1
    if padding_idx is not None:
        pad = padding_idx + weight.shape[0] if padding_idx < 0 else padding_idx
        if not 0 <= pad < weight.shape[0]:
            raise ValueError(
                f"embedding(): padding_idx {padding_idx} is out of range for "
                f"{weight.shape[0]} embeddings"
            )
    return apply(EMBEDDING, (weight, index), pad)


# ----------------------------------------------------------------------------- activations
# Scalar kernels: one ``def`` each (Numba's cache keys on the kernel's source line).
def _logsigmoid(x):
    return (x if x < 0 else x * 0) - math.log1p(math.exp(-abs(x)))


LOGSIGMOID = Elementwise(
    "LogSigmoid",
    _logsigmoid,
    grad={"x": lambda grad, x: grad * (-x).sigmoid()},
    kind="float",
    example=([0.0, 1.0], "tensor([-0.6931, -0.3133])"),
)


def _log_clamped(x):
    return max(math.log(x), -100.0) if x > 0 else -100.0


LOG_CLAMPED = Elementwise(
    "LogClamped",
    _log_clamped,
    grad={"x": lambda grad, x, out: grad * (out > -100.0) / x},
    kind="float",
    example=([1.0, 0.0], "tensor([   0., -100.])"),
)


def gelu(x: Tensor) -> Tensor:
    """Exact GELU ``x * Phi(x)`` through ``erf`` (the op table's row)."""
    return apply(UNARY["gelu"], (x,))


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))``, stable for large ``|x|``."""
    return apply(LOGSIGMOID, (x,))


def log_clamped(x: Tensor) -> Tensor:
    """``log(x)`` clamped below at -100 (PyTorch's binary cross-entropy convention)."""
    return apply(LOG_CLAMPED, (x,))


with_example(gelu, UNARY["gelu"], "nb.ops.nn_ops.gelu")
with_example(logsigmoid, LOGSIGMOID, "nb.ops.nn_ops.logsigmoid")
with_example(log_clamped, LOG_CLAMPED, "nb.ops.nn_ops.log_clamped")


# ----------------------------------------------------------------------------- optimizer updates
class _FusedUpdate(OpDef):
    """An in-place optimizer update of a parameter (and its state arrays) in one kernel pass.

    Run through ``apply_inplace`` so the parameter's version counter is bumped like any other
    in-place op; the state tensors are private to the optimizer and are written without a bump.
    """

    differentiable = False

    def __init__(self, name: str, kernel: str) -> None:
        super().__init__(name)
        self.kernel = kernel

    def forward_into(self, bk, params, out, p, *arrays):
        getattr(_kernels(bk, "optim"), self.kernel)(out, *arrays, *params)


SGD_STEP = _FusedUpdate("SgdStep", "sgd_step")
ADAM_STEP = _FusedUpdate("AdamStep", "adam_step")


def sgd_step_(p: Tensor, grad: Tensor, buf: Tensor, lr: float, momentum: float,
              dampening: float, weight_decay: float, nesterov: bool, maximize: bool,
              first: bool) -> Tensor:
    """One fused SGD update of ``p`` (and its momentum buffer ``buf``) in place."""
    return apply_inplace(SGD_STEP, p, (grad, buf), (
        float(lr), float(momentum), float(dampening), float(weight_decay), bool(nesterov),
        bool(maximize), bool(first)))


def adam_step_(p: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_sq: Tensor,
               lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
               decoupled: bool, amsgrad: bool, maximize: bool, step: int) -> Tensor:
    """One fused Adam/AdamW update of ``p`` and its moment estimates in place."""
    return apply_inplace(ADAM_STEP, p, (grad, exp_avg, exp_avg_sq, max_sq), (
        float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), bool(decoupled),
        bool(amsgrad), bool(maximize), int(step)))
