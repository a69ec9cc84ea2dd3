"""Data and models shared by the asv benchmarks and ``asv_benchmarks.compare``.

Everything here is built from numpy with a fixed seed, and every model builder takes the library
(``nbgrad`` or ``torch``) as an argument: the two APIs mirror each other, so one definition serves
both sides of a comparison.
"""

from __future__ import annotations

import importlib
import importlib.util

import numpy as np

SEED = 0
N_ELEMENTWISE = 10**7  # W4 and the fused chain
MLP_SIZES = (784, 512, 512, 10)  # W3, W5
BATCH = 64
DEEP_LAYERS = 16  # W8
CE_SHAPE = (1024, 1000)  # W6
MATMUL_SHAPES = ((256, 512), (512, 256))  # W7


def rng() -> np.random.Generator:
    """A fresh generator with the suite's seed."""
    return np.random.default_rng(SEED)


def available(module: str, *attrs: str) -> bool:
    """Whether ``module`` imports and has every dotted attribute in ``attrs``."""
    try:
        if importlib.util.find_spec(module) is None:
            return False
        root = importlib.import_module(module)
    except ImportError:
        return False
    for attr in attrs:
        obj = root
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return False
    return True


def require(module: str, *attrs: str) -> None:
    """Skip the calling asv benchmark (NotImplementedError in setup) when a module is missing."""
    if not available(module, *attrs):
        raise NotImplementedError(f"{module} {' '.join(attrs)} not available yet")


def arrays(n: int, count: int, dtype=np.float32) -> list[np.ndarray]:
    """``count`` standard-normal arrays of ``n`` elements."""
    g = rng()
    return [g.standard_normal(n, dtype=np.float32).astype(dtype, copy=False) for _ in range(count)]


def mlp_batch(batch: int = BATCH, features: int = MLP_SIZES[0], classes: int = MLP_SIZES[-1]):
    """Inputs (float32) and integer class labels for the MLP workloads."""
    g = rng()
    x = g.standard_normal((batch, features), dtype=np.float32)
    y = g.integers(0, classes, batch).astype(np.int64)
    return x, y


def mlp(lib, sizes=MLP_SIZES):
    """``Linear → ReLU → ... → Linear`` with weights copied from one numpy draw (same on both
    sides)."""
    g = rng()
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = lib.nn.Linear(fan_in, fan_out)
        bound = 1.0 / np.sqrt(fan_in)
        w = g.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = g.uniform(-bound, bound, fan_out).astype(np.float32)
        with lib.no_grad():
            lin.weight.copy_(lib.from_numpy(w))
            lin.bias.copy_(lib.from_numpy(b))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(lib.nn.ReLU())
    return lib.nn.Sequential(*layers)


def deep_sizes(layers: int = DEEP_LAYERS, width: int = 512) -> tuple[int, ...]:
    """The W8 model: ``layers`` Linear layers of ``width``."""
    return (MLP_SIZES[0],) + (width,) * (layers - 1) + (MLP_SIZES[-1],)


def chain8(a, b):
    """The 8-op elementwise chain of the fusion target: mul, add, mul, sub, mul, add, relu, mul.
    Cheap ops, so eager execution is bound by its 8 memory passes (works on both libraries)."""
    return ((((a * b + 1.0) * a - b) * 0.5 + a).relu()) * b


def training_step(lib, model, opt, x, y):
    """One SGD step: forward, cross-entropy, backward, update."""
    opt.zero_grad()
    loss = lib.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss
