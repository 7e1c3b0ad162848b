"""cpu rules for the "ai.onnx.ml" ops of the indexing family: TreeEnsemble (trees compiled into
branches), LabelEncoder over numbers, Binarizer and ArrayFeatureExtractor. Strings have no
kernel form, so nodes that map or pick strings are declined."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ....ir import DType, Node, Type
from ....ir.kernel import I64, Expr, Kernel, KernelBuilder, Math, Select, Var, const
from ....ir.kernel.types import BOOL, F64, as_type
from ....ir.ops.ml import _label_mapping
from ....ir.ops.ml_trees import (
    AGGREGATES,
    EQ,
    GT,
    GTE,
    LEQ,
    LT,
    MEMBER,
    NEQ,
    POST_TRANSFORMS,
    Forest,
    _ensemble_targets,
    ensemble_forest,
)
from .indexing import as_, nest, operand, register, result, shape_of, tensor, wrap

MAX_TREE_NODES = 20000  # branches emitted for one ensemble: beyond this, code size explodes


# -- TreeEnsemble -------------------------------------------------------------------------------

def _branch(mode: int, v: Expr, split: float) -> Expr:
    s = const(split, F64)
    return {LEQ: lambda: v <= s, LT: lambda: v < s, GTE: lambda: v >= s, GT: lambda: v > s,
            EQ: lambda: v.eq(s), NEQ: lambda: v.ne(s)}[mode]()


class _Trees:
    """Emits each tree as nested ifs that end in the leaves' updates of the target scores."""

    def __init__(self, kb: KernelBuilder, f: Forest, x: Any, row: Expr, function: str,
                 scores: list[Var], scored: list[Var]):
        self.kb, self.f, self.x, self.row = kb, f, x, row
        self.function, self.scores, self.scored = function, scores, scored
        self.emitted = 0

    def walk(self, node: int, leaf: bool) -> None:
        self.emitted += 1
        kb, f = self.kb, self.f
        if leaf:
            for p in range(int(f.start[node]), int(f.start[node + 1])):
                t, w = int(f.targets[p]), const(float(f.weights[p]), F64)
                score = self.scores[t]
                if self.function == "MIN":
                    kb.assign(score, Select(w < score, w, score))
                elif self.function == "MAX":
                    kb.assign(score, Select(w > score, w, score))
                else:
                    kb.assign(score, score + w)
                kb.assign(self.scored[t], const(True))
            return
        v = kb.let(f"v{self.emitted}", as_(self.x[self.row, int(f.feature[node])], F64))
        mode = int(f.mode[node])
        if mode == MEMBER:
            cond: Expr = const(False)
            for m in f.members[node]:
                cond = cond | v.eq(const(float(m), F64))
        else:
            cond = _branch(mode, v, float(f.split[node]))
        if f.nan_goes_true[node]:
            cond = cond | Math("isnan", (v,))
        with kb.if_(cond):
            self.walk(int(f.true_next[node]), bool(f.true_is_leaf[node]))
        with kb.else_():
            self.walk(int(f.false_next[node]), bool(f.false_is_leaf[node]))


def _paths(f: Forest, node: int, leaf: bool, budget: int) -> int:
    """How many nodes the branches of one tree visit (counting stops past `budget`): a node
    reached along two paths is emitted twice."""
    if leaf or budget <= 0:
        return 1
    seen = 1 + _paths(f, int(f.true_next[node]), bool(f.true_is_leaf[node]), budget - 1)
    return seen + _paths(f, int(f.false_next[node]), bool(f.false_is_leaf[node]), budget - seen)


@register("TreeEnsemble")
def lower_tree_ensemble(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """One row per iteration: every tree walked as branches, the leaves' weights aggregated per
    target in f64, then the post transform (PROBIT, which needs erfinv, is declined)."""
    x_t = tensor(types[0])
    post = POST_TRANSFORMS[attrs.post_transform]
    if post == "PROBIT":
        return None
    f = ensemble_forest(attrs, x_t.dtype.np)
    size = 0
    for root, leaf in zip(f.roots, f.root_is_leaf):
        size += _paths(f, int(root), bool(leaf), MAX_TREE_NODES - size)
        if size > MAX_TREE_NODES:
            return None
    n_targets, function = _ensemble_targets(attrs), AGGREGATES[attrs.aggregate_function]
    rows, width = (1, shape_of(x_t)[0]) if x_t.rank == 1 else shape_of(x_t)
    kb = KernelBuilder("tree_ensemble")
    x = kb.buffer("x", x_t.dtype, (rows, width), access="r")
    y = result(kb, "y", node.outputs[0].type)
    start = {"MIN": math.inf, "MAX": -math.inf}.get(function, 0.0)
    with kb.for_("r", 0, rows, kind="parallel", type=I64) as r:
        scores = [kb.let(f"score{t}", start, F64) for t in range(n_targets)]
        scored = [kb.let(f"scored{t}", False, BOOL) for t in range(n_targets)]
        trees = _Trees(kb, f, x, r, function, scores, scored)
        for root, leaf in zip(f.roots, f.root_is_leaf):
            trees.walk(int(root), bool(leaf))
        final = []
        for t in range(n_targets):
            s: Expr = scores[t] / float(max(len(f.roots), 1)) if function == "AVERAGE" \
                else scores[t]
            final.append(kb.let(f"final{t}", Select(scored[t], s, const(0.0, F64))))
        for t, value in enumerate(_post_transform(kb, final, post)):
            y[r, t] = as_(value, x_t.dtype)
    return kb.finish()


def _post_transform(kb: KernelBuilder, s: list[Var], how: str) -> list[Expr]:
    def exp(e: Expr) -> Expr:
        return Math("exp", (e,))
    if how == "LOGISTIC":
        return [1.0 / (exp(-v) + 1.0) for v in s]
    if how in ("SOFTMAX", "SOFTMAX_ZERO"):
        zero = how == "SOFTMAX_ZERO"   # a softmax over the nonzero scores; zeros stay zero
        top = kb.let("top", -math.inf, F64)
        for v in s:
            kb.assign(top, Select(v.ne(0.0) if zero else const(True), top.max(v), top))
        if zero:
            kb.assign(top, Select(Math("isfinite", (top,)), top, const(0.0, F64)))
        es = [kb.let(f"e{t}", Select(v.ne(0.0), exp(v - top), const(0.0, F64)) if zero
                     else exp(v - top)) for t, v in enumerate(s)]
        total = kb.let("total", 0.0, F64)
        for e in es:
            kb.assign(total, total + e)
        if zero:
            return [Select(total.ne(0.0), e / total, const(0.0, F64)) for e in es]
        return [e / total for e in es]
    return list(s)


# -- LabelEncoder, Binarizer, ArrayFeatureExtractor ------------------------------------------------

@register("LabelEncoder")
def lower_label_encoder(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    """Numbers to numbers: the keys, known when lowering, become a chain of selects (a repeated
    key: the last wins; a NaN key matches every NaN)."""
    x_t = tensor(types[0])
    m = _label_mapping(attrs, x_t.dtype)
    if DType.STRING in (m.key_dtype, m.value_dtype):
        return None
    value_t = as_type(m.value_dtype)
    kb = KernelBuilder("label_encoder")
    x, y = operand(kb, "x", x_t), result(kb, "y", node.outputs[0].type)
    is_float = m.key_dtype.is_float
    table: dict[Any, Any] = {}
    nan_value = m.default
    for k, v in zip(m.keys, m.values):
        if is_float and math.isnan(k):
            nan_value = v
        else:
            table[k] = v
    with nest(kb, shape_of(x_t), "i") as i:
        e = kb.let("e", as_(x[i], F64 if is_float else I64))
        out: Expr = const(m.default, value_t)
        for k, v in table.items():
            out = Select(e.eq(const(k, e.type)), const(v, value_t), out)
        if is_float:
            out = Select(Math("isnan", (e,)), const(nan_value, value_t), out)
        y[i] = out
    return kb.finish()


@register("Binarizer")
def lower_binarizer(node: Node, attrs: Any, types: list[Type | None]) -> Kernel | None:
    x_t = tensor(types[0])
    t = as_type(x_t.dtype)
    kb = KernelBuilder("binarizer")
    x, y = operand(kb, "x", x_t), result(kb, "y", node.outputs[0].type)
    with nest(kb, shape_of(x_t), "i") as i:
        # a float input compares in its own precision (numpy's rule for a Python scalar),
        # an integer one as a double; NaN is above no threshold
        above = x[i] > float(np.asarray(attrs.threshold, x_t.dtype.np)) if t.is_float \
            else as_(x[i], F64) > float(attrs.threshold)
        y[i] = Select(above, const(1, t), const(0, t))
    return kb.finish()


@register("ArrayFeatureExtractor")
def lower_array_feature_extractor(node: Node, attrs: Any,
                                  types: list[Type | None]) -> Kernel | None:
    x_t, idx_t, out_t = tensor(types[0]), tensor(types[1]), tensor(node.outputs[0].type)
    if x_t.dtype is DType.STRING or x_t.rank == 0:
        return None
    out_shape = shape_of(out_t)
    width = shape_of(x_t)[-1]
    kb = KernelBuilder("array_feature_extractor")
    x = kb.buffer("x", x_t.dtype, out_shape[:-1] + (width,), access="r")
    picked = kb.buffer("y", idx_t.dtype, (out_shape[-1],), access="r")
    z = result(kb, "z", out_t)
    with nest(kb, out_shape, "i") as i:
        # out-of-range indices are clamped (the reference raises); negative ones are not counted
        # from the end, so they clamp to 0 too
        j = as_(picked[i[-1]], I64)
        z[i] = x[(*i[:-1], wrap(Select(j < 0, const(0, I64), j), width))]
    return kb.finish()
