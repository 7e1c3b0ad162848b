"""Kernel IR to an LLVM module with llvmlite's IRBuilder: statements, loops and parallel loops.

Every kernel becomes one exported function taking a pointer to its argument slots (one pointer
per parameter: a buffer's data, or where a scalar's value is stored) — and for SPMD kernels a
pointer to the launch geometry (spmd.py). A `For` of kind PARALLEL is outlined into a function of
(args, env, lo, hi) that runs iterations [lo, hi); the kernel calls `dlc_parallel_for` (threads.py)
to split the iterations across cores, passing the values the body reads in `env`. VECTORIZED
loops carry LLVM loop metadata that asks for vectorization and says their iterations touch memory
independently (llvm.loop.parallel_accesses); the JIT (jit.py) then vectorizes them to the host's
width.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.kernel.expr import Buffer, Const, Var
from ...ir.kernel.stmt import (
    Alloc,
    Assign,
    Atomic,
    Barrier,
    Block,
    Break,
    Continue,
    For,
    If,
    Kernel,
    Let,
    Return,
    Stmt,
    Store,
    While,
)
from ...ir.kernel.types import AtomicOp, ForKind, ScalarType
from . import lltypes as T
from .exprs import BufRef, ExprEmitter
from .target import CpuTarget

PARALLEL_FOR = "dlc_parallel_for"  # void(body: i8*, args: i8*, env: i8*, n: i64)
ENTRY_TYPE = ir.FunctionType(T.VOID, [T.I8P, T.I8P])  # (args, launch geometry)
BODY_TYPE = ir.FunctionType(T.VOID, [T.I8P, T.I8P, T.I64, T.I64])  # (args, env, lo, hi)


@dataclass
class LoopTarget:
    """Where `break` and `continue` go inside a loop."""

    exit: ir.Block
    cont: ir.Block
    parallel: bool = False  # an outlined parallel loop: break cannot leave it


@dataclass
class GroupLoop:
    """A loop of an SPMD kernel that runs at work-group level (it contains a barrier): leaving
    it clears the work-item from the masks from `base` up (spmd_codegen.py)."""

    base: int


SHORT_LOOP = 16  # a vectorized loop of fewer iterations is left to LLVM's own judgement


def _constant_trip(s: For) -> int | None:
    start, stop, step = s.start, s.stop, s.step
    if isinstance(start, Const) and isinstance(stop, Const) and isinstance(step, Const) \
            and int(step.value) > 0:
        return max(0, -(-(int(stop.value) - int(start.value)) // int(step.value)))
    return None


class ModuleBuilder:
    """One LLVM module holding the code of one or more kernels."""

    def __init__(self, target: CpuTarget, name: str = "dlc"):
        self.target = target
        self.module = ir.Module(name)
        self.module.triple = target.triple
        from .jit import data_layout
        self.module.data_layout = data_layout(target)
        self.names: set[str] = set()
        from .veclib import register
        register(self.module, target.vector_math)

    def unique(self, base: str) -> str:
        name = "dlc_" + re.sub(r"[^A-Za-z0-9_]", "_", base)
        out, n = name, 1
        while out in self.names:
            n += 1
            out = f"{name}_{n}"
        self.names.add(out)
        return out

    def function(self, name: str, fnty: ir.FunctionType, internal: bool = False) -> ir.Function:
        fn = ir.Function(self.module, fnty, name)
        if internal:
            fn.linkage = "internal"
        fn.attributes.add("nounwind")
        return fn

    def parallel_for(self) -> ir.Function:
        fn = self.module.globals.get(PARALLEL_FOR)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(T.VOID, [T.I8P] * 3 + [T.I64]),
                             PARALLEL_FOR)
        assert isinstance(fn, ir.Function)
        return fn

    # -- metadata --------------------------------------------------------------------------------
    def access_group(self) -> ir.MDValue:
        """A fresh access group (made `distinct` when the text is produced)."""
        return self.module.add_metadata([])

    def loop_id(self, props: list[tuple[str, Any]], groups: list[ir.MDValue] | None = None
                ) -> Any:
        items: list[Any] = []
        for key, value in props:
            ops: list[Any] = [ir.MetaDataString(self.module, key)]
            if value is not None:
                ops.append(value)
            items.append(self.module.add_metadata(ops))
        if groups:
            items.append(self.module.add_metadata(
                [ir.MetaDataString(self.module, "llvm.loop.parallel_accesses"), *groups]))
        md = self.module.add_metadata(items)
        md.operands = (md, *md.operands)  # a loop id refers to itself
        return md

    def text(self) -> str:
        """The module as LLVM IR text (access groups made distinct, vector math variants
        attached)."""
        from .veclib import add_vector_variants
        text = re.sub(r"^(!\d+) = !\{\s*\}$", r"\1 = distinct !{}", str(self.module),
                      flags=re.M)
        return add_vector_variants(text, self.target.vector_math)

    # -- kernels ---------------------------------------------------------------------------------
    def add_kernel(self, k: Kernel) -> str:
        """Generate `k`; return the name of its entry function."""
        if k.is_spmd:
            from .spmd_codegen import emit_spmd_kernel
            return emit_spmd_kernel(self, k)
        name = self.unique(k.name)
        fn = self.function(name, ENTRY_TYPE)
        em = FunctionEmitter(self, fn, k, fn.args[0])
        em.load_params()
        em.block(k.body)
        em.finish()
        return name


@dataclass
class Scope:
    vars: dict[str, ir.Value] = field(default_factory=dict)
    bufs: dict[str, BufRef] = field(default_factory=dict)


class FunctionEmitter(ExprEmitter):
    """Statements of one LLVM function. Allocas go to the entry block, code after it."""

    def __init__(self, mb: ModuleBuilder, fn: ir.Function, k: Kernel, args: ir.Value,
                 in_parallel: bool = False):
        self.mb, self.fn, self.k, self.args = mb, fn, k, args
        entry = fn.append_basic_block("entry")
        self.entry = ir.IRBuilder(entry)
        self.start = fn.append_basic_block("start")
        self.b = ir.IRBuilder(self.start)
        self.ret_block = fn.append_basic_block("return")
        self.scopes: list[Scope] = [Scope()]
        self.loops: list[LoopTarget | GroupLoop] = []
        self.groups: list[ir.MDValue] = []  # access groups of the enclosing parallel loops
        self.in_parallel = in_parallel
        self.counter = 0

    def finish(self) -> None:
        self.entry.branch(self.start)
        if not self.b.block.is_terminated:
            self.b.branch(self.ret_block)
        ir.IRBuilder(self.ret_block).ret_void()

    # -- storage ---------------------------------------------------------------------------------
    def alloca(self, ty: ir.Type, name: str = "", count: int | None = None,
               align: int | None = None) -> ir.Value:
        size = ir.Constant(T.I64, count) if count is not None else None
        a = self.entry.alloca(ty, size=size, name=name)
        if align is not None:
            a.align = align
        return a

    def declare_var(self, v: Var, ptr: ir.Value | None = None) -> ir.Value:
        if ptr is None:
            ptr = self.alloca(T.mem_type(v.type), name=v.name)
        self.scopes[-1].vars[v.name] = ptr
        return ptr

    def declare_buffer(self, ref: BufRef) -> None:
        self.scopes[-1].bufs[ref.buffer.name] = ref

    def var_ptr(self, v: Var) -> ir.Value:
        for s in reversed(self.scopes):
            if v.name in s.vars:
                return s.vars[v.name]
        raise UnsupportedOp(f"kernel '{self.k.name}': %{v.name} is not declared (run the "
                            "verifier)", target="cpu")

    def buffer_ref(self, buf: Buffer) -> BufRef:
        for s in reversed(self.scopes):
            if buf.name in s.bufs:
                return s.bufs[buf.name]
        raise UnsupportedOp(f"kernel '{self.k.name}': buffer %{buf.name} is not declared",
                            target="cpu")

    def tag_access(self, instr: Any, ref: BufRef) -> None:
        if self.groups and ref.parallel_ok:
            md = self.groups[0] if len(self.groups) == 1 else self.mb.module.add_metadata(
                list(self.groups))
            instr.set_metadata("llvm.access.group", md)

    @contextmanager
    def scope(self) -> Iterator[None]:
        self.scopes.append(Scope())
        try:
            yield
        finally:
            self.scopes.pop()

    # -- parameters ------------------------------------------------------------------------------
    def arg_slot(self, i: int) -> ir.Value:
        slots = self.b.bitcast(self.args, ir.PointerType(T.I8P))
        return self.b.load(self.b.gep(slots, [ir.Constant(T.I64, i)]))

    def load_params(self, buffers_only: bool = False) -> None:
        """Scalar parameters into variables (a kernel may assign them), buffer parameters as
        pointers with their dimensions."""
        for i, p in enumerate(self.k.params):
            if isinstance(p, Var) and not buffers_only:
                slot = self.b.bitcast(self.arg_slot(i), ir.PointerType(T.mem_type(p.type)))
                value = self.b.load(slot, align=T.lane_bytes(p.type))  # numpy's alignment
                self.b.store(value, self.declare_var(p))
        for i, p in enumerate(self.k.params):
            if isinstance(p, Buffer):
                base = self.b.bitcast(self.arg_slot(i), ir.PointerType(T.mem_lane_type(p.elem)))
                self.declare_buffer(BufRef(p, base, self.dims(p)))

    def dims(self, buf: Buffer) -> list[ir.Value] | None:
        if buf.shape is None or len(buf.shape) < 2:
            return None
        return [self.index_i64(d) for d in buf.shape]

    # -- statements ------------------------------------------------------------------------------
    def block(self, body: Block) -> None:
        with self.scope():
            for s in body.stmts:
                self.statement(s)

    def dead_end(self) -> None:
        """Continue emitting into an unreachable block (after a break, continue or return)."""
        self.b.position_at_end(self.fn.append_basic_block("dead"))

    def statement(self, s: Stmt) -> None:  # noqa: C901 - one case a statement kind
        b = self.b
        if isinstance(s, Let):
            ptr = self.declare_var(s.var)
            if s.value is not None:
                b.store(T.to_mem(b, self.emit(s.value), s.var.type), ptr)
        elif isinstance(s, Assign):
            self.write_var(s.var, self.emit(s.value))
        elif isinstance(s, Store):
            self.store(s.buffer, s.index, s.value)
        elif isinstance(s, Atomic):
            self.atomic(s)
        elif isinstance(s, Alloc):
            self.alloc(s.buffer)
        elif isinstance(s, If):
            self.if_(s)
        elif isinstance(s, For):
            self.for_(s)
        elif isinstance(s, While):
            self.while_(s)
        elif isinstance(s, Block):
            self.block(s)
        elif isinstance(s, Break):
            self.jump(True)
        elif isinstance(s, Continue):
            self.jump(False)
        elif isinstance(s, Return):
            self.return_()
        elif isinstance(s, Barrier):
            self.barrier(s)
        else:
            raise UnsupportedOp(f"the cpu target has no rule for {type(s).__name__}",
                                target="cpu")

    def barrier(self, s: Barrier) -> None:
        raise UnsupportedOp(f"kernel '{self.k.name}': a barrier outside an SPMD kernel",
                            target="cpu")

    def return_(self) -> None:
        if any(isinstance(t, LoopTarget) and t.parallel for t in self.loops) or self.in_parallel:
            raise UnsupportedOp(f"kernel '{self.k.name}': return inside a parallel loop",
                                target="cpu")
        self.b.branch(self.ret_block)
        self.dead_end()

    def jump(self, is_break: bool) -> None:
        t = self.loops[-1]
        assert isinstance(t, LoopTarget)
        if is_break and t.parallel:
            raise UnsupportedOp(f"kernel '{self.k.name}': break out of a parallel loop",
                                target="cpu")
        self.b.branch(t.exit if is_break else t.cont)
        self.dead_end()

    def alloc(self, buf: Buffer) -> None:
        """A private (or, outside SPMD kernels, local) array: on the stack."""
        assert buf.shape is not None
        lane = T.mem_lane_type(buf.elem)
        per = buf.elem.lanes
        consts = [d for d in buf.shape if isinstance(d, Const)]
        if len(consts) == len(buf.shape):
            n = per
            for d in consts:
                n *= int(d.value)
            base = self.alloca(lane, name=buf.name, count=max(n, 1), align=64)
        else:  # sized at run time: on the stack where it is declared
            n_v: ir.Value = ir.Constant(T.I64, per)
            for dim in buf.shape:
                n_v = self.b.mul(n_v, self.index_i64(dim))
            base = self.b.alloca(lane, size=n_v, name=buf.name)
        self.declare_buffer(BufRef(buf, base, self.dims(buf), parallel_ok=False))

    def atomic(self, s: Atomic) -> None:
        ref = self.buffer_ref(s.buffer)
        t = s.buffer.elem
        if t.dtype.value == "bf16":
            raise UnsupportedOp(f"kernel '{self.k.name}': atomics on bf16", target="cpu")
        b = self.b
        p = self.element_ptr(ref, s.index, 1)
        old = self.atomic_rmw(p, s, t)
        if s.result is not None:
            self.b.store(T.to_mem(b, old, t), self.declare_var(s.result))

    def atomic_rmw(self, p: ir.Value, s: Atomic, t: ScalarType) -> ir.Value:
        b = self.b
        if s.op is AtomicOp.CAS:
            assert s.compare is not None and s.value is not None
            cmp, val = self.emit(s.compare), self.emit(s.value)
            if t.is_float:  # compare and swap the bits
                it = ir.IntType(t.dtype.bits)
                ip = b.bitcast(p, ir.PointerType(it))
                pair = b.cmpxchg(ip, b.bitcast(cmp, it), b.bitcast(val, it), "seq_cst",
                                 "seq_cst")
                return b.bitcast(b.extract_value(pair, 0), cmp.type)
            return b.extract_value(b.cmpxchg(p, cmp, val, "seq_cst", "seq_cst"), 0)
        if s.op in (AtomicOp.INC, AtomicOp.DEC):
            val = T.const(t, 1)
            op = AtomicOp.ADD if s.op is AtomicOp.INC else AtomicOp.SUB
        else:
            assert s.value is not None
            val, op = self.emit(s.value), s.op
        f = "f" if t.is_float else ""
        signed = "" if t.is_float or T.is_signed_int(t) else "u"
        name = {AtomicOp.ADD: f + "add", AtomicOp.SUB: f + "sub", AtomicOp.AND: "and",
                AtomicOp.OR: "or", AtomicOp.XOR: "xor", AtomicOp.XCHG: "xchg",
                AtomicOp.MIN: (f or signed) + "min", AtomicOp.MAX: (f or signed) + "max"}[op]
        return b.atomic_rmw(name, p, val, "seq_cst")

    def if_(self, s: If) -> None:
        b = self.b
        cond = self.emit(s.cond)
        then = self.fn.append_basic_block("then")
        orelse = self.fn.append_basic_block("else") if s.orelse is not None else None
        done = self.fn.append_basic_block("endif")
        b.cbranch(cond, then, orelse or done)
        b.position_at_end(then)
        self.block(s.then)
        b.branch(done)
        if orelse is not None:
            assert s.orelse is not None
            b.position_at_end(orelse)
            self.block(s.orelse)
            b.branch(done)
        b.position_at_end(done)

    def while_(self, s: While) -> None:
        b = self.b
        head = self.fn.append_basic_block("while.head")
        body = self.fn.append_basic_block("while.body")
        done = self.fn.append_basic_block("while.end")
        b.branch(head if s.test_first else body)
        b.position_at_end(head)
        b.cbranch(self.emit(s.cond), body, done)
        b.position_at_end(body)
        self.loops.append(LoopTarget(done, head))
        self.block(s.body)
        self.loops.pop()
        b.branch(head)
        b.position_at_end(done)

    # -- for loops -------------------------------------------------------------------------------
    def loop_props(self, s: For) -> list[tuple[str, Any]]:
        if s.kind is ForKind.VECTORIZED:
            trip = _constant_trip(s)
            if trip is not None and trip < SHORT_LOOP:
                # too short to fill vectors: LLVM unrolls it, and forcing the vectorizer then
                # makes it widen the loop around it with gathers (slow code, slower compiles)
                return []
            return [("llvm.loop.vectorize.enable", ir.Constant(T.I1, True))]
        if s.kind is ForKind.UNROLLED:
            const = all(isinstance(e, Const) for e in (s.start, s.stop, s.step))
            return [("llvm.loop.unroll.full" if const else "llvm.loop.unroll.enable", None)]
        return []

    def for_(self, s: For) -> None:
        from .parallel import can_outline, outline_parallel_for
        independent = s.kind in (ForKind.PARALLEL, ForKind.VECTORIZED) and can_outline(s)
        if s.kind is ForKind.PARALLEL and independent and not self.in_parallel:
            outline_parallel_for(self, s)
            return
        start, stop, step = self.emit(s.start), self.emit(s.stop), self.emit(s.step)
        parallel = independent
        self.counted_loop(s.var, start, stop, step, s.body, self.loop_props(s), parallel)

    def counted_loop(self, var: Var, start: ir.Value, stop: ir.Value, step: ir.Value,
                     body: Block, props: list[tuple[str, Any]], parallel: bool,
                     parallel_target: bool = False) -> None:
        """`for var in range(start, stop, step)` with `props` as loop metadata; `parallel`: its
        iterations access memory independently (their accesses get an access group)."""
        b = self.b
        t = var.type
        with self.scope():
            slot = self.declare_var(var)
            b.store(T.to_mem(b, start, t), slot)
            head = self.fn.append_basic_block("for.head")
            bb = self.fn.append_basic_block("for.body")
            latch = self.fn.append_basic_block("for.latch")
            done = self.fn.append_basic_block("for.end")
            b.branch(head)
            b.position_at_end(head)
            v = b.load(slot)
            cmp = b.icmp_signed if T.is_signed_int(t) else b.icmp_unsigned
            b.cbranch(cmp("<", v, stop), bb, done)
            b.position_at_end(bb)
            group = self.mb.access_group() if parallel else None
            if group is not None:
                self.groups.append(group)
            self.loops.append(LoopTarget(done, latch, parallel_target))
            self.block(body)
            self.loops.pop()
            if group is not None:
                self.groups.pop()
            b.branch(latch)
            b.position_at_end(latch)
            v = b.load(slot)
            flags = ["nsw"] if T.is_signed_int(t) else ["nuw"]
            b.store(b.add(v, step, flags=flags), slot)
            br = b.branch(head)
            if props or group is not None:
                br.set_metadata("llvm.loop", self.mb.loop_id(
                    props, [group] if group is not None else []))
            b.position_at_end(done)

