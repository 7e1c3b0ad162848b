"""cpu rules for the quantum ops: state-vector kernels over the (2,)*n state, complex amplitudes
loaded as bits and bitcast to (re, im) float pairs (the kernel level has no complex arithmetic).
Gates are dense matrices read from their buffer; Measure/Reset reduce in double precision.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ....ir import Node, TensorType, Type
from ....ir.dtype import DType
from ....ir.kernel.builder import KernelBuilder
from ....ir.kernel.expr import Buffer, Expr, Var, const
from ....ir.kernel.intrinsics import extract, select, sqrt, vector
from ....ir.kernel.stmt import Kernel
from ....ir.kernel.types import BOOL, F64, I64, ScalarType
from ....ir.ops.quantum import ApplyGateAttrs, BitsEqualAttrs, InitStateAttrs, MeasureAttrs
from ....passes import RuleKernel
from . import RULES

# a state of at least this many amplitudes runs its loops on every core (below it, starting
# threads costs more than the loop)
PARALLEL_AMPLITUDES = 1 << 14
# the parallel loop runs over this many top bits of the group index: enough ranges for every
# core and few enough partial sums to keep on the stack
PARALLEL_BITS = 8
# gates on at most this many qubits are unrolled (2^k loads, 4^k complex products per group);
# larger ones loop over the matrix with the amplitudes in a private array
UNROLL_QUBITS = 3

BitOf = Callable[[int], Expr | int]  # a fixed qubit's bit, by qubit


@dataclass(frozen=True)
class Cx:
    """How a complex dtype is handled: its element type and the float pair it is bitcast to."""

    dtype: DType

    @property
    def elem(self) -> ScalarType:
        return ScalarType(self.dtype)

    @property
    def part(self) -> ScalarType:
        return ScalarType(DType.F32 if self.dtype is DType.C64 else DType.F64)

    @property
    def pair(self) -> ScalarType:
        return self.part.with_lanes(2)

    def load(self, buf: Buffer, index: tuple[Expr, ...]) -> Expr:
        return buf[index].bitcast(self.pair)

    def make(self, re: Expr | float, im: Expr | float) -> Expr:
        return vector(self._lift(re), self._lift(im)).bitcast(self.elem)

    def _lift(self, x: Expr | float) -> Expr:
        return x if isinstance(x, Expr) else const(float(x), self.part)


def cmul(a: Expr, b: Expr) -> tuple[Expr, Expr]:
    """(re, im) of the product of two (re, im) pairs."""
    ar, ai, br, bi = extract(a, 0), extract(a, 1), extract(b, 0), extract(b, 1)
    return ar * br - ai * bi, ar * bi + ai * br


def state_type(t: Type | None) -> tuple[int, Cx] | None:
    """The qubit count and complex dtype of a state tensor type (None: not a static state)."""
    if not isinstance(t, TensorType) or not t.is_static or not t.dtype.is_complex:
        return None
    return t.rank, Cx(t.dtype)


def bit(x: Expr, b: int) -> Expr:
    return (x >> const(b, I64)) & const(1, I64)


def i64(x: Expr | int) -> Expr:
    return x if isinstance(x, Expr) else const(x, I64)


class GroupLoops:
    """Loops over the amplitude groups that the `fixed` qubits split an n-qubit state into: the
    other qubits' bits form a group index whose top bits a parallel loop runs over (each
    iteration `o` owns its groups, so writes are disjoint), the rest a middle loop and an
    innermost loop over the qubits below the lowest fixed one (consecutive amplitudes, so it
    can be vectorized). `index(bit_of)` is the state index of the current group's amplitude
    whose fixed qubit q has bit `bit_of(q)`."""

    def __init__(self, kb: KernelBuilder, n: int, fixed: frozenset[int] | set[int]):
        self.kb, self.n, self.fixed = kb, n, frozenset(fixed)
        self.free = [q for q in range(n) if q not in self.fixed]
        m = len(self.free)
        low = min(self.fixed) if self.fixed else m  # free qubits below every fixed one
        self.parallel = (1 << n) >= PARALLEL_AMPLITUDES
        self.outer_bits = min(m, PARALLEL_BITS) if self.parallel else 0
        self.inner_bits = min(low, m - self.outer_bits)
        self.mid_bits = m - self.outer_bits - self.inner_bits
        self.bits: dict[int, Var] = {}  # group index bit -> its value in this iteration

    @property
    def outer_count(self) -> int:
        return 1 << self.outer_bits

    @contextmanager
    def outer(self) -> Iterator[Expr]:
        """The parallel loop; its variable numbers the partial results of a reduction."""
        with self.loop("o", self.inner_bits + self.mid_bits, self.outer_bits,
                       "parallel" if self.parallel else "serial") as o:
            yield o

    @contextmanager
    def inner(self) -> Iterator[None]:
        """The middle and innermost loops (inside `outer`)."""
        with self.loop("m", self.inner_bits, self.mid_bits), self.loop("i", 0, self.inner_bits):
            yield

    @contextmanager
    def loop(self, name: str, first: int, count: int, kind: str = "serial") -> Iterator[Expr]:
        """A loop over group index bits first..first+count-1 (none where count is 0)."""
        if count == 0:
            yield const(0, I64)
            return
        with self.kb.for_(name, 0, 1 << count, kind=kind, type=I64) as var:
            self.split(var, name, first, count)
            yield var

    def split(self, var: Var, name: str, first: int, count: int) -> None:
        """Name the bits of a loop variable once (group index bits first..first+count-1): every
        amplitude's index is made of them."""
        for b in range(count):
            self.bits[first + b] = self.kb.let(f"{name}{b}", bit(var, b))

    @contextmanager
    def all(self) -> Iterator[None]:
        with self.outer(), self.inner():
            yield

    def index(self, bit_of: BitOf) -> tuple[Expr, ...]:
        pos = {q: b for b, q in enumerate(self.free)}
        out = []
        for axis in range(self.n):
            q = self.n - 1 - axis  # qubit q is axis n-1-q
            out.append(self.bits[pos[q]] if q in pos else i64(bit_of(q)))
        return tuple(out)


def operand_bits(qubits: tuple[int, ...], c: Expr | int) -> BitOf:
    """Bit j of the matrix index `c` is gate operand j's, on qubit qubits[j]."""
    where = {q: j for j, q in enumerate(qubits)}
    if isinstance(c, int):
        return lambda q: (c >> where[q]) & 1
    return lambda q: bit(c, where[q])


def const_bits(b: int) -> BitOf:
    """Every fixed qubit has bit b."""
    return lambda q: b


def copy_state(kb: KernelBuilder, n: int, cx: Cx, src: Buffer, dst: Buffer) -> None:
    loops = GroupLoops(kb, n, set())
    with loops.all():
        idx = loops.index(const_bits(0))
        dst[idx] = src[idx]


# -- InitState ------------------------------------------------------------------------------------

@RULES.register("InitState")
def lower_init_state(node: Node, attrs: InitStateAttrs, types: list[Type | None]) -> Kernel | None:
    return init_state_kernel(attrs.num_qubits, attrs.dtype)


@lru_cache(maxsize=1024)
def init_state_kernel(n: int, dtype: DType) -> Kernel | None:
    if not dtype.is_complex:
        return None
    cx = Cx(dtype)
    kb = KernelBuilder("init_state")
    out = kb.buffer("state", cx.elem, (2,) * n, access="w")
    loops = GroupLoops(kb, n, set())
    with loops.all():
        out[loops.index(const_bits(0))] = cx.make(0.0, 0.0)
    out[(const(0, I64),) * n] = cx.make(1.0, 0.0)
    return kb.finish()


# -- ApplyGate ------------------------------------------------------------------------------------

@RULES.register("ApplyGate")
def lower_apply_gate(node: Node, attrs: ApplyGateAttrs, types: list[Type | None]
                     ) -> RuleKernel | None:
    st = state_type(types[0])
    if st is None:
        return None
    conditional = len(types) > 2 and types[2] is not None
    qubits = attrs.qubits
    # the qubits are a run-time operand (operand order, then ascending): one kernel serves every
    # gate of its size, so a circuit compiles a handful of kernels rather than one per gate
    positions = np.array([*qubits, *sorted(qubits)], np.int64)
    return RuleKernel(apply_gate_kernel(st[0], st[1].dtype, len(qubits), conditional),
                      (positions,))


@lru_cache(maxsize=1024)
def apply_gate_kernel(n: int, dtype: DType, k: int, conditional: bool) -> Kernel:
    """out[group, r] = sum_c gate[r, c] * state[group, c] over the 2^k amplitudes of each group
    (c, r: matrix indices whose bit j is operand j's qubit, read from the `qubits` buffer); with
    a condition that is false, a copy of the state."""
    cx = Cx(dtype)
    kb = KernelBuilder(f"apply_gate{k}")
    state = kb.buffer("state", cx.elem, (1 << n,), access="r")  # binds the (2,)*n state flat
    gate = kb.buffer("gate", cx.elem, (1 << k, 1 << k), access="r")  # binds the (2,)*2k tensor
    cond = kb.scalar("cond", BOOL) if conditional else None
    qubits = kb.buffer("qubits", I64, (2 * k,), access="r")
    out = kb.buffer("out", cx.elem, (2,) * n, access="w")
    if cond is None:
        gate_product(kb, n, cx, k, qubits, state, gate, out)
    else:
        with kb.if_(cond):
            gate_product(kb, n, cx, k, qubits, state, gate, out)
        with kb.else_():
            with kb.for_("i", 0, 1 << n, kind=_kind(n), type=I64) as i:
                out[axes(i, n)] = state[(i,)]
    return kb.finish()


def _kind(n: int) -> str:
    return "parallel" if (1 << n) >= PARALLEL_AMPLITUDES else "serial"


def axes(flat: Expr, n: int) -> tuple[Expr, ...]:
    """The (2,)*n index of flat index `flat` (qubit q is axis n-1-q, bit q of the index)."""
    return tuple(bit(flat, n - 1 - a) for a in range(n))


def gate_product(kb: KernelBuilder, n: int, cx: Cx, k: int, qubits: Buffer, state: Buffer,
                 gate: Buffer, out: Buffer) -> None:
    size = 1 << k
    zero = const(0.0, cx.part)
    one = const(1, I64)
    q = [kb.let(f"q{j}", qubits[(i64(j),)]) for j in range(k)]           # operand j's qubit
    low = [kb.let(f"s{j}", qubits[(i64(k + j),)]) for j in range(k)]     # ascending
    # offset of matrix index c's amplitude within a group: bit j of c at qubit q[j]
    offset = [kb.let(f"off{c}", _offset(c, q)) for c in range(size)]
    if k <= UNROLL_QUBITS:  # the matrix read once, outside the loop
        m = [[kb.let(f"g{r}_{c}", cx.load(gate, (i64(r), i64(c)))) for c in range(size)]
             for r in range(size)]
    with kb.for_("g", 0, 1 << (n - k), kind=_kind(n), type=I64) as g:
        base: Expr = g
        for j in range(k):  # a zero bit inserted at each gate qubit, lowest first
            p = low[j]
            base = kb.let(f"b{j}", ((base >> p) << (p + one)) | (base & ((one << p) - one)))
        if k <= UNROLL_QUBITS:
            amps = [kb.let(f"a{c}", cx.load(state, (base | offset[c],))) for c in range(size)]
            for r in range(size):
                re: Expr = zero
                im: Expr = zero
                for c in range(size):
                    pr, pi = cmul(m[r][c], amps[c])
                    re, im = re + pr, im + pi
                out[axes(base | offset[r], n)] = cx.make(re, im)
            return
        amp = kb.alloc("amp", cx.pair, (size,), scope="private")
        for c in range(size):
            amp[(i64(c),)] = cx.load(state, (base | offset[c],))
        for r in range(size):
            acc_re = kb.let(f"acc_re{r}", zero)
            acc_im = kb.let(f"acc_im{r}", zero)
            with kb.for_(f"c{r}", 0, size, type=I64) as c2:
                pr, pi = cmul(cx.load(gate, (i64(r), c2)), amp[(c2,)])
                kb.assign(acc_re, acc_re + pr)
                kb.assign(acc_im, acc_im + pi)
            out[axes(base | offset[r], n)] = cx.make(acc_re, acc_im)


def _offset(c: int, q: Sequence[Expr]) -> Expr:
    out: Expr = const(0, I64)
    for j, qj in enumerate(q):
        if (c >> j) & 1:
            out = out | (const(1, I64) << qj)
    return out


# -- Measure / Reset ------------------------------------------------------------------------------

@RULES.register("Measure")
def lower_measure(node: Node, attrs: MeasureAttrs, types: list[Type | None]) -> Kernel | None:
    st = state_type(types[0])
    if st is None or not isinstance(types[1], TensorType) or not types[1].is_static:
        return None
    conditional = len(types) > 2 and types[2] is not None
    return measure_kernel(st[0], st[1].dtype, attrs.qubit, attrs.draw,
                          types[1].static_shape[0], conditional, reset=False)


@RULES.register("Reset")
def lower_reset(node: Node, attrs: MeasureAttrs, types: list[Type | None]) -> Kernel | None:
    st = state_type(types[0])
    if st is None or not isinstance(types[1], TensorType) or not types[1].is_static:
        return None
    conditional = len(types) > 2 and types[2] is not None
    return measure_kernel(st[0], st[1].dtype, attrs.qubit, attrs.draw,
                          types[1].static_shape[0], conditional, reset=True)


@lru_cache(maxsize=1024)
def measure_kernel(n: int, dtype: DType, qubit: int, draw: int, draws: int, conditional: bool,
                   reset: bool) -> Kernel:
    """P(1) = |amplitudes with the qubit 1|^2 / |all|^2 (in double precision); outcome 1 iff the
    draw is below it (never an outcome of probability 0); the state keeps the outcome's half,
    renormalized (Reset moves it to the qubit's 0 half). A false condition copies the state (and,
    for Measure, passes the previous bit on)."""
    cx = Cx(dtype)
    kb = KernelBuilder("reset" if reset else "measure")
    state = kb.buffer("state", cx.elem, (2,) * n, access="r")
    u = kb.buffer("draws", F64, (draws,), access="r")
    cond = kb.scalar("cond", BOOL) if conditional else None
    bit_in = kb.scalar("bit_in", BOOL) if conditional and not reset else None
    out = kb.buffer("out", cx.elem, (2,) * n, access="w")
    bit_out = None if reset else kb.buffer("bit", BOOL, (), access="w")
    if cond is None:
        measure_body(kb, n, cx, qubit, state, u[const(draw, I64)], out, bit_out, reset)
        return kb.finish()
    with kb.if_(cond):
        measure_body(kb, n, cx, qubit, state, u[const(draw, I64)], out, bit_out, reset)
    with kb.else_():
        copy_state(kb, n, cx, state, out)
        if bit_out is not None and bit_in is not None:
            bit_out[()] = bit_in
    return kb.finish()


def measure_body(kb: KernelBuilder, n: int, cx: Cx, qubit: int, state: Buffer, draw: Expr,
                 out: Buffer, bit_out: Buffer | None, reset: bool) -> None:
    s0, s1 = half_norms(kb, n, cx, qubit, state)
    total = kb.let("total", s0 + s1)
    p1 = kb.let("p1", select(total > 0.0, s1 / total, const(0.0, F64)))
    one = kb.let("one", draw < p1)
    # never an outcome of probability zero (a draw at a rounding edge)
    kb.assign(one, select(one & (p1 <= 0.0), const(False), one))
    kb.assign(one, select(~one & (p1 >= 1.0), const(True), one))
    norm = kb.let("norm", sqrt(select(one, s1, s0)))
    if bit_out is not None:
        bit_out[()] = one
    loops = GroupLoops(kb, n, {qubit})
    zero = cx.make(0.0, 0.0)
    with loops.all():
        if reset:
            kept = select(one, state[loops.index(const_bits(1))], state[loops.index(const_bits(0))])
            out[loops.index(const_bits(0))] = renormalized(kb, cx, kept, norm)
            out[loops.index(const_bits(1))] = zero
            return
        for b in (0, 1):
            scaled = renormalized(kb, cx, state[loops.index(const_bits(b))], norm)
            out[loops.index(const_bits(b))] = select(one if b else ~one, scaled, zero)


def renormalized(kb: KernelBuilder, cx: Cx, amp: Expr, norm: Var) -> Expr:
    """amp / norm, computed in double precision as the reference does (amp itself if norm is
    0)."""
    pair = amp.bitcast(cx.pair)
    re, im = extract(pair, 0).cast(F64), extract(pair, 1).cast(F64)
    scaled = cx.make((re / norm).cast(cx.part), (im / norm).cast(cx.part))
    return select(norm > 0.0, scaled, amp)


def half_norms(kb: KernelBuilder, n: int, cx: Cx, qubit: int,
               state: Buffer) -> tuple[Var, Var]:
    """Sums of |amplitude|^2 over the halves where `qubit` is 0 and 1: partial sums per
    parallel iteration, added in order afterwards."""
    loops = GroupLoops(kb, n, {qubit})
    parts = kb.alloc("parts", F64, (2, loops.outer_count), scope="private")
    with loops.outer() as o:
        acc = [kb.let(f"acc{b}", const(0.0, F64)) for b in (0, 1)]
        with loops.inner():
            for b in (0, 1):
                p = cx.load(state, loops.index(const_bits(b)))
                re, im = extract(p, 0).cast(F64), extract(p, 1).cast(F64)
                kb.assign(acc[b], acc[b] + (re * re + im * im))
        for b in (0, 1):
            parts[const(b, I64), o] = acc[b]
    sums = [kb.let(f"s{b}", const(0.0, F64)) for b in (0, 1)]
    with kb.for_("j", 0, loops.outer_count, type=I64) as j:
        for b in (0, 1):
            kb.assign(sums[b], sums[b] + parts[const(b, I64), j])
    return sums[0], sums[1]


# -- classical bits ------------------------------------------------------------------------------

@RULES.register("BitsEqual")
def lower_bits_equal(node: Node, attrs: BitsEqualAttrs, types: list[Type | None]) -> Kernel:
    return bits_equal_kernel(len(types), attrs.value, attrs.negate)


@lru_cache(maxsize=1024)
def bits_equal_kernel(count: int, value: int, negate: bool) -> Kernel:
    """Whether the bits (input i is bit i) spell `value`: each bit matches, and `value` has no
    bits beyond them."""
    kb = KernelBuilder("bits_equal")
    bits = [kb.scalar(f"b{i}", BOOL) for i in range(count)]
    out = kb.buffer("out", BOOL, (), access="w")
    eq: Expr = const(0 <= value < (1 << count))
    for i, b in enumerate(bits):
        eq = eq & (b if (value >> i) & 1 else ~b)
    out[()] = ~eq if negate else eq
    return kb.finish()


@RULES.register("PackBits")
def lower_pack_bits(node: Node, attrs: object, types: list[Type | None]) -> Kernel:
    return pack_bits_kernel(len(types))


@lru_cache(maxsize=1024)
def pack_bits_kernel(count: int) -> Kernel:
    kb = KernelBuilder("pack_bits")
    bits = [kb.scalar(f"b{i}", BOOL) for i in range(count)]
    out = kb.buffer("out", BOOL, (count,), access="w")
    for i, b in enumerate(bits):
        out[const(i, I64)] = b
    return kb.finish()
