"""Element-wise comparisons (to bool), boolean logic, bitwise ops and shifts, IsInf / IsNaN."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtype import DType
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
   infer=_binary_rule(_any_dtype, "a tensor", DType.BOOL), reference=_compare(np.equal))
op("Greater", versions=(1, 7, 9, 13), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL), reference=_compare(np.greater))
op("Less", versions=(1, 7, 9, 13), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL), reference=_compare(np.less))
op("GreaterOrEqual", versions=(12, 16), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL),
   reference=_compare(np.greater_equal))
op("LessOrEqual", versions=(12, 16), traits=("elementwise",),
   infer=_binary_rule(_ordered, "a numeric tensor", DType.BOOL),
   reference=_compare(np.less_equal))

_bool_binary = _binary_rule(_is_bool, "a bool tensor")
op("And", versions=(1, 7), traits=("elementwise", "commutative"), infer=_bool_binary,
   reference=_compare(np.logical_and))
op("Or", versions=(1, 7), traits=("elementwise", "commutative"), infer=_bool_binary,
   reference=_compare(np.logical_or))
op("Xor", versions=(1, 7), traits=("elementwise", "commutative"), infer=_bool_binary,
   reference=_compare(np.logical_xor))
op("Not", versions=(1,), traits=("elementwise",), infer=unary(_is_bool, "a bool tensor"),
   reference=lambda a, x: np.asarray(np.logical_not(x)))

_int_binary = _binary_rule(_is_int, "an integer tensor")


def _bitwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda a, x, y: np.asarray(fn(x, y)).astype(x.dtype, copy=False)


op("BitwiseAnd", versions=(18,), traits=("elementwise", "commutative"), infer=_int_binary,
   reference=_bitwise(np.bitwise_and))
op("BitwiseOr", versions=(18,), traits=("elementwise", "commutative"), infer=_int_binary,
   reference=_bitwise(np.bitwise_or))
op("BitwiseXor", versions=(18,), traits=("elementwise", "commutative"), infer=_int_binary,
   reference=_bitwise(np.bitwise_xor))
op("BitwiseNot", versions=(18,), traits=("elementwise",),
   infer=unary(_is_int, "an integer tensor"),
   reference=lambda a, x: np.asarray(np.invert(x)))


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


op("BitShift", BitShiftAttrs, versions=(11, 28), traits=("elementwise",),
   infer=_bitshift_rule, reference=_bitshift)


@dataclass(frozen=True)
class IsInfAttrs:
    detect_negative: int = 1
    detect_positive: int = 1


def _isinf(a: IsInfAttrs, x: np.ndarray) -> np.ndarray:
    w = x.astype(work_dtype(x.dtype), copy=False)
    return np.asarray((np.isposinf(w) & bool(a.detect_positive))
                      | (np.isneginf(w) & bool(a.detect_negative)))


def _to_bool(c: InferCtx) -> list[Type]:
    return [check_dtype(c, 0, is_float, "a float tensor").with_dtype(DType.BOOL)]


op("IsInf", IsInfAttrs, versions=(10, 20), traits=("elementwise",), infer=_to_bool,
   reference=_isinf)
op("IsNaN", versions=(9, 13, 20), traits=("elementwise",), infer=_to_bool,
   reference=lambda a, x: np.asarray(np.isnan(x.astype(work_dtype(x.dtype), copy=False))))
