"""The syntax tree of a C translation unit, as parser.py builds it and lowering reads it.

Every node carries the Pos of its first token. Declarators are already unwound into `ops`: the
type constructors applied to the base type, innermost first (`float *a[4]` is ptr, then
array 4: an array of four pointers).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .lexer import Pos, Tok

# -- declarations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Qualifier:
    pos: Pos
    text: str


@dataclass(frozen=True)
class TypeKeyword:
    pos: Pos
    text: str


@dataclass(frozen=True)
class TypeRef:
    """A typedef name or a template type parameter."""

    pos: Pos
    name: str


@dataclass(frozen=True)
class StructSpec:
    pos: Pos
    kind: str                                     # "struct" or "union"
    name: str | None
    fields: tuple[FieldDecl, ...] | None          # None: a reference to a declared struct


@dataclass(frozen=True)
class FieldDecl:
    pos: Pos
    specs: Specs
    declarators: tuple[Declarator, ...]


@dataclass(frozen=True)
class EnumSpec:
    pos: Pos
    name: str | None
    items: tuple[tuple[str, Pos, Expr | None], ...] | None


@dataclass(frozen=True)
class Attribute:
    """`__attribute__((...))`, `__launch_bounds__(...)`, ...: the name and its argument tokens."""

    pos: Pos
    name: str
    tokens: tuple[Tok, ...]


Spec = Qualifier | TypeKeyword | TypeRef | StructSpec | EnumSpec | Attribute


@dataclass(frozen=True)
class Specs:
    pos: Pos
    items: tuple[Spec, ...]

    def words(self) -> list[str]:
        return [s.text for s in self.items if isinstance(s, (Qualifier, TypeKeyword))]

    def has(self, *words: str) -> bool:
        return any(w in words for w in self.words())


@dataclass(frozen=True)
class PtrOp:
    qualifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefOp:
    pass


@dataclass(frozen=True)
class ArrayOp:
    size: Expr | None


@dataclass(frozen=True)
class FuncOp:
    params: tuple[Param, ...]
    variadic: bool = False


DeclOp = PtrOp | RefOp | ArrayOp | FuncOp


@dataclass(frozen=True)
class Declarator:
    pos: Pos
    name: str | None
    ops: tuple[DeclOp, ...] = ()
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True)
class Param:
    pos: Pos
    specs: Specs
    declarator: Declarator


@dataclass(frozen=True)
class TypeName:
    pos: Pos
    specs: Specs
    declarator: Declarator        # name None


@dataclass(frozen=True)
class InitDeclarator:
    declarator: Declarator
    init: Expr | None


@dataclass(frozen=True)
class Declaration:
    pos: Pos
    specs: Specs
    declarators: tuple[InitDeclarator, ...]


@dataclass(frozen=True)
class TemplateParam:
    pos: Pos
    name: str
    kind: Specs | None            # None: a type parameter (typename T)


@dataclass(frozen=True)
class FunctionDef:
    pos: Pos
    specs: Specs
    declarator: Declarator
    body: Compound
    template: tuple[TemplateParam, ...] | None = None

    @property
    def name(self) -> str:
        assert self.declarator.name is not None
        return self.declarator.name

    @property
    def func(self) -> FuncOp:
        op = self.declarator.ops[0]
        assert isinstance(op, FuncOp)
        return op


@dataclass(frozen=True)
class Unit:
    items: tuple[Declaration | FunctionDef, ...]


# -- expressions ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    pos: Pos


@dataclass(frozen=True)
class Name(Expr):
    id: str


@dataclass(frozen=True)
class Number(Expr):
    text: str


@dataclass(frozen=True)
class CharLit(Expr):
    value: int


@dataclass(frozen=True)
class StringLit(Expr):
    value: str


@dataclass(frozen=True)
class BinOp(Expr):
    op: str
    a: Expr
    b: Expr


@dataclass(frozen=True)
class UnOp(Expr):
    op: str                       # - + ! ~ * &
    x: Expr


@dataclass(frozen=True)
class IncDec(Expr):
    op: str                       # ++ or --
    x: Expr
    post: bool


@dataclass(frozen=True)
class Assign(Expr):
    op: str                       # = += -= ...
    target: Expr
    value: Expr


@dataclass(frozen=True)
class Ternary(Expr):
    cond: Expr
    a: Expr
    b: Expr


@dataclass(frozen=True)
class Comma(Expr):
    a: Expr
    b: Expr


@dataclass(frozen=True)
class Cast(Expr):
    type: TypeName
    x: Expr


@dataclass(frozen=True)
class SizeOf(Expr):
    x: Expr | TypeName


@dataclass(frozen=True)
class Index(Expr):
    base: Expr
    index: Expr


@dataclass(frozen=True)
class Call(Expr):
    func: Expr
    args: tuple[Expr, ...]
    targs: tuple[TypeName | Expr, ...] | None = None


@dataclass(frozen=True)
class Member(Expr):
    base: Expr
    name: str
    arrow: bool = False


@dataclass(frozen=True)
class Paren(Expr):
    x: Expr


@dataclass(frozen=True)
class InitList(Expr):
    items: tuple[Expr, ...]


# -- statements ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stmt:
    pos: Pos


@dataclass(frozen=True)
class Compound(Stmt):
    items: tuple[Stmt, ...] = field(default=())


@dataclass(frozen=True)
class DeclStmt(Stmt):
    decl: Declaration


@dataclass(frozen=True)
class ExprStmt(Stmt):
    x: Expr


@dataclass(frozen=True)
class Empty(Stmt):
    pass


@dataclass(frozen=True)
class If(Stmt):
    cond: Expr
    then: Stmt
    orelse: Stmt | None


@dataclass(frozen=True)
class While(Stmt):
    cond: Expr
    body: Stmt


@dataclass(frozen=True)
class DoWhile(Stmt):
    body: Stmt
    cond: Expr


@dataclass(frozen=True)
class For(Stmt):
    init: DeclStmt | Expr | None
    cond: Expr | None
    step: Expr | None
    body: Stmt


@dataclass(frozen=True)
class Break(Stmt):
    pass


@dataclass(frozen=True)
class Continue(Stmt):
    pass


@dataclass(frozen=True)
class Return(Stmt):
    value: Expr | None


@dataclass(frozen=True)
class Switch(Stmt):
    value: Expr
    body: Stmt


@dataclass(frozen=True)
class Case(Stmt):
    value: Expr | None            # None: default
    body: Stmt


@dataclass(frozen=True)
class Goto(Stmt):
    label: str
