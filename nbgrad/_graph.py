"""Autograd graph primitives: version counters, saved tensors and graph nodes.

Kept below ``tensor.py`` and ``ops/`` so the dispatch can build nodes without importing the engine.
"""

from __future__ import annotations

import traceback
import weakref

from nbgrad import errors

__all__ = [
    "VersionCounter", "SavedTensor", "Node", "anomaly_state", "FREED",
    "VIEW_NORMAL", "VIEW_NO_GRAD", "VIEW_INFERENCE",
]

# How a view came to be (PyTorch's CreationMeta), checked when the view is modified in place:
# made while recording, made under no_grad from a tensor that requires grad, made in inference mode.
VIEW_NORMAL, VIEW_NO_GRAD, VIEW_INFERENCE = 0, 1, 2


class VersionCounter:
    """Shared by a tensor, its views and its detached aliases; every in-place op bumps it by one."""

    __slots__ = ("value", "__weakref__")  # weakly keyed by the anomaly in-place traces

    def __init__(self) -> None:
        self.value = 0


class _AnomalyState:
    """Process-wide switch for anomaly detection (as in PyTorch, it is global, not per context)."""

    __slots__ = ("enabled", "check_nan")

    def __init__(self) -> None:
        self.enabled = False
        self.check_nan = True


anomaly_state = _AnomalyState()


def _describe(tensor) -> str:
    return f"[{tensor.dtype.name} tensor {list(tensor.shape)}]"


class SavedTensor:
    """A tensor kept for backward together with the version it had when it was saved.

    An op's own output is kept as its array and counter only (no Tensor object), so that saving
    an output never makes a reference cycle between the output and its node.
    """

    __slots__ = ("tensor", "data", "counter", "version", "requires_grad", "device", "cls")

    def __init__(self, tensor, is_output: bool) -> None:
        counter = tensor._version_counter
        if counter is None:
            raise errors.InferenceTensorError(errors.INFERENCE_SAVED)
        self.counter = counter
        self.version = counter.value
        if is_output:
            self.tensor = None
            self.cls = type(tensor)
            self.data = tensor._data
            self.device = tensor._device
            self.requires_grad = tensor._requires_grad
        else:
            self.tensor = tensor
            self.data = None

    def unpack(self, node: Node):
        """The saved tensor; raises if it was modified in place since it was saved."""
        if self.counter.value != self.version:
            tensor = self.tensor
            shape = tuple(tensor.shape if tensor is not None else self.data.shape)
            dtype = (tensor.dtype.name if tensor is not None else str(self.data.dtype))
            if tensor is None:  # the op's own output
                owner = f", which is output 0 of {node.name()},"
            elif tensor._grad_fn is None:  # a leaf: PyTorch names no node
                owner = ""
            else:
                owner = f", which is output {tensor._output_nr} of {tensor._grad_fn.name()},"
            raise errors.VersionMismatchError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{dtype} tensor {list(shape)}]{owner} is at version "
                f"{self.counter.value}; expected version {self.version} instead. Hint: enable "
                "anomaly detection to find the operation that failed to compute its gradient, "
                "with nb.autograd.set_detect_anomaly(True)."
                + _inplace_origin(self.counter)
            )
        if self.tensor is not None:
            return self.tensor
        out = self.cls.__new__(self.cls)  # the class of the op's output (tensor.py is above)
        out._data = self.data
        out._version_counter = self.counter
        out._device = self.device
        if self.requires_grad:
            out._requires_grad = True
            out._grad_fn = node
        return out


_INPLACE_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def record_inplace_trace(counter: VersionCounter, op_name: str) -> None:
    """Under anomaly detection, remember where a tensor was last modified in place."""
    _INPLACE_TRACES[counter] = (op_name, "".join(traceback.format_stack(limit=12)[:-3]))


def _inplace_origin(counter: VersionCounter) -> str:
    found = _INPLACE_TRACES.get(counter) if anomaly_state.enabled else None
    if found is None:
        return ""
    return f"\nThe in-place operation {found[0]} that modified it was called from:\n{found[1]}"


FREED = object()  # marks a saved tensor released by backward


class Node:
    """One recorded op: its definition, parameters, edges to its inputs' history and saved tensors.

    ``edges[i]`` is ``(target, output_nr)`` where target is the input's Node, or the input tensor
    itself when it is a leaf that requires grad, or ``None`` when input ``i`` needs no gradient.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (x * 3).sum()
    >>> y.grad_fn.name(), y.grad_fn.next_functions[0][0].name()
    ('SumBackward0', 'MulBackward0')
    """

    __slots__ = (
        "op", "params", "edges", "saved", "saved_output", "meta",
        "pre_hooks", "retained", "trace", "__weakref__",
    )

    def __init__(self, op, params, edges) -> None:
        self.op = op
        self.params = params
        self.edges = edges
        self.saved = None
        self.saved_output = None
        self.meta = None
        self.pre_hooks = None
        self.retained = None
        self.trace = None

    def name(self) -> str:
        """PyTorch-style name of the backward function, e.g. ``MulBackward0``.

        >>> import nbgrad as nb
        >>> nb.tensor([1.0], requires_grad=True).exp().grad_fn.name()
        'ExpBackward0'
        """
        return self.op.backward_name

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """For each input, whether it needs a gradient.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> (x * nb.tensor([2.0])).grad_fn.needs_input_grad
        (True, False)
        """
        return tuple(e is not None for e in self.edges)

    @property
    def next_functions(self) -> tuple:
        """``((node_or_AccumulateGrad_or_None, output_nr), ...)`` for each input, as in PyTorch.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> (x * nb.tensor([2.0])).grad_fn.next_functions
        ((<AccumulateGrad object at 0x...>, 0), (None, 0))
        """
        out = []
        for edge in self.edges:
            if edge is None:
                out.append((None, 0))
            elif isinstance(edge[0], Node):
                out.append(edge)
            else:
                out.append((AccumulateGrad(edge[0]), 0))
        return tuple(out)

    def saved_input(self, i: int):
        """Input ``i`` as saved at forward: a version-checked tensor, or the Python scalar.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> (x * nb.tensor([3.0])).grad_fn.saved_input(1)  # d(x * b)/dx needs b
        tensor([3.])
        """
        found = self.saved[i]
        if type(found) is SavedTensor:
            return found.unpack(self)
        if found is FREED:
            raise errors.GraphFreedError(errors.SECOND_BACKWARD)
        return found

    def output(self):
        """The saved output (version-checked).

        >>> import nbgrad as nb
        >>> x = nb.tensor([0.0, 1.0], requires_grad=True)
        >>> [round(v, 4) for v in x.exp().grad_fn.output().tolist()]  # d exp(x)/dx = exp(x)
        [1.0, 2.7183]
        """
        found = self.saved_output
        if found is FREED:
            raise errors.GraphFreedError(errors.SECOND_BACKWARD)
        return found.unpack(self)

    def free(self) -> None:
        """Drop the saved tensors (after a backward without ``retain_graph``).

        >>> import nbgrad as nb
        >>> y = nb.tensor([1.0], requires_grad=True).exp().sum()
        >>> y.grad_fn.next_functions[0][0].free()
        >>> y.backward()
        Traceback (most recent call last):
            ...
        nbgrad.errors.GraphFreedError: Trying to backward through the graph a second time...
        """
        saved = self.saved
        if saved is not None:
            self.saved = tuple(FREED if type(s) is SavedTensor else s for s in saved)
        if self.saved_output is not None:
            self.saved_output = FREED

    def register_hook(self, fn):
        """Not supported on nodes; use ``Tensor.register_hook``.

        >>> import nbgrad as nb
        >>> (nb.tensor([1.0], requires_grad=True) * 2).grad_fn.register_hook(print)
        Traceback (most recent call last):
            ...
        RuntimeError: register hooks on tensors (Tensor.register_hook), not on grad_fn
        """
        raise RuntimeError("register hooks on tensors (Tensor.register_hook), not on grad_fn")

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


class AccumulateGrad:
    """What ``next_functions`` shows for a leaf: accumulates into ``variable.grad``."""

    __slots__ = ("variable",)

    def __init__(self, variable) -> None:
        self.variable = variable

    def name(self) -> str:
        """Always ``AccumulateGrad``."""
        return "AccumulateGrad"

    @property
    def next_functions(self) -> tuple:
        """A leaf has no inputs."""
        return ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"
