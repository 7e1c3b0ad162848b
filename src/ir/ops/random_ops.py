"""Random generators: RandomNormal, RandomUniform, their -Like forms, Bernoulli and Multinomial.

With a `seed` attribute a node draws the same values on every run (a fresh generator seeded with
it). Without one, draws come from one process-wide generator with a fixed start, as PyTorch's
default generator does: runs differ from each other, but a process replays the same sequence.
No generator matches another framework's stream bit for bit. The ONNX frontend turns the dtype
attributes (ONNX element-type codes) into DTypes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from ..types import TensorType, Type
from .registry import InferCtx, op

_DEFAULT_SEED = 0x5EED_D1C
_default_generator = np.random.default_rng(_DEFAULT_SEED)


def _generator(seed: float | None) -> np.random.Generator:
    if seed is None or np.isnan(seed):
        return _default_generator
    return np.random.default_rng(int(seed))


def _float_dtype(c: InferCtx, d: DType) -> DType:
    if not d.is_float:
        raise c.error(f"dtype must be a floating-point type, got {d}")
    return d


@dataclass(frozen=True)
class RandomNormalAttrs:
    dtype: DType = DType.F32
    mean: float = 0.0
    scale: float = 1.0
    seed: float | None = None
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RandomUniformAttrs:
    dtype: DType = DType.F32
    high: float = 1.0
    low: float = 0.0
    seed: float | None = None
    shape: tuple[int, ...] | None = None


def _fixed_shape_infer(c: InferCtx) -> list[Type]:
    if c.attrs.shape is None:
        raise c.error("attribute shape is required")
    if any(d < 0 for d in c.attrs.shape):
        raise c.error(f"shape {list(c.attrs.shape)} has a negative dim")
    return [TensorType(_float_dtype(c, c.attrs.dtype), tuple(c.attrs.shape))]


def _normal(a: RandomNormalAttrs | RandomNormalLikeAttrs, shape: tuple[int, ...],
            dtype: DType) -> np.ndarray:
    return _generator(a.seed).normal(a.mean, a.scale, size=shape).astype(dtype.np)


def _uniform(a: RandomUniformAttrs | RandomUniformLikeAttrs, shape: tuple[int, ...],
             dtype: DType) -> np.ndarray:
    return _generator(a.seed).uniform(a.low, a.high, size=shape).astype(dtype.np)


op("RandomNormal", RandomNormalAttrs, versions=(1, 22), infer=_fixed_shape_infer,
   reference=lambda a: _normal(a, tuple(a.shape), a.dtype))
op("RandomUniform", RandomUniformAttrs, versions=(1, 22), infer=_fixed_shape_infer,
   reference=lambda a: _uniform(a, tuple(a.shape), a.dtype))


@dataclass(frozen=True)
class RandomNormalLikeAttrs:
    dtype: DType | None = None  # None: the input's dtype
    mean: float = 0.0
    scale: float = 1.0
    seed: float | None = None


@dataclass(frozen=True)
class RandomUniformLikeAttrs:
    dtype: DType | None = None  # None: the input's dtype
    high: float = 1.0
    low: float = 0.0
    seed: float | None = None


def _like_infer(c: InferCtx) -> list[Type]:
    x = c.t(0)
    return [TensorType(_float_dtype(c, c.attrs.dtype or x.dtype), x.shape)]


op("RandomNormalLike", RandomNormalLikeAttrs, versions=(1, 22), infer=_like_infer,
   reference=lambda a, x: _normal(a, x.shape, a.dtype or DType.from_np(x.dtype)))
op("RandomUniformLike", RandomUniformLikeAttrs, versions=(1, 22), infer=_like_infer,
   reference=lambda a, x: _uniform(a, x.shape, a.dtype or DType.from_np(x.dtype)))


# -- Bernoulli -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BernoulliAttrs:
    dtype: DType | None = None  # None: the input's dtype
    seed: float | None = None


def _bernoulli_infer(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if not x.dtype.is_float:
        raise c.error(f"input must hold probabilities as floats, got {x}")
    return [TensorType(c.attrs.dtype or x.dtype, x.shape)]


def _bernoulli_ref(a: BernoulliAttrs, p: np.ndarray) -> np.ndarray:
    draws = _generator(a.seed).random(size=p.shape) < np.asarray(p, dtype=np.float64)
    return draws.astype((a.dtype or DType.from_np(p.dtype)).np)


op("Bernoulli", BernoulliAttrs, versions=(15, 22), infer=_bernoulli_infer,
   reference=_bernoulli_ref)


# -- Multinomial ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MultinomialAttrs:
    dtype: DType = DType.I32
    sample_size: int = 1
    seed: float | None = None


def _multinomial_infer(c: InferCtx) -> list[Type]:
    x = c.t(0)
    if x.rank != 2 or not x.dtype.is_float:
        raise c.error(f"input must be [batch, classes] log-probabilities, got {x}")
    if c.attrs.dtype not in (DType.I32, DType.I64):
        raise c.error(f"dtype must be int32 or int64, got {c.attrs.dtype}")
    return [TensorType(c.attrs.dtype, (x.shape[0], c.attrs.sample_size))]


def _multinomial_ref(a: MultinomialAttrs, logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = _generator(a.seed).random(size=(z.shape[0], a.sample_size))
    picks = np.stack([np.searchsorted(cdf[b], u[b], side="right") for b in range(z.shape[0])])
    return np.minimum(picks, z.shape[1] - 1).reshape(z.shape[0], a.sample_size).astype(a.dtype.np)


op("Multinomial", MultinomialAttrs, versions=(7, 22), infer=_multinomial_infer,
   reference=_multinomial_ref)
