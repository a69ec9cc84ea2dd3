"""Every public name of nbgrad has a docstring, and the API reference shows every one of them.

Public names: the top level of ``nbgrad``; the public methods and properties of ``Tensor`` and of
every other public class; ``nbgrad.autograd`` and ``nbgrad.autograd.graph``; the grad modes; the
error classes; and ``nbgrad.nn``, ``nbgrad.optim``, ``nbgrad.utils``, ``nbgrad.cuda`` (with their
public submodules) once they exist. A name is public when it has no leading underscore and, in a
module that defines ``__all__``, when ``__all__`` lists it.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import types
from pathlib import Path

import nbgrad

DOCS = Path(__file__).resolve().parents[1] / "docs"
CORE_MODULES = ("nbgrad.autograd", "nbgrad.autograd.graph", "nbgrad.grad_mode", "nbgrad.errors")
OPTIONAL_PACKAGES = ("nbgrad.nn", "nbgrad.optim", "nbgrad.utils", "nbgrad.cuda")


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


def api_modules(name: str):
    """A module and its public submodules (the same rule as the API page in docs/conf.py)."""
    module = importlib.import_module(name)
    yield module
    public = getattr(module, "__all__", None)
    if public is None:
        subs = [
            info.name
            for info in pkgutil.iter_modules(getattr(module, "__path__", []), name + ".")
            if not info.name.rsplit(".", 1)[1].startswith("_")
        ]
    else:
        subs = [getattr(module, n).__name__ for n in public
                if inspect.ismodule(getattr(module, n, None))]
    for sub in subs:
        yield from api_modules(sub)


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


def test_grad_modes_and_autograd_functions_show_an_example():
    """The heart of the API: each docstring carries a ``>>>`` example (run by the doctests)."""
    names = {
        name: obj for name, obj in public_objects().items()
        if name.startswith(("nbgrad.grad_mode.", "nbgrad.autograd."))
        and (inspect.isfunction(obj) or getattr(obj, "__module__", "") == "nbgrad.grad_mode")
        and "." not in name.removeprefix("nbgrad.grad_mode.").removeprefix("nbgrad.autograd.")
    }
    assert "nbgrad.grad_mode.no_grad" in names and "nbgrad.autograd.backward" in names
    without = sorted(n for n, obj in names.items() if ">>>" not in (_own_docstring(obj) or ""))
    assert not without, "no example in the docstring of: " + ", ".join(without)


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
