"""Adapters from ONNX's forms of the quantization ops to the op table's.

- QuantizeLinear's `output_dtype` and `precision`, and DequantizeLinear's `output_dtype`, are ONNX
  element-type codes (0: not set); the IR holds a DType or None. Versions before 21/23 have no
  such attribute and mean the same as leaving it unset.
"""
from __future__ import annotations

from .adapters import Builder, NodeView, adapter
from .dtypes import dtype_from_onnx

_VERSIONS = (10, 13, 19, 21, 23, 24, 25, 28)


def _codes_to_dtypes(b: Builder, view: NodeView) -> None:
    for name in ("output_dtype", "precision"):
        code = view.attrs.pop(name, 0)
        if code:
            view.attrs[name] = dtype_from_onnx(int(code), f"{view.op} node '{view.name}' {name}")


adapter("QuantizeLinear", _VERSIONS)(_codes_to_dtypes)
adapter("DequantizeLinear", _VERSIONS)(_codes_to_dtypes)
