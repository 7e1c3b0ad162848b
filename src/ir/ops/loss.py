"""Losses over class scores: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, with class
weights, an ignored target value and none/sum/mean reductions."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import compute as cp
from ..compute import Stage, Tensor, TensorArg, reduce, select
from ..dtype import DType
from ..kernel.expr import Const, Expr
from ..kernel.types import ScalarType
from ..types import TensorType, Type
from .reduce import accumulate_dtype, float_dtype_of
from .registry import InferCtx, RefCtx, op
from .softmax import SoftmaxAttrs, log_softmax, softmax_compute

REDUCTIONS = ("none", "sum", "mean")


@dataclass(frozen=True)
class LossAttrs:
    ignore_index: int | None = None
    reduction: str = "mean"


def _loss_rule(with_log_prob: bool) -> Callable[[InferCtx], list[Type]]:
    def rule(c: InferCtx) -> list[Type]:
        x = float_dtype_of(c, 0)
        target = c.t(1)
        if c.attrs.reduction not in REDUCTIONS:
            raise c.error(f"reduction must be one of {', '.join(REDUCTIONS)}, "
                          f"got '{c.attrs.reduction}'")
        if x.rank < 2:
            raise c.error(f"scores must have shape (N, C, d1, ...), got {x}")
        if target.dtype not in (DType.I32, DType.I64):
            raise c.error(f"target must be int32 or int64, got {target}")
        if target.rank != x.rank - 1:
            raise c.error(f"target {target} must have shape (N, d1, ...) for scores {x}")
        for a, b in zip((x.shape[0], *x.shape[2:]), target.shape):
            if isinstance(a, int) and isinstance(b, int) and a != b:
                raise c.error(f"target {target} does not match scores {x}")
        if c.has(2):
            w = c.t(2)
            if w.dtype != x.dtype or w.rank != 1:
                raise c.error(f"weight must be a 1-D tensor of {x.dtype}, got {w}")
        shape = target.shape if c.attrs.reduction == "none" else ()
        loss = TensorType(x.dtype, shape)
        return [loss, x] if with_log_prob else [loss]
    return rule


def negative_log_likelihood(a: LossAttrs, log_prob: np.ndarray, target: np.ndarray,
                            weight: np.ndarray | None) -> np.ndarray:
    """-log_prob[n, target[n, ...], ...] times the target's class weight, reduced. Ignored
    targets weigh 0 and are never read, so they may lie outside [0, C)."""
    classes = log_prob.shape[1]
    kept = np.ones(target.shape, bool) if a.ignore_index is None else target != a.ignore_index
    safe = np.where(kept, target, 0).astype(np.int64)
    if np.any((safe < 0) | (safe >= classes)):
        raise ValueError(f"a target is outside [0, {classes}) and is not ignore_index")
    acc = accumulate_dtype(log_prob.dtype)
    picked = np.take_along_axis(log_prob.astype(acc), safe[:, None], axis=1)[:, 0]
    w = np.ones(target.shape, acc) if weight is None else weight.astype(acc)[safe]
    w = np.where(kept, w, 0).astype(acc)
    loss = -picked * w
    if a.reduction == "sum":
        loss = np.sum(loss)
    elif a.reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = np.sum(loss) / np.sum(w)
    return np.asarray(loss).astype(log_prob.dtype)


def _nll_reference(a: LossAttrs, x: np.ndarray, target: np.ndarray,
                   weight: np.ndarray | None = None) -> np.ndarray:
    return negative_log_likelihood(a, x, target, weight)


def _sce_reference(a: LossAttrs, x: np.ndarray, target: np.ndarray,
                   weight: np.ndarray | None = None, *,
                   ctx: RefCtx) -> tuple[np.ndarray, ...]:
    log_prob = log_softmax(x.astype(accumulate_dtype(x.dtype)), 1)
    loss = negative_log_likelihood(a, log_prob, target, weight).astype(x.dtype)
    return (loss, log_prob.astype(x.dtype))[:max(ctx.num_outputs, 1)]


def nll_compute(a: LossAttrs, log_prob: Tensor, target: TensorArg, weight: TensorArg | None,
                dtype: DType) -> Stage:
    """Each target's -log_prob times its class weight (0 where ignored; an ignored target is
    clamped, never read), then none / sum / sum divided by the weights' sum."""
    acc = ScalarType(DType.from_np(accumulate_dtype(log_prob.dtype.np)))
    classes = log_prob.shape[1]

    def term(i: tuple[Expr, ...]) -> tuple[Expr, Expr]:
        t = cp.index_expr(target[i])
        tc = t.max(0).min(classes - 1)
        w: Expr = cp.cast(weight[tc], acc) if weight is not None else Const(1.0, acc)
        if a.ignore_index is not None:
            w = select(t.ne(a.ignore_index), w, 0.0)
        return -cp.cast(log_prob[(i[0], tc) + i[1:]], acc) * w, w
    if a.reduction == "none":
        return cp.tensor(target.shape, dtype, lambda *i: term(i)[0])
    total = reduce("sum", target.shape, lambda *r: term(r)[0])
    if a.reduction == "sum":
        return cp.tensor((), dtype, lambda: total)
    return cp.tensor((), dtype, lambda: total / reduce("sum", target.shape, lambda *r: term(r)[1]))


def _sce_compute(a: LossAttrs, x: TensorArg, target: TensorArg,
                 weight: TensorArg | None = None) -> tuple[Stage, Stage]:
    acc = DType.from_np(accumulate_dtype(x.dtype.np))
    wide = cp.tensor(x.shape, acc, lambda *i: x[i]) if acc != x.dtype else x
    log_prob = softmax_compute("log")(SoftmaxAttrs(axis=1), wide)
    return (nll_compute(a, log_prob, target, weight, x.dtype),
            cp.tensor(x.shape, x.dtype, lambda *i: log_prob[i]))


op("NegativeLogLikelihoodLoss", LossAttrs, versions=(12, 13, 22), traits=("reduction",),
   infer=_loss_rule(False), reference=_nll_reference,
   compute=lambda a, x, t, w=None: nll_compute(a, x, t, w, x.dtype))
op("SoftmaxCrossEntropyLoss", LossAttrs, versions=(12, 13), traits=("reduction",),
   infer=_loss_rule(True), reference=_sce_reference, compute=_sce_compute)
