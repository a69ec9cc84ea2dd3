"""The bad-input catalogue: every kind of bad input tried, and what nbgrad answers.

One table (``CASES``) drives both the tests and the docs page ``docs/bad_inputs.md``:

* each ``Bad`` row runs its statements and must raise the given exception type with a message
  containing the given phrase; no message names numba (no typing traceback leaks out) and no
  exception in the chain is a numba error class;
* each ``Quiet`` row is an input that looks bad but has a defined result (IEEE NaN/inf rules,
  empty tensors); its ``repr`` must be exactly the one listed (never a silently wrong value);
* the page is generated from the table with the exact messages
  (``python tests/test_bad_inputs.py --write-doc``); ``test_the_docs_page_matches_the_table``
  fails when they drift apart, and pytest runs the page's ``>>>`` examples as doctests;
* every row also runs in a subprocess, so a segfault fails a test instead of killing pytest.

Rows marked ``xfail`` are bugs found in modules still under development (strict xfails: they
start failing the moment the bug is fixed, so the mark gets removed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "bad_inputs.md")

# Run once before every row (and shown once at the top of the docs page).
SETUP = '''\
import io, json, math, os, pathlib, tempfile
import numpy as np
import nbgrad as nb
tmp = tempfile.mkdtemp()
def write(name, data):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path
def npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
def manifest(root, format="nbgrad-state", version=1):
    text = json.dumps({"format": format, "version": version, "root": root})
    return np.frombuffer(text.encode(), dtype=np.uint8)
saved = os.path.join(tmp, "good.nbz")
nb.save({"w": nb.ones(2)}, saved)'''


@dataclass(frozen=True)
class Bad:
    """Statements whose last one must raise ``exc`` with ``phrase`` in its message."""

    section: str
    what: str
    code: tuple
    exc: type
    phrase: str
    xfail: str | None = None  # why: a bug in a module under development
    needs: str | None = None  # "cuda" / "no-cuda": only meaningful with / without a GPU
    numba_ok: bool = False  # the message may name numba (e.g. "numba.cuda found no GPU")


@dataclass(frozen=True)
class Quiet:
    """A statement that looks bad but has a defined result: its repr must be ``expected``."""

    section: str
    what: str
    code: tuple
    expected: str
    xfail: str | None = None
    needs: str | None = None


SECTIONS = {
    "shapes": ("Wrong shapes", "Operands that do not broadcast, matrices that do not multiply, "
               "views that do not fit: the message names the op and both shapes."),
    "dims": ("Dimensions and indices out of range", "PyTorch's wording for dimensions; numpy's "
             "for indices."),
    "dtypes": ("Wrong dtypes", "Unsupported dtypes are refused at the door; operations a dtype "
               "cannot do are refused before any kernel runs (never a Numba typing error)."),
    "devices": ("Devices", "Unknown devices, CUDA without a GPU, and tensors on different "
                "devices in one op."),
    "backward": ("backward and grad", "Non-scalar backward, wrong gradients, double backward, "
                 "tensors outside the graph."),
    "inplace": ("In-place updates autograd cannot allow", "Leaves that require grad, saved "
                "tensors modified before backward, memory that cannot be written."),
    "modes": ("Grad modes and inference tensors", "Mode arguments of the wrong type, inference "
              "tensors used outside inference mode, views made under another mode."),
    "types": ("Wrong Python types", "Strings, None, dicts, lists and other objects where a "
              "tensor, a number, a shape or a dim is expected."),
    "sizes": ("Huge and negative sizes", "Allocations that cannot succeed fail at once with a "
              "`MemoryError` or a `ValueError`; nothing is half-built."),
    "empty": ("Empty tensors", "Reductions with no identity refuse empty input; the rest "
              "follow PyTorch (sum of nothing is 0, mean of nothing is nan)."),
    "nan": ("NaN and infinity", "Not errors: IEEE rules, as in PyTorch. NaN propagates through "
            "every reduction, `maximum`/`minimum`, `relu` and `clamp`; nothing turns it into a "
            "number silently (except `sign`, which gives 0 exactly as PyTorch does). "
            "`detect_anomaly` turns a NaN gradient into an error."),
    "files": ("Corrupt save files", "`nb.load` never unpickles; any file that is not an nbgrad "
              "archive raises `SerializationError` (a `RuntimeError`) naming the file and why."),
    "nn": ("nn, optim and data", "Layers, losses, optimizers and loaders check their inputs "
           "the same way."),
}

_W = "w = nb.ones(3, requires_grad=True)"

CASES = [
    # ------------------------------------------------------------------ shapes
    Bad("shapes", "operands that do not broadcast", ("nb.ones(2, 3) + nb.ones(4)",),
        ValueError, "shapes (2, 3) and (4,) cannot be broadcast"),
    Bad("shapes", "binary function with unbroadcastable shapes",
        ("nb.maximum(nb.ones(2), nb.ones(3))",), ValueError, "cannot be broadcast"),
    Bad("shapes", "three operands of where", ("nb.where(nb.ones(2) > 0, nb.ones(3), 0.0)",),
        ValueError, "cannot be broadcast"),
    Bad("shapes", "matmul inner sizes differ", ("nb.ones(2, 3) @ nb.ones(4, 5)",), ValueError,
        "shapes (2, 3) and (4, 5) cannot be multiplied"),
    Bad("shapes", "mm of a vector", ("nb.mm(nb.ones(3), nb.ones(3, 2))",), RuntimeError,
        "expected 2-D tensors"),
    Bad("shapes", "bmm of matrices", ("nb.bmm(nb.ones(2, 3), nb.ones(3, 2))",), RuntimeError,
        "expected 3-D tensors"),
    Bad("shapes", "bmm batch sizes differ", ("nb.bmm(nb.ones(2, 2, 3), nb.ones(3, 3, 2))",),
        ValueError, "do not match"),
    Bad("shapes", "dot of matrices", ("nb.dot(nb.ones(2, 2), nb.ones(2, 2))",), RuntimeError,
        "expected 1-D tensors"),
    Bad("shapes", "view with the wrong number of elements", ("nb.ones(2, 3).view(4)",),
        RuntimeError, "shape (4,) is invalid for input of shape (2, 3)"),
    Bad("shapes", "view of a non-contiguous tensor", ("nb.ones(2, 3).t().view(6)",),
        RuntimeError, "use .reshape(...) instead"),
    Bad("shapes", "two inferred sizes", ("nb.ones(2, 3).reshape(-1, -1)",), RuntimeError,
        "only one dimension can be inferred"),
    Bad("shapes", "expand a size that is not 1", ("nb.ones(2, 3).expand(4, 3)",), RuntimeError,
        "must match the existing size 2"),
    Bad("shapes", "copy_ from an unbroadcastable source", ("nb.ones(2, 3).copy_(nb.ones(3, 2))",),
        ValueError, "cannot be broadcast to (2, 3)"),
    Bad("shapes", "setitem with a value of the wrong shape",
        ("x = nb.ones(2, 3)", "x[0] = nb.ones(4)"), ValueError, "cannot be broadcast to (3,)"),
    Bad("shapes", "in-place op whose result would be larger than the target",
        ("nb.ones(2).add_(nb.ones(2, 2))",), ValueError, "doesn't match the broadcast shape"),
    Bad("shapes", "cat of mismatched shapes", ("nb.cat([nb.ones(2, 3), nb.ones(2, 4)])",),
        ValueError, "Sizes of tensors must match except in dimension 0"),
    Bad("shapes", "stack of mismatched shapes", ("nb.stack([nb.ones(2), nb.ones(3)])",),
        ValueError, "stack expects each tensor to be equal size"),
    Bad("shapes", "gather index of the wrong rank", ("nb.ones(2, 3).gather(1, nb.tensor([0]))",),
        RuntimeError, "same number of dimensions"),
    Bad("shapes", "masked_fill mask that does not broadcast",
        ("nb.ones(2, 3).masked_fill(nb.ones(3, 2) > 0, 0.0)",), ValueError,
        "does not broadcast to the input shape (2, 3)"),
    Bad("shapes", "split sizes that do not add up", ("nb.ones(3).split([1, 1])",), RuntimeError,
        "split_sizes to sum exactly to 3"),
    Bad("shapes", "repeat with fewer dims than the tensor", ("nb.ones(2, 3).repeat(2)",),
        RuntimeError, "can not be smaller than number of dimensions"),
    Bad("shapes", "tril of a vector", ("nb.ones(2).tril()",), RuntimeError,
        "at least 2 dimensions"),
    # ------------------------------------------------------------------ dims
    Bad("dims", "reduction over a dim that does not exist", ("nb.ones(2, 3).sum(dim=2)",),
        IndexError, "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    Bad("dims", "transpose a dim that does not exist", ("nb.ones(2, 3).transpose(0, 2)",),
        IndexError, "Dimension out of range"),
    Bad("dims", "permute that is not a permutation", ("nb.ones(2, 3).permute(0, 0)",),
        RuntimeError, "not a permutation of 2 dims"),
    Bad("dims", "a dim listed twice", ("nb.ones(2, 3).sum(dim=(0, 0))",), RuntimeError,
        "appears multiple times"),
    Bad("dims", "flatten with start after end", ("nb.ones(2, 3).flatten(1, 0)",), RuntimeError,
        "start_dim cannot come after end_dim"),
    Bad("dims", "index past the end", ("nb.ones(2, 3)[2]",), IndexError,
        "index 2 is out of bounds for axis 0 with size 2"),
    Bad("dims", "too many indices", ("nb.ones(2, 3)[0, 0, 0]",), IndexError, "too many indices"),
    Bad("dims", "indexing a 0-d tensor", ("nb.tensor(1.0)[0]",), IndexError,
        "invalid index of a 0-dim tensor"),
    Bad("dims", "a negative slice step", ("nb.ones(3)[::-1]",), ValueError,
        "step must be greater than zero"),
    Bad("dims", "narrow past the end", ("nb.ones(2, 3).narrow(1, 2, 3)",), IndexError,
        "exceeds dim 1"),
    Bad("dims", "gather index out of range", ("nb.ones(2, 3).gather(1, nb.tensor([[0, 5]]))",),
        IndexError, "index 5 is out of bounds for dimension 1 with size 3"),
    Bad("dims", "index_select index out of range",
        ("nb.ones(2, 3).index_select(0, nb.tensor([3]))",), IndexError,
        "index 3 is out of bounds"),
    Bad("dims", "boolean mask of the wrong length",
        ("nb.ones(2, 3)[nb.tensor([True, False, True])]",), IndexError,
        "boolean index did not match"),
    # ------------------------------------------------------------------ dtypes
    Bad("dtypes", "requires_grad on an integer tensor", ("nb.tensor([1, 2], requires_grad=True)",),
        RuntimeError, "only Tensors of floating point dtype can require gradients"),
    Bad("dtypes", "an integer cast cuts the graph (no gradient flows through it)",
        (_W, "y = (w.long() * 2).float().sum()", "y.backward()"), RuntimeError,
        "does not require grad"),
    Bad("dtypes", "integer division by zero", ("nb.tensor([1, 2]) // 0",), ZeroDivisionError,
        "integer division by zero"),
    Bad("dtypes", "integer remainder by zero", ("nb.tensor([1, 2]) % nb.tensor([0, 1])",),
        ZeroDivisionError, "integer division by zero"),
    Bad("dtypes", "subtraction of bools", ("nb.tensor([True]) - nb.tensor([False])",),
        TypeError, "not supported for bool tensors"),
    Bad("dtypes", "negation of bools", ("-nb.tensor([True])",), TypeError,
        "not supported for bool tensors"),
    Bad("dtypes", "float result written into an integer tensor", ("nb.tensor([1, 2]).add_(0.5)",),
        RuntimeError, "can't be cast to the desired output type int64"),
    Bad("dtypes", "float tensor used as an index", ("nb.ones(3)[nb.tensor([0.0, 1.0])]",),
        IndexError, "tensors used as indices must be long, int or bool tensors"),
    Bad("dtypes", "unsupported dtype name", ("nb.zeros(2, dtype='bfloat16')",), TypeError,
        "unsupported dtype 'bfloat16'"),
    Bad("dtypes", "complex numpy data", ("nb.tensor(np.array([1 + 2j]))",), TypeError,
        "unsupported dtype"),
    Bad("dtypes", "unsigned numpy data shared with from_numpy",
        ("nb.from_numpy(np.array([1, 2], dtype=np.uint16))",), TypeError, "unsupported dtype"),
    Bad("dtypes", "big-endian numpy data", ("nb.from_numpy(np.array([1.0], dtype='>f8'))",),
        TypeError, "unsupported dtype"),
    Bad("dtypes", "random floats asked for an integer dtype", ("nb.rand(2, dtype=nb.int64)",),
        TypeError, "expected a floating point dtype"),
    Bad("dtypes", "mean of integers", ("nb.tensor([1, 2]).mean()",), RuntimeError,
        "could not infer output dtype"),
    Bad("dtypes", "dot of two dtypes", ("nb.dot(nb.ones(2), nb.ones(2, dtype=nb.float64))",),
        RuntimeError, "same dtype"),
    Bad("dtypes", "float index for gather", ("nb.ones(2, 3).gather(1, nb.tensor([[0.5]]))",),
        RuntimeError, "Expected dtype int64 for index"),
    Bad("dtypes", "float mask for masked_fill", ("nb.ones(2).masked_fill(nb.ones(2), 0.0)",),
        RuntimeError, "only supports boolean masks"),
    Bad("dtypes", "integer condition for where", ("nb.where(nb.tensor([1, 0]), 1.0, 0.0)",),
        TypeError, "boolean tensor"),
    # ------------------------------------------------------------------ devices
    Bad("devices", "unknown device", ("nb.zeros(2, device='tpu')",), ValueError,
        "unknown device 'tpu'"),
    Bad("devices", "malformed CUDA index", ("nb.ones(2).to('cuda:x')",), ValueError,
        "expected 'cpu', 'cuda' or 'cuda:N'"),
    Bad("devices", "a device that is not a string", ("nb.zeros(2, device=5)",), ValueError,
        "unknown device 5"),
    Bad("devices", "CUDA asked for on a machine without a GPU", ("nb.zeros(2, device='cuda')",),
        RuntimeError, "CUDA is not available", needs="no-cuda", numba_ok=True),
    Bad("devices", "moving to CUDA without a GPU", ("nb.ones(2).cuda()",), RuntimeError,
        "CUDA is not available", needs="no-cuda", numba_ok=True),
    Bad("devices", "tensors on two devices in one op", ("nb.ones(2) + nb.ones(2, device='cuda')",),
        RuntimeError, "Expected all tensors to be on the same device", needs="cuda"),
    Bad("devices", "numpy() of a CUDA tensor", ("nb.ones(2, device='cuda').numpy()",), TypeError,
        "can't convert cuda:0 device tensor to numpy", needs="cuda"),
    # ------------------------------------------------------------------ backward
    Bad("backward", "backward of a non-scalar without a gradient", (_W, "(w * 2).backward()"),
        RuntimeError, "grad can be implicitly created only for scalar outputs"),
    Bad("backward", "backward of a tensor outside the graph", ("nb.ones(3).sum().backward()",),
        RuntimeError, "does not require grad and does not have a grad_fn"),
    Bad("backward", "gradient of the wrong shape", (_W, "(w * 2).backward(nb.ones(2))"),
        RuntimeError, "Mismatch in shape: grad_output[0] has a shape of (2,)"),
    Bad("backward", "gradient that is a number", (_W, "(w * 2).sum().backward(1.0)"), TypeError,
        "gradient must be a Tensor or a sequence of Tensors, got float"),
    Bad("backward", "gradient that is a string", (_W, "(w * 2).sum().backward('a')"), TypeError,
        "gradient must be a Tensor or a sequence of Tensors, got str"),
    Bad("backward", "more gradients than outputs", (_W, "(w * 2).backward([1.0, 1.0, 1.0])"),
        RuntimeError, "got 3 gradients for 1 outputs"),
    Bad("backward", "double backward through freed buffers",
        (_W, "y = (w * w).sum()", "y.backward()", "y.backward()"), RuntimeError,
        "backward through the graph a second time"),
    Bad("backward", "second backward of a create_graph gradient",
        (_W, "(g,) = nb.autograd.grad((w ** 3).sum(), w, create_graph=True)",
         "g.sum().backward()", "g.sum().backward()"), RuntimeError,
        "backward through the graph a second time"),
    Bad("backward", "grad with respect to a tensor that does not require grad",
        (_W, "nb.autograd.grad((w * 2).sum(), nb.ones(3))"), RuntimeError,
        "does not require grad"),
    Bad("backward", "grad with respect to an unused tensor",
        (_W, "nb.autograd.grad((w * 2).sum(), nb.ones(3, requires_grad=True))"), RuntimeError,
        "appears to not have been used in the graph"),
    Bad("backward", "grad with respect to a number", (_W, "nb.autograd.grad(w.sum(), [1.0])"),
        TypeError, "input 0 is a float, not a Tensor"),
    Bad("backward", "backward(inputs=[])", (_W, "(w * 2).sum().backward(inputs=[])"),
        RuntimeError, "`inputs` argument to `backward()` cannot be empty"),
    Bad("backward", "requires_grad changed on a non-leaf", (_W, "(w * 2).requires_grad_(False)"),
        RuntimeError, "only change requires_grad flags of leaf variables"),
    Bad("backward", "retain_grad on a tensor without grad", ("nb.ones(3).retain_grad()",),
        RuntimeError, "can't retain_grad on Tensor that has requires_grad=False"),
    Bad("backward", "hook on a tensor without grad", ("nb.ones(3).register_hook(print)",),
        RuntimeError, "doesn't require gradient"),
    Bad("backward", "grad of the wrong shape assigned", (_W, "w.grad = nb.ones(2)"), ValueError,
        "assigned grad has shape (2,) but the tensor has shape (3,)"),
    Bad("backward", "grad of the wrong dtype assigned",
        (_W, "w.grad = nb.ones(3, dtype=nb.float64)"), TypeError,
        "assigned grad has dtype float64"),
    Bad("backward", "numpy() of a tensor that requires grad", (_W, "w.numpy()"), RuntimeError,
        "use tensor.detach().numpy()"),
    Bad("backward", "detach_ of a view", (_W, "w[1:].detach_()"), RuntimeError,
        "Can't detach views in-place"),
    Bad("backward", "item() of several elements", ("nb.ones(2).item()",), RuntimeError,
        "a Tensor with 2 elements cannot be converted to Scalar"),
    Bad("backward", "truth value of several elements", ("bool(nb.ones(2))",), RuntimeError,
        "more than one value is ambiguous"),
    # ------------------------------------------------------------------ in place
    Bad("inplace", "in-place op on a leaf that requires grad", (_W, "w.add_(1)"), RuntimeError,
        "a leaf Variable that requires grad is being used in an in-place operation"),
    Bad("inplace", "augmented assignment on a leaf", (_W, "w += 1"), RuntimeError,
        "a leaf Variable that requires grad"),
    Bad("inplace", "zero_ on a leaf", (_W, "w.zero_()"), RuntimeError,
        "a leaf Variable that requires grad"),
    Bad("inplace", "setitem on a leaf (through a view)", (_W, "w[0] = 5.0"), RuntimeError,
        "a view of a leaf Variable that requires grad"),
    Bad("inplace", "in-place op on a view of a leaf", (_W, "w[1:].mul_(2)"), RuntimeError,
        "a view of a leaf Variable that requires grad"),
    Bad("inplace", "a saved tensor modified before backward",
        (_W, "h = w * 1.0", "y = h.sin()", "_ = h.add_(1)", "y.sum().backward()"), RuntimeError,
        "modified by an inplace operation"),
    Bad("inplace", "a saved output modified before backward (through a view)",
        (_W, "y = w.exp()", "_ = y[0].mul_(2)", "y.sum().backward()"), RuntimeError,
        "is at version 1; expected version 0 instead"),
    Bad("inplace", "a saved tensor modified through a detached alias",
        (_W, "h = w * 1.0", "y = h.sin()", "_ = h.detach().zero_()", "y.sum().backward()"),
        RuntimeError, "modified by an inplace operation"),
    Bad("inplace", "in-place op on an expanded tensor", ("nb.zeros(1).expand(3).add_(1)",),
        RuntimeError, "more than one element refers to a single memory location"),
    Bad("inplace", "setitem into an expanded tensor",
        ("x = nb.zeros(1).expand(3)", "x[0] = 5.0"), RuntimeError, "Please clone() the tensor"),
    Bad("inplace", "in-place op on read-only numpy memory",
        ("a = np.ones(2)", "a.setflags(write=False)", "nb.from_numpy(a).add_(1)"),
        RuntimeError, "read-only"),
    # ------------------------------------------------------------------ modes
    Bad("modes", "set_grad_enabled with a non-bool", ("nb.set_grad_enabled(1)",), TypeError,
        "argument 'enabled' (position 1) must be bool, not int"),
    Bad("modes", "grad_mode with a non-bool", ("nb.grad_mode('no', print)",), TypeError,
        "must be bool, not str"),
    Bad("modes", "inference_mode with a string", ("nb.inference_mode('yes')",), TypeError,
        "can only decorate a callable"),
    Bad("modes", "no_grad decorating a non-callable", ("nb.no_grad()(5)",), TypeError,
        "no_grad can only decorate a callable, not int"),
    Bad("modes", "backward of a result computed under no_grad",
        (_W, "with nb.no_grad():\n    y = (w * 2).sum()", "y.backward()"), RuntimeError,
        "does not require grad"),
    Bad("modes", "_version of an inference tensor",
        ("with nb.inference_mode():\n    x = nb.ones(3)", "x._version"), RuntimeError,
        "Inference tensors do not track version counter"),
    Bad("modes", "requires_grad_ on an inference tensor outside inference mode",
        ("with nb.inference_mode():\n    x = nb.ones(3)", "x.requires_grad_()"), RuntimeError,
        "inference tensor outside InferenceMode is not allowed"),
    Bad("modes", "in-place update of an inference tensor outside inference mode",
        ("with nb.inference_mode():\n    x = nb.ones(3)", "x.add_(1)"), RuntimeError,
        "Inplace update to inference tensor outside InferenceMode"),
    Bad("modes", "inference tensor saved for backward",
        (_W, "with nb.inference_mode():\n    x = nb.ones(3)", "w * x"), RuntimeError,
        "Inference tensors cannot be saved for backward"),
    Bad("modes", "view made under no_grad, modified in place with grad on",
        (_W, "h = w * 1.0", "with nb.no_grad():\n    v = h[1:]", "v.mul_(2)"), RuntimeError,
        "A view was created in no_grad mode and is being modified inplace"),
    Bad("modes", "view made in inference mode, modified in place outside it",
        (_W, "h = w * 1.0", "with nb.inference_mode():\n    v = h[1:]", "v.mul_(2)"),
        RuntimeError, "A view was created in inference mode"),
    Bad("modes", "requires_grad set to a non-bool", ("nb.ones(2, requires_grad='yes')",),
        TypeError, "must be a bool, got str"),
    # ------------------------------------------------------------------ types
    Bad("types", "a list of strings", ("nb.tensor(['a', 'b'])",), TypeError,
        "expected numbers or bools"),
    Bad("types", "a list of None", ("nb.tensor([None])",), TypeError,
        "expected numbers or bools"),
    Bad("types", "None", ("nb.tensor(None)",), TypeError, "could not convert NoneType"),
    Bad("types", "a dict", ("nb.tensor({'a': 1})",), TypeError, "expected numbers or bools"),
    Bad("types", "a string", ("nb.tensor('abc')",), TypeError, "could not convert str"),
    Bad("types", "an arbitrary object", ("nb.tensor(object())",), TypeError,
        "expected numbers or bools"),
    Bad("types", "ragged nested lists", ("nb.tensor([[1, 2], [3]])",), ValueError,
        "ragged nested sequences"),
    Bad("types", "an integer beyond int64", ("nb.tensor(2 ** 63)",), RuntimeError,
        "Overflow when unpacking long"),
    Bad("types", "a dtype that is not a dtype", ("nb.tensor([1.0], dtype=str)",), TypeError,
        "unsupported dtype"),
    Bad("types", "a string operand", ("nb.ones(2) + 'a'",), TypeError,
        "expected a Tensor or a Python number, got str"),
    Bad("types", "None as an operand", ("nb.ones(2) * None",), TypeError,
        "expected a Tensor or a Python number, got NoneType"),
    Bad("types", "a list as an operand", ("nb.ones(2) + [1.0, 2.0]",), TypeError,
        "got list"),
    Bad("types", "a dict as an operand", ("nb.ones(2) * {'a': 1}",), TypeError, "got dict"),
    Bad("types", "a comparison with a string", ("nb.ones(2) == 'a'",), TypeError, "got str"),
    Bad("types", "a list as a matmul operand", ("nb.ones(2) @ [1.0, 2.0]",), TypeError,
        "expected two Tensors"),
    Bad("types", "a list passed to a function", ("nb.exp([1.0, 2.0])",), TypeError,
        "argument 'input' must be a Tensor, not list"),
    Bad("types", "a string as a size", ("nb.zeros('3')",), TypeError,
        "shape entries must be integers, got str"),
    Bad("types", "a float as a size", ("nb.zeros(2.5)",), TypeError,
        "shape entries must be integers, got float"),
    Bad("types", "None as a shape", ("nb.ones(2).reshape(None)",), TypeError,
        "shape entries must be integers, got NoneType"),
    Bad("types", "a string as a dim", ("nb.ones(2, 3).sum(dim='a')",), TypeError,
        "dim must be an int or a tuple of ints, got str"),
    Bad("types", "a float as a dim", ("nb.ones(2, 3).transpose(0, 1.0)",), TypeError,
        "dim must be an int, got float"),
    Bad("types", "a string as an index", ("nb.ones(2, 3)['a']",), IndexError,
        "are valid indices (got str)"),
    Bad("types", "a list of strings as an index", ("nb.ones(2, 3)[[0, 'a']]",), IndexError,
        "index arrays must be integers or bools"),
    Bad("types", "a string as an in-place operand", ("nb.ones(2).add_('a')",), TypeError,
        "got str"),
    Bad("types", "None as a fill value", ("nb.ones(2).fill_(None)",), TypeError,
        "value must be a number or a 0-dim Tensor, got NoneType"),
    Bad("types", "a string as a fill value", ("nb.full((2,), 'a')",), TypeError,
        "fill_value must be a number, got str"),
    Bad("types", "a list as a copy source", ("nb.ones(2).copy_([1.0, 2.0])",), TypeError,
        "expected a Tensor or a number, got list"),
    Bad("types", "None assigned into a tensor", ("x = nb.ones(2)", "x[0] = None"), TypeError,
        "could not convert NoneType"),
    Bad("types", "a list as a where condition", ("nb.where([True, False], 1.0, 0.0)",),
        TypeError, "condition to be a boolean tensor, but got list"),
    Bad("types", "a non-tensor in cat", ("nb.cat([nb.ones(2), [1.0]])",), TypeError,
        "expected Tensors, got list at entry 1"),
    Bad("types", "one tensor instead of a list in cat", ("nb.cat(nb.ones(2))",), TypeError,
        "got a single Tensor"),
    Bad("types", "a list as a gather index", ("nb.ones(2, 3).gather(1, [[0]])",), TypeError,
        "index must be a Tensor, got list"),
    Bad("types", "from_numpy of a list", ("nb.from_numpy([1, 2])",), TypeError,
        "expects a numpy.ndarray, got list"),
    Bad("types", "a grad that is not a tensor", (_W, "w.grad = [1.0, 2.0, 3.0]"), TypeError,
        "assigned grad must be a Tensor or None, got list"),
    Bad("types", "a string seed", ("nb.manual_seed('a')",), TypeError,
        "manual_seed expects an int, got str"),
    Bad("types", "a value passed as requires_grad_", ("nb.ones(2).requires_grad_('yes')",),
        TypeError, "mode must be a bool, got str"),
    # ------------------------------------------------------------------ sizes
    Bad("sizes", "a negative size", ("nb.zeros(-1)",), ValueError,
        "negative dimensions are not allowed"),
    Bad("sizes", "a negative size among others", ("nb.randn(2, -3)",), ValueError,
        "negative dimensions are not allowed"),
    Bad("sizes", "more memory than exists", ("nb.zeros(10 ** 14)",), MemoryError,
        "Unable to allocate"),
    Bad("sizes", "a huge 2-d tensor", ("nb.ones(10 ** 7, 10 ** 7)",), MemoryError,
        "Unable to allocate"),
    Bad("sizes", "a huge expanded view, copied", ("nb.ones(1).expand(10 ** 14).clone()",),
        MemoryError, "Unable to allocate"),
    Bad("sizes", "a huge range", ("nb.arange(10 ** 14)",), MemoryError, "Unable to allocate"),
    Bad("sizes", "a size beyond int64", ("nb.zeros(2 ** 63)",), ValueError,
        "Maximum allowed dimension exceeded"),
    Bad("sizes", "more than 64 dimensions", ("nb.zeros(*[1] * 65)",), ValueError,
        "maximum supported dimension"),
    Bad("sizes", "expanding a size that is not 1 to a huge one", ("nb.ones(2).expand(10 ** 12)",),
        RuntimeError, "must match the existing size 2"),
    Bad("sizes", "a negative number of samples", ("nb.linspace(0, 1, -1)",), ValueError,
        "must be non-negative"),
    Bad("sizes", "a zero step", ("nb.arange(0, 10, 0)",), RuntimeError, "step must be nonzero"),
    Bad("sizes", "randint with an empty range", ("nb.randint(5, 2, (3,))",), RuntimeError,
        "low (5) must be less than high (2)"),
    # ------------------------------------------------------------------ empty
    Bad("empty", "max of nothing", ("nb.zeros(0).max()",), RuntimeError,
        "Expected reduction dim to be specified for input.numel() == 0"),
    Bad("empty", "argmax of nothing", ("nb.zeros(0).argmax()",), RuntimeError,
        "Expected reduction dim to be specified"),
    Bad("empty", "max over an empty dim", ("nb.zeros(2, 0).max(dim=1)",), IndexError,
        "Expected reduction dim 1 to have non-zero size"),
    Bad("empty", "max over the empty dim of a 1-d tensor", ("nb.zeros(0).max(dim=0)",),
        IndexError, "Expected reduction dim 0 to have non-zero size"),
    Bad("empty", "item() of nothing", ("nb.zeros(0).item()",), RuntimeError,
        "a Tensor with 0 elements cannot be converted to Scalar"),
    Bad("empty", "index into nothing", ("nb.zeros(0)[0]",), IndexError,
        "index 0 is out of bounds for axis 0 with size 0"),
    Bad("empty", "cat of no tensors", ("nb.cat([])",), RuntimeError,
        "expected a non-empty list of Tensors"),
    Bad("empty", "stack of no tensors", ("nb.stack([])",), RuntimeError,
        "expected a non-empty list of Tensors"),
    Quiet("empty", "sum of nothing", ("nb.zeros(0).sum()",), "tensor(0.)"),
    Quiet("empty", "mean of nothing", ("nb.zeros(0).mean()",), "tensor(nan)"),
    Quiet("empty", "product of nothing", ("nb.zeros(0).prod()",), "tensor(1.)"),
    Quiet("empty", "logsumexp of nothing", ("nb.zeros(2, 0).logsumexp(dim=1)",),
          "tensor([-inf, -inf])"),
    Quiet("empty", "matmul with an empty dim", ("nb.zeros(0, 3) @ nb.zeros(3, 2)",),
          "tensor([], size=(0, 2))"),
    Quiet("empty", "backward through an empty tensor",
          ("x = nb.zeros(0, 3, requires_grad=True)", "(x @ x.t()).sum().backward()", "x.grad"),
          "tensor([], size=(0, 3))"),
    Quiet("empty", "softmax over an empty dim", ("nb.nn.functional.softmax(nb.zeros(2, 0), 1)",),
          "tensor([], size=(2, 0))"),
    # ------------------------------------------------------------------ nan
    Quiet("nan", "NaN in a sum", ("nb.tensor([1.0, math.nan]).sum()",), "tensor(nan)"),
    Quiet("nan", "NaN in a max", ("nb.tensor([1.0, math.nan]).max()",), "tensor(nan)"),
    Quiet("nan", "NaN in a min", ("nb.tensor([math.nan, 1.0]).min()",), "tensor(nan)"),
    Quiet("nan", "NaN in a max over a dim", ("nb.tensor([[1.0, math.nan]]).amax(dim=1)",),
          "tensor([nan])"),
    Quiet("nan", "argmax points at the NaN", ("nb.tensor([1.0, math.nan, 3.0]).argmax()",),
          "tensor(1)"),
    Quiet("nan", "NaN in a mean", ("nb.tensor([1.0, math.nan]).mean()",), "tensor(nan)"),
    Quiet("nan", "NaN in logsumexp", ("nb.tensor([1.0, math.nan]).logsumexp(0)",),
          "tensor(nan)"),
    Quiet("nan", "NaN through relu", ("nb.tensor([1.0, math.nan]).relu()",),
          "tensor([1., nan])"),
    Quiet("nan", "NaN through clamp", ("nb.tensor([1.0, math.nan]).clamp(0, 0.5)",),
          "tensor([0.5000,    nan])"),
    Quiet("nan", "NaN in maximum / minimum (either side)",
          ("nb.maximum(nb.tensor([1.0, math.nan]), nb.tensor([math.nan, 2.0]))",),
          "tensor([nan, nan])"),
    Quiet("nan", "NaN compares unequal to itself",
          ("nb.tensor([math.nan, 1.0]) == nb.tensor([math.nan, 1.0])",),
          "tensor([False,  True])"),
    Quiet("nan", "sign of NaN is 0, as in PyTorch (numpy gives nan)",
          ("nb.tensor([math.nan]).sign()",), "tensor([0.])"),
    Quiet("nan", "sqrt and log outside their domain", ("nb.tensor([-1.0, 0.0]).log()",),
          "tensor([nan, -inf])"),
    Quiet("nan", "division by zero", ("nb.tensor([0.0, 1.0, -1.0]) / 0",),
          "tensor([nan, inf, -inf])"),
    Quiet("nan", "inf minus inf", ("nb.tensor([math.inf]) - math.inf",), "tensor([nan])"),
    Quiet("nan", "logsumexp with inf", ("nb.tensor([math.inf, 1.0]).logsumexp(0)",),
          "tensor(inf)"),
    Quiet("nan", "float32 overflow", ("nb.tensor([3e38]) * 10",), "tensor([inf])"),
    Quiet("nan", "gradient of sqrt at 0 is inf",
          ("x = nb.tensor([0.0, 1.0], requires_grad=True)", "x.sqrt().sum().backward()",
           "x.grad"), "tensor([   inf, 0.5000])"),
    Quiet("nan", "inf times 0 in a gradient is nan",
          ("x = nb.tensor([0.0, 1.0], requires_grad=True)", "(x.sqrt() * 0).sum().backward()",
           "x.grad"), "tensor([nan, 0.])"),
    Bad("nan", "detect_anomaly turns a NaN gradient into an error",
        ("x = nb.tensor([0.0, 1.0], requires_grad=True)",
         "with nb.autograd.detect_anomaly():\n    (x.sqrt() * 0).sum().backward()"),
        RuntimeError, "Function 'SqrtBackward0' returned nan values in its 0th output"),
    # ------------------------------------------------------------------ files
    Bad("files", "a file that does not exist", ("nb.load(os.path.join(tmp, 'missing.nbz'))",),
        FileNotFoundError, "nb.load: no such file"),
    Bad("files", "an empty file", ("nb.load(write('empty.nbz', b''))",), RuntimeError,
        "is not a valid nbgrad file (unreadable: No data left in file)"),
    Bad("files", "random bytes", ("nb.load(write('junk.nbz', bytes(range(64))))",),
        RuntimeError, "is not a valid nbgrad file (not an .npz archive"),
    Bad("files", "a text file", ("nb.load(write('text.nbz', b'hello world'))",), RuntimeError,
        "is not a valid nbgrad file"),
    Bad("files", "a pickle", ("import pickle", "nb.load(write('p.nbz', pickle.dumps({'a': 1})))"),
        RuntimeError, "is not a valid nbgrad file"),
    Bad("files", "a truncated archive",
        ("data = pathlib.Path(saved).read_bytes()",
         "nb.load(write('cut.nbz', data[: len(data) // 2]))"),
        RuntimeError, "(unreadable: File is not a zip file)"),
    Bad("files", "an .npz archive without the manifest",
        ("nb.load(write('plain.nbz', npz(a=np.ones(2))))",), RuntimeError,
        "no nbgrad manifest; was it written by nb.save?"),
    Bad("files", "a single .npy array",
        ("buf = io.BytesIO()", "np.save(buf, np.ones(2))",
         "nb.load(write('one.nbz', buf.getvalue()))"), RuntimeError,
        "a single .npy array, not an .npz archive"),
    Bad("files", "a manifest that is not JSON",
        ("junk = np.frombuffer(b'{not json', dtype=np.uint8)",
         "nb.load(write('json.nbz', npz(__nbgrad__=junk)))"), RuntimeError,
        "unreadable manifest"),
    Bad("files", "a manifest of another format",
        ("nb.load(write('fmt.nbz', npz(__nbgrad__=manifest(None, format='x'))))",),
        RuntimeError, "unknown manifest format"),
    Bad("files", "a manifest of a future version",
        ("nb.load(write('v.nbz', npz(__nbgrad__=manifest(None, version=99))))",), RuntimeError,
        "unsupported format version 99"),
    Bad("files", "an array named in the manifest but missing",
        ("root = {'kind': 'tensor', 'key': 't0'}",
         "nb.load(write('miss.nbz', npz(__nbgrad__=manifest(root))))"), RuntimeError,
        "array 't0' named in the manifest is missing"),
    Bad("files", "an entry of an unknown kind (e.g. code)",
        ("root = {'kind': 'code', 'value': 'import os'}",
         "nb.load(write('kind.nbz', npz(__nbgrad__=manifest(root))))"), RuntimeError,
        "unknown entry kind 'code'"),
    Bad("files", "an object array (pickled data)",
        ("root = {'kind': 'tensor', 'key': 't0'}", "obj = np.array([None, 1], dtype=object)",
         "nb.load(write('obj.nbz', npz(__nbgrad__=manifest(root), t0=obj)))"), RuntimeError,
        "Object arrays cannot be loaded when allow_pickle=False"),
    Bad("files", "an array of strings",
        ("root = {'kind': 'tensor', 'key': 't0'}",
         "nb.load(write('str.nbz', npz(__nbgrad__=manifest(root), t0=np.array(['a']))))"),
        RuntimeError, "unsupported array"),
    Bad("files", "a value of the wrong type",
        ("nb.load(write('int.nbz', npz(__nbgrad__=manifest({'kind': 'int', 'value': 'x'}))))",),
        RuntimeError, "bad int value"),
    Bad("files", "a manifest nested 100 000 levels deep",
        ("text = '{\"format\": \"nbgrad-state\", \"version\": 1, \"root\": ' + "
         "'{\"kind\": \"list\", \"items\": [' * 10 ** 5 + ']}' * 10 ** 5 + '}'",
         "deep = np.frombuffer(text.encode(), dtype=np.uint8)",
         "nb.load(write('deep.nbz', npz(__nbgrad__=deep)))"), RuntimeError,
        "is not a valid nbgrad file (manifest nested too deeply)"),
    Bad("files", "asking to unpickle", ("nb.load(saved, weights_only=False)",), ValueError,
        "nb.load never unpickles"),
    Bad("files", "a path that is not a path", ("nb.load(12)",), TypeError,
        "expected str, bytes or os.PathLike object, not int"),
    Bad("files", "saving an object that is not data",
        ("nb.save({'f': print}, os.path.join(tmp, 'f.nbz'))",), RuntimeError,
        "cannot save an object of type builtin_function_or_method at obj['f']"),
    # ------------------------------------------------------------------ nn, optim, data
    Bad("nn", "input that does not fit a Linear layer", ("nb.nn.Linear(3, 2)(nb.ones(4, 5))",),
        ValueError, "input of shape (4, 5) does not fit weight of shape (2, 3)"),
    Bad("nn", "a string into a layer", ("nb.nn.Linear(3, 2)('a')",), TypeError,
        "must be a Tensor, not str"),
    Bad("nn", "cross_entropy target of the wrong length",
        ("nb.nn.functional.cross_entropy(nb.ones(4, 3), nb.tensor([0, 1, 2]))",), ValueError,
        "got input (4, 3) and target (3,)"),
    Bad("nn", "cross_entropy class index out of range",
        ("nb.nn.functional.cross_entropy(nb.ones(4, 3), nb.tensor([0, 1, 2, 3]))",),
        IndexError, "Target 3 is out of bounds"),
    Bad("nn", "embedding index out of range",
        ("nb.nn.functional.embedding(nb.tensor([5]), nb.ones(3, 2))",), IndexError,
        "index 5 is out of range for 3 embeddings"),
    Bad("nn", "embedding with float indices",
        ("nb.nn.functional.embedding(nb.tensor([0.5]), nb.ones(3, 2))",), TypeError,
        "indices must be an integer tensor"),
    Bad("nn", "layer_norm of the wrong trailing shape", ("nb.nn.LayerNorm(3)(nb.ones(2, 4))",),
        RuntimeError, "expected input with shape [*, 3]"),
    Bad("nn", "dropout probability above 1", ("nb.nn.functional.dropout(nb.ones(2), p=1.5)",),
        ValueError, "dropout probability has to be between 0 and 1"),
    Bad("nn", "one_hot class beyond num_classes", ("nb.nn.functional.one_hot(nb.tensor([3]), 3)",),
        RuntimeError, "Class values must be smaller than num_classes"),
    Bad("nn", "binary_cross_entropy input outside [0, 1]",
        ("nb.nn.functional.binary_cross_entropy(nb.tensor([2.0]), nb.tensor([1.0]))",),
        RuntimeError, "all elements of input should be between 0 and 1"),
    Bad("nn", "a state dict of the wrong shapes",
        ("m = nb.nn.Linear(2, 2)", "m.load_state_dict({'weight': nb.ones(3, 3), "
         "'bias': nb.ones(2)})"), RuntimeError, "size mismatch for weight"),
    Bad("nn", "a state dict with a key missing",
        ("nb.nn.Linear(2, 2).load_state_dict({'weight': nb.ones(2, 2)})",), RuntimeError,
        'Missing key(s) in state_dict: "bias"'),
    Bad("nn", "a state dict holding a string",
        ("nb.nn.Linear(2, 2).load_state_dict({'weight': 'a', 'bias': nb.ones(2)})",),
        RuntimeError, "expected a Tensor from checkpoint but received str"),
    Bad("nn", "a Parameter of integers", ("nb.nn.Parameter(nb.tensor([1, 2]))",), RuntimeError,
        "only Tensors of floating point dtype can require gradients"),
    Bad("nn", "a negative learning rate", (_W, "nb.optim.SGD([w], lr=-1)"), ValueError,
        "Invalid learning rate: -1"),
    Bad("nn", "no parameters", ("nb.optim.SGD([], lr=0.1)",), ValueError,
        "optimizer got an empty parameter list"),
    Bad("nn", "a tensor instead of a list of parameters", (_W, "nb.optim.SGD(w, lr=0.1)"),
        TypeError, "should be an iterable of Tensors or dicts, but got Tensor"),
    Bad("nn", "a non-leaf parameter", (_W, "nb.optim.SGD([w * 2], lr=0.1)"), ValueError,
        "can't optimize a non-leaf Tensor"),
    Bad("nn", "Adam beta above 1", (_W, "nb.optim.Adam([w], betas=(1.5, 0.9))"), ValueError,
        "Invalid beta parameter at index 0: 1.5"),
    Bad("nn", "a dataset of tensors of different lengths",
        ("nb.utils.data.TensorDataset(nb.ones(3), nb.ones(4))",), ValueError,
        "Size mismatch between tensors"),
    Bad("nn", "a zero batch size", ("nb.utils.data.DataLoader([1, 2], batch_size=0)",),
        ValueError, "batch_size should be a positive integer value"),
]


# ======================================================================================
# running a row
# ======================================================================================


def _cuda_available() -> bool:
    import nbgrad as nb

    return nb.cuda.is_available()


def _namespace() -> dict:
    ns: dict = {}
    exec(SETUP, ns)  # noqa: S102 - the table's own code
    return ns


def _run(case, ns: dict):
    """Execute the row's statements in ``ns``; return the value of the last one."""
    *setup, last = case.code
    for stmt in setup:
        try:
            code = compile(stmt, "<setup>", "eval")
        except SyntaxError:
            exec(stmt, ns)  # noqa: S102
            continue
        value = eval(code, ns)  # noqa: S307
        # a value would be printed by the docs page's doctest: assign it to _ instead
        assert value is None, f"setup statement {stmt!r} has a value"
    try:
        code = compile(last, "<case>", "eval")
    except SyntaxError:
        exec(last, ns)  # noqa: S102 - a statement (with, assignment)
        return None
    return eval(code, ns)  # noqa: S307


def _numba_in_chain(exc: BaseException) -> list:
    found, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(c.__module__.startswith("numba") for c in type(exc).__mro__):
            found.append(type(exc))
        exc = exc.__cause__ or exc.__context__
    return found


def _skip_reason(case) -> str | None:
    if case.needs == "cuda" and not _cuda_available():
        return "needs a CUDA device"
    if case.needs == "no-cuda" and _cuda_available():
        return "only meaningful without a CUDA device"
    return None


def _params(kind):
    out = []
    for n, case in enumerate(CASES):
        if not isinstance(case, kind):
            continue
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        slug = re.sub(r"[^a-z0-9]+", "_", case.what.lower()).strip("_")[:50]
        out.append(pytest.param(case, marks=marks, id=f"{case.section}-{n}-{slug}"))
    return out


@pytest.fixture
def namespace():
    ns = _namespace()
    yield ns
    shutil.rmtree(ns["tmp"], ignore_errors=True)


@pytest.mark.parametrize("case", _params(Bad))
def test_bad_input_raises_a_clear_error(case, namespace):
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    with pytest.raises(case.exc) as info:
        _run(case, namespace)
    message = str(info.value)
    assert case.phrase.lower() in message.lower(), f"{case.phrase!r} not in {message!r}"
    if not case.numba_ok:
        assert "numba" not in message.lower(), message
    assert not _numba_in_chain(info.value), _numba_in_chain(info.value)


@pytest.mark.parametrize("case", _params(Quiet))
def test_quiet_input_gives_the_defined_value(case, namespace):
    reason = _skip_reason(case)
    if reason:
        pytest.skip(reason)
    assert repr(_run(case, namespace)) == case.expected


def test_every_section_has_rows_and_rows_are_unique():
    assert {c.section for c in CASES} == set(SECTIONS)
    codes = [c.code for c in CASES]
    assert len(codes) == len(set(codes))


# ======================================================================================
# the docs page, generated from the table
# ======================================================================================


def _exception_text(exc: BaseException, tmp: str) -> str:
    """What doctest compares: the last line of ``format_exception_only``; the temp dir and
    anything after the first line of a multi-line message are elided with ``...``."""
    text = traceback.format_exception_only(type(exc), exc)[-1].rstrip("\n")
    text = text.replace(repr(tmp)[1:-1], "...")
    first, _, rest = text.partition("\n")
    return first.rstrip(".") + "..." if rest else first


def _observe(case) -> str:
    """The exact outcome of a row as doctest output lines (run in a fresh namespace)."""
    ns = _namespace()
    try:
        value = _run(case, ns)
    except BaseException as exc:  # noqa: BLE001 - that is what is documented
        return "Traceback (most recent call last):\n    ...\n" + _exception_text(exc, ns["tmp"])
    finally:
        shutil.rmtree(ns["tmp"], ignore_errors=True)
    return "" if value is None else repr(value)


def _type_name(case, observed: str) -> str:
    if isinstance(case, Quiet):
        return "no error"
    actual = observed.rsplit("\n", 1)[-1].split(":", 1)[0].rsplit(".", 1)[-1]
    return f"`{actual}`" + ("" if actual == case.exc.__name__ else f" (a `{case.exc.__name__}`)")


def render_doc() -> str:
    """The docs page: per section a table (input, error, guaranteed phrase) and the examples
    with their exact messages as doctests."""
    out = [
        "# Bad inputs: what nbgrad answers",
        "",
        "Every kind of bad input tried against nbgrad, with the error it gets. nbgrad checks its "
        "inputs before any kernel runs: a bad input never reaches Numba (so you never see a Numba "
        "typing traceback), never crashes the interpreter, and never gives a silently wrong "
        "value. Errors follow PyTorch's types and wording wherever PyTorch has the same "
        "situation; autograd errors are `RuntimeError` subclasses from `nbgrad.errors`.",
        "",
        "The *phrase* column is what nbgrad guarantees (tests check it, case-insensitively); "
        "the examples show the full message of this version. This page is generated from the "
        "table in `tests/test_bad_inputs.py` (`python tests/test_bad_inputs.py --write-doc`), "
        "and every example below runs as a doctest (except the few that depend on whether the "
        "machine has a GPU: those are shown, and run by the tests on the right machine).",
        "",
        "The examples share this setup (`write`, `npz` and `manifest` build files for the "
        "corrupt-file section):",
        "",
        "```python",
        *_doctest_lines_block(SETUP),
        "",
        "```",
    ]
    gaps = [c for c in CASES if c.xfail]
    for key, (title, intro) in SECTIONS.items():
        rows = [c for c in CASES if c.section == key and not c.xfail]
        observed = [_observe(c) if c.needs is None else None for c in rows]
        out += ["", f"## {title}", "", intro, "", "| input | code | error | phrase |",
                "| --- | --- | --- | --- |"]
        for c, obs in zip(rows, observed):
            code = " ; ".join(s.replace("\n", " ").replace("    ", "") for s in c.code)
            code = code.replace("|", "\\|")
            if isinstance(c, Quiet):
                err, phrase = "no error", f"`{c.expected}`"
            else:
                err = _type_name(c, obs) if c.needs is None else f"`{c.exc.__name__}`"
                phrase = c.phrase.replace("|", "\\|")
            out.append(f"| {c.what} | `{code}` | {err} | {phrase} |")
        out += ["", "```python"]
        for c, obs in zip(rows, observed):
            out.append(f">>> # {c.what}")
            if c.needs is None:
                out += _doctest_lines_block("\n".join(c.code))
                if obs:
                    out.append(obs)
                continue
            # depends on the machine (GPU or not): shown, not run; the test above runs it
            for line in _doctest_lines_block("\n".join(c.code)):
                out.append(line + ("  # doctest: +SKIP" if line.startswith(">>>") else ""))
            note = "with a GPU" if c.needs == "cuda" else "without a GPU"
            out.append(f"Traceback (most recent call last):\n    ...\n{c.exc.__name__}: "
                       f"...{c.phrase}... ({note})")
        out += ["", "```"]
    if gaps:
        out += ["", "## Known gaps", "",
                "Bad inputs that do not get the right answer yet (bugs in modules still under "
                "development). Each is a strict `xfail` row of the table: its test starts "
                "failing the moment the bug is fixed, so the row is then moved up.", "",
                "| input | code | expected | current problem |", "| --- | --- | --- | --- |"]
        for c in gaps:
            expected = c.expected if isinstance(c, Quiet) else f"{c.exc.__name__}: {c.phrase}"
            code = " ; ".join(c.code).replace("|", "\\|")
            out.append(f"| {c.what} | `{code}` | `{expected}` | {c.xfail} |")
    return "\n".join(out) + "\n"


def _doctest_lines_block(code: str) -> list:
    """Doctest source lines for a block of statements (compound statements continue with
    ``...``)."""
    lines = []
    for line in code.splitlines():
        cont = line.startswith((" ", "\t"))
        lines.append(("... " if cont else ">>> ") + line)
    return lines


def test_the_docs_page_matches_the_table():
    with open(DOC, encoding="utf-8") as f:
        current = f.read()
    assert current == render_doc(), (
        "docs/bad_inputs.md is out of date with the table in tests/test_bad_inputs.py (or an "
        "error message changed): regenerate it with `python tests/test_bad_inputs.py "
        "--write-doc` and review the diff"
    )


# ======================================================================================
# no row crashes the interpreter
# ======================================================================================


def _run_all_rows() -> int:
    """Run every row in this process, printing each id first (a crash names its row)."""
    for n, case in enumerate(CASES):
        if _skip_reason(case):
            continue
        print(f"row {n}: {case.what}", flush=True)
        ns = _namespace()
        try:
            _run(case, ns)
        except BaseException:  # noqa: BLE001, S110 - only a crash matters here
            pass
        finally:
            shutil.rmtree(ns["tmp"], ignore_errors=True)
    print("all rows done", flush=True)
    return 0


def test_no_row_crashes_the_interpreter():
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", os.path.abspath(__file__), "--run-all"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    last = proc.stdout.strip().splitlines()[-1:] or ["(nothing)"]
    assert proc.returncode == 0, (
        f"the interpreter died (rc {proc.returncode}) after {last[0]}:\n{proc.stderr[-2000:]}"
    )
    assert last == ["all rows done"]


if __name__ == "__main__":
    if "--run-all" in sys.argv:
        sys.exit(_run_all_rows())
    if "--write-doc" in sys.argv:
        with open(DOC, "w", encoding="utf-8") as f:
            f.write(render_doc())
        print(f"wrote {DOC}")
    else:
        print(__doc__)
