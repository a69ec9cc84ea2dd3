"""W1: per-op overhead of the Python hot path (dispatch, node recording, backward engine)."""

from __future__ import annotations

import numpy as np

import nbgrad as nb


class PerOpOverhead:
    """``x = x*1.0001 + 0.0001`` 500 times on 100 float32 elements, then ``sum().backward()``."""

    params = [True, False]
    param_names = ["requires_grad"]

    def setup(self, requires_grad):
        self.x0 = nb.from_numpy(np.full(100, 0.5, np.float32)).requires_grad_(requires_grad)
        self.requires_grad = requires_grad
        self.time_chain(requires_grad)  # compile the kernels outside the timing

    def time_chain(self, requires_grad):
        x = self.x0
        for _ in range(500):
            x = x * 1.0001 + 0.0001
        if requires_grad:
            x.sum().backward()
            self.x0.grad = None

    def time_one_op(self, requires_grad):
        self.x0 * 1.0001


class GraphBackward:
    """The engine alone: backward through an existing 1000-node chain (retain_graph)."""

    def setup(self):
        x = nb.from_numpy(np.full(100, 0.5, np.float32)).requires_grad_()
        y = x
        for _ in range(500):
            y = y * 1.0001 + 0.0001
        self.x, self.loss = x, y.sum()
        self.time_backward()

    def time_backward(self):
        self.loss.backward(retain_graph=True)
        self.x.grad = None
