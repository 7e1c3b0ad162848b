"""Arithmetic of the kernel interpreter: C's semantics for scalar ops on numpy values.

Every function takes values of one kernel type (a numpy scalar, a 0-d array, or an array whose
leading axis runs over work-items) and returns values of the type the IR says, never a numpy
upcast. The choices where C leaves things open are made here, once, for every target's reference:
shifts by the bit width or more give 0 (arithmetic right shifts: the sign), floats convert to ints
by truncation with saturation (NaN gives 0), min/max of floats ignore a NaN operand (fmin/fmax),
`round` rounds halves away from zero.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from ..dtype import DType
from .types import ScalarType

Value = Any  # a numpy scalar or array


def np_dtype(t: ScalarType) -> np.dtype:
    return t.dtype.np


def unsigned_of(dt: np.dtype) -> np.dtype:
    return np.dtype(f"u{dt.itemsize}")


# -- integer ops ---------------------------------------------------------------------------------

def int_div(a: Value, b: Value) -> Value:
    """C division (truncates toward zero); `b` has no zeros."""
    q = np.floor_divide(a, b)
    if np.dtype(q.dtype).kind == "u":
        return q
    r = np.remainder(a, b)
    fix = (r != 0) & ((a < 0) != (b < 0))
    return q + fix.astype(q.dtype)


def shift(a: Value, count: Value, left: bool, bits: int) -> Value:
    """`a << count` / `a >> count` with counts outside [0, bits) giving 0 (arithmetic right shift
    of a negative value: -1), as PTX does; OpenCL's masking of the count is the frontend's."""
    dt = np.asarray(a).dtype
    c = np.asarray(count)
    if c.ndim == 0 and 0 <= int(c) < bits:
        return np.left_shift(a, c.astype(dt)) if left else np.right_shift(a, c.astype(dt))
    cu = c.astype(unsigned_of(dt))
    big = cu >= bits
    safe = np.where(big, 0, cu).astype(dt)
    if left:
        return np.where(big, dt.type(0), np.left_shift(a, safe)).astype(dt)
    fill = np.where(np.asarray(a) < 0, dt.type(-1), dt.type(0)) if dt.kind == "i" else dt.type(0)
    return np.where(big, fill, np.right_shift(a, safe)).astype(dt)


def popcount(x: Value) -> Value:
    a = np.asarray(x)
    return np.bitwise_count(a.view(unsigned_of(a.dtype))).astype(a.dtype)


def _bit_length(u: np.ndarray, bits: int) -> np.ndarray:
    n = np.zeros(u.shape, np.int64)
    y = u
    for s in (32, 16, 8, 4, 2, 1):
        if s >= bits:
            continue
        hi = np.right_shift(y, u.dtype.type(s))
        nz = hi != 0
        n = n + np.where(nz, s, 0)
        y = np.where(nz, hi, y)
    return n + (y != 0)


def clz(x: Value) -> Value:
    a = np.asarray(x)
    bits = a.dtype.itemsize * 8
    return (bits - _bit_length(a.view(unsigned_of(a.dtype)), bits)).astype(a.dtype)


def ctz(x: Value) -> Value:
    a = np.asarray(x)
    u = a.view(unsigned_of(a.dtype))
    below = np.invert(u) & (u - u.dtype.type(1))
    return np.bitwise_count(below).astype(a.dtype)


def mulhi(a: Value, b: Value) -> Value:
    """The high half of the full product (OpenCL mul_hi, CUDA __umulhi / __mulhi)."""
    x, y = np.asarray(a), np.asarray(b)
    dt = x.dtype
    bits = dt.itemsize * 8
    if bits <= 32:
        wide = np.int64 if dt.kind == "i" else np.uint64
        p = x.astype(wide) * y.astype(wide)
        return np.right_shift(p, bits).astype(dt)
    u64 = np.uint64
    xu, yu = x.view(u64), y.view(u64)
    lo32, s32 = u64(0xFFFFFFFF), u64(32)
    xl, xh, yl, yh = xu & lo32, xu >> s32, yu & lo32, yu >> s32
    ll, lh, hl, hh = xl * yl, xl * yh, xh * yl, xh * yh
    mid = (ll >> s32) + (lh & lo32) + (hl & lo32)
    hi = hh + (lh >> s32) + (hl >> s32) + (mid >> s32)
    if dt.kind == "i":  # signed: subtract what the sign bits added
        hi = hi - np.where(x < 0, yu, u64(0)) - np.where(y < 0, xu, u64(0))
    return hi.view(dt) if hi.ndim else hi.astype(u64).view(dt)


# -- conversions ---------------------------------------------------------------------------------

def cast(x: Value, src: ScalarType, dst: ScalarType) -> Value:
    """C conversion: to bool is `!= 0`; float to int truncates and saturates (NaN: 0); int to int
    wraps; everything else rounds to nearest."""
    dt = np_dtype(dst)
    if dst.is_bool:
        return np.not_equal(x, 0)
    a = np.asarray(x)
    if src.is_float and dst.is_int:
        info = ml_dtypes.iinfo(dt)  # numpy's iinfo does not know int4 / int2
        t = np.trunc(a.astype(np.float64))
        big = t >= float(info.max) + 1.0
        small = t < float(info.min)
        bad = big | small | np.isnan(t)
        safe = np.where(bad, 0.0, t).astype(dt)
        return np.where(big, dt.type(info.max), np.where(small, dt.type(info.min), safe))
    if dst.dtype is DType.BF16 and not src.is_float:
        return a.astype(np.float64).astype(dt)
    return a.astype(dt)


def bitcast(x: Value, src: ScalarType, dst: ScalarType) -> Value:
    """Reinterpret the bits: a vector's lanes are consecutive in memory, lane 0 first."""
    a = np.ascontiguousarray(x, dtype=np_dtype(src))
    if src.lanes == 1:
        a = a[..., None]
    b = a.view(np_dtype(dst))
    return b[..., 0] if dst.lanes == 1 else b


# -- math intrinsics -----------------------------------------------------------------------------

def _round_half_away(x: Value) -> Value:
    t = np.trunc(x)
    return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0).astype(np.asarray(x).dtype)


def _pyfunc(fn: Callable[[float], float]) -> Callable[[Value], Value]:
    """A math-module function over arrays, in double precision, with C's results where Python
    raises (poles, overflow)."""
    def safe(v: float) -> float:
        try:
            return fn(v)
        except (ValueError, OverflowError):
            if math.isnan(v):
                return v
            if fn is math.gamma and v == 0:
                return math.copysign(math.inf, v)
            if fn is math.gamma and v < 0 and v == math.floor(v):
                return math.nan
            return math.inf
    uf = np.frompyfunc(safe, 1, 1)

    def run(x: Value) -> Value:
        a = np.asarray(x)
        return np.asarray(uf(a.astype(np.float64)), np.float64).astype(a.dtype)
    return run


def _fma(a: Value, b: Value, c: Value) -> Value:
    x, y, z = np.asarray(a), np.asarray(b), np.asarray(c)
    dt = np.result_type(x, y, z)
    if dt.itemsize < 8:  # the product is exact in double; one more rounding to the type
        return (x.astype(np.float64) * y.astype(np.float64) + z.astype(np.float64)).astype(dt)
    # double: the product's rounding error by Dekker's two-product, added back before rounding
    p = x * y
    split = 134217729.0
    cx, cy = split * x, split * y
    xh, yh = cx - (cx - x), cy - (cy - y)
    xl, yl = x - xh, y - yh
    err = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl
    s = p + z
    bp = s - p
    t = (p - (s - bp)) + (z - bp)
    r = s + (t + err)
    return np.where(np.isfinite(r), r, p + z)


def _clamp(x: Value, lo: Value, hi: Value) -> Value:
    if np.asarray(x).dtype.kind == "f":
        return np.fmin(np.fmax(x, lo), hi)
    return np.minimum(np.maximum(x, lo), hi)


def _in_f32(fn: Callable[..., Value]) -> Callable[..., Value]:
    """Half and bfloat16 math runs in single precision, as GPUs do, then rounds back."""
    def run(*args: Value) -> Value:
        dt = np.asarray(args[0]).dtype
        if dt.itemsize >= 4:
            return fn(*args)
        return np.asarray(fn(*(np.asarray(a).astype(np.float32) for a in args))).astype(dt)
    return run


_FLOAT_MATH: dict[str, Callable[..., Value]] = {
    "exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2, "log10": np.log10,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "cbrt": np.cbrt,
    "exp10": lambda x: np.power(np.asarray(x).dtype.type(10), x),
    "rsqrt": lambda x: np.reciprocal(np.sqrt(x)),
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "erf": _pyfunc(math.erf),
    "erfc": _pyfunc(math.erfc), "tgamma": _pyfunc(math.gamma), "lgamma": _pyfunc(math.lgamma),
    "floor": np.floor, "ceil": np.ceil, "round": _round_half_away, "trunc": np.trunc,
    "rint": np.rint, "pow": np.power, "atan2": np.arctan2, "fmod": np.fmod, "hypot": np.hypot,
    "copysign": np.copysign,
}
MATH_IMPL: dict[str, Callable[..., Value]] = {
    **{name: _in_f32(fn) for name, fn in _FLOAT_MATH.items()}, "fma": _fma,
    "abs": np.abs, "popcount": popcount, "clz": clz, "ctz": ctz, "mulhi": mulhi,
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "signbit": np.signbit,
    "clamp": _clamp,
}
