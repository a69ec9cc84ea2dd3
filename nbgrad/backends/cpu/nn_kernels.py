"""Fused CPU kernels for the nn ops: softmax, log-softmax, cross-entropy, NLL, embedding.

Every row kernel works on a C-contiguous 2-D array ``(rows, n)`` whose last axis is the one
reduced; the wrappers below move another axis last (one copy) and back. Softmax-type kernels
subtract the row maximum before exponentiating, so large logits never overflow. Pure arrays in,
arrays out: no tensors and no autograd here.

The exponentials run through numpy's SIMD ``np.exp`` over the whole shifted array (Numba has no
vector math library: ``math.exp`` in a loop is a scalar libm call, ~5x slower); the passes
around it (row maximum and shift, row sums and scaling, the losses) are Numba kernels in the
array's own dtype, with eight interleaved accumulators so the loops vectorise. Each row kernel
is one source compiled twice (:func:`nbgrad.backends._jit.twins`): small arrays run the serial
kernel, arrays of at least ``PARALLEL_MIN`` elements its ``parallel=True`` twin, which spreads
the rows over Numba's threads (a parallel launch costs ~10-70 us here, more than a small
array's whole pass). The layouts (rows, class weights, loss reductions) are planned by
:mod:`nbgrad.backends._planning`, shared with the CUDA backend.
Big outputs and temporaries come from :mod:`nbgrad.backends.cpu.pool`, so a training loop reuses
already mapped memory instead of faulting fresh pages in every step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

import nbgrad.backends.cpu as be
from nbgrad.backends import _planning as plan
from nbgrad.backends._jit import kernel, twins
from nbgrad.backends.cpu import blas
from nbgrad.backends.cpu.elementwise import quietly
from nbgrad.backends.cpu.pool import empty

__all__ = [
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "cross_entropy_forward", "cross_entropy_backward", "nll_forward", "nll_backward",
    "row_weights", "embedding_forward", "embedding_backward", "linear_forward", "PARALLEL_MIN",
]

PARALLEL_MIN = 1 << 19
"""Row kernels over at least this many elements run on Numba's parallel threads."""


# ----------------------------------------------------------------------------- row helpers
@kernel
def _row_sum(r):
    """The sum of the 1-D row ``r`` in its own dtype: eight interleaved accumulators break the
    add dependency chain (so the loop vectorises) and round like a shallow pairwise sum."""
    n = r.shape[0]
    stop = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = r.dtype.type(0)
    for j in range(0, stop, 8):
        s0 += r[j]
        s1 += r[j + 1]
        s2 += r[j + 2]
        s3 += r[j + 3]
        s4 += r[j + 4]
        s5 += r[j + 5]
        s6 += r[j + 6]
        s7 += r[j + 7]
    for j in range(stop, n):
        s0 += r[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@kernel
def _row_dot(a, b):
    """``sum(a * b)`` of two 1-D rows, accumulated like :func:`_row_sum`."""
    n = a.shape[0]
    stop = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0)
    for j in range(0, stop, 8):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
    for j in range(stop, n):
        s0 += a[j] * b[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


# ----------------------------------------------------------------------------- row kernels
# Each kernel walks every row with ``prange``; ``twins`` compiles it serial and parallel.
def _shift_rows(x, out, mx):
    """``out = x - max(x)`` per row, the maxima into ``mx`` (the input of ``np.exp``). Eight
    running maxima let the loop vectorise; NaNs are skipped, as ``>`` skips them (a NaN still
    turns the row's sums into NaN later)."""
    n = x.shape[1]
    end = n - n % 8
    for i in prange(x.shape[0]):
        r = x[i]
        m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = r[0]
        for j in range(0, end, 8):
            v = r[j]
            m0 = v if v > m0 else m0
            v = r[j + 1]
            m1 = v if v > m1 else m1
            v = r[j + 2]
            m2 = v if v > m2 else m2
            v = r[j + 3]
            m3 = v if v > m3 else m3
            v = r[j + 4]
            m4 = v if v > m4 else m4
            v = r[j + 5]
            m5 = v if v > m5 else m5
            v = r[j + 6]
            m6 = v if v > m6 else m6
            v = r[j + 7]
            m7 = v if v > m7 else m7
        m0 = m1 if m1 > m0 else m0
        m2 = m3 if m3 > m2 else m2
        m4 = m5 if m5 > m4 else m4
        m6 = m7 if m7 > m6 else m6
        m0 = m2 if m2 > m0 else m0
        m4 = m6 if m6 > m4 else m4
        m = m4 if m4 > m0 else m0
        for j in range(end, n):
            m = r[j] if r[j] > m else m
        mx[i] = m
        orow = out[i]
        for j in range(n):
            orow[j] = r[j] - m


def _normalize_rows(e):
    """``e /= sum(e)`` per row (softmax from the shifted exponentials)."""
    for i in prange(e.shape[0]):
        r = e[i]
        inv = r.dtype.type(1) / _row_sum(r)  # in the row dtype: no float64 promotion
        for j in range(r.shape[0]):
            r[j] *= inv


def _log_normalize_rows(z, e):
    """``z -= log(sum(e))`` per row, where ``e = exp(z)`` (log-softmax from the shifted x)."""
    for i in prange(z.shape[0]):
        r = z[i]
        lse = math.log(_row_sum(e[i]))
        for j in range(r.shape[0]):
            r[j] -= lse


def _softmax_backward_rows(g, y, out):
    """``out = y * (g - sum(g * y))`` per row."""
    for i in prange(g.shape[0]):
        gr = g[i]
        yr = y[i]
        orow = out[i]
        s = _row_dot(gr, yr)
        for j in range(gr.shape[0]):
            orow[j] = yr[j] * (gr[j] - s)


def _log_softmax_backward_rows(g, p):
    """``p = g - p * sum(g)`` per row, in place, where ``p = exp(y)``."""
    for i in prange(g.shape[0]):
        gr = g[i]
        pr = p[i]
        s = _row_sum(gr)
        for j in range(gr.shape[0]):
            pr[j] = gr[j] - pr[j] * s


def _cross_entropy_rows(x, p, mx, target, weight, ignore_index, smoothing, losses):
    """Normalise ``p`` (the shifted exponentials of ``x``) into ``softmax(x)`` and write each
    row's loss ``(1-e) w_t (lse - x_t) + e/C sum_c w_c (lse - x_c)``."""
    n = x.shape[1]
    for i in prange(x.shape[0]):
        pr = p[i]
        s = _row_sum(pr)
        inv = pr.dtype.type(1) / s
        for j in range(n):
            pr[j] *= inv
        t = target[i]
        if t == ignore_index:
            losses[i] = 0
        else:
            lse = mx[i] + math.log(s)
            loss = (1.0 - smoothing) * weight[t] * (lse - x[i, t])
            if smoothing != 0.0:
                acc = x.dtype.type(0)
                for j in range(n):
                    acc += weight[j] * (lse - x[i, j])
                loss += smoothing / n * acc
            losses[i] = loss


def _cross_entropy_backward_rows(p, target, weight, coef, ignore_index, smoothing, wsum, out):
    """``coef_i * (s_i p_i - r_i)`` from the softmax ``p``, with the smoothed, weighted target
    ``r_i`` and ``s_i = sum(r_i)``."""
    n = p.shape[1]
    for i in prange(p.shape[0]):
        t = target[i]
        c = coef[i]
        orow = out[i]
        if t == ignore_index or c == 0:
            for j in range(n):
                orow[j] = 0
        else:
            pr = p[i]
            wt = (1.0 - smoothing) * weight[t]
            scale = p.dtype.type(c * (wt + smoothing / n * wsum))
            if smoothing != 0.0:
                off = p.dtype.type(c * smoothing / n)
                for j in range(n):
                    orow[j] = pr[j] * scale - off * weight[j]
            else:
                for j in range(n):
                    orow[j] = pr[j] * scale
            orow[t] -= c * wt


_shift_rows = twins(_shift_rows)
_normalize_rows = twins(_normalize_rows)
_log_normalize_rows = twins(_log_normalize_rows)
_softmax_backward_rows = twins(_softmax_backward_rows)
_log_softmax_backward_rows = twins(_log_softmax_backward_rows)
_cross_entropy_rows = twins(_cross_entropy_rows)
_cross_entropy_backward_rows = twins(_cross_entropy_backward_rows)


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
    return _c(plan.rows(be, x, axis))


def _run(twin, *args) -> None:
    """Row kernel ``twin`` (serial, parallel) over every row of ``args[0]``, in parallel when
    it is large."""
    serial, parallel = twin
    (parallel if args[0].size >= PARALLEL_MIN else serial)(*args)


def _exp(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = exp(a)`` with numpy's SIMD loop (no floating-point warnings)."""
    return quietly(np.exp, a, out=out)


def _shifted_exp(x2: np.ndarray):
    """(``exp(x - max)`` per row, the row maxima) of a (rows, n) array with n > 0."""
    out = empty(x2.shape, x2.dtype)
    mx = np.empty(x2.shape[0], x2.dtype)
    _run(_shift_rows, x2, out, mx)
    return _exp(out, out), mx


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """``exp(x) / sum(exp(x))`` along ``axis``, max-subtracted."""
    x2 = _rows(x, axis)
    if not x2.size:
        return plan.unrows(be, np.empty_like(x2), x.shape, axis)
    e, _ = _shifted_exp(x2)
    _run(_normalize_rows, e)
    return plan.unrows(be, e, x.shape, axis)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``, max-subtracted."""
    x2 = _rows(x, axis)
    out = empty(x2.shape, x2.dtype)
    if out.size:
        mx = np.empty(x2.shape[0], x2.dtype)
        _run(_shift_rows, x2, out, mx)
        e = _exp(out, empty(out.shape, out.dtype))
        _run(_log_normalize_rows, out, e)
    return plan.unrows(be, out, x.shape, axis)


def softmax_backward(g: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    """Vector-Jacobian product of softmax: ``y * (g - sum(g * y))`` given the output ``y``."""
    g2, y2 = _rows(g, axis), _rows(y, axis)
    out = empty(y2.shape, y2.dtype)
    if out.size:
        _run(_softmax_backward_rows, g2, y2, out)
    return plan.unrows(be, out, y.shape, axis)


def log_softmax_backward(g: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    """Vector-Jacobian product of log-softmax: ``g - exp(y) * sum(g)`` given the output ``y``."""
    g2, y2 = _rows(g, axis), _rows(y, axis)
    out = empty(y2.shape, y2.dtype)
    if out.size:
        _exp(y2, out)
        _run(_log_softmax_backward_rows, g2, out)
    return plan.unrows(be, out, y.shape, axis)


def _weights(weight, n: int, dtype) -> np.ndarray:
    return _c(plan.class_weights(be, weight, n, dtype))


def _targets(target: np.ndarray) -> np.ndarray:
    return _c(plan.targets(be, target))


def _checked_weights(t: np.ndarray, w: np.ndarray, n_classes: int, ignore_index: int,
                     dtype) -> np.ndarray:
    out = np.empty(t.shape[0], dtype)
    bad = _row_weights(t, w, ignore_index, n_classes, out)
    if bad >= 0:
        raise plan.target_error(t[bad], n_classes, ignore_index)
    return out


def row_weights(target: np.ndarray, weight, n_classes: int, ignore_index: int,
                dtype) -> np.ndarray:
    """The weight of each row's target class, 0 where ignored; IndexError for a bad target."""
    return _checked_weights(_targets(target), _weights(weight, n_classes, dtype), n_classes,
                            ignore_index, dtype)


def cross_entropy_forward(x: np.ndarray, target: np.ndarray, weight, ignore_index: int,
                          smoothing: float, reduction: str):
    """Cross-entropy of logits ``x`` (N, C) against class indices ``target`` (N,).

    Returns ``(softmax(x, 1), loss)``: the probabilities are what the gradient needs, so the
    op keeps them and its backward is one pass (no second round of exponentials)."""
    rows, n_classes = x.shape
    t = _targets(target)
    w = _weights(weight, n_classes, x.dtype)
    wts = _checked_weights(t, w, n_classes, ignore_index, x.dtype)
    x = _c(x)
    losses = np.zeros(rows, x.dtype)
    if not x.size:
        return np.empty_like(x), plan.reduce_losses(be, losses, wts, reduction)
    p, mx = _shifted_exp(x)
    _run(_cross_entropy_rows, x, p, mx, t, w, ignore_index, float(smoothing), losses)
    return p, plan.reduce_losses(be, losses, wts, reduction)


def cross_entropy_backward(p: np.ndarray, target: np.ndarray, weight, g: np.ndarray,
                           ignore_index: int, smoothing: float, reduction: str) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to the logits, from the softmax
    ``p`` it returned and the loss gradient ``g``."""
    n_classes = p.shape[1]
    t = _targets(target)
    w = _weights(weight, n_classes, p.dtype)
    wts = _checked_weights(t, w, n_classes, ignore_index, p.dtype)
    out = empty(p.shape, p.dtype)
    if out.size:
        coef = _c(plan.loss_coef(be, g, wts, reduction, p.dtype))
        wsum = float(w.sum(dtype=np.float64)) if smoothing != 0.0 else 0.0
        _run(_cross_entropy_backward_rows, _c(p), t, w, coef, ignore_index, float(smoothing),
             wsum, out)
    return out


def nll_forward(x: np.ndarray, target: np.ndarray, weight, ignore_index: int,
                reduction: str) -> np.ndarray:
    """Negative log-likelihood of log-probabilities ``x`` (N, C) at ``target`` (N,)."""
    n_classes = x.shape[1]
    wts = row_weights(target, weight, n_classes, ignore_index, x.dtype)
    losses = np.empty(x.shape[0], x.dtype)
    if x.shape[0]:
        _nll_rows(_c(x), _targets(target), _weights(weight, n_classes, x.dtype), ignore_index,
                  losses)
    return plan.reduce_losses(be, losses, wts, reduction)


def nll_backward(g: np.ndarray, target: np.ndarray, weight, shape: tuple, ignore_index: int,
                 reduction: str) -> np.ndarray:
    """Gradient of :func:`nll_forward` (an array of ``shape``) given the loss grad ``g``."""
    n_classes = shape[1]
    wts = row_weights(target, weight, n_classes, ignore_index, g.dtype)
    out = np.zeros(shape, g.dtype)
    if shape[0]:
        coef = _c(plan.loss_coef(be, g, wts, reduction, g.dtype))
        _nll_backward_rows(coef, _targets(target), _weights(weight, n_classes, g.dtype),
                           ignore_index, out)
    return out


def linear_forward(x: np.ndarray, w: np.ndarray, b) -> np.ndarray:
    """``x @ w.T + b``: BLAS reads the transposed weight in place; the bias is added in place.
    A stacked input ``(..., in)`` is one 2-D product over all its rows (numpy would call BLAS
    once per matrix of the stack)."""
    if x.ndim > 2:
        out = blas.matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(x.shape[:-1] + w.shape[:1])
    else:
        out = blas.matmul(x, w.T)
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
