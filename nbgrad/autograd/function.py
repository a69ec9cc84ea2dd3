"""Custom differentiable ops: subclass :class:`Function` with ``forward``/``backward``.

``Function.apply`` follows the dispatch's rules: it asks the dispatch point (``ops/_dispatch.py``)
whether the call is recorded, runs ``forward`` with grad disabled (inference mode is kept), and
records one graph node only when grad mode is on and an input requires grad. Tensors passed to
``ctx.save_for_backward`` become ``SavedTensor`` objects, so an in-place change before backward
raises the usual "modified by an inplace operation" error and a second backward the "second time"
error.

>>> import nbgrad as nb
>>> class Cube(nb.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return grad * 3 * x ** 2
>>> x = nb.tensor([1.0, 2.0], requires_grad=True)
>>> Cube.apply(x).sum().backward()
>>> x.grad
tensor([ 3., 12.])
"""

from __future__ import annotations

import functools
import traceback
import warnings

from nbgrad import _tracing
from nbgrad._graph import Node, SavedTensor, anomaly_state, forward_ad_state
from nbgrad.autograd.forward_ad import _suspended, function_jvp
from nbgrad.grad_mode import no_grad
from nbgrad.ops._dispatch import (
    OpDef,
    apply,
    check_inplace,
    edge_of,
    rebase_view,
    refresh_views,
    will_record,
)
from nbgrad.ops.creation import zeros
from nbgrad.ops.elementwise import sum_to
from nbgrad.tensor import Tensor, _make

__all__ = ["Function", "FunctionCtx", "InplaceFunction", "once_differentiable"]

class FunctionCtx:
    """The ``ctx`` object ``forward`` and ``backward`` share; store extra attributes freely.

    >>> import nbgrad as nb
    >>> class Scale(nb.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, k):
    ...         ctx.k = k  # any attribute, read back in backward
    ...         return x * k
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return grad * ctx.k, None  # no gradient for the number k
    >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
    >>> Scale.apply(x, 10.0).sum().backward()
    >>> x.grad
    tensor([10., 10.])
    """

    def __init__(self) -> None:
        self.to_save: tuple | None = None
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._dirty: tuple = ()
        self._non_differentiable: tuple = ()
        self._node: Node | None = None

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (or None) for ``backward``; they are version-checked when read.

        >>> import nbgrad as nb
        >>> class Square(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * grad
        >>> x = nb.tensor([3.0], requires_grad=True)
        >>> Square.apply(x).backward()
        >>> x.grad
        tensor([6.])
        """
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {i} is not a "
                    f"Tensor or None (got {type(t).__name__})"
                )
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward`` (checked against in-place changes).

        >>> import nbgrad as nb
        >>> class Square(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         (x,) = ctx.saved_tensors
        ...         return 2 * x * grad
        >>> x = nb.tensor([3.0], requires_grad=True)
        >>> a = x * 1
        >>> y = Square.apply(a)
        >>> _ = a.mul_(2.0)  # a was saved: backward now refuses to use it
        >>> y.backward()
        Traceback (most recent call last):
            ...
        nbgrad.errors.VersionMismatchError: ...modified by an inplace operation...
        """
        node = self._node
        if node is None:
            if self.to_save is not None:  # forward never recorded a node (no grad needed)
                return tuple(self.to_save)
            raise RuntimeError("saved_tensors is only available in backward")
        if node.saved is None:
            return ()
        return tuple(node.saved_input(i) for i in range(len(node.saved)))

    @property
    def saved_variables(self) -> tuple:
        """Deprecated alias of :attr:`saved_tensors` (with a ``DeprecationWarning``).

        >>> import warnings
        >>> import nbgrad as nb
        >>> class Id(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x.clone()
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         with warnings.catch_warnings(record=True) as w:
        ...             warnings.simplefilter("always")
        ...             (x,) = ctx.saved_variables
        ...         print(w[0].message)
        ...         return grad
        >>> Id.apply(nb.tensor([1.0], requires_grad=True)).sum().backward()
        'saved_variables' is deprecated; use 'saved_tensors'
        """
        warnings.warn("'saved_variables' is deprecated; use 'saved_tensors'",
                      DeprecationWarning, stacklevel=2)
        return self.saved_tensors

    def mark_dirty(self, *tensors) -> None:
        """Declare inputs that ``forward`` modified in place (they must also be returned).

        >>> import nbgrad as nb
        >>> class AddOne_(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         x.add_(1.0)
        ...         ctx.mark_dirty(x)
        ...         return x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return grad
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 1  # a non-leaf may be changed in place
        >>> AddOne_.apply(y) is y, y
        (True, tensor([2., 3.], grad_fn=<AddOne_Backward>))
        """
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        """Declare outputs that get no gradient (e.g. indices); they never require grad.

        >>> import nbgrad as nb
        >>> class Max(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         index = x.argmax()
        ...         ctx.mark_non_differentiable(index)
        ...         ctx.save_for_backward(x)
        ...         return x.amax(), index
        ...     @staticmethod
        ...     def backward(ctx, grad, grad_index):
        ...         (x,) = ctx.saved_tensors
        ...         return grad * (x == x.amax())
        >>> value, index = Max.apply(nb.tensor([1.0, 3.0, 2.0], requires_grad=True))
        >>> value.requires_grad, index.requires_grad, index
        (True, False, tensor(1))
        """
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """Whether ``backward`` receives zeros (True, the default) or None for outputs that
        got no gradient.

        >>> import nbgrad as nb
        >>> class Twice(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.set_materialize_grads(False)
        ...         return x * 1, x * 2
        ...     @staticmethod
        ...     def backward(ctx, g1, g2):
        ...         print("g2 is None:", g2 is None)
        ...         return g1 if g2 is None else g1 + 2 * g2
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> a, b = Twice.apply(x)
        >>> a.sum().backward()
        g2 is None: True
        """
        self.materialize_grads = bool(value)


class _FunctionBackward(OpDef):
    """The node op of one ``Function.apply`` call: runs the user's ``backward``."""

    def __init__(self, fn_cls: type, n_outputs: int) -> None:
        self.fn_cls = fn_cls
        super().__init__(fn_cls.__name__)
        self.n_outputs = n_outputs

    @property
    def backward_name(self) -> str:
        return f"{self.fn_cls.__name__}Backward"

    def _node_class(self) -> type[Node]:
        return _backward_class(self.fn_cls)

    def output_differentiable(self, nr: int) -> bool:
        return True

    def backward(self, node, *grads):
        ctx = node.params
        out_meta, in_meta = node.meta
        if ctx.materialize_grads:
            grads = tuple(
                zeros(m[0], dtype=m[1], device=m[2]) if g is None and m is not None else g
                for g, m in zip(grads, out_meta)
            )
        ctx._node = node
        try:
            result = self.fn_cls.backward(ctx, *grads)
        finally:
            ctx._node = None
        return self._check_grads(result, node, in_meta)

    def _check_grads(self, result, node, in_meta) -> tuple:
        name = self.backward_name
        if not isinstance(result, tuple):
            result = (result,)
        n = len(node.edges)
        if len(result) > n and all(g is None for g in result[n:]):
            result = result[:n]
        if len(result) != n:
            raise RuntimeError(
                f"function {name} returned an incorrect number of gradients "
                f"(expected {n}, got {len(result)})"
            )
        checked = []
        for i, (g, edge, meta) in enumerate(zip(result, node.edges, in_meta)):
            if meta is None and g is not None:
                raise RuntimeError(
                    f"function {name} returned a gradient different than None at position "
                    f"{i}, but the corresponding forward input was not a Tensor"
                )
            if edge is None or g is None:
                checked.append(None)
                continue
            if not isinstance(g, Tensor):
                raise TypeError(
                    f"function {name} returned a gradient of type {type(g).__name__} at index "
                    f"{i}; expected a Tensor or None"
                )
            shape, dtype = meta
            if g.shape != shape:
                try:
                    g = sum_to(g, shape) if _expandable(shape, g.shape) else None
                except ValueError:
                    g = None
                if g is None:
                    raise RuntimeError(
                        f"Function {name} returned an invalid gradient at index {i} - got "
                        f"{list(result[i].shape)} but expected shape compatible with "
                        f"{list(shape)}"
                    )
            if g.dtype is not dtype:
                g = g.to(dtype)
            checked.append(g)
        return tuple(checked)


def _backward_class(fn_cls: type) -> type[Node]:
    """The node class of ``fn_cls``'s calls: ``<name>Backward``, one per Function subclass (two
    Functions of the same name get two classes), with ``_forward_cls`` as in PyTorch."""
    found = fn_cls.__dict__.get("_backward_cls")
    if found is None:
        found = type(f"{fn_cls.__name__}Backward", (Node,), {
            "__slots__": (), "__module__": fn_cls.__module__, "_forward_cls": fn_cls,
            "saved_tensors": property(_node_saved_tensors),
        })
        fn_cls._backward_cls = found
    return found


def _node_saved_tensors(node) -> tuple:
    """``grad_fn.saved_tensors`` of a custom Function's node (raises once backward freed
    them, as PyTorch does)."""
    if node.saved is None:
        return ()
    return tuple(node.saved_input(i) for i in range(len(node.saved)))


def _expandable(shape, target) -> bool:
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(target)))


def _needs_grad(x) -> bool:
    return isinstance(x, Tensor) and x.requires_grad


def _alias(t: Tensor) -> Tensor:
    """A new tensor sharing ``t``'s storage and version counter, without history or base."""
    out = _make(t._data, t._version_counter)
    out._device = t._device
    _tracing.note_made(out)
    return out


class Function:
    """Base class of custom ops: define ``forward(ctx, *args)`` and ``backward(ctx, *grads)``
    as staticmethods and call ``MyOp.apply(*args)``.

    ``backward`` gets one gradient per output of ``forward`` and returns one per input
    (None for inputs that need none, e.g. non-tensors). It runs with grad mode equal to
    ``create_graph``; written with nbgrad ops it is differentiable again, written with raw
    kernels it should be decorated with :func:`once_differentiable`.
    Alternatively ``forward(*args)`` may omit ``ctx`` when ``setup_context(ctx, inputs,
    output)`` is defined.

    >>> import nbgrad as nb
    >>> class Exp(nb.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = x.exp()
    ...         ctx.save_for_backward(y)
    ...         return y
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (y,) = ctx.saved_tensors
    ...         return grad * y
    >>> x = nb.tensor([0.0, 1.0], requires_grad=True)
    >>> Exp.apply(x).sum().backward()
    >>> x.grad
    tensor([1.0000, 2.7183])
    """

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is not supported; define "
            "forward and backward as staticmethods and call the class's apply()"
        )

    @staticmethod
    def forward(ctx, *args):
        """Compute the outputs from the inputs (runs with grad mode off).

        >>> import nbgrad as nb
        >>> class Double(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x * 2, nb.is_grad_enabled()
        ...     @staticmethod
        ...     def backward(ctx, grad, _):
        ...         return grad * 2
        >>> Double.apply(nb.tensor([1.0, 2.0], requires_grad=True))
        (tensor([2., 4.], grad_fn=<DoubleBackward>), False)
        """
        raise NotImplementedError("You must implement the forward function for custom Function")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """Gradients of the inputs given those of the outputs.

        >>> import nbgrad as nb
        >>> class Clip(nb.autograd.Function):  # the identity, with the gradient clipped to [-1, 1]
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x.clone()
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return grad.clamp(-1.0, 1.0)
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> (Clip.apply(x) * nb.tensor([0.5, 5.0])).sum().backward()
        >>> x.grad
        tensor([0.5000, 1.0000])
        """
        raise NotImplementedError("You must implement the backward function for custom Function")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Optional: fill ``ctx`` when ``forward`` does not take it.

        >>> import nbgrad as nb
        >>> class Mul(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(x, k):  # no ctx
        ...         return x * k
        ...     @staticmethod
        ...     def setup_context(ctx, inputs, output):
        ...         ctx.k = inputs[1]
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return grad * ctx.k, None
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> Mul.apply(x, 3.0).sum().backward()
        >>> x.grad
        tensor([3., 3.])
        """
        raise NotImplementedError

    vjp = backward

    @staticmethod
    def jvp(ctx, *grad_inputs):
        """Forward mode: the tangents of the outputs given one tangent per input of
        ``forward`` (zeros for a tensor input without one, None for a non-tensor). Needed to
        use the Function on dual tensors (``nb.autograd.forward_ad``).

        >>> import nbgrad as nb
        >>> import nbgrad.autograd.forward_ad as fwAD
        >>> class Square(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.x = x
        ...         return x * x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return 2 * ctx.x * grad
        ...     @staticmethod
        ...     def jvp(ctx, t):
        ...         return 2 * ctx.x * t
        >>> with fwAD.dual_level():
        ...     y = Square.apply(fwAD.make_dual(nb.tensor([3.0]), nb.tensor([1.0])))
        ...     fwAD.unpack_dual(y).tangent
        tensor([6.])
        """
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD."
        )

    # Accepted as in PyTorch (``nbgrad.func.vmap`` runs such Functions per sample anyway).
    generate_vmap_rule = False

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op; record a node for ``backward`` when grad mode is on and an input
        requires grad.

        >>> import nbgrad as nb
        >>> class Neg(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return -x
        ...     @staticmethod
        ...     def backward(ctx, grad):
        ...         return -grad
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> Neg.apply(x)
        tensor([-1.], grad_fn=<NegBackward>)
        >>> with nb.no_grad():
        ...     Neg.apply(x)
        tensor([-1.])
        """
        if kwargs:
            raise TypeError(f"{cls.__name__}.apply() takes positional arguments only")
        needs = tuple(_needs_grad(a) for a in args)
        record = any(needs) and will_record(args)
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(n and record for n in needs)
        separate_setup = cls.setup_context is not Function.setup_context
        dual = forward_ad_state.hook is not None
        with no_grad():  # forward runs with grad disabled (inference mode is kept)
            if dual:  # forward mode: the outputs' tangents come from cls.jvp, not from forward
                with _suspended():
                    raw = cls.forward(*args) if separate_setup else cls.forward(ctx, *args)
            else:
                raw = cls.forward(*args) if separate_setup else cls.forward(ctx, *args)
            if separate_setup:
                cls.setup_context(ctx, args, raw)
        if record:
            raw = _record(cls, ctx, args, needs, raw)
        if dual:
            if not record:  # an input returned as is gets a tangent of its own: alias it
                ids = {id(a) for a in args if isinstance(a, Tensor)}
                if isinstance(raw, tuple):
                    raw = tuple(_alias(o) if id(o) in ids else o for o in raw)
                elif id(raw) in ids:
                    raw = _alias(raw)
            function_jvp(cls, cls.jvp is not Function.jvp, ctx, args, raw)
        return raw


def _record(cls, ctx: FunctionCtx, args: tuple, needs: tuple, raw):
    single = not isinstance(raw, tuple)
    outputs = (raw,) if single else raw
    edges = tuple(edge_of(a) if need else None for a, need in zip(args, needs))
    op = _FunctionBackward(cls, len(outputs))
    node = op.node_class(op, ctx, edges)
    dirty = {id(t) for t in ctx._dirty}
    non_diff = {id(t) for t in ctx._non_differentiable}
    inputs = {id(a) for a in args if isinstance(a, Tensor)}
    for t in ctx._dirty:
        if id(t) not in inputs:
            raise RuntimeError("mark_dirty only accepts input tensors, got a tensor that is not "
                               f"an input of {cls.__name__}")
        check_inplace(t)
    final = {}
    results = []
    out_meta = []
    for nr, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            results.append(o)
            out_meta.append(None)
            continue
        if id(o) in dirty:
            t = o
        elif id(o) in inputs or o._base is not None or o._grad_fn is not None:
            t = _alias(o)
        else:
            t = o
        final[id(o)] = t
        out_meta.append((t.shape, t.dtype, t.device))
        if id(o) not in non_diff and t.dtype.is_floating_point:
            if t._base is not None and id(o) in dirty:
                _rebase_dirty_view(t, node, nr)
            else:
                t._grad_fn, t._output_nr, t._requires_grad = node, nr, True
                if id(o) in dirty:  # an input written in place: its views take the new history
                    refresh_views(t)
        results.append(t)
    in_meta = tuple((a.shape, a.dtype) if isinstance(a, Tensor) else None for a in args)
    node.meta = (tuple(out_meta), in_meta)
    if ctx.to_save is not None:
        node.saved = tuple(_save(final.get(id(s), s), node) for s in ctx.to_save)
        ctx.to_save = None
    if anomaly_state.enabled:
        node.trace = "".join(traceback.format_stack(limit=20)[:-3])
    return results[0] if single else tuple(results)


def _save(t, node):
    if t is None:
        return None
    own_first_output = t._grad_fn is node and t._output_nr == 0 and t._base is None
    return SavedTensor(t, own_first_output)


def _rebase_dirty_view(view: Tensor, node: Node, nr: int) -> None:
    """A view modified in place by ``forward``: its base takes the new history for the
    written region (as an in-place op through the dispatch would)."""
    written = _alias(view)
    written._grad_fn, written._output_nr, written._requires_grad = node, nr, True
    rebase_view(view, written)


class InplaceFunction(Function):
    """A :class:`Function` that may work in place: ``inplace`` is given to the constructor
    in PyTorch's legacy API; here it is a class attribute the subclass's ``forward`` reads.

    >>> import nbgrad as nb
    >>> issubclass(nb.autograd.function.InplaceFunction, nb.autograd.Function)
    True
    """

    inplace = False


class _DelayedError(OpDef):
    """Stands between a ``once_differentiable`` backward's result and its inputs: a further
    derivative through it raises."""

    name = "DelayedError"
    node_name = "DelayedError"  # PyTorch's name for this node (no Backward suffix)

    def forward(self, bk, params, x, *others):
        return bk.copy(x)

    def backward(self, node, grad):
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )


_DELAYED_ERROR = _DelayedError()


def once_differentiable(fn):
    """Decorate a ``backward`` that is not itself differentiable (e.g. raw Numba kernels): it
    runs with grad off, and asking for a higher derivative through it raises.

    >>> import nbgrad as nb
    >>> class Square(nb.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     @nb.autograd.once_differentiable
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return nb.from_numpy(2 * x.detach().numpy() * grad.detach().numpy())
    >>> x = nb.tensor([3.0], requires_grad=True)
    >>> v = nb.ones(1, requires_grad=True)
    >>> (g,) = nb.autograd.grad(Square.apply(x), x, v, create_graph=True)
    >>> g
    tensor([6.], grad_fn=<DelayedError>)
    >>> g.backward()
    Traceback (most recent call last):
        ...
    RuntimeError: trying to differentiate twice a function that was marked with @once_differentiable
    """

    @functools.wraps(fn)
    def wrapper(ctx, *grads):
        with no_grad():
            result = fn(ctx, *grads)
        tracked = tuple(g for g in grads if isinstance(g, Tensor) and g.requires_grad)
        if not will_record(tracked):
            return result
        single = not isinstance(result, tuple)
        wrapped = tuple(
            apply(_DELAYED_ERROR, (r, *tracked))
            if isinstance(r, Tensor) and r.dtype.is_floating_point else r
            for r in ((result,) if single else result)
        )
        return wrapped[0] if single else wrapped

    return wrapper

