"""Activation functions: element-wise non-linearities, most with scalar float attributes.
Narrow floats compute in f32 and round once to the input's dtype (elementwise.apply)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import compute as cp
from ..compute import Stage, TensorArg, clip, maximum, minimum, select
from ..dtype import DType
from ..kernel.expr import Expr, Math
from ..types import Type
from .elementwise import apply, check_dtype, erf, is_numeric, sigmoid, sigmoid_expr, unary
from .registry import InferCtx, broadcast_shapes, op


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x)  # log(1 + exp(x)) without overflow for large x


def _softplus_expr(w: Expr) -> Expr:
    # numpy's logaddexp(0, w): the larger term plus log1p(exp(-|difference|))
    return select(w < 0.0, Math("log1p", (Math("exp", (w,)),)),
                  w + Math("log1p", (Math("exp", (-w,)),)))


def _expm1(w: Expr) -> Expr:
    return Math("expm1", (w,))


_float_unary = unary()
_numeric_unary = unary(is_numeric, "a numeric tensor")

op("Relu", versions=(1, 6, 13, 14), traits=("elementwise",), infer=_numeric_unary,
   reference=lambda a, x: apply(lambda w: np.maximum(w, 0), x, x),
   compute=cp.unary(lambda w: maximum(w, 0)))
op("Softplus", versions=(1, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(_softplus, x, x), compute=cp.unary(_softplus_expr))
op("Softsign", versions=(1, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w / (1 + np.abs(w)), x, x),
   compute=cp.unary(lambda w: w / (1.0 + abs(w))))
op("Mish", versions=(18, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w * np.tanh(_softplus(w)), x, x),
   compute=cp.unary(lambda w: w * Math("tanh", (_softplus_expr(w),))))
op("HardSwish", versions=(14, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w * np.clip(w / 6 + 0.5, 0, 1), x, x),
   compute=cp.unary(lambda w: w * clip(w / 6.0 + 0.5, 0.0, 1.0)))


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float = 0.01


op("LeakyRelu", LeakyReluAttrs, versions=(1, 6, 16), traits=("elementwise",),
   infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.where(w >= 0, w, w * a.alpha), x, x),
   compute=lambda a, x: cp.elementwise(x.dtype, lambda w: select(w >= 0.0, w, w * a.alpha), x))


@dataclass(frozen=True)
class EluAttrs:
    alpha: float = 1.0


op("Elu", EluAttrs, versions=(1, 6, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.where(w >= 0, w, a.alpha * np.expm1(w)), x, x),
   compute=lambda a, x: cp.elementwise(
       x.dtype, lambda w: select(w >= 0.0, w, a.alpha * _expm1(w)), x))


@dataclass(frozen=True)
class CeluAttrs:
    alpha: float = 1.0


def _celu(a: CeluAttrs, x: np.ndarray) -> np.ndarray:
    return apply(lambda w: np.maximum(w, 0) + np.minimum(0, a.alpha * np.expm1(w / a.alpha)),
                 x, x)


def _celu_expr(a: CeluAttrs, w: Expr) -> Expr:
    return maximum(w, 0.0) + minimum(a.alpha * _expm1(w / a.alpha), 0.0)


op("Celu", CeluAttrs, versions=(12, 28), traits=("elementwise",), infer=_float_unary,
   reference=_celu, compute=lambda a, x: cp.elementwise(x.dtype, lambda w: _celu_expr(a, w), x))


@dataclass(frozen=True)
class SeluAttrs:
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875


op("Selu", SeluAttrs, versions=(1, 6, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(
       lambda w: a.gamma * np.where(w > 0, w, a.alpha * np.expm1(w)), x, x),
   compute=lambda a, x: cp.elementwise(
       x.dtype, lambda w: a.gamma * select(w > 0.0, w, a.alpha * _expm1(w)), x))


@dataclass(frozen=True)
class HardSigmoidAttrs:
    alpha: float = 0.2
    beta: float = 0.5


op("HardSigmoid", HardSigmoidAttrs, versions=(1, 6, 22), traits=("elementwise",),
   infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.clip(a.alpha * w + a.beta, 0, 1), x, x),
   compute=lambda a, x: cp.elementwise(
       x.dtype, lambda w: clip(a.alpha * w + a.beta, 0.0, 1.0), x))


@dataclass(frozen=True)
class ThresholdedReluAttrs:
    alpha: float = 1.0


op("ThresholdedRelu", ThresholdedReluAttrs, versions=(10, 22), traits=("elementwise",),
   infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.where(w > a.alpha, w, 0), x, x),
   compute=lambda a, x: cp.elementwise(x.dtype, lambda w: select(w > a.alpha, w, 0.0), x))


@dataclass(frozen=True)
class ShrinkAttrs:
    bias: float = 0.0
    lambd: float = 0.5


def _shrink(a: ShrinkAttrs, x: np.ndarray) -> np.ndarray:
    # computed in f64 for integer inputs too, so that x - bias cannot wrap before the cast back
    w = x.astype(np.float64 if x.dtype.kind in "iu" else x.dtype)
    return apply(lambda v: np.where(v < -a.lambd, v + a.bias,
                                    np.where(v > a.lambd, v - a.bias, 0)), x, w)


def _shrink_compute(a: ShrinkAttrs, x: TensorArg) -> Stage:
    def fn(*i: Expr) -> Expr:
        w = cp.widen(x[i]) if x.dtype.is_float else cp.cast(x[i], DType.F64)
        return select(w < -a.lambd, w + a.bias, select(w > a.lambd, w - a.bias, 0.0))
    return cp.tensor(x.shape, x.dtype, fn)


op("Shrink", ShrinkAttrs, versions=(9,), traits=("elementwise",), infer=_numeric_unary,
   reference=_shrink, compute=_shrink_compute)


@dataclass(frozen=True)
class SwishAttrs:
    alpha: float = 1.0


op("Swish", SwishAttrs, versions=(24,), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w * sigmoid(a.alpha * w), x, x),
   compute=lambda a, x: cp.elementwise(x.dtype, lambda w: w * sigmoid_expr(a.alpha * w), x))


@dataclass(frozen=True)
class GeluAttrs:
    approximate: str = "none"


def _gelu(a: GeluAttrs, x: np.ndarray) -> np.ndarray:
    if a.approximate == "tanh":
        def fn(w: np.ndarray) -> np.ndarray:
            return 0.5 * w * (1 + np.tanh(math.sqrt(2 / math.pi) * (w + 0.044715 * w ** 3)))
    elif a.approximate == "none":
        def fn(w: np.ndarray) -> np.ndarray:
            return 0.5 * w * (1 + erf(w / math.sqrt(2)))
    else:
        raise ValueError(f"approximate must be 'none' or 'tanh', got {a.approximate!r}")
    return apply(fn, x, x)


def _gelu_rule(c: InferCtx) -> list[Type]:
    if c.attrs.approximate not in ("none", "tanh"):
        raise c.error(f"approximate must be 'none' or 'tanh', got {c.attrs.approximate!r}")
    return _float_unary(c)


def _gelu_expr(a: GeluAttrs, w: Expr) -> Expr:
    if a.approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (w + 0.044715 * cp.math("pow", w, 3.0))
        return 0.5 * w * (1.0 + Math("tanh", (inner,)))
    return 0.5 * w * (1.0 + Math("erf", (w / math.sqrt(2),)))


op("Gelu", GeluAttrs, versions=(20,), traits=("elementwise",), infer=_gelu_rule,
   reference=_gelu, compute=lambda a, x: cp.elementwise(x.dtype, lambda w: _gelu_expr(a, w), x))


def _prelu_rule(c: InferCtx) -> list[Type]:
    """Slope broadcasts to X one way: the output has X's type."""
    x = check_dtype(c, 0, is_numeric, "a numeric tensor")
    s = c.t(1)
    if s.dtype != x.dtype:
        raise c.error(f"slope has dtype {s.dtype}, X {x.dtype}")
    if s.rank > x.rank:
        raise c.error(f"slope {s} does not broadcast to X {x}")
    out = broadcast_shapes(c, [x.shape, s.shape])
    if any(isinstance(o, int) and isinstance(d, int) and o != d for o, d in zip(out, x.shape)):
        raise c.error(f"slope {s} does not broadcast to X {x}")
    return [x]


def _prelu(a: Any, x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    return apply(lambda w, s: np.where(w < 0, w * s, w), x, x, slope)


def _prelu_compute(a: Any, x: TensorArg, slope: TensorArg) -> Stage:
    return cp.tensor(x.shape, x.dtype, lambda *i: select(
        cp.widen(x[i]) < 0, cp.widen(x[i]) * cp.widen(slope.at(i)), cp.widen(x[i])))


op("PRelu", versions=(1, 6, 7, 9, 16), traits=("elementwise",), infer=_prelu_rule,
   reference=_prelu, compute=_prelu_compute)
