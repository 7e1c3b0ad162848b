"""Softmax, LogSoftmax and Hardmax along one axis.

Before opset 13 these ops viewed the input as a matrix [prod(dims[:axis]), prod(dims[axis:])] and
normalized each row; the ONNX frontend marks such nodes with `coerce_2d=1` (and their old default
axis 1), so both semantics live in one declaration.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import INDEX, Stage, TensorArg, reduce, reduced_index, rounded, select, widen
from ..dtype import DType
from ..kernel.expr import Const, Expr, Math
from ..types import Type
from .reduce import float_dtype_of
from .registry import InferCtx, norm_axis, op


@dataclass(frozen=True)
class SoftmaxAttrs:
    axis: int = -1
    coerce_2d: int = 0  # not an ONNX attribute: set by the adapter of versions 1 and 11


def _softmax_rule(c: InferCtx) -> list[Type]:
    t = float_dtype_of(c, 0)
    if t.rank == 0:
        raise c.error("the input must have rank >= 1")
    norm_axis(c, c.attrs.axis, t.rank)
    return [t]


def sum_in_type(x: np.ndarray, axis: int) -> np.ndarray:
    """Sum along `axis` (kept, size 1) with the result in x's type. numpy accumulates float16 in
    float32, but adds bfloat16 one rounded addition at a time, which stalls on long rows
    (1 + 1 + ... stops at 256); bfloat16 is summed pairwise instead, which is the same running sum
    for fewer than 8 terms and loses only O(log n) roundings beyond."""
    if x.dtype != DType.BF16.np:
        return np.sum(x, axis=axis, keepdims=True)
    return np.moveaxis(_pairwise_sum(np.moveaxis(x, axis, -1)), -1, axis)


def _pairwise_sum(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    if n >= 8:
        return _pairwise_sum(x[..., :n // 2]) + _pairwise_sum(x[..., n // 2:])
    total = np.zeros(x.shape[:-1] + (1,), x.dtype)
    for i in range(n):
        total = total + x[..., i:i + 1]
    return total


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max) / sum, each step rounded to x's type as in the ONNX function body; rows that
    are all -inf give NaN, as the formula does."""
    big = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        e = np.exp(x - big)
        return e / sum_in_type(e, axis)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    big = np.max(x, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shifted = x - big
        return shifted - np.log(sum_in_type(np.exp(shifted), axis))


def hardmax(x: np.ndarray, axis: int) -> np.ndarray:
    """1 at the first maximum along the axis, 0 elsewhere."""
    out = np.zeros_like(x)
    if x.size:
        first = np.expand_dims(np.argmax(x, axis=axis), axis)
        np.put_along_axis(out, first, 1, axis=axis)
    return out


def _along_axis(fn: Callable[[np.ndarray, int], np.ndarray]) -> Callable[..., np.ndarray]:
    def reference(a: SoftmaxAttrs, x: np.ndarray) -> np.ndarray:
        axis = a.axis % x.ndim
        if a.coerce_2d:
            rows = math.prod(x.shape[:axis])
            out = fn(x.reshape(rows, math.prod(x.shape[axis:])), 1).reshape(x.shape)
        else:
            out = fn(x, axis)
        return out.astype(x.dtype)
    return reference


# -- compute definitions: the row's maximum, its sum, then each element (every step rounded to
# the input's type, as the reference takes it)

def softmax_compute(kind: str) -> Callable[..., Stage]:
    def compute(a: SoftmaxAttrs, x: TensorArg) -> Stage:
        axis = a.axis % x.rank
        axes = tuple(range(axis, x.rank)) if a.coerce_2d else (axis,)
        ext = [x.shape[k] for k in axes]
        row_shape = tuple(1 if k in axes else d for k, d in enumerate(x.shape))
        dt = x.dtype

        def row(i: tuple[Expr, ...]) -> tuple[Expr, ...]:   # the row statistics of element i
            return tuple(Const(0, INDEX) if k in axes else e for k, e in enumerate(i))

        def over(how: str, fn: Callable[[Expr, tuple[Expr, ...]], Expr],
                 i: tuple[Expr, ...]) -> Expr:
            return reduce(how, ext, lambda *r: fn(x[reduced_index(x.rank, axes, True, i, r)], i))
        big = cp.tensor(row_shape, dt, lambda *i: over("max", lambda v, i: v, i))

        def shifted(v: Expr, i: tuple[Expr, ...]) -> Expr:
            return rounded(widen(v) - widen(big[row(i)]), dt)

        def exp(v: Expr, i: tuple[Expr, ...]) -> Expr:
            return rounded(Math("exp", (shifted(v, i),)), dt)
        if kind == "hardmax":   # 1 at the first maximum (or NaN) of the row
            flat = [int(np.prod(ext[k + 1:], dtype=np.int64)) for k in range(len(ext))]

            def pos(idx: Sequence[Expr]) -> Expr:
                return sum((e * s for e, s in zip(idx, flat)), Const(0, INDEX))

            def first(*i: Expr) -> Expr:
                def hit(*r: Expr) -> Expr:
                    v = x[reduced_index(x.rank, axes, True, i, r)]
                    return select(v.eq(big[i]) | Math("isnan", (v,)), pos(r), int(np.prod(ext)))
                return reduce("min", ext, hit)
            at = cp.tensor(row_shape, DType.I64, first)
            return cp.tensor(x.shape, dt, lambda *i: select(
                pos([i[k] for k in axes]).eq(at[row(i)]), cp.lift(1.0, x.type), 0.0))
        total = cp.tensor(row_shape, dt, lambda *i: over("sum", exp, i))
        if kind == "log":
            return cp.tensor(x.shape, dt, lambda *i: shifted(x[i], i) - rounded(
                Math("log", (widen(total[row(i)]),)), dt))
        return cp.tensor(x.shape, dt, lambda *i: exp(x[i], i) / widen(total[row(i)]))
    return compute


op("Softmax", SoftmaxAttrs, versions=(1, 11, 13), traits=("reduction",), infer=_softmax_rule,
   reference=_along_axis(softmax), compute=softmax_compute("softmax"))
op("LogSoftmax", SoftmaxAttrs, versions=(1, 11, 13), traits=("reduction",),
   infer=_softmax_rule, reference=_along_axis(log_softmax), compute=softmax_compute("log"))
op("Hardmax", SoftmaxAttrs, versions=(1, 11, 13), traits=("reduction",), infer=_softmax_rule,
   reference=_along_axis(hardmax), compute=softmax_compute("hardmax"))
