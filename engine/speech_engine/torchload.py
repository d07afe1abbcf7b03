"""Reads PyTorch checkpoints (.pt) into numpy arrays without torch.

Both on-disk formats are handled:
- the zip format (torch >= 1.6): ``archive/data.pkl`` plus one raw file per storage under
  ``archive/data/<key>``;
- the legacy format (what resemblyzer's pretrained.pt uses): four pickles in a row (magic
  number, protocol version, system info, the object) followed by a pickled list of storage
  keys and then, per key in that order, an int64 element count and the raw little-endian
  elements.

The unpickler is restricted: it resolves only the handful of globals a state dict needs
(OrderedDict, tensor rebuild helpers, storage types) and refuses everything else, so a
checkpoint cannot run code.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

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


class CheckpointError(Exception):
    pass


@dataclass(frozen=True)
class _StorageType:
    dtype: Any


@dataclass
class _Storage:
    key: str
    dtype: Any
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def materialise(self) -> np.ndarray:
        if self.storage.data is None:
            raise CheckpointError(f"storage {self.storage.key} has no data")
        flat = self.storage.data
        itemsize = flat.dtype.itemsize
        if not self.size:
            return flat[self.offset].copy()
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=tuple(s * itemsize for s in self.stride), writeable=False
        )
        return np.array(view, copy=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_rest):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, _Storage], zip_mode: bool):
        super().__init__(f)
        self._storages = storages
        self._zip = zip_mode

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}, which this reader does not allow")

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        st = self._storages.get(key)
        if st is None:
            st = self._storages[key] = _Storage(key, storage_type.dtype)
        return st


def _materialise(obj):
    if isinstance(obj, _TensorRef):
        return obj.materialise()
    if isinstance(obj, dict):
        return type(obj)((k, _materialise(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_materialise(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialise(v) for v in obj)
    return obj


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise CheckpointError(f"{path}: zip checkpoint without data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        obj = _Unpickler(io.BytesIO(zf.read(pkl)), storages, zip_mode=True).load()
        for key, st in storages.items():
            st.data = np.frombuffer(zf.read(f"{prefix}data/{key}"), dtype=np.dtype(st.dtype).newbyteorder("<"))
    return obj


def _load_legacy(path: Path) -> Any:
    with open(path, "rb") as f:
        storages: dict[str, _Storage] = {}
        magic = _Unpickler(f, storages, False).load()
        if magic != LEGACY_MAGIC:
            raise CheckpointError(f"{path}: not a PyTorch checkpoint (bad magic number)")
        _Unpickler(f, storages, False).load()  # protocol version
        sys_info = _Unpickler(f, storages, False).load()
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise CheckpointError(f"{path}: big-endian checkpoints are not supported")
        obj = _Unpickler(f, storages, False).load()
        keys = _Unpickler(f, storages, False).load()
        for key in keys:
            key = str(key)
            st = storages.get(key)
            if st is None:
                raise CheckpointError(f"{path}: storage {key} listed but never referenced")
            (count,) = struct.unpack("<q", f.read(8))
            dtype = np.dtype(st.dtype).newbyteorder("<")
            raw = f.read(count * dtype.itemsize)
            if len(raw) != count * dtype.itemsize:
                raise CheckpointError(f"{path}: truncated storage {key}")
            st.data = np.frombuffer(raw, dtype=dtype)
    return obj


def load_checkpoint(path: str | Path) -> Any:
    """The checkpoint's object with every tensor replaced by a numpy array."""
    path = Path(path)
    obj = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    return _materialise(obj)
