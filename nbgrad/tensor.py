"""The Tensor: an array on a device plus its autograd metadata.

Arithmetic and shape methods are registered by the layers above (``nbgrad.ops``, and
``backward`` by ``nbgrad.autograd``); ``tensor.pyi`` lists them all. This module holds the data
model: metadata, version counter, autograd attributes, conversions, repr. It imports nothing
from the layers above it.
"""

from __future__ import annotations

import operator
import weakref
from typing import TYPE_CHECKING

import numpy as np

from nbgrad import _tracing, errors
from nbgrad._device import CPU, Device, backend_for
from nbgrad._dtype import DType, from_numpy_dtype
from nbgrad._format import format_tensor
from nbgrad._graph import VIEW_NO_GRAD, VIEW_NORMAL, RemovableHandle, VersionCounter
from nbgrad.grad_mode import check_numpy_allowed, check_requires_grad_allowed

if TYPE_CHECKING:
    from nbgrad._graph import Node

__all__ = ["Tensor"]

_new = object.__new__


def _make(data, counter: VersionCounter | None) -> Tensor:
    """Wrap a backend array (fast path: only the fields that differ from the defaults are set)."""
    t = _new(Tensor)
    t._data = data
    t._version_counter = counter
    return t


class Tensor:
    """An n-dimensional array with autograd support (see ``nb.tensor`` to create one).

    >>> import nbgrad as nb
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> x.shape, x.dtype, x.device
    ((2, 2), nbgrad.float32, device(type='cpu'))
    >>> (x * x).sum()
    tensor(30., grad_fn=<SumBackward0>)
    """

    # Defaults live on the class so that creating a tensor sets only what differs.
    _grad_fn: Node | None = None
    _requires_grad = False
    _grad: Tensor | None = None
    _base: Tensor | None = None  # the tensor whose storage a view aliases
    _view_steps: tuple = ()  # (op, params) steps that rebuild the view from its base
    _view_meta = VIEW_NORMAL
    _base_fn: Node | None = None  # base.grad_fn when this view's history was made
    _views: list | None = None  # on a base: weak references to its views (see ops/_views.py)
    _output_nr = 0
    _retains_grad = False
    _hooks: list | None = None
    _post_acc_hooks: list | None = None  # register_post_accumulate_grad_hook
    _fw_grads: dict | None = None  # forward-mode AD: dual level -> tangent
    _device: Device = CPU
    _version_counter: VersionCounter | None = None
    __array_priority__ = 1000  # numpy defers binary operators to Tensor
    __hash__ = object.__hash__

    # ----------------------------------------------------------------- metadata
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension.

        >>> import nbgrad as nb
        >>> nb.zeros(2, 3).shape
        (2, 3)
        """
        return tuple(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape, or the size of one dimension.

        >>> import nbgrad as nb
        >>> x = nb.zeros(2, 3)
        >>> x.size(), x.size(1), x.size(-2)
        ((2, 3), 3, 2)
        """
        shape = self._data.shape
        return tuple(shape) if dim is None else shape[_wrap_dim(dim, len(shape))]

    @property
    def dtype(self) -> DType:
        """The element type.

        >>> import nbgrad as nb
        >>> nb.tensor([1, 2]).dtype, nb.tensor([1.0]).dtype
        (nbgrad.int64, nbgrad.float32)
        """
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> Device:
        """Where the data lives.

        >>> import nbgrad as nb
        >>> nb.zeros(2).device
        device(type='cpu')
        """
        return self._device

    @property
    def is_cuda(self) -> bool:
        """True for tensors on a CUDA device.

        >>> import nbgrad as nb
        >>> nb.zeros(2).is_cuda
        False
        """
        return self._device.type == "cuda"

    @property
    def ndim(self) -> int:
        """Number of dimensions.

        >>> import nbgrad as nb
        >>> nb.zeros(2, 3).ndim
        2
        """
        return self._data.ndim

    def dim(self) -> int:
        """Number of dimensions.

        >>> import nbgrad as nb
        >>> nb.zeros(2, 3).dim()
        2
        """
        return self._data.ndim

    def numel(self) -> int:
        """Number of elements.

        >>> import nbgrad as nb
        >>> nb.zeros(2, 3).numel()
        6
        """
        return int(self._data.size)

    def element_size(self) -> int:
        """Bytes per element.

        >>> import nbgrad as nb
        >>> nb.zeros(2).element_size(), nb.zeros(2, dtype=nb.float64).element_size()
        (4, 8)
        """
        return self._data.dtype.itemsize

    def stride(self, dim: int | None = None):
        """Strides in elements (all dims, or one).

        >>> import nbgrad as nb
        >>> x = nb.zeros(2, 3)
        >>> x.stride(), x.t().stride(), x.stride(0)
        ((3, 1), (1, 3), 3)
        """
        st = backend_for(self._device).strides(self._data)
        return st if dim is None else st[_wrap_dim(dim, len(st))]

    def is_contiguous(self) -> bool:
        """Whether the data is laid out in C order without gaps.

        >>> import nbgrad as nb
        >>> x = nb.zeros(2, 3)
        >>> x.is_contiguous(), x.t().is_contiguous()
        (True, False)
        """
        return backend_for(self._device).is_contiguous(self._data)

    def is_floating_point(self) -> bool:
        """True for float32/float64 tensors.

        >>> import nbgrad as nb
        >>> nb.tensor([1.0]).is_floating_point(), nb.tensor([1]).is_floating_point()
        (True, False)
        """
        return self.dtype.is_floating_point

    def is_inference(self) -> bool:
        """True for tensors created in inference mode (they carry no version counter).

        >>> import nbgrad as nb
        >>> with nb.inference_mode():
        ...     y = nb.ones(2) * 2
        >>> y.is_inference(), nb.ones(2).is_inference()
        (True, False)
        """
        return self._version_counter is None

    @property
    def _version(self) -> int:
        """How many times this tensor (or an alias sharing its storage) was modified in place."""
        if self._version_counter is None:
            raise errors.InferenceTensorError(errors.INFERENCE_VERSION)
        return self._version_counter.value

    # ------------------------------------------------------------- autograd
    @property
    def requires_grad(self) -> bool:
        """Whether gradients are recorded for this tensor.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> x.requires_grad, (x * 2).requires_grad, x.detach().requires_grad
        (True, True, False)
        """
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"requires_grad must be a bool, got {type(mode).__name__}")
        if self.grad_fn is not None:  # a non-leaf's flag cannot be set at all
            raise errors.AutogradError(errors.NON_LEAF_REQUIRES_GRAD)
        if mode:
            if not self.dtype.is_floating_point:
                raise errors.AutogradError(
                    errors.NON_FLOAT_REQUIRES_GRAD.format(dtype=self.dtype.name)
                )
            if self._version_counter is None:
                check_requires_grad_allowed()
        self._requires_grad = bool(mode)

    def requires_grad_(self, mode: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self (``True`` on a non-leaf is a no-op).

        >>> import nbgrad as nb
        >>> nb.zeros(2).requires_grad_()
        tensor([0., 0.], requires_grad=True)
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"requires_grad_(): mode must be a bool, got {type(mode).__name__}")
        if not (mode and self.grad_fn is not None):
            self.requires_grad = mode
        return self

    @property
    def grad_fn(self) -> Node | None:
        """The node that created this tensor (None for leaves).

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> (x * 2).grad_fn.name(), x.grad_fn is None
        ('MulBackward0', True)
        """
        if self._base is not None and self._view_meta != VIEW_NORMAL:
            if self._base._requires_grad and self._base._grad_fn is not self._base_fn:
                # a view made under no_grad / inference mode whose base was since rebased
                raise errors.InplaceError(
                    errors.NO_GRAD_VIEW_REBASED if self._view_meta == VIEW_NO_GRAD
                    else errors.INFERENCE_VIEW_REBASED
                )
        fn = self._grad_fn
        return None if fn is None else fn._named()  # its PyTorch-named class, once handed out

    @property
    def output_nr(self) -> int:
        """Which output of its ``grad_fn`` this tensor is (0 for leaves and single outputs).

        >>> import nbgrad as nb
        >>> class Two(nb.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         return x * 2, x * 3
        ...     @staticmethod
        ...     def backward(ctx, g1, g2):
        ...         return 2 * g1 + 3 * g2
        >>> [t.output_nr for t in Two.apply(nb.tensor([1.0], requires_grad=True))]
        [0, 1]
        """
        return self._output_nr

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0], requires_grad=True)
        >>> x.is_leaf, (x * 2).is_leaf, (x * 2).detach().is_leaf
        (True, False, True)
        """
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        """Accumulated gradient (leaves, and non-leaves after ``retain_grad()``).

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4.])
        """
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad must be a Tensor or None, got {type(value).__name__}"
                )
            if value.shape != self.shape:
                raise ValueError(
                    f"assigned grad has shape {value.shape} but the tensor has shape {self.shape}"
                )
            if value.dtype is not self.dtype:
                raise TypeError(
                    f"assigned grad has dtype {value.dtype.name} but the tensor has "
                    f"{self.dtype.name}"
                )
            if value.device != self.device:
                raise RuntimeError(
                    f"assigned grad is on device {value.device} but the tensor is on {self.device}"
                )
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        """True when ``retain_grad()`` was called on this non-leaf.

        >>> import nbgrad as nb
        >>> y = nb.tensor([1.0], requires_grad=True) * 2
        >>> y.retains_grad
        False
        >>> y.retain_grad()
        >>> y.retains_grad
        True
        """
        return self._retains_grad

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf in ``.grad`` after backward.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 3
        >>> y.retain_grad()
        >>> (y * y).sum().backward()
        >>> y.grad
        tensor([ 6., 12.])
        """
        _tracing.note_opaque("calls retain_grad")
        fn = self.grad_fn
        if not self._requires_grad:
            raise errors.AutogradError("can't retain_grad on Tensor that has requires_grad=False")
        if fn is None or self._retains_grad:
            return
        if fn.retained is None:
            fn.retained = {}
        fn.retained[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` when the gradient of this tensor is computed; it may return a
        replacement. Returns a handle whose ``remove()`` unregisters it.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> handle = x.register_hook(lambda g: g * 10)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([20., 40.])
        >>> handle.remove()
        """
        _tracing.note_opaque("registers a hook")
        if not self.requires_grad:
            raise errors.AutogradError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )
        fn = self.grad_fn
        if fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if fn.pre_hooks is None:
                fn.pre_hooks = {}
            hooks = fn.pre_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """Call ``hook(tensor)`` after backward accumulated a gradient into this leaf's
        ``.grad`` (not in ``autograd.grad``, which accumulates nothing). Returns a handle.

        >>> import nbgrad as nb
        >>> w = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> h = w.register_post_accumulate_grad_hook(lambda p: print("grad:", p.grad))
        >>> (w * 3).sum().backward()
        grad: tensor([3., 3.])
        >>> h.remove()
        """
        _tracing.note_opaque("registers a hook")
        if not self._requires_grad:
            raise errors.AutogradError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )
        if self.grad_fn is not None:
            raise errors.AutogradError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        self._post_acc_hooks.append(hook)
        return RemovableHandle(self._post_acc_hooks, hook)

    def detach(self) -> Tensor:
        """A tensor sharing storage and version counter, cut off from the graph.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> y = (x * 2).detach()
        >>> y, y.requires_grad
        (tensor([2., 4.]), False)
        """
        out = _make(self._data, self._version_counter)
        if self._device is not CPU:
            out._device = self._device
        _tracing.note_made(out)
        return out

    def detach_(self) -> Tensor:
        """Cut this tensor off from the graph, in place, making it a leaf.

        >>> import nbgrad as nb
        >>> y = nb.tensor([1.0], requires_grad=True) * 2
        >>> y.detach_()
        tensor([2.])
        >>> y.is_leaf
        True
        """
        if self._base is not None and self._base.requires_grad:
            raise errors.AutogradError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        """An alias of the values outside autograd: changes to it are not tracked.

        >>> import nbgrad as nb
        >>> x = nb.tensor([1.0, 2.0], requires_grad=True)
        >>> _ = x.data.mul_(10)  # allowed on a leaf that requires grad, and not recorded
        >>> x
        tensor([10., 20.], requires_grad=True)
        """
        out = _make(self._data, None if self._version_counter is None else VersionCounter())
        if self._device is not CPU:
            out._device = self._device
        _tracing.note_made(out)
        return out

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        if self._requires_grad and not value.dtype.is_floating_point:
            raise errors.AutogradError(
                "data set to a tensor that requires gradients must be floating point or complex "
                "dtype"
            )
        self._data = value._data
        self._device = value._device

    # ---------------------------------------------------------- conversions
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a numpy array sharing memory (CPU tensors without grad only);
        ``force=True`` also takes a tensor that requires grad, or a CUDA tensor (copied).

        >>> import nbgrad as nb
        >>> nb.tensor([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        >>> nb.tensor([1.0], requires_grad=True).numpy(force=True)
        array([1.], dtype=float32)
        """
        _tracing.note_opaque("reads tensor values in Python (numpy)")
        if force:
            return self._data if self._device.type == "cpu" else self._host()
        if self._requires_grad:
            check_numpy_allowed()  # allowed inside no_grad, as in PyTorch
        if self._device.type != "cpu":
            raise TypeError(
                f"can't convert {self._device} device tensor to numpy. "
                "Use Tensor.cpu() to copy the tensor to host memory first."
            )
        return self._data

    def _host(self) -> np.ndarray:
        _tracing.note_opaque("reads tensor values in Python (item/tolist)")
        return backend_for(self._device).to_host(self._data)

    def item(self):
        """The value of a one-element tensor as a Python number.

        >>> import nbgrad as nb
        >>> nb.tensor([[2.5]]).item(), nb.tensor(3).item()
        (2.5, 3)
        """
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._host().reshape(()).item()

    def tolist(self):
        """The values as (nested) Python lists.

        >>> import nbgrad as nb
        >>> nb.tensor([[1, 2], [3, 4]]).tolist()
        [[1, 2], [3, 4]]
        """
        return self._host().tolist()

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None:
            arr = arr.astype(dtype)
        return arr.copy() if copy else arr

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __repr__(self) -> str:
        return format_tensor(self)


def parse_to_args(args: tuple, kwargs: dict) -> tuple:
    """``(device, dtype)`` from the arguments of ``Tensor.to``/``Module.to``: a device, a dtype,
    both, another tensor, or the ``device=``/``dtype=`` keywords (either may come back None).

    >>> import nbgrad as nb
    >>> parse_to_args(("cpu", nb.float64), {})
    ('cpu', nbgrad.float64)
    """
    kwargs = dict(kwargs)
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, DType) or a in (float, int, bool):
            dtype = a
        else:
            device = a
    return device, dtype


def _wrap_dim(dim: int, ndim: int) -> int:
    """Normalise a possibly negative dimension index, with PyTorch's error message."""
    if not isinstance(dim, int):
        try:
            dim = operator.index(dim)
        except TypeError:
            raise TypeError(f"dim must be an int, got {type(dim).__name__}") from None
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n

