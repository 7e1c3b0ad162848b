"""Element types of tensors. No dtype strings live inside the IR: only DType members."""
from __future__ import annotations

import enum

import ml_dtypes
import numpy as np


class DType(enum.Enum):
    F64 = "f64"
    F32 = "f32"
    F16 = "f16"
    BF16 = "bf16"
    F8E4M3FN = "f8e4m3fn"
    F8E4M3FNUZ = "f8e4m3fnuz"
    F8E5M2 = "f8e5m2"
    F8E5M2FNUZ = "f8e5m2fnuz"
    F8E8M0 = "f8e8m0"
    F6E2M3 = "f6e2m3"
    F6E3M2 = "f6e3m2"
    F4E2M1 = "f4e2m1"
    I64 = "i64"
    I32 = "i32"
    I16 = "i16"
    I8 = "i8"
    I4 = "i4"
    I2 = "i2"
    U64 = "u64"
    U32 = "u32"
    U16 = "u16"
    U8 = "u8"
    U4 = "u4"
    U2 = "u2"
    BOOL = "bool"
    C64 = "c64"
    C128 = "c128"
    STRING = "string"

    @property
    def np(self) -> np.dtype:
        return _TO_NP[self]

    @staticmethod
    def from_np(dt: object) -> DType:
        d = np.dtype(dt)  # type: ignore[call-overload]
        if d.kind in "OUS":
            return DType.STRING
        try:
            return _FROM_NP[d]
        except KeyError:
            raise TypeError(f"no dlc dtype for numpy dtype {d}") from None

    @staticmethod
    def parse(text: str) -> DType:
        return DType(text)

    @property
    def is_float(self) -> bool:
        return self in FLOATS

    @property
    def is_int(self) -> bool:
        return self in SIGNED or self in UNSIGNED

    @property
    def is_signed(self) -> bool:
        return self in SIGNED or self in FLOATS

    @property
    def is_complex(self) -> bool:
        return self in (DType.C64, DType.C128)

    @property
    def bits(self) -> int:
        if self is DType.STRING:
            return 0
        return _BITS.get(self) or self.np.itemsize * 8

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"DType.{self.name}"


FLOATS = frozenset({DType.F64, DType.F32, DType.F16, DType.BF16, DType.F8E4M3FN, DType.F8E4M3FNUZ,
                    DType.F8E5M2, DType.F8E5M2FNUZ, DType.F8E8M0, DType.F6E2M3, DType.F6E3M2,
                    DType.F4E2M1})
SIGNED = frozenset({DType.I64, DType.I32, DType.I16, DType.I8, DType.I4, DType.I2})
UNSIGNED = frozenset({DType.U64, DType.U32, DType.U16, DType.U8, DType.U4, DType.U2})
_BITS = {DType.I4: 4, DType.U4: 4, DType.F4E2M1: 4, DType.I2: 2, DType.U2: 2,
         DType.F6E2M3: 6, DType.F6E3M2: 6}

_TO_NP: dict[DType, np.dtype] = {
    DType.F64: np.dtype(np.float64), DType.F32: np.dtype(np.float32),
    DType.F16: np.dtype(np.float16), DType.BF16: np.dtype(ml_dtypes.bfloat16),
    DType.F8E4M3FN: np.dtype(ml_dtypes.float8_e4m3fn),
    DType.F8E4M3FNUZ: np.dtype(ml_dtypes.float8_e4m3fnuz),
    DType.F8E5M2: np.dtype(ml_dtypes.float8_e5m2),
    DType.F8E5M2FNUZ: np.dtype(ml_dtypes.float8_e5m2fnuz),
    DType.F8E8M0: np.dtype(ml_dtypes.float8_e8m0fnu),
    DType.F6E2M3: np.dtype(ml_dtypes.float6_e2m3fn),
    DType.F6E3M2: np.dtype(ml_dtypes.float6_e3m2fn),
    DType.F4E2M1: np.dtype(ml_dtypes.float4_e2m1fn),
    DType.I64: np.dtype(np.int64), DType.I32: np.dtype(np.int32),
    DType.I16: np.dtype(np.int16), DType.I8: np.dtype(np.int8),
    DType.I4: np.dtype(ml_dtypes.int4), DType.I2: np.dtype(ml_dtypes.int2),
    DType.U64: np.dtype(np.uint64), DType.U32: np.dtype(np.uint32),
    DType.U16: np.dtype(np.uint16), DType.U8: np.dtype(np.uint8),
    DType.U4: np.dtype(ml_dtypes.uint4), DType.U2: np.dtype(ml_dtypes.uint2),
    DType.BOOL: np.dtype(np.bool_), DType.C64: np.dtype(np.complex64),
    DType.C128: np.dtype(np.complex128), DType.STRING: np.dtype(object),
}
_FROM_NP: dict[np.dtype, DType] = {v: k for k, v in _TO_NP.items() if k is not DType.STRING}
