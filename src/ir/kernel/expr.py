"""Kernel-level expressions: integer index arithmetic, scalar and vector arithmetic, loads, casts,
math intrinsics, SPMD builtins (global id, local id, ...) and warp ops.

Every expression is a frozen dataclass with a `.type` (a ScalarType). Operands must have equal
types (casts are explicit); Python numbers next to an expression become constants of its type, so
`x[i] * 2.0 + 1.0` builds what it says. `==` is structural equality: compare with `.eq()`/`.ne()`.
Types are not checked when an expression is built; `dlc.ir.verify.verify_kernel` checks them.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dtype import DType
from .types import BOOL, I32, U32, MemScope, ScalarType, ShuffleMode, VoteMode

# -- op tables -----------------------------------------------------------------------------------
# Unary ops: name -> operand kind ("num": int or float, "int", "bool").
UNARY_OPS: dict[str, str] = {"neg": "num", "not": "bool", "bitnot": "int"}
# Binary ops: name -> kind. "num": int/float -> same; "int": int -> same; "bits": int/bool -> same;
# "bool": bool -> bool (short-circuit); "cmp": any -> bool. div/rem are C's (truncating for ints);
# floordiv/floormod round toward -inf (Python's // and %), the natural forms for index math.
BINARY_OPS: dict[str, str] = {
    "add": "num", "sub": "num", "mul": "num", "div": "num", "rem": "num", "min": "num",
    "max": "num", "floordiv": "int", "floormod": "int", "shl": "int", "shr": "int",
    "and": "bits", "or": "bits", "xor": "bits", "land": "bool", "lor": "bool",
    "eq": "cmp", "ne": "cmp", "lt": "cmp", "le": "cmp", "gt": "cmp", "ge": "cmp",
}
COMPARISONS = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})


@dataclass(frozen=True)
class MathFn:
    """A math intrinsic: how many operands, which element kinds it takes ("float", "int", "num"),
    and whether it returns its operands' type or bool (isnan, ...)."""

    arity: int
    domain: str
    returns_bool: bool = False


_F1 = ("exp exp2 exp10 log log2 log10 log1p expm1 sqrt rsqrt cbrt sin cos tan asin acos atan sinh "
       "cosh tanh asinh acosh atanh erf erfc tgamma lgamma floor ceil round trunc rint")
MATH: dict[str, MathFn] = {
    **{n: MathFn(1, "float") for n in _F1.split()},
    "abs": MathFn(1, "num"),
    **{n: MathFn(1, "int") for n in ("popcount", "clz", "ctz")},
    **{n: MathFn(1, "float", True) for n in ("isnan", "isinf", "isfinite", "signbit")},
    **{n: MathFn(2, "float") for n in ("pow", "atan2", "fmod", "hypot", "copysign")},
    "mulhi": MathFn(2, "int"),
    "fma": MathFn(3, "float"),
    "clamp": MathFn(3, "num"),
}
# SPMD builtins: one work-item's place in the NDRange (OpenCL get_*_id / get_*_size, CUDA
# threadIdx, blockIdx, blockDim, gridDim) and in its warp / sub-group.
AXIS_BUILTINS = frozenset({"global_id", "local_id", "group_id", "local_size", "num_groups",
                           "global_size", "global_offset"})
WARP_BUILTINS = frozenset({"lane_id", "warp_size"})
BUILTINS = AXIS_BUILTINS | WARP_BUILTINS

Number = int | float | bool


class Expr:
    """Base of kernel expressions. Subclasses are frozen dataclasses with a `type`."""

    __slots__ = ()
    if TYPE_CHECKING:
        @property
        def type(self) -> ScalarType: ...

    def __bool__(self) -> bool:
        raise TypeError("a kernel expression has no truth value here: build conditions with "
                        "KernelBuilder.if_/select, compare with .eq()/.ne()")

    def __str__(self) -> str:
        from ..text.kernel_printer import expr_text
        return expr_text(self)

    # arithmetic (Python numbers become constants of the other operand's type)
    def __add__(self, o: Expr | Number) -> Expr: return binary("add", self, o)
    def __radd__(self, o: Number) -> Expr: return binary("add", o, self)
    def __sub__(self, o: Expr | Number) -> Expr: return binary("sub", self, o)
    def __rsub__(self, o: Number) -> Expr: return binary("sub", o, self)
    def __mul__(self, o: Expr | Number) -> Expr: return binary("mul", self, o)
    def __rmul__(self, o: Number) -> Expr: return binary("mul", o, self)
    def __truediv__(self, o: Expr | Number) -> Expr: return binary("div", self, o)
    def __rtruediv__(self, o: Number) -> Expr: return binary("div", o, self)
    def __floordiv__(self, o: Expr | Number) -> Expr: return binary("floordiv", self, o)
    def __rfloordiv__(self, o: Number) -> Expr: return binary("floordiv", o, self)
    def __mod__(self, o: Expr | Number) -> Expr: return binary("floormod", self, o)
    def __rmod__(self, o: Number) -> Expr: return binary("floormod", o, self)
    def __and__(self, o: Expr | Number) -> Expr: return binary("and", self, o)
    def __rand__(self, o: Number) -> Expr: return binary("and", o, self)
    def __or__(self, o: Expr | Number) -> Expr: return binary("or", self, o)
    def __ror__(self, o: Number) -> Expr: return binary("or", o, self)
    def __xor__(self, o: Expr | Number) -> Expr: return binary("xor", self, o)
    def __rxor__(self, o: Number) -> Expr: return binary("xor", o, self)
    def __lshift__(self, o: Expr | Number) -> Expr: return binary("shl", self, o)
    def __rshift__(self, o: Expr | Number) -> Expr: return binary("shr", self, o)
    def __lt__(self, o: Expr | Number) -> Expr: return binary("lt", self, o)
    def __le__(self, o: Expr | Number) -> Expr: return binary("le", self, o)
    def __gt__(self, o: Expr | Number) -> Expr: return binary("gt", self, o)
    def __ge__(self, o: Expr | Number) -> Expr: return binary("ge", self, o)

    def __neg__(self) -> Expr: return Unary("neg", self)

    def __invert__(self) -> Expr:
        return Unary("not" if self.type.is_bool else "bitnot", self)

    def __abs__(self) -> Expr: return Math("abs", (self,))

    def eq(self, o: Expr | Number) -> Expr: return binary("eq", self, o)
    def ne(self, o: Expr | Number) -> Expr: return binary("ne", self, o)
    def min(self, o: Expr | Number) -> Expr: return binary("min", self, o)
    def max(self, o: Expr | Number) -> Expr: return binary("max", self, o)
    def rem(self, o: Expr | Number) -> Expr: return binary("rem", self, o)

    def cast(self, t: ScalarType | DType | str) -> Expr:
        from .types import as_type
        return Cast(self, as_type(t))

    def bitcast(self, t: ScalarType | DType | str) -> Expr:
        from .types import as_type
        return Bitcast(self, as_type(t))


def lift(x: Expr | Number, like: ScalarType) -> Expr:
    """`x` as an expression; a Python number becomes a constant of type `like` (broadcast to its
    lanes)."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, float) and not like.is_float:
        raise TypeError(f"the float {x!r} next to a {like} expression needs an explicit cast")
    c = Const(x, like.element)
    return c if like.lanes == 1 else Broadcast(c, like.lanes)


def binary(op: str, a: Expr | Number, b: Expr | Number) -> Expr:
    if isinstance(a, Expr):
        return Binary(op, a, lift(b, a.type))
    if isinstance(b, Expr):
        return Binary(op, lift(a, b.type), b)
    raise TypeError("binary(): at least one operand must be an expression")


def const(value: Number, type: ScalarType | DType | str | None = None) -> Const:
    """A constant; without a type: bool, i32 for ints (i64 when it does not fit), f32 for floats."""
    from .types import F32, I64, as_type
    if type is not None:
        return Const(value, as_type(type))
    if isinstance(value, bool):
        return Const(value, BOOL)
    if isinstance(value, int):
        return Const(value, I32 if -2**31 <= value < 2**31 else I64)
    return Const(value, F32)


# -- leaves --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Const(Expr):
    """A scalar constant. Its value is normalized to its type (an f32 constant holds the float32
    value); equality is bitwise for floats, so 0.0 != -0.0 and nan == nan."""

    value: Number
    type: ScalarType

    def __post_init__(self) -> None:
        t, v = self.type, self.value
        if t.is_bool:
            v = bool(v)
        elif t.is_int:
            v = int(v)
        elif t.is_float:
            with np.errstate(all="ignore"):
                v = float(np.array(float(v), np.float64).astype(t.dtype.np))
        object.__setattr__(self, "value", v)

    def _key(self) -> tuple[Any, ...]:
        v = self.value
        bits = struct.pack("<d", v) if isinstance(v, float) else v
        return (self.type, type(v).__name__, bits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Const) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True)
class Var(Expr):
    """A scalar parameter, loop variable or private variable, named in its scope."""

    name: str
    type: ScalarType


@dataclass(frozen=True)
class Builtin(Expr):
    """An SPMD builtin (`global_id`, `local_id`, `group_id`, `local_size`, `num_groups`,
    `global_size`, `global_offset` of `axis`; `lane_id`, `warp_size`)."""

    name: str
    axis: int = 0
    type: ScalarType = I32


@dataclass(frozen=True)
class Buffer:
    """A memory region a kernel reads or writes: a parameter or an `Alloc`.

    `elem` may be a vector type (a `float4*` buffer has elem f32x4). `shape` is a tuple of integer
    expressions (row-major) or None for a flat buffer whose length is known at launch. `read` and
    `write` say how the kernel may access it.
    """

    name: str
    elem: ScalarType
    shape: tuple[Expr, ...] | None = None
    scope: MemScope = MemScope.GLOBAL
    read: bool = True
    write: bool = True

    @property
    def rank(self) -> int:
        return 1 if self.shape is None else len(self.shape)

    def __getitem__(self, index: Any) -> Load:
        return Load(self, index_tuple(index))

    def __setitem__(self, index: Any, value: Expr | Number) -> None:
        from .builder import current_builder
        current_builder().store(self, index, value)

    def vload(self, index: Any, lanes: int) -> Load:
        """`lanes` consecutive elements starting at `index` as one vector."""
        return Load(self, index_tuple(index), lanes)

    def __str__(self) -> str:
        from ..text.kernel_printer import buffer_decl_text
        return buffer_decl_text(self)


def index_tuple(index: Any) -> tuple[Expr, ...]:
    items = index if isinstance(index, tuple) else (index,)
    return tuple(x if isinstance(x, Expr) else const(int(x)) for x in items)


@dataclass(frozen=True)
class Load(Expr):
    """Read `buffer` at `index` (one index per dimension; one for a flat buffer). With lanes > 1,
    read that many consecutive elements as a vector (OpenCL vloadN)."""

    buffer: Buffer
    index: tuple[Expr, ...]
    lanes: int = 1

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        e = self.buffer.elem
        return e if self.lanes == 1 else e.with_lanes(e.lanes * self.lanes)


# -- arithmetic ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unary(Expr):
    op: str
    x: Expr

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.x.type


@dataclass(frozen=True)
class Binary(Expr):
    op: str
    a: Expr
    b: Expr

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        t = self.a.type
        return BOOL.with_lanes(t.lanes) if self.op in COMPARISONS else t


@dataclass(frozen=True)
class Math(Expr):
    """A math intrinsic from MATH (exp, sqrt, fma, isnan, ...)."""

    fn: str
    args: tuple[Expr, ...]

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        t = self.args[0].type if self.args else BOOL
        info = MATH.get(self.fn)
        return BOOL.with_lanes(t.lanes) if info is not None and info.returns_bool else t


@dataclass(frozen=True)
class Cast(Expr):
    """Convert the value (C conversion rules: floats to ints truncate; to bool is `!= 0`)."""

    x: Expr
    type: ScalarType


@dataclass(frozen=True)
class Bitcast(Expr):
    """Reinterpret the bits as another type of the same width (as_float, __int_as_float)."""

    x: Expr
    type: ScalarType


@dataclass(frozen=True)
class Select(Expr):
    """`cond ? a : b` (both sides evaluated; a vector cond selects lane-wise)."""

    cond: Expr
    a: Expr
    b: Expr

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.a.type


# -- vectors -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Broadcast(Expr):
    """A vector with `lanes` copies of a scalar."""

    x: Expr
    lanes: int

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.x.type.with_lanes(self.lanes)


@dataclass(frozen=True)
class MakeVector(Expr):
    """A vector from scalars, lane 0 first (`(float4)(a, b, c, d)`)."""

    elems: tuple[Expr, ...]

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.elems[0].type.with_lanes(len(self.elems))


@dataclass(frozen=True)
class Extract(Expr):
    """One lane of a vector (`v.y` is lane 1)."""

    x: Expr
    lane: int

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.x.type.element


@dataclass(frozen=True)
class Insert(Expr):
    """The vector with lane `lane` replaced by `value`."""

    x: Expr
    lane: int
    value: Expr

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.x.type


@dataclass(frozen=True)
class Swizzle(Expr):
    """A vector of the given lanes of `x` (`v.wzyx` is lanes (3, 2, 1, 0)); one lane is a scalar
    only through Extract, so a swizzle always has two or more lanes."""

    x: Expr
    lanes: tuple[int, ...]

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.x.type.with_lanes(len(self.lanes))


# -- warp / sub-group ops ------------------------------------------------------------------------

@dataclass(frozen=True)
class Shuffle(Expr):
    """Exchange a value between the lanes of a warp (CUDA __shfl*_sync, OpenCL sub_group_shuffle*).
    `lane` is the source lane (IDX), the delta (UP/DOWN) or the xor mask (XOR); `width` splits the
    warp into segments of that many lanes (None: the whole warp)."""

    mode: ShuffleMode
    x: Expr
    lane: Expr
    width: int | None = None

    @cached_property
    def type(self) -> ScalarType:  # type: ignore[override]
        return self.x.type


@dataclass(frozen=True)
class Ballot(Expr):
    """A u32 mask with bit i set where lane i's predicate holds."""

    pred: Expr
    type: ScalarType = U32


@dataclass(frozen=True)
class ActiveMask(Expr):
    """A u32 mask of the lanes that execute this expression."""

    type: ScalarType = U32


@dataclass(frozen=True)
class Vote(Expr):
    """Whether the predicate holds for any / all active lanes of the warp."""

    mode: VoteMode
    pred: Expr
    type: ScalarType = BOOL


LEAVES = (Const, Var, Builtin, ActiveMask)
