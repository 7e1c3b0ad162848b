"""Normalization ops: BatchNormalization (inference and training outputs), InstanceNormalization,
LayerNormalization, GroupNormalization, RMSNormalization, LpNormalization,
MeanVarianceNormalization, LRN, and Dropout (an identity outside training).

Statistics are computed in float32 at least (the stash type, where the op has one), then cast back.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import (
    INDEX,
    NoCompute,
    Readable,
    Stage,
    TensorArg,
    View,
    reduce,
    reduced_index,
    rounded,
    widen,
)
from ..dtype import DType
from ..kernel.expr import Const, Expr, Math
from ..types import TensorType, Type
from .registry import InferCtx, RefCtx, norm_axis, op

FLOATS = (DType.F16, DType.F32, DType.F64, DType.BF16)
# ONNX TensorProto codes a stash_type may name, and the dtypes statistics are kept in
STASH = {1: DType.F32, 10: DType.F16, 11: DType.F64, 16: DType.BF16}


def _float_input(c: InferCtx, i: int = 0) -> TensorType:
    x = c.t(i)
    if x.dtype not in FLOATS:
        raise c.error(f"{c.op} takes a float tensor, got {x}")
    return x


def _wide(x: np.ndarray) -> np.ndarray:
    """float16/bfloat16 statistics go through float32."""
    return x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)


# -- compute-definition helpers: per-row statistics over some axes, kept as size-1 dims ----------

def wide_dtype(*xs: TensorArg | None) -> DType:
    """What _wide computes in: float64 if any operand is, else float32."""
    return DType.F64 if any(x is not None and x.dtype is DType.F64 for x in xs) else DType.F32


def row_of(i: Sequence[Expr], axes: Sequence[int]) -> tuple[Expr, ...]:
    """The index of element i's statistics (0 on the reduced axes)."""
    return tuple(Const(0, INDEX) if k in axes else e for k, e in enumerate(i))


def row_mean(x: Readable, axes: Sequence[int], dtype: DType,
             fn: Callable[[Expr, tuple[Expr, ...]], Expr]) -> Stage:
    """The mean over `axes` of fn(element of x, its row index), as a stage with the axes kept."""
    ext = [x.shape[k] for k in axes]
    n = float(np.prod(ext, dtype=np.int64))
    return cp.tensor(cp.reduced_shape(x.shape, axes, True), dtype, lambda *i: reduce(
        "sum", ext, lambda *r: fn(x[reduced_index(x.rank, axes, True, i, r)], i)) / n)


def moments(x: Readable, axes: Sequence[int], dtype: DType) -> tuple[Stage, Stage]:
    """Mean and variance (numpy's: the mean of squared deviations) over `axes`, in `dtype`."""
    mean = row_mean(x, axes, dtype, lambda v, i: cp.cast(v, dtype))

    def dev2(v: Expr, i: tuple[Expr, ...]) -> Expr:
        d = cp.cast(v, dtype) - mean[i]
        return d * d
    return mean, row_mean(x, axes, dtype, dev2)


def _per_channel(p: TensorArg, i: Sequence[Expr], dtype: DType) -> Expr:
    """A per-channel parameter (C,) or (C, *spatial) at element i of an (N, C, ...) tensor."""
    return cp.cast(p[i[1]] if p.rank == 1 else p[tuple(i[1:])], dtype)


# -- BatchNormalization -----------------------------------------------------------------------

@dataclass(frozen=True)
class BatchNormalizationAttrs:
    epsilon: float = 1e-5
    momentum: float = 0.9
    training_mode: int = 0


def _infer_batch_norm(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    if x.rank < 2:
        raise c.error(f"BatchNormalization takes (N, C, ...), got {x}")
    params = [c.t(i) for i in range(1, 5)]
    for p in params:
        # 1-D per channel; (C, *spatial) also reads older versions' spatial=0 form
        if p.rank not in (1, x.rank - 1):
            raise c.error(f"scale, bias, mean and var must be per channel, got {p}")
    stats = params[2]
    saved = stats.with_dtype(x.dtype)
    return [x, stats, params[3], saved, saved]


def _batch_norm(a: BatchNormalizationAttrs, x: np.ndarray, scale: np.ndarray, bias: np.ndarray,
                mean: np.ndarray, var: np.ndarray, ctx: RefCtx) -> tuple[np.ndarray, ...]:
    xs = _wide(x)

    def per_channel(p: np.ndarray) -> np.ndarray:
        p = _wide(p)
        return p.reshape((1, -1) + (1,) * (x.ndim - 2)) if p.ndim == 1 else p[None]

    if not a.training_mode:
        y = (xs - per_channel(mean)) / np.sqrt(per_channel(var) + a.epsilon)
        y = y * per_channel(scale) + per_channel(bias)
        return y.astype(x.dtype), mean, var, mean.astype(x.dtype), var.astype(x.dtype)
    axes = (0,) if scale.ndim > 1 else (0,) + tuple(range(2, x.ndim))
    batch_mean = xs.mean(axis=axes)
    batch_var = xs.var(axis=axes)
    y = (xs - per_channel(batch_mean)) / np.sqrt(per_channel(batch_var) + a.epsilon)
    y = y * per_channel(scale) + per_channel(bias)
    running_mean = _wide(mean) * a.momentum + batch_mean * (1 - a.momentum)
    running_var = _wide(var) * a.momentum + batch_var * (1 - a.momentum)
    return (y.astype(x.dtype), running_mean.astype(mean.dtype), running_var.astype(var.dtype),
            batch_mean.astype(x.dtype), batch_var.astype(x.dtype))


def _batch_norm_compute(a: BatchNormalizationAttrs, x: TensorArg, scale: TensorArg,
                        bias: TensorArg, mean: TensorArg, var: TensorArg) -> Stage:
    if a.training_mode:
        raise NoCompute("training-mode statistics")
    w = wide_dtype(x, scale, bias, mean, var)

    def fn(*i: Expr) -> Expr:
        y = (cp.cast(x[i], w) - _per_channel(mean, i, w)) / Math(
            "sqrt", (_per_channel(var, i, w) + a.epsilon,))
        return y * _per_channel(scale, i, w) + _per_channel(bias, i, w)
    return cp.tensor(x.shape, x.dtype, fn)


op("BatchNormalization", BatchNormalizationAttrs, versions=(1, 6, 7, 9, 14, 15),
   traits=("injective",), infer=_infer_batch_norm, reference=_batch_norm,
   compute=_batch_norm_compute)


# -- instance, layer, group and RMS normalization -------------------------------------------

@dataclass(frozen=True)
class InstanceNormalizationAttrs:
    epsilon: float = 1e-5


def _infer_instance_norm(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    if x.rank < 3:
        raise c.error(f"InstanceNormalization takes (N, C, *spatial), got {x}")
    return [x]


def _instance_norm(a: InstanceNormalizationAttrs, x: np.ndarray, scale: np.ndarray,
                   bias: np.ndarray) -> np.ndarray:
    xs = _wide(x)
    axes = tuple(range(2, x.ndim))
    mean = xs.mean(axis=axes, keepdims=True)
    var = xs.var(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (xs - mean) / np.sqrt(var + a.epsilon) * _wide(scale).reshape(shape)
    return (y + _wide(bias).reshape(shape)).astype(x.dtype)


def _instance_norm_compute(a: InstanceNormalizationAttrs, x: TensorArg, scale: TensorArg,
                           bias: TensorArg) -> Stage:
    w, axes = wide_dtype(x), tuple(range(2, x.rank))
    mean, var = moments(x, axes, w)

    def fn(*i: Expr) -> Expr:
        r = row_of(i, axes)
        y = (cp.cast(x[i], w) - mean[r]) / Math("sqrt", (var[r] + a.epsilon,))
        return y * _per_channel(scale, i, w) + _per_channel(bias, i, w)
    return cp.tensor(x.shape, x.dtype, fn)


op("InstanceNormalization", InstanceNormalizationAttrs, versions=(1, 6, 22),
   traits=("reduction",), infer=_infer_instance_norm, reference=_instance_norm,
   compute=_instance_norm_compute)


@dataclass(frozen=True)
class LayerNormalizationAttrs:
    axis: int = -1
    epsilon: float = 1e-5
    stash_type: int = 1


def _stash(c: InferCtx) -> DType:
    if c.attrs.stash_type not in STASH:
        raise c.error(f"stash_type {c.attrs.stash_type} is not a float type")
    return STASH[c.attrs.stash_type]


def _infer_layer_norm(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    axis = norm_axis(c, c.attrs.axis, x.rank)
    stats = TensorType(_stash(c), x.shape[:axis] + (1,) * (x.rank - axis))
    return [x, stats, stats]


def _layer_norm(a: LayerNormalizationAttrs, x: np.ndarray, scale: np.ndarray,
                bias: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    stash = STASH[a.stash_type].np
    xs = x.astype(stash)
    axes = tuple(range(a.axis % x.ndim, x.ndim))
    mean = xs.mean(axis=axes, keepdims=True)
    centered = xs - mean
    inv_std = (1 / np.sqrt((centered * centered).mean(axis=axes, keepdims=True) + a.epsilon))
    inv_std = inv_std.astype(stash)
    y = (centered * inv_std).astype(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype), mean.astype(stash), inv_std


def _layer_norm_compute(a: LayerNormalizationAttrs, x: TensorArg, scale: TensorArg,
                        bias: TensorArg | None = None) -> tuple[Stage, ...]:
    stash = STASH[a.stash_type]
    axes = tuple(range(a.axis % x.rank, x.rank))
    mean, var = moments(x, axes, stash)
    inv_std = cp.tensor(mean.shape, stash, lambda *i: 1.0 / Math(
        "sqrt", (widen(var[i]) + a.epsilon,)))

    def fn(*i: Expr) -> Expr:
        r = row_of(i, axes)
        centered = rounded(widen(cp.cast(x[i], stash)) - widen(mean[r]), stash)
        y = rounded(rounded(centered * widen(inv_std[r]), x.dtype) * widen(scale.at(i)), x.dtype)
        return y if bias is None else y + widen(bias.at(i))
    return cp.tensor(x.shape, x.dtype, fn), mean, inv_std


op("LayerNormalization", LayerNormalizationAttrs, versions=(17,), traits=("reduction",),
   infer=_infer_layer_norm, reference=_layer_norm, compute=_layer_norm_compute)


@dataclass(frozen=True)
class GroupNormalizationAttrs:
    epsilon: float = 1e-5
    num_groups: int = 0
    stash_type: int = 1


def _infer_group_norm(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    _stash(c)
    groups, ch = c.attrs.num_groups, x.shape[1] if x.rank >= 2 else None
    if groups < 1 or (isinstance(ch, int) and ch % groups):
        raise c.error(f"num_groups {groups} does not divide the {ch} channels of {x}")
    for i in (1, 2):
        p = c.t(i)
        if p.rank != 1 or (isinstance(p.shape[0], int) and isinstance(ch, int)
                           and p.shape[0] != ch):
            raise c.error(f"scale and bias must have one value per channel, got {p}")
    return [x]


def _group_norm(a: GroupNormalizationAttrs, x: np.ndarray, scale: np.ndarray,
                bias: np.ndarray) -> np.ndarray:
    stash = STASH[a.stash_type].np
    n, ch = x.shape[:2]
    xs = x.astype(stash).reshape(n, a.num_groups, -1)
    mean = xs.mean(axis=2, keepdims=True)
    var = xs.var(axis=2, keepdims=True)
    y = ((xs - mean) / np.sqrt(var + a.epsilon)).reshape(x.shape).astype(x.dtype)
    shape = (1, ch) + (1,) * (x.ndim - 2)
    return (y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype)


def _group_norm_compute(a: GroupNormalizationAttrs, x: TensorArg, scale: TensorArg,
                        bias: TensorArg) -> Stage:
    stash = STASH[a.stash_type]
    n, ch = x.shape[:2]
    cg = ch // a.num_groups
    # statistics per (batch, group): x read as (N, G, C/G, ...), all but the first two reduced
    grouped = (n, a.num_groups, cg) + x.shape[2:]
    axes = tuple(range(2, len(grouped)))

    def split(i: Sequence[Expr]) -> tuple[Expr, ...]:   # (n, c, ...) -> (n, g, c % cg, ...)
        return (i[0], i[1] // cg, i[1] % cg) + tuple(i[2:])
    mean, var = moments(View(grouped, x.dtype, lambda n, g, c, *s: x[(n, g * cg + c) + s]),
                        axes, stash)

    def fn(*i: Expr) -> Expr:
        r = row_of(split(i), axes)
        y = rounded((widen(cp.cast(x[i], stash)) - widen(mean[r]))
                    / Math("sqrt", (widen(var[r]) + a.epsilon,)), x.dtype)
        return rounded(y * widen(scale[i[1]]), x.dtype) + widen(bias[i[1]])
    return cp.tensor(x.shape, x.dtype, fn)


op("GroupNormalization", GroupNormalizationAttrs, versions=(18, 21), traits=("reduction",),
   infer=_infer_group_norm, reference=_group_norm, compute=_group_norm_compute)


@dataclass(frozen=True)
class RMSNormalizationAttrs:
    axis: int = -1
    epsilon: float = 1e-5
    stash_type: int = 1


def _infer_rms_norm(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    norm_axis(c, c.attrs.axis, x.rank)
    _stash(c)
    return [x]


def _rms_norm(a: RMSNormalizationAttrs, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    stash = STASH[a.stash_type].np
    xs = x.astype(stash)
    axes = tuple(range(a.axis % x.ndim, x.ndim))
    inv_rms = 1 / np.sqrt((xs * xs).mean(axis=axes, keepdims=True) + a.epsilon)
    return ((xs * inv_rms).astype(x.dtype) * scale).astype(x.dtype)


def _rms_norm_compute(a: RMSNormalizationAttrs, x: TensorArg, scale: TensorArg) -> Stage:
    stash = STASH[a.stash_type]
    axes = tuple(range(a.axis % x.rank, x.rank))
    ms = row_mean(x, axes, stash,
                  lambda v, i: widen(cp.cast(v, stash)) * widen(cp.cast(v, stash)))
    inv = cp.tensor(ms.shape, stash, lambda *i: 1.0 / Math("sqrt", (widen(ms[i]) + a.epsilon,)))
    return cp.tensor(x.shape, x.dtype, lambda *i: rounded(
        widen(cp.cast(x[i], stash)) * widen(inv[row_of(i, axes)]), x.dtype) * widen(scale.at(i)))


op("RMSNormalization", RMSNormalizationAttrs, versions=(23,), traits=("reduction",),
   infer=_infer_rms_norm, reference=_rms_norm, compute=_rms_norm_compute)


# -- Lp, mean-variance and local response normalization ---------------------------------------

@dataclass(frozen=True)
class LpNormalizationAttrs:
    axis: int = -1
    p: int = 2


def _infer_lp_norm(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    norm_axis(c, c.attrs.axis, x.rank)
    if c.attrs.p not in (1, 2):
        raise c.error(f"p must be 1 or 2, got {c.attrs.p}")
    return [x]


def _lp_norm(a: LpNormalizationAttrs, x: np.ndarray) -> np.ndarray:
    xs = _wide(x)
    if a.p == 1:
        norm = np.abs(xs).sum(axis=a.axis, keepdims=True)
    else:
        norm = np.sqrt((xs * xs).sum(axis=a.axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm == 0, 0, xs / norm).astype(x.dtype)   # a zero vector stays zero


def _lp_norm_compute(a: LpNormalizationAttrs, x: TensorArg) -> Stage:
    w, axes = wide_dtype(x), (a.axis % x.rank,)
    ext = [x.shape[axes[0]]]

    def norm(*i: Expr) -> Expr:
        def term(r: Expr) -> Expr:
            v = cp.cast(x[reduced_index(x.rank, axes, True, i, (r,))], w)
            return abs(v) if a.p == 1 else v * v
        total = reduce("sum", ext, term)
        return total if a.p == 1 else Math("sqrt", (total,))
    nrm = cp.tensor(cp.reduced_shape(x.shape, axes, True), w, norm)
    return cp.tensor(x.shape, x.dtype, lambda *i: cp.select(   # a zero vector stays zero
        nrm[row_of(i, axes)].eq(0.0), 0.0, cp.cast(x[i], w) / nrm[row_of(i, axes)]))


op("LpNormalization", LpNormalizationAttrs, versions=(1, 22), traits=("reduction",),
   infer=_infer_lp_norm, reference=_lp_norm, compute=_lp_norm_compute)


@dataclass(frozen=True)
class MeanVarianceNormalizationAttrs:
    axes: tuple[int, ...] = (0, 2, 3)


def _infer_mvn(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    for ax in c.attrs.axes:
        norm_axis(c, ax, x.rank)
    return [x]


def _mvn(a: MeanVarianceNormalizationAttrs, x: np.ndarray) -> np.ndarray:
    xs = _wide(x)
    axes = tuple(sorted({ax % x.ndim for ax in a.axes}))
    mean = xs.mean(axis=axes, keepdims=True)
    var = (xs * xs).mean(axis=axes, keepdims=True) - mean * mean
    # ONNX's definition: (x - mean) / (sqrt(E[x^2] - E[x]^2) + 1e-9)
    return ((xs - mean) / (np.sqrt(np.maximum(var, 0)) + 1e-9)).astype(x.dtype)


def _mvn_compute(a: MeanVarianceNormalizationAttrs, x: TensorArg) -> Stage:
    w, axes = wide_dtype(x), tuple(sorted({ax % x.rank for ax in a.axes}))
    mean = row_mean(x, axes, w, lambda v, i: cp.cast(v, w))
    sq = row_mean(x, axes, w, lambda v, i: cp.cast(v, w) * cp.cast(v, w))

    def fn(*i: Expr) -> Expr:
        r = row_of(i, axes)
        var = sq[r] - mean[r] * mean[r]
        return (cp.cast(x[i], w) - mean[r]) / (Math("sqrt", (cp.maximum(var, 0.0),)) + 1e-9)
    return cp.tensor(x.shape, x.dtype, fn)


op("MeanVarianceNormalization", MeanVarianceNormalizationAttrs, versions=(9, 13),
   traits=("reduction",), infer=_infer_mvn, reference=_mvn, compute=_mvn_compute)


@dataclass(frozen=True)
class LRNAttrs:
    size: int = 0
    alpha: float = 1e-4
    beta: float = 0.75
    bias: float = 1.0


def _infer_lrn(c: InferCtx) -> list[Type]:
    x = _float_input(c)
    if x.rank < 3 or c.attrs.size < 1:
        raise c.error(f"LRN takes (N, C, *spatial) and a positive size, got {x}, size "
                      f"{c.attrs.size}")
    return [x]


def _lrn(a: LRNAttrs, x: np.ndarray) -> np.ndarray:
    xs = _wide(x)
    before, after = (a.size - 1) // 2, -(-(a.size - 1) // 2)
    # sum of squares over channels [c - before, c + after], by a running sum over channels
    sq = np.concatenate([np.zeros_like(xs[:, :1]), np.cumsum(xs * xs, axis=1)], axis=1)
    ch = x.shape[1]
    hi = np.minimum(np.arange(ch) + after + 1, ch)
    lo = np.maximum(np.arange(ch) - before, 0)
    window = sq[:, hi] - sq[:, lo]
    return (xs / (a.bias + a.alpha / a.size * window) ** a.beta).astype(x.dtype)


def _lrn_compute(a: LRNAttrs, x: TensorArg) -> Stage:
    w, before = wide_dtype(x), (a.size - 1) // 2

    def fn(*i: Expr) -> Expr:
        def square(k: Expr) -> Expr:
            v = cp.cast(x.padded((i[0], i[1] - before + k) + tuple(i[2:]), 0.0), w)
            return v * v
        window = reduce("sum", a.size, square)
        return cp.cast(x[i], w) / cp.math("pow", a.bias + a.alpha / a.size * window, a.beta)
    return cp.tensor(x.shape, x.dtype, fn)


op("LRN", LRNAttrs, versions=(1, 13), traits=("reduction",), infer=_infer_lrn, reference=_lrn,
   compute=_lrn_compute)


# -- Dropout ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DropoutAttrs:
    seed: int | None = None


def _infer_dropout(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.dtype not in FLOATS and x.dtype not in (DType.F8E4M3FN, DType.F8E4M3FNUZ,
                                                  DType.F8E5M2, DType.F8E5M2FNUZ):
        raise c.error(f"Dropout takes a float tensor, got {x}")
    if c.has(2) and c.t(2).dtype != DType.BOOL:
        raise c.error(f"training_mode must be a bool, got {c.t(2)}")
    return [x, x.with_dtype(DType.BOOL)]


def _dropout(a: DropoutAttrs, x: np.ndarray, ratio: np.ndarray | None = None,
             training_mode: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    rate = 0.5 if ratio is None else float(np.asarray(ratio))
    if training_mode is None or not bool(np.asarray(training_mode)) or rate == 0:
        return x, np.ones(x.shape, dtype=bool)
    if not 0 <= rate <= 1:
        raise ValueError(f"ratio {rate} is not in [0, 1]")
    # numpy's Mersenne twister, seeded by `seed`: the same masks as ONNX's own definition
    rng = np.random.RandomState(a.seed) if a.seed is not None else np.random.RandomState()
    keep = rng.uniform(0, 1.0, x.shape) >= rate
    scale = 0.0 if rate == 1 else 1 / (1 - rate)
    return (keep * _wide(x) * scale).astype(x.dtype), keep


def _dropout_compute(a: DropoutAttrs, x: TensorArg, ratio: TensorArg | None = None,
                     training_mode: TensorArg | None = None) -> tuple[Stage, Stage]:
    """Outside training an identity with an all-true mask; training draws random numbers."""
    if training_mode is not None and any(training_mode.ints("training_mode")):
        rate = None if ratio is None else ratio.value
        if rate is None or float(np.asarray(rate).reshape(-1)[0]) != 0:
            raise NoCompute("training-mode dropout draws random numbers")
    return (cp.tensor(x.shape, x.dtype, lambda *i: x[i]),
            cp.tensor(x.shape, DType.BOOL, lambda *i: True))


op("Dropout", DropoutAttrs, versions=(1, 6, 7, 10, 12, 13, 22), traits=("elementwise",),
   infer=_infer_dropout, reference=_dropout, compute=_dropout_compute)
