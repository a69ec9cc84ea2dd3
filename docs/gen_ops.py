"""Generate ``docs/ops.md``, the op reference, from the op table and the op modules.

    python docs/gen_ops.py          # rewrite docs/ops.md
    python docs/gen_ops.py --check  # exit 1 if docs/ops.md is out of date

Elementwise rows come straight from ``nbgrad.ops.elementwise`` (``UNARY``, ``BINARY``,
``TERNARY``, ``COMPARISONS``): the signature from the scalar kernel's arguments, the dtypes from
the row's dtype rule, the gradient from the row's gradient lambdas (their source, unparsed).
The other ops are listed from ``OTHER_OPS`` below, with signatures read from the functions.
``tests/test_ops_library.py`` fails when the committed page differs from this output.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import re
import sys
from pathlib import Path

import nbgrad as nb
from nbgrad.ops import elementwise as ew
from nbgrad.ops._methods import METHODS

PAGE = Path(__file__).resolve().parent / "ops.md"

OPERATORS = {
    "__add__": "a + b", "__sub__": "a - b", "__mul__": "a * b", "__truediv__": "a / b",
    "__floordiv__": "a // b", "__mod__": "a % b", "__pow__": "a ** b", "__neg__": "-x",
    "__abs__": "abs(x)", "__eq__": "a == b", "__ne__": "a != b", "__lt__": "a < b",
    "__le__": "a <= b", "__gt__": "a > b", "__ge__": "a >= b",
}

# Helpers the gradient lambdas call, shown as the formula they compute.
HELPERS = [
    (r"_zeros\(g\)", "0"),
    (r"_tie_split\((.+?), (.+?)\)", r"((\1) + (\2) / 2)"),
    (r"_pow_grad_base\(g, a, b\)", "g * b * a ** (b - 1) (0 where b == 0)"),
    (r"_pow_grad_exponent\(g, a, b, y\)", "g * y * log(a) (0 where a == 0 and b >= 0)"),
    (r"_log\((\w+)\)", r"log(\1)"),
    (r"apply\(TANH_BACKWARD, \(g, y\)\)", "g * (1 - y * y)"),  # fused into one kernel
    (r"apply\(SIGMOID_BACKWARD, \(g, y\)\)", "g * y * (1 - y)"),
]

DTYPE_RULES = {
    ("float", True): "float32, float64; integers and bool compute in float32",
    ("float", False): "float32, float64; integers compute in float32",
    ("same", True): "every dtype (result: the promoted dtype)",
    ("same", False): "float32, float64, int32, int64 (not bool)",
    ("bool", True): "every dtype; the result is bool",
}

# name -> (function, dtypes, gradient note). Signatures are read from the functions.
OTHER_OPS = {
    "Reductions": [
        ("sum", nb.sum, "every dtype (integers and bool give int64)", "broadcast back"),
        ("mean", nb.mean, "float32, float64", "broadcast back, divided by the count"),
        ("prod", nb.prod, "every dtype (integers and bool give int64)",
         "product of the other elements (exact with zeros)"),
        ("var", nb.var, "float32, float64", "composed: mean, subtract, square, sum"),
        ("std", nb.std, "float32, float64", "composed; 0 where the result is 0"),
        ("var_mean", nb.var_mean, "float32, float64", "as var and mean"),
        ("std_mean", nb.std_mean, "float32, float64", "as std and mean"),
        ("amax", nb.amax, "every dtype", "split evenly among the maximal elements"),
        ("amin", nb.amin, "every dtype", "split evenly among the minimal elements"),
        ("max", nb.max, "every dtype",
         "whole: split among ties; with dim: to the returned index; with a tensor: maximum"),
        ("min", nb.min, "every dtype",
         "whole: split among ties; with dim: to the returned index; with a tensor: minimum"),
        ("argmax", nb.argmax, "every dtype (int64 result)", "none"),
        ("argmin", nb.argmin, "every dtype (int64 result)", "none"),
        ("logsumexp", nb.logsumexp, "float32, float64; integers compute in float32",
         "composed around the (detached) maximum: softmax"),
        ("norm", nb.norm, "float32, float64",
         "p=2: g * x / norm; p=1: g * sign(x); inf: split among ties; 0 at a zero norm"),
    ],
    "Linear algebra": [
        ("matmul", nb.matmul, "float32, float64, int32, int64", "g @ bᵀ, aᵀ @ g (summed over "
         "broadcast batch dims)"),
        ("mm", nb.mm, "float32, float64, int32, int64", "as matmul"),
        ("bmm", nb.bmm, "float32, float64, int32, int64", "as matmul"),
        ("dot", nb.dot, "float32, float64, int32, int64 (same dtype)", "as matmul"),
        ("outer", nb.outer, "every dtype but bool", "composed: a[:, None] * b[None, :]"),
    ],
    "Copying and joining": [
        ("gather", nb.gather, "every dtype; int64/int32 index", "scatter_add into zeros"),
        ("scatter_add", nb.scatter_add, "every dtype (src like input)",
         "input: g; src: g.gather(dim, index)"),
        ("index_select", nb.index_select, "every dtype", "accumulated at the indices"),
        ("take_along_dim", nb.take_along_dim, "every dtype", "as gather"),
        ("masked_fill", nb.masked_fill, "every dtype; bool mask",
         "input: g where not mask; value: sum of g where mask"),
        ("cat", nb.cat, "every dtype (promoted)", "g narrowed back to each input (and cast)"),
        ("stack", nb.stack, "every dtype (promoted)", "as cat"),
        ("flip", nb.flip, "every dtype", "g flipped"),
        ("tril", nb.tril, "every dtype", "tril(g)"),
        ("triu", nb.triu, "every dtype", "triu(g)"),
        ("Tensor.repeat", nb.Tensor.repeat, "every dtype", "composed: expand + reshape"),
    ],
    "Splitting (views)": [
        ("split", nb.split, "every dtype", "views: g flows back into the slices"),
        ("chunk", nb.chunk, "every dtype", "views"),
        ("unbind", nb.unbind, "every dtype", "views"),
    ],
}


def _row_call(op) -> ast.Call:
    """The ``Elementwise(...)`` call of a row, parsed from its (single) source line."""
    line = linecache.getline(inspect.getsourcefile(op.fn), op.fn.__code__.co_firstlineno)
    code = line.split("  # noqa")[0].strip().rstrip(",")
    return ast.parse(code, mode="eval").body


def _formula(lam: ast.Lambda) -> str:
    text = ast.unparse(lam.body)
    for pattern, repl in HELPERS:
        text = re.sub(pattern, repl, text)
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _operators(key: str) -> str:
    found = [sym for dunder, sym in OPERATORS.items()
             if getattr(METHODS.get(dunder), "__name__", None) == key]
    return ", ".join(f"`{s}`" for s in found)


def _elementwise_rows(table: dict) -> list[str]:
    lines = ["| op | signature | dtypes | gradient |", "| --- | --- | --- | --- |"]
    for key, op in table.items():
        args = op.fn.__code__.co_varnames[: op.nargs]
        sig = f"`nb.{key}({', '.join(args)})`"
        ops = _operators(key)
        if ops:
            sig += f", {ops}"
        dtypes = DTYPE_RULES[(op.kind, op.allow_bool)]
        if not op.differentiable:
            grad = "none"
        else:
            lambdas = _row_call(op).args[2].elts
            parts = [f"{arg}: `{_formula(lam)}`" for arg, lam in zip(args, lambdas)
                     if _formula(lam) != "None"]
            grad = "; ".join(parts)
        lines.append(f"| {op.name} | {_cell(sig)} | {dtypes} | {_cell(grad)} |")
    return lines


def _signature(name: str, fn) -> str:
    empty = inspect.Parameter.empty
    full = inspect.signature(fn)
    sig = str(full.replace(parameters=[p.replace(annotation=empty)
                                       for p in full.parameters.values()],
                           return_annotation=empty))
    qual = name if name.startswith("Tensor.") else f"nb.{name}"
    return f"`{qual}{sig}`"


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
        "",
        "## Elementwise: one argument",
        "",
        *_elementwise_rows(ew.UNARY),
        "",
        "## Elementwise: two arguments (broadcasting, Python numbers on either side)",
        "",
        *_elementwise_rows(ew.BINARY),
        "",
        "## Elementwise: three arguments",
        "",
        "`nb.where(condition, input, other)` needs a bool condition; `nb.clamp(x, min=None,",
        "max=None)` picks `clamp_min`, `clamp_max` or the three-argument row below.",
        "",
        *_elementwise_rows(ew.TERNARY),
        "",
        "## Comparisons",
        "",
        *_elementwise_rows(ew.COMPARISONS),
    ]
    for title, entries in OTHER_OPS.items():
        out += ["", f"## {title}", "", "| op | signature | dtypes | gradient |",
                "| --- | --- | --- | --- |"]
        for name, fn, dtypes, grad in entries:
            out.append(f"| {name} | {_cell(_signature(name, fn))} | {dtypes} | "
                       f"{_cell(grad)} |")
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
