"""Builtins and warp operations inside a work-item region of an SPMD kernel.

A warp is 32 consecutive work-items of a group by linear local id (x fastest); the last warp of
a group whose size is not a multiple of 32 is partial. A warp op reads the operands of the other
lanes of its warp from their per-work-item arrays (spmd.py put the operands in variables that
live across a warp barrier, so they are in such arrays) and the active lanes from the innermost
mask: PTX shfl.sync semantics for shuffles, as the interpreter has them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.kernel.expr import Builtin, Expr, Shuffle, Var
from ...ir.kernel.types import ScalarType, ShuffleMode
from . import lltypes as T

if TYPE_CHECKING:
    from .spmd_codegen import GroupEmitter

WARP = 32


def as_int(b: ir.IRBuilder, v: ir.Value, t: ScalarType) -> ir.Value:
    """A non-negative integer value as type `t` (truncated or zero-extended)."""
    w, vw = T.reg_type(t).width, v.type.width
    if w == vw:
        return v
    return b.trunc(v, T.reg_type(t)) if w < vw else b.zext(v, T.reg_type(t))


def builtin_value(g: GroupEmitter, e: Builtin) -> ir.Value:
    b, a, t = g.b, e.axis, e.type
    if e.name == "warp_size":
        return T.const(t, WARP)
    if e.name in ("lane_id", "local_id", "global_id") and g.lin is None:
        raise UnsupportedOp(f"{e.name}() outside a work-item region", target="cpu")
    if e.name == "lane_id":
        assert g.lin is not None
        return as_int(b, b.and_(g.lin, ir.Constant(T.I64, WARP - 1)), t)
    if e.name == "local_id":
        return as_int(b, g.lids[a], t)
    if e.name == "group_id":
        return as_int(b, g.gids[a], t)
    if e.name == "local_size":
        return as_int(b, g.L[a], t)
    if e.name == "num_groups":
        return as_int(b, g.G[a], t)
    if e.name == "global_size":
        return as_int(b, b.mul(g.L[a], g.G[a]), t)
    if e.name == "global_offset":
        return as_int(b, g.O[a], t)
    if e.name == "global_id":
        flags = ["nsw"] if T.is_signed_int(t) else ["nuw"]
        base = as_int(b, g.gbase[a], t)
        return b.add(base, as_int(b, g.lids[a], t), flags=flags)
    raise UnsupportedOp(f"unknown builtin {e.name}()", target="cpu")


def _warp(g: GroupEmitter) -> tuple[ir.Value, ir.Value, ir.Value]:
    """This work-item's lane, its warp's first linear id, and the warp's length."""
    b, lin = g.b, g.lin
    assert lin is not None
    lane = b.and_(lin, ir.Constant(T.I64, WARP - 1))
    base = b.sub(lin, lane)
    left = b.sub(g.S, base)
    wlen = b.select(b.icmp_signed("<", left, ir.Constant(T.I64, WARP)), left,
                    ir.Constant(T.I64, WARP))
    return lane, base, wlen


def _state_var(g: GroupEmitter, e: Expr, what: str) -> Var:
    if not isinstance(e, Var) or e.name not in g.state:
        raise UnsupportedOp(f"kernel '{g.k.name}': a warp {what} whose operand was not staged "
                            "(spmd.hoist_warp_ops)", target="cpu")
    return e


def shuffle(g: GroupEmitter, e: Shuffle) -> ir.Value:
    b = g.b
    x = _state_var(g, e.x, "shuffle")
    lane, base, wlen = _warp(g)
    raw = g.index_i64(e.lane)
    delta = b.and_(raw, ir.Constant(T.I64, WARP - 1))  # PTX uses the low 5 bits
    w = e.width or WARP
    seg = b.and_(lane, ir.Constant(T.I64, ~(w - 1)))
    seg_end = b.add(seg, ir.Constant(T.I64, w - 1))
    ok: ir.Value
    if e.mode is ShuffleMode.IDX:
        src = b.or_(seg, b.and_(delta, ir.Constant(T.I64, w - 1)))
        ok = ir.Constant(T.I1, True)
    elif e.mode is ShuffleMode.UP:
        src = b.sub(lane, delta)
        ok = b.icmp_signed(">=", src, seg)
    elif e.mode is ShuffleMode.DOWN:
        src = b.add(lane, delta)
        ok = b.icmp_signed("<=", src, seg_end)
    else:
        src = b.xor(lane, delta)
        ok = b.icmp_signed("<=", src, seg_end)
    ok = b.and_(ok, b.icmp_signed("<", src, wlen))
    assert g.lin is not None
    at = b.select(ok, b.add(base, src), g.lin)
    return T.from_mem(b, b.load(g.state_ptr(x, at)), x.type)


def ballot(g: GroupEmitter, pred: Expr | None, t: ScalarType) -> ir.Value:
    """Bit l set where lane l of this warp is active (and its staged `pred` holds)."""
    b = g.b
    p = _state_var(g, pred, "vote") if pred is not None else None
    _, base, wlen = _warp(g)
    acc, idx = g.alloca(T.I64), g.alloca(T.I64)
    b.store(ir.Constant(T.I64, 0), acc)
    b.store(ir.Constant(T.I64, 0), idx)
    head = g.fn.append_basic_block("ballot.head")
    body = g.fn.append_basic_block("ballot.body")
    done = g.fn.append_basic_block("ballot.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.load(idx)
    b.cbranch(b.icmp_signed("<", i, wlen), body, done)
    b.position_at_end(body)
    at = b.add(base, i)
    bit: ir.Value = g.mask_value(g.masks[-1], at) if g.masks else ir.Constant(T.I1, True)
    if p is not None:
        bit = b.and_(bit, T.from_mem(b, b.load(g.state_ptr(p, at)), p.type))
    b.store(b.or_(b.load(acc), b.shl(b.zext(bit, T.I64), i)), acc)
    b.store(b.add(i, ir.Constant(T.I64, 1)), idx)
    b.branch(head)
    b.position_at_end(done)
    return as_int(b, b.load(acc), t)
