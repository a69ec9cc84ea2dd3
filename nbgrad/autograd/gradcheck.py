"""Finite-difference checks of gradients (first and second order)."""

from __future__ import annotations

import numpy as np

from nbgrad.autograd.engine import grad as _grad
from nbgrad.grad_mode import enable_grad, no_grad
from nbgrad.ops.creation import randn_like, zeros_like
from nbgrad.tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


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


def _numerical_jacobian(fn, inputs, idx, out_index, eps):
    """d(outputs[out_index]) / d(inputs[idx]) by central differences; (out.numel, in.numel)."""
    x = inputs[idx]
    flat = x.detach()._data.reshape(-1)  # shares memory with x (contiguous by construction)
    with no_grad():
        n_out = _outputs(fn, inputs)[out_index].numel()
    jac = np.zeros((n_out, flat.size))
    for k in range(flat.size):
        orig = flat[k]
        flat[k] = orig + eps
        with no_grad():
            plus = _outputs(fn, inputs)[out_index].detach()._data.astype(np.float64).ravel()
        flat[k] = orig - eps
        with no_grad():
            minus = _outputs(fn, inputs)[out_index].detach()._data.astype(np.float64).ravel()
        flat[k] = orig
        jac[:, k] = (plus - minus) / (2 * eps)
    return jac


def _analytical_jacobian(fn, inputs, idx, out_index):
    out = _outputs(fn, inputs)[out_index]
    x = inputs[idx]
    jac = np.zeros((out.numel(), x.numel()))
    for r in range(out.numel()):
        seed = zeros_like(out)
        seed._data.reshape(-1)[r] = 1
        (g,) = _grad(out, x, seed, retain_graph=True, allow_unused=True)
        if g is not None:
            jac[r] = g.detach()._data.astype(np.float64).ravel()
    return jac


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare the gradients autograd computes for ``fn`` against central finite differences.

    Use float64 inputs with ``requires_grad=True``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([0.5, 1.5], dtype=nb.float64, requires_grad=True)
    >>> nb.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
    True
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i in _diff_inputs(inputs):
        if inputs[i].dtype.name != "float64":
            import warnings

            warnings.warn(
                f"gradcheck: input {i} is {inputs[i].dtype.name}; use float64 for reliable "
                "finite differences", UserWarning, stacklevel=2,
            )
        if not inputs[i].is_contiguous():
            raise ValueError(f"gradcheck: input {i} must be contiguous")
    n_outputs = len(_outputs(fn, inputs))
    for o in range(n_outputs):
        if not _outputs(fn, inputs)[o].requires_grad:
            continue
        for i in _diff_inputs(inputs):
            numerical = _numerical_jacobian(fn, inputs, i, o, eps)
            analytical = _analytical_jacobian(fn, inputs, i, o)
            if not np.allclose(analytical, numerical, atol=atol, rtol=rtol):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"Jacobian mismatch for output {o} with respect to input {i}:\n"
                    f"numerical:\n{numerical}\nanalytical:\n{analytical}"
                )
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck of the vector-Jacobian product of ``fn``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([0.5, 1.5], dtype=nb.float64, requires_grad=True)
    >>> nb.autograd.gradgradcheck(lambda t: (t * t * t).sum(), (x,))
    True
    """

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = _diff_inputs(inputs)
    outs = _outputs(fn, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(
            randn_like(o, requires_grad=True) for o in outs if o.requires_grad
        )
    n_grads = len(grad_outputs)

    def vjp(*args):
        xs, gs = args[: len(inputs)], args[len(inputs):]
        with enable_grad():  # the numerical Jacobian calls this under no_grad
            ys = [o for o in _outputs(fn, xs) if o.requires_grad]
            grads = _grad(ys, [xs[i] for i in diff], gs, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    del n_grads
    return gradcheck(vjp, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
