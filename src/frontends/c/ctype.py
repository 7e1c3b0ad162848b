"""C types as the type checker sees them (scalars, vectors, pointers with address spaces, arrays,
structs) and C's conversion rules: integer promotion and the usual arithmetic conversions."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir.dtype import DType
from ...ir.kernel import MemScope, ScalarType


@dataclass(frozen=True)
class Scalar:
    """An arithmetic type: a scalar or an OpenCL/CUDA vector (lanes > 1)."""

    st: ScalarType
    name: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.name or c_name(self.st)

    @property
    def lanes(self) -> int:
        return self.st.lanes

    @property
    def element(self) -> Scalar:
        return self if self.st.lanes == 1 else Scalar(self.st.element)


@dataclass(frozen=True)
class Void:
    def __str__(self) -> str:
        return "void"


@dataclass(frozen=True)
class Pointer:
    """A pointer; `space` is where it points (None: not said, i.e. private / generic), `const`
    whether the pointee is const."""

    pointee: CType
    space: MemScope | None = None
    const: bool = False

    def __str__(self) -> str:
        sp = f"__{self.space} " if self.space is not None else ""
        return f"{sp}{'const ' if self.const else ''}{self.pointee}*"


@dataclass(frozen=True)
class Array:
    elem: CType
    size: int | None

    def __str__(self) -> str:
        return f"{self.elem}[{self.size if self.size is not None else ''}]"

    def dims(self) -> tuple[list[int | None], CType]:
        """The sizes of nested arrays, outermost first, and the innermost element type."""
        sizes: list[int | None] = [self.size]
        t = self.elem
        while isinstance(t, Array):
            sizes.append(t.size)
            t = t.elem
        return sizes, t


@dataclass(frozen=True)
class Struct:
    name: str
    fields: tuple[tuple[str, CType], ...]

    def __str__(self) -> str:
        return f"struct {self.name}"

    def field(self, name: str) -> CType | None:
        return next((t for n, t in self.fields if n == name), None)


CType = Scalar | Void | Pointer | Array | Struct

_C_NAMES = {DType.BOOL: "bool", DType.I8: "char", DType.U8: "uchar", DType.I16: "short",
            DType.U16: "ushort", DType.I32: "int", DType.U32: "uint", DType.I64: "long",
            DType.U64: "ulong", DType.F16: "half", DType.F32: "float", DType.F64: "double",
            DType.BF16: "bfloat16"}


def c_name(st: ScalarType) -> str:
    base = _C_NAMES.get(st.dtype, str(st.dtype))
    return base if st.lanes == 1 else f"{base}{st.lanes}"


def scalar(dtype: DType, lanes: int = 1) -> Scalar:
    return Scalar(ScalarType(dtype, lanes))


BOOL_T, INT, UINT, LONG, ULONG = (scalar(d) for d in (DType.BOOL, DType.I32, DType.U32,
                                                      DType.I64, DType.U64))
FLOAT, DOUBLE, HALF = scalar(DType.F32), scalar(DType.F64), scalar(DType.F16)
SIZE_T = Scalar(ULONG.st, "size_t")

SCALAR_WORDS = {"char": DType.I8, "uchar": DType.U8, "short": DType.I16, "ushort": DType.U16,
                "int": DType.I32, "uint": DType.U32, "long": DType.I64, "ulong": DType.U64,
                "float": DType.F32, "double": DType.F64, "half": DType.F16, "__half": DType.F16,
                "bool": DType.BOOL, "_Bool": DType.BOOL, "longlong": DType.I64,
                "ulonglong": DType.U64}
TYPEDEFS = {"size_t": SIZE_T, "uintptr_t": ULONG, "ptrdiff_t": LONG, "intptr_t": LONG,
            "int8_t": scalar(DType.I8), "int16_t": scalar(DType.I16), "int32_t": INT,
            "int64_t": LONG, "uint8_t": scalar(DType.U8), "uint16_t": scalar(DType.U16),
            "uint32_t": UINT, "uint64_t": ULONG, "uchar_t": scalar(DType.U8)}


def vector_word(word: str) -> Scalar | None:
    """`float4` -> f32x4; None if `word` is not a vector type name."""
    base = word.rstrip("0123456789")
    digits = word[len(base):]
    if not digits or base not in SCALAR_WORDS or base in ("bool", "_Bool"):
        return None
    n = int(digits)
    if n not in (2, 3, 4, 8, 16):
        return None
    return Scalar(ScalarType(SCALAR_WORDS[base], n), word)


def is_arith(t: CType) -> bool:
    return isinstance(t, Scalar)


def is_int(t: CType) -> bool:
    return isinstance(t, Scalar) and (t.st.is_int or t.st.is_bool)


def is_float(t: CType) -> bool:
    return isinstance(t, Scalar) and t.st.is_float


_INT_RANK = {DType.BOOL: 0, DType.I8: 1, DType.U8: 1, DType.I16: 2, DType.U16: 2,
             DType.I32: 3, DType.U32: 3, DType.I64: 4, DType.U64: 4}
_FLOAT_RANK = {DType.F16: 1, DType.BF16: 1, DType.F32: 2, DType.F64: 3}


def promote(t: Scalar) -> Scalar:
    """C's integer promotion: bool, char and short (signed or not) become int."""
    d = t.st.dtype
    if d in _INT_RANK and _INT_RANK[d] < 3:
        return Scalar(ScalarType(DType.I32, t.lanes)) if t.lanes == 1 else t
    return t


def common_type(a: Scalar, b: Scalar) -> Scalar | None:
    """The usual arithmetic conversions. For vectors: a vector and a scalar give the vector
    type (OpenCL); two vectors must be the same type (None otherwise)."""
    if a.lanes > 1 or b.lanes > 1:
        if a.lanes > 1 and b.lanes > 1:
            return a if a.st == b.st else None
        return a if a.lanes > 1 else b
    da, db = a.st.dtype, b.st.dtype
    if da.is_float or db.is_float:
        ra, rb = _FLOAT_RANK.get(da, 0), _FLOAT_RANK.get(db, 0)
        return a if ra >= rb else b
    pa, pb = promote(a), promote(b)
    da, db = pa.st.dtype, pb.st.dtype
    if da == db:
        return pa
    if da.is_signed == db.is_signed:
        return pa if _INT_RANK[da] >= _INT_RANK[db] else pb
    signed, unsigned = (pa, pb) if da.is_signed else (pb, pa)
    if _INT_RANK[unsigned.st.dtype] >= _INT_RANK[signed.st.dtype]:
        return unsigned
    if signed.st.dtype.bits > unsigned.st.dtype.bits:
        return signed
    return Scalar(ScalarType(_UNSIGNED[signed.st.dtype]))


_UNSIGNED = {DType.I8: DType.U8, DType.I16: DType.U16, DType.I32: DType.U32,
             DType.I64: DType.U64}


def signed_int_like(t: Scalar) -> Scalar:
    """The signed integer type of t's width and lanes (what OpenCL vector comparisons give)."""
    bits = t.st.dtype.bits
    d = {8: DType.I8, 16: DType.I16, 32: DType.I32, 64: DType.I64}[bits]
    return Scalar(ScalarType(d, t.lanes))


def sizeof(t: CType, wide3: bool = True) -> int:
    """Bytes, as C lays the type out. OpenCL 3-lane vectors take four lanes' room (`wide3`);
    CUDA's float3 is three floats."""
    if isinstance(t, Scalar):
        lanes = 4 if t.lanes == 3 and wide3 else t.lanes
        return max(t.st.dtype.bits // 8, 1) * lanes
    if isinstance(t, Pointer):
        return 8
    if isinstance(t, Array):
        return sizeof(t.elem, wide3) * (t.size or 0)
    if isinstance(t, Struct):
        return struct_layout(t, wide3)[1]
    return 1


def alignof(t: CType, wide3: bool = True) -> int:
    if isinstance(t, Array):
        return alignof(t.elem, wide3)
    if isinstance(t, Struct):
        return max((alignof(f, wide3) for _, f in t.fields), default=1)
    if isinstance(t, Scalar) and t.lanes == 3 and not wide3:
        return max(t.st.dtype.bits // 8, 1)
    return sizeof(t, wide3)


def struct_layout(t: Struct, wide3: bool = True) -> tuple[dict[str, int], int]:
    """Byte offsets of the fields and the size, with C's alignment padding."""
    offsets: dict[str, int] = {}
    off = 0
    for name, ft in t.fields:
        a = alignof(ft, wide3)
        off = (off + a - 1) // a * a
        offsets[name] = off
        off += sizeof(ft, wide3)
    a = alignof(t, wide3)
    return offsets, (off + a - 1) // a * a


def leaf_dtype(t: CType) -> DType | None:
    """The one scalar dtype every leaf of a struct/array shares (None: mixed or none)."""
    if isinstance(t, Scalar):
        return t.st.dtype
    if isinstance(t, Array):
        return leaf_dtype(t.elem)
    if isinstance(t, Struct):
        kinds = {leaf_dtype(f) for _, f in t.fields}
        return kinds.pop() if len(kinds) == 1 else None
    return None
