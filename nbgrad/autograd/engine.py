"""The backward engine: walks the graph in dependency order and accumulates gradients.

Backward always runs with grad mode set to ``create_graph`` and inference mode off, whatever
the caller's mode is (PyTorch's rule), so gradients are normal tensors and are recorded only
when a higher-order graph is asked for.
"""

from __future__ import annotations

import warnings

from nbgrad import _tracing, errors
from nbgrad._graph import FREED, AccumulateGrad, Node, VersionCounter, anomaly_state
from nbgrad.autograd.graph import GradientEdge
from nbgrad.grad_mode import MODES, is_multithreading_enabled, mode_var, no_grad
from nbgrad.ops._dispatch import edge_of, filled_like
from nbgrad.ops._register import register
from nbgrad.tensor import Tensor, _make

__all__ = ["backward", "grad"]


def _as_tuple(x) -> tuple:
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _root_grads(outputs: tuple, grad_outputs) -> list:
    if grad_outputs is not None and not isinstance(grad_outputs, (Tensor, list, tuple)):
        raise TypeError(
            "gradient must be a Tensor or a sequence of Tensors, got "
            f"{type(grad_outputs).__name__}"
        )
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"got {len(grad_outputs)} gradients for {len(outputs)} outputs"
        )
    grads = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"output {i} is a {type(out).__name__}, not a Tensor")
        if not out.requires_grad:
            raise errors.NotDifferentiableError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if out.numel() != 1:
                raise errors.AutogradError("grad can be implicitly created only for scalar outputs")
            g = filled_like(out, 1)  # a normal tensor even inside inference mode
        elif not isinstance(g, Tensor):
            raise TypeError(f"gradient {i} must be a Tensor, got {type(g).__name__}")
        elif g.shape != out.shape:
            raise errors.AutogradError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and output[{i}] "
                f"has a shape of {out.shape}."
            )
        elif g.dtype is not out.dtype:  # as PyTorch: the gradient takes the output's dtype
            g = g.to(out.dtype)
        grads.append(g)
    return grads


def _through_nodes(needed: set, targets: set) -> set:
    """The needed nodes whose own backward must run: those with an edge into a needed node or
    a leaf target (a target node reached only as a target is not run: as in PyTorch,
    ``autograd.grad`` with respect to a non-leaf stops there, and runs no leaf hooks below)."""
    return {
        node for node in needed
        if any(e is not None and (e[0] in needed if isinstance(e[0], Node) else id(e[0]) in
                                  targets) for e in node.edges)
    }


def _needed_nodes(roots: list, targets: set) -> set:
    """Nodes from which a target (a leaf tensor or a node) can be reached."""
    needed: set = set()
    state: dict = {}
    for root in roots:
        if not isinstance(root, Node) or root in state:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                if node in targets or any(
                    e is not None and (e[0] in needed or (not isinstance(e[0], Node) and id(e[0]) in
                                                          targets))
                    for e in node.edges
                ):
                    needed.add(node)
                continue
            if node in state:
                continue
            state[node] = True
            stack.append((node, True))
            for e in node.edges:
                if e is not None and isinstance(e[0], Node) and e[0] not in state:
                    stack.append((e[0], False))
    return needed


def _as_dtype_of(g: Tensor, tensor: Tensor) -> Tensor:
    """A gradient always has the dtype of the tensor it is for (PyTorch casts it the same way),
    whatever dtype the ops that produced it computed in (e.g. ``float32 @ float64``)."""
    return g if g._data.dtype == tensor._data.dtype else g.to(tensor.dtype)


class _Run:
    """One backward pass."""

    def __init__(self, create_graph: bool, retain_graph: bool, capture: dict | None,
                 accumulate_only: set | None, root_grads: list,
                 nonleaf_inputs: dict | None = None) -> None:
        self.create_graph = create_graph
        self.retain_graph = retain_graph
        self.capture = capture  # key -> gradient, for autograd.grad
        self.accumulate_only = accumulate_only  # ids of tensors backward(inputs=) names
        self.nonleaf_inputs = nonleaf_inputs or {}  # node -> {output_nr: tensor}, this run only
        # ids of the arrays that already belong to someone (the caller's seeds, grads stored in
        # this run): a gradient reusing one is copied before it becomes a ``.grad``
        self.owned = {id(g._data) for g in root_grads}

    def nonleaf_receivers(self, node: Node) -> list:
        """``(output_nr, tensor)`` for the non-leaves of ``node`` whose ``.grad`` this run fills:
        retained ones (``retain_grad``) and those named in ``backward(inputs=)``."""
        found = []
        if node.retained:
            for nr, ref in node.retained.items():
                t = ref()
                if t is not None and (self.accumulate_only is None or id(t) in
                                      self.accumulate_only):
                    found.append((nr, t))
        for nr, t in self.nonleaf_inputs.get(node, {}).items():
            if all(t is not other for _, other in found):
                found.append((nr, t))
        return found

    def deliver(self, tensor: Tensor | None, key, g: Tensor, hooks) -> None:
        """A gradient reaching a leaf, or a retained/captured non-leaf: tensor hooks first,
        then (when it is accumulated) its ``AccumulateGrad``'s pre-hooks, the accumulation
        and its post-hooks."""
        if tensor is not None:
            g = _as_dtype_of(g, tensor)
        if hooks:
            for hook in list(hooks):
                replaced = hook(g)
                if replaced is not None:
                    g = replaced
            # a hook may keep the gradient it saw: store a copy, since .grad is updated in
            # place by later backward passes (PyTorch copies a gradient referenced elsewhere)
            self.owned.add(id(g._data))
        if self.capture is not None:
            if key in self.capture:
                prev = self.capture[key]
                self.capture[key] = g if prev is None else prev + g
            return
        if tensor is None:
            return
        if self.accumulate_only is not None and id(tensor) not in self.accumulate_only:
            return
        acc = AccumulateGrad.existing(tensor)
        attached = acc.attached if acc is not None else None
        if attached is not None and attached.pre_hooks:
            (g,) = _run_node_pre_hooks(attached.pre_hooks, (g,))
        if g is not None:
            self.accumulate(tensor, g)
        if tensor._post_acc_hooks:
            for hook in list(tensor._post_acc_hooks):
                if hook(tensor) is not None:
                    raise RuntimeError("Tensor post accumulate grad hooks should return None.")
        if attached is not None and attached.post_hooks:
            for hook in list(attached.post_hooks):
                replaced = hook((), (g,))
                if replaced is not None:
                    _hook_result(hook, replaced, ())

    def accumulate(self, tensor: Tensor, g: Tensor) -> None:
        g = _as_dtype_of(g, tensor)
        if not self.create_graph:
            g = g.detach()
        if tensor._grad is None:
            if id(g._data) in self.owned or not g.is_contiguous() or g._base is not None:
                g = g.clone() if self.create_graph else g.detach().clone()
            g = _like_layout(g, tensor)
            self.owned.add(id(g._data))
            tensor._grad = g
        elif self.create_graph:
            tensor._grad = tensor._grad + g  # a new tensor: the sum is recorded (PyTorch's rule)
            self.owned.add(id(tensor._grad._data))
        else:  # PyTorch accumulates in place: the same .grad object, its version bumped
            with no_grad():
                tensor._grad.add_(g)


def _like_layout(g: Tensor, tensor: Tensor) -> Tensor:
    """A fresh gradient takes the strides of its (dense, non-overlapping) CPU parameter, as
    PyTorch's AccumulateGrad does (a transposed weight gets a transposed ``.grad``)."""
    data = tensor._data
    if g._requires_grad or tensor._device.type != "cpu" or data.flags.c_contiguous or \
            data.ndim < 2 or g._data.strides == data.strides:
        return g
    import numpy as np

    out = np.empty_like(data, order="K")
    if out.strides != data.strides:  # overlapping or with gaps: keep the contiguous gradient
        return g
    out[...] = g._data
    return _make(out, VersionCounter())


def _forward_trace(node: Node) -> str:
    return node.trace or "(no forward trace: enable anomaly detection before the forward)\n"


def _backward_with_anomaly(node: Node, grads) -> tuple:
    """``node``'s backward under anomaly detection: errors name the forward op and where it was
    created; non-finite gradients raise (unless ``check_nan=False``)."""
    import numpy as np

    forward_op = node.op.name.lower()
    outer = anomaly_state.parent
    anomaly_state.parent = node  # nodes recorded by this backward (create_graph) link to it
    try:
        results = node.op.backward(node, *grads)
    except Exception as exc:
        _warn_forward_traces(node)
        exc.add_note(
            f"Error detected in {node.name()} (forward op '{forward_op}'). Traceback of the "
            f"forward call that caused the error:\n{_forward_trace(node)}"
        )
        raise
    finally:
        anomaly_state.parent = outer
    if not anomaly_state.check_nan:
        return results
    for i, g in enumerate(results):
        if g is None:
            continue
        data = g.detach()._host()
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            _warn_forward_traces(node)
            raise errors.AutogradError(
                f"Function '{node.name()}' returned nan values in its {i}th output (a nan or "
                f"inf gradient for input {i} of the forward op '{forward_op}').\n"
                f"The forward call that created it was:\n{_forward_trace(node)}"
            )
    return results


def _warn_forward_traces(node: Node) -> None:
    """PyTorch's anomaly warnings: the forward trace of the failing node, then, for a node
    recorded by a backward (``create_graph=True``), the trace of each node whose backward
    induced it."""
    warnings.warn(
        f"Error detected in {node.name()}. Traceback of forward call that caused the error:\n"
        f"{_forward_trace(node)}", UserWarning, stacklevel=2,
    )
    parent = node.parent
    while parent is not None:
        warnings.warn(
            f"\n\nPrevious calculation was induced by {parent.name()}. Traceback of forward "
            f"call that induced the previous calculation:\n{_forward_trace(parent)}",
            UserWarning, stacklevel=2,
        )
        parent = parent.parent


def _add_leaf_grad(leaves: dict, target: Tensor, g: Tensor) -> None:
    """Sum every contribution to a leaf first, so its hooks see the total gradient once."""
    found = leaves.get(id(target))
    if found is None:
        leaves[id(target)] = [target, g]
    else:
        found[1] = found[1] + g


def _execute(roots, root_grads, run: _Run, targets: set | None) -> None:
    root_nodes = []
    buffers: dict = {}
    leaves: dict = {}
    for (target, nr), g in zip(roots, root_grads):
        if isinstance(target, Node):
            buf = buffers.setdefault(target, [None] * target.op.n_outputs)
            buf[nr] = g if buf[nr] is None else buf[nr] + g
            if all(n is not target for n in root_nodes):  # two outputs of one node: once
                root_nodes.append(target)
        else:
            _add_leaf_grad(leaves, target, g)
    needed = _needed_nodes(root_nodes, targets) if targets is not None else None
    through = _through_nodes(needed, targets) if needed is not None else None
    deps: dict = {}
    seen = set()
    stack = [n for n in root_nodes if needed is None or n in needed]
    seen.update(stack)
    while stack:
        node = stack.pop()
        for e in node.edges:
            if e is not None and isinstance(e[0], Node) and (needed is None or e[0] in needed):
                child = e[0]
                deps[child] = deps.get(child, 0) + 1
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    ready = []
    for n in root_nodes:
        if deps.get(n, 0) == 0 and n not in ready and (needed is None or n in needed):
            ready.append(n)
    capture = run.capture
    retain = run.retain_graph
    with_anomaly = anomaly_state.enabled
    while ready:
        node = ready.pop()
        grads = buffers.pop(node)
        # PyTorch's order: tensor hooks, node pre-hooks, retain_grad, the node, node post-hooks
        if node.pre_hooks:
            _run_tensor_hooks(node, grads)
            run.owned.update(id(g._data) for g in grads if g is not None)  # hooks may keep them
        if capture is not None:  # autograd.grad's result, as the tensor hooks left it
            for nr, g in enumerate(grads):
                key = (node, nr)
                if key in capture and g is not None:
                    prev = capture[key]
                    capture[key] = g if prev is None else prev + g
        target_only = through is not None and node not in through
        attached = node.attached
        if attached is not None and attached.pre_hooks and not target_only:
            grads = _run_node_pre_hooks(attached.pre_hooks, grads)
        if capture is None and (node.retained or run.nonleaf_inputs):
            for nr, t in run.nonleaf_receivers(node):
                if grads[nr] is not None:
                    run.accumulate(t, grads[nr])
        if target_only:
            continue  # a target reached only as a target: the node itself does not run
        if node.params is FREED:  # an op whose params are saved tensors (indices)
            raise errors.GraphFreedError(errors.SECOND_BACKWARD)
        if len(grads) == 1 and grads[0] is None or not any(g is not None for g in grads):
            results = (None,) * len(node.edges)
        elif with_anomaly:
            results = _backward_with_anomaly(node, grads)
        else:
            results = node.op.backward(node, *grads)
        if attached is not None and attached.post_hooks:
            results = _run_post_hooks(node, attached.post_hooks, results, grads)
        if not retain:
            node.free()
        for edge, g in zip(node.edges, results):
            if edge is None:
                continue
            target, nr = edge
            if isinstance(target, Node):
                if needed is not None and target not in needed:
                    continue
                buf = buffers.get(target)
                if buf is None:
                    buf = buffers[target] = [None] * target.op.n_outputs
                if g is not None:
                    prev = buf[nr]
                    buf[nr] = g if prev is None else prev + g
                left = deps[target] - 1
                deps[target] = left
                if not left:
                    ready.append(target)
            elif g is not None:
                _add_leaf_grad(leaves, target, g)
    for target, g in leaves.values():
        run.deliver(target, id(target), g, target._hooks)


def _run_tensor_hooks(node: Node, grads: list) -> None:
    """The hooks ``Tensor.register_hook`` put on the node's outputs, in registration order."""
    for nr, hooks in node.pre_hooks.items():
        for hook in list(hooks):  # an output that got no gradient: called with None (PyTorch)
            replaced = hook(grads[nr])
            if replaced is not None:
                grads[nr] = replaced


def _run_node_pre_hooks(hooks: list, grads) -> list:
    """``node.register_prehook`` hooks: ``fn(grad_outputs)`` may return new ``grad_outputs``."""
    for hook in list(hooks):
        replaced = hook(tuple(grads))
        if replaced is not None:
            grads = _hook_result(hook, replaced, grads)
    return list(grads)


def _run_post_hooks(node: Node, hooks: list, grad_inputs, grad_outputs) -> tuple:
    """``node.register_hook`` hooks: ``fn(grad_inputs, grad_outputs)`` may return new
    ``grad_inputs`` (None for each input that needs no gradient)."""
    grad_inputs = tuple(None if e is None else g for e, g in zip(node.edges, grad_inputs))
    grad_outputs = tuple(grad_outputs)
    for hook in list(hooks):
        replaced = hook(grad_inputs, grad_outputs)
        if replaced is not None:
            grad_inputs = _hook_result(hook, replaced, grad_inputs)
    return grad_inputs


def _hook_result(hook, result, expected) -> tuple:
    """A node hook's replacement gradients: a tuple as long as what it replaces, of Tensors or
    None (PyTorch's messages)."""
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(result, tuple):
        raise TypeError(f"expected tuple, but hook returned '{type(result).__name__}'")
    if len(result) != len(expected):
        raise RuntimeError(
            f"hook '{name}' has returned an incorrect number of values (got {len(result)}, but "
            f"expected {len(expected)})"
        )
    for g in result:
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(
                f"expected Variable or None (got {type(g).__name__}) from hook '{name}'"
            )
    return result


def _run(outputs, grad_outputs, retain_graph, create_graph, run_factory, targets):
    outputs = _as_tuple(outputs)
    root_grads = _root_grads(outputs, grad_outputs)
    roots = [edge_of(t) for t in outputs]
    if retain_graph is None:
        retain_graph = create_graph
    run = run_factory(bool(create_graph), bool(retain_graph), root_grads)
    prev = mode_var.get()
    mode_var.set(MODES[(bool(create_graph), False)])
    try:
        if is_multithreading_enabled():
            _execute(roots, root_grads, run, targets)
        else:  # nb.autograd.set_multithreading_enabled(False): kernels on this thread only
            from nbgrad.backends._jit import single_threaded

            with single_threaded():
                _execute(roots, root_grads, run, targets)
    finally:
        mode_var.set(prev)
    return run


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False,
             inputs=None) -> None:
    """Compute the gradient of ``tensors`` and accumulate it into the leaves' ``.grad``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
    """
    _tracing.note_opaque("runs backward inside the function")
    if create_graph:
        warnings.warn(
            "Using backward() with create_graph=True will create a reference cycle between the "
            "parameter and its gradient which can cause a memory leak. Consider using "
            "autograd.grad instead, or reset the .grad fields to None after use.",
            UserWarning, stacklevel=3,
        )
    targets = None
    accumulate_only = None
    nonleaf_inputs: dict = {}
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, GradientEdge) else _as_tuple(inputs)
        if not inputs:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        targets, accumulate_only = set(), set()
        for t in inputs:
            if isinstance(t, GradientEdge):
                if isinstance(t.node, AccumulateGrad):
                    t = t.node.variable
                else:  # a node's output: gradients stop there (nothing is stored)
                    targets.add(t.node)
                    continue
            e = edge_of(t)
            if isinstance(e[0], Node):
                targets.add(e[0])
                nonleaf_inputs.setdefault(e[0], {})[e[1]] = t
            else:
                targets.add(id(t))
            accumulate_only.add(id(t))
    _run(tensors, grad_tensors, retain_graph, create_graph,
         lambda cg, rg, roots: _Run(cg, rg, None, accumulate_only, roots, nonleaf_inputs),
         targets)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused=None, materialize_grads: bool = False):
    """Return the gradients of ``outputs`` with respect to ``inputs`` (nothing is accumulated).

    >>> import nbgrad as nb
    >>> x = nb.tensor(3.0, requires_grad=True)
    >>> nb.autograd.grad(x ** 2, x)
    (tensor(6.),)
    """
    _tracing.note_opaque("runs backward inside the function")
    inputs = (inputs,) if isinstance(inputs, GradientEdge) else _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if allow_unused is None:
        allow_unused = materialize_grads
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True"
        )
    capture: dict = {}
    keys = []
    targets: set = set()
    for i, t in enumerate(inputs):
        if isinstance(t, GradientEdge):
            node = t.node
            if isinstance(node, AccumulateGrad):
                t = node.variable
            else:
                key = (node, t.output_nr)
                capture[key] = None
                keys.append(key)
                targets.add(node)
                continue
        if not isinstance(t, Tensor):
            raise TypeError(f"grad(): input {i} is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise errors.NotDifferentiableError(
                f"One of the differentiated Tensors (input {i}) does not require grad"
            )
        e = edge_of(t)
        key = e if isinstance(e[0], Node) else id(t)
        capture[key] = None
        keys.append(key)
        targets.add(e[0] if isinstance(e[0], Node) else id(t))
    run = _run(outputs, grad_outputs, retain_graph, create_graph,
               lambda cg, rg, roots: _Run(cg, rg, capture, None, roots), targets)
    result = []
    for i, (t, key) in enumerate(zip(inputs, keys)):
        g = run.capture[key]
        if isinstance(t, GradientEdge):
            if g is None and materialize_grads:
                raise RuntimeError(
                    "materialize_grads cannot be used when the given input is a GradientEdge"
                )
            if g is None and not allow_unused:
                raise errors.AutogradError(
                    f"One of the differentiated Tensors (input {i}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
            result.append(g if g is None or create_graph else g.detach())
            continue
        if g is None:
            if materialize_grads:  # as PyTorch: zeros that require grad
                g = filled_like(t, 0)
                g._requires_grad = True
            elif not allow_unused:
                raise errors.AutogradError(
                    f"One of the differentiated Tensors (input {i}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior."
                )
        else:
            g = _as_dtype_of(g, t)
            if not create_graph:
                g = g.detach()
        result.append(g)
    return tuple(result)


def tensor_backward(self: Tensor, gradient=None, retain_graph=None, create_graph: bool = False,
                    inputs=None) -> None:
    """Accumulate d(self)/d(leaf) into each leaf's ``.grad`` (see ``nb.autograd.backward``).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).backward(nb.tensor([1.0, 0.5]))  # a non-scalar output needs ``gradient``
    >>> x.grad
    tensor([2., 2.])
    """
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


register(tensor_backward, method="backward")  # Tensor's method, from the layer owning backward
