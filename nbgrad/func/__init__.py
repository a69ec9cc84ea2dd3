"""Function transforms in the style of ``torch.func``: ``grad``, ``grad_and_value``, ``vjp``,
``jvp``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap`` and ``functional_call``.

Each transform takes a function and returns a function; they compose (``grad(grad(f))``,
``jacfwd(jacrev(f))``, ``vmap(grad(f))``). They are built on nbgrad's autograd: ``grad``,
``vjp`` and ``jacrev`` on reverse mode (``nb.autograd.grad``), ``jvp`` and ``jacfwd`` on
forward mode (``nb.autograd.forward_ad``). Arguments may be tensors or nested tuples, lists
and dicts of tensors (pytrees).

``vmap`` runs ``func`` **once per sample** (slicing the mapped dimension of each input and
stacking the outputs): the *loop fallback*. It works for every function, including custom
Functions and anything ``func`` does in Python, at the cost of one call per sample; nbgrad has
no batching rules yet. Per-sample gradients are one line:

>>> import nbgrad as nb
>>> from nbgrad.func import grad, vmap
>>> w = nb.tensor([1.0, 2.0])
>>> xs = nb.tensor([[1.0, 0.0], [0.0, 3.0]])
>>> def loss(w, x):
...     return ((w * x).sum()) ** 2
>>> vmap(grad(loss), in_dims=(None, 0))(w, xs)  # one gradient per row of xs
tensor([[ 2.,  0.],
        [ 0., 36.]])
"""

from __future__ import annotations

from nbgrad.func._transforms import (
    functional_call,
    grad,
    grad_and_value,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    vjp,
    vmap,
)

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap",
           "functional_call"]
