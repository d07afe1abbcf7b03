"""Writes the few ONNX messages the speaker encoder's graph needs, in protobuf's wire format.

The `onnx` package would do this, but importing it costs about 0.9 s of every engine start
(0.7 s of it ml-dtypes, which it imports) and 33 MB of disk, to serialise one fixed graph of
a dozen nodes. The field numbers are onnx.proto's (onnx 1.23); fields are written in
field-number order with repeated scalars unpacked, as protobuf's own serialiser does for
this proto2 file, so the bytes equal `onnx.helper.make_model(...).SerializeToString()`
(checked when this was written). onnxruntime parses and checks the result.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

FLOAT = 1  # TensorProto.DataType
INT64 = 7
_ATTRIBUTE_INT = 2  # AttributeProto.AttributeType
_DTYPES = {np.dtype(np.float32): FLOAT, np.dtype(np.int64): INT64}


def _varint(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative values are not written here")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def _messages(field: int, items: Iterable[bytes]) -> bytes:
    return b"".join(_bytes(field, m) for m in items)


def tensor(name: str, array: np.ndarray) -> bytes:
    """TensorProto: dims (1), data_type (2), name (8), raw_data (9, little-endian)."""
    a = np.ascontiguousarray(array)
    if a.dtype not in _DTYPES:
        raise TypeError(f"{name}: dtype {a.dtype} is not written here")
    return b"".join(_int(1, d) for d in a.shape) + _int(2, _DTYPES[a.dtype]) + _bytes(8, name) + _bytes(9, a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())


def node(op_type: str, inputs: Sequence[str], outputs: Sequence[str], **int_attributes: int) -> bytes:
    """NodeProto: input (1), output (2), op_type (4), attribute (5: name 1, i 3, type 20)."""
    attrs = [_bytes(1, k) + _int(3, v) + _int(20, _ATTRIBUTE_INT) for k, v in int_attributes.items()]
    return b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs) + _bytes(4, op_type) + _messages(5, attrs)


def value_info(name: str, elem_type: int, dims: Sequence[int | str]) -> bytes:
    """ValueInfoProto name (1), type (2) → TypeProto.tensor_type (1) → elem_type (1), shape (2) →
    dim (1): dim_value (1) or dim_param (2)."""
    shape = _messages(1, (_int(1, d) if isinstance(d, int) else _bytes(2, d) for d in dims))
    return _bytes(1, name) + _bytes(2, _bytes(1, _int(1, elem_type) + _bytes(2, shape)))


def model(nodes: Sequence[bytes], name: str, inputs: Sequence[bytes], outputs: Sequence[bytes], initializers: Sequence[bytes], opset: int, ir_version: int) -> bytes:
    """ModelProto: ir_version (1), graph (7: node 1, name 2, initializer 5, input 11, output 12),
    opset_import (8: version 2, default domain)."""
    graph = _messages(1, nodes) + _bytes(2, name) + _messages(5, initializers) + _messages(11, inputs) + _messages(12, outputs)
    return _int(1, ir_version) + _bytes(7, graph) + _bytes(8, _bytes(1, "") + _int(2, opset))
