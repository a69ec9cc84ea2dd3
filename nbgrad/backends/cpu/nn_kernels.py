"""Fused CPU kernels for the nn ops: softmax, log-softmax, cross-entropy, NLL, embedding.

Every row kernel works on a C-contiguous 2-D array ``(rows, n)`` whose last axis is the one
reduced; the wrappers below move another axis last (one copy) and back. Softmax-type kernels
subtract the row maximum before exponentiating, so large logits never overflow. Pure arrays in,
arrays out: no tensors and no autograd here.
"""

from __future__ import annotations

import math

import numpy as np

from nbgrad.backends._jit import kernel

__all__ = [
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "cross_entropy_forward", "cross_entropy_backward", "nll_forward", "nll_backward",
    "row_weights", "embedding_forward", "embedding_backward", "linear_forward",
]


# ----------------------------------------------------------------------------- row kernels
@kernel
def _log_softmax_rows(x, out):
    rows, n = x.shape
    for i in range(rows):
        m = -np.inf
        for j in range(n):
            if x[i, j] > m:
                m = x[i, j]
        if m == -np.inf:  # an all -inf row: keep nan like PyTorch, avoid (-inf) - (-inf) noise
            m = 0.0
        s = 0.0
        for j in range(n):
            s += math.exp(x[i, j] - m)
        lse = m + math.log(s)
        for j in range(n):
            out[i, j] = x[i, j] - lse


@kernel
def _softmax_rows(x, out):
    rows, n = x.shape
    for i in range(rows):
        m = -np.inf
        for j in range(n):
            if x[i, j] > m:
                m = x[i, j]
        if m == -np.inf:
            m = 0.0
        s = 0.0
        for j in range(n):
            e = math.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        inv = 1.0 / s if s > 0.0 else math.nan  # an all -inf row has no distribution
        for j in range(n):
            out[i, j] *= inv


@kernel
def _log_softmax_backward_rows(g, y, out):
    rows, n = g.shape
    for i in range(rows):
        s = 0.0
        for j in range(n):
            s += g[i, j]
        for j in range(n):
            out[i, j] = g[i, j] - math.exp(y[i, j]) * s


@kernel
def _softmax_backward_rows(g, y, out):
    rows, n = g.shape
    for i in range(rows):
        s = 0.0
        for j in range(n):
            s += g[i, j] * y[i, j]
        for j in range(n):
            out[i, j] = y[i, j] * (g[i, j] - s)


@kernel
def _row_weights(target, weight, ignore_index, n_classes, out):
    """Weight of each row's target class (0 for ignored rows); returns the first bad row or -1."""
    for i in range(target.shape[0]):
        t = target[i]
        if t == ignore_index:
            out[i] = 0.0
        elif t < 0 or t >= n_classes:
            return i
        else:
            out[i] = weight[t]
    return -1


@kernel
def _cross_entropy_rows(x, target, weight, ignore_index, smoothing, losses):
    """Per-row loss ``(1-e) w_t (lse - x_t) + e/C sum_c w_c (lse - x_c)``."""
    rows, n = x.shape
    for i in range(rows):
        t = target[i]
        if t == ignore_index:
            losses[i] = 0.0
            continue
        m = -np.inf
        for j in range(n):
            if x[i, j] > m:
                m = x[i, j]
        if m == -np.inf:
            m = 0.0
        s = 0.0
        for j in range(n):
            s += math.exp(x[i, j] - m)
        lse = m + math.log(s)
        loss = (1.0 - smoothing) * weight[t] * (lse - x[i, t])
        if smoothing != 0.0:
            acc = 0.0
            for j in range(n):
                acc += weight[j] * (lse - x[i, j])
            loss += smoothing / n * acc
        losses[i] = loss


@kernel
def _cross_entropy_backward_rows(x, target, weight, coef, ignore_index, smoothing, out):
    """``coef_i * (s_i softmax(x_i) - r_i)`` with the smoothed, weighted target ``r_i``."""
    rows, n = x.shape
    wsum = 0.0
    if smoothing != 0.0:
        for j in range(n):
            wsum += weight[j]
    for i in range(rows):
        t = target[i]
        c = coef[i]
        if t == ignore_index or c == 0.0:
            for j in range(n):
                out[i, j] = 0.0
            continue
        m = -np.inf
        for j in range(n):
            if x[i, j] > m:
                m = x[i, j]
        if m == -np.inf:
            m = 0.0
        s = 0.0
        for j in range(n):
            e = math.exp(x[i, j] - m)
            out[i, j] = e
            s += e
        wt = (1.0 - smoothing) * weight[t]
        scale = c * (wt + smoothing / n * wsum) / s if s > 0.0 else math.nan
        if smoothing != 0.0:
            off = c * smoothing / n
            for j in range(n):
                out[i, j] = out[i, j] * scale - off * weight[j]
        else:
            for j in range(n):
                out[i, j] = out[i, j] * scale
        out[i, t] -= c * wt


@kernel
def _nll_rows(x, target, weight, ignore_index, losses):
    for i in range(x.shape[0]):
        t = target[i]
        losses[i] = 0.0 if t == ignore_index else -weight[t] * x[i, t]


@kernel
def _nll_backward_rows(coef, target, weight, ignore_index, out):
    for i in range(out.shape[0]):
        t = target[i]
        if t != ignore_index:
            out[i, t] = -weight[t] * coef[i]


@kernel
def _embedding_backward(grad, index, padding_idx, out):
    rows, dim = grad.shape
    for k in range(rows):
        r = index[k]
        if r != padding_idx:
            for j in range(dim):
                out[r, j] += grad[k, j]


# ----------------------------------------------------------------------------- wrappers
def _c(a: np.ndarray) -> np.ndarray:
    """A C-contiguous, writeable array (read-only arrays would compile a second signature)."""
    if a.flags.c_contiguous and a.flags.writeable:
        return a
    return np.array(a, order="C", copy=True)


def _rows(x: np.ndarray, axis: int) -> np.ndarray:
    """``x`` with ``axis`` moved last, as a C-contiguous (rows, n) array."""
    if axis != x.ndim - 1:
        x = np.moveaxis(x, axis, -1)
    n = x.shape[-1] if x.ndim else 1
    return _c(x).reshape(-1, n)


def _unrows(out2: np.ndarray, shape: tuple, axis: int) -> np.ndarray:
    """Undo :func:`_rows`: reshape and move the last axis back to ``axis``."""
    nd = len(shape)
    if axis == nd - 1 or nd == 0:
        return out2.reshape(shape)
    moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
    return np.ascontiguousarray(np.moveaxis(out2.reshape(moved), -1, axis))


def _row_op(kern, axis: int, *arrays) -> np.ndarray:
    shape = arrays[0].shape
    rows = [_rows(a, axis) for a in arrays]
    out = np.empty_like(rows[0])
    if out.size:
        kern(*rows, out)
    return _unrows(out, shape, axis)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, max-subtracted."""
    return _row_op(_softmax_rows, axis, x)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``, max-subtracted."""
    return _row_op(_log_softmax_rows, axis, x)


def softmax_backward(g: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    """Vector-Jacobian product of softmax: ``y * (g - sum(g * y))`` given the output ``y``."""
    return _row_op(_softmax_backward_rows, axis, g, y)


def log_softmax_backward(g: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    """Vector-Jacobian product of log-softmax: ``g - exp(y) * sum(g)`` given the output ``y``."""
    return _row_op(_log_softmax_backward_rows, axis, g, y)


def _weights(weight, n: int, dtype) -> np.ndarray:
    if weight is None:
        return np.ones(n, dtype)
    return _c(weight.astype(dtype, copy=False))


def row_weights(target: np.ndarray, weight, n_classes: int, ignore_index: int,
                dtype) -> np.ndarray:
    """The weight of each row's target class, 0 where ignored; IndexError for a bad target."""
    t = _c(target.astype(np.int64, copy=False))
    w = _weights(weight, n_classes, dtype)
    out = np.empty(t.shape[0], dtype)
    bad = _row_weights(t, w, ignore_index, n_classes, out)
    if bad >= 0:
        raise IndexError(
            f"Target {int(t[bad])} is out of bounds: class indices must be in [0, {n_classes})"
            f" or equal ignore_index ({ignore_index})"
        )
    return out


def _reduce(losses: np.ndarray, wts: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return losses
    total = losses.sum(dtype=np.float64)
    if reduction == "mean":
        denom = wts.sum(dtype=np.float64)
        total = total / denom if denom else np.nan
    return np.asarray(total, dtype=losses.dtype)


def _coef(g: np.ndarray, wts: np.ndarray, reduction: str, dtype) -> np.ndarray:
    """The gradient of the reduced loss with respect to each row's loss."""
    n = wts.shape[0]
    if reduction == "none":
        return _c(g.astype(dtype, copy=False).reshape(n))
    value = float(g)
    if reduction == "mean":
        denom = wts.sum(dtype=np.float64)
        value = value / denom if denom else np.nan
    return np.full(n, value, dtype)


def cross_entropy_forward(x: np.ndarray, target: np.ndarray, weight, ignore_index: int,
                          smoothing: float, reduction: str) -> np.ndarray:
    """Cross-entropy of logits ``x`` (N, C) against class indices ``target`` (N,)."""
    n_classes = x.shape[1]
    wts = row_weights(target, weight, n_classes, ignore_index, x.dtype)
    losses = np.empty(x.shape[0], x.dtype)
    if x.shape[0]:
        _cross_entropy_rows(_c(x), _c(target.astype(np.int64, copy=False)),
                            _weights(weight, n_classes, x.dtype), ignore_index,
                            float(smoothing), losses)
    return _reduce(losses, wts, reduction)


def cross_entropy_backward(x: np.ndarray, target: np.ndarray, weight, g: np.ndarray,
                           ignore_index: int, smoothing: float, reduction: str) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to ``x`` given the loss grad ``g``."""
    n_classes = x.shape[1]
    wts = row_weights(target, weight, n_classes, ignore_index, x.dtype)
    out = np.empty(x.shape, x.dtype)
    if x.shape[0]:
        coef = _coef(g, wts, reduction, x.dtype)
        _cross_entropy_backward_rows(_c(x), _c(target.astype(np.int64, copy=False)),
                                     _weights(weight, n_classes, x.dtype), coef, ignore_index,
                                     float(smoothing), out)
    return out


def nll_forward(x: np.ndarray, target: np.ndarray, weight, ignore_index: int,
                reduction: str) -> np.ndarray:
    """Negative log-likelihood of log-probabilities ``x`` (N, C) at ``target`` (N,)."""
    n_classes = x.shape[1]
    wts = row_weights(target, weight, n_classes, ignore_index, x.dtype)
    losses = np.empty(x.shape[0], x.dtype)
    if x.shape[0]:
        _nll_rows(_c(x), _c(target.astype(np.int64, copy=False)),
                  _weights(weight, n_classes, x.dtype), ignore_index, losses)
    return _reduce(losses, wts, reduction)


def nll_backward(g: np.ndarray, target: np.ndarray, weight, shape: tuple, ignore_index: int,
                 reduction: str) -> np.ndarray:
    """Gradient of :func:`nll_forward` (an array of ``shape``) given the loss grad ``g``."""
    n_classes = shape[1]
    wts = row_weights(target, weight, n_classes, ignore_index, g.dtype)
    out = np.zeros(shape, g.dtype)
    if shape[0]:
        coef = _coef(g, wts, reduction, g.dtype)
        _nll_backward_rows(coef, _c(target.astype(np.int64, copy=False)),
                           _weights(weight, n_classes, g.dtype), ignore_index, out)
    return out


def linear_forward(x: np.ndarray, w: np.ndarray, b) -> np.ndarray:
    """``x @ w.T + b``: BLAS reads the transposed weight in place; the bias is added in place."""
    out = np.matmul(x, w.T)
    if b is not None:
        out += b
    return out


def embedding_forward(weight: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows of ``weight`` picked by ``index`` (any shape): shape ``index.shape + (dim,)``."""
    n = weight.shape[0]
    if index.size and (index.min() < 0 or index.max() >= n):
        bad = index[(index < 0) | (index >= n)].flat[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {n} embeddings")
    return np.take(weight, index, axis=0)


def embedding_backward(grad: np.ndarray, index: np.ndarray, num: int,
                       padding_idx: int) -> np.ndarray:
    """Scatter-add ``grad`` rows into a (num, dim) zero array; the padding row gets nothing."""
    dim = grad.shape[-1]
    out = np.zeros((num, dim), grad.dtype)
    if index.size:
        _embedding_backward(_c(grad).reshape(-1, dim), _c(index.astype(np.int64).reshape(-1)),
                            padding_idx, out)
    return out
