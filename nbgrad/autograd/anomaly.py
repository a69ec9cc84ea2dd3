"""Anomaly detection: find the forward op behind a NaN gradient or a broken saved tensor.

While enabled, every recorded node keeps the stack of the forward call that created it and
every in-place op remembers where it ran. Backward then

* raises when a node's backward returns a nan/inf gradient, naming the node (``DivBackward0``),
  its forward op (``div``) and the stack where that op was called;
* warns, as PyTorch does, when it is turned on by ``detect_anomaly()`` ("Anomaly Detection has
  been enabled ...") and, before raising any error of a backward, with the forward trace of
  the failing node ("Error detected in DivBackward0. Traceback of forward call that caused
  the error: ..."), followed, for a node recorded by a backward with ``create_graph=True``,
  by the trace of each node whose backward induced it ("Previous calculation was induced by
  ...");
* adds the same forward stack to any error raised inside a node's backward;
* appends to the "modified by an inplace operation" error the stack of the in-place op that
  changed the saved tensor.

Like PyTorch's, the switch is process-wide (not per context) and slows every op down: use it
for debugging only.

>>> import nbgrad as nb
>>> x = nb.tensor([0.0], requires_grad=True)
>>> with nb.autograd.detect_anomaly():
...     y = (x / x).sum()
...     try:
...         y.backward()
...     except RuntimeError as e:
...         print(str(e).split(" (")[0])
Function 'DivBackward0' returned nan values in its 0th output
"""

from __future__ import annotations

import functools
import warnings

from nbgrad._graph import anomaly_state

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on."""
    return anomaly_state.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection also checks gradients for nan/inf."""
    return anomaly_state.check_nan


class _AnomalySwitch:
    """Sets the anomaly state; restores the previous one on exit."""

    def __init__(self, mode: bool, check_nan: bool) -> None:
        self.mode = bool(mode)
        self.check_nan = bool(check_nan)
        self._saved: list[tuple[bool, bool]] = []

    def _switch(self) -> None:
        self._saved.append((anomaly_state.enabled, anomaly_state.check_nan))
        anomaly_state.enabled = self.mode
        anomaly_state.check_nan = self.check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._saved:
            anomaly_state.enabled, anomaly_state.check_nan = self._saved.pop()


class detect_anomaly(_AnomalySwitch):
    """Context manager (and decorator) turning anomaly detection on inside its block.

    ``check_nan=False`` keeps the forward traces but skips the nan/inf check of gradients.
    Making one warns that anomaly detection slows everything down (as PyTorch's does).

    >>> import nbgrad as nb
    >>> x = nb.tensor([-1.0], requires_grad=True)
    >>> with nb.autograd.detect_anomaly():
    ...     x.sqrt().sum().backward()  # sqrt(-1) is nan, and so is its gradient
    Traceback (most recent call last):
        ...
    nbgrad.errors.AutogradError: Function 'SqrtBackward0' returned nan values in its 0th output...
    >>> nb.autograd.anomaly.is_anomaly_enabled()  # off again after the block
    False
    """

    def __init__(self, check_nan: bool = True) -> None:
        super().__init__(True, check_nan)
        warnings.warn(
            "Anomaly Detection has been enabled. This mode will increase the runtime and should "
            "only be enabled for debugging.", UserWarning, stacklevel=2,
        )

    def __enter__(self):
        self._switch()
        return self

    def __call__(self, fn):
        """Use as a decorator: the function body runs with anomaly detection on."""

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly(_AnomalySwitch):
    """Turn anomaly detection on or off now; used as a context manager, the previous state
    comes back on exit.

    >>> import nbgrad as nb
    >>> with nb.autograd.set_detect_anomaly(True):
    ...     nb.autograd.anomaly.is_anomaly_enabled()
    True
    >>> nb.autograd.anomaly.is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        super().__init__(mode, check_nan)
        self._switch()
