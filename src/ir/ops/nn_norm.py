"""Normalization ops: BatchNormalization (inference and training outputs), InstanceNormalization,
LayerNormalization, GroupNormalization, RMSNormalization, LpNormalization,
MeanVarianceNormalization, LRN, and Dropout (an identity outside training).

Statistics are computed in float32 at least (the stash type, where the op has one), then cast back.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import DType
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


op("BatchNormalization", BatchNormalizationAttrs, versions=(1, 6, 7, 9, 14, 15),
   infer=_infer_batch_norm, reference=_batch_norm)


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


op("InstanceNormalization", InstanceNormalizationAttrs, versions=(1, 6, 22),
   infer=_infer_instance_norm, reference=_instance_norm)


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


op("LayerNormalization", LayerNormalizationAttrs, versions=(17,), infer=_infer_layer_norm,
   reference=_layer_norm)


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


op("GroupNormalization", GroupNormalizationAttrs, versions=(18, 21), infer=_infer_group_norm,
   reference=_group_norm)


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


op("RMSNormalization", RMSNormalizationAttrs, versions=(23,), infer=_infer_rms_norm,
   reference=_rms_norm)


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


op("LpNormalization", LpNormalizationAttrs, versions=(1, 22), infer=_infer_lp_norm,
   reference=_lp_norm)


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


op("MeanVarianceNormalization", MeanVarianceNormalizationAttrs, versions=(9, 13),
   infer=_infer_mvn, reference=_mvn)


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


op("LRN", LRNAttrs, versions=(1, 13), infer=_infer_lrn, reference=_lrn)


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


op("Dropout", DropoutAttrs, versions=(1, 6, 7, 10, 12, 13, 22), infer=_infer_dropout,
   reference=_dropout)
