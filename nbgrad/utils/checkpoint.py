"""Gradient checkpointing: trade compute for memory by recomputing a block in backward.

Two kinds, as in PyTorch:

* ``use_reentrant=False`` (recommended): ``fn`` runs normally, its graph is recorded, but every
  tensor its ops save for backward goes through ``autograd.graph.saved_tensors_hooks`` that
  keep nothing. The first time backward needs one of them, ``fn`` is re-run (on detached
  copies of the inputs, with the same random state) and its saved tensors are collected;
  the re-run stops as soon as the last one needed is there (early stop). It works with
  ``autograd.grad``, ``create_graph=True`` (higher order), inputs that do not require grad
  (only closure parameters do), and any output structure.
* ``use_reentrant=True`` (and ``None``, the default here; PyTorch warns when it is not given):
  ``fn`` runs under ``no_grad`` (none of its graph is kept), one node is recorded, and during
  backward ``fn`` is re-run under ``enable_grad`` and back-propagated through (a nested
  backward).

With the reentrant kind, Gradients are the
same as running ``fn`` directly, including those of parameters ``fn`` reads from its closure
(a module's weights). Checkpoints nest, and the random state is restored for the recomputation
so that dropout draws the same mask.

>>> import nbgrad as nb
>>> from nbgrad.utils.checkpoint import checkpoint
>>> w = nb.tensor([2.0, 3.0], requires_grad=True)
>>> x = nb.tensor([1.0, 1.0], requires_grad=True)
>>> y = checkpoint(lambda t: (t * w).tanh() * w, x)
>>> y.sum().backward()
>>> x.grad
tensor([0.2826, 0.0888])
"""

from __future__ import annotations

import contextlib
import warnings

from nbgrad.autograd.engine import backward as _backward
from nbgrad.autograd.function import Function
from nbgrad.autograd.graph import saved_tensors_hooks
from nbgrad.grad_mode import enable_grad
from nbgrad.ops._dispatch import recording
from nbgrad.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointError"]


class CheckpointError(RuntimeError):
    """The recomputation in backward did not save what the forward pass saved (``fn`` is
    not deterministic in what it computes).

    >>> import nbgrad as nb
    >>> from nbgrad.utils.checkpoint import checkpoint
    >>> calls = []
    >>> def fn(t):  # computes something else the second time
    ...     calls.append(1)
    ...     return t.exp() if len(calls) == 1 else t[:1].exp()
    >>> y = checkpoint(fn, nb.ones(2, requires_grad=True), use_reentrant=False)
    >>> y.sum().backward()
    Traceback (most recent call last):
        ...
    nbgrad.utils.checkpoint.CheckpointError: nb.utils.checkpoint: Recomputed values ...
    """


def _cpu_rng():
    """The CPU generator behind ``nb.rand``/``randn``/dropout (None if not reachable)."""
    from nbgrad.backends.cpu import arrays

    return getattr(arrays, "_rng", None)


class _Checkpoint(Function):
    """Forward without a graph; backward recomputes ``fn`` with one and differentiates it."""

    @staticmethod
    def forward(ctx, fn, preserve_rng, *args):
        ctx.fn = fn
        rng = _cpu_rng() if preserve_rng else None
        ctx.rng_state = rng.bit_generator.state if rng is not None else None
        ctx.tensor_slots = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.others = [None if isinstance(a, Tensor) else a for a in args]
        ctx.save_for_backward(*(args[i] for i in ctx.tensor_slots))
        return fn(*args)

    @staticmethod
    def backward(ctx, *grads):
        saved = ctx.saved_tensors
        args = list(ctx.others)
        for slot, t in zip(ctx.tensor_slots, saved):
            d = t.detach()
            d.requires_grad = t.requires_grad
            args[slot] = d
        rng = _cpu_rng()
        if ctx.rng_state is not None and rng is not None:
            current = rng.bit_generator.state
            rng.bit_generator.state = ctx.rng_state
        try:
            with enable_grad():
                outputs = ctx.fn(*args)
        finally:
            if ctx.rng_state is not None and rng is not None:
                rng.bit_generator.state = current
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads)
                 if isinstance(o, Tensor) and o.requires_grad and g is not None]
        if pairs:
            _backward([o for o, _ in pairs], [g for _, g in pairs])
        grads_in = [None] * len(args)
        for slot in ctx.tensor_slots:
            grads_in[slot] = args[slot].grad
        return (None, None, *grads_in)


def checkpoint(fn, *args, use_reentrant: bool | None = None, preserve_rng_state: bool = True,
               **kwargs):
    """Run ``fn(*args, **kwargs)`` without keeping its intermediate values; recompute them in
    backward. Gives the same gradients as ``fn(*args)``. ``use_reentrant=False`` picks the
    kind built on saved-tensor hooks (see the module docstring); ``early_stop`` (default True)
    stops its recomputation once every needed tensor is back.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.checkpoint import checkpoint
    >>> w = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> x = nb.tensor([3.0, 4.0])  # needs no grad: only w does
    >>> y = checkpoint(lambda t: (t * w).sin() * w, x, use_reentrant=False)
    >>> (g,) = nb.autograd.grad(y.sum(), w)
    >>> [round(v, 4) for v in g.tolist()]
    [-2.8289, -0.1746]

    Outside grad mode (``no_grad``, ``inference_mode``) it simply calls ``fn``. When no tensor
    argument requires grad the output gets no history (as PyTorch's reentrant checkpoint;
    a ``UserWarning`` says so), so pass at least one input that requires grad.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.checkpoint import checkpoint
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> checkpoint(lambda t: (t * t).sin(), x).sum().backward()
    >>> x.grad  # 2 x cos(x^2), as without the checkpoint
    tensor([ 1.0806, -2.6146])
    """
    if kwargs.pop("context_fn", None) not in (None, _noop_context_fn):
        raise NotImplementedError("checkpoint: context_fn is not supported")
    kwargs.pop("determinism_check", None)
    kwargs.pop("debug", None)
    early_stop = kwargs.pop("early_stop", True)
    if use_reentrant is False:
        return _checkpoint_without_reentrant(fn, preserve_rng_state, early_stop, args, kwargs)
    if kwargs:
        inner = fn

        def fn(*a):
            return inner(*a, **kwargs)

    if recording() and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
        warnings.warn(
            "None of the inputs have requires_grad=True. Gradients will be None",
            UserWarning, stacklevel=2,
        )
    return _Checkpoint.apply(fn, preserve_rng_state, *args)


def checkpoint_sequential(functions, segments: int, input, **kwargs):
    """Run a sequence of functions (or an ``nn.Sequential``) in ``segments`` checkpointed
    chunks; the last chunk runs normally.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.checkpoint import checkpoint_sequential
    >>> net = nb.nn.Sequential(nb.nn.Linear(2, 4), nb.nn.Tanh(), nb.nn.Linear(4, 1))
    >>> x = nb.ones(3, 2, requires_grad=True)
    >>> checkpoint_sequential(net, 2, x).sum().backward()
    >>> plain = nb.ones(3, 2, requires_grad=True)
    >>> net(plain).sum().backward()
    >>> x.grad.tolist() == plain.grad.tolist()
    True
    """
    functions = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be >= 1, got {segments}")
    size = max(1, -(-len(functions) // segments))

    def run(chunk):
        def forward(x):
            for f in chunk:
                x = f(x)
            return x

        return forward

    start = 0
    while start + size < len(functions):
        input = checkpoint(run(functions[start:start + size]), input, **kwargs)
        start += size
    return run(functions[start:])(input)


def _noop_context_fn():
    return contextlib.nullcontext(), contextlib.nullcontext()


class _StopRecomputation(Exception):
    pass


class _Holder:
    """What one non-reentrant checkpoint call keeps: how to re-run ``fn``, and (after the
    first unpack) the recomputed saved tensors, by the order they were saved."""

    def __init__(self, fn, args, kwargs, rng_state, early_stop) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.rng_state = rng_state
        self.early_stop = early_stop
        self.count = 0
        self.shapes: list = []
        self.recomputed: list | None = None

    def pack(self, t):
        self.count += 1
        self.shapes.append((tuple(t.shape), t.dtype))
        return (self, self.count - 1)

    def recompute(self) -> None:
        stored: list = []
        total = self.count

        def pack(t):
            if len(stored) >= total:
                raise CheckpointError(
                    "nb.utils.checkpoint: trying to save more tensors during recomputation "
                    f"than during the original forward pass ({total})."
                )
            stored.append(t.detach())
            if self.early_stop and len(stored) == total:
                raise _StopRecomputation
            return None

        args = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a
                for a in self.args]
        rng = _cpu_rng()
        current = None
        if self.rng_state is not None and rng is not None:
            current = rng.bit_generator.state
            rng.bit_generator.state = self.rng_state
        try:
            with enable_grad(), saved_tensors_hooks(pack, lambda x: x):
                self.fn(*args, **self.kwargs)
        except _StopRecomputation:
            pass
        finally:
            if current is not None:
                rng.bit_generator.state = current
        if len(stored) != total:
            raise CheckpointError(
                "nb.utils.checkpoint: A different number of tensors was saved during the "
                f"original forward and recomputation (forward: {total}, recomputation: "
                f"{len(stored)})."
            )
        for i, (t, (shape, dtype)) in enumerate(zip(stored, self.shapes)):
            if tuple(t.shape) != shape or t.dtype is not dtype:
                raise CheckpointError(
                    "nb.utils.checkpoint: Recomputed values for the following tensors have "
                    f"different metadata than during the forward pass: tensor {i}: saved with "
                    f"shape {shape} and dtype {dtype.name}, recomputed with shape "
                    f"{tuple(t.shape)} and dtype {t.dtype.name}"
                )
        self.recomputed = stored


def _unpack(packed):
    holder, index = packed
    if holder.recomputed is None:
        holder.recompute()
    return holder.recomputed[index]


def _checkpoint_without_reentrant(fn, preserve_rng_state, early_stop, args, kwargs):
    if not recording():
        return fn(*args, **kwargs)
    rng = _cpu_rng() if preserve_rng_state else None
    holder = _Holder(fn, args, kwargs, rng.bit_generator.state if rng is not None else None,
                     early_stop)
    with saved_tensors_hooks(holder.pack, _unpack):
        return fn(*args, **kwargs)
