"""Casts between element types: Cast, CastLike and BitCast.

`cast_array` is the one definition of a value conversion (ONNX Cast-28), used by all three ops and
by any op that needs to convert. Its rules, beyond numpy's `astype`:
- float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz), round to nearest even; with `saturate` values beyond
  the largest finite (infinities included) become it, without they become inf or NaN as the type
  has; NaN stays NaN; the fnuz types have no -0;
- float8e8m0 (powers of two): `round_mode` up / down / nearest (ties up), `saturate` clamps to
  [2^-127, 2^127] (0 and inf included), otherwise what falls outside is NaN; the sign is ignored;
- float4e2m1 / float6: round to nearest even, saturating; NaN becomes -0 (ml_dtypes, as ONNX);
- integers to narrower integers (int4/uint4/int2/uint2 included) keep the low bits; floats to
  integers truncate toward zero first;
- strings parse as numbers ("1e-5", "+INF", "nan", case-insensitive) and numbers print as
  numpy prints them.
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .. import compute as cp
from ..dtype import DType
from ..kernel.expr import Bitcast
from ..kernel.types import ScalarType
from ..types import TensorType, Type
from .registry import InferCtx, op

FLOAT8 = frozenset({DType.F8E4M3FN, DType.F8E4M3FNUZ, DType.F8E5M2, DType.F8E5M2FNUZ})
SMALL_FLOATS = frozenset({DType.F4E2M1, DType.F6E2M3, DType.F6E3M2})
SMALL_INTS = frozenset({DType.I4, DType.U4, DType.I2, DType.U2})
E8M0_MAX_CODE = 254  # 2^127; code 255 is NaN, code 0 is 2^-127
ROUND_MODES = ("up", "down", "nearest")


def cast_array(x: np.ndarray, to: DType, saturate: bool = True,
               round_mode: str = "up") -> np.ndarray:
    """x converted to dtype `to` with ONNX Cast semantics (see the module docstring)."""
    # numpy ufuncs turn 0-d arrays into scalars; the IR wants arrays
    return np.asarray(_cast(np.asarray(x), to, saturate, round_mode))


def _cast(x: np.ndarray, to: DType, saturate: bool, round_mode: str) -> np.ndarray:
    src = DType.from_np(x.dtype)
    if to is DType.STRING:
        return _to_strings(x, src)
    if src is DType.STRING:
        x = _parse_strings(x, to)
        src = DType.from_np(x.dtype)
    if src is to:
        return x.copy()
    if to in (DType.C64, DType.C128) or src in (DType.C64, DType.C128):
        if not (to.is_complex and src.is_complex):
            raise TypeError(f"cannot cast {src} to {to}")
        return x.astype(to.np)
    x = _widen(x, src)
    with np.errstate(all="ignore"):
        if to in FLOAT8:
            if saturate:
                top = float(ml_dtypes.finfo(to.np).max)
                x = np.clip(x.astype(np.float64 if x.dtype == np.float64 else np.float32), -top,
                            top)
            return x.astype(to.np)
        if to is DType.F8E8M0:
            return _to_e8m0(x, saturate, round_mode)
        if to in SMALL_INTS:
            return _wrap_int(x, to)
        if to is DType.BOOL:
            return x != 0
        if to.is_int and x.dtype.kind == "f":
            # truncate in f64, then go through a 64-bit integer: out-of-range values are
            # undefined in ONNX, this keeps their low bits like an integer cast would
            x = np.trunc(x.astype(np.float64))
            big = np.int64 if to.is_signed else np.uint64
            return x.astype(big).astype(to.np)
        return x.astype(to.np)


def _widen(x: np.ndarray, src: DType) -> np.ndarray:
    """ml_dtypes values as plain numpy ones: floats as f32 (exact), sub-byte ints as int8/uint8."""
    if x.dtype.kind != "V":
        return x
    if src.is_float:
        return x.astype(np.float32)
    return x.astype(np.int8 if src.is_signed else np.uint8)


def _wrap_int(x: np.ndarray, to: DType) -> np.ndarray:
    if x.dtype.kind == "f":
        x = np.trunc(x.astype(np.float64))
    bits = to.bits
    low = x.astype(np.int64) & ((1 << bits) - 1)
    if to.is_signed:
        low = np.where(low >= 1 << (bits - 1), low - (1 << bits), low)
    return low.astype(np.int8).astype(to.np)


def _to_e8m0(x: np.ndarray, saturate: bool, round_mode: str) -> np.ndarray:
    if round_mode not in ROUND_MODES:
        raise ValueError(f"round_mode must be one of {', '.join(ROUND_MODES)}, got {round_mode!r}")
    v = np.abs(x.astype(np.float64))
    mant, exp = np.frexp(v)  # v = mant * 2^exp, mant in [0.5, 1)
    frac = 2 * mant  # v = frac * 2^(exp - 1), frac in [1, 2)
    k = exp.astype(np.int64) - 1
    if round_mode == "up":
        k = k + (frac > 1)
    elif round_mode == "nearest":
        k = k + (frac >= 1.5)
    code = k + 127
    nan, inf, zero = np.isnan(v), np.isinf(v), v == 0
    if saturate:
        code = np.where(inf, E8M0_MAX_CODE, np.where(zero, 0, np.clip(code, 0, E8M0_MAX_CODE)))
    else:
        code = np.where(inf | zero | (code < 0) | (code > E8M0_MAX_CODE), 255, code)
    code = np.where(nan, 255, code)
    return code.astype(np.uint8).view(ml_dtypes.float8_e8m0fnu)


def _to_strings(x: np.ndarray, src: DType) -> np.ndarray:
    if src is DType.STRING:
        return np.array([_text(s) for s in x.reshape(-1)], dtype=object).reshape(x.shape)
    flat = _widen(x, src).reshape(-1).astype(np.str_)
    return np.array(flat.tolist(), dtype=object).reshape(x.shape)


def _text(s: object) -> str:
    return s.decode("utf-8") if isinstance(s, bytes) else str(s)


def _parse_strings(x: np.ndarray, to: DType) -> np.ndarray:
    """Strings as numbers: f64 for float and bool targets, 64-bit integers otherwise."""
    texts = [_text(s).strip() for s in x.reshape(-1)]
    if to.is_float or to is DType.BOOL:
        vals = [_parse_float(t) for t in texts]
        return np.array(vals, dtype=np.float64).reshape(x.shape)
    ints = [_parse_int(t) for t in texts]
    if to is DType.U64:
        return np.array([i & (2**64 - 1) for i in ints], dtype=np.uint64).reshape(x.shape)
    wrapped = [((i + 2**63) & (2**64 - 1)) - 2**63 for i in ints]
    return np.array(wrapped, dtype=np.int64).reshape(x.shape)


def _parse_float(t: str) -> float:
    low = t.lower()
    if low in ("true", "false"):
        return 1.0 if low == "true" else 0.0
    return float(t)  # accepts "1e-5", "INF", "+inf", "-Inf", "NaN" in any case


def _parse_int(t: str) -> int:
    try:
        return int(t)
    except ValueError:
        return int(float(t))  # "100.5" -> 100 (ONNX leaves it undefined)


# -- ops ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CastAttrs:
    to: DType
    saturate: int = 1
    round_mode: str = "up"


def _check_round_mode(c: InferCtx) -> None:
    if c.attrs.round_mode not in ROUND_MODES:
        raise c.error(f"round_mode must be one of {', '.join(ROUND_MODES)}, "
                      f"got {c.attrs.round_mode!r}")


def _cast_rule(c: InferCtx) -> list[Type]:
    if not isinstance(c.attrs.to, DType):
        raise c.error(f"'to' must be a DType, got {c.attrs.to!r}")
    _check_round_mode(c)
    return [c.t(0).with_dtype(c.attrs.to)]


op("Cast", CastAttrs, versions=(1, 6, 9, 13, 19, 21, 23, 24, 25, 28), traits=("elementwise",),
   infer=_cast_rule,
   reference=lambda a, x: cast_array(x, a.to, bool(a.saturate), a.round_mode),
   # between kernel types the store converts (saturate and round_mode only concern float8)
   compute=lambda a, x: cp.tensor(x.shape, a.to, lambda *i: x[i]))


@dataclass(frozen=True)
class CastLikeAttrs:
    saturate: int = 1
    round_mode: str = "up"


def _cast_like_rule(c: InferCtx) -> list[Type]:
    _check_round_mode(c)
    return [c.t(0).with_dtype(c.t(1).dtype)]


op("CastLike", CastLikeAttrs, versions=(15, 19, 21, 23, 24, 25), traits=("elementwise",),
   infer=_cast_like_rule,
   reference=lambda a, x, like: cast_array(x, DType.from_np(like.dtype), bool(a.saturate),
                                           a.round_mode),
   compute=lambda a, x, like: cp.tensor(x.shape, like.dtype, lambda *i: x[i]))


@dataclass(frozen=True)
class BitCastAttrs:
    to: DType


def _bitcast_rule(c: InferCtx) -> list[Type]:
    x, to = c.t(0), c.attrs.to
    if not isinstance(to, DType):
        raise c.error(f"'to' must be a DType, got {to!r}")
    if DType.STRING in (x.dtype, to):
        raise c.error("strings have no bit pattern to reinterpret")
    if x.dtype.bits != to.bits:
        raise c.error(f"cannot reinterpret {x.dtype} ({x.dtype.bits} bits) as {to} "
                      f"({to.bits} bits)")
    return [TensorType(to, x.shape)]


def bitcast_array(x: np.ndarray, to: DType) -> np.ndarray:
    """x's bits read as dtype `to` (same width). Sub-byte types hold their code in the low bits
    of one byte each (ml_dtypes' layout), so they are masked and rebuilt rather than viewed."""
    x = np.asarray(x)
    x = x if x.flags.c_contiguous else x.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
    return np.asarray(_bitcast(x, to))


def _bitcast(x: np.ndarray, to: DType) -> np.ndarray:
    bits = to.bits
    if bits < 8:
        code = np.asarray(x.view(np.uint8) & np.uint8((1 << bits) - 1))
        if to in (DType.I4, DType.I2):
            signed = code.astype(np.int8)
            signed = np.where(code >= 1 << (bits - 1), signed - (1 << bits), signed)
            return signed.astype(np.int8).astype(to.np)
        if to in (DType.U4, DType.U2):
            return code.astype(to.np)
        return code.view(to.np)
    if to is DType.BOOL:
        return x.view(np.uint8) != 0
    return x.view(to.np)


def _bitcast_compute(a: BitCastAttrs, x: cp.TensorArg) -> cp.Stage:
    if DType.BOOL in (x.dtype, a.to):
        raise cp.NoCompute("bool has no bit pattern of its width in kernels")
    return cp.tensor(x.shape, a.to, lambda *i: Bitcast(x[i], ScalarType(a.to)))


op("BitCast", BitCastAttrs, versions=(26,), traits=("elementwise",), infer=_bitcast_rule,
   reference=lambda a, x: bitcast_array(x, a.to), compute=_bitcast_compute)
