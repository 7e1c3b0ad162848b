"""Indexed reads and writes: Gather, GatherElements, GatherND, Scatter (the deprecated name of
ScatterElements), ScatterElements, ScatterND and TensorScatter (KV-cache updates).

Negative indices count from the end of their axis and are normalized; an index outside
[-size, size - 1] is an error naming the index and the axis size (at compile time when the
indices are known then, else when the node runs).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import Stage, TensorArg, select
from ..dtype import DType
from ..kernel.expr import Expr
from ..types import Dim, TensorType, Type
from .registry import InferCtx, norm_axis, op

INDEX_DTYPES = (DType.I64, DType.I32)


def normalize_indices(indices: np.ndarray, size: int | np.ndarray, what: str = "") -> np.ndarray:
    """Indices into an axis of `size` (an array: one size per last-axis component) with negative
    ones counted from the end; raises IndexError for any outside [-size, size - 1]."""
    idx = indices.astype(np.int64, copy=False)
    bad = (idx < -size) | (idx >= size)
    if np.any(bad):
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        n = int(np.broadcast_to(size, idx.shape)[where])
        raise IndexError(f"{what}index {int(idx[where])} (at {list(where)}) is out of range for "
                         f"an axis of size {n}: valid indices are {-n} to {n - 1}")
    return np.where(idx < 0, idx + size, idx)


def _check_known_indices(c: InferCtx, i: int, sizes: Sequence[Dim]) -> None:
    """Range-check indices known at compile time against the static axis sizes they index."""
    v = c.value(i)
    static = [s for s in sizes if isinstance(s, int)]
    if v is None or not sizes or len(static) != len(sizes):
        return
    size = static[0] if len(static) == 1 else np.array(static, dtype=np.int64)
    try:
        normalize_indices(np.asarray(v), size)
    except IndexError as e:
        raise c.error(str(e)) from None


def _may_equal(a: Sequence[Dim], b: Sequence[Dim]) -> bool:
    """Whether two shapes can be equal: same rank, no two different static dims."""
    return len(a) == len(b) and all(not (isinstance(x, int) and isinstance(y, int) and x != y)
                                    for x, y in zip(a, b))


def _index_operand(c: InferCtx, i: int) -> TensorType:
    t = c.t(i)
    if t.dtype not in INDEX_DTYPES:
        raise c.error(f"indices must be int64 or int32, got {t}")
    return t


def _along_axis(indices: np.ndarray, normalized: np.ndarray,
                axis: int) -> tuple[np.ndarray, ...]:
    """A fancy index that picks, at each position of `indices`, entry normalized[pos] of `axis`
    and the position itself on every other axis (what GatherElements and ScatterElements do)."""
    grid: list[np.ndarray] = list(np.indices(indices.shape, sparse=True))
    grid[axis] = normalized
    return tuple(np.broadcast_arrays(*grid))


def index_into(e: Expr, n: int) -> Expr:
    """A runtime index into an axis of size n, negative ones counted from the end; clamped into
    range so that a bad index reads a wrong element, never outside the buffer (the reference
    raises)."""
    j = cp.index_expr(e)
    return select(j < 0, j + n, j).max(0).min(n - 1)


# -- Gather, GatherElements, GatherND -----------------------------------------------------

@dataclass(frozen=True)
class AxisAttrs:
    axis: int = 0


def _gather_rule(c: InferCtx) -> list[Type]:
    data, indices = c.t(0), _index_operand(c, 1)
    if data.rank < 1:
        raise c.error(f"data must have rank 1 or more, got {data}")
    axis = norm_axis(c, c.attrs.axis, data.rank)
    _check_known_indices(c, 1, [data.shape[axis]])
    return [data.with_shape(data.shape[:axis] + indices.shape + data.shape[axis + 1:])]


def _gather(a: AxisAttrs, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    axis = a.axis % data.ndim
    # np.take gives a numpy scalar, not a 0-d array, for a scalar index into 1-D data
    return np.asarray(np.take(data, normalize_indices(indices, data.shape[axis]), axis=axis))


def _gather_compute(a: AxisAttrs, data: TensorArg, indices: TensorArg) -> Stage:
    axis, q = a.axis % data.rank, indices.rank
    shape = data.shape[:axis] + indices.shape + data.shape[axis + 1:]
    return cp.tensor(shape, data.dtype, lambda *i: data[
        i[:axis] + (index_into(indices[i[axis:axis + q]], data.shape[axis]),) + i[axis + q:]])


op("Gather", AxisAttrs, versions=(1, 11, 13), traits=("injective",),
   infer=_gather_rule, reference=_gather, compute=_gather_compute)


def _gather_elements_rule(c: InferCtx) -> list[Type]:
    data, indices = c.t(0), _index_operand(c, 1)
    if data.rank < 1 or indices.rank != data.rank:
        raise c.error(f"data and indices must have the same rank (1 or more), got {data}, "
                      f"{indices}")
    axis = norm_axis(c, c.attrs.axis, data.rank)
    _check_known_indices(c, 1, [data.shape[axis]])
    return [data.with_shape(indices.shape)]


def _gather_elements(a: AxisAttrs, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    axis = a.axis % data.ndim
    return data[_along_axis(indices, normalize_indices(indices, data.shape[axis]), axis)]


def _gather_elements_compute(a: AxisAttrs, data: TensorArg, indices: TensorArg) -> Stage:
    axis = a.axis % data.rank
    return cp.tensor(indices.shape, data.dtype, lambda *i: data[
        i[:axis] + (index_into(indices[i], data.shape[axis]),) + i[axis + 1:]])


op("GatherElements", AxisAttrs, versions=(11, 13), traits=("injective",),
   infer=_gather_elements_rule, reference=_gather_elements, compute=_gather_elements_compute)


@dataclass(frozen=True)
class GatherNDAttrs:
    batch_dims: int = 0


def _nd_index_depth(c: InferCtx, data: TensorType, indices: TensorType, batch: int) -> int:
    """k, the length of each index tuple (the last dim of indices), checked against the ranks."""
    if indices.rank < 1 or not isinstance(indices.shape[-1], int):
        raise c.error(f"indices must have a static last dimension, got {indices}")
    k = indices.shape[-1]
    if not 0 <= batch < min(data.rank, indices.rank):
        raise c.error(f"batch_dims {batch} must be less than the ranks of {data} and {indices}")
    if not 1 <= k <= data.rank - batch:
        raise c.error(f"index tuples of length {k} do not fit {data} with batch_dims {batch}")
    for d, e in zip(data.shape[:batch], indices.shape[:batch]):
        if isinstance(d, int) and isinstance(e, int) and d != e:
            raise c.error(f"the first {batch} dims of {data} and {indices} must agree")
    return k


def _gather_nd_rule(c: InferCtx) -> list[Type]:
    data, indices = c.t(0), _index_operand(c, 1)
    b = c.attrs.batch_dims
    k = _nd_index_depth(c, data, indices, b)
    _check_known_indices(c, 1, data.shape[b:b + k])
    return [data.with_shape(indices.shape[:-1] + data.shape[b + k:])]


def _gather_nd(a: GatherNDAttrs, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    b, k = a.batch_dims, indices.shape[-1]
    n_batch = math.prod(data.shape[:b])
    n_tuples = math.prod(indices.shape[b:-1])
    flat_data = data.reshape((n_batch,) + data.shape[b:])
    tuples = normalize_indices(indices.reshape(n_batch, n_tuples, k),
                               np.array(data.shape[b:b + k], dtype=np.int64))
    picked = flat_data[(np.arange(n_batch)[:, None], *np.moveaxis(tuples, -1, 0))]
    return picked.reshape(indices.shape[:-1] + data.shape[b + k:])


def _gather_nd_compute(a: GatherNDAttrs, data: TensorArg, indices: TensorArg) -> Stage:
    b, k, q = a.batch_dims, indices.shape[-1], indices.rank - 1
    shape = indices.shape[:-1] + data.shape[b + k:]

    def fn(*i: Expr) -> Expr:
        picked = tuple(index_into(indices[i[:q] + (j,)], data.shape[b + j]) for j in range(k))
        return data[i[:b] + picked + i[q:]]
    return cp.tensor(shape, data.dtype, fn)


op("GatherND", GatherNDAttrs, versions=(11, 12, 13), traits=("injective",),
   infer=_gather_nd_rule, reference=_gather_nd, compute=_gather_nd_compute)


# -- Scatter, ScatterElements, ScatterND --------------------------------------------------

@dataclass(frozen=True)
class ScatterAttrs:
    axis: int = 0
    reduction: str = "none"


REDUCTIONS: dict[str, np.ufunc | None] = {"none": None, "add": np.add, "mul": np.multiply,
                                          "max": np.maximum, "min": np.minimum}


def _check_reduction(c: InferCtx) -> None:
    if getattr(c.attrs, "reduction", "none") not in REDUCTIONS:
        raise c.error(f"reduction must be one of {', '.join(REDUCTIONS)}, got "
                      f"'{c.attrs.reduction}'")


def _scatter_into(out: np.ndarray, index: tuple[np.ndarray, ...], updates: np.ndarray,
                  reduction: str) -> np.ndarray:
    """out[index] = updates, or combined with `reduction`; repeated positions apply in order."""
    ufunc = REDUCTIONS[reduction]
    if ufunc is None:
        out[index] = updates
        return out
    ufunc.at(out, index, updates)
    return out


def _scatter_elements_rule(c: InferCtx) -> list[Type]:
    data, indices, updates = c.t(0), _index_operand(c, 1), c.t(2)
    _check_reduction(c)
    if indices.rank != data.rank or not _may_equal(updates.shape, indices.shape):
        raise c.error(f"indices and updates must have one shape and data's rank; got {data}, "
                      f"{indices}, {updates}")
    if updates.dtype != data.dtype:
        raise c.error(f"updates {updates} must have the data's dtype {data.dtype}")
    axis = norm_axis(c, c.attrs.axis, data.rank)
    _check_known_indices(c, 1, [data.shape[axis]])
    return [data]


def _scatter_elements(a: ScatterAttrs, data: np.ndarray, indices: np.ndarray,
                      updates: np.ndarray) -> np.ndarray:
    axis = a.axis % data.ndim
    index = _along_axis(indices, normalize_indices(indices, data.shape[axis]), axis)
    return _scatter_into(data.copy(), index, updates, a.reduction)


op("ScatterElements", ScatterAttrs, versions=(11, 13, 16, 18), traits=("injective",),
   infer=_scatter_elements_rule, reference=_scatter_elements)


@dataclass(frozen=True)
class ScatterV9Attrs:
    axis: int = 0


op("Scatter", ScatterV9Attrs, versions=(9, 11), traits=("injective",),
   infer=_scatter_elements_rule,
   reference=lambda a, data, indices, updates: _scatter_elements(
       ScatterAttrs(a.axis), data, indices, updates))


@dataclass(frozen=True)
class ScatterNDAttrs:
    reduction: str = "none"


def _scatter_nd_rule(c: InferCtx) -> list[Type]:
    data, indices, updates = c.t(0), _index_operand(c, 1), c.t(2)
    _check_reduction(c)
    k = _nd_index_depth(c, data, indices, 0)
    want = indices.shape[:-1] + data.shape[k:]
    if not _may_equal(updates.shape, want):
        raise c.error(f"updates must have shape [{', '.join(map(str, want))}], got {updates}")
    if updates.dtype != data.dtype:
        raise c.error(f"updates {updates} must have the data's dtype {data.dtype}")
    _check_known_indices(c, 1, data.shape[:k])
    return [data]


def _scatter_nd(a: ScatterNDAttrs, data: np.ndarray, indices: np.ndarray,
                updates: np.ndarray) -> np.ndarray:
    k = indices.shape[-1]
    tuples = normalize_indices(indices.reshape(-1, k), np.array(data.shape[:k], dtype=np.int64))
    flat_updates = updates.reshape((tuples.shape[0],) + data.shape[k:])
    return _scatter_into(data.copy(), tuple(tuples.T), flat_updates, a.reduction)


op("ScatterND", ScatterNDAttrs, versions=(11, 13, 16, 18), traits=("injective",),
   infer=_scatter_nd_rule, reference=_scatter_nd)


# -- TensorScatter ------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorScatterAttrs:
    axis: int = -2
    mode: str = "linear"


def _tensor_scatter_rule(c: InferCtx) -> list[Type]:
    past, update = c.t(0), c.t(1)
    if c.attrs.mode not in ("linear", "circular"):
        raise c.error(f"mode must be linear or circular, got '{c.attrs.mode}'")
    if past.dtype != update.dtype or past.rank != update.rank:
        raise c.error(f"past_cache {past} and update {update} must have one dtype and rank")
    axis = norm_axis(c, c.attrs.axis, past.rank)
    if axis == 0:
        raise c.error("axis must not be the batch axis 0")
    for k, (p, u) in enumerate(zip(past.shape, update.shape)):
        if isinstance(p, int) and isinstance(u, int) and (p < u if k == axis else p != u):
            raise c.error(f"update {update} does not fit past_cache {past} (axis {axis})")
    if c.has(2):
        w = _index_operand(c, 2)
        if w.rank != 1:
            raise c.error(f"write_indices must be 1-D (one per batch entry), got {w}")
    return [past]


def _tensor_scatter(a: TensorScatterAttrs, past: np.ndarray, update: np.ndarray,
                    write_indices: np.ndarray | None = None) -> np.ndarray:
    axis = a.axis % past.ndim
    out = past.copy()
    capacity, length = past.shape[axis], update.shape[axis]
    starts = write_indices.reshape(-1).tolist() if write_indices is not None \
        else [0] * past.shape[0]
    for b, start in enumerate(starts):
        positions = start + np.arange(length)
        if a.mode == "circular":
            positions %= capacity
        elif length and (start < 0 or positions[-1] >= capacity):
            raise IndexError(f"batch entry {b}: writing {length} entries at {start} overruns "
                             f"the cache's {capacity} (mode linear)")
        # Index the cache axis first: a fancy index after a slice would move its dims ahead.
        np.moveaxis(out[b], axis - 1, 0)[positions] = np.moveaxis(update[b], axis - 1, 0)
    return out


def _tensor_scatter_compute(a: TensorScatterAttrs, past: TensorArg, update: TensorArg,
                            write_indices: TensorArg | None = None) -> Stage:
    """The gather form: position p of batch entry b holds update[p - start_b] where that is one
    of the update's (modulo the capacity in circular mode), else the past value."""
    axis = a.axis % past.rank
    capacity, length = past.shape[axis], update.shape[axis]

    def fn(*i: Expr) -> Expr:
        rel = i[axis] if write_indices is None else i[axis] - cp.index_expr(write_indices[i[0]])
        if a.mode == "circular":
            rel = rel % capacity
        ok = (rel >= 0) & (rel < length)
        new = update[i[:axis] + (rel.max(0).min(length - 1),) + i[axis + 1:]]
        return select(ok, new, past[i]) if length else past[i]
    return cp.tensor(past.shape, past.dtype, fn)


op("TensorScatter", TensorScatterAttrs, versions=(24,), traits=("injective",),
   infer=_tensor_scatter_rule, reference=_tensor_scatter, compute=_tensor_scatter_compute)
