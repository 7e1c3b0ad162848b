"""Pooling: AveragePool, MaxPool (with its Indices output), LpPool, their Global forms and
MaxUnpool, N-d. Every windowed pool reads the same strided window view as Conv (nn_window), so
auto_pad, ceil_mode and dilations mean the same thing everywhere.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import INDEX, Stage, TensorArg, offset, reduce, scale, select, widen
from ..dtype import DType
from ..kernel.expr import Const, Expr, Math
from ..kernel.types import ScalarType
from ..types import Dim, Type
from .nn_window import Geometry, geometry, is_float, out_dims, resolve, window_index, windows
from .registry import InferCtx, RefCtx, as_ints, op

FLOATS = (DType.F16, DType.F32, DType.F64, DType.BF16)


@dataclass(frozen=True)
class AveragePoolAttrs:
    auto_pad: str = "NOTSET"
    ceil_mode: int = 0
    count_include_pad: int = 0
    dilations: tuple[int, ...] = ()
    kernel_shape: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


@dataclass(frozen=True)
class MaxPoolAttrs:
    auto_pad: str = "NOTSET"
    ceil_mode: int = 0
    dilations: tuple[int, ...] = ()
    kernel_shape: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    storage_order: int = 0
    strides: tuple[int, ...] = ()


@dataclass(frozen=True)
class LpPoolAttrs:
    auto_pad: str = "NOTSET"
    ceil_mode: int = 0
    dilations: tuple[int, ...] = ()
    kernel_shape: tuple[int, ...] = ()
    p: int = 2
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


PoolAttrs = AveragePoolAttrs | MaxPoolAttrs | LpPoolAttrs


def pool_geometry(c: InferCtx | None, a: PoolAttrs, rank: int) -> Geometry:
    if len(a.kernel_shape) != rank:
        message = f"kernel_shape {list(a.kernel_shape)} does not fit {rank} spatial dims"
        raise c.error(message) if c is not None else ValueError(message)
    return geometry(c, a.kernel_shape, a.strides, a.dilations, a.pads, a.auto_pad, a.ceil_mode)


def pool_rule(dtypes: Sequence[DType], with_indices: bool = False):  # noqa: ANN201
    def rule(c: InferCtx) -> list[Type]:
        x = c.t(0)
        if x.dtype not in dtypes:
            raise c.error(f"{c.op} does not take {x}")
        if x.rank < 3:
            raise c.error(f"{c.op} takes (N, C, *spatial), got {x}")
        g = pool_geometry(c, c.attrs, x.rank - 2)
        y = x.with_shape(x.shape[:2] + out_dims(c, g, x.shape[2:]))
        return [y, y.with_dtype(DType.I64)] if with_indices else [y]
    return rule


def window_counts(g: Geometry, sizes: Sequence[int], outs: Sequence[int], begins: Sequence[int],
                  ends: Sequence[int], include_pad: bool) -> np.ndarray:
    """How many taps of each window read the input (with include_pad: the input or its pads;
    taps past the end pad, which only ceil_mode makes, never count), shaped (*outs)."""
    count = np.ones((), dtype=np.float64)
    for i, (size, out, begin, end) in enumerate(zip(sizes, outs, begins, ends)):
        lo, hi = (-begin, size + end) if include_pad else (0, size)
        start = np.arange(out) * g.strides[i] - begin
        taps = start[:, None] + np.arange(g.kernel[i])[None, :] * g.dilations[i]
        count = np.multiply.outer(count, ((taps >= lo) & (taps < hi)).sum(axis=1))
    return count


def _spatial_axes(rank: int, lead: int = 2) -> tuple[int, ...]:
    return tuple(range(lead + rank, lead + 2 * rank))


def _accumulate(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)


def _average_pool(a: AveragePoolAttrs, x: np.ndarray) -> np.ndarray:
    rank = x.ndim - 2
    g = pool_geometry(None, a, rank)
    outs, begins, ends = resolve(g, x.shape[2:])
    view = windows(_accumulate(x), g, outs, begins, ends, 0)
    total = view.sum(axis=_spatial_axes(rank))
    count = window_counts(g, x.shape[2:], outs, begins, ends, bool(a.count_include_pad))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(x.dtype)


def _lp_pool(a: LpPoolAttrs, x: np.ndarray) -> np.ndarray:
    rank = x.ndim - 2
    g = pool_geometry(None, a, rank)
    outs, begins, ends = resolve(g, x.shape[2:])
    view = windows(np.abs(_accumulate(x)), g, outs, begins, ends, 0)
    p = float(a.p)
    return (np.power(view, p).sum(axis=_spatial_axes(rank)) ** (1.0 / p)).astype(x.dtype)


def lowest(dtype: np.dtype) -> object:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _max_pool(a: MaxPoolAttrs, x: np.ndarray, ctx: RefCtx) -> tuple[np.ndarray, ...]:
    rank = x.ndim - 2
    g = pool_geometry(None, a, rank)
    sizes = x.shape[2:]
    outs, begins, ends = resolve(g, sizes)
    data = _accumulate(x) if is_float(x.dtype) else x
    view = windows(data, g, outs, begins, ends, lowest(data.dtype))
    wants_indices = ctx.num_outputs > 1
    if not wants_indices:
        return (view.max(axis=_spatial_axes(rank)).astype(x.dtype),)
    n, ch = x.shape[:2]
    flat = view.reshape((n, ch) + tuple(outs) + (-1,))
    tap = flat.argmax(axis=-1)                       # first maximum in row-major tap order
    y = np.take_along_axis(flat, tap[..., None], axis=-1)[..., 0].astype(x.dtype)
    taps = np.unravel_index(tap, g.kernel)
    index = np.zeros(tap.shape, dtype=np.int64)
    stride = 1
    axes = range(rank) if a.storage_order else reversed(range(rank))   # fastest axis first
    for i in axes:
        shape = [1] * (2 + rank)
        shape[2 + i] = outs[i]
        start = (np.arange(outs[i]) * g.strides[i] - begins[i]).reshape(shape)
        index += (start + taps[i] * g.dilations[i]) * stride
        stride *= sizes[i]
    plane = np.arange(n * ch, dtype=np.int64).reshape((n, ch) + (1,) * rank)
    return y, index + plane * int(np.prod(sizes, dtype=np.int64))


# -- compute definitions: a reduction over each window's taps, reading outside x as `fill`

def _pool_plan(a: PoolAttrs, x: TensorArg) -> tuple[Geometry, list[int], list[int], list[int]]:
    g = pool_geometry(None, a, x.rank - 2)
    return (g, *resolve(g, x.shape[2:]))


def _window(x: TensorArg, g: Geometry, begins: Sequence[int], how: str, fill: float | int,
            fn: Callable[[Expr], Expr], n: Expr, c: Expr, o: Sequence[Expr]) -> Expr:
    return reduce(how, g.kernel, lambda *k: fn(
        widen(x.padded((n, c) + window_index(g, begins, o, k), fill))))


def _tap_count(g: Geometry, sizes: Sequence[int], outs: Sequence[int], begins: Sequence[int],
               ends: Sequence[int], include_pad: bool, o: Sequence[Expr], t: ScalarType) -> Expr:
    """How many taps of the window at o count (window_counts' rule): per axis a constant where
    every window has all its taps inside, else a small reduction over the axis's taps."""
    fixed, count = 1.0, None
    for i, (size, out, begin, end) in enumerate(zip(sizes, outs, begins, ends)):
        lo, hi = (-begin, size + end) if include_pad else (0, size)
        if lo <= -begin and (out - 1) * g.strides[i] - begin + g.extent(i) <= hi:
            fixed *= g.kernel[i]
            continue

        def valid(k: Expr, i: int = i, lo: int = lo, hi: int = hi) -> Expr:
            p = offset(scale(o[i], g.strides[i]) + scale(k, g.dilations[i]), -begins[i])
            return select((p >= lo) & (p < hi), Const(1.0, t), 0.0)
        part = reduce("sum", g.kernel[i], valid)
        count = part if count is None else count * part
    if count is None:
        return Const(fixed, t)
    return count if fixed == 1.0 else count * fixed


def _average_pool_compute(a: AveragePoolAttrs, x: TensorArg) -> Stage:
    g, outs, begins, ends = _pool_plan(a, x)

    def fn(n: Expr, c: Expr, *o: Expr) -> Expr:
        total = _window(x, g, begins, "sum", 0.0, lambda v: v, n, c, o)
        return total / _tap_count(g, x.shape[2:], outs, begins, ends, bool(a.count_include_pad),
                                  o, total.type)
    return cp.tensor(x.shape[:2] + tuple(outs), x.dtype, fn)


def lowest_value(dtype: DType) -> float | int:
    return -np.inf if dtype.is_float else int(np.iinfo(dtype.np).min)


def _max_pool_compute(a: MaxPoolAttrs, x: TensorArg) -> tuple[Stage, Stage]:
    """The window maxima, then (for the Indices output) the flat input position of the first
    tap holding each one, counted over (N, C, *spatial) as the reference does."""
    g, outs, begins, _ = _pool_plan(a, x)
    low, shape = lowest_value(x.dtype), x.shape[:2] + tuple(outs)
    y = cp.tensor(shape, x.dtype, lambda n, c, *o: _window(
        x, g, begins, "max", low, lambda v: v, n, c, o))
    taps = int(np.prod(g.kernel))
    tap_strides = [int(np.prod(g.kernel[i + 1:])) for i in range(g.rank)]

    def first_tap(n: Expr, c: Expr, *o: Expr) -> Expr:
        def hit(*k: Expr) -> Expr:
            v = x.padded((n, c) + window_index(g, begins, o, k), low)
            same = v.eq(y[(n, c) + o])
            flat = sum((scale(ki, s) for ki, s in zip(k, tap_strides)), Const(0, INDEX))
            return select(same | Math("isnan", (v,)) if x.dtype.is_float else same, flat, taps)
        return reduce("min", g.kernel, hit)
    tap = cp.tensor(shape, DType.I64, first_tap)
    sizes = x.shape[2:]
    order = range(g.rank) if a.storage_order else reversed(range(g.rank))   # fastest axis first
    strides, step = [0] * g.rank, 1
    for i in order:
        strides[i], step = step, step * sizes[i]

    def index(n: Expr, c: Expr, *o: Expr) -> Expr:
        t = tap[(n, c) + o]
        k = [t // s % kk for s, kk in zip(tap_strides, g.kernel)]
        pos = window_index(g, begins, o, k)
        return sum((p * s for p, s in zip(pos, strides)), (n * x.shape[1] + c) * step)
    return y, cp.tensor(shape, DType.I64, index)


def _lp_pool_compute(a: LpPoolAttrs, x: TensorArg) -> Stage:
    g, outs, begins, _ = _pool_plan(a, x)
    p = float(a.p)
    return cp.tensor(x.shape[:2] + tuple(outs), x.dtype, lambda n, c, *o: cp.math(
        "pow", _window(x, g, begins, "sum", 0.0, lambda v: cp.math("pow", abs(v), p), n, c, o),
        1.0 / p))


op("AveragePool", AveragePoolAttrs, versions=(1, 7, 10, 11, 19, 22), traits=("reduction",),
   infer=pool_rule(FLOATS), reference=_average_pool, compute=_average_pool_compute)
op("MaxPool", MaxPoolAttrs, versions=(1, 8, 10, 11, 12, 22), traits=("reduction",),
   infer=pool_rule(FLOATS + (DType.I8, DType.U8), with_indices=True), reference=_max_pool,
   compute=_max_pool_compute)
op("LpPool", LpPoolAttrs, versions=(1, 2, 11, 18, 22), traits=("reduction",),
   infer=pool_rule(FLOATS), reference=_lp_pool, compute=_lp_pool_compute)


# -- global pooling ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GlobalLpPoolAttrs:
    p: int = 2


def _infer_global(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.dtype not in FLOATS or x.rank < 3:
        raise c.error(f"{c.op} takes a float (N, C, *spatial) tensor, got {x}")
    return [x.with_shape(x.shape[:2] + (1,) * (x.rank - 2))]


def _global(reduce: str):  # noqa: ANN202
    def ref(a: object, x: np.ndarray) -> np.ndarray:
        axes = tuple(range(2, x.ndim))
        acc = _accumulate(x)
        if reduce == "mean":
            y = acc.mean(axis=axes, keepdims=True)
        elif reduce == "max":
            y = acc.max(axis=axes, keepdims=True)
        else:
            p = float(getattr(a, "p", 2))
            y = (np.abs(acc) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        return y.astype(x.dtype)
    return ref


def _global_compute(how: str) -> Callable[..., Stage]:
    def compute(a: object, x: TensorArg) -> Stage:
        spatial = x.shape[2:]
        p = float(getattr(a, "p", 2))

        def fn(n: Expr, c: Expr, *o: Expr) -> Expr:
            def at(*r: Expr) -> Expr:
                v = widen(x[(n, c) + r])
                return cp.math("pow", abs(v), p) if how == "lp" else v
            total = reduce("max" if how == "max" else "sum", spatial, at)
            if how == "mean":
                return total / float(np.prod(spatial))
            return cp.math("pow", total, 1.0 / p) if how == "lp" else total
        return cp.tensor(x.shape[:2] + (1,) * len(spatial), x.dtype, fn)
    return compute


op("GlobalAveragePool", versions=(1, 22), traits=("reduction",), infer=_infer_global,
   reference=_global("mean"), compute=_global_compute("mean"))
op("GlobalMaxPool", versions=(1, 22), traits=("reduction",), infer=_infer_global,
   reference=_global("max"), compute=_global_compute("max"))
op("GlobalLpPool", GlobalLpPoolAttrs, versions=(1, 2, 22), traits=("reduction",),
   infer=_infer_global, reference=_global("lp"), compute=_global_compute("lp"))


# -- MaxUnpool --------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaxUnpoolAttrs:
    kernel_shape: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()


def unpool_sizes(g: Geometry, sizes: Sequence[Dim], c: InferCtx) -> tuple[Dim, ...]:
    """The size MaxPool's input had: (in - 1) * stride + kernel - pads (a symbol stays unknown)."""
    out: list[Dim] = []
    for i, d in enumerate(sizes):
        if isinstance(d, int):
            out.append((d - 1) * g.strides[i] + g.kernel[i] - g.pads[i] - g.pads[i + g.rank])
        else:
            out.append(c.sym(f"{d}_unpool"))
    return tuple(out)


def _infer_max_unpool(c: InferCtx) -> list[Type]:
    x, idx = c.t(0), c.t(1)
    if x.dtype not in FLOATS or idx.dtype != DType.I64 or x.rank < 3:
        raise c.error(f"MaxUnpool takes a float (N, C, *spatial) tensor and int64 indices, "
                      f"got {x} and {idx}")
    if c.has(2):
        shape = as_ints(c.value(2))
        if shape is not None:
            if len(shape) != x.rank:
                raise c.error(f"output_shape {list(shape)} does not have rank {x.rank}")
            return [x.with_shape(tuple(shape))]
        return [x.with_shape(x.shape[:2] + tuple(c.sym("unpool") for _ in x.shape[2:]))]
    g = geometry(c, c.attrs.kernel_shape, c.attrs.strides, (), c.attrs.pads)
    if g.rank != x.rank - 2:
        raise c.error(f"kernel_shape {list(g.kernel)} does not fit input {x}")
    return [x.with_shape(x.shape[:2] + unpool_sizes(g, x.shape[2:], c))]


def _max_unpool(a: MaxUnpoolAttrs, x: np.ndarray, indices: np.ndarray,
                output_shape: np.ndarray | None = None) -> np.ndarray:
    g = geometry(None, a.kernel_shape, a.strides, (), a.pads)
    pooled = x.shape[:2] + tuple(
        (d - 1) * g.strides[i] + g.kernel[i] - g.pads[i] - g.pads[i + g.rank]
        for i, d in enumerate(x.shape[2:]))
    # indices count positions of the tensor MaxPool saw; a larger output_shape keeps each value
    # at the same coordinates (the extra rows and columns stay zero)
    shape = pooled if output_shape is None else tuple(int(v) for v in output_shape)
    y = np.zeros(shape, dtype=x.dtype)
    y[np.unravel_index(indices.reshape(-1), pooled)] = x.reshape(-1)
    return y


op("MaxUnpool", MaxUnpoolAttrs, versions=(9, 11, 22), infer=_infer_max_unpool,
   reference=_max_unpool)
