"""``nb.utils.tensorboard``: :class:`SummaryWriter`, writing TensorBoard event files through the
``tensorboard`` package's event writer (an optional extra: ``pip install nbgrad[tensorboard]``).

Importing this module without ``tensorboard`` installed raises an ``ImportError`` that names
the extra."""

try:
    import tensorboard  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised by a test that hides the package
    raise ImportError("nbgrad.utils.tensorboard needs the `tensorboard` package, an optional "
                      "extra of nbgrad: pip install nbgrad[tensorboard]") from err

from nbgrad.utils.tensorboard.writer import SummaryWriter

__all__ = ["SummaryWriter"]
