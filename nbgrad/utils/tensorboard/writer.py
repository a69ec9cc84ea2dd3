"""``SummaryWriter``: scalars, histograms, images and text as TensorBoard events, written by
``tensorboard``'s ``EventFileWriter`` (PyTorch's ``torch.utils.tensorboard.writer``)."""

from __future__ import annotations

import os
import socket
import struct
import time
import zlib
from datetime import datetime

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from nbgrad.tensor import Tensor

__all__ = ["SummaryWriter"]


def _numpy(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy() if hasattr(x, "cpu") else x.detach().numpy()
    return np.asarray(x)


def _scalar(x) -> float:
    return float(_numpy(x).reshape(-1)[0]) if not isinstance(x, (int, float)) else float(x)


def _png(hwc: np.ndarray) -> bytes:
    """A PNG file of an ``H x W x C`` uint8 image (C = 1, 3 or 4)."""
    h, w, c = hwc.shape
    color = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + hwc[i].tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _to_hwc(img: np.ndarray, dataformats: str) -> np.ndarray:
    fmt = dataformats.upper()
    if len(fmt) != img.ndim:
        raise ValueError(f"add_image: dataformats {dataformats!r} does not match an image of "
                         f"shape {img.shape}")
    if fmt == "HW":
        img = img[..., None]
    else:
        img = np.transpose(img, [fmt.index(k) for k in "HWC"])
    if img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float64), 0, 1) * 255 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


class SummaryWriter:
    """Write TensorBoard event files under ``log_dir`` (default
    ``runs/<date>_<host><comment>``); use as a context manager or call :meth:`close`.

    >>> import tempfile
    >>> import nbgrad as nb
    >>> from nbgrad.utils.tensorboard import SummaryWriter
    >>> with SummaryWriter(tempfile.mkdtemp()) as w:
    ...     w.add_scalar("loss", nb.tensor(0.5), global_step=1)
    """

    def __init__(self, log_dir: str | None = None, comment: str = "", purge_step=None,
                 max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = "") -> None:
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._writer = EventFileWriter(self.log_dir, max_queue, flush_secs, filename_suffix)
        self._children: dict[str, EventFileWriter] = {}

    def get_logdir(self) -> str:
        """The directory the event files go to.

        >>> import tempfile
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> d = tempfile.mkdtemp()
        >>> SummaryWriter(d).get_logdir() == d
        True
        """
        return self.log_dir

    def _add(self, summary: Summary, global_step=None, walltime=None, writer=None) -> None:
        event = Event(summary=summary, wall_time=time.time() if walltime is None else walltime)
        if global_step is not None:
            event.step = int(global_step)
        (writer or self._writer).add_event(event)

    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None,
                   new_style: bool = False, double_precision: bool = False) -> None:
        """Log one scalar (a number or a one-element tensor) under ``tag``.

        >>> import tempfile
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).add_scalar("lr", 0.1, 0)
        """
        value = Summary.Value(tag=tag, simple_value=_scalar(scalar_value))
        self._add(Summary(value=[value]), global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None,
                    walltime=None) -> None:
        """Log several scalars on one chart: each goes to its own run directory
        ``log_dir/<main_tag>_<tag>``, under the tag ``main_tag`` (as PyTorch).

        >>> import tempfile
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).add_scalars("loss", {"train": 1.0, "val": 2.0}, 0)
        """
        for tag, v in tag_scalar_dict.items():
            name = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{tag}")
            child = self._children.get(name)
            if child is None:
                child = self._children[name] = EventFileWriter(name, self.max_queue,
                                                               self.flush_secs,
                                                               self.filename_suffix)
            value = Summary.Value(tag=main_tag, simple_value=_scalar(v))
            self._add(Summary(value=[value]), global_step, walltime, child)

    def add_histogram(self, tag: str, values, global_step=None, bins="tensorflow",
                      walltime=None, max_bins=None) -> None:
        """Log a histogram of ``values`` (``bins``: a count or a numpy bins rule; the default
        ``"tensorflow"`` uses numpy's ``"auto"``).

        >>> import tempfile
        >>> import nbgrad as nb
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).add_histogram("w", nb.randn(100), 0)
        """
        x = _numpy(values).astype(np.float64).reshape(-1)
        if x.size == 0:
            raise ValueError("The histogram is empty, please file a bug report.")
        counts, edges = np.histogram(x, bins="auto" if bins == "tensorflow" else bins)
        hist = HistogramProto(min=float(x.min()), max=float(x.max()), num=int(x.size),
                              sum=float(x.sum()), sum_squares=float((x * x).sum()),
                              bucket_limit=edges[1:].tolist(), bucket=counts.tolist())
        self._add(Summary(value=[Summary.Value(tag=tag, histo=hist)]), global_step, walltime)

    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None,
                  dataformats: str = "CHW") -> None:
        """Log an image: floats in ``[0, 1]`` or uint8, laid out as ``dataformats``
        (``CHW``, ``HWC``, ``HW``), encoded as PNG.

        >>> import tempfile
        >>> import nbgrad as nb
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).add_image("img", nb.rand(3, 4, 5), 0)
        """
        hwc = _to_hwc(_numpy(img_tensor), dataformats)
        image = Summary.Image(height=hwc.shape[0], width=hwc.shape[1], colorspace=hwc.shape[2],
                              encoded_image_string=_png(hwc))
        self._add(Summary(value=[Summary.Value(tag=tag, image=image)]), global_step, walltime)

    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Log a text (markdown) under ``tag`` for TensorBoard's text plugin.

        >>> import tempfile
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).add_text("note", "hello", 0)
        """
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        t = TensorProto(dtype="DT_STRING", string_val=[text_string.encode("utf-8")],
                        tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
        value = Summary.Value(tag=f"{tag}/text_summary", metadata=meta, tensor=t)
        self._add(Summary(value=[value]), global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """Accepted for compatibility; nbgrad does not trace graphs into TensorBoard's format,
        so nothing is written.

        >>> import tempfile
        >>> import nbgrad as nb
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).add_graph(nb.nn.Linear(2, 1), nb.ones(1, 2))
        """

    def flush(self) -> None:
        """Write pending events to disk.

        >>> import tempfile
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).flush()
        """
        self._writer.flush()
        for child in self._children.values():
            child.flush()

    def close(self) -> None:
        """Flush and close the event files.

        >>> import tempfile
        >>> from nbgrad.utils.tensorboard import SummaryWriter
        >>> SummaryWriter(tempfile.mkdtemp()).close()
        """
        self._writer.close()
        for child in self._children.values():
            child.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
