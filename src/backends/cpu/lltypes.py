"""Kernel types as LLVM types, constants, and C's conversions between them.

A value of a kernel type lives in a register as `reg_type` and in memory as `mem_type`: bool is i1
in registers and one byte in memory (numpy's bool); bf16 is a float in registers (always holding
a value representable in bf16: every bf16 result is rounded) and 16 bits in memory; f16 is LLVM's
half. A vector type is an LLVM vector of its lane type; in memory its lanes are packed.
The narrow floats (float8, float6, float4) are floats in registers like bf16 (holding values the
type represents) and one byte of code in memory; int4/uint4/int2/uint2 are LLVM's i4/i2 in
registers and one byte in memory, the code in its low bits (ml_dtypes' layouts).
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.dtype import DType
from ...ir.kernel.types import ScalarType

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
HALF, FLOAT, DOUBLE = ir.HalfType(), ir.FloatType(), ir.DoubleType()
VOID = ir.VoidType()
I8P = ir.PointerType(I8)

_INT_BITS = {DType.I8: 8, DType.U8: 8, DType.I16: 16, DType.U16: 16, DType.I32: 32,
             DType.U32: 32, DType.I64: 64, DType.U64: 64, DType.I4: 4, DType.U4: 4,
             DType.I2: 2, DType.U2: 2}


@dataclass(frozen=True)
class MiniFloat:
    """A float format of at most 8 bits: sign, `ebits` exponent bits, `mbits` mantissa bits.
    `top` is the largest finite magnitude's code; `nan` how NaN is encoded: "ones" (e4m3fn:
    S.1111.111), "ieee" (exponent all ones, mantissa not 0; inf above top), "neg0" (the fnuz
    types: the code of -0) or "none" (NaN becomes a zero of the other sign, out of range values
    saturate, as ml_dtypes converts)."""

    ebits: int
    mbits: int
    bias: int
    top: int
    nan: str

    @property
    def sign_shift(self) -> int:
        return self.ebits + self.mbits


MINIFLOATS = {
    DType.F8E4M3FN: MiniFloat(4, 3, 7, 0x7E, "ones"),
    DType.F8E4M3FNUZ: MiniFloat(4, 3, 8, 0x7F, "neg0"),
    DType.F8E5M2: MiniFloat(5, 2, 15, 0x7B, "ieee"),
    DType.F8E5M2FNUZ: MiniFloat(5, 2, 16, 0x7F, "neg0"),
    DType.F6E2M3: MiniFloat(2, 3, 1, 0x1F, "none"),
    DType.F6E3M2: MiniFloat(3, 2, 3, 0x1F, "none"),
    DType.F4E2M1: MiniFloat(2, 1, 1, 0x07, "none"),
}


def _lane_reg(d: DType) -> ir.Type:
    if d is DType.BOOL:
        return I1
    if d.is_complex:  # opaque bits: kernels load, store and bitcast them to f32x2/f64x2
        return ir.IntType(d.bits)
    if d in _INT_BITS:
        return ir.IntType(_INT_BITS[d])
    if d is DType.F16:
        return HALF
    if d in (DType.F32, DType.BF16, DType.F8E8M0) or d in MINIFLOATS:
        return FLOAT
    if d is DType.F64:
        return DOUBLE
    raise UnsupportedOp(f"the cpu target has no {d} values (it handles bool, 2- to 64-bit ints, "
                        "float4/6/8, f16, bf16, f32 and f64)", target="cpu")


def _lane_mem(d: DType) -> ir.Type:
    if d is DType.BOOL or d in MINIFLOATS or d is DType.F8E8M0 or d.bits < 8:
        return I8
    if d is DType.BF16:
        return I16
    return _lane_reg(d)


def vec(t: ir.Type, lanes: int) -> ir.Type:
    return t if lanes == 1 else ir.VectorType(t, lanes)


def reg_type(t: ScalarType) -> ir.Type:
    return vec(_lane_reg(t.dtype), t.lanes)


def mem_lane_type(t: ScalarType) -> ir.Type:
    """The in-memory type of one lane of `t` (what a buffer pointer points to)."""
    return _lane_mem(t.dtype)


def mem_type(t: ScalarType) -> ir.Type:
    return vec(_lane_mem(t.dtype), t.lanes)


def lane_bytes(t: ScalarType) -> int:
    return 1 if t.dtype is DType.BOOL or t.dtype.bits < 8 else t.dtype.bits // 8


def is_signed_int(t: ScalarType) -> bool:
    return t.is_int and t.dtype.is_signed


def const(t: ScalarType, value: int | float | bool) -> ir.Constant:
    """A constant of kernel type `t` (a vector type gets `value` in every lane)."""
    lane = _lane_reg(t.dtype)
    if t.is_bool:
        c = ir.Constant(lane, bool(value))
    elif t.is_int:
        bits = _INT_BITS[t.dtype]
        v = int(value) & ((1 << bits) - 1)
        c = ir.Constant(lane, v - (1 << bits) if v >> (bits - 1) else v)
    else:
        c = ir.Constant(lane, float(value))
    return c if t.lanes == 1 else ir.Constant(ir.VectorType(lane, t.lanes), [c] * t.lanes)


def splat(b: ir.IRBuilder, x: ir.Value, lanes: int) -> ir.Value:
    """A vector of `lanes` copies of the scalar `x`."""
    if lanes == 1:
        return x
    vt = ir.VectorType(x.type, lanes)
    if isinstance(x, ir.Constant):
        return ir.Constant(vt, [x] * lanes)
    v = b.insert_element(ir.Constant(vt, None), x, ir.Constant(I32, 0))
    return b.shuffle_vector(v, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, lanes),
                                                                    [0] * lanes))


def int_const_like(x: ir.Value, value: int) -> ir.Constant:
    """An integer constant of x's (scalar or vector) integer type."""
    t = x.type
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, value)] * t.count)
    return ir.Constant(t, value)


def float_const_like(x: ir.Value, value: float) -> ir.Constant:
    t = x.type
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, value)] * t.count)
    return ir.Constant(t, value)


# -- memory <-> registers ------------------------------------------------------------------------

def from_mem(b: ir.IRBuilder, v: ir.Value, t: ScalarType) -> ir.Value:
    """A loaded value of type `t` as a register value."""
    if t.is_bool:
        return b.icmp_unsigned("!=", v, int_const_like(v, 0))
    if t.dtype is DType.BF16:
        wide = b.zext(v, vec(I32, t.lanes))
        return b.bitcast(b.shl(wide, int_const_like(wide, 16)), reg_type(t))
    if t.dtype in MINIFLOATS:
        return decode_minifloat(b, v, MINIFLOATS[t.dtype])
    if t.dtype is DType.F8E8M0:
        return decode_e8m0(b, v)
    if t.is_int and t.dtype.bits < 8:  # the code's low bits; the rest of the byte is ignored
        return b.trunc(v, reg_type(t))
    return v


def to_mem(b: ir.IRBuilder, v: ir.Value, t: ScalarType) -> ir.Value:
    """A register value of type `t` as it is stored."""
    if t.is_bool:
        return b.zext(v, mem_type(t))
    if t.dtype is DType.BF16:
        bits = b.bitcast(v, vec(I32, t.lanes))
        return b.trunc(b.lshr(bits, int_const_like(bits, 16)), mem_type(t))
    if t.dtype in MINIFLOATS:
        return encode_minifloat(b, v, MINIFLOATS[t.dtype])
    if t.dtype is DType.F8E8M0:
        return encode_e8m0(b, v)
    if t.is_int and t.dtype.bits < 8:  # ml_dtypes keeps the rest of the byte 0, signed or not
        return b.zext(v, mem_type(t))
    return v


def round_bf16(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    """Round a float (or float vector) to the nearest bf16 value, ties to even; NaN stays NaN."""
    lanes = v.type.count if isinstance(v.type, ir.VectorType) else 1
    bits = b.bitcast(v, vec(I32, lanes))
    one = int_const_like(bits, 1)
    odd = b.and_(b.lshr(bits, int_const_like(bits, 16)), one)
    rounded = b.add(b.add(bits, int_const_like(bits, 0x7FFF)), odd)
    keep = int_const_like(bits, -65536)  # 0xFFFF0000
    quiet = b.or_(bits, int_const_like(bits, 0x00400000))
    isnan = b.fcmp_unordered("uno", v, v)
    out = b.select(isnan, b.and_(quiet, keep), b.and_(rounded, keep))
    return b.bitcast(out, v.type)


def f64_to_f32_odd(b: ir.IRBuilder, d: ir.Value, lanes: int) -> ir.Value:
    """double -> float rounding to odd (toward zero, then the last bit set if inexact): a
    further rounding to a type of at most 22 significant bits (half) is then correct, as if
    rounded from the double once."""
    from .llmath import call_intrinsic
    t = b.fptrunc(d, vec(FLOAT, lanes))
    back = b.fpext(t, d.type)
    inexact = b.fcmp_ordered("!=", back, d)
    away = b.fcmp_ordered(">", call_intrinsic(b, "llvm.fabs", [back]),
                          call_intrinsic(b, "llvm.fabs", [d]))
    tb = b.bitcast(t, vec(I32, lanes))
    tb = b.sub(tb, b.zext(b.and_(inexact, away), tb.type))
    tb = b.or_(tb, b.zext(inexact, tb.type))
    return b.bitcast(tb, t.type)


def f64_to_f16(b: ir.IRBuilder, d: ir.Value, lanes: int) -> ir.Value:
    """Correctly rounded double -> half without libgcc's __truncdfhf2."""
    return b.fptrunc(f64_to_f32_odd(b, d, lanes), vec(HALF, lanes))


def _float_to_float(b: ir.IRBuilder, v: ir.Value, src: ScalarType, dst: ScalarType) -> ir.Value:
    lanes = dst.lanes
    if src.dtype in MINIFLOATS or src.dtype is DType.F8E8M0:  # its registers are floats
        src = ScalarType(DType.F32, lanes)
    if dst.dtype in MINIFLOATS or dst.dtype is DType.F8E8M0:  # through float, as ml_dtypes
        return round_minifloat(b, _float_to_float(b, v, src, ScalarType(DType.F32, lanes)),
                               dst.dtype)
    if dst.dtype is DType.BF16:
        if src.dtype is DType.F64:  # through float, as ml_dtypes (the reference) does
            v = b.fptrunc(v, vec(FLOAT, lanes))
        elif src.dtype is DType.F16:
            v = b.fpext(v, vec(FLOAT, lanes))
        return round_bf16(b, v)
    if src.dtype is DType.F64 and dst.dtype is DType.F16:
        return f64_to_f16(b, v, lanes)
    st, dt = v.type, reg_type(dst)
    if st == dt:
        return v
    rank = {HALF: 16, FLOAT: 32, DOUBLE: 64}
    s_lane = st.element if isinstance(st, ir.VectorType) else st
    d_lane = dt.element if isinstance(dt, ir.VectorType) else dt
    return b.fpext(v, dt) if rank[s_lane] < rank[d_lane] else b.fptrunc(v, dt)


def convert(b: ir.IRBuilder, v: ir.Value, src: ScalarType, dst: ScalarType) -> ir.Value:
    """C's conversion of `v` from `src` to `dst` (same lane count): to bool is `!= 0`; float to
    int truncates and saturates (NaN: 0); int to int wraps; everything else rounds to nearest."""
    from .llmath import call_intrinsic
    if src == dst:
        return v
    dt = reg_type(dst)
    if dst.is_bool:
        if src.is_float:
            return b.fcmp_unordered("!=", v, float_const_like(v, 0.0))
        return b.icmp_unsigned("!=", v, int_const_like(v, 0))
    if src.is_bool:
        if dst.is_int:
            return b.zext(v, dt)
        return _float_to_float(b, b.uitofp(v, vec(DOUBLE, dst.lanes)), ScalarType(DType.F64),
                               dst) if dst.dtype is DType.BF16 else b.uitofp(v, dt)
    if src.is_int and dst.is_int:
        sb, db = _INT_BITS[src.dtype], _INT_BITS[dst.dtype]
        if sb == db:
            return v
        if sb > db:
            return b.trunc(v, dt)
        return b.sext(v, dt) if src.dtype.is_signed else b.zext(v, dt)
    if src.is_int:  # int -> float
        to = vec(DOUBLE, dst.lanes) if dst.dtype is DType.BF16 else dt
        f = b.sitofp(v, to) if src.dtype.is_signed else b.uitofp(v, to)
        if dst.dtype in MINIFLOATS or dst.dtype is DType.F8E8M0:  # only values beyond every
            # narrow float's range round twice
            return round_minifloat(b, f, dst.dtype)
        if dst.dtype is DType.BF16:
            return _float_to_float(b, f, ScalarType(DType.F64, dst.lanes), dst)
        return f
    if dst.is_int:  # float -> int, saturating
        name = "llvm.fptosi.sat" if dst.dtype.is_signed else "llvm.fptoui.sat"
        return call_intrinsic(b, name, [v], ret=dt)
    return _float_to_float(b, v, src, dst)


def _as_bits(b: ir.IRBuilder, v: ir.Value, t: ScalarType) -> ir.Value:
    """The value as one integer of t.bits bits (its in-memory bits)."""
    m = to_mem(b, v, t)
    return b.bitcast(m, ir.IntType(t.bits)) if not (t.lanes == 1 and t.is_int) else m


def bitcast(b: ir.IRBuilder, v: ir.Value, src: ScalarType, dst: ScalarType) -> ir.Value:
    """Reinterpret the in-memory bits of `v` as `dst` (lane 0 in the lowest bits)."""
    bits = _as_bits(b, v, src)
    m = bits if isinstance(mem_type(dst), ir.IntType) and mem_type(dst) == bits.type \
        else b.bitcast(bits, mem_type(dst))
    return from_mem(b, m, dst)


# -- narrow floats: codes <-> floats by bit manipulation -----------------------------------------

def _i32(x: ir.Value, value: int) -> ir.Constant:
    return int_const_like(x, value - (1 << 32) if value >= 1 << 31 else value)


def encode_minifloat(b: ir.IRBuilder, v: ir.Value, f: MiniFloat) -> ir.Value:
    """The i8 code of the float (or float vector) `v` in format `f`, rounded to nearest even as
    ml_dtypes converts: beyond the largest finite value, inf ("ieee"), NaN ("ones", "neg0") or
    the largest value ("none")."""
    lanes = v.type.count if isinstance(v.type, ir.VectorType) else 1
    it = vec(I32, lanes)
    u = b.bitcast(v, it)
    sign = b.lshr(u, _i32(u, 31))
    a = b.and_(u, _i32(u, 0x7FFFFFFF))
    drop = 23 - f.mbits
    # normal results: round the dropped mantissa bits to even in the integer bits, a carry
    # moving into the exponent, then rebias
    odd = b.and_(b.lshr(a, _i32(a, drop)), _i32(a, 1))
    r = b.add(b.add(a, _i32(a, (1 << (drop - 1)) - 1)), odd)
    normal = b.sub(b.lshr(r, _i32(r, drop)), _i32(r, (127 - f.bias) << f.mbits))
    # subnormal results: adding 2^k whose ulp is the format's least subnormal makes the float
    # adder round the magnitude to a multiple of it, in the low mantissa bits (ties to even)
    magic = ((127 - f.bias) + drop + 1) << 23
    summed = b.fadd(b.bitcast(a, v.type), b.bitcast(_i32(a, magic), v.type))
    sub = b.sub(b.bitcast(summed, it), _i32(a, magic))
    is_sub = b.icmp_unsigned("<", a, _i32(a, (128 - f.bias) << 23))
    mag = b.select(is_sub, sub, normal)
    is_nan = b.icmp_unsigned(">", a, _i32(a, 0x7F800000))
    over = b.icmp_unsigned(">", mag, _i32(a, f.top))
    signed_bit = b.shl(sign, _i32(sign, f.sign_shift))
    exp_ones = ((1 << f.ebits) - 1) << f.mbits
    if f.nan == "ieee":
        mag = b.select(over, _i32(a, exp_ones), mag)
        mag = b.select(is_nan, _i32(a, exp_ones | 1 << (f.mbits - 1)), mag)
        code = b.or_(signed_bit, mag)
    elif f.nan == "ones":
        mag = b.select(b.or_(over, is_nan), _i32(a, (1 << f.sign_shift) - 1), mag)
        code = b.or_(signed_bit, mag)
    elif f.nan == "neg0":  # no -0: a zero magnitude drops the sign; NaN is the -0 code
        code = b.select(b.icmp_unsigned("==", mag, _i32(a, 0)), mag, b.or_(signed_bit, mag))
        code = b.select(b.or_(over, is_nan), _i32(a, 1 << f.sign_shift), code)
    else:
        mag = b.select(over, _i32(a, f.top), mag)
        code = b.or_(signed_bit, mag)
        flipped = b.shl(b.xor(sign, _i32(sign, 1)), _i32(sign, f.sign_shift))
        code = b.select(is_nan, flipped, code)
    return b.trunc(code, vec(I8, lanes))


def decode_minifloat(b: ir.IRBuilder, code: ir.Value, f: MiniFloat) -> ir.Value:
    """The float (or float vector) an i8 code of format `f` stands for (exact); bits above the
    format's width are ignored."""
    lanes = code.type.count if isinstance(code.type, ir.VectorType) else 1
    it, ft = vec(I32, lanes), vec(FLOAT, lanes)
    c = b.zext(code, it)
    sign = b.and_(b.lshr(c, _i32(c, f.sign_shift)), _i32(c, 1))
    mag = b.and_(c, _i32(c, (1 << f.sign_shift) - 1))
    normal = b.add(b.shl(mag, _i32(mag, 23 - f.mbits)), _i32(mag, (127 - f.bias) << 23))
    least = ir.Constant(FLOAT, 2.0 ** (1 - f.bias - f.mbits))
    tiny = b.fmul(b.uitofp(mag, ft), least if lanes == 1 else ir.Constant(ft, [least] * lanes))
    bits = b.select(b.icmp_unsigned("<", mag, _i32(mag, 1 << f.mbits)), b.bitcast(tiny, it),
                    normal)
    nan = _i32(c, 0x7FC00000)
    exp_ones = ((1 << f.ebits) - 1) << f.mbits
    if f.nan == "ieee":
        bits = b.select(b.icmp_unsigned(">=", mag, _i32(c, exp_ones)), _i32(c, 0x7F800000), bits)
        bits = b.select(b.icmp_unsigned(">", mag, _i32(c, exp_ones)), nan, bits)
    elif f.nan == "ones":
        bits = b.select(b.icmp_unsigned("==", mag, _i32(c, (1 << f.sign_shift) - 1)), nan, bits)
    elif f.nan == "neg0":
        is_nan = b.icmp_unsigned("==", b.and_(c, _i32(c, (2 << f.sign_shift) - 1)),
                                 _i32(c, 1 << f.sign_shift))
        bits = b.select(is_nan, nan, bits)
    return b.bitcast(b.or_(bits, b.shl(sign, _i32(sign, 31))), ft)


def round_minifloat(b: ir.IRBuilder, v: ir.Value, d: DType) -> ir.Value:
    """A float (or float vector) rounded to the nearest value of the narrow float type `d`."""
    if d is DType.F8E8M0:
        return decode_e8m0(b, encode_e8m0(b, v))
    f = MINIFLOATS[d]
    return decode_minifloat(b, encode_minifloat(b, v, f), f)


# -- float8e8m0: unsigned powers of two 2^-127 .. 2^127, code 255 is NaN ---------------------------

def encode_e8m0(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    """The code of the float `v` as ml_dtypes converts: the exponent rounded to nearest (a
    mantissa of 1.5 and above goes up), float subnormals to code 0 (2^-127) or above it 1, and
    what has no code (zero, negative, inf, NaN, beyond 2^127) to 255 (NaN). ONNX's round modes
    and saturation are the Cast rule's, which stores exact powers of two."""
    lanes = v.type.count if isinstance(v.type, ir.VectorType) else 1
    u = b.bitcast(v, vec(I32, lanes))
    # rounded by the top mantissa bit; shifted first so that a set sign bit cannot carry out
    half = b.add(b.lshr(u, _i32(u, 22)), _i32(u, 1))
    code = b.lshr(half, _i32(u, 1))
    tiny = b.zext(b.icmp_unsigned(">", u, _i32(u, 0x00400000)), vec(I32, lanes))
    code = b.select(b.icmp_unsigned("<", u, _i32(u, 0x00800000)), tiny, code)
    bad = b.or_(b.icmp_unsigned("==", u, _i32(u, 0)),
                b.icmp_unsigned(">", code, _i32(u, 254)))   # sign, inf, NaN, overflow
    return b.trunc(b.select(bad, _i32(u, 255), code), vec(I8, lanes))


def decode_e8m0(b: ir.IRBuilder, code: ir.Value) -> ir.Value:
    """The float an e8m0 code stands for: 2^(code - 127), code 0 a float subnormal, 255 NaN."""
    lanes = code.type.count if isinstance(code.type, ir.VectorType) else 1
    c = b.zext(code, vec(I32, lanes))
    bits = b.shl(c, _i32(c, 23))
    bits = b.select(b.icmp_unsigned("==", c, _i32(c, 0)), _i32(c, 0x00400000), bits)
    bits = b.select(b.icmp_unsigned("==", c, _i32(c, 255)), _i32(c, 0x7FC00000), bits)
    return b.bitcast(bits, vec(FLOAT, lanes))
