"""Every public name of nbgrad has a docstring with a ``>>>`` example that the doctests run, and
the API reference shows every one of them.

Public names: the top level of ``nbgrad``; the public methods and properties of ``Tensor`` and of
every other public class; ``nbgrad.autograd`` and ``nbgrad.autograd.graph``; the grad modes; the
error classes; and ``nbgrad.nn``, ``nbgrad.optim``, ``nbgrad.utils``, ``nbgrad.cuda`` (with their
public submodules) once they exist. A name is public when it has no leading underscore and, in a
module that defines ``__all__``, when ``__all__`` lists it.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
from pathlib import Path

import nbgrad
from nbgrad._api import api_modules

DOCS = Path(__file__).resolve().parents[1] / "docs"
CORE_MODULES = ("nbgrad.autograd", "nbgrad.autograd.graph", "nbgrad.grad_mode", "nbgrad.errors")
OPTIONAL_PACKAGES = ("nbgrad.nn", "nbgrad.optim", "nbgrad.utils", "nbgrad.cuda")
# Packages this test does not walk for doctested docstrings: the examples (skipped by the
# doctest collection, see ``collect_ignore`` in the root conftest.py) and the backends (kernels,
# not public names; the CPU backend's doctests do run, the CUDA backend's are skipped there).
NOT_COLLECTED = ("nbgrad.examples", "nbgrad.backends")
if importlib.util.find_spec("tensorboard") is None:  # the optional `tensorboard` extra
    NOT_COLLECTED += ("nbgrad.utils.tensorboard",)

# Public names whose docstring need not show an example, each with the reason. Keep it tiny:
# anything a user calls or reads can show a call. (Data such as the dtype constants is not
# walked at all.)
NO_EXAMPLE: dict[str, str] = {}


def _own_docstring(obj) -> str | None:
    """The docstring written for ``obj`` itself, not one inherited from a base or a builtin."""
    if isinstance(obj, property):
        return obj.__doc__ or (obj.fget.__doc__ if obj.fget is not None else None)
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__")  # a class's own, never its base's
    if inspect.isroutine(obj):
        return obj.__doc__
    # A callable instance (a partial, an op object): a docstring set on it, or its class's if
    # that class is nbgrad's own.
    own = getattr(obj, "__dict__", {}).get("__doc__")
    if own:
        return own
    cls = type(obj)
    return cls.__dict__.get("__doc__") if cls.__module__.startswith("nbgrad") else None


def _public_names(module: types.ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = list(vars(module))
    return [n for n in names if not n.startswith("_")]


def _class_members(qualname: str, cls: type):
    """Public methods and properties defined on ``cls`` itself (inherited ones are checked on
    the class that defines them)."""
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if not (isinstance(member, (property, staticmethod, classmethod))
                or inspect.isfunction(member)):
            continue
        if not _own_docstring(member) and any(
            _own_docstring(base.__dict__.get(name)) for base in cls.__mro__[1:]
            if name in base.__dict__
        ):
            continue  # an override documented by the method it overrides (as autodoc shows it)
        yield f"{qualname}.{name}", member


def _module_names(module: types.ModuleType, prefix: str):
    for name in _public_names(module):
        obj = getattr(module, name, None)
        if obj is None or inspect.ismodule(obj) or not callable(obj):
            continue  # submodules are walked on their own; data (dtypes) is not checked
        qualname = f"{prefix}.{name}"
        yield qualname, obj
        if inspect.isclass(obj) and obj.__module__.startswith("nbgrad"):
            yield from _class_members(qualname, obj)


def optional_modules() -> list[types.ModuleType]:
    return [
        module
        for pkg in OPTIONAL_PACKAGES
        if importlib.util.find_spec(pkg) is not None
        for module in api_modules(pkg)
    ]


def public_objects() -> dict[str, object]:
    """Qualified public name -> object, for every name this test holds to a docstring."""
    found: dict[str, object] = {}
    found.update(_module_names(nbgrad, "nbgrad"))
    for module in [*map(importlib.import_module, CORE_MODULES), *optional_modules()]:
        found.update(_module_names(module, module.__name__))
    return found


def _missing(names: dict[str, object]) -> list[str]:
    return sorted(n for n, obj in names.items() if not (_own_docstring(obj) or "").strip())


def _without_example(names: dict[str, object]) -> list[str]:
    return sorted(n for n, obj in names.items() if ">>>" not in (_own_docstring(obj) or ""))


def _collected_modules(package: types.ModuleType):
    """``package`` and every module below it that the doctest collection imports."""
    yield package
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), package.__name__ + "."):
        if not info.name.startswith(NOT_COLLECTED):
            yield from _collected_modules(importlib.import_module(info.name))


def _doctested_docstrings() -> set[str]:
    """The docstrings whose examples the doctest collection (``--doctest-modules``) runs."""
    finder = doctest.DocTestFinder()
    return {
        test.docstring
        for module in _collected_modules(nbgrad)
        for test in finder.find(module, module.__name__)
        if test.examples
    }


def test_the_walk_sees_the_core_api():
    names = public_objects()
    for expected in (
        "nbgrad.tensor", "nbgrad.zeros", "nbgrad.no_grad", "nbgrad.inference_mode",
        "nbgrad.grad_mode", "nbgrad.Tensor", "nbgrad.Tensor.backward", "nbgrad.Tensor.grad",
        "nbgrad.Tensor.requires_grad", "nbgrad.Tensor.add_", "nbgrad.Tensor.sum",
        "nbgrad.Tensor.T", "nbgrad.autograd.grad", "nbgrad.autograd.gradcheck",
        "nbgrad.autograd.graph.unsafe_preserve_version_counter",
        "nbgrad.errors.InferenceTensorError",
    ):
        assert expected in names, expected
    assert len(names) > 150


def test_every_public_name_has_a_docstring():
    missing = _missing(public_objects())
    assert not missing, (
        f"{len(missing)} public names have no docstring:\n  " + "\n  ".join(missing)
    )


def test_the_check_notices_missing_docstrings():
    class Undocumented:
        def method(self):
            pass

        @property
        def prop(self):
            return 1

    class Documented(Undocumented):
        """Has its own docstring."""

    names = dict(_class_members("U", Undocumented))
    names["U"] = Undocumented
    names["D"] = Documented
    names["lambda"] = lambda: None
    assert _missing(names) == ["U", "U.method", "U.prop", "lambda"]


def test_every_public_name_shows_an_example():
    names = public_objects()
    without = _without_example(names)
    missing = [n for n in without if n not in NO_EXAMPLE]
    assert not missing, (
        f"{len(missing)} public names have no >>> example in their docstring:\n  "
        + "\n  ".join(missing)
    )
    stale = sorted(n for n in NO_EXAMPLE if n not in without)
    assert not stale, "NO_EXAMPLE lists names that are gone or show an example: " + ", ".join(stale)
    assert all(reason.strip() for reason in NO_EXAMPLE.values())


def test_every_example_is_run_by_the_doctests():
    """Examples of functions made by factories (the elementwise table, the one-line Tensor
    methods) are reached through ``__test__``; this finds any the collection would miss."""
    run = _doctested_docstrings()
    names = public_objects()
    unrun = sorted(n for n in names if n not in _without_example({n: names[n]})
                   and _own_docstring(names[n]) not in run)
    assert not unrun, "examples the doctest collection never runs: " + ", ".join(unrun)


def test_the_example_checks_notice_what_they_should():
    def documented():
        """Has a docstring but no example."""

    def with_example():
        """Twice.

        >>> 1 + 1
        2
        """

    names = {"documented": documented, "with_example": with_example, "lambda": lambda: None}
    assert _without_example(names) == ["documented", "lambda"]
    run = _doctested_docstrings()
    assert with_example.__doc__ not in run
    assert nbgrad.exp.__doc__ in run and nbgrad.Tensor.exp_.__doc__ in run  # via __test__
    assert nbgrad.Tensor.float.__doc__ in run  # a lambda in the method table, via __test__


def test_each_elementwise_row_has_a_literal_example():
    """Each row of the op table carries ``example=(*inputs, expected)`` with its expected output
    written in the source (an expected output computed at import could never fail)."""
    from nbgrad.ops import elementwise, nn_ops

    rows = [*elementwise.UNARY.values(), *elementwise.BINARY.values(),
            *elementwise.TERNARY.values(), *elementwise.COMPARISONS.values(),
            nn_ops.LOGSIGMOID, nn_ops.LOG_CLAMPED]
    sources = inspect.getsource(elementwise) + inspect.getsource(nn_ops)
    bad = []
    for op in rows:
        ex = op.example
        if not (isinstance(ex, tuple) and len(ex) == op.nargs + 1 and isinstance(ex[-1], str)
                and ex[-1].startswith("tensor(") and f'"{ex[-1]}"' in sources):
            bad.append(op.name)
    assert len(rows) > 40
    assert not bad, "rows without a literal example=(*inputs, 'tensor(...)'): " + ", ".join(bad)


def _filled_api_page() -> str:
    spec = importlib.util.spec_from_file_location("nbgrad_docs_conf", DOCS / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    source = [(DOCS / "api.md").read_text()]
    conf._fill_api(None, "api", source)
    return source[0]


def test_the_api_page_documents_every_public_name():
    page = _filled_api_page()
    documented = set(re.findall(r"\.\. auto\w+::\s+([\w.]+)", page))
    assert "<!-- api:" not in page
    missing = []
    for name in _public_names(nbgrad):
        obj = getattr(nbgrad, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if {f"nbgrad.{name}", f"{obj.__module__}.{obj.__qualname__}"} & documented:
            continue
        home = importlib.import_module(obj.__module__)
        if obj.__module__ in documented and name in _public_names(home):
            continue  # documented by an automodule of the module that defines it
        missing.append(name)
    for module in optional_modules():
        if module.__name__ not in documented:
            missing.append(module.__name__)
    assert not missing, "not in the API reference: " + ", ".join(missing)
