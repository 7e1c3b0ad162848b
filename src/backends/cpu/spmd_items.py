"""Work-item loops and masks of an SPMD kernel's group function (spmd_codegen.py).

A region is a z/y/x loop nest over the group's work-items; the x loop carries an access group
(work-items between barriers touch memory independently), so LLVM may vectorize it. A mask is a
byte per work-item saying who runs the code under a group-level branch or loop, with a flag
that says everyone does (regions then drop the per-item tests).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from llvmlite import ir

from . import lltypes as T
from .codegen import FunctionEmitter


@dataclass
class Mask:
    """Which work-items of the group run the code under it: a byte per work-item in scratch,
    and a flag that says every work-item does (regions then skip the per-item tests)."""

    offset: ir.Value
    full: ir.Value  # an i1 stack slot


class WorkItems(FunctionEmitter):
    """Masks, flags and loops over work-items; the group function (GroupEmitter) supplies
    the launch sizes and the scratch block."""

    L: list[ir.Value]  # local sizes (i64)
    L32: list[ir.Value]
    S: ir.Value  # work-items per group (i64)
    masks: list[Mask]
    lin: ir.Value | None
    lids: list[ir.Value]
    wi_next: ir.Block | None

    def reserve(self, nbytes: ir.Value) -> ir.Value:
        raise NotImplementedError

    def scratch(self, off: ir.Value) -> ir.Value:
        raise NotImplementedError

    # -- masks and flags -------------------------------------------------------------------------
    def new_mask(self) -> Mask:
        """A mask, its flag set to full (the region that computes it clears the flag)."""
        m = Mask(self.reserve(self.S), self.alloca(T.I1))
        self.b.store(ir.Constant(T.I1, True), m.full)
        return m

    def mask_ptr(self, m: Mask, lin: ir.Value | None = None) -> ir.Value:
        assert self.lin is not None
        return self.b.gep(self.scratch(m.offset), [lin if lin is not None else self.lin])

    def tagged(self, instr: ir.Instruction) -> ir.Instruction:
        """A work-item's own slot of a per-work-item array: tagged parallel in its region."""
        if self.groups:
            instr.set_metadata("llvm.access.group", self.groups[-1])
        return instr

    def mask_value(self, m: Mask, lin: ir.Value | None = None) -> ir.Value:
        v = self.tagged(self.b.load(self.mask_ptr(m, lin)))
        return self.b.icmp_unsigned("!=", v, ir.Constant(T.I8, 0))

    def set_mask(self, m: Mask, value: ir.Value, any_flag: ir.Value | None = None) -> None:
        """Set the current work-item's bit (in a region over all work-items, after the mask's
        flag was set full at group level)."""
        b = self.b
        self.tagged(b.store(b.zext(value, T.I8), self.mask_ptr(m)))
        b.store(b.and_(b.load(m.full), value), m.full)
        if any_flag is not None:
            self.b.store(self.b.or_(self.b.load(any_flag), value), any_flag)

    def active(self) -> ir.Value:
        """Whether the current work-item is in the innermost mask."""
        return self.mask_value(self.masks[-1]) if self.masks else ir.Constant(T.I1, True)

    def flag(self) -> ir.Value:
        f = self.alloca(T.I1)
        self.b.store(ir.Constant(T.I1, False), f)
        return f

    @contextmanager
    def if_then(self, cond: ir.Value) -> Iterator[None]:
        b = self.b
        then = self.fn.append_basic_block("then")
        done = self.fn.append_basic_block("endif")
        b.cbranch(cond, then, done)
        b.position_at_end(then)
        yield
        b.branch(done)
        b.position_at_end(done)

    @contextmanager
    def if_else(self, cond: ir.Value) -> Iterator[Callable[[], None]]:
        """`with if_else(c) as orelse:` emit the then-part, call orelse(), emit the else-part."""
        b = self.b
        then = self.fn.append_basic_block("then")
        other = self.fn.append_basic_block("else")
        done = self.fn.append_basic_block("endif")
        b.cbranch(cond, then, other)
        b.position_at_end(then)

        def orelse() -> None:
            b.branch(done)
            b.position_at_end(other)
        yield orelse
        b.branch(done)
        b.position_at_end(done)

    @contextmanager
    def if_flag(self, flag: ir.Value) -> Iterator[None]:
        with self.if_then(self.b.load(flag)):
            yield

    def when(self, cond: ir.Value, fn: Callable[[], ir.Value]) -> ir.Value:
        """`cond && fn()`, running fn only where cond holds."""
        b = self.b
        start = b.block
        then = self.fn.append_basic_block("when")
        done = self.fn.append_basic_block("when.end")
        b.cbranch(cond, then, done)
        b.position_at_end(then)
        v = fn()
        then_end = b.block
        b.branch(done)
        b.position_at_end(done)
        phi = b.phi(T.I1)
        phi.add_incoming(ir.Constant(T.I1, False), start)
        phi.add_incoming(v, then_end)
        return phi

    def when_active(self, fn: Callable[[], ir.Value]) -> ir.Value:
        return self.when(self.active(), fn) if self.masks else fn()

    # -- work-item loops -------------------------------------------------------------------------
    @contextmanager
    def work_items(self, skip_inactive: bool = True) -> Iterator[None]:
        """Loops over the group's work-items (x innermost); the with-body emits the code of
        one work-item, which ends at `self.wi_next`."""
        b = self.b
        ivs = [self.alloca(T.I32, name=f"l{a}") for a in range(3)]
        heads = [self.fn.append_basic_block(f"wi{a}.head") for a in range(3)]
        latches = [self.fn.append_basic_block(f"wi{a}.latch") for a in range(3)]
        done = self.fn.append_basic_block("wi.end")
        exits = [done, latches[2], latches[1]]
        for a in (2, 1, 0):
            b.store(ir.Constant(T.I32, 0), ivs[a])
            b.branch(heads[a])
            b.position_at_end(heads[a])
            inner = self.fn.append_basic_block(f"wi{a}.body")
            b.cbranch(b.icmp_signed("<", b.load(ivs[a]), self.L32[a]), inner, exits[2 - a])
            b.position_at_end(inner)
        lids = [b.load(iv) for iv in ivs]
        wide = [b.zext(x, T.I64) for x in lids]
        lin = b.add(wide[0], b.mul(self.L[0], b.add(wide[1], b.mul(self.L[1], wide[2],
                                                                    flags=["nuw", "nsw"]),
                                                     flags=["nuw", "nsw"]), flags=["nuw", "nsw"]),
                    flags=["nuw", "nsw"])
        saved = self.lin, self.lids, self.wi_next
        self.lin, self.lids, self.wi_next = lin, lids, latches[0]
        group = self.mb.access_group()
        self.groups.append(group)
        if skip_inactive and self.masks:
            body = self.fn.append_basic_block("wi.active")
            b.cbranch(self.active(), body, latches[0])
            b.position_at_end(body)
        with self.scope():
            yield
        self.groups.pop()
        self.lin, self.lids, self.wi_next = saved
        b.branch(latches[0])
        for a in range(3):
            b.position_at_end(latches[a])
            b.store(b.add(b.load(ivs[a]), ir.Constant(T.I32, 1), flags=["nsw", "nuw"]), ivs[a])
            br = b.branch(heads[a])
            if a == 0:
                br.set_metadata("llvm.loop", self.mb.loop_id([], [group]))
        b.position_at_end(done)
