"""Higher-level differentiation of whole functions: ``vjp``, ``jvp``, ``jacobian``,
``hessian``, ``vhp``, ``hvp`` (PyTorch's ``torch.autograd.functional``).

Every function runs ``func`` under ``enable_grad`` (so they also work inside ``no_grad``)
on detached copies of the inputs; with ``create_graph=True`` the results keep their history
back to the original inputs. ``jvp`` runs real forward mode (``nb.autograd.forward_ad``: one
forward pass of dual tensors), as does ``jacobian(..., strategy="forward-mode")`` (one pass
per input element) and ``hessian(..., outer_jacobian_strategy="forward-mode")``
(forward-over-reverse).

>>> import nbgrad as nb
>>> from nbgrad.autograd.functional import jacobian
>>> jacobian(lambda x: x ** 2, nb.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])
"""

from __future__ import annotations

from nbgrad.autograd import forward_ad
from nbgrad.autograd.engine import grad as _grad
from nbgrad.autograd.forward_ad import _suspended as no_tangents
from nbgrad.grad_mode import enable_grad
from nbgrad.ops.creation import eye, ones_like, zeros, zeros_like
from nbgrad.ops.join import stack
from nbgrad.tensor import Tensor

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]


def _as_tuple(x, what: str, fn: str) -> tuple[tuple, bool]:
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but "
                f"the value at index {i} has type {type(t).__name__}."
            )
    return items, is_tuple


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """Fresh differentiable inputs; linked to the originals only when building a graph."""
    return tuple(
        x.view(x.shape) if create_graph and x.requires_grad else x.detach().requires_grad_(True)
        for x in inputs
    )


def _finish(items, create_graph: bool, is_tuple: bool):
    out = tuple(t if t is None or create_graph else t.detach() for t in items)
    return out if is_tuple else out[0]


def _fill(grads, like, strict: bool, fn: str, what: str) -> tuple:
    out = []
    for i, (g, x) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(
                    f"The {what} of {fn} for input {i} is independent of the input; this is "
                    "not allowed in strict mode."
                )
            g = zeros_like(x)
        out.append(g)
    return tuple(out)


def _check_v(v, like: tuple, fn: str, what: str) -> tuple:
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(
                f"The vector v can only be None if the {what} of {fn} is a single Tensor with "
                "a single element."
            )

        return (ones_like(like[0]),)
    v, _ = _as_tuple(v, "v", fn)
    if len(v) != len(like):
        raise RuntimeError(f"{fn}: v has {len(v)} entries but the {what} has {len(like)}")
    for i, (a, b) in enumerate(zip(v, like)):
        if a.shape != b.shape:
            raise RuntimeError(
                f"{fn}: entry {i} of v has shape {a.shape} but the {what} has shape {b.shape}"
            )
    return v


def _differentiable(outputs, vs):
    pairs = [(o, g) for o, g in zip(outputs, vs) if o.requires_grad]
    return [o for o, _ in pairs], [g for _, g in pairs]


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), vᵀ·J)``: the vector-Jacobian product at ``inputs``."""
    inputs, in_tuple = _as_tuple(inputs, "inputs", "vjp")
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        outputs, out_tuple = _as_tuple(func(*xs), "outputs of the user-provided function", "vjp")
        vs = _check_v(v, outputs, "vjp", "output")
        outs, seeds = _differentiable(outputs, vs)
        grads = (_grad(outs, xs, seeds, create_graph=create_graph, allow_unused=True)
                 if outs else (None,) * len(xs))
        grads = _fill(grads, xs, strict, "vjp", "gradient")
    return _finish(outputs, create_graph, out_tuple), _finish(grads, create_graph, in_tuple)


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), J·v)``: the Jacobian-vector product, by forward mode (one pass of
    dual tensors, ``nb.autograd.forward_ad``).

    >>> import nbgrad as nb
    >>> from nbgrad.autograd.functional import jvp
    >>> jvp(lambda x: x ** 2, nb.tensor([1.0, 2.0]), nb.tensor([1.0, 1.0]))
    (tensor([1., 4.]), tensor([2., 4.]))
    """

    inputs, in_tuple = _as_tuple(inputs, "inputs", "jvp")
    vs = _check_v(v, inputs, "jvp", "input")
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        with forward_ad.dual_level():
            duals = tuple(forward_ad.make_dual(x, t) for x, t in zip(xs, vs))
            outputs, out_tuple = _as_tuple(func(*duals), "outputs of the user-provided function",
                                           "jvp")
            unpacked = [forward_ad.unpack_dual(o) for o in outputs]
        primals = tuple(u.primal for u in unpacked)
        result = []
        for i, u in enumerate(unpacked):
            if u.tangent is None and strict:
                raise RuntimeError(
                    f"The output of the user-provided function at index {i} is independent of "
                    "the input. This is not allowed in strict mode."
                )
            result.append(u.tangent)
        result = _fill(result, primals, False, "jvp", "Jacobian-vector product")
    return _finish(primals, create_graph, out_tuple), _finish(result, create_graph, out_tuple)


def _forward_jacobian(func, inputs, in_tuple: bool, create_graph: bool, strict: bool):
    """The Jacobian one input element at a time, each column a forward-mode jvp."""
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        with no_tangents():
            outputs, out_tuple = _as_tuple(func(*xs), "outputs of the user-provided function",
                                           "jacobian")
        columns: list[list[list]] = [[[] for _ in xs] for _ in outputs]
        for j, x in enumerate(xs):
            n = x.numel()
            basis = eye(n, dtype=x.dtype, device=x.device) if n else None
            for k in range(n):
                vs = [zeros_like(y) for y in xs]
                vs[j] = basis[k].reshape(x.shape)
                _, jv = jvp(lambda *a: tuple(_as_tuple(func(*a), "outputs", "jacobian")[0]),
                            tuple(xs), tuple(vs), create_graph=create_graph, strict=strict)
                for o, col in enumerate(jv):
                    columns[o][j].append(col)
        table = []
        for o, out in enumerate(outputs):
            blocks = []
            for j, x in enumerate(xs):
                cols = columns[o][j]
                if cols:
                    block = stack(cols, dim=-1).reshape(*out.shape, *x.shape)
                else:
                    block = zeros(*out.shape, *x.shape, dtype=x.dtype, device=x.device)
                blocks.append(block if create_graph else block.detach())
            table.append(tuple(blocks) if in_tuple else blocks[0])
    return tuple(table) if out_tuple else table[0]


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``: for each (output, input) pair a tensor of shape
    ``output.shape + input.shape``; nested tuples follow the tuple-ness of outputs and
    inputs, as in PyTorch. One reverse pass per output element."""

    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode". '
                         f'Got {strategy} instead.')
    inputs, in_tuple = _as_tuple(inputs, "inputs", "jacobian")
    if strategy == "forward-mode":
        if create_graph:
            raise NotImplementedError(
                "nb.autograd.functional.jacobian: `create_graph=True` and "
                '`strategy="forward-mode"` are not supported together (yet). Please either set '
                '`create_graph=False` or `strategy="reverse-mode"`.'
            )
        # PyTorch vectorizes forward mode with vmap and requires vectorize=True; nbgrad runs
        # one forward pass per input element and accepts both
        return _forward_jacobian(func, inputs, in_tuple, create_graph, strict)
    del vectorize  # accepted for compatibility; rows are computed one by one
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        outputs, out_tuple = _as_tuple(func(*xs), "outputs of the user-provided function",
                                       "jacobian")
        table = []
        for o in outputs:
            n = o.numel()
            rows: list[list] = [[] for _ in xs]
            seeds = eye(n, dtype=o.dtype, device=o.device) if n and o.requires_grad else None
            for k in range(n if seeds is not None else 0):
                gs = _grad(o, xs, seeds[k].reshape(o.shape), retain_graph=True,
                           create_graph=create_graph, allow_unused=True)
                for j, (g, x) in enumerate(zip(gs, xs)):
                    if g is None and strict:
                        raise RuntimeError(
                            f"Output {len(table)} of the user-provided function is independent "
                            f"of input {j}; this is not allowed in strict mode."
                        )
                    rows[j].append(g if g is not None else zeros(x.shape, dtype=x.dtype,
                                                                 device=x.device))
            blocks = []
            for j, x in enumerate(xs):
                if rows[j]:
                    block = stack(rows[j]).reshape(*o.shape, *x.shape)
                else:
                    block = zeros(*o.shape, *x.shape, dtype=x.dtype, device=x.device)
                blocks.append(block if create_graph else block.detach())
            table.append(tuple(blocks) if in_tuple else blocks[0])
    return tuple(table) if out_tuple else table[0]


def _gradient_function(func, create_graph_inner: bool = True):
    """``x -> d func(x) / dx`` for a scalar ``func``, itself differentiable."""

    def gradient(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError(
                "The function given to hessian/vhp/hvp should return a single Tensor with a "
                "single element."
            )

        if not out.requires_grad:
            return tuple(zeros_like(x) for x in xs)
        gs = _grad(out, xs, create_graph=create_graph_inner, allow_unused=True)
        return tuple(g if g is not None else zeros_like(x) for g, x in zip(gs, xs))

    return gradient


def hessian(func, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):
    """The Hessian of a scalar ``func``: shape ``input.shape + input.shape`` (a tuple of tuples
    for several inputs). ``outer_jacobian_strategy="forward-mode"`` differentiates the
    gradient by forward mode (forward-over-reverse).

    >>> import nbgrad as nb
    >>> from nbgrad.autograd.functional import hessian
    >>> hessian(lambda x: (x ** 3).sum(), nb.tensor([1.0, 2.0]),
    ...         outer_jacobian_strategy="forward-mode")
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    inputs, in_tuple = _as_tuple(inputs, "inputs", "hessian")
    gradient = _gradient_function(func)
    result = jacobian(lambda *xs: gradient(*xs) if in_tuple else gradient(*xs)[0],
                      inputs if in_tuple else inputs[0], create_graph=create_graph,
                      strict=strict, vectorize=vectorize, strategy=outer_jacobian_strategy)
    return result


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), vᵀ·H)`` for a scalar ``func``."""
    inputs, in_tuple = _as_tuple(inputs, "inputs", "vhp")
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        out = func(*xs)
    _, product = vjp(_gradient_function(func), inputs, v, create_graph, strict)
    product = product if isinstance(product, tuple) else (product,)
    return _finish((out,), create_graph, False), _finish(product, create_graph, in_tuple)


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(*inputs), H·v)`` for a scalar ``func`` (equal to ``vhp`` for smooth ``func``;
    computed as a jvp of the gradient)."""
    inputs, in_tuple = _as_tuple(inputs, "inputs", "hvp")
    with enable_grad():
        xs = _prepare(inputs, create_graph)
        out = func(*xs)
    _, product = jvp(_gradient_function(func), inputs, v, create_graph, strict)
    product = product if isinstance(product, tuple) else (product,)
    return _finish((out,), create_graph, False), _finish(product, create_graph, in_tuple)
