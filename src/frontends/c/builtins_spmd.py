"""Builtins of the SPMD model: work-item queries, barriers and fences, atomics (CUDA's wrapping
atomicInc/atomicDec as compare-and-swap loops), warp shuffles and votes."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ...ir.kernel import (
    I32,
    U32,
    U64,
    ActiveMask,
    Assign,
    AtomicOp,
    Ballot,
    Barrier,
    BarrierScope,
    Binary,
    Bitcast,
    Block,
    Builtin,
    Const,
    Expr,
    Let,
    Load,
    MemScope,
    Select,
    Shuffle,
    ShuffleMode,
    Var,
    Vote,
    VoteMode,
    While,
)
from ...ir.kernel import Atomic as IrAtomic
from . import ast as A
from .builtins import TABLE, VOID, builtin, nargs
from .ctype import (
    DOUBLE,
    FLOAT,
    INT,
    SIZE_T,
    UINT,
    is_int,
)
from .emit import const_of
from .scope import unsupported
from .values import RV, MemLV, Obj

if TYPE_CHECKING:
    from .lower import KernelLowerer


# -- work-items ----------------------------------------------------------------------------------
IDS = {"get_global_id": "global_id", "get_local_id": "local_id", "get_group_id": "group_id",
       "get_local_size": "local_size", "get_enqueued_local_size": "local_size",
       "get_num_groups": "num_groups", "get_global_size": "global_size",
       "get_global_offset": "global_offset"}


@builtin(*IDS)
def _workitem(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    (d,) = nargs(e, name, 1)
    axis = lw.const_int(d, lw.scope)
    if not 0 <= axis:
        raise d.pos.error(f"{name}: dimension {axis} is negative")
    if axis >= 3:
        size = IDS[name] in ("local_size", "global_size", "num_groups")
        return RV(SIZE_T, Const(1 if size else 0, U64))
    return RV(SIZE_T, Builtin(IDS[name], axis, U64))


@builtin("get_work_dim")
def _work_dim(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    nargs(e, name, 0)
    return RV(UINT, lw.work_dim_var())


@builtin("get_sub_group_local_id")
def _lane(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    nargs(e, name, 0)
    return RV(UINT, Builtin("lane_id", 0, U32))


@builtin("get_sub_group_size", "get_max_sub_group_size")
def _warp_size(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    nargs(e, name, 0)
    return RV(UINT, Builtin("warp_size", 0, U32))


# -- synchronization -----------------------------------------------------------------------------
@builtin("barrier", "work_group_barrier")
def _barrier(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    args = nargs(e, name, 1, 2)
    flags = lw.const_int(args[0], lw.scope)
    scope = {0: BarrierScope.LOCAL, 1: BarrierScope.LOCAL, 2: BarrierScope.GLOBAL}.get(
        flags & 3, BarrierScope.ALL)
    lw.emit(Barrier(scope))
    return VOID


@builtin("__syncthreads")
def _syncthreads(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    nargs(e, name, 0)
    lw.emit(Barrier(BarrierScope.ALL))
    return VOID


@builtin("__syncwarp", "sub_group_barrier")
def _syncwarp(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    for a in nargs(e, name, 0, 1):
        lw.expr(a, True)
    lw.emit(Barrier(BarrierScope.WARP))
    return VOID


@builtin("mem_fence", "read_mem_fence", "write_mem_fence", "__threadfence",
         "__threadfence_block", "__threadfence_system")
def _fence(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    return VOID   # dlc's targets run with at least the ordering a fence asks for


@builtin("__syncthreads_count", "__syncthreads_and", "__syncthreads_or")
def _sync_reduce(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    raise unsupported(e.pos, f"{name} is not supported")


# -- atomics -------------------------------------------------------------------------------------
ATOMICS = {"add": AtomicOp.ADD, "sub": AtomicOp.SUB, "min": AtomicOp.MIN, "max": AtomicOp.MAX,
           "and": AtomicOp.AND, "or": AtomicOp.OR, "xor": AtomicOp.XOR, "xchg": AtomicOp.XCHG,
           "exch": AtomicOp.XCHG, "inc": AtomicOp.INC, "dec": AtomicOp.DEC,
           "cmpxchg": AtomicOp.CAS, "cas": AtomicOp.CAS}


def atomic_target(lw: KernelLowerer, p: A.Expr, name: str, bitwise: bool = False) -> MemLV:
    """The element an atomic updates. `bitwise` ops (cmpxchg, xchg) also take a pointer cast
    to another type of the same width (`(volatile __global uint *)floats`), as the float-add
    idiom of OpenCL 1.x does."""
    ptr = lw.pointer(lw.expr(p), p.pos)
    if ptr.target is not None:
        raise p.pos.error(f"{name} needs a pointer to global or local memory, not to a private "
                          "variable")
    target = lw.deref(ptr, None, p.pos)
    same = isinstance(target, MemLV) and (
        target.buffer.elem == target.ctype.st or (bitwise and target.buffer.elem.lanes == 1
                                                  and target.buffer.elem.bits
                                                  == target.ctype.st.bits))
    if not isinstance(target, MemLV) or target.ctype.lanes != 1 or target.wide3 or not same:
        raise p.pos.error(f"{name} needs a pointer to a scalar int or float")
    if target.buffer.scope not in (MemScope.GLOBAL, MemScope.LOCAL):
        raise p.pos.error(f"{name} works on global or local memory, not "
                          f"{target.buffer.scope} memory")
    if target.const:
        raise p.pos.error(f"{name} writes through a pointer to const")
    return target


def emit_atomic(lw: KernelLowerer, op: AtomicOp, target: MemLV, value: Expr | None,
                compare: Expr | None, discard: bool) -> Obj:
    t = target.ctype
    elem = target.buffer.elem
    if elem != t.st:   # a reinterpreting pointer: the bits go through unchanged
        value = Bitcast(value, elem) if value is not None else None
        compare = Bitcast(compare, elem) if compare is not None else None
    result = None if discard else Var(lw.fresh("atomic"), elem)
    lw.emit(IrAtomic(op, target.buffer, target.index, value, compare, result))
    if result is None:
        return VOID
    return RV(t, result if elem == t.st else Bitcast(result, t.st))


def _atomic(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    word = re.sub(r"^(atomic_|atom_|atomic)", "", name).removesuffix("_block") \
        .removesuffix("_system").lower()
    op = ATOMICS[word]
    cuda = name.startswith("atomic") and not name.startswith("atomic_")
    if op in (AtomicOp.INC, AtomicOp.DEC) and cuda:
        return _cuda_wrapping(lw, name, e, op is AtomicOp.INC, discard)
    counts = (1,) if op in (AtomicOp.INC, AtomicOp.DEC) else (3,) if op is AtomicOp.CAS else (2,)
    args = nargs(e, name, *counts)
    target = atomic_target(lw, args[0], name, op in (AtomicOp.CAS, AtomicOp.XCHG))
    t = target.ctype
    if op in (AtomicOp.AND, AtomicOp.OR, AtomicOp.XOR) and not is_int(t):
        raise e.pos.error(f"{name} needs an integer pointer, not {t}")
    value = compare = None
    if op is AtomicOp.CAS:
        compare = lw.convert(lw.rvalue(args[1]), t, args[1].pos)
        value = lw.convert(lw.rvalue(args[2]), t, args[2].pos)
    elif len(args) == 2:
        value = lw.convert(lw.rvalue(args[1]), t, args[1].pos)
    return emit_atomic(lw, op, target, value, compare, discard)


def _cuda_wrapping(lw: KernelLowerer, name: str, e: A.Call, inc: bool, discard: bool) -> Obj:
    """CUDA atomicInc/atomicDec wrap at a limit: a compare-and-swap loop."""
    args = nargs(e, name, 2)
    target = atomic_target(lw, args[0], name)
    t = target.ctype
    limit = lw.convert(lw.rvalue(args[1]), t, args[1].pos)
    old = Var(lw.fresh("atomic.old"), t.st)
    assumed = Var(lw.fresh("atomic.assumed"), t.st)
    got = Var(lw.fresh("atomic"), t.st)
    one, zero = const_of(1, t.st), const_of(0, t.st)
    if inc:
        new: Expr = Select(Binary("ge", assumed, limit), zero, Binary("add", assumed, one))
    else:
        new = Select(Binary("lor", Binary("eq", assumed, zero), Binary("gt", assumed, limit)),
                     limit, Binary("sub", assumed, one))
    lw.emit(Let(old, Load(target.buffer, target.index)))
    lw.emit(Let(assumed, old))
    body = Block((Assign(assumed, old),
                  IrAtomic(AtomicOp.CAS, target.buffer, target.index, new, assumed, got),
                  Assign(old, got)))
    lw.emit(While(Binary("ne", old, assumed), body, test_first=False))
    return RV(t, old)


for _w in ATOMICS:
    if _w not in ("exch", "cas"):
        TABLE[f"atomic_{_w}"] = _atomic
        TABLE[f"atom_{_w}"] = _atomic
for _w in ("Add", "Sub", "Min", "Max", "And", "Or", "Xor", "Exch", "CAS", "Inc", "Dec"):
    for _sfx in ("", "_block", "_system"):
        TABLE[f"atomic{_w}{_sfx}"] = _atomic


# -- warps ---------------------------------------------------------------------------------------
SHUFFLES = {"__shfl_sync": ShuffleMode.IDX, "__shfl_up_sync": ShuffleMode.UP,
            "__shfl_down_sync": ShuffleMode.DOWN, "__shfl_xor_sync": ShuffleMode.XOR,
            "__shfl": ShuffleMode.IDX, "__shfl_up": ShuffleMode.UP,
            "__shfl_down": ShuffleMode.DOWN, "__shfl_xor": ShuffleMode.XOR,
            "sub_group_shuffle": ShuffleMode.IDX, "sub_group_broadcast": ShuffleMode.IDX,
            "sub_group_shuffle_xor": ShuffleMode.XOR, "sub_group_shuffle_up": ShuffleMode.UP,
            "sub_group_shuffle_down": ShuffleMode.DOWN}


@builtin(*SHUFFLES)
def _shuffle(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    sync = name.endswith("_sync")
    cuda = name.startswith("__")
    args = nargs(e, name, *((3, 4) if sync else (2, 3) if cuda else (2,)))
    if sync:
        lw.expr(args[0], True)
        args = args[1:]
    x = lw.rvalue(args[0])
    lane = lw.cast(lw.value(lw.rvalue(args[1])), I32)
    width = None
    if len(args) == 3:
        width = lw.const_int(args[2], lw.scope)
        if width <= 0 or width > 32 or width & (width - 1):
            raise args[2].pos.error(f"{name}: width {width} must be a power of two up to 32")
        if width == 32:
            width = None
    return RV(x.ctype, Shuffle(SHUFFLES[name], lw.value(x), lane, width))


@builtin("__ballot_sync", "__ballot")
def _ballot(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    args = nargs(e, name, 2 if name.endswith("sync") else 1)
    if len(args) == 2:
        lw.expr(args[0], True)
    return RV(UINT, Ballot(lw.cond(args[-1])))


@builtin("__activemask")
def _activemask(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    nargs(e, name, 0)
    return RV(UINT, ActiveMask())


@builtin("__all_sync", "__any_sync", "__all", "__any", "sub_group_all", "sub_group_any")
def _vote(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    args = nargs(e, name, 2 if name.endswith("sync") else 1)
    if len(args) == 2:
        lw.expr(args[0], True)
    mode = VoteMode.ALL if "all" in name else VoteMode.ANY
    return RV(INT, Vote(mode, lw.cond(args[-1])))


# -- constants -----------------------------------------------------------------------------------
@builtin("__builtin_inff", "__builtin_huge_valf", "__builtin_nanf", "__builtin_inf",
         "__builtin_huge_val", "__builtin_nan")
def _special(lw: KernelLowerer, name: str, e: A.Call, discard: bool) -> Obj:
    t = FLOAT if name.endswith("f") else DOUBLE
    v = float("nan") if "nan" in name else float("inf")
    return RV(t, Const(v, t.st))


