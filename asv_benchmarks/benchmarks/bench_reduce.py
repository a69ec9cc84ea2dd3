"""Reductions: sum and mean over all, leading and trailing dims, and their backward."""

from __future__ import annotations

import nbgrad as nb

from .common import rng


class Sum:
    """A 1000 x 1000 float32 matrix."""

    params = [None, 0, 1]
    param_names = ["dim"]

    def setup(self, dim):
        self.x = nb.from_numpy(rng().standard_normal((1000, 1000), dtype="float32"))
        self.gx = self.x.detach().requires_grad_()
        self.time_sum(dim)
        self.time_mean(dim)
        self.time_sum_backward(dim)

    def time_sum(self, dim):
        self.x.sum(dim=dim)

    def time_mean(self, dim):
        self.x.mean(dim=dim)

    def time_sum_backward(self, dim):
        self.gx.sum(dim=dim).sum().backward()
        self.gx.grad = None
