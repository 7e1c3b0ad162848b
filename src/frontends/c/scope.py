"""Names in scope while checking C: variables, constants, functions, typedefs, struct tags; and
turning declaration specifiers plus a declarator into a C type."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import UnsupportedOp
from ...ir.dtype import DType
from ...ir.kernel import MemScope, ScalarType
from . import ast as A
from .ctype import (
    SCALAR_WORDS,
    TYPEDEFS,
    Array,
    CType,
    Pointer,
    Scalar,
    Struct,
    Void,
    vector_word,
)
from .lexer import Pos
from .values import Obj


def unsupported(pos: Pos | None, message: str) -> UnsupportedOp:
    """An UnsupportedOp that says where, and shows the line, like a ParseError."""
    if pos is None:
        return UnsupportedOp(message, op=message.split(" ")[0])
    line = pos.source.line(pos.line).rstrip()
    text = f"{pos.where()}{message}"
    if line:
        text += f"\n    {line}\n    {' ' * (pos.col - 1)}^"
    return UnsupportedOp(text, op=message.split(" ")[0])


@dataclass(frozen=True)
class ConstVal:
    """A name with a value known while compiling (enum constant, template value parameter)."""

    value: int | float
    ctype: Scalar


@dataclass(frozen=True)
class GlobalTable:
    """A program-scope constant array (`__constant float w[9] = {...}`), materialized in each
    kernel that reads it."""

    name: str
    ctype: Array
    init: A.Expr
    pos: Pos


@dataclass(frozen=True)
class HostGlobal:
    """A program-scope variable the host fills (cudaMemcpyToSymbol): not supported."""

    name: str
    pos: Pos


Entry = Obj | ConstVal | GlobalTable | HostGlobal | A.FunctionDef


@dataclass
class Scope:
    parent: Scope | None = None
    names: dict[str, Entry] = field(default_factory=dict)
    types: dict[str, CType] = field(default_factory=dict)
    structs: dict[str, Struct] = field(default_factory=dict)

    def lookup(self, name: str) -> Entry | None:
        s: Scope | None = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def lookup_type(self, name: str) -> CType | None:
        s: Scope | None = self
        while s is not None:
            if name in s.types:
                return s.types[name]
            s = s.parent
        return TYPEDEFS.get(name)

    def lookup_struct(self, name: str) -> Struct | None:
        s: Scope | None = self
        while s is not None:
            if name in s.structs:
                return s.structs[name]
            s = s.parent
        return None

    def child(self) -> Scope:
        return Scope(self)


SPACE_WORDS = {"__global": MemScope.GLOBAL, "global": MemScope.GLOBAL,
               "__local": MemScope.LOCAL, "local": MemScope.LOCAL, "__shared__": MemScope.LOCAL,
               "__constant": MemScope.CONSTANT, "constant": MemScope.CONSTANT,
               "__constant__": MemScope.CONSTANT, "__private": MemScope.PRIVATE,
               "private": MemScope.PRIVATE}


@dataclass(frozen=True)
class DeclInfo:
    """What declaration specifiers say besides the type."""

    const: bool = False
    space: MemScope | None = None
    words: frozenset[str] = frozenset()
    attributes: tuple[A.Attribute, ...] = ()

    def has(self, *words: str) -> bool:
        return any(w in self.words for w in words)


class TypeResolver:
    """Specifiers and declarators to CTypes. `const_int` evaluates array sizes."""

    def __init__(self, language: str):
        self.opencl = language == "opencl"
        self.anon = 0

    def const_int(self, e: A.Expr, scope: Scope) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def base_type(self, specs: A.Specs, scope: Scope) -> tuple[CType, DeclInfo]:
        words: list[str] = []
        base: CType | None = None
        const, space = False, None
        attrs: list[A.Attribute] = []
        quals: set[str] = set()
        for s in specs.items:
            if isinstance(s, A.Qualifier):
                quals.add(s.text)
                if s.text == "const":
                    const = True
                elif s.text in SPACE_WORDS:
                    space = SPACE_WORDS[s.text]
            elif isinstance(s, A.Attribute):
                attrs.append(s)
            elif isinstance(s, A.TypeKeyword):
                words.append(s.text)
            elif isinstance(s, A.TypeRef):
                t = scope.lookup_type(s.name) or scope.lookup_struct(s.name)
                if t is None:
                    raise s.pos.error(f"unknown type '{s.name}'")
                base = t
            elif isinstance(s, A.StructSpec):
                base = self.struct_type(s, scope)
            elif isinstance(s, A.EnumSpec):
                base = self.enum_type(s, scope)
        if words:
            if base is not None:
                raise specs.pos.error(f"two types in one declaration ('{' '.join(words)}' and "
                                      f"'{base}')")
            base = self.keyword_type(words, specs.pos)
        if base is None:
            if quals & {"unsigned", "signed"}:
                base = self.keyword_type(sorted(quals & {"unsigned", "signed"}), specs.pos)
            else:
                raise specs.pos.error("expected a type")
        if space is MemScope.CONSTANT:
            const = True
        return base, DeclInfo(const, space, frozenset(quals), tuple(attrs))

    def keyword_type(self, words: list[str], pos: Pos) -> CType:
        if words == ["auto"]:
            return Void()   # resolved from the initializer by the caller
        if len(words) == 1 and words[0] not in ("unsigned", "signed", "long", "short"):
            w = words[0]
            if w == "void":
                return Void()
            if w in SCALAR_WORDS:
                return Scalar(ScalarType(SCALAR_WORDS[w]), w)
            v = vector_word(w)
            if v is not None:
                return v
            raise pos.error(f"unknown type '{w}'")
        unsigned = "unsigned" in words
        rest = [w for w in words if w not in ("unsigned", "signed", "int")]
        key = " ".join(rest)
        table = {"": DType.I32, "char": DType.I8, "short": DType.I16, "long": DType.I64,
                 "long long": DType.I64, "double": DType.F64, "long double": DType.F64}
        if key not in table:
            raise pos.error(f"'{' '.join(words)}' is not a type")
        d = table[key]
        if unsigned:
            if not d.is_int:
                raise pos.error(f"'{' '.join(words)}' is not a type")
            d = {DType.I8: DType.U8, DType.I16: DType.U16, DType.I32: DType.U32,
                 DType.I64: DType.U64}[d]
        return Scalar(ScalarType(d), " ".join(words))

    def struct_type(self, s: A.StructSpec, scope: Scope) -> Struct:
        if s.kind == "union":
            raise unsupported(s.pos, "unions are not supported")
        if s.fields is None:
            assert s.name is not None
            t = scope.lookup_struct(s.name)
            if t is None:
                raise s.pos.error(f"unknown struct '{s.name}'")
            return t
        fields: list[tuple[str, CType]] = []
        for fd in s.fields:
            base, info = self.base_type(fd.specs, scope)
            for d in fd.declarators:
                ft, _ = self.declarator_type(base, info, d, scope)
                if d.name is None:
                    raise d.pos.error("a struct field needs a name")
                if any(n == d.name for n, _ in fields):
                    raise d.pos.error(f"struct field '{d.name}' is declared twice")
                fields.append((d.name, ft))
        if s.name is None:
            self.anon += 1
        st = Struct(s.name or f"<anonymous {self.anon}>", tuple(fields))
        if s.name is not None:
            scope.structs[s.name] = st
        return st

    def enum_type(self, s: A.EnumSpec, scope: Scope) -> Scalar:
        nxt = 0
        for name, _pos, value in s.items or ():
            if value is not None:
                nxt = self.const_int(value, scope)
            scope.names[name] = ConstVal(nxt, Scalar(ScalarType(DType.I32), "int"))
            nxt += 1
        return Scalar(ScalarType(DType.I32), "int")

    def declarator_type(self, base: CType, info: DeclInfo, d: A.Declarator,
                        scope: Scope) -> tuple[CType, bool]:
        """The declared type, and whether it is a C++ reference."""
        t = base
        first_ptr = True
        is_ref = False
        for op in d.ops:
            if isinstance(op, A.PtrOp):
                if first_ptr:
                    t = Pointer(t, info.space, info.const)
                    first_ptr = False
                else:
                    assert isinstance(t, Pointer)
                    t = Pointer(t, None, "const" in op.qualifiers)
            elif isinstance(op, A.RefOp):
                is_ref = True
            elif isinstance(op, A.ArrayOp):
                size = self.const_int(op.size, scope) if op.size is not None else None
                if size is not None and size <= 0:
                    raise d.pos.error(f"array size {size} must be positive")
                t = Array(t, size)
            elif isinstance(op, A.FuncOp):
                raise unsupported(d.pos, f"function pointers are not supported ('{d.name}')")
        if isinstance(t, Pointer) and isinstance(t.pointee, Pointer):
            raise unsupported(d.pos, f"pointers to pointers are not supported ('{d.name}')")
        return t, is_ref

    def type_name(self, tn: A.TypeName, scope: Scope) -> CType:
        base, info = self.base_type(tn.specs, scope)
        return self.declarator_type(base, info, tn.declarator, scope)[0]
