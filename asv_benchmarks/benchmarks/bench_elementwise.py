"""W4 and the fusion target: big elementwise work, eager, with buffer reuse, and fused."""

from __future__ import annotations

import numpy as np

import nbgrad as nb

from .common import N_ELEMENTWISE, arrays, chain8


class MulAdd:
    """``a*b + c`` on 10^7 float32 without grad."""

    def setup(self):
        self.a, self.b, self.c = (nb.from_numpy(x) for x in arrays(N_ELEMENTWISE, 3))
        self.fused = nb.compile(lambda a, b, c: a * b + c)
        for _ in range(2):  # compile, then trace + compile the fused kernel
            self.time_eager()
            self.time_inplace_reuse()
            self.time_fused()

    def time_eager(self):
        with nb.no_grad():
            self.a * self.b + self.c

    def time_inplace_reuse(self):
        with nb.no_grad():
            t = self.a * self.b
            t.add_(self.c)  # the second op writes into the first op's buffer

    def time_fused(self):
        with nb.no_grad():
            self.fused(self.a, self.b, self.c)

    def time_numpy_out(self):
        # the floor the eager path aims at: two passes into one preallocated buffer
        a, b, c = (t.numpy() for t in (self.a, self.b, self.c))
        out = np.multiply(a, b)
        np.add(out, c, out=out)


class Chain8:
    """The 8-op chain of the fusion target (>= 3x PyTorch eager when fused)."""

    def setup(self):
        self.a, self.b = (nb.from_numpy(x) for x in arrays(N_ELEMENTWISE, 2))
        self.ga, self.gb = (nb.from_numpy(x.copy()).requires_grad_() for x in (self.a._data,
                                                                               self.b._data))
        self.fused = nb.compile(chain8)
        for _ in range(2):
            self.time_eager()
            self.time_fused()
            self.time_fused_backward()

    def time_eager(self):
        with nb.no_grad():
            chain8(self.a, self.b)

    def time_fused(self):
        with nb.no_grad():
            self.fused(self.a, self.b)

    def time_fused_backward(self):
        self.fused(self.ga, self.gb).sum().backward()
        self.ga.grad = self.gb.grad = None


class Unary:
    """Table ops through their Numba ufuncs, 10^6 float32."""

    params = ["exp", "tanh", "sigmoid", "relu", "sqrt"]
    param_names = ["op"]

    def setup(self, op):
        self.x = nb.from_numpy(np.abs(arrays(10**6, 1)[0]))
        self.fn = getattr(nb, op)
        self.time_op(op)

    def time_op(self, op):
        self.fn(self.x)
