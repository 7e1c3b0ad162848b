"""What the kernel interpreter's compiler needs to know about statements and expressions before
it emits them: which expressions depend on the set of executing work-items, which statements let
work-items leave a sequence early, and which parallel loops can run all their iterations as lanes.
"""
from __future__ import annotations

from .expr import ActiveMask, Ballot, Binary, Expr, Load, Var, Vote
from .stmt import (
    Alloc,
    Assign,
    Atomic,
    Block,
    Break,
    Continue,
    For,
    If,
    Let,
    Return,
    Stmt,
    Store,
    While,
)
from .types import ForKind, MemScope
from .visit import walk

INT_DIVS = ("div", "rem", "floordiv", "floormod")


def masked(e: Expr) -> bool:
    """Whether evaluating `e` depends on which work-items execute it (loads may fault, integer
    division may divide by zero, warp votes count the active lanes)."""
    for n in walk(e):
        if isinstance(n, (Load, Ballot, ActiveMask, Vote)):
            return True
        if isinstance(n, Binary) and n.op in INT_DIVS and n.type.is_int:
            return True
    return False


def vectorizable(s: For) -> bool:
    """Whether the iterations of a parallel loop can run as lanes with nothing to merge back:
    no return or break, no assignment to a variable or store to a private array declared
    outside the loop (iterations of a parallel loop are independent, so this only rules out
    kernels that rely on the last iteration's values)."""
    if leaves_loop(s.body):
        return False
    inner = {s.var.name}
    for n in walk(s.body):
        if isinstance(n, Let):
            inner.add(n.var.name)
        elif isinstance(n, For):
            inner.add(n.var.name)
        elif isinstance(n, Atomic) and n.result is not None:
            inner.add(n.result.name)
        elif isinstance(n, Alloc):
            inner.add(n.buffer.name)
    for n in walk(s.body):
        if isinstance(n, Return):
            return False
        if isinstance(n, Assign) and n.var.name not in inner:
            return False
        if isinstance(n, (Store, Atomic)) and n.buffer.scope is MemScope.PRIVATE \
                and n.buffer.name not in inner:
            return False
    return True


def leaves_loop(b: Block) -> bool:
    """A break of this loop (not of a loop nested in it), or a return."""
    for x in b.stmts:
        if isinstance(x, (Break, Return)):
            return True
        if isinstance(x, If) and (leaves_loop(x.then) or (x.orelse is not None
                                                           and leaves_loop(x.orelse))):
            return True
        if isinstance(x, Block) and leaves_loop(x):
            return True
        if isinstance(x, (For, While)) and any(isinstance(n, Return) for n in walk(x.body)):
            return True
    return False


def parallel_nest(s: For) -> list[For]:
    """The perfectly nested parallel loops from `s` inward whose bounds do not depend on each
    other, when they can run as lanes; else []."""
    kinds = (ForKind.PARALLEL, ForKind.VECTORIZED)
    if s.kind not in kinds or not vectorizable(s):
        return []
    nest = [s]
    while len(nest[-1].body.stmts) == 1:
        inner = nest[-1].body.stmts[0]
        if not isinstance(inner, For) or inner.kind not in kinds or not vectorizable(inner):
            break
        outer_vars = {f.var for f in nest}
        if any(v in outer_vars for e in (inner.start, inner.stop, inner.step)
               for v in walk(e) if isinstance(v, Var)):
            break
        nest.append(inner)
    return nest


def exits(s: Stmt, in_loop: bool = False) -> bool:
    """Whether running `s` may make work-items leave the current statement sequence early: a
    return anywhere, a break or continue not inside a loop nested in `s`."""
    if isinstance(s, Return):
        return True
    if isinstance(s, (Break, Continue)):
        return not in_loop
    if isinstance(s, (For, While)):
        return any(exits(x, True) for x in s.body.stmts)
    if isinstance(s, If):
        return any(exits(x, in_loop) for x in s.then.stmts) or (
            s.orelse is not None and any(exits(x, in_loop) for x in s.orelse.stmts))
    if isinstance(s, Block):
        return any(exits(x, in_loop) for x in s.stmts)
    return False
