"""Scalar and vector element types of the kernel level, and the small closed vocabularies (memory
scopes, loop kinds, barrier scopes, atomic ops, warp-op modes) that kernels are written in."""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..dtype import DType


@dataclass(frozen=True, order=True)
class ScalarType:
    """The type of a kernel value: an element dtype and a lane count (OpenCL `float4` is f32x4)."""

    dtype: DType
    lanes: int = 1

    @property
    def is_int(self) -> bool:
        return self.dtype.is_int

    @property
    def is_float(self) -> bool:
        return self.dtype.is_float

    @property
    def is_bool(self) -> bool:
        return self.dtype is DType.BOOL

    @property
    def is_vector(self) -> bool:
        return self.lanes > 1

    @property
    def element(self) -> ScalarType:
        """The type of one lane."""
        return ScalarType(self.dtype) if self.lanes != 1 else self

    def with_lanes(self, lanes: int) -> ScalarType:
        return ScalarType(self.dtype, lanes)

    @property
    def bits(self) -> int:
        return self.dtype.bits * self.lanes

    def __str__(self) -> str:
        return str(self.dtype) if self.lanes == 1 else f"{self.dtype}x{self.lanes}"

    @staticmethod
    def parse(text: str) -> ScalarType:
        """`f32` or `f32x4`; ValueError for anything else."""
        try:
            return ScalarType(DType(text))
        except ValueError:
            pass
        m = re.fullmatch(r"(.+)x(\d+)", text)
        if m is None:
            raise ValueError(f"'{text}' is not a kernel type (f32, i64, f32x4, ...)")
        try:
            return ScalarType(DType(m.group(1)), int(m.group(2)))
        except ValueError:
            raise ValueError(f"'{text}' is not a kernel type (f32, i64, f32x4, ...)") from None


BOOL = ScalarType(DType.BOOL)
I8, I16, I32, I64 = (ScalarType(d) for d in (DType.I8, DType.I16, DType.I32, DType.I64))
U8, U16, U32, U64 = (ScalarType(d) for d in (DType.U8, DType.U16, DType.U32, DType.U64))
F16, BF16, F32, F64 = (ScalarType(d) for d in (DType.F16, DType.BF16, DType.F32, DType.F64))


def as_type(t: ScalarType | DType | str) -> ScalarType:
    """Accept a ScalarType, a DType or its text (`"f32x4"`) where a kernel type is expected."""
    if isinstance(t, ScalarType):
        return t
    if isinstance(t, DType):
        return ScalarType(t)
    return ScalarType.parse(t)


class MemScope(enum.StrEnum):
    """Where a buffer lives. LOCAL is OpenCL `__local` / CUDA `__shared__`."""

    GLOBAL = "global"
    CONSTANT = "constant"
    LOCAL = "local"
    PRIVATE = "private"


class ForKind(enum.StrEnum):
    """How a loop's iterations may run: in order, on different cores, in vector lanes, or
    unrolled into straight-line code."""

    SERIAL = "serial"
    PARALLEL = "parallel"
    VECTORIZED = "vectorized"
    UNROLLED = "unrolled"


class BarrierScope(enum.StrEnum):
    """Which work-items wait and which memory is made consistent: LOCAL/GLOBAL/ALL are work-group
    barriers fencing local, global or both memories (OpenCL CLK_*_MEM_FENCE, CUDA
    __syncthreads); WARP synchronizes one warp / sub-group."""

    LOCAL = "local"
    GLOBAL = "global"
    ALL = "all"
    WARP = "warp"


class AtomicOp(enum.StrEnum):
    """Read-modify-write ops; each returns the old value. CAS stores `value` where the old value
    equals `compare`; INC/DEC add/subtract one and take no value."""

    ADD = "add"
    SUB = "sub"
    MIN = "min"
    MAX = "max"
    AND = "and"
    OR = "or"
    XOR = "xor"
    XCHG = "xchg"
    CAS = "cas"
    INC = "inc"
    DEC = "dec"


class ShuffleMode(enum.StrEnum):
    """Warp shuffles: read `value` from lane `lane` (IDX), lane+delta (DOWN), lane-delta (UP) or
    lane^mask (XOR)."""

    IDX = "idx"
    DOWN = "down"
    UP = "up"
    XOR = "xor"


class VoteMode(enum.StrEnum):
    ANY = "any"
    ALL = "all"
