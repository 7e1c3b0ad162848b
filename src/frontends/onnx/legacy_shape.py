"""Adapters from older ONNX versions of the shape ops to the op table's form."""
from __future__ import annotations

from .adapters import ADAPTERS, NodeView, adapter  # noqa: F401
