"""``nb.save`` / ``nb.load``: state dicts as a numpy ``.npz`` archive with a JSON manifest.

The archive holds one array per tensor plus ``__nbgrad__.npy``, a JSON description of the
object tree (dicts, lists, tuples, tensors, numpy arrays, numbers, strings, ``None``). Loading
never unpickles anything (``allow_pickle=False``), so a file can only ever give back data.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile

import numpy as np

from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import tensor
from nbgrad.tensor import Tensor

__all__ = ["save", "load", "SerializationError", "DEFAULT_MAX_BYTES", "MAX_MEMBERS",
           "MAX_MANIFEST_BYTES", "MAX_DEPTH"]

DEFAULT_MAX_BYTES = 64 * 2**30
"""Absolute cap on the bytes an archive's arrays may add up to (64 GiB); see :func:`load`."""
DEFLATE_BOUND = 1032
"""Deflate never expands data more than ~1032 times: a member declaring more is a lie."""
MAX_MEMBERS = 100_000
"""The most members an archive may have (a state dict with optimizer state has thousands)."""
MAX_MANIFEST_BYTES = 64 * 2**20
"""The largest JSON manifest accepted (64 MiB)."""
MAX_DEPTH = 200
"""The deepest nesting of dicts/lists/tuples accepted in a manifest."""
_NPY_HEADER_MAX = 10_000
_CHUNK = 1 << 20

_MANIFEST = "__nbgrad__"
_FORMAT = "nbgrad-state"
_VERSION = 1


class SerializationError(RuntimeError):
    """A file that is not a valid nbgrad archive, or an object that cannot be saved."""


# ----------------------------------------------------------------------------- save
def _encode(obj, arrays: dict, path: str):
    if isinstance(obj, Tensor):
        key = f"t{len(arrays)}"
        arrays[key] = obj.detach().cpu().numpy()
        node = {"kind": "tensor", "key": key, "device": str(obj.device)}
        if obj.requires_grad:
            node["requires_grad"] = True
        if type(obj).__name__ == "Parameter":
            node["parameter"] = True
        return node
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise SerializationError(f"nb.save: cannot save an object array at {path}")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"kind": "ndarray", "key": key}
    if obj is None:
        return {"kind": "none"}
    if isinstance(obj, bool):
        return {"kind": "bool", "value": obj}
    if isinstance(obj, (int, np.integer)):
        return {"kind": "int", "value": int(obj)}
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return {"kind": "float", "value": value if math.isfinite(value) else repr(value)}
    if isinstance(obj, str):
        return {"kind": "str", "value": obj}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise SerializationError(
                    f"nb.save: dict keys must be str, int, float, bool or None; got "
                    f"{type(k).__name__} at {path}"
                )
            items.append([_encode(k, arrays, path), _encode(v, arrays, f"{path}[{k!r}]")])
        return {"kind": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {"kind": kind,
                "items": [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]}
    raise SerializationError(
        f"nb.save: cannot save an object of type {type(obj).__name__} at {path}; only tensors, "
        "numpy arrays, numbers, strings, None and dicts/lists/tuples of them are supported"
    )


def save(obj, f) -> None:
    """Save ``obj`` (e.g. ``model.state_dict()``) to the path or binary file object ``f``.

    The file is a numpy ``.npz`` archive; the path is used exactly as given (no suffix added).

    >>> import nbgrad as nb, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.nbz")
    >>> nb.save({"w": nb.tensor([1.0, 2.0]), "step": 3}, path)
    >>> nb.load(path)
    {'w': tensor([1., 2.]), 'step': 3}
    """
    arrays: dict = {}
    root = _encode(obj, arrays, "obj")
    manifest = json.dumps({"format": _FORMAT, "version": _VERSION, "root": root})
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    if isinstance(f, (str, os.PathLike)):
        _atomic_write(os.fspath(f), lambda fh: np.savez(fh, **arrays))
    else:
        np.savez(f, **arrays)


def _atomic_write(path: str, write) -> None:
    """Write through ``write(fileobj)`` to a temporary file next to ``path``, flush and fsync
    it, rename it over ``path`` and fsync the directory: a crash at any moment leaves either
    the old file or the new one, never a torn one."""
    target = os.path.realpath(path)  # a symlink keeps pointing at the (new) file
    directory = os.path.dirname(target) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=directory)
    try:
        try:
            mode = os.stat(target).st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with _suppress_oserror():
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


class _suppress_oserror:  # noqa: N801 - a tiny context manager
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, OSError)


def _fsync_dir(directory: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory handles
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ----------------------------------------------------------------------------- load
def _corrupt(where, why: str) -> SerializationError:
    return SerializationError(f"nb.load: {where} is not a valid nbgrad file ({why})")


def _decode(node, archive, where, map_location, depth: int = 0):
    if depth > MAX_DEPTH:
        raise _corrupt(where, f"manifest nested deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict) or "kind" not in node:
        raise _corrupt(where, "malformed manifest entry")
    kind = node["kind"]
    if kind in ("tensor", "ndarray"):
        arr = archive.read(node.get("key"))
        if kind == "ndarray":
            return arr
        return _tensor_from(arr, node, where, map_location)
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        value = node.get("value")
        expected = {"bool": bool, "int": int, "str": str}[kind]
        if type(value) is not expected:
            raise _corrupt(where, f"bad {kind} value")
        return value
    if kind == "float":
        value = node.get("value")
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            return float(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _corrupt(where, "bad float value")
        return float(value)
    if kind not in ("dict", "list", "tuple"):
        raise _corrupt(where, f"unknown entry kind {kind!r}")
    items = node.get("items", [])
    if not isinstance(items, list):
        raise _corrupt(where, "malformed container entry")
    if kind == "dict":
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                raise _corrupt(where, "malformed dict entry")
            key = _decode(pair[0], archive, where, map_location, depth + 1)
            try:
                hash(key)
            except TypeError:
                raise _corrupt(where, "unhashable dict key") from None
            out[key] = _decode(pair[1], archive, where, map_location, depth + 1)
        return out
    out = [_decode(v, archive, where, map_location, depth + 1) for v in items]
    return out if kind == "list" else tuple(out)


def _tensor_from(arr: np.ndarray, node: dict, where, map_location) -> Tensor:
    try:
        t = tensor(arr)
    except TypeError as exc:
        raise _corrupt(where, f"unsupported array: {exc}") from None
    device = map_location if map_location is not None else node.get("device", "cpu")
    if str(device) != "cpu":
        try:
            t = t.to(device)
        except Exception as exc:
            raise SerializationError(
                f"nb.load: cannot restore a tensor saved on '{device}' ({exc}); pass "
                "map_location='cpu' to load it on the CPU"
            ) from exc
    if node.get("parameter"):
        return Parameter(t, bool(node.get("requires_grad", False)))
    if node.get("requires_grad"):
        t.requires_grad_(True)
    return t


def load(f, map_location=None, weights_only: bool = True, *, max_bytes: int | None = None):
    """Load an object written by :func:`save` from a path or binary file object.

    Nothing is unpickled; a file that is not an nbgrad archive raises ``SerializationError`` (a
    ``RuntimeError``). ``map_location`` (e.g. ``"cpu"``) puts every tensor on that device.

    Loading is bounded: before anything large is allocated, an archive is refused whose arrays
    declare more than ``max_bytes`` in all (default: ``min(64 GiB, 1032 * file size + 1 MiB)``,
    1032 being deflate's largest expansion), a member claiming more than deflate can expand to,
    a member whose declared shape does not match its stored size, duplicate member names, more
    than ``MAX_MEMBERS`` members, a manifest over ``MAX_MANIFEST_BYTES`` or nested deeper than
    ``MAX_DEPTH``, and an array the manifest names twice.

    >>> import nbgrad as nb
    >>> import io
    >>> buffer = io.BytesIO()
    >>> nb.save({"w": nb.tensor([1.0, 2.0])}, buffer)
    >>> _ = buffer.seek(0)
    >>> nb.load(buffer, map_location="cpu")
    {'w': tensor([1., 2.])}
    """
    if not weights_only:
        raise ValueError("nb.load never unpickles: weights_only=False is not supported")
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                  or max_bytes < 0):
        raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
    if isinstance(f, (str, os.PathLike)):
        if not os.path.exists(f):
            raise FileNotFoundError(f"nb.load: no such file: {os.fspath(f)!r}")
        with open(f, "rb") as fh:  # closed whatever happens while reading
            return _load(fh, repr(os.fspath(f)), map_location, max_bytes)
    if not (hasattr(f, "read") and hasattr(f, "seek")):
        raise TypeError(f"expected str, bytes or os.PathLike object, not {type(f).__name__}")
    return _load(f, "the given file", map_location, max_bytes)


def _file_size(f) -> int:
    try:
        here = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(here)
        return end - here
    except (OSError, AttributeError, ValueError):
        return -1


class _Archive:
    """The members of a validated zip archive, read one bounded array at a time."""

    def __init__(self, zf: zipfile.ZipFile, where: str, max_bytes: int) -> None:
        self.zf = zf
        self.where = where
        self.infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in zf.infolist():
            name = info.filename
            if name in self.infos:
                raise _corrupt(where, f"duplicate member name {name!r}")
            if info.compress_type == zipfile.ZIP_STORED:
                if info.file_size != info.compress_size:
                    raise _corrupt(where, f"member {name!r}: stored size does not match")
            elif info.compress_type == zipfile.ZIP_DEFLATED:
                if info.file_size > info.compress_size * DEFLATE_BOUND + 1024:
                    raise _corrupt(where, f"member {name!r} declares {info.file_size} bytes from "
                                   f"{info.compress_size} compressed (a zip bomb)")
            else:
                raise _corrupt(where, f"member {name!r}: unsupported compression")
            if info.flag_bits & 0x1:
                raise _corrupt(where, f"member {name!r} is encrypted")
            total += info.file_size
            self.infos[name] = info
        if total > max_bytes:
            raise _corrupt(where, f"its arrays declare {total} bytes, more than max_bytes="
                           f"{max_bytes} (pass a larger max_bytes= to nb.load if you trust it)")
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return f"{key}.npy" in self.infos

    def read(self, key) -> np.ndarray:
        where = self.where
        if not isinstance(key, str) or not self.has(key):
            raise _corrupt(where, f"array {key!r} named in the manifest is missing")
        if key in self.used:
            raise _corrupt(where, f"array {key!r} is named twice in the manifest")
        self.used.add(key)
        info = self.infos[f"{key}.npy"]
        try:
            with self.zf.open(info) as fh:
                return self._read_npy(fh, info, key)
        except SerializationError:
            raise
        except Exception as exc:  # zipfile and numpy raise many types on corrupt bytes
            raise _corrupt(where, f"array {key!r} cannot be read: "
                           f"{type(exc).__name__}: {exc}") from None

    def _read_npy(self, fh, info, key) -> np.ndarray:
        where = self.where
        fmt = np.lib.format
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh, max_header_size=_NPY_HEADER_MAX)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh, max_header_size=_NPY_HEADER_MAX)
        else:
            raise _corrupt(where, f"array {key!r}: unsupported .npy version {version}")
        if dtype.hasobject:
            raise _corrupt(where, f"array {key!r} cannot be read: Object arrays cannot be "
                           "loaded when allow_pickle=False")
        if dtype.kind not in "biufc" or dtype.fields is not None:
            raise _corrupt(where, f"unsupported array: array {key!r} has dtype {dtype}")
        if not isinstance(shape, tuple) or any(
                not isinstance(d, int) or d < 0 for d in shape) or len(shape) > 64:
            raise _corrupt(where, f"array {key!r}: bad shape {shape!r}")
        nbytes = math.prod(shape) * dtype.itemsize
        header = fh.tell()
        if nbytes != info.file_size - header:
            raise _corrupt(where, f"array {key!r} declares shape {shape} ({nbytes} bytes) but "
                           f"stores {info.file_size - header} bytes")
        shape_c = shape[::-1] if fortran else shape
        arr = np.empty(shape_c, dtype=dtype)
        view = memoryview(arr.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            n = fh.readinto(view[done:done + _CHUNK])
            if not n:
                raise _corrupt(where, f"array {key!r} is truncated")
            done += n
        if fh.read(1):  # also makes zipfile check the CRC
            raise _corrupt(where, f"array {key!r} has trailing data")
        return arr.T if fortran else arr


def _load(f, where: str, map_location, max_bytes):
    size = _file_size(f)
    if max_bytes is None:
        max_bytes = DEFAULT_MAX_BYTES if size < 0 else min(
            DEFAULT_MAX_BYTES, size * DEFLATE_BOUND + (1 << 20))
    try:
        start = f.tell()
        end = zipfile._EndRecData(f)  # the end record alone: the member count, unparsed
        f.seek(start)
    except Exception as exc:  # noqa: BLE001 - any failure reading the end record
        raise _corrupt(where, f"unreadable: {type(exc).__name__}: {exc}") from None
    if end is None:
        try:
            head = f.read(6)
            f.seek(start)
        except Exception:  # noqa: BLE001
            head = b""
        if size == 0 or head == b"":
            raise _corrupt(where, "unreadable: No data left in file")
        if head == b"\x93NUMPY":
            raise _corrupt(where, "a single .npy array, not an .npz archive")
        if head.startswith(b"PK"):
            raise _corrupt(where, "unreadable: File is not a zip file")
        raise _corrupt(where, "not an .npz archive")
    if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_MEMBERS:
        raise _corrupt(where, f"{end[zipfile._ECD_ENTRIES_TOTAL]} members, more than "
                       f"{MAX_MEMBERS}")
    if end[zipfile._ECD_SIZE] > max(size, 0) and size >= 0:
        raise _corrupt(where, "its central directory is larger than the file")
    try:
        zf = zipfile.ZipFile(f)
    except Exception as exc:  # zipfile raises many types on a corrupt directory
        raise _corrupt(where, f"unreadable: {type(exc).__name__}: {exc}") from None
    with zf:
        archive = _Archive(zf, where, max_bytes)
        if not archive.has(_MANIFEST):
            raise _corrupt(where, "no nbgrad manifest; was it written by nb.save?")
        info = archive.infos[f"{_MANIFEST}.npy"]
        if info.file_size > MAX_MANIFEST_BYTES:
            raise _corrupt(where, f"manifest of {info.file_size} bytes, more than "
                           f"{MAX_MANIFEST_BYTES}")
        raw = archive.read(_MANIFEST)
        try:
            manifest = json.loads(bytes(raw.astype(np.uint8)).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _corrupt(where, f"unreadable manifest: {exc}") from None
        except RecursionError:
            raise _corrupt(where, "manifest nested too deeply") from None
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            raise _corrupt(where, "unknown manifest format")
        if manifest.get("version") != _VERSION:
            raise _corrupt(where, f"unsupported format version {manifest.get('version')!r}")
        try:
            return _decode(manifest.get("root"), archive, where, map_location)
        except RecursionError:
            raise _corrupt(where, "manifest nested too deeply") from None
