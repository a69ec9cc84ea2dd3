"""Forward-mode automatic differentiation (PyTorch's ``torch.autograd.forward_ad``).

Inside ``with dual_level():``, ``make_dual(x, t)`` gives a *dual tensor*: the values of ``x``
together with a tangent ``t``. Every op on dual tensors computes, next to its output, the
output's tangent (the Jacobian-vector product ``J · t``), and ``unpack_dual(y)`` returns
``(primal, tangent)``. One forward pass gives the directional derivative of any function.

Where each op's jvp comes from (the dispatch point calls :func:`_propagate` after every op
while a level is open):

* **elementwise table rows** (``ops/elementwise.py`` and every other ``Elementwise``): from the
  same declaration as the gradient. A row's rule for input ``i`` is linear in the incoming
  gradient and elementwise, so ``jvp = sum_i rule_i(grad=tangent_i, ...)`` — no second copy.
* **linear ops** (views, copies, casts, indexing, ``sum``, ``cat``, ``flip``, ``gather`` ...):
  the op itself applied to the tangents (zeros for inputs without one).
* **bilinear ops** (``matmul``): the product rule, ``op(ta, b) + op(a, tb)``.
* **custom Functions**: their ``jvp(ctx, *tangents)`` staticmethod (``NotImplementedError``
  without one, as in PyTorch).
* **every other op** (softmax, reductions with an index, losses, ...): a *documented generic
  fallback* — the op is re-run on detached inputs and its vjp is differentiated with respect
  to the incoming gradient (``J · t = d/du <vjp(u), t>``, two reverse passes over that one op).
  The tangents it gives are exact and differentiable in reverse mode (the stand-ins stay
  connected to the inputs' history), at the cost of two small backward passes per call.

``nb.autograd.functional.jvp`` and ``nbgrad.func.jvp``/``jacfwd`` use this forward mode.
Tangents computed inside are not themselves dual (one level only: nested levels raise, as in
PyTorch).

>>> import nbgrad as nb
>>> import nbgrad.autograd.forward_ad as fwAD
>>> x = nb.tensor([0.0, 1.0])
>>> with fwAD.dual_level():
...     y = (fwAD.make_dual(x, nb.ones(2)) * 3).sin()
...     fwAD.unpack_dual(y).tangent  # d sin(3x)/dx = 3 cos(3x)
tensor([ 3.0000, -2.9700])
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

from nbgrad import errors
from nbgrad._graph import forward_ad_state
from nbgrad.autograd.engine import grad
from nbgrad.grad_mode import enable_grad
from nbgrad.ops._dispatch import apply, replay_view
from nbgrad.ops.creation import zeros_like
from nbgrad.tensor import Tensor

__all__ = [
    "dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
    "UnpackedDualTensor",
]

_levels = [0]  # a new id per level entered: tangents of a closed level are never read
_tracked: list = []  # weak references to the tensors given a tangent at the open level
_LINEAR = frozenset({  # ops linear in their float tensor inputs (the others are indices)
    "Reshape", "Permute", "Expand", "Index", "IndexAddIntoZeros", "IndexPut", "Copy", "Clone",
    "Cast", "ToDevice", "Flip", "Triangle", "Sum", "AsStrided", "Cat", "Gather", "ScatterAdd",
    "Embedding", "EmbeddingBackward",
})
_BILINEAR = frozenset({"MatMul"})  # linear in each input separately: the product rule
_ZERO = frozenset({"Fill"})  # the output does not depend on the input's values


class UnpackedDualTensor(NamedTuple):
    """What :func:`unpack_dual` returns: ``primal`` (a view of the values, without tangent)
    and ``tangent`` (None when the tensor has none at this level).

    >>> import nbgrad as nb
    >>> import nbgrad.autograd.forward_ad as fwAD
    >>> fwAD.unpack_dual(nb.tensor([1.0]))
    UnpackedDualTensor(primal=tensor([1.]), tangent=None)
    """

    primal: Tensor
    tangent: Tensor | None


def enter_dual_level() -> int:
    """Open a dual level (prefer ``with dual_level():``); returns its index, 0.

    >>> import nbgrad.autograd.forward_ad as fwAD
    >>> fwAD.enter_dual_level()
    0
    >>> fwAD.exit_dual_level()
    """
    if forward_ad_state.level != -1:
        raise errors.AutogradError("Nested forward mode AD is not supported at the moment")
    _levels[0] += 1
    forward_ad_state.level = _levels[0]
    forward_ad_state.hook = _propagate
    return 0


def exit_dual_level(*, level: int | None = None) -> None:
    """Close the open dual level: every tangent made in it is dropped.

    >>> import nbgrad as nb
    >>> import nbgrad.autograd.forward_ad as fwAD
    >>> _ = fwAD.enter_dual_level()
    >>> d = fwAD.make_dual(nb.zeros(1), nb.ones(1))
    >>> fwAD.exit_dual_level()
    >>> d._fw_grads is None
    True
    """
    if forward_ad_state.level == -1:
        raise errors.AutogradError(
            "Trying to exit a forward AD level that was not the last one that was created. "
            "This is not supported."
        )
    forward_ad_state.level = -1
    forward_ad_state.hook = None
    for ref in _tracked:
        t = ref()
        if t is not None:
            t._fw_grads = None
    _tracked.clear()


class dual_level:  # noqa: N801 (PyTorch's name)
    """Context manager of one forward-AD level: dual tensors made inside lose their tangents
    on exit.

    >>> import nbgrad as nb
    >>> import nbgrad.autograd.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     d = fwAD.make_dual(nb.tensor([2.0]), nb.tensor([1.0]))
    ...     fwAD.unpack_dual(d * d).tangent
    tensor([4.])
    >>> fwAD.unpack_dual(d).tangent is None
    True
    """

    def __enter__(self) -> int:
        return enter_dual_level()

    def __exit__(self, *exc) -> None:
        exit_dual_level()


def _set_tangent(t: Tensor, tangent: Tensor) -> None:
    if t._fw_grads is None:
        _tracked.append(weakref.ref(t))
    t._fw_grads = {forward_ad_state.level: tangent}


def _tangent(t) -> Tensor | None:
    if isinstance(t, Tensor) and t._fw_grads is not None:
        return t._fw_grads.get(forward_ad_state.level)
    return None


def make_dual(tensor: Tensor, tangent: Tensor, *, level: int | None = None) -> Tensor:
    """A view of ``tensor`` (keeping its reverse-mode history) carrying ``tangent``, which must
    have ``tensor``'s shape; it is cast to ``tensor``'s dtype.

    >>> import nbgrad as nb
    >>> import nbgrad.autograd.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     d = fwAD.make_dual(nb.tensor([1.0, 2.0]), nb.tensor([1.0, 0.0]))
    ...     fwAD.unpack_dual(d.exp()).tangent
    tensor([2.7183, 0.0000])
    """
    del level
    if forward_ad_state.level == -1:
        raise errors.AutogradError(
            "Trying to create a dual Tensor for forward AD but no level exists, make sure to "
            "enter_dual_level() first."
        )
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError("make_dual expects Tensors for tensor and tangent")
    if tangent.shape != tensor.shape:
        raise errors.AutogradError(
            "Trying to set a forward gradient that has a different size than that of the "
            f"original Tensor, this is not supported. Tensor is of size {list(tensor.shape)} "
            f"while the given forward gradient is of size {list(tangent.shape)}."
        )
    if not tensor.dtype.is_floating_point:
        raise errors.AutogradError(
            f"Expected primal to be floating point or complex, but got: {tensor.dtype.name}"
        )
    if tangent.device != tensor.device:
        raise errors.DeviceMismatchError(
            f"Expected tangent to be on device {tensor.device}, but got {tangent.device}"
        )
    with _suspended():
        out = tensor.view(tensor.shape)
    _set_tangent(out, tangent if tangent.dtype is tensor.dtype else tangent.to(tensor.dtype))
    return out


def unpack_dual(tensor: Tensor, *, level: int | None = None) -> UnpackedDualTensor:
    """``(primal, tangent)`` of ``tensor``: the primal is a view without a tangent (keeping
    the reverse-mode history), the tangent None when there is none.

    >>> import nbgrad as nb
    >>> import nbgrad.autograd.forward_ad as fwAD
    >>> with fwAD.dual_level():
    ...     p, t = fwAD.unpack_dual(fwAD.make_dual(nb.tensor([3.0]), nb.tensor([1.0])) ** 2)
    >>> p, t
    (tensor([9.]), tensor([6.]))
    """
    del level
    tangent = _tangent(tensor)
    if tangent is None:
        return UnpackedDualTensor(tensor, None)
    with _suspended():
        primal = tensor.view(tensor.shape)
    return UnpackedDualTensor(primal, tangent)


class _suspended:  # noqa: N801
    """No tangents are computed inside (the jvp rules run here: their own ops are plain)."""

    def __enter__(self):
        self.hook = forward_ad_state.hook
        forward_ad_state.hook = None

    def __exit__(self, *exc) -> None:
        forward_ad_state.hook = self.hook


def _propagate(op, inputs: tuple, params, outputs):
    """Called by the dispatch point after ``op`` ran (``outputs``) or before an in-place op
    writes (``outputs`` None: returns a setter for the target's new tangent, or None)."""
    tangents = [_tangent(x) for x in inputs]
    if all(t is None for t in tangents):
        return None
    if not getattr(op, "differentiable", True):
        return None
    with _suspended():
        if outputs is None:  # in place: the new value, computed out of place first
            result = apply(op, tuple(x.detach() if isinstance(x, Tensor) else x
                                     for x in inputs), params)
            outs = result if isinstance(result, tuple) else (result,)
        else:
            outs = outputs
        found = jvp_of(op, inputs, params, outs, tangents)
    if outputs is None:
        new = found[0]
        if new is None:
            return None

        def set_tangent(target):
            _set_tangent(target, _fit(new, target))
            base = target._base
            if base is not None and base.dtype.is_floating_point:  # the base's tangent too
                with _suspended():
                    old = _tangent(base)
                    whole = zeros_like(base) if old is None else old.clone()
                    region = replay_view(whole, target._view_steps)
                    region.copy_(_fit(new, target).detach())
                _set_tangent(base, whole)

        return set_tangent
    for o, t in zip(outs, found):
        if t is not None and o.dtype.is_floating_point:
            _set_tangent(o, _fit(t, o))
    return None


def _fit(t: Tensor, like: Tensor) -> Tensor:
    if t.shape != like.shape:
        t = t.expand(*like.shape)
    if t.dtype is not like.dtype:
        t = t.to(like.dtype)
    return t


def _zeros_like(x: Tensor) -> Tensor:
    return zeros_like(x)


def jvp_of(op, inputs: tuple, params, outputs: tuple, tangents: list) -> tuple:
    """The tangent of each output of ``op`` given the inputs' tangents (None where none)."""
    if hasattr(op, "grad_rules") and hasattr(op, "input_grad"):  # an elementwise row
        values = tuple(inputs)
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            g = op.input_grad(i, t, values, outputs[0])
            if g is not None:
                total = g if total is None else total + g
        return (total,)
    kind = type(op).__name__
    if kind in _ZERO:
        return tuple(_zeros_like(o) for o in outputs)
    if kind in _LINEAR:
        args = []
        for x, t in zip(inputs, tangents):
            if isinstance(x, Tensor) and x.dtype.is_floating_point:
                args.append(t if t is not None else _zeros_like(x))
            elif isinstance(x, (int, float)) and not isinstance(x, bool):
                args.append(0)  # a number written into the output (index_put, fill) is constant
            else:
                args.append(x)
        result = apply(op, tuple(args), params)
        return result if isinstance(result, tuple) else (result,)
    if kind in _BILINEAR:
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            args = list(inputs)
            args[i] = t
            part = apply(op, tuple(args), params)
            total = part if total is None else total + part
        return (total,)
    if hasattr(op, "fn_cls"):  # a custom Function's node op: handled by Function.apply
        return (None,) * len(outputs)
    return _double_vjp(op, inputs, params, tangents)


def _double_vjp(op, inputs: tuple, params, tangents: list) -> tuple:
    """The generic fallback: ``J · t`` as the derivative of the op's vjp ``u -> uᵀJ`` with
    respect to ``u`` (the vjp is linear in ``u``), for ops without a forward rule. The op is
    re-run on stand-ins of its inputs that stay connected to their history, so the tangents
    it gives are differentiable in reverse mode too (reverse-over-forward)."""
    with enable_grad():
        xs = []
        wrt = []
        keep = False
        for x, t in zip(inputs, tangents):
            if isinstance(x, Tensor) and t is not None:
                if x.requires_grad:  # a differentiable stand-in, linked to x's history
                    d = x.view(x.shape)
                    keep = True
                else:
                    d = x.detach().requires_grad_(True)
                keep = keep or t.requires_grad
                wrt.append((d, t))
                xs.append(d)
            else:
                keep = keep or (isinstance(x, Tensor) and x.requires_grad)
                xs.append(x)
        result = apply(op, tuple(xs), params)
        outs = result if isinstance(result, tuple) else (result,)
        diff = [i for i, o in enumerate(outs) if o.requires_grad]
        found = [None] * len(outs)
        if not diff:
            return tuple(found)
        us = [zeros_like(outs[i]).requires_grad_(True) for i in diff]
        gs = grad([outs[i] for i in diff], [d for d, _ in wrt], us, create_graph=True,
                  allow_unused=True)
        pairs = [(g, t) for g, (_, t) in zip(gs, wrt) if g is not None and g.requires_grad]
        if not pairs:
            return tuple(_zeros_like(o) if o.dtype.is_floating_point else None for o in outs)
        jv = grad([g for g, _ in pairs], us, [t for _, t in pairs], create_graph=keep,
                  allow_unused=True)
    for i, g in zip(diff, jv):
        if g is None:
            g = _zeros_like(outs[i])
        found[i] = g if keep else g.detach()
    return tuple(found)


def function_jvp(fn_cls, has_jvp: bool, ctx, args: tuple, raw) -> None:
    """Give the outputs of a custom ``Function`` call their tangents through ``fn_cls.jvp``
    (called with one tangent per input: zeros for a tensor without one, None for a
    non-tensor), as PyTorch does; raises when the Function defines no ``jvp``."""
    tangents = [_tangent(a) for a in args]
    if all(t is None for t in tangents):
        return
    if not has_jvp:
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )
    full = [t if t is not None else (_zeros_like(a) if isinstance(a, Tensor) else None)
            for a, t in zip(args, tangents)]
    with _suspended():
        result = fn_cls.jvp(ctx, *full)
    outs = raw if isinstance(raw, tuple) else (raw,)
    result = result if isinstance(result, tuple) else (result,)
    for o, t in zip(outs, result):
        if isinstance(o, Tensor) and isinstance(t, Tensor) and o.dtype.is_floating_point:
            _set_tangent(o, _fit(t, o))
