"""W7: matmul through BLAS, forward and with the tanh/sum backward."""

from __future__ import annotations

import nbgrad as nb

from .common import MATMUL_SHAPES, rng


class MatMul:
    """256 x 512 @ 512 x 256 float32."""

    def setup(self):
        g = rng()
        sa, sb = MATMUL_SHAPES
        self.a = nb.from_numpy(g.standard_normal(sa, dtype="float32")).requires_grad_()
        self.b = nb.from_numpy(g.standard_normal(sb, dtype="float32")).requires_grad_()
        self.time_forward()
        self.time_tanh_sum_backward()

    def time_forward(self):
        with nb.no_grad():
            self.a @ self.b

    def time_tanh_sum_backward(self):
        (self.a @ self.b).tanh().sum().backward()
        self.a.grad = self.b.grad = None


class SquareMatMul:
    """512^3 float32: compare with the machine's BLAS GFLOP/s."""

    def setup(self):
        g = rng()
        self.a = nb.from_numpy(g.standard_normal((512, 512), dtype="float32"))
        self.time_matmul()

    def time_matmul(self):
        self.a @ self.a
