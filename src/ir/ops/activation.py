"""Activation functions: element-wise non-linearities, most with scalar float attributes.
Narrow floats compute in f32 and round once to the input's dtype (elementwise.apply)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..types import Type
from .elementwise import apply, check_dtype, erf, is_numeric, sigmoid, unary
from .registry import InferCtx, broadcast_shapes, op


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, x)  # log(1 + exp(x)) without overflow for large x


_float_unary = unary()
_numeric_unary = unary(is_numeric, "a numeric tensor")

op("Relu", versions=(1, 6, 13, 14), traits=("elementwise",), infer=_numeric_unary,
   reference=lambda a, x: apply(lambda w: np.maximum(w, 0), x, x))
op("Softplus", versions=(1, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(_softplus, x, x))
op("Softsign", versions=(1, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w / (1 + np.abs(w)), x, x))
op("Mish", versions=(18, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w * np.tanh(_softplus(w)), x, x))
op("HardSwish", versions=(14, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w * np.clip(w / 6 + 0.5, 0, 1), x, x))


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float = 0.01


op("LeakyRelu", LeakyReluAttrs, versions=(1, 6, 16), traits=("elementwise",),
   infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.where(w >= 0, w, w * a.alpha), x, x))


@dataclass(frozen=True)
class EluAttrs:
    alpha: float = 1.0


op("Elu", EluAttrs, versions=(1, 6, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.where(w >= 0, w, a.alpha * np.expm1(w)), x, x))


@dataclass(frozen=True)
class CeluAttrs:
    alpha: float = 1.0


def _celu(a: CeluAttrs, x: np.ndarray) -> np.ndarray:
    return apply(lambda w: np.maximum(w, 0) + np.minimum(0, a.alpha * np.expm1(w / a.alpha)),
                 x, x)


op("Celu", CeluAttrs, versions=(12, 28), traits=("elementwise",), infer=_float_unary,
   reference=_celu)


@dataclass(frozen=True)
class SeluAttrs:
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875


op("Selu", SeluAttrs, versions=(1, 6, 22), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(
       lambda w: a.gamma * np.where(w > 0, w, a.alpha * np.expm1(w)), x, x))


@dataclass(frozen=True)
class HardSigmoidAttrs:
    alpha: float = 0.2
    beta: float = 0.5


op("HardSigmoid", HardSigmoidAttrs, versions=(1, 6, 22), traits=("elementwise",),
   infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.clip(a.alpha * w + a.beta, 0, 1), x, x))


@dataclass(frozen=True)
class ThresholdedReluAttrs:
    alpha: float = 1.0


op("ThresholdedRelu", ThresholdedReluAttrs, versions=(10, 22), traits=("elementwise",),
   infer=_float_unary,
   reference=lambda a, x: apply(lambda w: np.where(w > a.alpha, w, 0), x, x))


@dataclass(frozen=True)
class ShrinkAttrs:
    bias: float = 0.0
    lambd: float = 0.5


def _shrink(a: ShrinkAttrs, x: np.ndarray) -> np.ndarray:
    # computed in f64 for integer inputs too, so that x - bias cannot wrap before the cast back
    w = x.astype(np.float64 if x.dtype.kind in "iu" else x.dtype)
    return apply(lambda v: np.where(v < -a.lambd, v + a.bias,
                                    np.where(v > a.lambd, v - a.bias, 0)), x, w)


op("Shrink", ShrinkAttrs, versions=(9,), traits=("elementwise",), infer=_numeric_unary,
   reference=_shrink)


@dataclass(frozen=True)
class SwishAttrs:
    alpha: float = 1.0


op("Swish", SwishAttrs, versions=(24,), traits=("elementwise",), infer=_float_unary,
   reference=lambda a, x: apply(lambda w: w * sigmoid(a.alpha * w), x, x))


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


op("Gelu", GeluAttrs, versions=(20,), traits=("elementwise",), infer=_gelu_rule,
   reference=_gelu)


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


op("PRelu", versions=(1, 6, 7, 9, 16), traits=("elementwise",), infer=_prelu_rule,
   reference=_prelu)
