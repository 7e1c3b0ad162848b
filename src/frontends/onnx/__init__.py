"""The ONNX frontend: models from a path, bytes or a ModelProto into a dlc Graph."""
from .importer import import_onnx
from .load import load_model

__all__ = ["import_onnx", "load_model"]
