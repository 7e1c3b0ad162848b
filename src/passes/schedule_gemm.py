"""The GEMM schedule: a lowered matrix product (parallel loops over (batch.., i, j), a serial
reduction `acc += A(.., i, k) * B(.., k, j)`, then an epilogue that stores) rewritten into a
cache-tiled, register-blocked nest, with tile sizes from a performance model of the target.

Scheduled form, one parallel iteration per (batch, MC x NC tile) of the output:

    for pc in K step KC:                     # KC x NR panel of B stays in L1, MC x KC of A in L2
      pack B(pc.., jc..) -> bp[NC/NR][KC][NR]  and  A(ic.., pc..) -> ap[MC/MR][KC][MR]
      for jp, ip: MR x NR accumulators in vector registers, k innermost: one vector load of B
                  per NR/lanes vectors, one broadcast of A per row, MR*NR/lanes vector FMAs
    epilogue: acc = ct[i, j]; the original statements after the reduction (bias, activation,
              residual, ...) evaluated per element and stored

Where an operand is a plain load along k (A) or along j (B), a candidate may read it where it
lies instead of packing it (A: rows past M read at M - 1; B: only for products of few rows, N a
multiple of NR), the k loop then stopping at the block's end exactly.
Packing pads with zeros (edges of M, N and K need no other code); the MC x NC accumulator tile,
the packed panels and every loop are private to one parallel iteration, so the kernel never
reads what it writes. A and B are whatever expressions the reduction multiplies (a transposed
operand, a dequantized one, an inlined element-wise producer): packing evaluates them.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..ir.dtype import DType
from ..ir.kernel.expr import Binary, Broadcast, Buffer, Const, Expr, Load, Math, Select, Var
from ..ir.kernel.stmt import Alloc, Assign, Block, For, Kernel, Let, Stmt, Store
from ..ir.kernel.types import I64, ForKind, MemScope, ScalarType
from ..ir.kernel.visit import affine, free_vars, substitute, walk
from .schedule import register_schedule
from .target import TargetDesc

# What the model assumes of a core beyond its TargetDesc (true of x86 cores since Haswell and
# of recent Arm cores): two FMA pipes, FMA latency of 4 to 5 cycles (the larger, so that a
# micro-tile keeps a margin of independent accumulators), two loads a cycle.
FMA_UNITS = 2
FMA_LATENCY = 5
LOAD_PORTS = 2
COPY_CYCLES = 0.5  # per element packed along the operand's rows (vector copies)
TRANSPOSE_CYCLES = 3.0  # per element packed across them (scalar, strided; measured on znver3)
TILE_VECTOR_CYCLES = 2.0  # to load and store one vector of the accumulator tile (L2 or L3)
MEMORY_BYTES_PER_CYCLE = 8.0  # a core's share of memory bandwidth
ROW_STREAM_CYCLES = 0.1  # per k step and row of A read where it lies: a stream of its own
#                          competing with B's panel for L1 sets (measured: 6 rows ~10% slower)
PRIVATE_BYTES = 2 << 20  # packed panels + accumulator tile per thread: they live on its stack
UNROLL = 4  # k steps per iteration of the micro-kernel's loop
MIN_WORK = 8 * 8 * 8  # smaller products keep their plain loops
CANDIDATES = 4
B_DIRECT_ROWS = 4  # B is read where it lies when a tile has at most this many micro-tile rows
_LOOPS = (ForKind.PARALLEL, ForKind.VECTORIZED)


@dataclass(frozen=True)
class GemmMatch:
    """A kernel whose loop nest is a matrix product, taken apart."""

    kernel: Kernel
    batch: tuple[tuple[Var, int], ...]  # outer output loops, outermost first
    i: Var
    j: Var
    r: Var
    m: int
    n: int
    k: int
    acc: Var
    a: Expr  # the left factor: reads batch vars, i and r (never j)
    b: Expr  # the right factor: reads batch vars, j and r (never i)
    a_rows_contiguous: bool  # A's last index steps with i (transposed A)
    a_plain: bool  # A is one load whose last index steps with k: the micro-kernel may read it
    b_rows_contiguous: bool  # B's last index steps with j (plain B)
    b_plain: bool  # B is one load whose last index steps with j: the micro-kernel may read it
    prefix: tuple[Let, ...]  # lets of the output loops before the reduction
    epilogue: tuple[Stmt, ...]  # what follows the reduction; it reads acc

    @property
    def dtype(self) -> DType:
        return self.acc.type.dtype

    @property
    def batch_size(self) -> int:
        return math.prod(e for _, e in self.batch)


@dataclass(frozen=True)
class GemmTiles:
    """Tile sizes: an MR x NR register micro-tile, KC-deep panels, MC x NC output tiles."""

    mr: int
    nr: int
    kc: int
    mc: int
    nc: int
    unroll: int = UNROLL
    pack_a: bool = True  # False: A read where it lies (its rows must be contiguous in k)
    pack_b: bool = True  # False: B read where it lies (rows contiguous in j, N % NR == 0)

    def __str__(self) -> str:
        return (f"{self.mr}x{self.nr} kc={self.kc} mc={self.mc} nc={self.nc}"
                + ("" if self.pack_a else " A unpacked") + ("" if self.pack_b else " B unpacked"))


# -- matching ------------------------------------------------------------------------------------

def _extent(s: For) -> int | None:
    if not (isinstance(s.start, Const) and s.start.value == 0 and isinstance(s.step, Const)
            and s.step.value == 1 and isinstance(s.stop, Const)):
        return None
    return int(s.stop.value) if s.var.type == I64 else None


def _factors(value: Expr, acc: Var) -> tuple[Expr, Expr] | None:
    """(x, y) when `value` is acc + x * y (in either order) or fma(x, y, acc)."""
    if isinstance(value, Math) and value.fn == "fma" and value.args[2] == acc:
        return value.args[0], value.args[1]
    if isinstance(value, Binary) and value.op == "add":
        for s, p in ((value.a, value.b), (value.b, value.a)):
            if s == acc and isinstance(p, Binary) and p.op == "mul":
                return p.a, p.b
    return None


def _inline(e: Expr, env: dict[Expr, Expr]) -> Expr:
    return substitute(e, env) if env else e


def _rows_contiguous(e: Expr, row: Var, r: Var) -> bool:
    """Whether the loads of `e` step by one element with `row` (and not with r)."""
    for n in walk(e):
        if isinstance(n, Load) and n.index:
            form = affine(n.index[-1])
            if form is not None and form[0].get(row) == 1 and r not in form[0]:
                return True
    return False


def _steps_with(e: Expr, along: Var, other: Var) -> bool:
    """Whether `e` is a single load of scalars whose last index steps by one with `along` (and
    not with `other`) and whose other indices do not depend on `along`."""
    if not isinstance(e, Load) or not e.index or e.lanes != 1 or e.buffer.elem.lanes != 1:
        return False
    form = affine(e.index[-1])
    return (form is not None and form[0].get(along) == 1 and other not in form[0]
            and all(along not in free_vars(x) for x in e.index[:-1]))


def match_gemm(kernel: Kernel) -> GemmMatch | None:  # noqa: C901 - one check per shape rule
    """The matrix product `kernel` computes, or None when its loops are not one."""
    if kernel.is_spmd or len(kernel.body.stmts) != 1:
        return None
    s = kernel.body.stmts[0]
    loops: list[tuple[Var, int]] = []
    prefix: list[Let] = []
    while True:
        if not isinstance(s, For) or s.kind not in _LOOPS:
            return None
        extent = _extent(s)
        if extent is None:
            return None
        loops.append((s.var, extent))
        body = s.body.stmts
        if body and isinstance(body[-1], For) and body[-1].kind in _LOOPS \
                and all(isinstance(x, Let) for x in body[:-1]):
            prefix += [x for x in body[:-1] if isinstance(x, Let)]
            s = body[-1]
            continue
        break
    at = next((n for n, x in enumerate(body) if isinstance(x, For)), None)
    if at is None or at < 1 or len(loops) < 2:
        return None
    red, init = body[at], body[at - 1]
    assert isinstance(red, For)
    if not all(isinstance(x, Let) for x in body[:at]) or red.kind is not ForKind.SERIAL:
        return None
    prefix += [x for x in body[:at - 1] if isinstance(x, Let)]
    assert isinstance(init, Let)
    acc = init.var
    if acc.type.dtype not in (DType.F32, DType.F64) or acc.type.lanes != 1 \
            or not (isinstance(init.value, Const) and init.value.value == 0):
        return None
    kext = _extent(red)
    rstmts = red.body.stmts
    if kext is None or not rstmts or not isinstance(rstmts[-1], Assign) \
            or rstmts[-1].var != acc or not all(isinstance(x, Let) for x in rstmts[:-1]):
        return None
    got = _factors(rstmts[-1].value, acc)
    if got is None:
        return None
    env: dict[Expr, Expr] = {}
    for let in [*prefix, *(x for x in rstmts[:-1] if isinstance(x, Let))]:
        if let.value is None:
            return None
        env[let.var] = _inline(let.value, env)
    x, y = (_inline(f, env) for f in got)
    if x.type != acc.type or y.type != acc.type:
        return None
    (i, m), (j, n), r = loops[-2], loops[-1], red.var
    allowed = {v for v, _ in loops} | {r} | set(kernel.scalars())
    vx, vy = free_vars(x), free_vars(y)
    if not (vx | vy) <= allowed:
        return None
    if i in vx and j not in vx and j in vy and i not in vy:
        a, b = x, y
    elif i in vy and j not in vy and j in vx and i not in vx:
        a, b = y, x
    else:
        return None
    written = {n.buffer.name for n in walk(kernel.body) if isinstance(n, Store)}
    read = {n.buffer.name for e in (a, b) for n in walk(e) if isinstance(n, Load)}
    epilogue = body[at + 1:]
    if written & read or not epilogue:
        return None
    return GemmMatch(kernel, tuple(loops[:-2]), i, j, r, m, n, kext, acc, a, b,
                     _rows_contiguous(a, i, r), _steps_with(a, r, i),
                     _rows_contiguous(b, j, r), _steps_with(b, j, r), tuple(prefix),
                     tuple(epilogue))


# -- the performance model -----------------------------------------------------------------------

def _round_up(x: int, to: int) -> int:
    return -(-x // to) * to


def _micro_shapes(mt: GemmMatch, target: TargetDesc) -> list[tuple[int, int]]:
    """(MR, NR) register tiles that fit the vector registers: MR x NR/lanes accumulators, one
    register per vector of B and one for the broadcast A element."""
    lanes = target.vector_lanes(mt.dtype)
    regs = 32 if target.vector_bits >= 512 else 16
    out: set[tuple[int, int]] = set()
    for nv in range(1, 5):
        mr_max = (regs - nv - 1) // nv
        if mr_max >= 1:
            out |= {(mr_max, nv * lanes), (max(1, min(mr_max, mt.m)), nv * lanes)}
    return sorted(out)


def model_cycles(mt: GemmMatch, t: GemmTiles, target: TargetDesc) -> float:
    """Estimated cycles on all cores: the busiest core's tiles, each its micro-kernel steps
    (bound by FMA throughput, FMA latency or loads), packing and epilogue."""
    lanes = target.vector_lanes(mt.dtype)
    nv = t.nr // lanes
    step = max(t.mr * nv / FMA_UNITS, FMA_LATENCY, (t.mr + nv) / LOAD_PORTS)
    if not t.pack_a:
        step += ROW_STREAM_CYCLES * t.mr
    if not t.pack_b:
        step += ROW_STREAM_CYCLES
    blocks = -(-mt.k // t.kc)
    k_padded = (blocks - 1) * _round_up(t.kc, t.unroll) + _round_up(mt.k - (blocks - 1) * t.kc,
                                                                     t.unroll)
    micro = -(-t.mc // t.mr) * -(-t.nc // t.nr) * (
        k_padded * step + blocks * TILE_VECTOR_CYCLES * t.mr * nv)
    def per_element(rows_contiguous: bool) -> float:
        return COPY_CYCLES if rows_contiguous else TRANSPOSE_CYCLES
    pack = mt.k * ((t.nc * per_element(mt.b_rows_contiguous) if t.pack_b else 0)
                   + (t.mc * per_element(mt.a_rows_contiguous) if t.pack_a else 0))
    epilogue = 2 * t.mc * t.nc / lanes
    # a tile reads its rows of A and columns of B once, from memory at worst: what bounds a
    # product of few rows (the columns of B a tile reads matter then, not the rows of A)
    memory = mt.k * (t.mc + t.nc) * (mt.dtype.bits // 8) / MEMORY_BYTES_PER_CYCLE
    tiles = mt.batch_size * -(-mt.m // t.mc) * -(-mt.n // t.nc)
    return -(-tiles // max(1, target.cores)) * max(micro + pack + epilogue, memory)


def plan(mt: GemmMatch, target: TargetDesc) -> list[GemmTiles]:
    """Tile sizes best first by the model: the best blocking of each micro-tile and panel depth.
    KC keeps a KC x NR panel of B in half of L1; MC keeps an MC x KC block of A in half of L2;
    NC what is left of the private budget; the tile counts are tried a little above the least,
    so that they divide among the cores."""
    size = mt.dtype.bits // 8
    l1, l2 = max(target.l1_bytes, 16 << 10), max(target.l2_bytes, 128 << 10)
    best: dict[tuple[int, int, int, bool, bool], tuple[float, GemmTiles]] = {}
    for mr, nr in _micro_shapes(mt, target):
        kc_max = max(UNROLL, l1 // 2 // (nr * size) // UNROLL * UNROLL)
        for cap in {kc_max, max(UNROLL, kc_max // 2 // UNROLL * UNROLL)}:
            kc = _round_up(-(-mt.k // -(-mt.k // cap)), UNROLL)
            mc_max = max(mr, l2 // 2 // (kc * size) // mr * mr)
            bm0 = -(-mt.m // mc_max)
            for bm in range(bm0, min(bm0 + 4, -(-mt.m // mr)) + 1):
                mc = _round_up(-(-mt.m // bm), mr)
                nc_max = max(nr, (PRIVATE_BYTES // size - mc * kc) // (kc + mc) // nr * nr)
                bn0 = -(-mt.n // nc_max)
                for bn in range(bn0, min(bn0 + 4, -(-mt.n // nr)) + 1):
                    # B read where it lies only where few micro-tiles share each of its
                    # panels (a few rows of A: packing would not pay) and no panel is partial
                    b_direct = mt.b_plain and mt.n % nr == 0 and mc <= B_DIRECT_ROWS * mr
                    for pack_a, pack_b in itertools.product(
                            (False, True) if mt.a_plain else (True,),
                            (False, True) if b_direct else (True,)):
                        t = GemmTiles(mr, nr, kc, mc, _round_up(-(-mt.n // bn), nr),
                                      pack_a=pack_a, pack_b=pack_b)
                        cost = model_cycles(mt, t, target)
                        key = (mr, nr, kc, pack_a, pack_b)
                        if key not in best or cost < best[key][0]:
                            best[key] = (cost, t)
    ranked = sorted(best.values(), key=lambda ct: (ct[0], str(ct[1])))
    return [t for _, t in ranked[:CANDIDATES]]


# -- the scheduled kernel ------------------------------------------------------------------------

class _Names:
    """Fresh names that no variable or buffer of the kernel uses."""

    def __init__(self, k: Kernel):
        self.used = {p.name for p in k.params}
        self.used |= {n.name for n in walk(k.body) if isinstance(n, Var)}
        self.used |= {n.buffer.name for n in walk(k.body) if isinstance(n, (Load, Store, Alloc))}

    def __call__(self, base: str, t: ScalarType = I64) -> Var:
        name, n = base, 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return Var(name, t)

    def buffer(self, base: str, elem: ScalarType, shape: tuple[int, ...]) -> Buffer:
        v = self(base)
        return Buffer(v.name, elem, tuple(Const(d, I64) for d in shape), MemScope.PRIVATE)


def _for(v: Var, start: Expr | int, stop: Expr | int, body: list[Stmt], step: int = 1,
         kind: ForKind = ForKind.SERIAL) -> For:
    def e(x: Expr | int) -> Expr:
        return x if isinstance(x, Expr) else Const(x, I64)
    return For(v, e(start), e(stop), Const(step, I64), Block(tuple(body)), kind)


def _ceil_div(x: Expr, d: int) -> Expr:
    return (x + (d - 1)) // d


def _pack(fresh: _Names, buf: Buffer, expr: Expr, row: Var, r: Var, base: Expr, limit: int,
          count: Expr, kc: Expr, kcp: Expr, pc: Expr, rows_contiguous: bool) -> list[Stmt]:
    """buf[p][k][q] = expr(row = base + p*R + q, r = pc + k) for the panels p covering `count`
    rows: rows at or past `limit` and k from kc to kcp are zeros. Full panels are copied in the
    order the operand is laid out in memory (along its rows when they are contiguous: one
    stream, not one cache line and page per k), the edge panel and the padding apart."""
    assert buf.shape is not None and isinstance(buf.shape[2], Const)
    width = int(buf.shape[2].value)
    p, k, q, full = fresh("p"), fresh("k"), fresh("q"), fresh("full")
    at = base + p * width + q
    zero = Const(0, buf.elem)
    panels = _ceil_div(count, width)

    def store(value: Expr) -> list[Stmt]:
        return [Store(buf, (p, k, q), value)]
    value = substitute(expr, {row: at, r: pc + k})
    edge = Select(at < limit, substitute(expr, {row: at.min(limit - 1), r: pc + k}), zero)
    if rows_contiguous:
        wide = ForKind.VECTORIZED if width >= 16 else ForKind.SERIAL
        copy = _for(k, 0, kc, [_for(p, 0, full, [_for(q, 0, width, store(value), kind=wide)])])
    else:
        copy = _for(p, 0, full, [_for(q, 0, width, [_for(k, 0, kc, store(value))])])
    # the edge panel (one a tile, if any) is not worth vector code: it only costs compile time
    return [Let(full, ((limit - base) // width).min(panels)), copy,
            _for(p, full, panels, [_for(k, 0, kc, [_for(q, 0, width, store(edge))])]),
            _for(p, 0, panels, [_for(k, kc, kcp, [_for(q, 0, width, store(zero))])])]


def _micro_kernel(fresh: _Names, t: GemmTiles, lanes: int,
                  a_at: Callable[[Expr, int, Expr], Expr],
                  b_at: Callable[[Expr, int, Expr], Expr],
                  rows: Callable[[Expr], list[Stmt]], ct: Buffer, mc: Expr, nc: Expr,
                  kc: Expr, kcp: Expr | None) -> For:
    """For every MR x NR tile: accumulators from ct, rank-1 updates over k, back to ct.
    `a_at(ip, r, k)` is A's element of row r of micro-tile ip, `b_at(jp, v, k)` vector v of
    B's row segment of micro-tile jp; `rows(ip)` what the tile computes once before its k loop.
    With `kcp` None the k loop stops at kc exactly (an operand read where it lies has no zeros
    past kc), else at kcp (zero padded panels)."""
    vec = ct.elem.with_lanes(lanes)
    nv = t.nr // lanes
    jp, ip = fresh("jp"), fresh("ip")
    accs = [[fresh(f"c{r}_{v}", vec) for v in range(nv)] for r in range(t.mr)]
    spots = [[(jp, ip * t.mr + r, Const(v * lanes, I64)) for v in range(nv)]
             for r in range(t.mr)]

    def step(k: Expr, u: int) -> list[Stmt]:
        """One rank-1 update: NR/lanes vectors of B, MR broadcasts of A, MR*NR/lanes FMAs."""
        bs = [fresh(f"b{u}_{v}", vec) for v in range(nv)]
        out: list[Stmt] = [Let(bv, b_at(jp, v, k)) for v, bv in enumerate(bs)]
        for r in range(t.mr):
            a = fresh(f"a{u}_{r}", vec)
            out.append(Let(a, Broadcast(a_at(ip, r, k), lanes)))
            out += [Assign(c, Math("fma", (a, bv, c))) for c, bv in zip(accs[r], bs)]
        return out
    kk, kr = fresh("kk"), fresh("kr")
    tile: list[Stmt] = [*rows(ip), *(Let(c, Load(ct, spot, lanes))
                                     for row, srow in zip(accs, spots)
                                     for c, spot in zip(row, srow))]
    if kcp is None:
        whole = kc // t.unroll * t.unroll
        tile.append(_for(kk, 0, whole, [x for u in range(t.unroll) for x in step(kk + u, u)],
                         step=t.unroll))
        tile.append(_for(kr, whole, kc, step(kr, t.unroll)))
    else:
        tile.append(_for(kk, 0, kcp, [x for u in range(t.unroll) for x in step(kk + u, u)],
                         step=t.unroll))
    tile += [Store(ct, spot, c) for row, srow in zip(accs, spots) for c, spot in zip(row, srow)]
    return _for(jp, 0, _ceil_div(nc, t.nr), [_for(ip, 0, _ceil_div(mc, t.mr), tile)])


def build(mt: GemmMatch, t: GemmTiles, target: TargetDesc) -> Kernel:
    """The scheduled kernel for tile sizes `t`."""
    fresh = _Names(mt.kernel)
    lanes = target.vector_lanes(mt.dtype)
    et = mt.acc.type
    bm, bn = -(-mt.m // t.mc), -(-mt.n // t.nc)
    kcp_max = _round_up(t.kc, t.unroll)
    tile = fresh("tile")
    body: list[Stmt] = []
    ic, jc = fresh("ic"), fresh("jc")
    body += [Let(jc, (tile % bn) * t.nc), Let(ic, ((tile // bn) % bm) * t.mc)]
    stride = bm * bn
    for v, extent in reversed(mt.batch):
        body.append(Let(v, (tile // stride) % extent))
        stride *= extent
    mc, nc = fresh("mc"), fresh("nc")
    body += [Let(mc, (mt.m - ic).min(t.mc)), Let(nc, (mt.n - jc).min(t.nc))]
    # the accumulator tile, one MR x NR micro-tile after the other in the order the micro-kernel
    # visits them: its loads and stores stream through memory
    ct = fresh.buffer("ct", et, (t.nc // t.nr, t.mc, t.nr))
    body.append(Alloc(ct))
    zp, zi, zj = fresh("zp"), fresh("zi"), fresh("zj")
    body.append(_for(zp, 0, t.nc // t.nr, [_for(zi, 0, t.mc, [
        _for(zj, 0, t.nr, [Store(ct, (zp, zi, zj), Const(0, et))], kind=ForKind.VECTORIZED)])]))
    pc, kc, kcp = fresh("pc"), fresh("kc"), fresh("kcp")
    # packed panels are zero-padded to a whole number of unrolled k steps; where an operand is
    # read where it lies, nothing is, and the k loop stops at kc exactly
    exact = not (t.pack_a and t.pack_b)
    block: list[Stmt] = [Let(kc, (mt.k - pc).min(t.kc)),
                         Let(kcp, kc if exact else _ceil_div(kc, t.unroll) * t.unroll)]
    b_at: Callable[[Expr, int, Expr], Expr]
    if t.pack_b:
        bp = fresh.buffer("bp", et, (t.nc // t.nr, kcp_max, t.nr))
        body.insert(-1, Alloc(bp))
        block += _pack(fresh, bp, mt.b, mt.j, mt.r, jc, mt.n, nc, kc, kcp, pc,
                       mt.b_rows_contiguous)

        def b_at(jp: Expr, v: int, k: Expr) -> Expr:
            return Load(bp, (jp, k, Const(v * lanes, I64)), lanes)
    else:
        # B read where it lies (rows contiguous in j, N a multiple of NR: no partial panels)
        def b_at(jp: Expr, v: int, k: Expr) -> Expr:
            got = substitute(mt.b, {mt.j: jc + jp * t.nr + v * lanes, mt.r: pc + k})
            assert isinstance(got, Load)
            return dataclasses.replace(got, lanes=lanes)
    if t.pack_a:
        ap = fresh.buffer("ap", et, (t.mc // t.mr, kcp_max, t.mr))
        body.insert(-1, Alloc(ap))
        block += _pack(fresh, ap, mt.a, mt.i, mt.r, ic, mt.m, mc, kc, kcp, pc,
                       mt.a_rows_contiguous)
        block.append(_micro_kernel(fresh, t, lanes,
                                   lambda ip, r, k: Load(ap, (ip, k, Const(r, I64))), b_at,
                                   lambda ip: [], ct, mc, nc, kc, None if exact else kcp))
    else:
        # A read where it lies (its rows are contiguous in k): rows past M are read at M - 1
        # (their results are never stored)
        row_vars = [fresh(f"row{r}") for r in range(t.mr)]

        def rows(ip: Expr) -> list[Stmt]:
            return [Let(v, (ic + ip * t.mr + r).min(mt.m - 1)) for r, v in enumerate(row_vars)]
        block.append(_micro_kernel(
            fresh, t, lanes, lambda ip, r, k: substitute(mt.a, {mt.i: row_vars[r], mt.r: pc + k}),
            b_at, rows, ct, mc, nc, kc, None))
    body.append(_for(pc, 0, mt.k, block, step=t.kc))
    ii, jp, jj = fresh("ii"), fresh("jq"), fresh("jj")
    element: list[Stmt] = [Let(mt.i, ic + ii), Let(mt.j, jc + jp * t.nr + jj),
                           Let(mt.acc, Load(ct, (jp, ii, jj))), *mt.prefix, *mt.epilogue]
    body.append(_for(ii, 0, mc, [_for(jp, 0, _ceil_div(nc, t.nr), [
        _for(jj, 0, (nc - jp * t.nr).min(t.nr), element, kind=ForKind.VECTORIZED)])]))
    nest = _for(tile, 0, mt.batch_size * bm * bn, body, kind=ForKind.PARALLEL)
    return Kernel(mt.kernel.name, mt.kernel.params, Block((nest,)))


@register_schedule("gemm")
def schedule_gemm(kernel: Kernel, target: TargetDesc) -> list[Kernel] | None:
    """Matrix products as tiled, packed, register-blocked nests: a few tile sizes, best first."""
    mt = match_gemm(kernel)
    if mt is None or mt.m * mt.n * mt.k < MIN_WORK:
        return None
    return [build(mt, t, target) for t in plan(mt, target)]
