"""G1, G2 and the per-launch overhead on a real GPU (``device="cuda"``).

Every class skips itself (NotImplementedError in setup, reported as skipped by asv) when no
GPU is present, and under Numba's CUDA simulator (which measures Python, not the card).
Kernels are launched asynchronously: each timed function ends with ``nb.cuda.synchronize()``.
"""

from __future__ import annotations

import time

from .common import MLP_SIZES, mlp, mlp_batch, require, rng, training_step

G1_N = 10**8  # W4 on the GPU: a*b + c over 10^8 float32
G2_BATCH = 1024  # W5 on the GPU with a larger batch
LAUNCHES = 1000


def _require_gpu():
    require("nbgrad.cuda", "is_available")
    import nbgrad as nb

    if not nb.cuda.is_available() or nb.cuda.is_simulator():
        raise NotImplementedError("needs a real CUDA GPU")
    return nb


def _card_bandwidth() -> float:
    """The card's theoretical memory bandwidth in bytes/s (0 when the driver does not say)."""
    from numba import cuda

    dev = cuda.get_current_device()
    try:
        clock_khz = dev.MEMORY_CLOCK_RATE
        bus_bits = dev.GLOBAL_MEMORY_BUS_WIDTH
    except Exception:
        return 0.0
    return 2.0 * clock_khz * 1e3 * bus_bits / 8.0


class G1Elementwise:
    """G1: ``a*b + c`` on 10^8 float32, no grad; target >= 70 % of the card's bandwidth."""

    timeout = 300

    def setup(self):
        nb = _require_gpu()
        self.nb = nb
        g = rng()
        self.a, self.b, self.c = (
            nb.tensor(g.standard_normal(G1_N, dtype="float32"), device="cuda") for _ in range(3)
        )
        self.time_a_mul_b_add_c()  # compile outside the timing

    def _run(self):
        with self.nb.no_grad():
            out = self.a * self.b + self.c
        self.nb.cuda.synchronize()
        return out

    def time_a_mul_b_add_c(self):
        self._run()

    def track_bandwidth_fraction(self):
        """Bytes moved by the two eager kernels (read 2, write 1, each) over the card's peak."""
        peak = _card_bandwidth()
        if not peak:
            raise NotImplementedError("the driver does not report the memory clock")
        best = min(_timed(self._run) for _ in range(5))
        return (6 * 4 * G1_N / best) / peak

    track_bandwidth_fraction.unit = "fraction of peak"


class G2TrainingStep:
    """G2: the W5 MLP training step (784-512-512-10, SGD) with batch 1024 on the GPU."""

    timeout = 300

    def setup(self):
        nb = _require_gpu()
        require("nbgrad.nn", "functional.cross_entropy")
        require("nbgrad.optim", "SGD")
        self.nb = nb
        self.model = mlp(nb, MLP_SIZES).to("cuda")
        self.opt = nb.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        x, y = mlp_batch(G2_BATCH)
        self.x = nb.tensor(x, device="cuda")
        self.y = nb.tensor(y, device="cuda")
        self.time_training_step()

    def time_training_step(self):
        training_step(self.nb, self.model, self.opt, self.x, self.y)
        self.nb.cuda.synchronize()


class LaunchOverhead:
    """Per-op cost of a tiny op (100 float32), launch included: the floor under every op."""

    def setup(self):
        nb = _require_gpu()
        self.nb = nb
        self.x = nb.ones(100, device="cuda")
        self.track_microseconds_per_op()

    def _ops(self):
        x = self.x
        with self.nb.no_grad():
            for _ in range(LAUNCHES):
                x = x + 1.0
        self.nb.cuda.synchronize()

    def time_1000_small_ops(self):
        self._ops()

    def track_microseconds_per_op(self):
        return min(_timed(self._ops) for _ in range(3)) / LAUNCHES * 1e6

    track_microseconds_per_op.unit = "us"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
