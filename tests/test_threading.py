"""Numba's threading layer: nbgrad's parallel kernels entered from several Python threads at once.

Numba's default `workqueue` layer aborts the whole process on concurrent use, so these tests run
their threads in a subprocess: an abort fails the test instead of killing pytest.
``nbgrad.backends._jit`` puts thread-safe layers first (TBB, then OpenMP).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys, threading
    import numpy as np
    import numba
    import nbgrad as nb
    from nbgrad import fusion
    from nbgrad.backends._jit import kernel

    @kernel(parallel=True)
    def scale_add(a, out):
        for i in numba.prange(a.size):
            out[i] = a[i] * 2.0 + 1.0

    n = fusion.PARALLEL_MIN * 2
    a = np.arange(n, dtype=np.float32)
    fused = nb.compile(lambda x, y: ((x * y + 1.0) * x - y).relu() * 0.5)
    x = nb.from_numpy(a / n)
    y = nb.from_numpy(1.0 - a / n)
    fused(x, y)
    expected = fused(x, y).numpy().copy()
    assert x.numel() >= fusion.PARALLEL_MIN
    out = np.empty_like(a)
    scale_add(a, out)
    barrier = threading.Barrier(4)
    failures = []

    def work():
        try:
            mine = np.empty_like(a)
            barrier.wait()
            for _ in range(int(sys.argv[1])):
                scale_add(a, mine)
                assert np.array_equal(fused(x, y).numpy(), expected)
            assert np.array_equal(mine, a * 2.0 + 1.0)
        except Exception as e:
            failures.append(repr(e))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("layer", numba.threading_layer())
    print("failures", failures)
""")


def run_script(tmp_path, iterations: int, env: dict | None = None):
    path = tmp_path / "threads.py"
    path.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(path), str(iterations)], capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_parallel_kernels_from_many_threads_never_abort(tmp_path):
    proc = run_script(tmp_path, 40)
    assert proc.returncode == 0, f"the process died (rc {proc.returncode}):\n{proc.stderr[-2000:]}"
    assert "failures []" in proc.stdout
    layer = proc.stdout.split("layer ")[1].split()[0]
    assert layer in ("tbb", "omp"), f"unsafe threading layer {layer!r}"


def test_the_layer_priority_prefers_thread_safe_layers():
    import numba

    from nbgrad.backends import _jit  # noqa: F401  (sets the priority on import)

    assert numba.config.THREADING_LAYER_PRIORITY[-1] == "workqueue"
    assert set(numba.config.THREADING_LAYER_PRIORITY[:2]) == {"tbb", "omp"}


@pytest.mark.slow
def test_workqueue_would_abort(tmp_path):
    """Why the choice matters: forcing `workqueue` makes the same script abort."""
    proc = run_script(tmp_path, 200, {"NUMBA_THREADING_LAYER": "workqueue"})
    assert proc.returncode != 0
    assert "Concurrent access has been detected" in proc.stderr
