"""Generate ``docs/ops.md``, the op reference, from the op registry.

    python docs/gen_ops.py          # rewrite docs/ops.md
    python docs/gen_ops.py --check  # exit 1 if docs/ops.md is out of date

Every row comes from the registry (``nbgrad/ops/_register.py``), in declaration order: each op
declares its reference row with its public names. Elementwise rows are the table rows of
``nbgrad.ops.elementwise``: the signature from the scalar kernel's arguments, the dtypes from the
row's dtype rule, the operators from its dunders, the gradient from the row's rules (each rule's
own source, found with ``inspect``, with ``grad`` written ``g`` and ``out`` written ``y``). The
other ops carry a ``Doc`` (section, dtypes, gradient) and their signature is read from the
function. ``tests/test_ops_library.py`` fails when the committed page differs from this output.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's nbgrad

import nbgrad  # noqa: E402,F401  (declares every op)
from nbgrad.ops._register import Doc, entries  # noqa: E402
from nbgrad.ops.elementwise import Elementwise  # noqa: E402

PAGE = Path(__file__).resolve().parent / "ops.md"

OPERATORS = {
    "__add__": "a + b", "__sub__": "a - b", "__mul__": "a * b", "__truediv__": "a / b",
    "__floordiv__": "a // b", "__mod__": "a % b", "__pow__": "a ** b", "__neg__": "-x",
    "__abs__": "abs(x)", "__eq__": "a == b", "__ne__": "a != b", "__lt__": "a < b",
    "__le__": "a <= b", "__gt__": "a > b", "__ge__": "a >= b", "__and__": "a & b",
    "__or__": "a | b", "__xor__": "a ^ b", "__lshift__": "a << b", "__rshift__": "a >> b",
    "__invert__": "~x",
}

# The names a gradient rule reads, as the formulas write them.
SHORT = {"grad": "g", "out": "y"}

# Helpers the gradient rules call, shown as the formula they compute.
HELPERS = [
    (r"_zeros\(g\)", "0"),
    (r"_ln\((\w+)\)", r"log(\1)"),
    (r"apply\(_DIV_TRUNC, \((\w+), (\w+)\)\)", r"trunc(\1 / \2)"),
    (r"_tie_split\((.+?), (.+?)\)", r"((\1) + (\2) / 2)"),
    (r"_pow_grad_base\(g, a, b\)", "g * b * a ** (b - 1) (0 where b == 0)"),
    (r"_pow_grad_exponent\(g, a, b, y\)", "g * y * log(a) (0 where a == 0 and b >= 0)"),
    (r"apply\(TANH_BACKWARD, \(g, y\)\)", "g * (1 - y * y)"),  # fused into one kernel
    (r"apply\(SIGMOID_BACKWARD, \(g, y\)\)", "g * y * (1 - y)"),
]

DTYPE_RULES = {
    ("float", True): "float32, float64; integers and bool compute in float32",
    ("float", False): "float32, float64; integers compute in float32",
    ("same", True): "every dtype (result: the promoted dtype)",
    ("same", False): "float32, float64, int32, int64 (not bool)",
    ("bool", True): "every dtype; the result is bool",
    ("integer", True): "integer dtypes and bool (not floating point)",
}

# Section titles in page order, and the prose under a title.
SECTIONS = [
    "Elementwise: one argument",
    "Elementwise: two arguments (broadcasting, Python numbers on either side)",
    "Elementwise: three arguments",
    "Comparisons",
    "Reductions",
    "Linear algebra",
    "Copying and joining",
    "Splitting (views)",
    "Convolution and pooling",
    "Shape (composed)",
    "Cumulative",
    "Sorting and selection",
    "Creation",
    "Random",
]
PROSE = {
    "Convolution and pooling": [
        "The `nn.functional`-only forms (`unfold`, `fold`, `pad`, `interpolate`, `avg_pool2d/3d`,",
        "`adaptive_*_pool2d/3d`, `max_unpool*`, `lp_pool*`, `scaled_dot_product_attention`) are",
        "built from the same ops; `docs/coming_from_pytorch.md` lists what differs.",
    ],
    "Elementwise: three arguments": [
        "`nb.where(condition, input, other)` needs a bool condition; `nb.clamp(x, min=None,",
        "max=None)` picks `clamp_min`, `clamp_max` or the three-argument row below.",
    ],
}


def _section(doc) -> str:
    if isinstance(doc, Doc):
        return doc.section
    if doc.kind == "bool":
        return "Comparisons"  # also the one-argument tests (isnan, logical_not, ...)
    return SECTIONS[doc.nargs - 1]


class _Short(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(SHORT.get(node.id, node.id), node.ctx)


def _lambda(rule) -> ast.Lambda:
    """The ``lambda`` expression of a gradient rule, parsed from its own source."""
    text = inspect.getsource(rule)
    text = text[text.index("lambda"):]
    for end in range(len(text), 0, -1):
        try:
            node = ast.parse(text[:end].rstrip().rstrip(","), mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.Lambda):
            return node
    raise ValueError(f"no lambda found in {text!r}")


def _formula(rule) -> str:
    text = ast.unparse(_Short().visit(_lambda(rule).body))
    for pattern, repl in HELPERS:
        text = re.sub(pattern, repl, text)
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _elementwise_row(op: Elementwise, dunders: list[str]) -> str:
    sig = f"`nb.{op.key}({', '.join(op.arg_names)})`"
    ops = ", ".join(f"`{OPERATORS[d]}`" for d in dunders if d in OPERATORS)
    if ops:
        sig += f", {ops}"
    dtypes = DTYPE_RULES[(op.kind, op.allow_bool)]
    if not op.differentiable:
        grad = "none"
    else:
        grad = "; ".join(f"{arg}: `{_formula(rule)}`" for arg, rule in op.grad_rules.items()
                         if rule is not None)
    return f"| {op.name} | {_cell(sig)} | {dtypes} | {_cell(grad)} |"


def _signature(qualname: str, fn) -> str:
    empty = inspect.Parameter.empty
    full = inspect.signature(fn)
    sig = str(full.replace(parameters=[p.replace(annotation=empty)
                                       for p in full.parameters.values()],
                           return_annotation=empty))
    return f"`{qualname}{sig}`"


def _rows() -> dict[str, list[str]]:
    """Section title -> table rows, one per op, in declaration order."""
    first: dict[int, object] = {}  # id(doc) -> the entry that names the op
    dunders: dict[int, list[str]] = {}
    for e in entries():
        if e.doc is None:
            continue
        first.setdefault(id(e.doc), e)
        if e.kind == "dunder":
            dunders.setdefault(id(e.doc), []).append(e.name)
    rows: dict[str, list[str]] = {title: [] for title in SECTIONS}
    for key, e in first.items():
        doc = e.doc
        if isinstance(doc, Elementwise):
            rows[_section(doc)].append(_elementwise_row(doc, dunders.get(key, [])))
        else:
            qual = f"{e.owner}.{e.name}" if e.owner == "Tensor" else e.name
            call = f"{e.owner}.{e.name}"
            rows[doc.section].append(f"| {qual} | {_cell(_signature(call, e.obj))} | "
                                     f"{doc.dtypes} | {_cell(doc.grad)} |")
    return rows


def render() -> str:
    """The whole page."""
    out = [
        "# Op reference",
        "",
        "<!-- Generated by docs/gen_ops.py from the op table; do not edit by hand. -->",
        "",
        "Every op has its gradient (unless the table says *none*) and runs on every device.",
        "Each one is also a `Tensor` method (`x.exp()`, `x.max(1)`), with an in-place form",
        "`x.<name>_()` for the unary and binary rows. In the gradient formulas `g` is the",
        "incoming gradient and `y` the op's output; they are written with nbgrad ops, so every",
        "gradient is differentiable again (`create_graph=True`).",
    ]
    for title, rows in _rows().items():
        out += ["", f"## {title}", ""]
        if title in PROSE:
            out += [*PROSE[title], ""]
        out += ["| op | signature | dtypes | gradient |", "| --- | --- | --- | --- |", *rows]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE} is out of date: run python docs/gen_ops.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
