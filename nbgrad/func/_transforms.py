"""The transforms of ``nbgrad.func`` (see the package docstring)."""

from __future__ import annotations

import functools

from nbgrad import autograd
from nbgrad.autograd import forward_ad
from nbgrad.autograd.forward_ad import _set_tangent, _tangent
from nbgrad.grad_mode import enable_grad
from nbgrad.ops.creation import eye, zeros, zeros_like
from nbgrad.ops.join import stack
from nbgrad.tensor import Tensor

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap",
           "functional_call"]


# ----------------------------------------------------------------------------- pytrees
def _flatten(tree) -> tuple[list, object]:
    """The leaves of a nested tuple/list/dict, and a spec to rebuild it."""
    if isinstance(tree, (tuple, list)):
        leaves, specs = [], []
        for item in tree:
            sub, spec = _flatten(item)
            leaves += sub
            specs.append((len(sub), spec))
        return leaves, (type(tree), specs)
    if isinstance(tree, dict):
        leaves, specs = [], []
        for key, item in tree.items():
            sub, spec = _flatten(item)
            leaves += sub
            specs.append((key, len(sub), spec))
        return leaves, (dict, specs)
    return [tree], None


def _unflatten(leaves: list, spec):
    if spec is None:
        return leaves[0]
    kind, specs = spec
    out, at = [], 0
    if kind is dict:
        result = {}
        for key, n, sub in specs:
            result[key] = _unflatten(leaves[at:at + n], sub)
            at += n
        return result
    for n, sub in specs:
        out.append(_unflatten(leaves[at:at + n], sub))
        at += n
    return tuple(out) if kind is tuple else out


def _check_tensors(leaves, what: str) -> None:
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise RuntimeError(f"{what}: Expected tensors, got unsupported type {type(leaf)}")


def _argnums(argnums, n: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise RuntimeError(f"{name}: argnums must be non-empty")
    for a in nums:
        if not isinstance(a, int):
            raise RuntimeError(f"{name}: argnums must be int or Tuple[int, ...], got {type(a)}")
        if not -n <= a < n:
            raise RuntimeError(f"Got argnum={a}, but only {n} positional inputs")
    return tuple(a % n for a in nums)


def _fresh(t: Tensor) -> Tensor:
    """A tensor to differentiate with respect to: connected to ``t``'s history when ``t``
    requires grad (so transforms nest), else a new leaf; it keeps ``t``'s tangent."""
    if t.requires_grad:
        return t.view(t.shape)
    out = t.detach().requires_grad_(t.dtype.is_floating_point)
    tangent = _tangent(t)
    if tangent is not None:
        _set_tangent(out, tangent)
    return out


def _nested(leaves) -> bool:
    """Whether a transform outside this one differentiates these inputs (keep a graph)."""
    return any(isinstance(t, Tensor) and (t.requires_grad or _tangent(t) is not None)
               for t in leaves)


# -------------------------------------------------------------------------------- grad
def grad_and_value(func, argnums=0, has_aux: bool = False):
    """Like :func:`grad`, but the function returns ``(gradient, value)`` (``((gradient,
    aux), value)`` is PyTorch's order with ``has_aux``: ``(gradient, (value, aux))``).

    >>> import nbgrad as nb
    >>> from nbgrad.func import grad_and_value
    >>> grad_and_value(lambda x: (x ** 2).sum())(nb.tensor([1.0, 2.0]))
    (tensor([2., 4.]), tensor(5.))
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums = _argnums(argnums, len(args), "grad_and_value(f)(*args)")
        args = list(args)
        with enable_grad():
            flat, specs, keep = [], {}, False
            for a in nums:
                leaves, spec = _flatten(args[a])
                _check_tensors(leaves, "grad_and_value(f)(*args)")
                keep = keep or _nested(leaves)
                fresh = [_fresh(t) for t in leaves]
                specs[a] = (len(flat), len(fresh), spec)
                flat += fresh
                args[a] = _unflatten(fresh, spec)
            result = func(*args, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        "grad_and_value(f)(*args): output of function f should be a tuple: "
                        "(output, aux) if has_aux is True"
                    )
                result, aux = result
            if not isinstance(result, Tensor):
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                    f"{type(result)}"
                )
            if result.ndim != 0:
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, "
                    f"got tensor with {result.ndim} dims. Maybe you wanted to use the vjp or "
                    "jacrev APIs instead?"
                )
            if result.requires_grad:
                grads = autograd.grad(result, flat, create_graph=keep, allow_unused=True,
                                      materialize_grads=True)
            else:
                grads = tuple(zeros_like(t) for t in flat)
        if not keep:
            grads = tuple(g.detach() for g in grads)
            result = result.detach()
        per_arg = []
        for a in nums:
            start, n, spec = specs[a]
            per_arg.append(_unflatten(list(grads[start:start + n]), spec))
        out = per_arg[0] if isinstance(argnums, int) else tuple(per_arg)
        if has_aux:
            return out, (result, aux)
        return out, result

    return wrapper


def grad(func, argnums=0, has_aux: bool = False):
    """The gradient of a scalar-valued ``func`` with respect to argument(s) ``argnums``, as a
    function of the same arguments (``(gradient, aux)`` with ``has_aux``).

    >>> import nbgrad as nb
    >>> from nbgrad.func import grad
    >>> grad(lambda x: x.sin().sum())(nb.tensor([0.0]))
    tensor([1.])
    >>> grad(grad(lambda x: (x ** 3).sum()))(nb.tensor(2.0))  # d2/dx2 x^3 = 6x
    tensor(12.)
    """
    inner = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = inner(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


# ---------------------------------------------------------------------------- vjp, jvp
def vjp(func, *primals, has_aux: bool = False):
    """``(func(*primals), vjp_fn)``: ``vjp_fn(cotangents)`` gives one gradient per primal
    (it can be called several times); with ``has_aux`` also ``aux``.

    >>> import nbgrad as nb
    >>> from nbgrad.func import vjp
    >>> out, vjp_fn = vjp(lambda x: x ** 2, nb.tensor([1.0, 3.0]))
    >>> vjp_fn(nb.tensor([1.0, 1.0]))
    (tensor([2., 6.]),)
    """
    leaves, spec = _flatten(list(primals))
    _check_tensors(leaves, "vjp(f, *primals)")
    keep = _nested(leaves)
    with enable_grad():
        fresh = [_fresh(t) for t in leaves]
        result = func(*_unflatten(fresh, spec))
        aux = None
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(
                    "vjp(f, *primals): output of function f should be a tuple: (output, aux) "
                    "if has_aux is True"
                )
            result, aux = result
    outs, out_spec = _flatten(result)
    _check_tensors(outs, "vjp(f, *primals)")

    def vjp_fn(cotangents):
        cots, _ = _flatten(cotangents)
        if len(cots) != len(outs):
            raise RuntimeError(
                f"Expected pytree structure of cotangents to be the same as pytree structure "
                f"of outputs to the function ({len(cots)} vs {len(outs)} tensors)"
            )
        pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
        with enable_grad():
            if pairs:
                grads = autograd.grad([o for o, _ in pairs], fresh, [c for _, c in pairs],
                                      retain_graph=True, create_graph=keep, allow_unused=True,
                                      materialize_grads=True)
            else:
                grads = tuple(zeros_like(t) for t in fresh)
        if not keep:
            grads = tuple(g.detach() for g in grads)
        return tuple(_unflatten(list(grads), spec))

    value = _unflatten([o if keep else o.detach() for o in outs], out_spec)
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


def jvp(func, primals, tangents, *, strict: bool = False, has_aux: bool = False):
    """``(func(*primals), J·tangents)`` by forward mode (one pass of dual tensors).

    >>> import nbgrad as nb
    >>> from nbgrad.func import jvp
    >>> jvp(lambda x: x.exp(), (nb.tensor([0.0, 1.0]),), (nb.tensor([1.0, 2.0]),))
    (tensor([1.0000, 2.7183]), tensor([1.0000, 5.4366]))
    """
    del strict
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to be "
                           "tuples. E.g. jvp(f, (x,), (t,))")
    leaves, spec = _flatten(list(primals))
    tans, _ = _flatten(list(tangents))
    _check_tensors(leaves, "jvp(f, primals, tangents)")
    if len(tans) != len(leaves):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to have "
                           "the same python structure")
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(p, t) for p, t in zip(leaves, tans)]
        result = func(*_unflatten(duals, spec))
        aux = None
        if has_aux:
            result, aux = result
        outs, out_spec = _flatten(result)
        _check_tensors(outs, "jvp(f, primals, tangents)")
        unpacked = [forward_ad.unpack_dual(o) for o in outs]
    primal_out = _unflatten([u.primal for u in unpacked], out_spec)
    tangent_out = _unflatten([u.tangent if u.tangent is not None else zeros_like(u.primal)
                              for u in unpacked], out_spec)
    return (primal_out, tangent_out, aux) if has_aux else (primal_out, tangent_out)


# ------------------------------------------------------------------------- jacobians
def _select(args, argnums):
    nums = _argnums(argnums, len(args), "jacrev/jacfwd")
    return nums


def jacrev(func, argnums=0, *, has_aux: bool = False, chunk_size=None):
    """The Jacobian of ``func`` with respect to argument(s) ``argnums`` by reverse mode (one
    backward pass per output element): shape ``output.shape + input.shape``.

    >>> import nbgrad as nb
    >>> from nbgrad.func import jacrev
    >>> jacrev(lambda x: x ** 2)(nb.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    del chunk_size

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums = _select(args, argnums)
        args = list(args)
        keep = _nested([args[a] for a in nums])
        with enable_grad():
            fresh = {a: _fresh(args[a]) for a in nums}
            for a in nums:
                args[a] = fresh[a]
            result = func(*args, **kwargs)
            aux = None
            if has_aux:
                result, aux = result
            outs, out_spec = _flatten(result)
            _check_tensors(outs, "jacrev(f)(*args)")
            per_out = []
            for o in outs:
                blocks = {a: [] for a in nums}
                n = o.numel()
                basis = eye(n, dtype=o.dtype, device=o.device) if n and o.requires_grad else None
                for k in range(n if basis is not None else 0):
                    gs = autograd.grad(o, [fresh[a] for a in nums], basis[k].reshape(o.shape),
                                       retain_graph=True, create_graph=keep,
                                       allow_unused=True, materialize_grads=True)
                    for a, g in zip(nums, gs):
                        blocks[a].append(g)
                jac = []
                for a in nums:
                    x = fresh[a]
                    if blocks[a]:
                        j = stack(blocks[a]).reshape(*o.shape, *x.shape)
                    else:
                        j = zeros(*o.shape, *x.shape, dtype=x.dtype, device=x.device)
                    jac.append(j if keep else j.detach())
                per_out.append(jac[0] if isinstance(argnums, int) else tuple(jac))
        out = _unflatten(per_out, out_spec)
        return (out, aux) if has_aux else out

    return wrapper


def jacfwd(func, argnums=0, has_aux: bool = False, *, randomness: str = "error"):
    """The Jacobian of ``func`` with respect to argument(s) ``argnums`` by forward mode (one
    forward-mode pass per input element): shape ``output.shape + input.shape``.

    >>> import nbgrad as nb
    >>> from nbgrad.func import jacfwd
    >>> jacfwd(lambda x: x.sin())(nb.tensor([0.0, 1.0]))
    tensor([[1.0000, 0.0000],
            [0.0000, 0.5403]])
    """
    del randomness

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums = _select(args, argnums)
        keep = _nested([args[a] for a in nums])
        columns: dict = {a: [] for a in nums}
        result = aux = None
        out_spec = None
        for a in nums:
            x = args[a]
            n = x.numel()
            basis = eye(n, dtype=x.dtype, device=x.device) if n else None
            for k in range(n):
                with forward_ad.dual_level():
                    call = list(args)
                    call[a] = forward_ad.make_dual(x, basis[k].reshape(x.shape))
                    out = func(*call, **kwargs)
                    if has_aux:
                        out, aux = out
                    outs, out_spec = _flatten(out)
                    unpacked = [forward_ad.unpack_dual(o) for o in outs]
                result = [u.primal for u in unpacked]
                columns[a].append([u.tangent if u.tangent is not None else zeros_like(u.primal)
                                   for u in unpacked])
        if result is None:  # every differentiated input is empty
            out = func(*args, **kwargs)
            if has_aux:
                out, aux = out
            result, out_spec = _flatten(out)
        per_out = []
        for i, o in enumerate(result):
            jac = []
            for a in nums:
                x = args[a]
                cols = [c[i] for c in columns[a]]
                if cols:
                    j = stack(cols, dim=-1).reshape(*o.shape, *x.shape)
                else:
                    j = zeros(*o.shape, *x.shape, dtype=x.dtype, device=x.device)
                jac.append(j if keep else j.detach())
            per_out.append(jac[0] if isinstance(argnums, int) else tuple(jac))
        out = _unflatten(per_out, out_spec)
        return (out, aux) if has_aux else out

    return wrapper


def hessian(func, argnums=0):
    """The Hessian of a scalar ``func``: ``jacfwd(jacrev(func))`` (forward-over-reverse).

    >>> import nbgrad as nb
    >>> from nbgrad.func import hessian
    >>> hessian(lambda x: (x ** 3).sum())(nb.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return jacfwd(jacrev(func, argnums), argnums)


# -------------------------------------------------------------------------------- vmap
def _size_at(t: Tensor, dim: int) -> int:
    if t.ndim == 0:
        raise ValueError(
            f"vmap: Tried to map over dim {dim} of a 0-d tensor: cannot vmap over a scalar"
        )
    return t.shape[dim]


def vmap(func, in_dims=0, out_dims=0, randomness: str = "error", *, chunk_size=None):
    """Map ``func`` over a dimension of its inputs (``in_dims``: one int or None per argument,
    or one for all) and stack the results along ``out_dims``.

    This is the **loop fallback**: ``func`` runs once per sample on the slices, so it works
    for every op and every function (also custom Functions and Python control flow), at the
    cost of one call per sample.

    >>> import nbgrad as nb
    >>> from nbgrad.func import vmap
    >>> vmap(lambda row: row.sum())(nb.tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor([3., 7.])
    >>> vmap(lambda a, b: a * b, in_dims=(0, None))(nb.tensor([1.0, 2.0]), nb.tensor(10.0))
    tensor([10., 20.])
    """
    del randomness, chunk_size

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        dims = in_dims if isinstance(in_dims, (tuple, list)) else (in_dims,) * len(args)
        if len(dims) != len(args):
            raise ValueError(
                f"vmap(f, in_dims={in_dims}, ...)(<inputs>): in_dims is not compatible with "
                f"the structure of `inputs`. in_dims has structure {len(dims)} but inputs has "
                f"structure {len(args)}."
            )
        mapped = []  # per argument: (leaves, spec, dim per leaf)
        sizes = set()
        for arg, d in zip(args, dims):
            leaves, spec = _flatten(arg)
            ds = _flatten(d)[0] if isinstance(d, (tuple, list, dict)) else [d] * len(leaves)
            for leaf, dd in zip(leaves, ds):
                if dd is not None:
                    if not isinstance(leaf, Tensor):
                        raise ValueError(
                            f"vmap: Got in_dim={dd} for an input but the input is of type "
                            f"{type(leaf)}. We cannot vmap over non-Tensor arguments"
                        )
                    sizes.add(_size_at(leaf, dd))
            mapped.append((leaves, spec, ds))
        if len(sizes) > 1:
            raise ValueError(
                "vmap: Expected all tensors to have the same size in the mapped dimension, "
                f"got sizes {sorted(sizes)} for the mapped dimension"
            )
        if not sizes:
            raise ValueError(
                "vmap(f, in_dims=..., ...)(<inputs>): at least one input must be a Tensor "
                "mapped over a dimension (in_dims not None)"
            )
        (batch,) = sizes
        results = []
        for b in range(batch):
            call = []
            for leaves, spec, ds in mapped:
                sliced = [leaf if dd is None else _take(leaf, dd, b)
                          for leaf, dd in zip(leaves, ds)]
                call.append(_unflatten(sliced, spec))
            results.append(func(*call, **kwargs))
        outs0, out_spec = _flatten(results[0])
        odims = out_dims if isinstance(out_dims, (tuple, list)) else (out_dims,) * len(outs0)
        stacked = []
        for i, od in enumerate(odims):
            column = [_flatten(r)[0][i] for r in results]
            if not isinstance(column[0], Tensor):
                raise ValueError(
                    "vmap: `func` must only return Tensors, got type "
                    f"{type(column[0])}"
                )
            stacked.append(column[0] if od is None else stack(column, dim=od))
        return _unflatten(stacked, out_spec)

    return wrapper


def _take(t: Tensor, dim: int, i: int) -> Tensor:
    index = (slice(None),) * (dim % t.ndim) + (i,)
    return t[index]


# -------------------------------------------------------------------- functional_call
def functional_call(module, parameter_and_buffer_dicts, args=(), kwargs=None, *,
                    tie_weights: bool = True, strict: bool = False):
    """Call ``module(*args, **kwargs)`` with some of its parameters and buffers replaced by
    the tensors of ``parameter_and_buffer_dicts`` (a dict, or a tuple of dicts, of dotted
    names); the module is unchanged afterwards. With :func:`grad` it differentiates a module
    with respect to its parameters.

    >>> import nbgrad as nb
    >>> from nbgrad.func import functional_call, grad
    >>> lin = nb.nn.Linear(2, 1, bias=False)
    >>> w = {"weight": nb.tensor([[1.0, 2.0]])}
    >>> functional_call(lin, w, (nb.tensor([[3.0, 4.0]]),))
    tensor([[11.]])
    >>> grad(lambda p: functional_call(lin, p, (nb.tensor([[3.0, 4.0]]),)).sum())(w)
    {'weight': tensor([[3., 4.]])}
    """
    del tie_weights
    if isinstance(parameter_and_buffer_dicts, dict):
        merged = dict(parameter_and_buffer_dicts)
    else:
        merged = {}
        for d in parameter_and_buffer_dicts:
            for k, v in d.items():
                if k in merged:
                    raise ValueError(
                        f"{k} appeared in multiple dictionaries; behavior of functional call "
                        "is ambiguous"
                    )
                merged[k] = v
    known = {n for n, _ in module.named_parameters()} | {n for n, _ in module.named_buffers()}
    if strict:
        missing = sorted(known - set(merged))
        unexpected = sorted(set(merged) - known)
        if missing or unexpected:
            raise RuntimeError(
                "Error(s) in reparametrizing for " f"{type(module).__name__}:"
                + (f"\n\tUnexpected key(s): {', '.join(unexpected)}." if unexpected else "")
                + (f"\n\tMissing key(s): {', '.join(missing)}." if missing else "")
            )
    saved = []
    try:
        for name, value in merged.items():
            owner_name, _, attr = name.rpartition(".")
            owner = module.get_submodule(owner_name) if owner_name else module
            for table in ("_parameters", "_buffers"):
                store = owner.__dict__.get(table)
                if store is not None and attr in store:
                    saved.append((store, attr, store[attr]))
                    store[attr] = value
                    break
            else:
                raise AttributeError(f"{type(owner).__name__} has no parameter or buffer {attr!r}")
        if not isinstance(args, tuple):
            args = (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for store, attr, old in reversed(saved):
            store[attr] = old
