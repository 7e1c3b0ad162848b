"""Type checking and lowering of C expressions: names, literals, operators with C's conversions,
assignments, pointers resolved to buffers, arrays, struct fields, vector swizzles and casts."""
from __future__ import annotations

from ...ir.kernel import (
    BOOL,
    Assign,
    Ballot,
    Binary,
    Broadcast,
    Builtin,
    Const,
    Expr,
    Extract,
    If,
    Let,
    Load,
    MakeVector,
    Math,
    Select,
    Shuffle,
    Swizzle,
    Unary,
    Var,
    Vote,
    walk,
)
from ...ir.kernel import Block as IrBlock
from . import ast as A
from .ctype import (
    BOOL_T,
    DOUBLE,
    FLOAT,
    HALF,
    INT,
    LONG,
    SIZE_T,
    UINT,
    ULONG,
    Pointer,
    Scalar,
    Void,
    common_type,
    is_int,
    promote,
)
from .emit import const_of, fold_binary
from .lexer import Pos
from .lower_mem import ARITH, MemLowerer
from .scope import ConstVal, GlobalTable, HostGlobal, unsupported
from .values import RV, ArrObj, LaneLV, MemLV, Obj, PtrVal, PtrVar, StructObj, VarLV

CUDA_DIMS = {"threadIdx": "local_id", "blockIdx": "group_id", "blockDim": "local_size",
             "gridDim": "num_groups"}
SWIZZLE = {"x": 0, "y": 1, "z": 2, "w": 3, "r": 0, "g": 1, "b": 2, "a": 3}

class ExprLowerer(MemLowerer):
    # -- entry points ----------------------------------------------------------------------------
    def expr(self, e: A.Expr, discard: bool = False) -> Obj:
        method = getattr(self, "x_" + type(e).__name__)
        return method(e, discard)  # type: ignore[no-any-return]

    def rvalue(self, e: A.Expr) -> RV:
        return self.to_rv(self.expr(e), e.pos)

    def cond(self, e: A.Expr) -> Expr:
        """e as an if/loop condition: a scalar bool."""
        o = self.expr(e)
        if isinstance(o, (PtrVal, PtrVar, ArrObj)):
            raise unsupported(e.pos, "pointers as conditions are not supported")
        rv = self.to_rv(o, e.pos)
        if rv.ctype.lanes > 1:
            raise e.pos.error(f"a condition must be a scalar, not {rv.ctype}")
        return self.cond_bool(rv)

    # -- leaves ----------------------------------------------------------------------------------
    def x_Name(self, e: A.Name, discard: bool) -> Obj:
        entry = self.scope.lookup(e.id)
        if entry is None:
            if e.id == "warpSize" and self.language == "cuda":
                return RV(INT, Builtin("warp_size", 0, INT.st))
            if e.id in ("true", "false"):
                return RV(BOOL_T, Const(e.id == "true", BOOL))
            raise e.pos.error(f"'{e.id}' is not declared")
        if isinstance(entry, ConstVal):
            return RV(entry.ctype, const_of(entry.value, entry.ctype.st))
        if isinstance(entry, GlobalTable):
            return self.global_table(entry)
        if isinstance(entry, HostGlobal):
            raise unsupported(e.pos, f"program-scope variable '{e.id}' (set by the host, e.g. "
                                     "cudaMemcpyToSymbol) is not supported; pass it as a "
                                     "kernel parameter")
        if isinstance(entry, A.FunctionDef):
            raise unsupported(e.pos, f"function '{e.id}' used as a value: function pointers "
                                     "are not supported")
        return entry

    def x_Number(self, e: A.Number, discard: bool) -> RV:
        return number(e.text, e.pos)

    def x_CharLit(self, e: A.CharLit, discard: bool) -> RV:
        return RV(INT, Const(e.value, INT.st))

    def x_StringLit(self, e: A.StringLit, discard: bool) -> Obj:
        raise unsupported(e.pos, "string literals are not supported in kernels")

    def x_Paren(self, e: A.Paren, discard: bool) -> Obj:
        return self.expr(e.x, discard)

    def x_Comma(self, e: A.Comma, discard: bool) -> Obj:
        self.expr(e.a, True)
        return self.expr(e.b, discard)

    def x_InitList(self, e: A.InitList, discard: bool) -> Obj:
        raise e.pos.error("a braced list is only allowed as an initializer")

    def x_SizeOf(self, e: A.SizeOf, discard: bool) -> RV:
        if isinstance(e.x, A.TypeName):
            t = self.type_name(e.x, self.scope)
        else:
            with self.nested():
                t = self.expr(e.x).ctype
        return RV(SIZE_T, Const(self.sizeof(t), SIZE_T.st))

    # -- operators -------------------------------------------------------------------------------
    def x_BinOp(self, e: A.BinOp, discard: bool) -> Obj:
        if e.op in ("&&", "||"):
            return self.logical(e)
        a = self.expr(e.a)
        b = self.expr(e.b)
        return self.binop(e.op, a, b, e.pos)

    def logical(self, e: A.BinOp) -> RV:
        a = self.cond(e.a)
        with self.nested() as pre:
            b = self.cond(e.b)
        if not pre:
            return RV(INT, fold_binary("land" if e.op == "&&" else "lor", a, b))
        # the right side has statements: run them only where C evaluates it
        t = self.temp(a, "logic")
        inner = pre + [Assign(t, b)]
        test = t if e.op == "&&" else Unary("not", t)
        self.emit(If(test, IrBlock(tuple(inner))))
        return RV(INT, t)

    def binop(self, op: str, a: Obj, b: Obj, pos: Pos) -> Obj:
        a, b = self.decay(a), self.decay(b)
        if isinstance(a, (PtrVal, PtrVar)) or isinstance(b, (PtrVal, PtrVar)):
            return self.pointer_op(op, a, b, pos)
        ra, rb = self.to_rv(a, pos), self.to_rv(b, pos)
        ta, tb = ra.ctype, rb.ctype
        if op in ("<<", ">>"):
            if not (is_int(ta) and is_int(tb)):
                raise pos.error(f"'{op}' needs integers, got {ta} and {tb}")
            t = promote(ta)
            if tb.lanes > 1 and t.lanes == 1:
                raise pos.error(f"cannot shift the scalar {ta} by the vector {tb}")
            x = self.convert(ra, t, pos)
            n = self.cast(self.value(rb), t.st)
            if self.language == "opencl":   # OpenCL takes the count modulo the width
                mask = const_of(t.st.dtype.bits - 1, t.st.element)
                n = Binary("and", n, mask if t.lanes == 1 else Broadcast(mask, t.lanes))
            return RV(t, fold_binary(ARITH[op], x, n))
        ct = common_type(ta, tb)
        if ct is None:
            raise pos.error(f"operands of '{op}' have types {ta} and {tb}")
        t = ct
        if op in ("%", "&", "|", "^") and not is_int(t):
            raise pos.error(f"'{op}' needs integers, got {ta} and {tb}")
        if t.st.is_bool:
            t = promote(t)
        x, y = self.convert(ra, t, pos), self.convert(rb, t, pos)
        if op in ("==", "!=", "<", ">", "<=", ">="):
            return RV(self.compare_type(t), fold_binary(ARITH[op], x, y))
        return RV(t, fold_binary(ARITH[op], x, y))

    def x_UnOp(self, e: A.UnOp, discard: bool) -> Obj:
        if e.op == "&":
            return self.address_of(self.expr(e.x), e.pos)
        if e.op == "*":
            return self.deref(self.pointer(self.expr(e.x), e.pos), None, e.pos)
        rv = self.rvalue(e.x)
        t = rv.ctype
        if e.op == "!":
            if t.lanes > 1:
                z = Broadcast(const_of(0, t.st.element), t.lanes)
                return RV(self.compare_type(t), Binary("eq", self.value(rv), z))
            c = self.cond_bool(rv)
            return RV(INT, Const(not c.value, BOOL) if isinstance(c, Const) else Unary("not", c))
        pt = promote(t) if not t.st.is_bool else INT
        x = self.convert(rv, pt, e.pos)
        if e.op == "+":
            return RV(pt, x)
        if e.op == "-":
            if isinstance(x, Const):
                return RV(pt, const_of(-x.value, pt.st))
            return RV(pt, Unary("neg", x))
        if not is_int(pt):
            raise e.pos.error(f"'~' needs an integer, got {t}")
        if isinstance(x, Const):
            return RV(pt, const_of(~int(x.value), pt.st))
        return RV(pt, Unary("bitnot", x))

    def x_Ternary(self, e: A.Ternary, discard: bool) -> Obj:
        c = self.cond(e.cond)
        with self.nested() as pre_a:
            a = self.expr(e.a)
        with self.nested() as pre_b:
            b = self.expr(e.b)
        if isinstance(a, (StructObj, PtrVal, PtrVar, ArrObj)) or \
                isinstance(b, (StructObj, PtrVal, PtrVar, ArrObj)):
            raise unsupported(e.pos, "'?:' choosing between pointers or structs is not supported")
        ra, rb = self.to_rv(a, e.pos), self.to_rv(b, e.pos)
        t = common_type(ra.ctype, rb.ctype)
        if t is None:
            raise e.pos.error(f"the two sides of '?:' have types {ra.ctype} and {rb.ctype}")
        with self.nested() as conv_a:
            x = self.convert(ra, t, e.pos)
        with self.nested() as conv_b:
            y = self.convert(rb, t, e.pos)
        pre_a += conv_a
        pre_b += conv_b
        if not pre_a and not pre_b and safe(x) and safe(y):
            return RV(t, Select(c, x, y))
        v = Var(self.fresh("sel"), t.st)
        self.emit(Let(v))
        self.emit(If(c, IrBlock(tuple(pre_a + [Assign(v, x)])),
                     IrBlock(tuple(pre_b + [Assign(v, y)]))))
        return RV(t, v)

    def x_Cast(self, e: A.Cast, discard: bool) -> Obj:
        t = self.type_name(e.type, self.scope)
        if isinstance(t, Void):
            self.expr(e.x, True)
            return RV(INT, Const(0, INT.st))
        if isinstance(t, Pointer):
            p = self.pointer(self.expr(e.x), e.pos)
            return PtrVal(Pointer(t.pointee, t.space or p.ctype.space, t.const or p.ctype.const),
                          p.buffer, p.prefix, p.offset, p.target)
        if not isinstance(t, Scalar):
            raise unsupported(e.pos, f"casts to {t} are not supported")
        inner = e.x
        if t.lanes > 1 and isinstance(inner, A.Paren) and isinstance(inner.x, A.Comma):
            return RV(t, self.vector_literal(t, comma_items(inner.x), e.pos))
        rv = self.rvalue(inner)
        return RV(t, self.convert(rv, t, e.pos, "explicit"))

    def vector_literal(self, t: Scalar, items: list[A.Expr], pos: Pos) -> Expr:
        elems: list[Expr] = []
        for it in items:
            rv = self.rvalue(it)
            v = self.convert(rv, Scalar(t.st.with_lanes(rv.ctype.lanes)), it.pos)
            if rv.ctype.lanes == 1:
                elems.append(v)
            else:
                elems.extend(Extract(v, k) for k in range(rv.ctype.lanes))
        if len(elems) == 1:
            return self.cast(elems[0], t.st)
        if len(elems) != t.lanes:
            raise pos.error(f"a {t} literal needs {t.lanes} components, got {len(elems)}")
        return MakeVector(tuple(elems))

    # -- assignment ------------------------------------------------------------------------------
    def x_Assign(self, e: A.Assign, discard: bool) -> Obj:
        target = self.expr(e.target)
        if e.op == "=":
            value = self.expr(e.value)
        else:
            value = self.binop(e.op[:-1], target, self.expr(e.value), e.pos)
        return self.assign(target, value, e.pos, discard)

    def assign(self, target: Obj, value: Obj, pos: Pos, discard: bool = True) -> Obj:
        if isinstance(target, PtrVar):
            self.assign_pointer(target, self.pointer(value, pos), pos)
            return target
        if isinstance(target, StructObj):
            if not isinstance(value, StructObj) or value.ctype != target.ctype:
                raise pos.error(f"cannot assign {self.describe(value)} to {target.ctype}")
            self.copy_struct(target, value, pos)
            return target
        if isinstance(target, (RV, PtrVal, ArrObj)):
            raise pos.error(f"cannot assign to {self.describe(target)}: not an lvalue")
        rv = self.to_rv(value, pos)
        v = self.convert(rv, target.ctype, pos, "the assignment")
        if not discard and not isinstance(v, (Const, Var)):
            v = self.temp(v)
        self.store(target, v, pos)
        return RV(target.ctype, v)

    def copy_struct(self, dst: StructObj, src: StructObj, pos: Pos) -> None:
        for name, d in dst.fields.items():
            s = src.fields[name]
            if isinstance(d, StructObj) and isinstance(s, StructObj):
                self.copy_struct(d, s, pos)
            elif isinstance(d, ArrObj) and isinstance(s, ArrObj):
                self.copy_array(d, s, pos)
            else:
                self.assign(d, s, pos)

    def copy_array(self, dst: ArrObj, src: ArrObj, pos: Pos) -> None:
        for k in range(dst.ctype.size or 0):
            i = RV(INT, Const(k, INT.st))
            self.assign(self.index(dst, i, pos), self.index(src, i, pos), pos)

    def x_IncDec(self, e: A.IncDec, discard: bool) -> Obj:
        target = self.expr(e.x)
        one = RV(INT, Const(1, INT.st))
        op = "+" if e.op == "++" else "-"
        if isinstance(target, PtrVar):
            old_p = self.pointer(target, e.pos)
            if e.post and not discard:
                old_p = PtrVal(old_p.ctype, old_p.buffer, old_p.prefix,
                               self.temp(old_p.offset, "old"), old_p.target)
            moved = self.pointer(self.pointer_op(op, target, one, e.pos), e.pos)
            self.assign_pointer(target, moved, e.pos)
            return old_p if e.post else target
        if not isinstance(target, (VarLV, MemLV, LaneLV)):
            raise e.pos.error(f"'{e.op}' needs a variable, got {self.describe(target)}")
        old = self.load(target)
        if e.post and not discard:
            old = RV(old.ctype, self.temp(self.value(old)))
        new = self.binop(op, old, one, e.pos)
        result = self.assign(target, new, e.pos, discard or e.post)
        return old if e.post else result

    def x_Index(self, e: A.Index, discard: bool) -> Obj:
        base = self.expr(e.base)
        i = self.rvalue(e.index)
        return self.index(base, i, e.pos)

    def x_Member(self, e: A.Member, discard: bool) -> Obj:
        if isinstance(e.base, A.Name) and e.base.id in CUDA_DIMS and not e.arrow \
                and self.language == "cuda" and self.scope.lookup(e.base.id) is None:
            axis = "xyz".find(e.name)
            if axis < 0 or len(e.name) != 1:
                raise e.pos.error(f"{e.base.id} has fields x, y and z, not '{e.name}'")
            return RV(UINT, Builtin(CUDA_DIMS[e.base.id], axis, UINT.st))
        base = self.expr(e.base)
        if e.arrow:
            base = self.deref(self.pointer(base, e.pos), None, e.pos)
        if isinstance(base, StructObj):
            f = base.fields.get(e.name)
            if f is None:
                names = ", ".join(base.fields)
                raise e.pos.error(f"{base.ctype} has no field '{e.name}' (it has {names})")
            return f
        if isinstance(base, (RV, VarLV, MemLV, LaneLV)) and base.ctype.lanes > 1:
            lanes = swizzle_lanes(e.name, base.ctype.lanes, e.pos)
            t = Scalar(base.ctype.st.with_lanes(len(lanes)))
            if isinstance(base, RV):
                v = self.value(base)
                return RV(t, Extract(v, lanes[0]) if len(lanes) == 1 else Swizzle(v, lanes))
            return LaneLV(base, lanes, t)
        raise e.pos.error(f"'.{e.name}' on {self.describe(base)}, which has no fields")

    def x_Call(self, e: A.Call, discard: bool) -> Obj:
        return self.call(e, discard)

    # -- provided by the kernel lowerer (lower.py) -----------------------------------------------
    def call(self, e: A.Call, discard: bool) -> Obj:
        raise NotImplementedError

    def global_table(self, g: GlobalTable) -> ArrObj:
        raise NotImplementedError


def comma_items(e: A.Expr) -> list[A.Expr]:
    if isinstance(e, A.Comma):
        return comma_items(e.a) + [e.b]
    return [e]


def safe(e: Expr) -> bool:
    """Whether evaluating e where C would not is harmless (no memory reads, no integer division,
    no warp ops)."""
    for n in walk(e):
        if isinstance(n, (Load, Shuffle, Ballot, Vote)):
            return False
        if isinstance(n, Binary) and n.op in ("div", "rem") and n.type.is_int:
            return False
        if isinstance(n, Math) and n.fn == "mulhi":
            continue
    return True


def swizzle_lanes(name: str, lanes: int, pos: Pos) -> tuple[int, ...]:
    if name in ("lo", "hi", "even", "odd"):
        half = (lanes + 1) // 2
        idx = {"lo": range(half), "hi": range(half, 2 * half), "even": range(0, 2 * half, 2),
               "odd": range(1, 2 * half, 2)}[name]
        out = tuple(idx)
    elif name[:1] in ("s", "S") and len(name) > 1 and all(c in "0123456789abcdefABCDEF"
                                                          for c in name[1:]):
        out = tuple(int(c, 16) for c in name[1:])
    elif all(c in "xyzw" for c in name) or all(c in "rgba" for c in name):
        out = tuple(SWIZZLE[c] for c in name)
    else:
        raise pos.error(f"'.{name}' is not a vector component")
    if any(k >= lanes for k in out):
        raise pos.error(f"'.{name}' is out of range for a vector of {lanes} lanes")
    return out


def number(text: str, pos: Pos) -> RV:
    """The value and C type of a numeric literal."""
    t = text.lower()
    is_hex = t.startswith("0x")
    is_float = ("." in t or ("e" in t and not is_hex) or (is_hex and "p" in t)
                or (not is_hex and t.endswith("f") and not t.startswith("0b")))
    if is_float:
        body = t.rstrip("fhl")
        suffix = t[len(body):]
        try:
            v = float.fromhex(body) if is_hex else float(body)
        except ValueError:
            raise pos.error(f"'{text}' is not a number") from None
        ct = FLOAT if suffix == "f" else HALF if suffix == "h" else DOUBLE
        return RV(ct, const_of(v, ct.st))
    body = t.rstrip("ul")
    suffix = t[len(body):]
    try:
        if body.startswith("0b"):
            v = int(body[2:], 2)
        elif is_hex:
            v = int(body, 16)
        elif len(body) > 1 and body.startswith("0"):
            v = int(body, 8)
        else:
            v = int(body)
    except ValueError:
        raise pos.error(f"'{text}' is not a number") from None
    unsigned = "u" in suffix
    long = "l" in suffix
    decimal = not (is_hex or (len(body) > 1 and body.startswith("0")))
    candidates: list[Scalar] = []
    if not long:
        candidates += [UINT] if unsigned else ([INT] if decimal else [INT, UINT])
    candidates += [ULONG] if unsigned else ([LONG] if decimal else [LONG, ULONG])
    for ct in candidates:
        bits = ct.st.dtype.bits
        hi = (1 << (bits - 1)) if ct.st.dtype.is_signed else (1 << bits)
        if v < hi:
            return RV(ct, Const(v, ct.st))
    return RV(ULONG, Const(v & (2**64 - 1), ULONG.st))


__all__ = ["BOOL", "ExprLowerer", "number"]
