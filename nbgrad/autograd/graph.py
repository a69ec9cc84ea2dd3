"""Tools on the autograd graph: ``Node`` (the base class of every ``grad_fn``), gradient edges,
version counters and the hooks on saved tensors (``saved_tensors_hooks``, ``save_on_cpu``,
``disable_saved_tensors_hooks``), as in ``torch.autograd.graph``."""

from __future__ import annotations

import contextlib
import functools
from typing import NamedTuple

from nbgrad import _graph, errors
from nbgrad._graph import AccumulateGrad, saved_hooks_open, saved_hooks_state
from nbgrad.tensor import Tensor

__all__ = [
    "Node", "GradientEdge", "get_gradient_edge", "increment_version",
    "unsafe_preserve_version_counter", "saved_tensors_hooks", "save_on_cpu",
    "disable_saved_tensors_hooks",
]

Node = _graph.GraphNode


class GradientEdge(NamedTuple):
    """An edge of the graph: a ``node`` and which of its outputs (``output_nr``). Pass one to
    ``autograd.grad`` as an input (or output) instead of a tensor.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x * 2
    >>> edge = nb.autograd.graph.get_gradient_edge(y)
    >>> edge.node.name(), edge.output_nr
    ('MulBackward0', 0)
    >>> nb.autograd.grad(y.sum(), edge)
    (tensor([1., 1.]),)
    """

    node: object
    output_nr: int
    ownership_token: object = None


def get_gradient_edge(tensor: Tensor) -> GradientEdge:
    """The edge gradients of ``tensor`` flow into: ``(grad_fn, output_nr)``, or the leaf's
    ``AccumulateGrad``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0], requires_grad=True)
    >>> nb.autograd.graph.get_gradient_edge(x).node.name()
    'AccumulateGrad'
    """
    if not tensor.requires_grad:
        raise errors.AutogradError(
            "It is not possible to get the gradient edge for a Tensor that does not require "
            "gradients"
        )
    fn = tensor.grad_fn
    if fn is None:
        return GradientEdge(AccumulateGrad.of(tensor), 0)
    return GradientEdge(fn, tensor._output_nr)


def increment_version(tensor) -> None:
    """Bump the version counter of ``tensor`` (or of each tensor of a sequence), as an
    in-place change would: for code that modifies a tensor's memory behind autograd's back.

    >>> import nbgrad as nb
    >>> v = nb.zeros(2)
    >>> nb.autograd.graph.increment_version(v)
    >>> v._version
    1
    """
    for t in (tensor,) if isinstance(tensor, Tensor) else tuple(tensor):
        if t._version_counter is not None:
            t._version_counter.value += 1


@contextlib.contextmanager
def unsafe_preserve_version_counter(tensors):
    """Restore the version counters of ``tensors`` on exit, hiding in-place changes made inside
    from the saved-tensor check. Only for code that knows the change does not affect gradients.

    >>> import nbgrad as nb
    >>> x = nb.zeros(3)
    >>> with nb.autograd.graph.unsafe_preserve_version_counter(x):
    ...     _ = x.add_(1)
    >>> x._version
    0
    """
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    tensors = tuple(tensors)
    saved = [t._version for t in tensors]
    try:
        yield
    finally:
        for t, v in zip(tensors, saved):
            t._version_counter.value = v


class saved_tensors_hooks:  # noqa: N801 (PyTorch's name)
    """Context manager: every tensor an op saves for backward inside the block goes through
    ``pack_hook(tensor)``, and whatever it returned comes back through ``unpack_hook(packed)``
    when backward needs it. Hooks nest (the innermost wins) and are per context (thread/task).

    >>> import nbgrad as nb
    >>> packed = []
    >>> def pack(t):
    ...     packed.append(t.shape)
    ...     return t.detach().clone()
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> with nb.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    ...     y = (x * x).sum()
    >>> y.backward()
    >>> packed, x.grad
    ([(2,), (2,)], tensor([2., 4.]))
    """

    def __init__(self, pack_hook, unpack_hook) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook
        self._tokens: list = []

    def __enter__(self):
        stack = saved_hooks_state.get()
        disabled = stack[-1] if stack and isinstance(stack[-1], str) else None
        if disabled is not None:
            raise errors.AutogradError(disabled)
        self._tokens.append(saved_hooks_state.set((*stack, (self.pack_hook, self.unpack_hook))))
        saved_hooks_open[0] += 1
        return self

    def __exit__(self, *exc) -> None:
        saved_hooks_open[0] -= 1
        _restore(self._tokens.pop())


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """Saved tensors are copied to the CPU when saved and moved back to their device when
    backward unpacks them (``pin_memory`` is accepted and ignored).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> with nb.autograd.graph.save_on_cpu():
    ...     y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4.])
    """

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        del pin_memory, device_type

        def pack(t):
            return (t.device, t.detach().cpu().clone())

        def unpack(packed):
            device, t = packed
            return t.to(device)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801
    """Context manager (and decorator): inside it, entering ``saved_tensors_hooks`` raises
    with ``error_message``; entering it while hooks are active raises the same way.

    >>> import nbgrad as nb
    >>> with nb.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
    ...     with nb.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t):
    ...         pass
    Traceback (most recent call last):
        ...
    nbgrad.errors.AutogradError: no hooks here
    """

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message
        self._tokens: list = []

    def __enter__(self):
        stack = saved_hooks_state.get()
        if stack and type(stack[-1]) is tuple:  # hooks are active: PyTorch refuses too
            raise errors.AutogradError(self.error_message)
        self._tokens.append(saved_hooks_state.set((*stack, self.error_message)))
        saved_hooks_open[0] += 1
        return self

    def __exit__(self, *exc) -> None:
        saved_hooks_open[0] -= 1
        _restore(self._tokens.pop())

    def __call__(self, fn):
        """Use as a decorator: the function runs with saved-tensor hooks disabled."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with disable_saved_tensors_hooks(self.error_message):
                return fn(*args, **kwargs)

        return wrapper


def _restore(token) -> None:
    """Leave a hooks block: back to the stack it was entered on (``reset`` fails when the
    block is left in another context than it was entered in; then set the old value)."""
    try:
        saved_hooks_state.reset(token)
    except ValueError:
        saved_hooks_state.set(token.old_value if token.old_value is not token.MISSING else ())
