"""Sphinx configuration for the nbgrad documentation.

Build (offline, warnings are errors):
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys

# Document the working tree, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import nbgrad  # noqa: E402

project = "nbgrad"
author = "the nbgrad developers"
copyright = "the nbgrad developers"  # noqa: A001
release = nbgrad.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: anchors for headings down to ###, so `[text](#some-heading)` links resolve.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# autodoc: members in source order, signatures with type hints in the description.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# Nothing is fetched from the network: no intersphinx, no remote images.
html_theme = "furo"
html_title = f"nbgrad {release}"
html_static_path: list[str] = []
pygments_style = "sphinx"
pygments_dark_style = "monokai"


# --------------------------------------------------------------------------------------------
# The API reference lists every public name, also those added after api.md was written:
# api.md documents the central names by hand, and each ``<!-- api:... -->`` marker in it is
# replaced here by autodoc directives for the names it stands for.
# --------------------------------------------------------------------------------------------

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import re  # noqa: E402

from nbgrad._api import api_modules  # noqa: E402

# Titles for the top-level functions, grouped by the module that defines them.
_GROUPS = {
    "nbgrad.ops.creation": "Creating tensors",
    "nbgrad.ops.elementwise": "Elementwise operations",
    "nbgrad.ops.reduce": "Reductions",
    "nbgrad.ops.linalg": "Linear algebra",
    "nbgrad.ops.shape": "Shapes, views and copies",
}
_OPTIONAL = ("nbgrad.nn", "nbgrad.optim", "nbgrad.utils", "nbgrad.cuda")
_DOCUMENTED = re.compile(r"\.\. auto(?:function|class|module|data|attribute)::\s+([\w.]+)")


def _rst(lines: list[str]) -> str:
    return "```{eval-rst}\n" + "\n".join(lines) + "\n```\n"


def _directive(qualname: str, obj) -> list[str]:
    if inspect.isclass(obj):
        return [f".. autoclass:: {qualname}", "   :members:", ""]
    return [f".. autofunction:: {qualname}", ""]


def _resolve(qualname: str):
    """The object a dotted name in an autodoc directive stands for, found the way autodoc finds
    it (attributes first, so ``nbgrad.tensor`` is the function, not the module); None if none."""
    parts = qualname.split(".")
    try:
        obj = importlib.import_module(parts[0])
        for i, attr in enumerate(parts[1:], start=2):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                obj = importlib.import_module(".".join(parts[:i]))
    except ImportError:
        return None
    return obj


def _remaining_toplevel(source: str) -> str:
    """Autodoc directives for every public callable of ``nbgrad`` not documented by hand."""
    done = set()
    for obj in map(_resolve, _DOCUMENTED.findall(source)):
        if obj is nbgrad:  # documented with :no-members:
            continue
        if inspect.ismodule(obj):  # an automodule documents its public members
            names = getattr(obj, "__all__", [n for n in vars(obj) if not n.startswith("_")])
            done.update(id(getattr(obj, n, None)) for n in names)
        elif obj is not None:
            done.add(id(obj))
    groups: dict[str, list[str]] = {}
    for name in sorted(vars(nbgrad)):
        obj = getattr(nbgrad, name)
        if name.startswith("_") or inspect.ismodule(obj) or not callable(obj):
            continue
        if id(obj) in done:
            continue
        title = _GROUPS.get(getattr(obj, "__module__", ""), "Other names")
        groups.setdefault(title, []).extend(_directive(f"nbgrad.{name}", obj))
    order = [*_GROUPS.values(), "Other names"]
    out = []
    for title in sorted(groups, key=lambda t: order.index(t) if t in order else len(order)):
        out.append(f"### {title}\n\n" + _rst(groups[title]))
    return "\n".join(out)


def _optional_packages() -> str:
    """A section per optional package (nn, optim, utils, cuda) that exists."""
    out = []
    for pkg_name in _OPTIONAL:
        if importlib.util.find_spec(pkg_name) is None:
            continue
        lines = []
        for module in api_modules(pkg_name):
            lines += [f".. automodule:: {module.__name__}", "   :members:", ""]
        out.append(f"## `{pkg_name}`\n\n" + _rst(lines))
    return "\n".join(out)


def _fill_api(app, docname: str, source: list[str]) -> None:
    if docname != "api":
        return
    text = source[0]
    text = text.replace("<!-- api:remaining-toplevel -->", _remaining_toplevel(text))
    text = text.replace("<!-- api:optional-packages -->", _optional_packages())
    source[0] = text


def setup(app):
    app.connect("source-read", _fill_api)
    return {"parallel_read_safe": True}
