"""Every CUDA kernel the ops launch compiles for a real GPU, checked without one.

The CUDA simulator runs kernels as Python, so it accepts code the real compiler rejects. This
dry run replaces the backend's allocation, transfers and launches with host stand-ins and, at
each launch, compiles the kernel to PTX (NVVM, compute capability 8.0) for the exact argument
types of that launch. Values are not computed; types and compilation are what is checked.
Needs numba-cuda with NVVM (``pip install 'numba-cuda[cu12]'`` or ``[cu13]``); skipped
otherwise and under the simulator.
"""

from __future__ import annotations

import importlib
import os
import sys
import types

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="compiles for real hardware"
)


def _nvvm_available() -> bool:
    try:
        from numba.cuda.cudadrv import nvvm

        return bool(nvvm.is_available())
    except Exception:
        return False


@pytest.fixture(scope="module")
def dry_run():
    """Patch the backend so launches compile to PTX instead of running; yields the log."""
    if not _nvvm_available():
        pytest.skip("NVVM (the CUDA toolkit's compiler) is not installed")
    import numba
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    import nbgrad.backends.cuda as backend

    compiled: dict = {}

    def launch(kernel, blocks, threads, args):
        sig = tuple(numba.typeof(a) for a in args)
        key = (kernel.py_func, sig)
        if key not in compiled:
            compiled[key] = cuda.compile_ptx(kernel.py_func, sig, cc=(8, 0))[0]

    fakes = {
        "alloc": lambda n, dtype: np.zeros(n, dtype),
        "upload": lambda host: np.array(host),
        "download": lambda buf, start, n: np.array(buf[start:start + n]),
        "launch": launch,
    }
    mp = pytest.MonkeyPatch()
    mp.setattr(dispatcher, "get_current_device",
               lambda: types.SimpleNamespace(compute_capability=(8, 0)))
    for extra in ("nn_kernels", "optim_kernels", "conv_kernels"):
        try:
            importlib.import_module(f"nbgrad.backends.cuda.{extra}")
        except ModuleNotFoundError:
            pass
    modules = [m for name, m in sys.modules.items() if name.startswith(backend.__name__ + ".")]
    modules.append(backend)
    for mod in modules:
        for name, fake in fakes.items():
            if hasattr(mod, name):
                mp.setattr(mod, name, fake)
    yield compiled
    mp.undo()


def test_every_elementwise_row_compiles_for_the_gpu(dry_run):
    import nbgrad as nb
    from nbgrad.ops._dispatch import apply
    from nbgrad.ops.elementwise import BINARY, COMPARISONS, UNARY

    for dtype in (nb.float32, nb.int64):  # float64 types like float32
        x = nb.ones(2, 3, dtype=dtype, device="cuda")
        for op in UNARY.values():
            if dtype is nb.int64 and op.kind == "float":
                continue
            apply(op, (x,))
        for op in (*BINARY.values(), *COMPARISONS.values()):
            apply(op, (x, x.t().contiguous().t()))  # strided operand
            apply(op, (x, 2))  # scalar operand
    assert len(dry_run) > 100


def test_training_step_compiles_for_the_gpu(dry_run):
    import nbgrad as nb
    import nbgrad.nn.functional as F

    model = nb.nn.Sequential(nb.nn.Linear(6, 8), nb.nn.ReLU(), nb.nn.Linear(8, 3)).to("cuda")
    for opt in (nb.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                nb.optim.Adam(model.parameters(), lr=0.01)):
        x = nb.ones(5, 6, device="cuda")
        t = nb.zeros(5, dtype=nb.int64, device="cuda")
        loss = F.cross_entropy(model(x), t) + F.log_softmax(model(x), 0).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    wide = nb.ones(2, 300, device="cuda", requires_grad=True)  # block-per-row kernels
    (F.cross_entropy(wide, nb.zeros(2, dtype=nb.int64, device="cuda"), label_smoothing=0.1)
     + F.softmax(wide, 1).sum() + wide.sum(1).sum() + wide.max(1)[0].sum()).backward()
    emb = nb.ones(4, 3, device="cuda", requires_grad=True)
    F.embedding(nb.zeros(2, 2, dtype=nb.int64, device="cuda"), emb, padding_idx=1).sum().backward()


def test_reductions_indexing_and_copies_compile_for_the_gpu(dry_run):
    import nbgrad as nb

    for dtype in (nb.float32, nb.int64, nb.bool):
        x = nb.ones(3, 4, 70, dtype=dtype, device="cuda")
        for dims in (None, 0, 2, (0, 2)):
            x.sum(dims)
        x.amax(2), x.amin(1), x.max(0), x.argmin(2), x.argmax()
        x[nb.zeros(2, dtype=nb.int64, device="cuda"), 1:]
        y = x.clone()
        y[[0, 1], 2] = nb.ones(2, 70, dtype=dtype, device="cuda")
        y[:, 1] = 1
        nb.cat([x, y], 1), nb.flip(x, (0,)), nb.tril(x[0], 1), nb.triu(x[0])
        nb.gather(x, 2, nb.zeros(3, 4, 2, dtype=nb.int64, device="cuda"))
        if dtype is not nb.bool:
            nb.scatter_add(x, 2, nb.zeros(3, 4, 2, dtype=nb.int64, device="cuda"),
                           nb.ones(3, 4, 2, dtype=dtype, device="cuda"))
    w = nb.ones(3, 4, device="cuda", requires_grad=True)
    (w[nb.tensor([0, 0], device="cuda")] ** 2).sum().backward()
    for dtype in (nb.float32, nb.float64, nb.int32, nb.int64):
        a = nb.ones(2, 3, 4, dtype=dtype, device="cuda")
        a @ nb.ones(4, 5, dtype=dtype, device="cuda")
    x = nb.ones(2, 3, device="cuda")
    for target in (nb.float64, nb.int32, nb.int64, nb.bool, nb.float32):
        x.to(target).to(nb.float32)


def test_conv_and_pooling_compile_for_the_gpu(dry_run):
    import nbgrad as nb
    import nbgrad.nn.functional as F

    for dtype in (nb.float32, nb.float64):
        x = nb.ones(2, 4, 5, 5, dtype=dtype, device="cuda", requires_grad=True)
        w = nb.ones(4, 2, 3, 3, dtype=dtype, device="cuda", requires_grad=True)
        y = F.conv2d(x, w, padding=1, groups=2) + F.conv_transpose2d(x, w, padding=1, groups=2)
        v, i = F.max_pool2d(y, 2, return_indices=True)
        (v.sum() + F.avg_pool2d(y, 2).sum() + F.max_unpool2d(v, i, 2).sum()
         + F.fold(F.unfold(x, 2), (5, 5), 2).sum()).backward()
    names = {fn.__name__ for fn, _ in dry_run}
    assert {"_im2col", "_col2im", "_max_pool", "_scatter"} <= names
