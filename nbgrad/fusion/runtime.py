"""Runtime: :class:`FusedOp` (a fused chain as one op of the dispatch point) and
:class:`CompiledFunction` (what ``nb.compile`` returns: traces once per signature, then replays
the plan)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from nbgrad import _tracing
from nbgrad._device import CPU
from nbgrad.fusion.codegen import _backward_kernel, _forward_kernel, _layouts, _pooled_empty
from nbgrad.fusion.planning import _BackwardPlan, _build_plan, _Chain, _Grouping
from nbgrad.fusion.tracing import _flatten, _Recorder, _signature, _unflatten, _Unsupported
from nbgrad.ops._dispatch import OpDef, apply, current_mode, new_tensor
from nbgrad.ops.elementwise import fit_gradient
from nbgrad.tensor import Tensor

__all__ = ["compile", "CompiledFunction", "FusedOp", "PARALLEL_MIN"]

PARALLEL_MIN = 1 << 17
"""Fused kernels over at least this many elements run with ``parallel=True``."""

_MAX_PLANS = 64  # signatures remembered per compiled function

# --------------------------------------------------------------------------- the plan


class _Plan:
    """What a compiled function runs for one signature: the grouped steps, each chain as one
    :class:`FusedOp`."""

    def __init__(self, grouping: _Grouping) -> None:
        self.n_slots = grouping.n_slots
        self.items = [  # (op, ins, params, out_slots)
            (FusedOp(*op) if type(op) is _Chain else op, ins, params, outs)
            for op, ins, params, outs in grouping.items
        ]
        self.out_tree = grouping.out_tree
        self.out_leaves = grouping.out_leaves  # ("s", slot) | ("c", value)
        self.externals = grouping.externals  # (slot, tensor, guard)
        self.n_fused = grouping.n_fused
        self.n_eager = grouping.n_eager

    def guards_hold(self) -> bool:
        for _, t, guard in self.externals:
            if (t._data.shape, t._data.dtype, t.requires_grad) != guard:
                return False
        return True

    def run(self, tensors: list):
        env = [None] * self.n_slots
        env[: len(tensors)] = tensors
        for slot, t, _ in self.externals:
            env[slot] = t
        for op, ins, params, out_slots in self.items:
            res = apply(op, tuple(env[v] if k == "s" else v for k, v in ins), params)
            if len(out_slots) == 1:
                env[out_slots[0]] = res
            else:
                for s, r in zip(out_slots, res):
                    env[s] = r
        it = iter([env[v] if k == "s" else v for k, v in self.out_leaves])
        return _unflatten(self.out_tree, it)

    def describe(self) -> str:
        return f"{self.n_fused} fused kernel(s), {self.n_eager} eager op(s)"


class _Eager:
    """A signature that runs ``fn`` eagerly, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def describe(self) -> str:
        return f"eager ({self.reason})"


# --------------------------------------------------------------------------- the fused op


class FusedOp(OpDef):
    """A chain of elementwise table ops run as one generated kernel (forward and backward).

    ``steps`` are ``(op, operands, compute_dtype, out_dtype)`` where an operand is ``("i", k)``
    (input tensor k), ``("c", k)`` (Python constant k) or ``("v", m)`` (the value of step m).

    >>> import nbgrad as nb
    >>> f = nb.compile(lambda x: (x * 2 + 1).relu())
    >>> x = nb.ones(3, requires_grad=True)
    >>> _ = f(x)
    >>> f(x).grad_fn.op
    <fused Mul+Add+Relu over (3,)>
    """

    name = "Fused"

    def __init__(self, shape, inputs, consts, steps, outputs, diff_out) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.size = math.prod(shape)
        self.inputs = inputs  # (shape, dtype) per input tensor
        self.consts = consts
        self.steps = steps
        self.outputs = outputs
        self.out_dtypes = tuple(steps[m][3] for m in outputs)
        self.diff_out = diff_out
        self.n_outputs = len(outputs)
        self.differentiable = any(diff_out)
        self.parallel = self.size >= PARALLEL_MIN
        self._fwd: dict = {}
        self._bwd_plans: dict = {}
        self._bwd: dict = {}

    def output_differentiable(self, nr: int) -> bool:
        """Whether output ``nr`` takes part in autograd (as it would in eager code)."""
        return self.diff_out[nr]

    # ------------------------------------------------------------------ forward
    def forward(self, bk, params, *arrays):
        layouts, flat, extra = _layouts(arrays, self.shape)
        kern = self._fwd.get(layouts)
        if kern is None:
            kern = self._fwd[layouts] = _forward_kernel(self, layouts)
        outs = [_pooled_empty(self.shape, dt) for dt in self.out_dtypes]
        kern(*flat, *self.consts, *extra, *[o.reshape(-1) for o in outs])
        return outs[0] if self.n_outputs == 1 else tuple(outs)

    # ------------------------------------------------------------------ autograd
    def save(self, needs):
        plan = self._backward_plan(tuple(needs), (True,) * self.n_outputs)
        if not any(plan.reads):
            return None, False
        return plan.reads, False

    def backward(self, node, *grads):
        needs = tuple(e is not None for e in node.edges)
        present = tuple(g is not None for g in grads)
        plan = self._backward_plan(needs, present)
        saved = [node.saved_input(i) if r else None for i, r in enumerate(plan.reads)]
        # create_graph=True (grad mode on during backward): rebuild the chain with nbgrad ops so
        # the gradient is differentiable again. Otherwise: the fused backward kernel.
        if current_mode().grad or not plan.fusable:
            return self._backward_eager(plan, saved, grads)
        return self._backward_fused(plan, saved, grads)

    def _backward_plan(self, needs, present) -> _BackwardPlan:
        key = (needs, present)
        plan = self._bwd_plans.get(key)
        if plan is None:
            plan = self._bwd_plans[key] = _BackwardPlan(self, needs, present)
        return plan

    def _backward_fused(self, plan, saved, grads):
        if not plan.outputs:
            return (None,) * len(self.inputs)
        arrays = [t._data for t, r in zip(saved, plan.reads) if r]
        garrays = [g._data for g in grads if g is not None]
        layouts, flat, extra = _layouts(arrays + garrays, self.shape)
        key = (plan.key, layouts)
        kern = self._bwd.get(key)
        if kern is None:
            kern = self._bwd[key] = _backward_kernel(self, plan, layouts)
        results = [_pooled_empty(self.shape, self.inputs[i][1]) for i in plan.outputs]
        kern(*flat, *plan.consts, *extra, *[r.reshape(-1) for r in results])
        out = [None] * len(self.inputs)
        for i, arr in zip(plan.outputs, results):
            out[i] = fit_gradient(new_tensor(arr), *self.inputs[i])
        return tuple(out)

    def _backward_eager(self, plan, saved, grads):
        """The same reverse sweep with nbgrad ops (differentiable; used for create_graph)."""
        vals: dict = {}

        def value(operand):
            kind, k = operand
            if kind == "c":
                return self.consts[k]
            if kind == "i":
                return saved[k]
            if k not in vals:
                op, operands, _, _ = self.steps[k]
                vals[k] = apply(op, tuple(value(o) for o in operands))
            return vals[k]

        gv: dict = {}
        for nr, m in enumerate(self.outputs):
            if grads[nr] is not None:
                gv[("v", m)] = grads[nr]
        for m, p in plan.contribs:
            op, operands, _, _ = self.steps[m]
            g = gv.get(("v", m))
            if g is None:
                continue
            reads = plan.step_reads[(m, p)]
            args = tuple(value(o) if (o[0] == "c" or i in reads) else None
                         for i, o in enumerate(operands))
            c = op.input_grad(p, g, args, value(("v", m)) if "out" in reads else None)
            if c is None:
                continue
            target = operands[p]
            shape, dtype = (self.inputs[target[1]] if target[0] == "i"
                            else (self.shape, self.steps[target[1]][3]))
            c = fit_gradient(c, shape, dtype)
            gv[target] = c if target not in gv else gv[target] + c
        return tuple(gv.get(("i", i)) if needs else None
                     for i, needs in enumerate(plan.needs))

    def __repr__(self) -> str:
        names = "+".join(op.name for op, *_ in self.steps)
        return f"<fused {names} over {self.shape}>"


# --------------------------------------------------------------------------- the decorator


class CompiledFunction:
    """A function compiled by :func:`compile`; call it like the original.

    >>> import nbgrad as nb
    >>> f = nb.compile(lambda x: (x * 2 + 1).relu())
    >>> _ = f(nb.ones(3))
    >>> print(f.explain())
    ((3,)) grad: 1 fused kernel(s), 0 eager op(s)
    """

    def __init__(self, fn: Callable) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._plans: dict = {}

    def __call__(self, *args, **kwargs):
        leaves: list = []
        tree = _flatten((args, kwargs), leaves)
        key = (tree, _signature(leaves), current_mode())
        plan = self._plans.get(key)
        if plan is None:
            return self._trace(key, leaves, args, kwargs)
        if type(plan) is _Eager:
            return self._fn(*args, **kwargs)
        if plan.externals and not plan.guards_hold():
            return self._trace(key, leaves, args, kwargs)
        return plan.run([x for x in leaves if isinstance(x, Tensor)])

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def _trace(self, key, leaves, args, kwargs):
        if _tracing.current() is not None:  # inside another trace: let that one see the ops
            return self._fn(*args, **kwargs)
        if any(isinstance(x, Tensor) and x._device is not CPU for x in leaves):
            self._remember(key, _Eager("tensors off the CPU"))
            return self._fn(*args, **kwargs)
        rec = _Recorder(mode=key[2])
        result = rec.run(self._fn, *args, **kwargs)
        try:
            plan = _Plan(_build_plan(rec, leaves, result))
        except _Unsupported as e:
            plan = _Eager(str(e))
        self._remember(key, plan)
        return result

    def _remember(self, key, plan) -> None:
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[key] = plan

    def explain(self) -> str:
        """One line per signature traced so far: the fused kernels it runs, or why it is eager."""
        lines = []
        for (_, sig, mode), plan in self._plans.items():
            shapes = ", ".join(f"{tuple(s[0])}" if len(s) == 5 else repr(s[1]) for s in sig)
            name = "inference_mode" if mode.inference else ("grad" if mode.grad else "no_grad")
            lines.append(f"({shapes}) {name}: {plan.describe()}")
        return "\n".join(lines) or "not called yet"


def compile(fn: Callable | None = None) -> Any:  # noqa: A001 - the public name, as torch.compile
    """Compile ``fn`` (a function of tensors): chains of elementwise ops become one fused Numba
    kernel for the forward and one for the backward. Use as ``@nb.compile`` or ``nb.compile(fn)``.

    Values and gradients are those of the eager code; grad modes apply as they do to eager code.

    >>> import nbgrad as nb
    >>> @nb.compile
    ... def f(x, y):
    ...     return ((x * y + 1.0).tanh() * 2.0 - y).relu()
    >>> x = nb.ones(4, requires_grad=True)
    >>> y = nb.full((4,), 0.5)
    >>> _ = f(x, y)            # first call: traced (eager result)
    >>> out = f(x, y)          # later calls: one fused kernel
    >>> out.grad_fn.name()
    'FusedBackward0'
    """
    if fn is None:
        return compile
    if not callable(fn):
        raise TypeError(f"nb.compile() expects a function, got {type(fn).__name__}")
    return CompiledFunction(fn)
