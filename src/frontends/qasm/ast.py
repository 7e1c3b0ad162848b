"""The syntax tree of an OpenQASM 2 or 3 program: what the parser builds and lowering reads.

Every node carries a `Pos` (file, line, column and the source line) so that errors found while
lowering point at the input like parse errors do.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...errors import ParseError


@dataclass(frozen=True)
class Source:
    name: str | None
    text: str = field(repr=False)

    def line(self, n: int) -> str:
        lines = self.text.splitlines()
        return lines[n - 1] if 0 < n <= len(lines) else ""


@dataclass(frozen=True)
class Pos:
    source: Source
    line: int
    col: int

    def __repr__(self) -> str:
        return f"{self.source.name or '<input>'}:{self.line}:{self.col}"

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.source.name, self.line, self.col,
                          self.source.line(self.line))


# -- expressions -----------------------------------------------------------------------------

CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": math.tau, "τ": math.tau, "euler": math.e,
             "ℇ": math.e}
FUNCTIONS = {"sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log,
             "sqrt": math.sqrt, "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan,
             "asin": math.asin, "acos": math.acos, "atan": math.atan}


@dataclass(frozen=True)
class Expr:
    pos: Pos

    def eval(self, env: Mapping[str, float]) -> float:
        raise NotImplementedError

    def names(self) -> set[str]:
        return set()


@dataclass(frozen=True)
class Num(Expr):
    value: float

    def eval(self, env: Mapping[str, float]) -> float:
        return self.value


@dataclass(frozen=True)
class Name(Expr):
    id: str

    def eval(self, env: Mapping[str, float]) -> float:
        if self.id in env:
            return env[self.id]
        if self.id in CONSTANTS:
            return CONSTANTS[self.id]
        raise self.pos.error(f"undefined identifier '{self.id}' in expression")

    def names(self) -> set[str]:
        return {self.id}


@dataclass(frozen=True)
class Call(Expr):
    fn: str
    arg: Expr

    def eval(self, env: Mapping[str, float]) -> float:
        f = FUNCTIONS.get(self.fn)
        if f is None:
            raise self.pos.error(f"unknown function '{self.fn}'; functions are "
                                 f"{', '.join(sorted(FUNCTIONS))}")
        x = self.arg.eval(env)
        try:
            return float(f(x))
        except (ValueError, OverflowError):
            raise self.pos.error(f"{self.fn}({x!r}) is undefined") from None

    def names(self) -> set[str]:
        return self.arg.names()


@dataclass(frozen=True)
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr

    def eval(self, env: Mapping[str, float]) -> float:
        a, b = self.left.eval(env), self.right.eval(env)
        try:
            if self.op == "+":
                return a + b
            if self.op == "-":
                return a - b
            if self.op == "*":
                return a * b
            if self.op == "/":
                return a / b
            if self.op == "%":
                return math.fmod(a, b)
            return float(a ** b)
        except (ZeroDivisionError, OverflowError, ValueError, TypeError):
            raise self.pos.error(f"cannot compute {a!r} {self.op} {b!r}") from None

    def names(self) -> set[str]:
        return self.left.names() | self.right.names()


@dataclass(frozen=True)
class Neg(Expr):
    arg: Expr

    def eval(self, env: Mapping[str, float]) -> float:
        return -self.arg.eval(env)

    def names(self) -> set[str]:
        return self.arg.names()


# -- operands --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Index:
    """`[i]`, `[a:b]` or `[a:s:b]` (QASM 3 ranges include their end)."""

    start: Expr
    stop: Expr | None = None
    step: Expr | None = None


@dataclass(frozen=True)
class Arg:
    pos: Pos
    name: str
    index: Index | None = None
    physical: bool = False  # `$3`: hardware qubit 3

    def text(self) -> str:
        return self.name if self.index is None else f"{self.name}[...]"


# -- statements ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stmt:
    pos: Pos


@dataclass(frozen=True)
class Include(Stmt):
    path: str


@dataclass(frozen=True)
class RegDecl(Stmt):
    name: str
    size: int | None  # None: a single qubit/bit (QASM 3 `qubit q;`)
    quantum: bool


@dataclass(frozen=True)
class Modifier:
    pos: Pos
    kind: str  # inv, pow, ctrl, negctrl
    arg: Expr | None = None


@dataclass(frozen=True)
class GateCall(Stmt):
    name: str
    params: tuple[Expr, ...]
    args: tuple[Arg, ...]
    modifiers: tuple[Modifier, ...] = ()


@dataclass(frozen=True)
class GateDef(Stmt):
    name: str
    params: tuple[str, ...]
    qubits: tuple[str, ...]
    body: tuple[Stmt, ...] | None  # None: opaque


@dataclass(frozen=True)
class Measure(Stmt):
    qubit: Arg
    target: Arg | None


@dataclass(frozen=True)
class Reset(Stmt):
    qubit: Arg


@dataclass(frozen=True)
class Barrier(Stmt):
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Condition:
    pos: Pos
    target: Arg  # a register or one bit
    value: Expr
    negate: bool = False


@dataclass(frozen=True)
class If(Stmt):
    cond: Condition
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()


@dataclass(frozen=True)
class Program:
    version: int  # 2 or 3
    statements: tuple[Stmt, ...] = field(default_factory=tuple)
