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
    for extra in ("nn_kernels", "optim_kernels"):
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


def test_core_ops_compile_for_the_gpu(dry_run):
    import nbgrad as nb
    from nbgrad.ops.elementwise import BINARY, COMPARISONS, UNARY

    for dtype in (nb.float32, nb.float64):
        x = nb.ones(2, 3, dtype=dtype, device="cuda", requires_grad=True)
        w = nb.ones(3, 4, dtype=dtype, device="cuda", requires_grad=True)
        y = (x @ w).tanh()
        y = y + x.sum(1, keepdim=True) * x.t().mean(0).unsqueeze(1)
        y.sum().backward()
        for name in UNARY:
            getattr(nb, name, None) and getattr(nb, name)(x.detach())
        for op in (*BINARY.values(), *COMPARISONS.values()):
            from nbgrad.ops._dispatch import apply

            apply(op, (x.detach(), x.detach().t().contiguous().t()))
            apply(op, (x.detach(), 2))
    i = nb.ones(3, dtype=nb.int64, device="cuda")
    (i + 1, i * i, i.sum(), i == 2, i.float(), i.bool(), i[nb.tensor([0, 2], device="cuda")])
    z = nb.zeros(4, 5, device="cuda")
    z[nb.tensor([1, 1], device="cuda")] = 1.0
    z[:, 1] = 2.0
    z.max(1) if hasattr(z, "max") else None
    print(len(dry_run), sorted({k[0].__name__ for k in dry_run}))
    assert len(dry_run) > 20
