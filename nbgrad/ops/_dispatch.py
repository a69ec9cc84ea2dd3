"""The single dispatch point: every op, factory and in-place update passes through here.

This is the only module that reads the grad mode to decide whether to record a graph node and
whether results are inference tensors. Ops supply kernels (``forward``) and gradient rules
(``backward``); they never look at the mode themselves.
"""

from __future__ import annotations

import copy
import traceback

import numpy as np

from nbgrad import _tracing, errors
from nbgrad._device import CPU, backend_for
from nbgrad._graph import (
    VIEW_NORMAL,
    Node,
    SavedTensor,
    VersionCounter,
    anomaly_state,
    forward_ad_state,
    node_class,
    record_inplace_trace,
)
from nbgrad.grad_mode import mode_var
from nbgrad.ops._views import (
    adopt_history,
    check_view_inplace,
    make_view,
    move_retained,
    views_to_refresh,
)
from nbgrad.tensor import Tensor, _make

__all__ = [
    "OpDef", "apply", "apply_inplace", "new_tensor", "filled_like", "replay_view", "edge_of",
    "refresh_views", "rebase_view", "check_inplace", "recording", "will_record",
]


class OpDef:
    """An op declared once: ``forward`` on backend arrays, ``backward`` (a vjp) on Tensors.

    Subclasses set ``name`` (the grad_fn is ``<name>Backward0``, or ``node_name`` where PyTorch
    names it otherwise; both are read when the op is made) and override ``forward``,
    ``backward`` and, when the gradient needs input or output values, ``save``.
    """

    name = "Op"
    view = False  # the output aliases input 0's storage
    differentiable = True
    n_outputs = 1
    wants_meta = False  # call meta(arrays, out) when recording
    params_saved = False  # the params hold tensors PyTorch saves: freed by backward too

    node_name: str | None = None  # PyTorch's grad_fn name when it is not ``<name>Backward0``

    def __init__(self, name: str | None = None, node_name: str | None = None) -> None:
        if name is not None:
            self.name = name
        if node_name is not None:
            self.node_name = node_name
        # the class of the nodes this op records (a plain attribute: read once per node)
        self.node_class: type[Node] = self._node_class()

    def overload(self, node_name: str) -> OpDef:
        """This op recording ``node_name`` nodes: for a call form PyTorch names apart (an
        overload, e.g. ``SumBackward1`` for ``sum(dim)``); the public function picks it.
        Kernels, gradient and caches are shared with ``self``.

        >>> from nbgrad.ops.reduce import SUM
        >>> op = SUM.overload("SumBackward1")
        >>> op.name, op.node_class.__name__, SUM.node_class.__name__
        ('Sum', 'SumBackward1', 'SumBackward0')
        """
        op = copy.copy(self)
        op.node_name = node_name
        op.node_class = op._node_class()
        return op

    @property
    def backward_name(self) -> str:
        """Name of the node this op records, e.g. ``MulBackward0``."""
        return self.node_name or f"{self.name}Backward0"

    def _node_class(self) -> type[Node]:
        return node_class(self.backward_name)

    def forward(self, bk, params, *arrays):
        """Compute the output array(s) with backend ``bk``."""
        raise NotImplementedError

    def forward_into(self, bk, params, out, *arrays) -> None:
        """Compute into ``out`` (used by in-place ops that record nothing)."""
        bk.assign(out, self.forward(bk, params, *arrays))

    def save(self, needs: tuple[bool, ...]) -> tuple[tuple[bool, ...] | None, bool]:
        """Which inputs (per position) and whether the output must be saved, given which
        inputs need a gradient."""
        return None, False

    def meta(self, arrays, out):
        """Extra facts about the inputs that backward needs (shapes, dtypes)."""
        return None

    def backward(self, node: Node, *grads):
        """One gradient (Tensor or None) per input, computed with nbgrad ops."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def edge_of(t: Tensor):
    """The graph edge gradients of ``t`` flow into: its node, or itself when a leaf."""
    fn = t._grad_fn
    if fn is None:
        return (t, 0)
    return (fn, t._output_nr)


def apply(op: OpDef, inputs: tuple, params=None):
    """Run ``op`` on ``inputs`` (Tensors and Python scalars); record a node if grad mode says so."""
    if _tracing.active and (tracer := _tracing.tracer_var.get()) is not None:
        return _traced_apply(tracer, op, inputs, params)
    mode = mode_var.get()
    device = None
    arrays = []
    any_grad = False
    half = False
    for x in inputs:
        if isinstance(x, Tensor):
            if x._device is not device:
                if device is None:
                    device = x._device
                else:
                    _device_mismatch(op, device, x._device)
            arrays.append(x._data)
            if x._requires_grad:
                any_grad = True
            if x._data.dtype is _HALF:
                half = True
        else:
            arrays.append(x)
    if device is CPU or device is None:
        bk = _cpu_backend or _load_cpu_backend()
        device = CPU
    else:
        bk = backend_for(device)
    if half and not op.view:
        out = _forward_half(op, bk, params, arrays)
    else:
        out = op.forward(bk, params, *arrays)
    if op.n_outputs == 1:
        if op.view:
            result = _wrap(op, out, inputs, mode, device, params)
        else:
            result = _make(out, None if mode.inference else VersionCounter())
            if device is not CPU:
                result._device = device
        outputs = (result,)
    else:
        outputs = result = tuple(_wrap(op, o, inputs, mode, device, params) for o in out)
    if forward_ad_state.hook is not None:  # a dual level is open: outputs get tangents
        forward_ad_state.hook(op, inputs, params, outputs)
    if any_grad and mode.grad and not mode.inference and op.differentiable:
        _record(op, inputs, params, arrays, out, outputs)
    return result


_cpu_backend = None
_HALF = np.dtype(np.float16)


def _forward_half(op, bk, params, arrays):
    """``op`` on float16 inputs. Ops whose kernels are numpy's (casts, copies, joins) or that
    handle float16 themselves (the elementwise table) run as they are; an op whose Numba kernel
    has no float16 version runs in float32 and its float32 results are stored back as float16
    (unless an input was float32 already). Only float16 calls take this path."""
    try:
        return op.forward(bk, params, *arrays)
    except Exception:  # noqa: BLE001  (a genuine error is raised again by the float32 run)
        pass
    single = np.dtype(np.float32)
    back = not any(getattr(a, "dtype", None) == single for a in arrays)
    out = op.forward(bk, params, *[bk.astype(a, single) if getattr(a, "dtype", None) is _HALF
                                   else a for a in arrays])
    if op.n_outputs == 1:
        return bk.astype(out, _HALF) if back and out.dtype == single else out
    return tuple(bk.astype(o, _HALF) if back and o.dtype == single else o for o in out)


def _load_cpu_backend():
    global _cpu_backend
    _cpu_backend = backend_for(CPU)
    return _cpu_backend


def recording() -> bool:
    """Whether the current grad mode records ops (grad on, inference mode off)."""
    mode = mode_var.get()
    return mode.grad and not mode.inference


def will_record(tensors) -> bool:
    """Whether an op on ``tensors`` would be recorded in the current grad mode: the mode
    records and at least one of them requires grad. For code that must know beforehand
    (custom ``Function.apply``, once_differentiable)."""
    mode = mode_var.get()
    return mode.grad and not mode.inference and any(
        isinstance(t, Tensor) and t._requires_grad for t in tensors
    )


def _wrap(op, data, inputs, mode, device, params) -> Tensor:
    if op.view:
        t = make_view(inputs[0], data, op, params, mode)
    else:
        t = _make(data, None if mode.inference else VersionCounter())
    if device is not CPU:
        t._device = device
    return t


def _record(op, inputs, params, arrays, out, outputs) -> None:
    # the hot path of every recorded op: edges and needs in one pass, no helper calls
    edges = []
    needs = []
    has_constant = False
    for x in inputs:
        if isinstance(x, Tensor):
            if x._requires_grad:
                fn = x._grad_fn
                edges.append((x, 0) if fn is None else (fn, x._output_nr))
                needs.append(True)
            else:
                edges.append(None)
                needs.append(False)
        else:
            edges.append(None)
            needs.append(False)
            has_constant = True
    node = Node(op, params, tuple(edges))  # named when handed out (see Node)
    save_inputs, save_output = op.save(tuple(needs))
    if save_inputs is not None:
        node.saved = tuple(
            x if not isinstance(x, Tensor) else (SavedTensor(x, False) if keep else None)
            for x, keep in zip(inputs, save_inputs)
        )
    elif has_constant:  # Python numbers the gradient may need
        node.saved = tuple(None if isinstance(x, Tensor) else x for x in inputs)
    if op.wants_meta:
        node.meta = op.meta(arrays, out)
    if op.n_outputs == 1:
        t = outputs[0]
        t._requires_grad = True
        t._grad_fn = node
        if op.view:
            t._base_fn = t._base._grad_fn
    else:
        for nr, t in enumerate(outputs):
            if op.output_differentiable(nr):
                t._requires_grad = True
                t._grad_fn = node
                t._output_nr = nr
    if save_output:
        node.saved_output = SavedTensor(outputs[0], True)
    if anomaly_state.enabled:
        node.trace = "".join(traceback.format_stack(limit=20)[:-3])


def replay_view(base: Tensor, steps: tuple) -> Tensor:
    """Rebuild a view of ``base`` from its recorded steps (recorded when the mode records)."""
    t = base
    for op, params in steps:
        t = apply(op, (t,), params)
    return t


def refresh_views(base: Tensor, also: Tensor | None = None) -> None:
    """After ``base``'s history changed, give each of its live views (and ``also``, a view just
    written in place) a history on top of the new one, by replaying the view's steps."""
    stale = views_to_refresh(base)
    if also is not None and also._view_meta != VIEW_NORMAL:  # untracked, refreshed explicitly
        stale.append(also)
    for view in stale:
        adopt_history(view, replay_view(base, view._view_steps))


def _device_mismatch(op, a, b):
    raise errors.DeviceMismatchError(
        f"Expected all tensors to be on the same device, but found at least two devices, "
        f"{a} and {b}! (in op {op.name.lower()})"
    )


def new_tensor(data, device=CPU, requires_grad: bool = False) -> Tensor:
    """Wrap a freshly made array as a leaf; an inference tensor when made in inference mode.

    ``requires_grad`` is honoured in every mode (as PyTorch's factories: an explicit
    ``requires_grad=True`` wins over ``no_grad``).
    """
    mode = mode_var.get()
    t = _make(data, None if mode.inference else VersionCounter())
    if device is not CPU:
        t._device = device
    if requires_grad:
        t.requires_grad_(requires_grad)  # validates the flag (a bool)
    if _tracing.active:
        _tracing.note_made(t)
    return t


def filled_like(t: Tensor, value, shape: tuple | None = None) -> Tensor:
    """A normal (never inference) tensor of ``value`` with ``t``'s dtype and device, of
    ``t``'s shape or ``shape``: the zeros and ones that gradients start from."""
    bk = backend_for(t._device)
    out = _make(bk.full(t.shape if shape is None else shape, value, t._data.dtype),
                VersionCounter())
    if t._device is not CPU:
        out._device = t._device
    return out


def check_inplace(target: Tensor, mode=None) -> None:
    """Refuse in-place updates autograd cannot allow, before any data is written (in ``mode``,
    the current grad mode by default)."""
    if mode is None:
        mode = mode_var.get()
    if target._version_counter is None and not mode.inference:
        raise errors.InferenceTensorError(errors.INFERENCE_INPLACE)
    if not mode.grad or mode.inference:
        return
    if target._base is None:
        if target._requires_grad and target._grad_fn is None:
            raise errors.InplaceError(errors.LEAF_INPLACE)
        return
    check_view_inplace(target)


def _bump(target: Tensor, op: OpDef) -> None:
    counter = target._version_counter
    if counter is not None:
        counter.value += 1
        if anomaly_state.enabled:
            record_inplace_trace(counter, op.name.lower() + "_")


def _check_cast(op, target: Tensor, result_dtype) -> None:
    if result_dtype.kind != target._data.dtype.kind and (
        result_dtype.kind == "f" or target._data.dtype.kind == "b"
    ):
        raise RuntimeError(
            f"result type {result_dtype.name} of {op.name.lower()}_ can't be cast to the desired "
            f"output type {target._data.dtype.name}"
        )


def apply_inplace(op: OpDef, target: Tensor, others: tuple = (), params=None) -> Tensor:
    """Run ``op(target, *others)`` and write the result into ``target``, bumping its version.

    When the update must be recorded, the op is applied out of place to a stand-in carrying
    ``target``'s history and the result is copied back; a view's base is then rebased onto a
    ``CopySlices`` node so gradients flow through the written region.
    """
    if _tracing.active and (tracer := _tracing.tracer_var.get()) is not None:
        return _traced_inplace(tracer, op, target, others, params)
    mode = mode_var.get()
    check_inplace(target, mode)
    flags = getattr(target._data, "flags", None)
    if flags is not None and not flags.writeable:  # an expanded view, or read-only numpy memory
        raise RuntimeError(
            f"unsupported operation: {op.name.lower()}_ writes to a read-only tensor (an expanded "
            "view, where more than one element refers to a single memory location, or read-only "
            "numpy memory). Please clone() the tensor before performing the operation."
        )
    grad_on = mode.grad and not mode.inference
    needs_record = grad_on and (
        target._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others)
    )
    for o in others:
        if isinstance(o, Tensor) and o._device is not target._device:
            _device_mismatch(op, target._device, o._device)
    bk = backend_for(target._device)
    # forward-mode AD: the tangent of the new value, from the old values (set after the write)
    tangent = (forward_ad_state.hook(op, (target, *others), params, None)
               if forward_ad_state.hook is not None else None)
    if not needs_record:
        arrays = [o._data if isinstance(o, Tensor) else o for o in others]
        op.forward_into(bk, params, target._data, target._data, *arrays)
        _bump(target, op)
        if tangent is not None:
            tangent(target)
        return target
    stand_in = _make(target._data, VersionCounter())
    stand_in._device = target._device
    if target._requires_grad:
        stand_in._requires_grad = True
        if target._base is not None and target._base._requires_grad:
            # a view: the written value's history starts from a fresh replay of the view on
            # the base's history, as PyTorch's CopySlices does, so the view's old node (and
            # the tensor hooks registered on it) is not part of the new graph
            stand_in._grad_fn, stand_in._output_nr = edge_of(_fresh_view(target))
        else:
            stand_in._grad_fn, stand_in._output_nr = edge_of(target)
        if stand_in._grad_fn is target:  # a leaf not requiring grad cannot get here
            stand_in._grad_fn = None
    others = tuple(stand_in if o is target else o for o in others)
    result = apply(op, (stand_in, *others), params)
    _check_cast(op, target, result._data.dtype)
    node = result._grad_fn
    if node.saved is not None and type(node.saved[0]) is SavedTensor:
        stand_in._data = bk.copy(stand_in._data)  # the saved value must survive the write
    bk.assign(target._data, result._data)
    _bump(target, op)
    if target._base is None:
        if target._retains_grad:  # retain_grad follows the tensor to its new value (PyTorch)
            move_retained(target, node)
        target._grad_fn = node
        target._output_nr = 0
        target._requires_grad = True
        refresh_views(target)
    else:
        rebase_view(target, result)
    if tangent is not None:
        tangent(target)
    return target


def _fresh_view(view: Tensor) -> Tensor:
    """``view`` rebuilt from an alias carrying its base's current history (new nodes)."""
    base = view._base
    alias = _make(base._data, base._version_counter)
    alias._device = base._device
    alias._requires_grad = True
    alias._grad_fn, alias._output_nr = base._grad_fn, base._output_nr
    if alias._grad_fn is None:  # a leaf base: its gradient goes to the leaf itself
        return view
    return replay_view(alias, view._view_steps)


class CopySlices(OpDef):
    """The base of a view written in place: outside the view region, the gradient flows to the
    base's old history; inside it, to the history of the value written."""

    name = "CopySlices"
    node_name = "CopySlices"

    def backward(self, node, grad):
        steps, base_shape = node.params
        mask = filled_like(grad, 1, base_shape)  # requires no grad: replaying records nothing
        replay_view(mask, steps)._data[...] = 0
        grad_old = grad * mask if node.edges[0] is not None else None
        grad_new = replay_view(grad, steps) if node.edges[1] is not None else None
        return grad_old, grad_new


COPY_SLICES = CopySlices()


def rebase_view(view: Tensor, written: Tensor) -> None:
    base = view._base
    base_edge = edge_of(base) if base._requires_grad else None
    if base_edge is not None and base_edge[0] is base:
        base_edge = None
    node = Node(COPY_SLICES, (view._view_steps, base.shape), (base_edge, edge_of(written)))
    if base._retains_grad:  # retain_grad follows the base to its new value
        move_retained(base, node)
    base._grad_fn = node
    base._output_nr = 0
    base._requires_grad = True
    refresh_views(base, also=view)


# --------------------------------------------------------------------------- tracing hook
# The dispatch point's side of nbgrad/_tracing.py: ``apply`` and ``apply_inplace`` hand each op
# run at depth 0 to the active tracer and hide the tracer from the ops run inside that op.


def current_mode():
    """The grad mode the next op runs under, as this dispatch point reads it (for compiled
    functions, which key what they trace on it).

    >>> current_mode().grad
    True
    """
    return mode_var.get()


def _traced_apply(tracer, op: OpDef, inputs: tuple, params):
    mode = mode_var.get()
    token = _tracing.tracer_var.set(None)  # ops run inside this one are not reported
    try:
        result = apply(op, inputs, params)
    except BaseException:
        tracer.on_opaque(f"{op.name} raised while tracing")
        raise
    finally:
        _tracing.tracer_var.reset(token)
    tracer.on_apply(op, inputs, params, mode, result)
    return result


def _traced_inplace(tracer, op: OpDef, target: Tensor, others: tuple, params) -> Tensor:
    tracer.on_inplace(op, target, others, params, mode_var.get())
    token = _tracing.tracer_var.set(None)
    try:
        return apply_inplace(op, target, others, params)
    finally:
        _tracing.tracer_var.reset(token)
