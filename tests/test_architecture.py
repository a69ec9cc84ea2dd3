"""The layering of ARCHITECTURE.md, enforced: lower layers never import higher ones (at module
level or inside a function), the import graph has no circles, only the dispatch point, the
engine and grad_mode.py read the grad mode, and JIT flags are set in one place only."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "nbgrad"

# Lower number = lower layer. A module may import (at module level) only its own layer or below.
LAYERS = [
    (0, ("nbgrad._dtype", "nbgrad._device", "nbgrad.errors", "nbgrad.grad_mode", "nbgrad._api",
         "nbgrad._tracing")),
    (1, ("nbgrad.backends",)),
    (2, ("nbgrad._graph",)),
    (3, ("nbgrad.tensor", "nbgrad._format")),
    (4, ("nbgrad.ops",)),
    (5, ("nbgrad.autograd",)),
    (6, ("nbgrad.nn", "nbgrad.optim", "nbgrad.utils", "nbgrad.fusion", "nbgrad.serialization",
         "nbgrad.distributed", "nbgrad.cuda", "nbgrad.func", "nbgrad.random", "nbgrad.linalg",
         "nbgrad.accelerator")),
    (7, ("nbgrad.examples",)),
]


def layer_of(module: str) -> int | None:
    best = None
    for rank, prefixes in LAYERS:
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                best = rank
    return best


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: pathlib.Path):
    """``(imported name, at module level?)`` for every import the module runs: at module level
    and inside functions (imports under ``if TYPE_CHECKING:`` never run and are skipped)."""
    tree = ast.parse(path.read_text())

    def walk(node, top: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking_block(child):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, top
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                yield child.module, top
                for alias in child.names:
                    yield f"{child.module}.{alias.name}", top
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from walk(child, top and not inner)

    yield from walk(tree, True)


def _modules() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(name: str, known) -> str | None:
    """The nbgrad module an imported name refers to (``nbgrad.ops.shape.view`` -> the module)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


# Lazy imports inside functions are allowed only for what must not load at ``import nbgrad``
# and points down: Numba and the optional third-party packages, and the backends (which import
# Numba). Everything else is imported at module level, where the layer test sees it.
LAZY_ALLOWED = ("nbgrad.backends",)


def test_layer_order_is_respected():
    bad = []
    for mod, path in _modules().items():
        if mod == "nbgrad":
            continue
        own = layer_of(mod)
        assert own is not None, f"{mod} is not assigned to a layer in this test"
        for imported, top in imports(path):
            other = layer_of(imported)
            if other is not None and other > own:
                where = "at module level" if top else "inside a function"
                bad.append(f"{mod} (layer {own}) imports {imported} (layer {other}) {where}")
    assert not bad, "\n".join(bad)


def test_function_level_imports_are_only_the_allowed_lazy_ones():
    bad = []
    for mod, path in _modules().items():
        for imported, top in imports(path):
            if top or not imported.startswith("nbgrad"):
                continue  # stdlib and third-party packages may load lazily
            if not any(imported == p or imported.startswith(p + ".") for p in LAZY_ALLOWED):
                bad.append(f"{mod} imports {imported} inside a function")
    assert not bad, "\n".join(sorted(set(bad)))


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for imported, _top in imports(path):
            if not imported.startswith("nbgrad"):
                continue
            target = _resolve(imported, modules)
            # a package's own __init__ runs before its modules: not an edge of the module graph
            if target and target != mod and not mod.startswith(target + "."):
                graph[mod].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_import_graph_has_no_cycles():
    """Counting imports inside functions too: no set of modules imports each other in a circle."""
    assert _cycles(_import_graph()) == []


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_backends_know_nothing_of_autograd():
    for path in (ROOT / "backends").rglob("*.py"):
        text = path.read_text()
        for forbidden in ("nbgrad.tensor", "nbgrad.ops", "nbgrad.autograd", "nbgrad.grad_mode",
                          "nbgrad._graph"):
            assert forbidden not in text, f"{path.name} mentions {forbidden}"


def _jit_uses(tree):
    names = {"njit", "jit", "vectorize", "guvectorize"}
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Call):
            target = node.func
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                if isinstance(dec, (ast.Name, ast.Attribute)):
                    target = dec
        if isinstance(target, ast.Name) and target.id in names:
            yield target.id
        elif isinstance(target, ast.Attribute) and target.attr in names:
            yield target.attr


def test_jit_flags_live_in_one_module():
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        # _jit.py owns the CPU flags; the CUDA backend compiles with numba.cuda's own jit;
        # examples show users writing their own kernels.
        exempt = rel.parts[:2] == ("backends", "cuda") or "examples" in rel.parts
        if path.name == "_jit.py" or exempt:
            continue
        used = list(_jit_uses(ast.parse(path.read_text())))
        assert not used, f"{rel} compiles kernels itself ({used}); use nbgrad.backends._jit"


# The names of grad_mode.py that read the current mode (the ContextVar, its values and the
# queries). Managers such as no_grad() set a mode; using them is not reading it.
MODE_READERS = {"mode_var", "MODES", "Mode", "DEFAULT_MODE", "_get", "is_grad_enabled",
                "is_inference_mode_enabled"}
MAY_READ_THE_MODE = {"nbgrad.grad_mode", "nbgrad.ops._dispatch", "nbgrad.autograd.engine"}


def _mode_names_used(path: pathlib.Path) -> set[str]:
    """The mode-reading names a module imports from grad_mode or reaches as attributes."""
    tree = ast.parse(path.read_text())
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "nbgrad.grad_mode":
            used |= {a.name for a in node.names if a.name in MODE_READERS}
        elif isinstance(node, ast.Attribute) and node.attr in MODE_READERS:
            if isinstance(node.value, ast.Name) and node.value.id in ("grad_mode", "nb", "nbgrad"):
                used.add(node.attr)
    return used


def test_only_dispatch_and_engine_read_the_mode():
    readers = {}
    for mod, path in _modules().items():
        if mod == "nbgrad":  # the public face re-exports the queries for users
            continue
        used = _mode_names_used(path)
        if used and mod not in MAY_READ_THE_MODE:
            readers[mod] = sorted(used)
    assert readers == {}


def test_mode_reader_check_sees_an_attribute_use(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from nbgrad import grad_mode\nif grad_mode.is_grad_enabled():\n    pass\n")
    assert _mode_names_used(sample) == {"is_grad_enabled"}


@pytest.mark.parametrize("module", ["numba", "sklearn", "torch"])
def test_import_nbgrad_does_not_import(module):
    code = f"import sys, nbgrad; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
