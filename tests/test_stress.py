"""Concurrency stress, bounded in time: threads and asyncio tasks using nbgrad at once.

* 16 threads train independent small models, each under a different arrangement of grad modes;
  every loss and every final parameter is bit-identical to a sequential run, and no thread sees
  another thread's mode.
* 500 asyncio tasks switch between ``no_grad`` / ``enable_grad`` / ``inference_mode`` across
  awaits; each checks its own mode and the kind of tensor its ops produce at every step.
* backward on independent graphs, and ``autograd.grad`` on one shared retained graph, from
  several threads at once.
* Numba ``parallel=True`` kernels (defined below with ``nbgrad.backends._jit.kernel``) entered
  from several threads at once, together with nbgrad's own ops and backward, in a subprocess so
  a threading-layer abort fails the test instead of killing pytest.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

import nbgrad as nb
from nbgrad.backends._jit import kernel
from nbgrad.grad_mode import MODES, mode_var

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DEFAULT = (True, False)


def state() -> tuple[bool, bool]:
    """The current (grad, inference) pair."""
    return (nb.is_grad_enabled(), nb.is_inference_mode_enabled())


@pytest.fixture(autouse=True)
def _default_mode():
    mode_var.set(MODES[DEFAULT])
    yield
    assert state() == DEFAULT


def _run_threads(targets, timeout: float = 60.0) -> list:
    """Start one thread per callable at once (behind a barrier); return their results, raising
    the first exception any thread raised."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list = []

    def runner(k, fn):
        try:
            barrier.wait()
            results[k] = fn()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((k, e))

    threads = [threading.Thread(target=runner, args=(k, fn)) for k, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0][1]
    return results


# ======================================================================================
# 16 threads training independent models under different modes
# ======================================================================================

_HAVE_NN = importlib.util.find_spec("nbgrad.nn") is not None and all(
    hasattr(nb.nn, n) for n in ("Linear", "Sequential", "Tanh")
) and hasattr(nb, "optim") and hasattr(nb.optim, "SGD")


def _init_arrays(seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.5, (4, 8)), rng.normal(0, 0.1, 8), rng.normal(0, 0.5, (8, 1)),
            rng.normal(0, 0.1, 1)]


class _CoreMLP:
    """A 4-8-1 tanh MLP written with nbgrad ops, trained by hand-written SGD."""

    def __init__(self, seed: int) -> None:
        self.params = [nb.tensor(a, dtype=nb.float32, requires_grad=True)
                       for a in _init_arrays(seed)]

    def __call__(self, x):
        w1, b1, w2, b2 = self.params
        return (x @ w1 + b1).tanh() @ w2 + b2

    def step(self, lr: float) -> None:
        with nb.no_grad():
            for p in self.params:
                p.sub_(p.grad * lr)
                p.grad = None


class _NNMLP:
    """The same MLP with ``nb.nn`` layers and ``nb.optim.SGD``."""

    def __init__(self, seed: int) -> None:
        self.model = nb.nn.Sequential(nb.nn.Linear(4, 8), nb.nn.Tanh(), nb.nn.Linear(8, 1))
        w1, b1, w2, b2 = _init_arrays(seed)
        with nb.no_grad():  # deterministic per model (the global RNG is shared by threads)
            for p, a in zip(self.model.parameters(), (w1.T, b1, w2.T, b2)):
                p.copy_(nb.tensor(np.ascontiguousarray(a), dtype=nb.float32))
        self.params = list(self.model.parameters())
        self.opt = None

    def __call__(self, x):
        return self.model(x)

    def step(self, lr: float) -> None:
        if self.opt is None:
            self.opt = nb.optim.SGD(self.params, lr=lr)
        self.opt.step()
        self.opt.zero_grad()


def _data(seed: int):
    rng = np.random.default_rng(1000 + seed)
    x = rng.normal(0, 1, (16, 4))
    y = np.sin(x.sum(axis=1, keepdims=True))
    return nb.tensor(x, dtype=nb.float32), nb.tensor(y, dtype=nb.float32)


STEPS = 25


def _train(k: int) -> dict:
    """Train model ``k`` under arrangement ``k % 5`` of grad modes; check the mode throughout.

    Returns the losses, evaluation outputs and final parameters (as numpy arrays).
    """
    model = (_NNMLP if _HAVE_NN and k % 2 else _CoreMLP)(k)
    x, y = _data(k)
    arrangement = k % 5
    losses, evals = [], []

    def train_step():
        assert state() == DEFAULT, f"thread {k}: training step not in grad mode"
        loss = ((model(x) - y) ** 2).mean()
        assert loss.requires_grad and loss.grad_fn is not None
        loss.backward()
        model.step(0.1)
        return loss.item()

    def evaluate(expect_inference: bool):
        out = model(x)
        assert not out.requires_grad and out.grad_fn is None, f"thread {k}: eval recorded"
        assert out.is_inference() is expect_inference
        return out.detach().numpy().copy()

    if arrangement == 0:  # default mode; eval under no_grad
        for _ in range(STEPS):
            losses.append(train_step())
            with nb.no_grad():
                evals.append(evaluate(False))
            assert state() == DEFAULT
    elif arrangement == 1:  # the whole thread in no_grad; steps under enable_grad
        with nb.no_grad():
            for _ in range(STEPS):
                with nb.enable_grad():
                    losses.append(train_step())
                assert state() == (False, False)
                evals.append(evaluate(False))
        assert state() == DEFAULT
    elif arrangement == 2:  # a plain set_grad_enabled(False); decorated step; inference eval
        nb.set_grad_enabled(False)
        step = nb.enable_grad()(train_step)
        for _ in range(STEPS):
            losses.append(step())
            assert state() == (False, False)
            with nb.inference_mode():
                evals.append(evaluate(True))
            assert state() == (False, False)
        nb.set_grad_enabled(True)
    elif arrangement == 3:  # the whole thread in inference_mode; steps in inference_mode(False)
        with nb.inference_mode():
            for _ in range(STEPS):
                with nb.inference_mode(False):
                    losses.append(train_step())
                assert state() == (False, True)
                evals.append(evaluate(True))
        assert state() == DEFAULT
    else:  # the functional form, and a generator function decorated with no_grad
        @nb.no_grad()
        def eval_batches():
            for _ in range(STEPS):
                yield evaluate(False)

        batches = eval_batches()
        for _ in range(STEPS):
            losses.append(nb.grad_mode(True, train_step))
            assert state() == DEFAULT
            evals.append(next(batches))
            assert state() == DEFAULT  # the generator's no_grad is undone at its yield
    assert state() == DEFAULT
    return {"losses": losses, "evals": evals,
            "params": [p.detach().numpy().copy() for p in model.params]}


def test_16_threads_train_independent_models_under_different_modes():
    expected = [_train(k) for k in range(16)]  # sequential reference (also compiles kernels)
    assert state() == DEFAULT
    for k in range(16):
        assert expected[k]["losses"][-1] < expected[k]["losses"][0], "the models do not train"
    got = _run_threads([lambda k=k: _train(k) for k in range(16)])
    assert state() == DEFAULT
    for k in range(16):
        assert got[k]["losses"] == expected[k]["losses"], f"thread {k}: different losses"
        for a, b in zip(got[k]["evals"], expected[k]["evals"]):
            assert np.array_equal(a, b)
        for a, b in zip(got[k]["params"], expected[k]["params"]):
            assert np.array_equal(a, b), f"thread {k}: different parameters"


# ======================================================================================
# 500 asyncio tasks interleaving modes across awaits
# ======================================================================================

_ASYNC_KINDS = ["no_grad", "enable_grad", "inference", "plain_off", "decorated", "functional"]


def _expect_tensors(x, expected_state, tag):
    """``x * 2`` behaves as the expected mode says: recorded or not, inference or not."""
    assert state() == expected_state, tag
    grad, inf = expected_state
    y = x * 2.0
    assert y.requires_grad is (grad and not inf), tag
    assert (y.grad_fn is not None) is (grad and not inf), tag
    assert y.is_inference() is inf, tag
    assert nb.ones(1).is_inference() is inf, tag


async def _task(n: int, x, log: list) -> int:
    kinds = [_ASYNC_KINDS[(n + j) % len(_ASYNC_KINDS)] for j in range(3)]
    _expect_tensors(x, DEFAULT, (n, "start"))
    for j, kind in enumerate(kinds):
        tag = (n, j, kind)
        if kind == "no_grad":
            with nb.no_grad():
                await asyncio.sleep(0)
                _expect_tensors(x, (False, False), tag)
                with nb.enable_grad():
                    await asyncio.sleep(0)
                    _expect_tensors(x, (True, False), tag)
                await asyncio.sleep(0)
                _expect_tensors(x, (False, False), tag)
        elif kind == "enable_grad":
            with nb.set_grad_enabled(False):
                with nb.enable_grad():
                    await asyncio.sleep(0)
                    _expect_tensors(x, (True, False), tag)
                await asyncio.sleep(0)
                _expect_tensors(x, (False, False), tag)
        elif kind == "inference":
            with nb.inference_mode():
                await asyncio.sleep(0)
                _expect_tensors(x, (False, True), tag)
                with nb.inference_mode(False):
                    await asyncio.sleep(0)
                    _expect_tensors(x, (True, False), tag)
                await asyncio.sleep(0)
                _expect_tensors(x, (False, True), tag)
        elif kind == "plain_off":  # a plain statement lasts for this task only
            nb.set_grad_enabled(False)
            await asyncio.sleep(0)
            _expect_tensors(x, (False, False), tag)
            nb.set_grad_enabled(True)
        elif kind == "decorated":
            @nb.inference_mode()
            async def inner(tag=tag):
                await asyncio.sleep(0)
                _expect_tensors(x, (False, True), tag)
                await asyncio.sleep(0)
                return "inner"

            assert await inner() == "inner"
        else:
            async def body(tag=tag):
                await asyncio.sleep(0)
                _expect_tensors(x, (False, False), tag)
                return "body"

            assert await nb.grad_mode(False, body) == "body"
        await asyncio.sleep(0)
        _expect_tensors(x, DEFAULT, (n, j, "after"))
    log.append(n)
    return n


def test_500_asyncio_tasks_interleave_modes_across_awaits():
    x = nb.tensor([1.0, 2.0], requires_grad=True)

    async def main():
        log: list = []
        with nb.no_grad():  # tasks inherit the mode of their creator, at creation
            inheritor = asyncio.create_task(_inherits(x))
        tasks = [asyncio.create_task(_task(n, x, log)) for n in range(500)]
        results = await asyncio.gather(inheritor, *tasks)
        assert state() == DEFAULT
        return results[1:], log

    results, log = asyncio.run(main())
    assert results == list(range(500))
    assert sorted(log) == list(range(500))
    assert log != sorted(log), "the tasks did not interleave"


async def _inherits(x):
    await asyncio.sleep(0)
    _expect_tensors(x, (False, False), "inherited")
    return "inherited"


# ======================================================================================
# backward from several threads
# ======================================================================================


def _graph_grads(seed: int, reps: int = 20) -> list:
    rng = np.random.default_rng(seed)
    a = nb.tensor(rng.normal(size=(5, 4)), dtype=nb.float64, requires_grad=True)
    b = nb.tensor(rng.normal(size=(4, 3)), dtype=nb.float64, requires_grad=True)
    out = []
    for r in range(reps):
        h = (a @ b).tanh()
        loss = (h * h.t().sum()).exp().mean() + (a[1:] * (r + 1)).sin().sum()
        loss.backward()
        out.append((loss.item(), a.grad.numpy().copy(), b.grad.numpy().copy()))
        a.grad = b.grad = None
    return out


def test_backward_on_independent_graphs_from_8_threads():
    expected = [_graph_grads(s) for s in range(8)]
    got = _run_threads([lambda s=s: _graph_grads(s) for s in range(8)])
    for e, g in zip(expected, got):
        for (le, ae, be), (lg, ag, bg) in zip(e, g):
            assert le == lg and np.array_equal(ae, ag) and np.array_equal(be, bg)


def test_grad_on_one_shared_retained_graph_from_8_threads():
    rng = np.random.default_rng(3)
    a = nb.tensor(rng.normal(size=(6, 3)), dtype=nb.float64, requires_grad=True)
    loss = ((a.sin() * a).sum(dim=0) ** 2).sum()
    (expected,) = nb.autograd.grad(loss, a, retain_graph=True)

    def work():
        found = []
        for _ in range(30):
            assert state() == DEFAULT
            (g,) = nb.autograd.grad(loss, a, retain_graph=True)
            found.append(g.numpy().copy())
        return found

    for found in _run_threads([work] * 8):
        for g in found:
            assert np.array_equal(g, expected.numpy())
    assert a.grad is None  # autograd.grad accumulates nothing


# ======================================================================================
# Numba parallel kernels from several threads (in a subprocess)
# ======================================================================================

@kernel(parallel=True)
def _weighted_square_sum(a, w):
    """sum(a[i]**2 * w[i % len(w)]): a parallel reduction."""
    total = 0.0
    for i in numba.prange(a.shape[0]):
        total += a[i] * a[i] * w[i % w.shape[0]]
    return total


@kernel(parallel=True)
def _affine(a, scale, out):
    """out = a * scale + 1, in parallel."""
    for i in numba.prange(a.shape[0]):
        out[i] = a[i] * scale + 1.0


def _parallel_job(k: int, iters: int, a, w):
    mine = np.empty_like(a)
    sums, outs, grads = [], [], []
    x = nb.tensor(a[:50] * (k + 1), dtype=nb.float64, requires_grad=True)
    for r in range(iters):
        sums.append(_weighted_square_sum(a, w))
        _affine(a, float(k + r), mine)
        outs.append(float(mine[::997].sum()))
        loss = (x.tanh() * x).sum()
        loss.backward()
        grads.append(x.grad.numpy().copy())
        x.grad = None
    return sums, outs, grads


def _parallel_main(threads: int, iters: int) -> None:
    """Run in a subprocess by the test below: the kernels above (and nbgrad's ops and backward)
    from several threads at once, compared with a sequential run."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=20000)
    w = rng.uniform(size=7)
    expected = [_parallel_job(k, iters, a, w) for k in range(threads)]
    got = _run_threads([lambda k=k: _parallel_job(k, iters, a, w) for k in range(threads)])
    for k in range(threads):
        e, g = expected[k], got[k]
        # a parallel reduction may add in another order: equal up to rounding
        assert np.allclose(e[0], g[0], rtol=1e-12), k
        assert e[1] == g[1], k
        assert all(np.array_equal(p, q) for p, q in zip(e[2], g[2])), k
    print("layer", numba.threading_layer())
    print("ok")


def test_numba_parallel_kernels_from_several_threads():
    code = ("import sys; sys.path.insert(0, 'tests'); import test_stress; "
            "test_stress._parallel_main(6, 30)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=180, cwd=ROOT)
    assert proc.returncode == 0, (
        f"the process failed (rc {proc.returncode}):\n{proc.stdout[-1000:]}\n"
        f"{proc.stderr[-3000:]}"
    )
    assert proc.stdout.strip().endswith("ok")
    layer = proc.stdout.split("layer ")[1].split()[0]
    assert layer in ("tbb", "omp"), f"a layer that is not thread-safe was chosen: {layer}"
