"""nb.utils.tensorboard: a clear ImportError naming the extra without `tensorboard`; with it,
the events SummaryWriter writes read back through tensorboard's own loader."""

from __future__ import annotations

import glob
import importlib
import os
import sys

import numpy as np
import pytest

import nbgrad as nb


def test_missing_tensorboard_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    for name in [m for m in sys.modules if m.startswith("nbgrad.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r"pip install nbgrad\[tensorboard\]"):
        importlib.import_module("nbgrad.utils.tensorboard")


def _events(log_dir):
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    (path,) = glob.glob(os.path.join(log_dir, "events.out.tfevents.*"))
    events = (Event.FromString(raw) for raw in RawEventFileLoader(path).Load())
    return [e for e in events if e.HasField("summary")]


def test_summary_writer_writes_readable_events(tmp_path):
    pytest.importorskip("tensorboard")
    from nbgrad.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path)) as w:
        assert w.get_logdir() == str(tmp_path)
        w.add_scalar("loss", nb.tensor(0.25), global_step=3)
        w.add_scalar("lr", 0.1, 4)
        w.add_histogram("w", nb.tensor(np.arange(10.0)), 5, bins=5)
        w.add_image("img", nb.tensor(np.zeros((3, 2, 4), np.float32)), 6)
        w.add_image("hw", np.full((2, 3), 255, np.uint8), 6, dataformats="HW")
        w.add_text("note", "hello", 7)
        w.add_graph(nb.nn.Linear(2, 1), nb.ones(1, 2))
        w.add_scalars("pair", {"a": 1.0, "b": 2.0}, 8)
    events = _events(str(tmp_path))
    by_tag = {e.summary.value[0].tag: e for e in events}
    assert by_tag["loss"].step == 3 and by_tag["loss"].summary.value[0].simple_value == 0.25
    assert abs(by_tag["lr"].summary.value[0].simple_value - 0.1) < 1e-7
    h = by_tag["w"].summary.value[0].histo
    assert (h.min, h.max, h.num, h.sum, h.sum_squares) == (0.0, 9.0, 10, 45.0, 285.0)
    assert list(h.bucket) == [2, 2, 2, 2, 2] and h.bucket_limit[-1] == 9.0
    img = by_tag["img"].summary.value[0].image
    assert (img.height, img.width, img.colorspace) == (2, 4, 3)
    assert img.encoded_image_string.startswith(b"\x89PNG")
    assert by_tag["hw"].summary.value[0].image.colorspace == 1
    text = by_tag["note/text_summary"].summary.value[0]
    assert text.tensor.string_val == [b"hello"] and text.metadata.plugin_data.plugin_name == "text"
    for sub, value in (("pair_a", 1.0), ("pair_b", 2.0)):
        (e,) = _events(str(tmp_path / sub))
        assert e.summary.value[0].tag == "pair" and e.summary.value[0].simple_value == value


def test_default_log_dir_uses_runs_and_comment(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from nbgrad.utils.tensorboard import SummaryWriter

    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp")
    w.close()
    assert w.get_logdir().startswith("runs" + os.sep) and w.get_logdir().endswith("_exp")
    with pytest.raises(ValueError, match="dataformats"):
        SummaryWriter(str(tmp_path / "x")).add_image("i", np.zeros((2, 2)), dataformats="CHW")
