"""Factories: ``tensor``, ``zeros``, ``rand`` ... Each honours ``requires_grad=`` in every mode."""

from __future__ import annotations

import json
import numbers
import warnings

import numpy as np

from nbgrad import _dtype
from nbgrad._device import _BACKENDS, CPU, as_device, backend_for
from nbgrad.ops._dispatch import new_tensor
from nbgrad.ops._register import register
from nbgrad.ops._shapes import parse_shape
from nbgrad.tensor import Tensor

__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "arange",
    "linspace", "eye", "rand", "randn", "randint", "manual_seed", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like", "Generator", "default_generator",
]


def _host_array(data, dtype) -> np.ndarray:
    """Host array for ``data`` with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data.detach()._host()
        return arr.astype((_dtype.as_dtype(dtype) if dtype is not None else data.dtype).np)
    if isinstance(data, np.ndarray):
        target = _dtype.as_dtype(dtype) if dtype is not None else _dtype.from_numpy_dtype(
            data.dtype)
        return np.array(data, dtype=target.np)
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(f"could not convert {type(data).__name__} to a tensor: expected numbers")
    if isinstance(data, (list, tuple)):
        data = _detached_elements(data)
    try:
        arr = np.array(data)
    except ValueError as exc:
        raise ValueError(f"could not build a tensor from ragged nested sequences: {exc}") from None
    if (arr.dtype.kind == "u" and (dtype is None or _dtype.as_dtype(dtype).np.kind == "i")) or (
            arr.dtype.kind == "O" and arr.size and all(
                isinstance(v, int) and not isinstance(v, bool) for v in arr.flat)):
        raise RuntimeError(
            "Overflow when unpacking long: an integer does not fit in int64 "
            "(the range is [-2**63, 2**63 - 1])"
        )
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"could not convert data to a tensor: expected numbers or bools, found {arr.dtype} "
            f"elements"
        )
    if dtype is not None:
        target = _dtype.as_dtype(dtype)
    elif arr.dtype.kind == "f":
        target = _dtype.float32
    elif arr.dtype.kind in "iu":
        target = _dtype.int64
    else:
        target = _dtype.bool_
    return arr.astype(target.np)


def _detached_elements(data):
    """Nested sequences with their tensors detached; as PyTorch, warns for one that requires
    grad (the new tensor is a constant: it has no history)."""
    out = []
    for v in data:
        if isinstance(v, Tensor):
            if v.requires_grad:
                warnings.warn(
                    "Converting a tensor with requires_grad=True to a scalar may lead to "
                    "unexpected behavior.\nConsider using tensor.detach() first.",
                    UserWarning, stacklevel=4,
                )
            v = v.detach()
        elif isinstance(v, (list, tuple)):
            v = _detached_elements(v)
        out.append(v)
    return out


@register(function=True)
def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor copied from data (nested lists, numbers, numpy arrays or tensors).

    >>> import nbgrad as nb
    >>> nb.tensor([[1, 2], [3, 4]])
    tensor([[1, 2],
            [3, 4]])
    >>> nb.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    >>> nb.tensor(3, dtype=nb.float64)
    tensor(3., dtype=nbgrad.float64)
    """
    dev = as_device(device)
    arr = _host_array(data, dtype)
    return new_tensor(backend_for(dev).asarray(arr, arr.dtype), dev, requires_grad)


@register(function=True)
def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares memory when ``data`` already fits (tensor or numpy array).

    >>> import nbgrad as nb
    >>> import numpy as np
    >>> a = np.array([1.0, 2.0], dtype=np.float32)
    >>> t = nb.as_tensor(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 2.])
    """
    dev = as_device(device) if device is not None else None
    if isinstance(data, Tensor):
        out = data if dev is None else data.to(dev)
        return out if dtype is None else out.to(dtype)
    if isinstance(data, np.ndarray) and (dev is None or dev == CPU):
        if dtype is None or _dtype.as_dtype(dtype).np == data.dtype:
            return from_numpy(data)
    return tensor(data, dtype=dtype, device=dev)


@register(function=True)
def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with ``array``.

    >>> import nbgrad as nb
    >>> import numpy as np
    >>> a = np.zeros(2)
    >>> t = nb.from_numpy(a)
    >>> a[1] = 3.0
    >>> t
    tensor([0., 3.], dtype=nbgrad.float64)
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    _dtype.from_numpy_dtype(array.dtype)
    return new_tensor(array, CPU, False)


def _factory(make, shape, dtype, device, requires_grad, default=_dtype.float32) -> Tensor:
    dt = _dtype.as_dtype(dtype) if dtype is not None else default
    dev = as_device(device)
    return new_tensor(make(backend_for(dev), shape, dt.np), dev, requires_grad)


@register(function=True)
def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros.

    >>> import nbgrad as nb
    >>> nb.zeros(2, 3)
    tensor([[0., 0., 0.],
            [0., 0., 0.]])
    >>> nb.zeros((2,), dtype=nb.int64)
    tensor([0, 0])
    """
    return _factory(lambda bk, s, d: bk.zeros(s, d), parse_shape(size), dtype, device,
                    requires_grad)


@register(function=True)
def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones.

    >>> import nbgrad as nb
    >>> nb.ones(2), nb.ones(2, dtype=nb.int32)
    (tensor([1., 1.]), tensor([1, 1], dtype=nbgrad.int32))
    """
    return _factory(lambda bk, s, d: bk.full(s, 1, d), parse_shape(size), dtype, device,
                    requires_grad)


@register(function=True)
def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor.

    >>> import nbgrad as nb
    >>> nb.empty(2, 3).shape
    (2, 3)
    """
    return _factory(lambda bk, s, d: bk.empty(s, d), parse_shape(size), dtype, device,
                    requires_grad)


@register(function=True)
def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as in PyTorch).

    >>> import nbgrad as nb
    >>> nb.full((2,), 7), nb.full((2,), 0.5)
    (tensor([7, 7]), tensor([0.5000, 0.5000]))
    """
    if isinstance(fill_value, Tensor) and fill_value.ndim == 0:
        fill_value = fill_value.item()
    if not isinstance(fill_value, (int, float, np.number, np.bool_)) or isinstance(
            fill_value, (complex, np.complexfloating)):
        raise TypeError(f"full(): fill_value must be a number, got {type(fill_value).__name__}")
    default = _dtype.scalar_dtype(fill_value)
    return _factory(lambda bk, s, d: bk.full(s, fill_value, d), parse_shape((size,)), dtype,
                    device, requires_grad, default)


@register(function=True)
def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) in steps of ``step``.

    >>> import nbgrad as nb
    >>> nb.arange(5)
    tensor([0, 1, 2, 3, 4])
    >>> nb.arange(1, 2, 0.25)
    tensor([1.0000, 1.2500, 1.5000, 1.7500])
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    default = _dtype.float32 if is_float else _dtype.int64
    return _factory(lambda bk, s, d: bk.arange(start, end, step, d), None, dtype, device,
                    requires_grad, default)


@register(function=True)
def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive.

    >>> import nbgrad as nb
    >>> nb.linspace(0, 1, 5)
    tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])
    """
    values = np.linspace(start, end, steps)
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.float32
    if dt is _dtype.bool_:
        raise TypeError("linspace: dtype=bool is not supported (PyTorch refuses it too)")
    return tensor(values, dtype=dt, device=device, requires_grad=requires_grad)


@register(function=True)
def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m).

    >>> import nbgrad as nb
    >>> nb.eye(2, 3)
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.float32
    return tensor(np.eye(n, m), dtype=dt, device=device, requires_grad=requires_grad)


def _check_float(name: str, dtype) -> None:
    if dtype is not None and not _dtype.as_dtype(dtype).is_floating_point:
        raise TypeError(
            f"{name}(): expected a floating point dtype, got {_dtype.as_dtype(dtype).name}"
        )


# ---------------------------------------------------------------- random generators
class Generator:
    """A random number generator with its own state (PyTorch's ``torch.Generator``): pass it
    as ``generator=`` to any sampler. ``get_state()`` is a uint8 tensor that ``set_state``
    restores exactly. Samples are drawn on the host (numpy's PCG64) and copied to the device.

    >>> import nbgrad as nb
    >>> g = nb.Generator().manual_seed(3)
    >>> s = g.get_state()
    >>> a = nb.rand(2, generator=g)
    >>> _ = g.set_state(s)
    >>> a.tolist() == nb.rand(2, generator=g).tolist(), g.initial_seed()
    (True, 3)
    """

    def __init__(self, device="cpu") -> None:
        self._device = as_device(device)
        self._initial = 67280421310721  # PyTorch's default seed
        self._rng = np.random.default_rng(self._initial)

    @property
    def device(self):
        """The device this generator is for."""
        return self._device

    def manual_seed(self, seed: int) -> Generator:
        """Reseed (any int; negative seeds are taken modulo 2**64); returns ``self``."""
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"manual_seed expected a long, but got {type(seed).__name__}")
        seed = int(seed) % (1 << 64)
        self._initial = seed
        self._rng = np.random.default_rng(seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        s = int(np.random.SeedSequence().entropy) % (1 << 63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed last set."""
        return self._initial

    def get_state(self) -> Tensor:
        """The full state as a uint8 tensor (for ``set_state``)."""
        state = {"state": self._rng.bit_generator.state, "initial": self._initial}
        raw = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
        return new_tensor(raw.astype(_STATE_DTYPE), CPU, False)

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state from ``get_state``; returns ``self``."""
        if not isinstance(new_state, Tensor) or new_state._data.dtype not in (
                np.uint8, _STATE_DTYPE):
            raise TypeError("expected a uint8 tensor (from get_state) as the new state")
        try:
            raw = backend_for(new_state.device).to_host(new_state._data)
            state = json.loads(raw.astype(np.uint8).tobytes().decode())
            bitgen = np.random.PCG64()
            bitgen.state = state["state"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise RuntimeError(f"Generator.set_state: not a state of this generator ({e})") \
                from None
        self._rng = np.random.Generator(bitgen)
        self._initial = state["initial"]
        return self

    def __repr__(self) -> str:
        return f"<nbgrad.Generator object on {self._device}>"


def _state_dtype():
    try:
        _dtype.from_numpy_dtype(np.dtype(np.uint8))
        return np.dtype(np.uint8)
    except TypeError:  # before uint8 tensors exist: the same bytes as int64
        return np.dtype(np.int64)


_STATE_DTYPE = _state_dtype()
register(Generator, function="Generator")
default_generator = Generator()


def _host_rng(generator, dev):
    """The numpy generator to draw from on the host, or None for the device's own."""
    if generator is not None:
        if not isinstance(generator, Generator):
            raise TypeError(f"generator must be a nbgrad.Generator, got "
                            f"{type(generator).__name__}")
        return generator._rng
    return default_generator._rng if dev is CPU else None


def _sample(kind, shape, dtype, device, requires_grad, generator, default=_dtype.float32,
            args=()):
    dt = _dtype.as_dtype(dtype) if dtype is not None else default
    dev = as_device(device)
    bk = backend_for(dev)
    rng = _host_rng(generator, dev)
    if rng is None:
        data = getattr(bk, kind)(*args, shape, dt.np)
    else:
        if kind == "uniform":
            raw = rng.random(shape, dtype=np.float64)
        elif kind == "normal":
            raw = rng.standard_normal(shape, dtype=np.float64)
        else:
            raw = rng.integers(args[0], args[1], shape)
        data = bk.asarray(raw, dt.np)
    return new_tensor(data, dev, requires_grad)


@register(function=True)
def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1).

    >>> import nbgrad as nb
    >>> x = nb.rand(2, 3)
    >>> x.shape, bool(x.min() >= 0), bool(x.max() < 1)
    ((2, 3), True, True)
    """
    _check_float("rand", dtype)
    return _sample("uniform", parse_shape(size), dtype, device, requires_grad, generator)


@register(function=True)
def randn(*size, generator=None, dtype=None, device=None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples.

    >>> import nbgrad as nb
    >>> nb.randn(2, 3).shape, nb.randn(2, dtype=nb.float64).dtype
    ((2, 3), nbgrad.float64)
    """
    _check_float("randn", dtype)
    return _sample("normal", parse_shape(size), dtype, device, requires_grad, generator)


@register(function=True)
def randint(low, high=None, size=(), *, generator=None, dtype=None, device=None,
            requires_grad: bool = False) -> Tensor:
    """Uniform integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``.

    >>> import nbgrad as nb
    >>> x = nb.randint(3, 6, (4,))
    >>> x.dtype, bool(x.min() >= 3), bool(x.max() < 6)
    (nbgrad.int64, True, True)
    >>> nb.randint(10, (2, 2)).shape
    (2, 2)
    """
    if isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"randint: low ({low}) must be less than high ({high})")
    if requires_grad:
        raise RuntimeError("Only Tensors of floating point dtype can require gradients")
    return _sample("integers", parse_shape((size,)), dtype, device, False, generator,
                   _dtype.int64, (low, high))


@register(function=True)
def manual_seed(seed: int) -> None:
    """Seed the random generators of every device.

    >>> import nbgrad as nb
    >>> nb.manual_seed(0)
    >>> a = nb.randn(3)
    >>> nb.manual_seed(0)
    >>> a.tolist() == nb.randn(3).tolist()
    True
    """
    if not isinstance(seed, numbers.Integral):
        raise TypeError(f"manual_seed expects an int, got {type(seed).__name__}")
    default_generator.manual_seed(seed)
    backend_for(CPU).seed(int(seed) % (1 << 64))
    for bk in _BACKENDS.values():
        bk.seed(int(seed) % (1 << 64))


def _like(fn, name: str):
    def like(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return fn(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                  requires_grad=requires_grad)

    like.__name__ = name
    return register(like, function=True)


zeros_like = _like(zeros, "zeros_like")
ones_like = _like(ones, "ones_like")
empty_like = _like(empty, "empty_like")
rand_like = _like(rand, "rand_like")
randn_like = _like(randn, "randn_like")
zeros_like.__doc__ = """Zeros with the shape (and by default dtype/device) of ``x``.

>>> import nbgrad as nb
>>> nb.zeros_like(nb.tensor([[1, 2]]))
tensor([[0, 0]])
"""
ones_like.__doc__ = """Ones with the shape (and by default dtype/device) of ``x``.

>>> import nbgrad as nb
>>> nb.ones_like(nb.tensor([1.0, 2.0])), nb.ones_like(nb.tensor([1, 2]), dtype=nb.float64)
(tensor([1., 1.]), tensor([1., 1.], dtype=nbgrad.float64))
"""
empty_like.__doc__ = """Uninitialised, with the shape of ``x``.

>>> import nbgrad as nb
>>> nb.empty_like(nb.zeros(2, 3)).shape
(2, 3)
"""
rand_like.__doc__ = """Uniform samples with the shape of ``x``.

>>> import nbgrad as nb
>>> x = nb.rand_like(nb.zeros(2, 3, dtype=nb.float64))
>>> x.shape, x.dtype
((2, 3), nbgrad.float64)
"""
randn_like.__doc__ = """Normal samples with the shape of ``x``.

>>> import nbgrad as nb
>>> nb.randn_like(nb.zeros(2, 3)).shape
(2, 3)
"""


@register(function=True)
def full_like(x: Tensor, fill_value, *, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with the shape of ``x``.

    >>> import nbgrad as nb
    >>> nb.full_like(nb.zeros(2), 3.5)
    tensor([3.5000, 3.5000])
    """
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


@register(dunder="__init__")
def _init(self: Tensor, data, dtype=None, device=None, requires_grad: bool = False) -> None:
    """``nb.Tensor(data, dtype=None, device=None, requires_grad=False)`` is ``nb.tensor(...)``.

    >>> import nbgrad as nb
    >>> nb.Tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    """
    src = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
    self.__dict__.update(src.__dict__)
