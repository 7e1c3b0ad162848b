"""The state every part of lowering shares: statement blocks being built, unique names, scopes,
and the primitive conversions, loads and stores between C values and IR."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...ir.kernel import (
    BOOL,
    Alloc,
    Assign,
    Bitcast,
    Broadcast,
    Buffer,
    Cast,
    Const,
    Expr,
    Extract,
    Insert,
    Let,
    Load,
    MakeVector,
    ScalarType,
    Select,
    Stmt,
    Store,
    Swizzle,
    Var,
)
from ...ir.kernel import Binary as IrBinary
from .ctype import INT, CType, Scalar, signed_int_like
from .lexer import Pos
from .scope import Scope, TypeResolver
from .values import RV, MemLV, Obj, ScalarLV, VarLV

if TYPE_CHECKING:
    from .lower import Program


@dataclass
class FuncCtx:
    """An inlined helper being lowered: where its return value goes and how `return` leaves."""

    name: str
    ret_type: CType
    result: Obj | None = None             # an lvalue for the returned value (None: void)
    wrapped: bool = False                 # body inside a one-trip loop: return is `break`
    done: Var | None = None               # set by a return inside a loop of the helper
    c_loops: int = 0                      # C loops of this helper open at this point
    assigned: set[str] = field(default_factory=set)   # names its body may change


@dataclass
class LoopCtx:
    on_continue: Callable[[], None] | None = None   # e.g. a C for-loop's increment
    is_switch: bool = False
    has_return: list[bool] = field(default_factory=lambda: [False])


def const_of(value: int | float | bool, t: ScalarType) -> Const:
    """A constant of type t holding value converted as C converts (wrapping integers)."""
    if t.is_bool:
        return Const(bool(value), t)
    if t.is_int:
        bits = t.dtype.bits
        v = int(value) & ((1 << bits) - 1)
        if t.dtype.is_signed and v >= 1 << (bits - 1):
            v -= 1 << bits
        return Const(v, t)
    with np.errstate(all="ignore"):
        return Const(float(value), t)


class Emitter(TypeResolver):
    """Blocks of statements under construction, names, and value conversions."""

    def __init__(self, program: Program):
        super().__init__(program.language)
        self.program = program
        self.language = program.language
        self.blocks: list[list[Stmt]] = [[]]
        self.names: set[str] = set()
        self.scope: Scope = program.globals.child()
        self.funcs: list[FuncCtx] = []
        self.loops: list[LoopCtx] = []
        self.counter = 0
        self.stmt_pos: Pos = Pos(None, 0, 0)  # type: ignore[arg-type]

    def func(self) -> FuncCtx:
        """The function being lowered: the kernel, or the innermost inlined helper."""
        return self.funcs[-1]

    # -- statements and names --------------------------------------------------------------------
    def emit(self, s: Stmt) -> None:
        if getattr(s, "loc", "") is None and self.loc is not None:
            object.__setattr__(s, "loc", self.loc)   # a fresh statement: say where it came from
        self.blocks[-1].append(s)

    @property
    def loc(self) -> str | None:
        p = self.stmt_pos
        return f"{p.source.name or '<input>'}:{p.line}:{p.col}" if p.source is not None else None

    @contextmanager
    def nested(self) -> Iterator[list[Stmt]]:
        self.blocks.append([])
        try:
            yield self.blocks[-1]
        finally:
            self.blocks.pop()

    def fresh(self, base: str) -> str:
        name = base
        k = 0
        while name in self.names:
            k += 1
            name = f"{base}.{k}"
        self.names.add(name)
        return name

    def var_name(self, name: str) -> str:
        """A unique IR name for a C variable (helpers' locals carry the helper's name)."""
        prefix = ".".join(f.name for f in self.funcs[1:])
        return self.fresh(f"{prefix}.{name}" if prefix else name)

    def temp(self, value: Expr, base: str = "t") -> Var:
        v = Var(self.fresh(base), value.type)
        self.emit(Let(v, value))
        return v

    # -- conversions -----------------------------------------------------------------------------
    def value(self, rv: RV) -> Expr:
        """The IR value of rv in its C type (bool results of comparisons become 0/1, or 0/-1
        lanes for OpenCL vector comparisons)."""
        t = rv.ctype.st
        e = rv.ir
        if e.type == t:
            return e
        if e.type.is_bool and not t.is_bool:
            if t.lanes == 1:
                return self.cast(e, t)
            return Select(e, Broadcast(Const(-1, t.element), t.lanes),
                          Broadcast(Const(0, t.element), t.lanes))
        return self.cast(e, t)

    def cast(self, e: Expr, t: ScalarType) -> Expr:
        """C conversion of e to t (a scalar broadcasts to vector lanes)."""
        if e.type == t:
            return e
        if isinstance(e, Const) and t.lanes == 1:
            return self.fold_const(e, t)
        if e.type.lanes == 1 and t.lanes > 1:
            return Broadcast(self.cast(e, t.element), t.lanes)
        if isinstance(e, Broadcast) and isinstance(e.x, Const):
            return Broadcast(self.fold_const(e.x, t.element), t.lanes)
        return Cast(e, t)

    def fold_const(self, c: Const, t: ScalarType) -> Const:
        v = c.value
        if t.is_bool:
            return Const(bool(v), t)
        if t.is_int:
            if isinstance(v, float):
                if v != v or v in (float("inf"), float("-inf")):
                    v = 0
                v = int(v)
            return const_of(int(v), t)
        return const_of(float(v), t)

    def convert(self, rv: RV, to: Scalar, pos: Pos, what: str = "") -> Expr:
        """rv as a value of type `to`: C's implicit conversions; vectors convert only from
        scalars or the same vector type."""
        src = rv.ctype
        if src.st == to.st:
            return self.value(rv)
        if to.st.is_bool and to.lanes == 1 and rv.ir.type == BOOL:
            return rv.ir
        if src.lanes > 1 and src.lanes != to.lanes:
            where = f" for {what}" if what and what != "explicit" else ""
            raise pos.error(f"cannot convert {src} to {to}{where}")
        if src.lanes > 1 and to.lanes > 1 and src.st.dtype != to.st.dtype \
                and self.language == "opencl" and what != "explicit":
            where = f" for {what}" if what else ""
            raise pos.error(f"cannot implicitly convert {src} to {to}{where}; use "
                            f"convert_{to}()")
        return self.cast(self.value(rv), to.st)

    def cond_bool(self, rv: RV) -> Expr:
        """rv as a condition (scalar bool)."""
        e = rv.ir
        if e.type == BOOL:
            return e
        if e.type.lanes > 1:
            raise TypeError("vector condition")
        return IrBinary("ne", e, const_of(0, e.type))

    def vector_mask(self, rv: RV) -> Expr:
        """A vector comparison result as bool lanes."""
        e = rv.ir
        if e.type.is_bool:
            return e
        lanes = e.type.lanes
        zero = Broadcast(const_of(0, e.type.element), lanes)
        return IrBinary("ne", e, zero)

    def compare_type(self, t: Scalar) -> Scalar:
        """The C type of a comparison of values of type t."""
        return signed_int_like(t) if t.lanes > 1 else INT

    # -- loads and stores ------------------------------------------------------------------------
    def load(self, lv: ScalarLV) -> RV:
        if isinstance(lv, VarLV):
            return RV(lv.ctype, lv.known if lv.known is not None else lv.var)
        if isinstance(lv, MemLV):
            b = lv.buffer
            if lv.wide3:
                return RV(lv.ctype, Swizzle(Load(b, lv.index), (0, 1, 2)))
            lanes = lv.ctype.lanes if b.elem.lanes == 1 and lv.ctype.lanes > 1 else 1
            return RV(lv.ctype, Load(b, lv.index, lanes))
        base = self.load(lv.base).ir
        if len(lv.lanes) == 1:
            return RV(lv.ctype, Extract(base, lv.lanes[0]))
        return RV(lv.ctype, Swizzle(base, lv.lanes))

    def store(self, lv: ScalarLV, value: Expr, pos: Pos) -> None:
        """Write value (already of lv's type) to lv."""
        if lv.const:
            raise pos.error("cannot assign to a const value")
        if isinstance(lv, VarLV):
            self.emit(Assign(lv.var, value))
        elif isinstance(lv, MemLV):
            if lv.wide3:
                old = Load(lv.buffer, lv.index)
                new: Expr = old
                for k in range(3):
                    new = Insert(new, k, Extract(value, k))
                self.emit(Store(lv.buffer, lv.index, new))
            else:
                self.emit(Store(lv.buffer, lv.index, value))
        else:
            base = self.load(lv.base).ir
            if len(lv.lanes) == 1:
                new = Insert(base, lv.lanes[0], value)
            else:
                if isinstance(value, Var) or isinstance(value, Const):
                    src = value
                else:
                    src = self.temp(value)
                new = base
                for k, lane in enumerate(lv.lanes):
                    new = Insert(new, lane, Extract(src, k))
            self.store(lv.base, new, pos)

    def alloc(self, buffer: Buffer) -> None:
        self.emit(Alloc(buffer))


def make_vector(elems: list[Expr]) -> Expr:
    return MakeVector(tuple(elems)) if len(elems) > 1 else elems[0]


def bitcast(e: Expr, t: ScalarType) -> Expr:
    return Bitcast(e, t)


_INT_FOLD: dict[str, Callable[[int, int], int]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "min": min, "max": max}
_CMP_FOLD = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
             "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


def fold_binary(op: str, a: Expr, b: Expr) -> Expr:
    """a op b, computed now when both are constants (C semantics in their type)."""
    if not (isinstance(a, Const) and isinstance(b, Const)) or a.type != b.type:
        return IrBinary(op, a, b)
    t, x, y = a.type, a.value, b.value
    if op in _CMP_FOLD:
        return Const(bool(_CMP_FOLD[op](x, y)), BOOL)
    if op in ("land", "lor"):
        return Const(bool(x and y) if op == "land" else bool(x or y), BOOL)
    if t.is_int:
        xi, yi = int(x), int(y)
        if op in _INT_FOLD:
            return const_of(_INT_FOLD[op](xi, yi), t)
        if op in ("div", "rem"):
            if yi == 0:
                return IrBinary(op, a, b)
            q = abs(xi) // abs(yi) * (1 if (xi < 0) == (yi < 0) else -1)
            return const_of(q if op == "div" else xi - q * yi, t)
        if op == "shl":
            return const_of(xi << yi, t) if 0 <= yi < t.dtype.bits else IrBinary(op, a, b)
        if op == "shr":
            return const_of(xi >> yi, t) if 0 <= yi < t.dtype.bits else IrBinary(op, a, b)
        return IrBinary(op, a, b)
    if t.is_float and op in ("add", "sub", "mul", "div", "min", "max"):
        npt = t.dtype.np
        with np.errstate(all="ignore"):
            xa, ya = np.array(x, npt), np.array(y, npt)
            r = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                 "min": np.minimum, "max": np.maximum}[op](xa, ya)
        return Const(float(r), t)
    return IrBinary(op, a, b)
