"""Ops that make tensors out of attributes, shapes and scalars: Constant, ConstantOfShape, Range,
EyeLike, OneHot."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import NoCompute, Stage, TensorArg, rounded, select
from ..dtype import DType
from ..kernel.expr import Expr
from ..kernel.types import ScalarType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, norm_axis, op
from .shape import check_int_operand, shape_operand

# -- Constant, ConstantOfShape ------------------------------------------------------------


@dataclass(frozen=True)
class ConstantAttrs:
    value: np.ndarray | None = None
    sparse_value: np.ndarray | None = None
    value_float: float | None = None
    value_floats: tuple[float, ...] | None = None
    value_int: int | None = None
    value_ints: tuple[int, ...] | None = None
    value_string: str | None = None
    value_strings: tuple[str, ...] | None = None


def constant_value(a: ConstantAttrs) -> np.ndarray:
    """The one value a Constant node holds, as an array."""
    given = {k: v for k, v in vars(a).items() if v is not None}
    if len(given) != 1:
        raise ValueError(f"a Constant needs exactly one value attribute, got "
                         f"{', '.join(sorted(given)) or 'none'}")
    (kind, v), = given.items()
    if kind in ("value", "sparse_value"):
        return np.asarray(v)
    if kind.startswith("value_float"):
        return np.asarray(v, dtype=np.float32)
    if kind.startswith("value_int"):
        return np.asarray(v, dtype=np.int64)
    return np.asarray(v, dtype=object)


def _constant_rule(c: InferCtx) -> list[Type]:
    try:
        value = constant_value(c.attrs)
    except ValueError as e:
        raise c.error(str(e)) from None
    return [TensorType(DType.from_np(value.dtype), tuple(value.shape))]


op("Constant", ConstantAttrs, versions=(1, 9, 11, 12, 13, 19, 21, 23, 24, 25),
   infer=_constant_rule, reference=lambda a: constant_value(a))


@dataclass(frozen=True)
class ConstantOfShapeAttrs:
    value: np.ndarray | None = None


def _fill_value(a: ConstantOfShapeAttrs) -> np.ndarray:
    return np.zeros(1, np.float32) if a.value is None else np.asarray(a.value).reshape(-1)


def _constant_of_shape_rule(c: InferCtx) -> list[Type]:
    check_int_operand(c, 0, "shape")
    if c.attrs.value is not None and np.size(c.attrs.value) != 1:
        raise c.error(f"value must hold one element, got shape {list(np.shape(c.attrs.value))}")
    dtype = DType.from_np(_fill_value(c.attrs).dtype)
    return [TensorType(dtype, shape_operand(c, 0))]


def _constant_of_shape(a: ConstantOfShapeAttrs, shape: np.ndarray) -> np.ndarray:
    fill = _fill_value(a)
    return np.full([int(d) for d in shape.reshape(-1)], fill[0], dtype=fill.dtype)


def _constant_of_shape_compute(a: ConstantOfShapeAttrs, shape: TensorArg) -> Stage:
    fill = _fill_value(a)
    dtype = DType.from_np(fill.dtype)
    if dtype.is_complex or dtype is DType.STRING:
        raise NoCompute(f"{dtype} fill")
    return cp.tensor(shape.ints("shape"), dtype, lambda *i: fill[0].item())


op("ConstantOfShape", ConstantOfShapeAttrs, versions=(9, 20, 21, 23, 24, 25),
   traits=("injective",), infer=_constant_of_shape_rule, reference=_constant_of_shape,
   compute=_constant_of_shape_compute)


# -- Range --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RangeAttrs:
    stash_type: int = 1  # ONNX's code for float: compute float16/bfloat16 ranges in float32


def _range_count(start: float | int, limit: float | int, delta: float | int) -> int:
    if delta == 0:
        raise ValueError("delta is 0")
    if isinstance(start, int) and isinstance(limit, int) and isinstance(delta, int):
        return max(-(-(limit - start) // delta), 0)
    return max(math.ceil((float(limit) - float(start)) / float(delta)), 0)


def _scalar(x: np.ndarray, stash: bool) -> float | int:
    v = x.reshape(-1)[0]
    if stash:
        v = np.float32(v)
    return int(v) if x.dtype.kind in "iu" else float(v)


def _range_rule(c: InferCtx) -> list[Type]:
    ts = [c.t(i) for i in range(3)]
    if len({t.dtype for t in ts}) != 1:
        raise c.error(f"start, limit and delta must share a dtype, got {', '.join(map(str, ts))}")
    for t, what in zip(ts, ("start", "limit", "delta")):
        if t.numel not in (1, None) or t.rank > 1:
            raise c.error(f"{what} must be a scalar, got {t}")
    values = [c.value(i) for i in range(3)]
    n: Dim = c.sym("n")
    if all(v is not None for v in values):
        try:
            n = _range_count(*(_scalar(v, False) for v in values if v is not None))
        except ValueError as e:
            raise c.error(str(e)) from None
    return [TensorType(ts[0].dtype, (n,))]


def _range(a: RangeAttrs, start: np.ndarray, limit: np.ndarray,
           delta: np.ndarray) -> np.ndarray:
    dtype = start.dtype
    low_precision = dtype in (DType.F16.np, DType.BF16.np)
    stash = low_precision and a.stash_type == 1
    s, l, d = (_scalar(x, stash) for x in (start, limit, delta))
    n = _range_count(s, l, d)
    if dtype.kind in "iu":
        return (s + np.arange(n, dtype=np.int64) * d).astype(dtype)
    work = np.dtype(np.float32) if stash else (dtype if low_precision else np.dtype(np.float64))
    steps = np.arange(n).astype(work)
    return (np.asarray(s, work) + steps * np.asarray(d, work)).astype(dtype)


def _range_compute(a: RangeAttrs, start: TensorArg, limit: TensorArg,
                   delta: TensorArg) -> Stage:
    """start + i * delta; the operands fix the length, so they must be known."""
    for t, what in ((start, "start"), (limit, "limit"), (delta, "delta")):
        if t.value is None:
            raise NoCompute(f"{what} is known only at run time")
    dtype = start.dtype
    low = dtype in (DType.F16, DType.BF16)
    stash = low and a.stash_type == 1
    s, lim, d = (_scalar(np.asarray(t.value), stash) for t in (start, limit, delta))
    n = _range_count(s, lim, d)
    if dtype.is_int:
        return cp.tensor((n,), dtype, lambda i: i * int(d) + int(s))
    work = DType.F32 if stash else (dtype if low else DType.F64)
    return cp.tensor((n,), dtype, lambda i: rounded(
        cp.widen(cp.cast(i, work)) * float(d), work) + float(s))


op("Range", RangeAttrs, versions=(11, 27), traits=("injective",), infer=_range_rule,
   reference=_range, compute=_range_compute)


# -- EyeLike, OneHot ----------------------------------------------------------------------

@dataclass(frozen=True)
class EyeLikeAttrs:
    dtype: DType | None = None  # ONNX's int code becomes a DType on import
    k: int = 0


def _eye_like_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.rank != 2:
        raise c.error(f"input must be 2-D, got {x}")
    return [TensorType(c.attrs.dtype or x.dtype, x.shape)]


def _eye_like(a: EyeLikeAttrs, x: np.ndarray) -> np.ndarray:
    dtype = a.dtype.np if a.dtype is not None else x.dtype
    return np.eye(x.shape[0], x.shape[1], a.k).astype(dtype)


def _eye_like_compute(a: EyeLikeAttrs, x: TensorArg) -> Stage:
    dtype = a.dtype or x.dtype
    one = cp.lift(1, ScalarType(dtype))
    return cp.tensor(x.shape, dtype, lambda i, j: select((j - i).eq(a.k), one, 0))


op("EyeLike", EyeLikeAttrs, versions=(9, 22), traits=("injective",), infer=_eye_like_rule,
   reference=_eye_like, compute=_eye_like_compute)


@dataclass(frozen=True)
class OneHotAttrs:
    axis: int = -1


def _one_hot_rule(c: InferCtx) -> list[Type]:
    indices, depth, values = c.t(0), c.t(1), c.t(2)
    if depth.numel not in (1, None):
        raise c.error(f"depth must be a single number, got {depth}")
    if values.rank != 1 or (isinstance(values.shape[0], int) and values.shape[0] != 2):
        raise c.error(f"values must be [off_value, on_value], got {values}")
    axis = norm_axis(c, c.attrs.axis, indices.rank + 1)
    known = c.value(1)
    n = int(np.asarray(known).reshape(-1)[0]) if known is not None else c.sym("h")
    if isinstance(n, int) and n < 1:
        raise c.error(f"depth must be positive, got {n}")
    dims = indices.shape[:axis] + (n,) + indices.shape[axis:]
    return [TensorType(values.dtype, dims)]


def _one_hot(a: OneHotAttrs, indices: np.ndarray, depth: np.ndarray,
             values: np.ndarray) -> np.ndarray:
    n = int(depth.reshape(-1)[0])
    axis = a.axis % (indices.ndim + 1)
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + n, idx)  # out-of-range stays out of range: all "off"
    classes = np.arange(n).reshape([n if k == axis else 1 for k in range(indices.ndim + 1)])
    hot = np.expand_dims(idx, axis) == classes
    return np.where(hot, values[1], values[0]).astype(values.dtype)


def _one_hot_compute(a: OneHotAttrs, indices: TensorArg, depth: TensorArg,
                     values: TensorArg) -> Stage:
    n = depth.ints("depth")[0]
    axis = a.axis % (indices.rank + 1)

    def fn(*i: Expr) -> Expr:
        idx = cp.cast(indices[i[:axis] + i[axis + 1:]], cp.INDEX)   # floats truncate
        hot = select(idx < 0, idx + n, idx).eq(i[axis])   # out of range: all "off"
        return select(hot, values[1], values[0])
    return cp.tensor(indices.shape[:axis] + (n,) + indices.shape[axis:], values.dtype, fn)


op("OneHot", OneHotAttrs, versions=(9, 11, 28), traits=("injective",), infer=_one_hot_rule,
   reference=_one_hot, compute=_one_hot_compute)
