"""The layering of ARCHITECTURE.md, enforced: lower layers never import higher ones at module
level, and JIT flags are set in one place only."""

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
         "nbgrad.cuda")),
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


def top_level_imports(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:  # module level only: lazy imports inside functions are allowed
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"


def test_layer_order_is_respected():
    bad = []
    for path in ROOT.rglob("*.py"):
        mod = module_name(path)
        if mod == "nbgrad":
            continue
        own = layer_of(mod)
        assert own is not None, f"{mod} is not assigned to a layer in this test"
        for imported in top_level_imports(path):
            other = layer_of(imported)
            if other is not None and other > own:
                bad.append(f"{mod} (layer {own}) imports {imported} (layer {other})")
    assert not bad, "\n".join(bad)


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


def test_only_dispatch_and_engine_read_the_mode():
    readers = set()
    for path in ROOT.rglob("*.py"):
        if "mode_var" in path.read_text():
            readers.add(module_name(path))
    assert readers <= {"nbgrad.grad_mode", "nbgrad.ops._dispatch", "nbgrad.autograd.engine"}, (
        readers
    )


@pytest.mark.parametrize("module", ["numba", "sklearn", "torch"])
def test_import_nbgrad_does_not_import(module):
    code = f"import sys, nbgrad; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
