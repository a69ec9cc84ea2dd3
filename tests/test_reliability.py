"""Reliability guarantees not covered elsewhere: threaded inference, the concurrent-update
check, and the examples' non-finite guard. (Atomic saves and bounded loads:
tests/test_serialization.py; exact resume: tests/test_resume.py; distributed faults:
tests/test_distributed.py.)"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import nbgrad as nb
from nbgrad.utils.concurrency import ConcurrentModificationError, version_guard

ROOT = pathlib.Path(__file__).resolve().parents[1]

THREADS = textwrap.dedent("""
    import sys, threading
    import numpy as np
    import nbgrad as nb
    from nbgrad.utils.concurrency import version_guard

    nb.manual_seed(0)
    model = nb.nn.Sequential(nb.nn.Linear(16, 64), nb.nn.GELU(), nb.nn.LayerNorm(64),
                             nb.nn.Dropout(0.5), nb.nn.Linear(64, 4)).eval()
    inputs = [nb.tensor(np.random.default_rng(i).standard_normal((32, 16)).astype(np.float32))
              for i in range(8)]
    with nb.inference_mode():
        expected = [model(x).numpy().copy() for x in inputs]
    results = [None] * 8
    errors = []
    barrier = threading.Barrier(8)

    def work(i):
        try:
            barrier.wait()
            for _ in range(20):
                with nb.inference_mode(), version_guard(model):
                    out = model(inputs[i])
                assert out.is_inference()
                if results[i] is None:
                    results[i] = out.numpy().copy()
                elif not np.array_equal(results[i], out.numpy()):
                    errors.append(f"thread {i}: outputs changed between calls")
        except Exception as exc:
            errors.append(f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert not errors, errors
    for i in range(8):
        assert np.array_equal(results[i], expected[i]), i
    assert nb.is_grad_enabled() and not nb.is_inference_mode_enabled()
    print("THREADS OK")
""")


def test_inference_from_8_threads_equals_sequential():
    # in a subprocess: a Numba threading-layer abort must fail the test, not kill pytest
    proc = subprocess.run([sys.executable, "-c", THREADS], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert "THREADS OK" in proc.stdout


def test_optimizer_step_during_inference_on_another_thread_is_detected():
    model = nb.nn.Linear(3, 2)
    opt = nb.optim.SGD(model.parameters(), lr=0.1)
    model(nb.ones(1, 3)).sum().backward()
    inside, stepped = threading.Event(), threading.Event()
    caught = []

    def infer():
        try:
            with version_guard(model), nb.inference_mode():
                model(nb.ones(1, 3))
                inside.set()
                stepped.wait(30)  # the optimizer steps while this "forward" is running
        except ConcurrentModificationError as exc:
            caught.append(str(exc))

    t = threading.Thread(target=infer)
    t.start()
    assert inside.wait(30)
    opt.step()
    stepped.set()
    t.join(30)
    assert len(caught) == 1 and "'weight'" in caught[0] and "unsafe" in caught[0]
    with version_guard(model):  # no update: no error
        model(nb.ones(1, 3))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's overflow warnings on the way
def test_digits_guard_names_the_first_non_finite_parameter(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    from nbgrad.examples import digits

    with pytest.raises(FloatingPointError, match=r"parameter '0\.weight'|the loss became"):
        digits.run(epochs=2, lr=1e30, out=str(tmp_path), progress=False, plot=False,
                   log=lambda *a: None)
    assert not (tmp_path / "digits_mlp.nbz").exists()  # NaN weights were never saved


def test_guard_helpers():
    from nbgrad.examples._guard import check_finite, first_nonfinite

    net = nb.nn.Sequential(nb.nn.Linear(2, 2), nb.nn.Linear(2, 1))
    assert first_nonfinite(net) is None
    with nb.no_grad():
        net[1].weight.fill_(float("inf"))
    assert first_nonfinite(net) == "1.weight"
    with pytest.raises(FloatingPointError, match="parameter '1.weight' holds non-finite"):
        check_finite(net, "after epoch 3")
    with pytest.raises(FloatingPointError, match="the loss became nan at step 2"):
        check_finite({"p": nb.ones(1)}, "at step 2", float("nan"))
    check_finite({"p": nb.tensor(np.ones(2))}, "now")
