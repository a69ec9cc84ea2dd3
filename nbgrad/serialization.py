"""``nb.save`` / ``nb.load``: state dicts as a numpy ``.npz`` archive with a JSON manifest.

The archive holds one array per tensor plus ``__nbgrad__.npy``, a JSON description of the
object tree (dicts, lists, tuples, tensors, numpy arrays, numbers, strings, ``None``). Loading
never unpickles anything (``allow_pickle=False``), so a file can only ever give back data.
"""

from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import tensor
from nbgrad.tensor import Tensor

__all__ = ["save", "load", "SerializationError"]

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
        with open(f, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


# ----------------------------------------------------------------------------- load
def _corrupt(where, why: str) -> SerializationError:
    return SerializationError(f"nb.load: {where} is not a valid nbgrad file ({why})")


def _decode(node, archive, where, map_location):
    if not isinstance(node, dict) or "kind" not in node:
        raise _corrupt(where, "malformed manifest entry")
    kind = node["kind"]
    if kind in ("tensor", "ndarray"):
        key = node.get("key")
        if key not in archive.files:
            raise _corrupt(where, f"array {key!r} named in the manifest is missing")
        try:
            arr = archive[key]
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise _corrupt(where, f"array {key!r} cannot be read: {exc}") from None
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
    if kind == "dict":
        out = {}
        for pair in node.get("items", ()):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _corrupt(where, "malformed dict entry")
            out[_decode(pair[0], archive, where, map_location)] = _decode(
                pair[1], archive, where, map_location)
        return out
    if kind in ("list", "tuple"):
        items = [_decode(v, archive, where, map_location) for v in node.get("items", ())]
        return items if kind == "list" else tuple(items)
    raise _corrupt(where, f"unknown entry kind {kind!r}")


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


def load(f, map_location=None, weights_only: bool = True):
    """Load an object written by :func:`save` from a path or binary file object.

    Nothing is unpickled; a file that is not an nbgrad archive raises ``SerializationError`` (a
    ``RuntimeError``). ``map_location`` (e.g. ``"cpu"``) puts every tensor on that device.

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
    if isinstance(f, (str, os.PathLike)):
        if not os.path.exists(f):
            raise FileNotFoundError(f"nb.load: no such file: {os.fspath(f)!r}")
        with open(f, "rb") as fh:  # closed whatever happens while reading
            return _load(fh, repr(os.fspath(f)), map_location)
    return _load(f, "the given file", map_location)


def _load(f, where: str, map_location):
    try:
        archive = np.load(f, allow_pickle=False)
    except ValueError as exc:
        raise _corrupt(where, f"not an .npz archive: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _corrupt(where, f"unreadable: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _corrupt(where, "a single .npy array, not an .npz archive")
    with archive:
        if _MANIFEST not in archive.files:
            raise _corrupt(where, "no nbgrad manifest; was it written by nb.save?")
        try:
            raw = archive[_MANIFEST]
            manifest = json.loads(bytes(raw.astype(np.uint8)).decode("utf-8"))
        except (ValueError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
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

