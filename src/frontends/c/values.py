"""What a C expression lowers to while the type checker works: an rvalue (a typed IR
expression), an lvalue (a variable, a buffer element, lanes of either), a pointer resolved to a
buffer and an offset, an array in memory, or a struct flattened into its fields."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir.kernel import Buffer, Expr, Var
from .ctype import Array, CType, Pointer, Scalar, Struct


@dataclass(frozen=True)
class RV:
    """An arithmetic rvalue. `ir` may be bool (or bool lanes) where C's type is int: comparison
    and logical results stay bool until used as numbers (see Lowerer.value)."""

    ctype: Scalar
    ir: Expr


@dataclass(frozen=True)
class VarLV:
    """A variable; `known` is the value of a const variable with a constant initializer (which
    then needs no IR variable)."""

    var: Var
    ctype: Scalar
    const: bool = False
    known: Expr | None = None


@dataclass(frozen=True)
class MemLV:
    """One element of a buffer. `wide3` is an OpenCL 3-lane vector kept in a 4-lane buffer."""

    buffer: Buffer
    index: tuple[Expr, ...]
    ctype: Scalar
    const: bool = False
    wide3: bool = False


@dataclass(frozen=True)
class LaneLV:
    """Lanes of a vector lvalue (`v.x`, `v.s01`)."""

    base: VarLV | MemLV | LaneLV
    lanes: tuple[int, ...]
    ctype: Scalar

    @property
    def const(self) -> bool:
        return self.base.const


ScalarLV = VarLV | MemLV | LaneLV


@dataclass(frozen=True)
class StructObj:
    """A struct value or lvalue, one object per field (scalars, arrays, nested structs)."""

    ctype: Struct
    fields: dict[str, Obj] = field(hash=False)


@dataclass(frozen=True)
class ArrObj:
    """An array in a buffer: the leading indices already chosen (`prefix`) and the offset, in
    buffer elements, where it starts in the next dimension. `fields` instead of a buffer: an
    array of structs kept as one array per field."""

    ctype: Array
    buffer: Buffer | None
    prefix: tuple[Expr, ...]
    offset: Expr
    fields: dict[str, ArrObj] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class PtrVal:
    """A pointer: into `buffer` at `prefix` + `offset` (buffer elements), or to a private
    lvalue `target` (`&x`, offset 0)."""

    ctype: Pointer
    buffer: Buffer | None
    prefix: tuple[Expr, ...]
    offset: Expr
    target: Obj | None = None


@dataclass
class PtrVar:
    """A pointer variable: its buffer is fixed when it is first given a value; its offset is
    an i64 variable when the pointer is assigned later (else a fixed expression)."""

    name: str
    ctype: Pointer
    value: PtrVal | None
    offset_var: Var | None = None


Obj = RV | VarLV | MemLV | LaneLV | StructObj | ArrObj | PtrVal | PtrVar


def ctype_of(o: Obj) -> CType:
    return o.ctype


def is_lvalue(o: Obj) -> bool:
    return isinstance(o, (VarLV, MemLV, LaneLV, PtrVar)) or (
        isinstance(o, StructObj) and all(is_lvalue(f) or isinstance(f, ArrObj)
                                         for f in o.fields.values()))


def pointer_to(o: ArrObj) -> Pointer:
    """The pointer an array decays to."""
    return Pointer(o.ctype.elem, o.buffer.scope if o.buffer is not None else None)
