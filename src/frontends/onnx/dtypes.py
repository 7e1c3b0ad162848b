"""ONNX TensorProto element types <-> DType."""
from __future__ import annotations

from onnx import TensorProto as T

from ...errors import UnsupportedOp
from ...ir import DType

_FROM: dict[int, DType] = {
         T.FLOAT: DType.F32, T.UINT8: DType.U8, T.INT8: DType.I8, T.UINT16: DType.U16,
         T.INT16: DType.I16, T.INT32: DType.I32, T.INT64: DType.I64, T.STRING: DType.STRING,
         T.BOOL: DType.BOOL, T.FLOAT16: DType.F16, T.DOUBLE: DType.F64, T.UINT32: DType.U32,
         T.UINT64: DType.U64, T.COMPLEX64: DType.C64, T.COMPLEX128: DType.C128,
         T.BFLOAT16: DType.BF16, T.FLOAT8E4M3FN: DType.F8E4M3FN,
         T.FLOAT8E4M3FNUZ: DType.F8E4M3FNUZ, T.FLOAT8E5M2: DType.F8E5M2,
         T.FLOAT8E5M2FNUZ: DType.F8E5M2FNUZ, T.UINT4: DType.U4, T.INT4: DType.I4,
         T.FLOAT4E2M1: DType.F4E2M1, T.FLOAT8E8M0: DType.F8E8M0, T.UINT2: DType.U2,
         T.INT2: DType.I2, T.FLOAT6E2M3: DType.F6E2M3, T.FLOAT6E3M2: DType.F6E3M2}
_TO: dict[DType, int] = {v: k for k, v in _FROM.items()}


def dtype_from_onnx(code: int, what: str = "") -> DType:
    try:
        return _FROM[code]
    except KeyError:
        raise UnsupportedOp(f"{what}: ONNX element type {code} is not supported") from None


def dtype_to_onnx(d: DType) -> int:
    return _TO[d]
