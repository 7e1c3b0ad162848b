"""Memory while checking C: pointers resolved to (buffer, index prefix, offset), arrays in
buffers (multi-dimensional shapes kept), structs in buffers, indexing, address-of and pointer
arithmetic."""
from __future__ import annotations

from ...ir.dtype import DType
from ...ir.kernel import (
    Assign,
    Binary,
    Buffer,
    Const,
    Expr,
    ScalarType,
    Unary,
)
from .ctype import (
    INT,
    LONG,
    Array,
    CType,
    Pointer,
    Scalar,
    Struct,
    Void,
    is_int,
    promote,
    sizeof,
    struct_layout,
)
from .emit import Emitter, const_of
from .lexer import Pos
from .scope import unsupported
from .values import RV, ArrObj, LaneLV, MemLV, Obj, PtrVal, PtrVar, StructObj, VarLV

I64 = ScalarType(DType.I64)
ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "rem", "&": "and", "|": "or",
         "^": "xor", "<<": "shl", ">>": "shr", "==": "eq", "!=": "ne", "<": "lt", ">": "gt",
         "<=": "le", ">=": "ge"}


class MemLowerer(Emitter):
    def to_rv(self, o: Obj, pos: Pos) -> RV:
        if isinstance(o, RV):
            return o
        if isinstance(o, (VarLV, MemLV, LaneLV)):
            return self.load(o)
        raise pos.error(f"expected a number, got {self.describe(o)}")

    def describe(self, o: Obj) -> str:
        if isinstance(o, (PtrVal, PtrVar)):
            return f"a pointer ({o.ctype})"
        if isinstance(o, ArrObj):
            return f"an array ({o.ctype})"
        if isinstance(o, StructObj):
            return f"a struct ({o.ctype})"
        return str(o.ctype)

    def sizeof(self, t: CType) -> int:
        return sizeof(t, self.language == "opencl")

    # -- pointers, arrays, structs ---------------------------------------------------------------
    def decay(self, o: Obj) -> Obj:
        if isinstance(o, ArrObj) and o.fields is None:
            return self.pointer(o, None)
        return o

    def pointer(self, o: Obj, pos: Pos | None) -> PtrVal:
        """o as a pointer value (arrays decay, pointer variables are read)."""
        if isinstance(o, PtrVal):
            return o
        if isinstance(o, PtrVar):
            if o.value is None:
                assert pos is not None
                raise pos.error(f"pointer '{o.name}' is used before it is given a value")
            if o.offset_var is not None:
                return PtrVal(o.ctype, o.value.buffer, o.value.prefix, o.offset_var,
                              o.value.target)
            return o.value
        if isinstance(o, ArrObj):
            if o.fields is not None:
                assert pos is not None
                raise unsupported(pos, "pointers into arrays of structs are not supported")
            elem = o.ctype.elem
            b = o.buffer
            assert b is not None
            if isinstance(elem, Array) and len(o.prefix) < b.rank - 1:
                assert pos is not None
                raise unsupported(pos, "pointers to rows of multi-dimensional arrays beyond the "
                                  "last dimension are not supported")
            return PtrVal(Pointer(elem, b.scope), b, o.prefix, o.offset)
        if pos is None:
            raise TypeError("not a pointer")
        raise pos.error(f"expected a pointer, got {self.describe(o)}")

    def elems(self, t: CType, buf: ScalarType) -> int:
        """How many buffer elements of type `buf` a value of C type t covers."""
        size = self.sizeof(t)
        unit = self.sizeof(Scalar(buf))
        if size % unit:
            raise TypeError(f"{t} does not fit buffer elements of {buf}")
        return size // unit

    def offset_add(self, off: Expr, k: Expr) -> Expr:
        if isinstance(k, Const) and k.value == 0:
            return off
        if isinstance(off, Const) and off.value == 0:
            return k
        if isinstance(off, Const) and isinstance(k, Const) and off.type == k.type:
            return const_of(int(off.value) + int(k.value), off.type)
        if off.type != k.type:
            off, k = self.cast(off, I64), self.cast(k, I64)
        return Binary("add", off, k)

    def scaled(self, i: RV, n: int, pos: Pos) -> Expr:
        if not is_int(i.ctype) or i.ctype.lanes != 1:
            raise pos.error(f"an index must be an integer, not {i.ctype}")
        x = self.convert(i, promote(i.ctype), pos)
        if n == 1:
            return x
        if isinstance(x, Const):
            return const_of(int(x.value) * n, x.type)
        return Binary("mul", x, const_of(n, x.type))

    def deref(self, p: PtrVal, i: RV | None, pos: Pos) -> Obj:
        """The object p[i] (i None: *p)."""
        if p.target is not None:
            if i is not None and not (isinstance(i.ir, Const) and i.ir.value == 0):
                raise unsupported(pos, "indexing a pointer to a private variable is not "
                                       "supported")
            return p.target
        t = p.ctype.pointee
        b = p.buffer
        assert b is not None
        if isinstance(t, Void):
            raise pos.error("cannot dereference a void pointer")
        off = p.offset if i is None else self.offset_add(p.offset,
                                                         self.scaled(i, self.elems(t, b.elem), pos))
        return self.at(b, p.prefix, off, t, p.ctype.const, pos)

    def at(self, b: Buffer, prefix: tuple[Expr, ...], off: Expr, t: CType, const: bool,
           pos: Pos) -> Obj:
        """The object of type t at element offset `off` of buffer b (after `prefix`)."""
        if isinstance(t, Scalar):
            wide3 = t.lanes == 3 and b.elem.lanes == 4
            return MemLV(b, prefix + (off,), t, const or not b.write, wide3)
        if isinstance(t, Struct):
            offsets, _ = struct_layout(t, self.language == "opencl")
            unit = self.sizeof(Scalar(b.elem))
            fields = {n: self.at(b, prefix, self.offset_add(off, const_of(offsets[n] // unit,
                                                                           off.type)),
                                 ft, const, pos) for n, ft in t.fields}
            return StructObj(t, fields)
        if isinstance(t, Array):
            return ArrObj(t, b, prefix, off)
        raise unsupported(pos, f"values of type {t} in memory are not supported")

    def index(self, base: Obj, i: RV, pos: Pos) -> Obj:
        if isinstance(base, ArrObj):
            if base.fields is not None:
                return StructObj(base.ctype.elem,  # type: ignore[arg-type]
                                 {n: self.index(f, i, pos) for n, f in base.fields.items()})
            b = base.buffer
            assert b is not None
            elem = base.ctype.elem
            if len(base.prefix) < b.rank - 1:
                if not isinstance(elem, Array):
                    raise pos.error("too few dimensions")  # pragma: no cover
                return ArrObj(elem, b, base.prefix + (self.scaled(i, 1, pos),),
                              const_of(0, INT.st))
            off = self.offset_add(base.offset, self.scaled(i, self.elems(elem, b.elem), pos))
            return self.at(b, base.prefix, off, elem, False, pos)
        if isinstance(base, (PtrVal, PtrVar)):
            return self.deref(self.pointer(base, pos), i, pos)
        raise pos.error(f"cannot index {self.describe(base)}")

    def address_of(self, o: Obj, pos: Pos) -> PtrVal:
        if isinstance(o, MemLV):
            return PtrVal(Pointer(o.ctype, o.buffer.scope, o.const), o.buffer, o.index[:-1],
                          o.index[-1])
        if isinstance(o, ArrObj):
            return self.pointer(o, pos)
        if isinstance(o, (VarLV, StructObj, LaneLV)):
            return PtrVal(Pointer(o.ctype), None, (), const_of(0, INT.st), o)
        raise pos.error(f"cannot take the address of {self.describe(o)}")

    def pointer_op(self, op: str, a: Obj, b: Obj, pos: Pos) -> Obj:
        if isinstance(a, (PtrVal, PtrVar)) and isinstance(b, (PtrVal, PtrVar)):
            pa, pb = self.pointer(a, pos), self.pointer(b, pos)
            if pa.buffer is not pb.buffer and pa.buffer != pb.buffer:
                raise unsupported(pos, f"'{op}' between pointers into different buffers")
            oa, ob = self.cast(pa.offset, I64), self.cast(pb.offset, I64)
            if op == "-":
                assert pa.buffer is not None
                n = self.elems(pa.ctype.pointee, pa.buffer.elem)
                d: Expr = Binary("sub", oa, ob)
                if n != 1:
                    d = Binary("div", d, const_of(n, I64))
                return RV(LONG, d)
            if op in ("==", "!=", "<", ">", "<=", ">="):
                return RV(INT, Binary(ARITH[op], oa, ob))
            raise pos.error(f"'{op}' is not defined on two pointers")
        if op not in ("+", "-") or not isinstance(a, (PtrVal, PtrVar)) and op == "-":
            raise pos.error(f"'{op}' is not defined on a pointer and a number")
        p, k = (a, b) if isinstance(a, (PtrVal, PtrVar)) else (b, a)
        pv = self.pointer(p, pos)
        i = self.to_rv(k, pos)
        if pv.target is not None:
            raise unsupported(pos, "arithmetic on a pointer to a private variable")
        assert pv.buffer is not None
        step = self.scaled(i, self.elems(pv.ctype.pointee, pv.buffer.elem), pos)
        if op == "-":
            step = const_of(-step.value, step.type) if isinstance(step, Const) \
                else Unary("neg", step)
        return PtrVal(pv.ctype, pv.buffer, pv.prefix, self.offset_add(pv.offset, step))

    def assign_pointer(self, target: PtrVar, p: PtrVal, pos: Pos) -> None:
        old = target.value
        if old is None:
            target.value = p
        elif old.buffer != p.buffer or old.target is not p.target or \
                len(old.prefix) != len(p.prefix) or any(x != y for x, y in zip(old.prefix,
                                                                               p.prefix)):
            raise unsupported(pos, f"pointer '{target.name}' is made to point into different "
                                   "buffers; dlc needs each pointer to stay in one buffer")
        if target.offset_var is None:
            raise unsupported(pos, f"pointer '{target.name}' cannot be reassigned here")
        self.emit(Assign(target.offset_var, self.cast(p.offset, I64)))

