"""Element-wise ops: unary math, binary arithmetic with numpy broadcasting, variadic Max/Min/Mean/
Sum, Clip and Where. Comparisons, logic and bit ops live in elementwise_logic.py, activations in
activation.py; the helpers here (work dtypes, rules) are shared by all three."""
from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtype import DType
from ..types import TensorType, Type
from .registry import InferCtx, InferRule, broadcast, broadcast_shapes, op

# -- shared helpers ----------------------------------------------------------------------------


def work_dtype(dt: np.dtype) -> np.dtype:
    """The dtype an op computes in: narrow floats (f16, bf16, float8, ...) widen to f32 so that
    numpy and ml_dtypes agree and the result is rounded once, back to the input's dtype; f64,
    integers and bool compute in their own dtype."""
    if dt == np.float64 or dt.kind in "iubO":
        return dt
    if dt.kind == "f" or DType.from_np(dt).is_float:
        return np.dtype(np.float32)
    return np.dtype(np.int32)  # int4/uint4/int2/uint2 (ml_dtypes): exact in int32


def apply(fn: Callable[..., Any], like: np.ndarray, *args: np.ndarray) -> np.ndarray:
    """fn over args widened to their work dtype; the result is cast back to `like`'s dtype."""
    with np.errstate(all="ignore"):
        out = fn(*(np.asarray(a).astype(work_dtype(np.asarray(a).dtype), copy=False)
                   for a in args))
    return np.asarray(out).astype(like.dtype, copy=False)


def check_dtype(c: InferCtx, i: int, allowed: Callable[[DType], bool], what: str) -> TensorType:
    t = c.t(i)
    if not allowed(t.dtype):
        raise c.error(f"input {i} must be {what}, got {t}")
    return t


def is_float(d: DType) -> bool:
    return d.is_float


def is_numeric(d: DType) -> bool:
    return d.is_float or d.is_int


def unary(allowed: Callable[[DType], bool] = is_float, what: str = "a float tensor") -> InferRule:
    """One input, output of the same type; the input's dtype must be `allowed`."""
    def rule(c: InferCtx) -> list[Type]:
        return [check_dtype(c, 0, allowed, what)]
    return rule


def _inputs(c: InferCtx) -> list[TensorType]:
    return [c.t(i) for i in range(len(c.types)) if c.has(i)]


# -- unary math --------------------------------------------------------------------------------

def erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; math.erf is accurate to a few ulps of double precision
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x), dtype=np.float64).astype(x.dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows, so both halves are exact where they apply
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _unary_ref(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any, np.ndarray], np.ndarray]:
    return lambda a, x: apply(fn, x, x)


_FLOAT_UNARY: dict[str, tuple[Callable[[np.ndarray], np.ndarray], tuple[int, ...]]] = {
    "Acos": (np.arccos, (7, 22)), "Acosh": (np.arccosh, (9, 22)),
    "Asin": (np.arcsin, (7, 22)), "Asinh": (np.arcsinh, (9, 22)),
    "Atan": (np.arctan, (7, 22)), "Atanh": (np.arctanh, (9, 22)),
    "Cos": (np.cos, (7, 22)), "Cosh": (np.cosh, (9, 22)),
    "Sin": (np.sin, (7, 22)), "Sinh": (np.sinh, (9, 22)),
    "Tan": (np.tan, (7, 22)), "Tanh": (np.tanh, (1, 6, 13)),
    "Ceil": (np.ceil, (1, 6, 13)), "Floor": (np.floor, (1, 6, 13)),
    "Round": (np.round, (11, 22)),  # numpy rounds half to even, as ONNX asks
    "Erf": (erf, (9, 13)), "Exp": (np.exp, (1, 6, 13)), "Log": (np.log, (1, 6, 13)),
    "Sqrt": (np.sqrt, (1, 6, 13)), "Reciprocal": (np.reciprocal, (1, 6, 13)),
    "Sigmoid": (sigmoid, (1, 6, 13)),
}
for _name, (_fn, _versions) in _FLOAT_UNARY.items():
    op(_name, versions=_versions, traits=("elementwise",), infer=unary(),
       reference=_unary_ref(_fn))

# Abs, Neg and Sign take integers too; numpy keeps the dtype (Abs/Neg wrap at the minimum int)
op("Abs", versions=(1, 6, 13), traits=("elementwise",),
   infer=unary(is_numeric, "a numeric tensor"), reference=_unary_ref(np.abs))
op("Neg", versions=(1, 6, 13), traits=("elementwise",),
   infer=unary(is_numeric, "a numeric tensor"), reference=_unary_ref(np.negative))
op("Sign", versions=(9, 13), traits=("elementwise",),
   infer=unary(is_numeric, "a numeric tensor"), reference=_unary_ref(np.sign))


# -- binary arithmetic -------------------------------------------------------------------------

def _div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iu":
        return x / y
    # integers divide as in C: the quotient is truncated toward zero (numpy floors)
    q = np.floor_divide(x, y)
    if x.dtype.kind == "i":
        q = q + ((np.remainder(x, y) != 0) & ((x < 0) != (y < 0))).astype(q.dtype)
    return q


def _binary_ref(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
                ) -> Callable[[Any, np.ndarray, np.ndarray], np.ndarray]:
    return lambda a, x, y: apply(fn, x, x, y)


numeric_binary = broadcast()
op("Add", versions=(1, 6, 7, 13, 14), traits=("elementwise", "commutative"),
   infer=numeric_binary, reference=_binary_ref(np.add))
op("Sub", versions=(1, 6, 7, 13, 14), traits=("elementwise",),
   infer=numeric_binary, reference=_binary_ref(np.subtract))
op("Mul", versions=(1, 6, 7, 13, 14), traits=("elementwise", "commutative"),
   infer=numeric_binary, reference=_binary_ref(np.multiply))
op("Div", versions=(1, 6, 7, 13, 14), traits=("elementwise",),
   infer=numeric_binary, reference=_binary_ref(_div))


@dataclass(frozen=True)
class ModAttrs:
    fmod: int = 0


def _mod(a: ModAttrs, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # fmod=1: C fmod / truncated remainder (sign of x); fmod=0: floored remainder (sign of y),
    # whose float edge cases (Mod-28: x mod ±inf, ±0 mod y) are exactly numpy's np.mod
    if a.fmod not in (0, 1):
        raise ValueError(f"fmod must be 0 or 1, got {a.fmod}")
    return apply(np.fmod if a.fmod else np.mod, x, x, y)


op("Mod", ModAttrs, versions=(10, 13, 28), traits=("elementwise",),
   infer=numeric_binary, reference=_mod)


def _pow(a: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x ** y in x's dtype; the exponent may have another dtype (Pow-12+)."""
    with np.errstate(all="ignore"):
        if x.dtype.kind in "iu":
            if y.dtype.kind in "iu" and not np.any(y < 0):
                base = x.astype(np.uint64 if x.dtype.kind == "u" else np.int64)
                out = np.power(base, y.astype(base.dtype))  # exact, wrapping like C
            else:  # C's pow on doubles, then truncated to the integer type
                out = np.power(x.astype(np.float64), y.astype(np.float64))
            return out.astype(x.dtype)
        w = work_dtype(x.dtype)
        return np.power(x.astype(w), y.astype(w)).astype(x.dtype)


def _pow_rule(c: InferCtx) -> list[Type]:
    x, y = c.t(0), c.t(1)
    if not (is_numeric(x.dtype) and is_numeric(y.dtype)):
        raise c.error(f"inputs must be numeric, got {x} and {y}")
    return [TensorType(x.dtype, broadcast_shapes(c, [x.shape, y.shape]))]


op("Pow", versions=(1, 7, 12, 13, 15), traits=("elementwise",), infer=_pow_rule, reference=_pow)


# -- variadic ----------------------------------------------------------------------------------

def _variadic_rule(c: InferCtx) -> list[Type]:
    if not _inputs(c):
        raise c.error("needs at least one input")
    return broadcast()(c)


def _fold(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def ref(a: Any, *xs: np.ndarray) -> np.ndarray:
        return apply(lambda *ws: functools.reduce(fn, ws), xs[0], *xs)
    return ref


def _mean(a: Any, *xs: np.ndarray) -> np.ndarray:
    return apply(lambda *ws: functools.reduce(np.add, ws) / len(ws), xs[0], *xs)


# np.maximum/np.minimum propagate NaN, as ONNX's Max/Min do
op("Max", versions=(1, 6, 8, 12, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_fold(np.maximum))
op("Min", versions=(1, 6, 8, 12, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_fold(np.minimum))
op("Sum", versions=(1, 6, 8, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_fold(np.add))
op("Mean", versions=(1, 6, 8, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_mean)


# -- Clip, Where -------------------------------------------------------------------------------

def _clip_rule(c: InferCtx) -> list[Type]:
    x = check_dtype(c, 0, is_numeric, "a numeric tensor")
    for i in (1, 2):
        if c.has(i):
            b = c.t(i)
            if b.dtype != x.dtype:
                raise c.error(f"bound {i} has dtype {b.dtype}, the input {x.dtype}")
            if b.is_static and b.numel != 1:
                raise c.error(f"bound {i} must be a scalar, got {b}")
    return [x]


def _clip(a: Any, x: np.ndarray, lo: np.ndarray | None = None,
          hi: np.ndarray | None = None) -> np.ndarray:
    # max first, then min: when lo > hi every element becomes hi, as ONNX specifies
    def fn(w: np.ndarray, *bounds: np.ndarray) -> np.ndarray:
        it = iter(bounds)
        if lo is not None:
            w = np.maximum(w, next(it).reshape(()))
        if hi is not None:
            w = np.minimum(w, next(it).reshape(()))
        return w
    return apply(fn, x, x, *(b for b in (lo, hi) if b is not None))


op("Clip", versions=(1, 6, 11, 12, 13), traits=("elementwise",), infer=_clip_rule,
   reference=_clip)


def _where_rule(c: InferCtx) -> list[Type]:
    cond, x, y = c.t(0), c.t(1), c.t(2)
    if cond.dtype is not DType.BOOL:
        raise c.error(f"condition must be bool, got {cond}")
    if x.dtype != y.dtype:
        raise c.error(f"X and Y have different dtypes: {x}, {y}")
    return [TensorType(x.dtype, broadcast_shapes(c, [cond.shape, x.shape, y.shape]))]


def _where(a: Any, cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(np.where(cond, x, y)).astype(x.dtype, copy=False)


op("Where", versions=(9, 16), traits=("elementwise",), infer=_where_rule, reference=_where)
