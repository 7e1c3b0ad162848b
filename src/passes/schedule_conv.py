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
from .vector_epilogue import NotVectorizable, VectorEpilogue

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
    # the last block of each axis overlaps the one before: every micro-kernel is full size
    row = -(-chunk_vectors // nv) * nob * _microkernel_cycles(ob, nv, k)
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
                p = plan(cv, target, ob, nv)
                if p.nv <= p.chunk_vectors:
                    out.append(p)
    out.sort(key=lambda p: (p.cycles, -p.ob * p.nv))
    return out[:count]


# -- building the scheduled kernel -----------------------------------------------------------
class _Emitter:
    def __init__(self, cv: ConvNest, p: ConvPlan):
        self.cv, self.p = cv, p
        self.kb = KernelBuilder(cv.kernel.name)
        self.kb.params = list(cv.kernel.params)
        self.serial = 0
        self.vector_epilogue: VectorEpilogue | None
        try:
            self.vector_epilogue = VectorEpilogue.build(
                (*cv.prologue, *cv.epilogue), cv.vars["ow"], cv.acc, p.lanes)
        except NotVectorizable:
            self.vector_epilogue = None

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
        """Every (channel block x column block) of the tile. The last block of each axis is
        moved back to end at the axis' end (it overlaps the one before, whose results it
        skips), so that one micro-kernel of one shape does all the work."""
        cv, p, kb = self.cv, self.p, self.kb
        cvec = p.chunk_vectors
        nob = -(-cv.mg // p.ob)
        with kb.for_(self.name("vb"), const(0, I64), const(-(-cvec // p.nv), I64)) as vb:
            q0 = kb.let(self.name("q0"), (vb * p.nv).min(cvec - p.nv))
            vlo = kb.let(self.name("vlo"), vb * p.nv - q0)
            first = ch * p.blocks_per_chunk
            with kb.for_(self.name("mb"), first, (first + p.blocks_per_chunk).min(nob)) as mb:
                m0 = kb.let(self.name("m0"), (mb * p.ob).min(cv.mg - p.ob))
                blo = kb.let(self.name("blo"), mb * p.ob - m0)
                self.micro(s, tile, n, g, oh, ow_lo, q0, vlo, m0, blo)

    def micro(self, s: Buffer, tile: Buffer, n: Expr, g: Expr, oh: Expr, ow_lo: Expr,
              q0: Expr, vlo: Expr, m0: Expr, blo: Expr) -> None:
        """acc[b][v] over the reduction, then the epilogue of channels g*mg + m0 + b (b >= blo)
        and column vectors q0 + v (v >= vlo) of the tile."""
        cv, p, kb = self.cv, self.p, self.kb
        lanes, ob, nv = p.lanes, p.ob, p.nv
        j0 = kb.let(self.name("j0"), q0 * lanes)
        mg0 = kb.let(self.name("mg0"), g * cv.mg + m0)
        zero = Broadcast(Const(0.0, F32), lanes)
        accs = [[kb.let(self.name(f"a{b}_{v}_"), zero) for v in range(nv)] for b in range(ob)]
        with kb.for_(self.name("c"), const(0, I64), const(cv.cg, I64)) as c:
            with kb.for_(self.name("kh"), const(0, I64), const(cv.kh, I64)) as a:
                with kb.for_(self.name("kw"), const(0, I64), const(cv.kw, I64)) as b_:
                    xs = [kb.let(self.name("x"), s.vload((c, a, b_, j0 + v * lanes), lanes))
                          for v in range(nv)]
                    for b in range(ob):
                        wv = kb.let(self.name("w"), Broadcast(cv.w[mg0 + b, c, a, b_], lanes))
                        for v in range(nv):
                            kb.assign(accs[b][v], Math("fma", (xs[v], wv, accs[b][v])))
        ow0 = kb.let(self.name("ow0"), ow_lo + j0)
        if self.vector_epilogue is not None:
            with kb.if_(ow0 + nv * lanes <= cv.ow):
                self.vector_stores(accs, n, oh, ow0, mg0, vlo, blo)
            with kb.else_():
                self.tile_epilogue(tile, accs, n, oh, ow0, mg0, vlo, blo)
        else:
            self.tile_epilogue(tile, accs, n, oh, ow0, mg0, vlo, blo)

    def bindings(self, n: Expr, m: Expr, oh: Expr, ow: Expr) -> dict[Expr, Expr]:
        env: dict[Expr, Expr] = {}
        for role, value in (("n", n), ("m", m), ("oh", oh), ("ow", ow)):
            v = self.cv.vars[role]
            if v is not None:
                env[v] = value
        return env

    def vector_stores(self, accs: list[list[Var]], n: Expr, oh: Expr, ow0: Expr, mg0: Expr,
                      vlo: Expr, blo: Expr) -> None:
        """The widened epilogue straight from the accumulators (all columns inside)."""
        cv, p, kb = self.cv, self.p, self.kb
        ep = self.vector_epilogue
        assert ep is not None
        # which blocks can overlap the previous one: only then is a guard needed
        b_skip = p.ob - cv.mg % p.ob if cv.mg % p.ob else 0
        v_skip = p.nv - p.chunk_vectors % p.nv if p.chunk_vectors % p.nv else 0
        for b in range(p.ob):
            for v in range(p.nv):
                env = self.bindings(n, mg0 + b, oh, ow0 + v * p.lanes)
                stmts = ep.emit(env, ow0 + v * p.lanes, accs[b][v], "")
                conds = ([blo <= b] if b < b_skip else []) + ([vlo <= v] if v < v_skip else [])
                if conds:
                    cond = conds[0] if len(conds) == 1 else conds[0] & conds[1]
                    with kb.if_(cond):
                        for st in stmts:
                            kb.emit(st)
                else:
                    for st in stmts:
                        kb.emit(st)

    def tile_epilogue(self, tile: Buffer, accs: list[list[Var]], n: Expr, oh: Expr, ow0: Expr,
                      mg0: Expr, vlo: Expr, blo: Expr) -> None:
        """The epilogue one column at a time from the accumulators stored in `tile`."""
        cv, p, kb = self.cv, self.p, self.kb
        lanes = p.lanes
        for b in range(p.ob):
            for v in range(p.nv):
                kb.store(tile, (const(b, I64), const(v * lanes, I64)), accs[b][v])
        count = kb.let(self.name("cnt"), (const(cv.ow, I64) - ow0).min(p.nv * lanes))
        kind = ForKind.VECTORIZED if _columns_independent(cv) else ForKind.SERIAL
        with kb.for_(self.name("b"), blo, const(p.ob, I64)) as row:
            with kb.for_(self.name("jj"), vlo * lanes, count, kind=kind) as jj:
                env = self.bindings(n, mg0 + row, oh, ow0 + jj)
                kb.emit(Let(cv.acc, tile[row, jj]))
                for st in (*self.cv.prologue, *self.cv.epilogue):
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
