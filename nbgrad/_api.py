"""Which modules make up nbgrad's public API (shared by the API reference page and its tests)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

__all__ = ["api_modules"]


def api_modules(name: str):
    """A module and its public submodules: those its ``__all__`` names, or, for a package
    without ``__all__``, every submodule whose name has no leading underscore.

    >>> [m.__name__ for m in api_modules("nbgrad.optim")][:1]
    ['nbgrad.optim']
    """
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
