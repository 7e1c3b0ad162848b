"""cpu rules for ops on element types compute definitions do not read or write — float8, float6,
float4 and int4/int2 tensors (Cast, CastLike, QuantizeLinear, DequantizeLinear) — and for integer
Pow, whose integer powers wrap like repeated multiplication.

The kernels are one loop nest over the output; narrow types convert in the kernel's casts
(lltypes: exact bit-level rounding), and the rules add what ONNX asks beyond a C conversion
(float8 saturation, integers that keep their low bits).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ....ir import DType, Node, TensorType, Type
from ....ir import compute as cp
from ....ir.kernel import (
    F32,
    F64,
    I64,
    U64,
    Buffer,
    Expr,
    Kernel,
    KernelBuilder,
    Math,
    Select,
    Var,
    const,
)
from ....ir.kernel.expr import Bitcast
from ....ir.kernel.types import ScalarType
from ....ir.ops.cast import E8M0_MAX_CODE, FLOAT8, ROUND_MODES, SMALL_INTS
from ....ir.ops.quant import INT_RANGES, round_to_int
from . import RULES

NARROW_FLOATS = frozenset(FLOAT8 | {DType.F4E2M1, DType.F6E2M3, DType.F6E3M2})
NARROW = NARROW_FLOATS | SMALL_INTS
FLOAT8_MAX = {DType.F8E4M3FN: 448.0, DType.F8E4M3FNUZ: 240.0, DType.F8E5M2: 57344.0,
              DType.F8E5M2FNUZ: 57344.0}
# what the rules take: every plain kernel type and the narrow ones (not strings, complex; e8m0
# only in casts)
HANDLED = frozenset(cp.KERNEL_DTYPES | NARROW)
CAST_TYPES = HANDLED | {DType.F8E8M0}
INT64_MIN = -(1 << 63)


def static(t: Type | None) -> TensorType | None:
    return t if isinstance(t, TensorType) and t.is_static else None


def elementwise_kernel(name: str, out: TensorType, ins: Sequence[TensorType | None],
                       body: Callable[[list[Buffer | None], tuple[Var, ...]], Expr]) -> Kernel:
    """A kernel writing out[i] = body(input buffers, i) over out's shape: one buffer per present
    input (shaped as it is), the outer loop across cores."""
    kb = KernelBuilder(name)
    bufs = [None if t is None else kb.buffer(f"in{k}", t.dtype, t.static_shape, access="r")
            for k, t in enumerate(ins)]
    y = kb.buffer("out", out.dtype, out.static_shape, access="w")
    idx: list[Var] = []
    with nest(kb, out.static_shape, idx):
        y[tuple(idx)] = body(bufs, tuple(idx))
    return kb.finish()


class nest:
    """`with` a loop nest over `shape`, its index variables appended to `idx`; the outer loop
    runs across cores unless `parallel` is False."""

    def __init__(self, kb: KernelBuilder, shape: Sequence[int], idx: list[Var],
                 parallel: bool = True):
        self.loops = [kb.for_(f"i{d}", 0, n, type=I64,
                              kind="parallel" if d == 0 and parallel else "serial")
                      for d, n in enumerate(shape)]
        self.idx = idx

    def __enter__(self) -> None:
        for loop in self.loops:
            self.idx.append(loop.__enter__())

    def __exit__(self, *exc: Any) -> None:
        for loop in reversed(self.loops):
            loop.__exit__(*exc)


def broadcast_at(buf: Buffer, shape: Sequence[int], idx: Sequence[Expr]) -> Expr:
    """numpy broadcasting: the element of `buf` (of `shape`) output index `idx` reads."""
    lead = len(idx) - len(shape)
    return buf[tuple(const(0, I64) if n == 1 else idx[lead + k] for k, n in enumerate(shape))]


# -- ONNX Cast as kernel expressions -------------------------------------------------------------

def onnx_cast(x: Expr, dst: DType, saturate: bool = True,
              round_mode: str = "up") -> Expr | None:
    """`x` converted to `dst` as the reference's cast_array does (None: not covered)."""
    src = x.type.dtype
    if src not in CAST_TYPES or dst not in CAST_TYPES:
        return None
    if src is dst:
        return x
    if src in NARROW_FLOATS or src is DType.F8E8M0:  # values every float32 holds exactly
        x, src = x.cast(F32), DType.F32
    elif src in SMALL_INTS:
        x, src = x.cast(DType.I8 if src.is_signed else DType.U8), DType.I8
    if dst is DType.F8E8M0:
        return _to_e8m0(x, saturate, round_mode)
    if dst in FLOAT8:
        if not saturate:
            return x.cast(dst)
        w = x.cast(F64 if src is DType.F64 else F32)
        return cp.clip(w, -FLOAT8_MAX[dst], FLOAT8_MAX[dst]).cast(dst)
    if dst is DType.BOOL or not src.is_float or dst.is_float:
        return x.cast(dst)  # int <-> int wraps, as the reference's astype does
    # float -> int: truncated, through a 64-bit integer (numpy's: out of range and NaN give
    # INT64_MIN, or for uint64 0 from +inf), then the low bits kept
    v = x.cast(F64)
    i64 = Select(v < 2.0 ** 63, v.cast(I64), const(INT64_MIN, I64))
    if dst.is_signed or dst in SMALL_INTS:
        return i64.cast(dst)
    u64 = Select(v.eq(float("inf")), const(0, U64), i64.cast(U64))
    return u64.cast(dst)


def _to_e8m0(x: Expr, saturate: bool, round_mode: str) -> Expr | None:
    """The e8m0 code of |x| as the reference's _to_e8m0: the exponent of |x| from its float64
    bits, raised as `round_mode` says by the mantissa (up: any bits; nearest: 1.5 and above);
    then saturated to [2^-127, 2^127] or NaN (code 255) outside. The code goes in as bits."""
    if round_mode not in ROUND_MODES:
        return None
    mag = Bitcast(x.cast(F64), U64) & const((1 << 63) - 1, U64)
    exp = (mag >> 52).cast(I64)
    mant = mag & const((1 << 52) - 1, U64)
    code = exp - (1023 - 127)   # an f64 subnormal's exponent reads low enough to clamp alike
    if round_mode == "up":
        code = code + Select(mant.ne(0), const(1, I64), const(0, I64))
    elif round_mode == "nearest":
        code = code + Select(mant >= (1 << 51), const(1, I64), const(0, I64))
    special = exp.eq(0x7FF)
    nan = special & mant.ne(0)
    inf = special & mant.eq(0)
    zero = mag.eq(0)
    top = const(E8M0_MAX_CODE, I64)
    if saturate:
        code = Select(inf, top, Select(zero, const(0, I64), code.max(0).min(E8M0_MAX_CODE)))
    else:
        code = Select(inf | zero | (code < 0) | (code > E8M0_MAX_CODE), const(255, I64), code)
    code = Select(nan, const(255, I64), code)
    return Bitcast(code.cast(DType.U8), ScalarType(DType.F8E8M0))


def _narrow(types: Sequence[Type | None], node: Node) -> bool:
    """Whether the node touches a narrow type (otherwise its compute definition covers it)."""
    ts = [*types, *(o.type for o in node.outputs)]
    return any(isinstance(t, TensorType) and t.dtype in NARROW for t in ts)


def _cast_kernel(node: Node, types: list[Type | None], saturate: int,
                 round_mode: str) -> Kernel | None:
    x, out = static(types[0]), static(node.outputs[0].type)
    if x is None or out is None or x.dtype not in CAST_TYPES or out.dtype not in CAST_TYPES:
        return None
    if out.dtype is DType.F8E8M0 and round_mode not in ROUND_MODES:
        return None
    others = [static(t) for t in types[1:]]
    return elementwise_kernel("cast", out, [x, *others],
                              lambda b, i: _must(onnx_cast(_read(b[0])[i], out.dtype,
                                                           bool(saturate), round_mode)))


def _read(b: Buffer | None) -> Buffer:
    assert b is not None
    return b


def _must(e: Expr | None) -> Expr:
    assert e is not None
    return e


@RULES.register("Cast")
def lower_cast(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    return _cast_kernel(node, types, attrs.saturate, attrs.round_mode)


@RULES.register("CastLike")
def lower_cast_like(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    return _cast_kernel(node, types, attrs.saturate, attrs.round_mode)


# -- QuantizeLinear / DequantizeLinear to and from narrow types ---------------------------------

def param_at(buf: Buffer, t: TensorType, idx: Sequence[Expr], axis: int,
             block_size: int) -> Expr:
    """The scale or zero point element `idx` of x uses: one for the tensor, one per index along
    the axis, or one per block of `block_size` along it."""
    if t.numel == 1 and not block_size:
        return buf[(0,) * t.rank]
    ax = axis % len(idx)
    if not block_size:
        return buf[idx[ax]]
    return buf[tuple(e // block_size if k == ax else e for k, e in enumerate(idx))]


def _promoted(*ts: DType) -> DType:
    """numpy's result type of arithmetic on these dtypes (f32 where numpy has none)."""
    try:
        return DType.from_np(np.result_type(*(t.np for t in ts)))
    except (TypeError, ValueError):
        return DType.F32


@RULES.register("QuantizeLinear")
def lower_quantize(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """saturate(round_half_even(x / scale) + zero) as the reference's quantize, for narrow
    encodings (float8 ignores the zero point; float4/float6 add it and saturate)."""
    x, scale, out = static(types[0]), static(types[1]), static(node.outputs[0].type)
    zero = static(types[2]) if len(types) > 2 and types[2] is not None else None
    if x is None or scale is None or out is None or out.dtype not in NARROW or \
            x.dtype not in HANDLED or scale.dtype not in HANDLED:
        return None
    a, q = attrs, out.dtype
    work = a.precision or _promoted(x.dtype, scale.dtype)

    def body(b: list[Buffer | None], i: tuple[Var, ...]) -> Expr:
        s = param_at(_read(b[1]), scale, i, a.axis, a.block_size)
        v = cp.rounded(cp.widen(cp.cast(_read(b[0])[i], work)) / cp.widen(cp.cast(s, work)),
                       work)
        z = None if zero is None else param_at(_read(b[2]), zero, i, a.axis, a.block_size)
        if q in INT_RANGES:
            r = cp.cast(v, DType.F64)
            if z is not None:
                r = Math("rint", (r,)) + z.cast(F64)
            return round_to_int(r, q).cast(q)
        if q in FLOAT8:
            if a.saturate:
                v = cp.clip(cp.cast(v, DType.F32), -FLOAT8_MAX[q], FLOAT8_MAX[q])
            return v.cast(q)
        if z is not None:  # numpy: the work type plus float32
            w = F64 if work is DType.F64 else F32
            v = v.cast(w) + z.cast(w)
        return v.cast(q)
    return elementwise_kernel("quantize", out, [x, scale, zero], body)


@RULES.register("DequantizeLinear")
def lower_dequantize(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """(x - zero) * scale in float32 (float64 for a float64 scale) as the reference's
    dequantize, for narrow encodings (float8/float4/float6 zero points are zero)."""
    x, scale, out = static(types[0]), static(types[1]), static(node.outputs[0].type)
    zero = static(types[2]) if len(types) > 2 and types[2] is not None else None
    if x is None or scale is None or out is None or x.dtype not in NARROW or \
            scale.dtype not in cp.KERNEL_DTYPES or out.dtype not in cp.KERNEL_DTYPES:
        return None
    a = attrs
    s_type = F64 if scale.dtype is DType.F64 else F32

    def body(b: list[Buffer | None], i: tuple[Var, ...]) -> Expr:
        v = _read(b[0])[i].cast(F32)
        if zero is not None and x.dtype not in NARROW_FLOATS:
            v = v - param_at(_read(b[2]), zero, i, a.axis, a.block_size).cast(F32)
        s = param_at(_read(b[1]), scale, i, a.axis, a.block_size)
        return (v.cast(s_type) * s.cast(s_type)).cast(out.dtype)
    return elementwise_kernel("dequantize", out, [x, scale, zero], body)


# -- integer Pow ---------------------------------------------------------------------------------

@RULES.register("Pow")
def lower_int_pow(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """x ** y for an integer x as the reference computes it: with integer exponents none of
    which is negative, exact square-and-multiply in 64 bits (wrapping), then the low bits;
    otherwise C's pow on doubles truncated to x's type. Whether any exponent is negative is a
    property of the whole tensor, so the kernel looks at all of them first."""
    x, y, out = static(types[0]), static(types[1]), static(node.outputs[0].type)
    if x is None or y is None or out is None or x.dtype not in cp.KERNEL_DTYPES or \
            y.dtype not in cp.KERNEL_DTYPES or not x.dtype.is_int:
        return None
    wide = I64 if x.dtype.is_signed else U64
    kb = KernelBuilder("int_pow")
    xb = kb.buffer("x", x.dtype, x.static_shape, access="r")
    yb = kb.buffer("y", y.dtype, y.static_shape, access="r")
    ob = kb.buffer("out", out.dtype, out.static_shape, access="w")
    negative = kb.let("negative", const(y.dtype.is_float, DType.BOOL))
    if y.dtype.is_int and y.dtype.is_signed:
        seen: list[Var] = []
        with nest(kb, y.static_shape, seen, parallel=False):
            kb.assign(negative, negative | (yb[tuple(seen)] < 0))
    idx: list[Var] = []
    with nest(kb, out.static_shape, idx):
        base = broadcast_at(xb, x.static_shape, idx)
        exp = broadcast_at(yb, y.static_shape, idx)
        with kb.if_(negative):
            ob[tuple(idx)] = Math("pow", (base.cast(F64), exp.cast(F64))).cast(out.dtype)
        with kb.else_():
            acc = kb.let("acc", 1, wide)
            b = kb.let("b", base.cast(wide))
            e = kb.let("e", exp.cast(wide))
            with kb.while_(e > 0):
                with kb.if_((e & 1).ne(0)):
                    kb.assign(acc, acc * b)
                kb.assign(b, b * b)
                kb.assign(e, e >> 1)
            ob[tuple(idx)] = acc.cast(out.dtype)
    return kb.finish()


# -- ops whose data passes through unchanged -----------------------------------------------------

def _copy_kernel(name: str, x: TensorType | None, out: TensorType | None,
                 unread: Sequence[TensorType | None] = ()) -> Kernel | None:
    """out = x element by element in C order (x binds as a flat buffer of out's shape); the
    node's other inputs bind to buffers the kernel does not read."""
    if x is None or out is None or x.dtype is not out.dtype or x.numel != out.numel or \
            x.dtype not in HANDLED or any(t is None for t in unread):
        return None
    return elementwise_kernel(name, out, [TensorType(x.dtype, out.static_shape), *unread],
                              lambda b, i: _read(b[0])[i])


@RULES.register("Squeeze")
def lower_squeeze(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Axes known only at run time but static shapes: squeezing moves no data (the static
    output shape already says which axes go, so the axes operand is not read)."""
    return _copy_kernel("squeeze", static(types[0]), static(node.outputs[0].type),
                        [static(t) for t in types[1:] if t is not None])


@RULES.register("OptionalGetElement")
def lower_optional_get_element(node: Node, attrs: Any,
                               types: list[Type | None]) -> Kernel | None:
    """A plain tensor input (not an optional or a sequence) is its own element."""
    return _copy_kernel("optional_get_element", static(types[0]),
                        static(node.outputs[0].type))
