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


# --------------------------------------------------------------------- atomic saves
KILL_CHILD = r"""
import os, signal, sys
import numpy as np
import nbgrad as nb
import nbgrad.serialization as ser

path, point = sys.argv[1], sys.argv[2]
def die(*_a, **_k):
    os.kill(os.getpid(), signal.SIGKILL)

if point.startswith("byte"):
    limit = int(point[4:])
    real_fdopen = os.fdopen
    class Killing:
        def __init__(self, fh):
            self.fh, self.n = fh, 0
        def write(self, b):
            if self.n + len(b) > limit:
                self.fh.write(bytes(b)[: limit - self.n]); self.fh.flush(); die()
            self.n += len(b)
            return self.fh.write(b)
        def __getattr__(self, name):
            return getattr(self.fh, name)
        def __enter__(self):
            return self
        def __exit__(self, *a):
            return self.fh.__exit__(*a)
    ser.os.fdopen = lambda *a, **k: Killing(real_fdopen(*a, **k))
elif point == "fsync":
    ser.os.fsync = die
elif point == "replace":
    ser.os.replace = die
elif point == "dirsync":
    ser._fsync_dir = die
nb.save({"version": "new", "big": nb.full((1 << 20,), 2.0, dtype=nb.float64)}, path)
"""


@pytest.mark.parametrize("point", ["byte0", "byte100", "byte4000000", "byte8388700", "fsync",
                                   "replace", "dirsync"])
def test_save_killed_at_any_point_leaves_old_or_new_file(tmp_path, point):
    import signal
    import subprocess
    import sys

    path = tmp_path / "ckpt.nbz"
    nb.save({"version": "old", "big": nb.full((1 << 20,), 1.0, dtype=nb.float64)}, path)
    child = tmp_path / "child.py"
    child.write_text(KILL_CHILD)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, str(child), str(path), point], cwd=root,
                          env=dict(os.environ, PYTHONPATH=root), timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = nb.load(path)
    expect = "new" if point == "dirsync" else "old"
    assert state["version"] == expect
    assert float(state["big"][0]) == (2.0 if expect == "new" else 1.0)
    assert state["big"].shape == (1 << 20,)
    # the killed writer's temporary file may remain, but never under the target's name
    assert {p.name for p in tmp_path.iterdir()} - {"ckpt.nbz", "child.py"} <= {
        p.name for p in tmp_path.iterdir() if p.name.startswith(".ckpt.nbz.")}


def test_save_replaces_atomically_and_keeps_mode(tmp_path):
    path = tmp_path / "w.nbz"
    nb.save({"a": 1}, path)
    os.chmod(path, 0o640)
    nb.save({"a": 2}, path)
    assert nb.load(path) == {"a": 2}
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.nbz"]  # no temporary left
    with pytest.raises(SerializationError):
        nb.save({"bad": object()}, path)
    assert nb.load(path) == {"a": 2}  # a failed save leaves the old file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.nbz"]


# --------------------------------------------------------------------- bounded loads
def _zip(members, compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def _npy_header(shape, dtype="<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _manifest(root) -> bytes:
    buf = io.BytesIO()
    m = json.dumps({"format": "nbgrad-state", "version": 1, "root": root}).encode()
    np.save(buf, np.frombuffer(m, dtype=np.uint8))
    return buf.getvalue()


def _load_bytes(data: bytes, **kw):
    return nb.load(io.BytesIO(data), **kw)


def test_declared_shape_must_match_stored_size():
    data = _zip([("__nbgrad__.npy", _manifest({"kind": "ndarray", "key": "a0"})),
                 ("a0.npy", _npy_header((50_000_000_000,)) + b"\0" * 80)])
    with pytest.raises(SerializationError, match=r"declares shape \(50000000000,\)"):
        _load_bytes(data)


def _patch_sizes(data: bytes, name: bytes, file_size: int) -> bytes:
    """Rewrite the uncompressed size the local and central headers declare for ``name``."""
    import struct

    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = 0
        while (pos := out.find(sig, pos)) >= 0:
            name_off = 30 if sig == b"PK\x03\x04" else 46
            if out[pos + name_off: pos + name_off + len(name)] == name:
                out[pos + off: pos + off + 4] = struct.pack("<I", file_size)
            pos += 4
    return bytes(out)


def test_zip_bomb_is_refused_before_allocating():
    import tracemalloc

    zeros = b"\0" * (4 << 20)
    data = _zip([("__nbgrad__.npy", _manifest({"kind": "ndarray", "key": "a0"}))] +
                [(f"a{i}.npy", _npy_header((len(zeros) // 8,)) + zeros) for i in range(3)],
                zipfile.ZIP_DEFLATED)
    assert len(data) < 100_000
    # every member honest: 12 MiB from ~40 KB is within deflate's bound but over the
    # file-size-based default limit
    tracemalloc.start()
    try:
        with pytest.raises(SerializationError, match="more than max_bytes"):
            _load_bytes(data, max_bytes=1 << 20)
        # a member that claims 4 GB from a few KB is a lie deflate cannot produce
        bomb = _patch_sizes(data, b"a1.npy", 0xFFFF0000)
        with pytest.raises(SerializationError, match="zip bomb|more than max_bytes"):
            _load_bytes(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(data) + (4 << 20), peak


def test_duplicate_names_member_counts_and_manifest_limits(monkeypatch):
    import warnings

    m = _manifest({"kind": "ndarray", "key": "a0"})
    arr = io.BytesIO()
    np.save(arr, np.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        data = _zip([("__nbgrad__.npy", m), ("a0.npy", arr.getvalue()),
                     ("a0.npy", arr.getvalue())])
    with pytest.raises(SerializationError, match="duplicate member name 'a0.npy'"):
        _load_bytes(data)
    import nbgrad.serialization as ser

    many = _zip([("__nbgrad__.npy", m)] + [(f"x{i}", b"") for i in range(20)])
    monkeypatch.setattr(ser, "MAX_MEMBERS", 10)
    with pytest.raises(SerializationError, match="21 members, more than 10"):
        _load_bytes(many)
    monkeypatch.setattr(ser, "MAX_MANIFEST_BYTES", 50)
    with pytest.raises(SerializationError, match="manifest of .* bytes, more than 50"):
        _load_bytes(_zip([("__nbgrad__.npy", m)]))
    monkeypatch.undo()
    deep = {"kind": "none"}
    for _ in range(ser.MAX_DEPTH + 5):
        deep = {"kind": "list", "items": [deep]}
    with pytest.raises(SerializationError, match="nested deeper than"):
        _load_bytes(_zip([("__nbgrad__.npy", _manifest(deep))]))
    twice = _manifest({"kind": "list", "items": [{"kind": "ndarray", "key": "a0"}] * 2})
    with pytest.raises(SerializationError, match="named twice"):
        _load_bytes(_zip([("__nbgrad__.npy", twice), ("a0.npy", arr.getvalue())]))


def test_max_bytes_argument():
    buf = io.BytesIO()
    nb.save({"w": nb.ones(1000)}, buf)
    data = buf.getvalue()
    assert _load_bytes(data, max_bytes=10_000)["w"].shape == (1000,)
    with pytest.raises(SerializationError, match="more than max_bytes=100"):
        _load_bytes(data, max_bytes=100)
    with pytest.raises(ValueError, match="max_bytes"):
        _load_bytes(data, max_bytes=-1)


# --------------------------------------------------------------------------- fuzzing
def _sample_bytes() -> bytes:
    buf = io.BytesIO()
    nb.save({"w": nb.arange(6, dtype=nb.float32).reshape(2, 3), "b": [nb.tensor([1, 2]), 3.5],
             "name": "x"}, buf)
    return buf.getvalue()


SAMPLE = _sample_bytes()


def _check_outcome(data: bytes) -> None:
    try:
        out = _load_bytes(data)
    except SerializationError:
        return
    # anything that loads has the saved structure (a flip in ignored bytes changes nothing)
    assert isinstance(out, dict)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    st = None


if st is not None:
    FUZZ = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

    @FUZZ
    @given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(1, 255)),
                    min_size=1, max_size=8))
    def test_fuzz_byte_flips(flips):
        data = bytearray(SAMPLE)
        for pos, x in flips:
            data[pos] ^= x
        _check_outcome(bytes(data))

    @FUZZ
    @given(st.integers(0, len(SAMPLE)))
    def test_fuzz_truncations(n):
        _check_outcome(SAMPLE[:n])

    @FUZZ
    @given(st.sampled_from(["t0.npy", "t1.npy", "a0.npy", "__nbgrad__.npy"]),
           st.binary(max_size=200), st.booleans())
    def test_fuzz_member_edits(name, payload, keep_header):
        with zipfile.ZipFile(io.BytesIO(SAMPLE)) as zf:
            members = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
        edited = []
        for n, d in members:
            if n == name:
                d = (d[:128] + payload) if keep_header else payload
            edited.append((n, d))
        _check_outcome(_zip(edited))
