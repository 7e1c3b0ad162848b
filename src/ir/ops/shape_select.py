"""Ops whose output size depends on the data: Compress, NonZero, Unique. Their sizes are static
when the input values are known at compile time, fresh symbols otherwise."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, norm_axis, op

# -- Compress -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompressAttrs:
    axis: int | None = None


def _compress_rule(c: InferCtx) -> list[Type]:
    x, cond = c.t(0), c.t(1)
    if cond.rank != 1 or cond.dtype is not DType.BOOL:
        raise c.error(f"condition must be a 1-D bool tensor, got {cond}")
    axis = None if c.attrs.axis is None else norm_axis(c, c.attrs.axis, x.rank)
    dim = x.numel if axis is None else x.shape[axis]
    known = c.value(1)
    kept: Dim = c.sym("k")
    if known is not None:
        kept = int(np.count_nonzero(known))
        if isinstance(dim, int) and np.any(np.asarray(known)[dim:]):
            raise c.error(f"condition selects entries past the {dim} of the axis")
    if axis is None:
        return [x.with_shape((kept,))]
    return [x.with_shape(x.shape[:axis] + (kept,) + x.shape[axis + 1:])]


def _compress(a: CompressAttrs, x: np.ndarray, condition: np.ndarray) -> np.ndarray:
    data = x.reshape(-1) if a.axis is None else x
    axis = 0 if a.axis is None else a.axis % x.ndim
    if np.any(condition[data.shape[axis]:]):
        raise IndexError(f"condition selects entry {int(np.flatnonzero(condition)[-1])} of an "
                         f"axis of size {data.shape[axis]}")
    return np.compress(condition[:data.shape[axis]], data, axis=axis)


op("Compress", CompressAttrs, versions=(9, 11, 28), infer=_compress_rule, reference=_compress)


# -- NonZero ------------------------------------------------------------------------------

def _nonzero_positions(x: np.ndarray) -> np.ndarray:
    if x.ndim == 0:  # numpy no longer takes 0-d arrays; a scalar has no coordinates
        return np.zeros((0, int(bool(x))), dtype=np.int64)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


def _nonzero_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    known = c.value(0)
    n: Dim = c.sym("nz") if known is None else int(np.count_nonzero(known))
    return [TensorType(DType.I64, (x.rank, n))]


op("NonZero", versions=(9, 13), infer=_nonzero_rule,
   reference=lambda a, x: _nonzero_positions(x))


# -- Unique -------------------------------------------------------------------------------

@dataclass(frozen=True)
class UniqueAttrs:
    axis: int | None = None
    sorted: int = 1


def _unique(a: UniqueAttrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(unique values or slices, index of each one's first occurrence, which unique entry each
    input entry is, how often each occurs); in first-occurrence order unless `sorted`."""
    data, axis = (x.reshape(-1), 0) if a.axis is None else (x, a.axis % x.ndim)
    values, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                               return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not a.sorted:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values, first, counts, inverse = (np.take(values, order, axis=axis), first[order],
                                          counts[order], rank[inverse])
    return (values.astype(x.dtype, copy=False), first.astype(np.int64),
            inverse.astype(np.int64), counts.astype(np.int64))


def _unique_rule(c: InferCtx) -> list[Type]:
    x = c.t(0)
    known = c.value(0)
    n: Dim = c.sym("u") if known is None else len(_unique(c.attrs, np.asarray(known))[1])
    if c.attrs.axis is None:
        per_entry = x.numel if x.numel is not None else c.sym("n")
        values = x.with_shape((n,))
    else:
        axis = norm_axis(c, c.attrs.axis, x.rank)
        per_entry = x.shape[axis]
        values = x.with_shape(x.shape[:axis] + (n,) + x.shape[axis + 1:])
    i64 = DType.I64
    return [values, TensorType(i64, (n,)), TensorType(i64, (per_entry,)), TensorType(i64, (n,))]


op("Unique", UniqueAttrs, versions=(11, 28), infer=_unique_rule, reference=_unique)
