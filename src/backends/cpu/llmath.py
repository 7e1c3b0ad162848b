"""Math intrinsics (expr.MATH) as LLVM: llvm.* intrinsics where LLVM has one (the vectorizer and
the code generator know them), the C library's functions elsewhere (declared readnone, called
lane by lane for vectors). Half and bfloat16 math runs in single precision and rounds back, as the
interpreter does."""
from __future__ import annotations

from collections.abc import Sequence

from llvmlite import ir

from ...errors import UnsupportedOp
from ...ir.dtype import DType
from ...ir.kernel.types import ScalarType
from .lltypes import (
    DOUBLE,
    FLOAT,
    HALF,
    I1,
    I32,
    f64_to_f16,
    float_const_like,
    int_const_like,
    is_signed_int,
    round_bf16,
    vec,
)
from .veclib import vector_function


def type_suffix(t: ir.Type) -> str:
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{type_suffix(t.element)}"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    return {HALF: "f16", FLOAT: "f32", DOUBLE: "f64"}[t]


def declare(module: ir.Module, name: str, ret: ir.Type, args: Sequence[ir.Type],
            readnone: bool = True) -> ir.Function:
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, list(args)), name)
        fn.attributes.add("nounwind")
        if readnone:
            fn.attributes.add("readnone")
    assert isinstance(fn, ir.Function)
    return fn


def call_intrinsic(b: ir.IRBuilder, name: str, args: Sequence[ir.Value],
                   ret: ir.Type | None = None, extra: Sequence[ir.Value] = ()) -> ir.Value:
    """Call the overloaded intrinsic `name` (`llvm.fabs`) on `args`, suffixed by the result type
    (when it differs from the operands') and the operand type; `extra` are non-overloaded
    trailing operands (llvm.ctlz's is_zero_poison flag)."""
    at = args[0].type
    full = name + (f".{type_suffix(ret)}" if ret is not None else "") + f".{type_suffix(at)}"
    fn = declare(b.module, full, ret or at, [a.type for a in [*args, *extra]])
    return b.call(fn, [*args, *extra])


# Exact float functions: LLVM intrinsics (instructions on x86).
_INTRINSIC_1 = {"sqrt": "llvm.sqrt", "floor": "llvm.floor", "ceil": "llvm.ceil",
                "round": "llvm.round", "trunc": "llvm.trunc", "rint": "llvm.rint"}
_INTRINSIC_2 = {"copysign": "llvm.copysign"}
# The C library's functions (LLVM knows them by name: it folds constants through them). Where
# the host has glibc's libmvec, those in VECTOR_MATH carry vector variants the loop vectorizer
# calls (veclib.py).
_LIBM_1 = ("exp", "exp2", "exp10", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos",
           "atan", "sinh", "cosh", "tanh", "log1p", "expm1", "cbrt", "asinh", "acosh", "atanh",
           "erf", "erfc", "tgamma", "lgamma")
_LIBM_2 = ("pow", "atan2", "hypot")


def _lanes(v: ir.Value) -> int:
    return v.type.count if isinstance(v.type, ir.VectorType) else 1


def _libm(b: ir.IRBuilder, name: str, args: Sequence[ir.Value]) -> ir.Value:
    """A C library call, lane by lane for vectors."""
    lane_t = args[0].type.element if isinstance(args[0].type, ir.VectorType) else args[0].type
    cname = name + ("f" if lane_t == FLOAT else "")
    fn = declare(b.module, cname, lane_t, [lane_t] * len(args))
    n = _lanes(args[0])
    if n == 1:
        return b.call(fn, list(args))
    vname = vector_function(b.module, cname, n, 32 if lane_t == FLOAT else 64)
    if vname is not None:  # a whole-vector libmvec call
        vfn = declare(b.module, vname, args[0].type, [a.type for a in args])
        return b.call(vfn, list(args))
    out: ir.Value = ir.Constant(args[0].type, None)
    for i in range(n):
        k = ir.Constant(I32, i)
        r = b.call(fn, [b.extract_element(a, k) for a in args])
        out = b.insert_element(out, r, k)
    return out


def _float_math(b: ir.IRBuilder, fn: str, args: Sequence[ir.Value]) -> ir.Value:
    """`fn` on f32 or f64 operands."""
    x = args[0]
    if fn in _INTRINSIC_1:
        return call_intrinsic(b, _INTRINSIC_1[fn], [x])
    if fn in _INTRINSIC_2:
        return call_intrinsic(b, _INTRINSIC_2[fn], list(args))
    if fn in _LIBM_1 or fn in _LIBM_2:
        return _libm(b, fn, args)
    if fn == "rsqrt":
        return b.fdiv(float_const_like(x, 1.0), call_intrinsic(b, "llvm.sqrt", [x]))
    if fn == "fmod":
        return b.frem(x, args[1])
    if fn == "fma":
        return call_intrinsic(b, "llvm.fma", list(args))
    raise UnsupportedOp(f"the cpu target has no math function '{fn}'", op=fn, target="cpu")


def _narrow_fma(b: ir.IRBuilder, args: Sequence[ir.Value], t: ScalarType) -> ir.Value:
    """fma of half / bfloat16: the product is exact in double, one rounding to the type (as the
    interpreter computes it)."""
    n = t.lanes
    wide = [b.fpext(a, vec(DOUBLE, n)) for a in args]
    r = b.fadd(b.fmul(wide[0], wide[1]), wide[2])
    if t.dtype is DType.F16:
        return f64_to_f16(b, r, n)
    return round_bf16(b, b.fptrunc(r, vec(FLOAT, n)))


def float_result(b: ir.IRBuilder, v: ir.Value, t: ScalarType) -> ir.Value:
    """Round an f32 result of a bf16 operation to bf16 (other types: unchanged)."""
    return round_bf16(b, v) if t.dtype is DType.BF16 else v


def emit_math(b: ir.IRBuilder, fn: str, args: Sequence[ir.Value], t: ScalarType) -> ir.Value:
    """The Math expression `fn(args)` whose operands have kernel type `t`."""
    x = args[0]
    if fn == "abs":
        if t.is_int:
            return x if not t.dtype.is_signed else call_intrinsic(
                b, "llvm.abs", [x], extra=[ir.Constant(I1, False)])
        return call_intrinsic(b, "llvm.fabs", [x])
    if fn in ("popcount", "clz", "ctz"):
        if fn == "popcount":
            return call_intrinsic(b, "llvm.ctpop", [x])
        name = "llvm.ctlz" if fn == "clz" else "llvm.cttz"
        return call_intrinsic(b, name, [x], extra=[ir.Constant(I1, False)])
    if fn == "mulhi":
        return _mulhi(b, args, t)
    if fn == "clamp":
        return _clamp(b, args, t)
    if fn in ("isnan", "isinf", "isfinite", "signbit"):
        return _classify(b, fn, x, t)
    if not t.is_float:
        raise UnsupportedOp(f"math function '{fn}' takes floats, not {t}", op=fn, target="cpu")
    if t.dtype is DType.F16 or t.dtype is DType.BF16:
        if fn == "fma":
            return _narrow_fma(b, args, t)
        if fn in ("floor", "ceil", "round", "trunc", "rint", "copysign"):
            return _float_math(b, fn, args)  # exact in any precision
        wide = [b.fpext(a, vec(FLOAT, t.lanes)) for a in args] if t.dtype is DType.F16 else args
        r = _float_math(b, fn, wide)
        return b.fptrunc(r, vec(HALF, t.lanes)) if t.dtype is DType.F16 else round_bf16(b, r)
    return _float_math(b, fn, args)


def _mulhi(b: ir.IRBuilder, args: Sequence[ir.Value], t: ScalarType) -> ir.Value:
    x, y = args
    bits = t.dtype.bits
    wt = vec(ir.IntType(2 * bits), t.lanes)
    ext = b.sext if is_signed_int(t) else b.zext
    p = b.mul(ext(x, wt), ext(y, wt))
    return b.trunc(b.lshr(p, int_const_like(p, bits)), x.type)


def _clamp(b: ir.IRBuilder, args: Sequence[ir.Value], t: ScalarType) -> ir.Value:
    x, lo, hi = args
    if t.is_float:
        return call_intrinsic(b, "llvm.minnum", [call_intrinsic(b, "llvm.maxnum", [x, lo]), hi])
    mn, mx = ("llvm.smin", "llvm.smax") if is_signed_int(t) else ("llvm.umin", "llvm.umax")
    return call_intrinsic(b, mn, [call_intrinsic(b, mx, [x, lo]), hi])


def _classify(b: ir.IRBuilder, fn: str, x: ir.Value, t: ScalarType) -> ir.Value:
    if not t.is_float:
        raise UnsupportedOp(f"math function '{fn}' takes floats, not {t}", op=fn, target="cpu")
    if fn == "isnan":
        return b.fcmp_unordered("uno", x, x)
    if fn == "signbit":
        width = {HALF: 16, FLOAT: 32, DOUBLE: 64}[x.type.element if t.lanes > 1 else x.type]
        bits = b.bitcast(x, vec(ir.IntType(width), t.lanes))
        return b.icmp_signed("<", bits, int_const_like(bits, 0))
    a = call_intrinsic(b, "llvm.fabs", [x])
    inf = float_const_like(x, float("inf"))
    if fn == "isinf":
        return b.fcmp_ordered("==", a, inf)
    return b.fcmp_ordered("<", a, inf)  # isfinite: false for NaN
