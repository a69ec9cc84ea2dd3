"""Autograd graph primitives: version counters, saved tensors and graph nodes.

Kept below ``tensor.py`` and ``ops/`` so the dispatch can build nodes without importing the engine.
"""

from __future__ import annotations

import contextvars
import traceback
import weakref

from nbgrad import errors

__all__ = [
    "VersionCounter", "SavedTensor", "Node", "AccumulateGrad", "RemovableHandle", "node_class",
    "anomaly_state", "FREED", "VIEW_NORMAL", "VIEW_NO_GRAD", "VIEW_INFERENCE", "GraphNode",
    "saved_hooks_state", "saved_hooks_open", "forward_ad_state",
]

# The stack of (pack, unpack) hooks of ``autograd.graph.saved_tensors_hooks`` (a str entry: the
# error message of ``disable_saved_tensors_hooks``), per context like the grad mode.
saved_hooks_state: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "nbgrad_saved_tensors_hooks", default=()
)
# How many saved_tensors_hooks / disable_saved_tensors_hooks blocks are open in any context:
# while 0, saving a tensor does not read the ContextVar (the common case costs nothing).
saved_hooks_open = [0]


class _ForwardADState:
    """Forward-mode AD (``autograd.forward_ad``): the current dual level (-1: none) and the
    function the dispatch point calls after each op while a level is open (None otherwise)."""

    __slots__ = ("level", "hook")

    def __init__(self) -> None:
        self.level = -1
        self.hook = None


forward_ad_state = _ForwardADState()

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

    __slots__ = ("enabled", "check_nan", "parent")

    def __init__(self) -> None:
        self.enabled = False
        self.check_nan = True
        self.parent = None  # the node whose backward is running (nodes it records link to it)


anomaly_state = _AnomalyState()


class SavedTensor:
    """A tensor kept for backward together with the version it had when it was saved.

    An op's own output is kept as its array and counter only (no Tensor object), so that saving
    an output never makes a reference cycle between the output and its node. Inside
    ``autograd.graph.saved_tensors_hooks`` the tensor goes through the pack hook instead and
    comes back through the unpack hook, with its history re-attached.
    """

    __slots__ = ("tensor", "data", "counter", "version", "requires_grad", "device", "cls",
                 "fw", "packed", "unpack_hook", "grad_fn", "output_nr")

    def __init__(self, tensor, is_output: bool) -> None:
        counter = tensor._version_counter
        if counter is None:
            raise errors.InferenceTensorError(errors.INFERENCE_SAVED)
        self.counter = counter
        self.version = counter.value
        self.fw = tensor._fw_grads
        self.unpack_hook = None
        if saved_hooks_open[0]:
            hooks = saved_hooks_state.get()
            if hooks and type(hooks[-1]) is tuple:
                self._pack(tensor, is_output, hooks[-1])
                return
        if is_output:
            self.tensor = None
            self.cls = type(tensor)
            self.data = tensor._data
            self.device = tensor._device
            self.requires_grad = tensor._requires_grad
        else:
            self.tensor = tensor
            self.data = None
            self.grad_fn = tensor._grad_fn  # to detect a later detach_() of a non-leaf

    def _pack(self, tensor, is_output: bool, hooks) -> None:
        pack, self.unpack_hook = hooks
        self.data = None
        self.cls = type(tensor)
        self.requires_grad = tensor._requires_grad
        self.grad_fn = None if is_output else tensor._grad_fn
        self.output_nr = tensor._output_nr
        # a leaf that requires grad is referred to (weakly): its gradient must reach it
        leaf = tensor._requires_grad and tensor._grad_fn is None and not is_output
        self.tensor = weakref.ref(tensor) if leaf else None
        self.packed = pack(tensor)

    def _unpack_hooked(self, node: Node):
        if self.packed is FREED:
            raise errors.GraphFreedError(errors.SECOND_BACKWARD)
        value = self.unpack_hook(self.packed)
        if type(value).__name__ != self.cls.__name__ and not hasattr(value, "_data"):
            raise TypeError(
                "Output of saved tensor unpack_hook expected to be a Tensor but got result of "
                f"type {type(value).__name__}"
            )
        if not self.requires_grad:
            return value
        out = self.cls.__new__(self.cls)
        out._data = value._data
        out._version_counter = value._version_counter
        out._device = value._device
        out._requires_grad = True
        if self.tensor is not None:  # a leaf: the unpacked value, its gradient to the leaf
            leaf = self.tensor()
            if leaf is None:
                raise errors.GraphFreedError(errors.SECOND_BACKWARD)
            out._grad_fn = Node(_TO_LEAF, None, ((leaf, 0),))
        else:
            out._grad_fn = node if self.grad_fn is None else self.grad_fn
        out._output_nr = self.output_nr
        if self.fw is not None:
            out._fw_grads = self.fw
        return out

    def unpack(self, node: Node):
        """The saved tensor; raises if it was modified in place since it was saved."""
        if self.unpack_hook is not None:
            return self._unpack_hooked(node)
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
        tensor = self.tensor
        if tensor is not None:
            if tensor._grad_fn is None and self.grad_fn is not None:
                raise errors.AutogradError(
                    "Trying to use a saved tensor that has been detached in-place, i.e. with "
                    ".detach_().This is not supported, please use out-of-place `.detach()` "
                    "instead"
                )
            return tensor
        out = self.cls.__new__(self.cls)  # the class of the op's output (tensor.py is above)
        out._data = self.data
        out._version_counter = self.counter
        out._device = self.device
        if self.requires_grad:
            out._requires_grad = True
            out._grad_fn = node
        if self.fw is not None:
            out._fw_grads = self.fw
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


class RemovableHandle:
    """What ``register_hook``/``register_prehook`` return: ``remove()`` unregisters the hook.

    >>> import nbgrad as nb
    >>> y = nb.tensor([1.0], requires_grad=True) * 2
    >>> handle = y.grad_fn.register_prehook(lambda grad_outputs: None)
    >>> handle.remove()
    >>> handle.remove()  # removing twice is harmless
    """

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        """Unregister the hook (no error if it was already removed)."""
        hooks = self._hooks
        for i, found in enumerate(hooks):
            if found is self._hook:
                del hooks[i]
                return


class _Attached:
    """What only some nodes carry: the user's pre-hooks, post-hooks and ``metadata`` dict, and
    the forward's stack under anomaly detection."""

    __slots__ = ("pre_hooks", "post_hooks", "metadata", "trace", "parent")

    def __init__(self) -> None:
        self.pre_hooks: list = []  # fn(grad_outputs), from register_prehook
        self.post_hooks: list = []  # fn(grad_inputs, grad_outputs), from register_hook
        self.metadata: dict = {}
        self.trace: str | None = None
        self.parent = None  # under anomaly detection: the node whose backward recorded this one


class _Hooks:
    """What every graph node has, as in PyTorch's ``torch.autograd.graph.Node``: ``name()``,
    ``metadata``, backward pre-hooks (``register_prehook``) and post-hooks (``register_hook``).

    They live in one ``attached`` slot, None until first used, so that a node costs no more to
    make with them than without. Public as ``nb.autograd.graph.Node``: the base class of every
    ``grad_fn`` (and of ``AccumulateGrad``).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0], requires_grad=True)
    >>> y = x * 2
    >>> isinstance(y.grad_fn, nb.autograd.graph.Node)
    True
    >>> isinstance(y.grad_fn.next_functions[0][0], nb.autograd.graph.Node)
    True
    """

    __slots__ = ("attached",)

    def name(self) -> str:
        """The node's class name, PyTorch's: ``MulBackward0``, ``AccumulateGrad``, ``CopySlices``.

        >>> import nbgrad as nb
        >>> nb.tensor([1.0], requires_grad=True).exp().grad_fn.name()
        'ExpBackward0'
        """
        return type(self).__name__

    def _attach(self) -> _Attached:
        found = self.attached
        if found is None:
            found = self.attached = _Attached()
        return found

    @property
    def metadata(self) -> dict:
        """A dict of your own, per node (made on first use); autograd never reads it.

        >>> import nbgrad as nb
        >>> y = nb.tensor([1.0], requires_grad=True) * 2
        >>> y.grad_fn.metadata["step"] = 3
        >>> y.grad_fn.metadata
        {'step': 3}
        """
        return self._attach().metadata

    def register_prehook(self, fn) -> RemovableHandle:
        """Call ``fn(grad_outputs)`` (a tuple, one gradient or None per output of the node)
        before the node runs; a tuple it returns replaces ``grad_outputs``.

        Tensor hooks (``Tensor.register_hook``) run first, then these, then ``retain_grad``
        stores ``.grad``, then the node computes its gradients, then its post-hooks run.

        >>> import nbgrad as nb
        >>> a = nb.tensor([0.0, 0.0], requires_grad=True)
        >>> b = a.clone()
        >>> handle = b.grad_fn.register_prehook(lambda grad_outputs: (grad_outputs[0] * 2,))
        >>> b.sum().backward()
        >>> a.grad
        tensor([2., 2.])
        >>> handle.remove()
        """
        return _add_hook(self._attach().pre_hooks, fn)

    def register_hook(self, fn) -> RemovableHandle:
        """Call ``fn(grad_inputs, grad_outputs)`` after the node computed its gradients (one per
        input of the op, None where an input needs none); a tuple it returns replaces
        ``grad_inputs``. ``AccumulateGrad`` has no inputs: its ``grad_inputs`` is ``()``.

        >>> import nbgrad as nb
        >>> a = nb.tensor([0.0, 0.0], requires_grad=True)
        >>> b = a.clone()
        >>> handle = b.grad_fn.register_hook(lambda grad_in, grad_out: (grad_out[0] * 3,))
        >>> b.sum().backward()
        >>> a.grad
        tensor([3., 3.])
        >>> handle.remove()
        """
        return _add_hook(self._attach().post_hooks, fn)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


GraphNode = _Hooks  # public as ``autograd.graph.Node``: the base class of every grad_fn


def _add_hook(hooks: list, fn) -> RemovableHandle:
    if not callable(fn):
        raise TypeError(f"hook must be callable, got {type(fn).__name__}")
    hooks.append(fn)
    return RemovableHandle(hooks, fn)


class Node(_Hooks):
    """One recorded op: its definition, parameters, edges to its inputs' history and saved tensors.

    A node is made as a plain ``Node``, so that the dispatch point and the engine, which touch
    every node, always meet one class (Python specialises attribute access per class). The first
    time a node is handed to the user (``grad_fn``, ``next_functions``) it becomes an instance of
    the subclass named as PyTorch names the op's backward (``MulBackward0``; see
    :func:`node_class`), which adds no state. ``edges[i]`` is ``(target, output_nr)`` where
    target is the input's Node, or the input tensor itself when it is a leaf that requires grad,
    or ``None`` when input ``i`` needs no gradient. ``pre_hooks`` maps an output number to the
    hooks ``Tensor.register_hook`` put on that output.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> y = (x * 3).sum()
    >>> type(y.grad_fn).__name__, y.grad_fn.next_functions[0][0].name()
    ('SumBackward0', 'MulBackward0')
    >>> isinstance(y.grad_fn, nb.autograd.Node)
    True
    """

    __slots__ = (
        "op", "params", "edges", "saved", "saved_output", "meta", "pre_hooks", "retained",
        "__weakref__",
    )

    def _named(self) -> Node:
        """This node as an instance of its PyTorch-named class (done once, when handed out)."""
        if type(self) is Node:
            self.__class__ = self.op.node_class
        return self

    def name(self) -> str:
        """PyTorch's name of the node: ``MulBackward0``, ``CopySlices``, ``MyFnBackward``.

        >>> import nbgrad as nb
        >>> nb.tensor([1.0], requires_grad=True).exp().grad_fn.name()
        'ExpBackward0'
        """
        return self.op.backward_name

    def __init__(self, op, params, edges) -> None:
        self.op = op
        self.params = params
        self.edges = edges
        self.saved = None
        self.saved_output = None
        self.meta = None
        self.pre_hooks = None
        self.retained = None
        self.attached = None

    @property
    def trace(self) -> str | None:
        """Where the forward op was called, kept under anomaly detection (else None).

        >>> import nbgrad as nb
        >>> with nb.autograd.detect_anomaly():
        ...     y = nb.tensor([1.0], requires_grad=True).exp()
        >>> "exp()" in y.grad_fn.trace, (y * 2).grad_fn.trace
        (True, None)
        """
        return None if self.attached is None else self.attached.trace

    @trace.setter
    def trace(self, value: str | None) -> None:
        attached = self._attach()
        attached.trace = value
        if anomaly_state.parent is not None:  # recorded by a backward (create_graph=True)
            attached.parent = anomaly_state.parent

    @property
    def parent(self):
        """Under anomaly detection, the node whose backward recorded this one (None for a
        node recorded by a forward pass).

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> with nb.autograd.set_detect_anomaly(True):
        ...     (g,) = nb.autograd.grad(x.exp().sum(), x, create_graph=True)
        >>> g.grad_fn.parent.name(), x.exp().grad_fn.parent
        ('ExpBackward0', None)
        """
        return None if self.attached is None else self.attached.parent

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
        """``((node_or_AccumulateGrad_or_None, output_nr), ...)`` for each input, as in PyTorch;
        a leaf's ``AccumulateGrad`` is the same object every time.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> y = x * nb.tensor([2.0])
        >>> y.grad_fn.next_functions
        ((<AccumulateGrad object at 0x...>, 0), (None, 0))
        >>> y.grad_fn.next_functions[0][0] is (x + 1).grad_fn.next_functions[0][0]
        True
        """
        out = []
        for edge in self.edges:
            if edge is None:
                out.append((None, 0))
            elif isinstance(edge[0], Node):
                out.append((edge[0]._named(), edge[1]))
            else:
                out.append((AccumulateGrad.of(edge[0]), 0))
        return tuple(out)

    def __call__(self, *grads):
        """Run this node's backward on ``grads`` (one per output of the op): one gradient, or
        None, per input, as calling a PyTorch node does.

        >>> import nbgrad as nb
        >>> y = nb.tensor([1.0, 2.0], requires_grad=True) * 3
        >>> y.grad_fn(nb.ones(2))
        (tensor([3., 3.]), None)
        """
        if self.params is FREED:
            raise errors.GraphFreedError(errors.SECOND_BACKWARD)
        result = self.op.backward(self, *grads)
        return tuple(result)

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
        if self.op.params_saved:  # index tensors PyTorch saves (index, index_put)
            self.params = FREED
        if self.saved_output is not None:
            self.saved_output = FREED


class _ToLeaf:
    """The op of the node that joins a leaf's unpacked saved value (``saved_tensors_hooks``)
    to the leaf: its gradient passes through unchanged."""

    name = "Alias"
    backward_name = "AliasBackward0"
    n_outputs = 1
    params_saved = False
    differentiable = True

    def backward(self, node, grad):
        return (grad,)


_NODE_CLASSES: dict[str, type[Node]] = {}


def node_class(name: str) -> type[Node]:
    """The ``Node`` subclass called ``name``, made on first use and shared by every op that
    records a node of that name (so making a node costs what it did with one class).

    >>> node_class("MulBackward0") is node_class("MulBackward0")
    True
    >>> node_class("MulBackward0").__name__, issubclass(node_class("MulBackward0"), Node)
    ('MulBackward0', True)
    """
    cls = _NODE_CLASSES.get(name)
    if cls is None:
        cls = _NODE_CLASSES[name] = type(name, (Node,), {"__slots__": ()})
    return cls


class AccumulateGrad(_Hooks):
    """What ``next_functions`` shows for a leaf: the node that adds the leaf's gradient to
    ``variable.grad``. There is one per leaf, kept by the leaf (it refers back weakly, so a
    leaf and its ``AccumulateGrad`` never keep each other alive).

    Its pre-hooks run after the leaf's tensor hooks and before the gradient is accumulated,
    its post-hooks after, with ``grad_inputs == ()``; neither runs in ``autograd.grad``,
    which accumulates nothing.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> acc = (x * 2).grad_fn.next_functions[0][0]
    >>> acc.variable is x, acc.next_functions
    (True, ())
    >>> _ = acc.register_prehook(lambda grad_outputs: (grad_outputs[0] + 1,))
    >>> (x * 2).sum().backward()
    >>> x.grad
    tensor([3., 3.])
    """

    __slots__ = ("_variable", "__weakref__")

    def __init__(self, variable) -> None:
        self._variable = weakref.ref(variable)
        self.attached = None

    @classmethod
    def of(cls, variable) -> AccumulateGrad:
        """The leaf's ``AccumulateGrad``, made on first use.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> AccumulateGrad.of(x) is AccumulateGrad.of(x)
        True
        """
        found = cls.existing(variable)
        if found is None:
            found = variable._grad_accumulator = cls(variable)
        return found

    @staticmethod
    def existing(variable) -> AccumulateGrad | None:
        """The leaf's ``AccumulateGrad`` if one was made (a copied tensor does not share it).

        >>> import nbgrad as nb
        >>> AccumulateGrad.existing(nb.tensor([1.0], requires_grad=True)) is None
        True
        """
        found = variable.__dict__.get("_grad_accumulator")
        if found is not None and found._variable() is variable:
            return found
        return None

    @property
    def variable(self):
        """The leaf tensor whose ``.grad`` this node accumulates into.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> (x * 2).grad_fn.next_functions[0][0].variable is x
        True
        """
        return self._variable()

    @property
    def next_functions(self) -> tuple:
        """A leaf has no inputs: ``()``.

        >>> import nbgrad as nb
        >>> (nb.tensor([1.0], requires_grad=True) * 2).grad_fn.next_functions[0][0].next_functions
        ()
        """
        return ()


_TO_LEAF = _ToLeaf()
_TO_LEAF.node_class = node_class("AliasBackward0")
