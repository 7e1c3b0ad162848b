"""Kernel expressions as LLVM instructions (the expression half of the code generator).

ExprEmitter turns one Expr into one LLVM value at the builder's position. Where variables and
buffers live, what builtins and warp ops are, and which metadata memory accesses carry is asked of
the subclass (a plain function, an outlined parallel loop body, or an SPMD work-item region).
The arithmetic is C's, as the interpreter defines it: integer ops wrap, division by zero and
INT_MIN / -1 do not trap (their result is unspecified), shifts by the bit width or more give 0
(or the sign), float min/max ignore NaN, float-to-int conversions saturate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.kernel.expr import (
    COMPARISONS,
    ActiveMask,
    Ballot,
    Binary,
    Bitcast,
    Broadcast,
    Buffer,
    Builtin,
    Cast,
    Const,
    Expr,
    Extract,
    Insert,
    Load,
    MakeVector,
    Math,
    Select,
    Shuffle,
    Swizzle,
    Unary,
    Var,
    Vote,
)
from ...ir.kernel.types import I64, ScalarType
from ...ir.kernel.visit import walk
from . import lltypes as T
from .llmath import call_intrinsic, emit_math, float_result

_ICMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass
class BufRef:
    """A buffer as the generated code sees it: a pointer to its first lane (of the lane's memory
    type), its dimensions as i64 values (None: flat), and whether its accesses may carry the
    enclosing parallel loop's access group (not for private arrays, which every iteration of a
    loop reuses)."""

    buffer: Buffer
    base: ir.Value
    dims: list[ir.Value] | None
    parallel_ok: bool = True


def has_loads(e: Expr) -> bool:
    """Whether evaluating `e` reads memory (and so must not run where its guard is false)."""
    return any(isinstance(n, Load) for n in walk(e))


class ExprEmitter:
    """Expression code generation; subclasses supply storage, builtins and warp ops."""

    b: ir.IRBuilder
    fn: ir.Function

    # -- supplied by subclasses ------------------------------------------------------------------
    def var_ptr(self, v: Var) -> ir.Value:
        """A pointer to the variable's storage (of its memory type)."""
        raise NotImplementedError

    def buffer_ref(self, buf: Buffer) -> BufRef:
        raise NotImplementedError

    def builtin(self, e: Builtin) -> ir.Value:
        raise UnsupportedOp(f"builtin {e.name}() outside an SPMD kernel", target="cpu")

    def warp_op(self, e: Expr) -> ir.Value:
        raise UnsupportedOp(f"{type(e).__name__} outside an SPMD kernel", target="cpu")

    def tag_access(self, instr: Any, ref: BufRef) -> None:
        """Attach metadata (parallel loops' access groups) to a load or store of `ref`."""

    def tag_var(self, instr: Any, v: Var) -> None:
        """Attach metadata to a load or store of a variable's storage."""

    def remat(self, v: Var) -> Expr | None:
        """The expression a variable is recomputed from where it is read, if any."""
        return None

    # -- variables and memory --------------------------------------------------------------------
    def read_var(self, v: Var) -> ir.Value:
        e = self.remat(v)
        if e is not None:
            return self.emit(e)
        instr = self.b.load(self.var_ptr(v))
        self.tag_var(instr, v)
        return T.from_mem(self.b, instr, v.type)

    def write_var(self, v: Var, value: ir.Value) -> None:
        instr = self.b.store(T.to_mem(self.b, value, v.type), self.var_ptr(v))
        self.tag_var(instr, v)

    def index_i64(self, e: Expr) -> ir.Value:
        """A buffer index as i64. Its affine spine (what is reached from the index through +,
        -, * and integer conversions) is computed in 64 bits without overflow (nsw), as C
        compilers may for int index arithmetic: the value is the same wherever the narrower
        arithmetic does not wrap, and an index whose arithmetic wraps is out of bounds in any
        program the interpreter accepts. LLVM then sees that consecutive work-items or loop
        iterations touch consecutive elements. Anything else (a shift, division, bit operation,
        load) is computed in its own type and extended."""
        b = self.b
        if isinstance(e, Binary) and e.op in ("add", "sub", "mul") and e.type.is_int \
                and e.type.lanes == 1:
            x, y = self.index_i64(e.a), self.index_i64(e.b)
            return {"add": b.add, "sub": b.sub, "mul": b.mul}[e.op](x, y, flags=["nsw"])
        if isinstance(e, Cast) and e.type.is_int and e.x.type.is_int and e.type.lanes == 1:
            return self.index_i64(e.x)
        if isinstance(e, Const):
            return ir.Constant(T.I64, int(e.value))
        if isinstance(e, Var):
            r = self.remat(e)
            if r is not None:
                return self.index_i64(r)
        if isinstance(e, Builtin):
            return self.builtin(Builtin(e.name, e.axis, I64))
        v = self.emit(e)
        if v.type.width == 64:
            return v
        return b.sext(v, T.I64) if T.is_signed_int(e.type) else b.zext(v, T.I64)

    def element_ptr(self, ref: BufRef, index: tuple[Expr, ...], lanes: int) -> ir.Value:
        """A pointer to `lanes` consecutive lanes at `index` (typed as one value of them)."""
        b = self.b
        idx = [self.index_i64(i) for i in index]
        if not idx:  # a rank-0 buffer: its one element
            idx = [ir.Constant(T.I64, 0)]
        flat = idx[0]
        if ref.dims is not None:
            for d, i in zip(ref.dims[1:], idx[1:]):
                flat = b.add(b.mul(flat, d, flags=["nsw"]), i, flags=["nsw"])
        per = ref.buffer.elem.lanes
        if per > 1:
            flat = b.mul(flat, ir.Constant(T.I64, per), flags=["nsw"])
        p = b.gep(ref.base, [flat])
        if lanes > 1:
            p = b.bitcast(p, ir.PointerType(ir.VectorType(T.mem_lane_type(ref.buffer.elem),
                                                          lanes)))
        return p

    def load(self, e: Load) -> ir.Value:
        ref = self.buffer_ref(e.buffer)
        t = e.type
        p = self.element_ptr(ref, e.index, t.lanes)
        instr = self.b.load(p, align=T.lane_bytes(t))
        self.tag_access(instr, ref)
        return T.from_mem(self.b, instr, t)

    def store(self, buf: Buffer, index: tuple[Expr, ...], value: Expr) -> None:
        ref = self.buffer_ref(buf)
        t = value.type
        v = self.emit(value)
        p = self.element_ptr(ref, index, t.lanes)
        instr = self.b.store(T.to_mem(self.b, v, t), p, align=T.lane_bytes(t))
        self.tag_access(instr, ref)

    # -- expressions -----------------------------------------------------------------------------
    def emit(self, e: Expr) -> ir.Value:  # noqa: C901 - one case an expression kind
        b = self.b
        if isinstance(e, Const):
            return T.const(e.type, e.value)
        if isinstance(e, Var):
            return self.read_var(e)
        if isinstance(e, Load):
            return self.load(e)
        if isinstance(e, Binary):
            return self.binary(e)
        if isinstance(e, Unary):
            x = self.emit(e.x)
            if e.op == "neg":
                return b.fneg(x) if e.type.is_float else b.sub(T.int_const_like(x, 0), x)
            return b.xor(x, T.int_const_like(x, -1 if e.op == "bitnot" else 1))
        if isinstance(e, Math):
            return emit_math(b, e.fn, [self.emit(a) for a in e.args], e.args[0].type)
        if isinstance(e, Cast):
            return T.convert(b, self.emit(e.x), e.x.type, e.type)
        if isinstance(e, Bitcast):
            return T.bitcast(b, self.emit(e.x), e.x.type, e.type)
        if isinstance(e, Select):
            return self.select(e)
        if isinstance(e, Broadcast):
            return T.splat(b, self.emit(e.x), e.lanes)
        if isinstance(e, MakeVector):
            out: ir.Value = ir.Constant(T.reg_type(e.type), None)
            for i, x in enumerate(e.elems):
                out = b.insert_element(out, self.emit(x), ir.Constant(T.I32, i))
            return out
        if isinstance(e, Extract):
            return b.extract_element(self.emit(e.x), ir.Constant(T.I32, e.lane))
        if isinstance(e, Insert):
            return b.insert_element(self.emit(e.x), self.emit(e.value),
                                    ir.Constant(T.I32, e.lane))
        if isinstance(e, Swizzle):
            x = self.emit(e.x)
            mask = ir.Constant(ir.VectorType(T.I32, len(e.lanes)), list(e.lanes))
            return b.shuffle_vector(x, ir.Constant(x.type, None), mask)
        if isinstance(e, Builtin):
            return self.builtin(e)
        if isinstance(e, (Shuffle, Ballot, Vote, ActiveMask)):
            return self.warp_op(e)
        raise UnsupportedOp(f"the cpu target has no rule for {type(e).__name__}", target="cpu")

    def branchy(self, cond: ir.Value, then: Expr, orelse: Expr | ir.Value, t: ScalarType,
                ) -> ir.Value:
        """`cond ? then : orelse` evaluating only the arm taken (loads may fault elsewhere)."""
        b = self.b
        tb = self.fn.append_basic_block("sel.a")
        eb = self.fn.append_basic_block("sel.b")
        done = self.fn.append_basic_block("sel.end")
        b.cbranch(cond, tb, eb)
        b.position_at_end(tb)
        a = self.emit(then)
        ta = b.block
        b.branch(done)
        b.position_at_end(eb)
        c = orelse if isinstance(orelse, ir.Value) else self.emit(orelse)
        tc = b.block
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(T.reg_type(t))
        phi.add_incoming(a, ta)
        phi.add_incoming(c, tc)
        return phi

    def select(self, e: Select) -> ir.Value:
        cond = self.emit(e.cond)
        if e.cond.type.lanes == 1 and (has_loads(e.a) or has_loads(e.b)):
            return self.branchy(cond, e.a, e.b, e.type)
        return self.b.select(cond, self.emit(e.a), self.emit(e.b))

    def binary(self, e: Binary) -> ir.Value:  # noqa: C901 - one case an operator family
        b, op, t = self.b, e.op, e.a.type
        if op in ("land", "lor"):
            if t.lanes == 1 and has_loads(e.b):
                a = self.emit(e.a)
                if op == "land":
                    return self.branchy(a, e.b, ir.Constant(T.I1, False), t)
                return self.branchy(b.xor(a, ir.Constant(T.I1, True)), e.b,
                                    ir.Constant(T.I1, True), t)
            x, y = self.emit(e.a), self.emit(e.b)
            return b.and_(x, y) if op == "land" else b.or_(x, y)
        x, y = self.emit(e.a), self.emit(e.b)
        if op in COMPARISONS:
            if t.is_float:
                if op == "ne":
                    return b.fcmp_unordered("!=", x, y)
                return b.fcmp_ordered(_ICMP[op], x, y)
            if T.is_signed_int(t):
                return b.icmp_signed(_ICMP[op], x, y)
            return b.icmp_unsigned(_ICMP[op], x, y)
        if t.is_float:
            return self.float_binary(op, x, y, t)
        if op in ("and", "or", "xor"):
            return {"and": b.and_, "or": b.or_, "xor": b.xor}[op](x, y)
        if op in ("add", "sub", "mul"):
            return {"add": b.add, "sub": b.sub, "mul": b.mul}[op](x, y)
        if op in ("min", "max"):
            name = ("llvm.smin" if op == "min" else "llvm.smax") if T.is_signed_int(t) else \
                ("llvm.umin" if op == "min" else "llvm.umax")
            return call_intrinsic(b, name, [x, y])
        if op in ("div", "rem", "floordiv", "floormod"):
            return self.int_division(op, x, y, t)
        if op in ("shl", "shr"):
            return self.shift(op, x, y, t)
        raise UnsupportedOp(f"the cpu target has no rule for {op} on {t}", op=op, target="cpu")

    def float_binary(self, op: str, x: ir.Value, y: ir.Value, t: ScalarType) -> ir.Value:
        b = self.b
        if op in ("min", "max"):
            return call_intrinsic(b, "llvm.minnum" if op == "min" else "llvm.maxnum", [x, y])
        fn = {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv, "rem": b.frem}.get(op)
        if fn is None:
            raise UnsupportedOp(f"the cpu target has no rule for {op} on {t}", op=op,
                                target="cpu")
        return float_result(b, fn(x, y), t)

    def int_division(self, op: str, x: ir.Value, y: ir.Value, t: ScalarType) -> ir.Value:
        """C division and remainder (and the flooring forms) that never trap: a zero divisor
        gives an unspecified value, INT_MIN / -1 wraps."""
        b = self.b
        zero, one = T.int_const_like(y, 0), T.int_const_like(y, 1)
        if not T.is_signed_int(t):
            safe = b.select(b.icmp_unsigned("==", y, zero), one, y)
            return b.udiv(x, safe) if op in ("div", "floordiv") else b.urem(x, safe)
        minus1 = b.icmp_signed("==", y, T.int_const_like(y, -1))
        safe = b.select(b.or_(b.icmp_signed("==", y, zero), minus1), one, y)
        q, r = b.sdiv(x, safe), b.srem(x, safe)
        if op == "div":
            return b.select(minus1, b.sub(zero, x), q)
        if op == "rem":
            return b.select(minus1, zero, r)
        # floor forms: adjust where the remainder is nonzero and its sign differs from y's
        adjust = b.and_(b.icmp_signed("!=", r, zero),
                        b.icmp_signed("<", b.xor(r, y), zero))
        if op == "floordiv":
            return b.select(minus1, b.sub(zero, x), b.sub(q, b.zext(adjust, q.type)))
        return b.select(minus1, zero, b.select(adjust, b.add(r, y), r))

    def shift(self, op: str, x: ir.Value, y: ir.Value, t: ScalarType) -> ir.Value:
        b = self.b
        bits = t.dtype.bits
        big = b.icmp_unsigned(">=", y, T.int_const_like(y, bits))
        safe = b.select(big, T.int_const_like(y, 0), y)
        if op == "shl":
            return b.select(big, T.int_const_like(x, 0), b.shl(x, safe))
        if T.is_signed_int(t):
            return b.ashr(x, b.select(big, T.int_const_like(y, bits - 1), y))
        return b.select(big, T.int_const_like(x, 0), b.lshr(x, safe))
