"""The convolution schedule: lowered Conv kernels (conv_match.py) rebuilt as register-blocked
direct convolutions with explicit vector FMAs, tiles chosen by a performance model of the target.

Work is cut into tiles of (image, group, output row, column chunk, output-channel chunk), run in
parallel across cores. A tile first stages the input window of its row into a small buffer
`s[c, kh, kw, j] = x[n, ch, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]` (zeros for padding and past
the row's end; strided reads happen here, once), so the inner loops read contiguous vectors with
no bounds checks. The micro-kernel keeps `ob` output channels x `nv` vectors of output columns in
registers, `acc[b][v] += s[c, kh, kw, v] * broadcast(w[m0 + b, c, kh, kw])` over the reduction,
then the fused epilogue (bias, activation, residual add, ...) runs over its results as a loop the
backend vectorizes. Depthwise convolutions are the case cg = 1, one channel per tile; 1x1
convolutions are GEMM-like blocks over (channels x columns) of a row.

    @register_schedule("conv")  ->  candidates best first: (ob, nv) block variants
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir.kernel.builder import KernelBuilder
from ..ir.kernel.expr import Broadcast, Buffer, Const, Expr, Math, Var, const
from ..ir.kernel.intrinsics import floordiv
from ..ir.kernel.stmt import Block, Kernel, Let, Stmt, Store
from ..ir.kernel.types import F32, I64, ForKind, MemScope
from ..ir.kernel.visit import substitute, walk
from .conv_match import ConvNest, NoMatch, match_conv
from .schedule import register_schedule
from .target import TargetDesc

FMA_UNITS = 2  # vector FMAs issued per cycle (x86 cores since Haswell / Zen)
FMA_LATENCY = 4  # cycles before an accumulator can take its next FMA
LOADS_PER_CYCLE = 2
TILE_OVERHEAD = 40  # cycles per micro-kernel call outside its reduction (setup, loop control)
STAGE_BUDGET_FRACTION = 0.5  # of L2 for one tile's staged input


@dataclass(frozen=True)
class ConvPlan:
    """How one convolution is cut: `ob` channels x `nv` vectors per micro-kernel, `lanes` per
    vector, output-channel chunks per group (`chunks`, `blocks_per_chunk` blocks each) and column
    chunks of `chunk_vectors` vectors."""

    ob: int
    nv: int
    lanes: int
    chunk_vectors: int
    col_chunks: int
    blocks_per_chunk: int
    chunks: int
    cycles: float  # the model's estimate for the whole convolution


def vector_registers(target: TargetDesc) -> int:
    return 32 if target.vector_bits >= 512 else 16


def _microkernel_cycles(ob: int, nv: int, k: int) -> float:
    per_k = max(ob * nv / FMA_UNITS, FMA_LATENCY, (ob + nv) / LOADS_PER_CYCLE)
    return k * per_k + TILE_OVERHEAD + 2 * ob * nv


def plan(cv: ConvNest, target: TargetDesc, ob: int, nv: int) -> ConvPlan:
    """The tiling around an (ob, nv) micro-kernel and its modelled cycles."""
    lanes = target.vector_lanes(cv.x.elem.dtype)
    k = cv.cg * cv.kh * cv.kw
    nvec = -(-cv.ow // lanes)
    budget = max(target.l2_bytes * STAGE_BUDGET_FRACTION, 4 * k * lanes)
    col_chunks = max(1, math.ceil(4 * k * nvec * lanes / budget))
    chunk_vectors = -(-nvec // col_chunks)
    col_chunks = -(-nvec // chunk_vectors)
    nob = -(-cv.mg // ob)
    base = cv.n * cv.groups * cv.oh * col_chunks
    best: tuple[float, int] | None = None
    for chunks in range(1, nob + 1):
        bpc = -(-nob // chunks)
        if -(-nob // bpc) != chunks:
            continue
        items = base * chunks
        balance = math.ceil(items / target.cores) * target.cores / items
        score = balance * (1 + 0.02 * (chunks - 1))
        if best is None or score < best[0] - 1e-9:
            best = (score, chunks)
    assert best is not None
    chunks = best[1]
    bpc = -(-nob // chunks)
    full_v, tail_v = divmod(chunk_vectors, nv)
    full_b, tail_b = divmod(cv.mg, ob)
    row = 0.0
    for vb, cnt_v in ((nv, full_v), (tail_v, 1 if tail_v else 0)):
        for bb, cnt_b in ((ob, full_b), (tail_b, 1 if tail_b else 0)):
            if cnt_v and cnt_b:
                row += cnt_v * cnt_b * _microkernel_cycles(bb, vb, k)
    stage = chunks * k * chunk_vectors * 2  # a store and a load per staged vector
    cycles = base * (row + stage) * best[0]
    return ConvPlan(ob, nv, lanes, chunk_vectors, col_chunks, bpc, chunks, cycles)


def plans(cv: ConvNest, target: TargetDesc, count: int = 4) -> list[ConvPlan]:
    """The model's best few micro-kernel shapes, best first."""
    regs = vector_registers(target)
    lanes = target.vector_lanes(cv.x.elem.dtype)
    nvec = -(-cv.ow // lanes)
    out = []
    for ob in range(1, min(cv.mg, 12) + 1):
        for nv in range(1, min(nvec, 8) + 1):
            if ob * nv + nv + 1 <= regs:
                out.append(plan(cv, target, ob, nv))
    out.sort(key=lambda p: (p.cycles, -p.ob * p.nv))
    return out[:count]


# -- building the scheduled kernel -----------------------------------------------------------
class _Emitter:
    def __init__(self, cv: ConvNest, p: ConvPlan):
        self.cv, self.p = cv, p
        self.kb = KernelBuilder(cv.kernel.name)
        self.kb.params = list(cv.kernel.params)
        self.serial = 0

    def name(self, base: str) -> str:
        self.serial += 1
        return f"cv_{base}{self.serial}"

    def build(self) -> Kernel:
        cv, p, kb = self.cv, self.p, self.kb
        width = p.chunk_vectors * p.lanes
        per_n = cv.groups * cv.oh * p.col_chunks * p.chunks
        with kb.for_(self.name("t"), const(0, I64), const(cv.n * per_n, I64),
                     kind=ForKind.PARALLEL) as t:
            ch = kb.let(self.name("ch"), t % p.chunks)
            r = kb.let(self.name("r"), floordiv(t, p.chunks))
            owc = kb.let(self.name("owc"), r % p.col_chunks)
            r = kb.let(self.name("r"), floordiv(r, p.col_chunks))
            oh = kb.let(self.name("oh"), r % cv.oh)
            r = kb.let(self.name("r"), floordiv(r, cv.oh))
            g = kb.let(self.name("g"), r % cv.groups)
            n = kb.let(self.name("n"), floordiv(r, cv.groups))
            ow_lo = kb.let(self.name("owlo"), owc * width)
            s = kb.alloc(self.name("s"), F32, (cv.cg, cv.kh, cv.kw, width), MemScope.PRIVATE)
            tile = kb.alloc(self.name("tile"), F32, (p.ob, p.nv * p.lanes), MemScope.PRIVATE)
            self.stage(s, n, g, oh, ow_lo, width)
            self.blocks(s, tile, n, g, oh, ow_lo, ch)
        return kb.finish()

    def stage(self, s: Buffer, n: Expr, g: Expr, oh: Expr, ow_lo: Expr, width: int) -> None:
        cv, kb = self.cv, self.kb
        sh, ph, dh = cv.stride[0], cv.pad[0], cv.dilation[0]
        with kb.for_(self.name("c"), const(0, I64), const(cv.cg, I64)) as c:
            cin = kb.let(self.name("cin"), g * cv.cg + c)
            with kb.for_(self.name("kh"), const(0, I64), const(cv.kh, I64)) as a:
                ih = kb.let(self.name("ih"), oh * sh + a * dh - ph)
                rows_inside = ph == 0 and (cv.oh - 1) * sh + (cv.kh - 1) * dh < cv.h
                if rows_inside:
                    self.stage_row(s, c, a, n, cin, ih, ow_lo, width)
                else:
                    with kb.if_((ih >= 0) & (ih < cv.h)):
                        self.stage_row(s, c, a, n, cin, ih, ow_lo, width)
                    with kb.else_():
                        with kb.for_(self.name("b"), const(0, I64), const(cv.kw, I64)) as b:
                            with kb.for_(self.name("j"), const(0, I64), const(width, I64),
                                         kind=ForKind.VECTORIZED) as j:
                                kb.store(s, (c, a, b, j), 0.0)

    def stage_row(self, s: Buffer, c: Expr, a: Expr, n: Expr, cin: Expr, ih: Expr,
                  ow_lo: Expr, width: int) -> None:
        """s[c, a, b, j] for every tap b: the input row at columns (ow_lo + j) * sw + off."""
        cv, kb = self.cv, self.kb
        sw, pw, dw = cv.stride[1], cv.pad[1], cv.dilation[1]
        with kb.for_(self.name("b"), const(0, I64), const(cv.kw, I64)) as b:
            off = kb.let(self.name("off"), b * dw - pw)
            # columns j whose input is inside the row: jlo <= j < jhi
            lo = kb.let(self.name("jlo"), (-floordiv(off, sw) - ow_lo).max(0).min(width))
            hi_col = (floordiv(cv.w_in - 1 - off, sw) + 1).min(cv.ow) - ow_lo
            hi = kb.let(self.name("jhi"), hi_col.max(lo).min(width))
            with kb.for_(self.name("j"), const(0, I64), lo) as j:
                kb.store(s, (c, a, b, j), 0.0)
            with kb.for_(self.name("j"), lo, hi, kind=ForKind.VECTORIZED) as j:
                kb.store(s, (c, a, b, j), cv.x[n, cin, ih, (ow_lo + j) * sw + off])
            with kb.for_(self.name("j"), hi, const(width, I64)) as j:
                kb.store(s, (c, a, b, j), 0.0)

    def blocks(self, s: Buffer, tile: Buffer, n: Expr, g: Expr, oh: Expr, ow_lo: Expr,
               ch: Expr) -> None:
        cv, p, kb = self.cv, self.p, self.kb
        full_v, tail_v = divmod(p.chunk_vectors, p.nv)
        full_b, tail_b = divmod(cv.mg, p.ob)
        step = p.nv * p.lanes

        def column_block(j0: Expr, nv: int) -> None:
            first = ch * p.blocks_per_chunk
            stop = (first + p.blocks_per_chunk).min(full_b)
            if full_b:
                with kb.for_(self.name("mb"), first, stop) as mb:
                    m0 = kb.let(self.name("m0"), g * cv.mg + mb * p.ob)
                    self.micro(s, tile, n, oh, ow_lo, j0, m0, p.ob, nv)
            if tail_b:
                with kb.if_(ch.eq(p.chunks - 1)):
                    m0 = kb.let(self.name("m0"), g * cv.mg + full_b * p.ob)
                    self.micro(s, tile, n, oh, ow_lo, j0, m0, tail_b, nv)

        if full_v:
            with kb.for_(self.name("jb"), const(0, I64), const(full_v * step, I64),
                         step=const(step, I64)) as j0:
                column_block(j0, p.nv)
        if tail_v:
            column_block(const(full_v * step, I64), tail_v)

    def micro(self, s: Buffer, tile: Buffer, n: Expr, oh: Expr, ow_lo: Expr, j0: Expr,
              m0: Expr, ob: int, nv: int) -> None:
        """acc[b][v] over the reduction, then the epilogue for ob channels x nv vectors."""
        cv, p, kb = self.cv, self.p, self.kb
        lanes = p.lanes
        zero = Broadcast(Const(0.0, F32), lanes)
        accs = [[kb.let(self.name(f"a{b}_{v}_"), zero) for v in range(nv)] for b in range(ob)]
        with kb.for_(self.name("c"), const(0, I64), const(cv.cg, I64)) as c:
            with kb.for_(self.name("kh"), const(0, I64), const(cv.kh, I64)) as a:
                with kb.for_(self.name("kw"), const(0, I64), const(cv.kw, I64)) as b_:
                    xs = [kb.let(self.name("x"), s.vload((c, a, b_, j0 + v * lanes), lanes))
                          for v in range(nv)]
                    for b in range(ob):
                        wv = kb.let(self.name("w"), Broadcast(cv.w[m0 + b, c, a, b_], lanes))
                        for v in range(nv):
                            kb.assign(accs[b][v], Math("fma", (xs[v], wv, accs[b][v])))
        for b in range(ob):
            for v in range(nv):
                kb.store(tile, (const(b, I64), const(v * lanes, I64)), accs[b][v])
        ow0 = kb.let(self.name("ow0"), ow_lo + j0)
        count = kb.let(self.name("cnt"), (const(cv.ow, I64) - ow0).min(nv * lanes))
        kind = ForKind.VECTORIZED if _columns_independent(cv) else ForKind.SERIAL
        for b in range(ob):
            with kb.for_(self.name("jj"), const(0, I64), count, kind=kind) as jj:
                self.epilogue(tile, b, n, m0 + b, oh, ow0 + jj, jj)

    def epilogue(self, tile: Buffer, b: int, n: Expr, m: Expr, oh: Expr, ow: Expr,
                 jj: Expr) -> None:
        cv, kb = self.cv, self.kb
        env: dict[Expr, Expr] = {}
        for role, value in (("n", n), ("m", m), ("oh", oh), ("ow", ow)):
            v = cv.vars[role]
            if v is not None:
                env[v] = value
        kb.emit(Let(cv.acc, tile[const(b, I64), jj]))
        for st in (*cv.prologue, *cv.epilogue):
            kb.emit(substitute(st, env))


def _columns_independent(cv: ConvNest) -> bool:
    """Whether the epilogue's iterations over columns may run as vector lanes: every store
    writes at column `ow` of a row that does not depend on it."""
    ow = cv.vars["ow"]
    if ow is None:
        return False
    for st in cv.epilogue:
        for s in walk(st):
            if isinstance(s, Store):
                if s.index[-1] != ow or any(ow in set(_vars(i)) for i in s.index[:-1]):
                    return False
            elif isinstance(s, Stmt) and not isinstance(s, (Let, Store, Block)):
                return False
    return True


def _vars(e: Expr) -> list[Var]:
    return [n for n in walk(e) if isinstance(n, Var)]


def schedule_nest(cv: ConvNest, p: ConvPlan) -> Kernel:
    """The scheduled kernel for `cv` cut by plan `p`."""
    return _Emitter(cv, p).build()


@register_schedule("conv")
def schedule_conv(kernel: Kernel, target: TargetDesc) -> list[Kernel] | None:
    """Register-blocked direct convolution candidates for a lowered Conv, best first."""
    try:
        cv = match_conv(kernel)
    except NoMatch:
        return None
    if target.vector_lanes(cv.x.elem.dtype) < 2:
        return None
    return [schedule_nest(cv, p) for p in plans(cv, target)]


__all__ = ["ConvPlan", "plan", "plans", "schedule_conv", "schedule_nest"]
