"""Reading ONNX models: from a path, bytes or a ModelProto, with external data read only from
regular files inside the model's own directory."""
from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from ...errors import InvalidModel, SecurityError


def load_model(src: object, base_dir: Path | None = None) -> tuple[onnx.ModelProto, str]:
    """Return the model and a name for messages; external data is loaded and checked."""
    if isinstance(src, onnx.ModelProto):
        model, where = src, "<ModelProto>"
    elif isinstance(src, (bytes, bytearray, memoryview)):
        model, where = _parse(bytes(src), "<bytes>"), "<bytes>"
    else:
        path = Path(str(src))
        if not path.is_file():
            raise InvalidModel(f"{path}: no such file")
        model, where = _parse(path.read_bytes(), str(path)), str(path)
        base_dir = base_dir or path.resolve().parent
    _load_external(model, base_dir, where)
    return model, where


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise InvalidModel(f"{where}: not an ONNX model, or a truncated one ({e})") from None
    if not model.HasField("graph") or model.ir_version == 0:
        raise InvalidModel(f"{where}: not an ONNX model (no graph or IR version found)")
    return model


def _tensors(model: onnx.ModelProto):  # type: ignore[no-untyped-def]
    def in_graph(g: onnx.GraphProto):  # type: ignore[no-untyped-def]
        yield from g.initializer
        for n in g.node:
            for a in n.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("g"):
                    yield from in_graph(a.g)
                for sg in a.graphs:
                    yield from in_graph(sg)
    yield from in_graph(model.graph)


def _load_external(model: onnx.ModelProto, base_dir: Path | None, where: str) -> None:
    for t in _tensors(model):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if base_dir is None:
            raise SecurityError(f"{where}: tensor '{t.name}' keeps its data in external file "
                                f"'{loc}'; pass base_dir= to say where the model's files are")
        t.raw_data = read_external(Path(base_dir), loc, int(info.get("offset", 0) or 0),
                                   int(info["length"]) if info.get("length") else None, t.name)
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT


def read_external(base_dir: Path, location: str, offset: int, length: int | None,
                  tensor: str) -> bytes:
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")):
        raise SecurityError(f"tensor '{tensor}': external data path '{location}' is absolute; "
                            "only files inside the model's directory are read")
    base = base_dir.resolve()
    full = (base / location)
    real = full.resolve()
    if base not in real.parents:
        raise SecurityError(f"tensor '{tensor}': external data path '{location}' leads outside "
                            f"the model's directory {base}")
    if not real.is_file():
        raise SecurityError(f"tensor '{tensor}': external data '{location}' is not a regular file "
                            "inside the model's directory")
    with open(real, "rb") as f:
        f.seek(offset)
        data = f.read() if length is None else f.read(length)
    if length is not None and len(data) != length:
        raise SecurityError(f"tensor '{tensor}': external file '{location}' is shorter than "
                            f"offset {offset} + length {length}")
    return data
