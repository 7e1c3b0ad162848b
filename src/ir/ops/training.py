"""Optimizer steps of the "ai.onnx.preview.training" domain: Adagrad, Adam and Momentum.

Each takes a learning rate R and a step count T (scalars), then groups of equally long variadic
inputs (the tensors X, their gradients G, then the optimizer's state), and returns the updated X
and state tensors, group by group: one step of the optimizer for every X at once.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtype import DType
from ..types import TensorType, Type
from .registry import InferCtx, InferRule, op

DOMAIN = "ai.onnx.preview.training"
Update = Callable[[Any, float, int, list[np.ndarray]], list[np.ndarray]]


def _optimizer_rule(groups_in: tuple[str, ...], groups_out: tuple[str, ...]) -> InferRule:
    """R, T, then len(groups_in) groups of n tensors; outputs are the groups named in
    `groups_out` (each a group of the input list), in that order."""
    def rule(c: InferCtx) -> list[Type]:
        r, t = c.t(0), c.t(1)
        if r.dtype not in (DType.F32, DType.F64) or r.numel not in (1, None):
            raise c.error(f"R must be a float scalar, got {r}")
        if t.dtype is not DType.I64 or t.numel not in (1, None):
            raise c.error(f"T must be an int64 scalar, got {t}")
        rest = len(c.types) - 2
        if rest <= 0 or rest % len(groups_in):
            raise c.error(f"takes R, T and {len(groups_in)} groups of equally many tensors "
                          f"({', '.join(groups_in)}), got {rest} tensors after R and T")
        n = rest // len(groups_in)
        group = {g: [c.t(2 + k * n + i) for i in range(n)] for k, g in enumerate(groups_in)}
        for i, x in enumerate(group["X"]):
            if x.dtype not in (DType.F32, DType.F64):
                raise c.error(f"X{i + 1} must be float or double, got {x}")
            for g in groups_in[1:]:
                other = group[g][i]
                if other.dtype is not x.dtype or len(other.shape) != len(x.shape):
                    raise c.error(f"{g}{i + 1} ({other}) does not match X{i + 1} ({x})")
        outs: list[Type] = [TensorType(t.dtype, t.shape) for g in groups_out for t in group[g]]
        if c.num_outputs > len(outs):
            raise c.error(f"has {len(outs)} outputs for {n} tensor(s), not {c.num_outputs}")
        return outs
    return rule


def _optimizer_ref(groups_in: int, update: Update) -> Callable[..., tuple[np.ndarray, ...]]:
    """Apply `update` to each tensor's group and regroup the results output by output."""
    def reference(a: Any, r: np.ndarray, t: np.ndarray, *tensors: np.ndarray
                  ) -> tuple[np.ndarray, ...]:
        n = len(tensors) // groups_in
        rate, step = float(np.asarray(r).reshape(-1)[0]), int(np.asarray(t).reshape(-1)[0])
        per_tensor = []
        for i in range(n):
            mine = [np.asarray(tensors[k * n + i]) for k in range(groups_in)]
            # float64 throughout, rounded once to the tensor's dtype
            new = update(a, rate, step, [m.astype(np.float64) for m in mine])
            per_tensor.append([x.astype(mine[0].dtype) for x in new])
        return tuple(res[k] for k in range(len(per_tensor[0])) for res in per_tensor)
    return reference


# -- Adagrad -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdagradAttrs:
    decay_factor: float = 0.0
    epsilon: float = 1e-6
    norm_coefficient: float = 0.0


def _adagrad(a: AdagradAttrs, r: float, t: int, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, g, h = xs
    rate = r / (1 + t * a.decay_factor)
    g = a.norm_coefficient * x + g  # gradient of the L2 regularization term added
    h = h + g * g
    return [x - rate * g / (np.sqrt(h) + a.epsilon), h]


op("Adagrad", AdagradAttrs, versions=(1,), domain=DOMAIN,
   infer=_optimizer_rule(("X", "G", "H"), ("X", "H")), reference=_optimizer_ref(3, _adagrad))


# -- Adam --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AdamAttrs:
    alpha: float = 0.9
    beta: float = 0.999
    epsilon: float = 1e-6
    norm_coefficient: float = 0.0
    norm_coefficient_post: float = 0.0


def _adam(a: AdamAttrs, r: float, t: int, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, g, v, h = xs
    g = a.norm_coefficient * x + g
    v = a.alpha * v + (1 - a.alpha) * g
    h = a.beta * h + (1 - a.beta) * g * g
    # bias correction of both moments, from the second step on
    rate = r * math.sqrt(1 - a.beta ** t) / (1 - a.alpha ** t) if t > 0 else r
    x = x - rate * v / (np.sqrt(h) + a.epsilon)
    return [(1 - a.norm_coefficient_post) * x, v, h]


op("Adam", AdamAttrs, versions=(1,), domain=DOMAIN,
   infer=_optimizer_rule(("X", "G", "V", "H"), ("X", "V", "H")),
   reference=_optimizer_ref(4, _adam))


# -- Momentum ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MomentumAttrs:
    alpha: float
    beta: float
    mode: str
    norm_coefficient: float


def _momentum(a: MomentumAttrs, r: float, t: int, xs: list[np.ndarray]) -> list[np.ndarray]:
    x, g, v = xs
    g = a.norm_coefficient * x + g
    beta = a.beta if t > 0 else 1.0  # the first step takes the whole gradient
    v = a.alpha * v + beta * g
    if a.mode == "nesterov":
        return [x - r * (g + a.alpha * v), v]
    return [x - r * v, v]


def _momentum_rule(c: InferCtx) -> list[Type]:
    if c.attrs.mode not in ("standard", "nesterov"):
        raise c.error(f"mode must be 'standard' or 'nesterov', got {c.attrs.mode!r}")
    return _optimizer_rule(("X", "G", "V"), ("X", "V"))(c)


op("Momentum", MomentumAttrs, versions=(1,), domain=DOMAIN, infer=_momentum_rule,
   reference=_optimizer_ref(3, _momentum))
