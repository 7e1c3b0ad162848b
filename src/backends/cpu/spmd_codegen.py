"""SPMD kernels as loops: over work-groups (spread across cores), and within a group over its
work-items, one loop per region between barriers (spmd.py prepares the kernel).

The entry `void k(args, geometry)` calls `dlc_parallel_for(k_groups, args, geometry, groups)`;
`k_groups(args, geometry, lo, hi)` runs groups [lo, hi) on one core. It allocates one scratch
block for them: local memory (static arrays and `__local` parameters), the per-work-item arrays
of variables that live across regions, and the masks of group-level control flow. A region is a
z/y/x loop nest over the group's work-items; the x loop is marked parallel (work-items between
barriers touch memory independently in a race-free kernel), so LLVM may vectorize it.

Control flow that contains a barrier runs at group level, SIMT-style: each work-item evaluates
the condition in a region of its own and writes a mask; the branch or loop body runs for the
work-items in the mask (regions skip the others); `break`, `continue` and `return` clear the
work-item from the masks they leave. Loops with the same bounds for every work-item run with one
loop variable and no masks, and loops that do memory work are hoisted to group level that way
(spmd.Plan), so that the loop over work-items is the innermost loop and vectorizes; variables
computed from ids and parameters are recomputed where they are read rather than stored. Warp
ops (after spmd.py has isolated them between two warp barriers) read the other lanes' operands
from the per-work-item arrays (spmd_warp.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.kernel.expr import (
    ActiveMask,
    Ballot,
    Binary,
    Buffer,
    Builtin,
    Expr,
    Shuffle,
    Var,
    Vote,
)
from ...ir.kernel.stmt import Barrier, Block, For, If, Kernel, Let, Return, Stmt, While
from ...ir.kernel.types import U32, MemScope, ScalarType, VoteMode
from ...ir.kernel.visit import free_vars, walk
from . import lltypes as T
from .codegen import BODY_TYPE, ENTRY_TYPE, GroupLoop, ModuleBuilder
from .exprs import BufRef
from .llmath import declare
from .spmd import Plan, prepare
from .spmd_items import Mask, WorkItems

GEOMETRY = 9  # local[3], groups[3], offset[3]; then bytes of each local parameter


def _slot_bytes(t: ScalarType) -> int:
    """Bytes one value of `t` takes in a per-work-item array (LLVM's vector alloc size)."""
    lanes = 1
    while lanes < t.lanes:
        lanes *= 2
    return lanes * T.lane_bytes(t)


@dataclass
class ScratchArray:
    """A buffer in the group's scratch block: one copy per group (local) or per work-item."""

    buffer: Buffer
    offset: ir.Value
    per_item: ir.Value | None  # bytes of one work-item's copy; None: one copy per group
    dims: list[ir.Value] | None


def emit_spmd_kernel(mb: ModuleBuilder, kernel: Kernel) -> str:
    k, plan, state = prepare(kernel)
    name = mb.unique(kernel.name)
    groups = mb.function(mb.unique(f"{kernel.name}_groups"), BODY_TYPE, internal=True)
    GroupEmitter(mb, groups, k, plan, state).run()
    entry = mb.function(name, ENTRY_TYPE)
    b = ir.IRBuilder(entry.append_basic_block("entry"))
    geo = b.bitcast(entry.args[1], ir.PointerType(T.I64))
    n: ir.Value = ir.Constant(T.I64, 1)
    for a in range(3, 6):
        n = b.mul(n, b.load(b.gep(geo, [ir.Constant(T.I64, a)])))
    b.call(mb.parallel_for(), [groups.bitcast(T.I8P), entry.args[0], entry.args[1], n])
    b.ret_void()
    return name


class GroupEmitter(WorkItems):
    """The function that runs a range of work-groups of one SPMD kernel."""

    def __init__(self, mb: ModuleBuilder, fn: ir.Function, k: Kernel, plan: Plan,
                 state: set[str]):
        super().__init__(mb, fn, k, fn.args[0], in_parallel=True)
        self.plan = plan
        self.state = set(state)
        self.state_vars: dict[str, tuple[ir.Value, int]] = {}  # offset, bytes per item
        self.arrays: dict[str, ScratchArray] = {}
        self.masks: list[Mask] = []  # the active masks, outermost first
        self.lin: ir.Value | None = None  # the current work-item's linear local id (i64)
        self.lids: list[ir.Value] = []  # its local ids (i32)
        self.wi_next: ir.Block | None = None  # where its iteration ends
        self.scratch_slot = self.alloca(T.I8P, name="scratch")
        self.extra_remat: dict[str, Expr] = {}  # strided loops' variables
        self.needs_alive = any(True for _ in _returns(k)) and plan.splits(k.body)

    # -- the function ----------------------------------------------------------------------------
    def run(self) -> None:
        b = self.b
        self.load_params()
        geo = b.bitcast(self.fn.args[1], ir.PointerType(T.I64))
        self.geo = [b.load(b.gep(geo, [ir.Constant(T.I64, i)])) for i in range(GEOMETRY)]
        self.L, self.G, self.O = self.geo[0:3], self.geo[3:6], self.geo[6:9]
        self.S = b.mul(b.mul(self.L[0], self.L[1]), self.L[2])
        self.L32 = [b.trunc(x, T.I32) for x in self.L]
        scratch = self.fn.append_basic_block("scratch")
        b.branch(scratch)
        self.sb = ir.IRBuilder(scratch)
        self.total: ir.Value = ir.Constant(T.I64, 0)
        local_params = [p for p in self.k.params if isinstance(p, Buffer)
                        and p.scope is MemScope.LOCAL]
        for j, p in enumerate(local_params):
            nbytes = self.sb.load(self.sb.gep(geo, [ir.Constant(T.I64, GEOMETRY + j)]))
            self.arrays[p.name] = ScratchArray(p, self.reserve(nbytes), None, None)
        loop = self.fn.append_basic_block("groups")
        b.position_at_end(loop)
        self.group_loop()
        self.finish_scratch(loop)
        self.finish()

    def finish_scratch(self, loop: ir.Block) -> None:
        sb = self.sb
        size = sb.add(self.total, ir.Constant(T.I64, 64))
        alloc = declare(self.mb.module, "aligned_alloc", T.I8P, [T.I64, T.I64], readnone=False)
        sb.store(sb.call(alloc, [ir.Constant(T.I64, 64), size]), self.scratch_slot)
        sb.branch(loop)
        free = declare(self.mb.module, "free", T.VOID, [T.I8P], readnone=False)
        rb = ir.IRBuilder(self.ret_block)
        rb.call(free, [rb.load(self.scratch_slot)])

    def reserve(self, nbytes: ir.Value) -> ir.Value:
        """Room for `nbytes` (an i64 value of the scratch block) at a 64-byte aligned offset."""
        sb = self.sb
        off = self.total
        rounded = sb.and_(sb.add(nbytes, ir.Constant(T.I64, 63)), ir.Constant(T.I64, -64))
        self.total = sb.add(off, rounded)
        return off

    def scratch(self, off: ir.Value) -> ir.Value:
        return self.b.gep(self.b.load(self.scratch_slot), [off])

    def group_loop(self) -> None:
        b = self.b
        lo, hi = self.fn.args[2], self.fn.args[3]
        slot = self.alloca(T.I64, name="group")
        b.store(lo, slot)
        head = self.fn.append_basic_block("group.head")
        body = self.fn.append_basic_block("group.body")
        b.branch(head)
        b.position_at_end(head)
        g = b.load(slot)
        b.cbranch(b.icmp_signed("<", g, hi), body, self.ret_block)
        b.position_at_end(body)
        gx = b.urem(g, self.G[0])
        rest = b.udiv(g, self.G[0])
        self.gids = [gx, b.urem(rest, self.G[1]), b.udiv(rest, self.G[1])]
        self.gbase = [b.add(b.mul(self.gids[a], self.L[a]), self.O[a]) for a in range(3)]
        if self.needs_alive:
            alive = self.new_mask()
            with self.work_items(skip_inactive=False):
                self.set_mask(alive, ir.Constant(T.I1, True))
            self.masks.append(alive)
        self.group_block(self.k.body.stmts)
        self.masks.clear()
        b.store(b.add(b.load(slot), ir.Constant(T.I64, 1)), slot)
        b.branch(head)

    # -- group-level control flow ----------------------------------------------------------------
    def group_block(self, stmts: tuple[Stmt, ...]) -> None:
        pending: list[Stmt] = []
        for s in stmts:
            if not self.plan.splits(s):
                pending.append(s)
                continue
            self.region(pending)
            pending = []
            if isinstance(s, Block):
                self.group_block(s.stmts)
            elif isinstance(s, If):
                self.group_if(s)
            elif isinstance(s, For):
                self.group_for(s)
            elif isinstance(s, While):
                self.group_while(s)
            elif not isinstance(s, Barrier):  # a barrier is the split itself
                raise UnsupportedOp(f"kernel '{self.k.name}': a barrier inside "
                                    f"{type(s).__name__}", target="cpu")
        self.region(pending)

    def region(self, stmts: list[Stmt]) -> None:
        if not stmts:
            return
        if not self.masks:
            with self.work_items():
                for s in stmts:
                    self.statement(s)
            return
        # two versions: for a full mask (no per-item tests: uniform loads stay unconditional,
        # the loop vectorizes) and for a partial one
        with self.if_else(self.b.load(self.masks[-1].full)) as orelse:
            with self.work_items(skip_inactive=False):
                for s in stmts:
                    self.statement(s)
            orelse()
            with self.work_items():
                for s in stmts:
                    self.statement(s)

    def group_if(self, s: If) -> None:
        then_m = self.new_mask()
        else_m = self.new_mask() if s.orelse is not None else None
        any_t, any_e = self.flag(), self.flag()
        with self.work_items(skip_inactive=False):
            c = self.when_active(lambda: self.emit(s.cond))
            self.set_mask(then_m, c, any_t)
            if else_m is not None:
                self.set_mask(else_m, self.b.and_(self.active(), self.b.not_(c)), any_e)
        with self.if_flag(any_t):
            self.masks.append(then_m)
            self.group_block(s.then.stmts)
            self.masks.pop()
        if s.orelse is not None and else_m is not None:
            with self.if_flag(any_e):
                self.masks.append(else_m)
                self.group_block(s.orelse.stmts)
                self.masks.pop()

    def uniform_for(self, s: For) -> None:
        """A loop with the same bounds for every work-item: one loop variable for the group,
        the body's regions run for the work-items of the enclosing mask."""
        b, t = self.b, s.var.type
        start, stop, step = self.emit(s.start), self.emit(s.stop), self.emit(s.step)
        slot = self.declare_var(s.var)
        b.store(T.to_mem(b, start, t), slot)
        head = self.fn.append_basic_block("uloop.head")
        body = self.fn.append_basic_block("uloop.body")
        done = self.fn.append_basic_block("uloop.end")
        b.branch(head)
        b.position_at_end(head)
        cmp = b.icmp_signed if T.is_signed_int(t) else b.icmp_unsigned
        b.cbranch(cmp("<", b.load(slot), stop), body, done)
        b.position_at_end(body)
        self.group_block(s.body.stmts)
        flags = ["nsw"] if T.is_signed_int(t) else ["nuw"]
        b.store(b.add(b.load(slot), step, flags=flags), slot)
        b.branch(head)
        b.position_at_end(done)

    def strided_for(self, s: For) -> None:
        """`for c = start; c < stop; c += step` with start per work-item: the group loops over
        the iteration number t up to the largest trip count; each work-item's c is
        start + t * step, and the body runs where c < stop."""
        from .parallel import _trip_count
        b, t = self.b, s.var.type
        most = self.alloca(T.I64, name="trips")
        b.store(ir.Constant(T.I64, 0), most)
        with self.work_items():
            n = _trip_count(self, self.emit(s.start), self.emit(s.stop), self.emit(s.step), t)
            old = b.load(most)
            b.store(b.select(b.icmp_signed(">", n, old), n, old), most)
        it = Var(f"{s.var.name}#t", t)
        slot = self.declare_var(it)
        b.store(T.const(t, 0), slot)
        self.extra_remat[s.var.name] = Binary("add", s.start, Binary("mul", it, s.step))
        head = self.fn.append_basic_block("sloop.head")
        body = self.fn.append_basic_block("sloop.body")
        done = self.fn.append_basic_block("sloop.end")
        total = b.load(most)
        b.branch(head)
        b.position_at_end(head)
        i = b.load(slot)
        i64 = i if i.type.width == 64 else b.zext(i, T.I64)
        b.cbranch(b.icmp_signed("<", i64, total), body, done)
        b.position_at_end(body)
        self.group_block((If(Binary("lt", s.var, s.stop), s.body),))
        b.store(b.add(b.load(slot), T.const(t, 1)), slot)
        b.branch(head)
        b.position_at_end(done)

    def group_for(self, s: For) -> None:
        if self.plan.group_uniform(s):
            self.uniform_for(s)
            return
        if id(s) in self.plan.strided:
            self.strided_for(s)
            return
        t = s.var.type
        stop, step = Var(f"{s.var.name}#stop", t), Var(f"{s.var.name}#step", t)
        self.state |= {s.var.name, stop.name, step.name}
        loop_m = self.new_mask()

        def init() -> ir.Value:
            for v, e in ((s.var, s.start), (stop, s.stop), (step, s.step)):
                self.write_var(v, self.emit(e))
            return ir.Constant(T.I1, True)
        with self.work_items(skip_inactive=False):
            self.set_mask(loop_m, self.when_active(init))

        def test() -> ir.Value:
            cmp = self.b.icmp_signed if T.is_signed_int(t) else self.b.icmp_unsigned
            return cmp("<", self.read_var(s.var), self.read_var(stop))

        def step_var() -> None:
            flags = ["nsw"] if T.is_signed_int(t) else ["nuw"]
            self.write_var(s.var, self.b.add(self.read_var(s.var), self.read_var(step),
                                             flags=flags))
        self.group_loop_body(loop_m, test, s.body, step_var, test_first=True)

    def group_while(self, s: While) -> None:
        loop_m = self.new_mask()
        with self.work_items(skip_inactive=False):
            self.set_mask(loop_m, self.active())
        self.group_loop_body(loop_m, lambda: self.emit(s.cond), s.body, None, s.test_first)

    def group_loop_body(self, loop_m: Mask, cond: Callable[[], ir.Value], body: Block,
                        latch: Callable[[], None] | None, test_first: bool) -> None:
        """Repeat: work-items of `loop_m` test `cond` (dropping out of `loop_m` when false);
        stop when none is left; run `body` for them (an iteration mask lets `continue` skip
        the rest of an iteration); run `latch` for those still in the loop."""
        b = self.b
        iter_m = self.new_mask()
        head = self.fn.append_basic_block("gloop.head")
        body_bb = self.fn.append_basic_block("gloop.body")
        done = self.fn.append_basic_block("gloop.end")
        any_l = self.flag()
        first = self.flag()
        b.store(ir.Constant(T.I1, True), first)
        b.branch(head)
        b.position_at_end(head)
        b.store(ir.Constant(T.I1, False), any_l)
        for m in (loop_m, iter_m):
            b.store(ir.Constant(T.I1, True), m.full)
        is_first = b.load(first)
        with self.work_items(skip_inactive=False):
            in_loop = self.mask_value(loop_m)

            def test() -> ir.Value:
                if latch is not None:
                    with self.if_then(self.b.not_(is_first)):
                        latch()
                if test_first:
                    return cond()
                # a do-while loop enters without testing
                return self.b.not_(self.when(self.b.not_(is_first),
                                             lambda: self.b.not_(cond())))
            still = self.when(in_loop, test)
            self.set_mask(loop_m, still, any_l)
            self.set_mask(iter_m, still)
        b.store(ir.Constant(T.I1, False), first)
        b.cbranch(b.load(any_l), body_bb, done)
        b.position_at_end(body_bb)
        self.loops.append(GroupLoop(len(self.masks)))
        self.masks += [loop_m, iter_m]
        self.group_block(body.stmts)
        del self.masks[-2:]
        self.loops.pop()
        b.branch(head)
        b.position_at_end(done)

    # -- storage ---------------------------------------------------------------------------------
    def state_ptr(self, v: Var, lin: ir.Value | None = None) -> ir.Value:
        got = self.state_vars.get(v.name)
        if got is None:
            nbytes = _slot_bytes(v.type)
            off = self.reserve(self.sb.mul(self.S, ir.Constant(T.I64, nbytes)))
            got = self.state_vars[v.name] = (off, nbytes)
        off, nbytes = got
        assert self.lin is not None, "a per-work-item variable outside a work-item loop"
        at = self.b.mul(lin if lin is not None else self.lin, ir.Constant(T.I64, nbytes),
                        flags=["nuw", "nsw"])
        p = self.b.gep(self.scratch(off), [at])
        return self.b.bitcast(p, ir.PointerType(T.mem_type(v.type)))

    def tag_var(self, instr: object, v: Var) -> None:
        if v.name in self.state and self.groups:  # one slot per work-item
            instr.set_metadata("llvm.access.group", self.groups[-1])  # type: ignore[attr-defined]

    def remat(self, v: Var) -> Expr | None:
        e = self.plan.remat.get(v.name)
        return e if e is not None else self.extra_remat.get(v.name)

    def statement(self, s: Stmt) -> None:
        if isinstance(s, Let) and s.var.name in self.plan.remat:
            return
        super().statement(s)

    def declare_var(self, v: Var, ptr: ir.Value | None = None) -> ir.Value:
        if v.name in self.state:
            return self.state_ptr(v)
        return super().declare_var(v, ptr)

    def var_ptr(self, v: Var) -> ir.Value:
        if v.name in self.state:
            return self.state_ptr(v)
        return super().var_ptr(v)

    def alloc(self, buf: Buffer) -> None:
        if buf.scope is MemScope.PRIVATE and buf.name not in self.state:
            super().alloc(buf)  # lives within one work-item's iteration of one region
            return
        if buf.name in self.arrays:
            return
        assert buf.shape is not None
        params = {p.name for p in self.k.params}
        if any(v.name not in params for d in buf.shape for v in free_vars(d)):
            raise UnsupportedOp(f"kernel '{self.k.name}': the size of {buf.scope} array "
                                f"%{buf.name} depends on a variable", target="cpu")
        saved = self.b
        self.b = self.sb  # sizes are computed once, where the scratch block is laid out
        try:
            dims = [self.index_i64(d) for d in buf.shape]
        finally:
            self.b = saved
        sb = self.sb
        n: ir.Value = ir.Constant(T.I64, buf.elem.lanes * T.lane_bytes(buf.elem))
        for d in dims:
            n = sb.mul(n, d)
        per_item = n if buf.scope is MemScope.PRIVATE else None
        off = self.reserve(sb.mul(n, self.S) if per_item is not None else n)
        self.arrays[buf.name] = ScratchArray(buf, off, per_item, dims if len(dims) > 1 else None)

    def buffer_ref(self, buf: Buffer) -> BufRef:
        a = self.arrays.get(buf.name)
        if a is None:
            return super().buffer_ref(buf)
        p = self.scratch(a.offset)
        if a.per_item is not None:
            assert self.lin is not None
            p = self.b.gep(p, [self.b.mul(self.lin, a.per_item)])
        base = self.b.bitcast(p, ir.PointerType(T.mem_lane_type(buf.elem)))
        return BufRef(buf, base, a.dims, parallel_ok=True)

    # -- leaving a work-item's iteration ---------------------------------------------------------
    def leave(self, first_mask: int) -> None:
        for m in self.masks[first_mask:]:
            self.tagged(self.b.store(ir.Constant(T.I8, 0), self.mask_ptr(m)))
            self.b.store(ir.Constant(T.I1, False), m.full)
        assert self.wi_next is not None
        self.b.branch(self.wi_next)
        self.dead_end()

    def return_(self) -> None:
        self.leave(0)

    def jump(self, is_break: bool) -> None:
        t = self.loops[-1]
        if isinstance(t, GroupLoop):
            self.leave(t.base if is_break else t.base + 1)
        else:
            super().jump(is_break)

    # -- builtins and warp ops -------------------------------------------------------------------
    def builtin(self, e: Builtin) -> ir.Value:
        from .spmd_warp import builtin_value
        return builtin_value(self, e)

    def warp_op(self, e: Expr) -> ir.Value:
        from .spmd_warp import ballot, shuffle
        if isinstance(e, Shuffle):
            return shuffle(self, e)
        if isinstance(e, Ballot):
            return ballot(self, e.pred, e.type)
        if isinstance(e, ActiveMask):
            return ballot(self, None, e.type)
        if isinstance(e, Vote):
            hits = ballot(self, e.pred, U32)
            if e.mode is VoteMode.ANY:
                return self.b.icmp_unsigned("!=", hits, ir.Constant(T.I32, 0))
            return self.b.icmp_unsigned("==", hits, ballot(self, None, U32))
        raise UnsupportedOp(f"{type(e).__name__} on the cpu target", target="cpu")


def _returns(k: Kernel) -> Iterator[Return]:
    return (n for n in walk(k.body) if isinstance(n, Return))

