"""Elementwise kernels generated from the op table's scalar functions.

Each scalar function becomes one CUDA device function (``cuda.jit(device=True)``), called from
one generic grid-stride kernel per *call pattern*: which arguments are arrays and which are
scalars, and whether the operands are contiguous (a flat loop) or strided / broadcast (the loop
decodes each output index over the shape, after merging dimensions that can be merged). The
kernel source for a pattern is generated once; Numba compiles it per dtype on first use.
There is no hand-written kernel per op.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from nbgrad.backends._planning import broadcast_shapes, broadcast_strides, coalesce
from nbgrad.backends.cuda._runtime import DTYPES, CudaArray, grid_1d, launch, new

__all__ = [
    "map_elementwise", "elementwise_kernel", "identity", "nonzero",
    "kernel_for",
]

_device_fns: dict = {}
_kernels: dict = {}
_runners: dict = {}


def identity(x):
    """The scalar function behind copies and casts."""
    return x


def nonzero(x):
    """The scalar function behind casts to bool (numpy's truth value of a number)."""
    return x != 0


def _device_fn(fn):
    dev = _device_fns.get(fn)
    if dev is None:
        dev = _device_fns[fn] = cuda.jit(device=True)(fn)
    return dev


def _source(pattern: tuple[bool, ...], nd: int) -> str:
    """Kernel source for operands ``pattern`` (True = array) over ``nd`` dims (0 = flat)."""
    params = ["out", "out_off", "n"]
    if nd:
        params += ["shape", "out_st"]
    operands = []
    offsets = []
    for i, is_array in enumerate(pattern):
        if is_array:
            params += [f"a{i}", f"o{i}"] + ([f"s{i}"] if nd else [])
            operands.append(f"a{i}[p{i}]")
            offsets.append(i)
        else:
            params.append(f"a{i}")
            operands.append(f"a{i}")
    body = [
        f"def kernel({', '.join(params)}):",
        "    i = cuda.grid(1)",
        "    step = cuda.gridsize(1)",
        "    while i < n:",
    ]
    if not nd:
        body.append("        po = out_off + i")
        body += [f"        p{j} = o{j} + i" for j in offsets]
    else:
        body.append("        rem = i")
        body.append("        po = out_off")
        body += [f"        p{j} = o{j}" for j in offsets]
        for d in range(nd - 1, -1, -1):
            if d:
                body.append(f"        k = rem % shape[{d}]")
                body.append(f"        rem //= shape[{d}]")
            else:
                body.append("        k = rem")
            body.append(f"        po += k * out_st[{d}]")
            body += [f"        p{j} += k * s{j}[{d}]" for j in offsets]
    body.append(f"        out[po] = f({', '.join(operands)})")
    body.append("        i += step")
    return "\n".join(body) + "\n"


def kernel_for(fn, pattern: tuple[bool, ...], nd: int):
    """The (memoised) kernel applying scalar ``fn`` for one call pattern."""
    key = (fn, pattern, nd)
    found = _kernels.get(key)
    if found is None:
        namespace = {"cuda": cuda, "f": _device_fn(fn)}
        name = getattr(fn, "__name__", "fn").replace("<", "").replace(">", "")
        exec(compile(_source(pattern, nd), f"<nbgrad.cuda.elementwise:{name}>", "exec"),
             namespace)
        found = _kernels[key] = cuda.jit(namespace["kernel"])
    return found


def map_elementwise(fn, dtype: np.dtype, out_dtype: np.dtype, args, out=None, ufunc=None):
    """Apply scalar ``fn`` elementwise over broadcast ``args`` (device arrays of ``dtype`` or
    Python scalars), into a new array of ``out_dtype`` or into ``out`` (``ufunc``, a numpy
    equivalent the CPU may use, is ignored here)."""
    dtype = np.dtype(dtype)
    arrays = []
    pattern = []
    for a in args:
        if isinstance(a, CudaArray):
            arrays.append(a)
            pattern.append(True)
        elif isinstance(a, (bool, int, float, np.number, np.bool_)):
            pattern.append(False)
        else:
            raise TypeError(
                f"cuda elementwise: expected cuda device arrays or Python numbers, got "
                f"{type(a).__name__} (is a tensor on another device?)"
            )
    first = arrays[0] if arrays else None
    same = first is not None and first.contiguous and all(
        a.shape == first.shape and a.contiguous for a in arrays)
    shape = first.shape if same else (
        broadcast_shapes(*[a.shape for a in arrays]) if arrays else ())
    if out is None:
        if np.dtype(out_dtype) not in DTYPES:
            raise TypeError(f"cuda elementwise: unsupported dtype {out_dtype}")
        out = new(shape, out_dtype)
    elif shape != out.shape:
        shape = broadcast_shapes(shape, out.shape)
        if shape != out.shape:
            raise ValueError(f"cannot write a result of shape {shape} into shape {out.shape}")
        same = False
    n = out.size
    if n == 0:
        return out
    if same and out.contiguous:  # the common case: no broadcasting, no strides
        nd = 0
        cstrides = [()] * (len(arrays) + 1)
    else:
        strides = [out.strides] + [broadcast_strides(a.shape, a.strides, shape) for a in arrays]
        cshape, cstrides = coalesce(shape, strides)
        flat = len(cshape) <= 1 and all(st in ((), (1,)) for st in cstrides)
        nd = 0 if flat else len(cshape)
    kernel = kernel_for(fn, tuple(pattern), nd)
    call = [out.buf, out.offset, n]
    if nd:
        call += [cshape, cstrides[0]]
    it = iter(zip(arrays, cstrides[1:]))
    for a in args:
        if isinstance(a, CudaArray):
            arr, st = next(it)
            call += [arr.buf, arr.offset] + ([st] if nd else [])
        else:
            call.append(dtype.type(a))
    blocks, threads = grid_1d(n)
    launch(kernel, blocks, threads, call)
    return out


def elementwise_kernel(fn, nargs: int, dtype: np.dtype, out_dtype: np.dtype, ufunc=None):
    """A function applying ``fn`` to device arrays of ``dtype`` (cast already) and Python
    scalars, returning a new array (the ops' fast path; memoised per function and dtype;
    ``ufunc`` is ignored on the GPU)."""
    key = (fn, np.dtype(dtype))
    found = _runners.get(key)
    if found is None:
        dtype, out_dtype = np.dtype(dtype), np.dtype(out_dtype)

        def found(*args):
            return map_elementwise(fn, dtype, out_dtype, args)

        _runners[key] = found
    return found
