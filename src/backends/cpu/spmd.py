"""SPMD kernels prepared for the CPU: what one work-group's loop over its work-items needs.

A work-group runs on one core as a sequence of *regions*, each a loop over the group's
work-items (spmd_codegen.py). Barriers split the body into regions; a barrier inside an `if` or a
loop makes that construct run at group level, its condition evaluated by every work-item and
its branches run by the work-items whose condition holds (masks), as a SIMT machine would. Before
that, this module rewrites the kernel (privately, for code generation):

- every declared name is made unique in the kernel, and scalar parameters the kernel assigns get
  a per-work-item copy (`let %n.wi = %n`), so one name is one variable;
- each warp operation (shuffle, ballot, vote, activemask) is hoisted out of its statement: its
  operands go to variables, then a warp barrier, then the operation on those variables — so the
  operation runs in a region after every work-item of the warp has computed its operands;
- it decides which loops run at group level with one loop variable (`Plan`): those with the
  same bounds for every work-item that contain a barrier, and those that do memory work (a
  work-item's loop over k in a matrix product, say), hoisted out of the work-item loop so that
  the loop over work-items becomes the innermost one, which LLVM vectorizes;
- and it finds the variables that live across regions (`state_names`): those are kept in
  per-work-item arrays; all others live in registers of one work-item's iteration.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from ...errors import UnsupportedOp
from ...ir.kernel.expr import (
    ActiveMask,
    Ballot,
    Buffer,
    Builtin,
    Const,
    Expr,
    Load,
    Shuffle,
    Unary,
    Var,
    Vote,
)
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
from ...ir.kernel.types import BOOL, BarrierScope, MemScope
from ...ir.kernel.visit import Node, transform, walk

WARP_OPS = (Shuffle, Ballot, Vote, ActiveMask)


# -- unique names --------------------------------------------------------------------------------

class _Renamer:
    def __init__(self, k: Kernel):
        self.taken = {p.name for p in k.params}
        self.scopes: list[dict[str, Var | Buffer]] = [{}]
        self.counter = 0

    def fresh(self, name: str) -> str:
        out = name
        while out in self.taken:
            self.counter += 1
            out = f"{name}.u{self.counter}"
        self.taken.add(out)
        return out

    def lookup(self, name: str) -> Var | Buffer | None:
        for s in reversed(self.scopes):
            if name in s:
                return s[name]
        return None

    @contextmanager
    def scope(self) -> Iterator[None]:
        self.scopes.append({})
        try:
            yield
        finally:
            self.scopes.pop()

    def var(self, v: Var) -> Var:
        d = self.lookup(v.name)
        return d if isinstance(d, Var) else v

    def buffer(self, b: Buffer) -> Buffer:
        d = self.lookup(b.name)
        return d if isinstance(d, Buffer) else b

    def declare_var(self, v: Var) -> Var:
        nv = Var(self.fresh(v.name), v.type)
        self.scopes[-1][v.name] = nv
        return nv

    def expr(self, e: Expr) -> Expr:
        def fn(n: Node) -> Node | None:
            if isinstance(n, Var):
                return self.var(n)
            if isinstance(n, Load):
                nb = self.buffer(n.buffer)
                return None if nb is n.buffer else dataclasses.replace(n, buffer=nb)
            return None
        return transform(e, fn)

    def exprs(self, es: tuple[Expr, ...]) -> tuple[Expr, ...]:
        return tuple(self.expr(e) for e in es)

    def block(self, b: Block) -> Block:
        with self.scope():
            return Block(tuple(self.stmt(s) for s in b.stmts))

    def stmt(self, s: Stmt) -> Stmt:  # noqa: C901 - one case a statement kind
        r = dataclasses.replace
        if isinstance(s, Let):
            value = None if s.value is None else self.expr(s.value)
            return r(s, var=self.declare_var(s.var), value=value)
        if isinstance(s, Assign):
            return r(s, var=self.var(s.var), value=self.expr(s.value))
        if isinstance(s, Store):
            return r(s, buffer=self.buffer(s.buffer), index=self.exprs(s.index),
                     value=self.expr(s.value))
        if isinstance(s, Atomic):
            out = r(s, buffer=self.buffer(s.buffer), index=self.exprs(s.index),
                    value=None if s.value is None else self.expr(s.value),
                    compare=None if s.compare is None else self.expr(s.compare))
            return out if s.result is None else r(out, result=self.declare_var(s.result))
        if isinstance(s, For):
            start, stop, step = self.expr(s.start), self.expr(s.stop), self.expr(s.step)
            with self.scope():
                var = self.declare_var(s.var)
                return r(s, var=var, start=start, stop=stop, step=step, body=self.block(s.body))
        if isinstance(s, While):
            return r(s, cond=self.expr(s.cond), body=self.block(s.body))
        if isinstance(s, If):
            return r(s, cond=self.expr(s.cond), then=self.block(s.then),
                     orelse=None if s.orelse is None else self.block(s.orelse))
        if isinstance(s, Block):
            return self.block(s)
        if isinstance(s, Alloc):
            b = s.buffer
            shape = None if b.shape is None else self.exprs(b.shape)
            nb = Buffer(self.fresh(b.name), b.elem, shape, b.scope, b.read, b.write)
            self.scopes[-1][b.name] = nb
            return r(s, buffer=nb)
        return s


def unique_names(k: Kernel) -> Kernel:
    """`k` with every declared variable and array named once in the kernel, and assigned
    scalar parameters copied into per-work-item variables first."""
    rn = _Renamer(k)
    assigned = {s.var.name for s in walk(k.body) if isinstance(s, Assign)}
    copies: list[Stmt] = []
    for p in k.params:
        if isinstance(p, Var) and p.name in assigned:
            copies.append(Let(rn.declare_var(Var(p.name, p.type)), p))
    body = Block((*copies, *rn.block(k.body).stmts))
    return dataclasses.replace(k, body=body)


# -- warp operations -----------------------------------------------------------------------------

class _WarpHoister:
    def __init__(self) -> None:
        self.counter = 0

    def temp(self, e: Expr, what: str) -> tuple[Let, Var]:
        self.counter += 1
        v = Var(f"warp#{self.counter}.{what}", e.type)
        return Let(v, e), v

    def hoist(self, e: Expr, out: list[Stmt]) -> Expr:
        """`e` with its warp ops replaced by variables; the statements computing them (operands,
        a warp barrier, the op) appended to `out`, innermost ops first."""
        def fn(n: Node) -> Node | None:
            if not isinstance(n, WARP_OPS):
                return None
            before: list[Stmt] = []
            op: Expr
            if isinstance(n, Shuffle):
                lx, vx = self.temp(n.x, "x")
                ll, vl = self.temp(n.lane, "lane")
                before, op = [lx, ll], dataclasses.replace(n, x=vx, lane=vl)
            elif isinstance(n, (Ballot, Vote)):
                lp, vp = self.temp(n.pred, "pred")
                before, op = [lp], dataclasses.replace(n, pred=vp)
            else:
                op = n
            lr, vr = self.temp(op, "r")
            # a barrier on each side: operands are all computed before the op reads them, and
            # the op runs for the whole warp before any work-item returns or leaves a loop
            out.extend([*before, Barrier(BarrierScope.WARP), lr, Barrier(BarrierScope.WARP)])
            return vr
        return transform(e, fn)

    def block(self, b: Block) -> Block:
        out: list[Stmt] = []
        for s in b.stmts:
            out.extend(self.stmt(s))
        return Block(tuple(out))

    def stmt(self, s: Stmt) -> list[Stmt]:  # noqa: C901 - one case a statement kind
        r = dataclasses.replace
        pre: list[Stmt] = []
        if isinstance(s, Let) and s.value is not None:
            s = r(s, value=self.hoist(s.value, pre))
        elif isinstance(s, Assign):
            s = r(s, value=self.hoist(s.value, pre))
        elif isinstance(s, Store):
            s = r(s, index=tuple(self.hoist(i, pre) for i in s.index),
                  value=self.hoist(s.value, pre))
        elif isinstance(s, Atomic):
            s = r(s, index=tuple(self.hoist(i, pre) for i in s.index),
                  value=None if s.value is None else self.hoist(s.value, pre),
                  compare=None if s.compare is None else self.hoist(s.compare, pre))
        elif isinstance(s, If):
            s = r(s, cond=self.hoist(s.cond, pre), then=self.block(s.then),
                  orelse=None if s.orelse is None else self.block(s.orelse))
        elif isinstance(s, For):
            s = r(s, start=self.hoist(s.start, pre), stop=self.hoist(s.stop, pre),
                  step=self.hoist(s.step, pre), body=self.block(s.body))
        elif isinstance(s, While):
            body = self.block(s.body)
            test: list[Stmt] = []
            cond = self.hoist(s.cond, test)
            if test:  # the condition's warp ops run before each test, inside the loop
                if not s.test_first and any(isinstance(n, Continue) for n in walk(body)):
                    raise UnsupportedOp("a warp operation in the condition of a do-while loop "
                                        "that has `continue`", target="cpu")
                leave = If(Unary("not", cond), Block((Break(),)))
                stmts = (*test, leave, *body.stmts) if s.test_first else \
                    (*body.stmts, *test, leave)
                s = While(_true(), Block(stmts), True)
            else:
                s = r(s, body=body)
        elif isinstance(s, Block):
            s = self.block(s)
        return [*pre, s]


def _true() -> Expr:
    return Const(True, BOOL)


def hoist_warp_ops(k: Kernel) -> Kernel:
    if not any(isinstance(n, WARP_OPS) for n in walk(k.body)):
        return k
    return dataclasses.replace(k, body=_WarpHoister().block(k.body))


# -- which statements run at group level ---------------------------------------------------------

GROUP_BUILTINS = frozenset({"group_id", "local_size", "num_groups", "global_size",
                            "global_offset", "warp_size"})
SMALL_TRIP = 16  # constant loops this short stay inside a work-item (LLVM unrolls them)


def rematerializable(k: Kernel) -> dict[str, Expr]:
    """Variables that are never assigned and whose value is computed from constants, builtins,
    parameters and other such variables (`let %j: i32 = global_id(0)`): each region recomputes
    them instead of keeping them in per-work-item arrays, so index arithmetic stays visible to
    LLVM (an access at `global_id(0)` is contiguous across the work-item loop)."""
    assigned = {s.var.name for s in walk(k.body) if isinstance(s, Assign)}
    known = {p.name for p in k.params if isinstance(p, Var)}
    out: dict[str, Expr] = {}
    for s in walk(k.body):
        if not isinstance(s, Let) or s.value is None or s.var.name in assigned:
            continue
        if all(not isinstance(n, (Load, *WARP_OPS)) and (not isinstance(n, Var)
                                                         or n.name in known or n.name in out)
               for n in walk(s.value)):
            out[s.var.name] = s.value
    return out


def is_uniform(e: Expr, names: set[str], remat: dict[str, Expr] | None = None) -> bool:
    """Whether `e` has one value for the whole work-group: it reads only constants, the
    variables in `names` (and rematerializable ones computed from such) and builtins that do
    not depend on the work-item."""
    for n in walk(e):
        if isinstance(n, Var) and n.name not in names:
            if remat is not None and n.name in remat and is_uniform(remat[n.name], names,
                                                                    remat):
                continue
            return False
        if isinstance(n, Builtin) and n.name not in GROUP_BUILTINS:
            return False
        if isinstance(n, (Load, *WARP_OPS)):
            return False
    return True


def _leaves(stmts: tuple[Stmt, ...]) -> bool:
    """Whether a statement of a loop body can leave it or its iteration early: a return
    anywhere, a break or continue not inside a nested loop."""
    for s in stmts:
        if isinstance(s, (Break, Continue, Return)):
            return True
        if isinstance(s, (For, While)):
            if any(isinstance(n, Return) for n in walk(s)):
                return True
        elif isinstance(s, If):
            if _leaves(s.then.stmts) or (s.orelse is not None and _leaves(s.orelse.stmts)):
                return True
        elif isinstance(s, Block) and _leaves(s.stmts):
            return True
    return False


def _const_trip(s: For) -> int | None:
    if all(isinstance(e, Const) for e in (s.start, s.stop, s.step)):
        start, stop, step = (int(e.value) for e in (s.start, s.stop, s.step))  # type: ignore[attr-defined]
        return max(0, -(-(stop - start) // step)) if step > 0 else None
    return None


def _computable(e: Expr, names: set[str], remat: dict[str, Expr]) -> bool:
    """Whether every work-item can recompute `e` anywhere: constants, builtins, the variables
    in `names` and rematerializable variables, no loads."""
    for n in walk(e):
        if isinstance(n, (Load, *WARP_OPS)):
            return False
        if isinstance(n, Var) and n.name not in names and not (
                n.name in remat and _computable(remat[n.name], names, remat)):
            return False
    return True


class Plan:
    """Which loops of a prepared kernel run at group level with one loop variable for the whole
    group (uniform bounds, no early exit): those that contain a barrier, and sync-free ones
    that do memory work and are not short constant loops (hoisted out of the work-item loop so
    that the loop over work-items is innermost and vectorizes). A *strided* loop — uniform stop
    and step, a start each work-item can recompute (`for c = local_id; c < n; c += size`) — is
    hoisted too: it runs as a group loop over the iteration number up to the largest trip count,
    each work-item's variable recomputed from it and its body guarded by `var < stop`.
    `splits(s)`: whether `s` runs at group level (it contains a barrier or a hoisted loop)."""

    def __init__(self, k: Kernel):
        self.uniform: set[int] = set()
        self.strided: set[int] = set()
        self.hoisted: set[int] = set()
        self._splits: dict[int, bool] = {}
        self.remat = rematerializable(k)
        params = {p.name for p in k.params if isinstance(p, Var)}
        self.visit(k.body.stmts, params)

    def visit(self, stmts: tuple[Stmt, ...], names: set[str]) -> None:
        for s in stmts:
            if isinstance(s, For):
                assigned = any(isinstance(n, Assign) and n.var.name == s.var.name
                               for n in walk(s.body))
                uniform = (not assigned and not _leaves(s.body.stmts)
                           and all(is_uniform(e, names, self.remat)
                                   for e in (s.start, s.stop, s.step)))
                inner = names
                work = any(isinstance(n, (Load, Store, Atomic)) for n in walk(s.body))
                trip = _const_trip(s)
                if uniform:
                    self.uniform.add(id(s))
                    inner = names | {s.var.name}
                    if work and (trip is None or trip > SMALL_TRIP):
                        self.hoisted.add(id(s))
                elif (work and not assigned and not _leaves(s.body.stmts)
                      and all(is_uniform(e, names, self.remat) for e in (s.stop, s.step))
                      and _computable(s.start, names, self.remat)):
                    self.strided.add(id(s))
                    self.hoisted.add(id(s))
                self.visit(s.body.stmts, inner)
            elif isinstance(s, While):
                self.visit(s.body.stmts, names)
            elif isinstance(s, If):
                self.visit(s.then.stmts, names)
                if s.orelse is not None:
                    self.visit(s.orelse.stmts, names)
            elif isinstance(s, Block):
                self.visit(s.stmts, names)

    def splits(self, s: Stmt) -> bool:
        got = self._splits.get(id(s))
        if got is None:
            got = self._splits[id(s)] = any(
                isinstance(n, Barrier) or (isinstance(n, For) and id(n) in self.hoisted)
                for n in walk(s))
        return got

    def group_uniform(self, s: For) -> bool:
        """Whether the group-level loop `s` runs with one loop variable for the group."""
        return id(s) in self.uniform

    def scalar_loop(self, s: For) -> bool:
        """Whether the group-level loop `s` needs no per-work-item loop variable."""
        return id(s) in self.uniform or id(s) in self.strided


# -- what lives across regions -------------------------------------------------------------------

def _declared(s: Stmt) -> list[str]:
    if isinstance(s, Let):
        return [s.var.name]
    if isinstance(s, Atomic) and s.result is not None:
        return [s.result.name]
    if isinstance(s, Alloc) and s.buffer.scope is MemScope.PRIVATE:
        return [s.buffer.name]
    return []


def _names(s: Stmt) -> set[str]:
    out: set[str] = set()
    for n in walk(s):
        if isinstance(n, Var):
            out.add(n.name)
        elif isinstance(n, (Load, Store, Atomic)):
            out.add(n.buffer.name)
        if isinstance(n, (Assign, Let)):
            out.add(n.var.name)
    return out


def state_names(body: Block, plan: Plan) -> set[str]:
    """Variables and private arrays (by their unique names) used in more than one region: those
    declared at group level and used at or after a later statement that runs at group level,
    and the variables of group-level loops that are not uniform."""
    out: set[str] = set()

    def group_block(stmts: tuple[Stmt, ...]) -> None:
        for p, s in enumerate(stmts):
            names = _declared(s)
            if names:
                later = next((q for q in range(p + 1, len(stmts)) if plan.splits(stmts[q])),
                             None)
                if later is not None:
                    used: set[str] = set()
                    for t in stmts[later:]:
                        used |= _names(t)
                    out.update(n for n in names if n in used)
            if plan.splits(s):
                if isinstance(s, For):
                    if not plan.scalar_loop(s):
                        out.add(s.var.name)
                    group_block(s.body.stmts)
                elif isinstance(s, While):
                    group_block(s.body.stmts)
                elif isinstance(s, If):
                    group_block(s.then.stmts)
                    if s.orelse is not None:
                        group_block(s.orelse.stmts)
                elif isinstance(s, Block):
                    group_block(s.stmts)
    group_block(body.stmts)
    return out - set(plan.remat)


def has_sync(s: Stmt) -> bool:
    """Whether `s` contains a barrier."""
    return any(isinstance(n, Barrier) for n in walk(s))


def prepare(k: Kernel) -> tuple[Kernel, Plan, set[str]]:
    """The kernel as the SPMD code generator takes it, its plan and its state names."""
    k = hoist_warp_ops(unique_names(k))
    plan = Plan(k)
    return k, plan, state_names(k.body, plan)
