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


# --------------------------------------------------------------------------- T1, T2: real models
GPT = {"vocab": 65, "d": 64, "heads": 4, "layers": 2, "T": 32, "B": 16}  # T1 (minGPT-style)
RNN = {"vocab": 27, "emb": 64, "H": 64, "T": 16, "B": 32}  # T2 (makemore-style)


def copy_params_from_numpy(lib, model, scale: float = 0.1) -> None:
    """Give every parameter of ``model`` values from one numpy draw (the two libraries build
    their parameters in the same order, so both sides start from the same weights)."""
    g = rng()
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.from_numpy(
                (g.standard_normal(tuple(p.shape)) * scale).astype(np.float32)))


def gpt(lib, vocab=GPT["vocab"], d=GPT["d"], heads=GPT["heads"], layers=GPT["layers"],
        block=GPT["T"]):
    """A minGPT-style causal transformer from the ``nn`` pieces both libraries have: token and
    position Embeddings, pre-LayerNorm blocks of causal self-attention (one Linear for q, k, v;
    the mask applied with ``masked_fill``; softmax) and an MLP with exact GELU, a final
    LayerNorm and a Linear head."""
    nn, F = lib.nn, lib.nn.functional
    mask = lib.tril(lib.ones(block, block)) == 0

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (z.reshape(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-2, -1)) * (1.0 / (d // heads) ** 0.5)
            att = F.softmax(att.masked_fill(mask[:t, :t], float("-inf")), dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = x + self.proj(y)
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPTModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(block, d)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(lib.arange(t))
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln_f(x))

    model = GPTModel()
    copy_params_from_numpy(lib, model)
    return model


def token_batch(vocab: int, batch: int, t: int):
    """Integer inputs and next-token targets (int64) for T1 and T2."""
    g = rng()
    data = g.integers(0, vocab, (batch, t + 1)).astype(np.int64)
    return np.ascontiguousarray(data[:, :-1]), np.ascontiguousarray(data[:, 1:])


def rnn(lib, vocab=RNN["vocab"], emb=RNN["emb"], hidden=RNN["H"]):
    """makemore's RNN: an Embedding, a tanh cell ``h = tanh(Linear(cat([x_t, h])))`` unrolled
    over the sequence from a learned start state, a Linear head on the stacked states."""
    nn = lib.nn

    class RNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.start = nn.Parameter(lib.zeros(1, hidden))
            self.wte = nn.Embedding(vocab, emb)
            self.cell = nn.Linear(emb + hidden, hidden)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, idx):
            b, t = idx.shape
            e = self.wte(idx)
            h = self.start.expand(b, hidden)
            states = []
            for i in range(t):
                h = self.cell(lib.cat([e[:, i, :], h], dim=1)).tanh()
                states.append(h)
            return self.head(lib.stack(states, 1))

    model = RNNModel()
    copy_params_from_numpy(lib, model)
    return model


def lm_step(lib, model, opt, x, y):
    """One language-model training step: forward, cross-entropy over every position, backward,
    update."""
    opt.zero_grad()
    logits = model(x)
    loss = lib.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    loss.backward()
    opt.step()
    return loss


def gpt_setup(lib):
    """(model, AdamW, x, y) of T1."""
    model = gpt(lib)
    xa, ya = token_batch(GPT["vocab"], GPT["B"], GPT["T"])
    opt = lib.optim.AdamW(model.parameters(), lr=1e-3)
    return model, opt, lib.from_numpy(xa), lib.from_numpy(ya)


def rnn_setup(lib):
    """(model, Adam, x, y) of T2."""
    model = rnn(lib)
    xa, ya = token_batch(RNN["vocab"], RNN["B"], RNN["T"])
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt, lib.from_numpy(xa), lib.from_numpy(ya)


CNN = {"B": 64, "classes": 10}  # T3


def cnn_setup(lib):
    """(model, Adam, x, y) of T3: Conv2d(1,16,3) ReLU Conv2d(16,32,3) ReLU max_pool2d(2)
    Flatten Linear(4608,10) on 1x28x28 inputs (needs nn.Conv2d and F.max_pool2d)."""
    nn = lib.nn

    class CNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 16, 3), nn.Conv2d(16, 32, 3)
            self.fc = nn.Linear(32 * 12 * 12, CNN["classes"])

        def forward(self, x):
            x = nn.functional.max_pool2d(self.c2(self.c1(x).relu()).relu(), 2)
            return self.fc(x.reshape(x.shape[0], -1))

    model = CNNModel()
    copy_params_from_numpy(lib, model)
    g = rng()
    x = g.standard_normal((CNN["B"], 1, 28, 28), dtype=np.float32)
    y = g.integers(0, CNN["classes"], CNN["B"]).astype(np.int64)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    return model, opt, lib.from_numpy(x), lib.from_numpy(y)
