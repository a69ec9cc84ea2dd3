"""Grad mode and inference mode: the one place that holds and decides them.

The state is a :class:`Mode` (two booleans, ``grad`` and ``inference``) kept in one
:class:`contextvars.ContextVar`, :data:`mode_var`. Because it is a ContextVar and not a
thread-local, a new thread starts at the default (grad on, inference off) and every asyncio
task works on its own copy, taken when the task is created: a mode set in one task never
leaks into another, even across ``await``.

The tensor dispatch reads ``mode_var.get()`` once per op and passes ``.grad`` /
``.inference`` down as plain booleans; nothing else reads or decides the mode.

Every manager here is both a context manager and a decorator (for plain, generator,
coroutine and async-generator functions); see :class:`_ModeContext`.

>>> from nbgrad.grad_mode import is_grad_enabled, no_grad
>>> with no_grad():
...     is_grad_enabled()
False
>>> is_grad_enabled()
True

Import from this module with ``from nbgrad.grad_mode import ...``: ``nbgrad/__init__.py``
re-exports the function :func:`grad_mode`, which then shadows the attribute
``nbgrad.grad_mode``, so ``import nbgrad.grad_mode as gm`` would give that function.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import types
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from nbgrad import errors

__all__ = [
    "MODES",
    "Mode",
    "check_requires_grad_allowed",
    "enable_grad",
    "grad_mode",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_multithreading_enabled",
    "mode_var",
    "no_grad",
    "set_grad_enabled",
    "set_multithreading_enabled",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


# --------------------------------------------------------------------------------------
# The state
# --------------------------------------------------------------------------------------


_INTERNED: dict[tuple[bool, bool], Mode] = {}


class Mode:
    """An immutable (grad, inference) pair; exactly four exist, one per combination.

    ``Mode(grad, inference)`` returns the preallocated instance, so modes compare by
    identity.

    >>> Mode(True, False) is MODES[(True, False)]
    True
    >>> MODES[(False, True)]
    Mode(grad=False, inference=True)
    """

    __slots__ = ("grad", "inference")
    grad: bool
    inference: bool

    def __new__(cls, grad: bool, inference: bool) -> Mode:
        key = (bool(grad), bool(inference))
        self = _INTERNED.get(key)
        if self is None:
            self = _INTERNED[key] = object.__new__(cls)
            object.__setattr__(self, "grad", key[0])
            object.__setattr__(self, "inference", key[1])
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("nbgrad.grad_mode.Mode is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("nbgrad.grad_mode.Mode is immutable")

    def __reduce__(self) -> tuple[type[Mode], tuple[bool, bool]]:
        return (Mode, (self.grad, self.inference))

    def __copy__(self) -> Mode:
        return self

    def __deepcopy__(self, memo: dict) -> Mode:
        return self

    def __repr__(self) -> str:
        return f"Mode(grad={self.grad}, inference={self.inference})"


MODES: dict[tuple[bool, bool], Mode] = {
    (g, i): Mode(g, i) for g in (True, False) for i in (False, True)
}
"""The four modes, keyed by ``(grad, inference)``."""

DEFAULT_MODE: Mode = MODES[(True, False)]

mode_var: contextvars.ContextVar[Mode] = contextvars.ContextVar("nbgrad_mode", default=DEFAULT_MODE)
"""The current :class:`Mode`. Read it once per op: ``m = mode_var.get(); m.grad, m.inference``."""

# Indexed by ``prev.inference`` (a bool is 0 or 1): the mode with grad forced off / on and
# inference kept. Saves building a tuple key on the hot ``with`` path.
_GRAD_OFF = (MODES[(False, False)], MODES[(False, True)])
_GRAD_ON = (MODES[(True, False)], MODES[(True, True)])
# Indexed by the ``mode`` argument of inference_mode: False -> (grad on, normal),
# True -> (grad off, inference). Either replaces the whole state, even inside no_grad.
_INFERENCE = (MODES[(True, False)], MODES[(False, True)])

_get = mode_var.get
_set = mode_var.set


def is_grad_enabled() -> bool:
    """Return True if operations are currently recorded for autograd.

    >>> is_grad_enabled()
    True
    """
    return _get().grad


def is_inference_mode_enabled() -> bool:
    """Return True inside ``inference_mode()`` (even if grad was re-enabled there).

    >>> with inference_mode():
    ...     is_inference_mode_enabled()
    True
    """
    return _get().inference


def check_numpy_allowed() -> None:
    """Refuse ``Tensor.numpy()`` of a tensor that requires grad while grad mode is on
    (PyTorch's rule: inside ``no_grad`` it is allowed).

    >>> check_numpy_allowed()
    Traceback (most recent call last):
        ...
    nbgrad.errors.AutogradError: Can't call numpy() on Tensor that requires grad...
    >>> with no_grad():
    ...     check_numpy_allowed()
    """
    if _get().grad:
        raise errors.AutogradError(errors.NUMPY_REQUIRES_GRAD)


def check_requires_grad_allowed() -> None:
    """Refuse ``requires_grad=True`` on an inference tensor outside inference mode.

    ``Tensor.requires_grad``'s setter calls this for inference tensors, so that the rule about
    the mode lives with the mode.

    >>> check_requires_grad_allowed()
    Traceback (most recent call last):
        ...
    nbgrad.errors.InferenceTensorError: Setting requires_grad=True on inference tensor outside ...
    >>> with inference_mode():
    ...     check_requires_grad_allowed()  # allowed inside inference mode
    """
    if not _get().inference:
        raise errors.InferenceTensorError(errors.INFERENCE_REQUIRES_GRAD)


def _bool_arg(func: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(
            f"{func}(): argument '{name}' (position 1) must be bool, not {type(value).__name__}"
        )
    return value


# --------------------------------------------------------------------------------------
# Context manager + decorator machinery
# --------------------------------------------------------------------------------------


class _ModeContext:
    """Base of every manager: a context manager that is also a decorator.

    Subclasses implement ``__enter__``, ``__exit__`` and ``_clone`` (a fresh, unentered
    instance with the same settings). Decorating a function wraps it so that **each call**
    enters a fresh clone, which makes decorated functions safe under recursion,
    re-entry and concurrent use from several threads or tasks.

    * plain functions: the mode holds while the function runs;
    * generator functions: only while the generator's own code runs, i.e. during each
      ``next``/``send``/``throw``/``close``; the consumer keeps its own mode between
      yields;
    * ``async def`` functions: inside the coroutine body, across its awaits;
    * async generator functions: while ``__anext__``/``asend``/``athrow``/``aclose`` run.
    """

    __slots__ = ()

    def __enter__(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def _clone(self) -> _ModeContext:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, func: F) -> F:
        if isinstance(func, type):
            # As in PyTorch: decorating a class is deprecated; only construction runs under it.
            warnings.warn(
                "Decorating classes is deprecated and will be disabled in future versions. "
                "You should only decorate functions or methods. To preserve the current "
                "behavior of class decoration, you can directly decorate the `__init__` "
                "method and nothing else.",
                FutureWarning,
                stacklevel=2,
            )
        elif not callable(func):
            raise TypeError(
                f"{type(self).__name__} can only decorate a callable, not {type(func).__name__}"
            )
        return _wrap(self._clone, func)


def _wrap(factory: Callable[[], _ModeContext], func: F) -> F:
    """Wrap ``func`` so it runs under ``factory()``; async kinds are checked before generators."""
    if inspect.iscoroutinefunction(func):
        return _wrap_coroutine_function(factory, func)  # type: ignore[return-value]
    if inspect.isasyncgenfunction(func):
        return _wrap_async_generator_function(factory, func)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):
        return _wrap_generator_function(factory, func)  # type: ignore[return-value]

    @functools.wraps(func)
    def decorate_context(*args: Any, **kwargs: Any) -> Any:
        with factory():
            return func(*args, **kwargs)

    return decorate_context  # type: ignore[return-value]


def _wrap_coroutine_function(factory, func):
    @functools.wraps(func)
    async def decorate_coroutine(*args: Any, **kwargs: Any) -> Any:
        with factory():
            return await func(*args, **kwargs)

    return decorate_coroutine


async def _run_coroutine(factory: Callable[[], _ModeContext], coro: Coroutine) -> Any:
    with factory():
        return await coro


def _wrap_generator_function(factory, func):
    @functools.wraps(func)
    def decorate_generator(*args: Any, **kwargs: Any) -> Any:
        gen = func(*args, **kwargs)
        try:
            # Each step of the inner generator runs under a fresh manager, so the mode is
            # active exactly while the generator's own code runs.
            with factory():
                value = gen.send(None)
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    with factory():
                        gen.close()
                    raise
                except BaseException as e:
                    with factory():
                        value = gen.throw(e)
                else:
                    with factory():
                        value = gen.send(sent)
        except StopIteration as e:
            return e.value

    return decorate_generator


def _wrap_async_generator_function(factory, func):
    @functools.wraps(func)
    async def decorate_async_generator(*args: Any, **kwargs: Any) -> Any:
        agen = func(*args, **kwargs)
        try:
            with factory():
                value = await agen.asend(None)
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    with factory():
                        await agen.aclose()
                    raise
                except BaseException as e:
                    with factory():
                        value = await agen.athrow(e)
                else:
                    with factory():
                        value = await agen.asend(sent)
        except StopAsyncIteration:
            return

    return decorate_async_generator


class _StackedMode(_ModeContext):
    """A manager whose ``__enter__`` saves the current mode and ``__exit__`` restores it.

    The saved modes form a stack on the instance, so entering the *same* instance again
    while it is active (nested) restores correctly (PyTorch keeps one slot and leaves
    grad disabled after ``ng = no_grad(); with ng: with ng: pass``). The common case keeps
    the saved mode in one slot; a list is made only on nested re-entry. An instance must not
    be shared by code running concurrently in several threads/tasks (exits would then not be
    LIFO); ``with no_grad():`` and decorators always use a fresh instance.

    Restoring uses ``mode_var.set(prev)``, not ``reset(token)``, so an exit that runs in a
    different Context from the enter (generator finalisation, ``aclose()`` run by the loop)
    still works.
    """

    # Class-level defaults instead of slots: a fresh manager sets nothing until entered, which
    # keeps ``with no_grad():`` cheap (it is on every evaluation loop's hot path).
    _prev: Mode | None = None
    _outer: list | None = None

    def _reenter(self, prev: Mode) -> None:
        """Entered again while active: push the outer saved mode, save ``prev``."""
        if self._outer is None:
            self._outer = []
        self._outer.append(self._prev)
        self._prev = prev

    # the mode to switch to, indexed by whether inference mode is on when entering
    _targets: tuple[Mode, Mode]

    def __enter__(self) -> None:
        prev = _get()
        if self._prev is None:
            self._prev = prev
        else:
            self._reenter(prev)
        _set(self._targets[prev.inference])

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _set(self._prev)
        outer = self._outer
        self._prev = outer.pop() if outer else None


class _GradSwitch(_StackedMode):
    """Base of ``no_grad`` and ``enable_grad``: both take no setting, only an optional function
    to decorate (``@no_grad``, ``@no_grad()``, ``no_grad(f)``)."""

    __slots__ = ()

    def __new__(cls, orig_func: Callable | None = None) -> Any:
        self = object.__new__(cls)
        if orig_func is None:
            return self
        return self(orig_func)

    def _clone(self) -> _GradSwitch:
        return type(self)()


class no_grad(_GradSwitch):
    """Context manager and decorator that disables gradient recording.

    Inside, ops on tensors that require grad produce results with ``requires_grad=False``
    and no ``grad_fn``; inputs keep their own ``requires_grad``. Inference
    mode, if on, stays on. Works as ``with no_grad():``, ``@no_grad``, ``@no_grad()`` and
    ``no_grad(f)`` on plain, generator and ``async def`` functions. The mode is local to
    the current thread / asyncio task.

    >>> with no_grad():
    ...     is_grad_enabled()
    False
    >>> @no_grad
    ... def f():
    ...     return is_grad_enabled()
    >>> f(), is_grad_enabled()
    (False, True)
    """

    __slots__ = ()
    _targets = _GRAD_OFF

    def __repr__(self) -> str:
        return "nbgrad.no_grad()"


class enable_grad(_GradSwitch):
    """Context manager and decorator that enables gradient recording (e.g. inside ``no_grad``).

    It only switches grad mode: tensors that do not require grad still give results that do
    not, and inside ``inference_mode`` nothing is recorded even though
    ``is_grad_enabled()`` reports True. Same forms as :class:`no_grad`.

    >>> with no_grad():
    ...     with enable_grad():
    ...         is_grad_enabled()
    True
    """

    __slots__ = ()
    _targets = _GRAD_ON

    def __repr__(self) -> str:
        return "nbgrad.enable_grad()"


class inference_mode(_StackedMode):
    """Context manager and decorator for inference mode: no recording and no version counting.

    ``inference_mode()`` / ``inference_mode(True)`` turns grad off and inference on;
    tensors made inside are *inference tensors*. ``inference_mode(False)`` turns grad **on**
    and inference off, even inside ``no_grad``. Leaving restores the whole previous mode
    (grad and inference, undoing any change made inside). Works as ``@inference_mode``,
    ``@inference_mode()`` and ``@inference_mode(False)``.

    >>> with inference_mode():
    ...     is_grad_enabled(), is_inference_mode_enabled()
    (False, True)
    >>> with inference_mode(False):
    ...     is_inference_mode_enabled()
    False
    """

    __slots__ = ("mode", "_targets")

    def __new__(cls, mode: bool | Callable = True) -> Any:
        self = object.__new__(cls)
        func = None
        if not isinstance(mode, bool):
            func, mode = mode, True  # @inference_mode without parentheses
        self.mode = mode
        self._targets = (_INFERENCE[mode],) * 2  # the whole state, whatever was on
        return self if func is None else self(func)

    def _clone(self) -> inference_mode:
        return type(self)(self.mode)

    def __repr__(self) -> str:
        return f"nbgrad.inference_mode(mode={self.mode})"


class set_grad_enabled(_ModeContext):
    """Set grad mode on or off; usable as a plain call, a context manager or a decorator.

    As a plain call it switches the mode at once for the rest of the current context
    (thread / asyncio task), or until the enclosing block exits. As a context manager,
    leaving restores the mode that was current when the object was **constructed**. As a
    decorator, ``@set_grad_enabled(False)`` does not change the mode when the function is
    defined, only while it runs. Inference mode is kept as it is.

    >>> with set_grad_enabled(False):
    ...     is_grad_enabled()
    False
    >>> _ = set_grad_enabled(False); is_grad_enabled()
    False
    >>> _ = set_grad_enabled(True); is_grad_enabled()
    True
    """

    __slots__ = ("mode", "_prev")

    def __init__(self, mode: bool) -> None:
        self.mode = _bool_arg("set_grad_enabled", "enabled", mode)
        prev = self._prev = _get()
        _set(MODES[(mode, prev.inference)])

    def __enter__(self) -> None:
        _set(MODES[(self.mode, _get().inference)])

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _set(self._prev)

    def __call__(self, func: F) -> F:
        _set(self._prev)  # undo the constructor's side effect: decorating changes no mode
        return super().__call__(func)

    def _clone(self) -> set_grad_enabled:
        return type(self)(self.mode)

    def __repr__(self) -> str:
        return f"nbgrad.set_grad_enabled(mode={self.mode})"


# --------------------------------------------------------------------------------------
# Functional form
# --------------------------------------------------------------------------------------


class _GradModeBlock(_ModeContext):
    """``with set_grad_enabled(mode):`` without the construction side effect."""

    __slots__ = ("mode", "_prev")

    def __init__(self, mode: bool) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        prev = self._prev = _get()
        _set(MODES[(self.mode, prev.inference)])

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _set(self._prev)

    def _clone(self) -> _GradModeBlock:
        return _GradModeBlock(self.mode)


def grad_mode(mode: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` with grad mode set to ``mode`` and return its result.

    Same as ``with set_grad_enabled(mode): return fn(*args, **kwargs)``: the caller's mode
    is restored on return and on exception, and a plain ``set_grad_enabled()`` inside
    ``fn`` lasts until ``fn`` returns. If ``fn`` is an ``async def`` function
    (or returns a coroutine), a coroutine is returned that runs it under ``mode`` when
    awaited.

    >>> grad_mode(False, is_grad_enabled)
    False
    >>> grad_mode(False, lambda a, b=0: a + b, 1, b=2)
    3
    """
    mode = _bool_arg("grad_mode", "mode", mode)
    factory = functools.partial(_GradModeBlock, mode)
    if inspect.iscoroutinefunction(fn):
        return _run_coroutine(factory, fn(*args, **kwargs))  # type: ignore[return-value]
    with _GradModeBlock(mode):
        result = fn(*args, **kwargs)
    if isinstance(result, types.CoroutineType):
        return _run_coroutine(factory, result)  # type: ignore[return-value]
    return result


# --------------------------------------------------------------------------------------
# Multithreaded backward switch
# --------------------------------------------------------------------------------------

_multithreading_var: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "nbgrad_multithreading", default=True
)


def is_multithreading_enabled() -> bool:
    """Return True if backward may run its kernels on Numba's parallel threads (default).

    >>> is_multithreading_enabled()
    True
    """
    return _multithreading_var.get()


class set_multithreading_enabled(_ModeContext):
    """Allow or forbid backward to use Numba's parallel threads; call, ``with`` or decorator.

    Like :class:`set_grad_enabled`: it takes effect at construction, leaving a ``with``
    block restores the value current at construction, and as a decorator it applies only
    while the function runs. The flag is context-local like the grad mode.

    >>> with set_multithreading_enabled(False):
    ...     is_multithreading_enabled()
    False
    >>> is_multithreading_enabled()
    True
    """

    __slots__ = ("mode", "_prev")

    def __init__(self, mode: bool) -> None:
        self.mode = _bool_arg("set_multithreading_enabled", "mode", mode)
        self._prev = _multithreading_var.get()
        _multithreading_var.set(mode)

    def __enter__(self) -> None:
        _multithreading_var.set(self.mode)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _multithreading_var.set(self._prev)

    def __call__(self, func: F) -> F:
        _multithreading_var.set(self._prev)
        return super().__call__(func)

    def _clone(self) -> set_multithreading_enabled:
        return type(self)(self.mode)

    def __repr__(self) -> str:
        return f"nbgrad.autograd.set_multithreading_enabled(mode={self.mode})"
