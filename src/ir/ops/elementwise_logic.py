"""Element-wise comparisons (to bool), boolean logic, bitwise ops and shifts, IsInf / IsNaN."""
from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import compute as cp
from ..compute import Stage, TensorArg, select
from ..dtype import DType
from ..kernel.expr import Const, Expr, Math
from ..kernel.types import BOOL
from ..types import TensorType, Type
from .elementwise import check_dtype, is_float, unary, work_dtype
from .registry import InferCtx, InferRule, broadcast_shapes, op


def _binary_rule(allowed: Callable[[DType], bool], what: str,
                 out: DType | None = None) -> InferRule:
    """Two inputs of one `allowed` dtype, broadcast; the result has dtype `out` or theirs."""
    def rule(c: InferCtx) -> list[Type]:
        x = check_dtype(c, 0, allowed, what)
        y = check_dtype(c, 1, allowed, what)
        if x.dtype != y.dtype:
            raise c.error(f"inputs have different dtypes: {x}, {y}")
        return [TensorType(out or x.dtype, broadcast_shapes(c, [x.shape, y.shape]))]
    return rule


def _compare(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def ref(a: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(fn(x.astype(work_dtype(x.dtype), copy=False),
                                 y.astype(work_dtype(y.dtype), copy=False))).astype(bool)
    return ref


def _to_bool(fn: Callable[..., Expr]) -> Callable[..., Stage]:
    """Compute definition of a broadcasting predicate."""
    return lambda a, *xs: cp.elementwise(DType.BOOL, fn, *xs)


def _any_dtype(d: DType) -> bool:
    return True


def _ordered(d: DType) -> bool:
    return d.is_float or d.is_int or d is DType.BOOL


def _is_bool(d: DType) -> bool:
    return d is DType.BOOL


def _is_int(d: DType) -> bool:
    return d.is_int


# Equal-19 also compares strings (object arrays): np.equal does that element by element
op("Equal", versions=(1, 7, 11, 13, 19), traits=("elementwise", "commutative"),
   infer=_binary_rule(_any_dtype, "a tensor", DType.BOOL), reference=_compare(np.equal),
   compute=_to_bool(lambda u, v: u.eq(v)))
op("Greater", versions=(1, 7, 9, 13), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL), reference=_compare(np.greater),
   compute=_to_bool(operator.gt))
op("Less", versions=(1, 7, 9, 13), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL), reference=_compare(np.less),
   compute=_to_bool(operator.lt))
op("GreaterOrEqual", versions=(12, 16), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL),
   reference=_compare(np.greater_equal), compute=_to_bool(operator.ge))
op("LessOrEqual", versions=(12, 16), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL),
   reference=_compare(np.less_equal), compute=_to_bool(operator.le))

_bool_binary = _binary_rule(_is_bool, "a bool tensor")
op("And", versions=(1, 7), traits=("elementwise", "commutative"), infer=_bool_binary,
   reference=_compare(np.logical_and), compute=_to_bool(operator.and_))
op("Or", versions=(1, 7), traits=("elementwise", "commutative"), infer=_bool_binary,
   reference=_compare(np.logical_or), compute=_to_bool(operator.or_))
op("Xor", versions=(1, 7), traits=("elementwise", "commutative"), infer=_bool_binary,
   reference=_compare(np.logical_xor), compute=_to_bool(operator.xor))
op("Not", versions=(1,), traits=("elementwise",), infer=unary(_is_bool, "a bool tensor"),
   reference=lambda a, x: np.asarray(np.logical_not(x)), compute=cp.unary(operator.invert))

_int_binary = _binary_rule(_is_int, "an integer tensor")


def _bitwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda a, x, y: np.asarray(fn(x, y)).astype(x.dtype, copy=False)


op("BitwiseAnd", versions=(18,), traits=("elementwise", "commutative"), infer=_int_binary,
   reference=_bitwise(np.bitwise_and), compute=cp.binary(operator.and_))
op("BitwiseOr", versions=(18,), traits=("elementwise", "commutative"), infer=_int_binary,
   reference=_bitwise(np.bitwise_or), compute=cp.binary(operator.or_))
op("BitwiseXor", versions=(18,), traits=("elementwise", "commutative"), infer=_int_binary,
   reference=_bitwise(np.bitwise_xor), compute=cp.binary(operator.xor))
op("BitwiseNot", versions=(18,), traits=("elementwise",),
   infer=unary(_is_int, "an integer tensor"),
   reference=lambda a, x: np.asarray(np.invert(x)), compute=cp.unary(operator.invert))


@dataclass(frozen=True)
class BitShiftAttrs:
    direction: str


def _bitshift(a: BitShiftAttrs, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BitShift-28: right shifts of signed ints are arithmetic; a shift by a negative amount or
    by the bit width or more gives what the sign fill alone gives (-1 or 0)."""
    bits = x.dtype.itemsize * 8
    wide = y.astype(np.int64) if y.dtype != np.uint64 else np.minimum(y, bits).astype(np.int64)
    in_range = (wide >= 0) & (wide < bits)
    amount = np.where(in_range, wide, 0).astype(x.dtype)
    if a.direction == "LEFT":
        out = np.where(in_range, np.left_shift(x, amount), 0)
    elif a.direction == "RIGHT":
        fill = np.where(x < 0, -1, 0) if x.dtype.kind == "i" else 0
        out = np.where(in_range, np.right_shift(x, amount), fill)
    else:
        raise ValueError(f"direction must be LEFT or RIGHT, got {a.direction!r}")
    return np.asarray(out).astype(x.dtype)


def _bitshift_rule(c: InferCtx) -> list[Type]:
    if c.attrs.direction not in ("LEFT", "RIGHT"):
        raise c.error(f"direction must be LEFT or RIGHT, got {c.attrs.direction!r}")
    return _int_binary(c)


def _bitshift_compute(a: BitShiftAttrs, x: TensorArg, y: TensorArg) -> Stage:
    bits, signed = x.dtype.bits, x.dtype.is_signed

    def fn(u: Expr, v: Expr) -> Expr:
        ok = ((v >= 0) & (v < bits)) if signed else (v < bits)
        amount = select(ok, v, 0)
        if a.direction == "LEFT":
            return select(ok, u << amount, 0)
        fill = select(u < 0, cp.lift(-1, u.type), 0) if signed else 0  # the sign, shifted out
        return select(ok, u >> amount, fill)
    return cp.elementwise(x.dtype, fn, x, y)


op("BitShift", BitShiftAttrs, versions=(11, 28), traits=("elementwise",),
   infer=_bitshift_rule, reference=_bitshift, compute=_bitshift_compute)


@dataclass(frozen=True)
class IsInfAttrs:
    detect_negative: int = 1
    detect_positive: int = 1


def _isinf(a: IsInfAttrs, x: np.ndarray) -> np.ndarray:
    w = x.astype(work_dtype(x.dtype), copy=False)
    return np.asarray((np.isposinf(w) & bool(a.detect_positive))
                      | (np.isneginf(w) & bool(a.detect_negative)))


def _bool_rule(c: InferCtx) -> list[Type]:
    return [check_dtype(c, 0, is_float, "a float tensor").with_dtype(DType.BOOL)]


def _isinf_compute(a: IsInfAttrs, x: TensorArg) -> Stage:
    def fn(w: Expr) -> Expr:
        inf = Math("isinf", (w,))
        if a.detect_positive and a.detect_negative:
            return inf
        if a.detect_positive or a.detect_negative:
            return inf & ((w > 0.0) if a.detect_positive else (w < 0.0))
        return Const(False, BOOL)
    return cp.elementwise(DType.BOOL, fn, x)


op("IsInf", IsInfAttrs, versions=(10, 20), traits=("elementwise",), infer=_bool_rule,
   reference=_isinf, compute=_isinf_compute)
op("IsNaN", versions=(9, 13, 20), traits=("elementwise",), infer=_bool_rule,
   reference=lambda a, x: np.asarray(np.isnan(x.astype(work_dtype(x.dtype), copy=False))),
   compute=_to_bool(lambda w: Math("isnan", (w,))))
