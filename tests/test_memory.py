"""Memory held by graphs: freed by backward, by dropping, never kept alive by reference cycles.

* after ``backward()`` without ``retain_graph`` the saved tensors are released (and kept with
  ``retain_graph=True``, the control);
* 10 000 tiny training steps hold flat memory (tracemalloc);
* graphs are freed by reference counting alone: with the cyclic collector disabled, weakrefs to
  tensors, storages and nodes die as soon as the last reference goes, and a collection finds no
  nbgrad object in a cycle (``gc.DEBUG_SAVEALL``);
* ``no_grad`` and ``inference_mode`` retain no graph at all.
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import nbgrad as nb
from nbgrad._graph import FREED, Node, SavedTensor
from nbgrad.grad_mode import MODES, mode_var


@pytest.fixture(autouse=True)
def _default_mode():
    mode_var.set(MODES[(True, False)])
    yield


@contextlib.contextmanager
def gc_disabled():
    """Run the block with the cyclic garbage collector off (reference counting only)."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _nbgrad_objects(objs) -> list:
    """The objects in ``objs`` that belong to nbgrad (tensors, nodes, saved tensors, ...)."""
    return [o for o in objs if type(o).__module__.startswith("nbgrad")]


# ======================================================================================
# saved tensors are freed by backward
# ======================================================================================


def _graph(x):
    """y = sin(x * 2) * exp(x): saves the intermediate ``h``, and exp's own output."""
    h = x * 2.0
    e = x.exp()
    y = (h.sin() * e).sum()
    return y, weakref.ref(h), weakref.ref(h._data), weakref.ref(e._data)


def test_backward_frees_saved_tensors():
    x = nb.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    with gc_disabled():
        y, h_ref, h_data, e_data = _graph(x)
        assert h_ref() is not None and e_data() is not None  # saved for backward
        sin_node = y.grad_fn.next_functions[0][0].next_functions[0][0]
        assert sin_node.name() == "SinBackward0"
        assert type(sin_node.saved[0]) is SavedTensor
        y.backward()
        assert sin_node.saved == (FREED,)
        assert h_ref() is None and h_data() is None, "the saved intermediate outlived backward"
        assert e_data() is None, "exp's saved output outlived backward"
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_keeps_saved_tensors_until_the_graph_is_dropped():
    x = nb.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    with gc_disabled():
        y, h_ref, h_data, e_data = _graph(x)
        y.backward(retain_graph=True)
        assert h_ref() is not None and e_data() is not None  # the control: still held
        y.backward()  # works a second time
        np.testing.assert_allclose(x.grad.numpy(), 2 * (
            np.cos(2 * x.detach().numpy()) * 2 + np.sin(2 * x.detach().numpy())
        ) * np.exp(x.detach().numpy()), rtol=1e-5)
        assert h_ref() is None and e_data() is None  # freed by the second (non-retaining) one
        y_ref = weakref.ref(y.grad_fn)
        del y
        assert y_ref() is None


def test_autograd_grad_frees_saved_tensors_too():
    x = nb.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    with gc_disabled():
        y, h_ref, _, e_data = _graph(x)
        nb.autograd.grad(y, x)
        assert h_ref() is None and e_data() is None


# ======================================================================================
# a long training loop holds flat memory
# ======================================================================================


def _train_steps(params, x, target, n: int) -> float:
    """``n`` steps of SGD on a tiny model (a few nodes per step)."""
    w, b = params
    loss = None
    for _ in range(n):
        loss = (((x * w).sum(dim=1) + b).tanh() - target).pow(2).mean()
        loss.backward()
        with nb.no_grad():
            w.sub_(w.grad * 0.1)
            b.sub_(b.grad * 0.1)
        w.grad = None
        b.grad = None
    return loss.item()


def test_10000_training_steps_hold_flat_memory():
    """10 000 steps: 2 500 traced by tracemalloc (every allocation counted), the rest counted
    by the interpreter's allocated-block total (cheap), both after a warm-up."""
    import sys

    rng = np.random.default_rng(0)
    w = nb.tensor(rng.normal(size=(1, 3)), dtype=nb.float32, requires_grad=True)
    b = nb.tensor([0.0], dtype=nb.float32, requires_grad=True)
    x = nb.tensor(rng.normal(size=(4, 3)), dtype=nb.float32)
    target = nb.tensor(rng.uniform(-0.5, 0.5, 4), dtype=nb.float32)
    first = _train_steps((w, b), x, target, 200)  # warm up: compile, fill caches
    tracemalloc.start()
    try:
        _train_steps((w, b), x, target, 300)
        gc.collect()
        start, _ = tracemalloc.get_traced_memory()
        _train_steps((w, b), x, target, 2000)
        gc.collect()
        end, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one step's graph is a few KiB; leaking even one small object per step would add > 100 KiB
    assert end - start < 32 * 1024, f"traced memory grew by {end - start} bytes in 2000 steps"
    assert peak - start < 1024 * 1024, f"peak {peak - start} bytes above the start"
    gc.collect()
    blocks = sys.getallocatedblocks()
    last = _train_steps((w, b), x, target, 7500)
    gc.collect()
    grown = sys.getallocatedblocks() - blocks
    assert grown < 500, f"{grown} more allocated blocks after 7500 steps"
    assert last < first  # it trained


# ======================================================================================
# no reference cycles keep graphs alive
# ======================================================================================


def _refs_of_a_graph(x, retain: bool, backward: bool):
    """Build a graph with views, an in-place op on a non-leaf, a hook and retain_grad; return
    weakrefs to its tensors, storages and nodes (all other references are dropped on return)."""
    a = x * 3.0
    v = a[1:]  # a view
    v.mul_(2.0)  # in place on a view: rebases a onto CopySlices
    b = a.tanh()
    b.retain_grad()
    b.register_hook(lambda g: g * 1.0)
    c = (b @ b.t()).sum() + a.exp().mean()
    refs = [weakref.ref(t) for t in (a, v, b, c)]
    refs += [weakref.ref(t._data) for t in (a, b)]
    nodes = []
    stack = [c.grad_fn]
    while stack:
        n = stack.pop()
        if isinstance(n, Node) and all(n is not m for m in nodes):
            nodes.append(n)
            stack.extend(e[0] for e in n.edges if e is not None)
    assert len(nodes) >= 6
    refs += [weakref.ref(n) for n in nodes]
    if backward:
        c.backward(retain_graph=retain)
    return refs


@pytest.mark.parametrize("retain", [False, True], ids=["freed", "retain_graph"])
@pytest.mark.parametrize("backward", [True, False], ids=["after_backward", "no_backward"])
def test_graphs_die_by_reference_counting_alone(retain, backward):
    x = nb.tensor(np.linspace(0.1, 0.6, 6).reshape(3, 2), requires_grad=True)
    with gc_disabled():
        refs = _refs_of_a_graph(x, retain, backward)
        alive = [r() for r in refs if r() is not None]
        assert not alive, f"kept alive by a reference cycle: {alive[:5]}"
    if backward:
        assert x.grad is not None and x.grad.grad_fn is None


def test_create_graph_gradients_with_autograd_grad_leave_no_cycle():
    x = nb.tensor([0.3, 0.7], requires_grad=True)
    with gc_disabled():
        y = (x.sin() * x).sum()
        (g,) = nb.autograd.grad(y, x, create_graph=True)
        (gg,) = nb.autograd.grad(g.sum(), x)
        refs = [weakref.ref(y), weakref.ref(g), weakref.ref(y.grad_fn), weakref.ref(g.grad_fn)]
        del y, g
        assert all(r() is None for r in refs)
    np.testing.assert_allclose(gg.numpy(), 2 * np.cos([0.3, 0.7]) - np.sin([0.3, 0.7]) *
                               np.array([0.3, 0.7]), rtol=1e-5)


def test_collector_finds_no_nbgrad_garbage():
    """With ``DEBUG_SAVEALL`` every object a collection finds unreachable lands in
    ``gc.garbage``; after a workload of graphs, views, in-place ops, hooks, modes, custom
    Functions and checkpoints, none of them is an nbgrad object."""
    gc.collect()
    gc.garbage.clear()
    flags = gc.get_debug()
    was = gc.isenabled()
    gc.disable()
    try:
        gc.set_debug(gc.DEBUG_SAVEALL)
        x = nb.tensor(np.linspace(0.1, 0.6, 6).reshape(3, 2), requires_grad=True)
        for retain in (False, True):
            for backward in (True, False):
                _refs_of_a_graph(x, retain, backward)
        with nb.no_grad():
            (x * 2).sin()
        with nb.inference_mode():
            (x * 2).sin().add_(1.0)

        class Square(nb.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                ctx.save_for_backward(t)
                return t * t

            @staticmethod
            def backward(ctx, g):
                (t,) = ctx.saved_tensors
                return 2 * t * g

        Square.apply(x * 1.0).sum().backward()
        from nbgrad.utils.checkpoint import checkpoint

        checkpoint(lambda t: (t * 2).tanh(), x).sum().backward()
        gc.collect()
        found = _nbgrad_objects(gc.garbage)
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()
        if was:
            gc.enable()
    assert not found, f"nbgrad objects in reference cycles: {found[:10]}"


# ======================================================================================
# no_grad and inference_mode retain no graph
# ======================================================================================


@pytest.mark.parametrize("mode", [nb.no_grad, nb.inference_mode], ids=["no_grad", "inference"])
def test_no_graph_is_retained_without_grad_mode(mode):
    x = nb.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    with gc_disabled():
        with mode():
            h = x * 2.0
            h_ref, data_ref = weakref.ref(h), weakref.ref(h._data)
            y = h.sin().exp()  # would save h and y's output under grad mode
            assert y.grad_fn is None and not y.requires_grad and y.is_leaf
            del h
            assert h_ref() is None and data_ref() is None, "an intermediate outlived its use"
            z = y[1:].t() if y.ndim == 2 else y[1:]
            assert z.grad_fn is None
    np.testing.assert_allclose(y.numpy(), np.exp(np.sin(2 * np.linspace(-1, 1, 6))),
                               rtol=1e-6)


def test_grad_mode_retains_the_intermediate_control():
    """The control for the test above: under grad mode the same intermediate is kept."""
    x = nb.tensor(np.linspace(-1, 1, 6), requires_grad=True)
    with gc_disabled():
        h = x * 2.0
        h_ref = weakref.ref(h)
        y = h.sin().exp()
        del h
        assert h_ref() is not None
        del y
        assert h_ref() is None
