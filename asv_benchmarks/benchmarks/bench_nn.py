"""W3, W5, W6, W8: MLP forward in the three modes, a training step, cross-entropy, memory.

Written against the public nn/optim API; every class skips itself (NotImplementedError in setup,
which asv reports as skipped) while the module it needs does not exist yet.
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc

import numpy as np

from .common import (
    BATCH,
    CE_SHAPE,
    cnn_setup,
    deep_sizes,
    gpt_setup,
    lm_step,
    mlp,
    mlp_batch,
    require,
    rng,
    rnn_setup,
    training_step,
)

NN = ("nbgrad.nn", "Linear", "ReLU", "Sequential")


def _mode(nb, name):
    return {"grad": contextlib.nullcontext, "no_grad": nb.no_grad,
            "inference_mode": nb.inference_mode}[name]


class MLPForward:
    """W3: 784-512-512-10, batch 64; inference_mode <= no_grad <= grad mode is the target."""

    params = ["grad", "no_grad", "inference_mode"]
    param_names = ["mode"]

    def setup(self, mode):
        require(*NN)
        import nbgrad as nb

        self.ctx = _mode(nb, mode)
        self.model = mlp(nb)
        self.x = nb.from_numpy(mlp_batch()[0])
        self.time_forward(mode)

    def time_forward(self, mode):
        with self.ctx():
            self.model(self.x)


class TrainStep:
    """W5: forward, cross-entropy, backward, SGD step."""

    def setup(self):
        require(*NN)
        require("nbgrad.nn", "functional.cross_entropy")
        require("nbgrad.optim", "SGD")
        import nbgrad as nb

        self.nb = nb
        self.model = mlp(nb)
        xa, ya = mlp_batch()
        self.x, self.y = nb.from_numpy(xa), nb.from_numpy(ya)
        self.opt = nb.optim.SGD(self.model.parameters(), lr=0.01)
        self.time_step()

    def time_step(self):
        training_step(self.nb, self.model, self.opt, self.x, self.y)


class CrossEntropy:
    """W6: cross_entropy forward and backward on 1024 x 1000 logits."""

    def setup(self):
        require("nbgrad.nn", "functional.cross_entropy")
        import nbgrad as nb

        g = rng()
        self.F = nb.nn.functional
        self.logits = nb.from_numpy(g.standard_normal(CE_SHAPE, dtype=np.float32))
        self.logits.requires_grad_()
        self.y = nb.from_numpy(g.integers(0, CE_SHAPE[1], CE_SHAPE[0]).astype(np.int64))
        self.time_forward_backward()

    def time_forward(self):
        self.F.cross_entropy(self.logits.detach(), self.y)

    def time_forward_backward(self):
        self.F.cross_entropy(self.logits, self.y).backward()
        self.logits.grad = None


class DeepMLPMemory:
    """W8: a 16-layer MLP forward; grad mode keeps activations for backward, inference_mode
    must keep none (peak <= 1.2 x (weights + one activation))."""

    params = ["grad", "no_grad", "inference_mode"]
    param_names = ["mode"]
    timeout = 120

    def setup(self, mode):
        require(*NN)
        import nbgrad as nb

        self.ctx = _mode(nb, mode)
        self.model = mlp(nb, deep_sizes())
        self.x = nb.from_numpy(mlp_batch()[0])
        with self.ctx():
            self.model(self.x)  # compile outside the measurement

    def peakmem_forward(self, mode):
        with self.ctx():
            self.model(self.x)

    def track_retained_bytes(self, mode):
        """Bytes still allocated after the forward while its output is alive (the graph)."""
        gc.collect()
        tracemalloc.start()
        try:
            with self.ctx():
                out = self.model(self.x)
            retained = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del out
        return retained

    track_retained_bytes.unit = "bytes"

    def track_peak_over_weights(self, mode):
        """Peak memory of the forward (weights included) / (weights + one activation)."""
        gc.collect()
        tracemalloc.start()
        try:
            with self.ctx():
                out = self.model(self.x)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        del out
        weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
        return (weights + peak) / (weights + BATCH * max(deep_sizes()) * 4)

    track_peak_over_weights.unit = "ratio"


LM = ("nbgrad.nn", "Embedding", "LayerNorm", "ModuleList", "functional.gelu",
      "functional.softmax")


class TransformerStep:
    """T1: a minGPT-style transformer train step (2 layers, d=64, 4 heads, T=32, B=16, AdamW)."""

    def setup(self):
        require(*LM)
        require("nbgrad.optim", "AdamW")
        import nbgrad as nb

        self.nb = nb
        self.parts = gpt_setup(nb)
        self.time_step()

    def time_step(self):
        lm_step(self.nb, *self.parts)


class RNNStep:
    """T2: a makemore-style RNN train step (T=16, H=64, B=32, Adam)."""

    def setup(self):
        require(*LM)
        require("nbgrad.optim", "Adam")
        import nbgrad as nb

        self.nb = nb
        self.parts = rnn_setup(nb)
        self.time_step()

    def time_step(self):
        lm_step(self.nb, *self.parts)


class CNNStep:
    """T3: a small CNN train step (two Conv2d, max_pool2d, Linear; 1x28x28, B=64, Adam)."""

    def setup(self):
        require("nbgrad.nn", "Conv2d", "functional.max_pool2d")
        import nbgrad as nb

        self.nb = nb
        self.parts = cnn_setup(nb)
        self.time_step()

    def time_step(self):
        training_step(self.nb, *self.parts)
