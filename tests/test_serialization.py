"""nb.save / nb.load: round trips, state dicts of models and optimizers, hostile files."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn
from nbgrad.serialization import SerializationError


def roundtrip(obj, tmp_path, name="obj.nbz"):
    path = tmp_path / name
    nb.save(obj, path)
    return nb.load(path)


def test_nested_structures_and_scalars(tmp_path):
    obj = {
        "weights": [nb.tensor([[1.0, 2.0]]), nb.tensor([1, 2], dtype=nb.int32)],
        "meta": ("adam", 3, 2.5, None, True, float("nan"), float("-inf")),
        "flags": nb.tensor([True, False]),
        "array": np.arange(4.0),
        7: "int key",
        "empty": {},
    }
    out = roundtrip(obj, tmp_path)
    assert list(out) == list(obj)
    assert out["weights"][0].tolist() == [[1.0, 2.0]] and out["weights"][0].dtype is nb.float32
    assert out["weights"][1].dtype is nb.int32 and out["flags"].dtype is nb.bool
    meta = out["meta"]
    assert isinstance(meta, tuple) and meta[:5] == ("adam", 3, 2.5, None, True)
    assert math.isnan(meta[5]) and meta[6] == -math.inf
    assert isinstance(meta[1], int) and isinstance(meta[4], bool)
    np.testing.assert_array_equal(out["array"], np.arange(4.0))
    assert out[7] == "int key" and out["empty"] == {}


def test_all_dtypes_and_shapes_survive(tmp_path):
    tensors = [nb.tensor(np.random.default_rng(0).standard_normal((2, 3)), dtype=dt)
               for dt in (nb.float32, nb.float64)]
    tensors += [nb.tensor([[1, -2]], dtype=nb.int64), nb.tensor(5.0), nb.zeros(0, 3)]
    out = roundtrip(tensors, tmp_path)
    for a, b in zip(tensors, out):
        assert a.dtype is b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_non_contiguous_and_requires_grad_tensors(tmp_path):
    base = nb.arange(6.0).reshape(2, 3)
    x = nb.tensor([1.0, 2.0], requires_grad=True)
    p = nn.Parameter(nb.ones(2))
    out = roundtrip({"t": base.t(), "x": x, "p": p}, tmp_path)
    assert out["t"].tolist() == base.t().tolist()
    assert out["x"].requires_grad and out["x"].is_leaf
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad


def test_model_state_dict_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3))
    path = tmp_path / "model.nbz"
    nb.save(model.state_dict(), path)
    fresh = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3))
    fresh.load_state_dict(nb.load(path))
    x = nb.randn(5, 4)
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())


def test_path_is_kept_exactly_and_file_objects_work(tmp_path):
    path = tmp_path / "weights.pt"
    nb.save({"a": nb.ones(1)}, str(path))
    assert os.path.exists(path) and not os.path.exists(str(path) + ".npz")
    assert zipfile.is_zipfile(path)
    buffer = io.BytesIO()
    nb.save([nb.ones(2)], buffer)
    buffer.seek(0)
    assert nb.load(buffer)[0].tolist() == [1.0, 1.0]


def test_map_location_and_weights_only(tmp_path):
    out = roundtrip({"a": nb.ones(2)}, tmp_path)
    assert out["a"].device == "cpu"
    path = tmp_path / "obj.nbz"
    assert nb.load(path, map_location="cpu")["a"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="never unpickles"):
        nb.load(path, weights_only=False)


def test_unsupported_objects_are_refused(tmp_path):
    with pytest.raises(SerializationError, match=r"type object at obj\['bad'\]"):
        nb.save({"bad": object()}, tmp_path / "x.nbz")
    with pytest.raises(SerializationError, match="dict keys"):
        nb.save({(1, 2): 3}, tmp_path / "x.nbz")
    with pytest.raises(SerializationError, match="object array"):
        nb.save(np.array([object()]), tmp_path / "x.nbz")


# ----------------------------------------------------------------------------- hostile files
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        nb.load(tmp_path / "nope.nbz")


def test_random_bytes_give_a_clear_error(tmp_path):
    path = tmp_path / "junk.bin"
    path.write_bytes(os.urandom(256))
    with pytest.raises(SerializationError, match="not a valid nbgrad file"):
        nb.load(path)


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(SerializationError, match="not a valid nbgrad file"):
        nb.load(path)
    assert not marker.exists()


def test_a_pickled_array_inside_an_npz_is_not_loaded(tmp_path):
    path = tmp_path / "objarr.npz"
    manifest = json.dumps({"format": "nbgrad-state", "version": 1,
                           "root": {"kind": "ndarray", "key": "a0"}})
    np.savez(path, a0=np.array([{"x": 1}], dtype=object),
             __nbgrad__=np.frombuffer(manifest.encode(), dtype=np.uint8))
    with pytest.raises(SerializationError, match="cannot be read"):
        nb.load(path)


def test_foreign_npz_and_plain_npy(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(SerializationError, match="no nbgrad manifest"):
        nb.load(path)
    npy = tmp_path / "one.npy"
    np.save(npy, np.ones(3))
    with pytest.raises(SerializationError, match="not an .npz archive"):
        nb.load(npy)


@pytest.mark.parametrize("manifest, phrase", [
    (b"{not json", "unreadable manifest"),
    (json.dumps({"format": "other", "version": 1}).encode(), "unknown manifest format"),
    (json.dumps({"format": "nbgrad-state", "version": 99}).encode(), "unsupported format"),
    (json.dumps({"format": "nbgrad-state", "version": 1,
                 "root": {"kind": "tensor", "key": "t9"}}).encode(), "'t9'.*missing"),
    (json.dumps({"format": "nbgrad-state", "version": 1,
                 "root": {"kind": "code", "value": "os.system"}}).encode(), "unknown entry kind"),
    (json.dumps({"format": "nbgrad-state", "version": 1,
                 "root": {"kind": "int", "value": "3"}}).encode(), "bad int value"),
])
def test_corrupt_manifests(tmp_path, manifest, phrase):
    path = tmp_path / "bad.nbz"
    with open(path, "wb") as fh:
        np.savez(fh, __nbgrad__=np.frombuffer(manifest, dtype=np.uint8))
    with pytest.raises(SerializationError, match=phrase):
        nb.load(path)


def test_truncated_archive(tmp_path):
    path = tmp_path / "cut.nbz"
    nb.save({"w": nb.ones(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="not a valid nbgrad file"):
        nb.load(path)


def test_serialization_error_is_a_runtime_error():
    assert issubclass(SerializationError, RuntimeError)
