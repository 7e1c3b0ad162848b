"""Element-wise ops: unary math, binary arithmetic with numpy broadcasting, variadic Max/Min/Mean/
Sum, Clip and Where. Comparisons, logic and bit ops live in elementwise_logic.py, activations in
activation.py; the helpers here (work dtypes, rules) are shared by all three."""
from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import compute as cp
from ..compute import Stage, TensorArg, select
from ..dtype import DType
from ..kernel.expr import Expr, Math
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


def sigmoid_expr(w: Expr) -> Expr:
    """The compute form of `sigmoid`, the same two halves."""
    e = Math("exp", (-abs(w),))
    return select(w >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sign_expr(w: Expr) -> Expr:
    # zero and NaN give themselves, as np.sign does
    if not w.type.dtype.is_signed:
        return select(w > 0, cp.lift(1, w.type), 0)
    return select(w > 0, 1, select(w < 0, -1, w))


def _unary_ref(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Any, np.ndarray], np.ndarray]:
    return lambda a, x: apply(fn, x, x)


def _math(fn: str) -> Callable[[Expr], Expr]:
    return lambda w: Math(fn, (w,))


_FLOAT_UNARY: dict[str, tuple[Callable[[np.ndarray], np.ndarray], tuple[int, ...],
                              Callable[[Expr], Expr]]] = {
    "Acos": (np.arccos, (7, 22), _math("acos")), "Acosh": (np.arccosh, (9, 22), _math("acosh")),
    "Asin": (np.arcsin, (7, 22), _math("asin")), "Asinh": (np.arcsinh, (9, 22), _math("asinh")),
    "Atan": (np.arctan, (7, 22), _math("atan")), "Atanh": (np.arctanh, (9, 22), _math("atanh")),
    "Cos": (np.cos, (7, 22), _math("cos")), "Cosh": (np.cosh, (9, 22), _math("cosh")),
    "Sin": (np.sin, (7, 22), _math("sin")), "Sinh": (np.sinh, (9, 22), _math("sinh")),
    "Tan": (np.tan, (7, 22), _math("tan")), "Tanh": (np.tanh, (1, 6, 13), _math("tanh")),
    "Ceil": (np.ceil, (1, 6, 13), _math("ceil")), "Floor": (np.floor, (1, 6, 13), _math("floor")),
    # numpy rounds half to even, as ONNX asks (rint; the kernel's `round` goes away from zero)
    "Round": (np.round, (11, 22), _math("rint")),
    "Erf": (erf, (9, 13), _math("erf")), "Exp": (np.exp, (1, 6, 13), _math("exp")),
    "Log": (np.log, (1, 6, 13), _math("log")), "Sqrt": (np.sqrt, (1, 6, 13), _math("sqrt")),
    "Reciprocal": (np.reciprocal, (1, 6, 13), lambda w: 1.0 / w),
    "Sigmoid": (sigmoid, (1, 6, 13), sigmoid_expr),
}
for _name, (_fn, _versions, _expr) in _FLOAT_UNARY.items():
    op(_name, versions=_versions, traits=("elementwise",), infer=unary(),
       reference=_unary_ref(_fn), compute=cp.unary(_expr))

# Abs, Neg and Sign take integers too; numpy keeps the dtype (Abs/Neg wrap at the minimum int)
op("Abs", versions=(1, 6, 13), traits=("elementwise",),
   infer=unary(is_numeric, "a numeric tensor"), reference=_unary_ref(np.abs),
   compute=cp.unary(abs))
op("Neg", versions=(1, 6, 13), traits=("elementwise",),
   infer=unary(is_numeric, "a numeric tensor"), reference=_unary_ref(np.negative),
   compute=cp.unary(operator.neg))
op("Sign", versions=(9, 13), traits=("elementwise",),
   infer=unary(is_numeric, "a numeric tensor"), reference=_unary_ref(np.sign),
   compute=cp.unary(_sign_expr))


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


def arith(fn: Callable[..., Expr]) -> Callable[..., Stage]:
    """Compute definition of arithmetic over broadcast inputs (bools have no kernel arithmetic)."""
    def compute(a: Any, *xs: TensorArg) -> Stage:
        if xs[0].dtype is DType.BOOL:
            raise cp.NoCompute("arithmetic on bool tensors")
        return cp.elementwise(xs[0].dtype, fn, *xs)
    return compute


numeric_binary = broadcast()
op("Add", versions=(1, 6, 7, 13, 14), traits=("elementwise", "commutative"),
   infer=numeric_binary, reference=_binary_ref(np.add), compute=arith(operator.add))
op("Sub", versions=(1, 6, 7, 13, 14), traits=("elementwise",),
   infer=numeric_binary, reference=_binary_ref(np.subtract), compute=arith(operator.sub))
op("Mul", versions=(1, 6, 7, 13, 14), traits=("elementwise", "commutative"),
   infer=numeric_binary, reference=_binary_ref(np.multiply), compute=arith(operator.mul))
# the kernel's integer division truncates toward zero, as _div does
op("Div", versions=(1, 6, 7, 13, 14), traits=("elementwise",),
   infer=numeric_binary, reference=_binary_ref(_div), compute=arith(operator.truediv))


@dataclass(frozen=True)
class ModAttrs:
    fmod: int = 0


def _mod(a: ModAttrs, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # fmod=1: C fmod / truncated remainder (sign of x); fmod=0: floored remainder (sign of y),
    # whose float edge cases (Mod-28: x mod ±inf, ±0 mod y) are exactly numpy's np.mod
    if a.fmod not in (0, 1):
        raise ValueError(f"fmod must be 0 or 1, got {a.fmod}")
    return apply(np.fmod if a.fmod else np.mod, x, x, y)


def _mod_compute(a: ModAttrs, x: TensorArg, y: TensorArg) -> Stage:
    def fn(u: Expr, v: Expr) -> Expr:
        if not u.type.is_float:
            return u.rem(v) if a.fmod else u % v   # C remainder / floored remainder
        r = Math("fmod", (u, v))
        if a.fmod:
            return r
        return select(r.ne(0) & (r < 0).ne(v < 0), r + v, r)  # numpy's divmod fix-up
    return arith(fn)(a, x, y)


op("Mod", ModAttrs, versions=(10, 13, 28), traits=("elementwise",),
   infer=numeric_binary, reference=_mod, compute=_mod_compute)


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


def _pow_compute(a: Any, x: TensorArg, y: TensorArg) -> Stage:
    if not x.dtype.is_float:
        raise cp.NoCompute("integer powers wrap like repeated multiplication, not like pow()")
    return cp.elementwise(x.dtype, lambda u, v: Math("pow", (u, cp.cast(v, u.type))), x, y)


op("Pow", versions=(1, 7, 12, 13, 15), traits=("elementwise",), infer=_pow_rule, reference=_pow,
   compute=_pow_compute)


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


def _fold_compute(fn: Callable[[Expr, Expr], Expr]) -> Callable[..., Stage]:
    return lambda a, *xs: cp.elementwise(xs[0].dtype, lambda *ws: functools.reduce(fn, ws), *xs)


def _mean_expr(*ws: Expr) -> Expr:
    total = functools.reduce(operator.add, ws)
    # integers: a float64 quotient, truncated by the store's conversion (numpy's true division)
    return (total if total.type.is_float else cp.cast(total, DType.F64)) / float(len(ws))


# np.maximum/np.minimum propagate NaN, as ONNX's Max/Min do (and cp.maximum/cp.minimum)
op("Max", versions=(1, 6, 8, 12, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_fold(np.maximum), compute=_fold_compute(cp.maximum))
op("Min", versions=(1, 6, 8, 12, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_fold(np.minimum), compute=_fold_compute(cp.minimum))
op("Sum", versions=(1, 6, 8, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_fold(np.add),
   compute=arith(lambda *ws: functools.reduce(operator.add, ws)))
op("Mean", versions=(1, 6, 8, 13), traits=("elementwise", "commutative"),
   infer=_variadic_rule, reference=_mean, compute=arith(_mean_expr))


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


def _clip_compute(a: Any, x: TensorArg, lo: TensorArg | None = None,
                  hi: TensorArg | None = None) -> Stage:
    def fn(*i: Expr) -> Expr:
        w = cp.widen(x[i])
        if lo is not None:
            w = cp.maximum(w, cp.widen(lo.scalar()))
        if hi is not None:
            w = cp.minimum(w, cp.widen(hi.scalar()))
        return w
    return cp.tensor(x.shape, x.dtype, fn)


op("Clip", versions=(1, 6, 11, 12, 13), traits=("elementwise",), infer=_clip_rule,
   reference=_clip, compute=_clip_compute)


def _where_rule(c: InferCtx) -> list[Type]:
    cond, x, y = c.t(0), c.t(1), c.t(2)
    if cond.dtype is not DType.BOOL:
        raise c.error(f"condition must be bool, got {cond}")
    if x.dtype != y.dtype:
        raise c.error(f"X and Y have different dtypes: {x}, {y}")
    return [TensorType(x.dtype, broadcast_shapes(c, [cond.shape, x.shape, y.shape]))]


def _where(a: Any, cond: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.asarray(np.where(cond, x, y)).astype(x.dtype, copy=False)


op("Where", versions=(9, 16), traits=("elementwise",), infer=_where_rule, reference=_where,
   compute=lambda a, c, x, y: cp.elementwise(x.dtype, select, c, x, y))
