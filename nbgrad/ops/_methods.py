"""Attach the ops to ``Tensor`` as methods and operators: the one table of Tensor methods."""

from __future__ import annotations

from nbgrad import _dtype
from nbgrad._device import as_device
from nbgrad.ops import elementwise as ew
from nbgrad.ops import indexing, join, linalg, reduce, shape
from nbgrad.tensor import Tensor, parse_to_args


def _to(self: Tensor, *args, **kwargs) -> Tensor:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``.

    >>> import nbgrad as nb
    >>> x = nb.tensor([1, 2])
    >>> x.to(nb.float64)
    tensor([1., 2.], dtype=nbgrad.float64)
    >>> x.to("cpu", nb.float32), x.to(nb.zeros(1, dtype=nb.float64)).dtype
    (tensor([1., 2.]), nbgrad.float64)
    """
    device, dtype = parse_to_args(args, kwargs)
    out = self
    if dtype is not None:
        out = shape.to_dtype(out, dtype)
    if device is not None and as_device(device) != out.device:
        from nbgrad.ops.device import to_device

        out = to_device(out, as_device(device))
    return out


def _add(self, other, *, alpha=1):
    """``self + alpha * other``.

    >>> import nbgrad as nb
    >>> nb.tensor([1.0, 2.0]).add(nb.tensor([10.0, 20.0]), alpha=2)
    tensor([21., 42.])
    """
    return ew.binary("add")(self, other if alpha == 1 else other * alpha)


def _sub(self, other, *, alpha=1):
    """``self - alpha * other``.

    >>> import nbgrad as nb
    >>> nb.tensor([1.0, 2.0]).sub(1.0, alpha=0.5)
    tensor([0.5000, 1.5000])
    """
    return ew.binary("sub")(self, other if alpha == 1 else other * alpha)


def _T(self):
    """The tensor with its dimensions reversed.

    >>> import nbgrad as nb
    >>> nb.tensor([[1, 2, 3]]).T
    tensor([[1],
            [2],
            [3]])
    >>> nb.zeros(2, 3, 4).T.shape
    (4, 3, 2)
    """
    return shape.t(self) if self.ndim <= 2 else shape.permute(self, *reversed(range(self.ndim)))


def _mT(self):
    """Transpose of the last two dims.

    >>> import nbgrad as nb
    >>> nb.zeros(5, 2, 3).mT.shape
    (5, 3, 2)
    """
    return shape.transpose(self, -2, -1)


def _where(self, condition, other):
    """``self`` where ``condition`` is true, else ``other`` (as ``nb.where``).

    >>> import nbgrad as nb
    >>> x = nb.tensor([1.0, -2.0])
    >>> x.where(x > 0, 0.0)
    tensor([1., 0.])
    """
    return ew.where(condition, self, other)


def _iop(name):
    method = ew.inplace(name)

    def fn(self, other):
        return method(self, other)

    fn.__name__ = f"__i{name}__"
    return fn


METHODS = {
    # arithmetic and comparisons
    "__add__": ew.binary("add"), "__radd__": ew.binary("add", reflected=True),
    "__sub__": ew.binary("sub"), "__rsub__": ew.binary("sub", reflected=True),
    "__mul__": ew.binary("mul"), "__rmul__": ew.binary("mul", reflected=True),
    "__truediv__": ew.binary("div"), "__rtruediv__": ew.binary("div", reflected=True),
    "__pow__": ew.binary("pow"), "__rpow__": ew.binary("pow", reflected=True),
    "__matmul__": linalg.matmul,
    "__neg__": ew.unary("neg"), "__abs__": ew.unary("abs"),
    "__eq__": ew.binary("eq"), "__ne__": ew.binary("ne"),
    "__lt__": ew.binary("lt"), "__le__": ew.binary("le"),
    "__gt__": ew.binary("gt"), "__ge__": ew.binary("ge"),
    "__iadd__": _iop("add"), "__isub__": _iop("sub"), "__imul__": _iop("mul"),
    "__itruediv__": _iop("div"), "__ipow__": _iop("pow"),
    "add": _add, "sub": _sub, "mul": ew.binary("mul"), "div": ew.binary("div"),
    "pow": ew.binary("pow"), "matmul": linalg.matmul,
    "eq": ew.binary("eq"), "ne": ew.binary("ne"), "lt": ew.binary("lt"),
    "le": ew.binary("le"), "gt": ew.binary("gt"), "ge": ew.binary("ge"),
    "__floordiv__": ew.binary("floor_divide"),
    "__rfloordiv__": ew.binary("floor_divide", reflected=True),
    "__mod__": ew.binary("remainder"), "__rmod__": ew.binary("remainder", reflected=True),
    "__ifloordiv__": _iop("floor_divide"), "__imod__": _iop("remainder"),
    "floor_divide": ew.binary("floor_divide"), "remainder": ew.binary("remainder"),
    "maximum": ew.binary("maximum"), "minimum": ew.binary("minimum"),
    "atan2": ew.binary("atan2"), "arctan2": ew.binary("atan2"),
    "clamp_min": ew.binary("clamp_min"), "clamp_max": ew.binary("clamp_max"),
    "clamp": ew.clamp, "clip": ew.clamp, "clamp_": ew.clamp_, "clip_": ew.clamp_,
    "where": _where,
    # reductions
    "sum": reduce.sum, "mean": reduce.mean,
    "prod": reduce.prod, "var": reduce.var, "std": reduce.std, "amax": reduce.amax,
    "amin": reduce.amin, "max": reduce.max, "min": reduce.min, "argmax": reduce.argmax,
    "argmin": reduce.argmin, "logsumexp": reduce.logsumexp, "norm": reduce.norm,
    # linear algebra
    "mm": linalg.mm, "bmm": linalg.bmm, "dot": linalg.dot, "outer": linalg.outer,
    # copying ops and splits
    "gather": indexing.gather, "scatter_add": indexing.scatter_add,
    "scatter_add_": indexing.scatter_add_, "index_select": indexing.index_select,
    "masked_fill": indexing.masked_fill, "masked_fill_": indexing.masked_fill_,
    "take_along_dim": indexing.take_along_dim, "repeat": join.repeat, "flip": join.flip,
    "tril": join.tril, "triu": join.triu, "split": join.split, "chunk": join.chunk,
    "unbind": join.unbind,
    # shape and views
    "view": shape.view, "reshape": shape.reshape, "flatten": shape.flatten,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "permute": shape.permute,
    "transpose": shape.transpose, "t": shape.t, "expand": shape.expand,
    "expand_as": shape.expand_as, "narrow": shape.narrow, "contiguous": shape.contiguous,
    "clone": shape.clone, "__getitem__": shape.getitem, "__setitem__": shape.setitem,
    "T": property(_T), "mT": property(_mT),
    # in place
    "copy_": shape.copy_, "fill_": shape.fill_, "zero_": shape.zero_,
    # conversions
    "to": _to,
    "float": lambda self: shape.to_dtype(self, _dtype.float32),
    "double": lambda self: shape.to_dtype(self, _dtype.float64),
    "int": lambda self: shape.to_dtype(self, _dtype.int32),
    "long": lambda self: shape.to_dtype(self, _dtype.int64),
    "bool": lambda self: shape.to_dtype(self, _dtype.bool_),
    "cpu": lambda self: _to(self, "cpu"),
    "cuda": lambda self, device="cuda": _to(self, device),
}
for _name in ew.UNARY:
    METHODS.setdefault(_name, ew.unary(_name))
for _name in (*ew.UNARY, *ew.BINARY):
    METHODS[_name + "_"] = ew.inplace(_name)

_LAMBDA_DOCS = {  # docstrings of the one-line methods above
    "where": "``self`` where ``condition`` holds, else ``other`` (``nb.where(condition, self, "
             "other)``).",
    "float": """``self`` as float32 (itself when it already is).

>>> import nbgrad as nb
>>> nb.tensor([1, 2]).float()
tensor([1., 2.])
""",
    "double": """``self`` as float64 (itself when it already is).

>>> import nbgrad as nb
>>> nb.tensor([1, 2]).double()
tensor([1., 2.], dtype=nbgrad.float64)
""",
    "int": """``self`` as int32 (itself when it already is); floats are truncated toward zero.

>>> import nbgrad as nb
>>> nb.tensor([1.7, -1.7]).int()
tensor([ 1, -1], dtype=nbgrad.int32)
""",
    "long": """``self`` as int64 (itself when it already is); floats are truncated toward zero.

>>> import nbgrad as nb
>>> nb.tensor([1.5, 2.5]).long()
tensor([1, 2])
""",
    "bool": """``self`` as bool (itself when it already is): nonzero is ``True``.

>>> import nbgrad as nb
>>> nb.tensor([0, 2]).bool()
tensor([False,  True])
""",
    "cpu": """``self`` on the CPU (itself when it already is there).

>>> import nbgrad as nb
>>> x = nb.tensor([1.0, 2.0])
>>> x.cpu() is x, x.cpu().device
(True, device(type='cpu'))
""",
    "cuda": """``self`` on a CUDA device, ``"cuda"`` by default (itself when already there).

>>> import nbgrad as nb
>>> x = nb.tensor([1.0, 2.0])
>>> y = x.cuda() if nb.cuda.is_available() else x  # a copy in GPU memory when there is a GPU
>>> y.cpu()
tensor([1., 2.])
""",
}
for _name, _doc in _LAMBDA_DOCS.items():
    if _name in METHODS and not METHODS[_name].__doc__:
        METHODS[_name].__doc__ = _doc
# The one-line methods are no module attributes, so the doctest collection would not find them.
__test__ = {_name: METHODS[_name] for _name in _LAMBDA_DOCS
            if METHODS[_name].__name__ == "<lambda>"}

for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
