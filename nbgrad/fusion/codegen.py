"""Code generation: the Numba source of a fused op's forward and backward kernels.

A fused op's forward is ONE generated ``@njit`` loop calling the table rows' scalar functions
(compiled by Numba and inlined into the loop) with the same dtype casts as the eager ufuncs; its
backward is a second loop that recomputes the forward values it needs from the saved inputs and
runs the chain's reverse sweep per element. Each generated source is written once to a file in
the kernel dir (:func:`_kernel_dir`) named by a hash of the source and of the scalar functions it
calls (their fingerprint), so Numba's on-disk cache serves it to later processes.

This module knows no tensors: it reads the fused op's description (``steps``, ``inputs``,
``consts``, ``outputs``, ``shape``) and its backward plan, and works on numpy arrays.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import tempfile
import threading

import numpy as np

_CHUNK = 4096  # elements per work item of a fused loop
_DTYPES = {np.dtype(t): f"_{np.dtype(t).name}" for t in
           (np.float32, np.float64, np.int32, np.int64, np.bool_)}
"""The dtypes fused kernels compute in, with the name each has in the generated source."""


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


def _forward_kernel(fop, layouts: str):
    """The forward kernel of fused op ``fop`` for operand layouts ``layouts``."""
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


def _backward_kernel(fop, plan, layouts: str):
    """The backward kernel of fused op ``fop`` for its backward plan ``plan`` (see
    ``planning._BackwardPlan``) and operand layouts ``layouts``."""
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

