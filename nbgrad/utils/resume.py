"""Exact resume: everything a training run needs to continue bit for bit after a crash.

:func:`checkpoint_state` gathers, into one dict that ``nb.save`` writes atomically, the model's
and optimizer's state dicts, any scheduler (anything with ``state_dict``/``load_state_dict``),
every random number generator that training draws from (nbgrad's global generator behind
``nb.rand``/dropout/shuffling, numpy's global ``np.random`` state, Python's ``random``, and the
generators you pass: ``nb.Generator``\\ s, ``numpy.random.Generator``\\ s) and the position of a
:class:`ResumableLoader` in its epoch. :func:`restore_state` puts it all back.

>>> import nbgrad as nb, io
>>> from nbgrad.utils.resume import checkpoint_state, restore_state
>>> model = nb.nn.Linear(2, 1)
>>> opt = nb.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
>>> buf = io.BytesIO()
>>> nb.save(checkpoint_state(model=model, optimizer=opt, step=7), buf)
>>> _ = buf.seek(0)
>>> a = nb.rand(3)
>>> restore_state(nb.load(buf), model=model, optimizer=opt)["step"]
7
>>> nb.rand(3).tolist() == a.tolist()   # the global generator is back where it was
True
"""

from __future__ import annotations

import random as _random

import numpy as np

__all__ = ["checkpoint_state", "restore_state", "ResumableLoader", "get_global_rng_state",
           "set_global_rng_state"]


def _backend_rngs() -> dict:
    """The generators behind nbgrad's global RNG, per backend that is loaded."""
    import sys

    from nbgrad.backends.cpu import arrays as cpu_arrays

    out = {"cpu": cpu_arrays}
    cuda = sys.modules.get("nbgrad.backends.cuda.arrays")
    if cuda is not None:
        out["cuda"] = cuda
    return out


def get_global_rng_state() -> dict:
    """nbgrad's global generator state (per backend), numpy's and Python's.

    >>> from nbgrad.utils.resume import get_global_rng_state
    >>> {"nbgrad", "numpy", "python"} <= set(get_global_rng_state())
    True
    """
    state = {
        "nbgrad": {name: mod._rng.bit_generator.state for name, mod in _backend_rngs().items()},
        "numpy": list(np.random.get_state()),
        "python": _random.getstate(),
    }
    api = _public_rng_api()
    if api is not None:  # nb.get_rng_state(), once nbgrad has it
        state["nbgrad_api"] = api[0]()
    return state


def _public_rng_api():
    """``(nb.get_rng_state, nb.set_rng_state)`` if the loaded nbgrad has them, else None (looked
    up at run time: this module sits below the package's public face)."""
    import sys

    nb = sys.modules.get("nbgrad")
    get, put = getattr(nb, "get_rng_state", None), getattr(nb, "set_rng_state", None)
    return (get, put) if callable(get) and callable(put) else None


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def set_global_rng_state(state: dict) -> None:
    """Restore what :func:`get_global_rng_state` returned.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.resume import get_global_rng_state, set_global_rng_state
    >>> s = get_global_rng_state(); a = nb.rand(2); set_global_rng_state(s)
    >>> nb.rand(2).tolist() == a.tolist()
    True
    """
    rngs = _backend_rngs()
    for name, bit_state in state.get("nbgrad", {}).items():
        if name in rngs:
            rngs[name]._rng.bit_generator.state = bit_state
    api = _public_rng_api()
    if api is not None and "nbgrad_api" in state:
        api[1](state["nbgrad_api"])
    if "numpy" in state:
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss),
                             float(cached)))
    if "python" in state:
        _random.setstate(_as_tuple(state["python"]))


def _gen_state(g):
    if isinstance(g, np.random.Generator):
        return g.bit_generator.state
    if hasattr(g, "get_state"):
        return g.get_state()
    raise TypeError(f"cannot checkpoint a generator of type {type(g).__name__}")


def _set_gen_state(g, state) -> None:
    if isinstance(g, np.random.Generator):
        g.bit_generator.state = state
    elif hasattr(g, "set_state"):
        g.set_state(state)
    else:
        raise TypeError(f"cannot restore a generator of type {type(g).__name__}")


class ResumableLoader:
    """Wrap a ``DataLoader`` so that its epoch and position in the epoch can be checkpointed.

    Iterating it iterates the loader; ``state_dict()`` records the epoch, how many batches of
    it were taken and the shuffling generator's state when the epoch began (the loader's
    ``generator`` if it has one, else nbgrad's global generator). After ``load_state_dict`` the
    next iteration replays the epoch's order and skips the batches already taken, so a resumed
    run sees exactly the batches the uninterrupted one would have.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.data import DataLoader, TensorDataset
    >>> from nbgrad.utils.resume import ResumableLoader
    >>> loader = ResumableLoader(DataLoader(TensorDataset(nb.arange(6)), batch_size=2,
    ...                                     shuffle=True, seed=0))
    >>> it = iter(loader); first = next(it)
    >>> state = loader.state_dict(); rest = [b[0].tolist() for b in it]
    >>> again = ResumableLoader(DataLoader(TensorDataset(nb.arange(6)), batch_size=2,
    ...                                    shuffle=True, seed=0))
    >>> again.load_state_dict(state)
    >>> [b[0].tolist() for b in again] == rest
    True
    """

    def __init__(self, loader) -> None:
        self.loader = loader
        self.epoch = 0
        self.batches_done = 0
        self._epoch_rng = None
        self._resume = None

    def _get(self):
        g = getattr(self.loader, "generator", None)
        if g is not None:
            return {"generator": _gen_state(g)}
        state = {"global": {n: m._rng.bit_generator.state for n, m in _backend_rngs().items()}}
        api = _public_rng_api()
        if api is not None:  # the default nb.Generator, which shuffles draw from
            state["nbgrad_api"] = api[0]()
        return state

    def _set(self, state) -> None:
        if "generator" in state:
            _set_gen_state(self.loader.generator, state["generator"])
        else:
            rngs = _backend_rngs()
            for name, s in state["global"].items():
                if name in rngs:
                    rngs[name]._rng.bit_generator.state = s
            api = _public_rng_api()
            if api is not None and "nbgrad_api" in state:
                api[1](state["nbgrad_api"])

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        resume, self._resume = self._resume, None
        if resume is not None:
            now = self._get()
            self._set(resume["epoch_rng"])
            self._epoch_rng = resume["epoch_rng"]
            it = iter(self.loader)
            skip = resume["batches_done"]
            self.batches_done = 0
            for _ in range(skip):
                next(it, None)  # draws the epoch's order exactly as the first run did
                self.batches_done += 1
            self._set(now)
        else:
            self._epoch_rng = self._get()
            self.batches_done = 0
            it = iter(self.loader)
        for batch in it:
            self.batches_done += 1
            yield batch
        self.epoch += 1
        self.batches_done = 0
        self._epoch_rng = None

    def state_dict(self) -> dict:
        """``{"epoch", "batches_done", "epoch_rng"}`` (``epoch_rng`` None between epochs).

        >>> import nbgrad as nb
        >>> from nbgrad.utils.data import DataLoader, TensorDataset
        >>> from nbgrad.utils.resume import ResumableLoader
        >>> ResumableLoader(DataLoader(TensorDataset(nb.arange(4)))).state_dict()
        {'epoch': 0, 'batches_done': 0, 'epoch_rng': None}
        """
        return {"epoch": self.epoch, "batches_done": self.batches_done,
                "epoch_rng": self._epoch_rng}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` at the next iteration.

        >>> import nbgrad as nb
        >>> from nbgrad.utils.data import DataLoader, TensorDataset
        >>> from nbgrad.utils.resume import ResumableLoader
        >>> loader = ResumableLoader(DataLoader(TensorDataset(nb.arange(4))))
        >>> loader.load_state_dict({'epoch': 3, 'batches_done': 0, 'epoch_rng': None}); loader.epoch
        3
        """
        self.epoch = int(state["epoch"])
        self.batches_done = int(state["batches_done"])
        self._resume = state if state.get("epoch_rng") is not None else None


def checkpoint_state(model=None, optimizer=None, scheduler=None, loader=None,
                     generators=(), **extra) -> dict:
    """One dict with everything needed to resume training exactly (save it with ``nb.save``).

    ``model``, ``optimizer``, ``scheduler`` and ``loader`` (a :class:`ResumableLoader`) may be
    None or a list of them; ``generators`` are extra generators to capture (``nb.Generator``,
    ``numpy.random.Generator``); ``extra`` keyword values (step counters, ...) are stored as
    they are. The global generators (nbgrad's, numpy's, Python's) are always captured.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.resume import checkpoint_state
    >>> state = checkpoint_state(model=nb.nn.Linear(2, 1), step=3)
    >>> sorted(state), state["extra"]
    (['extra', 'generators', 'loaders', 'models', 'optimizers', 'rng', 'schedulers'], {'step': 3})
    """
    def many(x):
        return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]

    return {
        "models": [m.state_dict() for m in many(model)],
        "optimizers": [o.state_dict() for o in many(optimizer)],
        "schedulers": [s.state_dict() for s in many(scheduler)],
        "loaders": [lo.state_dict() for lo in many(loader)],
        "generators": [_gen_state(g) for g in generators],
        "rng": get_global_rng_state(),
        "extra": dict(extra),
    }


def restore_state(state: dict, model=None, optimizer=None, scheduler=None, loader=None,
                  generators=()) -> dict:
    """Load what :func:`checkpoint_state` saved into the same kinds of objects (in the same
    order); returns the ``extra`` values.

    >>> import nbgrad as nb
    >>> from nbgrad.utils.resume import checkpoint_state, restore_state
    >>> net = nb.nn.Linear(2, 1)
    >>> restore_state(checkpoint_state(model=net, epoch=2), model=net)
    {'epoch': 2}
    """
    def many(x):
        return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]

    for key, objs in (("models", many(model)), ("optimizers", many(optimizer)),
                      ("schedulers", many(scheduler)), ("loaders", many(loader))):
        saved = state.get(key, [])
        if len(saved) != len(objs):
            raise ValueError(f"restore_state: the checkpoint holds {len(saved)} {key}, "
                             f"{len(objs)} given")
        for obj, s in zip(objs, saved):
            obj.load_state_dict(s)
    gens = list(generators)
    if len(gens) != len(state.get("generators", [])):
        raise ValueError("restore_state: the checkpoint holds "
                         f"{len(state.get('generators', []))} generators, {len(gens)} given")
    for g, s in zip(gens, state.get("generators", [])):
        _set_gen_state(g, s)
    set_global_rng_state(state["rng"])
    return dict(state.get("extra", {}))
