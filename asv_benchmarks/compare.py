"""nbgrad against PyTorch eager, side by side, on the workloads of design/PERFORMANCE.md.

    python -m asv_benchmarks.compare [--only W1,W2] [--repeat N] [--torch-python PATH]

Each library runs in its own process, at its own defaults, as a user's script would: every round
starts one fresh child for nbgrad (this interpreter) and one for PyTorch (``--torch-python``;
by default this interpreter when it can import ``torch``), alternating nbgrad / torch. A child
builds the workload, warms it up and prints the median of its timed samples; the ratio is the
median of the per-round ratios nbgrad/torch, so machine noise that hits both sides cancels.
Nothing is set that changes either side's threading; the PyTorch child calls
``torch.set_num_threads(2)``. Rows measured by ``run`` (memory, fresh-process start-up) run once
per library in the same kind of child. Workloads whose nbgrad modules do not exist yet are
skipped, as are the torch columns when no interpreter with torch is found. The machine's own
limits (STREAM-style triad bandwidth, numpy matmul GFLOP/s) are printed first.

One child, by hand: ``python -m asv_benchmarks.compare --child W1 --lib torch --repeat 5``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from asv_benchmarks.benchmarks import common

# --------------------------------------------------------------------------- the registry


@dataclass
class Workload:
    """One row of the table. ``build(lib)`` returns a zero-argument callable to time, or ``run``
    measures the row itself (subprocess and memory rows)."""

    id: str
    title: str
    target: str
    limit: float | None = None  # ratio (or absolute value) that meets the target
    absolute: bool = False  # compare nbgrad's own figure with ``limit`` (seconds or a ratio)
    needs: tuple = ()  # (module, attrs...) tuples nbgrad must have
    build: Callable | None = None
    run: Callable | None = None
    unit: str = "s"
    notes: list = field(default_factory=list)


WORKLOADS: list[Workload] = []


def workload(id, title, target, limit=None, absolute=False, needs=(), unit="s"):
    """Register ``fn(lib) -> callable`` (or a measuring function when ``absolute``)."""
    def deco(fn):
        w = Workload(id, title, target, limit, absolute, needs, unit=unit)
        if absolute or unit != "s":
            w.run = fn
        else:
            w.build = fn
        WORKLOADS.append(w)
        return fn
    return deco


NN = ("nbgrad.nn", "Linear", "ReLU", "Sequential")
CE = ("nbgrad.nn", "functional.cross_entropy")
SGD = ("nbgrad.optim", "SGD")


def _t(lib, arr, requires_grad=False):
    t = lib.from_numpy(arr)
    return t.requires_grad_() if requires_grad else t


# --------------------------------------------------------------------------- workloads


@workload("W1", "per-op overhead: x*1.0001+0.0001 ×500, sum().backward() (100 el.)", "≤ 0.5×",
          0.5)
def _w1(lib):
    x0 = _t(lib, np.full(100, 0.5, np.float32), True)

    def run():
        x = x0
        for _ in range(500):
            x = x * 1.0001 + 0.0001
        x.sum().backward()
        x0.grad = None
    return run


@workload("W2", "enter+leave no_grad (×1000)", "≤ 0.3×", 0.3)
def _w2(lib):
    def run():
        for _ in range(1000):
            with lib.no_grad():
                pass
    return run


@workload("W2b", "enter+leave inference_mode (×1000)", "≤ 0.3×", 0.3)
def _w2b(lib):
    def run():
        for _ in range(1000):
            with lib.inference_mode():
                pass
    return run


def _mlp_forward(mode):
    def build(lib):
        model = common.mlp(lib)
        x = _t(lib, common.mlp_batch()[0])
        ctx = {"grad": contextlib.nullcontext, "no_grad": lib.no_grad,
               "inference": lib.inference_mode}[mode]

        def run():
            with ctx():
                model(x)
        return run
    return build


workload("W3", "MLP 784-512-512-10 forward, batch 64, grad mode", "≤ 0.9×", 0.9,
         needs=(NN,))(_mlp_forward("grad"))
workload("W3n", "  … under no_grad", "≤ 0.9×", 0.9, needs=(NN,))(_mlp_forward("no_grad"))
workload("W3i", "  … under inference_mode", "≤ 0.9×", 0.9, needs=(NN,))(_mlp_forward("inference"))


def _abc(lib):
    return [_t(lib, a) for a in common.arrays(common.N_ELEMENTWISE, 3)]


@workload("W4", "a*b + c, 10^7 float32, no grad (eager)", "≤ 0.5×", 0.5)
def _w4(lib):
    a, b, c = _abc(lib)

    def run():
        with lib.no_grad():
            a * b + c
    return run


@workload("W4f", "a*b + c fused (nb.compile) vs torch eager", "≥ 80% triad", None)
def _w4f(lib):
    a, b, c = _abc(lib)
    fn = _compiled(lib, lambda a, b, c: a * b + c)

    def run():
        with lib.no_grad():
            fn(a, b, c)
    return run


def _compiled(lib, fn):
    if lib.__name__ == "nbgrad":
        return lib.compile(fn)
    return fn  # the reference is PyTorch eager


def _chain(fused, backward):
    def build(lib):
        a, b = (_t(lib, x, backward) for x in common.arrays(common.N_ELEMENTWISE, 2))
        fn = _compiled(lib, common.chain8) if fused else common.chain8
        if not backward:
            def run():
                with lib.no_grad():
                    fn(a, b)
            return run

        def run_bwd():
            fn(a, b).sum().backward()
            a.grad = b.grad = None
        return run_bwd
    return build


workload("F8", "8-op elementwise chain, 10^7 float32, eager", "—")(_chain(False, False))
workload("F8f", "  … fused (nb.compile) vs torch eager", "≤ 0.33× (3× faster)",
         1 / 3)(_chain(True, False))
workload("F8b", "  … fused forward+backward vs torch eager", "—")(_chain(True, True))


@workload("W5", "MLP training step (fwd, cross-entropy, bwd, SGD), batch 64", "≤ 0.9×", 0.9,
          needs=(NN, CE, SGD))
def _w5(lib):
    model = common.mlp(lib)
    xa, ya = common.mlp_batch()
    x, y = _t(lib, xa), _t(lib, ya)
    opt = lib.optim.SGD(model.parameters(), lr=0.01)
    return lambda: common.training_step(lib, model, opt, x, y)


@workload("W6", "cross_entropy fwd+bwd, 1024×1000 logits", "≤ 1.0×", 1.0, needs=(CE,))
def _w6(lib):
    g = common.rng()
    logits = _t(lib, g.standard_normal(common.CE_SHAPE, dtype=np.float32), True)
    y = _t(lib, g.integers(0, common.CE_SHAPE[1], common.CE_SHAPE[0]).astype(np.int64))

    def run():
        lib.nn.functional.cross_entropy(logits, y).backward()
        logits.grad = None
    return run


@workload("W7", "(a @ b).tanh().sum().backward(), 256×512 @ 512×256", "≤ 1.0×", 1.0)
def _w7(lib):
    g = common.rng()
    (sa, sb) = common.MATMUL_SHAPES
    a = _t(lib, g.standard_normal(sa, dtype=np.float32), True)
    b = _t(lib, g.standard_normal(sb, dtype=np.float32), True)

    def run():
        (a @ b).tanh().sum().backward()
        a.grad = b.grad = None
    return run


ADAM = ("nbgrad.optim", "Adam", "AdamW")
LM = ("nbgrad.nn", "Embedding", "LayerNorm", "ModuleList", "functional.gelu", "functional.softmax")
CONV = ("nbgrad.nn", "Conv2d", "functional.max_pool2d")


def _lm(setup):
    def build(lib):
        model, opt, x, y = setup(lib)
        return lambda: common.lm_step(lib, model, opt, x, y)
    return build


workload("T1", "minGPT-style transformer train step (2 layers, d=64, T=32, B=16, AdamW)",
         "≤ 1.0× (aim 0.7)", 1.0, needs=(LM, ADAM, CE))(_lm(common.gpt_setup))
workload("T2", "makemore-style RNN train step (T=16, H=64, B=32, Adam)", "≤ 1.0×", 1.0,
         needs=(LM, ADAM, CE))(_lm(common.rnn_setup))


@workload("T3", "small CNN train step (2 conv + pool + linear, 1×28×28, B=64, Adam)",
          "≤ 1.5×", 1.5, needs=(CONV, ADAM, CE))
def _t3(lib):
    model, opt, x, y = common.cnn_setup(lib)
    return lambda: common.training_step(lib, model, opt, x, y)


# ----------------------------------------------------------------- memory and cold start rows


def _peak_forward(lib, model, x, ctx):
    """(peak, retained) bytes allocated by a forward under ``ctx`` (tracemalloc sees numpy)."""
    gc.collect()
    tracemalloc.start()
    try:
        with ctx():
            out = model(x)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del out
    return peak, retained


@workload("W8", "16-layer MLP: peak memory in inference_mode / (weights + 1 activation)",
          "≤ 1.2", 1.2, absolute=True, needs=(NN,), unit="x")
def _w8(lib):
    if lib.__name__ != "nbgrad":
        return None  # tracemalloc does not see torch's allocator
    sizes = common.deep_sizes()
    model = common.mlp(lib, sizes)
    x = _t(lib, common.mlp_batch()[0])
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    act = common.BATCH * max(sizes) * 4
    peak_g, kept_g = _peak_forward(lib, model, x, contextlib.nullcontext)
    peak_i, kept_i = _peak_forward(lib, model, x, lib.inference_mode)
    _w8.notes = [
        f"W8: grad mode retains {kept_g / 2**20:.1f} MiB after the forward, inference_mode "
        f"{kept_i / 2**20:.2f} MiB (peak {peak_g / 2**20:.1f} vs {peak_i / 2**20:.1f} MiB "
        f"above {weights / 2**20:.1f} MiB of weights)"]
    return (weights + peak_i) / (weights + act)


_STEP_SCRIPT = """
import time, sys
t0 = time.perf_counter()
import numpy as np
lib = __import__(sys.argv[1])
from asv_benchmarks.benchmarks import common
if sys.argv[1] == "torch":
    lib.set_num_threads(2)
model = common.mlp(lib)
xa, ya = common.mlp_batch()
opt = lib.optim.SGD(model.parameters(), lr=0.01)
common.training_step(lib, model, opt, lib.from_numpy(xa), lib.from_numpy(ya))
print(time.perf_counter() - t0)
"""


def _subprocess_seconds(code: str, lib_name: str, env: dict | None = None) -> float:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code, lib_name], capture_output=True, text=True,
                         cwd=root, env={**os.environ, **(env or {})}, check=True)
    return float(out.stdout.strip().splitlines()[-1])


_IMPORT_SCRIPT = ("import time, sys; t = time.perf_counter(); __import__(sys.argv[1]); "
                  "print(time.perf_counter() - t)")


@workload("C1", "import time (fresh process)", "≤ 0.3 s", 0.3, absolute=True)
def _c1(lib):
    return min(_subprocess_seconds(_IMPORT_SCRIPT, lib.__name__) for _ in range(3))


def _first_steps(lib, runs: int) -> list[float]:
    """Seconds of ``runs`` fresh processes' first training step, sharing one new, empty cache
    (the first finds it empty, the later ones warm)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache, "NBGRAD_FUSION_DIR": os.path.join(cache, "fused")}
        return [_subprocess_seconds(_STEP_SCRIPT, lib.__name__, env) for _ in range(runs)]


@workload("C2", "first training step, fresh process, warm Numba cache", "≤ 2 s", 2.0,
          absolute=True, needs=(NN, CE, SGD))
def _c2(lib):
    return _first_steps(lib, 2)[1]


@workload("C3", "first training step, fresh process, empty cache", "≤ 30 s", 30.0,
          absolute=True, needs=(NN, CE, SGD))
def _c3(lib):
    return _first_steps(lib, 1)[0]


# --------------------------------------------------------------------------- measuring

_CHILD_SAMPLES = 5  # timed samples inside one child process


def _calibrate(fn: Callable, budget: float = 0.05) -> int:
    """Calls per sample so that one sample takes about ``budget`` seconds."""
    t0 = time.perf_counter()
    fn()
    dt = time.perf_counter() - t0
    return max(1, int(budget / max(dt, 1e-9)))


def _sample(fn: Callable, number: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _import_lib(name: str):
    lib = importlib.import_module(name)
    if name == "torch":
        lib.set_num_threads(2)
    return lib


def child(workload_id: str, lib_name: str, samples: int) -> dict:
    """Measure one workload in one library, in this process: ``{"value": ..., "notes": [...]}``.

    A timed row is built, called twice (compiling kernels, tracing compiled functions, filling
    caches), then timed ``samples`` times; the value is the median seconds per call. A ``run``
    row returns its own figure (``None`` where it has none for this library).

    >>> r = child("W2", "nbgrad", 1)
    >>> r["value"] > 0 and r["notes"] == []
    True
    """
    w = next(w for w in WORKLOADS if w.id == workload_id)
    lib = _import_lib(lib_name)
    if w.run is not None:
        value = w.run(lib)
    else:
        fn = w.build(lib)
        for _ in range(2):
            fn()
        number = _calibrate(fn)
        value = statistics.median(_sample(fn, number) for _ in range(max(1, samples)))
    return {"value": value, "notes": list(getattr(w.run or w.build, "notes", []))}


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _spawn(python: str, workload_id: str, lib_name: str, samples: int) -> dict:
    """Run :func:`child` in a fresh ``python`` process, environment untouched; return its result."""
    out = subprocess.run([python, "-m", "asv_benchmarks.compare", "--child", workload_id,
                          "--lib", lib_name, "--repeat", str(samples)],
                         capture_output=True, text=True, cwd=_ROOT)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{lib_name} child failed: {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _torch_interpreter(path: str | None) -> tuple[str | None, str | None]:
    """(interpreter, torch version) for the reference side; ``(None, None)`` without torch.

    ``path`` defaults to this interpreter, used only when it can import torch.
    """
    python = path or sys.executable
    try:
        out = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                             capture_output=True, text=True)
    except OSError as e:
        raise SystemExit(f"--torch-python {path}: {e.strerror}") from None
    if out.returncode != 0:
        if path is not None:
            raise SystemExit(f"--torch-python {path}: cannot import torch")
        return None, None
    return python, out.stdout.strip()


def _alternate(w: Workload, torch_python: str | None, repeat: int):
    """Median times of nbgrad and torch over ``repeat`` rounds of fresh children, and the median
    of the per-round ratios nbgrad/torch."""
    ta, tb, ratios, notes = [], [], [], []
    for _ in range(repeat):
        a = _spawn(sys.executable, w.id, "nbgrad", _CHILD_SAMPLES)
        ta.append(a["value"])
        notes = a["notes"]
        if torch_python is not None:
            tb.append(_spawn(torch_python, w.id, "torch", _CHILD_SAMPLES)["value"])
            ratios.append(ta[-1] / tb[-1])
    med = statistics.median
    return med(ta), (med(tb) if tb else None), (med(ratios) if ratios else None), notes


def machine_limits() -> dict:
    """STREAM-style triad bandwidth (a parallel Numba kernel) and numpy's matmul GFLOP/s."""
    import numba

    @numba.njit(parallel=True, cache=False)
    def triad(a, b, c, s):
        for i in numba.prange(a.size):
            a[i] = b[i] + s * c[i]

    n = common.N_ELEMENTWISE
    a, b, c = (np.ones(n, np.float32) for _ in range(3))
    triad(a, b, c, np.float32(2.0))
    t = min(_sample(lambda: triad(a, b, c, np.float32(2.0)), 5) for _ in range(5))
    m = np.ones((512, 512), np.float32)
    m @ m
    tm = min(_sample(lambda: m @ m, 10) for _ in range(5))
    return {"triad_gbs": 3 * 4 * n / t / 1e9, "matmul_gflops": 2 * 512**3 / tm / 1e9,
            "threads": numba.get_num_threads(), "layer": _layer()}


def _layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:
        return "not started"


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "x":
        return f"{v:.3f}"
    for scale, name in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if v >= scale:
            return f"{v / scale:.3g} {name}"
    return f"{v * 1e9:.3g} ns"


def _missing(w: Workload) -> str | None:
    for mod, *attrs in w.needs:
        if not common.available(mod, *attrs):
            return f"{mod} {' '.join(attrs)}".strip()
    return None


def run(only: set | None, repeat: int, torch_python: str | None = None,
        out=sys.stdout) -> list[dict]:
    """Measure the selected workloads and print the table; return its rows."""
    torch_python, torch_version = _torch_interpreter(torch_python)
    limits = machine_limits()
    print(f"machine: {os.cpu_count()} cores; triad {limits['triad_gbs']:.1f} GB/s; numpy matmul "
          f"(512³ float32) {limits['matmul_gflops']:.0f} GFLOP/s; Numba {limits['threads']} "
          f"threads", file=out)
    ref = f"torch {torch_version} ({torch_python})" if torch_python else "PyTorch not installed"
    print(f"reference: {ref}; {repeat} alternating rounds per row, each library in its own "
          f"process at its defaults, median of per-round ratios\n", file=out)
    rows, notes = [], []
    for w in WORKLOADS:
        if only and w.id not in only:
            continue
        missing = _missing(w)
        if missing:
            rows.append({"id": w.id, "title": w.title, "skip": f"skipped: no {missing}"})
            continue
        try:
            row, row_notes = _measure(w, torch_python, repeat, limits)
        except Exception as e:  # noqa: BLE001 - a broken workload must not hide the others
            rows.append({"id": w.id, "title": w.title, "skip": f"error: {type(e).__name__}: {e}"})
            continue
        rows.append(row)
        notes += row_notes
    _print_table(rows, out)
    for note in notes:
        print(note, file=out)
    print(f"Numba threading layer (this process's triad): {limits['layer']}", file=out)
    return rows


def _measure(w: Workload, torch_python: str | None, repeat: int, limits: dict):
    row = {"id": w.id, "title": w.title, "target": w.target, "unit": w.unit}
    if w.run is not None:
        a = _spawn(sys.executable, w.id, "nbgrad", _CHILD_SAMPLES)
        mine = a["value"]
        ref = (_spawn(torch_python, w.id, "torch", _CHILD_SAMPLES)["value"]
               if torch_python is not None else None)
        row.update(nb=mine, torch=ref, ratio=(mine / ref if ref else None))
        row["met"] = mine <= w.limit
        return row, a["notes"]
    ta, tb, ratio, notes = _alternate(w, torch_python, repeat)
    row.update(nb=ta, torch=tb, ratio=ratio)
    if w.id == "W4f":  # a*b+c moves 16 bytes per element
        share = 16 * common.N_ELEMENTWISE / ta / 1e9 / limits["triad_gbs"]
        row["target"] = f"≥ 80% triad ({share:.0%})"
        row["met"] = share >= 0.8
    elif w.limit is not None and ratio is not None:
        row["met"] = ratio <= w.limit
    return row, notes


def _print_table(rows: list, out) -> None:
    print("| id | workload | nbgrad | torch | ratio | target | met? |", file=out)
    print("| --- | --- | --- | --- | --- | --- | --- |", file=out)
    for r in rows:
        if "skip" in r:
            print(f"| {r['id']} | {r['title']} | {r['skip']} | | | | |", file=out)
            continue
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
        print(f"| {r['id']} | {r['title']} | {_fmt(r['nb'], r['unit'])} | "
              f"{_fmt(r['torch'], r['unit'])} | {ratio} | {r['target']} | {met} |", file=out)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    p = argparse.ArgumentParser(prog="python -m asv_benchmarks.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="comma-separated workload ids, e.g. W1,W2,F8f")
    p.add_argument("--repeat", type=int, default=7,
                   help="alternating rounds per row (7); with --child, timed samples")
    p.add_argument("--torch-python", metavar="PATH",
                   help="interpreter that has torch (default: this one, if it imports torch)")
    p.add_argument("--child", metavar="ID", help=argparse.SUPPRESS)
    p.add_argument("--lib", choices=("nbgrad", "torch"), default="nbgrad", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    ids = {w.id for w in WORKLOADS}
    if args.child is not None:
        if args.child not in ids:
            p.error(f"unknown workload id: {args.child}")
        print(json.dumps(child(args.child, args.lib, args.repeat)))
        return 0
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    if only:
        unknown = only - ids
        if unknown:
            p.error(f"unknown workload ids: {', '.join(sorted(unknown))}")
    run(only, max(1, args.repeat), args.torch_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
