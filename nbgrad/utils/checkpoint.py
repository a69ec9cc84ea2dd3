"""Gradient checkpointing: trade compute for memory by recomputing a block in backward.

``checkpoint(fn, *args)`` runs ``fn`` under ``no_grad`` (so none of its intermediate values are
kept), records a single node, and during backward re-runs ``fn`` under ``enable_grad`` on
detached copies of the inputs and back-propagates through that fresh graph. Gradients are the
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

import warnings

from nbgrad.autograd.engine import backward as _backward
from nbgrad.autograd.function import Function
from nbgrad.grad_mode import enable_grad
from nbgrad.ops._dispatch import recording
from nbgrad.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


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
    backward. Gives the same gradients as ``fn(*args)``.

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
    del use_reentrant  # one implementation (reentrant, built on autograd.Function)
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
