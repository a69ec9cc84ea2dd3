"""Fused CUDA kernels for the neural-network ops: softmax, log-softmax, cross-entropy, NLL,
embedding. Same functions and contracts as ``nbgrad.backends.cpu.nn_kernels``.

Row kernels work on a contiguous ``(rows, n)`` array (another axis is moved last first, one
copy); the layouts and loss reductions are planned by :mod:`nbgrad.backends._planning`, shared
with the CPU backend. Long rows get one block each, which reduces the row's maximum and sums
with a tree in shared memory; rows shorter than ``ROWS_MIN`` get one thread each (the CPU
kernel's loops). Sums are in float64 (the CPU kernels sum in the array's dtype). Out-of-range
class targets are detected on the device and reported after one 4-byte copy back (the CPU
raises the same IndexError).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

import nbgrad.backends.cuda as be
from nbgrad.backends import _planning as plan
from nbgrad.backends.cuda import arrays
from nbgrad.backends.cuda._runtime import MAX_BLOCKS, CudaArray, grid_1d, launch, new
from nbgrad.backends.cuda.elementwise import map_elementwise
from nbgrad.backends.cuda.indexing import getitem
from nbgrad.backends.cuda.linalg import matmul
from nbgrad.backends.cuda.reduce import ROWS_MIN, TPB, reduce

__all__ = [
    "softmax", "log_softmax", "softmax_backward", "log_softmax_backward",
    "cross_entropy_forward", "cross_entropy_backward", "nll_forward", "nll_backward",
    "row_weights", "linear_forward", "embedding_forward", "embedding_backward",
]


# ----------------------------------------------------------------------------- block helpers
@cuda.jit(device=True)
def _block_sum(shared, t, v):
    shared[t] = v
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s:
            shared[t] += shared[t + s]
        cuda.syncthreads()
        s //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def _block_max(shared, t, v):
    shared[t] = v
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if t < s and shared[t + s] > shared[t]:
            shared[t] = shared[t + s]
        cuda.syncthreads()
        s //= 2
    best = shared[0]
    cuda.syncthreads()
    return best


@cuda.jit(device=True)
def _row_max(x, base, n, t, shared):
    m = -math.inf
    for j in range(t, n, TPB):
        if x[base + j] > m:
            m = x[base + j]
    m = _block_max(shared, t, m)
    return 0.0 if m == -math.inf else m  # an all -inf row: nan like PyTorch, not noise


@cuda.jit(device=True)
def _row_sum_exp(x, base, n, t, m, shared):
    s = 0.0
    for j in range(t, n, TPB):
        s += math.exp(x[base + j] - m)
    return _block_sum(shared, t, s)


# ----------------------------------------------------------------------------- row kernels
@cuda.jit(device=True)
def _serial_row_max_sum_exp(x, base, n):
    """One thread's pass over a row: its max ``m`` (0 for an all -inf row) and sum(exp(x - m))."""
    m = -math.inf
    for j in range(n):
        if x[base + j] > m:
            m = x[base + j]
    if m == -math.inf:
        m = 0.0
    s = 0.0
    for j in range(n):
        s += math.exp(x[base + j] - m)
    return m, s


@cuda.jit
def _softmax_rows(x, out, rows, n, log):
    shared = cuda.shared.array(TPB, float64)
    t = cuda.threadIdx.x
    r = cuda.blockIdx.x
    while r < rows:
        base = r * n
        m = _row_max(x, base, n, t, shared)
        s = _row_sum_exp(x, base, n, t, m, shared)
        if log:
            lse = m + math.log(s)
            for j in range(t, n, TPB):
                out[base + j] = x[base + j] - lse
        else:
            inv = 1.0 / s
            for j in range(t, n, TPB):
                out[base + j] = math.exp(x[base + j] - m) * inv
        r += cuda.gridDim.x


@cuda.jit
def _softmax_backward_rows(g, y, out, rows, n, log):
    shared = cuda.shared.array(TPB, float64)
    t = cuda.threadIdx.x
    r = cuda.blockIdx.x
    while r < rows:
        base = r * n
        s = 0.0
        for j in range(t, n, TPB):
            s += g[base + j] if log else g[base + j] * y[base + j]
        s = _block_sum(shared, t, s)
        for j in range(t, n, TPB):
            if log:
                out[base + j] = g[base + j] - math.exp(y[base + j]) * s
            else:
                out[base + j] = y[base + j] * (g[base + j] - s)
        r += cuda.gridDim.x


@cuda.jit
def _softmax_rows_serial(x, out, rows, n, log):
    """One thread per row (short rows): the CPU kernel's loops."""
    r = cuda.grid(1)
    while r < rows:
        base = r * n
        m, s = _serial_row_max_sum_exp(x, base, n)
        lse = m + math.log(s)
        inv = 1.0 / s
        for j in range(n):
            out[base + j] = x[base + j] - lse if log else math.exp(x[base + j] - m) * inv
        r += cuda.gridsize(1)


@cuda.jit
def _softmax_backward_rows_serial(g, y, out, rows, n, log):
    r = cuda.grid(1)
    while r < rows:
        base = r * n
        s = 0.0
        for j in range(n):
            s += g[base + j] if log else g[base + j] * y[base + j]
        for j in range(n):
            if log:
                out[base + j] = g[base + j] - math.exp(y[base + j]) * s
            else:
                out[base + j] = y[base + j] * (g[base + j] - s)
        r += cuda.gridsize(1)


@cuda.jit
def _row_weights(target, weight, ignore_index, n_classes, out, rows, flag):
    i = cuda.grid(1)
    while i < rows:
        t = target[i]
        if t == ignore_index:
            out[i] = 0.0
        elif t < 0 or t >= n_classes:
            out[i] = 0.0
            flag[0] = 1
        else:
            out[i] = weight[t]
        i += cuda.gridsize(1)


@cuda.jit
def _cross_entropy_rows(x, target, weight, ignore_index, smoothing, losses, rows, n):
    shared = cuda.shared.array(TPB, float64)
    tid = cuda.threadIdx.x
    r = cuda.blockIdx.x
    while r < rows:
        t = target[r]
        if t != ignore_index and 0 <= t < n:  # uniform across the block: safe to return early
            base = r * n
            m = _row_max(x, base, n, tid, shared)
            lse = m + math.log(_row_sum_exp(x, base, n, tid, m, shared))
            acc = 0.0
            if smoothing != 0.0:
                for j in range(tid, n, TPB):
                    acc += weight[j] * (lse - x[base + j])
                acc = _block_sum(shared, tid, acc)
            if tid == 0:
                losses[r] = (1.0 - smoothing) * weight[t] * (lse - x[base + t]) + \
                    smoothing / n * acc
        elif tid == 0:
            losses[r] = 0.0
        r += cuda.gridDim.x


@cuda.jit
def _cross_entropy_backward_rows(p, target, weight, coef, ignore_index, smoothing, wsum, out,
                                 rows, n):
    """``coef_r * (s_r p_r - q_r)`` from the softmax ``p`` (q: the smoothed, weighted target)."""
    tid = cuda.threadIdx.x
    r = cuda.blockIdx.x
    while r < rows:
        t = target[r]
        c = coef[r]
        base = r * n
        if t == ignore_index or c == 0.0 or t < 0 or t >= n:
            for j in range(tid, n, TPB):
                out[base + j] = 0.0
        else:
            wt = (1.0 - smoothing) * weight[t]
            scale = c * (wt + smoothing / n * wsum)
            off = c * smoothing / n
            for j in range(tid, n, TPB):
                out[base + j] = p[base + j] * scale - off * weight[j]
            cuda.syncthreads()
            if tid == 0:
                out[base + t] -= c * wt
        cuda.syncthreads()
        r += cuda.gridDim.x


@cuda.jit
def _cross_entropy_rows_serial(x, target, weight, ignore_index, smoothing, losses, rows, n):
    r = cuda.grid(1)
    while r < rows:
        t = target[r]
        loss = 0.0
        if t != ignore_index and 0 <= t < n:
            base = r * n
            m, s = _serial_row_max_sum_exp(x, base, n)
            lse = m + math.log(s)
            loss = (1.0 - smoothing) * weight[t] * (lse - x[base + t])
            if smoothing != 0.0:
                acc = 0.0
                for j in range(n):
                    acc += weight[j] * (lse - x[base + j])
                loss += smoothing / n * acc
        losses[r] = loss
        r += cuda.gridsize(1)


@cuda.jit
def _cross_entropy_backward_rows_serial(p, target, weight, coef, ignore_index, smoothing, wsum,
                                        out, rows, n):
    r = cuda.grid(1)
    while r < rows:
        t = target[r]
        c = coef[r]
        base = r * n
        if t == ignore_index or c == 0.0 or t < 0 or t >= n:
            for j in range(n):
                out[base + j] = 0.0
        else:
            wt = (1.0 - smoothing) * weight[t]
            scale = c * (wt + smoothing / n * wsum)
            off = c * smoothing / n
            for j in range(n):
                out[base + j] = p[base + j] * scale - off * weight[j]
            out[base + t] -= c * wt
        r += cuda.gridsize(1)


@cuda.jit
def _nll_rows(x, target, weight, ignore_index, losses, rows, n):
    i = cuda.grid(1)
    while i < rows:
        t = target[i]
        ok = t != ignore_index and 0 <= t < n
        losses[i] = -weight[t] * x[i * n + t] if ok else 0.0
        i += cuda.gridsize(1)


@cuda.jit
def _nll_backward_rows(coef, target, weight, ignore_index, out, rows, n):
    i = cuda.grid(1)
    while i < rows:
        t = target[i]
        if t != ignore_index and 0 <= t < n:
            out[i * n + t] = -weight[t] * coef[i]
        i += cuda.gridsize(1)


@cuda.jit
def _embedding_backward(grad, index, padding_idx, out, rows, dim):
    q = cuda.grid(1)
    while q < rows * dim:
        k = q // dim
        r = index[k]
        if r != padding_idx:
            cuda.atomic.add(out, r * dim + q - k * dim, grad[q])
        q += cuda.gridsize(1)


# the thread-per-row twin of each block-per-row kernel, for rows shorter than ROWS_MIN
_SERIAL = {_softmax_rows: _softmax_rows_serial,
           _softmax_backward_rows: _softmax_backward_rows_serial,
           _cross_entropy_rows: _cross_entropy_rows_serial,
           _cross_entropy_backward_rows: _cross_entropy_backward_rows_serial}


# ----------------------------------------------------------------------------- wrappers
def _launch_rows(kernel, rows: int, n: int, args) -> None:
    """A block per row, or a thread per row when rows are shorter than ``ROWS_MIN``."""
    if not rows:
        return
    if n < ROWS_MIN:
        blocks, threads = grid_1d(rows)
        launch(_SERIAL[kernel], blocks, threads, args)
    else:
        launch(kernel, min(rows, MAX_BLOCKS), TPB, args)


def _row_op(kernel, axis: int, log: bool, *inputs) -> CudaArray:
    shape = inputs[0].shape
    rows2 = [plan.rows(be, a, axis) for a in inputs]
    out = new(rows2[0].shape, inputs[0].dtype)
    r, n = out.shape
    if out.size:
        _launch_rows(kernel, r, n, [*(_flat(a) for a in rows2), out.buf, r, n, log])
    return plan.unrows(be, out, shape, axis)


def softmax(x: CudaArray, axis: int) -> CudaArray:
    """``exp(x) / sum(exp(x))`` along ``axis``, max-subtracted."""
    return _row_op(_softmax_rows, axis, False, x)


def log_softmax(x: CudaArray, axis: int) -> CudaArray:
    """``x - logsumexp(x)`` along ``axis``, max-subtracted."""
    return _row_op(_softmax_rows, axis, True, x)


def softmax_backward(g: CudaArray, y: CudaArray, axis: int) -> CudaArray:
    """Vector-Jacobian product of softmax: ``y * (g - sum(g * y))`` given the output ``y``."""
    return _row_op(_softmax_backward_rows, axis, False, g, y)


def log_softmax_backward(g: CudaArray, y: CudaArray, axis: int) -> CudaArray:
    """Vector-Jacobian product of log-softmax: ``g - exp(y) * sum(g)`` given the output ``y``."""
    return _row_op(_softmax_backward_rows, axis, True, g, y)


def _flat(a: CudaArray):
    """The contiguous data of ``a`` as a 1-D device buffer starting at element 0."""
    a = arrays.contiguous(a)
    return a.buf[a.offset:a.offset + a.size] if a.offset or a.size != a.buf.shape[0] else a.buf


def _weights(weight, n: int, dtype) -> CudaArray:
    return plan.class_weights(be, weight, n, dtype)


def _targets(target: CudaArray) -> CudaArray:
    return plan.targets(be, target)


def row_weights(target: CudaArray, weight, n_classes: int, ignore_index: int,
                dtype) -> CudaArray:
    """The weight of each row's target class, 0 where ignored; IndexError for a bad target
    (checked on the device, read back: one synchronisation)."""
    t = _targets(target)
    w = _weights(weight, n_classes, dtype)
    rows = t.shape[0]
    out = new((rows,), dtype)
    flag = arrays.zeros((1,), np.int32)
    if rows:
        blocks, threads = grid_1d(rows)
        launch(_row_weights, blocks, threads, [_flat(t), _flat(w), ignore_index, n_classes,
                                               out.buf, rows, flag.buf])
        if arrays.to_host(flag)[0]:
            host = arrays.to_host(t)
            bad = host[(host != ignore_index) & ((host < 0) | (host >= n_classes))]
            raise plan.target_error(bad[0], n_classes, ignore_index)
    return out


def cross_entropy_forward(x: CudaArray, target: CudaArray, weight, ignore_index: int,
                          smoothing: float, reduction: str):
    """Cross-entropy of logits ``x`` (N, C) against class indices ``target`` (N,): returns
    ``(softmax(x, 1), loss)``, the probabilities being what the gradient needs."""
    rows, n_classes = x.shape
    wts = row_weights(target, weight, n_classes, ignore_index, x.dtype)
    losses = new((rows,), x.dtype)
    _launch_rows(_cross_entropy_rows, rows, n_classes, [
        _flat(x), _flat(_targets(target)), _flat(_weights(weight, n_classes, x.dtype)),
        ignore_index, float(smoothing), losses.buf, rows, n_classes,
    ])
    return softmax(x, 1), plan.reduce_losses(be, losses, wts, reduction)


def cross_entropy_backward(p: CudaArray, target: CudaArray, weight, g: CudaArray,
                           ignore_index: int, smoothing: float, reduction: str) -> CudaArray:
    """Gradient of :func:`cross_entropy_forward` with respect to the logits, from the softmax
    ``p`` it returned and the loss gradient ``g``."""
    rows, n_classes = p.shape
    wts = row_weights(target, weight, n_classes, ignore_index, p.dtype)
    out = new(p.shape, p.dtype)
    if rows:
        w = _weights(weight, n_classes, p.dtype)
        wsum = float(arrays.to_host(reduce("sum", w, (0,), False, np.dtype(np.float64)))) \
            if smoothing != 0.0 and weight is not None else float(n_classes)
        _launch_rows(_cross_entropy_backward_rows, rows, n_classes, [
            _flat(p), _flat(_targets(target)), _flat(w),
            _flat(plan.loss_coef(be, g, wts, reduction, p.dtype)), ignore_index,
            float(smoothing), wsum, out.buf, rows, n_classes,
        ])
    return out


def nll_forward(x: CudaArray, target: CudaArray, weight, ignore_index: int,
                reduction: str) -> CudaArray:
    """Negative log-likelihood of log-probabilities ``x`` (N, C) at ``target`` (N,)."""
    rows, n_classes = x.shape
    wts = row_weights(target, weight, n_classes, ignore_index, x.dtype)
    losses = new((rows,), x.dtype)
    if rows:
        blocks, threads = grid_1d(rows)
        launch(_nll_rows, blocks, threads, [
            _flat(x), _flat(_targets(target)), _flat(_weights(weight, n_classes, x.dtype)),
            ignore_index, losses.buf, rows, n_classes,
        ])
    return plan.reduce_losses(be, losses, wts, reduction)


def nll_backward(g: CudaArray, target: CudaArray, weight, shape: tuple, ignore_index: int,
                 reduction: str) -> CudaArray:
    """Gradient of :func:`nll_forward` (an array of ``shape``) given the loss grad ``g``."""
    rows, n_classes = shape
    wts = row_weights(target, weight, n_classes, ignore_index, g.dtype)
    out = arrays.zeros(shape, g.dtype)
    if rows:
        blocks, threads = grid_1d(rows)
        launch(_nll_backward_rows, blocks, threads, [
            _flat(plan.loss_coef(be, g, wts, reduction, g.dtype)), _flat(_targets(target)),
            _flat(_weights(weight, n_classes, g.dtype)), ignore_index, out.buf, rows, n_classes,
        ])
    return out


def _add(a, b):
    return a + b


def linear_forward(x: CudaArray, w: CudaArray, b) -> CudaArray:
    """``x @ w.T + b``: the tiled kernel reads the transposed weight in place; the bias is
    added into the fresh output (two launches)."""
    out = matmul(x, arrays.transpose(w, (1, 0)))
    if b is not None:
        map_elementwise(_add, out.dtype, out.dtype, (out, b), out=out)
    return out


def embedding_forward(weight: CudaArray, index: CudaArray) -> CudaArray:
    """Rows of ``weight`` picked by ``index`` (any shape): shape ``index.shape + (dim,)``."""
    try:
        return getitem(weight, (index, Ellipsis))
    except IndexError:
        raise IndexError(
            f"embedding: an index is out of range for {weight.shape[0]} embeddings"
        ) from None


def embedding_backward(grad: CudaArray, index: CudaArray, num: int,
                       padding_idx: int) -> CudaArray:
    """Scatter-add ``grad`` rows into a (num, dim) zero array (atomic adds); the padding row
    gets nothing."""
    dim = grad.shape[-1]
    out = arrays.zeros((num, dim), grad.dtype)
    rows = index.size
    if rows and dim:
        blocks, threads = grid_1d(rows * dim)
        launch(_embedding_backward, blocks, threads, [
            _flat(grad), _flat(_targets(index)), padding_idx, out.buf, rows, dim,
        ])
    return out
