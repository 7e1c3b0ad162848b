"""Tree ensembles of the "ai.onnx.ml" domain: TreeEnsemble (opset 5) and the older
TreeEnsembleRegressor and TreeEnsembleClassifier.

All three are brought to one flat form (a Forest: per-node arrays, children that are nodes or
leaves, each leaf a list of (target, weight) pairs), walked for all rows and trees at once, level
by level, and aggregated per target. Where ONNX leaves a corner open (targets no leaf reaches under
MIN/MAX, NaN features, the two-class classifier) this follows ONNX Runtime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..dtype import DType
from ..types import Dim, TensorType, Type
from .registry import InferCtx, op

DOMAIN = "ai.onnx.ml"
# Branch modes, numbered as TreeEnsemble's nodes_modes.
LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
OLD_MODES = {"BRANCH_LEQ": LEQ, "BRANCH_LT": LT, "BRANCH_GTE": GTE, "BRANCH_GT": GT,
             "BRANCH_EQ": EQ, "BRANCH_NEQ": NEQ, "BRANCH_MEMBER": MEMBER}
AGGREGATES = ("AVERAGE", "SUM", "MIN", "MAX")
POST_TRANSFORMS = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")


@dataclass
class Forest:
    """Trees as flat arrays indexed by node; a child is a node or, where its flag says so, a
    leaf. Leaf l contributes weights[start[l]:start[l + 1]] to targets[start[l]:start[l + 1]]."""
    roots: np.ndarray  # per tree: its root node, or its only leaf
    root_is_leaf: np.ndarray
    feature: np.ndarray
    mode: np.ndarray
    split: np.ndarray
    true_next: np.ndarray
    true_is_leaf: np.ndarray
    false_next: np.ndarray
    false_is_leaf: np.ndarray
    nan_goes_true: np.ndarray
    members: dict[int, np.ndarray]  # BRANCH_MEMBER node -> its set
    start: np.ndarray
    targets: np.ndarray
    weights: np.ndarray

    def check(self, n_features: Dim, n_targets: int) -> None:
        """Reject indices that point nowhere (ValueError)."""
        n_nodes, n_leaves = len(self.mode), len(self.start) - 1
        for name, nxt, is_leaf in (("true", self.true_next, self.true_is_leaf),
                                   ("false", self.false_next, self.false_is_leaf),
                                   ("root", self.roots, self.root_is_leaf)):
            bound = np.where(is_leaf, n_leaves, n_nodes)
            if np.any((nxt < 0) | (nxt >= bound)):
                raise ValueError(f"a {name} branch points to a node or leaf that does not exist")
        if len(self.feature) and (self.feature.min() < 0 or (
                isinstance(n_features, int) and self.feature.max() >= n_features)):
            raise ValueError(f"a node reads feature {int(self.feature.max())}; the input has "
                             f"{n_features}")
        if len(self.targets) and (self.targets.min() < 0 or self.targets.max() >= n_targets):
            raise ValueError(f"a leaf writes target {int(self.targets.max())} of {n_targets}")


def walk(f: Forest, x: np.ndarray) -> np.ndarray:
    """The leaf each row reaches in each tree: [N, trees]."""
    rows, trees = x.shape[0], len(f.roots)
    node = np.tile(f.roots, (rows, 1))
    at_leaf = np.tile(f.root_is_leaf, (rows, 1))
    row_of = np.repeat(np.arange(rows), trees).reshape(rows, trees)
    for _ in range(len(f.mode) + 1):  # a path visits each node at most once
        going = ~at_leaf
        if not going.any():
            return node
        here = node[going]
        value = x[row_of[going], f.feature[here]]
        cond = _branch_taken(f, here, value) | (np.isnan(value) & f.nan_goes_true[here])
        node[going] = np.where(cond, f.true_next[here], f.false_next[here])
        at_leaf[going] = np.where(cond, f.true_is_leaf[here], f.false_is_leaf[here])
    raise ValueError("the trees have a cycle")


def _branch_taken(f: Forest, here: np.ndarray, value: np.ndarray) -> np.ndarray:
    mode, split = f.mode[here], f.split[here]
    with np.errstate(invalid="ignore"):
        taken = np.select([mode == LEQ, mode == LT, mode == GTE, mode == GT, mode == EQ,
                           mode == NEQ],
                          [value <= split, value < split, value >= split, value > split,
                           value == split, value != split], default=False)
    for node in np.unique(here[mode == MEMBER]):
        sel = here == node
        taken[sel] = np.isin(value[sel], f.members[int(node)])
    return taken


def aggregate(f: Forest, leaves: np.ndarray, n_targets: int, function: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per row and target, the leaves' weights combined by `function` (float64), and whether any
    leaf gave that target a weight."""
    rows, trees = leaves.shape
    counts = (f.start[1:] - f.start[:-1])[leaves].reshape(-1)
    pair = (np.repeat(f.start[leaves].reshape(-1) - np.cumsum(counts) + counts, counts)
            + np.arange(int(counts.sum())))
    row = np.repeat(np.repeat(np.arange(rows), trees), counts)
    at = (row, f.targets[pair])
    weight = f.weights[pair]
    scored = np.zeros((rows, n_targets), dtype=bool)
    scored[at] = True
    if function in ("SUM", "AVERAGE"):
        score = np.zeros((rows, n_targets))
        np.add.at(score, at, weight)
        if function == "AVERAGE":
            score /= max(trees, 1)
    elif function == "MIN":
        score = np.full((rows, n_targets), np.inf)
        np.minimum.at(score, at, weight)
    else:
        score = np.full((rows, n_targets), -np.inf)
        np.maximum.at(score, at, weight)
    return np.where(scored, score, 0.0), scored


def _erfinv(y: np.ndarray) -> np.ndarray:
    """Inverse error function: a closed-form first guess (Winitzki's), polished by Newton."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ln = np.log((1 - y) * (1 + y))
        a = 0.147
        first = 2 / (math.pi * a) + ln / 2
        x = np.sign(y) * np.sqrt(np.sqrt(first * first - ln / a) - first)
        erf = np.vectorize(math.erf, otypes=[np.float64])
        for _ in range(3):
            x = x - (erf(x) - y) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
    return np.where(np.abs(y) == 1, np.sign(y) * np.inf, np.where(np.abs(y) > 1, np.nan, x))


def post_transform(score: np.ndarray, how: str) -> np.ndarray:
    if how == "LOGISTIC":
        return 1 / (1 + np.exp(-score))
    if how == "PROBIT":
        return math.sqrt(2) * _erfinv(2 * score - 1)
    if how == "SOFTMAX":
        e = np.exp(score - score.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if how == "SOFTMAX_ZERO":  # a softmax over the non-zero scores; zeros stay zero
        nonzero = score != 0
        top = np.where(nonzero, score, -np.inf).max(axis=-1, keepdims=True)
        e = np.where(nonzero, np.exp(score - np.where(np.isfinite(top), top, 0)), 0.0)
        total = e.sum(axis=-1, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total != 0)
    return score


def _features(c: InferCtx) -> TensorType:
    x = c.t(0)
    if not (x.dtype.is_float or x.dtype in (DType.I64, DType.I32)) or x.rank not in (1, 2):
        raise c.error(f"input must be a float or integer [N, F] tensor, got {x}")
    return x


def _as_rows(x: np.ndarray) -> np.ndarray:
    """Features as float64 rows: every int32 and float32 value is exact there."""
    return (x.reshape(1, -1) if x.ndim == 1 else x).astype(np.float64)


def _thresholds(x_dtype: np.dtype, split: np.ndarray) -> np.ndarray:
    # ONNX Runtime compares in the input's precision when that is float32 or narrower
    if x_dtype.kind == "f" and x_dtype.itemsize <= 4:
        return split.astype(np.float32).astype(np.float64)
    return split.astype(np.float64)


def _array(v: Any, dtype: Any = np.int64) -> np.ndarray:
    return np.asarray(v if v is not None else (), dtype=dtype).reshape(-1)


# -- TreeEnsemble (opset 5) --------------------------------------------------------------------

@dataclass(frozen=True)
class TreeEnsembleAttrs:
    leaf_targetids: tuple[int, ...]
    leaf_weights: np.ndarray
    nodes_falseleafs: tuple[int, ...]
    nodes_falsenodeids: tuple[int, ...]
    nodes_featureids: tuple[int, ...]
    nodes_modes: np.ndarray
    nodes_splits: np.ndarray
    nodes_trueleafs: tuple[int, ...]
    nodes_truenodeids: tuple[int, ...]
    tree_roots: tuple[int, ...]
    aggregate_function: int = 1
    membership_values: np.ndarray | None = None
    n_targets: int | None = None
    nodes_hitrates: np.ndarray | None = None
    nodes_missing_value_tracks_true: tuple[int, ...] | None = None
    post_transform: int = 0


def _member_sets(modes: np.ndarray, values: np.ndarray | None) -> dict[int, np.ndarray]:
    """The sets of the BRANCH_MEMBER nodes, in node order, from NaN-separated values."""
    members = [int(i) for i in np.flatnonzero(modes == MEMBER)]
    if not members:
        return {}
    flat = _array(values, np.float64)
    cuts = np.flatnonzero(np.isnan(flat))
    groups = np.split(flat, cuts)
    sets = [groups[0], *(g[1:] for g in groups[1:])]
    if len(cuts) != len(members) or (len(flat) and not np.isnan(flat[-1])):
        raise ValueError(f"membership_values holds {len(cuts)} NaN-terminated sets for "
                         f"{len(members)} BRANCH_MEMBER nodes")
    return dict(zip(members, sets))


def ensemble_forest(a: TreeEnsembleAttrs, x_dtype: np.dtype) -> Forest:
    modes = _array(a.nodes_modes)
    n = len(modes)
    lengths = {len(getattr(a, k)) if isinstance(getattr(a, k), tuple) else
               getattr(a, k).size for k in ("nodes_falseleafs", "nodes_falsenodeids",
                                            "nodes_featureids", "nodes_splits",
                                            "nodes_trueleafs", "nodes_truenodeids")}
    if lengths != {n}:
        raise ValueError("the nodes_* attributes have different lengths")
    if len(a.leaf_targetids) != a.leaf_weights.size:
        raise ValueError("leaf_targetids and leaf_weights have different lengths")
    if np.any((modes < LEQ) | (modes > MEMBER)):
        raise ValueError(f"nodes_modes holds an unknown mode {int(modes.max())}")
    tracks = _array(a.nodes_missing_value_tracks_true) if a.nodes_missing_value_tracks_true \
        else np.zeros(n, dtype=np.int64)
    roots = _array(a.tree_roots)
    true_leaf = _array(a.nodes_trueleafs).astype(bool)
    false_leaf = _array(a.nodes_falseleafs).astype(bool)
    true_next, false_next = _array(a.nodes_truenodeids), _array(a.nodes_falsenodeids)
    n_leaves = len(a.leaf_targetids)
    return Forest(
        roots=roots, root_is_leaf=np.zeros(len(roots), dtype=bool),
        feature=_array(a.nodes_featureids), mode=modes,
        split=_thresholds(x_dtype, _array(a.nodes_splits, np.float64)),
        true_next=true_next, true_is_leaf=true_leaf,
        false_next=false_next, false_is_leaf=false_leaf,
        nan_goes_true=tracks.astype(bool), members=_member_sets(modes, a.membership_values),
        start=np.arange(n_leaves + 1), targets=_array(a.leaf_targetids),
        weights=_array(a.leaf_weights, np.float64))


def _ensemble_targets(a: TreeEnsembleAttrs) -> int:
    return a.n_targets if a.n_targets is not None else max(a.leaf_targetids, default=-1) + 1


def _ensemble_rule(c: InferCtx) -> list[Type]:
    x = _features(c)
    a: TreeEnsembleAttrs = c.attrs
    if x.dtype not in (DType.F32, DType.F64, DType.F16):
        raise c.error(f"input must be float, double or float16, got {x}")
    if not 0 <= a.aggregate_function < 4 or not 0 <= a.post_transform < 5:
        raise c.error(f"aggregate_function {a.aggregate_function} or post_transform "
                      f"{a.post_transform} is not one ONNX defines")
    try:
        ensemble_forest(a, x.dtype.np).check(x.shape[-1], _ensemble_targets(a))
    except ValueError as e:
        raise c.error(str(e)) from None
    rows: Dim = x.shape[0] if x.rank == 2 else 1
    return [TensorType(x.dtype, (rows, _ensemble_targets(a)))]


def _ensemble(a: TreeEnsembleAttrs, x: np.ndarray) -> np.ndarray:
    f = ensemble_forest(a, x.dtype)
    score, _ = aggregate(f, walk(f, _as_rows(x)), _ensemble_targets(a),
                         AGGREGATES[a.aggregate_function])
    return post_transform(score, POST_TRANSFORMS[a.post_transform]).astype(x.dtype)


op("TreeEnsemble", TreeEnsembleAttrs, versions=(5,), domain=DOMAIN, infer=_ensemble_rule,
   reference=_ensemble)


# -- TreeEnsembleRegressor and TreeEnsembleClassifier (before opset 5) -------------------------

def _legacy_forest(a: Any, x_dtype: np.dtype, leaf_tree: np.ndarray, leaf_node: np.ndarray,
                   leaf_target: np.ndarray, leaf_weight: np.ndarray) -> Forest:
    """The Forest of nodes named by (tree id, node id), leaves being nodes of mode LEAF whose
    (target, weight) pairs are listed apart, also by (tree id, node id)."""
    trees, ids = _array(a.nodes_treeids), _array(a.nodes_nodeids)
    n = len(ids)
    names = [str(m) for m in (a.nodes_modes or ())]
    if any(len(v) != n for v in (names, _array(a.nodes_featureids),
                                  _array(a.nodes_truenodeids), _array(a.nodes_falsenodeids))):
        raise ValueError("the nodes_* attributes have different lengths")
    unknown = sorted(set(names) - set(OLD_MODES) - {"LEAF"})
    if unknown:
        raise ValueError(f"unknown node mode(s) {', '.join(unknown)}")
    is_leaf = np.array([m == "LEAF" for m in names], dtype=bool)
    span = int(max(ids.max(initial=0), _array(a.nodes_truenodeids).max(initial=0),
                   _array(a.nodes_falsenodeids).max(initial=0), leaf_node.max(initial=0))) + 1
    key = trees * span + ids
    order = np.argsort(key, kind="stable")

    def position(tree: np.ndarray, node: np.ndarray, what: str) -> np.ndarray:
        wanted = tree * span + node
        at = np.minimum(np.searchsorted(key, wanted, sorter=order), max(n - 1, 0))
        found = order[at] if n else at
        if n == 0 or np.any(key[found] != wanted):
            raise ValueError(f"{what} names a node that the nodes_* attributes do not define")
        return found

    branch = ~is_leaf
    true_next = np.arange(n)
    false_next = np.arange(n)
    true_next[branch] = position(trees[branch], _array(a.nodes_truenodeids)[branch],
                                 "nodes_truenodeids")
    false_next[branch] = position(trees[branch], _array(a.nodes_falsenodeids)[branch],
                                  "nodes_falsenodeids")
    # a tree's root is its first node
    _, roots = np.unique(trees, return_index=True)
    owner = position(leaf_tree, leaf_node, "a leaf's (tree id, node id)") if len(leaf_node) \
        else np.zeros(0, dtype=np.int64)
    by_leaf = np.argsort(owner, kind="stable")
    values = a.nodes_values_as_tensor if a.nodes_values_as_tensor is not None else a.nodes_values
    tracks = _array(a.nodes_missing_value_tracks_true)
    return Forest(
        roots=roots, root_is_leaf=is_leaf[roots],
        feature=_array(a.nodes_featureids), mode=np.array([OLD_MODES.get(m, LEQ) for m in names],
                                                          dtype=np.int64),
        split=_thresholds(x_dtype, _array(values, np.float64)),
        true_next=true_next, true_is_leaf=is_leaf[true_next],
        false_next=false_next, false_is_leaf=is_leaf[false_next],
        nan_goes_true=tracks.astype(bool) if len(tracks) else np.zeros(n, dtype=bool),
        members={}, start=np.searchsorted(owner[by_leaf], np.arange(n + 1)),
        targets=leaf_target[by_leaf], weights=leaf_weight[by_leaf])


def _pick(as_tensor: np.ndarray | None, floats: tuple[float, ...] | None) -> np.ndarray:
    return _array(as_tensor if as_tensor is not None else floats, np.float64)


@dataclass(frozen=True)
class TreeEnsembleRegressorAttrs:
    aggregate_function: str = "SUM"
    base_values: tuple[float, ...] | None = None
    base_values_as_tensor: np.ndarray | None = None
    n_targets: int | None = None
    nodes_falsenodeids: tuple[int, ...] | None = None
    nodes_featureids: tuple[int, ...] | None = None
    nodes_hitrates: tuple[float, ...] | None = None
    nodes_hitrates_as_tensor: np.ndarray | None = None
    nodes_missing_value_tracks_true: tuple[int, ...] | None = None
    nodes_modes: tuple[str, ...] | None = None
    nodes_nodeids: tuple[int, ...] | None = None
    nodes_treeids: tuple[int, ...] | None = None
    nodes_truenodeids: tuple[int, ...] | None = None
    nodes_values: tuple[float, ...] | None = None
    nodes_values_as_tensor: np.ndarray | None = None
    post_transform: str = "NONE"
    target_ids: tuple[int, ...] | None = None
    target_nodeids: tuple[int, ...] | None = None
    target_treeids: tuple[int, ...] | None = None
    target_weights: tuple[float, ...] | None = None
    target_weights_as_tensor: np.ndarray | None = None


def _regressor_targets(a: TreeEnsembleRegressorAttrs) -> int:
    return a.n_targets if a.n_targets is not None else max(a.target_ids or (), default=-1) + 1


def regressor_forest(a: TreeEnsembleRegressorAttrs, x_dtype: np.dtype) -> Forest:
    return _legacy_forest(a, x_dtype, _array(a.target_treeids), _array(a.target_nodeids),
                          _array(a.target_ids),
                          _pick(a.target_weights_as_tensor, a.target_weights))


def _check_legacy(c: InferCtx, forest: Forest, n_targets: int, base: np.ndarray,
                  base_sizes: tuple[int, ...]) -> None:
    if c.attrs.post_transform not in POST_TRANSFORMS:
        raise c.error(f"unknown post_transform {c.attrs.post_transform!r}")
    if len(base) not in base_sizes:
        raise c.error(f"base_values has {len(base)} entries for {n_targets} targets/classes")
    forest.check(c.t(0).shape[-1], n_targets)


def _regressor_rule(c: InferCtx) -> list[Type]:
    x = _features(c)
    a: TreeEnsembleRegressorAttrs = c.attrs
    if a.aggregate_function not in AGGREGATES:
        raise c.error(f"unknown aggregate_function {a.aggregate_function!r}")
    try:
        n = _regressor_targets(a)
        _check_legacy(c, regressor_forest(a, x.dtype.np), n,
                      _pick(a.base_values_as_tensor, a.base_values), (0, n))
    except ValueError as e:
        raise c.error(str(e)) from None
    rows: Dim = x.shape[0] if x.rank == 2 else 1
    return [TensorType(DType.F32, (rows, _regressor_targets(a)))]


def _regressor(a: TreeEnsembleRegressorAttrs, x: np.ndarray) -> np.ndarray:
    f = regressor_forest(a, x.dtype)
    score, _ = aggregate(f, walk(f, _as_rows(x)), _regressor_targets(a), a.aggregate_function)
    base = _pick(a.base_values_as_tensor, a.base_values)
    if len(base):
        score = score + base
    return post_transform(score, a.post_transform).astype(np.float32)


op("TreeEnsembleRegressor", TreeEnsembleRegressorAttrs, versions=(1, 3, 5), domain=DOMAIN,
   infer=_regressor_rule, reference=_regressor)


@dataclass(frozen=True)
class TreeEnsembleClassifierAttrs:
    base_values: tuple[float, ...] | None = None
    base_values_as_tensor: np.ndarray | None = None
    class_ids: tuple[int, ...] | None = None
    class_nodeids: tuple[int, ...] | None = None
    class_treeids: tuple[int, ...] | None = None
    class_weights: tuple[float, ...] | None = None
    class_weights_as_tensor: np.ndarray | None = None
    classlabels_int64s: tuple[int, ...] | None = None
    classlabels_strings: tuple[str, ...] | None = None
    nodes_falsenodeids: tuple[int, ...] | None = None
    nodes_featureids: tuple[int, ...] | None = None
    nodes_hitrates: tuple[float, ...] | None = None
    nodes_hitrates_as_tensor: np.ndarray | None = None
    nodes_missing_value_tracks_true: tuple[int, ...] | None = None
    nodes_modes: tuple[str, ...] | None = None
    nodes_nodeids: tuple[int, ...] | None = None
    nodes_treeids: tuple[int, ...] | None = None
    nodes_truenodeids: tuple[int, ...] | None = None
    nodes_values: tuple[float, ...] | None = None
    nodes_values_as_tensor: np.ndarray | None = None
    post_transform: str = "NONE"


def _labels(a: TreeEnsembleClassifierAttrs) -> tuple[Any, ...]:
    return a.classlabels_strings or a.classlabels_int64s or ()


def classifier_forest(a: TreeEnsembleClassifierAttrs, x_dtype: np.dtype) -> Forest:
    return _legacy_forest(a, x_dtype, _array(a.class_treeids), _array(a.class_nodeids),
                          _array(a.class_ids), _pick(a.class_weights_as_tensor, a.class_weights))


def _classifier_rule(c: InferCtx) -> list[Type]:
    x = _features(c)
    a: TreeEnsembleClassifierAttrs = c.attrs
    if bool(a.classlabels_strings) == bool(a.classlabels_int64s):
        raise c.error("needs exactly one of classlabels_strings and classlabels_int64s")
    try:
        n = len(_labels(a))
        shares_one_base = (1,) if n == 2 else ()  # two classes may share one base value
        _check_legacy(c, classifier_forest(a, x.dtype.np), n,
                      _pick(a.base_values_as_tensor, a.base_values), (0, n, *shares_one_base))
    except ValueError as e:
        raise c.error(str(e)) from None
    rows: Dim = x.shape[0] if x.rank == 2 else 1
    label = DType.STRING if a.classlabels_strings else DType.I64
    return [TensorType(label, (rows,)), TensorType(DType.F32, (rows, len(_labels(a))))]


def _two_classes(a: TreeEnsembleClassifierAttrs, f: Forest, score: np.ndarray,
                 scored: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label positions and scores of a two-class ensemble, as ONNX Runtime decides them.

    With weights for one class only (the "binary case"), that class's score is the positive
    one: above 0.5 (all weights >= 0) or 0 (some < 0) it picks the second label, and a row with
    no score for the second class reports [1 - s, s] (or [-s, s]) for the first class's s.
    Where ONNX Runtime reports the positions 0/1 themselves as int64 labels (two classes, both
    weighted), this reports the labels at those positions."""
    s0, s1 = score[:, 0].copy(), score[:, 1].copy()
    has0, has1 = scored[:, 0], scored[:, 1]
    one_score = ~has1  # rows reduced to a single score (the first class's)
    if len(base) == 2:
        # where the second class is scored, it becomes base[1] + the first class's score and
        # the first class its negation; elsewhere each class adds its own base value
        moved = base[1] + s0
        s0, s1 = np.where(has1, -moved, s0 + base[0]), np.where(has1, moved, s1 + base[1])
        one_score = np.zeros_like(has1)
    elif len(base) == 1:
        s0 = s0 + base[0]
    positive = np.where(~one_score & has1, s1, np.where(has0, s0, 0.0))
    binary = len(np.unique(_array(a.class_ids))) == 1
    all_positive = bool(np.all(f.weights >= 0))
    if binary and all_positive:
        first_is_one_minus = True
        label = (positive > 0.5).astype(np.int64)
    else:
        first_is_one_minus = False
        label = (positive > 0).astype(np.int64)
    z0, z1 = np.where(has0, s0, 0.0), np.where(has1, s1, 0.0)
    z = post_transform(np.stack([z0, z1], axis=1), a.post_transform)
    # rows left with one score (z0) fill in the second one
    v = z0
    if a.post_transform == "PROBIT":
        single = np.stack([post_transform(v, "PROBIT"), np.zeros_like(v)], axis=1)
    elif len(base) == 1 and not binary:
        single = np.stack([v, np.zeros_like(v)], axis=1)
    elif a.post_transform == "LOGISTIC":
        single = np.stack([post_transform(-v, "LOGISTIC"), post_transform(v, "LOGISTIC")], axis=1)
    elif first_is_one_minus:
        single = np.stack([1 - v, v], axis=1)
    else:
        single = np.stack([-v, v], axis=1)
    return label, np.where(one_score[:, None], single, z)


def _classifier(a: TreeEnsembleClassifierAttrs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = _labels(a)
    f = classifier_forest(a, x.dtype)
    score, scored = aggregate(f, walk(f, _as_rows(x)), len(labels), "SUM")
    base = _pick(a.base_values_as_tensor, a.base_values)
    if len(labels) == 2:
        picked, z = _two_classes(a, f, score, scored, base)
    else:
        if len(base):
            score, scored = score + base, np.ones_like(scored)
        # the best scored class (the first of equals); rows with no score pick the first class
        picked = np.argmax(np.where(scored, score, -np.inf), axis=1)
        z = post_transform(np.where(scored, score, 0.0), a.post_transform)
    out_labels = np.array(labels, dtype=object if a.classlabels_strings else np.int64)[picked]
    return out_labels, z.astype(np.float32)


op("TreeEnsembleClassifier", TreeEnsembleClassifierAttrs, versions=(1, 3, 5), domain=DOMAIN,
   infer=_classifier_rule, reference=_classifier)
