"""Element-wise ops: unary math, binary arithmetic with broadcasting, comparisons and logic."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dtype import DType
from .registry import broadcast, op, same_as


def _same(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    return np.asarray(x).astype(like.dtype, copy=False)


op("Add", versions=(1, 6, 7, 13, 14), traits=("elementwise", "commutative"),
   infer=broadcast(), reference=lambda a, x, y: _same(x + y, x))
op("Relu", versions=(1, 6, 13, 14), traits=("elementwise",),
   infer=same_as(0), reference=lambda a, x: _same(np.maximum(x, 0), x))


@dataclass(frozen=True)
class LeakyReluAttrs:
    alpha: float = 0.01


op("LeakyRelu", LeakyReluAttrs, versions=(1, 6, 16), traits=("elementwise",),
   infer=same_as(0), reference=lambda a, x: _same(np.where(x >= 0, x, x * a.alpha), x))
op("Equal", versions=(1, 7, 11, 13, 19), traits=("elementwise", "commutative"),
   infer=broadcast(DType.BOOL), reference=lambda a, x, y: np.equal(x, y))
