"""Outlining a PARALLEL `For` into a function that runs a range of its iterations.

The loop body becomes `void body(args, env, lo, hi)`; the kernel stores what the body reads
(the loop's start and step, the variables it uses, the arrays it uses that the kernel allocated)
in an `env` struct on its stack and calls `dlc_parallel_for(body, args, env, trip_count)`, which
splits [0, trip_count) across cores (threads.py) and returns when every part is done. Loops
nested in the body run serially there (their iterations still carry parallel-access metadata, so
the innermost may be vectorized).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.kernel.expr import Buffer, Load, Var
from ...ir.kernel.stmt import (
    Assign,
    Atomic,
    Block,
    Break,
    For,
    If,
    Let,
    Return,
    Stmt,
    Store,
    While,
)
from ...ir.kernel.types import ScalarType
from ...ir.kernel.visit import free_vars, walk
from . import lltypes as T
from .exprs import BufRef

if TYPE_CHECKING:
    from .codegen import FunctionEmitter


def _breaks_out(body: list[Stmt]) -> bool:
    """Whether a `break` in `body` leaves the loop whose body it is (not one nested in it)."""
    for s in body:
        if isinstance(s, Break):
            return True
        if isinstance(s, (For, While)):
            continue
        if any(_breaks_out(list(c.stmts)) for c in _blocks(s)):
            return True
    return False


def _blocks(s: Stmt) -> list[Block]:
    if isinstance(s, If):
        return [s.then] + ([s.orelse] if s.orelse is not None else [])
    if isinstance(s, Block):
        return [s]
    return []


def _buffers_used(node: Stmt) -> dict[str, Buffer]:
    out: dict[str, Buffer] = {}
    for n in walk(node):
        if isinstance(n, (Load, Store, Atomic)):
            out.setdefault(n.buffer.name, n.buffer)
    return out


def can_outline(s: For) -> bool:
    """Whether the iterations of `s` can run on different cores: none returns from the kernel
    or breaks out of the loop, and none assigns a variable declared outside the body (which
    would need the iterations in order). Other PARALLEL loops run serially."""
    if any(isinstance(n, Return) for n in walk(s.body)) or _breaks_out(list(s.body.stmts)):
        return False
    declared = {n.var.name for n in walk(s.body) if isinstance(n, (Let, For))}
    declared |= {n.result.name for n in walk(s.body)
                 if isinstance(n, Atomic) and n.result is not None}
    return all(n.var.name in declared for n in walk(s.body) if isinstance(n, Assign))


def outline_parallel_for(em: FunctionEmitter, s: For) -> None:
    from .codegen import BODY_TYPE, FunctionEmitter, LoopTarget
    k, mb, b = em.k, em.mb, em.b
    t = s.var.type
    start, stop, step = em.emit(s.start), em.emit(s.stop), em.emit(s.step)

    # what the body reads from the enclosing code
    used = {v.name: v for v in free_vars(s.body) if v.name != s.var.name}
    captured: list[Var] = []
    for name in sorted(used):
        try:
            em.var_ptr(used[name])
        except UnsupportedOp:
            continue  # declared inside the body
        captured.append(used[name])
    param_names = {p.name for p in k.params}
    arrays: list[BufRef] = []
    for name, buf in sorted(_buffers_used(s.body).items()):
        if name in param_names:
            continue
        try:
            arrays.append(em.buffer_ref(buf))
        except UnsupportedOp:
            continue  # allocated inside the body
    fields: list[ir.Type] = [T.mem_type(t), T.mem_type(t)]
    fields += [T.mem_type(v.type) for v in captured]
    for ref in arrays:
        fields.append(ref.base.type)
        fields += [T.I64] * len(ref.dims or [])
    env_t = ir.LiteralStructType(fields)
    env = em.alloca(env_t, name="env")
    values: list[ir.Value] = [T.to_mem(b, start, t), T.to_mem(b, step, t)]
    values += [b.load(em.var_ptr(v)) for v in captured]
    for ref in arrays:
        values.append(ref.base)
        values += list(ref.dims or [])
    for i, v in enumerate(values):
        b.store(v, b.gep(env, [ir.Constant(T.I32, 0), ir.Constant(T.I32, i)]))

    # the outlined body
    fn = mb.function(mb.unique(f"{k.name}_par"), BODY_TYPE, internal=True)
    sub = FunctionEmitter(mb, fn, k, fn.args[0], in_parallel=True)
    sub.load_params()
    sb = sub.b
    envp = sb.bitcast(fn.args[1], ir.PointerType(env_t))

    def field(i: int) -> ir.Value:
        return sb.load(sb.gep(envp, [ir.Constant(T.I32, 0), ir.Constant(T.I32, i)]))
    with sub.scope():
        # constant bounds stay constants: LLVM then knows the stride of every access
        s_start = start if isinstance(start, ir.Constant) else T.from_mem(sb, field(0), t)
        s_step = step if isinstance(step, ir.Constant) else T.from_mem(sb, field(1), t)
        for i, v in enumerate(captured):
            sb.store(field(2 + i), sub.declare_var(v))
        at = 2 + len(captured)
        for ref in arrays:
            base = field(at)
            dims = [field(at + 1 + j) for j in range(len(ref.dims or []))]
            at += 1 + len(dims)
            sub.declare_buffer(BufRef(ref.buffer, base, dims or None, ref.parallel_ok))
        _chunk_loop(sub, s, s_start, s_step, fn.args[2], fn.args[3], LoopTarget)
    sub.finish()

    # the call that runs it on every core
    n = _trip_count(em, start, stop, step, t)
    pf = mb.parallel_for()
    b.call(pf, [fn.bitcast(T.I8P), em.args, b.bitcast(env, T.I8P), n])


def _chunk_loop(sub: FunctionEmitter, s: For, start: ir.Value, step: ir.Value, lo: ir.Value,
                hi: ir.Value, LoopTarget: type) -> None:
    """for it in [lo, hi): var = start + it * step; body."""
    b, t = sub.b, s.var.type
    it_slot = sub.alloca(T.I64, name="it")
    b.store(lo, it_slot)
    head = sub.fn.append_basic_block("par.head")
    body = sub.fn.append_basic_block("par.body")
    latch = sub.fn.append_basic_block("par.latch")
    done = sub.fn.append_basic_block("par.end")
    b.branch(head)
    b.position_at_end(head)
    it = b.load(it_slot)
    b.cbranch(b.icmp_signed("<", it, hi), body, done)
    b.position_at_end(body)
    width = T.reg_type(t).width
    it_t = it if width == 64 else b.trunc(it, T.reg_type(t))
    with sub.scope():
        flags = ["nsw"] if T.is_signed_int(t) else ["nuw"]  # stays within [start, stop)
        v = b.add(start, b.mul(it_t, step, flags=flags), flags=flags)
        b.store(T.to_mem(b, v, t), sub.declare_var(s.var))
        group = sub.mb.access_group()
        sub.groups.append(group)
        sub.loops.append(LoopTarget(done, latch, True))
        sub.block(s.body)
        sub.loops.pop()
        sub.groups.pop()
    b.branch(latch)
    b.position_at_end(latch)
    b.store(b.add(b.load(it_slot), ir.Constant(T.I64, 1), flags=["nsw"]), it_slot)
    br = b.branch(head)
    # a loop nest is vectorized at its inner loop; were LLVM to unroll that one fully, it would
    # widen this loop with gathers instead (long compiles, slow code)
    nested = any(isinstance(n, For) for n in walk(s.body))
    props = [("llvm.loop.vectorize.enable", ir.Constant(T.I1, False))] if nested else []
    br.set_metadata("llvm.loop", sub.mb.loop_id(props, [group]))
    b.position_at_end(done)


def _trip_count(em: FunctionEmitter, start: ir.Value, stop: ir.Value, step: ir.Value,
                t: ScalarType) -> ir.Value:
    b = em.b
    signed = T.is_signed_int(t)

    def i64(v: ir.Value) -> ir.Value:
        if v.type.width == 64:
            return v
        return b.sext(v, T.I64) if signed else b.zext(v, T.I64)
    s64, e64, st64 = i64(start), i64(stop), i64(step)
    diff = b.sub(e64, s64)
    pos = b.icmp_signed(">", diff, ir.Constant(T.I64, 0)) if signed else \
        b.icmp_unsigned(">", e64, s64)
    n = b.udiv(b.add(diff, b.sub(st64, ir.Constant(T.I64, 1))), st64)
    return b.select(pos, n, ir.Constant(T.I64, 0))
