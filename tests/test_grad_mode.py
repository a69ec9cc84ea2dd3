"""Tests for nbgrad.grad_mode: grad modes, inference mode, decorators, threads and asyncio.

The tests are grouped by behaviour (state and nesting, set_grad_enabled, decorators, the
functional grad_mode, inference mode state, threads and asyncio); each test's name and docstring
say what it checks. The first part uses only ``nbgrad.grad_mode``. The last part ("Tensor-level
rules") goes through the public tensor API (``import nbgrad as nb`` inside each test).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import copy
import functools
import inspect
import pickle
import random
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# `from nbgrad.grad_mode import ...` (not `import nbgrad.grad_mode as gm`): once nbgrad/__init__.py
# re-exports the function `grad_mode`, the attribute `nbgrad.grad_mode` is that function.
from nbgrad.grad_mode import (
    MODES,
    Mode,
    _multithreading_var,
    enable_grad,
    grad_mode,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_multithreading_enabled,
    mode_var,
    no_grad,
    set_grad_enabled,
    set_multithreading_enabled,
)

THREADS_INHERIT_CONTEXT = bool(getattr(sys.flags, "thread_inherit_context", False))
skip_if_threads_inherit = pytest.mark.skipif(
    THREADS_INHERIT_CONTEXT,
    reason="sys.flags.thread_inherit_context: new threads copy the starting context",
)

DEFAULT = (True, False)


def state() -> tuple[bool, bool]:
    """The current (grad, inference) pair."""
    return (is_grad_enabled(), is_inference_mode_enabled())


@pytest.fixture(autouse=True)
def _default_mode():
    """Every test starts at the default mode and must leave it there."""
    mode_var.set(MODES[DEFAULT])
    _multithreading_var.set(True)
    yield
    leaked = state()
    mode_var.set(MODES[DEFAULT])
    _multithreading_var.set(True)
    assert leaked == DEFAULT, f"test leaked mode {leaked}"


# ======================================================================================
# The Mode object and the ContextVar
# ======================================================================================


def test_mode_objects_are_four_immutable_interned_instances():
    assert set(MODES) == {(True, False), (True, True), (False, False), (False, True)}
    assert len({id(m) for m in MODES.values()}) == 4
    for (g, i), m in MODES.items():
        assert (m.grad, m.inference) == (g, i)
        assert Mode(g, i) is m
        assert copy.copy(m) is m and copy.deepcopy(m) is m
        assert pickle.loads(pickle.dumps(m)) is m
        assert repr(m) == f"Mode(grad={g}, inference={i})"
    m = MODES[(True, False)]
    with pytest.raises(AttributeError):
        m.grad = False
    with pytest.raises(AttributeError):
        m.extra = 1
    with pytest.raises(AttributeError):
        del m.inference


def test_mode_var_holds_a_mode_read_once_per_op():
    """The dispatch reads ``mode_var.get()`` once per op and passes plain booleans down."""
    assert isinstance(mode_var, contextvars.ContextVar)
    assert mode_var.get() is MODES[(True, False)]
    with no_grad():
        assert mode_var.get() is MODES[(False, False)]
    with inference_mode():
        assert mode_var.get() is MODES[(False, True)]
        with enable_grad():
            assert mode_var.get() is MODES[(True, True)]


# ======================================================================================
# State model and nesting
# ======================================================================================


def test_default_mode_is_grad_on_inference_off():
    """Grad on, inference off by default; read with is_grad_enabled/is_inference..."""
    assert is_grad_enabled() is True
    assert is_inference_mode_enabled() is False


def test_fresh_context_sees_the_default_mode():
    """The state lives in a ContextVar; an empty Context sees the default."""
    with no_grad():
        assert contextvars.Context().run(state) == DEFAULT
        assert contextvars.copy_context().run(state) == (False, False)


def test_enter_exit_and_simple_nesting():
    """no_grad -> enable_grad -> no_grad gives False/True/False, and unwinds."""
    seen = []
    with no_grad():
        seen.append(is_grad_enabled())
        with enable_grad():
            seen.append(is_grad_enabled())
            with no_grad():
                seen.append(is_grad_enabled())
            seen.append(is_grad_enabled())
        seen.append(is_grad_enabled())
    seen.append(is_grad_enabled())
    assert seen == [False, True, False, True, False, True]


@pytest.mark.parametrize("depth", [1, 2, 17, 200])
def test_nesting_to_any_depth_restores_each_level(depth):
    """Nesting is a stack of any depth; each exit restores the mode at its enter."""
    makers = [no_grad, enable_grad, lambda: set_grad_enabled(False), inference_mode]
    rng = random.Random(depth)

    def go(level):
        before = state()
        if level == depth:
            return
        mgr = rng.choice(makers)()
        with mgr:
            go(level + 1)
        assert state() == before

    go(0)
    assert state() == DEFAULT


@pytest.mark.parametrize(
    "make", [no_grad, enable_grad, lambda: set_grad_enabled(False), inference_mode]
)
def test_exception_through_a_block_restores_and_is_not_suppressed(make):
    """__exit__ restores the mode when an exception passes, never suppresses it."""
    with no_grad():
        with pytest.raises(KeyError):
            with make():
                raise KeyError("boom")
        assert state() == (False, False)
    with pytest.raises(ValueError):
        with make():
            with make():
                raise ValueError
    assert state() == DEFAULT


def test_exit_returns_falsy():
    for mgr in (no_grad(), enable_grad(), inference_mode(), set_grad_enabled(True)):
        mgr.__enter__()
        assert not mgr.__exit__(RuntimeError, RuntimeError("x"), None)


@pytest.mark.parametrize("make", [no_grad, enable_grad, inference_mode])
def test_same_instance_reused_one_block_after_another(make):
    """The previous mode is re-captured at each enter, so one instance serves several blocks."""
    mgr = make()
    with mgr:
        inside = state()
    assert state() == DEFAULT
    with no_grad():
        with mgr:
            assert state() == inside
        assert state() == (False, False)
    with mgr:
        assert state() == inside
    assert state() == DEFAULT


def test_same_instance_nested_is_reentrant():
    """Re-entering the same instance nested restores correctly (nbgrad fixes PyTorch here).

    PyTorch leaves grad disabled after ``ng = no_grad(); with ng: (with ng: pass)``.
    """
    ng = no_grad()
    with ng:
        with ng:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()

    eg = enable_grad()
    with no_grad():
        with eg:
            with no_grad():
                with eg:
                    with eg:
                        assert is_grad_enabled()
                    assert is_grad_enabled()
                assert not is_grad_enabled()
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()

    im = inference_mode()
    with im:
        with no_grad():
            with im:
                with im:
                    assert state() == (False, True)
        assert state() == (False, True)
    assert state() == DEFAULT


def test_same_instance_deep_reentry_and_reuse_after():
    ng = no_grad()
    eg = enable_grad()

    def go(n):
        if n == 0:
            return
        mgr = ng if n % 2 else eg
        before = is_grad_enabled()
        with mgr:
            assert is_grad_enabled() is (mgr is eg)
            go(n - 1)
        assert is_grad_enabled() is before

    go(50)
    assert is_grad_enabled()
    with ng:  # the stack is empty again: plain reuse still works
        assert not is_grad_enabled()
    assert is_grad_enabled()


# ======================================================================================
# set_grad_enabled
# ======================================================================================


def test_set_grad_enabled_plain_call_switches_immediately():
    """The constructor sets the mode at once, for the rest of the context."""
    obj = set_grad_enabled(False)
    assert not is_grad_enabled()
    assert isinstance(obj, set_grad_enabled)
    assert repr(obj) == "nbgrad.set_grad_enabled(mode=False)"
    set_grad_enabled(True)
    assert is_grad_enabled()
    assert repr(set_grad_enabled(True)) == "nbgrad.set_grad_enabled(mode=True)"


def test_set_grad_enabled_plain_call_stays_in_its_context():
    """A plain call lasts for the current context only: a copied context does not leak back."""

    def body():
        set_grad_enabled(False)
        return is_grad_enabled()

    assert contextvars.copy_context().run(body) is False
    assert is_grad_enabled()


def test_set_grad_enabled_keeps_inference_flag():
    with inference_mode():
        set_grad_enabled(True)
        assert state() == (True, True)
    assert state() == DEFAULT


def test_set_grad_enabled_as_context_manager():
    """Enter sets the mode; exit restores the mode at construction."""
    with set_grad_enabled(False):
        assert not is_grad_enabled()
        with set_grad_enabled(True):
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_set_grad_enabled_exit_restores_mode_at_construction():
    """Pitfall: built while grad was on, entered inside no_grad -> exit turns grad on."""
    ctx = set_grad_enabled(False)  # grad was True at construction
    set_grad_enabled(True)
    with no_grad():
        with ctx:
            assert not is_grad_enabled()
        assert is_grad_enabled()  # restored to the construction-time prev
    assert is_grad_enabled()


def test_plain_call_inside_a_block_lasts_until_block_exit():
    """A plain set_grad_enabled call inside any block lasts until that block exits."""
    with set_grad_enabled(False):
        set_grad_enabled(True)
        assert is_grad_enabled()
    assert is_grad_enabled()

    with no_grad():
        set_grad_enabled(True)
        assert is_grad_enabled()
    assert is_grad_enabled()

    with enable_grad():
        set_grad_enabled(False)
        assert not is_grad_enabled()
    assert is_grad_enabled()

    @no_grad
    def f():
        set_grad_enabled(True)
        return is_grad_enabled()

    with no_grad():
        assert f() is True
        assert not is_grad_enabled()

    def g():
        set_grad_enabled(True)
        return is_grad_enabled()

    with no_grad():
        assert grad_mode(False, g) is True
        assert not is_grad_enabled()


def test_set_grad_enabled_decorator_does_not_change_mode_at_definition():
    """@set_grad_enabled(False) applies only while the function runs (pytorch#113298)."""

    @set_grad_enabled(False)
    def f():
        return is_grad_enabled()

    assert is_grad_enabled()
    assert f() is False
    assert is_grad_enabled()

    with no_grad():

        @set_grad_enabled(True)
        def g():
            return is_grad_enabled()

        assert not is_grad_enabled()
        assert g() is True
        assert not is_grad_enabled()
    assert g() is True


def test_set_grad_enabled_decorated_function_reentry_and_recursion():
    """Each call of the decorated function enters a fresh instance."""

    @set_grad_enabled(False)
    def down(n):
        assert not is_grad_enabled()
        if n:
            up(n - 1)
            assert not is_grad_enabled()

    @set_grad_enabled(True)
    def up(n):
        assert is_grad_enabled()
        if n:
            down(n - 1)
            assert is_grad_enabled()

    with no_grad():
        up(9)
        assert not is_grad_enabled()
    down(9)
    assert is_grad_enabled()


@pytest.mark.parametrize("bad", [1, 0, None, "yes", 1.0])
def test_set_grad_enabled_bool_argument_only(bad):
    """A non-bool argument raises TypeError naming the type."""
    with pytest.raises(TypeError, match=r"must be bool, not " + type(bad).__name__):
        set_grad_enabled(bad)
    assert state() == DEFAULT


def test_set_grad_enabled_has_no_bare_decorator_form():
    """@set_grad_enabled without an argument fails with PyTorch's message."""
    msg = r"set_grad_enabled\(\): argument 'enabled' \(position 1\) must be bool, not function"
    with pytest.raises(TypeError, match=msg):

        @set_grad_enabled
        def f():
            pass


# ======================================================================================
# Decorators
# ======================================================================================


def _report():
    return state()


# Decorators are built inside the tests: `set_grad_enabled(False)` evaluated at collection
# time would switch the mode of the collecting context, since the constructor sets it at once.
DECORATOR_FACTORIES = {
    "no_grad": lambda: no_grad,
    "no_grad()": lambda: no_grad(),
    "enable_grad": lambda: enable_grad,
    "inference_mode": lambda: inference_mode,
    "inference_mode(False)": lambda: inference_mode(False),
    "set_grad_enabled(False)": lambda: set_grad_enabled(False),
}


@pytest.mark.parametrize("cls, inside", [(no_grad, (False, False)), (enable_grad, (True, False))])
def test_no_grad_and_enable_grad_four_decorator_forms(cls, inside):
    """@cls(), @cls, cls()(f) and cls(f) all work the same way."""

    @cls()
    def a():
        return state()

    @cls
    def b():
        return state()

    c = cls()(_report)
    d = cls(_report)
    outer = no_grad if cls is enable_grad else enable_grad
    with outer():
        before = state()
        for f in (a, b, c, d):
            assert f() == inside
            assert state() == before
    assert state() == DEFAULT


def test_no_grad_with_function_returns_wrapper_not_instance():
    f = no_grad(_report)
    assert not isinstance(f, no_grad)
    assert inspect.isfunction(f)
    assert isinstance(no_grad(), no_grad)
    assert repr(no_grad()) == "nbgrad.no_grad()"
    assert repr(enable_grad()) == "nbgrad.enable_grad()"


def test_inference_mode_decorator_forms():
    """@inference_mode, @inference_mode() and @inference_mode(False) all work."""

    @inference_mode
    def a():
        return state()

    @inference_mode()
    def b():
        return state()

    @inference_mode(True)
    def c():
        return state()

    @inference_mode(False)
    def d():
        return state()

    with no_grad():
        assert a() == b() == c() == (False, True)
        assert d() == (True, False)  # inference_mode(False) turns grad on
        assert state() == (False, False)
    with inference_mode():
        assert d() == (True, False)
        assert state() == (False, True)
    assert repr(inference_mode()) == "nbgrad.inference_mode(mode=True)"
    assert repr(inference_mode(False)) == "nbgrad.inference_mode(mode=False)"


def test_inference_mode_rejects_non_callable():
    with pytest.raises(TypeError):
        inference_mode(1)
    with pytest.raises(TypeError):
        no_grad()(3)


def test_decorated_function_inside_with_of_same_kind():
    """Regression for pytorch#10858 - a decorator inside `with no_grad()`."""

    @no_grad()
    def f():
        return is_grad_enabled()

    with no_grad():
        assert f() is False
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_decorator_fresh_instance_per_call_mutual_recursion():
    """A decorated function re-entered recursively (plain functions, 10 levels)."""
    log = []

    @no_grad
    def ng(n):
        log.append(is_grad_enabled())
        if n:
            eg(n - 1)
        log.append(is_grad_enabled())

    @enable_grad
    def eg(n):
        log.append(is_grad_enabled())
        if n:
            ng(n - 1)
        log.append(is_grad_enabled())

    ng(9)
    assert log[:10] == [False, True] * 5
    assert log[10:] == [True, False] * 5
    assert is_grad_enabled()


def test_decorated_function_across_threads():
    """One decorated function used by many threads at once keeps each call's state."""
    barrier = threading.Barrier(8)
    errors = []

    @no_grad
    def work(expected_after):
        barrier.wait()
        if is_grad_enabled():
            errors.append("inside")
        barrier.wait()
        return expected_after

    def thread(i):
        try:
            if i % 2:
                set_grad_enabled(False)
            before = is_grad_enabled()
            work(before)
            if is_grad_enabled() is not before:
                errors.append(("after", i))
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_decorator_keeps_metadata():
    """functools.wraps keeps __name__, __doc__, __wrapped__, ..."""

    def plain(a, b=1):
        """Plain doc."""

    def gen(a):
        """Gen doc."""
        yield a

    async def coro(a):
        """Coro doc."""

    async def agen(a):
        """Agen doc."""
        yield a

    for make in DECORATOR_FACTORIES.values():
        deco = make()
        for f in (plain, gen, coro, agen):
            w = deco(f)
            assert w.__name__ == f.__name__
            assert w.__qualname__ == f.__qualname__
            assert w.__doc__ == f.__doc__
            assert w.__wrapped__ is f
            assert w.__module__ == f.__module__
            assert inspect.signature(w) == inspect.signature(f)
        assert inspect.isgeneratorfunction(deco(gen))
        assert inspect.iscoroutinefunction(deco(coro))
        assert inspect.isasyncgenfunction(deco(agen))


def test_decorated_methods():
    class Model:
        @no_grad
        def forward(self, x):
            return x, is_grad_enabled()

        @inference_mode()
        def predict(self):
            return state()

    m = Model()
    assert m.forward(3) == (3, False)
    assert m.predict() == (False, True)
    assert Model.forward.__name__ == "forward"


@pytest.mark.parametrize("name", sorted(DECORATOR_FACTORIES))
def test_decorated_function_exception_restores_and_propagates(name):
    """An exception in the decorated function restores the mode and propagates."""
    deco = DECORATOR_FACTORIES[name]()

    @deco
    def boom():
        raise ZeroDivisionError("x")

    with no_grad():
        with pytest.raises(ZeroDivisionError):
            boom()
        assert state() == (False, False)
    with pytest.raises(ZeroDivisionError):
        boom()
    assert state() == DEFAULT


def test_decorating_a_class_warns_and_wraps_construction():
    """Decorating a class gives a FutureWarning; only construction runs under the mode."""
    with pytest.warns(FutureWarning, match="Decorating classes is deprecated"):

        @no_grad
        class Thing:
            def __init__(self):
                self.mode_at_init = is_grad_enabled()

    assert Thing().mode_at_init is False
    assert is_grad_enabled()


def _gen_modes(n):
    for i in range(n):
        yield i, state()


@pytest.mark.parametrize(
    "name, inside",
    [
        ("no_grad", (False, False)),
        ("no_grad()", (False, False)),
        ("enable_grad", (True, False)),
        ("inference_mode", (False, True)),
        ("inference_mode(False)", (True, False)),
        ("set_grad_enabled(False)", (False, False)),
    ],
)
def test_generator_mode_only_while_body_runs(name, inside):
    """The mode holds while the generator body runs; the consumer keeps its own."""
    g = DECORATOR_FACTORIES[name]()(_gen_modes)
    for outer in (enable_grad, no_grad):
        with outer():
            consumer = state()
            for _i, seen in g(5):
                assert seen == inside
                assert state() == consumer
            assert state() == consumer


def test_generator_consumer_changes_mode_between_steps():
    """Each step restores the consumer's *current* mode, not the one at creation."""

    @no_grad
    def gen():
        for _ in range(4):
            yield is_grad_enabled()

    it = gen()
    assert next(it) is False and is_grad_enabled()
    with no_grad():
        assert next(it) is False and not is_grad_enabled()
    set_grad_enabled(False)
    assert next(it) is False and not is_grad_enabled()
    set_grad_enabled(True)
    with inference_mode():
        assert next(it) is False
        assert state() == (False, True)
    assert state() == DEFAULT


def test_generator_send_throw_close_under_mode():
    """Send values and return value pass through; throw/close run under the mode."""
    log = []

    @no_grad
    def worker():
        total = 0
        try:
            while True:
                try:
                    received = yield total
                    log.append(("send", received, is_grad_enabled()))
                    total += received
                except ValueError as e:
                    log.append(("throw", str(e), is_grad_enabled()))
                    total = -1
        except GeneratorExit:
            log.append(("close", None, is_grad_enabled()))
            raise
        finally:
            log.append(("finally", None, is_grad_enabled()))

    with enable_grad():
        w = worker()
        assert w.send(None) == 0
        assert is_grad_enabled()
        assert w.send(5) == 5
        assert is_grad_enabled()
        assert w.throw(ValueError("bad")) == -1
        assert is_grad_enabled()
        w.close()
        assert is_grad_enabled()
    assert log == [
        ("send", 5, False),
        ("throw", "bad", False),
        ("close", None, False),
        ("finally", None, False),
    ]


def test_generator_return_value_and_exceptions_propagate():
    @enable_grad
    def returns():
        x = yield 1
        return x * 10, is_grad_enabled()

    with no_grad():
        g = returns()
        assert next(g) == 1
        with pytest.raises(StopIteration) as info:
            g.send(4)
        assert info.value.value == (40, True)
        assert not is_grad_enabled()

    @no_grad
    def raises():
        yield 1
        raise KeyError("k")

    g = raises()
    next(g)
    with pytest.raises(KeyError):
        next(g)
    assert is_grad_enabled()

    @no_grad
    def unhandled():
        yield 1

    g = unhandled()
    next(g)
    with pytest.raises(IndexError):
        g.throw(IndexError("i"))
    assert is_grad_enabled()

    def yield_from():
        result = yield from returns()
        return result

    with no_grad():
        g = yield_from()
        next(g)
        with pytest.raises(StopIteration) as info:
            g.send(2)
        assert info.value.value == (20, True)


def test_generator_close_before_start_and_ignoring_generator_exit():
    @no_grad
    def gen():
        yield 1

    gen().close()  # never started: nothing to do

    @no_grad
    def stubborn():
        ignored = False
        while True:
            try:
                yield is_grad_enabled()
            except GeneratorExit:
                if ignored:  # let the final clean-up by the garbage collector succeed
                    return
                ignored = True

    g = stubborn()
    next(g)
    with pytest.raises(RuntimeError, match="ignored GeneratorExit"):
        g.close()
    assert is_grad_enabled()


def test_ten_level_mutual_recursion_of_decorated_generators():
    """PyTorch's `test_set_grad_generator_functions_recursive`: 10 levels, a fresh mode each."""

    @enable_grad()
    def enable_gen(depth):
        assert is_grad_enabled()
        if depth > 0:
            for v in disable_gen(depth - 1):
                assert is_grad_enabled()
                yield v
            assert is_grad_enabled()
        yield ("enable", depth, is_grad_enabled())

    @no_grad()
    def disable_gen(depth):
        assert not is_grad_enabled()
        if depth > 0:
            for v in enable_gen(depth - 1):
                assert not is_grad_enabled()
                yield v
            assert not is_grad_enabled()
        yield ("disable", depth, is_grad_enabled())

    for outer in (enable_grad, no_grad):
        with outer():
            before = is_grad_enabled()
            out = list(disable_gen(10))
            assert is_grad_enabled() is before
        assert [d for _, d, _ in out] == list(range(11))
        for kind, _d, g in out:
            assert g is (kind == "enable")
        with outer():
            out = list(enable_gen(10))
            assert [g for _, _, g in out] == [d % 2 == 0 for d in range(11)]


def test_coroutine_body_runs_under_mode_across_awaits():
    """@no_grad on async def applies to the body, across awaits."""

    @no_grad
    async def body():
        seen = [is_grad_enabled()]
        for _ in range(3):
            await asyncio.sleep(0)
            seen.append(is_grad_enabled())
        return seen

    async def main():
        assert is_grad_enabled()
        seen = await body()
        assert is_grad_enabled()
        return seen

    assert asyncio.run(main()) == [False] * 4


def test_coroutine_exception_restores():
    @inference_mode
    async def boom():
        await asyncio.sleep(0)
        assert state() == (False, True)
        raise LookupError

    async def main():
        with pytest.raises(LookupError):
            await boom()
        return state()

    assert asyncio.run(main()) == DEFAULT


def test_async_generator_mode_only_while_anext_runs():
    """Async generators get the mode only while __anext__ runs."""
    log = []

    @no_grad
    async def agen():
        try:
            for i in range(3):
                await asyncio.sleep(0)
                got = yield (i, is_grad_enabled())
                log.append(("sent", got, is_grad_enabled()))
        except GeneratorExit:
            log.append(("close", is_grad_enabled()))
            raise

    @inference_mode
    async def agen_throw():
        while True:
            try:
                yield state()
            except KeyError:
                log.append(("throw", state()))

    async def main():
        out = []
        async for i, g in agen():
            out.append((i, g, is_grad_enabled()))
            await asyncio.sleep(0)
        a = agen()
        assert await a.asend(None) == (0, False)
        assert await a.asend("x") == (1, False)
        assert is_grad_enabled()
        await a.aclose()
        assert is_grad_enabled()
        b = agen_throw()
        assert await b.__anext__() == (False, True)
        assert await b.athrow(KeyError()) == (False, True)
        assert state() == DEFAULT
        await b.aclose()
        return out

    out = asyncio.run(main())
    assert out == [(0, False, True), (1, False, True), (2, False, True)]
    assert log == [
        ("sent", None, False),
        ("sent", None, False),
        ("sent", None, False),
        ("sent", "x", False),
        ("close", False),
        ("throw", (False, True)),
    ]


def test_async_generator_exception_propagates():
    @no_grad
    async def agen():
        yield 1
        raise ValueError("v")

    async def main():
        a = agen()
        await a.__anext__()
        with pytest.raises(ValueError):
            await a.__anext__()
        return state()

    assert asyncio.run(main()) == DEFAULT


def test_undecorated_generator_leaks_mode_to_consumer():
    """`with no_grad(): yield` inside an undecorated generator leaks between yields."""

    def leaky():
        with no_grad():
            yield 1
            yield 2

    g = leaky()
    next(g)
    assert not is_grad_enabled()  # leaked into the consumer
    g.close()
    assert is_grad_enabled()  # restored only when the generator finishes


def test_decorating_the_generator_fixes_the_leak():
    @no_grad
    def fixed():
        yield 1
        yield 2

    g = fixed()
    next(g)
    assert is_grad_enabled()
    g.close()


# ======================================================================================
# Functional grad_mode(mode, fn)
# ======================================================================================


def test_grad_mode_runs_fn_under_mode_and_restores():
    """Runs fn under the mode, returns its result, restores the caller's mode."""

    def f(a, b, *, c):
        return a + b + c, is_grad_enabled()

    assert grad_mode(False, f, 1, 2, c=3) == (6, False)
    assert is_grad_enabled()
    with no_grad():
        assert grad_mode(True, f, 0, 0, c=0) == (0, True)
        assert not is_grad_enabled()


def test_grad_mode_restores_on_exception():
    def boom():
        assert not is_grad_enabled()
        raise OSError

    with pytest.raises(OSError):
        grad_mode(False, boom)
    assert is_grad_enabled()


def test_grad_mode_innermost_wins_and_keeps_inference():
    def inner():
        return state()

    def outer():
        assert not is_grad_enabled()
        return grad_mode(True, inner), state()

    assert grad_mode(False, outer) == ((True, False), (False, False))
    with inference_mode():
        assert grad_mode(True, inner) == (True, True)
        assert state() == (False, True)


def test_grad_mode_type_check():
    with pytest.raises(TypeError, match="must be bool"):
        grad_mode(1, _report)
    assert is_grad_enabled()


def test_grad_mode_set_grad_enabled_inside_fn_is_undone_on_return():
    """A plain set_grad_enabled() inside fn lasts for the rest of fn only."""

    def fn():
        before = is_grad_enabled()
        set_grad_enabled(True)
        return before, is_grad_enabled()

    assert grad_mode(False, fn) == (False, True)
    assert is_grad_enabled()
    with no_grad():
        assert grad_mode(False, fn) == (False, True)
        assert not is_grad_enabled()


def test_grad_mode_async_fn_runs_under_mode():
    """An async fn (or one returning a coroutine) gets a coroutine run under the mode."""

    async def afn(x, *, y):
        seen = [is_grad_enabled()]
        await asyncio.sleep(0)
        seen.append(is_grad_enabled())
        return x + y, seen

    def returns_coro(x):
        return afn(x, y=1)

    async def main():
        c = grad_mode(False, afn, 1, y=2)
        assert inspect.iscoroutine(c)
        assert is_grad_enabled()  # nothing happens until awaited
        r1 = await c
        assert is_grad_enabled()
        r2 = await grad_mode(False, returns_coro, 5)
        assert is_grad_enabled()
        with no_grad():
            r3 = await grad_mode(True, afn, 0, y=0)
            assert not is_grad_enabled()
        return r1, r2, r3

    r1, r2, r3 = asyncio.run(main())
    assert r1 == (3, [False, False])
    assert r2 == (6, [False, False])
    assert r3 == (0, [True, True])


def test_grad_mode_async_exception_restores():
    async def boom():
        await asyncio.sleep(0)
        raise ArithmeticError

    async def main():
        with pytest.raises(ArithmeticError):
            await grad_mode(False, boom)
        return state()

    assert asyncio.run(main()) == DEFAULT


# ======================================================================================
# Inference mode state
# ======================================================================================


def test_inference_mode_enter_and_leave_restore_whole_state():
    """Grad off + inference on; exit restores the whole state, undoing a plain set."""
    with inference_mode():
        assert state() == (False, True)
        set_grad_enabled(True)
        assert state() == (True, True)
    assert state() == DEFAULT
    with no_grad():
        with inference_mode():
            assert state() == (False, True)
        assert state() == (False, False)


def test_inference_mode_false_turns_grad_on():
    """inference_mode(False) sets grad True and inference False, even inside no_grad."""
    with no_grad():
        with inference_mode(False):
            assert state() == (True, False)
        assert state() == (False, False)
    with inference_mode():
        with inference_mode(False):
            assert state() == (True, False)
        assert state() == (False, True)


def test_grad_managers_keep_inference_flag():
    """Inside inference mode, enable_grad / set_grad_enabled only flip .grad."""
    with inference_mode():
        with enable_grad():
            assert state() == (True, True)
            with no_grad():
                assert state() == (False, True)
            with set_grad_enabled(True):
                assert state() == (True, True)
        assert grad_mode(True, _report) == (True, True)

        @enable_grad
        def f():
            return state()

        assert f() == (True, True)
        assert state() == (False, True)


# ======================================================================================
# Property test: any nesting program agrees with a reference stack model
# ======================================================================================

_LEAF = st.sampled_from([("plain", True), ("plain", False), ("check", None)])
_KINDS = ["no_grad", "enable_grad", "sge", "inference", "grad_mode", "deco"]
_PROGRAM = st.recursive(
    st.lists(_LEAF, max_size=3),
    lambda children: st.lists(
        st.one_of(
            _LEAF,
            st.tuples(st.sampled_from(_KINDS), st.booleans(), children),
            st.tuples(st.just("raise"), st.sampled_from(_KINDS), children),
        ),
        max_size=4,
    ),
    max_leaves=25,
)


def _model_enter(kind, arg, s):
    g, i = s
    return {
        "no_grad": (False, i),
        "enable_grad": (True, i),
        "sge": (arg, i),
        "grad_mode": (arg, i),
        "deco": (False, i),
        "inference": (not arg, arg),
    }[kind]


def _run_block(kind, arg, body):
    if kind == "no_grad":
        with no_grad():
            return body()
    if kind == "enable_grad":
        with enable_grad():
            return body()
    if kind == "sge":
        with set_grad_enabled(arg):
            return body()
    if kind == "inference":
        with inference_mode(arg):
            return body()
    if kind == "grad_mode":
        return grad_mode(arg, body)
    return no_grad(body)()


class _Planned(Exception):
    pass


def _interpret(program, model):
    for item in program:
        if item[0] == "plain":
            set_grad_enabled(item[1])
            model = (item[1], model[1])
        elif item[0] == "check":
            pass
        elif item[0] == "raise":
            _, kind, sub = item

            def body(sub=sub, kind=kind, model=model):
                _interpret(sub, _model_enter(kind, True, model))
                raise _Planned

            try:
                _run_block(kind, True, body)
            except _Planned:
                pass
        else:
            kind, arg, sub = item
            inner = _model_enter(kind, arg, model)
            _run_block(kind, arg, functools.partial(_interpret, sub, inner))
        assert state() == model
    return model


@settings(max_examples=300, deadline=None)
@given(_PROGRAM, st.sampled_from(sorted(MODES)))
def test_random_nesting_programs_match_stack_model(program, start):
    """Nested blocks, plain calls, inference mode, grad_mode and decorators match a stack model."""

    def run():
        mode_var.set(MODES[start])
        _interpret(program, start)
        # the program's plain set calls at top level persist - but nothing else
        return True

    assert contextvars.copy_context().run(run)


# ======================================================================================
# set_multithreading_enabled
# ======================================================================================


def test_set_multithreading_enabled_forms():
    assert is_multithreading_enabled() is True
    with set_multithreading_enabled(False):
        assert is_multithreading_enabled() is False
        with set_multithreading_enabled(True):
            assert is_multithreading_enabled() is True
        assert is_multithreading_enabled() is False
    assert is_multithreading_enabled() is True

    @set_multithreading_enabled(False)
    def f():
        return is_multithreading_enabled()

    assert is_multithreading_enabled() is True  # decorator has no side effect
    assert f() is False
    assert is_multithreading_enabled() is True

    set_multithreading_enabled(False)
    assert is_multithreading_enabled() is False
    assert repr(set_multithreading_enabled(True)) == (
        "nbgrad.autograd.set_multithreading_enabled(mode=True)"
    )
    assert is_multithreading_enabled() is True
    with pytest.raises(TypeError, match="must be bool"):
        set_multithreading_enabled(0)


def test_set_multithreading_enabled_is_independent_of_grad_mode():
    with no_grad():
        set_multithreading_enabled(False)
        assert state() == (False, False)
    assert state() == DEFAULT
    assert is_multithreading_enabled() is False
    set_multithreading_enabled(True)


def test_set_multithreading_enabled_is_context_local():
    def body():
        set_multithreading_enabled(False)
        return is_multithreading_enabled()

    assert contextvars.copy_context().run(body) is False
    assert is_multithreading_enabled() is True


# ======================================================================================
# Threads and asyncio
# ======================================================================================


def _in_new_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


@skip_if_threads_inherit
@pytest.mark.parametrize("outer", [no_grad, inference_mode, lambda: set_grad_enabled(False)])
def test_new_thread_starts_at_default(outer):
    """A new threading.Thread starts with grad on, inference off."""
    with outer():
        assert state() != DEFAULT
        assert _in_new_thread(state) == DEFAULT
        assert _in_new_thread(is_multithreading_enabled) is True


@skip_if_threads_inherit
@pytest.mark.parametrize("outer", [no_grad, inference_mode])
def test_thread_pool_workers_start_at_default(outer):
    """ThreadPoolExecutor.submit/map do not copy the mode (pytorch#20528)."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        with outer():
            assert pool.submit(state).result() == DEFAULT
            assert list(pool.map(lambda _: state(), range(8))) == [DEFAULT] * 8


def test_many_threads_each_with_their_own_mode():
    """Threads set modes concurrently (plain calls and blocks); none leaks."""
    n = 16
    barrier = threading.Barrier(n)
    errors = []

    def target(idx):
        try:
            rng = random.Random(idx)
            mine = (idx % 2 == 0, False)
            set_grad_enabled(mine[0])
            for _ in range(30):
                barrier.wait()
                if state() != mine:
                    errors.append((idx, "plain", state()))
                kind = rng.randrange(3)
                mgr = (no_grad, enable_grad, inference_mode)[kind]()
                expected = [(False, False), (True, False), (False, True)][kind]
                with mgr:
                    barrier.wait()
                    if state() != expected:
                        errors.append((idx, kind, state()))
                    barrier.wait()
                if state() != mine:
                    errors.append((idx, "after", state()))
        except Exception as e:  # pragma: no cover
            errors.append((idx, repr(e)))
            barrier.abort()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    with no_grad():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert state() == (False, False)
    assert errors == []


def test_set_grad_enabled_in_thread_does_not_affect_main():
    def worker():
        set_grad_enabled(False)
        with inference_mode():
            pass
        return state()

    assert _in_new_thread(worker) == (False, False)
    assert state() == DEFAULT


def test_with_block_across_await_stays_in_its_task():
    """`with no_grad()` across an await affects only its task (in PyTorch it leaks to all)."""

    async def main():
        a_inside = asyncio.Event()
        b_checked = asyncio.Event()
        seen = {}

        async def task_a():
            with no_grad():
                a_inside.set()
                await b_checked.wait()
                seen["a"] = state()
            with inference_mode():
                await asyncio.sleep(0)
                seen["a_inf"] = state()

        async def task_b():
            await a_inside.wait()
            seen["b"] = state()
            b_checked.set()
            await asyncio.sleep(0)
            seen["b2"] = state()

        await asyncio.gather(task_a(), task_b())
        seen["main"] = state()
        return seen

    seen = asyncio.run(main())
    assert seen == {
        "a": (False, False),
        "a_inf": (False, True),
        "b": DEFAULT,
        "b2": DEFAULT,
        "main": DEFAULT,
    }


def test_plain_call_stays_in_its_task():
    """A plain set_grad_enabled() in a task changes neither parent nor siblings."""

    async def main():
        flag = asyncio.Event()

        async def setter():
            set_grad_enabled(False)
            flag.set()
            await asyncio.sleep(0)
            return is_grad_enabled()

        async def sibling():
            await flag.wait()
            return is_grad_enabled()

        r = await asyncio.gather(setter(), sibling())
        return r, is_grad_enabled()

    assert asyncio.run(main()) == ([False, True], True)


def test_disabling_decorators_on_async_functions():
    """@no_grad, @no_grad() and @set_grad_enabled(False) apply to the body."""

    async def body():
        out = [is_grad_enabled()]
        await asyncio.sleep(0)
        out.append(is_grad_enabled())
        return out

    decorated = [no_grad(body), no_grad()(body), set_grad_enabled(False)(body)]

    async def main():
        return [await f() for f in decorated], is_grad_enabled()

    results, after = asyncio.run(main())
    assert results == [[False, False]] * 3
    assert after is True


def test_enable_grad_and_inference_mode_on_async_functions():
    """@enable_grad() awaited inside no_grad enables grad; @inference_mode() infers."""

    @enable_grad()
    async def eg():
        await asyncio.sleep(0)
        return state()

    @inference_mode()
    async def im():
        await asyncio.sleep(0)
        return state()

    async def main():
        with no_grad():
            r = await eg(), await im()
            assert state() == (False, False)
        return r

    assert asyncio.run(main()) == ((True, False), (False, True))


def test_tasks_copy_mode_at_creation():
    """A task created inside no_grad keeps it even if it first runs after the block."""

    async def report():
        await asyncio.sleep(0)
        return state()

    async def main():
        with no_grad():
            t1 = asyncio.create_task(report())
            fut = asyncio.gather(report())
        with inference_mode():
            t2 = asyncio.ensure_future(report())
        t3 = asyncio.create_task(report())
        assert state() == DEFAULT
        return await t1, (await fut)[0], await t2, await t3

    assert asyncio.run(main()) == ((False, False), (False, False), (False, True), DEFAULT)


def test_task_changes_do_not_flow_back():
    async def child():
        set_grad_enabled(False)
        with inference_mode():
            await asyncio.sleep(0)
        return state()

    async def main():
        with no_grad():
            r = await asyncio.create_task(child())
            return r, state()

    assert asyncio.run(main()) == ((False, False), (False, False))


def test_to_thread_copies_the_mode():
    """asyncio.to_thread copies the context; the worker sees the caller's mode."""

    async def main():
        with no_grad():
            a = await asyncio.to_thread(state)
        with inference_mode():
            b = await asyncio.to_thread(state)
        c = await asyncio.to_thread(state)
        return a, b, c

    assert asyncio.run(main()) == ((False, False), (False, True), DEFAULT)


@skip_if_threads_inherit
def test_run_in_executor_does_not_copy():
    """loop.run_in_executor runs in the worker's own context (the default)."""

    async def main():
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            with no_grad():
                return await loop.run_in_executor(pool, state)

    assert asyncio.run(main()) == DEFAULT


_TASK_KINDS = ("no_grad", "enable_grad", "inference", "inference_false", "sge", "plain", "deco")


async def _random_task(seed):
    """One of the 200 interleaved tasks: random nested modes, asserted after every await."""
    rng = random.Random(seed)

    @no_grad
    async def deco_body(depth, model):
        await asyncio.sleep(0)
        assert state() == (False, model[1])
        end = await block(depth + 1, (False, model[1]))
        assert state() == end  # a plain set_grad_enabled in there lasts until we return

    async def block(depth, model):
        for _ in range(rng.randint(1, 3)):
            for _ in range(rng.randint(0, 2)):
                await asyncio.sleep(0)
                assert state() == model
            kind = rng.choice(_TASK_KINDS)
            if kind == "plain" or depth >= 4:
                b = rng.random() < 0.5
                set_grad_enabled(b)
                model = (b, model[1])
            elif kind == "deco":
                await deco_body(depth, model)
            else:
                mgr, inner = {
                    "no_grad": (no_grad, (False, model[1])),
                    "enable_grad": (enable_grad, (True, model[1])),
                    "inference": (inference_mode, (False, True)),
                    "inference_false": (lambda: inference_mode(False), (True, False)),
                    "sge": (lambda: set_grad_enabled(False), (False, model[1])),
                }[kind]
                with mgr():
                    await asyncio.sleep(0)
                    assert state() == inner
                    end = await block(depth + 1, inner)
                    await asyncio.sleep(0)
                    assert state() == end
                await asyncio.sleep(0)
            assert state() == model
        return model

    start = state()
    end = await block(0, start)
    await asyncio.sleep(0)
    assert state() == end
    return seed


def test_two_hundred_interleaved_tasks():
    """200 tasks interleave no_grad/enable_grad/inference_mode/plain calls; none leaks."""

    async def main():
        with no_grad():
            results = await asyncio.gather(*(_random_task(i) for i in range(100)))
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_random_task(i)) for i in range(100, 200)]
        results += [t.result() for t in tasks]
        return results, state()

    results, after = asyncio.run(main())
    assert results == list(range(200))
    assert after == DEFAULT


def test_exit_in_a_different_context_does_not_raise():
    """Restoring with set(prev) works when __exit__ runs in another Context."""
    for mgr in (no_grad(), enable_grad(), inference_mode(), set_grad_enabled(True)):
        ctx = contextvars.copy_context()
        ctx.run(mgr.__enter__)
        mgr.__exit__(None, None, None)
        assert state() == DEFAULT


def test_decorated_async_generator_finalised_by_the_loop():
    """A decorated async generator abandoned mid-iteration is closed by the loop, under its mode."""
    closed = []

    @no_grad
    async def agen():
        try:
            while True:
                yield is_grad_enabled()
                await asyncio.sleep(0)
        finally:
            closed.append(is_grad_enabled())

    async def main():
        async for g in agen():
            assert g is False
            break
        await asyncio.sleep(0)
        return state()

    assert asyncio.run(main()) == DEFAULT
    assert closed == [False]


# ======================================================================================
# Overhead
# ======================================================================================


# ======================================================================================
# Tensor-level rules (use the public tensor API; `import nbgrad as nb` in each test)
# ======================================================================================


def test_no_grad_input_keeps_requires_grad_output_records_nothing():
    """Inputs keep requires_grad in no_grad; values identical in every mode."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y_on = x * 2
    with nb.no_grad():
        assert x.requires_grad
        y = x * 2
    assert y_on.requires_grad and y_on.grad_fn is not None
    assert not y.requires_grad
    assert y.tolist() == y_on.tolist() == [2.0, 4.0]
    assert x.requires_grad


def test_results_under_no_grad_are_leaves():
    """Outputs are leaves without grad_fn; backward raises 'does not require grad'."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.no_grad():
        y = (x * x).sum()
    assert y.requires_grad is False
    assert y.grad_fn is None
    assert y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_history_after_the_fact():
    """Re-enabling grad does not attach history to tensors computed earlier."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.no_grad():
        y = x * 2
        with nb.enable_grad():
            z = y.sum()
    assert not z.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward()


def test_enable_grad_honours_requires_grad():
    """Under enable_grad, tensors that do not require grad give outputs that do not either."""
    import nbgrad as nb

    a = nb.tensor([1.0, 2.0])
    with nb.enable_grad():
        assert not (a * 2).requires_grad
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.no_grad():
        with nb.enable_grad():
            w = x * 2
    assert w.requires_grad and w.grad_fn is not None
    w.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_tensor_plain_set_grad_enabled_inside_block_records():
    """PyTorch's test_set_grad_enabled: plain set_grad_enabled(True) inside a block records."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.set_grad_enabled(False):
        y = x * 2
        nb.set_grad_enabled(True)
        z = x * 2
    assert not y.requires_grad
    assert z.requires_grad
    assert nb.is_grad_enabled()


def test_tensor_decorated_function():
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)

    @nb.no_grad
    def f(t):
        return t * 2

    @nb.enable_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad
    with nb.no_grad():
        assert g(x).requires_grad


def test_tensor_inference_mode_false_products_require_grad():
    """Inside no_grad, inference_mode(False) records."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.no_grad():
        with nb.inference_mode(False):
            y = x * 2
    assert y.requires_grad and not y.is_inference()


def test_tensor_enable_grad_inside_inference_records_nothing():
    """enable_grad inside inference_mode reports True, yet nothing is recorded."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.inference_mode():
        with nb.enable_grad():
            assert nb.is_grad_enabled()
            assert nb.is_inference_mode_enabled()
            y = x * 2
    assert not y.requires_grad
    assert y.grad_fn is None
    assert y.is_inference()
    assert not x.is_inference()


def test_tensor_inference_outputs():
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.inference_mode():
        y = x * 2
    z = x * 2
    assert y.is_inference() and not y.requires_grad
    assert not z.is_inference() and z.requires_grad


def test_tensor_grad_mode_function():
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    y = nb.grad_mode(False, lambda t: t * 2, x)
    assert not y.requires_grad
    with nb.no_grad():
        z = nb.grad_mode(True, lambda t: t * 2, x)
    assert z.requires_grad


def test_public_names_are_reexported():
    import nbgrad as nb

    assert nb.no_grad is no_grad
    assert nb.enable_grad is enable_grad
    assert nb.set_grad_enabled is set_grad_enabled
    assert nb.inference_mode is inference_mode
    assert nb.grad_mode is grad_mode
    assert nb.is_grad_enabled is is_grad_enabled
    assert nb.is_inference_mode_enabled is is_inference_mode_enabled
    assert nb.autograd.set_multithreading_enabled is set_multithreading_enabled


@skip_if_threads_inherit
def test_tensor_in_new_thread_records():
    """Ops in a fresh thread started inside no_grad record gradients."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)
    with nb.no_grad():
        y = _in_new_thread(lambda: x * 2)
    assert y.requires_grad


def test_backward_in_several_threads():
    """Each thread drives its own backward."""
    import nbgrad as nb

    def work(i):
        x = nb.tensor([float(i), 1.0], requires_grad=True)
        (x * x).sum().backward()
        return x.grad.tolist()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[2.0 * i, 2.0] for i in range(8)]


def test_tensor_concurrent_tasks():
    """A task holding no_grad across an await does not stop another task recording."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)

    async def main():
        entered = asyncio.Event()
        done = asyncio.Event()

        async def holder():
            with nb.no_grad():
                entered.set()
                await done.wait()
                return (x * 2).requires_grad

        async def other():
            await entered.wait()
            with nb.inference_mode():
                pass
            r = x * 2
            done.set()
            return r.requires_grad, r.is_inference()

        return await asyncio.gather(holder(), other())

    assert asyncio.run(main()) == [False, (True, False)]


def test_tensor_decorated_async_body():
    """Products inside a decorated async body follow the decorator."""
    import nbgrad as nb

    x = nb.tensor([1.0, 2.0], requires_grad=True)

    @nb.no_grad
    async def body():
        await asyncio.sleep(0)
        return x * 2

    @nb.inference_mode()
    async def infer():
        await asyncio.sleep(0)
        return x * 2

    async def main():
        return await body(), await infer()

    a, b = asyncio.run(main())
    assert not a.requires_grad
    assert b.is_inference() and not b.requires_grad
