"""Exception types raised by nbgrad (all autograd errors are ``RuntimeError`` subclasses)."""

from __future__ import annotations

__all__ = [
    "AutogradError",
    "NotDifferentiableError",
    "GraphFreedError",
    "VersionMismatchError",
    "InplaceError",
    "InferenceTensorError",
    "DeviceMismatchError",
    "ShapeError",
]


class AutogradError(RuntimeError):
    """Base class of every autograd error nbgrad raises.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0], requires_grad=True)
    >>> try:
    ...     x.add_(1.0)
    ... except nb.AutogradError as e:  # catches each of the autograd errors below
    ...     print(type(e).__name__)
    InplaceError
    """


class NotDifferentiableError(AutogradError):
    """Backward or grad asked of a tensor that has no gradient history.

    >>> import nbgrad as nb
    >>> nb.tensor([1.0]).sum().backward()
    Traceback (most recent call last):
        ...
    nbgrad.errors.NotDifferentiableError: element 0 of tensors does not require grad...
    """


class GraphFreedError(AutogradError):
    """Backward went through saved tensors that a previous backward already freed.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> y.backward()  # the second time needs y.backward(retain_graph=True) the first time
    Traceback (most recent call last):
        ...
    nbgrad.errors.GraphFreedError: Trying to backward through the graph a second time...
    """


class VersionMismatchError(AutogradError):
    """A tensor saved for backward was modified in place before backward used it.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0], requires_grad=True)
    >>> y = x * 2
    >>> z = (y * y).sum()  # saves y
    >>> _ = y.add_(1.0)
    >>> z.backward()
    Traceback (most recent call last):
        ...
    nbgrad.errors.VersionMismatchError: ...modified by an inplace operation...
    """


class InplaceError(AutogradError):
    """An in-place operation that autograd cannot allow.

    >>> import nbgrad as nb
    >>> nb.tensor([1.0], requires_grad=True).add_(1.0)
    Traceback (most recent call last):
        ...
    nbgrad.errors.InplaceError: a leaf Variable that requires grad is being used in an in-place...
    """


class InferenceTensorError(AutogradError):
    """Misuse of an inference tensor outside inference mode.

    >>> import nbgrad as nb
    >>> with nb.inference_mode():
    ...     x = nb.ones(2)
    >>> x.requires_grad_()
    Traceback (most recent call last):
        ...
    nbgrad.errors.InferenceTensorError: Setting requires_grad=True on inference tensor outside...
    """


class DeviceMismatchError(RuntimeError):
    """Tensors on different devices were mixed in one op.

    >>> import nbgrad as nb
    >>> issubclass(nb.errors.DeviceMismatchError, RuntimeError)  # e.g. a CPU and a CUDA tensor
    True
    """


class ShapeError(ValueError, RuntimeError):
    """Operand shapes do not fit the op (a ``ValueError`` and a ``RuntimeError``).

    >>> import nbgrad as nb
    >>> issubclass(nb.errors.ShapeError, ValueError), issubclass(nb.errors.ShapeError, RuntimeError)
    (True, True)
    """


SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
INFERENCE_VERSION = "Inference tensors do not track version counter."
INFERENCE_REQUIRES_GRAD = (
    "Setting requires_grad=True on inference tensor outside InferenceMode is not allowed."
)
INFERENCE_INPLACE = (
    "Inplace update to inference tensor outside InferenceMode is not allowed. You can make a clone "
    "to get a normal tensor before doing inplace update. "
    "See https://github.com/pytorch/rfcs/pull/17 for more details."
)
INFERENCE_SAVED = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a clone "
    "to get a normal tensor and use it in autograd, or use `nb.no_grad()` instead of "
    "`nb.inference_mode()`."
)
NON_LEAF_REQUIRES_GRAD = (
    "you can only change requires_grad flags of leaf variables. If you want to use a computed "
    "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
)
NON_FLOAT_REQUIRES_GRAD = (
    "only Tensors of floating point dtype can require gradients (got {dtype})"
)
NO_GRAD_VIEW_INPLACE = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your "
    "code by moving both the view and the inplace either both inside the no_grad block (if you "
    "don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked)."
)
INFERENCE_VIEW_INPLACE = (
    "A view was created in inference mode and is being modified inplace in normal mode. Given that "
    "this use case is ambiguous and error-prone, it is forbidden. You can clarify your code by "
    "moving both the view and the inplace either both inside the inference_mode block (if you "
    "don't want the inplace to be tracked) or both outside (if you want the inplace to be tracked)."
)
NO_GRAD_VIEW_REBASED = (
    "A view was created in no_grad mode and its base or another view of its base has been "
    "modified inplace with grad mode enabled. Given that this use case is ambiguous and "
    "error-prone, it is forbidden. You can clarify your code by moving both the view and the "
    "inplace either both inside the no_grad block (if you don't want the inplace to be tracked) "
    "or both outside (if you want the inplace to be tracked)."
)
INFERENCE_VIEW_REBASED = (
    "A view was created in inference mode and its base or another view of its base has been "
    "modified inplace in normal mode. Given that this use case is ambiguous and error-prone, it "
    "is forbidden. You can clarify your code by moving both the view and the inplace either both "
    "inside the inference_mode block (if you don't want the inplace to be tracked) or both "
    "outside (if you want the inplace to be tracked)."
)
NUMPY_REQUIRES_GRAD = (
    "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
)
