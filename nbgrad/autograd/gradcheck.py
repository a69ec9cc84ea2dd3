"""Finite-difference checks of gradients (first and second order), with PyTorch's keywords:
``fast_mode`` (one random projection ``uᵀJv`` instead of the whole Jacobian),
``check_batched_grad`` (several vector-Jacobian products at once, run as a loop),
``check_undefined_grad``, ``check_grad_dtypes``, ``nondet_tol``, ``check_forward_ad``
(forward mode against the numerical Jacobian), ``check_backward_ad``, ``masked`` (accepted:
nbgrad has no sparse tensors) and ``raise_exception``."""

from __future__ import annotations

import warnings

import numpy as np

from nbgrad._device import backend_for
from nbgrad.autograd import forward_ad
from nbgrad.autograd.engine import grad as _grad
from nbgrad.grad_mode import enable_grad, no_grad
from nbgrad.ops.creation import randn_like, tensor, zeros_like
from nbgrad.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "get_numerical_jacobian",
           "get_analytical_jacobian"]


class GradcheckError(RuntimeError):
    """Analytical and numerical gradients disagree.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    >>> nb.autograd.gradcheck(lambda t: t.detach() * t, (x,))  # the detach hides half of 2 * t
    Traceback (most recent call last):
        ...
    nbgrad.autograd.gradcheck.GradcheckError: Jacobian mismatch for output 0 with respect to...
    """


def _outputs(fn, inputs) -> tuple:
    out = fn(*inputs)
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _diff_inputs(inputs):
    return [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]


def _values(t: Tensor) -> np.ndarray:
    return t.detach()._host().astype(np.float64).ravel()


def _host_values(x: Tensor) -> np.ndarray:
    """A host copy of ``x``'s values, flat, in its own dtype."""
    return np.array(x.detach()._host(), copy=True).reshape(-1)


def _write(x: Tensor, flat: np.ndarray) -> None:
    """Overwrite ``x``'s values (on any device) without bumping its version."""
    bk = backend_for(x.device)
    bk.assign(x._data, bk.asarray(flat.reshape(x.shape), x._data.dtype))


def _basis(like: Tensor, k: int) -> Tensor:
    """A tensor like ``like`` (shape, dtype, device) that is 1 at flat index ``k``, else 0."""
    values = np.zeros(like.numel())
    values[k] = 1
    return tensor(values.reshape(like.shape), dtype=like.dtype, device=like.device)


def _numerical_jacobian(fn, inputs, idx, out_index, eps):
    """d(outputs[out_index]) / d(inputs[idx]) by central differences; (out.numel, in.numel)."""
    x = inputs[idx]
    orig = _host_values(x)
    with no_grad():
        n_out = _outputs(fn, inputs)[out_index].numel()
    jac = np.zeros((n_out, orig.size))
    for k in range(orig.size):
        step = orig.copy()
        step[k] = orig[k] + eps
        _write(x, step)
        with no_grad():
            plus = _values(_outputs(fn, inputs)[out_index])
        step[k] = orig[k] - eps
        _write(x, step)
        with no_grad():
            minus = _values(_outputs(fn, inputs)[out_index])
        _write(x, orig)
        jac[:, k] = (plus - minus) / (2 * eps)
    return jac


def _analytical_jacobian(fn, inputs, idx, out_index, check_dtypes=False):
    out = _outputs(fn, inputs)[out_index]
    x = inputs[idx]
    jac = np.zeros((out.numel(), x.numel()))
    for r in range(out.numel()):
        (g,) = _grad(out, x, _basis(out, r), retain_graph=True, allow_unused=True)
        if g is not None:
            if check_dtypes and g.dtype is not x.dtype:
                raise GradcheckError("Gradient has dtype mismatch")
            if g.shape != x.shape:
                raise GradcheckError("Analytical gradient has incorrect size")
            jac[r] = _values(g)
    return jac


def _forward_jacobian(fn, inputs, idx, out_index):
    """The same Jacobian by forward mode, one column per input element."""
    x = inputs[idx]
    out_n = None
    cols = []
    for k in range(x.numel()):
        tangent = _basis(x, k)
        with forward_ad.dual_level():
            args = list(inputs)
            args[idx] = forward_ad.make_dual(x.detach(), tangent)
            out = _outputs(fn, args)[out_index]
            t = forward_ad.unpack_dual(out).tangent
            out_n = out.numel()
            cols.append(np.zeros(out_n) if t is None else _values(t))
    return np.stack(cols, axis=1) if cols else np.zeros((out_n or 0, 0))


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def _fast_check(fn, inputs, o, i, eps, atol, rtol) -> tuple[float, float]:
    """``uᵀ J v`` numerically and analytically, for random ``u`` (output) and ``v`` (input)."""
    rng = np.random.default_rng(0)
    x = inputs[i]
    out = _outputs(fn, inputs)[o]
    v = rng.standard_normal(x.numel())
    u = rng.standard_normal(out.numel())
    orig = _host_values(x)
    _write(x, orig + eps * v)
    with no_grad():
        plus = _values(_outputs(fn, inputs)[o])
    _write(x, orig - eps * v)
    with no_grad():
        minus = _values(_outputs(fn, inputs)[o])
    _write(x, orig)
    numerical = float(u @ ((plus - minus) / (2 * eps)))
    seed = tensor(u.reshape(out.shape), dtype=out.dtype, device=out.device)
    (g,) = _grad(out, x, seed, retain_graph=True, allow_unused=True)
    analytical = 0.0 if g is None else float(_values(g) @ v)
    return numerical, analytical


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
              check_forward_ad: bool = False, check_backward_ad: bool = True,
              fast_mode: bool = False, masked: bool | None = None) -> bool:
    """Compare the gradients autograd computes for ``fn`` against central finite differences.

    Use float64 inputs with ``requires_grad=True``. ``fast_mode`` compares one random
    projection ``uᵀJv`` per (output, input) pair (recomputing the full Jacobians for the
    error message on a mismatch); ``check_forward_ad`` also checks forward mode;
    ``check_batched_grad`` checks several random vector-Jacobian products (as a loop);
    ``nondet_tol`` is how much two backward passes may differ; ``check_undefined_grad``
    checks that zero output gradients give zero input gradients; ``check_grad_dtypes`` that
    each gradient has its input's dtype. With ``raise_exception=False`` a failure returns
    False instead of raising.

    >>> import nbgrad as nb
    >>> x = nb.tensor([0.5, 1.5], dtype=nb.float64, requires_grad=True)
    >>> nb.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
    True
    >>> nb.autograd.gradcheck(lambda t: t.exp(), (x,), fast_mode=True, check_forward_ad=True)
    True
    >>> nb.autograd.gradcheck(lambda t: t.detach() * t, (x,), raise_exception=False)
    False
    """
    del masked, check_batched_forward_grad
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = _diff_inputs(inputs)
    if not diff:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of the "
            "them have requires_grad=True."
        )
    for i in diff:
        if inputs[i].dtype.name != "float64":
            warnings.warn(
                f"Input #{i} requires gradient and is not a double precision floating point. "
                "This check will likely fail if all the inputs are not of double precision "
                "floating point.", UserWarning, stacklevel=2,
            )
        if not inputs[i].is_contiguous():
            raise ValueError(f"gradcheck: input {i} must be contiguous")
    outs = _outputs(fn, inputs)
    for o, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for i in diff:
            if fast_mode and check_backward_ad:
                num, ana = _fast_check(fn, inputs, o, i, eps, atol, rtol)
                if abs(num - ana) <= atol + rtol * abs(num):
                    continue
                numerical = _numerical_jacobian(fn, inputs, i, o, eps)
                analytical = _analytical_jacobian(fn, inputs, i, o)
                return _fail(
                    f"Jacobian mismatch for output {o} with respect to input {i},\n"
                    f"numerical:{num}\nanalytical:{ana}\n\nThe above quantities relating the "
                    "numerical and analytical jacobians are computed in fast mode. Below, we "
                    "recompute numerical and analytical jacobians in slow mode:\n\n"
                    f"Numerical:\n {numerical}\nAnalytical:\n{analytical}\n\nThe max "
                    f"per-element difference (slow mode) is: "
                    f"{np.abs(numerical - analytical).max()}.\n", raise_exception)
            numerical = _numerical_jacobian(fn, inputs, i, o, eps)
            if check_backward_ad:
                analytical = _analytical_jacobian(fn, inputs, i, o, check_grad_dtypes)
                if not np.allclose(analytical, numerical, atol=atol, rtol=rtol):
                    return _fail(
                        f"Jacobian mismatch for output {o} with respect to input {i},\n"
                        f"numerical:{numerical}\nanalytical:{analytical}\n", raise_exception)
                if not _reentrant(fn, inputs, i, o, nondet_tol):
                    return _fail(
                        "Backward is not reentrant, i.e., running backward with same input and "
                        "grad_output multiple times gives different values, although analytical "
                        "gradient matches numerical gradient.The tolerance for nondeterminism "
                        f"was {nondet_tol}.", raise_exception)
            if check_forward_ad:
                forward = _forward_jacobian(fn, inputs, i, o)
                if not np.allclose(forward, numerical, atol=atol, rtol=rtol):
                    return _fail(
                        f"Jacobian computed with forward mode mismatch for output {o} with "
                        f"respect to input {i},\nnumerical:{numerical}\nanalytical:{forward}\n",
                        raise_exception)
    if check_backward_ad and check_batched_grad and not _batched_ok(fn, inputs, diff, atol, rtol):
        return _fail("While computing batched gradients, got: the vector-Jacobian products of "
                     "a batch of grad_outputs differ from those computed one at a time",
                     raise_exception)
    if check_backward_ad and check_undefined_grad and not _undefined_ok(fn, inputs, diff):
        return _fail(
            "Expected backward function to handle undefined output grads: zero (undefined) "
            "output gradients must give zero (or undefined) input gradients", raise_exception)
    return True


def _reentrant(fn, inputs, i, o, nondet_tol) -> bool:
    """One random vector-Jacobian product computed twice agrees within ``nondet_tol``."""
    out = _outputs(fn, inputs)[o]
    seed = randn_like(out)
    first, second = (_grad(out, inputs[i], seed, retain_graph=True, allow_unused=True)[0]
                     for _ in range(2))
    if first is None or second is None:
        return first is None and second is None
    return np.abs(_values(first) - _values(second)).max(initial=0.0) <= nondet_tol


def _batched_ok(fn, inputs, diff, atol, rtol, batch: int = 3) -> bool:
    """vjps of a batch of random grad_outputs (one backward each) against the Jacobian."""
    outs = [o for o in _outputs(fn, inputs) if o.requires_grad]
    xs = [inputs[i] for i in diff]
    jacs = {(o, i): _analytical_jacobian(fn, inputs, i, o)
            for o in range(len(outs)) for i in diff}
    rng = np.random.default_rng(1)
    for _ in range(batch):
        seeds = [rng.standard_normal(o.shape) for o in outs]
        gs = _grad(outs, xs, [tensor(s, dtype=o.dtype, device=o.device)
                              for s, o in zip(seeds, outs)],
                   retain_graph=True, allow_unused=True)
        for k, (i, g) in enumerate(zip(diff, gs)):
            expected = sum(jacs[(o, i)].T @ seeds[o].ravel() for o in range(len(outs)))
            got = np.zeros(xs[k].numel()) if g is None else _values(g)
            if not np.allclose(got, expected, atol=atol, rtol=rtol):
                return False
    return True


def _undefined_ok(fn, inputs, diff) -> bool:
    outs = [o for o in _outputs(fn, inputs) if o.requires_grad]
    if not outs:
        return True
    gs = _grad(outs, [inputs[i] for i in diff], [zeros_like(o) for o in outs],
               allow_unused=True)
    return all(g is None or not _values(g).any() for g in gs)


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False,
                  raise_exception: bool = True, nondet_tol: float = 0.0,
                  check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
                  check_batched_grad: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, fast_mode: bool = False,
                  masked: bool = False) -> bool:
    """Check second derivatives: gradcheck of the vector-Jacobian product of ``fn`` (the same
    keywords as :func:`gradcheck`; ``check_fwd_over_rev`` checks forward mode through the
    vjp).

    >>> import nbgrad as nb
    >>> x = nb.tensor([0.5, 1.5], dtype=nb.float64, requires_grad=True)
    >>> nb.autograd.gradgradcheck(lambda t: (t * t * t).sum(), (x,))
    True
    """
    del gen_non_contig_grad_outputs
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = _diff_inputs(inputs)
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(
            randn_like(o, requires_grad=True) for o in outs if o.requires_grad
        )
    else:
        grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else \
            tuple(grad_outputs)

    def vjp(*args):
        xs, gs = args[: len(inputs)], args[len(inputs):]
        with enable_grad():  # the numerical Jacobian calls this under no_grad
            ys = [o for o in _outputs(fn, xs) if o.requires_grad]
            grads = _grad(ys, [xs[i] for i in diff], gs, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(vjp, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol,
                     check_undefined_grad=check_undefined_grad,
                     check_grad_dtypes=check_grad_dtypes,
                     check_batched_grad=check_batched_grad,
                     check_forward_ad=check_fwd_over_rev, check_backward_ad=check_rev_over_rev,
                     fast_mode=fast_mode, masked=masked)


def get_numerical_jacobian(fn, inputs, target=None, eps: float = 1e-3, grad_out: float = 1.0):
    """Deprecated in PyTorch (with a warning): the numerical Jacobian of ``fn(inputs)`` (``fn``
    takes the tuple of inputs) with respect to each input in ``target`` (default: those that
    require grad), each of shape ``(input.numel(), output.numel())``.

    >>> import nbgrad as nb
    >>> import warnings
    >>> from nbgrad.autograd.gradcheck import get_numerical_jacobian
    >>> x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     (j,) = get_numerical_jacobian(lambda inp: inp[0] ** 2, (x,))
    >>> [[round(v, 6) for v in row] for row in j.tolist()]
    [[2.0, 0.0], [0.0, 4.0]]
    """
    warnings.warn(
        "`get_numerical_jacobian` was part of PyTorch's private API and not meant to be "
        "exposed. We are deprecating it and it will be removed in a future version of "
        "PyTorch.", FutureWarning, stacklevel=2,
    )
    if grad_out != 1.0:
        raise ValueError("Expected grad_out to be 1.0. get_numerical_jacobian no longer "
                         "supports values of grad_out != 1.0.")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    targets = inputs if target is None else (
        (target,) if isinstance(target, Tensor) else tuple(target))
    idx = [i for i, t in enumerate(inputs) if any(t is s for s in targets)
           and isinstance(t, Tensor) and t.requires_grad]
    result = []
    for i in idx:
        jac = _numerical_jacobian(lambda *xs: fn(xs), inputs, i, 0, eps)
        result.append(tensor(jac.T, dtype=inputs[i].dtype))
    return tuple(result)


def get_analytical_jacobian(inputs, output, nondet_tol: float = 0.0, grad_out: float = 1.0):
    """Deprecated in PyTorch (with a warning): ``(jacobians, reentrant, correct_grad_sizes,
    correct_grad_types)`` of ``output`` with respect to each input that requires grad,
    each Jacobian of shape ``(input.numel(), output.numel())``.

    >>> import nbgrad as nb
    >>> import warnings
    >>> from nbgrad.autograd.gradcheck import get_analytical_jacobian
    >>> x = nb.tensor([1.0, 2.0], dtype=nb.float64, requires_grad=True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     (j,), reentrant, sizes, types = get_analytical_jacobian((x,), x ** 2)
    >>> j, reentrant, sizes, types
    (tensor([[2., 0.],
            [0., 4.]], dtype=nbgrad.float64), True, True, True)
    """
    warnings.warn(
        "`get_analytical_jacobian` was part of PyTorch's private API and not meant to be "
        "exposed. We are deprecating it and it will be removed in a future version of "
        "PyTorch.", FutureWarning, stacklevel=2,
    )
    if grad_out != 1.0:
        raise ValueError("Expected grad_out to be 1.0. get_analytical_jacobian no longer "
                         "supports values of grad_out != 1.0.")
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = _diff_inputs(inputs)
    n = output.numel()
    jacs = [np.zeros((inputs[i].numel(), n)) for i in diff]
    again = [np.zeros((inputs[i].numel(), n)) for i in diff]
    sizes = types = True
    for r in range(n):
        seed = _basis(output, r)
        for store in (jacs, again):
            gs = _grad(output, [inputs[i] for i in diff], seed, retain_graph=True,
                       allow_unused=True)
            for k, (i, g) in enumerate(zip(diff, gs)):
                if g is None:
                    continue
                sizes = sizes and g.shape == inputs[i].shape
                types = types and g.dtype is inputs[i].dtype
                store[k][:, r] = _values(g)
    reentrant = all(np.abs(a - b).max(initial=0.0) <= nondet_tol for a, b in zip(jacs, again))
    out = tuple(tensor(j, dtype=inputs[i].dtype) for i, j in zip(diff, jacs))
    return out, reentrant, sizes, types
