"""Random sampling beyond rand/randn/randint: randperm, multinomial, bernoulli, normal,
poisson, the in-place samplers (``Tensor.uniform_`` ...), and the global generator's seed and
state. Every sampler takes ``generator=``; samples are drawn on the host from that
:class:`~nbgrad.ops.creation.Generator` (the default one when None) and copied to the device.
"""

from __future__ import annotations

import numbers

import numpy as np

from nbgrad import _dtype
from nbgrad.ops._register import Doc, register
from nbgrad.ops.creation import _host_rng, default_generator, tensor
from nbgrad.ops.shape import copy_
from nbgrad.tensor import Tensor

__all__ = [
    "seed", "initial_seed", "get_rng_state", "set_rng_state", "randperm", "multinomial",
    "bernoulli", "normal", "poisson", "randint_like",
]

_RANDOM = Doc("Random", "float32, float64 (as documented per name)", "not differentiable")


def _rng(generator, device=None):
    if generator is None:
        return default_generator._rng
    return _host_rng(generator, None)


def _out(raw: np.ndarray, dtype, device, requires_grad: bool = False) -> Tensor:
    return tensor(raw, dtype=dtype, device=device, requires_grad=requires_grad)


@register(function=True)
def seed() -> int:
    """Seed the default generator from the operating system's entropy; returns the seed.

    >>> import nbgrad as nb
    >>> s = nb.seed()
    >>> s == nb.initial_seed()
    True
    """
    return default_generator.seed()


@register(function=True)
def initial_seed() -> int:
    """The seed last given to the default generator.

    >>> import nbgrad as nb
    >>> nb.manual_seed(7)
    >>> nb.initial_seed()
    7
    """
    return default_generator.initial_seed()


@register(function=True)
def get_rng_state() -> Tensor:
    """The default generator's state as a uint8 tensor.

    >>> import nbgrad as nb
    >>> s = nb.get_rng_state()
    >>> a = nb.rand(3)
    >>> nb.set_rng_state(s)
    >>> a.tolist() == nb.rand(3).tolist()
    True
    """
    return default_generator.get_state()


@register(function=True)
def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state from ``get_rng_state``.

    >>> import nbgrad as nb
    >>> nb.set_rng_state(nb.get_rng_state())
    """
    default_generator.set_state(new_state)


@register(function=True, doc=_RANDOM)
def randperm(n: int, *, generator=None, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 by default).

    >>> import nbgrad as nb
    >>> sorted(nb.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    if not isinstance(n, numbers.Integral) or n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.int64
    return _out(_rng(generator).permutation(int(n)), dt, device, requires_grad)


@register(function=True, method=True, doc=_RANDOM)
def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator=None) -> Tensor:
    """Indices drawn from the categories weighted by each row of ``input`` (1-D or 2-D,
    non-negative weights), with or without replacement.

    >>> import nbgrad as nb
    >>> nb.multinomial(nb.tensor([0.0, 1.0, 0.0]), 2, replacement=True).tolist()
    [1, 1]
    """
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{input.dtype.name}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    w = input._host().astype(np.float64).reshape(-1, input.shape[-1])
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (w.sum(1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > w.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    if not replacement and num_samples > (w > 0).sum(1).min():
        raise RuntimeError("invalid multinomial distribution (with replacement=False, not "
                           "enough non-negative category to sample)")
    rng = _rng(generator)
    out = np.stack([rng.choice(w.shape[1], num_samples, replace=replacement, p=row / row.sum())
                    for row in w])
    if input.ndim == 1:
        out = out[0]
    return _out(out.astype(np.int64), _dtype.int64, input.device)


@register(function=True, method=True, doc=_RANDOM)
def bernoulli(input: Tensor, p: float | None = None, *, generator=None) -> Tensor:
    """Ones with probability ``input`` (or ``p``) elementwise, zeros otherwise; the dtype of
    ``input``.

    >>> import nbgrad as nb
    >>> nb.bernoulli(nb.tensor([0.0, 1.0]))
    tensor([0., 1.])
    """
    prob = input._host() if p is None else np.full(input.shape, p)
    if ((prob < 0) | (prob > 1)).any():
        raise RuntimeError("bernoulli: all elements of input must be in [0, 1]" if p is None
                           else f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    u = _rng(generator).random(input.shape)
    return _out(u < prob, input.dtype, input.device)


@register(function=True, doc=_RANDOM)
def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples with elementwise ``mean`` and ``std`` (tensors or numbers, broadcast);
    with two numbers, ``size`` gives the shape.

    >>> import nbgrad as nb
    >>> nb.normal(nb.zeros(3), 1.0).shape, nb.normal(0.0, 1.0, (2, 2)).shape
    ((3,), (2, 2))
    """
    tm, ts = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not (tm or ts):
        if size is None:
            raise TypeError("normal() with float mean and std needs size")
        shape = (size,) if isinstance(size, int) else tuple(size)
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        dt = _dtype.as_dtype(dtype) if dtype is not None else _dtype.float32
        raw = _rng(generator).normal(mean, std, shape)
        return _out(raw, dt, device, requires_grad)
    ref = mean if tm else std
    m = mean._host() if tm else mean
    s = std._host() if ts else std
    if (np.asarray(s) < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    raw = np.asarray(m) + np.asarray(s) * _rng(generator).standard_normal(shape)
    return _out(raw, ref.dtype, ref.device)


@register(function=True, doc=_RANDOM)
def poisson(input: Tensor, generator=None) -> Tensor:
    """Poisson samples with rates ``input`` elementwise (``input``'s dtype).

    >>> import nbgrad as nb
    >>> nb.poisson(nb.zeros(3))
    tensor([0., 0., 0.])
    """
    lam = input._host()
    if (lam < 0).any():
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return _out(_rng(generator).poisson(lam), input.dtype, input.device)


@register(function=True, doc=_RANDOM)
def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, dtype=None,
                 device=None, generator=None) -> Tensor:
    """Integers in ``[low, high)`` with the shape of ``input`` (``randint_like(x, high)``).

    >>> import nbgrad as nb
    >>> nb.randint_like(nb.zeros(2), 5).shape
    (2,)
    """
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    raw = _rng(generator).integers(low, high, input.shape)
    return _out(raw, dtype or input.dtype, device or input.device)


def _fill(x: Tensor, raw) -> Tensor:
    return copy_(x, tensor(np.asarray(raw), dtype=x.dtype, device=x.device))


def _need_float(name: str, x: Tensor) -> None:
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{name} expects a floating point tensor, got {x.dtype.name}")


@register(inplace="uniform_")
def uniform_(x: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    """Fill with uniform samples in ``[a, b)``.

    >>> import nbgrad as nb
    >>> bool((nb.zeros(4).uniform_(2, 3) >= 2).all())
    True
    """
    _need_float("uniform_", x)
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={a} > to={b}")
    return _fill(x, _rng(generator).uniform(a, b, x.shape))


@register(inplace="normal_")
def normal_(x: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with normal samples.

    >>> import nbgrad as nb
    >>> nb.zeros(3).normal_(0, 0.0).tolist()
    [0.0, 0.0, 0.0]
    """
    _need_float("normal_", x)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _fill(x, _rng(generator).normal(mean, std, x.shape))


@register(inplace="bernoulli_")
def bernoulli_(x: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fill with ones with probability ``p`` (a number or a tensor), zeros otherwise.

    >>> import nbgrad as nb
    >>> nb.zeros(2).bernoulli_(1.0).tolist()
    [1.0, 1.0]
    """
    prob = p._host() if isinstance(p, Tensor) else p
    if (np.asarray(prob) < 0).any() or (np.asarray(prob) > 1).any():
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return _fill(x, _rng(generator).random(x.shape) < prob)


@register(inplace="exponential_")
def exponential_(x: Tensor, lambd: float = 1.0, *, generator=None) -> Tensor:
    """Fill with exponential samples of rate ``lambd``.

    >>> import nbgrad as nb
    >>> bool((nb.zeros(5).exponential_(2.0) >= 0).all())
    True
    """
    _need_float("exponential_", x)
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _fill(x, _rng(generator).exponential(1.0 / lambd, x.shape))


@register(inplace="geometric_")
def geometric_(x: Tensor, p: float, *, generator=None) -> Tensor:
    """Fill with geometric samples (trials until the first success, from 1).

    >>> import nbgrad as nb
    >>> nb.zeros(2).geometric_(1.0).tolist()
    [1.0, 1.0]
    """
    if not 0 < p < 1 and p != 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _fill(x, _rng(generator).geometric(p, x.shape))


@register(inplace="log_normal_")
def log_normal_(x: Tensor, mean: float = 1.0, std: float = 2.0, *, generator=None) -> Tensor:
    """Fill with samples whose log is normal(``mean``, ``std``).

    >>> import nbgrad as nb
    >>> bool((nb.zeros(3).log_normal_() > 0).all())
    True
    """
    _need_float("log_normal_", x)
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill(x, _rng(generator).lognormal(mean, std, x.shape))


@register(inplace="cauchy_")
def cauchy_(x: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator=None) -> Tensor:
    """Fill with Cauchy samples.

    >>> import nbgrad as nb
    >>> nb.zeros(3).cauchy_().shape
    (3,)
    """
    _need_float("cauchy_", x)
    return _fill(x, median + sigma * _rng(generator).standard_cauchy(x.shape))


@register(inplace="random_")
def random_(x: Tensor, from_: int = 0, to: int | None = None, *, generator=None) -> Tensor:
    """Fill with integers in ``[from, to)`` (``random_(to)``; with no bounds, up to 2**24 for
    float32, 2**53 for float64, the dtype's maximum for integers).

    >>> import nbgrad as nb
    >>> bool((nb.zeros(4).random_(3) < 3).all())
    True
    """
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        kind = x._data.dtype
        to = (1 << 24) + 1 if kind == np.float32 else (1 << 53) + 1 if kind == np.float64 else \
            (2 if kind == np.bool_ else int(np.iinfo(kind).max) + 1)
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                           f"from={from_} >= to={to}")
    return _fill(x, _rng(generator).integers(from_, to, x.shape, dtype=np.int64))

