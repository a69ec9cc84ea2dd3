"""Generate the type stubs of what the op registry makes: ``nbgrad/tensor.pyi`` (the
``nbgrad.tensor`` module with every ``Tensor`` member) and ``nbgrad/ops/functions.pyi`` (every
``nb.<name>`` function).

    python scripts/gen_stubs.py          # rewrite both stubs
    python scripts/gen_stubs.py --check  # exit 1 if either is out of date

Most ``Tensor`` methods, operators and properties and most ``nb.<name>`` functions are declared
next to their ops and put in place by the op registry (``nbgrad/ops/_register.py``), so editors,
type checkers and grep see them through these stubs. They are read by introspection of the
imported package: ``tensor.py``'s own functions, classes and constants, each class's members
(those ``tensor.py`` defines, then the declared ones, each group under a comment naming its
module), the attributes ``tensor.py`` assigns on tensors, the registry's functions, and
signatures from ``inspect.signature`` with their type hints. ``tests/test_tensor_stub.py`` fails
when a committed stub differs from this output.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbgrad  # noqa: E402,F401  (declares every op, so every member is on Tensor)
from nbgrad.ops import _register  # noqa: E402

tensor_module = sys.modules["nbgrad.tensor"]  # (``nbgrad.tensor`` is the function)

STUB = ROOT / "nbgrad" / "tensor.pyi"
FUNCTIONS_STUB = ROOT / "nbgrad" / "ops" / "functions.pyi"
SOURCE = ast.parse(Path(tensor_module.__file__).read_text())
WIDTH = 100
_SKIP = {"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__", "__annotations__",
         "__slots__", "__firstlineno__", "__static_attributes__"}


def _module_data() -> set[str]:
    """The names ``tensor.py`` assigns at module level (its constants)."""
    names = set()
    for node in SOURCE.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    names.add(n.id)
    return names


def _type_only_names() -> dict[str, object]:
    """The names ``tensor.py`` imports under ``if TYPE_CHECKING:`` (for annotations only)."""
    found = {}
    for node in SOURCE.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom):
                    module = importlib.import_module(imp.module)
                    for alias in imp.names:
                        found[alias.asname or alias.name] = getattr(module, alias.name)
    return found


DATA = _module_data()
NAMESPACE = {**_type_only_names(), **vars(tensor_module)}


class _Stub:
    """The stub text under construction and the names its annotations need imported."""

    def __init__(self, defined: set[str], shadowing: set[str]) -> None:
        self.lines: list[str] = []
        self.needed: dict[str, object] = {}  # name -> the object it stands for
        self.defined = defined  # names the stub defines itself
        self.shadowing = shadowing  # names that hide a builtin where annotations are read

    def annotation(self, text, where: dict) -> str | None:
        """``text`` (a string annotation) if every name in it resolves, noting their imports;
        a builtin that a ``Tensor`` member shadows (``float``, ``int``, ``bool``) is written
        ``builtins.<name>``."""
        if text is inspect.Parameter.empty or text is None:
            return None
        if not isinstance(text, str):
            text = inspect.formatannotation(text)
        tree = ast.parse(text, mode="eval")
        found = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in self.defined:
                if hasattr(builtins, node.id):
                    if node.id in self.shadowing:
                        found["builtins"] = builtins
                        node.id = f"builtins.{node.id}"
                    continue
                obj = where.get(node.id, NAMESPACE.get(node.id))
                if obj is None:
                    return None
                found[node.id] = obj
        self.needed.update(found)
        return ast.unparse(tree)

    def signature(self, name: str, fn, indent: str, where: dict | None = None) -> str:
        if where is None:
            where = {**NAMESPACE, **getattr(fn, "__globals__", {})}
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            return f"{indent}def {name}(self, *args, **kwargs): ..."
        params = []
        kinds = [p.kind for p in sig.parameters.values()]
        for i, p in enumerate(sig.parameters.values()):
            if p.kind is p.KEYWORD_ONLY and inspect.Parameter.VAR_POSITIONAL not in kinds and (
                    i == 0 or kinds[i - 1] is not p.KEYWORD_ONLY):
                params.append("*")
            text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
            ann = self.annotation(p.annotation, where)
            if ann is not None:
                text += f": {ann}"
            if p.default is not p.empty:
                text += (" = " if ann is not None else "=") + _default(p.default)
            params.append(text)
            if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(kinds)
                                                or kinds[i + 1] is not p.POSITIONAL_ONLY):
                params.append("/")
        ret = self.annotation(sig.return_annotation, where)
        tail = f" -> {ret}: ..." if ret is not None else ": ..."
        one = f"{indent}def {name}({', '.join(params)}){tail}"
        if len(one) <= WIDTH:
            return one
        inner = indent + "    "
        return "\n".join([f"{indent}def {name}(", *(f"{inner}{p}," for p in params),
                          f"{indent}){tail}"])


def _default(value) -> str:
    text = repr(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return "..."
    return text


def _is_own(value) -> bool:
    return getattr(value, "__module__", None) == tensor_module.__name__ and (
        inspect.isfunction(value) or inspect.isclass(value))


def _is_data(name: str, value) -> bool:
    return name in DATA and not name.startswith("__") and not callable(value)


def _data_type(value) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" and kind is not type(None) else "Any"


def _members(cls: type) -> list[tuple[str, object]]:
    """``cls``'s members in a fixed order (whatever order tests left the class dict in): those
    its body in ``tensor.py`` defines, in source order, then the registry's, in declaration
    order, then any other (a method another layer sets), by name."""
    body = next(n for n in SOURCE.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    order = []
    for node in body.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            order.append(node.name)
        elif isinstance(node, ast.Assign):
            order += [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            order.append(node.target.id)
    if cls is tensor_module.Tensor:
        order += [e.name for e in _register.entries() if e.owner == "Tensor"]
    order += sorted(vars(cls))
    seen: dict[str, object] = {}
    for name in order:
        if name in vars(cls) and name not in seen:
            seen[name] = vars(cls)[name]
    return list(seen.items())


def _class_body_names(cls: type) -> set[str]:
    """The names the body of ``cls`` in ``tensor.py`` assigns."""
    body = next(n for n in SOURCE.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    names = set()
    for node in body.body:
        if isinstance(node, ast.Assign):
            names.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _assigned_attributes(cls: type) -> list[str]:
    """Private attributes ``tensor.py`` assigns on objects outside other classes' bodies (the
    tensors its functions make), which the class does not declare itself."""
    tree = SOURCE
    others = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name != cls.__name__]
    inside_others = {id(n) for c in others for n in ast.walk(c)}
    found = []
    for node in ast.walk(tree):
        if id(node) in inside_others or not isinstance(node, ast.Attribute):
            continue
        if isinstance(node.ctx, ast.Store) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and node.attr not in vars(cls) \
                and node.attr not in found:
            found.append(node.attr)
    return found


def _class(stub: _Stub, cls: type) -> None:
    out = stub.lines
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    out.append(f"class {cls.__name__}{'(' + ', '.join(bases) + ')' if bases else ''}:")
    hints = cls.__dict__.get("__annotations__", {})
    if cls is tensor_module.Tensor:
        for name in _assigned_attributes(cls):
            stub.needed["Any"] = None
            out.append(f"    {name}: Any  # set by tensor.py's functions")
    module = None
    for name, value in _members(cls):
        if name in _SKIP or isinstance(value, types.MemberDescriptorType):
            continue
        home = getattr(getattr(value, "fget", value), "__module__", None)
        if inspect.isfunction(getattr(value, "fget", value)) and home != module:
            if module is not None or home != tensor_module.__name__:
                out.append(f"    # declared in {home}")
            module = home
        if isinstance(value, property):
            where = {**NAMESPACE, **value.fget.__globals__}
            out += ["    @property", stub.signature(name, value.fget, "    ", where)]
            if value.fset is not None:
                out += [f"    @{name}.setter", stub.signature(name, value.fset, "    ", where)]
        elif isinstance(value, (staticmethod, classmethod)):
            out += [f"    @{type(value).__name__}",
                    stub.signature(name, value.__func__, "    ")]
        elif inspect.isfunction(value):
            line = stub.signature(name, value, "    ")
            if name in ("__eq__", "__ne__"):
                # returns a Tensor where ``object``'s returns a bool (torch's stubs do the same)
                first, _, rest = line.partition("\n")
                line = first + "  # type: ignore[override]" + ("\n" + rest if rest else "")
            out.append(line)
        elif callable(value) and value is getattr(object, name, None):
            out.append(stub.signature(name, value, "    "))
        elif name in _class_body_names(cls):  # (not data that a library put on the class)
            ann = stub.annotation(hints.get(name), NAMESPACE) or _data_type(value)
            if ann == "Any":
                stub.needed["Any"] = None
            out.append(f"    {name}: {ann}")
    for name in getattr(cls, "__slots__", ()):
        stub.needed["Any"] = None
        out.append(f"    {name}: Any")


def _imports(needed: dict) -> list[str]:
    """Import lines for the names the stub uses, grouped as isort does."""
    std, third, first = [], [], []
    froms: dict[str, list[str]] = {}
    for name, obj in needed.items():
        if name == "Any":
            froms.setdefault("typing", []).append("Any")
        elif name == "builtins":
            std.append("import builtins")
        elif isinstance(obj, types.ModuleType):
            line = f"import {obj.__name__}" + (f" as {name}" if name != obj.__name__ else "")
            (first if obj.__name__.startswith("nbgrad") else third).append(line)
        else:
            froms.setdefault(obj.__module__, []).append(name)
    for module, names in froms.items():
        line = f"from {module} import {', '.join(sorted(set(names)))}"
        group = std if module == "typing" else first if module.startswith("nbgrad") else third
        group.append(line)
    blocks = []
    for group in (std, third, first):
        plain = sorted(x for x in group if x.startswith("import "))
        fromlines = sorted(x for x in group if x.startswith("from "))
        if group:
            blocks.append([*plain, *fromlines])
    return [line for block in blocks for line in [*block, ""]]


def render() -> str:
    """The whole ``nbgrad/tensor.pyi``."""
    defined = {n for n, v in vars(tensor_module).items() if _is_own(v) or _is_data(n, v)}
    stub = _Stub(defined, set(vars(tensor_module.Tensor)))
    blocks: list[tuple[bool, list[str]]] = []  # (is a class, lines)
    for name, value in vars(tensor_module).items():
        stub.lines = []
        if name == "__all__":
            stub.lines.append(f"__all__ = {value!r}")
        elif _is_own(value) and inspect.isclass(value):
            _class(stub, value)
        elif _is_own(value):
            stub.lines.append(stub.signature(name, value, ""))
        elif _is_data(name, value):
            kind = _data_type(value)
            if kind == "Any":
                stub.needed["Any"] = None
            stub.lines.append(f"{name}: {kind}")
        if stub.lines:
            blocks.append((inspect.isclass(value), stub.lines))
    out = [
        '"""Type stub of ``nbgrad.tensor``: the ``Tensor`` class with every member, including',
        'those declared next to their ops (see ``nbgrad/ops/_register.py``)."""',
        "",
        "# Generated by scripts/gen_stubs.py; do not edit by hand.",
        "",
        *_imports({n: o for n, o in stub.needed.items() if n not in stub.defined}),
    ]
    previous_class = False
    for is_class, lines in blocks:
        if is_class or previous_class:
            out.append("")
        out += [*lines, ""]
        previous_class = is_class
    return "\n".join(out).rstrip() + "\n"


def render_functions() -> str:
    """The whole ``nbgrad/ops/functions.pyi``: a signature per ``nb.<name>`` function."""
    functions = _register.functions()
    stub = _Stub(set(functions), set(functions))
    stub.needed["Tensor"] = tensor_module.Tensor
    lines = [stub.signature(name, fn, "") for name, fn in functions.items()]
    names = ", ".join(f'"{n}"' for n in functions)
    out = [
        '"""Type stub of ``nbgrad.ops.functions``: every ``nb.<name>`` function the op registry',
        'declares (see ``nbgrad/ops/_register.py``)."""',
        "",
        "# Generated by scripts/gen_stubs.py; do not edit by hand.",
        "",
        *_imports(stub.needed),
        *_wrapped(f"__all__ = [{names}]"),
        "",
        *[line for text in lines for line in (text, "")],
    ]
    return "\n".join(out).rstrip() + "\n"


def _wrapped(assignment: str) -> list[str]:
    """``name = [a, b, ...]`` broken into lines of at most WIDTH characters."""
    head, _, items = assignment.partition("[")
    lines, line = [head + "["], "   "
    for item in items.rstrip("]").split(", "):
        if len(line) + len(item) + 2 > WIDTH:
            lines.append(line.rstrip())
            line = "   "
        line += f" {item},"
    return [*lines, line, "]"]


def main(argv: list[str]) -> int:
    stale = []
    for path, text in ((STUB, render()), (FUNCTIONS_STUB, render_functions())):
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/gen_stubs.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
