"""Quantization: QuantizeLinear / DequantizeLinear (per-tensor, per-axis and blocked; integer,
int4/int2, float8, float6 and float4 encodings), DynamicQuantizeLinear, and the integer kernels
MatMulInteger, QLinearMatMul and QLinearConv (which reuse nn_conv's convolution).

Integer products are accumulated exactly in float64 (8- and 16-bit products summed over any
realistic depth stay below 2**53), which keeps them on BLAS instead of numpy's slow integer matmul.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .. import compute as cp
from ..compute import NoCompute, Stage, TensorArg, reduce, select
from ..dtype import DType
from ..kernel.expr import Expr, Math
from ..types import TensorType, Type
from .nn_conv import ConvAttrs, conv_out_shape, integer_conv, integer_conv_stage, zero_point
from .nn_linalg import matmul_shape, matmul_stage
from .registry import InferCtx, norm_axis, op

# integer encodings and their saturation ranges
INT_RANGES = {DType.U8: (0, 255), DType.I8: (-128, 127), DType.U16: (0, 65535),
              DType.I16: (-32768, 32767), DType.U4: (0, 15), DType.I4: (-8, 7),
              DType.U2: (0, 3), DType.I2: (-2, 1)}
FLOAT8 = (DType.F8E4M3FN, DType.F8E4M3FNUZ, DType.F8E5M2, DType.F8E5M2FNUZ)
SMALL_FLOATS = (DType.F4E2M1, DType.F6E2M3, DType.F6E3M2)   # no inf/nan: always saturate
QUANTIZED = tuple(INT_RANGES) + FLOAT8 + SMALL_FLOATS
SCALE_TYPES = (DType.F32, DType.F16, DType.BF16, DType.F64, DType.F8E8M0)
HIGH_PRECISION = (DType.F32, DType.F16, DType.BF16, DType.F64, DType.I32)


@dataclass(frozen=True)
class QuantizeLinearAttrs:
    axis: int = 1
    block_size: int = 0
    output_dtype: DType | None = None     # ONNX's 0 (unset); the frontend maps codes to DType
    precision: DType | None = None
    saturate: int = 1


@dataclass(frozen=True)
class DequantizeLinearAttrs:
    axis: int = 1
    block_size: int = 0
    output_dtype: DType | None = None


def is_per_tensor(t: TensorType) -> bool:
    return t.rank == 0 or (t.rank == 1 and t.shape[0] == 1)


def same_granularity(c: InferCtx, scale: TensorType, zero: TensorType) -> None:
    if scale.shape != zero.shape and not (is_per_tensor(scale) and is_per_tensor(zero)):
        raise c.error(f"zero point {zero} and scale {scale} must have the same shape")


def check_granularity(c: InferCtx, x: TensorType, param: TensorType, axis: int,
                      block_size: int) -> None:
    """Scale/zero-point shape: per tensor (one element), per axis (1-D of the axis' size) or
    blocked (x's shape with the axis divided into blocks of block_size)."""
    if block_size < 0:
        raise c.error(f"block_size must be positive, got {block_size}")
    if not block_size and is_per_tensor(param):
        return   # the axis does not matter (and may be out of range, as for 1-D inputs)
    ax = norm_axis(c, axis, x.rank)
    if block_size:
        if param.rank != x.rank:
            raise c.error(f"blocked quantization needs a scale of rank {x.rank}, got {param}")
        for k, (d, p) in enumerate(zip(x.shape, param.shape)):
            if not (isinstance(d, int) and isinstance(p, int)):
                continue
            want = -(-d // block_size) if k == ax else d
            if p != want:
                raise c.error(f"scale {param} does not block {x} by {block_size} along axis "
                              f"{ax}")
        return
    if param.rank != 1:
        raise c.error(f"scale must be a scalar or 1-D without block_size, got {param}")
    d, p = x.shape[ax], param.shape[0]
    if isinstance(d, int) and isinstance(p, int) and d != p:
        raise c.error(f"per-axis scale {param} does not match axis {ax} of {x}")


def expand_param(p: np.ndarray, shape: tuple[int, ...], axis: int, block_size: int) -> np.ndarray:
    """A scale or zero point made broadcastable against x (of `shape`)."""
    if p.ndim == 0 or p.size == 1 and not block_size:
        return p.reshape(())
    ax = axis % len(shape)
    if not block_size:
        dims = [1] * len(shape)
        dims[ax] = p.size
        return p.reshape(dims)
    full = np.repeat(p, block_size, axis=ax)
    return np.take(full, np.arange(shape[ax]), axis=ax)


def param_at(p: TensorArg, i: Sequence[Expr], axis: int, block_size: int) -> Expr:
    """For compute definitions: the scale or zero point that element i of x uses (expand_param's
    broadcasting, as a read)."""
    if p.numel == 1 and not block_size:
        return p.scalar()
    ax = axis % len(i)
    if not block_size:
        return p[i[ax]]
    return p[tuple(e // block_size if k == ax else e for k, e in enumerate(i))]


def _promoted(*ts: DType) -> DType:
    """numpy's result type of arithmetic on these dtypes (f32 where numpy has none)."""
    try:
        return DType.from_np(np.result_type(*(t.np for t in ts)))
    except (TypeError, ValueError):
        return DType.F32


def round_to_int(v: Expr, out: DType) -> Expr:
    """rint(v) saturated to `out`'s range (NaN: 0), as a float the store converts exactly."""
    lo, hi = INT_RANGES[out]
    r = Math("rint", (v,))
    return cp.clip(select(Math("isnan", (r,)), 0.0, r), float(lo), float(hi))


# -- QuantizeLinear ----------------------------------------------------------------------------

def _quantized_dtype(c: InferCtx) -> DType:
    a: QuantizeLinearAttrs = c.attrs
    zero = c.t(2).dtype if c.has(2) else None
    if zero is not None and a.output_dtype is not None and zero != a.output_dtype:
        raise c.error(f"output_dtype {a.output_dtype} differs from the zero point's {zero}")
    out = zero or a.output_dtype or DType.U8
    if out not in QUANTIZED:
        raise c.error(f"cannot quantize to {out}")
    return out


def _infer_quantize(c: InferCtx) -> list[Type]:
    x, scale = c.t(0), c.t(1)
    a: QuantizeLinearAttrs = c.attrs
    if x.dtype not in HIGH_PRECISION or scale.dtype not in SCALE_TYPES + (DType.I32,):
        raise c.error(f"QuantizeLinear takes a float or int32 input and a float scale, got {x} "
                      f"and {scale}")
    check_granularity(c, x, scale, a.axis, a.block_size)
    if c.has(2):
        same_granularity(c, scale, c.t(2))
    return [x.with_dtype(_quantized_dtype(c))]


def quantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, out: DType,
             axis: int = 1, block_size: int = 0, saturate: bool = True,
             precision: DType | None = None) -> np.ndarray:
    """saturate(round_half_even(x / scale) + zero) in the encoding `out`."""
    s = expand_param(scale, x.shape, axis, block_size)
    if precision is not None:
        v = x.astype(precision.np) / s.astype(precision.np)
    else:
        v = np.asarray(x / s)
    if out in INT_RANGES:
        lo, hi = INT_RANGES[out]
        q = np.rint(v.astype(np.float64))
        if zero is not None:
            q = q + expand_param(zero, x.shape, axis, block_size).astype(np.float64)
        return np.clip(np.nan_to_num(q), lo, hi).astype(out.np)
    if out in FLOAT8:
        if saturate:
            info = ml_dtypes.finfo(out.np)
            v = np.clip(v.astype(np.float32), float(info.min), float(info.max))
        return v.astype(out.np)
    if zero is not None:
        v = v + expand_param(zero, x.shape, axis, block_size).astype(np.float32)
    return v.astype(out.np)


def _quantize_linear(a: QuantizeLinearAttrs, x: np.ndarray, scale: np.ndarray,
                     zero: np.ndarray | None = None) -> np.ndarray:
    out = DType.from_np(zero.dtype) if zero is not None else a.output_dtype or DType.U8
    return quantize(x, scale, zero, out, a.axis, a.block_size, bool(a.saturate), a.precision)


def _quantize_compute(a: QuantizeLinearAttrs, x: TensorArg, scale: TensorArg,
                      zero: TensorArg | None = None) -> Stage:
    out = zero.dtype if zero is not None else a.output_dtype or DType.U8
    if out not in INT_RANGES:
        raise NoCompute(f"quantizing to {out}")
    work = a.precision or _promoted(x.dtype, scale.dtype)

    def fn(*i: Expr) -> Expr:
        v = cp.rounded(cp.widen(cp.cast(x[i], work)) / cp.widen(cp.cast(
            param_at(scale, i, a.axis, a.block_size), work)), work)
        q = cp.cast(v, DType.F64)
        if zero is not None:
            q = Math("rint", (q,)) + cp.cast(param_at(zero, i, a.axis, a.block_size), DType.F64)
        return round_to_int(q, out)
    return cp.tensor(x.shape, out, fn)


op("QuantizeLinear", QuantizeLinearAttrs, versions=(10, 13, 19, 21, 23, 24, 25, 28),
   traits=("elementwise",), infer=_infer_quantize, reference=_quantize_linear,
   compute=_quantize_compute)


# -- DequantizeLinear --------------------------------------------------------------------------

def _infer_dequantize(c: InferCtx) -> list[Type]:
    x, scale = c.t(0), c.t(1)
    a: DequantizeLinearAttrs = c.attrs
    if x.dtype not in QUANTIZED + (DType.I32,) or scale.dtype not in SCALE_TYPES:
        raise c.error(f"DequantizeLinear takes a quantized input and a float scale, got {x} "
                      f"and {scale}")
    check_granularity(c, x, scale, a.axis, a.block_size)
    if c.has(2):
        if c.t(2).dtype != x.dtype:
            raise c.error(f"zero point {c.t(2)} must have the dtype of {x}")
        same_granularity(c, scale, c.t(2))
    return [x.with_dtype(a.output_dtype or scale.dtype)]


def dequantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, out: np.dtype,
               axis: int = 1, block_size: int = 0) -> np.ndarray:
    """(x - zero) * scale, computed in float32 (float8/float4 zero points are always zero)."""
    v = x.astype(np.float32)
    if zero is not None and DType.from_np(x.dtype) not in FLOAT8 + SMALL_FLOATS:
        v = v - expand_param(zero, x.shape, axis, block_size).astype(np.float32)
    s = expand_param(scale, x.shape, axis, block_size)
    if s.dtype != np.float64:
        s = s.astype(np.float32)
    return (v * s).astype(out)


def _dequantize_linear(a: DequantizeLinearAttrs, x: np.ndarray, scale: np.ndarray,
                       zero: np.ndarray | None = None) -> np.ndarray:
    out = a.output_dtype.np if a.output_dtype is not None else scale.dtype
    return dequantize(x, scale, zero, out, a.axis, a.block_size)


def _dequantize_compute(a: DequantizeLinearAttrs, x: TensorArg, scale: TensorArg,
                        zero: TensorArg | None = None) -> Stage:
    """(x - zero) * scale in float32 (float64 for a float64 scale)."""
    out = a.output_dtype or scale.dtype
    s_type = DType.F64 if scale.dtype is DType.F64 else DType.F32

    def fn(*i: Expr) -> Expr:
        v = cp.cast(x[i], DType.F32)
        if zero is not None:
            v = v - cp.cast(param_at(zero, i, a.axis, a.block_size), DType.F32)
        return cp.cast(v, s_type) * cp.cast(param_at(scale, i, a.axis, a.block_size), s_type)
    return cp.tensor(x.shape, out, fn)


op("DequantizeLinear", DequantizeLinearAttrs, versions=(10, 13, 19, 21, 23, 24, 25, 28),
   traits=("elementwise",), infer=_infer_dequantize, reference=_dequantize_linear,
   compute=_dequantize_compute)


# -- DynamicQuantizeLinear ---------------------------------------------------------------------

def _infer_dynamic_quantize(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.dtype != DType.F32:
        raise c.error(f"DynamicQuantizeLinear takes float32, got {x}")
    return [x.with_dtype(DType.U8), TensorType(DType.F32, ()), TensorType(DType.U8, ())]


def _dynamic_quantize(a: None, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # the range always holds 0, so that 0.0 is exactly representable (ONNX's definition)
    hi = np.float32(max(0.0, float(np.max(x)))) if x.size else np.float32(0)
    lo = np.float32(min(0.0, float(np.min(x)))) if x.size else np.float32(0)
    scale = np.float32((hi - lo) if hi != lo else 1.0) / np.float32(255)
    zero = np.rint(np.clip(np.float32(0) - lo / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zero, 0, 255).astype(np.uint8)
    return y, np.array(scale, dtype=np.float32), np.array(zero, dtype=np.uint8)


def _dynamic_quantize_compute(a: None, x: TensorArg) -> tuple[Stage, Stage, Stage]:
    """The range (always holding 0) by two reductions, then scale, zero point and x quantized."""
    f32 = DType.F32
    hi = cp.tensor((), f32, lambda: reduce("max", x.shape, lambda *r: x[r], init=0.0))
    lo = cp.tensor((), f32, lambda: reduce("min", x.shape, lambda *r: x[r], init=0.0))
    scale = cp.tensor((), f32, lambda: select(hi[()].eq(lo[()]), 1.0, hi[()] - lo[()]) / 255.0)
    zero = cp.tensor((), DType.U8, lambda: Math("rint", (cp.clip(
        0.0 - lo[()] / scale[()], 0.0, 255.0),)))
    y = cp.tensor(x.shape, DType.U8, lambda *i: cp.clip(
        Math("rint", (x[i] / scale[()],)) + cp.cast(zero[()], f32), 0.0, 255.0))
    return y, scale, zero


op("DynamicQuantizeLinear", versions=(11,), traits=("reduction",),
   infer=_infer_dynamic_quantize, reference=_dynamic_quantize, compute=_dynamic_quantize_compute)


# -- integer matmul and convolution ------------------------------------------------------------

def _int8(c: InferCtx, *ts: TensorType) -> None:
    for t in ts:
        if t.dtype not in (DType.U8, DType.I8):
            raise c.error(f"{c.op} takes 8-bit integer tensors, got {t}")


def _infer_matmul_integer(c: InferCtx) -> list[Type]:
    a, b = c.t(0), c.t(1)
    _int8(c, a, b)
    return [TensorType(DType.I32, matmul_shape(c, a, b))]


def _rows(p: np.ndarray | None) -> np.ndarray:
    """A's zero point: per tensor, or per row (M values, broadcast along K)."""
    if p is None:
        return np.zeros(())
    p = np.asarray(p, dtype=np.float64)
    return p.reshape(()) if p.size == 1 else p.reshape(-1, 1)


def _exact_matmul(a: np.ndarray, a_zero: np.ndarray | None, b: np.ndarray,
                  b_zero: np.ndarray | None) -> np.ndarray:
    """(a - a_zero) @ (b - b_zero), exact, as float64; b's zero point is per column (or tensor)."""
    bz = np.zeros(()) if b_zero is None else np.asarray(b_zero, dtype=np.float64)
    if bz.size == 1:
        bz = bz.reshape(())
    return np.matmul(a.astype(np.float64) - _rows(a_zero), b.astype(np.float64) - bz)


def _matmul_integer(attrs: None, a: np.ndarray, b: np.ndarray, a_zero: np.ndarray | None = None,
                    b_zero: np.ndarray | None = None) -> np.ndarray:
    return np.rint(np.asarray(_exact_matmul(a, a_zero, b, b_zero))).astype(np.int32)


def integer_matmul_stage(a: TensorArg, b: TensorArg, a_zero: TensorArg | None,
                         b_zero: TensorArg | None, dtype: DType = DType.I32,
                         post: Callable[[Expr, Expr, Expr], Expr] | None = None) -> Stage:
    """(a - a_zero) @ (b - b_zero), exact in int32; a's zero point per row, b's per column."""
    def term(u: Expr, v: Expr, m: Expr, n: Expr) -> Expr:
        return ((cp.cast(u, DType.I32) - zero_point(a_zero, m))
                * (cp.cast(v, DType.I32) - zero_point(b_zero, n)))
    return matmul_stage(a, b, dtype, term, post)


op("MatMulInteger", versions=(10,), traits=("reduction", "contraction"),
   infer=_infer_matmul_integer, reference=_matmul_integer,
   compute=lambda a, x, w, xz=None, wz=None: integer_matmul_stage(x, w, xz, wz))


def _infer_qlinear_matmul(c: InferCtx) -> list[Type]:
    a, b = c.t(0), c.t(3)
    _int8(c, a, b)
    out = c.t(7).dtype if c.has(7) else a.dtype
    return [TensorType(out, matmul_shape(c, a, b))]


def requantize(acc: np.ndarray, multiplier: np.ndarray, zero: np.ndarray | None,
               out: np.dtype) -> np.ndarray:
    """round_half_even(acc * multiplier + zero), saturated to `out`'s range."""
    v = acc * multiplier.astype(np.float64)
    if zero is not None:
        v = v + zero.astype(np.float64)
    lo, hi = INT_RANGES[DType.from_np(out)]
    return np.clip(np.rint(v), lo, hi).astype(out)


def _qlinear_matmul(attrs: None, a: np.ndarray, a_scale: np.ndarray, a_zero: np.ndarray | None,
                    b: np.ndarray, b_scale: np.ndarray, b_zero: np.ndarray | None,
                    y_scale: np.ndarray, y_zero: np.ndarray | None = None) -> np.ndarray:
    acc = np.asarray(_exact_matmul(a, a_zero, b, b_zero))
    a_s = a_scale.reshape(()) if a_scale.size == 1 else a_scale.reshape(-1, 1)
    b_s = b_scale.reshape(()) if b_scale.size == 1 else b_scale
    multiplier = np.asarray(a_s * b_s / y_scale.reshape(()))
    return requantize(acc, multiplier, y_zero, (y_zero if y_zero is not None else a).dtype)


def requantized(acc: Expr, multiplier: Expr, zero: Expr | None, out: DType) -> Expr:
    """round_half_even(acc * multiplier + zero) saturated to `out` (requantize's rule)."""
    v = cp.cast(acc, DType.F64) * cp.cast(multiplier, DType.F64)
    return round_to_int(v if zero is None else v + cp.cast(zero, DType.F64), out)


def _scale(p: TensorArg, i: Expr) -> Expr:
    return p.scalar() if p.numel == 1 else p[i]


def _qlinear_matmul_compute(attrs: None, a: TensorArg, a_scale: TensorArg,
                            a_zero: TensorArg | None, b: TensorArg, b_scale: TensorArg,
                            b_zero: TensorArg | None, y_scale: TensorArg,
                            y_zero: TensorArg | None = None) -> Stage:
    out = (y_zero or a).dtype

    def post(acc: Expr, m: Expr, n: Expr) -> Expr:   # the multiplier in the scales' type
        mult = _scale(a_scale, m) * _scale(b_scale, n) / y_scale.scalar()
        return requantized(acc, mult, y_zero.scalar() if y_zero is not None else None, out)
    return integer_matmul_stage(a, b, a_zero, b_zero, out, post)


op("QLinearMatMul", versions=(10, 21), traits=("reduction", "contraction"),
   infer=_infer_qlinear_matmul, reference=_qlinear_matmul, compute=_qlinear_matmul_compute)


def _infer_qlinear_conv(c: InferCtx) -> list[Type]:
    x, w = c.t(0), c.t(3)
    _int8(c, x, w)
    if c.has(8) and c.t(8).dtype != DType.I32:
        raise c.error(f"QLinearConv's bias must be int32, got {c.t(8)}")
    out = c.t(7).dtype if c.has(7) else x.dtype
    return [TensorType(out, conv_out_shape(c, c.attrs, x, w))]


def _qlinear_conv(a: ConvAttrs, x: np.ndarray, x_scale: np.ndarray, x_zero: np.ndarray | None,
                  w: np.ndarray, w_scale: np.ndarray, w_zero: np.ndarray | None,
                  y_scale: np.ndarray, y_zero: np.ndarray | None = None,
                  bias: np.ndarray | None = None) -> np.ndarray:
    acc = integer_conv(a, x, w, x_zero, w_zero).astype(np.float64)
    per_channel = (1, -1) + (1,) * (x.ndim - 2)
    if bias is not None:
        acc = acc + bias.astype(np.float64).reshape(per_channel)
    ws = w_scale.reshape(()) if w_scale.size == 1 else w_scale.reshape(per_channel)
    multiplier = np.asarray(x_scale.reshape(()) * ws / y_scale.reshape(()))
    return requantize(acc, multiplier, y_zero, (y_zero if y_zero is not None else x).dtype)


def _qlinear_conv_compute(a: ConvAttrs, x: TensorArg, x_scale: TensorArg,
                          x_zero: TensorArg | None, w: TensorArg, w_scale: TensorArg,
                          w_zero: TensorArg | None, y_scale: TensorArg,
                          y_zero: TensorArg | None = None,
                          bias: TensorArg | None = None) -> Stage:
    out = (y_zero or x).dtype

    def post(acc: Expr, m: Expr) -> Expr:
        total = cp.cast(acc, DType.F64)
        if bias is not None:
            total = total + cp.cast(bias[m], DType.F64)
        mult = x_scale.scalar() * _scale(w_scale, m) / y_scale.scalar()
        return requantized(total, mult, y_zero.scalar() if y_zero is not None else None, out)
    return integer_conv_stage(a, x, w, x_zero, w_zero, post, out)


op("QLinearConv", ConvAttrs, versions=(10,), traits=("reduction", "contraction"),
   infer=_infer_qlinear_conv, reference=_qlinear_conv, compute=_qlinear_conv_compute)
