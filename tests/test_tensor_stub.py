"""The type stubs that show editors and type checkers what the op registry makes
(``nbgrad/tensor.pyi``: every ``Tensor`` member; ``nbgrad/ops/functions.pyi``: every
``nb.<name>`` function) are the output of ``scripts/gen_stubs.py``."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import nbgrad as nb
from nbgrad.ops import _register

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("nbgrad_gen_stubs",
                                                  ROOT / "scripts" / "gen_stubs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_the_committed_stubs_are_the_generated_ones():
    gen = _generator()
    assert (ROOT / "nbgrad" / "tensor.pyi").read_text() == gen.render(), (
        "nbgrad/tensor.pyi is stale: run python scripts/gen_stubs.py"
    )
    assert (ROOT / "nbgrad" / "ops" / "functions.pyi").read_text() == gen.render_functions(), (
        "nbgrad/ops/functions.pyi is stale: run python scripts/gen_stubs.py"
    )


def test_the_functions_stub_lists_every_function_with_its_signature():
    tree = ast.parse((ROOT / "nbgrad" / "ops" / "functions.pyi").read_text())
    defs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    exported = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign))
    assert defs == set(exported) == set(_register.functions())
    assert {"exp", "add", "tensor", "zeros_like", "clip", "concat"} <= defs


def _stub_members() -> set[str]:
    tree = ast.parse((ROOT / "nbgrad" / "tensor.pyi").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    names = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names


def test_the_stub_shows_every_declared_member_and_tensor_py_attribute():
    members = _stub_members()
    declared = {e.name for e in _register.entries() if e.owner == "Tensor"}
    assert declared <= members, sorted(declared - members)
    own = {n for n in vars(nb.Tensor) if not n.startswith("__") or n in declared}
    assert own <= members, sorted(own - members)
    assert {"exp", "exp_", "__add__", "__radd__", "__iadd__", "T", "sum", "__init__",
            "_data"} <= members


def test_the_stub_gives_signatures_and_hints():
    text = (ROOT / "nbgrad" / "tensor.pyi").read_text()
    # ``float`` is a Tensor method, so the builtin is spelled out
    assert "    def __radd__(self: Tensor, other: builtins.float) -> Tensor: ..." in text
    assert "        *,\n        alpha: builtins.float = 1,\n    ) -> Tensor: ..." in text
    assert "    @property\n    def T(self: Tensor) -> Tensor: ..." in text
    assert "    def __init__(\n" in text


def test_the_wheel_ships_the_stub():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'packages = ["nbgrad"]' in pyproject  # hatch ships every file of the package
    assert (ROOT / "nbgrad" / "py.typed").exists()
