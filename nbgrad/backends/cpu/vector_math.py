"""Vectorised float32 loops for table rows built on ``math.erf``: erf, gelu and gelu's derivative.

llvmlite has no vector math library here, so ``math.erf`` in a Numba loop is a scalar libm call
(~10 ns an element: a transformer step spent a fifth of its time in GELU). These loops compute
erf as ``x * P(x^2) / Q(x^2)`` on ``x`` clamped to [-4, 4] (beyond it float32 erf is +-1): a
branch-free rational form, fitted here to erf by weighted least squares, that LLVM vectorises;
its error is under 5e-7 (a few float32 ulps near +-1) against the exact erf. gelu's derivative
also needs ``exp(-x^2/2)``: a vectorisable float32 exp (range reduction, a polynomial, and 2^k
built by selects), within 2 ulps of the exact one (numpy's own float32 ``np.exp`` runs scalar
on a CPU without AVX-512, ~3 ns an element here).

A row opts in by naming the loop on its scalar function (``fn.cpu_float32 = "gelu"``); the
scalar function stays the one definition that float64, the GPU and fusion compile, and the
float32 loop must give its values within float32 tolerance (tests/test_speed_paths.py).
"""

from __future__ import annotations

import numpy as np

from nbgrad.backends._jit import scalar
from nbgrad.backends._jit import vector_kernel as kernel

__all__ = ["LOOPS", "erf", "gelu", "gelu_derivative"]

_F = np.float32
# erf(x) / x = P(x^2) / Q(x^2) on [0, 4]
_P0, _P1, _P2, _P3 = _F(1.128379142031397), _F(0.19839535903705066), _F(0.05035208595658013), \
    _F(0.003628829390915349)
_P4, _P5, _P6 = _F(0.0001395157420852459), _F(-1.935118702084404e-06), _F(1.9704268466869124e-08)
_Q1, _Q2, _Q3, _Q4 = _F(0.5091554754743085), _F(0.11434886060879636), _F(0.014210685227212359), \
    _F(0.0009365596018338615)
_ONE, _HALF, _FOUR = _F(1.0), _F(0.5), _F(4.0)
_SQRT_HALF = _F(0.7071067811865476)
_INV_SQRT_2PI = _F(0.3989422804014327)


def _erf32_py(x):
    c = x if x < _FOUR else _FOUR
    c = c if c > -_FOUR else -_FOUR
    z = c * c
    p = ((((((_P6 * z + _P5) * z + _P4) * z + _P3) * z + _P2) * z + _P1) * z + _P0)
    q = ((((_Q4 * z + _Q3) * z + _Q2) * z + _Q1) * z + _ONE)
    r = c * p / q
    r = r if r < _ONE else _ONE  # never past +-1 (1 + erf(x) must not go negative)
    r = r if r > -_ONE else -_ONE
    return r if x == x else x  # nan stays nan


_erf32 = scalar(_erf32_py, inline=True)

# exp(y) = 2^k e^r, k = round(y / ln 2), r = y - k ln 2 (two-part ln 2), e^r by its Taylor series
# to r^7 (|r| <= ln2/2: relative error < 1e-8 before rounding); 2^k is built from the bits of
# k + 126 by selects and products (no bit casts, so the loop vectorises). Below -87.3 the result
# is 0 (float32's denormal range is dropped: an absolute error under 1.2e-38).
_LOG2E = _F(1.4426950408889634)
_LN2_HI, _LN2_LO = _F(0.693359375), _F(-2.12194440e-4)
_EXP_MAX, _EXP_MIN = _F(88.72283), _F(-87.33654)
_C2, _C3, _C4, _C5, _C6, _C7 = (_F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720),
                                _F(1 / 5040))
_TWO_M126 = _F(2.0 ** -126)
_B0, _B1, _B2, _B3, _B4, _B5, _B6 = (_F(2.0), _F(4.0), _F(16.0), _F(256.0), _F(65536.0),
                                     _F(2.0 ** 32), _F(2.0 ** 64))
_INF = _F(np.inf)
_ZERO = _F(0.0)


def _exp32_py(y):
    c = y if y < _EXP_MAX else _EXP_MAX
    c = c if c > _EXP_MIN else _EXP_MIN
    kf = np.floor(c * _LOG2E + _HALF)
    r = (c - kf * _LN2_HI) - kf * _LN2_LO
    p = ((((((_C7 * r + _C6) * r + _C5) * r + _C4) * r + _C3) * r + _C2) * r + _ONE) * r + _ONE
    m = np.int32(kf if kf < _F(127.0) else _F(127.0)) + np.int32(126)  # 0 ... 253
    s = _TWO_M126
    s = s * (_B6 if m & 128 else _ONE) * (_B6 if m & 128 else _ONE)  # 2^128 in two steps
    s = s * (_B6 if m & 64 else _ONE)
    s = s * (_B5 if m & 32 else _ONE)
    s = s * (_B4 if m & 16 else _ONE)
    s = s * (_B3 if m & 8 else _ONE)
    s = s * (_B2 if m & 4 else _ONE)
    s = s * (_B1 if m & 2 else _ONE)
    s = s * (_B0 if m & 1 else _ONE)
    out = p * s if kf < _F(128.0) else (p * s) * _B0
    out = _INF if y > _EXP_MAX else out
    out = _ZERO if y < _EXP_MIN else out
    return out if y == y else y


_exp32 = scalar(_exp32_py, inline=True)


@kernel
def _erf_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = _erf32(x[i])


@kernel
def _gelu_loop(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = _HALF * v * (_ONE + _erf32(v * _SQRT_HALF))


@kernel
def _gelu_derivative_loop(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = _HALF * (_ONE + _erf32(v * _SQRT_HALF)) + v * _INV_SQRT_2PI * _exp32(
            -_HALF * v * v)


def _unary(body):
    """A ufunc-like ``f(x, out=None)`` over float32 arrays of any shape and layout."""

    def run(x, out=None):
        x = np.asarray(x, dtype=np.float32)
        if not x.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d input 1-d)
            x = np.array(x, order="C")
        dst = out if out is not None and out.flags.c_contiguous else np.empty(x.shape, np.float32)
        body(x.reshape(-1), dst.reshape(-1))
        if out is not None and dst is not out:
            np.copyto(out, dst)
            return out
        return dst

    return run


erf = _unary(_erf_loop)
gelu = _unary(_gelu_loop)
gelu_derivative = _unary(_gelu_derivative_loop)

LOOPS = {"erf": erf, "gelu": gelu, "gelu_derivative": gelu_derivative}
"""Name (as a row's scalar function names it in ``cpu_float32``) -> float32 loop."""
