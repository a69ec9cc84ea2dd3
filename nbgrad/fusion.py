"""Fusion: ``nb.compile(fn)`` turns chains of elementwise ops into one generated Numba kernel.

How it works
------------
1. **Trace.** The first call with a new *signature* (the shapes, dtypes, ``requires_grad`` and
   aliasing of the tensor arguments, the values of the other arguments, and the grad mode) runs
   ``fn`` eagerly while a profile hook records every call of the one dispatch point
   (``ops._dispatch.apply``) made directly by ``fn``: which op, on which values, with which
   parameters. That first call returns the eager results.
2. **Plan.** Elementwise ops of the table (``ops/elementwise.py``) whose results have one common
   shape are grouped into connected chains; every other op (matmul, reductions, views, ...) stays an
   eager step, replayed through ``apply`` exactly as recorded. A chain of two or more ops becomes a
   :class:`FusedOp`.
3. **Kernels.** A fused op's forward is ONE generated ``@njit`` loop that calls the table rows'
   scalar functions (compiled by Numba and inlined into the loop) with the same dtype casts as the
   eager ufuncs, so values are bit-for-bit those of the eager path; ``parallel=True`` above
   :data:`PARALLEL_MIN` elements. The backward is a SECOND generated kernel: the gradient rules of
   the table rows (written with nbgrad ops) are traced once on one-element tensors into scalar
   expressions, and the kernel recomputes the forward values it needs from the saved *inputs* (no
   intermediate is kept) and runs the chain's reverse sweep per element.
4. **Run.** Later calls with the same signature replay the plan: each fused op goes through
   ``apply`` like any op, so grad modes behave exactly as in eager code (``no_grad`` records
   nothing, ``inference_mode`` makes inference tensors) and a recorded fused op is ONE graph node,
   ``FusedBackward0``. With ``create_graph=True`` its backward falls back to eager recomputation
   with nbgrad ops (differentiable again); otherwise it runs the fused backward kernel.

Generated kernels are written to ``$NBGRAD_FUSION_DIR`` (default ``$NUMBA_CACHE_DIR/nbgrad_fused``
or ``~/.cache/nbgrad/fused``), named by a hash of their source, so Numba's on-disk cache serves
them to later processes.

What makes a function run eagerly instead (decided once per signature; see
:meth:`CompiledFunction.explain`): in-place ops, reading tensor values in Python (``item()``,
``tolist()``, ``numpy()``), tensors created inside the function by factories or ``detach()``,
changing the grad mode inside it, running backward or registering hooks inside it, op parameters
holding arrays (indexing with a tensor), tensors off the CPU. Python control flow is frozen at
trace time, as with ``torch.jit.trace``. Tensors reached through closures or globals are bound by
identity (guarded on shape, dtype and ``requires_grad``): pass tensors that are rebound between
calls as arguments.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from nbgrad._device import CPU
from nbgrad._graph import VersionCounter
from nbgrad.autograd import engine as _engine
from nbgrad.grad_mode import is_grad_enabled, is_inference_mode_enabled, no_grad
from nbgrad.ops import _dispatch
from nbgrad.ops import elementwise as _ew
from nbgrad.ops._dispatch import OpDef, apply, new_tensor
from nbgrad.tensor import Tensor, _make

__all__ = ["compile", "CompiledFunction", "FusedOp", "PARALLEL_MIN"]

PARALLEL_MIN = 1 << 17
"""Fused kernels over at least this many elements run with ``parallel=True``."""

_CHUNK = 4096  # elements per work item of a fused loop
_MAX_PLANS = 64  # signatures remembered per compiled function
_SCALARS = (bool, int, float)
_DTYPES = {np.dtype(t): f"_{np.dtype(t).name}" for t in
           (np.float32, np.float64, np.int32, np.int64, np.bool_)}
_INT64 = (-(1 << 63), (1 << 63) - 1)

# --------------------------------------------------------------------------- recording ops

_APPLY = _dispatch.apply.__code__
_OPAQUE = {
    _dispatch.apply_inplace.__code__: "an in-place op",
    Tensor._host.__code__: "reads tensor values in Python (item/tolist)",
    Tensor.numpy.__code__: "reads tensor values in Python (numpy)",
    _engine.backward.__code__: "runs backward inside the function",
    _engine.grad.__code__: "runs backward inside the function",
    Tensor.register_hook.__code__: "registers a hook",
    Tensor.retain_grad.__code__: "calls retain_grad",
}
_MAKERS = {_dispatch.new_tensor.__code__, _make.__code__}


def _mode() -> tuple[bool, bool]:
    """The grad mode as ``(grad, inference)``, read through the public functions (the dispatch
    point alone decides what to record; a plan is only keyed on the mode)."""
    return is_grad_enabled(), is_inference_mode_enabled()


class _Recorder:
    """A ``sys.setprofile`` hook recording the ``apply`` calls made at depth 0 (not from inside
    another op) and the tensors created outside ops."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: list = []
        self.events: list = []  # (op, inputs, params, mode, result)
        self.made: dict = {}  # id -> tensor created outside apply while recording
        self.failed: str | None = None
        self.mode = _mode()

    def __call__(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code is _APPLY:
                if self.depth == 0:
                    loc = frame.f_locals
                    self.pending.append((loc["op"], loc["inputs"], loc["params"], _mode()))
                self.depth += 1
            elif self.depth == 0 and self.failed is None and code in _OPAQUE:
                self.failed = _OPAQUE[code]
        elif event == "return":
            code = frame.f_code
            if code is _APPLY:
                self.depth -= 1
                if self.depth == 0:
                    self.events.append((*self.pending.pop(), arg))
            elif self.depth == 0 and code in _MAKERS and isinstance(arg, Tensor):
                self.made[id(arg)] = arg

    def run(self, fn, *args, **kwargs):
        """Call ``fn`` with recording on (in this thread only)."""
        sys.setprofile(self)
        try:
            return fn(*args, **kwargs)
        finally:
            sys.setprofile(None)


class _Unsupported(Exception):
    """Raised while planning: the traced function must run eagerly (the message says why)."""


def _has_array(obj) -> bool:
    if isinstance(obj, (np.ndarray, Tensor)):
        return True
    if isinstance(obj, (tuple, list)):
        return any(_has_array(o) for o in obj)
    if isinstance(obj, dict):
        return any(_has_array(o) for o in obj.values())
    return False


def _is_scalar_const(x) -> bool:
    return type(x) in _SCALARS and (type(x) is not int or _INT64[0] <= x <= _INT64[1])


def _fusable_op(op) -> bool:
    """Table rows with the stock forward (subclasses with their own checks stay eager)."""
    cls = type(op)
    return (isinstance(op, _ew.Elementwise) and cls.forward is _ew.Elementwise.forward
            and cls._prepare is _ew.Elementwise._prepare and op.n_outputs == 1)


# --------------------------------------------------------------------------- flattening


def _flatten(obj, leaves: list):
    """Append the leaves of nested tuples/lists/dicts to ``leaves``; return the structure."""
    t = type(obj)
    if t is tuple or t is list:
        return (t, tuple(_flatten(o, leaves) for o in obj))
    if t is dict:
        return (dict, tuple(obj), tuple(_flatten(o, leaves) for o in obj.values()))
    leaves.append(obj)
    return None


def _unflatten(tree, it):
    if tree is None:
        return next(it)
    if tree[0] is dict:
        return {k: _unflatten(sub, it) for k, sub in zip(tree[1], tree[2])}
    return tree[0](_unflatten(sub, it) for sub in tree[1])


def _signature(leaves: list):
    """The cache key of one call (None: an argument type this cannot key)."""
    items = []
    seen: dict = {}
    for i, x in enumerate(leaves):
        if isinstance(x, Tensor):
            first = seen.setdefault(id(x), i)
            d = x._data
            items.append((d.shape, d.dtype, x.requires_grad, x._device, first))
        elif type(x) in _SCALARS or x is None or type(x) is str:
            items.append((type(x), x))
        else:
            items.append(("obj", id(x)))
    return tuple(items)


# --------------------------------------------------------------------------- the plan


class _Step:
    """One recorded op: ``ins`` are refs (``("s", slot)`` or ``("c", python_value)``)."""

    __slots__ = ("op", "ins", "params", "outs", "fused", "shape", "dtypes")

    def __init__(self, op, ins, params, outs) -> None:
        self.op, self.ins, self.params, self.outs = op, ins, params, outs
        self.fused = False
        self.shape = None
        self.dtypes = None  # (compute, out) for elementwise steps


class _Plan:
    """What a compiled function runs for one signature."""

    def __init__(self, n_slots, items, out_tree, out_leaves, externals, n_fused, n_eager):
        self.n_slots = n_slots
        self.items = items  # (op, ins, params, out_slots); fused chains are FusedOps
        self.out_tree = out_tree
        self.out_leaves = out_leaves  # ("s", slot) | ("c", value)
        self.externals = externals  # (slot, tensor, guard)
        self.n_fused = n_fused
        self.n_eager = n_eager

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


def _build_plan(rec: _Recorder, leaves: list, result) -> _Plan | _Eager:
    if rec.failed:
        raise _Unsupported(rec.failed)
    value_of: dict = {}
    keep = []  # tensors kept alive so their ids stay unique while planning
    n_args = 0
    for x in leaves:
        if isinstance(x, Tensor):
            value_of.setdefault(id(x), n_args)
            n_args += 1
    slots = [n_args]
    info: dict = {}  # slot -> (shape, dtype, requires_grad, device)
    for i, x in enumerate(t for t in leaves if isinstance(t, Tensor)):
        info[i] = (x._data.shape, x._data.dtype, x.requires_grad, x._device)
    externals = []

    def new_slot(t: Tensor) -> int:
        s = slots[0]
        slots[0] += 1
        value_of[id(t)] = s
        keep.append(t)
        info[s] = (t._data.shape, t._data.dtype, t.requires_grad, t._device)
        return s

    def ref(x):
        if isinstance(x, Tensor):
            s = value_of.get(id(x))
            if s is not None:
                return ("s", s)
            if id(x) in rec.made:
                raise _Unsupported("uses a tensor created inside the function (factory or detach)")
            s = new_slot(x)
            externals.append((s, x, (x._data.shape, x._data.dtype, x.requires_grad)))
            return ("s", s)
        if x is None or type(x) in _SCALARS or type(x) is str:
            return ("c", x)
        raise _Unsupported(f"an op received a {type(x).__name__} argument")

    steps: list[_Step] = []
    for op, inputs, params, mode, res in rec.events:
        if res is None:
            raise _Unsupported(f"{op.name} raised while tracing")
        if mode != rec.mode:
            raise _Unsupported("the grad mode changes inside the function")
        if _has_array(params):
            raise _Unsupported(f"{op.name} has array-valued parameters (tensor indexing?)")
        ins = tuple(ref(x) for x in inputs)
        outs = res if isinstance(res, tuple) else (res,)
        step = _Step(op, ins, params, tuple(new_slot(t) for t in outs))
        steps.append(step)
    out_leaves: list = []
    out_tree = _flatten(result, out_leaves)
    out_refs = tuple(ref(x) for x in out_leaves)
    for _, t, _ in externals:
        if t._device is not CPU:
            raise _Unsupported(f"a tensor on {t._device}")
    return _group(steps, info, n_args, slots[0], out_tree, out_refs, externals)


def _mark_fusable(step: _Step, info: dict) -> None:
    if not _fusable_op(step.op):
        return
    arrays = []
    for k, v in step.ins:
        if k == "c":
            if not _is_scalar_const(v):
                return
            arrays.append(v)
        else:
            shape, dt, _, dev = info[v]
            if dev is not CPU or dt not in _DTYPES:
                return
            arrays.append(_ShapeOnly(shape, dt))
    shape, dt, _, dev = info[step.outs[0]]
    if dev is not CPU or dt not in _DTYPES or not shape or 0 in shape:
        return
    try:
        compute, out = step.op.dtypes(arrays)
    except Exception:  # noqa: BLE001 - an op refusing these dtypes stays eager
        return
    if out != dt or compute not in _DTYPES:
        return
    step.fused, step.shape, step.dtypes = True, shape, (compute, out)


class _ShapeOnly:
    """Stands for an array in ``Elementwise.dtypes`` (which reads only dtype and ndim)."""

    __slots__ = ("shape", "dtype", "ndim")

    def __init__(self, shape, dtype) -> None:
        self.shape, self.dtype, self.ndim = shape, dtype, len(shape)


def _group(steps, info, n_args, n_slots, out_tree, out_refs, externals):
    """Partition the steps into fused chains and eager ops; return the plan."""
    for s in steps:
        _mark_fusable(s, info)
    producer: dict = {}  # slot -> step index
    for k, s in enumerate(steps):
        for o in s.outs:
            producer[o] = k
    parent: dict = {}  # union-find over group ids (= first step index)
    group_of: dict = {}  # step index -> group id

    def find(g):
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    members: dict = {}  # root -> [step indices]

    def deps_of_slot(slot, memo) -> frozenset:
        k = producer.get(slot)
        if k is None:
            return frozenset()
        if k in group_of:
            return deps_of_group(find(group_of[k]), memo) | {find(group_of[k])}
        key = ("e", k)
        if key not in memo:
            memo[key] = frozenset().union(*(deps_of_slot(v, memo) for c, v in steps[k].ins
                                            if c == "s"))
        return memo[key]

    def deps_of_group(g, memo) -> frozenset:
        key = ("g", g)
        if key not in memo:
            memo[key] = frozenset()  # guards against cycles (none by construction)
            inner = set()
            for k in members[g]:
                inner.update(steps[k].outs)
            out = set()
            for k in members[g]:
                for c, v in steps[k].ins:
                    if c == "s" and v not in inner:
                        out |= deps_of_slot(v, memo)
                        pk = producer.get(v)
                        if pk is not None and pk in group_of:
                            out.add(find(group_of[pk]))
            memo[key] = frozenset(out)
        return memo[key]

    for k, s in enumerate(steps):
        if not s.fused:
            continue
        memo: dict = {}
        cands = set()
        others = set()
        for c, v in s.ins:
            if c != "s":
                continue
            pk = producer.get(v)
            if pk is not None and pk in group_of and steps[pk].shape == s.shape:
                cands.add(find(group_of[pk]))
            else:
                others |= deps_of_slot(v, memo)
                if pk is not None and pk in group_of:
                    others.add(find(group_of[pk]))
        ok = bool(cands) and not (others & cands) and all(
            not (deps_of_group(g, memo) & cands) for g in cands
        )
        parent[k] = k
        if ok:
            root = min(cands)
            for g in cands:
                if g != root:
                    parent[g] = root
                    members[root].extend(members.pop(g))
            group_of[k] = root
            members[root].append(k)
        else:
            group_of[k] = k
            members[k] = [k]

    # Items: eager steps and groups; a group of one op runs as that op.
    used_outside: dict = {}
    for k, s in enumerate(steps):
        for c, v in s.ins:
            if c == "s":
                used_outside.setdefault(v, set()).add(find(group_of[k]) if k in group_of
                                                      else ("e", k))
    final = {v for c, v in out_refs if c == "s"}
    items = []
    n_fused = n_eager = 0
    # topological order of items: each item after the producers of its inputs
    item_of_step = {}
    for g, ks in members.items():
        for k in ks:
            item_of_step[k] = ("g", g)
    for k in range(len(steps)):
        item_of_step.setdefault(k, ("e", k))
    item_deps: dict = {}
    for k, s in enumerate(steps):
        it = item_of_step[k]
        for c, v in s.ins:
            pk = producer.get(v) if c == "s" else None
            if pk is not None and item_of_step[pk] != it:
                item_deps.setdefault(it, set()).add(item_of_step[pk])
    first = {}
    for k in range(len(steps)):
        first.setdefault(item_of_step[k], k)
    done: set = set()
    pending = sorted(first, key=first.get)
    ordered = []
    while pending:
        for it in pending:
            if item_deps.get(it, set()) <= done:
                ordered.append(it)
                done.add(it)
                pending.remove(it)
                break
        else:  # pragma: no cover - the grouping rule forbids cycles
            raise _Unsupported("internal: cyclic fusion groups")
    for kind, key in ordered:
        ks = [key] if kind == "e" else sorted(members[key])
        if kind == "e" or len(ks) == 1:
            s = steps[ks[0]]
            items.append((s.op, s.ins, s.params, s.outs))
            n_eager += 1
            continue
        items.append(_make_fused(steps, ks, key, used_outside, final, info))
        n_fused += 1
    if n_fused == 0:
        return _Eager("no chain of two or more elementwise ops to fuse")
    return _Plan(n_slots, items, out_tree, out_refs, externals, n_fused, n_eager)


def _make_fused(steps, ks, gid, used_outside, final, info):
    """Build the FusedOp for the steps ``ks`` (one group) and its plan item."""
    inner = {}
    for m, k in enumerate(ks):
        inner[steps[k].outs[0]] = m
    in_slots: list = []
    consts: list = []
    fsteps = []
    for k in ks:
        s = steps[k]
        operands = []
        for c, v in s.ins:
            if c == "c":
                operands.append(("c", len(consts)))
                consts.append(v)
            elif v in inner:
                operands.append(("v", inner[v]))
            else:
                if v not in in_slots:
                    in_slots.append(v)
                operands.append(("i", in_slots.index(v)))
        fsteps.append((s.op, tuple(operands), s.dtypes[0], s.dtypes[1]))
    outs = []
    for m, k in enumerate(ks):
        slot = steps[k].outs[0]
        users = used_outside.get(slot, set())
        if slot in final or any(u != gid for u in users):
            outs.append(m)
    out_slots = tuple(steps[ks[m]].outs[0] for m in outs)
    fop = FusedOp(
        shape=steps[ks[0]].shape,
        inputs=tuple((info[v][0], info[v][1]) for v in in_slots),
        consts=tuple(consts),
        steps=tuple(fsteps),
        outputs=tuple(outs),
        diff_out=tuple(bool(info[s][2]) for s in out_slots),
    )
    return (fop, tuple(("s", v) for v in in_slots), None, out_slots)


# --------------------------------------------------------------------------- the fused op


class FusedOp(OpDef):
    """A chain of elementwise table ops run as one generated kernel (forward and backward).

    ``steps`` are ``(op, operands, compute_dtype, out_dtype)`` where an operand is ``("i", k)``
    (input tensor k), ``("c", k)`` (Python constant k) or ``("v", m)`` (the value of step m).
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
        if is_grad_enabled() or not plan.fusable:
            return self._backward_eager(plan, saved, grads)
        return self._backward_fused(plan, saved, grads)

    def _backward_plan(self, needs, present) -> _BackwardPlan:
        key = (needs, present)
        plan = self._bwd_plans.get(key)
        if plan is None:
            plan = _BackwardPlan(self, needs, present)
            if plan.cacheable:
                self._bwd_plans[key] = plan
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
            g = new_tensor(arr)
            shape = self.inputs[i][0]
            if tuple(shape) != self.shape:
                g = _ew.sum_to(g, tuple(shape))
            out[i] = g
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
            args = [value(o) if (o[0] == "c" or reads is None or i in reads) else None
                    for i, o in enumerate(operands)]
            out = value(("v", m)) if reads is None or "out" in reads else None
            c = op.grads[p](g, *args, out)
            if c is None:
                continue
            target = operands[p]
            shape, dtype = (self.inputs[target[1]] if target[0] == "i"
                            else (self.shape, self.steps[target[1]][3]))
            if tuple(c.shape) != tuple(shape):
                c = _ew.sum_to(c, tuple(shape))
            if c._data.dtype != dtype:
                from nbgrad._dtype import from_numpy_dtype

                c = c.to(from_numpy_dtype(dtype))
            gv[target] = c if target not in gv else gv[target] + c
        return tuple(gv.get(("i", i)) if needs else None
                     for i, needs in enumerate(plan.needs))

    def __repr__(self) -> str:
        names = "+".join(op.name for op, *_ in self.steps)
        return f"<fused {names} over {self.shape}>"


# --------------------------------------------------------------------------- backward analysis


class _BackwardPlan:
    """The per-element gradient contributions a fused op's backward computes; what it reads."""

    def __init__(self, fop: FusedOp, needs: tuple, present: tuple) -> None:
        self.needs = needs
        self.key = (needs, present)
        steps = fop.steps
        n_in = len(fop.inputs)
        is_float_in = [fop.inputs[i][1].kind == "f" for i in range(n_in)]

        def diff_step(m) -> bool:
            op, _, _, out = steps[m]
            return op.differentiable and out.kind == "f"

        # reach: the value depends differentiably on an input that needs a gradient
        reach_v = [False] * len(steps)

        def reaches(o) -> bool:
            kind, k = o
            if kind == "i":
                return needs[k] and is_float_in[k]
            return kind == "v" and reach_v[k]

        for m, (_, operands, _, _) in enumerate(steps):
            reach_v[m] = diff_step(m) and any(reaches(o) for o in operands)
        flow = [False] * len(steps)
        for nr, m in enumerate(fop.outputs):
            if present[nr]:
                flow[m] = True
        contribs = []
        self.cacheable = True
        self.step_reads: dict = {}
        self.graphs: dict = {}
        fusable = True
        for m in range(len(steps) - 1, -1, -1):
            if not (flow[m] and reach_v[m]):
                continue
            op, operands, _, out_dt = steps[m]
            for p, o in enumerate(operands):
                if not reaches(o):
                    continue
                graph = _grad_graph(op, p, _grad_config(fop, m))
                if graph is _BUSY:
                    self.cacheable = False
                    graph = _FAIL
                if graph is _FAIL:
                    fusable = False
                    self.step_reads[(m, p)] = None  # unknown: read everything
                elif graph is None:
                    continue  # this rule gives no gradient
                else:
                    self.step_reads[(m, p)] = graph.reads
                    self.graphs[(m, p)] = graph
                contribs.append((m, p))
                if o[0] == "v":
                    flow[o[1]] = True
        self.contribs = contribs
        self.fusable = fusable
        # forward values needed, and inputs read
        need_v: set = set()
        reads = [False] * n_in

        def need(o):
            kind, k = o
            if kind == "i":
                reads[k] = True
            elif kind == "v" and k not in need_v:
                need_v.add(k)
                for sub in steps[k][1]:
                    need(sub)

        for m, p in contribs:
            r = self.step_reads[(m, p)]
            for i, o in enumerate(steps[m][1]):
                if r is None or i in r:
                    need(o)
            if r is None or "out" in r:
                need(("v", m))
        self.need_v = sorted(need_v)
        self.reads = tuple(reads)
        got = {o[1] for m, p in contribs for o in [steps[m][1][p]] if o[0] == "i"}
        self.outputs = tuple(i for i in range(n_in) if i in got and needs[i])
        self.present = present
        consts = list(fop.consts)
        self.const_index: dict = {}
        for key, graph in self.graphs.items():
            for j, c in enumerate(graph.consts):
                self.const_index[(key, j)] = len(consts)
                consts.append(c)
        self.consts = tuple(consts)


def _grad_config(fop: FusedOp, m: int) -> tuple:
    """What tracing step ``m``'s gradient rules depends on: operand dtypes, 0-d-ness, constants."""
    _, operands, _, out_dt = fop.steps[m]
    cfg = []
    for kind, k in operands:
        if kind == "c":
            cfg.append(("c", type(fop.consts[k]), fop.consts[k]))
        elif kind == "i":
            shape, dt = fop.inputs[k]
            cfg.append(("t", dt, len(shape) == 0))
        else:
            cfg.append(("t", fop.steps[k][3], False))
    return (tuple(cfg), out_dt)


class _GradGraph:
    """A gradient rule traced into elementwise steps over ``g``, the operands and ``out``."""

    __slots__ = ("steps", "result", "result_dtype", "reads", "consts")

    def __init__(self, steps, result, result_dtype, reads, consts) -> None:
        self.steps = steps  # (op, refs, compute, out) ; refs: ("g",) ("out",) ("a", i) ("m", j)
        self.result = result  # a ref, or ("zero",)
        self.result_dtype = result_dtype
        self.reads = reads  # operand positions and/or "out"
        self.consts = consts


_FAIL = object()
_BUSY = object()  # another trace is recording in this thread: try again later, do not cache
_GRAPHS: dict = {}
_graphs_lock = threading.Lock()


def _grad_graph(op, p: int, cfg: tuple):
    """Trace ``op.grads[p]`` on one-element tensors (cached); ``None`` if it gives no gradient,
    ``_FAIL`` if it uses anything but fusable elementwise ops."""
    key = (op, p, cfg)
    found = _GRAPHS.get(key)
    if found is None and sys.getprofile() is not None:
        return _BUSY
    if found is None:
        with _graphs_lock:
            found = _GRAPHS.get(key)
            if found is None:
                try:
                    found = _trace_grad(op, p, cfg)
                except Exception:  # noqa: BLE001 - a rule that cannot be traced runs eagerly
                    found = _FAIL
                _GRAPHS[key] = found
    return found


def _probe(dt: np.dtype, zero_d: bool) -> Tensor:
    value = True if dt.kind == "b" else (1 if dt.kind in "iu" else 0.5)
    return _make(np.full(() if zero_d else (1,), value, dt), VersionCounter())


def _trace_grad(op, p, cfg):
    operand_cfg, out_dt = cfg
    g = _probe(out_dt, False)
    out = _probe(out_dt, False)
    names = {id(g): ("g",), id(out): ("out",)}
    args = []
    for i, c in enumerate(operand_cfg):
        if c[0] == "c":
            args.append(c[2])
        else:
            t = _probe(c[1], c[2])
            names[id(t)] = ("a", i)
            args.append(t)
    rec = _Recorder()
    with no_grad():
        res = rec.run(op.grads[p], g, *args, out)
    if rec.failed:
        return _FAIL
    steps = []
    consts: list = []
    reads: set = set()
    for j, (op2, inputs, params, _mode, result) in enumerate(rec.events):
        if not _fusable_op(op2) or params is not None or not isinstance(result, Tensor):
            return _FAIL
        refs = []
        arrays = []
        for x in inputs:
            if isinstance(x, Tensor):
                r = names.get(id(x))
                if r is None:
                    return _FAIL
                refs.append(r)
                arrays.append(x._data)
            elif _is_scalar_const(x):
                refs.append(("k", len(consts)))
                consts.append(x)
                arrays.append(x)
            else:
                return _FAIL
        for r in refs:
            if r[0] == "a":
                reads.add(r[1])
            elif r[0] == "out":
                reads.add("out")
        compute, odt = op2.dtypes(arrays)
        if compute not in _DTYPES or odt not in _DTYPES:
            return _FAIL
        names[id(result)] = ("m", j)
        steps.append((op2, tuple(refs), compute, odt))
    if res is None:
        return None
    if not isinstance(res, Tensor):
        return _FAIL
    r = names.get(id(res))
    if r is None:
        if id(res) in rec.made and res._data.dtype in _DTYPES and not res._data.any():
            return _GradGraph((), ("zero",), res._data.dtype, frozenset(), ())
        return _FAIL
    if r[0] == "a":
        reads.add(r[1])
    elif r[0] == "out":
        reads.add("out")
    return _GradGraph(tuple(steps), r, res._data.dtype, frozenset(reads), tuple(consts))


# --------------------------------------------------------------------------- output buffers


def _pooled_empty(shape: tuple, dtype) -> np.ndarray:
    """An output array from the CPU backend's buffer pool (imported lazily: it loads Numba)."""
    from nbgrad.backends.cpu.pool import POOL

    return POOL.empty(shape, dtype)


# --------------------------------------------------------------------------- layouts


def _layouts(arrays, shape):
    """How a kernel reads each array: ``F`` (flat, full shape), ``S`` (one element) or ``G``
    (a contiguous block of the output's dims: element ``(i // inner) % block``)."""
    codes = []
    flat = []
    extra = []
    nd = len(shape)
    for a in arrays:
        if a.shape == shape and a.flags.c_contiguous:
            codes.append("F")
            flat.append(a.reshape(-1))
            continue
        if a.size == 1:
            codes.append("S")
            flat.append(a.reshape(-1))
            continue
        pad = nd - a.ndim
        sel = []
        eff = [1] * nd
        for d in range(pad, nd):
            s, st = a.shape[d - pad], a.strides[d - pad]
            if s == 1 or st == 0:
                sel.append(slice(0, 1))
            else:
                sel.append(slice(None))
                eff[d] = s
        c = a[tuple(sel)]
        live = [d for d in range(nd) if eff[d] != 1]
        if not live:  # every dim broadcast (e.g. the gradient of a sum): one element
            codes.append("S")
            flat.append(c.reshape(-1))
            continue
        lo, hi = live[0], live[-1]
        if c.flags.c_contiguous and all(eff[d] != 1 for d in range(lo, hi + 1)):
            block = math.prod(shape[lo:hi + 1])
            inner = math.prod(shape[hi + 1:])
            codes.append("G" if block != math.prod(shape) else "F")
            flat.append(c.reshape(-1))
            if block != math.prod(shape):
                extra += [inner, block]
            continue
        codes.append("F")  # any other layout: materialise (one copy)
        flat.append(np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1))
    return "".join(codes), flat, extra


# --------------------------------------------------------------------------- code generation

_B = " " * 12  # indentation of the per-element loop body
_KERNELS: dict = {}
_kernels_lock = threading.RLock()
_SCALAR_FNS: dict = {}


class _Source:
    """A generated kernel under construction: statements, globals, argument names."""

    def __init__(self) -> None:
        self.glob: dict = {}
        self.fns: dict = {}
        self.n = 0

    def var(self, prefix="t") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def fn(self, f) -> str:
        name = self.fns.get(f)
        if name is None:
            from nbgrad.backends import _jit

            name = self.fns[f] = f"_fn{len(self.fns)}"
            jitted = _SCALAR_FNS.get(f)
            if jitted is None:
                jitted = _SCALAR_FNS[f] = _jit.scalar(f)
            self.glob[name] = jitted
        return name


def _cast(expr: str, src: np.dtype, dst: np.dtype) -> str:
    return expr if src == dst else f"{_DTYPES[dst]}({expr})"


def _loop(args: list, layouts: str, names: list, body_fn, first_out: str, parallel: bool) -> str:
    """Wrap a per-element body in the chunked (optionally parallel) loop; return the source.

    The loop runs over chunks of ``_CHUNK`` elements (``prange``: spread over threads when the
    kernel is parallel); ``G`` operands keep a (quotient, remainder) counter pair per chunk so the
    inner loop needs no division. Indices are unsigned: with a signed index Numba must handle
    negative (wrap-around) indexing, which stops LLVM from vectorising the loop (3x slower)."""
    pre = []
    loads = {}
    g_init = []
    g_step = []
    for code, name in zip(layouts, names):
        if code == "F":
            loads[name] = f"{name}[i]"
        elif code == "S":
            pre.append(f"    {name}_0 = {name}[0]")
            loads[name] = f"{name}_0"
        else:
            inner, block = f"{name}_inner", f"{name}_block"
            g_init += [f"        {name}_q = (start // {inner}) % {block}",
                       f"        {name}_r = start % {inner}"]
            g_step += [f"{_B}{name}_r += 1",
                       f"{_B}if {name}_r == {inner}:",
                       f"{_B}    {name}_r = 0",
                       f"{_B}    {name}_q += 1",
                       f"{_B}    if {name}_q == {block}:",
                       f"{_B}        {name}_q = 0"]
            loads[name] = f"{name}[_u64({name}_q)]"
    body, hoisted = body_fn(loads)
    lines = [f"def kernel({', '.join(args)}):", *pre, *hoisted,
             f"    n = {first_out}.size",
             f"    nchunks = (n + {_CHUNK - 1}) // {_CHUNK}",
             "    for ch in prange(nchunks):",
             f"        start = ch * {_CHUNK}",
             f"        stop = min(start + {_CHUNK}, n)",
             *g_init,
             "        for j in range(stop - start):",
             f"{_B}i = _u64(start + j)",
             *body,
             *g_step]
    return f"# nbgrad fused kernel (parallel={parallel})\n" + "\n".join(lines) + "\n"


def _g_arg_names(layouts: str, names: list) -> list:
    out = []
    for code, name in zip(layouts, names):
        if code == "G":
            out += [f"{name}_inner", f"{name}_block"]
    return out


def _emit_step(src, body, op, operand_exprs, operand_dtypes, compute, out_dt) -> str:
    args = ", ".join(_cast(e, d, compute) for e, d in zip(operand_exprs, operand_dtypes))
    v = src.var("v")
    body.append(f"{_B}{v} = {_DTYPES[out_dt]}({src.fn(op.fn)}({args}))")
    return v


def _forward_kernel(fop: FusedOp, layouts: str):
    src = _Source()
    in_names = [f"x{i}" for i in range(len(fop.inputs))]
    c_names = [f"c{i}" for i in range(len(fop.consts))]
    o_names = [f"o{k}" for k in range(fop.n_outputs)]
    args = in_names + c_names + _g_arg_names(layouts, in_names) + o_names
    in_dtypes = [dt for _, dt in fop.inputs]

    def body_fn(loads):
        body = []
        hoisted = []
        vals = []
        in_vars = {}
        for op, operands, compute, out_dt in fop.steps:
            exprs, dts = [], []
            for kind, k in operands:
                if kind == "i":
                    if k not in in_vars:
                        in_vars[k] = src.var("l")
                        body.append(f"{_B}{in_vars[k]} = {loads[in_names[k]]}")
                    exprs.append(in_vars[k])
                    dts.append(in_dtypes[k])
                elif kind == "c":
                    name = f"k{k}_{_DTYPES[compute][1:]}"
                    line = f"    {name} = {_DTYPES[compute]}(c{k})"
                    if line not in hoisted:
                        hoisted.append(line)
                    exprs.append(name)
                    dts.append(compute)
                else:
                    exprs.append(vals[k])
                    dts.append(fop.steps[k][3])
            vals.append(_emit_step(src, body, op, exprs, dts, compute, out_dt))
        for nr, m in enumerate(fop.outputs):
            body.append(f"{_B}{o_names[nr]}[i] = {vals[m]}")
        return body, hoisted

    text = _loop(args, layouts, in_names, body_fn, o_names[0], fop.parallel)
    return _load_kernel(text, src, fop.parallel)


def _backward_kernel(fop: FusedOp, plan: _BackwardPlan, layouts: str):
    src = _Source()
    read_idx = [i for i, r in enumerate(plan.reads) if r]
    in_names = [f"x{i}" for i in read_idx]
    g_out = [nr for nr, p in enumerate(plan.present) if p]
    g_names = [f"g{nr}" for nr in g_out]
    c_names = [f"c{i}" for i in range(len(plan.consts))]
    r_names = [f"r{i}" for i in plan.outputs]
    arr_names = in_names + g_names
    args = arr_names + c_names + _g_arg_names(layouts, arr_names) + r_names

    def body_fn(loads):
        body: list = []
        hoisted: list = []
        vals: dict = {}  # ("i", k) / ("v", m) -> variable
        dtypes: dict = {}

        def const(k, dt):
            name = f"k{k}_{_DTYPES[dt][1:]}"
            line = f"    {name} = {_DTYPES[dt]}(c{k})"
            if line not in hoisted:
                hoisted.append(line)
            return name

        for pos, i in enumerate(read_idx):
            v = src.var("l")
            body.append(f"{_B}{v} = {loads[in_names[pos]]}")
            vals[("i", i)] = v
            dtypes[("i", i)] = fop.inputs[i][1]

        def operand(o, dt_hint):
            kind, k = o
            if kind == "c":
                return const(k, dt_hint), dt_hint
            return vals[o], dtypes[o]

        for m in plan.need_v:
            op, operands, compute, out_dt = fop.steps[m]
            exprs, dts = [], []
            for o in operands:
                e, d = operand(o, compute)
                exprs.append(e)
                dts.append(d)
            vals[("v", m)] = _emit_step(src, body, op, exprs, dts, compute, out_dt)
            dtypes[("v", m)] = out_dt
        gv: dict = {}
        for pos, nr in enumerate(g_out):
            m = fop.outputs[nr]
            v = src.var("gl")
            body.append(f"{_B}{v} = {loads[g_names[pos]]}")
            gv[("v", m)] = v
        for m, p in plan.contribs:
            graph = plan.graphs[(m, p)]
            op, operands, _, out_dt = fop.steps[m]
            target = operands[p]
            tdt = fop.inputs[target[1]][1] if target[0] == "i" else fop.steps[target[1]][3]
            g = gv.get(("v", m))
            if g is None:
                continue
            local: dict = {("g",): (g, out_dt)}
            if "out" in graph.reads:
                local[("out",)] = (vals[("v", m)], out_dt)
            for j, o in enumerate(operands):
                if j in graph.reads and o[0] != "c":  # a constant reaches the rule as a number
                    local[("a", j)] = (vals[o], dtypes[o])
            for j, (op2, refs, compute, odt) in enumerate(graph.steps):
                exprs, dts = [], []
                for r in refs:
                    if r[0] == "k":
                        exprs.append(const(plan.const_index[((m, p), r[1])], compute))
                        dts.append(compute)
                    else:
                        e, d = local[r]
                        exprs.append(e)
                        dts.append(d)
                local[("m", j)] = (_emit_step(src, body, op2, exprs, dts, compute, odt), odt)
            if graph.result == ("zero",):
                contrib = f"{_DTYPES[tdt]}(0)"
            else:
                e, d = local[graph.result]
                contrib = _cast(e, d, tdt)
            v = src.var("gv")
            prev = gv.get(target)
            body.append(f"{_B}{v} = {contrib}" if prev is None else
                        f"{_B}{v} = {_DTYPES[tdt]}({prev} + {contrib})")
            gv[target] = v
        for pos, i in enumerate(plan.outputs):
            body.append(f"{_B}{r_names[pos]}[i] = {gv[('i', i)]}")
        return body, hoisted

    text = _loop(args, layouts, arr_names, body_fn, r_names[0], fop.parallel)
    return _load_kernel(text, src, fop.parallel)


def _fingerprint(f) -> str:
    code = f.__code__
    consts = tuple(c for c in code.co_consts if not hasattr(c, "co_code"))
    return repr((code.co_code, consts, code.co_names, code.co_varnames))


def _kernel_dir() -> str:
    base = os.environ.get("NBGRAD_FUSION_DIR")
    if not base:
        cache = os.environ.get("NUMBA_CACHE_DIR")
        base = (os.path.join(cache, "nbgrad_fused") if cache else
                os.path.join(os.path.expanduser("~"), ".cache", "nbgrad", "fused"))
    try:
        os.makedirs(base, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = os.path.join(tempfile.gettempdir(), f"nbgrad-fused-{os.getuid()}")
    os.makedirs(fallback, exist_ok=True)
    return fallback


def _load_kernel(text: str, src: _Source, parallel: bool):
    """Compile generated source: written once to a file named by its hash, so that Numba's
    on-disk cache (keyed on the file) serves it to later processes."""
    import numba

    from nbgrad.backends import _jit

    stamp = text + "".join(f"{n}:{_fingerprint(f.py_func)}" for n, f in sorted(
        src.glob.items()) if hasattr(f, "py_func")) + numba.__version__ + sys.version
    digest = hashlib.sha1(stamp.encode()).hexdigest()[:20]
    with _kernels_lock:
        found = _KERNELS.get(digest)
        if found is not None:
            return found
        name = f"nbgrad_fused_{digest}"
        path = os.path.join(_kernel_dir(), name + ".py")
        if not os.path.exists(path):
            tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # Numba's cache re-imports the module of a cached kernel
        module.__dict__.update(src.glob)
        module.__dict__["prange"] = numba.prange
        module.__dict__["_u64"] = numba.uint64
        for dt, alias in _DTYPES.items():
            module.__dict__[alias] = dt.type
        spec.loader.exec_module(module)
        kern = _jit.fused(module.kernel, parallel=parallel)
        _KERNELS[digest] = kern
        return kern


# --------------------------------------------------------------------------- the decorator


class CompiledFunction:
    """A function compiled by :func:`compile`; call it like the original."""

    def __init__(self, fn: Callable) -> None:
        functools.update_wrapper(self, fn)
        self._fn = fn
        self._plans: dict = {}

    def __call__(self, *args, **kwargs):
        leaves: list = []
        tree = _flatten((args, kwargs), leaves)
        key = (tree, _signature(leaves), _mode())
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
        if sys.getprofile() is not None:  # a profiler is running: trace another time
            return self._fn(*args, **kwargs)
        if any(isinstance(x, Tensor) and x._device is not CPU for x in leaves):
            self._remember(key, _Eager("tensors off the CPU"))
            return self._fn(*args, **kwargs)
        rec = _Recorder()
        result = rec.run(self._fn, *args, **kwargs)
        try:
            plan = _build_plan(rec, leaves, result)
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
            name = "inference_mode" if mode[1] else ("grad" if mode[0] else "no_grad")
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
