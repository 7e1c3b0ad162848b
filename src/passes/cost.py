"""What a kernel costs, counted from its loop nests: floating-point operations (trip counts times
the arithmetic of each body) and bytes of global memory moved (the footprint of every buffer it
reads or writes), and the roofline of a target (peak FLOP/s, memory bandwidth) that says which of
the two bounds a kernel and how close a measured time comes to it.

    cost = kernel_cost(kernel)                       # KernelCost(flops, bytes, exact)
    roof = Roofline(peak_flops(target, ghz), bandwidth)
    roof.bound(cost, seconds)                        # ("compute" | "memory", fraction of that roof)

Loop bounds that depend on enclosing loops (tiles with a remainder, triangles) are evaluated
per outer iteration where that is cheap, and otherwise from a few sampled iterations; conditions
that cannot be evaluated count their taken branch (padding checks), so `exact` is False then.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..ir.dtype import DType
from ..ir.kernel import Buffer, Kernel, MemScope
from ..ir.kernel.expr import (
    COMPARISONS,
    Binary,
    Cast,
    Const,
    Expr,
    Load,
    Math,
    Unary,
    Var,
)
from ..ir.kernel.stmt import Alloc, Assign, Atomic, Block, For, If, Let, Stmt, Store, While
from ..ir.kernel.visit import children, walk
from .target import TargetDesc

_FLOAT_OPS = frozenset({"add", "sub", "mul", "div", "rem", "min", "max"}) | COMPARISONS
_FREE_MATH = frozenset({"abs", "copysign", "signbit", "isnan", "isinf", "isfinite"})
_ENUMERATE = 16  # loops up to this trip count are walked iteration by iteration


@dataclass(frozen=True)
class KernelCost:
    """FLOPs of one run, bytes of global memory it moves (each buffer's footprint once per
    direction), and whether both counts are exact."""

    flops: float
    bytes: float
    exact: bool = True

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else float("inf")


@dataclass(frozen=True)
class Roofline:
    """A target's two roofs: peak floating-point rate (FLOP/s) and memory bandwidth (bytes/s)."""

    peak_flops: float
    bandwidth: float

    def attainable(self, cost: KernelCost) -> float:
        """FLOP/s the roofline allows at the kernel's arithmetic intensity."""
        return min(self.peak_flops, cost.intensity * self.bandwidth)

    def bound(self, cost: KernelCost, seconds: float) -> tuple[str, float]:
        """Which roof bounds the kernel and the fraction of it the measured time reaches."""
        if seconds <= 0:
            return ("compute" if cost.intensity * self.bandwidth >= self.peak_flops
                    else "memory"), 0.0
        if cost.flops and cost.intensity * self.bandwidth >= self.peak_flops:
            return "compute", cost.flops / seconds / self.peak_flops
        return "memory", cost.bytes / seconds / self.bandwidth


def peak_flops(target: TargetDesc, ghz: float, fma_units: int = 2,
               dtype: DType = DType.F32) -> float:
    """cores x vector lanes x FMA units x 2 flops (a fused multiply-add) x frequency."""
    return target.cores * target.vector_lanes(dtype) * fma_units * 2 * ghz * 1e9


# -- counting ------------------------------------------------------------------------------------

@dataclass
class _Count:
    flops: float = 0.0
    reads: dict[Buffer, float] = field(default_factory=dict)   # elements read, per buffer
    writes: dict[Buffer, float] = field(default_factory=dict)
    exact: bool = True

    def add(self, o: _Count, times: float = 1.0) -> None:
        self.flops += o.flops * times
        for mine, theirs in ((self.reads, o.reads), (self.writes, o.writes)):
            for b, n in theirs.items():
                mine[b] = mine.get(b, 0.0) + n * times
        self.exact &= o.exact


def kernel_cost(kernel: Kernel, scalars: Mapping[str, int] | None = None,
                global_size: Sequence[int] | None = None,
                buffer_bytes: Mapping[str, int] | None = None) -> KernelCost:
    """The cost of one run of `kernel`: `scalars` gives integer parameters by name, an SPMD
    kernel's body is counted once per work-item of `global_size`, and `buffer_bytes` gives the
    size of buffers whose shape the kernel does not say (flat pointers)."""
    env: dict[str, int] = {k: int(v) for k, v in (scalars or {}).items()}
    counter = _Counter()
    c = counter.block(kernel.body.stmts, env)
    if kernel.is_spmd:
        items = 1
        for g in global_size or ():
            items *= int(g)
        if global_size is None:
            c.exact = False
        scaled = _Count(exact=c.exact)
        scaled.add(c, items)
        c = scaled
    moved = 0.0
    for table in (c.reads, c.writes):
        for b, n in table.items():
            if b.scope not in (MemScope.GLOBAL, MemScope.CONSTANT):
                continue
            esize = _elem_bytes(b)
            touched = n * esize
            size = _buffer_bytes(b, env, buffer_bytes)
            moved += touched if size is None else min(size, touched)
    return KernelCost(c.flops, moved, c.exact)


def _elem_bytes(b: Buffer) -> int:
    return max(b.elem.dtype.bits, 8) // 8 * b.elem.lanes


def _buffer_bytes(b: Buffer, env: Mapping[str, int],
                  given: Mapping[str, int] | None) -> float | None:
    if given is not None and b.name in given:
        return float(given[b.name])
    if b.shape is None:
        return None
    n = 1
    for d in b.shape:
        v = evaluate(d, env)
        if v is None:
            return None
        n *= v
    return float(n * _elem_bytes(b))


def evaluate(e: Expr, env: Mapping[str, int]) -> int | None:
    """An integer expression's value where every variable in it is known, else None."""
    if isinstance(e, Const):
        return int(e.value) if isinstance(e.value, (int, bool)) else None
    if isinstance(e, Var):
        return env.get(e.name)
    if isinstance(e, Cast):
        return evaluate(e.x, env) if e.type.is_int else None
    if isinstance(e, Unary) and e.op == "neg":
        v = evaluate(e.x, env)
        return None if v is None else -v
    if isinstance(e, Binary) and e.type.is_int:
        a, b = evaluate(e.a, env), evaluate(e.b, env)
        if a is None or b is None:
            return None
        return _int_op(e.op, a, b)
    if isinstance(e, Binary) and e.op in COMPARISONS and e.a.type.is_int:
        a, b = evaluate(e.a, env), evaluate(e.b, env)
        if a is None or b is None:
            return None
        return int({"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b,
                    "ge": a >= b}[e.op])
    if isinstance(e, Binary) and e.op in ("land", "lor"):
        a, b = evaluate(e.a, env), evaluate(e.b, env)
        if e.op == "land":
            return 0 if a == 0 or b == 0 else (None if a is None or b is None else 1)
        return 1 if a or b else (None if a is None or b is None else 0)
    return None


def _int_op(op: str, a: int, b: int) -> int | None:
    if op in ("div", "rem", "floordiv", "floormod") and b == 0:
        return None
    if op == "div":
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    if op == "rem":
        return a - b * _int_op("div", a, b)  # type: ignore[operator]
    fns = {"add": a + b, "sub": a - b, "mul": a * b, "min": min(a, b), "max": max(a, b)}
    if op in fns:
        return fns[op]
    if op == "floordiv":
        return a // b
    if op == "floormod":
        return a % b
    if op == "shl":
        return a << b if 0 <= b < 64 else None
    if op == "shr":
        return a >> b if 0 <= b < 64 else None
    if op in ("and", "or", "xor"):
        return {"and": a & b, "or": a | b, "xor": a ^ b}[op]
    return None


def expr_flops(e: Expr) -> float:
    """Floating-point operations of one evaluation of `e` (a vector op counts each lane; an FMA
    counts two; integer index arithmetic counts nothing)."""
    n = 0.0
    for x in walk(e):
        if isinstance(x, Binary) and x.op in _FLOAT_OPS and x.a.type.is_float:
            n += x.a.type.lanes
        elif isinstance(x, Math) and x.args and x.args[0].type.is_float \
                and x.fn not in _FREE_MATH:
            n += x.args[0].type.lanes * (2 if x.fn == "fma" else 1)
    return n


def _loads(e: Expr | Stmt, into: dict[Buffer, float]) -> None:
    for x in walk(e):
        if isinstance(x, Load):
            into[x.buffer] = into.get(x.buffer, 0.0) + x.type.lanes / x.buffer.elem.lanes


def _control_vars(stmts: Sequence[Stmt]) -> frozenset[str]:
    """Variables that decide how often something under `stmts` runs (loop bounds, conditions)."""
    out: set[str] = set()
    for s in stmts:
        for n in walk(s):
            exprs: list[Expr] = []
            if isinstance(n, For):
                exprs = [n.start, n.stop, n.step]
            elif isinstance(n, (If, While)):
                exprs = [n.cond]
            elif isinstance(n, (Let, Assign)) and n.value is not None and n.var.type.is_int:
                exprs = [n.value]  # an integer variable may name a bound
            for e in exprs:
                out.update(v.name for v in walk(e) if isinstance(v, Var))
    return frozenset(out)


class _Counter:
    def __init__(self) -> None:
        self._control: dict[int, frozenset[str]] = {}
        self._memo: dict[tuple[int, tuple[tuple[str, int], ...]], _Count] = {}

    def control(self, body: Block) -> frozenset[str]:
        got = self._control.get(id(body))
        if got is None:
            got = self._control[id(body)] = _control_vars(body.stmts)
        return got

    def block(self, stmts: Sequence[Stmt], env: dict[str, int]) -> _Count:
        total = _Count()
        env = dict(env)
        for s in stmts:
            total.add(self.stmt(s, env))
        return total

    def stmt(self, s: Stmt, env: dict[str, int]) -> _Count:
        c = _Count()
        if isinstance(s, For):
            return self.loop(s, env)
        if isinstance(s, Block):
            return self.block(s.stmts, env)
        if isinstance(s, If):
            cond = evaluate(s.cond, env)
            c.flops += expr_flops(s.cond)
            _loads(s.cond, c.reads)
            if cond is not None:
                branch = s.then if cond else s.orelse
                if branch is not None:
                    c.add(self.block(branch.stmts, env))
                return c
            c.exact = False
            then = self.block(s.then.stmts, env)
            other = self.block(s.orelse.stmts, env) if s.orelse is not None else _Count()
            c.add(then if then.flops >= other.flops else other)
            return c
        if isinstance(s, While):
            c.exact = False  # its trip count is not known: counted once
            c.flops += expr_flops(s.cond)
            _loads(s.cond, c.reads)
            c.add(self.block(s.body.stmts, env))
            return c
        if isinstance(s, (Let, Assign)):
            if s.value is not None:
                c.flops += expr_flops(s.value)
                _loads(s.value, c.reads)
                v = evaluate(s.value, env) if s.var.type.is_int else None
                if v is None:
                    env.pop(s.var.name, None)
                else:
                    env[s.var.name] = v
            return c
        if isinstance(s, Store):
            c.flops += expr_flops(s.value)
            for e in (s.value, *s.index):
                _loads(e, c.reads)
            c.writes[s.buffer] = s.value.type.lanes / s.buffer.elem.lanes
            return c
        if isinstance(s, Atomic):
            for x in (s.value, s.compare, *s.index):
                if x is not None:
                    c.flops += expr_flops(x)
                    _loads(x, c.reads)
            if s.buffer.elem.is_float:
                c.flops += 1
            c.reads[s.buffer] = c.reads.get(s.buffer, 0.0) + 1
            c.writes[s.buffer] = 1.0
            return c
        if isinstance(s, Alloc):
            return c
        for ch in children(s):  # barriers, returns, ...: nothing to count but what they read
            if isinstance(ch, Expr):
                c.flops += expr_flops(ch)
                _loads(ch, c.reads)
        return c

    def loop(self, s: For, env: dict[str, int]) -> _Count:
        start, stop, step = (evaluate(e, env) for e in (s.start, s.stop, s.step))
        c = _Count()
        if start is None or stop is None or not step or step <= 0:
            c.exact = False
            body = self.body(s, env, None)
            c.add(body)
            return c
        trip = max(0, -(-(stop - start) // step))
        if trip == 0:
            return c
        name = s.var.name
        if name not in self.control(s.body):
            c.add(self.body(s, env, None), trip)
            return c
        if trip <= _ENUMERATE:
            for i in range(trip):
                c.add(self.body(s, env, start + i * step))
            return c
        first = self.body(s, env, start)
        second = self.body(s, env, start + step)
        middle = self.body(s, env, start + (trip // 2) * step)
        last = self.body(s, env, start + (trip - 1) * step)
        if first.flops == second.flops == middle.flops and _same(first, middle):
            c.add(first, trip - 1)  # tiles: all alike but the last
            c.add(last)
        else:  # a triangle or a ramp: the mean of its ends
            c.exact = False
            c.add(first, trip / 2)
            c.add(last, trip / 2)
        return c

    def body(self, s: For, env: dict[str, int], value: int | None) -> _Count:
        inner = dict(env)
        if value is None:
            inner.pop(s.var.name, None)
        else:
            inner[s.var.name] = value
        relevant = self.control(s.body)
        key = (id(s.body), tuple(sorted((k, v) for k, v in inner.items() if k in relevant)))
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = self.block(s.body.stmts, inner)
        return got


def _same(a: _Count, b: _Count) -> bool:
    return a.reads == b.reads and a.writes == b.writes
