"""Attach the ops to ``Tensor`` as methods and operators: the one table of Tensor methods."""

from __future__ import annotations

from nbgrad import _dtype
from nbgrad._device import as_device
from nbgrad.ops import elementwise as ew
from nbgrad.ops import linalg, reduce, shape
from nbgrad.tensor import Tensor


def _to(self: Tensor, *args, **kwargs) -> Tensor:
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
    device = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, _dtype.DType) or a in (float, int, bool):
            dtype = a
        else:
            device = a
    out = self
    if dtype is not None:
        out = shape.to_dtype(out, dtype)
    if device is not None and as_device(device) != out.device:
        from nbgrad.ops.device import to_device

        out = to_device(out, as_device(device))
    return out


def _add(self, other, *, alpha=1):
    """``self + alpha * other``."""
    return ew.binary("add")(self, other if alpha == 1 else other * alpha)


def _sub(self, other, *, alpha=1):
    """``self - alpha * other``."""
    return ew.binary("sub")(self, other if alpha == 1 else other * alpha)


def _T(self):
    """The tensor with its dimensions reversed."""
    return shape.t(self) if self.ndim <= 2 else shape.permute(self, *reversed(range(self.ndim)))


def _mT(self):
    """Transpose of the last two dims."""
    return shape.transpose(self, -2, -1)


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
    # reductions
    "sum": reduce.sum, "mean": reduce.mean,
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

for _name, _fn in METHODS.items():
    setattr(Tensor, _name, _fn)
