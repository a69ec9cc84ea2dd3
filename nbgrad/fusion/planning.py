"""Planning: a traced call becomes steps over value slots, grouped into fused chains.

Elementwise ops of the table (``ops/elementwise.py``) whose results have one common shape are
grouped into connected chains; every other op (matmul, reductions, views, ...) stays an eager
step, replayed through the dispatch point exactly as recorded. A chain of two or more ops becomes
a fused op (``runtime.FusedOp``). For a fused op's backward, each table row's gradient rule is
traced once on one-element tensors into elementwise steps (:func:`_grad_graph`), which the
backward kernel inlines; a rule that does not trace runs eagerly through the table's gradient
step (``op.input_grad`` and ``fit_gradient``).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from nbgrad._device import CPU
from nbgrad.fusion.codegen import _DTYPES
from nbgrad.fusion.tracing import (
    _SCALARS,
    _flatten,
    _fusable_op,
    _has_array,
    _is_scalar_const,
    _Recorder,
    _Unsupported,
)
from nbgrad.grad_mode import no_grad
from nbgrad.ops._dispatch import new_tensor
from nbgrad.tensor import Tensor

# --------------------------------------------------------------------------- grouping


class _Chain(NamedTuple):
    """A group of two or more elementwise steps that runs as one fused op (``runtime.FusedOp``
    takes these fields): ``steps`` are ``(op, operands, compute_dtype, out_dtype)``, an operand
    ``("i", k)`` (input tensor k), ``("c", k)`` (constant k) or ``("v", m)`` (step m's value)."""

    shape: tuple
    inputs: tuple  # (shape, dtype) per input tensor
    consts: tuple
    steps: tuple
    outputs: tuple  # the steps whose values leave the chain
    diff_out: tuple  # per output: whether it takes part in autograd


class _Grouping(NamedTuple):
    """What a traced call runs: ``items`` are ``(op or _Chain, ins, params, out_slots)`` in
    order; ``externals`` the tensors reached outside the arguments, ``(slot, tensor, guard)``."""

    n_slots: int
    items: list
    out_tree: object
    out_leaves: tuple  # ("s", slot) | ("c", value)
    externals: list
    n_fused: int
    n_eager: int


class _Step:
    """One recorded op: ``ins`` are refs (``("s", slot)`` or ``("c", python_value)``)."""

    __slots__ = ("op", "ins", "params", "outs", "fused", "shape", "dtypes")

    def __init__(self, op, ins, params, outs) -> None:
        self.op, self.ins, self.params, self.outs = op, ins, params, outs
        self.fused = False
        self.shape = None
        self.dtypes = None  # (compute, out) for elementwise steps


def _build_plan(rec: _Recorder, leaves: list, result) -> _Grouping:
    """Turn a recording into steps over value slots and group them (raises ``_Unsupported``
    when the recorded code cannot be replayed)."""
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
        raise _Unsupported("no chain of two or more elementwise ops to fuse")
    return _Grouping(n_slots, items, out_tree, out_refs, externals, n_fused, n_eager)


def _make_fused(steps, ks, gid, used_outside, final, info):
    """The chain of the steps ``ks`` (one group) and its plan item."""
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
    chain = _Chain(
        shape=steps[ks[0]].shape,
        inputs=tuple((info[v][0], info[v][1]) for v in in_slots),
        consts=tuple(consts),
        steps=tuple(fsteps),
        outputs=tuple(outs),
        diff_out=tuple(bool(info[s][2]) for s in out_slots),
    )
    return (chain, tuple(("s", v) for v in in_slots), None, out_slots)


# --------------------------------------------------------------------------- backward analysis


class _BackwardPlan:
    """The per-element gradient contributions a fused op's backward computes; what it reads.

    ``contribs`` are ``(step, operand position)`` in reverse order; ``step_reads`` maps each to
    the operand positions (and ``"out"``) its gradient rule reads: as traced when the rule
    traces into elementwise steps (``graphs``), else as the table row declares."""

    def __init__(self, fop, needs: tuple, present: tuple) -> None:
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
        self.step_reads: dict = {}
        self.graphs: dict = {}
        fusable = True
        for m in range(len(steps) - 1, -1, -1):
            if not (flow[m] and reach_v[m]):
                continue
            op, operands, _, out_dt = steps[m]
            for p, o in enumerate(operands):
                if not reaches(o) or op.grad_rules[op.arg_names[p]] is None:
                    continue
                graph = _grad_graph(op, p, _grad_config(fop, m))
                if graph is _FAIL:
                    fusable = False
                    self.step_reads[(m, p)] = _declared_reads(op, p)
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
                if i in r:
                    need(o)
            if "out" in r:
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


def _declared_reads(op, p: int) -> frozenset:
    """The operand positions (and ``"out"``) that the table row says input ``p``'s rule reads."""
    positions, reads_out = op.reads(p)
    return frozenset(positions) | ({"out"} if reads_out else frozenset())


def _grad_config(fop, m: int) -> tuple:
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
_GRAPHS: dict = {}
_graphs_lock = threading.Lock()


def _grad_graph(op, p: int, cfg: tuple):
    """Trace input ``p``'s gradient rule of ``op`` on one-element tensors (cached); ``None`` if
    it gives no gradient, ``_FAIL`` if it uses anything but fusable elementwise ops."""
    key = (op, p, cfg)
    found = _GRAPHS.get(key)
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
    return new_tensor(np.full(() if zero_d else (1,), value, dt))


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
        res = rec.run(op.input_grad, p, g, tuple(args), out)
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
